"""PREDICT inside DuckDB against onnxruntime alone and against the user's round trip.

    python -m benchmarks.predict_duckdb [--rows 1000000] [--repeats 3] [--threads 2]

On ``--rows`` rows x 20 DOUBLE features (numpy seed 0, nonlinear binary target):

a. ``SELECT avg(PREDICT_PROBA(m, *)) FROM t`` and ``CREATE TABLE … AS SELECT PREDICT(m, *)``
   with a LightGBM model (100 trees x 31 leaves) against onnxruntime's own ``run`` on the
   same stored ONNX over a preloaded float32 matrix: the target's baseline is one session
   with the whole thread budget (intra_op = threads); other setups within the same budget,
   such as the matrix split by hand across Python threads, are reported beside it;
b. against what a user does today: fetch to numpy, predict with the native LightGBM model,
   register the result and CREATE TABLE AS;
c. a cheap model (logistic regression) against onnxruntime alone, with the cost of a
   do-nothing DuckDB Arrow UDF and of sqlml's input conversion measured beside it;
d. parity on every row: PREDICT_PROBA / PREDICT against the very pipeline that CREATE MODEL
   fitted (captured in-process while CREATE MODEL ran, and checked to be the one whose ONNX
   the catalog stores).

Writes benchmarks/results/predict_duckdb.json.
"""

from __future__ import annotations

import argparse
import hashlib
import inspect
import os
import shutil
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa

from benchmarks._harness import (
    Target,
    Timing,
    busy_warning,
    fastest,
    load_table,
    make_data,
    measure,
    print_table,
    print_targets,
    print_timings,
    ratio,
    summary,
    write_results,
)
from benchmarks._onnxruntime import OrtBaseline

NAME = "predict_duckdb"
FEATURES = 20
LIGHTGBM_OPTIONS = "n_estimators = 100, num_leaves = 31, max_rows = 200000"
LOGISTIC_OPTIONS = "max_rows = 200000"


# -- onnxruntime alone -----------------------------------------------------------------


def ort_baselines(onnx: bytes, matrix: np.ndarray, threads: int) -> dict[str, OrtBaseline]:
    """Setups that use at most ``threads`` threads in all."""
    setups = {
        f"ort intra_op={threads}": OrtBaseline(onnx, matrix, threads, batch=65_536),
        "ort intra_op=1 (1 thread)": OrtBaseline(onnx, matrix, 1, batch=16_384),
    }
    if threads > 1:
        setups[f"ort {threads} py threads x intra_op=1"] = OrtBaseline(
            onnx, matrix, 1, batch=16_384, python_threads=threads
        )
    return setups


# -- sqlml -----------------------------------------------------------------------------


def create_model_capturing_pipeline(con: Any, sql: str) -> tuple[Any, float]:
    """Run CREATE MODEL and return the fitted pipeline it converted to ONNX (None when
    training no longer goes through ``udfs.train.to_onnx``) and the seconds it took."""
    from sqlml._udfs_loader import udfs

    captured: dict[str, Any] = {}
    original = getattr(udfs.train, "to_onnx", None)

    def capture(pipeline: Any, *args: Any, **kwargs: Any) -> bytes:
        onnx = original(pipeline, *args, **kwargs)  # type: ignore[misc]
        captured["pipeline"], captured["onnx"] = pipeline, onnx
        return onnx

    if original is not None:
        udfs.train.to_onnx = capture
    try:
        start = time.perf_counter()
        con.execute(sql).fetchall()
        seconds = time.perf_counter() - start
    finally:
        if original is not None:
            udfs.train.to_onnx = original
    pipeline = captured.get("pipeline")
    if pipeline is not None:
        model = con.backend.catalog.get("m")
        stored = con.backend.catalog.onnx("m", model.version)
        if hashlib.sha256(stored).digest() != hashlib.sha256(captured["onnx"]).digest():
            pipeline = None  # not the model the catalog holds: no honest parity
    return pipeline, seconds


