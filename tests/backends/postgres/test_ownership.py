"""Models have owners (issue 10, finding 5), as PostgreSQL's own objects do.

ann and ben are both members of sqlml_user; ann is also a member of team, and ada of
sqlml_admin. ann's model is hers: ben may use it but not replace, drop, re-version or give
it away, by any path (sqlml statements from the client, sqlml.execute in psql, the catalog
tables themselves); team's members may once ann gives it to team; sqlml_admin may always.
Training statistics (ML.FEATURE_INFO) are shown only to roles that may read the training
table or manage the model.
"""

from __future__ import annotations

from collections.abc import Iterator

import pg_support
import psycopg
import pytest
from pg_support import FAST, scalar

import sqlml

ANN, BEN, ADA, TEAM = "sqlml_t_ann", "sqlml_t_ben", "sqlml_t_ada", "sqlml_t_team"
ROLES = (ANN, BEN, ADA, TEAM)
TRAIN = f"TARGET y OPTIONS ({FAST}) AS SELECT x, w, y FROM own_rows"


def _drop_roles(conn: psycopg.Connection) -> None:
    for role in ROLES:
        if scalar(conn, "SELECT count(*) FROM pg_roles WHERE rolname = %s", [role]):
            conn.execute(f"DROP OWNED BY {role}")
            conn.execute(f"DROP ROLE {role}")


@pytest.fixture(scope="module")
def roles(pg: psycopg.Connection) -> Iterator[None]:
    _drop_roles(pg)
    for role in (ANN, BEN, ADA):
        pg.execute(f"CREATE ROLE {role} LOGIN")
        pg.execute(f"GRANT sqlml_user TO {role}")
    pg.execute(f"CREATE ROLE {TEAM} NOLOGIN")
    pg.execute(f"GRANT {TEAM} TO {ANN}")
    pg.execute(f"GRANT sqlml_admin TO {ADA}")
    pg.execute(
        "CREATE TABLE own_rows AS SELECT g AS id, (g % 13)::float8 AS x, (g % 3)::text AS w, "
        "(g % 13 > 6) AS y FROM generate_series(1, 300) g"
    )
    pg.execute(f"GRANT SELECT ON own_rows TO {ANN}")
    yield
    pg_support.reset(pg)
    _drop_roles(pg)


def _as(pg: psycopg.Connection, role: str) -> sqlml.Connection:
    return sqlml.connect(pg_support.dsn_for(pg.info.dbname, role))


@pytest.fixture
def ann_model(pg, roles) -> Iterator[str]:
    with _as(pg, ANN) as ann:
        ann.execute(f"CREATE MODEL ann_m {TRAIN}")
        ann.execute(f"CREATE OR REPLACE MODEL ann_m {TRAIN}")  # versions 1 and 2
    yield "ann_m"
    pg.execute(
        "SELECT sqlml.drop_model('ann_m') WHERE EXISTS "
        "(SELECT 1 FROM sqlml.model_registry WHERE name = 'ann_m')"
    )


def _state(pg: psycopg.Connection) -> tuple:
    return pg.execute(
        "SELECT owner, current_version, (SELECT count(*) FROM sqlml.model_versions "
        "WHERE name = 'ann_m') FROM sqlml.model_registry WHERE name = 'ann_m'"
    ).fetchone()


def test_a_model_belongs_to_the_role_that_made_it(pg, ann_model):
    assert _state(pg) == (ANN, 2, 2)


@pytest.mark.parametrize(
    "statement",
    [
        f"CREATE OR REPLACE MODEL ann_m {TRAIN.replace('own_rows', 'ben_rows')}",
        "DROP MODEL ann_m",
        "ALTER MODEL ann_m SET VERSION 1",
        f"ALTER MODEL ann_m OWNER TO {BEN}",
    ],
)
def test_another_user_may_not_change_the_model(pg, ann_model, statement):
    pg.execute("CREATE TABLE IF NOT EXISTS ben_rows AS SELECT * FROM own_rows")
    pg.execute(f"GRANT SELECT ON ben_rows TO {BEN}")
    with _as(pg, BEN) as ben:
        with pytest.raises(sqlml.PermissionDeniedError, match=f"belongs to role {ANN}"):
            ben.execute(statement)
        # He may still use it.
        assert ben.execute("SELECT PREDICT(ann_m, 1.0, '1')").fetchone() is not None
    with psycopg.connect(pg_support.dsn_for(pg.info.dbname, BEN), autocommit=True) as psql:
        with pytest.raises(psycopg.errors.InsufficientPrivilege) as caught:
            psql.execute("SELECT * FROM sqlml.execute(%s)", [statement])
        assert caught.value.diag.message_primary.startswith("sqlml: ")
    assert _state(pg) == (ANN, 2, 2)


