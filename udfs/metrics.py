"""Evaluation metrics, computed from the stored (ONNX) model's outputs."""

from __future__ import annotations

import warnings
from typing import Any

import numpy as np

CLASSIFICATION_METRICS = ("accuracy", "precision", "recall", "f1", "roc_auc", "log_loss")
REGRESSION_METRICS = ("rmse", "mae", "r2")
CLUSTERING_METRICS = ("davies_bouldin_index", "mean_squared_distance")
METRICS = {
    "classification": CLASSIFICATION_METRICS,
    "regression": REGRESSION_METRICS,
    "clustering": CLUSTERING_METRICS,
}


# Metrics where lower is better; for every other one higher is.
MINIMISED = frozenset({"log_loss", "rmse", "mae", "davies_bouldin_index", "mean_squared_distance"})


def better(metric: str, value: float, than: float) -> bool:
    return value < than if metric in MINIMISED else value > than


def primary_metric(task: str) -> str:
    return {"classification": "roc_auc", "clustering": "davies_bouldin_index"}.get(task, "r2")


def centroid_gaps(centers: np.ndarray) -> np.ndarray:
    """The distance between every two centroids [k, k], in the model's (scaled) space."""
    return np.sqrt(((centers[:, None, :] - centers[None, :, :]) ** 2).sum(axis=2))


def clustering(distances: np.ndarray, gaps: np.ndarray) -> dict[str, float | None]:
    """BigQuery's k-means metrics from each row's distance to every centroid [n, k] and the
    centroids' distances to each other: the mean squared distance of a row to its nearest
    centroid, and the Davies-Bouldin index (the mean over clusters of the largest ratio of
    two clusters' mean distances to their centroid to the distance between the centroids;
    lower is better) over the clusters the rows fall in."""
    nearest = distances.argmin(axis=1)
    to_nearest = distances[np.arange(len(distances)), nearest].astype(np.float64)
    used = np.unique(nearest)
    result: dict[str, float | None] = {
        "mean_squared_distance": float(np.mean(to_nearest**2)),
        "davies_bouldin_index": None,
    }
    if len(used) > 1:
        scatter = np.array([to_nearest[nearest == c].mean() for c in used])
        between = gaps[np.ix_(used, used)].astype(np.float64)
        with np.errstate(divide="ignore", invalid="ignore"):
            ratios = (scatter[:, None] + scatter[None, :]) / between
        np.fill_diagonal(ratios, -np.inf)
        result["davies_bouldin_index"] = float(np.mean(ratios.max(axis=1)))
    return result


def predicted_classes(probabilities: np.ndarray, threshold: float | None = None) -> np.ndarray:
    """Class indices: the most probable class; for two classes and a ``threshold``, the
    positive one (index 1) wherever its probability is above the threshold."""
    if threshold is not None and probabilities.shape[1] == 2:
        return (probabilities[:, 1] > threshold).astype(np.int64)
    return probabilities.argmax(axis=1)


def classification(
    y_true: np.ndarray, probabilities: np.ndarray, threshold: float | None = None
) -> dict[str, float | None]:
    """Metrics of class indices ``y_true`` against per-class probabilities (macro for >2)."""
    from sklearn import metrics

    n_classes = probabilities.shape[1]
    y_pred = predicted_classes(probabilities, threshold)
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
        mse = metrics.mean_squared_error(y_true, y_pred)
        non_negative = bool((y_true >= 0).all() and (y_pred >= 0).all())
        return _defined(
            {
                "rmse": np.sqrt(mse),
                "mae": metrics.mean_absolute_error(y_true, y_pred),
                "r2": metrics.r2_score(y_true, y_pred) if len(y_true) > 1 else None,
                "mse": mse,
                "msle": metrics.mean_squared_log_error(y_true, y_pred) if non_negative else None,
                "median_ae": metrics.median_absolute_error(y_true, y_pred),
                "explained_variance": (
                    metrics.explained_variance_score(y_true, y_pred) if len(y_true) > 1 else None
                ),
            }
        )


def _defined(values: dict[str, float | None]) -> dict[str, float | None]:
    """NULL (None) for a metric that is undefined on these rows; scikit-learn says NaN."""
    return {k: None if v is None or np.isnan(v) else float(v) for k, v in values.items()}


def confusion_matrix(y_true: np.ndarray, y_pred: np.ndarray, n_classes: int) -> list[list[int]]:
    """Counts [expected class][predicted class] of class indices."""
    cells = np.bincount(y_true * n_classes + y_pred, minlength=n_classes * n_classes)
    return cells.reshape(n_classes, n_classes).tolist()


ROC_POINTS = 101  # default thresholds: the positive-class probability's percentiles


def roc_curve(
    y_true: np.ndarray, positive: np.ndarray, thresholds: list[float] | None = None
) -> list[dict[str, float | int | None]]:
    """Per threshold (ascending), the counts of predicting the positive class (index 1)
    where its probability is above the threshold, with recall and false positive rate."""
    if thresholds is None:
        thresholds = np.unique(np.quantile(positive, np.linspace(0, 1, ROC_POINTS))).tolist()
    positives = np.sort(positive[y_true == 1])
    negatives = np.sort(positive[y_true != 1])
    points = []
    for threshold in sorted(thresholds):
        tp = len(positives) - int(np.searchsorted(positives, threshold, "right"))
        fp = len(negatives) - int(np.searchsorted(negatives, threshold, "right"))
        fn, tn = len(positives) - tp, len(negatives) - fp
        points.append(
            {
                "threshold": float(threshold),
                "recall": tp / (tp + fn) if tp + fn else None,
                "false_positive_rate": fp / (fp + tn) if fp + tn else None,
                "true_positives": tp,
                "false_positives": fp,
                "true_negatives": tn,
                "false_negatives": fn,
            }
        )
    return points


def curves(y_true: np.ndarray, probabilities: np.ndarray) -> dict[str, Any]:
    """What a classifier's hold-out rows tell beyond its metrics: the confusion matrix and,
    for two classes, the ROC curve (ML.CONFUSION_MATRIX / ML.ROC_CURVE without new data)."""
    n_classes = probabilities.shape[1]
    result: dict[str, Any] = {
        "confusion_matrix": confusion_matrix(y_true, predicted_classes(probabilities), n_classes)
    }
    if n_classes == 2:
        result["roc_curve"] = roc_curve(y_true, probabilities[:, 1])
    return result
