"""BigQuery's TRANSFORM: a select list over the training query that becomes part of the model.

`CREATE MODEL m TRANSFORM (a * 2 AS a2, * EXCEPT (b), label) OPTIONS (...) AS query` trains on
`SELECT a * 2 AS a2, * EXCEPT (b), label FROM (query)`. The select list is kept with the
model (as SQL of the dialect it was written in) and applied again to the rows that
ML.PREDICT scores and ML.EVALUATE / EVALUATE MODEL ... ON evaluates, so a model sees the same
expressions at training and afterwards. Row-wise expressions only: a window or aggregate
would be computed over other rows at prediction time than at training, so it is refused.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import sqlglot
from sqlglot import exp

from sqlml.dialects import expressions as ml
from sqlml.dialects import ml_dialect
from sqlml.errors import SqlmlSyntaxError, UnsupportedError

if TYPE_CHECKING:
    from sqlml._udfs_loader import udfs

_SOURCE = ml.SOURCE_ALIAS


def check(projections: list[exp.Expr]) -> None:
    """Refuse what cannot be applied row by row, naming the expression."""
    for projection in projections:
        if isinstance(projection, exp.Star) or (
            isinstance(projection, exp.Column) and isinstance(projection.this, exp.Star)
        ):
            continue
        if not projection.alias_or_name:
            raise SqlmlSyntaxError(
                f"TRANSFORM: give {projection.sql()} a name (expression AS name)"
            )
        nodes = list(projection.walk())
        for node in nodes:
            if isinstance(node, exp.Dot) and node.this.name.upper() == "ML":
                raise UnsupportedError(
                    f"TRANSFORM: {node.sql()} (BigQuery ML's preprocessing functions) is not "
                    "available; write the expression in SQL, sqlml preprocesses the features "
                    "itself (scaling, one-hot encoding, missing values)"
                )
        for node in nodes:
            if isinstance(node, exp.Window | exp.AggFunc):
                raise UnsupportedError(
                    f"TRANSFORM: {projection.sql()} uses {node.sql()}, which depends on other "
                    "rows; only row-wise expressions can be kept with a model"
                )


def annotation(projections: list[exp.Expr], dialect: str) -> dict[str, Any]:
    """What the model keeps: the select list, in the dialect it was written in."""
    select = exp.select(*projections).from_(_SOURCE)
    return {"dialect": dialect, "select": select.sql(dialect=ml_dialect(dialect))}


def over(query: exp.Query, projections: list[exp.Expr]) -> exp.Select:
    """SELECT <projections> FROM (query)."""
    return exp.select(*(p.copy() for p in projections)).from_(query.subquery(_SOURCE))


def stored_projections(model: udfs.catalog.ModelVersion) -> list[exp.Expr] | None:
    kept = model.metadata.get("annotations", {}).get("transform")
    if not kept:
        return None
    select = sqlglot.parse_one(kept["select"], read=ml_dialect(kept["dialect"]))
    return list(select.expressions)


def model_rows(model: udfs.catalog.ModelVersion, query: exp.Query) -> exp.Query:
    """The rows a model is evaluated on: ``query`` through the model's TRANSFORM, if any."""
    projections = stored_projections(model)
    return query if projections is None else over(query, projections)


def feature_arguments(model: udfs.catalog.ModelVersion) -> list[exp.Expr] | None:
    """For a model with a TRANSFORM, each feature's expression over the input columns, in
    the model's feature order (a feature a `*` passes through is its own column)."""
    projections = stored_projections(model)
    if projections is None:
        return None
    named = {p.alias_or_name: p.unalias() for p in projections if p.alias_or_name}
    return [
        named.get(f["name"], exp.column(exp.to_identifier(f["name"], quoted=True))).copy()
        for f in model.metadata["features"]
    ]
