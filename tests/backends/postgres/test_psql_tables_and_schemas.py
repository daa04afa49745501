"""PostgreSQL as psql users meet it (issue 11): sqlml.query() gives a real table, a model's
FUNCTION takes the argument types DESCRIBE MODEL lists, a sqlml_user on PostgreSQL 15's
defaults gets its FUNCTION in a schema it may use (or is told what to grant), and an install
from a folder the server cannot enter says which folder."""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pg_support
import psycopg
import pytest
from pg_support import FAST, scalar

import sqlml
from sqlml.errors import PermissionDeniedError, SqlmlError
from sqlml.install import check_server_python

ROLE = "sqlml_t_cleo"


@pytest.fixture(scope="module")
def scored(pg: psycopg.Connection) -> Iterator[str]:
    pg.execute(
        "CREATE TABLE visits AS SELECT g AS id, (g % 40)::integer AS minutes, "
        "DATE '2024-01-01' + g % 90 AS day, (g % 40 > 20) AS bought FROM generate_series(1, 400) g"
    )
    with sqlml.connect(pg) as con:
        con.execute(
            f"CREATE MODEL buys TARGET bought FUNCTION buys_fn OPTIONS ({FAST}) "
            "AS SELECT minutes, day, bought FROM visits"
        )
    yield "buys"
    pg_support.reset(pg)


def test_sqlml_query_returns_a_real_table(pg, scored):
    rows = pg.execute(
        "SELECT * FROM sqlml.query($$SELECT id, PREDICT(buys, *) AS buys FROM visits "
        "WHERE minutes > 30 ORDER BY id$$) AS t(id integer, buys boolean)"
    ).fetchall()
    with sqlml.connect(pg) as con:
        expected = con.execute(
            "SELECT id, PREDICT(buys, *) AS buys FROM visits WHERE minutes > 30 ORDER BY id"
        ).fetchall()
    assert rows == expected and len(rows) == 90
    counted = pg.execute(
        "SELECT buys, count(*) FROM sqlml.query($$SELECT PREDICT(buys, *) AS buys FROM visits$$) "
        "AS t(buys boolean) GROUP BY buys ORDER BY buys"
    ).fetchall()
    assert sum(n for _, n in counted) == 400
    with pytest.raises(psycopg.Error) as refused:
        pg.execute("SELECT * FROM sqlml.query($$DROP MODEL buys$$) AS t(x text)")
    assert refused.value.sqlstate == "0A000" and "only a query" in str(refused.value)
    assert scalar(pg, "SELECT count(*) FROM sqlml.models WHERE name = 'buys'") == 1


def test_the_functions_arguments_are_the_ones_describe_lists(pg, scored):
    with sqlml.connect(pg) as con:
        described = con.execute("DESCRIBE MODEL buys").fetchall()
    arguments = [value for section, _, _, value in described if section == "argument"]
    declared = scalar(
        pg, "SELECT pg_get_function_arguments('buys_fn'::regproc)"
    )  # what psql's \df shows
    assert declared.split(", ") == arguments
    assert arguments == ["double precision", "timestamp without time zone"]
    features = [value for section, _, _, value in described if section == "feature"]
    assert features == ["integer", "date"]  # the training columns' own types, kept too


@pytest.fixture
def cleo(pg, scored) -> Iterator[str]:
    def drop() -> None:
        if scalar(pg, "SELECT count(*) FROM pg_roles WHERE rolname = %s", [ROLE]):
            pg.execute(f"DROP OWNED BY {ROLE} CASCADE")
            pg.execute(f"DROP ROLE {ROLE}")

    drop()
    pg.execute(f"CREATE ROLE {ROLE} LOGIN")
    pg.execute(f"GRANT sqlml_user TO {ROLE}")
    pg.execute(f"GRANT SELECT ON visits TO {ROLE}")
    pg.execute(f"REVOKE CREATE ON SCHEMA public FROM PUBLIC, {ROLE}")  # PostgreSQL 15's default
    yield ROLE
    pg.execute(f"DROP SCHEMA IF EXISTS {ROLE} CASCADE")
    drop()


def test_a_sqlml_user_gets_its_function_where_it_may_create_one(pg, cleo):
    train = (
        f"CREATE MODEL cleo_m TARGET bought FUNCTION cleo_fn OPTIONS ({FAST}) "
        "AS SELECT minutes, bought FROM visits"
    )
    with sqlml.connect(pg_support.dsn_for(pg.info.dbname, cleo)) as con:
        with pytest.raises(PermissionDeniedError, match=f"CREATE SCHEMA {cleo} AUTHORIZATION"):
            con.execute(train)
        assert con.execute("SHOW MODELS WHERE name = 'cleo_m'").fetchall() == []
    pg.execute(f"CREATE SCHEMA {cleo} AUTHORIZATION {cleo}")
    with sqlml.connect(pg_support.dsn_for(pg.info.dbname, cleo)) as con:
        con.execute(train)
        assert con.execute("SELECT count(cleo_fn(minutes)) FROM visits").fetchone() == (400,)
    where = scalar(
        pg, "SELECT pronamespace::regnamespace::text FROM pg_proc WHERE proname = 'cleo_fn'"
    )
    assert where == cleo


def test_install_names_the_folder_the_server_cannot_enter(pg):
    # Not under pytest's own folder, which the server's user may not enter either.
    outer = Path(tempfile.mkdtemp(prefix="sqlml_install_"))
    outer.chmod(0o755)
    locked = outer / "home"
    environment = locked / "venv" / "site-packages"
    environment.mkdir(parents=True)
    locked.chmod(0o700)  # the postgres user may not enter it
    # a new server process: one that imported sqlml before would not look again
    fresh = psycopg.connect(pg_support.dsn_for(pg.info.dbname), autocommit=True)
    try:
        with fresh, pytest.raises(SqlmlError) as caught:
            check_server_python(fresh, [str(environment)])
    finally:
        shutil.rmtree(outer)
    message = str(caught.value)
    assert f"may not enter {locked}," in message and f"chmod o+x {locked}" in message
