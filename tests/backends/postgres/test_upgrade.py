"""`sqlml install --upgrade` moves a catalog made by sqlml 0.1.0 forward
(sql/sqlml--0.1.0--0.2.0.sql), and an install of 0.4.0 (no runs, no deployment history,
SET VERSION's two-argument function) to this release."""

from __future__ import annotations

import pg_support
import psycopg
import pytest
from catalog_0_1_0 import build, trained_model
from catalog_race import catalog_problems
from pg_support import execute, functions_named, rows, scalar

import sqlml
from sqlml.install import install, installed_version

DATABASE = "sqlml_t_upgrade"
LINEAR = "CREATE OR REPLACE MODEL m TARGET y USING linear_regression AS SELECT * FROM t"


@pytest.fixture
def dsn():
    yield pg_support.create_database(DATABASE)
    pg_support.drop_database(DATABASE)


def test_a_0_1_0_catalog_gets_its_keys_and_keeps_every_model(dsn: str) -> None:
    onnx, metadata = trained_model()
    with psycopg.connect(dsn, autocommit=True) as conn:
        build(
            lambda sql, params: conn.execute(sql.replace("?", "%s"), params),
            "BYTEA",
            onnx,
            metadata,
        )
        assert installed_version(conn) == "0.1.0"
        with pytest.raises(sqlml.SqlmlError, match="--upgrade"):
            install(dsn, report=lambda _: None)
        reported: list[str] = []
        assert install(dsn, upgrade=True, report=reported.append) == sqlml.__version__
        assert "applying sqlml--0.1.0--0.2.0.sql" in reported
        keys = rows(
            conn,
            "SELECT conrelid::regclass::text, contype FROM pg_constraint "
            "WHERE connamespace = 'sqlml'::regnamespace ORDER BY 1, 2",
        )
        assert ("sqlml.model_versions", "f") in keys and ("sqlml.model_versions", "p") in keys
        assert ("sqlml.model_registry", "p") in keys
        assert (
            scalar(conn, "SELECT value FROM sqlml.catalog_info WHERE key = 'schema_version'") == "2"
        )
        # 0.1.0 kept no owners: its models are now the upgrading role's.
        installer = scalar(conn, "SELECT current_user")
        assert rows(conn, "SELECT DISTINCT owner FROM sqlml.model_registry") == [(installer,)]

    con = sqlml.connect(dsn)
    try:
        catalog = con.backend.catalog
        assert catalog_problems(con) == []
        assert [m.version for m in catalog.versions("raced")] == [1, 2, 3, 4]
        assert [(m.name, m.version) for m in catalog.current()] == [("raced", 3), ("single", 1)]
        (answer,) = con.execute("SELECT PREDICT(raced, x) FROM (SELECT 10.0 AS x) AS q").fetchone()
        assert answer == pytest.approx(20.0, abs=1e-3)
        # A new version takes the next number.
        con.execute(
            "CREATE TABLE t AS SELECT g::float8 AS x, 2.0 * g AS y FROM generate_series(1, 60) g"
        )
        assert (
            con.execute(
                "CREATE OR REPLACE MODEL raced TARGET y USING linear_regression FROM t"
            ).fetchone()[1]
            == 5
        )
    finally:
        con.close()


def as_0_4_0_left_it(conn: psycopg.Connection) -> None:
    """Take away what 0.5.0 added to an install, and put back 0.4.0's SET VERSION function."""
    conn.execute("DROP TABLE sqlml.runs, sqlml.model_deployments")
    for function in (
        "set_model_version(text, integer, text)",
        "drop_model_version(text, integer, boolean)",
        "export_model(text, integer)",
        "import_model(text, bytea, text, text[], text, text, boolean)",
        "record_failed_run(jsonb)",
    ):
        conn.execute(f"DROP FUNCTION sqlml.{function}")
    conn.execute(
        "CREATE FUNCTION sqlml.set_model_version(name text, version integer) RETURNS void "
        "LANGUAGE sql SECURITY DEFINER AS 'SELECT NULL'"
    )
    conn.execute("UPDATE sqlml.catalog_info SET value = '0.4.0' WHERE key = 'installed_version'")


def test_a_0_4_0_install_gets_runs_history_and_one_set_version_function(dsn: str) -> None:
    install(dsn, report=lambda _: None)
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute(
            "CREATE TABLE t AS SELECT g::float8 AS x, 3.0 * g AS y FROM generate_series(1, 60) g"
        )
        for _ in range(2):
            execute(conn, LINEAR)
        as_0_4_0_left_it(conn)

        with pytest.raises(sqlml.CatalogVersionError, match="--upgrade"):
            sqlml.connect(dsn).close()
        assert install(dsn, upgrade=True, report=lambda _: None) == sqlml.__version__
        assert functions_named(conn, "set\\_model\\_version") == [
            "sqlml.set_model_version(text,integer,text)"
        ]
        # The versions trained under 0.4.0 are served; the new statements work on them.
        # The history starts at the upgrade: ROLLBACK goes back to what was put in use since.
        execute(conn, "ALTER MODEL m SET VERSION 1")
        execute(conn, "ALTER MODEL m SET VERSION 2")
        execute(conn, "ALTER MODEL m ROLLBACK")
        assert rows(
            conn, "SELECT version, action FROM sqlml.model_deployments ORDER BY sequence"
        ) == [
            (1, "set version"),
            (2, "set version"),
            (1, "rollback"),
        ]
        assert float(scalar(conn, """SELECT sqlml.predict('m', '{"x": 10.0}')""")) == pytest.approx(
            30.0, abs=1e-3
        )
        execute(conn, LINEAR)
        assert rows(conn, "SELECT model, version, status FROM sqlml.runs") == [
            ("m", 3, "succeeded")
        ]
