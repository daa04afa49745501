"""CREATE MODEL against the same steps by hand, each in a fresh process: time and peak memory.

    python -m benchmarks.train_duckdb [--rows 1000000] [--rounds 3] [--threads 2] [--profile]

Both contenders train LightGBM (100 trees x 31 leaves, seed 42) on ``--rows`` rows x 20
DOUBLE features of one DuckDB file and end with ONNX bytes:

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
import io
import os
import pstats
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from benchmarks._harness import (
    FIT_REST,
    Child,
    ChildRun,
    Target,
    busy_warning,
    load_table,
    make_data,
    omp_wait_policy,
    print_table,
    print_targets,
    run_child,
    self_rss_mb,
    sqlml_stage,
    train_lightgbm_by_hand,
    write_results,
)

NAME = "train_duckdb"
MODULE = "benchmarks.train_duckdb"
FEATURES = 20
SEED = 42
CONTENDERS = ("sqlml", "by hand")
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


def _sqlml_stage(message: str) -> str:
    return sqlml_stage(message, STAGES)


def work_sqlml(child: Child, db: str, threads: int) -> dict[str, Any]:
    import sqlml

    child.mark("connect")
    con = sqlml.connect(db, progress=lambda message: child.mark(_sqlml_stage(message)))
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
    onnx, rows_train = train_lightgbm_by_hand(child, x, y, threads, SEED, FIT_FIRST)
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
            "profile": _profile_rows(profiler) if profiler is not None else None,
        }
    )
    return 0


def _profile_rows(profiler: cProfile.Profile) -> dict[str, list[dict[str, Any]]]:
    """sqlml's own functions by cumulative time, and every function by self time (cProfile
    charges native code, LightGBM's or numpy's, to the Python call that entered it)."""
    stats = pstats.Stats(profiler, stream=io.StringIO())
    rows = []
    for (filename, line, function), entry in stats.stats.items():  # type: ignore[attr-defined]
        _cc, ncalls, tottime, cumtime, _callers = entry
        rows.append(
            {
                "function": f"{_short(filename)}:{line}({function})",
                "calls": ncalls,
                "tottime_s": round(tottime, 3),
                "cumtime_s": round(cumtime, 3),
            }
        )
    own = [r for r in rows if r["function"].startswith(("udfs/", "sqlml/"))]
    own.sort(key=lambda r: -r["cumtime_s"])
    by_cumulative = sorted(rows, key=lambda r: -r["cumtime_s"])
    rows.sort(key=lambda r: -r["tottime_s"])
    return {
        "sqlml_by_cumulative": own[:40],
        "all_by_self_time": rows[:25],
        "all_by_cumulative": by_cumulative[:60],
    }


def _short(filename: str) -> str:
    for marker in ("site-packages/", "/work/main/"):
        if marker in filename:
            return filename.split(marker, 1)[1]
    return filename


# -- parent ----------------------------------------------------------------------------


def run_contender(name: str, db: str, threads: int, profile: bool = False) -> ChildRun:
    args = ["--child", "sqlml" if name == "sqlml" else "by-hand", "--db", db]
    args += ["--threads", str(threads)]
    if profile:
        args.append("--profile")
    return run_child(MODULE, args, env={"OMP_WAIT_POLICY": omp_wait_policy()})


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument(
        "--threads", type=int, default=os.cpu_count() or 1, help="LightGBM threads (both)"
    )
    parser.add_argument("--profile", action="store_true", help="add a cProfile'd sqlml run")
    parser.add_argument("--child", choices=["sqlml", "by-hand"], help=argparse.SUPPRESS)
    parser.add_argument("--child-out", help=argparse.SUPPRESS)
    parser.add_argument("--db", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        return child_main(args)

    import duckdb

    others_at_start = busy_warning()
    started = time.perf_counter()
    workdir = Path(tempfile.mkdtemp(prefix="sqlml-bench-"))
    runs: dict[str, list[ChildRun]] = {name: [] for name in CONTENDERS}
    profile_run: ChildRun | None = None
    try:
        db = str(workdir / "train.duckdb")
        print(f"loading {args.rows:,} rows x {FEATURES} features", file=sys.stderr)
        with duckdb.connect(db) as con:
            load_table(con, "t", make_data(args.rows, FEATURES, seed=0))
        for round_ in range(args.rounds):
            order = CONTENDERS if round_ % 2 == 0 else CONTENDERS[::-1]
            for name in order:
                run = run_contender(name, db, args.threads)
                runs[name].append(run)
                print(
                    f"  [{round_ + 1}/{args.rounds}] {name}: work {run.result['work_s']:.1f} s, "
                    f"process {run.wall_s:.1f} s, peak RSS {run.peak_rss_mb:,.0f} MiB "
                    f"(others: {run.others_cores:.1f} cores)",
                    file=sys.stderr,
                    flush=True,
                )
        if args.profile:
            print("  profiling a sqlml run (cProfile)", file=sys.stderr)
            profile_run = run_contender("sqlml", db, args.threads, profile=True)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)

    report = summarise(runs)
    payload = {
        "config": {
            "rows": args.rows,
            "features": FEATURES,
            "rounds": args.rounds,
            "lightgbm_threads": args.threads,
            "omp_wait_policy": omp_wait_policy(),
            "duckdb_threads": "default (cores)",
            "others_cores_at_start": others_at_start,
            "total_s": round(time.perf_counter() - started, 1),
        },
        **report,
        "profile": _profile_report(profile_run) if profile_run is not None else None,
    }
    path = write_results(NAME, payload)
    print_report(report, args.rows)
    if profile_run is not None:
        print_profile(payload["profile"])
    print(f"\nwrote {path}")
    return 0


def _run_json(run: ChildRun) -> dict[str, Any]:
    result = run.result
    return {
        "work_s": round(result["work_s"], 3),
        "work_cpu_s": round(result["work_cpu_s"], 3),
        "process_wall_s": round(run.wall_s, 3),
        "cpu_s": round(run.cpu_s, 3),
        "peak_rss_mb": round(run.peak_rss_mb, 1),
        "rss_after_imports_mb": round(result["rss_after_imports_mb"], 1),
        "stage_s": result["stage_s"],
        "stage_cpu_s": result["stage_cpu_s"],
        "stage_peak_rss_mb": run.stage_peaks(),
        "others_cores": run.others_cores,
        **{
            k: result.get(k)
            for k in ("onnx_bytes", "rows_train", "rows_test", "sqlml_timings", "metrics")
            if result.get(k) is not None
        },
    }


def summarise(runs: dict[str, list[ChildRun]]) -> dict[str, Any]:
    best = {name: min(r, key=lambda run: run.result["work_s"]) for name, r in runs.items()}
    work = {name: min(run.result["work_s"] for run in r) for name, r in runs.items()}
    wall = {name: min(run.wall_s for run in r) for name, r in runs.items()}
    cpu = {name: min(run.result["work_cpu_s"] for run in r) for name, r in runs.items()}
    peak = {name: min(run.peak_rss_mb for run in r) for name, r in runs.items()}
    base = {name: min(run.result["rss_after_imports_mb"] for run in r) for name, r in runs.items()}
    sq, hand = "sqlml", "by hand"
    # Runs of one round are neighbours in time: their ratio shares the machine's mood.
    per_round = [
        round(a.result["work_s"] / b.result["work_s"], 3)
        for a, b in zip(runs[sq], runs[hand], strict=True)
    ]
    ratios = {
        "work_time_sqlml_over_by_hand": round(work[sq] / work[hand], 3),
        "process_wall_sqlml_over_by_hand": round(wall[sq] / wall[hand], 3),
        "work_cpu_sqlml_over_by_hand": round(cpu[sq] / cpu[hand], 3),
        "work_time_per_round": per_round,
        "work_time_per_round_median": statistics.median(per_round),
        "peak_rss_sqlml_over_by_hand": round(peak[sq] / peak[hand], 3),
        "peak_rss_above_imports_sqlml_over_by_hand": round(
            (peak[sq] - base[sq]) / (peak[hand] - base[hand]), 3
        ),
    }
    targets = [
        Target("time ratio sqlml / by hand", ratios["work_time_sqlml_over_by_hand"], "<=", 1.2),
        Target(
            "peak memory ratio sqlml / by hand", ratios["peak_rss_sqlml_over_by_hand"], "<=", 1.5
        ),
    ]
    return {
        "summary": {
            name: {
                "best_work_s": round(work[name], 3),
                "least_work_cpu_s": round(cpu[name], 3),
                "best_process_wall_s": round(wall[name], 3),
                "min_peak_rss_mb": round(peak[name], 1),
                "rss_after_imports_mb": round(base[name], 1),
            }
            for name in runs
        },
        "best_runs": {name: _run_json(run) for name, run in best.items()},
        "runs": {name: [_run_json(run) for run in r] for name, r in runs.items()},
        "ratios": ratios,
        "targets": [t.to_json() for t in targets],
    }


def _profile_report(run: ChildRun) -> dict[str, Any]:
    return {**_run_json(run), "top": run.result.get("profile")}


def print_report(report: dict[str, Any], rows: int) -> None:
    summary = report["summary"]
    print_table(
        f"Training to ONNX, {rows:,} rows x {FEATURES} features (best of rounds)",
        ["contender", "work s", "work CPU s", "process s", "peak RSS MiB", "RSS after imports MiB"],
        [
            [
                name,
                s["best_work_s"],
                s["least_work_cpu_s"],
                s["best_process_wall_s"],
                s["min_peak_rss_mb"],
                s["rss_after_imports_mb"],
            ]
            for name, s in summary.items()
        ],
    )
    for name, run in report["best_runs"].items():
        stages, cpu = run["stage_s"], run["stage_cpu_s"]
        peaks = run["stage_peak_rss_mb"]
        print_table(
            f"Stages of the best {name} run",
            ["stage", "seconds", "CPU s", "peak RSS MiB"],
            [[stage, stages[stage], cpu[stage], peaks.get(stage, "")] for stage in stages],
        )
    print_table(
        "Ratios sqlml / by hand",
        ["ratio", "value"],
        [[name, value] for name, value in report["ratios"].items()],
    )
    print_targets([Target.from_json(t) for t in report["targets"]])


def print_profile(profile: dict[str, Any]) -> None:
    tables = profile.get("top") or {}
    for key, title in (
        ("sqlml_by_cumulative", "cProfile of a sqlml run: sqlml's functions by cumulative time"),
        ("all_by_self_time", "cProfile of a sqlml run: all functions by self time"),
    ):
        rows = [r for r in tables.get(key, []) if r["cumtime_s"] >= 0.05]
        print_table(
            title,
            ["function", "calls", "self s", "cumulative s"],
            [[r["function"], r["calls"], r["tottime_s"], r["cumtime_s"]] for r in rows],
        )


if __name__ == "__main__":
    sys.exit(main())
