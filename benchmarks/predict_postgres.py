"""PREDICT inside PostgreSQL against onnxruntime alone, the client round trip and per-row calls.

    python -m benchmarks.predict_postgres [--rows 1000000] [--repeats 3] [--row-repeats 1]

In a scratch database (``--database``, dropped and created again, sqlml installed in it) on
the server of ``--dsn``: ``--rows`` rows x 20 float8 features and an int4 target (numpy seed
0, loaded by binary COPY), a LightGBM model ``CREATE MODEL m TARGET y USING lightgbm
FUNCTION m_fn OPTIONS (n_estimators = 100, num_leaves = 31, max_rows = 200000)``, then on
every row (predict_postgres_batch):

a. batch PREDICT through the sqlml client: ``SELECT avg(PREDICT_PROBA(m, *)) FROM t`` and
   ``CREATE TABLE out AS SELECT PREDICT_PROBA(m, *) AS p FROM t`` (checked to take the batch
   path: rewritten SQL and the functions' call counts);
b. onnxruntime alone on the same stored ONNX over a preloaded float32 matrix: one thread in
   10k-row and in large batches (the faster is the baseline), and two 2-thread setups (the
   baseline of the parallel per-row run);
c. the client round trip: binary COPY out, numpy, onnxruntime (1 thread), binary COPY of
   the predictions into a new table;

and (predict_postgres_rows):

d. per-row calls: ``SELECT avg(m_fn(x0, ..., x19)) FROM t`` from plain psycopg (m_fn is the
   model's FUNCTION: it answers the label), serial and with parallel workers, and
   ``SELECT avg(p) FROM (SELECT PREDICT_PROBA(m, *) AS p FROM t LIMIT n) s`` through the
   client (the rewrite picks the LIMIT's rows first, then scores them in chunks);
e. parity of batch, per-row (sqlml's per-row PREDICT_PROBA function, and m_fn's labels), ORT
   alone and the round trip on the same rows.

CPU seconds include the server's: the CPU of every child of the postmaster (the backend and
any parallel workers) is read from /proc around each run. Then, unless ``--skip-profile``
(predict_postgres_profile), the batch query's time is broken down into building the chunks,
the batch function and unpacking the answers, and the per-row path's cost per call.

Writes benchmarks/results/predict_postgres.json.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from typing import Any

from benchmarks._harness import (
    Target,
    Timing,
    busy_warning,
    fastest,
    make_data,
    measure,
    print_table,
    print_targets,
    print_timings,
    ratio,
    summary,
    write_results,
)
from benchmarks._postgres import (
    ADMIN_DSN,
    ServerCpu,
    backend_pid,
    copy_out_matrix,
    create_database,
    drop_database,
    load_table,
    process_peak_rss_mb,
    server_settings,
)
from benchmarks.predict_postgres_batch import (
    AVG_SQL,
    BATCH_AVG,
    BATCH_CTAS,
    COLUMNS,
    CTAS_SQL,
    FEATURES,
    LIMIT_SQL,
    MODEL_SQL,
    ORT_1_LARGE,
    ORT_1_SMALL,
    ORT_2_INTRA,
    ORT_2_PY,
    ROUND_TRIP,
    batch_check,
    batch_contenders,
    ort_setups,
)
from benchmarks.predict_postgres_profile import Profiler, print_profile
from benchmarks.predict_postgres_rows import (
    ROW_LIMIT,
    ROW_PARALLEL,
    ROW_SERIAL,
    check_parity,
    per_row_connections,
    per_row_contenders,
)

NAME = "predict_postgres"
DATABASE = "sqlml_bench"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--dsn", default=ADMIN_DSN, help="a superuser's DSN on the server")
    parser.add_argument("--database", default=DATABASE, help="scratch database (recreated)")
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--repeats", type=int, default=3, help="rounds of a-c")
    parser.add_argument("--row-repeats", type=int, default=1, help="rounds of d (slow)")
    parser.add_argument(
        "--parity-rows", type=int, default=100_000, help="rows of the per-row parity (0: all)"
    )
    parser.add_argument("--profile-repeats", type=int, default=2)
    parser.add_argument("--skip-profile", action="store_true")
    parser.add_argument("--keep", action="store_true", help="keep the scratch database")
    args = parser.parse_args(argv)

    # sqlml first, as in a user's process (it sets OMP_WAIT_POLICY before anything loads).
    import sqlml  # isort: skip
    import onnxruntime  # noqa: F401
    import psycopg

    from sqlml._udfs_loader import udfs

    others_at_start = busy_warning()
    started = time.perf_counter()
    print(f"creating database {args.database} and installing sqlml", file=sys.stderr)
    dsn = create_database(args.dsn, args.database)
    print(f"loading {args.rows:,} rows x {FEATURES} features (binary COPY)", file=sys.stderr)
    load_s = load_table(dsn, make_data(args.rows, FEATURES, seed=0))
    connections: list[Any] = []
    parity_rows = args.parity_rows or args.rows
    try:
        notices: list[tuple[float, str]] = []
        con = sqlml.connect(dsn, progress=lambda m: notices.append((time.perf_counter(), m)))
        raw = con.backend.conn
        # Scans start at block 0, so every reader sees the rows in the same order (parity).
        raw.execute("SET synchronize_seqscans = off")
        print("CREATE MODEL m (lightgbm, FUNCTION m_fn)", file=sys.stderr)
        start = time.perf_counter()
        con.execute(MODEL_SQL)
        train_s = time.perf_counter() - start
        train_notices = [[round(t - start, 3), m] for t, m in notices]
        model = con.backend.catalog.get("m")
        onnx = con.backend.catalog.onnx("m", model.version)
        settings = server_settings(raw)
        pid = backend_pid(raw)
        server = ServerCpu(pid)

        print("checking the paths (cold first batch run)", file=sys.stderr)
        check = batch_check(con, args.rows)

        user = psycopg.connect(dsn, autocommit=True)  # the round trip's plain connection
        connections.append(user)
        user.execute("SET synchronize_seqscans = off")
        print("preloading the float32 matrix", file=sys.stderr)
        setups = ort_setups(onnx, copy_out_matrix(user, f"SELECT {COLUMNS} FROM t", FEATURES))
        kept: dict[str, Any] = {}
        contenders, notes = batch_contenders(con, user, onnx, setups, kept)
        print(f"timing a-c: {len(contenders)} contenders x {args.repeats}", file=sys.stderr)
        timings = measure(contenders, args.repeats, notes, server=server.seconds)

        # d. per-row calls, each connection warmed up (model loaded) first.
        serial, parallel = per_row_connections(dsn)
        connections += [serial, parallel]
        row_contenders, row_notes, plans, watches = per_row_contenders(
            dsn, con, serial, parallel, args.rows
        )
        print(f"timing d (per-row): 3 contenders x {args.row_repeats}", file=sys.stderr)
        timings.update(measure(row_contenders, args.row_repeats, row_notes, server=server.seconds))
        workers = {label: watch.most for label, watch in watches.items()}
        for watch in watches.values():
            watch.close()

        print("parity", file=sys.stderr)
        parity_result = check_parity(
            raw,
            serial,
            setups[ORT_1_SMALL].scores(),
            kept.get("scores"),
            parity_rows,
            model.metadata["classes"],
        )

        profile: dict[str, Any] | None = None
        if not args.skip_profile:
            print("profiling", file=sys.stderr)
            profiler = Profiler(con, args.profile_repeats)
            profile = {
                "batch": profiler.batch(check["rewritten_avg_sql"]),
                "per_row": profiler.per_row(args.rows),
            }
        server_peak_rss = process_peak_rss_mb(pid)
        con.close()
    finally:
        for conn in connections:
            conn.close()
        if not args.keep:
            drop_database(args.dsn, args.database)

    report = summarise(timings, workers, parity_result, check, args.rows)
    payload = {
        "config": {
            "rows": args.rows,
            "features": FEATURES,
            "repeats": args.repeats,
            "row_repeats": args.row_repeats,
            "parity_rows": parity_rows,
            "model": MODEL_SQL,
            "batch_chunk_rows": _chunk_rows(),
            "batch_onnxruntime_threads": udfs.pg_scoring.BATCH_THREADS,
            "omp_wait_policy": os.environ.get("OMP_WAIT_POLICY"),
            "server": settings,
            "server_cpu_measured": server.available,
            "load_s": round(load_s, 2),
            "train_s": round(train_s, 2),
            "train_notices_s": train_notices,
            "sqlml_backend_peak_rss_mb": round(server_peak_rss, 1),
            "others_cores_at_start": others_at_start,
            "total_s": round(time.perf_counter() - started, 1),
        },
        "path_check": check,
        "per_row_plans": plans,
        "timings": [t.to_json() for t in timings.values()],
        "round_trip_stages_s": kept.get("stages"),
        **report,
        "profile": profile,
    }
    path = write_results(NAME, payload)
    print_report(timings, report, check, args.rows)
    stages = kept.get("stages") or []
    if stages:
        runs = timings[ROUND_TRIP].runs
        best = stages[runs.index(min(runs))] if len(stages) == len(runs) else stages[-1]
        print_table("Client round trip, best run", ["stage", "s"], list(best.items()))
    print_table(
        "CREATE MODEL m (max_rows = 200000): sqlml's NOTICEs, seconds from the start",
        ["s", "message"],
        [*train_notices, [round(train_s, 3), "(returned)"]],
    )
    if profile is not None:
        print_profile(profile)
    print(f"\nwrote {path}")
    return 0


def _chunk_rows() -> int:
    from sqlml.predict.batch import CHUNK_ROWS

    return CHUNK_ROWS


# (label, key) of the per-row contenders' ratios; their baseline is ORT with 2 threads when
# the database launched parallel workers for them, else ORT with 1 thread.
PER_ROW_RATIOS = (
    (ROW_SERIAL, "per_row_serial"),
    (ROW_PARALLEL, "per_row_parallel"),
    (ROW_LIMIT, "client_limit"),
)

# (target, ratio, wanted, value): the ratio's best-of figure, baseline time / contender time.
RATIO_TARGETS = (
    ("a. batch avg: ORT 1 thread / batch", "ort_1thread_over_batch_avg", ">=", 0.6),
    ("a. batch CTAS: ORT 1 thread / batch", "ort_1thread_over_batch_ctas", ">=", 0.6),
    ("d. per-row serial: ORT 1 thread / per-row", "ort_over_per_row_serial", ">=", 0.3),
    ("d. per-row parallel: ORT 2 threads / per-row", "ort_over_per_row_parallel", ">=", 0.3),
    ("a. client LIMIT (rows picked, then batch): ORT / it", "ort_over_client_limit", ">=", 0.6),
)
# (target, comparison, field, wanted, value) of the parity checks.
PARITY_TARGETS = (
    ("e. parity max |batch - ORT alone|", "batch_vs_ort_alone", "max_abs_diff", "<=", 1e-6),
    ("e. parity max |per-row - batch|", "per_row_proba_vs_batch", "max_abs_diff", "<=", 1e-6),
    (
        "e. m_fn labels differing from ORT's argmax",
        "m_fn_labels_vs_ort_alone_argmax",
        "rows_differing",
        "==",
        0,
    ),
    ("e. parity max |round trip - batch|", "round_trip_vs_batch", "max_abs_diff", "<=", 1e-6),
)


def summarise(
    timings: dict[str, Timing],
    workers: dict[str, int],
    parity_result: dict[str, Any],
    check: dict[str, Any],
    rows: int,
) -> dict[str, Any]:
    ort1 = fastest(timings, [ORT_1_SMALL, ORT_1_LARGE])
    ort2 = fastest(timings, [ORT_1_SMALL, ORT_1_LARGE, ORT_2_PY, ORT_2_INTRA])
    avg, ctas, trip = timings[BATCH_AVG], timings[BATCH_CTAS], timings[ROUND_TRIP]
    ratios: dict[str, Any] = {
        "ort_1thread_over_batch_avg": ratio(ort1, avg),
        "ort_1thread_over_batch_ctas": ratio(ort1, ctas),
        "batch_ctas_over_round_trip": ratio(ctas, trip),
        "batch_avg_over_round_trip": ratio(avg, trip),
        "ort_1thread_over_round_trip": ratio(ort1, trip),
    }
    for label, key in PER_ROW_RATIOS:
        baseline = ort2 if workers.get(label, 0) > 0 else ort1
        ratios[f"ort_over_{key}"] = {
            **ratio(baseline, timings[label]),
            "baseline": baseline.name,
            "workers_launched": workers.get(label, 0),
        }

    trip_over_ctas = round(1 / ratios["batch_ctas_over_round_trip"]["best"], 3)
    targets = [
        *(Target(name, ratios[key]["best"], op, wanted) for name, key, op, wanted in RATIO_TARGETS),
        Target("c. round trip / batch CTAS (batch faster)", trip_over_ctas, ">", 1.0),
        *(
            Target(name, parity_result[key][field], op, wanted)
            for name, key, field, op, wanted in PARITY_TARGETS
            if key in parity_result
        ),
        Target("path check: batch path taken", int(check["batch_path_taken"]), "==", 1),
    ]
    return summary(
        timings,
        rows,
        ratios,
        targets,
        baselines={"ort_1_thread": ort1.name, "ort_2_threads": ort2.name},
        server_cpu_least_s={label: min(t.server_cpu) for label, t in timings.items()},
        workers_launched=workers,
        parity=parity_result,
    )


def print_report(
    timings: dict[str, Timing], report: dict[str, Any], check: dict[str, Any], rows: int
) -> None:
    print_timings(
        f"PREDICT in PostgreSQL, {rows:,} rows x {FEATURES} features (best / median of runs; "
        "CPU = client + whole server, least of runs)",
        timings,
        rows,
    )
    print_table(
        "Ratios (baseline time / contender time: 1.0 = as fast as the baseline)",
        ["ratio", "best", "median", "CPU", "note"],
        [
            [
                name,
                r["best"],
                r["median"],
                r["cpu"],
                f"vs {r['baseline']}, workers launched {r['workers_launched']}"
                if "baseline" in r
                else "",
            ]
            for name, r in report["ratios"].items()
        ],
    )
    calls = check["calls"]
    print_table(
        "Path check (function calls in one rolled-back transaction, track_functions = 'pl')",
        ["query", "batch function calls", "per-row function calls"],
        [
            [sql, calls[key]["batch"], calls[key]["per_row"]]
            for sql, key in (
                (AVG_SQL, "avg"),
                (CTAS_SQL, "ctas"),
                (LIMIT_SQL.format(n=1000), "limit_1000"),
            )
        ],
    )
    cold = check["cold_first_batch_avg_s"]
    print(f"cold first batch run (loads the model in the backend): {cold} s")
    print_table(
        "Parity (probabilities as float8)",
        ["comparison", "rows", "max |diff|", "rows differing"],
        [
            [k, v["rows"], v["max_abs_diff"], v["rows_differing"]]
            for k, v in report["parity"].items()
            if isinstance(v, dict)
        ],
    )
    print_targets([Target.from_json(t) for t in report["targets"]])


if __name__ == "__main__":
    sys.exit(main())
