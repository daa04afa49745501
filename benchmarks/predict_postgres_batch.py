"""Part of ``benchmarks.predict_postgres``: the batch path and what it is measured against.

- the batch queries through the sqlml client (``AVG_SQL``, ``CTAS_SQL``), and the check that
  they take the batch path (``batch_check``: the rewritten SQL and the functions' call
  counts in one rolled-back transaction);
- onnxruntime alone on the stored ONNX over a preloaded float32 matrix (``ort_setups``);
- the client round trip a user would write (``round_trip``).

The SQL and the labels here are the whole benchmark's.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import numpy as np

from benchmarks._harness import engine_sql
from benchmarks._onnxruntime import OrtBaseline, probability_output, session
from benchmarks._postgres import copy_out_matrix, copy_payload

FEATURES = 20
COLUMNS = ", ".join(f"x{i}" for i in range(FEATURES))
MODEL_SQL = (
    "CREATE MODEL m TARGET y USING lightgbm FUNCTION m_fn OPTIONS "
    "(n_estimators = 100, num_leaves = 31, max_rows = 200000) AS SELECT * FROM t"
)
AVG_SQL = "SELECT avg(PREDICT_PROBA(m, *)) FROM t"
CTAS_SQL = "CREATE TABLE out AS SELECT PREDICT_PROBA(m, *) AS p FROM t"
LIMIT_SQL = "SELECT avg(p) FROM (SELECT PREDICT_PROBA(m, *) AS p FROM t LIMIT {n}) s"
ORT_SMALL, ORT_LARGE = 10_000, 100_000

BATCH_AVG, BATCH_CTAS = "batch PREDICT_PROBA avg", "batch PREDICT_PROBA CTAS"
ORT_1_SMALL = f"ort 1 thread, batch {ORT_SMALL:,}"
ORT_1_LARGE = f"ort 1 thread, batch {ORT_LARGE:,}"
ORT_2_PY = f"ort 2 py threads x intra_op=1, batch {ORT_SMALL:,}"
ORT_2_INTRA = f"ort intra_op=2, batch {ORT_LARGE:,}"
ROUND_TRIP = "client round trip (COPY out, ORT 1 thread, COPY in)"


def ort_setups(onnx: bytes, matrix: np.ndarray) -> dict[str, OrtBaseline]:
    """One thread in small and large batches (the batch path's baseline: it runs
    onnxruntime on one thread) and two 2-thread setups (the parallel per-row run's)."""
    return {
        ORT_1_SMALL: OrtBaseline(onnx, matrix, 1, batch=ORT_SMALL),
        ORT_1_LARGE: OrtBaseline(onnx, matrix, 1, batch=ORT_LARGE),
        ORT_2_PY: OrtBaseline(onnx, matrix, 1, batch=ORT_SMALL, python_threads=2),
        ORT_2_INTRA: OrtBaseline(onnx, matrix, 2, batch=ORT_LARGE),
    }


def batch_contenders(
    con: Any, user: Any, onnx: bytes, setups: dict[str, OrtBaseline], kept: dict[str, Any]
) -> tuple[dict[str, Callable[[], Any]], dict[str, str]]:
    """a-c: the batch queries through the sqlml connection ``con``, onnxruntime alone and
    the round trip over the plain connection ``user``; (contenders, notes)."""

    def batch_avg() -> None:
        con.execute(AVG_SQL).fetchall()

    def batch_ctas() -> None:
        con.execute("DROP TABLE IF EXISTS out")
        con.execute(CTAS_SQL)

    contenders: dict[str, Callable[[], Any]] = {BATCH_AVG: batch_avg, BATCH_CTAS: batch_ctas}
    notes = {BATCH_AVG: AVG_SQL, BATCH_CTAS: f"DROP TABLE IF EXISTS out; {CTAS_SQL}"}
    for label, setup in setups.items():
        contenders[label] = setup.run
        notes[label] = setup.setup
    contenders[ROUND_TRIP] = round_trip(user, onnx, ORT_LARGE, kept)
    notes[ROUND_TRIP] = (
        "psycopg binary COPY out -> numpy float32 -> onnxruntime intra_op=1, batch "
        f"{ORT_LARGE:,} -> binary COPY into a new table out_client"
    )
    return contenders, notes


def round_trip(conn: Any, onnx: bytes, batch: int, keep: dict[str, Any]) -> Callable[[], None]:
    """What a user writes: binary COPY out → float32 matrix → onnxruntime (1 thread) →
    binary COPY of the probabilities into a new table. ``keep`` gets the last scores and
    each run's stage seconds."""
    scorer = session(onnx, 1)
    feed = scorer.get_inputs()[0].name
    output = probability_output(scorer)

    def run() -> None:
        start = time.perf_counter()
        matrix = copy_out_matrix(conn, f"SELECT {COLUMNS} FROM t", FEATURES)
        fetched = time.perf_counter()
        scores = np.concatenate(
            [
                scorer.run([output], {feed: matrix[i : i + batch]})[0][:, 1]
                for i in range(0, len(matrix), batch)
            ]
        ).astype(np.float64)
        scored = time.perf_counter()
        conn.execute("DROP TABLE IF EXISTS out_client")
        conn.execute("CREATE TABLE out_client (p float8)")
        with (
            conn.cursor() as cursor,
            cursor.copy("COPY out_client FROM STDIN (FORMAT BINARY)") as copy,
        ):
            copy.write(copy_payload([(scores, ">f8")]))
        keep["scores"] = scores
        keep.setdefault("stages", []).append(
            {
                "COPY out + parse to float32": round(fetched - start, 3),
                "onnxruntime": round(scored - fetched, 3),
                "CREATE TABLE + COPY in": round(time.perf_counter() - scored, 3),
            }
        )

    return run


def batch_check(con: Any, rows: int) -> dict[str, Any]:
    """Which path each query shape takes: its rewritten SQL, and the call counts of the
    model's functions inside one transaction (pg_stat_get_xact_function_calls, with
    track_functions = 'pl'), which is rolled back. Also times the first (cold) batch run."""
    from sqlml._udfs_loader import udfs

    raw = con.backend.conn
    names = {
        "batch": udfs.naming.predict_function("m", proba=True, batch=True),
        "per_row": udfs.naming.predict_function("m", proba=True),
    }
    shapes = {"avg": AVG_SQL, "ctas": CTAS_SQL, "limit": LIMIT_SQL.format(n=rows)}
    rewritten = {k: engine_sql(con, sql) for k, sql in shapes.items()}
    out: dict[str, Any] = {
        "functions": names,
        "rewritten_uses": {
            shape: {kind: name in sql for kind, name in names.items()}
            for shape, sql in rewritten.items()
        },
        "rewritten_avg_sql": rewritten["avg"],
    }
    oids = dict(
        raw.execute(
            "SELECT p.proname, p.oid FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace "
            "WHERE n.nspname = 'sqlml' AND p.proname = ANY(%s)",
            [list(names.values())],
        ).fetchall()
    )

    def calls() -> dict[str, int]:
        return {
            kind: int(
                raw.execute(
                    "SELECT coalesce(pg_stat_get_xact_function_calls(%s), 0)", [oids[name]]
                ).fetchone()[0]
            )
            for kind, name in names.items()
        }

    con.execute("BEGIN")
    try:
        con.execute("SET LOCAL track_functions = 'pl'")
        start = time.perf_counter()
        con.execute(AVG_SQL).fetchall()
        out["cold_first_batch_avg_s"] = round(time.perf_counter() - start, 3)
        after_avg = calls()
        con.execute(CTAS_SQL.replace("TABLE out", "TABLE out_check"))
        after_ctas = calls()
        # Serial here: a parallel worker's calls are not counted in this transaction.
        con.execute("SET LOCAL max_parallel_workers_per_gather = 0")
        con.execute(LIMIT_SQL.format(n=1000)).fetchall()
        after_limit = calls()
    finally:
        con.execute("ROLLBACK")
    out["calls"] = {
        "avg": after_avg,
        "ctas": {k: after_ctas[k] - after_avg[k] for k in names},
        "limit_1000": {k: after_limit[k] - after_ctas[k] for k in names},
    }
    out["batch_path_taken"] = (
        after_avg["batch"] > 0
        and after_avg["per_row"] == 0
        and out["calls"]["ctas"]["batch"] > 0
        and out["calls"]["ctas"]["per_row"] == 0
    )
    out["limit_takes_batch"] = (
        out["calls"]["limit_1000"]["batch"] > 0 and out["calls"]["limit_1000"]["per_row"] == 0
    )
    return out
