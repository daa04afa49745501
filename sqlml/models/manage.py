"""SHOW MODELS, SHOW MODEL VERSIONS, DESCRIBE / EVALUATE / EXPLAIN / DROP / ALTER MODEL."""

from __future__ import annotations

import json
from typing import Any

import pyarrow as pa
from sqlglot import exp

from sqlml._udfs_loader import udfs
from sqlml.dialects import expressions as ml
from sqlml.errors import UnsupportedError
from sqlml.models.rows import model_rows
from sqlml.result import ArrowResult, EmptyResult, Result, facts_result
from sqlml.session import Session
from sqlml.show_filter import filtered

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
        if "trial_of" in meta:  # a kept trial: SHOW TRIALS lists it
            continue
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
    shown = ArrowResult.from_rows(columns, rows)
    return filtered(shown, node.args.get("where"), session, "SHOW MODELS")


def show_model(node: ml.ShowModel, session: Session) -> Result:
    """Redshift's SHOW MODEL m: the model's facts as (key, value) rows, for every model."""
    model = session.backend.catalog.get(node.this)
    columns = {"key": pa.string(), "value": pa.string()}
    rows = [(key, _text(value)) for key, value in _model_facts(model) if value is not None]
    return ArrowResult.from_rows(columns, rows)


def _model_facts(model: udfs.catalog.ModelVersion) -> list[tuple[str, Any]]:
    meta = model.metadata
    redshift = meta.get("annotations", {}).get("redshift", {})
    features = meta["features"]
    facts: list[tuple[str, Any]] = [
        ("Model Name", model.name),
        ("Model Version", model.version),
        ("Model State", "READY"),  # a model is in the catalog only once trained
        ("Creation Time", model.created_at.isoformat(sep=" ")),
        ("Function Name", model.function_name),
        # comma-separated: a type name can have spaces (double precision)
        ("Function Parameters", ", ".join(f["name"] for f in features)),
        ("Function Parameter Types", ", ".join(f["sql_type"] for f in features)),
        ("Declared Parameter Types", ", ".join(redshift.get("function_types", [])) or None),
        ("Target Column", meta["target"]),
        ("Target Type", meta["target_sql_type"]),
        ("Model Type", str(redshift.get("model_type", meta["algorithm"])).lower()),
        ("Algorithm", meta["algorithm"]),
        ("AUTO", redshift.get("auto")),
        ("Problem Type", _problem_type(meta)),
        ("Objective", redshift.get("objective")),
        ("Classes", meta["classes"]),
        ("Query", redshift.get("query")),
        ("Train Rows", meta["rows_train"]),
        ("Test Rows", meta["rows_test"]),
    ]
    facts += [(f"validation:{name}", value) for name, value in meta["metrics"].items()]
    facts += [
        ("Hyperparameters", meta["hyperparameters"]),
        ("Options", meta["options"] or None),
        ("Redshift Hyperparameters", redshift.get("hyperparameters") or None),
        ("Preprocessors", redshift.get("preprocessors")),
        ("IAM Role", _lower_word(redshift.get("iam_role"))),
    ]
    # Redshift's SETTINGS, as it shows them: S3_BUCKET is "S3 Bucket"
    settings = redshift.get("settings", {})
    facts += [(key.replace("_", " ").title(), value) for key, value in settings.items()]
    return facts


def _problem_type(meta: dict[str, Any]) -> str:
    """Redshift's names: Regression, BinaryClassification, MulticlassClassification."""
    if meta["task"] == "clustering":
        return "Clustering"
    if meta["task"] != "classification":
        return "Regression"
    return "BinaryClassification" if len(meta["classes"]) == 2 else "MulticlassClassification"


def _lower_word(value: Any) -> Any:
    """IAM_ROLE default is a word, shown as Redshift does; an ARN string is kept as it is."""
    return value.lower() if value == "DEFAULT" else value


def _text(value: Any) -> str:
    return value if isinstance(value, str) else json.dumps(value, default=str)


