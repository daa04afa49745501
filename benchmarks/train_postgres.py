"""CREATE MODEL inside PostgreSQL against the same steps by hand in a client process.

    python -m benchmarks.train_postgres [--rows 1000000] [--features 20] [--rounds 3] [--threads 2]

In a scratch database (``--database``, dropped and created again, sqlml installed in it)
with ``--rows`` rows x ``--features`` (20) float8 features and an int4 target (numpy seed 0,
binary COPY):

- sqlml: ``CREATE OR REPLACE MODEL mt TARGET y USING lightgbm OPTIONS (n_estimators = 100,
  num_leaves = 31, n_jobs = T) AS SELECT * FROM t`` through ``sqlml.connect(dsn)``: the
  server reads the rows (udfs.pg_training.read_query), trains, converts, scores the 20 %
  held-out rows (test_size 0.2 by default), stores the model and creates its functions;
- by hand: binary COPY of ``SELECT * FROM t`` → numpy → train_test_split(test_size=0.2,
  stratify=y) → LGBMClassifier.fit → onnxmltools.convert_lightgbm → bytes. No evaluation.

Each run is a fresh ``python -m`` process (interleaved, alternating order) with a fresh
server backend. The libraries each needs are imported before the clock starts: by hand in
the child; for sqlml in the child (its client imports lightgbm, and so scikit-learn, to
check OPTIONS) and in the backend (a DO block, timed and reported as "server imports").
"cold s" adds every import back: the child's and the backend's. sqlml's stages come from
its NOTICEs, timestamped by a notice handler in the child. Reported: work time, CPU (sqlml:
the backend's, from /proc, LightGBM's threads included), peak RSS (sqlml: the backend's
VmHWM; by hand: the child's), and unless ``--no-profile`` a breakdown of read_query and a
cProfile of udfs.pg_training.train_model run in the server.

Writes benchmarks/results/train_postgres.json.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from typing import Any

from benchmarks._harness import (
    Child,
    ChildRun,
    Target,
    busy_warning,
    make_data,
    print_table,
    self_rss_mb,
    write_results,
)
from benchmarks._postgres import (
    ADMIN_DSN,
    backend_pid,
    bench_schema,
    copy_out,
    create_database,
    drop_database,
    load_table,
    parse_copy,
    process_cpu_seconds,
    process_peak_rss_mb,
    process_rss_mb,
    server_prelude,
    server_settings,
)
from benchmarks._training import (
    FIT_REST,
    SQLML,
    child_options,
    print_cprofile,
    print_report,
    profile_tables,
    run_config,
    run_contender,
    run_json,
    run_rounds,
    size_options,
    sqlml_stage,
    summarise_runs,
    train_lightgbm_by_hand,
)

NAME = "train_postgres"
MODULE = "benchmarks.train_postgres"
DATABASE = "sqlml_bench_train"
FIT_FIRST = "fit: Dataset, tree 1"
# What the server's Python loads for CREATE MODEL, loaded before the clock starts.
SERVER_IMPORTS = (
    "numpy",
    "pyarrow",
    "pandas",
    "sklearn.model_selection",
    "lightgbm",
    "onnx",
    "onnxmltools",
    "skl2onnx",
    "onnxruntime",
)


def model_sql(threads: int) -> str:
    return (
        "CREATE OR REPLACE MODEL mt TARGET y USING lightgbm OPTIONS "
        f"(n_estimators = 100, num_leaves = 31, n_jobs = {threads}) AS SELECT * FROM t"
    )


# -- children --------------------------------------------------------------------------------


# sqlml's progress messages → this benchmark's stage names.
STAGES = {
    "read": "read_query + target encoding",
    "prepare": "prepare (target, frame, split)",
    "fit first tree": FIT_FIRST,
    "fit rest": FIT_REST,
    "convert": "convert",
    "evaluate": "evaluate + store + create functions",
    "done": "done",
}


def work_sqlml(child: Child, dsn: str, threads: int, features: int) -> dict[str, Any]:
    import sqlml

    notices: list[tuple[float, str]] = []

    def progress(message: str) -> None:  # called by sqlml's psycopg notice handler
        notices.append((time.monotonic(), message))
        child.mark(sqlml_stage(message, STAGES))

    child.mark("server imports (fresh backend)")
    con = sqlml.connect(dsn, progress=progress)
    raw = con.backend.conn
    pid = backend_pid(raw)
    backend_cpu_start = process_cpu_seconds(pid)
    rss_fresh = process_rss_mb(pid)
    imports = "\n".join(f"import {m}" for m in SERVER_IMPORTS)
    start = time.perf_counter()
    # The prelude imports sqlml.in_server, and with it udfs.pg_training and udfs.train.
    raw.execute(f"DO $bench$\n{server_prelude(raw)}\n{imports}\n$bench$ LANGUAGE plpython3u")
    server_imports_s = time.perf_counter() - start
    rss_after_imports = process_rss_mb(pid)

    cpu = process_cpu_seconds(pid)
    child.mark("client: parse, catalog, train_model call")
    start = time.perf_counter()
    con.execute(model_sql(threads)).fetchall()
    work_s = time.perf_counter() - start
    child.mark("close")
    backend_cpu = process_cpu_seconds(pid) - cpu
    backend_total_cpu = process_cpu_seconds(pid) - backend_cpu_start
    backend_peak = process_peak_rss_mb(pid)
    model = con.backend.catalog.get("mt")
    onnx_bytes = len(con.backend.catalog.onnx("mt", model.version))
    con.close()
    child.mark("end")
    meta = model.metadata
    return {
        "work_s": work_s,
        "work_cpu_s": backend_cpu,
        "backend_total_cpu_s": backend_total_cpu,
        "server_imports_s": server_imports_s,
        "backend_rss_fresh_mb": rss_fresh,
        "backend_rss_after_imports_mb": rss_after_imports,
        "backend_peak_rss_mb": backend_peak,
        "notices": [[round(t, 4), m] for t, m in notices],
        "onnx_bytes": onnx_bytes,
        "rows_train": meta.get("rows_train"),
        "rows_test": meta.get("rows_test"),
        "sqlml_timings": meta.get("timings"),
        "metrics": meta.get("metrics"),
    }


def work_by_hand(child: Child, dsn: str, threads: int, features: int) -> dict[str, Any]:
    import numpy as np
    import psycopg

    cpu = time.process_time()
    start = time.perf_counter()
    child.mark("connect")
    conn = psycopg.connect(dsn, autocommit=True)
    child.mark("query -> numpy (binary COPY)")
    buffer = copy_out(conn, "SELECT * FROM t")
    columns = parse_copy(buffer, [8] * features + [4])
    x = np.empty((len(columns[0]), features))
    for i in range(features):
        x[:, i] = columns[i]
    y = columns[-1].astype(np.int32)
    del columns, buffer
    onnx, rows_train = train_lightgbm_by_hand(child, x, y, threads, FIT_FIRST)
    child.mark("close")
    conn.close()
    child.mark("end")
    return {
        "work_s": time.perf_counter() - start,
        "work_cpu_s": time.process_time() - cpu,
        "onnx_bytes": len(onnx),
        "rows_train": rows_train,
    }


def child_main(args: argparse.Namespace) -> int:
    child = Child(args.child_out)
    # What the client side of each contender needs, loaded before the clock starts.
    child.mark("imports")
    import numpy  # noqa: F401
    import psycopg  # noqa: F401

    if args.child == "sqlml":
        import sqlml.connection  # noqa: F401  (the client: parser, rewrite, backends)
    # sqlml's client loads lightgbm too, to check OPTIONS (udfs.algorithms.check_options).
    child.mark("imports: lightgbm + scikit-learn")
    import lightgbm  # noqa: F401

    if args.child == "by-hand":
        import onnx  # noqa: F401
        import onnxmltools  # noqa: F401
        import sklearn.model_selection  # noqa: F401

    rss_after_imports = self_rss_mb()
    work = work_sqlml if args.child == "sqlml" else work_by_hand
    result = work(child, args.dsn, args.threads, args.features)
    stages = child.stages()
    child.finish(
        {
            **result,
            "rss_after_imports_mb": rss_after_imports,
            "stage_s": {label: v["s"] for label, v in stages.items()},
        }
    )
    return 0


# -- the in-server profile -------------------------------------------------------------------

# udfs.pg_training.read_query with its SPI calls timed, and beside it a prototype of another
# read: byteasend (C) returns its argument's bytes, so bench.array_bytes hands over a float8[]
# in its in-memory form, the values contiguous in native byte order, with no per-value send.
READ_PROFILE = """
import json, time
import numpy as np
from sqlml._udfs_loader import udfs