def register_floor_udfs(raw: Any, features: list[dict[str, Any]]) -> list[str]:
    """DuckDB Arrow UDFs over the 20 features that skip the model: ``bench_noop`` returns
    zeros at once; ``bench_convert`` first turns the columns into the model's inputs the
    way PREDICT does (sqlml's udfs.features), then returns zeros."""
    from duckdb import sqltypes

    from sqlml._udfs_loader import udfs

    feature_objects = [udfs.features.Feature.from_json(f) for f in features]
    model_inputs = getattr(udfs.features, "model_inputs", None)

    def noop(*columns: Any) -> pa.Array:
        return pa.array(np.zeros(len(columns[0])))

    def convert(*columns: Any) -> pa.Array:
        if model_inputs is not None:
            model_inputs(feature_objects, list(columns))
        else:
            for feature, column in zip(feature_objects, columns, strict=True):
                udfs.features.to_model_input(column, feature)
        return pa.array(np.zeros(len(columns[0])))

    registered = []
    for name, body in (("bench_noop", noop), ("bench_convert", convert)):

        def udf(*columns: Any, _body: Callable[..., pa.Array] = body) -> pa.Array:
            return _body(*columns)

        udf.__signature__ = inspect.Signature(  # type: ignore[attr-defined]
            [
                inspect.Parameter(f"a{i}", inspect.Parameter.POSITIONAL_ONLY)
                for i in range(len(features))
            ]
        )
        raw.create_function(
            name,
            udf,
            [sqltypes.DOUBLE] * len(features),
            sqltypes.DOUBLE,
            type="arrow",
            null_handling="special",
            side_effects=False,
        )
        registered.append(name)
    return registered


# -- the user's round trip -------------------------------------------------------------


def user_round_trip(raw: Any, classifier: Any, columns: str, threads: int) -> Callable[[], None]:
    """fetchnumpy → one float64 matrix → LightGBM predict → register → CREATE TABLE AS."""

    def run() -> None:
        fetched = raw.sql(f"SELECT {columns} FROM t").fetchnumpy()
        matrix = np.column_stack(list(fetched.values()))
        labels = classifier.predict(matrix, num_threads=threads)
        raw.register("user_predictions", pa.table({"p": labels}))
        try:
            raw.execute(
                "CREATE OR REPLACE TABLE predictions_user AS SELECT * FROM user_predictions"
            )
        finally:
            raw.unregister("user_predictions")

    return run


# -- parity ----------------------------------------------------------------------------


def parity(
    con: Any, pipeline: Any, matrix64: np.ndarray, features: list[str], ort_scores: np.ndarray
) -> dict[str, Any]:
    import pandas as pd

    table = con.execute(
        "SELECT PREDICT_PROBA(m, *) AS p, PREDICT(m, *) AS l FROM t ORDER BY rowid"
    ).arrow()
    proba = table.column("p").to_numpy()
    labels = table.column("l").to_numpy()
    classes = np.asarray(con.backend.catalog.get("m").metadata["classes"])
    out: dict[str, Any] = {
        "rows": len(proba),
        "vs_onnxruntime_same_inputs_max_abs_diff": float(np.max(np.abs(proba - ort_scores))),
    }
    if pipeline is None:
        out["note"] = "the fitted pipeline could not be captured: no native comparison"
        return out
    for name, dtype in (("float32", np.float32), ("float64", np.float64)):
        frame = pd.DataFrame({f: matrix64[:, i].astype(dtype) for i, f in enumerate(features)})
        native_proba = pipeline.predict_proba(frame)[:, 1]
        native_labels = classes[np.asarray(pipeline.predict(frame), dtype=np.int64)]
        diff = np.abs(proba - native_proba)
        out[f"vs_native_{name}_inputs"] = {
            "max_abs_diff": float(diff.max()),
            "rows_over_1e-5": int((diff > 1e-5).sum()),
            "labels_differing": int((labels != native_labels).sum()),
        }
    return out


