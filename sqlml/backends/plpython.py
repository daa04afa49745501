"""sqlml inside the PostgreSQL server: the backend behind ``sqlml.execute(...)``.

The same client (parser, rewriter, commands) runs in a PL/Python function, with SPI for
its connection, so a plain psql session can use every sqlml statement.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

from sqlml._udfs_loader import udfs
from sqlml.backends.base import Progress, TrainRequest
from sqlml.backends.server import ServerModels
from sqlml.errors import SqlmlError
from sqlml.result import Result, RowsResult

postgres = udfs.postgres


class PlPythonBackend(ServerModels):
    def __init__(self, plpy: Any, cache: dict):
        self.plpy = plpy
        self.cache = cache
        self.catalog = udfs.catalog.Catalog(postgres.SpiExecutor(plpy))

    def run(self, sql: str, params: Sequence[Any] | dict | None = None) -> Result:
        if params:
            raise SqlmlError("sqlml.execute() takes no parameters; write the values into the SQL")
        result = self.plpy.execute(sql)
        try:
            columns = list(result.colnames())
        except Exception:  # no result set (DDL, INSERT ...)
            return RowsResult([], [])
        return RowsResult(columns, postgres.rows_of(result))

    def describe(self, sql: str) -> list[tuple[str, str]]:
        return postgres.describe(self.plpy, sql)

    @contextmanager
    def transaction(self) -> Iterator[None]:
        with self.plpy.subtransaction():
            yield

    def create_model(
        self,
        name: str,
        query_sql: str,
        request: TrainRequest,
        function_name: str | None,
        progress: Progress,
    ) -> int:
        request_json = json.dumps(_request_fields(request))
        return postgres.train_model(self.plpy, name, query_sql, request_json, function_name)

    def evaluate(self, name: str, query_sql: str) -> dict[str, float | None]:
        return json.loads(postgres.evaluate_model(self.plpy, self.cache, name, query_sql))

    def close(self) -> None:
        pass


def _request_fields(request: TrainRequest) -> dict[str, Any]:
    """The request as the server's train_model reads it back; the server finds the column
    types itself."""
    fields = dataclasses.asdict(request)
    del fields["sql_types"]
    return fields


def _connection(plpy: Any, cache: dict) -> Any:
    from sqlml.connection import Connection

    return Connection(PlPythonBackend(plpy, cache), progress=lambda m: plpy.notice(f"sqlml: {m}"))


def execute(plpy: Any, cache: dict, statement: str) -> list[str]:
    """sqlml.execute(): the statement's result rows, each as a JSON object."""
    cursor = _connection(plpy, cache).execute(statement)
    names = [d[0] for d in cursor.description or []]
    return [
        json.dumps(dict(zip(names, row, strict=True)), default=str) for row in cursor.fetchall()
    ]


def command_rows(plpy: Any, cache: dict, command: str, model: str) -> list[tuple]:
    """Rows of DESCRIBE / EXPLAIN MODEL / SHOW MODEL VERSIONS for the table functions."""
    from sqlml.dialects import expressions as ml

    nodes = {
        "describe": ml.DescribeModel,
        "explain": ml.ExplainModel,
        "versions": ml.ShowModelVersions,
    }
    return _connection(plpy, cache).command(nodes[command](this=model)).fetchall()


def evaluate_rows(plpy: Any, cache: dict, model: str, query: str | None) -> list[tuple]:
    """EVALUATE MODEL [ON (query)] as (metric, value) rows: the same command, so the query's
    rows reach the model as its training rows did (TRANSFORM, feature tables)."""
    from sqlml.dialects import expressions as ml
    from sqlml.dialects import ml_dialect

    rows = None if query is None else ml_dialect("postgres").parse(query)[0]
    cursor = _connection(plpy, cache).command(ml.EvaluateModel(this=model, query=rows))
    names = [d[0] for d in cursor.description or []]
    return list(zip(names, cursor.fetchone() or (), strict=True))