def test_the_catalog_tables_refuse_what_the_statements_refuse(pg, ann_model):
    with psycopg.connect(pg_support.dsn_for(pg.info.dbname, BEN), autocommit=True) as ben:
        changed = ben.execute(
            "UPDATE sqlml.model_registry SET current_version = 1, owner = %s WHERE name = 'ann_m'",
            [BEN],
        ).rowcount
        removed = ben.execute("DELETE FROM sqlml.model_versions WHERE name = 'ann_m'").rowcount
        assert (changed, removed) == (0, 0)
        for direct in (
            "DELETE FROM sqlml.model_objects WHERE name = 'ann_m'",
            "SELECT sqlml.drop_model('ann_m')",
            "SELECT sqlml.set_model_version('ann_m', 1)",
        ):
            with pytest.raises(psycopg.errors.InsufficientPrivilege):
                ben.execute(direct)
        # A new model is his own, whatever owner he writes.
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            ben.execute(
                "INSERT INTO sqlml.model_registry VALUES ('forged', 1, NULL, %s, now(), now())",
                [ANN],
            )
    assert _state(pg) == (ANN, 2, 2)


def test_the_owner_gives_the_model_to_a_role_whose_members_then_manage_it(pg, ann_model):
    with _as(pg, ANN) as ann:
        with pytest.raises(sqlml.PermissionDeniedError, match=f"member of role {BEN}"):
            ann.execute(f"ALTER MODEL ann_m OWNER TO {BEN}")  # not hers to give to
        with pytest.raises(sqlml.SqlmlError, match="no_such_role"):
            ann.execute("ALTER MODEL ann_m OWNER TO no_such_role")
        ann.execute(f"ALTER MODEL ann_m OWNER TO {TEAM}")
        assert _state(pg)[0] == TEAM
        ann.execute("ALTER MODEL ann_m SET VERSION 1")  # as a member of team
    assert _state(pg) == (TEAM, 1, 2)
    with _as(pg, BEN) as ben, pytest.raises(sqlml.PermissionDeniedError, match=TEAM):
        ben.execute("DROP MODEL ann_m")


def test_sqlml_admin_manages_every_model(pg, ann_model):
    with _as(pg, ADA) as ada:
        ada.execute("ALTER MODEL ann_m SET VERSION 1")
        ada.execute(f"ALTER MODEL ann_m OWNER TO {BEN}")
        assert _state(pg) == (BEN, 1, 2)
        ada.execute("DROP MODEL ann_m")
    assert _state(pg) is None


def _feature_info(con: sqlml.Connection) -> dict[str, tuple]:
    rows = con.execute("SELECT * FROM ML.FEATURE_INFO(MODEL ann_m)").fetchall()
    return {row[0]: row[1:] for row in rows}


def test_training_statistics_only_for_roles_that_may_read_the_rows(pg, ann_model):
    with _as(pg, ANN) as ann:
        seen = _feature_info(ann)
    assert seen["x"][:2] == (0.0, 12.0)  # min, max
    with _as(pg, BEN) as ben:
        hidden = _feature_info(ben)
    assert set(hidden) == {"x", "w"}
    assert all(value is None for values in hidden.values() for value in values)
    with psycopg.connect(pg_support.dsn_for(pg.info.dbname, BEN), autocommit=True) as psql:
        metadata = " ".join(
            r[0]
            for r in psql.execute(
                "SELECT metadata FROM sqlml.model_versions WHERE name = 'ann_m'"
            ).fetchall()
        )
        assert "feature_info" not in metadata
        assert psql.execute("SELECT * FROM sqlml.model_statistics").fetchall() == []
    pg.execute(f"GRANT SELECT ON own_rows TO {BEN}")
    try:
        with _as(pg, BEN) as ben:
            assert _feature_info(ben) == seen
    finally:
        pg.execute(f"REVOKE SELECT ON own_rows FROM {BEN}")


def test_duckdb_has_no_roles_and_says_so():
    with sqlml.connect() as con:
        con.execute(
            "CREATE TABLE own_rows AS SELECT g::DOUBLE AS x, g % 2 = 0 AS y FROM range(100) t(g)"
        )
        con.execute("CREATE MODEL m TARGET y USING logistic_regression AS SELECT * FROM own_rows")
        with pytest.raises(sqlml.UnsupportedError, match="no roles"):
            con.execute("ALTER MODEL m OWNER TO someone")
