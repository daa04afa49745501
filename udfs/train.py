"""CREATE MODEL's work: Arrow rows in, a fitted pipeline converted to ONNX out."""

from __future__ import annotations

import dataclasses
import json
import os
import re
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from sqlml.errors import (
    InvalidTrainingDataError,
    TrainingTooLargeError,
    UnknownOptionError,
    close_matches,
)

from . import metrics, search
from . import training_facts as facts
from .algorithms import (
    ALGORITHMS,
    Algorithm,
    algorithm,
    check_natively,
    split_options,
    standardised,
    weighed,
)
from .convert import to_onnx
from .features import Feature, kind_of
from .naming import matching_column
from .option_ranges import Range, checked
from .predict import Predictor
from .preprocessing import fitting_pipeline, model_frame, onnx_inputs
from .tasks import TASKS, inferred_task

Progress = Callable[[str], None]

DEFAULT_TEST_SIZE = 0.2
DEFAULT_SEED = 42


@dataclass
class TrainRequest:
    target: str
    algorithm: str = "lightgbm"
    task: str | None = None
    options: dict[str, Any] = field(default_factory=dict)
    sql_types: dict[str, str] = field(default_factory=dict)  # column → engine's type name
    exclude: tuple[str, ...] = ()  # columns that are neither target nor feature
    # What the statement said beside training (a compatibility form's clauses, BigQuery's
    # TRANSFORM, ...): kept with the model as metadata["annotations"], never interpreted here.
    annotations: dict[str, Any] = field(default_factory=dict)
    # Whether a model of this name may get a new version (CREATE OR REPLACE): checked where
    # the version is stored, so of concurrent CREATE MODELs of one name only one stores.
    replace: bool = False

    def to_json(self) -> str:
        """The request as a server reads it back (from_json); the server finds the column
        types itself."""
        fields = dataclasses.asdict(self)
        del fields["sql_types"]
        return json.dumps(fields)

    @classmethod
    def from_json(cls, text: str) -> TrainRequest:
        fields = json.loads(text)
        fields["exclude"] = tuple(fields.get("exclude", ()))
        return cls(**fields)


def sample_size(request: TrainRequest) -> tuple[int | None, int]:
    """(max_rows or None, seed): what the engine samples in SQL before reading the rows."""
    own = split_options(request.options)[0]
    max_rows = int(own["max_rows"]) if "max_rows" in own else None
    return max_rows, int(own.get("seed", DEFAULT_SEED))


# Peak memory of training per cell (row x column) of its rows: the Arrow table, the frame,
# the arrays and the learner's copies (measured: about 1 GiB for 1M rows x 20 columns).
BYTES_PER_CELL = 50