# -- main ------------------------------------------------------------------------------


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--threads", type=int, default=2, help="DuckDB threads = ORT budget")
    args = parser.parse_args(argv)

    # sqlml first, as in a user's process: importing it sets OMP_WAIT_POLICY=PASSIVE, which
    # OpenMP reads once, when LightGBM loads it; the native baseline runs under it too.
    import sqlml

    omp_wait_policy = os.environ.get("OMP_WAIT_POLICY")
    import lightgbm  # noqa: F401  (loaded before timing starts)
    import onnxruntime  # noqa: F401

    others_at_start = busy_warning()
    started = time.perf_counter()
    workdir = Path(tempfile.mkdtemp(prefix="sqlml-bench-"))
    try:
        con = sqlml.connect(str(workdir / "bench.duckdb"))
        raw = con.backend.con
        raw.execute(f"SET threads = {args.threads}")
        print(f"loading {args.rows:,} rows x {FEATURES} features", file=sys.stderr)
        load_table(raw, "t", make_data(args.rows, FEATURES, seed=0))

        print("CREATE MODEL m (lightgbm) and lr (logistic_regression)", file=sys.stderr)
        pipeline, train_lightgbm_s = create_model_capturing_pipeline(
            con,
            f"CREATE MODEL m TARGET y USING lightgbm OPTIONS ({LIGHTGBM_OPTIONS}) "
            "AS SELECT * FROM t",
        )
        start = time.perf_counter()
        con.execute(
            "CREATE MODEL lr TARGET y USING logistic_regression "
            f"OPTIONS ({LOGISTIC_OPTIONS}) AS SELECT * FROM t"
        ).fetchall()
        train_logistic_s = time.perf_counter() - start
        model = con.backend.catalog.get("m")
        logistic = con.backend.catalog.get("lr")
        features = [f["name"] for f in model.metadata["features"]]
        columns = ", ".join(f'"{f}"' for f in features)

        # The first PREDICT loads the model; two DuckDB threads may do so at once.
        cold: dict[str, Any] = {}
        start = time.perf_counter()
        try:
            con.execute("SELECT avg(PREDICT_PROBA(m, *)) FROM t").fetchall()
            cold["seconds"] = round(time.perf_counter() - start, 3)
        except Exception as error:  # a sqlml bug to report, not a reason to stop
            cold["error"] = f"{type(error).__name__}: {error}"[:400]
        raw.execute("SET threads = 1")  # load each model once, on one thread
        for name in ("m", "lr"):
            con.execute(
                f"SELECT PREDICT_PROBA({name}, *), PREDICT({name}, *) FROM t LIMIT 1"
            ).fetchall()
        raw.execute(f"SET threads = {args.threads}")

        matrix64 = np.column_stack(
            list(raw.sql(f"SELECT {columns} FROM t ORDER BY rowid").fetchnumpy().values())
        )
        matrix32 = matrix64.astype(np.float32)
        onnx_m = con.backend.catalog.onnx("m", model.version)
        onnx_lr = con.backend.catalog.onnx("lr", logistic.version)
        ort_m = ort_baselines(onnx_m, matrix32, args.threads)
        ort_lr = ort_baselines(onnx_lr, matrix32, args.threads)
        floors = register_floor_udfs(raw, model.metadata["features"])

        def sql(statement: str) -> Callable[[], None]:
            return lambda: con.execute(statement).fetchall()

        def raw_sql(statement: str) -> Callable[[], None]:
            return lambda: raw.execute(statement).fetchall()

        contenders: dict[str, Callable[[], None]] = {
            "PREDICT_PROBA avg": sql("SELECT avg(PREDICT_PROBA(m, *)) FROM t"),
            "PREDICT CTAS": sql(
                "CREATE OR REPLACE TABLE predictions AS SELECT PREDICT(m, *) AS p FROM t"
            ),
        }
        notes = {
            "PREDICT_PROBA avg": "SELECT avg(PREDICT_PROBA(m, *)) FROM t",
            "PREDICT CTAS": "CREATE OR REPLACE TABLE predictions AS SELECT PREDICT(m, *) AS p "
            "FROM t",
        }
        for label, baseline in ort_m.items():
            contenders[label] = baseline.run
            notes[label] = baseline.setup
        if pipeline is not None:
            classifier = pipeline.steps[-1][1]
            for threads in sorted({1, args.threads}):
                label = f"user numpy+lightgbm ({threads} thr)"
                contenders[label] = user_round_trip(raw, classifier, columns, threads)
                notes[label] = (
                    "fetchnumpy → np.column_stack (float64) → LGBMClassifier.predict"
                    f"(num_threads={threads}) → register → CREATE TABLE AS"
                )
        contenders["LR PREDICT_PROBA avg"] = sql("SELECT avg(PREDICT_PROBA(lr, *)) FROM t")
        notes["LR PREDICT_PROBA avg"] = "SELECT avg(PREDICT_PROBA(lr, *)) FROM t"
        for label, baseline in ort_lr.items():
            contenders[f"LR {label}"] = baseline.run
            notes[f"LR {label}"] = baseline.setup
        for udf in floors:
            label = f"UDF floor: {udf}"
            contenders[label] = raw_sql(f"SELECT avg({udf}({columns})) FROM t")
            notes[label] = (
                "Arrow UDF, 20 DOUBLE args, returns zeros"
                if udf == "bench_noop"
                else "Arrow UDF: sqlml's input conversion, no model, returns zeros"
            )

        print(f"timing {len(contenders)} contenders x {args.repeats}", file=sys.stderr)
        timings = measure(contenders, repeats=args.repeats, notes=notes)

        print("parity on every row", file=sys.stderr)
        parity_result = parity(
            con, pipeline, matrix64, features, next(iter(ort_m.values())).scores()[:, 1]
        )
        parity_result["sqlml_holdout_parity_max_abs_diff"] = model.metadata.get(
            "parity_max_abs_diff"
        )
        con.close()
    finally:
        shutil.rmtree(workdir, ignore_errors=True)

    report = summarise(timings, ort_m, ort_lr, parity_result, args.rows)
    payload = {
        "config": {
            "rows": args.rows,
            "features": FEATURES,
            "threads": args.threads,
            "omp_wait_policy": omp_wait_policy,
            "repeats": args.repeats,
            "lightgbm": f"CREATE MODEL m TARGET y USING lightgbm OPTIONS ({LIGHTGBM_OPTIONS})",
            "logistic": f"CREATE MODEL lr TARGET y USING logistic_regression "
            f"OPTIONS ({LOGISTIC_OPTIONS})",
            "train_lightgbm_s": round(train_lightgbm_s, 2),
            "train_logistic_s": round(train_logistic_s, 2),
            "others_cores_at_start": others_at_start,
            "total_s": round(time.perf_counter() - started, 1),
        },
        "cold_first_predict": cold,
        "timings": [t.to_json() for t in timings.values()],
        **report,
    }
    path = write_results(NAME, payload)
    print_report(timings, report, cold, args.rows)
    print(f"\nwrote {path.relative_to(Path.cwd()) if path.is_relative_to(Path.cwd()) else path}")
    return 0


