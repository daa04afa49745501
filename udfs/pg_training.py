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
from .pg_spi import SpiExecutor, describe, execute, param_types, prepare
from .predict import Predictor
from .query import Query
from .sql_types import POSTGRES_NUMBERS, base_name
from .train import (
    TrainRequest,
    check_columns,
    check_fits_in_memory,
    evaluate,
    sample_size,
    train,
)

_NAN = "'\\x7ff8000000000000'::bytea"


# Rows per aggregated value: PostgreSQL refuses a value over 1 GB, and a chunk of this many
# rows of one column is under 1 MB packed (text columns: as long as their values).
READ_CHUNK_ROWS = 100_000


def read_query(
    plpy: Any, query: Query, max_rows: int | None = None, seed: int = 0
) -> tuple[pa.Table, dict[str, str]]:
    """All rows of a query (or ``max_rows`` of them, sampled in SQL) as Arrow, read
    column-wise in aggregate passes of READ_CHUNK_ROWS rows.

    Numbers, booleans and times travel as one float8-packed bytea per column and chunk (NULL
    as NaN), text as one array: SPI then builds a handful of Python objects instead of one
    per value. Every aggregate of one chunk sees its rows in the same order.
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
    types = param_types(plpy, query)
    source = query
    if max_rows is not None:
        # A sample before reading, so that a table of any size trains in max_rows' memory.
        # Ranked by a hash of each row's content and the seed, not random(): the same rows
        # for the same seed, whatever order a (parallel) scan delivers them in.
        source = query.sampled("md5({row}::text || {seed}::text)", seed, max_rows)
        types += ["bigint", "bigint"]
    (chunk_mark,) = source.marks(1)
    chunks = source.extended(
        f"SELECT {', '.join(parts)} FROM (SELECT _sqlml_s.*, "
        f"(row_number() OVER () - 1) / {chunk_mark} AS _sqlml_chunk FROM ({source.sql}) "
        "AS _sqlml_s) AS _sqlml_q GROUP BY _sqlml_chunk ORDER BY _sqlml_chunk",
        READ_CHUNK_ROWS,
    )
    plan = prepare(plpy, chunks, [*types, "bigint"])
    pieces: list[list[pa.Array]] = [[] for _ in columns]
    cursor = plpy.cursor(plan, list(chunks.params))
    while chunk := cursor.fetch(1):
        row = chunk[0]
        for i, (_, sql_type) in enumerate(columns):
            pieces[i].append(_column_of(row[f"c{i}"], sql_type))
            assert len(pieces[i][-1]) == row["_sqlml_rows"]
    arrays = [
        pa.chunked_array(chunks, type=_arrow_type(sql_type))
        for chunks, (_, sql_type) in zip(pieces, columns, strict=True)
    ]
    table = pa.Table.from_arrays(arrays, names=[name for name, _ in columns])
    return table, dict(columns)


def _arrow_type(sql_type: str) -> pa.DataType:
    return POSTGRES_NUMBERS.get(base_name(sql_type), pa.string())


def _column_of(value: Any, sql_type: str) -> pa.Array:
    base = base_name(sql_type)
    if base in POSTGRES_NUMBERS:
        packed = np.frombuffer(value or b"", dtype=">f8").astype(np.float64)
        return _from_float8(packed, POSTGRES_NUMBERS[base])
    return pa.array(value or [], type=pa.string())


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


def _plan(plpy: Any, query: Query) -> Any:
    explain = query.extended(f"EXPLAIN (VERBOSE, FORMAT JSON) {query.sql}")
    (plan,) = execute(plpy, explain, param_types(plpy, query))[0].values()
    return json.loads(plan) if isinstance(plan, str) else plan


def relations_read(plan: Any, quote_ident: Callable[[str], str]) -> list[str]:
    """The tables a query's plan reads (a view's own tables included), schema-qualified
    and quoted: whoever may read them all may see the training statistics."""
    found: set[str] = set()

    def walk(node: Any) -> None:
        if isinstance(node, dict):
            if "Relation Name" in node:
                schema, relation = node.get("Schema", "public"), node["Relation Name"]
                found.add(f"{quote_ident(schema)}.{quote_ident(relation)}")
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)

    walk(plan)
    return sorted(found)


# -- training ------------------------------------------------------------------------------


def train_model(
    plpy: Any,
    name: str,
    query: str,
    request_json: str,
    function_name: str | None,
    params_json: str | None = None,
) -> int:
    """sqlml.train_model(): the client's CREATE MODEL, its query's values as JSON."""
    return train_query(
        plpy, name, _query(query, params_json), TrainRequest.from_json(request_json), function_name
    )


def _query(sql: str, params_json: str | None) -> Query:
    return Query(sql, tuple(json.loads(params_json)) if params_json else ())


def train_query(
    plpy: Any, name: str, query: Query, request: TrainRequest, function_name: str | None
) -> int:
    """CREATE MODEL inside the server: read, train, store, create the model's functions."""
    catalog = Catalog(SpiExecutor(plpy))
    if request.replace:
        catalog.check_may_manage(name, "replace")  # before training, not after it
    columns = describe(plpy, query)
    check_columns([c for c, _ in columns], request)
    max_rows, seed = sample_size(request)
    plan = _plan(plpy, query)
    check_fits_in_memory(int(plan[0]["Plan"]["Plan Rows"]), len(columns), max_rows)
    relations = relations_read(plan, plpy.quote_ident)
    notice = _notice(plpy)
    notice("reading training data")
    table, types = read_query(plpy, query, max_rows, seed)
    request.sql_types = types
    trained = train(table, request, notice)
    del table
    metadata = {**trained.metadata, "training_relations": relations}
    if function_name:
        (schema,) = plpy.execute("SELECT current_schema() AS s")[0].values()
        metadata["function_schema"] = schema
    version = catalog.add_version(name, trained.onnx, metadata, function_name, request.replace)
    # Creating PL/Python functions needs the installer's rights: a SECURITY DEFINER
    # function does it from the catalog alone, running none of the caller's SQL.
    install = plpy.prepare("SELECT sqlml._install_model_functions($1)", ["text"])
    drop = plpy.prepare("SELECT sqlml.drop_model($1)", ["text"])
    plpy.execute(install, [name])
    catalog.replace_trials(
        name,
        version,
        trained.trials,
        lambda trial: plpy.execute(install, [trial]),
        lambda trial: plpy.execute(drop, [trial]),
    )
    return version


def _notice(plpy: Any) -> Callable[[str], None]:
    def notice(message: str) -> None:
        plpy.notice(f"sqlml: {message}")

    return notice


def evaluate_model(
    plpy: Any, cache: dict, name: str, query: str, params_json: str | None = None
) -> str:
    """sqlml.evaluate_json(): metrics of the model on a query's rows, as JSON."""
    return json.dumps(evaluate_query(plpy, name, _query(query, params_json)))


def evaluate_query(plpy: Any, name: str, query: Query) -> dict[str, float | None]:
    catalog = Catalog(SpiExecutor(plpy))
    model = catalog.get(name)
    predictor = Predictor(catalog.onnx(name, model.version), model.metadata)
    table, _ = read_query(plpy, query)
    return evaluate(predictor, table)
