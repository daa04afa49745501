"""BigQuery ML's table functions answered from the catalog: ML.EVALUATE, ML.FEATURE_IMPORTANCE,
ML.GLOBAL_EXPLAIN, ML.TRAINING_INFO, ML.FEATURE_INFO, ML.CONFUSION_MATRIX, ML.ROC_CURVE and
ML.TRIAL_INFO.

Without input rows they read what training kept (hold-out metrics, confusion matrix and ROC
curve, importances, feature statistics); with input rows they score them through the engine
(PREDICT_PROBA / PREDICT of the same stored model) and compute the same figures here. Each
answer is a small table (sqlml/table_functions/rewrite.py puts it into the query).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import numpy as np
import pyarrow as pa
from sqlglot import exp

from sqlml._udfs_loader import udfs
from sqlml.dialects import expressions as ml
from sqlml.errors import InputSchemaError, UnknownOptionError, UnsupportedError
from sqlml.models.manage import kept_trials, model_metrics, trials
from sqlml.models.rows import model_rows
from sqlml.result import ArrowResult
from sqlml.session import Session

# sqlml's metric → BigQuery's column of ML.EVALUATE, in BigQuery's order.
EVALUATE_COLUMNS = {
    "classification": {
        "precision": "precision",
        "recall": "recall",
        "accuracy": "accuracy",
        "f1_score": "f1",
        "log_loss": "log_loss",
        "roc_auc": "roc_auc",
    },
    "regression": {
        "mean_absolute_error": "mae",
        "mean_squared_error": "mse",
        "mean_squared_log_error": "msle",
        "median_absolute_error": "median_ae",
        "r2_score": "r2",
        "explained_variance": "explained_variance",
    },
    "clustering": {
        "davies_bouldin_index": "davies_bouldin_index",
        "mean_squared_distance": "mean_squared_distance",
    },
}
# What each function accepts in its STRUCT(...).
_PARAMS = {
    "EVALUATE": {"threshold", "trial_id"},
    "CONFUSION_MATRIX": {"threshold"},
    "GLOBAL_EXPLAIN": {"class_level_explain"},
    "PREDICT": {"threshold", "keep_original_columns", "trial_id"},
}


def model_of(node: ml.MLTableFunction, session: Session) -> udfs.catalog.ModelVersion:
    """The model the call names, or with STRUCT(n AS trial_id) the model of its trial n."""
    catalog = session.backend.catalog
    model = catalog.get(node.args["model"])
    trial_id = (node.args.get("params") or {}).get("trial_id")
    if trial_id is None:
        return model
    if not isinstance(trial_id, int) or isinstance(trial_id, bool):
        raise InputSchemaError(f"ML.{node.this}: STRUCT trial_id is a number, not {trial_id!r}")
    found = kept_trials(catalog, model).get(trial_id)
    if found is None:
        raise UnknownOptionError(
            f"ML.{node.this}: trial {trial_id} of model {model.name} (version {model.version}) "
            "has no kept model; SHOW TRIALS lists the trials that have one in its model column"
        )
    return found


def answer(node: ml.MLTableFunction, session: Session) -> pa.Table:
    name = node.this
    check_params(node)
    model = model_of(node, session)
    handler = _HANDLERS.get(name)
    if handler is None:
        raise UnsupportedError(f"ML.{name} is not available")
    if node.args.get("query") is not None and name not in _TAKES_ROWS:
        raise InputSchemaError(f"ML.{name} takes only MODEL {model.name}, no input rows")
    if node.args.get("thresholds") is not None and name != "ROC_CURVE":
        raise InputSchemaError(f"ML.{name}: only ML.ROC_CURVE takes a list of thresholds")
    return handler(node, model, session).table


def check_params(node: ml.MLTableFunction) -> None:
    params = node.args.get("params") or {}
    allowed = _PARAMS.get(node.this, set())
    unknown = sorted(set(params) - allowed)
    if unknown:
        takes = f"takes {', '.join(sorted(allowed))}" if allowed else "takes no STRUCT options"
        raise UnknownOptionError(f"ML.{node.this}: unknown STRUCT field {unknown[0]!r}; it {takes}")
    threshold = params.get("threshold")
    if threshold is not None and not (isinstance(threshold, int | float) and 0 <= threshold <= 1):
        raise InputSchemaError(
            f"ML.{node.this}: STRUCT threshold must be a number from 0 to 1, not {threshold!r}"
        )


# -- the functions -------------------------------------------------------------------------


def _evaluate(
    node: ml.MLTableFunction, model: udfs.catalog.ModelVersion, session: Session
) -> ArrowResult:
    cutoff = threshold(node, model)
    query = node.args.get("query")
    if cutoff is None:
        values = model_metrics(model, query, session)
    elif query is None:
        raise _needs_rows(node, "a STRUCT threshold")
    else:
        y, probabilities = _scored(session, model, query)
        values = udfs.metrics.classification(y, probabilities, cutoff)
    columns = EVALUATE_COLUMNS[model.task]
    return ArrowResult.from_rows(
        {c: pa.float64() for c in columns}, [[values.get(m) for m in columns.values()]]
    )


def _feature_importance(
    node: ml.MLTableFunction, model: udfs.catalog.ModelVersion, session: Session
) -> ArrowResult:
    meta = model.metadata
    if meta["algorithm"] not in ("lightgbm", "random_forest"):
        raise UnsupportedError(
            f"ML.FEATURE_IMPORTANCE is for tree models (boosted trees, random forests); "
            f"{model.name!r} is {meta['algorithm']}: use ML.GLOBAL_EXPLAIN or EXPLAIN MODEL"
        )
    splits = dict(meta.get("importance_split") or [])
    rows = [[f, splits.get(f), gain, None] for f, gain in meta["importance"]]
    columns = {
        "feature": pa.string(),
        "importance_weight": pa.float64(),
        "importance_gain": pa.float64(),
        "importance_cover": pa.float64(),
    }
    return ArrowResult.from_rows(columns, rows)


def _global_explain(
    node: ml.MLTableFunction, model: udfs.catalog.ModelVersion, session: Session
) -> ArrowResult:
    if (node.args.get("params") or {}).get("class_level_explain"):
        session.notice(
            "ML.GLOBAL_EXPLAIN: class_level_explain is not available; the attributions are "
            "the model's over all classes"
        )
    columns = {"feature": pa.string(), "attribution": pa.float64()}
    return ArrowResult.from_rows(columns, [list(row) for row in model.metadata["importance"]])


def _training_info(
    node: ml.MLTableFunction, model: udfs.catalog.ModelVersion, session: Session
) -> ArrowResult:
    meta = model.metadata
    info = meta.get("training_info") or {}
    fit_seconds = meta.get("timings", {}).get("fit")
    columns = {
        "training_run": pa.int64(),
        "iteration": pa.int64(),
        "loss": pa.float64(),
        "eval_loss": pa.float64(),
        "learning_rate": pa.float64(),
        "duration_ms": pa.int64(),
    }
    row = [
        0,
        info.get("iterations"),
        info.get("loss"),
        info.get("eval_loss"),
        info.get("learning_rate"),
        None if fit_seconds is None else round(fit_seconds * 1000),
    ]
    return ArrowResult.from_rows(columns, [row])


def _feature_info(
    node: ml.MLTableFunction, model: udfs.catalog.ModelVersion, session: Session
) -> ArrowResult:
    columns = {
        "input": pa.string(),
        "min": pa.float64(),
        "max": pa.float64(),
        "mean": pa.float64(),
        "median": pa.float64(),
        "stddev": pa.float64(),
        "category_count": pa.int64(),
        "null_count": pa.int64(),
        "dimension": pa.int64(),
    }
    # On PostgreSQL a role that may not read the training rows gets the inputs alone.
    # (Versions of files made before the statistics had a table of their own keep them in
    # the metadata.)
    stored = session.backend.catalog.feature_info(model.name, model.version)
    info = {row["input"]: row for row in stored or model.metadata.get("feature_info") or []}
    rows = [
        [f["name"], *(info.get(f["name"], {}).get(c) for c in list(columns)[1:])]
        for f in model.metadata["features"]
    ]
    return ArrowResult.from_rows(columns, rows)


def _confusion_matrix(
    node: ml.MLTableFunction, model: udfs.catalog.ModelVersion, session: Session
) -> ArrowResult:
    _require_classifier(node, model)
    cutoff = threshold(node, model)
    classes = model.metadata["classes"]
    if node.args.get("query") is None:
        if cutoff is not None:
            raise _needs_rows(node, "a STRUCT threshold")
        counts = _kept(node, model, "confusion_matrix")
    else:
        y, probabilities = _scored(session, model, node.args["query"])
        predicted = udfs.metrics.predicted_classes(probabilities, cutoff)
        counts = udfs.metrics.confusion_matrix(y, predicted, len(classes))
    labels = pa.array(classes)
    columns = {"expected_label": labels.type, **{str(c): pa.int64() for c in classes}}
    return ArrowResult.from_rows(
        columns, [[label, *row] for label, row in zip(classes, counts, strict=True)]
    )


def _roc_curve(
    node: ml.MLTableFunction, model: udfs.catalog.ModelVersion, session: Session
) -> ArrowResult:
    _require_classifier(node, model)
    if len(model.metadata["classes"]) != 2:
        raise UnsupportedError(f"ML.ROC_CURVE is for binary classifiers; {model.name!r} is not")
    thresholds = node.args.get("thresholds")
    if node.args.get("query") is None:
        if thresholds is not None:
            raise _needs_rows(node, "thresholds")
        points = _kept(node, model, "roc_curve")
    else:
        y, probabilities = _scored(session, model, node.args["query"])
        points = udfs.metrics.roc_curve(y, probabilities[:, 1], thresholds)
    columns = {
        "threshold": pa.float64(),
        "recall": pa.float64(),
        "false_positive_rate": pa.float64(),
        "true_positives": pa.int64(),
        "false_positives": pa.int64(),
        "true_negatives": pa.int64(),
        "false_negatives": pa.int64(),
    }
    return ArrowResult.from_rows(columns, [[point[c] for c in columns] for point in points])


def _trial_info(
    node: ml.MLTableFunction, model: udfs.catalog.ModelVersion, session: Session
) -> ArrowResult:
    """BigQuery's columns; hyperparameters and the evaluation metrics as JSON text (BigQuery
    gives STRUCTs), status in BigQuery's capitals. training_loss is not measured per trial."""
    columns = {
        "trial_id": pa.int64(),
        "hyperparameters": pa.string(),
        "hparam_tuning_evaluation_metrics": pa.string(),
        "training_loss": pa.float64(),
        "eval_loss": pa.float64(),
        "status": pa.string(),
        "error_message": pa.string(),
        "is_optimal": pa.bool_(),
    }
    rows = [
        [
            trial["trial_id"],
            json.dumps({"algorithm": trial["algorithm"], **trial["hyperparameters"]}),
            json.dumps({trial["metric"]: trial["value"]}),
            None,
            trial["eval_loss"],
            trial["status"].upper(),
            trial["error_message"],
            trial["is_optimal"],
        ]
        for trial in trials(model)
    ]
    return ArrowResult.from_rows(columns, rows)


