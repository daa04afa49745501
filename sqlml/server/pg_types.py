"""PostgreSQL's types as the protocol names them (OIDs), and DuckDB's types in those terms."""

from __future__ import annotations

import re
from dataclasses import dataclass


@dataclass(frozen=True)
class PgType:
    name: str
    oid: int
    size: int  # typlen: bytes of a value, -1 for variable length
    array_oid: int = 0


_TYPES = [
    PgType("bool", 16, 1, 1000),
    PgType("bytea", 17, -1, 1001),
    PgType("char", 18, 1, 1002),
    PgType("name", 19, 64, 1003),
    PgType("int8", 20, 8, 1016),
    PgType("int2", 21, 2, 1005),
    PgType("int4", 23, 4, 1007),
    PgType("regproc", 24, 4, 1008),
    PgType("text", 25, -1, 1009),
    PgType("oid", 26, 4, 1028),
    PgType("json", 114, -1, 199),
    PgType("float4", 700, 4, 1021),
    PgType("float8", 701, 8, 1022),
    PgType("unknown", 705, -2),
    PgType("bpchar", 1042, -1, 1014),
    PgType("varchar", 1043, -1, 1015),
    PgType("date", 1082, 4, 1182),
    PgType("time", 1083, 8, 1183),
    PgType("timestamp", 1114, 8, 1115),
    PgType("timestamptz", 1184, 8, 1185),
    PgType("interval", 1186, 16, 1187),
    PgType("timetz", 1266, 12, 1270),
    PgType("bit", 1560, -1, 1561),
    PgType("numeric", 1700, -1, 1231),
    PgType("regclass", 2205, 4, 2210),
    PgType("regtype", 2206, 4, 2211),
    PgType("uuid", 2950, 16, 2951),
    PgType("jsonb", 3802, -1, 3807),
]

# Array types: their OID → the element's type.
ELEMENT_OF = {t.array_oid: t for t in _TYPES if t.array_oid}
_ARRAYS = [PgType("_" + t.name, oid, -1) for oid, t in ELEMENT_OF.items()]
BY_NAME = {t.name: t for t in [*_TYPES, *_ARRAYS]}
BY_OID = {t.oid: t for t in [*_TYPES, *_ARRAYS]}

TEXT = BY_NAME["text"]

# DuckDB's type names (as a result's description gives them) → PostgreSQL's type.
FROM_DUCKDB = {
    "BOOLEAN": "bool",
    "TINYINT": "int2",
    "SMALLINT": "int2",
    "INTEGER": "int4",
    "BIGINT": "int8",
    "UTINYINT": "int2",
    "USMALLINT": "int4",
    "UINTEGER": "oid",  # PostgreSQL's OIDs are unsigned 32-bit: the catalog's are UINTEGER
    "UBIGINT": "numeric",
    "HUGEINT": "numeric",
    "UHUGEINT": "numeric",
    "BIGNUM": "numeric",
    "VARINT": "numeric",
    "FLOAT": "float4",
    "DOUBLE": "float8",
    "VARCHAR": "text",
    "BLOB": "bytea",
    "DATE": "date",
    "TIME": "time",
    "TIME WITH TIME ZONE": "timetz",
    "TIMESTAMP": "timestamp",
    "TIMESTAMP_S": "timestamp",
    "TIMESTAMP_MS": "timestamp",
    "TIMESTAMP_NS": "timestamp",
    "TIMESTAMP WITH TIME ZONE": "timestamptz",
    "INTERVAL": "interval",
    "UUID": "uuid",
    "JSON": "json",
    "BIT": "bit",
}

_DECIMAL = re.compile(r"DECIMAL\((\d+),\s*(\d+)\)")


@dataclass(frozen=True)
class ColumnType:
    """A result column's type as sent in RowDescription."""

    type: PgType
    modifier: int = -1  # typmod: numeric's precision and scale
    array_of: PgType | None = None  # set when the column is a one-dimensional array

    @property
    def oid(self) -> int:
        return self.type.oid


def from_duckdb(name: str) -> ColumnType:
    """The PostgreSQL type a DuckDB column is sent as: its nearest equal, else text (ENUMs,
    STRUCTs, MAPs and nested lists are sent as their text)."""
    upper = name.upper()
    if upper.endswith("[]"):
        element = from_duckdb(upper[:-2])
        if element.array_of is None and element.type.array_oid:
            return ColumnType(BY_OID[element.type.array_oid], array_of=element.type)
        return ColumnType(TEXT)
    if decimal := _DECIMAL.fullmatch(upper):
        precision, scale = int(decimal.group(1)), int(decimal.group(2))
        return ColumnType(BY_NAME["numeric"], ((precision << 16) | scale) + 4)
    if upper == "DECIMAL":
        return ColumnType(BY_NAME["numeric"])
    known = FROM_DUCKDB.get(upper)
    return ColumnType(BY_NAME[known] if known else TEXT)


_FROM_ARROW = {
    "bool": "bool",
    "int16": "int2",
    "int32": "int4",
    "int64": "int8",
    "float": "float4",
    "double": "float8",
    "string": "text",
    "large_string": "text",
    "binary": "bytea",
    "date32[day]": "date",
}


def from_arrow(kind: object) -> ColumnType:
    """The PostgreSQL type an Arrow column is sent as (text where there is no equal)."""
    return ColumnType(BY_NAME.get(_FROM_ARROW.get(str(kind), "text"), TEXT))


# Parameter types a client declares (Parse) → how DuckDB is told the value's type.
DUCKDB_CAST = {
    "bool": "BOOLEAN",
    "int2": "SMALLINT",
    "int4": "INTEGER",
    "int8": "BIGINT",
    "oid": "UINTEGER",
    "float4": "FLOAT",
    "float8": "DOUBLE",
    "numeric": "DECIMAL(38, 10)",
    "text": "VARCHAR",
    "varchar": "VARCHAR",
    "bpchar": "VARCHAR",
    "name": "VARCHAR",
    "bytea": "BLOB",
    "date": "DATE",
    "time": "TIME",
    "timestamp": "TIMESTAMP",
    "timestamptz": "TIMESTAMPTZ",
    "interval": "INTERVAL",
    "uuid": "UUID",
    "json": "JSON",
    "jsonb": "JSON",
}
