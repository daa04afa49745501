"""Fixtures of the PostgreSQL-only tests.

``pg`` is the suite's warm connection to ``sqlml_test`` (tests/conftest.py's session fixture
``postgres_database``), emptied once per module so that a module trains its models once and
its tests share them. Tests that change what is installed use their own scratch databases
(pg_support.create_database) and drop them afterwards.
"""

from __future__ import annotations

from collections.abc import Iterator

import pg_support
import psycopg
import pytest


@pytest.fixture
def backend_name() -> str:
    """tests/conftest.py's ``con`` and ``make_table`` run on PostgreSQL only in this folder."""
    return "postgres"


@pytest.fixture(scope="module")
def pg(postgres_database: psycopg.Connection) -> Iterator[psycopg.Connection]:
    pg_support.reset(postgres_database)
    yield postgres_database
    postgres_database.execute("RESET ALL")