spent = []

class Timed:  # plpy, with its execute calls timed
    def __getattr__(self, name):
        return getattr(plpy, name)

    def execute(self, *args):
        start = time.perf_counter()
        result = plpy.execute(*args)
        spent.append(time.perf_counter() - start)
        return result

start = time.perf_counter()
table, types = udfs.pg_training.read_query(Timed(), query)
read_s = time.perf_counter() - start
names = [n for n, _ in udfs.pg_spi.describe(plpy, query)]
parts = ", ".join(
    f"bench.array_bytes(array_agg(coalesce(q.{plpy.quote_ident(n)}::float8, 'NaN'))) AS c{i}"
    for i, n in enumerate(names)
)
start = time.perf_counter()
row = plpy.execute(f"SELECT count(*) AS n, {parts} FROM ({query}) AS q")[0]
alt_sql_s = time.perf_counter() - start
start = time.perf_counter()
arrays = [np.frombuffer(row[f"c{i}"], dtype=np.float64, offset=20) for i in range(len(names))]
assert all(len(a) == row["n"] for a in arrays)
same = all(
    np.array_equal(table.column(n).to_numpy(zero_copy_only=False).astype(np.float64), a)
    for n, a in zip(names, arrays)
)
alt_numpy_s = time.perf_counter() - start
return json.dumps({
    "read_query_s": read_s,
    "spi_aggregate_s": max(spent),
    "other_spi_s": sum(spent) - max(spent),
    "to_arrow_s": read_s - sum(spent),
    "rows": table.num_rows,
    "prototype_array_agg_bytes_sql_s": alt_sql_s,
    "prototype_numpy_s": alt_numpy_s,
    "prototype_same_values": bool(same),
})
"""

# udfs.pg_training.train_model under cProfile, called as sqlml.train_model calls it; the
# entries go back as plain values (_training.pstats_entries does the same in a client).
TRAIN_PROFILE = """
import cProfile, json, pstats, time
from sqlml._udfs_loader import udfs