def trials(model: udfs.catalog.ModelVersion) -> list[dict[str, Any]]:
    """The trials of the search that trained this version (SHOW TRIALS, ML.TRIAL_INFO)."""
    found = model.metadata.get("trials")
    if not found:
        raise UnsupportedError(
            f"model {model.name} version {model.version} was trained without a search, so "
            "it has no trials: OPTIONS (search = ..., trials = ...), a list or RANGE value, "
            "or USING auto search"
        )
    return list(found)


def kept_trials(
    catalog: udfs.catalog.Catalog, model: udfs.catalog.ModelVersion
) -> dict[int, udfs.catalog.ModelVersion]:
    """Trial id → the model that scores that trial of the model's version in use: the model
    itself for the chosen trial, the trial's kept model (m.trial_N) for the best others.
    Trials whose model was not kept, or was kept for another version, are not in it."""
    kept = {t["trial_id"]: model for t in trials(model) if t["is_optimal"]}
    for found in catalog.trial_models(model.name):
        if found.metadata["trial_of"] == [model.name, model.version]:
            kept[found.metadata["trial_id"]] = found
    return kept


def show_trials(node: ml.ShowTrials, session: Session) -> Result:
    columns = {
        "trial_id": pa.int32(),
        "algorithm": pa.string(),
        "hyperparameters": pa.string(),
        "metric": pa.string(),
        "value": pa.float64(),
        "eval_loss": pa.float64(),
        "seconds": pa.float64(),
        "status": pa.string(),
        "error_message": pa.string(),
        "is_optimal": pa.bool_(),
        "model": pa.string(),
    }
    catalog = session.backend.catalog
    model = catalog.get(node.this)
    kept = kept_trials(catalog, model)
    rows = []
    for trial in trials(model):
        scored = kept.get(trial["trial_id"])  # what PREDICT names to score it
        trial = {**trial, "model": None if scored is None else scored.name}
        rows.append(
            [
                trial[c] if c != "hyperparameters" else json.dumps(trial[c], sort_keys=True)
                for c in columns
            ]
        )
    return ArrowResult.from_rows(columns, rows)


def show_runs(node: ml.ShowRuns, session: Session) -> Result:
    """Every training run, oldest first; sqlml.runs has their trials and facts too."""
    catalog = session.backend.catalog
    name = node.args.get("this")
    if name is not None and catalog.find(name) is None and not catalog.runs(name):
        catalog.get(name)  # neither a model nor the name of a run: told with close matches
    types = {"version": pa.int32(), "seconds": pa.float64(), "metric_value": pa.float64()}
    columns = {
        c: types.get(c, _ts if c == "started_at" else pa.string()) for c in catalog.RUN_COLUMNS
    }
    return ArrowResult.from_rows(columns, [tuple(r) for r in catalog.runs(name)])


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
    facts: list[tuple[str, str, Any]] = [
        ("model", "name", model.name),
        ("model", "version", model.version),
        ("model", "task", meta["task"]),
        ("model", "algorithm", meta["algorithm"]),
        ("model", "target", meta["target"]),
        ("model", "target_type", meta["target_sql_type"]),
        ("model", "classes", meta["classes"]),
        ("model", "function", model.function_name),
        ("model", "created_at", model.created_at.isoformat(sep=" ")),
        ("model", "rows_train", meta["rows_train"]),
        ("model", "rows_test", meta["rows_test"]),
        ("model", "onnx_sha256", model.onnx_sha256),
        ("model", "run_id", session.backend.catalog.run_of(model.name, model.version)),
    ]
    facts += [("feature", f["name"], f["sql_type"]) for f in meta["features"]]
    # What PREDICT's positional arguments and the FUNCTION take, as the engine declares
    # them (psql's \df shows the same): every number as a double, dates as timestamps, so
    # any column of the feature's kind fits, narrower ones cast implicitly.
    backend = session.backend
    facts += [
        (
            "argument",
            f["name"],
            backend.type_as_declared(
                getattr(udfs.sql_types.ARGUMENT_TYPES[f["kind"]], backend.name)
            ),
        )
        for f in meta["features"]
    ]
    annotations = meta.get("annotations", {})
    facts += [
        ("feature_table", use["table"], f"AS OF {use['as_of']}: {', '.join(use['features'])}")
        for use in annotations.get("features", [])
    ]
    if annotations.get("transform"):
        facts.append(
            ("transform", annotations["transform"]["dialect"], annotations["transform"]["select"])
        )
    options = {**meta["hyperparameters"], **meta["options"]}
    facts += [("option", key, value) for key, value in sorted(options.items())]
    facts += [("metric", key, value) for key, value in meta["metrics"].items()]
    facts += [("timing", f"{key}_seconds", value) for key, value in meta["timings"].items()]
    return facts_result(facts)


