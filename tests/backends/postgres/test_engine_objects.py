"""The functions sqlml makes for a model (issue 10, findings 2-4): one model's names never
reach another's, whatever the names' length; DROP MODEL and each new version leave exactly
the functions the catalog records; a name PostgreSQL would shorten is refused on every path.
"""

from __future__ import annotations

from collections.abc import Iterator

import pg_support
import psycopg
import pytest
from catalog_race import catalog_problems
from pg_support import FAST, execute, rows, scalar

import sqlml
from udfs.naming import predict_function

NORTH = "customer_churn_prediction_model_for_region_north"
OTHER = "customer_churn_prediction_model_for_region_592"
OWNER, INTRUDER = "sqlml_t_dana", "sqlml_t_eve"
TAKEN = "f" * 63  # dana's own function: a name of exactly 63 bytes


@pytest.fixture
def con(connect, pg: psycopg.Connection) -> sqlml.Connection:
    """A connection to the emptied test database, with table t."""
    con = connect()
    pg.execute(
        "CREATE TABLE t AS SELECT g AS id, (g % 17)::float8 AS x, (g % 17 > 8) AS up, "
        "(g % 17 <= 8) AS down FROM generate_series(1, 340) g"
    )
    return con


def _made_for(pg: psycopg.Connection, model: str) -> list[tuple[str, str]]:
    """(schema, name) of every function whose comment says it is the model's."""
    return rows(
        pg,
        "SELECT n.nspname, p.proname FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace "
        "WHERE starts_with(obj_description(p.oid, 'pg_proc'), %s) ORDER BY 1, 2",
        [f"sqlml model {model} version "],
    )


def test_models_whose_names_share_63_bytes_answer_each_for_itself(con, pg) -> None:
    con.execute(f"CREATE MODEL {NORTH} TARGET up OPTIONS ({FAST}) AS SELECT x, up FROM t")
    con.execute(f"CREATE MODEL {OTHER} TARGET down OPTIONS ({FAST}) AS SELECT x, down FROM t")
    truth = rows(pg, "SELECT up FROM t ORDER BY id")
    for model, expected in ((NORTH, truth), (OTHER, [(not up,) for (up,) in truth])):
        # One call per query (the batch function) and one per row (a LIMIT keeps it).
        answers = con.execute(f"SELECT PREDICT({model}, x) FROM t ORDER BY id").fetchall()
        agree = sum(a == e for a, e in zip(answers, expected, strict=True))
        assert agree / len(expected) > 0.95, model
        one = con.execute(f"SELECT PREDICT({model}, x) FROM t ORDER BY id LIMIT 1").fetchall()
        assert one == expected[:1]
    # The names PostgreSQL stores are the ones sqlml calls, and no two models share one.
    for model in (NORTH, OTHER):
        stored = {name for _, name in _made_for(pg, model)}
        called = {predict_function(model, proba, batch) for proba in (0, 1) for batch in (0, 1)}
        assert stored == called
        assert all(len(name.encode()) <= 63 for name in stored)
    assert not {n for _, n in _made_for(pg, NORTH)} & {n for _, n in _made_for(pg, OTHER)}
    assert catalog_problems(con) == []


def test_drop_model_of_a_long_name_removes_every_function(con, pg) -> None:
    con.execute(f"CREATE MODEL {NORTH} TARGET up FUNCTION north_f OPTIONS ({FAST}) FROM t")
    assert len(_made_for(pg, NORTH)) == 5  # predict, proba, their batch forms, north_f
    con.execute(f"DROP MODEL {NORTH}")
    assert _made_for(pg, NORTH) == []
    assert scalar(pg, "SELECT count(*) FROM sqlml.model_objects") == 0


def test_a_function_name_postgres_would_shorten_is_refused_before_anything_is_made(con, pg) -> None:
    long_name = "f" * 64
    with pytest.raises(sqlml.NameTooLongError, match="64 bytes"):
        con.execute(f"CREATE MODEL m TARGET up FUNCTION {long_name} OPTIONS ({FAST}) FROM t")
    assert con.backend.catalog.names() == []
    assert scalar(pg, "SELECT count(*) FROM pg_proc WHERE proname LIKE 'fff%'") == 0


