"""Small helpers the tests share for reading query results."""

from __future__ import annotations

from typing import Any

import sqlml

# Few trees where quality is not the point, on one thread: these data sets gain nothing from
# more, and OpenMP threads competing for a busy two-core machine made single fits take seconds.
FAST = "n_estimators = 20, n_jobs = 1"


def values(con: sqlml.Connection, sql: str) -> list:
    """The first column of every row."""
    return [r[0] for r in con.execute(sql).fetchall()]


def scalar(con: sqlml.Connection, sql: str) -> Any:
    """The only value of a one-row result."""
    (row,) = con.execute(sql).fetchall()
    return row[0]


def rows(con: sqlml.Connection, sql: str) -> list[dict]:
    """Every row as a dict of column → value."""
    cursor = con.execute(sql)
    names = [d[0] for d in cursor.description]
    return [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]


def one(con: sqlml.Connection, sql: str) -> dict:
    """The only row of a one-row result, as a dict."""
    (row,) = rows(con, sql)
    return row