def model_metrics(
    model: udfs.catalog.ModelVersion, query: exp.Query | None, session: Session
) -> dict[str, Any]:
    """The metrics kept from training's hold-out rows, or the model's on ``query``'s rows,
    built as its training rows were (TRANSFORM, feature tables)."""
    if query is None:
        return model.metadata["metrics"]
    rows = model_rows(model, query, session)
    return session.backend.evaluate(model.name, session.query(rows))


def evaluate_model(node: ml.EvaluateModel, session: Session) -> Result:
    model = session.backend.catalog.get(node.this)
    metrics = model_metrics(model, node.args.get("query"), session)
    names = udfs.metrics.METRICS[model.task]
    columns = {name: pa.float64() for name in names}
    return ArrowResult.from_rows(columns, [tuple(metrics.get(name) for name in names)])


def explain_model(node: ml.ExplainModel, session: Session) -> Result:
    model = session.backend.catalog.get(node.this)
    columns = {"feature": pa.string(), "importance": pa.float64()}
    return ArrowResult.from_rows(columns, [tuple(r) for r in model.metadata["importance"]])


def drop_model(node: ml.DropModel, session: Session) -> Result:
    backend = session.backend
    version = node.args.get("version")
    if backend.catalog.find(node.this, version) is None:
        if node.args.get("if_exists"):
            return EmptyResult()
        backend.catalog.get(node.this, version)  # raises, naming close matches
    if version is None:
        backend.drop_model(node.this)
    else:
        backend.drop_model_version(node.this, version, bool(node.args.get("force")))
    return EmptyResult()


def alter_model_version(node: ml.AlterModelVersion, session: Session) -> Result:
    session.backend.catalog.get(node.this, node.args["version"])  # names what exists
    session.backend.set_model_version(node.this, node.args["version"])
    return EmptyResult()


def alter_model_rollback(node: ml.AlterModelRollback, session: Session) -> Result:
    """Back to the version in use before the one in use now (the catalog finds it under
    the model's lock); a notice says which."""
    catalog = session.backend.catalog
    before = catalog.get(node.this).version
    session.backend.set_model_version(node.this, None, udfs.catalog.ROLLED_BACK)
    now = catalog.get(node.this).version
    session.notice(f"model {node.this}: version {now} is in use again (was {before})")
    return EmptyResult()


def alter_model_owner(node: ml.AlterModelOwner, session: Session) -> Result:
    session.backend.catalog.get(node.this)  # names what exists
    session.backend.set_model_owner(node.this, node.args["owner"])
    return EmptyResult()


def retrain(node: ml.Retrain, session: Session) -> Result:
    name = node.this
    model = session.backend.catalog.get(name)  # an unknown model is told as such first
    using = model.metadata.get("algorithm", "lightgbm")
    raise UnsupportedError(
        f"RETRAIN is MindsDB's statement; sqlml trains a new version with CREATE OR REPLACE "
        f"MODEL {name} TARGET {model.metadata.get('target')} USING {using} AS <the training "
        f"query>. Version {model.version} serves until the new one is ready, and ALTER MODEL "
        f"{name} SET VERSION {model.version} goes back to it"
    )
