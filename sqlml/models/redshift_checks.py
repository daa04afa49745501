"""The data checks of Redshift ML's CREATE MODEL form, made against the training query.

The TARGET column found among the query's columns; the task the statement leaves to the data
(LINEAR_LEARNER needs one before training) and the class count its PROBLEM_TYPE or OBJECTIVE
implies, checked against the target's distinct values; and FUNCTION f (types) checked against
the kinds of the query's feature columns. Type names are read with sqlglot.
"""

from __future__ import annotations

from typing import Any

from sqlglot import exp
from sqlglot.errors import SqlglotError

from sqlml._udfs_loader import udfs
from sqlml.errors import InputSchemaError, InvalidTrainingDataError, close_matches
from sqlml.session import Query, Session

# Engine column kinds: what a declared FUNCTION argument type must agree with, and what a
# target's task depends on.
_KINDS = (
    ("number", exp.DataType.NUMERIC_TYPES),
    ("text", exp.DataType.TEXT_TYPES | {exp.DataType.Type.BPCHAR}),
    ("boolean", {exp.DataType.Type.BOOLEAN}),
    ("date-time", exp.DataType.TEMPORAL_TYPES),
)


def query_column(columns: list[tuple[str, str]], name: str, clause: str) -> str:
    """The query's column for ``name``: exact, else the one equal but for case."""
    names = [c for c, _ in columns]
    found = udfs.naming.matching_column(names, name)
    if found is not None:
        return found
    raise InvalidTrainingDataError(
        f"{clause} {name}: not among the query's columns ({', '.join(names)})."
        f"{close_matches(name, names)}"
    )


def check_task(
    session: Session,
    query: Query,
    target: tuple[str, str],
    redshift: dict[str, Any],
    task: str | None,
    classes: int | None,
) -> str:
    """The task when the statement leaves it to the data (LINEAR_LEARNER needs it before
    training), and the class count a binary / multiclass PROBLEM_TYPE or OBJECTIVE implies
    checked against the data's, so that neither is silently wrong."""
    name, sql_type = target
    data_type = _engine_type(sql_type)
    kind = _kind(data_type)
    clause = "PROBLEM_TYPE" if "problem_type" in redshift else "OBJECTIVE"
    written = redshift.get("problem_type") or redshift.get("objective")
    if task == "regression":
        if kind != "number":
            raise InvalidTrainingDataError(
                f"{clause} {written}: regression needs a numeric target, and {name!r} is {sql_type}"
            )
        return task
    if task is None:  # the trainer's own inference (README: Task), decided before training
        integer = data_type is not None and data_type.this in exp.DataType.INTEGER_TYPES
        return udfs.tasks.inferred_task(
            numeric=kind == "number",
            integer=integer,
            distinct=lambda: _distinct(session, query, name),
        )
    distinct = _distinct(session, query, name)
    if classes == 2 and distinct > 2:
        raise InvalidTrainingDataError(
            f"{clause} {written}: binary classification, but target {name!r} has "
            f"{distinct} classes; use MULTICLASS_CLASSIFICATION"
        )
    if classes == 3 and distinct == 2:
        session.notice(
            f"{clause} {written}: target {name!r} has 2 classes; trained a binary classifier"
        )
    return task


def check_function_types(
    function: str | None,
    declared: list[str],
    columns: list[tuple[str, str]],
    target: str,
) -> None:
    """FUNCTION f (types): one declared type per feature column, each of the column's kind
    (int against float is fine; text against a number is not)."""
    features = [(name, sql_type) for name, sql_type in columns if name != target]
    if len(declared) != len(features):
        raise InputSchemaError(
            f"FUNCTION {function} declares {len(declared)} argument types, but the query has "
            f"{len(features)} feature columns ({', '.join(n for n, _ in features)})"
        )
    for position, (written, (name, sql_type)) in enumerate(
        zip(declared, features, strict=True), start=1
    ):
        wanted = _kind(_data_type(written, "redshift"))
        found = _kind(_engine_type(sql_type))
        if wanted is None or wanted != found:
            raise InputSchemaError(
                f"FUNCTION {function}: argument {position} is declared {written} "
                f"({wanted or 'unknown kind'}), but column {name!r} is {sql_type} "
                f"({found or 'unknown kind'})"
            )


def _distinct(session: Session, query: Query, column: str) -> int:
    name = exp.to_identifier(column, quoted=True).sql(dialect=session.backend.name)
    sql = f"SELECT COUNT(DISTINCT {name}) FROM ({query.sql}) AS _sqlml_target"
    (row,) = session.backend.run(sql, query.params).fetchall()
    return int(row[0])


def _data_type(type_name: str, dialect: str) -> exp.DataType | None:
    try:
        return exp.DataType.build(type_name, dialect=dialect)
    except (SqlglotError, ValueError):
        return None


def _engine_type(type_name: str) -> exp.DataType | None:
    """An engine's type name (PostgreSQL's or DuckDB's), read by a dialect that knows it."""
    for dialect in ("postgres", "duckdb"):
        data_type = _data_type(type_name, dialect)
        if data_type is not None and data_type.this != exp.DataType.Type.USERDEFINED:
            return data_type
    return None


def _kind(data_type: exp.DataType | None) -> str | None:
    """number, text, boolean or date-time; None for any other type."""
    if data_type is None:
        return None
    return next((kind for kind, types in _KINDS if data_type.this in types), None)
