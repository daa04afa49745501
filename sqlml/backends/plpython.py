"""sqlml inside the PostgreSQL server: the backend behind ``sqlml.execute(...)``.

The same client (parser, rewriter, commands) runs in a PL/Python function, with SPI for
its connection, so a plain psql session can use every sqlml statement.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

import pyarrow as pa

from sqlml._udfs_loader import udfs
from sqlml.backends.base import Backend, Progress, TrainRequest
from sqlml.errors import SqlmlError
from sqlml.result import Result, RowsResult

postgres = udfs.postgres


class PlPythonBackend(Backend):
    name = "postgres"
    function_schema = "sqlml"
    batch_predict = True

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

    def query_arrow(self, sql: str) -> tuple[pa.Table, dict[str, str]]:
        return postgres.read_query(self.plpy, sql)

    def describe(self, sql: str) -> list[tuple[str, str]]:
        return postgres.describe(self.plpy, sql)

    def relation_kind(self, name: str) -> str | None:
        plan = self.plpy.prepare(
            "SELECT relkind::text AS k FROM pg_class WHERE oid = to_regclass($1)", ["text"]
        )
        rows = self.plpy.execute(plan, [name])
        return rows[0]["k"] if rows else None

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

    def add_model_version(
        self, name: str, onnx: bytes, metadata: dict[str, Any], function_name: str | None
    ) -> int:
        metadata = dict(metadata)
        if function_name:
            metadata["function_schema"] = self.plpy.execute("SELECT current_schema() AS s")[0]["s"]
        with self.transaction():
            version = self.catalog.add_version(name, onnx, metadata, function_name)
            self._call("SELECT sqlml._install_model_functions($1)", ["text"], [name])
        return version

    def sync_models(self) -> None:
        pass  # the model's functions are created with it, inside the same transaction

    def drop_model(self, name: str) -> None:
        self._call("SELECT sqlml.drop_model($1)", ["text"], [name])

    def set_model_version(self, name: str, version: int) -> None:
        self._call("SELECT sqlml.set_model_version($1, $2)", ["text", "integer"], [name, version])

    def evaluate(self, name: str, query_sql: str) -> dict[str, float | None]:
        return json.loads(postgres.evaluate_model(self.plpy, self.cache, name, query_sql))

    def predictor(self, name: str) -> Any:
        model = self.catalog.get(name)
        return udfs.predict.Predictor(self.catalog.onnx(name, model.version), model.metadata)

    def function_exists(self, name: str) -> bool:
        plan = self.plpy.prepare("SELECT 1 FROM pg_proc WHERE proname = $1", ["text"])
        return bool(self.plpy.execute(plan, [name]))

    def close(self) -> None:
        pass

    def _call(self, sql: str, types: list[str], values: list[Any]) -> None:
        self.plpy.execute(self.plpy.prepare(sql, types), values)


def _request_fields(request: TrainRequest) -> dict[str, Any]:
    return {
        "target": request.target,
        "algorithm": request.algorithm,
        "task": request.task,
        "options": request.options,
        "exclude": list(request.exclude),
    }


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
    backend = PlPythonBackend(plpy, cache)
    stored = backend.catalog.get(model)
    metrics = stored.metadata["metrics"] if query is None else backend.evaluate(model, query)
    return list(metrics.items())
