"""dbt-duckdb's plugin: every connection dbt opens on a DuckDB database is a sqlml one.

    # profiles.yml
    shop:
      target: dev
      outputs:
        dev:
          type: duckdb
          path: shop.duckdb
          plugins:
            - module: sqlml.integrations.dbt_duckdb

dbt-duckdb opens one DuckDB connection and gives each of its threads a cursor of it. The
plugin makes that connection a sqlml backend (catalog made or upgraded, every model's
functions registered, for all its cursors) and adds the two functions the sqlml dbt
package calls, as PostgreSQL's install has them: ``sqlml_execute(statement)`` runs a sqlml
statement and answers its rows as a JSON array, ``sqlml_sql(query)`` gives a query with
sqlml's functions as DuckDB's SQL and ``sqlml_sql_expression(expression)`` an expression's,
such as ``PREDICT(m, c.*)``. The plugin holds the backend for as long as dbt
holds the connection: a model's function must not outlive what registered it.
"""

from __future__ import annotations

import contextlib
import json
import threading
from collections.abc import Callable
from typing import Any, TypeVar

import duckdb

from sqlml.errors import MissingExtraError

try:
    from dbt.adapters.duckdb.plugins import BasePlugin
    from dbt.adapters.events.logging import AdapterLogger
except ImportError as error:
    raise MissingExtraError(
        "sqlml.integrations.dbt_duckdb is a plugin of dbt-duckdb, which is not installed: "
        "pip install 'sqlml[dbt]'"
    ) from error

from sqlml.backends.duckdb import DuckDBBackend
from sqlml.connection import Connection

Answer = TypeVar("Answer")

# Training's progress (rows read, fitting, converting) goes to dbt's log, with dbt's times.
_LOG = AdapterLogger("sqlml")


class Plugin(BasePlugin):
    def initialize(self, plugin_config: dict[str, Any]) -> None:
        self._backend: DuckDBBackend | None = None
        self._lock = threading.Lock()

    def configure_connection(self, conn: duckdb.DuckDBPyConnection) -> None:
        with self._lock:
            if self._backend is not None:
                # dbt closed its connection (when no thread holds one, dbt-duckdb closes a
                # file) and opens another: what the old one registered goes with it.
                self._backend.close()
            self._backend = DuckDBBackend(conn, owns_connection=False)
        functions: dict[str, Callable[[str], str]] = {
            "sqlml_execute": self._execute,
            "sqlml_sql": self._sql,
            "sqlml_sql_expression": self._sql_expression,
        }
        for name, function in functions.items():
            with contextlib.suppress(duckdb.Error):  # left by an earlier connection
                conn.remove_function(name)
            conn.create_function(name, function, ["VARCHAR"], "VARCHAR", side_effects=True)

    def _execute(self, statement: str) -> str:
        def run(connection: Connection) -> str:
            cursor = connection.execute(statement)
            names = [column[0] for column in cursor.description or []]
            rows = [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]
            return json.dumps(rows, default=str)

        return self._in_session(run)

    def _sql(self, query: str) -> str:
        return self._in_session(lambda connection: connection.engine_sql(query))

    def _sql_expression(self, expression: str) -> str:
        return self._in_session(lambda connection: connection.engine_expression(expression))

    def _in_session(self, work: Callable[[Connection], Answer]) -> Answer:
        """Runs on a session of its own: the cursor that called the function is busy with
        the call. The models it changes have their functions registered before it returns,
        so that the next statement of any dbt thread finds them."""
        if self._backend is None:
            raise RuntimeError("dbt-duckdb has not configured a connection yet")
        connection = Connection(self._backend.cursor(), progress=_say)
        try:
            answer = work(connection)
            connection.backend.sync_models()
            return answer
        finally:
            connection.close()


def _say(message: str) -> None:
    _LOG.info(message)  # dbt writes "sqlml adapter: " before it
