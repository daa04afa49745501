"""Fixtures: one suite, every engine.

``con`` is a fresh sqlml connection on each backend in turn; ``make_table`` loads a pandas
frame into it as a real table, the same way on every engine.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pandas as pd
import pytest

import sqlml

BACKENDS = ["duckdb"]


def _load_duckdb(con: sqlml.Connection, name: str, frame: pd.DataFrame) -> None:
    raw = con.backend.con
    raw.register("_sqlml_test_frame", frame)
    try:
        raw.execute(f'CREATE OR REPLACE TABLE "{name}" AS SELECT * FROM _sqlml_test_frame')
    finally:
        raw.unregister("_sqlml_test_frame")


@pytest.fixture(params=BACKENDS)
def backend_name(request: pytest.FixtureRequest) -> str:
    return request.param


@pytest.fixture
def connect(backend_name: str, tmp_path) -> Iterator[Callable[[], sqlml.Connection]]:
    """Opens connections to one fresh database of the backend (call it again to reopen)."""
    opened: list[sqlml.Connection] = []
    database = tmp_path / "test.duckdb"

    def open_connection(**options) -> sqlml.Connection:
        con = sqlml.connect(str(database), **options)
        opened.append(con)
        return con

    yield open_connection
    for con in opened:
        con.close()


@pytest.fixture
def con(connect) -> sqlml.Connection:
    return connect()


@pytest.fixture
def make_table(con: sqlml.Connection, backend_name: str) -> Callable[[str, pd.DataFrame], str]:
    def make(name: str, frame: pd.DataFrame) -> str:
        _load_duckdb(con, name, frame)
        return name

    return make
