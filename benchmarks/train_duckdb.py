"""CREATE MODEL against the same steps by hand, each in a fresh process: time and peak memory.

    python -m benchmarks.train_duckdb [--rows 1000000] [--features 20] [--rounds 3]
        [--threads 2] [--profile] [--name train_duckdb]

Both contenders train LightGBM (100 trees x 31 leaves, seed 42) on ``--rows`` rows x
``--features`` DOUBLE features of one DuckDB file and end with ONNX bytes:

- sqlml: ``CREATE OR REPLACE MODEL m TARGET y USING lightgbm OPTIONS (n_estimators = 100,
  num_leaves = 31, n_jobs = T) AS SELECT * FROM t`` (test_size 0.2 by default: sqlml also
  scores the held-out rows, checks ONNX parity and stores the model in its catalog);
- by hand: ``SELECT * FROM t`` → fetchnumpy → one float64 matrix (the fetched dict is then
  dropped) → train_test_split(test_size=0.2, stratify=y) → LGBMClassifier.fit →
  onnxmltools.convert_lightgbm → bytes.

Each run is its own ``python -m`` process (interleaved, alternating order); the libraries
both need are imported before the clock starts. Reported: work time (connect to ONNX
bytes), process wall time, peak RSS of the process (wait4), and per stage seconds and peak
RSS (sampled from outside; sqlml's stages come from its progress messages). ``--profile``
adds a cProfile run of the sqlml child.

LightGBM's threads are the same for both (``--threads``, default: all cores, as sqlml's
default), and so is OpenMP's wait policy: ``import sqlml`` sets OMP_WAIT_POLICY=PASSIVE, so
both children get that value (or the one already in the environment). With OpenMP's default
spinning waits, 2-thread fits on this shared 2-core VM were 3-10x slower and very noisy.
"""

from __future__ import annotations

import argparse
import cProfile
import pstats
import shutil
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from benchmarks._harness import (
    Child,
    ChildRun,
    Target,
    busy_warning,
    load_table,
    make_data,
    self_rss_mb,
    write_results,
)
from benchmarks._training import (
    FIT_REST,
    SQLML,
    child_options,
    print_cprofile,
    print_report,
    profile_tables,
    pstats_entries,
    run_config,
    run_contender,
    run_json,
    run_rounds,
    size_options,
    sqlml_stage,
    summarise_runs,
    train_lightgbm_by_hand,
)

NAME = "train_duckdb"
MODULE = "benchmarks.train_duckdb"
# fit is cut after LightGBM's first tree: what comes before it is preprocessing (sqlml's
# ColumnTransformer) and LightGBM's Dataset construction.
FIT_FIRST = "fit: preprocess, Dataset, tree 1"


# -- children --------------------------------------------------------------------------


# sqlml's progress messages → this benchmark's stage names.
STAGES = {
    "read": "query -> Arrow",
    "prepare": "prepare (frame, split)",
    "fit first tree": FIT_FIRST,
    "fit rest": FIT_REST,
    "convert": "convert",
    "evaluate": "evaluate + catalog",
    "done": "done",
}


def work_sqlml(child: Child, db: str, threads: int) -> dict[str, Any]:
    import sqlml

    child.mark("connect")
    con = sqlml.connect(db, progress=lambda message: child.mark(sqlml_stage(message, STAGES)))
    con.execute(
        "CREATE OR REPLACE MODEL m TARGET y USING lightgbm OPTIONS "
        f"(n_estimators = 100, num_leaves = 31, n_jobs = {threads}) AS SELECT * FROM t"
    ).fetchall()
    child.mark("close")
    model = con.backend.catalog.get("m")
    onnx_bytes = len(con.backend.catalog.onnx("m", model.version))
    con.close()
    child.mark("end")
    meta = model.metadata
    return {
        "onnx_bytes": onnx_bytes,
        "rows_train": meta.get("rows_train"),
        "rows_test": meta.get("rows_test"),
        "sqlml_timings": meta.get("timings"),
        "metrics": meta.get("metrics"),
    }


def work_by_hand(child: Child, db: str, threads: int) -> dict[str, Any]:
    import duckdb
    import numpy as np

    child.mark("connect")
    con = duckdb.connect(db, read_only=True)
    child.mark("query -> numpy")
    data = con.sql("SELECT * FROM t").fetchnumpy()
    y = data.pop("y")
    x = np.column_stack(list(data.values()))
    del data
    onnx, rows_train = train_lightgbm_by_hand(child, x, y, threads, FIT_FIRST)
    child.mark("close")
    con.close()
    child.mark("end")
    return {"onnx_bytes": len(onnx), "rows_train": rows_train}