def summarise(
    timings: dict[str, Timing],
    ort_m: dict[str, OrtBaseline],
    ort_lr: dict[str, OrtBaseline],
    parity_result: dict[str, Any],
    rows: int,
) -> dict[str, Any]:
    # The target's baseline is onnxruntime's own run with the whole thread budget (one
    # session, intra_op = threads); the fastest setup, which may split the matrix across
    # Python threads by hand, is reported beside it.
    own = [label for label in ort_m if label.startswith("ort intra_op=") and "(" not in label]
    ort = fastest(timings, own or list(ort_m))
    quickest = fastest(timings, list(ort_m))
    ort_logistic = fastest(timings, [f"LR {label}" for label in ort_lr])
    avg, ctas = timings["PREDICT_PROBA avg"], timings["PREDICT CTAS"]
    lr = timings["LR PREDICT_PROBA avg"]
    users = [label for label in timings if label.startswith("user ")]
    ratios: dict[str, Any] = {
        "ort_over_predict_proba_avg": ratio(ort, avg),
        "ort_over_predict_ctas": ratio(ort, ctas),
        f"fastest ({quickest.name}) / PREDICT_PROBA avg": ratio(quickest, avg),
        f"fastest ({quickest.name}) / PREDICT CTAS": ratio(quickest, ctas),
        "lr_ort_over_predict_proba_avg": ratio(ort_logistic, lr),
    }
    targets = [
        Target(
            "a. ORT / PREDICT_PROBA avg", ratios["ort_over_predict_proba_avg"]["best"], ">=", 0.9
        ),
        Target("a. ORT / PREDICT CTAS", ratios["ort_over_predict_ctas"]["best"], ">=", 0.9),
    ]
    if users:
        user = fastest(timings, users)
        ratios["user_over_predict_ctas"] = ratio(user, ctas)
        targets.append(
            Target(
                "b. user round trip / PREDICT CTAS",
                ratios["user_over_predict_ctas"]["best"],
                ">",
                1.0,
            )
        )
    floor = {label: timings[label].best for label in timings if label.startswith("UDF floor")}
    native = parity_result.get("vs_native_float32_inputs")
    if native is not None:
        targets.append(
            Target("d. parity max |PREDICT_PROBA - native|", native["max_abs_diff"], "<=", 1e-5)
        )
        targets.append(
            Target("d. labels differing from native", native["labels_differing"], "==", 0)
        )
    baselines = {
        "ort": {"label": ort.name, "setup": ort.note},
        "ort_logistic": {"label": ort_logistic.name, "setup": ort_logistic.note},
        **({"user": {"label": fastest(timings, users).name}} if users else {}),
    }
    return summary(
        timings,
        rows,
        ratios,
        targets,
        baselines=baselines,
        udf_floor_s=floor,
        parity=parity_result,
    )