profiler = cProfile.Profile()
start = time.perf_counter()
profiler.enable()
try:
    handoff.call(plpy, udfs.pg_training.train_model, name, query, request, None)
finally:
    profiler.disable()
total = time.perf_counter() - start
entries = [
    [filename, line, function, calls, own, cumulative]
    for (filename, line, function), (_cc, calls, own, cumulative, _callers) in (
        pstats.Stats(profiler).stats.items()
    )
]
return json.dumps({"total_s": total, "entries": entries})
"""


def server_profile(dsn: str, threads: int) -> dict[str, Any]:
    """read_query timed in the server (its one big SPI aggregate apart from turning the
    result into Arrow), an alternative read prototyped beside it, and a cProfile of
    udfs.pg_training.train_model run in the server (model ``mt_profile``)."""
    import psycopg

    from sqlml._udfs_loader import udfs

    out: dict[str, Any] = {}
    with psycopg.connect(dsn, autocommit=True) as conn:
        prelude = server_prelude(conn)
        bench_schema(conn)
        conn.execute(
            "CREATE FUNCTION bench.array_bytes(float8[]) RETURNS bytea LANGUAGE internal "
            "IMMUTABLE STRICT PARALLEL SAFE AS 'byteasend'"
        )
        for signature, body in (
            ("read_profile(query text)", READ_PROFILE),
            ("train_profile(name text, query text, request text)", TRAIN_PROFILE),
        ):
            conn.execute(
                f"CREATE FUNCTION bench.{signature} RETURNS text LANGUAGE plpython3u "
                f"AS $bench$\n{prelude}\n{body}\n$bench$"
            )
        reads = [
            json.loads(conn.execute("SELECT bench.read_profile('SELECT * FROM t')").fetchone()[0])
            for _ in range(2)
        ]
        out["read_query"] = min(reads, key=lambda r: r["read_query_s"])
        out["read_query_runs"] = reads

        request = udfs.train.TrainRequest(
            target="y",
            algorithm="lightgbm",
            options={"n_estimators": 100, "num_leaves": 31, "n_jobs": threads},
        )
        imports = "\n".join(f"import {m}" for m in SERVER_IMPORTS)
        conn.execute(f"DO $bench$\n{prelude}\n{imports}\n$bench$ LANGUAGE plpython3u")
        profiled = json.loads(
            conn.execute(
                "SELECT bench.train_profile('mt_profile', 'SELECT * FROM t', %s)",
                [request.to_json()],
            ).fetchone()[0]
        )
        out["train_model_cprofile"] = {
            "total_s": profiled["total_s"],
            **profile_tables(profiled["entries"]),
        }
        conn.execute("DROP SCHEMA bench CASCADE")
    return out


# -- parent ----------------------------------------------------------------------------------


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--dsn", default=ADMIN_DSN, help="a superuser's DSN on the server")
    parser.add_argument("--database", default=DATABASE, help="scratch database (recreated)")
    size_options(parser, NAME)
    parser.add_argument("--no-profile", action="store_true", help="skip the server profile")
    parser.add_argument("--keep", action="store_true", help="keep the scratch database")
    child_options(parser)
    args = parser.parse_args(argv)
    if args.child:
        return child_main(args)

    import psycopg

    others_at_start = busy_warning()
    started = time.perf_counter()
    print(f"creating database {args.database} and installing sqlml", file=sys.stderr)
    dsn = create_database(args.dsn, args.database)
    profile: dict[str, Any] | None = None
    try:
        print(
            f"loading {args.rows:,} rows x {args.features} features (binary COPY)", file=sys.stderr
        )
        load_s = load_table(dsn, make_data(args.rows, args.features, seed=0))
        with psycopg.connect(dsn) as conn:
            settings = server_settings(conn)
        runs = run_rounds(
            args.rounds,
            lambda name: run_contender(
                MODULE,
                name,
                ["--dsn", dsn, "--threads", str(args.threads), "--features", str(args.features)],
            ),
            lambda name, run: (
                f"work {run.result['work_s']:.1f} s, CPU {run.result['work_cpu_s']:.1f} s, "
                f"peak RSS {_peak(run):,.0f} MiB (others: {_others(run):.1f} cores)"
            ),
        )
        if not args.no_profile:
            print(
                "  profiling in the server (read_query, cProfile of train_model)", file=sys.stderr
            )
            profile = server_profile(dsn, args.threads)
    finally:
        if not args.keep:
            drop_database(args.dsn, args.database)

    report = summarise(runs)
    payload = {
        "config": run_config(
            args,
            others_at_start,
            started,
            model=model_sql(args.threads),
            server=settings,
            load_s=round(load_s, 2),
        ),
        **report,
        "profile": profile,
    }
    path = write_results(args.name, payload)
    print_report(
        f"Training to ONNX, {args.rows:,} rows x {args.features} features (best of rounds; sqlml's "
        "CPU and memory are its server backend's)",
        {
            "work s": "best_work_s",
            "work CPU s": "least_work_cpu_s",
            "cold s": "best_cold_s",
            "peak RSS MiB": "min_peak_rss_mb",
            "RSS after imports MiB": "rss_after_imports_mb",
        },
        report,
        (
            "server imports in a fresh backend (before the clock): "
            f"{report['server_imports_s']['best']:.2f} s best",
        ),
    )
    if profile is not None:
        print_profile(profile)
    print(f"\nwrote {path}")
    return 0


def _others(run: ChildRun) -> float:
    """Cores other processes kept busy: for sqlml, the backend doing its work is not one."""
    server = run.result.get("backend_total_cpu_s", 0.0) / run.wall_s if run.wall_s else 0.0
    return round(max(run.others_cores - server, 0.0), 2)


def _peak(run: ChildRun) -> float:
    """The peak RSS of the process that did the work: the backend for sqlml."""
    return float(run.result.get("backend_peak_rss_mb", run.peak_rss_mb))


def _base(run: ChildRun) -> float:
    return float(run.result.get("backend_rss_after_imports_mb", run.result["rss_after_imports_mb"]))


def _cold(run: ChildRun) -> float:
    """Work plus every import it needed: the child's and, for sqlml, the backend's."""
    return (
        run.result["work_s"]
        + run.result["stage_s"].get("imports", 0.0)
        + run.result["stage_s"].get("imports: lightgbm + scikit-learn", 0.0)
        + run.result.get("server_imports_s", 0.0)
    )


def _run_json(run: ChildRun) -> dict[str, Any]:
    keep = (
        "server_imports_s",
        "backend_rss_fresh_mb",
        "backend_rss_after_imports_mb",
        "backend_peak_rss_mb",
        "notices",
    )
    return run_json(
        run,
        keep,
        child_cpu_s=round(run.cpu_s, 3),
        child_peak_rss_mb=round(run.peak_rss_mb, 1),
        others_cores=_others(run),
    )


def summarise(runs: dict[str, list[ChildRun]]) -> dict[str, Any]:
    report = summarise_runs(
        runs,
        {
            "best_work_s": lambda run: run.result["work_s"],
            "least_work_cpu_s": lambda run: run.result["work_cpu_s"],
            "best_cold_s": _cold,
            "min_peak_rss_mb": _peak,
            "rss_after_imports_mb": _base,
        },
        _run_json,
        {
            "cold_time_with_all_imports_sqlml_over_by_hand": "best_cold_s",
            "peak_rss_sqlml_backend_over_by_hand": "min_peak_rss_mb",
        },
    )
    imports = [run.result["server_imports_s"] for run in runs[SQLML]]
    targets = [
        Target(
            "time ratio sqlml / by hand",
            report["ratios"]["work_time_sqlml_over_by_hand"],
            "<=",
            1.3,
        ),
    ]
    return {
        **report,
        "server_imports_s": {"best": round(min(imports), 3), "runs": imports},
        "targets": [t.to_json() for t in targets],
    }


def print_profile(profile: dict[str, Any]) -> None:
    read = profile["read_query"]
    print_table(
        f"read_query in the server ({read['rows']:,} rows)",
        ["part", "s"],
        [
            ["read_query total", round(read["read_query_s"], 3)],
            [
                "the SPI aggregate (string_agg(float8send(...)) per column)",
                round(read["spi_aggregate_s"], 3),
            ],
            ["other SPI (describe)", round(read["other_spi_s"], 3)],
            ["bytes -> numpy -> Arrow", round(read["to_arrow_s"], 3)],
            [
                "prototype: array_agg per column + byteasend identity, SQL",
                round(read["prototype_array_agg_bytes_sql_s"], 3),
            ],
            [
                f"prototype: numpy views (same values: {read['prototype_same_values']})",
                round(read["prototype_numpy_s"], 3),
            ],
        ],
    )
    top = profile["train_model_cprofile"]
    print_cprofile(top, f"train_model in the server ({top['total_s']:.1f} s)")


if __name__ == "__main__":
    sys.exit(main())
