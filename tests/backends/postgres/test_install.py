"""`sqlml install` / `--upgrade` / `uninstall` against a real server (README, "PostgreSQL").

The module works on its own scratch database, ``sqlml_t_install``: it is installed once with
the command line, and the tests then go through the life of an install in file order
(reinstall, upgrade, uninstall last).
"""

from __future__ import annotations

import subprocess
from collections.abc import Iterator

import pg_support
import psycopg
import pytest
from cli_support import sqlml_cli
from pg_support import FAST, execute, functions_named, rows, scalar

import sqlml
from sqlml.errors import SqlmlError
from sqlml.install import check_server_python, install, installed_version, uninstall

DATABASE = "sqlml_t_install"
NON_SUPERUSER = "sqlml_t_carol"

# What sql/sqlml--0.5.0.sql puts into schema sqlml.
SQLML_FUNCTIONS = {
    "execute(text)",
    "sql_expression(text)",
    "train_model(text,text,jsonb,text,jsonb)",
    "_install_model_functions(text)",
    "drop_model(text)",
    "set_model_version(text,integer,text)",
    "drop_model_version(text,integer,boolean)",
    "record_failed_run(jsonb)",
    "may_manage_model(text)",
    "export_model(text,integer)",
    "import_model(text,bytea,text,text[],text,text,boolean)",
    "predict(text,jsonb)",
    "predict_proba(text,jsonb)",
    "evaluate_json(text,text,jsonb)",
    "show_models()",
    "describe_model(text)",
    "explain_model(text)",
    "model_versions(text)",
    "evaluate_model(text,text)",
}


@pytest.fixture(scope="module")
def dsn() -> Iterator[str]:
    yield pg_support.create_database(DATABASE)
    pg_support.drop_database(DATABASE)


@pytest.fixture(scope="module")
def cli_install(dsn: str) -> subprocess.CompletedProcess[str]:
    """The first install of the fresh database, as a user runs it."""
    return sqlml_cli("install", dsn)


@pytest.fixture(scope="module")
def conn(dsn: str, cli_install) -> Iterator[psycopg.Connection]:
    with psycopg.connect(dsn, autocommit=True) as conn:
        yield conn


@pytest.fixture(scope="module")
def model(conn: psycopg.Connection) -> list[tuple]:
    """A model with a FUNCTION trained from plain SQL; its answers on table t."""
    conn.execute(
        "CREATE TABLE t AS SELECT g AS id, (g % 17)::float8 AS x, (g % 3)::text AS w, "
        "(g % 17 > 8) AS y FROM generate_series(1, 300) g"
    )
    execute(
        conn,
        f"CREATE MODEL kept TARGET y FUNCTION kept_f OPTIONS ({FAST}) AS SELECT x, w, y FROM t",
    )
    return predictions(conn)


def predictions(conn: psycopg.Connection) -> list[tuple]:
    return rows(conn, "SELECT id, kept_f(x, w) FROM t ORDER BY id")


def sqlml_functions(conn: psycopg.Connection) -> set[str]:
    return {
        r[0].removeprefix("sqlml.")
        for r in rows(
            conn,
            "SELECT p.oid::regprocedure::text FROM pg_proc p "
            "JOIN pg_namespace n ON n.oid = p.pronamespace WHERE n.nspname = 'sqlml'",
        )
    }


def test_cli_install_creates_schema_role_and_functions(cli_install, conn):
    assert cli_install.returncode == 0, cli_install.stderr
    assert f"sqlml {sqlml.__version__} is installed" in cli_install.stdout + cli_install.stderr
    assert scalar(conn, "SELECT count(*) FROM pg_namespace WHERE nspname = 'sqlml'") == 1
    assert scalar(conn, "SELECT count(*) FROM pg_roles WHERE rolname = 'sqlml_user'") == 1
    assert sqlml_functions(conn) >= SQLML_FUNCTIONS
    for relation in ("model_registry", "model_versions", "catalog_info", "models"):
        assert scalar(conn, "SELECT to_regclass(%s) IS NOT NULL", [f"sqlml.{relation}"])
    assert installed_version(conn) == sqlml.__version__
    # sqlml_user may use sqlml; PUBLIC may not call its functions.
    assert scalar(conn, "SELECT has_schema_privilege('sqlml_user', 'sqlml', 'USAGE')")
    assert scalar(
        conn, "SELECT has_function_privilege('sqlml_user', 'sqlml.execute(text)', 'EXECUTE')"
    )
    public_grants = scalar(
        conn,
        "SELECT count(*) FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace, "
        "aclexplode(coalesce(p.proacl, acldefault('f', p.proowner))) a "
        "WHERE n.nspname = 'sqlml' AND a.grantee = 0",
    )
    assert public_grants == 0