def _centroids(
    node: ml.MLTableFunction, model: udfs.catalog.ModelVersion, session: Session
) -> ArrowResult:
    """BigQuery's columns: a k-means centroid's value per input column, in the column's own
    units; a text column's categories and their weights as JSON text (BigQuery gives an
    ARRAY of STRUCTs)."""
    if model.task != "clustering":
        raise UnsupportedError(f"ML.CENTROIDS is for k-means models; {model.name!r} is not one")
    columns = {
        "centroid_id": pa.int64(),
        "feature": pa.string(),
        "numerical_value": pa.float64(),
        "categorical_value": pa.string(),
    }
    rows = [
        [
            centroid["centroid_id"],
            centroid["feature"],
            centroid.get("numerical_value"),
            json.dumps(centroid["categorical_value"]) if "categorical_value" in centroid else None,
        ]
        for centroid in model.metadata["centroids"]
    ]
    return ArrowResult.from_rows(columns, rows)


_HANDLERS: dict[str, Callable[[ml.MLTableFunction, Any, Session], ArrowResult]] = {
    "EVALUATE": _evaluate,
    "FEATURE_IMPORTANCE": _feature_importance,
    "GLOBAL_EXPLAIN": _global_explain,
    "TRAINING_INFO": _training_info,
    "FEATURE_INFO": _feature_info,
    "CONFUSION_MATRIX": _confusion_matrix,
    "ROC_CURVE": _roc_curve,
    "TRIAL_INFO": _trial_info,
    "CENTROIDS": _centroids,
}
_TAKES_ROWS = {"EVALUATE", "CONFUSION_MATRIX", "ROC_CURVE"}


