"""PREDICT(model, ...) and PREDICT_PROBA(model, ...) → calls of the model's engine functions."""

from __future__ import annotations

from typing import Any

from sqlglot import exp

from sqlml._udfs_loader import udfs
from sqlml.dialects import expressions as ml
from sqlml.dialects.parsing import name_of
from sqlml.errors import InputSchemaError, SqlmlSyntaxError
from sqlml.session import ModelLookup, Rewriting


def signature(model: udfs.catalog.ModelVersion) -> str:
    features = ", ".join(f"{f['name']} {f['sql_type']}" for f in model.metadata["features"])
    return f"{model.name}({features})"


def model_name(node: ml.MLPredict) -> str:
    function = "PREDICT_PROBA" if node.args.get("proba") else "PREDICT"
    if node.this is None:
        raise SqlmlSyntaxError(f"{function} needs a model name as its first argument")
    try:
        return name_of(node.this)
    except ValueError:
        raise SqlmlSyntaxError(
            f"{function}'s first argument must be a model name, not {node.this.sql()}"
        ) from None


def expand_arguments(node: ml.MLPredict, model: udfs.catalog.ModelVersion) -> list[exp.Expr]:
    """The call's feature arguments in the model's order (``*`` and ``t.*`` spelled out)."""
    proba = bool(node.args.get("proba"))
    if proba and model.task == "regression":
        raise InputSchemaError(
            f"PREDICT_PROBA({model.name}, ...): model {model.name!r} is a {model.task} model; "
            "use PREDICT for its values"
        )
    return _arguments("PREDICT_PROBA" if proba else "PREDICT", model, node.expressions)


def name_bare_predictions(tree: exp.Expr, rewriting: Rewriting) -> None:
    """`SELECT PREDICT(m, *)` shows a column named predict, not the engine function's name."""
    for node in list(tree.find_all(ml.MLPredict)):
        if isinstance(node.parent, exp.Select) and node.arg_key == "expressions":
            label = "predict_proba" if node.args.get("proba") else "predict"
            node.replace(exp.alias_(node.copy(), label))


def rewrite_prediction_calls(tree: exp.Expr, rewriting: Rewriting) -> None:
    """Every PREDICT left (those no batch took) → a call of the model's per-row function."""
    schema = rewriting.session.backend.function_schema
    rewriting.used.update(rewrite_predictions(tree, rewriting.models, schema))


def rewrite_predictions(
    tree: exp.Expr, lookup: ModelLookup, schema: str | None = None
) -> dict[str, str]:
    """Replace every PREDICT in ``tree`` in place by a call of the model's per-row engine
    function; returns engine function → model name, so that an engine error about one of
    them can be told in the model's terms."""
    used: dict[str, str] = {}
    for node in list(tree.find_all(ml.MLPredict)):
        name = model_name(node)
        arguments = expand_arguments(node, lookup(name))
        engine_function = udfs.naming.predict_function(name, proba=bool(node.args.get("proba")))
        used[engine_function] = name
        call = exp.Anonymous(this=exp.to_identifier(engine_function), expressions=arguments)
        node.replace(exp.Dot(this=exp.to_identifier(schema), expression=call) if schema else call)
    return used


def _arguments(
    function: str, model: udfs.catalog.ModelVersion, given: list[exp.Expr]
) -> list[exp.Expr]:
    features = [f["name"] for f in model.metadata["features"]]
    stars = [e for e in given if star_table(e) is not False]
    if stars:
        if len(given) != 1:
            raise InputSchemaError(
                f"{function}({model.name}, ...): give either * (or t.*) alone, or every feature "
                f"in order: {signature(model)}"
            )
        table = star_table(stars[0])
        return [exp.column(exp.to_identifier(name, quoted=True), table=table) for name in features]
    if len(given) != len(features):
        raise InputSchemaError(
            f"{function}({model.name}, ...) got {len(given)} argument(s) but the model takes "
            f"{len(features)}: {signature(model)}"
        )
    return given


def star_table(node: exp.Expr) -> Any:
    """For ``*``: None; for ``t.*``: t's identifier; for anything else: False."""
    if isinstance(node, exp.Star):
        return None
    if isinstance(node, exp.Column) and isinstance(node.this, exp.Star):
        return node.args.get("table")
    return False
