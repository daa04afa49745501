"""SHOW MODELS and SHOW FEATURE TABLES with LIKE 'pattern' or WHERE condition: sqlml's
own rows, filtered by the condition as SQL (written in the statement's dialect) over them.

The rows are few and already in Arrow, so an in-memory DuckDB evaluates the condition the
same way on every engine; its placeholders are bound, as everywhere.
"""

from __future__ import annotations

import duckdb
from sqlglot import exp

from sqlml.errors import InputSchemaError
from sqlml.parameters import take
from sqlml.result import ArrowResult
from sqlml.session import Session


def filtered(
    result: ArrowResult, where: exp.Expr | None, session: Session, what: str
) -> ArrowResult:
    if where is None:
        return result
    condition = where.copy()
    values = take(condition, session.params)
    con = duckdb.connect()
    try:
        con.register("shown", result.table)
        sql = f"SELECT * FROM shown WHERE {condition.sql(dialect='duckdb')}"
        return ArrowResult(con.sql(sql, params=list(values)).to_arrow_table())
    except duckdb.Error as error:
        reason = str(error).splitlines()[0]
        columns = ", ".join(result.table.column_names)
        raise InputSchemaError(f"{what} WHERE: {reason} (the columns are {columns})") from None
    finally:
        con.close()