def test_each_version_keeps_only_the_functions_it_has(con, pg) -> None:
    pg.execute("DROP SCHEMA IF EXISTS sqlml_t_first CASCADE")
    pg.execute("DROP SCHEMA IF EXISTS sqlml_t_second CASCADE")
    pg.execute("CREATE SCHEMA sqlml_t_first")
    pg.execute("CREATE SCHEMA sqlml_t_second")
    try:
        train = f"TARGET up FUNCTION {{}} OPTIONS ({FAST}) AS SELECT x, up FROM public.t"
        con.execute("SET search_path = sqlml_t_first")
        con.execute("CREATE MODEL m " + train.format("m_f"))
        assert ("sqlml_t_first", "m_f") in _made_for(pg, "m")
        # The search_path moved: the FUNCTION moves with it, the old one goes.
        con.execute("SET search_path = sqlml_t_second")
        con.execute("CREATE OR REPLACE MODEL m " + train.format("m_f"))
        kept = [place for place in _made_for(pg, "m") if place[0] != "sqlml"]
        assert kept == [("sqlml_t_second", "m_f")]
        # Renamed: the old name goes.
        con.execute("CREATE OR REPLACE MODEL m " + train.format("m_g"))
        assert [p for p in _made_for(pg, "m") if p[0] != "sqlml"] == [("sqlml_t_second", "m_g")]
        assert catalog_problems(con) == []
        # Left out: no FUNCTION stays.
        con.execute(f"CREATE OR REPLACE MODEL m TARGET up OPTIONS ({FAST}) FROM public.t")
        assert [p for p in _made_for(pg, "m") if p[0] != "sqlml"] == []
        assert catalog_problems(con) == []
        # Back to version 2: its FUNCTION is made again, the others stay away.
        con.execute("ALTER MODEL m SET VERSION 2")
        assert [p for p in _made_for(pg, "m") if p[0] != "sqlml"] == [("sqlml_t_second", "m_f")]
        assert catalog_problems(con) == []
    finally:
        con.execute("RESET search_path")
        con.execute("DROP MODEL m")
        pg.execute("DROP SCHEMA sqlml_t_first CASCADE")
        pg.execute("DROP SCHEMA sqlml_t_second CASCADE")


# -- another role's function (finding 4) ---------------------------------------------------


@pytest.fixture
def roles(pg: psycopg.Connection, con: sqlml.Connection) -> Iterator[None]:
    def drop() -> None:
        for role in (OWNER, INTRUDER):
            if scalar(pg, "SELECT count(*) FROM pg_roles WHERE rolname = %s", [role]):
                pg.execute(f"DROP OWNED BY {role}")
                pg.execute(f"DROP ROLE {role}")

    drop()
    for role in (OWNER, INTRUDER):
        pg.execute(f"CREATE ROLE {role} LOGIN")
        pg.execute(f"GRANT sqlml_user TO {role}")
        pg.execute(f"GRANT CREATE ON SCHEMA public TO {role}")
        pg.execute(f"GRANT SELECT ON t TO {role}")
    with psycopg.connect(pg_support.dsn_for(pg.info.dbname, OWNER), autocommit=True) as owner:
        owner.execute(
            f"CREATE FUNCTION public.{TAKEN}(double precision) RETURNS int "
            "LANGUAGE sql AS 'SELECT 7'"
        )
    yield
    pg_support.reset(pg)
    drop()


@pytest.mark.parametrize("path", ["client", "server"])
def test_a_name_that_shortens_to_another_roles_function_is_refused(pg, roles, path) -> None:
    statement = (
        f"CREATE MODEL taken TARGET up FUNCTION {TAKEN}x OPTIONS ({FAST}) AS SELECT x, up FROM t"
    )
    dsn = pg_support.dsn_for(pg.info.dbname, INTRUDER)
    if path == "client":
        intruder = sqlml.connect(dsn)
        try:
            with pytest.raises(sqlml.NameTooLongError):
                intruder.execute(statement)
        finally:
            intruder.close()
    else:
        with (
            psycopg.connect(dsn, autocommit=True) as intruder,
            pytest.raises(psycopg.errors.NameTooLong),
        ):
            execute(intruder, statement)
    assert scalar(pg, f"SELECT public.{TAKEN}(1.0)") == 7
    assert scalar(pg, "SELECT count(*) FROM sqlml.model_registry") == 0
