"""sqlml inside the PostgreSQL server: the backend behind ``sqlml.execute(...)``.

The same client (parser, rewriter, statements) runs in a PL/Python function, with SPI for
its connection (sqlml/in_server.py opens it), so a plain psql session can use every sqlml
statement.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

from sqlml._udfs_loader import udfs
from sqlml.backends.base import Progress, TrainRequest
from sqlml.backends.server import ServerModels
from sqlml.errors import SqlmlError
from sqlml.result import Result, RowsResult


class PlPythonBackend(ServerModels):
    def __init__(self, plpy: Any, cache: dict[Any, Any]):
        self.plpy = plpy
        self.cache = cache
        self.catalog = udfs.catalog.Catalog(udfs.pg_spi.SpiExecutor(plpy))

    def run(self, sql: str, params: Sequence[Any] | dict[str, Any] | None = None) -> Result:
        if params:
            raise SqlmlError("sqlml.execute() takes no parameters; write the values into the SQL")
        result = self.plpy.execute(sql)
        try:
            columns = list(result.colnames())
        except Exception:  # no result set (DDL, INSERT ...)
            return RowsResult([], [])
        return RowsResult(columns, udfs.pg_spi.rows_of(result))

    def describe(self, sql: str) -> list[tuple[str, str]]:
        return udfs.pg_spi.describe(self.plpy, sql)

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
        return udfs.pg_training.train_model(
            self.plpy, name, query_sql, request.to_json(), function_name
        )

    def evaluate(self, name: str, query_sql: str) -> dict[str, float | None]:
        metrics: dict[str, float | None] = json.loads(
            udfs.pg_training.evaluate_model(self.plpy, self.cache, name, query_sql)
        )
        return metrics

    def close(self) -> None:
        pass
