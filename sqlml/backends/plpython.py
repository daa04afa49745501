"""sqlml inside the PostgreSQL server: the backend behind ``sqlml.execute(...)``.

The same client (parser, rewriter, statements) runs in a PL/Python function, with SPI for
its connection (sqlml/in_server.py opens it), so a plain psql session can use every sqlml
statement.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

from sqlml._udfs_loader import udfs
from sqlml.backends.base import Progress, Query, TrainRequest
from sqlml.backends.server import ServerModels
from sqlml.errors import SqlmlError
from sqlml.result import Result, RowsResult


class PlPythonBackend(ServerModels):
    local_files = False

    def __init__(self, plpy: Any, cache: dict[Any, Any]):
        self.plpy = plpy
        self.cache = cache
        self.catalog = udfs.catalog.Catalog(udfs.pg_spi.SpiExecutor(plpy))

    def run(self, sql: str, params: Sequence[Any] | dict[str, Any] | None = None) -> Result:
        if isinstance(params, dict):
            raise SqlmlError("sqlml's server side binds numbered parameters, not named ones")
        result = udfs.pg_spi.execute(self.plpy, udfs.query.Query(sql, tuple(params or ())))
        try:
            columns = list(result.colnames())
        except Exception:  # no result set (DDL, INSERT ...)
            return RowsResult([], [])
        return RowsResult(columns, udfs.pg_spi.rows_of(result))

    def describe(self, query: Query) -> list[tuple[str, str]]:
        return udfs.pg_spi.describe(self.plpy, query)

    @contextmanager
    def transaction(self) -> Iterator[None]:
        with self.plpy.subtransaction():
            yield

    def record_failed_run(self, run: udfs.catalog.Run) -> None:
        # The statement's error rolls back this transaction: the row is written apart.
        self.run("SELECT sqlml.record_failed_run(CAST($1 AS jsonb))", [run.failure_json()])

    def create_model(
        self,
        name: str,
        query: Query,
        request: TrainRequest,
        function_name: str | None,
        progress: Progress,
    ) -> int:
        return udfs.pg_training.train_query(self.plpy, name, query, request, function_name)

    def evaluate(self, name: str, query: Query) -> dict[str, float | None]:
        return udfs.pg_training.evaluate_query(self.plpy, name, query)

    def close(self) -> None:
        pass
