"""Deploy rules and the version history (SQL.md section 4): OPTIONS (deploy = 'best' |
'newest'), ALTER MODEL ... ROLLBACK, DROP MODEL ... VERSION n [FORCE], and
sqlml.model_deployments, which says which version was in use when and who put it there."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from queries import FAST, rows, values

import sqlml
from sqlml.errors import ModelNotFoundError, UnknownOptionError, UnsupportedError
from sqlml.session import SqlmlNotice


@pytest.fixture
def signal(make_table) -> str:
    """y follows x; noise is y shuffled, so a model of it is worse than one of y."""
    rng = np.random.default_rng(3)
    x = rng.normal(size=400)
    y = np.where(x + rng.normal(scale=0.3, size=400) > 0, "yes", "no")
    return make_table("signal", pd.DataFrame({"x": x, "y": y, "noise": rng.permutation(y)}))


GOOD = f"TARGET y OPTIONS ({FAST}, deploy = 'best') AS SELECT x, y FROM signal"
BAD = f"TARGET y OPTIONS ({FAST}, deploy = 'best') AS SELECT x, noise AS y FROM signal"


def in_use(con: sqlml.Connection, model: str = "m") -> int:
    return next(r["version"] for r in rows(con, f"SHOW MODEL VERSIONS {model}") if r["in_use"])


def history(con: sqlml.Connection, model: str = "m") -> list[tuple[int, str]]:
    return [
        (r["version"], r["action"])
        for r in rows(
            con,
            f"SELECT version, action FROM sqlml.model_deployments WHERE name = '{model}' "
            "ORDER BY sequence",
        )
    ]


def test_deploy_best_keeps_the_better_version_in_use(con, signal):
    con.execute(f"CREATE MODEL m {GOOD}")
    with pytest.warns(SqlmlNotice, match="version 2 is stored but not in use: its roc_auc"):
        con.execute(f"CREATE OR REPLACE MODEL m {BAD}")
    assert in_use(con) == 1 and len(rows(con, "SHOW MODEL VERSIONS m")) == 2
    con.execute(f"CREATE OR REPLACE MODEL m {GOOD.replace('20', '40')}")  # as good or better?
    good, newer = (con.backend.catalog.get("m", v).metadata["metrics"]["roc_auc"] for v in (1, 3))
    assert in_use(con) == (3 if newer > good else 1)
    newest = BAD.replace(", deploy = 'best'", "")
    con.execute(f"CREATE OR REPLACE MODEL m {newest}")
    assert in_use(con) == 4  # deploy = 'newest', the default: the new version, however good
    assert [v for v, _ in history(con)] == ([1, 3, 4] if newer > good else [1, 4])


def test_deploy_best_needs_a_metric_and_a_known_rule(con, signal):
    with pytest.raises(UnknownOptionError, match="test_size = 0 keeps no rows"):
        con.execute(
            "CREATE MODEL m TARGET y OPTIONS (deploy = 'best', test_size = 0) "
            "AS SELECT * FROM signal"
        )
    with pytest.raises(UnknownOptionError, match="Did you mean: best"):
        con.execute("CREATE MODEL m TARGET y OPTIONS (deploy = 'bset') AS SELECT * FROM signal")
    assert values(con, "SELECT name FROM sqlml.models") == []


def test_rollback_steps_back_through_the_versions_in_use(con, signal):
    for _ in range(3):
        con.execute(
            f"CREATE OR REPLACE MODEL m TARGET y OPTIONS ({FAST}) AS SELECT x, y FROM signal"
        )
    with pytest.warns(SqlmlNotice, match="version 2 is in use again \\(was 3\\)"):
        con.execute("ALTER MODEL m ROLLBACK")
    con.execute("ALTER MODEL m ROLLBACK")
    assert in_use(con) == 1
    with pytest.raises(UnsupportedError, match="no earlier version in use to go back to"):
        con.execute("ALTER MODEL m ROLLBACK")
    con.execute("ALTER MODEL m SET VERSION 3")
    con.execute("ALTER MODEL m ROLLBACK")  # back to what was in use before SET VERSION 3
    assert in_use(con) == 1
    assert history(con) == [
        (1, "created"),
        (2, "created"),
        (3, "created"),
        (2, "rollback"),
        (1, "rollback"),
        (3, "set version"),
        (1, "rollback"),
    ]
    with pytest.raises(ModelNotFoundError, match="Did you mean: m"):
        con.execute("ALTER MODEL mm ROLLBACK")


def test_drop_one_version(con, signal):
    train = f"CREATE OR REPLACE MODEL m TARGET y OPTIONS ({FAST}) AS SELECT x, y FROM signal"
    for _ in range(3):
        con.execute(train)
    con.execute("DROP MODEL m VERSION 2")
    assert [r["version"] for r in rows(con, "SHOW MODEL VERSIONS m")] == [1, 3]
    with pytest.raises(UnsupportedError, match="version 3 of model 'm' is in use"):
        con.execute("DROP MODEL m VERSION 3")
    with pytest.raises(ModelNotFoundError, match="has no version 2; versions: 1, 3"):
        con.execute("DROP MODEL m VERSION 2")
    con.execute("DROP MODEL IF EXISTS m VERSION 2")  # nothing to do
    con.execute("DROP MODEL m VERSION 3 FORCE")  # the one in use before it comes back
    assert in_use(con) == 1 and values(con, "SELECT PREDICT(m, x) FROM signal LIMIT 1")
    assert history(con)[-1] == (1, "version dropped")
    with pytest.raises(UnsupportedError, match="only version of model 'm': DROP MODEL m"):
        con.execute("DROP MODEL m VERSION 1 FORCE")


def test_the_history_says_who(con, signal, backend_name):
    con.execute(f"CREATE MODEL m TARGET y OPTIONS ({FAST}) AS SELECT x, y FROM signal")
    con.execute("ALTER MODEL m SET VERSION 1")
    (who,) = {r["deployed_by"] for r in rows(con, "SELECT * FROM sqlml.model_deployments")}
    expected = None if backend_name == "duckdb" else values(con, "SELECT current_user")[0]
    assert who == expected
    con.execute("DROP MODEL m")
    assert rows(con, "SELECT * FROM sqlml.model_deployments") == []
