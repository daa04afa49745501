"""What the training benchmarks (train_duckdb, train_postgres) share.

- ``train_lightgbm_by_hand``: the by-hand contender's split, fit and conversion;
- ``sqlml_stage``: sqlml's progress messages as stage names; ``omp_wait_policy``;
- ``run_rounds``: the contenders' child processes, interleaved in alternating order;
- ``summarise_runs`` / ``print_report``: the figures both report (work time and CPU, peak
  RSS, per-round ratios, stages);
- ``pstats_entries`` / ``profile_tables`` / ``print_cprofile``: a cProfile, in a child
  process or in the server, as tables.
"""

from __future__ import annotations

import argparse
import os
import pstats
import statistics
import sys
import time
from collections.abc import Callable
from typing import Any

import numpy as np

from benchmarks._harness import Child, ChildRun, Target, print_table, print_targets, run_child

SQLML, BY_HAND = "sqlml", "by hand"
CONTENDERS = (SQLML, BY_HAND)
SEED = 42
FIT_REST = "fit: trees 2..N"  # the stage after the first tree, in every training benchmark

# sqlml's training progress messages, by their start → the benchmark's common stage names.
SQLML_STAGES = (
    ("reading training data", "read"),
    ("read ", "prepare"),
    ("training ", "fit first tree"),
    ("lightgbm: tree", "fit rest"),
    ("converting to ONNX", "convert"),
    ("evaluating", "evaluate"),
    ("model ", "done"),
)


def sqlml_stage(message: str, names: dict[str, str]) -> str:
    """The stage a progress message starts, named as ``names`` (common name → label) says."""
    for prefix, stage in SQLML_STAGES:
        if message.startswith(prefix):
            return names[stage]
    return message[:40]


def omp_wait_policy() -> str:
    """What a process that imported sqlml runs LightGBM with (sqlml/__init__.py sets it;
    PostgreSQL's Python imports sqlml too), for the by-hand contenders to match."""
    return os.environ.get("OMP_WAIT_POLICY", "PASSIVE")


def train_lightgbm_by_hand(
    child: Child, x: np.ndarray, y: np.ndarray, threads: int, first_tree: str
) -> tuple[bytes, int]:
    """What a user writes to get the same model as sqlml's: a stratified 80/20 split,
    LightGBM 100 trees x 31 leaves, onnxmltools; (ONNX bytes, training rows). Stages are
    marked on ``child``: split, ``first_tree`` (preprocessing up to the first tree), the
    remaining trees, convert."""
    import onnxmltools
    from lightgbm import LGBMClassifier
    from onnxmltools.convert.common.data_types import FloatTensorType
    from sklearn.model_selection import train_test_split

    child.mark("split")
    x_train, _x_test, y_train, _y_test = train_test_split(
        x, y, test_size=0.2, random_state=SEED, stratify=y
    )
    child.mark(first_tree)
    model = LGBMClassifier(
        n_estimators=100, num_leaves=31, n_jobs=threads, random_state=SEED, verbose=-1
    ).fit(x_train, y_train, callbacks=[lambda env: child.mark(FIT_REST)])
    child.mark("convert")
    onnx = onnxmltools.convert_lightgbm(
        model,
        initial_types=[("input", FloatTensorType([None, x.shape[1]]))],
        target_opset=15,
        zipmap=False,
    ).SerializeToString()
    return onnx, len(y_train)


# -- the parent's side -----------------------------------------------------------------------


def child_options(parser: argparse.ArgumentParser) -> None:
    """The hidden options that make a run of the benchmark one contender's child."""
    parser.add_argument("--child", choices=["sqlml", "by-hand"], help=argparse.SUPPRESS)
    parser.add_argument("--child-out", help=argparse.SUPPRESS)


def run_contender(module: str, name: str, args: list[str]) -> ChildRun:
    """One run of a contender in its own ``python -m module`` process."""
    child = ["--child", "sqlml" if name == SQLML else "by-hand", *args]
    return run_child(module, child, env={"OMP_WAIT_POLICY": omp_wait_policy()})


