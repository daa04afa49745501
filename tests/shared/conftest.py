"""Tables of the packaged data sets, loaded into the backend under test, and a database
prepared for another process (the shell, sqlml run)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import datasets
import pandas as pd
import pytest
from servers import TEST_DATABASE, dsn_for

import sqlml


@pytest.fixture
def penguins(make_table) -> str:
    return make_table("penguins", datasets.penguins())


@pytest.fixture
def breast_cancer(make_table) -> str:
    return make_table("breast_cancer", datasets.breast_cancer())


@pytest.fixture
def diabetes(make_table) -> str:
    return make_table("diabetes", datasets.diabetes())


@pytest.fixture
def wine(make_table) -> str:
    return make_table("wine", datasets.wine())


@pytest.fixture
def database_for_a_process(
    con: sqlml.Connection, make_table, backend_name: str, tmp_path: Path
) -> Callable[..., str]:
    """Loads the tables and runs the statements on ``con``, then closes it, so that another
    process can open the database (a DuckDB file is one process's at a time): its path or
    DSN."""

    def prepare(tables: dict[str, pd.DataFrame], *statements: str) -> str:
        for name, frame in tables.items():
            make_table(name, frame)
        for statement in statements:
            con.execute(statement)
        con.close()
        if backend_name == "duckdb":
            return str(tmp_path / "test.duckdb")
        return dsn_for(TEST_DATABASE)

    return prepare
