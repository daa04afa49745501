"""What the catalog records of a training beside its metrics: losses, iterations, learning
rate, per-column statistics and importance (BigQuery's ML.TRAINING_INFO, ML.FEATURE_INFO and
ML.FEATURE_IMPORTANCE read them)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    import pandas as pd
    from sklearn.pipeline import Pipeline

from . import metrics
from .features import Feature

NATIVE_SAMPLE_ROWS = 10_000  # rows scored by the native pipeline (training loss, ONNX parity)
# Above this many cells (rows x columns) the rows are not hashed: a run records no content hash.
CONTENT_HASH_CELLS = 50_000_000
# The libraries that make and run sqlml's models, whose versions each model records.
LIBRARIES = ("sqlml", "onnx", "onnxruntime", "scikit-learn", "lightgbm", "skl2onnx", "onnxmltools")


def libraries() -> dict[str, str | None]:
    """The versions of LIBRARIES installed where this runs (None: not installed)."""
    from importlib import metadata

    found: dict[str, str | None] = {}
    for library in LIBRARIES:
        try:
            found[library] = metadata.version(library)
        except metadata.PackageNotFoundError:
            found[library] = None
    return found


def content_sha256(frame: pd.DataFrame, y: np.ndarray) -> str | None:
    """A hash of the rows a model trained on, features and target, in any order: the same
    rows read in another order (a query without ORDER BY) hash alike. None when too large
    to be cheap."""
    import hashlib

    import pandas as pd

    if frame.size > CONTENT_HASH_CELLS:
        return None
    row_hashes = pd.util.hash_pandas_object(frame, index=False).to_numpy()
    with_target = pd.util.hash_array(row_hashes ^ pd.util.hash_array(np.asarray(y)))
    digest = hashlib.sha256(np.sort(with_target).tobytes())
    digest.update(",".join(map(str, frame.columns)).encode())
    return digest.hexdigest()


def resolved(estimator: Any) -> dict[str, Any]:
    """Every hyperparameter the fitted estimator had, defaults filled in (the JSON ones:
    a callable or an object is named by its type)."""
    plain = (str, int, float, bool, type(None))
    out: dict[str, Any] = {}
    for name, value in sorted(estimator.get_params(deep=False).items()):
        if isinstance(value, plain):
            out[name] = value
        elif isinstance(value, list | tuple) and all(isinstance(v, plain) for v in value):
            out[name] = list(value)
        elif isinstance(value, dict):
            out[name] = {str(k): v for k, v in value.items() if isinstance(v, plain)}
        else:
            out[name] = type(value).__name__
    return out


def training_loss(
    pipeline: Pipeline, training: pd.DataFrame, y: np.ndarray, task: str
) -> float | None:
    """Log loss (classification) or mean squared error on up to NATIVE_SAMPLE_ROWS training rows."""
    sample = slice(0, NATIVE_SAMPLE_ROWS)
    if task == "clustering":
        distances = pipeline.transform(training.iloc[sample])
        return float(np.mean(distances.min(axis=1) ** 2))
    if task == "classification":
        loss = metrics.classification(y[sample], pipeline.predict_proba(training.iloc[sample]))
        return loss["log_loss"]
    return metrics.regression(y[sample], pipeline.predict(training.iloc[sample]))["mse"]


def eval_loss(task: str, held_out: dict[str, float | None]) -> float | None:
    losses = {"classification": "log_loss", "clustering": "mean_squared_distance"}
    return held_out.get(losses.get(task, "mse"))


def native_scores(pipeline: Pipeline, rows: pd.DataFrame, task: str) -> np.ndarray:
    """What the ONNX model's scores are, from the fitted pipeline itself."""
    if task == "clustering":
        return pipeline.transform(rows)
    if task == "classification":
        return pipeline.predict_proba(rows)
    return pipeline.predict(rows)