def print_report(
    timings: dict[str, Timing], report: dict[str, Any], cold: dict[str, Any], rows: int
) -> None:
    print_timings(
        f"PREDICT in DuckDB, {rows:,} rows x {FEATURES} features (best / median of runs)",
        timings,
        rows,
        setup=True,
    )
    ratios = report["ratios"]
    print_table(
        "Ratios (> 1: the first is slower)",
        ["ratio", "best", "median", "CPU"],
        [[name, r["best"], r["median"], r["cpu"]] for name, r in ratios.items()],
    )
    parity_result = report["parity"]
    rows_out: list[list[Any]] = [
        [
            "PREDICT_PROBA vs ORT, same float32 inputs: max |diff|",
            parity_result["vs_onnxruntime_same_inputs_max_abs_diff"],
        ],
    ]
    for kind in ("float32", "float64"):
        native = parity_result.get(f"vs_native_{kind}_inputs")
        if native:
            rows_out += [
                [f"vs native pipeline on {kind} inputs: max |diff|", native["max_abs_diff"]],
                [f"vs native pipeline on {kind} inputs: rows > 1e-5", native["rows_over_1e-5"]],
                [
                    f"vs native pipeline on {kind} inputs: labels differing",
                    native["labels_differing"],
                ],
            ]
    rows_out.append(
        [
            "sqlml's own holdout parity (CREATE MODEL)",
            parity_result.get("sqlml_holdout_parity_max_abs_diff"),
        ]
    )
    print_table(f"Parity on {parity_result['rows']:,} rows", ["check", "value"], rows_out)
    if "error" in cold:
        print(f"\ncold first PREDICT failed: {cold['error'][:200]}")
    print_targets([Target.from_json(t) for t in report["targets"]])


if __name__ == "__main__":
    sys.exit(main())
