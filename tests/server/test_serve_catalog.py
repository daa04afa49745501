"""Catalog questions from psql, drivers and BI tools, answered by ``sqlml serve``.

catalog_queries.json records what each client sends (with the source of every entry);
each runs here through psycopg against the served DuckDB database, and the answers that
matter to the clients (tables, columns with types, keys, indexes) are checked through
real clients: psql's \\d family, SQLAlchemy's inspector, asyncpg.
"""

from __future__ import annotations

import asyncio
import json
import re
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest
from serve_support import Served

ENTRIES = json.loads((Path(__file__).parent / "catalog_queries.json").read_text())


@pytest.fixture(scope="module")
def catalog(served: Served) -> Iterator[dict[str, int]]:
    """Tables, a view and keys for the clients to find; the OIDs they get in this database."""
    with served.connect() as con:
        con.execute(
            "CREATE TABLE customers (id INTEGER PRIMARY KEY, name VARCHAR NOT NULL, "
            "joined TIMESTAMP, score DECIMAL(10, 2))"
        )
        con.execute(
            "CREATE TABLE orders (id INTEGER PRIMARY KEY, "
            "customer_id INTEGER REFERENCES customers(id), amount DOUBLE)"
        )
        con.execute("CREATE INDEX orders_amount ON orders(amount)")
        con.execute("CREATE VIEW customer_names AS SELECT name FROM customers")
        oids = dict(
            con.execute(
                "SELECT relname, oid FROM pg_catalog.pg_class "
                "WHERE relname IN ('customers', 'customer_names')"
            ).fetchall()
        )
        (main,) = con.execute(
            "SELECT oid FROM pg_catalog.pg_namespace WHERE nspname = 'main'"
        ).fetchone()  # type: ignore[misc]
    yield {"customers": oids["customers"], "view": oids["customer_names"], "main": main}
    with served.connect() as con:
        con.execute("DROP VIEW customer_names")
        con.execute("DROP TABLE orders")
        con.execute("DROP TABLE customers")


def _here(sql: str, oids: dict[str, int]) -> str:
    """An entry as this server needs it: the OIDs of this database, and DuckDB's default
    schema (main) and database name (shop) where the capture had PostgreSQL's."""
    sql = sql.replace("16387", str(oids["customers"])).replace("16394", str(oids["view"]))
    sql = re.sub(r"\b2200\b", str(oids["main"]), sql)
    sql = sql.replace("'public'", "'main'").replace("public.", "main.")
    return sql.replace("'test'", "'shop'")


@pytest.mark.parametrize(
    "entry", ENTRIES, ids=[f"{e['client']}: {e['purpose'][:50]}" for e in ENTRIES]
)
def test_recorded_catalog_query_runs(
    served: Served, catalog: dict[str, int], entry: dict[str, Any]
) -> None:
    sql = _here(entry["sql"], catalog)
    with served.connect() as con:
        # Several statements in one string go as a simple query, as the clients send them.
        cursor = psycopg.ClientCursor(con) if _several(sql) else con.cursor()
        cursor.execute(sql)
        while True:
            if cursor.description is not None:
                cursor.fetchall()
            if not cursor.nextset():
                break


def _several(sql: str) -> bool:
    return ";" in sql.strip().rstrip(";")


def test_psql_describes_tables_like_postgresql(served: Served, catalog: dict[str, int]) -> None:
    def psql(command: str) -> str:
        return subprocess.run(
            ["psql", "-X", "-h", "127.0.0.1", "-p", str(served.port), "-U", "tester", "shop"],
            input=command,
            capture_output=True,
            text=True,
            check=True,
            timeout=60,
        ).stdout

    listed = psql("\\dt")
    assert re.search(r"main\s+\| customers\s+\| table", listed)
    assert re.search(r"main\s+\| orders\s+\| table", listed)
    assert "sqlml_pg" not in listed and "pg_type" not in listed
    described = psql("\\d customers")
    assert 'Table "main.customers"' in described
    assert re.search(r"id\s+\| integer\s+\|\s+\| not null", described)
    assert re.search(r"joined\s+\| timestamp without time zone", described)
    assert re.search(r"score\s+\| numeric\(10,2\)", described)
    assert re.search(r'"customers_pkey" PRIMARY KEY, btree \(id\)', described)
    orders = psql("\\d orders")
    assert re.search(r'"orders_amount" art \(amount\)', orders)
    assert "FOREIGN KEY (customer_id) REFERENCES customers(id)" in orders
    views = psql("\\dv")
    assert re.search(r"main\s+\| customer_names \| view", views)
    assert re.search(r"^\s*main\s+\|", psql("\\dn"), re.MULTILINE)
    assert re.search(r"^\s*shop\s+\| sqlml\s+\| UTF8", psql("\\l"), re.MULTILINE)
    assert "List of functions" in psql("\\df")


