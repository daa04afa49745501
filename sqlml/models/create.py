"""CREATE [OR REPLACE] MODEL [IF NOT EXISTS]."""

from __future__ import annotations

import contextlib
import hashlib
import json
import time

import pyarrow as pa

from sqlml._udfs_loader import udfs
from sqlml.dialects import expressions as ml
from sqlml.errors import ModelExistsError, SqlmlSyntaxError, UnsupportedError
from sqlml.feature_tables import point_in_time as features
from sqlml.models import bigquery, redshift, transform
from sqlml.models.forms import Translated
from sqlml.result import ArrowResult, Result
from sqlml.session import Query, Session

DEFAULT_ALGORITHM = "lightgbm"

SUMMARY_COLUMNS = {
    "model": pa.string(),
    "version": pa.int32(),
    "task": pa.string(),
    "algorithm": pa.string(),
    "rows_train": pa.int64(),
    "rows_test": pa.int64(),
    "metric": pa.string(),
    "metric_value": pa.float64(),
    "seconds": pa.float64(),
}


def create_model(node: ml.CreateModel, session: Session) -> Result:
    started = time.perf_counter()
    backend, catalog = session.backend, session.backend.catalog
    name: str = node.this
    if not may_store(node, session, "CREATE MODEL"):
        return ArrowResult.from_rows(SUMMARY_COLUMNS, [])
    query = node.args.get("query")
    projections, sources = node.args.get("transform"), node.args.get("features")
    if projections and sources:
        raise UnsupportedError("CREATE MODEL: TRANSFORM and FEATURES cannot be combined")
    if projections and query is not None:  # BigQuery's TRANSFORM: train on its select list
        transform.check(projections)
        query = transform.over(query, projections)
    excluded: list[str] = []
    used: list[dict] = []
    if sources and query is not None and not node.args.get("redshift"):
        # The spine joined point-in-time to the feature tables; its keys and times are
        # not features.
        query, excluded, used = features.training_rows(
            query, [(f.this, f.args.get("as_of")) for f in sources], session
        )
    bound = session.query(query) if query is not None else None
    clauses = _clauses(node, session, bound)
    if projections:
        clauses.annotations["transform"] = transform.annotation(projections, session.dialect)
    if used:
        clauses.annotations["features"] = used
    for notice in clauses.notices:
        session.notice(notice)
    algorithm = clauses.algorithm or DEFAULT_ALGORITHM
    own, hyperparameters = udfs.algorithms.split_options(clauses.options)
    # Checked before any row is read: the search (what does not depend on the task), or
    # the algorithm's options.
    udfs.catalog.deploy_rule(own)
    if udfs.search.wanted(own, hyperparameters, algorithm):
        udfs.search.plan(own, hyperparameters, algorithm, clauses.task)
    else:
        udfs.algorithms.algorithm(algorithm).check_options(hyperparameters)
    function_name = node.args.get("function")
    if function_name:
        check_function_name(session, name, function_name)

    request = udfs.train.TrainRequest(
        target=clauses.target,
        algorithm=algorithm,
        task=clauses.task,
        options=clauses.options,
        annotations=clauses.annotations,
        exclude=tuple(excluded),
        replace=bool(node.args.get("replace")),
    )
    assert bound is not None  # only Redshift's bring-your-own-model has none: refused
    run = udfs.catalog.Run.start(name, clauses.options)
    run.facts["data"] = {"query_sha256": _fingerprint(bound)}
    try:
        version = backend.create_model(name, bound, request, function_name, session.progress)
    except BaseException as error:
        if isinstance(error, ModelExistsError) and node.args.get("if_not_exists"):
            return ArrowResult.from_rows(SUMMARY_COLUMNS, [])  # another session stored it
        _record(session, run, _outcome(error), error)
        raise
    session.progress(f"model {name} version {version} is ready")
    stored = catalog.get(name, version)
    run.finished("succeeded", version, stored.metadata)
    with backend.transaction():
        catalog.record_run(run)
    if stored.current_version != version:
        session.notice(_not_in_use(stored, catalog.get(name)))
    return summary(stored, time.perf_counter() - started)