# -- helpers -------------------------------------------------------------------------------


def threshold(node: ml.MLTableFunction, model: udfs.catalog.ModelVersion) -> float | None:
    """The STRUCT's threshold, which only a binary classifier can use."""
    value = (node.args.get("params") or {}).get("threshold")
    if value is not None and (
        model.task != "classification" or len(model.metadata["classes"]) != 2
    ):
        raise InputSchemaError(
            f"ML.{node.this}: STRUCT threshold applies to binary classifiers; {model.name!r} "
            "is not one"
        )
    return None if value is None else float(value)


def _require_classifier(node: ml.MLTableFunction, model: udfs.catalog.ModelVersion) -> None:
    if model.task != "classification":
        raise UnsupportedError(f"ML.{node.this} is for classifiers; {model.name!r} is not one")


def _needs_rows(node: ml.MLTableFunction, what: str) -> Exception:
    return InputSchemaError(
        f"ML.{node.this} with {what} needs rows to evaluate: ML.{node.this}(MODEL m, TABLE t "
        "| (query), ...); the training hold-out rows are not kept"
    )


def _kept(node: ml.MLTableFunction, model: udfs.catalog.ModelVersion, key: str) -> Any:
    """A figure training kept from its hold-out rows."""
    kept = (model.metadata.get("curves") or {}).get(key)
    if kept is None:
        raise InputSchemaError(
            f"ML.{node.this}: model {model.name!r} kept no hold-out {key.replace('_', ' ')} "
            "(trained with test_size = 0, or by an older sqlml); give rows to evaluate: "
            f"ML.{node.this}(MODEL {model.name}, TABLE t | (query))"
        )
    return kept


