"""How a SQL column becomes a model input, identically at training and at prediction."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any, Literal

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from sqlml.errors import InvalidTrainingDataError

from .sql_types import BY_ARROW_NAME, TEXT

Kind = Literal["numeric", "boolean", "categorical", "temporal"]

# Text categories reach ONNX as strings, which cannot be NULL: NULL becomes this value,
# which training sees as one more category (or an unknown one).
NULL_CATEGORY = ""
_MICROS_PER_DAY = 86_400_000_000


@dataclass(frozen=True)
class Feature:
    name: str
    sql_type: str
    kind: Kind

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Feature:
        return cls(**data)

    @property
    def onnx_is_string(self) -> bool:
        return self.kind == "categorical"


def kind_of(arrow_type: pa.DataType, column: str) -> Kind:
    if pa.types.is_boolean(arrow_type):
        return "boolean"
    if pa.types.is_integer(arrow_type) or pa.types.is_floating(arrow_type):
        return "numeric"
    if pa.types.is_decimal(arrow_type):
        return "numeric"
    if pa.types.is_string(arrow_type) or pa.types.is_large_string(arrow_type):
        return "categorical"
    if pa.types.is_dictionary(arrow_type) and pa.types.is_string(arrow_type.value_type):
        return "categorical"
    if pa.types.is_date(arrow_type) or pa.types.is_timestamp(arrow_type):
        return "temporal"
    raise InvalidTrainingDataError(
        f"column {column!r} has type {arrow_type}, which sqlml cannot use as a feature "
        "(use numbers, text, booleans, dates or timestamps; cast or leave it out)"
    )


def to_model_input(column: pa.Array | pa.ChunkedArray, feature: Feature) -> np.ndarray:
    """One column as the ONNX graph's input for it: float32 [n, 1] or string [n, 1].

    NULL numbers become NaN (the graph imputes them), NULL text the empty category,
    booleans 0/1, dates and timestamps days since 1970-01-01.
    """
    if isinstance(column, pa.ChunkedArray):
        column = column.combine_chunks() if column.num_chunks != 1 else column.chunk(0)
    if feature.kind == "categorical":
        if pa.types.is_dictionary(column.type):
            column = column.cast(pa.string())
        if not (pa.types.is_string(column.type) or pa.types.is_large_string(column.type)):
            column = pc.cast(column, pa.string())
        values = pc.fill_null(column, NULL_CATEGORY).to_numpy(zero_copy_only=False)
        return values.astype(object).reshape(-1, 1)
    if feature.kind == "temporal":
        column = _days_since_epoch(column)
    elif feature.kind == "boolean" or pa.types.is_decimal(column.type):
        column = pc.cast(column, pa.float64())
    if column.null_count:
        column = pc.fill_null(pc.cast(column, pa.float64()), np.nan)
    values = column.to_numpy(zero_copy_only=False)
    return values.astype(np.float32, copy=False).reshape(-1, 1)


def _days_since_epoch(column: pa.Array) -> pa.Array:
    if pa.types.is_date(column.type):
        return pc.cast(pc.cast(column, pa.date32()), pa.int32()).cast(pa.float64())
    micros = pc.cast(column.cast(pa.timestamp("us", tz=column.type.tz)), pa.int64())
    return pc.divide(pc.cast(micros, pa.float64()), float(_MICROS_PER_DAY))


def label_arrow_type(name: str) -> pa.DataType:
    """The Arrow type in which PREDICT returns a classifier's labels."""
    return BY_ARROW_NAME.get(name, TEXT).arrow


# The ONNX graph's inputs (see convert.py): one matrix per kind of value.
NUMERIC_INPUT = "numeric"
CATEGORICAL_INPUT = "categorical"


def model_inputs(features: list[Feature], columns: list[Any]) -> dict[str, np.ndarray]:
    """Columns (Arrow arrays, or [n, 1] arrays already converted) as the graph's inputs."""
    numeric: list[np.ndarray] = []
    categorical: list[np.ndarray] = []
    for feature, column in zip(features, columns, strict=True):
        values = column if isinstance(column, np.ndarray) else to_model_input(column, feature)
        (categorical if feature.onnx_is_string else numeric).append(values)
    inputs = {}
    if numeric:
        inputs[NUMERIC_INPUT] = np.hstack(numeric) if len(numeric) > 1 else numeric[0]
    if categorical:
        inputs[CATEGORICAL_INPUT] = (
            np.hstack(categorical) if len(categorical) > 1 else categorical[0]
        )
    return inputs


def row_inputs(features: list[Feature], values: list[Any]) -> dict[str, np.ndarray]:
    """One row of Python values (as PL/Python or JSON hands them) as the graph's inputs."""
    numbers = [
        number_of(f, v) for f, v in zip(features, values, strict=True) if not f.onnx_is_string
    ]
    texts = [
        NULL_CATEGORY if v is None else str(v)
        for f, v in zip(features, values, strict=True)
        if f.onnx_is_string
    ]
    inputs = {}
    if numbers:
        inputs[NUMERIC_INPUT] = np.array([numbers], dtype=np.float32)
    if texts:
        inputs[CATEGORICAL_INPUT] = np.array([texts], dtype=object)
    return inputs


def number_of(feature: Feature, value: Any) -> float:
    """A feature's value as the graph's float (NULL as NaN), or an error naming it."""
    if value is None:
        return np.nan
    if feature.kind == "temporal":
        stamp = np.datetime64(str(value).replace(" ", "T")[:26], "us")
        return (stamp - np.datetime64(0, "us")) / np.timedelta64(1, "D")
    try:
        return float(value)
    except (TypeError, ValueError):
        from sqlml.errors import InputSchemaError

        raise InputSchemaError(
            f"feature {feature.name!r} ({feature.sql_type}) cannot take {value!r}"
        ) from None
