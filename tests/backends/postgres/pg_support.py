"""Helpers of the PostgreSQL-only tests: scratch databases, loading frames, plain-psycopg calls.

Everything here talks to the real server named by SQLML_TEST_DSN (as tests/conftest.py does);
nothing is mocked.
"""

from __future__ import annotations

import json
from typing import Any

import psycopg
from psycopg import sql

# Re-exported: the tests of this folder call them as pg_support.<name>.
from servers import SERVER_DSN, dsn_for, load, reset  # noqa: F401

FAST = "n_estimators = 20, n_jobs = 1"  # small and repeatable


def admin() -> psycopg.Connection:
    return psycopg.connect(SERVER_DSN, autocommit=True)


def create_database(name: str) -> str:
    """A new empty database (an old one of that name is dropped first); its DSN."""
    drop_database(name)
    with admin() as conn:
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    return dsn_for(name)


def drop_database(name: str) -> None:
    with admin() as conn:
        conn.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
            "WHERE datname = %s AND pid <> pg_backend_pid()",
            [name],
        )
        conn.execute(
            sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
        )


def execute(conn: psycopg.Connection, statement: str) -> list[dict[str, Any]]:
    """``SELECT * FROM sqlml.execute(statement)`` as psql runs it: one dict a row."""
    rows = conn.execute("SELECT * FROM sqlml.execute(%s)", [statement]).fetchall()
    return [row[0] for row in rows]


def rows(conn: psycopg.Connection, query: str, params: Any = None) -> list[tuple]:
    return conn.execute(query, params).fetchall()


def scalar(conn: psycopg.Connection, query: str, params: Any = None) -> Any:
    (row,) = conn.execute(query, params).fetchall()
    return row[0]


def functions_named(conn: psycopg.Connection, pattern: str) -> list[str]:
    """Signatures of every function whose name matches a LIKE pattern, in any schema."""
    return [
        r[0]
        for r in conn.execute(
            "SELECT oid::regprocedure::text FROM pg_proc WHERE proname LIKE %s ORDER BY 1",
            [pattern],
        ).fetchall()
    ]


def catalog_rows(conn: psycopg.Connection, model: str) -> tuple[int, int]:
    """(registry rows, version rows) stored for a model."""
    registry = scalar(conn, "SELECT count(*) FROM sqlml.model_registry WHERE name = %s", [model])
    versions = scalar(conn, "SELECT count(*) FROM sqlml.model_versions WHERE name = %s", [model])
    return registry, versions


def as_dict(value: Any) -> Any:
    """jsonb as psycopg returns it, or JSON text, as Python."""
    return json.loads(value) if isinstance(value, str) else value


# Rows with a feature of every type sqlml takes, NULLs among them: the model tests' data.
FEATURES = "x, k, word, flag, day, ts"
GENERATED_ROWS = """
    SELECT g AS id,
        CASE WHEN g % 11 = 0 THEN NULL ELSE ((g * 37) % 100)::float8 / 10 END AS x,
        (g * 13) % 7 AS k,
        CASE WHEN g % 13 = 0 THEN NULL ELSE (ARRAY['red', 'green', 'blue', 'grey'])[1 + g % 4] END
            AS word,
        CASE WHEN g % 17 = 0 THEN NULL ELSE g % 3 = 0 END AS flag,
        CASE WHEN g % 19 = 0 THEN NULL ELSE DATE '2020-01-01' + (g * 7) % 1000 END AS day,
        TIMESTAMP '2021-06-01' + ((g * 7919) % 100000) * INTERVAL '17 minutes 3.25 seconds' AS ts
    FROM generate_series({start}, {stop}) g
"""