def test_sqlalchemy_inspector_reflects_the_database(
    served: Served, catalog: dict[str, int]
) -> None:
    import sqlalchemy

    engine = sqlalchemy.create_engine(
        f"postgresql+psycopg2://tester@127.0.0.1:{served.port}/shop", poolclass=sqlalchemy.NullPool
    )
    try:
        inspector = sqlalchemy.inspect(engine)
        assert "main" in inspector.get_schema_names()
        assert {"customers", "orders"} <= set(inspector.get_table_names())
        assert "customer_names" in inspector.get_view_names()
        columns = {c["name"]: c for c in inspector.get_columns("customers")}
        assert list(columns) == ["id", "name", "joined", "score"]
        assert isinstance(columns["id"]["type"], sqlalchemy.Integer)
        assert isinstance(columns["joined"]["type"], sqlalchemy.TIMESTAMP)
        assert isinstance(columns["score"]["type"], sqlalchemy.Numeric)
        assert columns["score"]["type"].precision == 10  # type: ignore[attr-defined]
        assert columns["name"]["nullable"] is False and columns["joined"]["nullable"] is True
        assert inspector.get_pk_constraint("customers")["constrained_columns"] == ["id"]
        (foreign,) = inspector.get_foreign_keys("orders")
        assert foreign["referred_table"] == "customers"
        assert foreign["constrained_columns"] == ["customer_id"]
        assert foreign["referred_columns"] == ["id"]
        indexes = {i["name"]: i for i in inspector.get_indexes("orders")}
        assert indexes["orders_amount"]["column_names"] == ["amount"]
        assert inspector.has_table("customers") and not inspector.has_table("nothing_here")
        with engine.connect() as con:
            assert con.execute(sqlalchemy.text("SELECT count(*) FROM customers")).scalar() == 0
    finally:
        engine.dispose()


def test_asyncpg_introspects_types_and_reads_binary(
    served: Served, catalog: dict[str, int]
) -> None:
    import asyncpg

    async def run() -> list[Any]:
        con = await asyncpg.connect(
            host="127.0.0.1", port=served.port, user="tester", database="shop"
        )
        try:
            rows = await con.fetch(
                "SELECT $1::INTEGER + 1 AS n, $2::VARCHAR AS s, [1, 2]::INTEGER[] AS a, "
                "TIMESTAMP '2024-01-02 03:04:05' AS t",
                41,
                "x",
            )
            return [tuple(r) for r in rows]
        finally:
            await con.close()

    ((n, s, a, t),) = asyncio.run(run())
    assert (n, s, a) == (42, "x", [1, 2])
    assert t.isoformat() == "2024-01-02T03:04:05"


def test_declare_and_fetch_read_a_result_in_batches(served: Served) -> None:
    with psycopg.connect(served.dsn) as con:
        con.execute("DECLARE c CURSOR WITH HOLD FOR SELECT range AS n FROM range(250)")
        batches = []
        while rows := con.execute("FETCH 100 IN c").fetchall():
            batches.append([n for (n,) in rows])
        con.execute("CLOSE c")
        assert [len(b) for b in batches] == [100, 100, 50]
        assert [n for batch in batches for n in batch] == list(range(250))
        with pytest.raises(psycopg.Error) as missing:
            con.execute("FETCH 1 IN c")
        assert missing.value.sqlstate == "34000"


def test_duckdb_sql_that_names_the_catalog_still_runs(served: Served) -> None:
    with served.connect() as con:
        ((count,),) = con.execute(
            "SELECT count(*) FROM duckdb_tables() "
            "WHERE table_name LIKE 'pg_%' AND database_name = current_database()"
        ).fetchall()
        assert count == 0  # the compatibility catalog is not in the user's file
        # DuckDB's own pg_catalog and lists still answer as DuckDB's.
        assert con.execute("SELECT list_sum([1, 2, 3])").fetchone() == (6,)
