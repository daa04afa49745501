"""Several processes train one model at once (issue 10, finding 1): on PostgreSQL they run
side by side, on a DuckDB file they take turns. Exactly one plain CREATE MODEL wins, every
CREATE OR REPLACE gets a version of its own, the last stored serves, and the catalog is whole.
"""

from __future__ import annotations

from collections import Counter

import pytest
from catalog_race import RACE_ROWS, catalog_problems, race
from servers import TEST_DATABASE, dsn_for

import sqlml

PROCESSES = 8


@pytest.fixture
def target(con: sqlml.Connection, backend_name: str, tmp_path) -> str:
    """Where the racing processes connect: the test's database, with its rows loaded; a
    DuckDB file is closed here first, as only one process may hold it."""
    con.execute("CREATE TABLE race_rows AS SELECT g % 50 AS x FROM generate_series(1, 200) AS t(g)")
    if backend_name == "postgres":
        return dsn_for(TEST_DATABASE)
    con.close()
    return str(tmp_path / "test.duckdb")


def _reopen(target: str) -> sqlml.Connection:
    return sqlml.connect(target)


def test_of_concurrent_create_model_exactly_one_wins(target: str) -> None:
    outcomes = race(
        target, f"CREATE MODEL race TARGET y USING linear_regression AS {RACE_ROWS}", PROCESSES, 1
    )
    kinds = Counter(kind for kind, _ in outcomes)
    assert kinds == {"ok": 1, "exists": PROCESSES - 1}, outcomes
    assert [v for kind, v in outcomes if kind == "ok"] == [1]
    con = _reopen(target)
    try:
        assert [(m.name, m.version) for m in con.backend.catalog.current()] == [("race", 1)]
        assert catalog_problems(con) == []
    finally:
        con.close()


def test_concurrent_create_or_replace_each_get_a_version_and_the_last_serves(
    target: str,
) -> None:
    rounds = 3
    outcomes = race(
        target,
        f"CREATE OR REPLACE MODEL shared TARGET y USING linear_regression AS {RACE_ROWS}",
        PROCESSES,
        rounds,
    )
    versions = [v for kind, v in outcomes if kind == "ok"]
    assert len(versions) == PROCESSES * rounds, outcomes
    assert sorted(versions) == list(range(1, PROCESSES * rounds + 1))
    con = _reopen(target)
    try:
        assert catalog_problems(con) == []
        shown = con.execute("SHOW MODELS").fetchall()
        assert [row[:2] for row in shown] == [("shared", PROCESSES * rounds)]
        stored = [m.version for m in con.backend.catalog.versions("shared")]
        assert stored == list(range(1, PROCESSES * rounds + 1))
    finally:
        con.close()


def test_concurrent_deploy_best_leaves_the_best_version_in_use(target: str) -> None:
    """Each process trains on another random sample, so the versions' metrics differ: each
    is put in use only if it beats the one in use when it commits."""
    sample = RACE_ROWS.replace("FROM race_rows", "FROM race_rows WHERE random() < 0.8")
    outcomes = race(
        target,
        "CREATE OR REPLACE MODEL best TARGET y USING random_forest OPTIONS (deploy = 'best', "
        f"n_estimators = 5, n_jobs = 1) AS {sample}",
        PROCESSES,
        1,
    )
    assert [kind for kind, _ in outcomes] == ["ok"] * PROCESSES, outcomes
    con = _reopen(target)
    try:
        assert catalog_problems(con) == []
        metrics = dict(
            con.backend.catalog.db.run(
                "SELECT version, metric_value FROM sqlml.model_versions WHERE name = 'best'"
            )
        )
        in_use = con.backend.catalog.get("best").version
        assert len(metrics) == PROCESSES and metrics[in_use] == max(metrics.values())
        history = con.backend.catalog.deployments("best")
        assert [h[0] for h in history] == list(range(1, len(history) + 1))
        put_in_use = [metrics[h[1]] for h in history]
        assert put_in_use == sorted(put_in_use)  # each one beat the one before it
    finally:
        con.close()
