"""The per-row functions of a model are PARALLEL SAFE (README "PREDICT and PREDICT_PROBA"): the
planner may hand them to parallel workers, which score rows without SPI, and the answers are
the same as without workers."""

from __future__ import annotations

import re

import psycopg
import pytest
from pg_support import FAST, execute, rows

from sqlml._udfs_loader import udfs

# Parallel plans even for a small table, as for a large one.
PARALLEL = {
    "parallel_setup_cost": "0",
    "parallel_tuple_cost": "0",
    "min_parallel_table_scan_size": "0",
    "max_parallel_workers_per_gather": "2",
}
SERIAL = {"max_parallel_workers_per_gather": "0"}
QUERY = (
    "SELECT count(*), count(*) FILTER (WHERE c), min(p), max(p), avg(p) "
    "FROM (SELECT par_c_f(x, w) AS c, par_f(x, w) AS p FROM big) AS scored"
)


@pytest.fixture(scope="module")
def models(pg: psycopg.Connection) -> None:
    pg.execute(
        "CREATE TABLE train AS SELECT (g % 97)::float8 AS x, (g % 5)::text AS w, "
        "(g % 97) * 1.5 + (g % 5) + sin(g) AS y, (g % 97 > 40) AS c "
        "FROM generate_series(1, 500) g"
    )
    execute(
        pg,
        f"CREATE MODEL par TARGET y FUNCTION par_f OPTIONS ({FAST}) AS SELECT x, w, y FROM train",
    )
    execute(
        pg,
        f"CREATE MODEL par_c TARGET c FUNCTION par_c_f OPTIONS ({FAST}) "
        "AS SELECT x, w, c FROM train",
    )
    pg.execute(
        "CREATE TABLE big AS SELECT g AS id, ((g * 31) % 97)::float8 + 0.25 AS x, "
        "((g * 7) % 6)::text AS w FROM generate_series(1, 3000) g"
    )
    pg.execute("ANALYZE big")


def run(pg: psycopg.Connection, query: str, settings: dict[str, str]) -> list[tuple]:
    with pg.transaction():
        for name, value in settings.items():
            pg.execute("SELECT set_config(%s, %s, true)", [name, value])
        return rows(pg, query)


def test_the_per_row_functions_are_parallel_safe(pg, models):
    functions = {
        "par_f": "public",
        "par_c_f": "public",
        udfs.naming.predict_function("par"): "sqlml",
        udfs.naming.predict_function("par_c"): "sqlml",
        udfs.naming.predict_function("par_c", proba=True): "sqlml",
    }
    found = rows(
        pg,
        "SELECT p.proname, n.nspname, p.proparallel FROM pg_proc p "
        "JOIN pg_namespace n ON n.oid = p.pronamespace WHERE p.proname = ANY(%s)",
        [list(functions)],
    )
    assert {name: (schema, parallel) for name, schema, parallel in found} == {
        name: (schema, "s") for name, schema in functions.items()
    }


def test_a_parallel_plan_scores_rows_in_workers_with_the_same_result(pg, models):
    explained = "\n".join(r[0] for r in run(pg, f"EXPLAIN {QUERY}", PARALLEL))
    assert "Gather" in explained and "Parallel Seq Scan on big" in explained
    assert "Workers Planned: 2" in explained
    analyzed = "\n".join(r[0] for r in run(pg, f"EXPLAIN (ANALYZE, VERBOSE) {QUERY}", PARALLEL))
    launched = re.search(r"Workers Launched: (\d+)", analyzed)
    assert launched and int(launched.group(1)) >= 1, analyzed
    assert re.search(r"Worker 0: .*rows=\d+", analyzed), analyzed  # a worker scored rows

    ((count, positive, low, high, mean),) = run(pg, QUERY, PARALLEL)
    ((s_count, s_positive, s_low, s_high, s_mean),) = run(pg, QUERY, SERIAL)
    assert "Gather" not in "\n".join(r[0] for r in run(pg, f"EXPLAIN {QUERY}", SERIAL))
    assert (count, positive, low, high) == (s_count, s_positive, s_low, s_high)
    assert 0 < positive < count == 3_000 and low < high
    assert mean == pytest.approx(s_mean, rel=1e-12)  # only the order of the sum differs
