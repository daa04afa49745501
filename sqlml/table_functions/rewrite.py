"""BigQuery ML's table functions in FROM → plain subqueries the engine can run.

ML.PREDICT(MODEL m, TABLE t | (query) [, STRUCT(threshold AS ...)]) becomes a query over the
input rows, with PREDICT / PREDICT_PROBA calls that the later rewrites turn into the model's
engine functions: `predicted_<label>` (and, for classifiers, `predicted_<label>_probs`, a
list of (label, prob): a LIST of STRUCTs on DuckDB, a jsonb array on PostgreSQL), then the
input columns, as BigQuery returns them. The other functions are answered by sqlml
(sqlml/table_functions/answers.py) and inlined as a VALUES list, so any SQL around them works.
"""

from __future__ import annotations

from typing import Any

import pyarrow as pa
from sqlglot import exp

from sqlml._udfs_loader import udfs
from sqlml.dialects import expressions as ml
from sqlml.errors import InputSchemaError
from sqlml.models import transform
from sqlml.scope import describe_in_scope, replace_in_from
from sqlml.session import Rewriting, Session
from sqlml.table_functions import answers

_SOURCE, _SCORED = ml.SOURCE_ALIAS, "_sqlml_scored"


def rewrite_table_functions(tree: exp.Expr, rewriting: Rewriting) -> None:
    """Replace every ML.<function>(MODEL ...) in ``tree``, in place, by a subquery."""
    session = rewriting.session
    # Innermost first: an outer call puts a copy of its input rows into the tree.
    for node in reversed(list(tree.find_all(ml.MLTableFunction, bfs=True))):
        if node.this == "PREDICT":
            query = predict_query(node, session)
        else:
            query = inline(answers.answer(node, session))
        replace_in_from(node, query, node.this.lower())


def inline(table: pa.Table) -> exp.Select:
    """A small table as ``SELECT CAST(c0 AS type) AS name, ... FROM (VALUES ...)``: its
    values are literals written by sqlglot, never pasted text."""
    names = table.column_names
    types = [_sql_type(f.type) for f in table.schema]
    rows = [list(row.values()) for row in table.to_pylist()]
    if not rows:
        nulls = [
            exp.cast(exp.null(), t).as_(n, quoted=True) for n, t in zip(names, types, strict=True)
        ]
        return exp.select(*nulls).where(exp.false())
    positions = [f"c{i}" for i in range(len(names))]
    values = exp.values([tuple(exp.convert(v) for v in row) for row in rows], "_sqlml_v", positions)
    return exp.select(
        *(
            exp.cast(exp.column(p), t).as_(n, quoted=True)
            for p, t, n in zip(positions, types, names, strict=True)
        )
    ).from_(values)


def _sql_type(arrow_type: pa.DataType) -> exp.DataType:
    return exp.DataType.build(udfs.sql_types.of_arrow(arrow_type).postgres, dialect="postgres")


def predict_query(node: ml.MLTableFunction, session: Session) -> exp.Select:
    answers.check_params(node)
    model = answers.model_of(node, session)
    query = node.args.get("query")
    if query is None:
        raise InputSchemaError(
            f"ML.PREDICT needs input rows: ML.PREDICT(MODEL {model.name}, TABLE t | (query))"
        )
    threshold = answers.threshold(node, model)
    described = describe_in_scope(session, query, node)
    meta = model.metadata
    clustering = model.task == "clustering"
    label = "CENTROID_ID" if clustering else f"predicted_{meta['target']}"
    classes = meta["classes"] if model.task != "regression" else []
    binary = len(classes) == 2 and not clustering

    # By name from the input's columns, or through the model's TRANSFORM.
    arguments = transform.feature_arguments(model) or [
        exp.Column(this=exp.Star(), table=exp.to_identifier(_SOURCE))
    ]

    def call(proba: bool) -> ml.MLPredict:
        model_name = exp.to_identifier(model.name, quoted=True)
        expressions = [a.copy() for a in arguments]
        return ml.MLPredict(this=model_name, expressions=expressions, proba=proba)

    scored: list[exp.Expr] = [exp.Column(this=exp.Star(), table=exp.to_identifier(_SOURCE))]
    if classes:
        scored.append(call(proba=True).as_("_sqlml_p"))
    if not binary:
        scored.append(call(proba=False).as_("_sqlml_label"))
    inner = exp.select(*scored).from_(query.subquery(_SOURCE))

    probability = exp.column("_sqlml_p", table=_SCORED)
    if binary:  # one model call: the label is the positive class above the threshold
        above = exp.GT(this=probability, expression=exp.convert(threshold or 0.5))
        predicted: exp.Expr = exp.Case(
            ifs=[exp.If(this=above, true=exp.convert(classes[1]))], default=exp.convert(classes[0])
        )
    else:
        predicted = exp.column("_sqlml_label", table=_SCORED)
    outputs = [predicted.as_(label, quoted=True)]
    if clustering:  # BigQuery's distance to each centroid
        pairs = _pairs(session.backend.name, classes, probability, False, "CENTROID_ID", "DISTANCE")
        outputs.append(pairs.as_("NEAREST_CENTROIDS_DISTANCE", quoted=True))
    elif classes:
        probs = _pairs(session.backend.name, classes, probability, binary, "label", "prob")
        outputs.append(probs.as_(f"{label}_probs", quoted=True))
    outputs += [
        exp.column(exp.to_identifier(name, quoted=True), table=_SCORED) for name in described
    ]
    return exp.select(*outputs).from_(inner.subquery(_SCORED))


def _pairs(
    engine: str, classes: list[Any], probability: exp.Expr, binary: bool, key: str, value: str
) -> exp.Expr:
    """BigQuery's ARRAY<STRUCT<key, value>> from PREDICT_PROBA's answer: a binary
    classifier's positive class's probability, else a MAP / jsonb object of class (or
    centroid) → probability (or distance)."""
    pairs: list[tuple[exp.Expr, exp.Expr]] = []
    for i, label in enumerate(classes):
        if binary:
            prob = (
                probability.copy()
                if i == 1
                else exp.Sub(this=exp.convert(1), expression=probability.copy())
            )
        elif engine == "postgres":
            prob = exp.Anonymous(
                this="jsonb_extract_path",
                expressions=[probability.copy(), exp.Literal.string(str(label))],
            )
        else:  # not m[k]: sqlglot takes an integer k for a list's position and shifts it
            prob = exp.Anonymous(
                this="map_extract_value", expressions=[probability.copy(), exp.convert(label)]
            )
        pairs.append((exp.convert(label), prob))
    if engine == "postgres":
        objects = [
            exp.Anonymous(
                this="jsonb_build_object",
                expressions=[exp.Literal.string(key), label, exp.Literal.string(value), prob],
            )
            for label, prob in pairs
        ]
        return exp.Anonymous(this="jsonb_build_array", expressions=objects)
    return exp.Array(
        expressions=[
            exp.Struct(
                expressions=[
                    exp.PropertyEQ(this=exp.to_identifier(key), expression=label),
                    exp.PropertyEQ(this=exp.to_identifier(value), expression=prob),
                ]
            )
            for label, prob in pairs
        ]
    )
