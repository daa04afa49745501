"""What PostgreSQL's clients ask of its catalog that DuckDB lacks, as DuckDB objects.

They live in an in-memory database attached once per served database (``sqlml_pg``), so
nothing is written into the user's file, and every session finds them through its
search_path, after the database's own schema.
"""

from __future__ import annotations

from typing import Any

CATALOG = "sqlml_pg"


def install(con: Any, version: str) -> None:
    """Attach the compatibility catalog to a served database (once, at start)."""
    attached = con.execute(
        "SELECT count(*) FROM duckdb_databases() WHERE database_name = $1", [CATALOG]
    ).fetchall()[0][0]
    if not attached:
        con.execute(f"ATTACH ':memory:' AS {CATALOG}")
    # SQLAlchemy and JDBC read the server's version from version(): "PostgreSQL 16.x".
    con.execute(f"CREATE OR REPLACE TABLE {CATALOG}.main.server_info (version VARCHAR)")
    con.execute(f"INSERT INTO {CATALOG}.main.server_info VALUES ($1)", [version])
    con.execute(
        f"CREATE OR REPLACE MACRO {CATALOG}.main.version() AS "
        f"(SELECT version FROM {CATALOG}.main.server_info)"
    )


def search_path(con: Any) -> None:
    """Make a session find the compatibility objects after its own schema's."""
    (database,) = con.execute("SELECT current_database()").fetchone()
    con.execute("SET search_path = $1", [f'"{database}".main,{CATALOG}.main'])