def _scored(
    session: Session, model: udfs.catalog.ModelVersion, query: exp.Query
) -> tuple[np.ndarray, np.ndarray]:
    """(class index of each row's label, per-class probabilities) of a classifier on the
    rows of ``query``, scored by the engine; rows whose label is NULL or unknown are left out."""
    meta = model.metadata
    source = model_rows(model, query, session).subquery(ml.SOURCE_ALIAS)
    target = exp.column(exp.to_identifier(meta["target"], quoted=True), table=ml.SOURCE_ALIAS)
    call = ml.MLPredict(
        this=exp.to_identifier(model.name, quoted=True),
        expressions=[exp.Star()],
        proba=True,
    )
    tree = exp.select(target.as_("_sqlml_y"), call.as_("_sqlml_p")).from_(source)
    scored = session.query(tree)
    rows = session.backend.run(scored.sql, scored.params).fetchall()
    classes = meta["classes"]
    index = {str(c): i for i, c in enumerate(classes)}
    y, probabilities = [], []
    for label, p in rows:
        i = index.get(str(label))
        if i is None or p is None:
            continue
        y.append(i)
        probabilities.append(_class_probabilities(p, classes))
    if not y:
        raise InputSchemaError(
            f"ML evaluation of {model.name!r}: no input row has a known {meta['target']!r}"
        )
    return np.array(y), np.array(probabilities, dtype=np.float64)


def _class_probabilities(value: Any, classes: list[Any]) -> list[float]:
    """PREDICT_PROBA's answer (binary: a number; multiclass: a MAP's items or a JSON object)
    as one probability per class, in the model's class order."""
    if isinstance(value, int | float):
        return [1.0 - value, float(value)]
    if isinstance(value, str):
        value = json.loads(value)
    pairs = value.items() if isinstance(value, dict) else value
    by_label = {str(k): float(v) for k, v in pairs}
    return [by_label.get(str(c), 0.0) for c in classes]
