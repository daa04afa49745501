"""Nothing half-done (SQL.md sections 1 and 9): a failed CREATE MODEL run through
``sqlml.execute`` stores no model row and creates no function, a failed CREATE OR REPLACE
leaves the old version serving, and a ROLLBACK takes a trained model away with its functions."""

from __future__ import annotations

import psycopg
import pytest
from pg_support import FAST, catalog_rows, execute, functions_named, rows, scalar

import sqlml


@pytest.fixture(scope="module")
def served(pg: psycopg.Connection) -> list[tuple]:
    """Table t and model ``served`` (version 1, FUNCTION served_f); its answers on t."""
    pg.execute(
        "CREATE TABLE t AS SELECT g AS id, (g % 23)::float8 AS x, (g % 4)::text AS w, "
        "(g % 23 > 11) AS y FROM generate_series(1, 400) g"
    )
    execute(
        pg,
        f"CREATE MODEL served TARGET y FUNCTION served_f OPTIONS ({FAST}) AS SELECT x, w, y FROM t",
    )
    return answers(pg)


def answers(conn: psycopg.Connection) -> list[tuple]:
    return rows(conn, "SELECT id, served_f(x, w) FROM t ORDER BY id")


def left_behind(conn: psycopg.Connection, model: str, function: str) -> list:
    """Whatever a model of that name left: catalog rows and functions."""
    registry, versions = catalog_rows(conn, model)
    return [
        *(["registry row"] * registry),
        *(["version row"] * versions),
        *functions_named(conn, function),
        *functions_named(conn, f"sqlml\\_%\\_{model}\\_%"),
    ]


BAD_TARGETS = {
    "missing target column": "TARGET nope AS SELECT x, w, y FROM t",
    "one class": "TARGET one AS SELECT x, w, true AS one FROM t",
    "all-NULL target": "TARGET y AS SELECT x, w, NULL::boolean AS y FROM t",
}


@pytest.mark.parametrize("bad", BAD_TARGETS.values(), ids=BAD_TARGETS.keys())
def test_failed_create_model_leaves_nothing(pg, served, bad):
    statement = f"CREATE MODEL broken FUNCTION broken_f OPTIONS ({FAST}) {bad}"
    with pytest.raises(psycopg.Error) as caught:
        execute(pg, statement)
    assert caught.value.sqlstate == sqlml.InvalidTrainingDataError.sqlstate
    assert left_behind(pg, "broken", "broken_f") == []
    assert [r["name"] for r in execute(pg, "SHOW MODELS")] == ["served"]


def test_failed_create_or_replace_keeps_version_1_serving(pg, served):
    with pytest.raises(psycopg.Error):
        execute(
            pg,
            f"CREATE OR REPLACE MODEL served TARGET one FUNCTION served_f OPTIONS ({FAST}) "
            "AS SELECT x, w, true AS one FROM t",
        )
    assert catalog_rows(pg, "served") == (1, 1)
    assert scalar(pg, "SELECT current_version FROM sqlml.model_registry WHERE name = 'served'") == 1
    assert answers(pg) == served
    comment = scalar(pg, "SELECT obj_description('served_f(double precision, text)'::regprocedure)")
    assert comment == "sqlml model served version 1"
    # Another session sees the same.
    with psycopg.connect(pg.info.dsn, autocommit=True) as other:
        assert answers(other) == served
        assert [r["version"] for r in execute(other, "SHOW MODELS")] == [1]


def test_rollback_takes_a_trained_model_away(pg, served):
    with pg.transaction(force_rollback=True):
        execute(
            pg,
            f"CREATE MODEL rolled TARGET y FUNCTION rolled_f OPTIONS ({FAST}) "
            "AS SELECT x, w, y FROM t",
        )
        assert left_behind(pg, "rolled", "rolled_f") != []  # there inside the transaction
        assert scalar(pg, "SELECT count(*) FROM t WHERE rolled_f(x, w) IS NOT NULL") == 400
    assert left_behind(pg, "rolled", "rolled_f") == []
    assert answers(pg) == served


def test_a_failure_in_a_transaction_undoes_the_models_trained_before_it(pg, served):
    with pytest.raises(psycopg.Error), pg.transaction():
        execute(
            pg,
            f"CREATE MODEL first TARGET y FUNCTION first_f OPTIONS ({FAST}) "
            "AS SELECT x, w, y FROM t",
        )
        execute(pg, f"CREATE MODEL second TARGET nope OPTIONS ({FAST}) AS SELECT x, w, y FROM t")
    assert left_behind(pg, "first", "first_f") == []
    assert left_behind(pg, "second", "second_f") == []
