"""CREATE MODEL and EVALUATE inside the PostgreSQL server: a query's rows read column-wise
through SPI, then trained or scored by the same code as in any other engine."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import numpy as np
import pyarrow as pa

from sqlml.errors import InvalidTrainingDataError

from .catalog import Catalog
from .pg_spi import SpiExecutor, describe
from .predict import Predictor
from .sql_types import POSTGRES_NUMBERS, base_name
from .train import TrainRequest, check_columns, evaluate, train

_NAN = "'\\x7ff8000000000000'::bytea"


def read_query(plpy: Any, query: str) -> tuple[pa.Table, dict[str, str]]:
    """All rows of a query as Arrow, read column-wise in one aggregate pass.

    Numbers, booleans and times travel as one float8-packed bytea per column (NULL as
    NaN), text as one array: SPI then builds a handful of Python objects instead of one per
    value. Every aggregate of one pass sees the rows in the same order.
    """
    columns = describe(plpy, query)
    if not columns:
        raise InvalidTrainingDataError("the query returns no columns")
    parts = [f"count(*) AS {plpy.quote_ident('_sqlml_rows')}"]
    for i, (name, sql_type) in enumerate(columns):
        column = f"_sqlml_q.{plpy.quote_ident(name)}"
        base = base_name(sql_type)
        if base in POSTGRES_NUMBERS:
            value = _as_float8(column, base)
            parts.append(f"string_agg(coalesce(float8send({value}), {_NAN}), ''::bytea) AS c{i}")
        else:
            parts.append(f"array_agg({column}::text) AS c{i}")
    row = plpy.execute(f"SELECT {', '.join(parts)} FROM ({query}) AS _sqlml_q")[0]
    n = row["_sqlml_rows"]
    arrays = []
    for i, (_, sql_type) in enumerate(columns):
        value = row[f"c{i}"]
        base = base_name(sql_type)
        if base in POSTGRES_NUMBERS:
            packed = np.frombuffer(value or b"", dtype=">f8").astype(np.float64)
            arrays.append(_from_float8(packed, POSTGRES_NUMBERS[base]))
        else:
            arrays.append(pa.array(value or [], type=pa.string()))
        assert len(arrays[-1]) == n
    table = pa.Table.from_arrays(arrays, names=[name for name, _ in columns])
    return table, dict(columns)


def _as_float8(column: str, base: str) -> str:
    if base == "boolean":
        return f"{column}::int::float8"
    if base == "date":
        return f"({column} - DATE '1970-01-01')::float8"
    if base.startswith("timestamp"):
        return f"extract(epoch FROM {column})::float8"
    return f"{column}::float8"


def _from_float8(values: np.ndarray, kind: pa.DataType) -> pa.Array:
    missing = np.isnan(values)
    mask = missing if missing.any() else None
    if pa.types.is_boolean(kind):
        return pa.array(values == 1.0, mask=mask)
    if pa.types.is_date(kind):
        return pa.array(np.where(missing, 0, values).astype(np.int32), mask=mask).cast(kind)
    if pa.types.is_timestamp(kind):
        micros = np.where(missing, 0, np.round(values * 1e6)).astype(np.int64)
        return pa.array(micros, mask=mask).cast(pa.timestamp("us")).cast(kind)
    if pa.types.is_integer(kind):
        return pa.array(np.where(missing, 0, values).astype(kind.to_pandas_dtype()), mask=mask)
    return pa.array(values.astype(kind.to_pandas_dtype()), mask=mask)


# -- training ------------------------------------------------------------------------------


def train_model(
    plpy: Any, name: str, query: str, request_json: str, function_name: str | None
) -> int:
    """CREATE MODEL inside the server: read, train, store, create the model's functions."""
    request = TrainRequest.from_json(request_json)
    check_columns([c for c, _ in describe(plpy, query)], request)
    notice = _notice(plpy)
    notice("reading training data")
    table, types = read_query(plpy, query)
    request.sql_types = types
    trained = train(table, request, notice)
    del table
    metadata = dict(trained.metadata)
    if function_name:
        (schema,) = plpy.execute("SELECT current_schema() AS s")[0].values()
        metadata["function_schema"] = schema
    version = Catalog(SpiExecutor(plpy)).add_version(
        name, trained.onnx, metadata, function_name, request.replace
    )
    # Creating PL/Python functions needs the installer's rights: a SECURITY DEFINER
    # function does it from the catalog alone, running none of the caller's SQL.
    plpy.execute(plpy.prepare("SELECT sqlml._install_model_functions($1)", ["text"]), [name])
    return version


def _notice(plpy: Any) -> Callable[[str], None]:
    def notice(message: str) -> None:
        plpy.notice(f"sqlml: {message}")

    return notice


def evaluate_model(plpy: Any, cache: dict, name: str, query: str) -> str:
    catalog = Catalog(SpiExecutor(plpy))
    model = catalog.get(name)
    predictor = Predictor(catalog.onnx(name, model.version), model.metadata)
    table, _ = read_query(plpy, query)
    return json.dumps(evaluate(predictor, table))
