"""Fixtures: one suite, every engine.

``con`` is a fresh sqlml connection on each backend in turn; ``make_table`` loads a pandas
frame into it as a real table, the same way on every engine; ``connect`` opens another
connection to the same database.

PostgreSQL: a real server (SQLML_TEST_DSN, by default the local one at 127.0.0.1 as user
postgres). The suite creates database ``sqlml_test`` and installs sqlml into it once; each
test starts from an empty public schema and no models. Nothing here skips PostgreSQL: a
server that cannot be reached fails the run.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pandas as pd
import psycopg
import pytest
from psycopg import sql
from servers import SERVER_DSN, TEST_DATABASE, dsn_for, load, reset

import sqlml

BACKENDS = ["duckdb", "postgres"]

# -- loading frames --------------------------------------------------------------------------


def _load_duckdb(con: sqlml.Connection, name: str, frame: pd.DataFrame) -> None:
    raw = con.backend.con
    raw.register("_sqlml_test_frame", frame)
    try:
        raw.execute(f'CREATE OR REPLACE TABLE "{name}" AS SELECT * FROM _sqlml_test_frame')
    finally:
        raw.unregister("_sqlml_test_frame")


def _load_postgres(con: sqlml.Connection, name: str, frame: pd.DataFrame) -> None:
    load(con.backend.conn, name, frame)


# -- PostgreSQL database -----------------------------------------------------------------------


@pytest.fixture(scope="session")
def postgres_database() -> Iterator[psycopg.Connection]:
    """The test database with sqlml installed, and one warm connection to it."""
    from sqlml.install import install

    with psycopg.connect(SERVER_DSN, autocommit=True) as admin:
        admin.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = %s",
            [TEST_DATABASE],
        )
        admin.execute(sql.SQL("DROP DATABASE IF EXISTS {}").format(sql.Identifier(TEST_DATABASE)))
        admin.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(TEST_DATABASE)))
    install(dsn_for(TEST_DATABASE), report=lambda _: None)
    with psycopg.connect(dsn_for(TEST_DATABASE), autocommit=True) as conn:
        yield conn


# -- the fixtures tests use ------------------------------------------------------------------


@pytest.fixture(params=BACKENDS)
def backend_name(request: pytest.FixtureRequest) -> str:
    return request.param


@pytest.fixture
def connect(
    backend_name: str, tmp_path, request: pytest.FixtureRequest
) -> Iterator[Callable[..., sqlml.Connection]]:
    """Opens connections to one fresh database of the backend; the first call gives the
    connection ``con`` uses, later calls give new, independent connections."""
    opened: list[sqlml.Connection] = []
    if backend_name == "postgres":
        warm: psycopg.Connection = request.getfixturevalue("postgres_database")
        reset(warm)

    def open_connection(**options) -> sqlml.Connection:
        if backend_name == "duckdb":
            con = sqlml.connect(str(tmp_path / "test.duckdb"), **options)
        elif not opened:
            con = sqlml.connect(warm, **options)
        else:
            con = sqlml.connect(dsn_for(TEST_DATABASE), **options)
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
    loader = _load_duckdb if backend_name == "duckdb" else _load_postgres

    def make(name: str, frame: pd.DataFrame) -> str:
        loader(con, name, frame)
        return name

    return make