def size_options(parser: argparse.ArgumentParser, name: str) -> None:
    """What both training benchmarks take: the data's size, rounds, LightGBM's threads, and
    the name of the results (benchmarks/results/NAME.json)."""
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--features", type=int, default=20)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument(
        "--threads", type=int, default=os.cpu_count() or 1, help="LightGBM threads (both)"
    )
    parser.add_argument("--name", default=name, help="results in benchmarks/results/NAME.json")


def run_config(
    args: argparse.Namespace, others_at_start: float, started: float, **more: Any
) -> dict[str, Any]:
    """The run's "config" in the results: sizes, threads, OpenMP's policy, ``more``, the load
    of other processes at the start and the run's total seconds."""
    return {
        "rows": args.rows,
        "features": args.features,
        "rounds": args.rounds,
        "lightgbm_threads": args.threads,
        "omp_wait_policy": omp_wait_policy(),
        **more,
        "others_cores_at_start": others_at_start,
        "total_s": round(time.perf_counter() - started, 1),
    }


def run_rounds(
    rounds: int, run_one: Callable[[str], ChildRun], describe: Callable[[str, ChildRun], str]
) -> dict[str, list[ChildRun]]:
    """Every contender once a round, in alternating order; ``describe`` says how it went."""
    runs: dict[str, list[ChildRun]] = {name: [] for name in CONTENDERS}
    for round_ in range(rounds):
        for name in CONTENDERS if round_ % 2 == 0 else CONTENDERS[::-1]:
            run = run_one(name)
            runs[name].append(run)
            print(f"  [{round_ + 1}/{rounds}] {name}: {describe(name, run)}", file=sys.stderr)
    return runs


def summarise_runs(
    runs: dict[str, list[ChildRun]],
    measures: dict[str, Callable[[ChildRun], float]],
    run_json: Callable[[ChildRun], dict[str, Any]],
    ratios: dict[str, str],
) -> dict[str, Any]:
    """The least of each measure per contender (``measures``: summary key → value of a run;
    it holds at least best_work_s, least_work_cpu_s, min_peak_rss_mb and
    rss_after_imports_mb), the best and every run, the ratios every training benchmark
    reports and ``ratios`` (ratio key → measure key) of sqlml's least value to the by-hand
    one. Runs of one round are neighbours in time: their ratio shares the machine's mood."""
    least = {
        key: {name: min(value(run) for run in r) for name, r in runs.items()}
        for key, value in measures.items()
    }
    best = {name: min(r, key=lambda run: run.result["work_s"]) for name, r in runs.items()}
    per_round = [
        round(a.result["work_s"] / b.result["work_s"], 3)
        for a, b in zip(runs[SQLML], runs[BY_HAND], strict=True)
    ]
    peak, base = least["min_peak_rss_mb"], least["rss_after_imports_mb"]
    return {
        "summary": {
            name: {
                key: round(values[name], 1 if key.endswith("_mb") else 3)
                for key, values in least.items()
            }
            for name in runs
        },
        "best_runs": {name: run_json(run) for name, run in best.items()},
        "runs": {name: [run_json(run) for run in r] for name, r in runs.items()},
        "ratios": {
            "work_time_sqlml_over_by_hand": _sqlml_over_by_hand(least["best_work_s"]),
            "work_time_per_round": per_round,
            "work_time_per_round_median": statistics.median(per_round),
            "work_cpu_sqlml_over_by_hand": _sqlml_over_by_hand(least["least_work_cpu_s"]),
            "peak_rss_above_imports_sqlml_over_by_hand": round(
                (peak[SQLML] - base[SQLML]) / (peak[BY_HAND] - base[BY_HAND]), 3
            ),
            **{key: _sqlml_over_by_hand(least[measure]) for key, measure in ratios.items()},
        },
    }


# What the children's results may hold about the model, kept with each run in the results.
MODEL_FACTS = ("onnx_bytes", "rows_train", "rows_test", "sqlml_timings", "metrics")


