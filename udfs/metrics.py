"""Evaluation metrics, computed from the stored (ONNX) model's outputs."""

from __future__ import annotations

import warnings

import numpy as np

CLASSIFICATION_METRICS = ("accuracy", "precision", "recall", "f1", "roc_auc", "log_loss")
REGRESSION_METRICS = ("rmse", "mae", "r2")


def primary_metric(task: str) -> str:
    return "roc_auc" if task == "classification" else "r2"


def classification(y_true: np.ndarray, probabilities: np.ndarray) -> dict[str, float | None]:
    """Metrics of class indices ``y_true`` against per-class probabilities (macro for >2)."""
    from sklearn import metrics

    n_classes = probabilities.shape[1]
    y_pred = probabilities.argmax(axis=1)
    labels = list(range(n_classes))
    average = "binary" if n_classes == 2 else "macro"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        result: dict[str, float | None] = {
            "accuracy": metrics.accuracy_score(y_true, y_pred),
            "precision": metrics.precision_score(
                y_true, y_pred, labels=labels, average=average, zero_division=0
            ),
            "recall": metrics.recall_score(
                y_true, y_pred, labels=labels, average=average, zero_division=0
            ),
            "f1": metrics.f1_score(y_true, y_pred, labels=labels, average=average, zero_division=0),
        }
        try:
            if n_classes == 2:
                result["roc_auc"] = metrics.roc_auc_score(y_true, probabilities[:, 1])
            else:
                result["roc_auc"] = metrics.roc_auc_score(
                    y_true, probabilities, multi_class="ovr", average="macro", labels=labels
                )
        except ValueError:  # a class missing from y_true: AUC is undefined
            result["roc_auc"] = None
        clipped = np.clip(probabilities, 1e-15, 1.0)
        result["log_loss"] = metrics.log_loss(
            y_true, clipped / clipped.sum(1, keepdims=True), labels=labels
        )
    return _defined(result)


def regression(y_true: np.ndarray, y_pred: np.ndarray) -> dict[str, float | None]:
    from sklearn import metrics

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return _defined(
            {
                "rmse": np.sqrt(metrics.mean_squared_error(y_true, y_pred)),
                "mae": metrics.mean_absolute_error(y_true, y_pred),
                "r2": metrics.r2_score(y_true, y_pred) if len(y_true) > 1 else None,
            }
        )


def _defined(values: dict[str, float | None]) -> dict[str, float | None]:
    """NULL (None) for a metric that is undefined on these rows; scikit-learn says NaN."""
    return {k: None if v is None or np.isnan(v) else float(v) for k, v in values.items()}