def child_main(args: argparse.Namespace) -> int:
    child = Child(args.child_out)
    child.mark("imports")
    # What both contenders need, loaded before the clock starts.
    import duckdb  # noqa: F401
    import lightgbm  # noqa: F401
    import numpy  # noqa: F401
    import onnx  # noqa: F401
    import onnxmltools  # noqa: F401
    import onnxruntime  # noqa: F401
    import pandas  # noqa: F401
    import pyarrow  # noqa: F401
    import skl2onnx  # noqa: F401
    import sklearn.model_selection  # noqa: F401

    if args.child == "sqlml":
        import sqlml.connection  # noqa: F401  (the client: parser, rewrite, backends)

    rss_after_imports = self_rss_mb()
    work = work_sqlml if args.child == "sqlml" else work_by_hand
    profiler = cProfile.Profile() if args.profile else None
    start, cpu = time.perf_counter(), time.process_time()
    if profiler is not None:
        profiler.enable()
    result = work(child, args.db, args.threads)
    if profiler is not None:
        profiler.disable()
    work_s, work_cpu_s = time.perf_counter() - start, time.process_time() - cpu
    stages = child.stages()
    child.finish(
        {
            **result,
            "work_s": work_s,
            "work_cpu_s": work_cpu_s,
            "rss_after_imports_mb": rss_after_imports,
            "stage_s": {label: v["s"] for label, v in stages.items()},
            "stage_cpu_s": {label: v["cpu_s"] for label, v in stages.items()},
            "profile": (
                profile_tables(pstats_entries(pstats.Stats(profiler)))
                if profiler is not None
                else None
            ),
        }
    )
    return 0


# -- parent ----------------------------------------------------------------------------


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    size_options(parser, NAME)
    parser.add_argument("--profile", action="store_true", help="add a cProfile'd sqlml run")
    child_options(parser)
    parser.add_argument("--db", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        return child_main(args)

    import duckdb

    others_at_start = busy_warning()
    started = time.perf_counter()
    workdir = Path(tempfile.mkdtemp(prefix="sqlml-bench-"))
    profile_run: ChildRun | None = None
    try:
        db = str(workdir / "train.duckdb")
        child_args = ["--db", db, "--threads", str(args.threads)]
        print(f"loading {args.rows:,} rows x {args.features} features", file=sys.stderr)
        with duckdb.connect(db) as con:
            load_table(con, "t", make_data(args.rows, args.features, seed=0))
        runs = run_rounds(
            args.rounds,
            lambda name: run_contender(MODULE, name, child_args),
            lambda name, run: (
                f"work {run.result['work_s']:.1f} s, process {run.wall_s:.1f} s, "
                f"peak RSS {run.peak_rss_mb:,.0f} MiB (others: {run.others_cores:.1f} cores)"
            ),
        )
        if args.profile:
            print("  profiling a sqlml run (cProfile)", file=sys.stderr)
            profile_run = run_contender(MODULE, SQLML, [*child_args, "--profile"])
    finally:
        shutil.rmtree(workdir, ignore_errors=True)

    report = summarise(runs)
    payload = {
        "config": run_config(args, others_at_start, started, duckdb_threads="default (cores)"),
        **report,
        "profile": (
            {**_run_json(profile_run), "top": profile_run.result.get("profile")}
            if profile_run is not None
            else None
        ),
    }
    path = write_results(args.name, payload)
    print_report(
        f"Training to ONNX, {args.rows:,} rows x {args.features} features (best of rounds)",
        COLUMNS,
        report,
    )
    if profile_run is not None:
        print_cprofile(payload["profile"].get("top") or {}, "a sqlml run")
    print(f"\nwrote {path}")
    return 0


COLUMNS = {
    "work s": "best_work_s",
    "work CPU s": "least_work_cpu_s",
    "process s": "best_process_wall_s",
    "peak RSS MiB": "min_peak_rss_mb",
    "RSS after imports MiB": "rss_after_imports_mb",
}


def _run_json(run: ChildRun) -> dict[str, Any]:
    return run_json(
        run,
        cpu_s=round(run.cpu_s, 3),
        peak_rss_mb=round(run.peak_rss_mb, 1),
        stage_cpu_s=run.result["stage_cpu_s"],
        stage_peak_rss_mb=run.stage_peaks(),
        others_cores=run.others_cores,
    )


def summarise(runs: dict[str, list[ChildRun]]) -> dict[str, Any]:
    report = summarise_runs(
        runs,
        {
            "best_work_s": lambda run: run.result["work_s"],
            "least_work_cpu_s": lambda run: run.result["work_cpu_s"],
            "best_process_wall_s": lambda run: run.wall_s,
            "min_peak_rss_mb": lambda run: run.peak_rss_mb,
            "rss_after_imports_mb": lambda run: run.result["rss_after_imports_mb"],
        },
        _run_json,
        {
            "process_wall_sqlml_over_by_hand": "best_process_wall_s",
            "peak_rss_sqlml_over_by_hand": "min_peak_rss_mb",
        },
    )
    ratios = report["ratios"]
    targets = [
        Target("time ratio sqlml / by hand", ratios["work_time_sqlml_over_by_hand"], "<=", 1.2),
        Target(
            "peak memory ratio sqlml / by hand", ratios["peak_rss_sqlml_over_by_hand"], "<=", 1.5
        ),
    ]
    return {**report, "targets": [t.to_json() for t in targets]}


if __name__ == "__main__":
    sys.exit(main())
