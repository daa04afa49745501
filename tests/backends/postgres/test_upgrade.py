"""`sqlml install --upgrade` moves a catalog made by sqlml 0.1.0 forward
(sql/sqlml--0.1.0--0.2.0.sql)."""

from __future__ import annotations

import pg_support
import psycopg
import pytest
from catalog_0_1_0 import build, trained_model
from catalog_race import catalog_problems
from pg_support import rows, scalar

import sqlml
from sqlml.install import install, installed_version

DATABASE = "sqlml_t_upgrade"


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
