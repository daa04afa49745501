"""DuckDB's side of PREDICT: Arrow-vectorised Python UDFs over a Predictor.

DuckDB calls an Arrow UDF with one 2,048-row chunk per argument; onnxruntime releases the
GIL while it runs, so DuckDB's threads score chunks in parallel.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import duckdb
import duckdb.func
from duckdb import sqltypes

from .answers import Answer, answer_of
from .features import Feature
from .sql_types import ARGUMENT_TYPES, BY_ARROW_NAME, TEXT

if TYPE_CHECKING:
    from _duckdb._typing import IntoPyType  # what create_function takes as a type


def argument_types(features: list[Feature]) -> list[IntoPyType]:
    return [duckdb.sqltype(ARGUMENT_TYPES[f.kind].duckdb) for f in features]


def return_type(metadata: dict[str, Any], proba: bool) -> duckdb.sqltypes.DuckDBPyType:
    kind = answer_of(metadata, proba)
    if kind in (Answer.VALUE, Answer.PROBABILITY):
        return sqltypes.DOUBLE
    label = duckdb.sqltype(BY_ARROW_NAME.get(metadata["label_type"], TEXT).duckdb)
    if kind in (Answer.LABEL, Answer.CENTROID):
        return label
    return duckdb.map_type(label, sqltypes.DOUBLE)


def register(
    con: duckdb.DuckDBPyConnection,
    function_name: str,
    metadata: dict[str, Any],
    score: Callable[[tuple], Any],
    proba: bool,
) -> None:
    """Register ``function_name(features...)`` that answers with ``score(columns)``."""
    features = [Feature.from_json(f) for f in metadata["features"]]

    def udf(*columns: Any) -> Any:
        return score(columns)

    # DuckDB reads the arity from the signature and takes no *args.
    udf.__signature__ = inspect.Signature(  # type: ignore[attr-defined]
        [
            inspect.Parameter(f"arg{i}", inspect.Parameter.POSITIONAL_ONLY)
            for i in range(len(features))
        ]
    )
    con.create_function(
        function_name,
        udf,
        argument_types(features),
        return_type(metadata, proba),
        type=duckdb.func.ARROW,
        null_handling=duckdb.func.SPECIAL,
        side_effects=False,
    )