def centroids(pipeline: Pipeline, features: list[Feature]) -> list[dict[str, Any]]:
    """Each k-means centroid per input column, in the column's own units (BigQuery's
    ML.CENTROIDS): a number, or for a text column the weight of each category."""
    centers = pipeline.steps[-1][1].cluster_centers_
    prepare = pipeline.named_steps["prepare"]
    rows: list[dict[str, Any]] = []
    position = 0
    for name, transformer, columns in prepare.transformers_:
        if name == "remainder":
            continue
        if name == "categorical":
            for column, categories in zip(columns, transformer.categories_, strict=True):
                part = centers[:, position : position + len(categories)]
                position += len(categories)
                for cluster, weights in enumerate(part, start=1):
                    rows.append(
                        {
                            "centroid_id": cluster,
                            "feature": column,
                            "categorical_value": [
                                {"category": str(c), "value": float(w)}
                                for c, w in zip(categories, weights, strict=True)
                            ],
                        }
                    )
            continue
        part = centers[:, position : position + len(columns)]
        position += len(columns)
        scaler = getattr(transformer, "named_steps", {}).get("scale")
        values = scaler.inverse_transform(part) if scaler is not None else part
        for cluster, row in enumerate(values, start=1):
            rows += [
                {"centroid_id": cluster, "feature": column, "numerical_value": float(v)}
                for column, v in zip(columns, row, strict=True)
            ]
    return sorted(rows, key=lambda r: r["centroid_id"])


def iterations(model: Any) -> int:
    """Boosting rounds, solver iterations or trees: how long the model trained."""
    if hasattr(model, "booster_"):
        return int(model.booster_.current_iteration())
    if hasattr(model, "n_iter_"):
        return int(np.max(model.n_iter_))
    return int(getattr(model, "n_estimators", 1))


def learning_rate(model: Any) -> float | None:
    params = model.get_params()
    rate = params.get("learning_rate_init", params.get("learning_rate"))
    return float(rate) if isinstance(rate, int | float) else None


def feature_info(frame: pd.DataFrame, features: list[Feature]) -> list[dict[str, Any]]:
    """Per input column, statistics of the training rows (BigQuery's ML.FEATURE_INFO)."""
    info = []
    for feature in features:
        column = frame[feature.name]
        row: dict[str, Any] = {"input": feature.name, "null_count": int(column.isna().sum())}
        if feature.kind == "categorical":
            row["category_count"] = int(column.nunique(dropna=True))
        else:
            values = column.to_numpy(dtype=np.float64)
            values = values[~np.isnan(values)]
            if len(values):
                row |= {
                    "min": float(values.min()),
                    "max": float(values.max()),
                    "mean": float(values.mean()),
                    "median": float(np.median(values)),
                    "stddev": float(values.std(ddof=1)) if len(values) > 1 else None,
                }
        info.append(row)
    return info


def importance(
    pipeline: Pipeline, features: list[Feature], kind: str = "gain", normalise: bool = True
) -> list[list[Any]]:
    """Importance per input column (one-hot columns summed back), largest first; for
    LightGBM by ``kind`` (gain or split count)."""
    model = pipeline.steps[-1][1]
    if hasattr(model, "booster_"):
        raw = model.booster_.feature_importance(importance_type=kind)
    elif hasattr(model, "feature_importances_"):
        raw = model.feature_importances_
    elif hasattr(model, "coef_"):
        raw = np.abs(np.atleast_2d(model.coef_)).mean(axis=0)
    elif hasattr(model, "coefs_"):
        raw = np.abs(model.coefs_[0]).sum(axis=1)
    else:
        return []
    raw = np.asarray(raw, dtype=float)
    prepare = pipeline.named_steps["prepare"]
    totals: dict[str, float] = {}
    position = 0
    for name, transformer, columns in prepare.transformers_:
        if name == "remainder":
            continue
        widths = (
            [len(c) for c in transformer.categories_]
            if name == "categorical"
            else [1] * len(columns)
        )
        for column, width in zip(columns, widths, strict=True):
            totals[column] = float(raw[position : position + width].sum())
            position += width
    norm = (sum(totals.values()) or 1.0) if normalise else 1.0
    ranked = sorted(totals.items(), key=lambda item: -item[1])
    return [[name, value / norm] for name, value in ranked]
