"""What the command line opens: a DuckDB file that must exist (or that the shell creates),
PostgreSQL by URL or by libpq's key=value form, and one clear line when it cannot."""

from __future__ import annotations

from pathlib import Path

import psycopg
import pytest
from cli_support import sqlml_cli
from psycopg import sql
from servers import SERVER_DSN, TEST_DATABASE, dsn_for

import sqlml
from sqlml.errors import FeatureTableNotFoundError
from sqlml.transfer import copy_model


@pytest.fixture
def script(tmp_path: Path) -> Path:
    path = tmp_path / "one.sql"
    path.write_text("SELECT 41 + 1 AS answer;\n")
    return path


def test_run_and_copy_model_refuse_a_duckdb_file_that_is_not_there(tmp_path, script):
    ran = sqlml_cli("run", "shopp.duckdb", str(script), cwd=tmp_path)
    assert ran.returncode == 1
    assert ran.stderr.startswith("Error: no DuckDB database at shopp.duckdb")
    copied = sqlml_cli("copy-model", "missing.duckdb", ":memory:", "m", cwd=tmp_path)
    assert copied.returncode == 1 and "no DuckDB database at missing.duckdb" in copied.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == ["one.sql"]  # nothing made


def test_the_shell_creates_a_new_file_and_says_so(tmp_path):
    shell = sqlml_cli("shell", "new.duckdb", cwd=tmp_path, stdin="SELECT 1 AS one;\n")
    assert shell.returncode == 0, shell.stderr
    assert "creating a new DuckDB database at new.duckdb" in shell.stderr
    assert (tmp_path / "new.duckdb").exists()


def test_install_and_uninstall_say_they_are_for_postgresql(tmp_path):
    for command in ("install", "uninstall"):
        done = sqlml_cli(command, "shop.duckdb", cwd=tmp_path)
        assert done.returncode == 2
        assert f"sqlml {command} is for PostgreSQL" in done.stderr
        assert "needs no install" in done.stderr
    assert not (tmp_path / "shop.duckdb").exists()


@pytest.mark.postgres
def test_a_keyword_dsn_is_postgresql(tmp_path, script, postgres_database):
    keywords = f"host=127.0.0.1 user=postgres dbname={TEST_DATABASE}"
    done = sqlml_cli("run", keywords, str(script), cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert "42" in done.stdout
    assert not any(p.suffix != ".sql" for p in tmp_path.iterdir())  # not read as a file


@pytest.mark.parametrize(
    ("dsn", "reason"),
    [
        ("postgresql://postgres:secret@127.0.0.1:5999/shop", "Connection refused"),
        ("postgresql://postgres@127.0.0.1/no_such_database", 'database "no_such_database"'),
        ("postgresql://[nope", "not a PostgreSQL connection string"),
    ],
)
def test_a_database_that_cannot_be_reached_is_one_clear_line(tmp_path, script, dsn, reason):
    done = sqlml_cli("run", dsn, str(script), cwd=tmp_path)
    assert done.returncode == 1
    (line,) = done.stderr.strip().splitlines()
    assert line.startswith("Error: ") and reason in line
    assert "secret" not in line and line.count("127.0.0.1") <= 1


@pytest.fixture
def spare_database(postgres_database) -> str:
    """A database of its own with sqlml installed, for uninstalling."""
    name = "sqlml_test_uninstall"
    with psycopg.connect(SERVER_DSN, autocommit=True) as admin:
        admin.execute(
            sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
        )
        admin.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    from sqlml.install import install

    install(dsn_for(name), report=lambda _: None)
    yield dsn_for(name)
    with psycopg.connect(SERVER_DSN, autocommit=True) as admin:
        admin.execute(
            sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
        )


@pytest.mark.postgres
def test_uninstall_asks_unless_yes(tmp_path, spare_database):
    with sqlml.connect(spare_database) as con:
        con.execute("CREATE TABLE t AS SELECT g AS x, g % 2 = 0 AS y FROM generate_series(1, 60) g")
        con.execute("CREATE MODEL kept TARGET y AS SELECT * FROM t")
    asked = sqlml_cli("uninstall", spare_database, cwd=tmp_path)  # no terminal to answer on
    assert asked.returncode == 1
    assert "1 model(s)" in asked.stderr and "--yes" in asked.stderr
    with sqlml.connect(spare_database) as con:
        assert [r[0] for r in con.execute("SHOW MODELS").fetchall()] == ["kept"]
    done = sqlml_cli("uninstall", "--yes", spare_database, cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    with psycopg.connect(spare_database) as conn:
        schemas = conn.execute("SELECT count(*) FROM pg_namespace WHERE nspname = 'sqlml'")
        assert schemas.fetchone() == (0,)


def test_copy_model_names_replace_and_refuses_missing_feature_tables(tmp_path):
    source, target = str(tmp_path / "a.duckdb"), str(tmp_path / "b.duckdb")
    with sqlml.connect(source) as con:
        con.execute(
            "CREATE TABLE events AS SELECT i % 20 AS id, "
            "DATE '2024-01-01' + CAST(i AS INTEGER) AS day, "
            "i * 1.5 AS spend, i % 3 = 0 AS churned FROM range(200) t(i)"
        )
        con.execute("CREATE MODEL plain TARGET churned AS SELECT spend, churned FROM events")
        con.execute(
            "CREATE FEATURE TABLE spend_ft KEY id TIMESTAMP day "
            "AS SELECT id, day, spend FROM events"
        )
        con.execute(
            "CREATE MODEL featured TARGET churned FEATURES spend_ft AS OF day "
            "AS SELECT id, day, churned FROM events"
        )
    sqlml.connect(target).close()
    assert sqlml_cli("copy-model", source, target, "plain", cwd=tmp_path).returncode == 0
    again = sqlml_cli("copy-model", source, target, "plain", cwd=tmp_path)
    assert again.returncode == 1 and "--replace" in again.stderr
    with sqlml.connect(source) as a, sqlml.connect(target) as b:
        with pytest.raises(FeatureTableNotFoundError, match="spend_ft"):
            copy_model(a, b, "featured")
        assert [r[0] for r in b.execute("SHOW MODELS").fetchall()] == ["plain"]
