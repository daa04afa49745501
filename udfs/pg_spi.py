"""PostgreSQL's server side: how sqlml's Python talks to SPI, and how its errors reach the client.

Everything here runs inside a PostgreSQL backend process. ``plpy`` (SPI) is passed in by
the caller, never imported, so the module also loads outside the server.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Sequence
from typing import Any

from sqlml.errors import SqlmlError

from .query import Query

SCHEMA = "sqlml"
INSUFFICIENT_PRIVILEGE = "42501"


def call(plpy: Any, function: Any, *args: Any) -> Any:
    """Run an entry point; a sqlml error becomes a PostgreSQL ERROR with its SQLSTATE."""
    try:
        return function(plpy, *args)
    except SqlmlError as error:
        raise server_error(plpy, str(error), error.sqlstate) from None
    except plpy.SPIError as error:
        message = str(error)
        if message.startswith("sqlml: "):
            # A sqlml error raised by a function this one called through SQL: pass it on
            # as it was, rather than as the SQL call that failed.
            raise server_error(plpy, message.removeprefix("sqlml: "), error.sqlstate) from None
        if error.sqlstate == INSUFFICIENT_PRIVILEGE:
            # SQL that sqlml ran for the caller (a training query, a catalog change) that
            # the caller's role may not run: sqlml's PermissionDeniedError, not SPI's.
            role = plpy.execute("SELECT current_user AS role")[0]["role"]
            raise server_error(
                plpy, f"{message} (sqlml runs it with the rights of role {role})", error.sqlstate
            ) from None
        raise


_ERROR_CLASSES: dict[int, type] = {}


def server_error(plpy: Any, message: str, sqlstate: str) -> Exception:
    """A plpy.Error that PostgreSQL reports as ``ERROR: sqlml: <message>``.

    PL/Python prefixes the message with the exception's class name; a class called
    ``sqlml`` makes that prefix read as the product's name. schema_name marks the ERROR as
    sqlml's own, so the client can map it back to the same Python exception.
    """
    cls = _ERROR_CLASSES.get(id(plpy.Error))
    if cls is None:
        cls = type("sqlml", (plpy.Error,), {"__module__": "builtins"})
        _ERROR_CLASSES[id(plpy.Error)] = cls
    server_error = cls(message)
    server_error.sqlstate = sqlstate
    server_error.schema_name = "sqlml"
    return server_error


class SpiExecutor:
    """Runs the catalog's ``?``-parameterised SQL through SPI."""

    engine = "postgres"

    def __init__(self, plpy: Any):
        self.plpy = plpy
        self._plans: dict[tuple, Any] = {}

    def run(self, sql: str, params: Sequence[Any] = ()) -> list[tuple]:
        params = list(params)
        if params:
            types = tuple(_spi_type(v) for v in params)
            key = (sql, types)
            plan = self._plans.get(key)
            if plan is None:
                plan = self.plpy.prepare(_dollar_params(sql), list(types))
                self._plans[key] = plan
            result = self.plpy.execute(plan, params)
        else:
            result = self.plpy.execute(sql)
        return rows_of(result)


def rows_of(result: Any) -> list[tuple]:
    try:
        columns = result.colnames()
    except Exception:  # a statement without a result set
        return []
    return [tuple(row[c] for c in columns) for row in result]


def _spi_type(value: Any) -> str:
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int):
        return "bigint"
    if isinstance(value, float):
        return "double precision"
    if isinstance(value, bytes | bytearray | memoryview):
        return "bytea"
    if isinstance(value, dt.datetime):
        return "timestamp"
    return "text"


def _dollar_params(sql: str) -> str:
    counter = iter(range(1, 10_000))
    return re.sub(r"\?", lambda _: f"${next(counter)}", sql)


def describe(plpy: Any, query: Query) -> list[tuple[str, str]]:
    """(column, SQL type) of a query's result, without reading its rows."""
    result = execute(plpy, query.extended(f"SELECT * FROM ({query.sql}) AS _sqlml_q LIMIT 0"))
    names, oids, mods = result.colnames(), result.coltypes(), result.coltypmods()
    plan = plpy.prepare("SELECT format_type($1, $2) AS t", ["oid", "integer"])
    return [
        (n, plpy.execute(plan, [o, m])[0]["t"]) for n, o, m in zip(names, oids, mods, strict=True)
    ]


def param_types(plpy: Any, query: Query) -> list[str]:
    """The types PostgreSQL infers for a query's placeholders, as it does for a client's
    statement (SPI's own prepare needs them given)."""
    if not query.params:
        return []
    plpy.execute(f"PREPARE _sqlml_param_types AS {query.sql}")
    rows = plpy.execute(
        "SELECT parameter_types::text[] AS types FROM pg_prepared_statements "
        "WHERE name = '_sqlml_param_types'"
    )
    plpy.execute("DEALLOCATE _sqlml_param_types")
    return list(rows[0]["types"])


def prepare(plpy: Any, query: Query, types: Sequence[str] | None = None) -> Any:
    """A plan of the query; ``types`` are its placeholders' (inferred when not given)."""
    if types is None:
        types = param_types(plpy, query)
    return plpy.prepare(query.sql, list(types))


def execute(plpy: Any, query: Query, types: Sequence[str] | None = None) -> Any:
    """The query's result, its values bound to its placeholders."""
    if not query.params:
        return plpy.execute(query.sql)
    return plpy.execute(prepare(plpy, query, types), list(query.params))
