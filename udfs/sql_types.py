"""Every engine's SQL types in one place: how a label, a feature argument and a value that
sqlml computes are typed on DuckDB and on PostgreSQL, and how PostgreSQL's values travel
when the server reads rows."""

from __future__ import annotations

import re
from dataclasses import dataclass

import pyarrow as pa


@dataclass(frozen=True)
class SqlType:
    arrow: pa.DataType
    duckdb: str
    postgres: str


# Keyed by the Arrow type's name, which is how a model records its label's type.
BY_ARROW_NAME: dict[str, SqlType] = {
    "bool": SqlType(pa.bool_(), "BOOLEAN", "boolean"),
    "int8": SqlType(pa.int8(), "TINYINT", "smallint"),
    "int16": SqlType(pa.int16(), "SMALLINT", "smallint"),
    "int32": SqlType(pa.int32(), "INTEGER", "integer"),
    "int64": SqlType(pa.int64(), "BIGINT", "bigint"),
    "uint8": SqlType(pa.uint8(), "UTINYINT", "integer"),
    "uint16": SqlType(pa.uint16(), "USMALLINT", "integer"),
    "uint32": SqlType(pa.uint32(), "UINTEGER", "bigint"),
    "uint64": SqlType(pa.uint64(), "UBIGINT", "numeric"),
    "float": SqlType(pa.float32(), "FLOAT", "real"),
    "double": SqlType(pa.float64(), "DOUBLE", "double precision"),
    "string": SqlType(pa.string(), "VARCHAR", "text"),
    "large_string": SqlType(pa.string(), "VARCHAR", "text"),
    "timestamp[us]": SqlType(pa.timestamp("us"), "TIMESTAMP", "timestamp"),
    "binary": SqlType(pa.binary(), "BLOB", "bytea"),
}
TEXT = BY_ARROW_NAME["string"]


def of_arrow(arrow_type: pa.DataType) -> SqlType:
    """The SQL type of an Arrow type; text for one without an entry."""
    return BY_ARROW_NAME.get(str(arrow_type), TEXT)


# The type of a model's argument for each kind of feature: every number is taken as a
# double (the engines cast the narrower ones implicitly), dates as timestamps.
ARGUMENT_TYPES: dict[str, SqlType] = {
    "numeric": BY_ARROW_NAME["double"],
    "boolean": BY_ARROW_NAME["bool"],
    "categorical": TEXT,
    "temporal": BY_ARROW_NAME["timestamp[us]"],
}

# PostgreSQL's type names (as psycopg and format_type spell them) each kind of feature
# accepts as an argument.
POSTGRES_NAMES_BY_KIND: dict[str, frozenset[str]] = {
    "numeric": frozenset(
        {"smallint", "integer", "bigint", "real", "double precision", "numeric"}
        | {"int2", "int4", "int8", "float4", "float8"}
    ),
    "boolean": frozenset({"boolean", "bool"}),
    "categorical": frozenset(
        {"text", "character varying", "varchar", "character", "bpchar", "name", "unknown"}
    ),
    "temporal": frozenset(
        {"date", "timestamp", "timestamp without time zone", "timestamp with time zone"}
        | {"timestamptz"}
    ),
}

# PostgreSQL types whose values the server reads as float8 bytes, and the Arrow type each
# becomes; any other type is read as text.
POSTGRES_NUMBERS: dict[str, pa.DataType] = {
    "smallint": pa.int16(),
    "integer": pa.int32(),
    "bigint": pa.int64(),
    "real": pa.float32(),
    "double precision": pa.float64(),
    "numeric": pa.float64(),
    "boolean": pa.bool_(),
    "date": pa.date32(),
    "timestamp without time zone": pa.timestamp("us"),
    "timestamp with time zone": pa.timestamp("us", tz="UTC"),
}


def base_name(sql_type: str) -> str:
    """A type name without its modifiers: numeric(10,2) → numeric."""
    return re.sub(r"\(.*\)", "", sql_type).strip()


def is_temporal(sql_type: str) -> bool:
    """Whether an engine's type name is a date or a timestamp."""
    kind = sql_type.lower()
    return "date" in kind or "timestamp" in kind
