"""Every way into sqlml from inside PostgreSQL: each PL/Python function of schema sqlml, and
each function that serves a model, hands off to one function here (sql/sqlml--*.sql names
it in a comment above the function; udfs/pg_functions.py writes the models' bodies).

Scoring and training need only the database-side package (``udfs``); the statements that
run the whole client (parser, rewriter) load it on their first call, so a scoring
function's process never imports sqlglot.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from sqlml._udfs_loader import udfs

if TYPE_CHECKING:
    from sqlml.connection import Connection

# Run an entry point: a sqlml error becomes a PostgreSQL ERROR with its SQLSTATE.
call = udfs.pg_spi.call

# CREATE MODEL and EVALUATE read their rows inside the server.
train_model = udfs.pg_training.train_model
evaluate_model = udfs.pg_training.evaluate_model

# A model's functions, made and dropped by the SECURITY DEFINER functions.
install_model_functions = udfs.pg_functions.install_model_functions
drop_model = udfs.pg_functions.drop_model
set_model_version = udfs.pg_functions.set_model_version
drop_model_version = udfs.pg_functions.drop_model_version


def export_model(plpy: Any, name: str, version: int | None) -> bytes:
    """sqlml.export_model(): EXPORT MODEL's file, read with the caller's rights."""
    return udfs.portable.export(udfs.catalog.Catalog(udfs.pg_spi.SpiExecutor(plpy)), name, version)


# Scoring: a model's per-row and batch functions, and sqlml.predict(model, jsonb).
row_function = udfs.pg_scoring.row_function
predict_batch = udfs.pg_scoring.predict_batch
predict_json = udfs.pg_scoring.predict_json


# -- the client inside the server ------------------------------------------------------------


def _connection(plpy: Any, cache: dict[Any, Any]) -> Connection:
    from sqlml.backends.plpython import PlPythonBackend
    from sqlml.connection import Connection

    return Connection(PlPythonBackend(plpy, cache), progress=lambda m: plpy.notice(f"sqlml: {m}"))


def execute(plpy: Any, cache: dict[Any, Any], statement: str) -> list[str]:
    """sqlml.execute(): the statement's result rows, each as a JSON object."""
    cursor = _connection(plpy, cache).execute(statement)
    names = [d[0] for d in cursor.description or []]
    return [
        json.dumps(dict(zip(names, row, strict=True)), default=str) for row in cursor.fetchall()
    ]


def engine_sql(plpy: Any, cache: dict[Any, Any], statement: str) -> str:
    """sqlml.sql(): a query with sqlml's functions as PostgreSQL's own SQL, which
    sqlml.query() runs as a real table (RETURN QUERY EXECUTE)."""
    return _connection(plpy, cache).engine_sql(statement)


def engine_expression(plpy: Any, cache: dict[Any, Any], expression: str) -> str:
    """sqlml.sql_expression(): one expression computed row by row as PostgreSQL's SQL."""
    return _connection(plpy, cache).engine_expression(expression)


def command_rows(
    plpy: Any, cache: dict[Any, Any], command: str, model: str
) -> list[tuple[Any, ...]]:
    """Rows of DESCRIBE / EXPLAIN MODEL / SHOW MODEL VERSIONS for the table functions."""
    from sqlml.dialects import expressions as ml

    nodes: dict[str, type[ml.MLStatement]] = {
        "describe": ml.DescribeModel,
        "explain": ml.ExplainModel,
        "versions": ml.ShowModelVersions,
    }
    return _connection(plpy, cache).command(nodes[command](this=model)).fetchall()


def import_model(
    plpy: Any,
    cache: dict[Any, Any],
    name: str,
    data: bytes,
    task: str | None,
    features: list[str] | None,
    target: str | None,
    function_name: str | None,
    replace: bool,
) -> int:
    """sqlml.import_model(): IMPORT MODEL of the bytes given; the version stored."""
    from sqlml.dialects import expressions as ml

    node = ml.ImportModel(
        this=name,
        data=bytes(data),
        task=task,
        features=features,
        target=target,
        function=function_name,
        replace=bool(replace),
    )
    row = _connection(plpy, cache).command(node).fetchone()
    assert row is not None
    return int(row[1])


def evaluate_rows(
    plpy: Any, cache: dict[Any, Any], model: str, query: str | None
) -> list[tuple[Any, ...]]:
    """EVALUATE MODEL [ON (query)] as (metric, value) rows: the same statement, so the query's
    rows reach the model as its training rows did (TRANSFORM, feature tables)."""
    from sqlml.dialects import expressions as ml
    from sqlml.dialects import ml_dialect

    rows = None if query is None else ml_dialect("postgres").parse(query)[0]
    cursor = _connection(plpy, cache).command(ml.EvaluateModel(this=model, query=rows))
    names = [d[0] for d in cursor.description or []]
    return list(zip(names, cursor.fetchone() or (), strict=True))