def test_install_again_is_idempotent_and_keeps_models(dsn, conn, model):
    assert install(dsn, report=lambda _: None) == sqlml.__version__
    assert [r[0] for r in rows(conn, "SELECT name FROM sqlml.models")] == ["kept"]
    assert predictions(conn) == model
    keys = rows(conn, "SELECT key, count(*) FROM sqlml.catalog_info GROUP BY key")
    assert all(count == 1 for _, count in keys), keys
    assert installed_version(conn) == sqlml.__version__


def test_older_install_needs_upgrade(dsn, conn, model):
    conn.execute("UPDATE sqlml.catalog_info SET value = '0.0.9' WHERE key = 'installed_version'")
    with pytest.raises(SqlmlError) as caught:
        install(dsn, report=lambda _: None)
    message = str(caught.value)
    assert "--upgrade" in message and "0.0.9" in message and sqlml.__version__ in message
    assert installed_version(conn) == "0.0.9"  # refused before changing anything
    with pytest.raises(sqlml.CatalogVersionError, match=r"sqlml 0\.0\.9 installed.*--upgrade"):
        sqlml.connect(dsn)  # the client would call functions of another release
    refused = sqlml_cli("install", dsn)
    assert refused.returncode == 1
    assert [line for line in refused.stderr.splitlines() if line.strip()] == [f"Error: {message}"]

    assert install(dsn, upgrade=True, report=lambda _: None) == sqlml.__version__
    assert installed_version(conn) == sqlml.__version__
    # The model's functions were recreated; a new session (a new server process) uses them.
    with psycopg.connect(dsn, autocommit=True) as fresh:
        assert predictions(fresh) == model
        assert execute(fresh, "SHOW MODELS")[0]["name"] == "kept"


def test_non_superuser_cannot_install(dsn, conn):
    with pg_support.admin() as admin:
        admin.execute(f"DROP ROLE IF EXISTS {NON_SUPERUSER}")
        admin.execute(f"CREATE ROLE {NON_SUPERUSER} LOGIN")
        try:
            with pytest.raises(SqlmlError, match="superuser"):
                install(pg_support.dsn_for(DATABASE, NON_SUPERUSER), report=lambda _: None)
        finally:
            admin.execute(f"DROP ROLE {NON_SUPERUSER}")
    assert installed_version(conn) == sqlml.__version__


def test_check_server_python_names_what_is_missing_and_what_to_do(dsn, cli_install):
    # The server's own /usr/bin/python3 has none of sqlml's packages. A new session: one
    # that already ran sqlml's functions has them on its interpreter's path.
    with psycopg.connect(dsn, autocommit=True) as fresh, pytest.raises(SqlmlError) as caught:
        check_server_python(fresh, [])
    message = str(caught.value)
    for module in ("numpy", "sklearn", "onnxruntime", "lightgbm", "sqlml"):
        assert module in message
    assert "cannot import" in message
    assert "pip install sqlml" in message and "sqlml install" in message
    assert "\n" not in message


def test_cli_install_with_a_bad_dsn_fails_in_one_line():
    result = sqlml_cli("install", "postgresql://postgres@127.0.0.1:1/nowhere")
    assert result.returncode == 1
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("Error:")
    assert "Traceback" not in result.stderr


def test_uninstall_removes_schema_and_model_functions(dsn, conn, model):
    assert functions_named(conn, "kept_f") == ["kept_f(double precision,text)"]
    uninstall(dsn, report=lambda _: None)
    assert scalar(conn, "SELECT count(*) FROM pg_namespace WHERE nspname = 'sqlml'") == 0
    assert functions_named(conn, "kept_f") == []
    assert functions_named(conn, "sqlml_%") == []
    assert installed_version(conn) is None
    # Other databases may still use the role.
    assert scalar(conn, "SELECT count(*) FROM pg_roles WHERE rolname = 'sqlml_user'") == 1
    with pytest.raises(SqlmlError, match="not installed"):
        sqlml.connect(dsn)