def _not_in_use(stored: udfs.catalog.ModelVersion, in_use: udfs.catalog.ModelVersion) -> str:
    """deploy = 'best' kept the version in use: why."""
    metric = udfs.metrics.primary_metric(stored.task)
    ours, theirs = stored.metadata["metrics"].get(metric), in_use.metadata["metrics"].get(metric)
    return (
        f"model {stored.name} version {stored.version} is stored but not in use: its {metric} "
        f"{ours:.4f} does not beat version {in_use.version}'s {theirs:.4f} (deploy = 'best'); "
        f"ALTER MODEL {stored.name} SET VERSION {stored.version} puts it in use"
    )


def _fingerprint(query: Query) -> str:
    """The training query's hash: its text and its bound values."""
    text = json.dumps([query.sql, list(query.params)], default=str)
    return hashlib.sha256(text.encode()).hexdigest()


def _outcome(error: BaseException) -> str:
    """A run stopped by Ctrl-C or a cancel is cancelled; any other error failed it."""
    cancelled = isinstance(error, KeyboardInterrupt) or getattr(error, "sqlstate", "") == "57014"
    engine = getattr(error, "engine_error", None)
    return "cancelled" if cancelled or getattr(engine, "sqlstate", "") == "57014" else "failed"


def _record(session: Session, run: udfs.catalog.Run, status: str, error: BaseException) -> None:
    """Record a run that did not store a model, where the connection still can (a client
    inside its user's failed BEGIN block cannot)."""
    run.finished(status, None, {})
    run.error_message = f"{type(error).__name__}: {error}"
    with contextlib.suppress(Exception):  # an aborted transaction (the user's BEGIN)
        session.backend.record_failed_run(run)


def may_store(node: ml.CreateModel | ml.ImportModel, session: Session, statement: str) -> bool:
    """Whether the statement stores its model: False for IF NOT EXISTS of a model that
    exists; an error for a name that exists without OR REPLACE, or a kept trial's name."""
    name: str = node.this
    if udfs.catalog.is_trial_model_name(name):
        raise SqlmlSyntaxError(
            f"{statement} {name}: a name ending in {udfs.catalog.TRIAL_MARK}<n> is a kept "
            "trial of a search; choose another name"
        )
    if session.backend.catalog.find(name) is None:
        return True
    if node.args.get("if_not_exists"):
        return False
    if not node.args.get("replace"):
        raise udfs.catalog.model_exists(name)
    return True


def summary(model: udfs.catalog.ModelVersion, seconds: float) -> Result:
    """CREATE MODEL's (and IMPORT MODEL's) one row: the version stored."""
    metric = udfs.metrics.primary_metric(model.task)
    meta = model.metadata
    row = (
        model.name,
        model.version,
        model.task,
        meta["algorithm"],
        meta["rows_train"],
        meta["rows_test"],
        metric,
        meta["metrics"].get(metric),
        round(seconds, 3),
    )
    return ArrowResult.from_rows(SUMMARY_COLUMNS, [row])


def _clauses(node: ml.CreateModel, session: Session, query: Query | None) -> Translated:
    """What to train, from sqlml's clauses, BigQuery's OPTIONS or Redshift ML's clauses."""
    options = dict(node.args.get("options") or {})
    if node.args.get("redshift"):
        return redshift.from_redshift(node.args, session, query)
    if bigquery.is_bigquery_form(options):
        return bigquery.from_bigquery(options, node.args)
    algorithm = node.args.get("algorithm")
    if udfs.train.is_clustering(algorithm or ""):
        if node.args.get("target"):
            raise SqlmlSyntaxError(
                f"USING {algorithm} finds clusters and takes no TARGET: leave TARGET out"
            )
        return Translated("", algorithm, "clustering", options)
    if not node.args.get("target"):
        raise SqlmlSyntaxError(
            "CREATE MODEL needs TARGET <label column> (or BigQuery's OPTIONS (input_label_cols "
            "= ['column']))"
        )
    return Translated(
        node.args["target"], node.args.get("algorithm"), node.args.get("task"), options
    )


def check_function_name(session: Session, model: str, function_name: str) -> None:
    udfs.naming.check_identifier(function_name, "FUNCTION")
    owner = session.backend.catalog.owner_of_function(function_name)
    if owner is not None and owner != model:
        raise ModelExistsError(
            f"FUNCTION {function_name} already serves model {owner!r}; choose another name"
        )
    if owner is None and session.backend.function_exists(function_name):
        raise ModelExistsError(
            f"FUNCTION {function_name}: the database already has a function of that name"
        )
    session.backend.check_may_create_function(function_name)
