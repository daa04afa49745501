"""A query's way to the engine: sqlml's rewrite passes in their order, the check that none
of sqlml's nodes is left, and the engine's SQL.

Every pass takes the tree and the statement's Rewriting and changes the tree in place.
The order matters: BigQuery's ML.* table functions become subqueries with PREDICT calls;
FEATURES_AT_TIME becomes point-in-time joins; PREDICT(m, *) of a model with feature tables
gets its features joined in; then PREDICT calls become engine functions, in chunks where
the engine has batch functions (PostgreSQL), one call per row elsewhere.
"""

from __future__ import annotations

import functools
from collections.abc import Callable

from sqlglot import exp
from sqlglot.errors import ErrorLevel, SqlglotError

from sqlml.dialects import expressions as ml
from sqlml.errors import UnsupportedError
from sqlml.feature_tables.point_in_time import rewrite_feature_lookups, rewrite_features_at_time
from sqlml.parameters import take
from sqlml.predict.batch import rewrite_batches
from sqlml.predict.calls import name_bare_predictions, rewrite_prediction_calls
from sqlml.session import Query, Rewriting, Session
from sqlml.table_functions.rewrite import rewrite_table_functions

Pass = Callable[[exp.Expr, Rewriting], None]

PASSES: tuple[Pass, ...] = (
    rewrite_table_functions,
    rewrite_features_at_time,
    rewrite_feature_lookups,
    name_bare_predictions,
    rewrite_batches,
    rewrite_prediction_calls,
)

_ML_NODES = (ml.MLStatement, ml.MLPredict, ml.MLTableFunction, ml.FeaturesAtTime)


def engine_query(tree: exp.Expr, session: Session, used: dict[str, str] | None = None) -> Query:
    """The engine's SQL for ``tree`` (rewritten in place) with the values of the
    placeholders left in it (a pass may answer a part itself: ML.EVALUATE). ``used`` gets
    engine function → model for each PREDICT, so that an engine error about one can be told
    in the model's terms."""
    # Each pass reads the models it meets: one catalog read per model a statement names.
    rewriting = Rewriting(session, functools.cache(session.backend.catalog.get))
    for rewrite in PASSES:
        rewrite(tree, rewriting)
    if used is not None:
        used.update(rewriting.used)
    leftover = next(tree.find_all(*_ML_NODES), None)
    if leftover is not None:
        raise UnsupportedError(f"{leftover.key} cannot be used inside another statement")
    params = take(tree, session.params)
    engine = session.backend.name
    try:
        return Query(tree.sql(dialect=engine, unsupported_level=ErrorLevel.RAISE), params)
    except SqlglotError as error:
        raise UnsupportedError(f"cannot write this statement for {engine}: {error}") from error
