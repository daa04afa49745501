"""SHOW MODELS, SHOW MODEL VERSIONS, DESCRIBE / EVALUATE / EXPLAIN / DROP / ALTER MODEL."""

from __future__ import annotations

import json
from typing import Any

import pyarrow as pa

from sqlml._udfs_loader import udfs
from sqlml.commands import Session
from sqlml.dialects import expressions as ml
from sqlml.result import ArrowResult, EmptyResult, Result

_ts = pa.timestamp("us")


def show_models(node: ml.ShowModels, session: Session) -> Result:
    columns = {
        "name": pa.string(),
        "version": pa.int32(),
        "task": pa.string(),
        "algorithm": pa.string(),
        "target": pa.string(),
        "metric": pa.string(),
        "metric_value": pa.float64(),
        "function": pa.string(),
        "created_at": _ts,
    }
    rows = []
    for model in session.backend.catalog.current():
        metric = udfs.metrics.primary_metric(model.task)
        meta = model.metadata
        rows.append(
            (
                model.name,
                model.version,
                model.task,
                meta["algorithm"],
                meta["target"],
                metric,
                meta["metrics"].get(metric),
                model.function_name,
                model.created_at,
            )
        )
    return ArrowResult.from_rows(columns, rows)


def show_versions(node: ml.ShowModelVersions, session: Session) -> Result:
    catalog = session.backend.catalog
    catalog.get(node.this)
    columns = {
        "name": pa.string(),
        "version": pa.int32(),
        "in_use": pa.bool_(),
        "algorithm": pa.string(),
        "metric": pa.string(),
        "metric_value": pa.float64(),
        "rows_train": pa.int64(),
        "created_at": _ts,
    }
    rows = []
    for model in catalog.versions(node.this):
        metric = udfs.metrics.primary_metric(model.task)
        meta = model.metadata
        rows.append(
            (
                model.name,
                model.version,
                model.version == model.current_version,
                meta["algorithm"],
                metric,
                meta["metrics"].get(metric),
                meta["rows_train"],
                model.created_at,
            )
        )
    return ArrowResult.from_rows(columns, rows)


def describe_model(node: ml.DescribeModel, session: Session) -> Result:
    """One row per fact: (section, position, name, value)."""
    model = session.backend.catalog.get(node.this)
    meta = model.metadata
    rows: list[tuple[str, int, str, str]] = []

    def add(section: str, name: str, value: Any) -> None:
        text = value if isinstance(value, str) else json.dumps(value, default=str)
        rows.append((section, len([r for r in rows if r[0] == section]) + 1, name, text))

    for key, value in (
        ("name", model.name),
        ("version", model.version),
        ("task", meta["task"]),
        ("algorithm", meta["algorithm"]),
        ("target", meta["target"]),
        ("target_type", meta["target_sql_type"]),
        ("classes", meta["classes"]),
        ("function", model.function_name),
        ("created_at", model.created_at.isoformat(sep=" ")),
        ("rows_train", meta["rows_train"]),
        ("rows_test", meta["rows_test"]),
        ("onnx_sha256", model.onnx_sha256),
    ):
        if value is not None:
            add("model", key, value)
    for feature in meta["features"]:
        add("feature", feature["name"], feature["sql_type"])
    for key, value in sorted({**meta["hyperparameters"], **meta["options"]}.items()):
        add("option", key, value)
    for key, value in meta["metrics"].items():
        add("metric", key, value)
    for key, value in meta["timings"].items():
        add("timing", f"{key}_seconds", value)
    columns = {
        "section": pa.string(),
        "position": pa.int32(),
        "name": pa.string(),
        "value": pa.string(),
    }
    return ArrowResult.from_rows(columns, rows)


def evaluate_model(node: ml.EvaluateModel, session: Session) -> Result:
    model = session.backend.catalog.get(node.this)
    query = node.args.get("query")
    if query is None:
        metrics = model.metadata["metrics"]
    else:
        metrics = session.backend.evaluate(model.name, session.to_engine_sql(query))
    names = (
        udfs.metrics.CLASSIFICATION_METRICS
        if model.task == "classification"
        else udfs.metrics.REGRESSION_METRICS
    )
    columns = {name: pa.float64() for name in names}
    return ArrowResult.from_rows(columns, [tuple(metrics.get(name) for name in names)])


def explain_model(node: ml.ExplainModel, session: Session) -> Result:
    model = session.backend.catalog.get(node.this)
    columns = {"feature": pa.string(), "importance": pa.float64()}
    return ArrowResult.from_rows(columns, [tuple(r) for r in model.metadata["importance"]])


def drop_model(node: ml.DropModel, session: Session) -> Result:
    backend = session.backend
    if backend.catalog.find(node.this) is None:
        if node.args.get("if_exists"):
            return EmptyResult()
        backend.catalog.get(node.this)  # raises, naming close matches
    backend.drop_model(node.this)
    return EmptyResult()


def alter_model_version(node: ml.AlterModelVersion, session: Session) -> Result:
    session.backend.catalog.get(node.this, node.args["version"])  # names what exists
    session.backend.set_model_version(node.this, node.args["version"])
    return EmptyResult()