def check_fits_in_memory(rows: int | None, columns: int, max_rows: int | None) -> None:
    """Refuse up front, by the engine's estimate of its rows (None: no estimate), a training
    set that would not fit in the free memory of the machine that trains."""
    if rows is None:
        return
    if max_rows is not None:
        rows = min(rows, max_rows)
    available = available_memory()
    need = rows * columns * BYTES_PER_CELL
    if available is None or need <= available:
        return
    fits = max(1, available // (columns * BYTES_PER_CELL) // 2)
    raise TrainingTooLargeError(
        f"the training query has about {rows:,} rows of {columns} columns, which need about "
        f"{need / 2**30:,.1f} GiB to train, and the machine that trains has "
        f"{available / 2**30:,.1f} GiB free: train on a sample with OPTIONS (max_rows = {fits})"
    )


def available_memory() -> int | None:
    """MemAvailable of this machine (Linux), None where unknown."""
    try:
        with open("/proc/meminfo") as meminfo:
            for line in meminfo:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        return None
    return None


@dataclass
class TrialModel:
    """The model of a search's trial kept besides the chosen one (search.TRIALS_KEPT)."""

    trial_id: int
    onnx: bytes
    metadata: dict[str, Any]


@dataclass
class TrainedModel:
    onnx: bytes
    metadata: dict[str, Any]  # everything the catalog keeps beside the ONNX bytes
    trials: list[TrialModel] = field(default_factory=list)


def _noop(_: str) -> None:
    pass


def train(table: pa.Table, request: TrainRequest, progress: Progress = _noop) -> TrainedModel:
    clock = _Clock()
    own, hyperparameters = split_options(request.options)
    searching = search.wanted(own, hyperparameters, request.algorithm)
    algo = None if searching else standardised(algorithm(request.algorithm), own)
    if algo is not None:
        hyperparameters = algo.named(hyperparameters)
    test_size = float(own.get("test_size", DEFAULT_TEST_SIZE))
    seed = int(own.get("seed", DEFAULT_SEED))

    clustering = is_clustering(request.algorithm)
    if clustering:
        table = _rows_checked(table)
    else:
        request.target = _resolve(table.column_names, request.target, "target column")
        table = _rows_with_target(table, request.target)
    if "max_rows" in own and table.num_rows > int(own["max_rows"]):
        keep = np.sort(
            np.random.default_rng(seed).choice(table.num_rows, int(own["max_rows"]), replace=False)
        )
        table = table.take(pa.array(keep))
    split_column = _split_column(own, table.column_names)
    init_column = _init_column(own, table.column_names)
    features = _features(table, request, split_column, init_column)
    classes: list | None
    if clustering:  # the centroid ids, once there are centroids
        task, target_type, classes = "clustering", pa.int64(), None
        y = np.zeros(table.num_rows)
    else:
        task = _task(table.column(request.target), request.task)
        target_type = table.schema.field(request.target).type
        y, classes = _encode_target(table.column(request.target), task)
    init_rows = None if init_column is None else _init_rows(table, init_column)
    class_weight = _class_weight(own, task, classes)
    if class_weight is not None and algo is not None:
        hyperparameters = {**hyperparameters, "class_weight": weighed(algo, class_weight)}
    progress(f"read {table.num_rows:,} rows, {table.num_columns} columns")
    if split_column is None:
        stratify = y if task == "classification" else None
        train_idx, test_idx = _split(len(y), stratify, test_size, seed)
    else:
        train_idx, test_idx = _split_by_column(table, split_column, own.get("split"), test_size)
    frame = model_frame(table, features)
    del table
    clock.lap("prepare")

    training = frame.iloc[train_idx]
    searched: dict[str, Any] = {}
    kept: list[search.Trial] = []
    if algo is None:
        algo, hyperparameters, pipeline, searched, kept = _search(
            own,
            hyperparameters,
            class_weight,
            request.algorithm,
            task,
            len(classes or []),
            training,
            y[train_idx],
            features,
            seed,
            progress,
        )
        clock.lap("search")
    if not searched or searched["search"]["refit"]:
        starts = None if init_rows is None else init_rows[train_idx]
        pipeline = _fit(
            algo, hyperparameters, task, seed, features, training, y[train_idx], progress, starts
        )
    del training
    clock.lap("fit")

    base: dict[str, Any] = {
        "task": task,
        "target": request.target,
        "target_sql_type": "BIGINT"
        if clustering
        else request.sql_types.get(request.target, str(target_type)),
        "label_type": _label_type_name(target_type),
        "features": [f.to_json() for f in features],
        "classes": classes,
        "options": own,
        "rows_train": len(train_idx),
        "rows_test": len(test_idx),
        "annotations": request.annotations,
        "libraries": facts.libraries(),  # where it was trained
        "feature_info": facts.feature_info(frame, features),
        "data_sha256": facts.content_sha256(frame, y),
    }
    # Clusters without held-out rows are measured on the training rows, as BigQuery does.
    measured_idx = train_idx if clustering and not len(test_idx) else test_idx
    rows = _Rows(frame, y, train_idx, measured_idx, features)
    progress("converting to ONNX")
    onnx, metadata = _stored(pipeline, algo, hyperparameters, {**base, **searched}, rows, progress)
    trial_models = [
        TrialModel(
            trial.trial_id,
            *_stored(
                trial.pipeline,
                ALGORITHMS[trial.algorithm],
                trial.hyperparameters,
                base,
                rows,
                _noop,
            ),
        )
        for trial in kept
    ]
    clock.lap("convert and evaluate")
    metadata["timings"] = clock.laps
    return TrainedModel(onnx=onnx, metadata=metadata, trials=trial_models)


@dataclass
class _Rows:
    """The rows a stored model is described by: all of them, the training rows' positions
    and the rows its metrics are measured on."""

    frame: Any
    y: np.ndarray
    train_idx: np.ndarray
    measured_idx: np.ndarray
    features: list[Feature]


def _stored(
    pipeline: Any,
    algo: Algorithm,
    hyperparameters: dict[str, Any],
    base: dict[str, Any],
    rows: _Rows,
    progress: Progress,
) -> tuple[bytes, dict[str, Any]]:
    """A fitted pipeline as the catalog keeps it: ONNX bytes, and its metadata (``base``,
    with what this pipeline adds: metrics of its ONNX model, parity, importance, losses)."""
    task, features = base["task"], rows.features
    if algo.name == "lightgbm":
        from .lightgbm_thresholds import round_thresholds_down_to_float32

        round_thresholds_down_to_float32(pipeline.steps[-1][1])
    first = rows.train_idx[: facts.NATIVE_SAMPLE_ROWS]  # what the training loss is of
    training_loss = facts.training_loss(pipeline, rows.frame.iloc[first], rows.y[first], task)
    metadata: dict[str, Any] = {
        **base,
        "algorithm": algo.name,
        "hyperparameters": {**algo.defaults, **hyperparameters},
        "resolved_hyperparameters": facts.resolved(pipeline.steps[-1][1]),
    }
    if task == "clustering":
        centers = pipeline.steps[-1][1].cluster_centers_
        metadata["classes"] = list(range(1, len(centers) + 1))
        metadata["centroid_gaps"] = metrics.centroid_gaps(centers).tolist()
        metadata["centroids"] = facts.centroids(pipeline, features)
    target = base["target"]
    onnx = to_onnx(pipeline, features, {"sqlml.task": task, "sqlml.target": target})

    metadata["metrics"] = {}
    metadata["parity_max_abs_diff"] = None
    measured = rows.measured_idx
    if len(measured):
        progress(f"evaluating on {len(measured):,} held-out rows")
        holdout = rows.frame.iloc[measured]
        # The stored metrics are the stored (ONNX) model's; one-off, so every core may help.
        predictor = Predictor(onnx, metadata, threads=os.cpu_count() or 1)
        scores = predictor.scores_from_inputs(onnx_inputs(holdout, features))
        metadata["metrics"] = _metrics(task, rows.y[measured], scores, metadata)
        if task == "classification":
            metadata["curves"] = metrics.curves(rows.y[measured], scores)
        # ONNX against the native pipeline on a sample: the conversion's parity, recorded.
        sample = slice(0, facts.NATIVE_SAMPLE_ROWS)
        native = facts.native_scores(pipeline, holdout.iloc[sample], task)
        metadata["parity_max_abs_diff"] = float(np.max(np.abs(scores[sample] - native)))
    metadata["importance"] = facts.importance(pipeline, features)
    if algo.name == "lightgbm":  # how often each column splits (BigQuery's importance_weight)
        split_counts = facts.importance(pipeline, features, "split", normalise=False)
        metadata["importance_split"] = split_counts
    metadata["training_info"] = {
        "iterations": facts.iterations(pipeline.steps[-1][1]),
        "loss": training_loss,
        "eval_loss": facts.eval_loss(task, metadata["metrics"]),
        "learning_rate": facts.learning_rate(pipeline.steps[-1][1]),
    }
    return onnx, metadata


def _fit(
    algo: Algorithm,
    hyperparameters: dict[str, Any],
    task: str,
    seed: int,
    features: list[Feature],
    training: Any,
    y: np.ndarray,
    progress: Progress,
    starts: np.ndarray | None = None,
) -> Any:
    """The algorithm's pipeline fitted on the training rows, a refused option told as the
    user's (USING x rejected OPTIONS (...): why). ``starts`` marks the rows whose values
    are k-means' first centroids (BigQuery's kmeans_init_method = 'CUSTOM')."""
    estimator = algo.estimator(task, hyperparameters, seed)
    pipeline = fitting_pipeline(features, algo, estimator, training)
    if starts is not None:
        _start_centroids(pipeline, training, starts)
    progress(f"training {algo.name} ({task}) on {len(y):,} rows, {len(features)} features")
    fit_params = {}
    if algo.name == "lightgbm":
        fit_params["model__callbacks"] = [_lightgbm_progress(progress)]
    try:
        if algo.name == "lightgbm" and hyperparameters:
            check_natively(estimator, task)
        pipeline.fit(training, y, **fit_params)
    except Exception as error:  # scikit-learn: ValueError/TypeError; LightGBM: its own
        rejected = isinstance(error, ValueError | TypeError) or (
            type(error).__name__ == "LightGBMError"
        )
        if not hyperparameters or not rejected:
            raise
        given = ", ".join(f"{k} = {v!r}" for k, v in hyperparameters.items())
        # LightGBM's checks name the C++ file and line they are in: not the user's business.
        reason = re.sub(r" at \S+\.cpp, line \d+ ?\.?", "", str(error)).strip()
        raise UnknownOptionError(
            f"USING {algo.name} rejected OPTIONS ({given}): {reason}"
        ) from error
    return pipeline


def _search(
    own: dict[str, Any],
    hyperparameters: dict[str, Any],
    class_weight: dict[int, float] | str | None,
    algorithm_name: str,
    task: str,
    n_classes: int,
    training: Any,
    y: np.ndarray,
    features: list[Feature],
    seed: int,
    progress: Progress,
) -> tuple[Algorithm, dict[str, Any], Any, dict[str, Any], list[search.Trial]]:
    """The best trial's algorithm, hyperparameters and fitted pipeline, what the catalog
    keeps of the search (its trials; whether the model is refit on every training row,
    which it is unless the budget has no time left for it), and the other trials whose
    models are kept."""
    started = time.monotonic()
    plan = search.plan(own, hyperparameters, algorithm_name, task, n_classes, class_weight)
    names = ", ".join(c.algo.name for c in plan.candidates)
    budget = "" if plan.budget is None else f" within {plan.budget:g} s"
    progress(f"searching {names} by {plan.method}, {plan.metric} on validation{budget}")
    outcome = search.run(plan, training, y, features, task, seed, progress)
    best = outcome.best
    refit_seconds = best.seconds / outcome.summary["folds"] * search.REFIT_FACTOR
    # The trials stopped in time to leave the refit its share of the budget; a little more
    # than the estimate is still within what the budget promises (its last few percent).
    left = None if plan.budget is None else plan.budget * 1.05 - (time.monotonic() - started)
    refit = best.pipeline is None or left is None or refit_seconds <= left
    progress(
        f"trial {best.trial_id} ({best.algorithm}) is the best: {plan.metric} {best.value:.4f}"
    )
    kept = {
        "trials": [t.to_json(plan.metric) for t in outcome.trials],
        "search": {**outcome.summary, "refit": refit},
    }
    others = [t for t in outcome.trials if t.pipeline is not None and not t.is_optimal]
    return ALGORITHMS[best.algorithm], best.hyperparameters, best.pipeline, kept, others


def check_columns(columns: list[str], request: TrainRequest) -> None:
    """Fail before any data is read when the query cannot have the target (or the column
    that splits off the hold-out rows, or the one that marks k-means' first centroids)."""
    if not is_clustering(request.algorithm):
        _resolve(columns, request.target, "target column")
    own = split_options(request.options)[0]
    _split_column(own, columns)
    _init_column(own, columns)


def is_clustering(algorithm_name: str) -> bool:
    found = ALGORITHMS.get(algorithm_name)
    return found is not None and found.tasks == ("clustering",)


def _init_column(own: dict[str, Any], columns: list[str]) -> str | None:
    """OPTIONS init_column: the BOOL column whose TRUE rows are k-means' first centroids."""
    name = own.get("init_column")
    return None if name is None else _resolve(columns, str(name), "init_column")


def _init_rows(table: pa.Table, name: str) -> np.ndarray:
    column = table.column(name)
    if not pa.types.is_boolean(column.type):
        raise InvalidTrainingDataError(
            f"init_column {name!r} must be BOOL (TRUE: a first centroid), not {column.type}"
        )
    return pc.fill_null(column, False).to_numpy(zero_copy_only=False).astype(bool)


def _start_centroids(pipeline: Any, training: Any, starts: np.ndarray) -> None:
    """k-means starts from the marked rows, as many centroids as there are rows."""
    if not starts.any():
        raise InvalidTrainingDataError("init_column is TRUE in no training row: no first centroid")
    prepared = pipeline[:-1].fit_transform(training)
    model = pipeline.steps[-1][1]
    first = prepared[starts]
    if len(first) != model.n_clusters:
        raise InvalidTrainingDataError(
            f"init_column marks {len(first)} training rows, and num_clusters is "
            f"{model.n_clusters}: mark one row per cluster"
        )
    model.set_params(init=first, n_init=1)


SPLITS = ("random", "custom", "seq")


def _split_column(own: dict[str, Any], columns: list[str]) -> str | None:
    """The query's column that decides the hold-out rows (OPTIONS split_column), checked
    with OPTIONS split: 'custom' (a BOOL column: TRUE or NULL is held out), 'seq' (the last
    test_size of the rows in its order) or 'random' (no column)."""
    method, name = own.get("split"), own.get("split_column")
    if method is not None and method not in SPLITS:
        raise UnknownOptionError(
            f"split = {method!r} is not a way to split.{close_matches(str(method), SPLITS)}"
            f" Ways: {', '.join(SPLITS)}"
        )
    if name is None:
        if method in ("custom", "seq"):
            raise UnknownOptionError(f"split = {method!r} needs split_column = 'column'")
        return None
    if method == "random":
        raise UnknownOptionError("split = 'random' takes no split_column")
    return _resolve(columns, str(name), "split_column")


def _split_by_column(
    table: pa.Table, name: str, method: str | None, test_size: float
) -> tuple[np.ndarray, np.ndarray]:
    """(training rows, hold-out rows) as the split column says: a BOOL's TRUE or NULL rows
    are held out (split 'custom', BigQuery's CUSTOM); any other type orders the rows and
    the last test_size of them are held out (split 'seq', BigQuery's SEQ)."""
    column = table.column(name)
    boolean = pa.types.is_boolean(column.type)
    method = method or ("custom" if boolean else "seq")
    n = table.num_rows
    if method == "custom":
        if not boolean:
            raise InvalidTrainingDataError(
                f"split = 'custom' needs a BOOL split_column (TRUE: held out); "
                f"{name!r} is {column.type}"
            )
        held = pc.fill_null(column, True).to_numpy(zero_copy_only=False).astype(bool)
    else:
        combined = column.combine_chunks()
        order = pc.array_sort_indices(combined, null_placement="at_start").to_numpy()
        held = np.zeros(n, dtype=bool)
        held[order[n - round(n * test_size) :]] = True
    if held.all():
        raise InvalidTrainingDataError(
            f"split_column {name!r} holds out every row: no row is left to train on"
        )
    indices = np.arange(n)
    return indices[~held], indices[held]


def _class_weight(
    own: dict[str, Any], task: str, classes: list | None
) -> dict[int, float] | str | None:
    """OPTIONS class_weights ('balanced', or [(label, weight), ...]) as the estimators
    take it: by the position of each class (a class not named weighs 1)."""
    given = own.get("class_weights")
    if given is None:
        return None
    if task != "classification" or classes is None:
        raise UnknownOptionError(f"class_weights is for classification, not {task}")
    if given == "balanced":
        return "balanced"
    pairs = list(given.items()) if isinstance(given, dict) else given
    if not isinstance(pairs, list) or not all(
        isinstance(p, list | tuple) and len(p) == 2 for p in pairs
    ):
        raise UnknownOptionError(
            f"class_weights takes 'balanced' or [('label', weight), ...], not {given!r}"
        )
    position = {str(c): i for i, c in enumerate(classes)}
    weights: dict[int, float] = {}
    for label, weight in pairs:
        if str(label) not in position:
            raise UnknownOptionError(
                f"class_weights: {label!r} is not a class of the target."
                f"{close_matches(str(label), position)}"
                f" Classes: {', '.join(map(str, classes))}"
            )
        weights[position[str(label)]] = float(
            checked(f"class_weights of {label!r}", weight, _WEIGHT)
        )
    return weights


_WEIGHT = Range(float, 0, 1e9, low_open=True)


def evaluate(predictor: Predictor, table: pa.Table) -> dict[str, float | None]:
    """Metrics of a stored model on new rows that include the target column."""
    meta = predictor.metadata
    if meta["task"] == "clustering":
        table = _rows_checked(table)
        scores = predictor.scores([_column(table, f.name) for f in predictor.features])
        return metrics.clustering(scores, np.asarray(meta["centroid_gaps"]))
    table = _rows_with_target(table, meta["target"])
    columns = [_column(table, f.name) for f in predictor.features]
    scores = predictor.scores(columns)
    target = table.column(meta["target"])
    if meta["task"] == "classification":
        lookup = {label: i for i, label in enumerate(meta["classes"])}
        values = target.to_pylist()
        known = np.array([v in lookup for v in values])
        y = np.array([lookup.get(v, -1) for v in values])
        return metrics.classification(y[known], scores[known])
    y = pc.cast(target, pa.float64()).to_numpy(zero_copy_only=False)
    return metrics.regression(y, scores)


# -- steps -------------------------------------------------------------------------------


def _resolve(columns: list[str], name: str, what: str = "column") -> str:
    """The query's column for ``name``: exact, else the one equal but for case."""
    found = matching_column(columns, name)
    if found is not None:
        return found
    raise InvalidTrainingDataError(
        f"{what} {name!r} is not among the query's columns ({', '.join(columns)})."
        f"{close_matches(name, columns)}"
    )


def _column(table: pa.Table, name: str) -> pa.ChunkedArray:
    return table.column(_resolve(table.column_names, name))


def _rows_checked(table: pa.Table) -> pa.Table:
    if table.num_rows == 0:
        raise InvalidTrainingDataError("the training query returned no rows")
    _refuse_infinities(table)
    return table


def _rows_with_target(table: pa.Table, target: str) -> pa.Table:
    table = _rows_checked(table)
    column = _column(table, target)
    if column.null_count == len(column):
        raise InvalidTrainingDataError(f"target column {target!r} is NULL in every row")
    if column.null_count:
        table = table.filter(pc.is_valid(column))
    return table


def _refuse_infinities(table: pa.Table) -> None:
    """An infinity (x / 0.0 in some engines) is neither a value to learn from nor missing:
    the column is named, and the user says which it is."""
    for name, column in zip(table.column_names, table.columns, strict=True):
        if pa.types.is_floating(column.type) and pc.any(pc.is_inf(column)).as_py():
            rows = pc.sum(pc.is_inf(column)).as_py()
            raise InvalidTrainingDataError(
                f"column {name!r} is infinite in {rows} row(s): make those NULL (NULLIF, "
                "CASE WHEN isinf(...)) or leave the rows out"
            )


def _features(
    table: pa.Table, request: TrainRequest, split_column: str | None, init_column: str | None
) -> list[Feature]:
    skip = {request.target, *request.exclude, split_column, init_column}
    features = [
        Feature(f.name, request.sql_types.get(f.name, str(f.type)), kind_of(f.type, f.name))
        for f in table.schema
        if f.name not in skip
    ]
    if not features:
        besides = f" besides the target {request.target!r}" if request.target else ""
        raise InvalidTrainingDataError(f"the training query has no feature columns{besides}")
    return features


def _task(target: pa.ChunkedArray, requested: str | None) -> str:
    if requested is not None:
        if requested not in TASKS:
            raise UnknownOptionError(
                f"unknown TASK {requested!r}.{close_matches(requested, TASKS)}"
                " TASK is classification or regression"
            )
        if requested == "regression" and not _is_number(target.type):
            raise InvalidTrainingDataError(
                f"TASK regression needs a numeric target, not {target.type}"
            )
        return requested
    kind = target.type
    return inferred_task(
        numeric=_is_number(kind) and not pa.types.is_boolean(kind),
        integer=pa.types.is_integer(kind),
        distinct=lambda: pc.count_distinct(target).as_py(),
    )


def _is_number(kind: pa.DataType) -> bool:
    return pa.types.is_integer(kind) or pa.types.is_floating(kind) or pa.types.is_decimal(kind)


def _encode_target(target: pa.ChunkedArray, task: str) -> tuple[np.ndarray, list | None]:
    if task == "regression":
        return pc.cast(target, pa.float64()).to_numpy(zero_copy_only=False), None
    if pa.types.is_dictionary(target.type):
        target = target.cast(pa.string())
    values = target.to_numpy(zero_copy_only=False)
    classes, y = np.unique(values, return_inverse=True)
    if len(classes) < 2:
        raise InvalidTrainingDataError(
            f"the target has only one class ({classes[0]!r}); classification needs at least two"
        )
    return y.astype(np.int64), [c.item() if hasattr(c, "item") else c for c in classes]


def _label_type_name(kind: pa.DataType) -> str:
    if pa.types.is_dictionary(kind):
        return "string"
    return str(kind)


def _split(
    n: int, stratify: np.ndarray | None, test_size: float, seed: int
) -> tuple[np.ndarray, np.ndarray]:
    indices = np.arange(n)
    if test_size == 0 or n < 5:
        return indices, indices[:0]
    from sklearn.model_selection import train_test_split

    if stratify is not None and np.bincount(stratify).min() < 2:
        stratify = None  # a class with one row cannot be stratified
    try:
        return train_test_split(indices, test_size=test_size, random_state=seed, stratify=stratify)
    except ValueError:
        return train_test_split(indices, test_size=test_size, random_state=seed)


def _metrics(
    task: str, y: np.ndarray, scores: np.ndarray, metadata: dict[str, Any]
) -> dict[str, float | None]:
    if task == "clustering":
        return metrics.clustering(scores, np.asarray(metadata["centroid_gaps"]))
    if task == "classification":
        return metrics.classification(y, scores)
    return metrics.regression(y, scores)


def _lightgbm_progress(progress: Progress) -> Callable[[Any], None]:
    last = [0.0]

    def callback(env: Any) -> None:
        now = time.monotonic()
        done = env.iteration + 1
        if now - last[0] > 1.0 or done == env.end_iteration:
            last[0] = now
            progress(f"lightgbm: tree {done}/{env.end_iteration}")

    return callback


class _Clock:
    def __init__(self) -> None:
        self.laps: dict[str, float] = {}
        self._last = time.perf_counter()

    def lap(self, name: str) -> None:
        now = time.perf_counter()
        self.laps[name] = round(now - self._last, 4)
        self._last = now