def run_json(run: ChildRun, keep: tuple[str, ...] = (), **more: Any) -> dict[str, Any]:
    """One run in the results: work time and CPU, the process's wall time, ``more``, RSS after
    the imports, stages, and what the child said of ``keep`` and ``MODEL_FACTS``."""
    result = run.result
    return {
        "work_s": round(result["work_s"], 3),
        "work_cpu_s": round(result["work_cpu_s"], 3),
        "process_wall_s": round(run.wall_s, 3),
        **more,
        "rss_after_imports_mb": round(result["rss_after_imports_mb"], 1),
        "stage_s": result["stage_s"],
        **{k: result[k] for k in (*keep, *MODEL_FACTS) if result.get(k) is not None},
    }


def _sqlml_over_by_hand(values: dict[str, float]) -> float:
    return round(values[SQLML] / values[BY_HAND], 3)


def print_report(
    title: str, columns: dict[str, str], report: dict[str, Any], notes: tuple[str, ...] = ()
) -> None:
    """The summary (``columns``: header → summary key), ``notes``, the stages of each best
    run (with CPU and peak RSS per stage where measured), the ratios and the targets."""
    summary = report["summary"]
    print_table(
        title,
        ["contender", *columns],
        [[name, *(s[key] for key in columns.values())] for name, s in summary.items()],
    )
    for note in notes:
        print(note)
    extra = {"stage_cpu_s": "CPU s", "stage_peak_rss_mb": "peak RSS MiB"}
    for name, run in report["best_runs"].items():
        kept = [key for key in extra if key in run]
        print_table(
            f"Stages of the best {name} run",
            ["stage", "seconds", *(extra[key] for key in kept)],
            [
                [stage, seconds, *(run[key].get(stage, "") for key in kept)]
                for stage, seconds in run["stage_s"].items()
            ],
        )
    print_table(
        "Ratios sqlml / by hand",
        ["ratio", "value"],
        [[name, value] for name, value in report["ratios"].items()],
    )
    print_targets([Target.from_json(t) for t in report["targets"]])


# -- cProfile --------------------------------------------------------------------------------


def pstats_entries(stats: pstats.Stats) -> list[list[Any]]:
    """[file, line, function, calls, self s, cumulative s] of every profiled function: plain
    values, so that a profile taken in the server can be returned as JSON."""
    return [
        [filename, line, function, calls, own, cumulative]
        for (filename, line, function), (_cc, calls, own, cumulative, _callers) in (
            stats.stats.items()  # type: ignore[attr-defined]
        )
    ]


def profile_tables(entries: list[list[Any]]) -> dict[str, list[dict[str, Any]]]:
    """sqlml's own functions by cumulative time, and every function by self time and by
    cumulative time (cProfile charges native code, LightGBM's or numpy's, to the Python call
    that entered it)."""
    rows = [
        {
            "function": f"{_short(filename)}:{line}({function})",
            "calls": calls,
            "tottime_s": round(own, 3),
            "cumtime_s": round(cumulative, 3),
        }
        for filename, line, function, calls, own, cumulative in entries
    ]
    by_cumulative = sorted(rows, key=lambda r: -r["cumtime_s"])
    own = [r for r in by_cumulative if r["function"].startswith(("udfs/", "sqlml/"))]
    return {
        "sqlml_by_cumulative": own[:40],
        "all_by_self_time": sorted(rows, key=lambda r: -r["tottime_s"])[:25],
        "all_by_cumulative": by_cumulative[:60],
    }


def _short(filename: str) -> str:
    for marker in ("site-packages/", "/work/main/"):
        if marker in filename:
            return filename.split(marker, 1)[1]
    return filename


def print_cprofile(tables: dict[str, list[dict[str, Any]]], what: str) -> None:
    for key, title, column in (
        ("sqlml_by_cumulative", "sqlml's functions by cumulative time", "cumtime_s"),
        ("all_by_self_time", "all functions by self time", "tottime_s"),
    ):
        print_table(
            f"cProfile of {what}: {title}",
            ["function", "calls", "self s", "cumulative s"],
            [
                [r["function"], r["calls"], r["tottime_s"], r["cumtime_s"]]
                for r in tables.get(key, [])
                if r[column] >= 0.05
            ],
        )
