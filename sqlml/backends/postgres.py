"""PostgreSQL from the client: statements go to the server, which trains and predicts.

Training is one call of ``sqlml.train_model`` (the server reads the rows itself); PREDICT
becomes calls of each model's SQL functions; the catalog is read with plain SQL.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

import psycopg
from psycopg.conninfo import conninfo_to_dict

from sqlml._udfs_loader import udfs
from sqlml.backends.base import Progress, Query, TrainRequest
from sqlml.backends.server import ServerModels
from sqlml.errors import (
    BackendError,
    CatalogVersionError,
    PermissionDeniedError,
    SqlmlError,
    from_server,
)
from sqlml.result import RowsResult
from sqlml.version import __version__


class _PsycopgExecutor:
    engine = "postgres"

    def __init__(self, conn: psycopg.Connection):
        self.conn = conn

    def run(self, sql: str, params: Sequence[Any] = ()) -> list[tuple]:
        with self.conn.cursor() as cursor, server_errors():
            cursor.execute(sql.replace("?", "%s"), list(params) or None)
            return cursor.fetchall() if cursor.description else []


class PostgresResult(RowsResult):
    def __init__(self, cursor: psycopg.Cursor):
        if cursor.description is None:
            super().__init__([], [], rowcount=cursor.rowcount)  # rows an UPDATE changed
            return
        names = [c.name for c in cursor.description]
        types = [_type_name(cursor, c.type_code) for c in cursor.description]
        super().__init__(names, cursor.fetchall(), types, cursor.rowcount)


def _type_name(cursor: psycopg.Cursor, oid: int) -> str:
    info = cursor.adapters.types.get(oid)
    return info.name if info else str(oid)


@contextmanager
def server_errors() -> Iterator[None]:
    """Errors that sqlml's server code raised come back as the sqlml errors they were."""
    try:
        yield
    except psycopg.Error as error:
        message = (error.diag.message_primary or str(error)).removeprefix("sqlml: ")
        ours = error.diag.schema_name == "sqlml"
        mapped = from_server(error.sqlstate, message) if ours else None
        if mapped is None:
            raise
        raise mapped from None


class PostgresBackend(ServerModels):
    def __init__(self, conn: psycopg.Connection, owns_connection: bool):
        self.conn = conn
        self._owns = owns_connection
        self._progress: Progress | None = None
        _check_installed(conn)
        conn.add_notice_handler(self._on_notice)
        self.catalog = udfs.catalog.Catalog(_PsycopgExecutor(conn))

    def _on_notice(self, diagnostic: psycopg.errors.Diagnostic) -> None:
        message = diagnostic.message_primary or ""
        if self._progress is not None and message.startswith("sqlml: "):
            self._progress(message.removeprefix("sqlml: "))

    # -- running SQL ---------------------------------------------------------------------

    def run(self, sql: str, params: Sequence[Any] | dict | None = None) -> PostgresResult:
        # A raw cursor: PostgreSQL's own $1 placeholders, bound by the server (sqlml turns
        # every style into those), and a % in the SQL is just a %.
        cursor = psycopg.RawCursor(self.conn)
        with server_errors():
            cursor.execute(sql, params or None)
        return PostgresResult(cursor)

    def _call(self, sql: str, params: Sequence[Any]) -> Any:
        """One server function call; its single value."""
        with server_errors():
            row = self.conn.execute(sql, params).fetchone()
        return row[0] if row else None

    def describe(self, query: Query) -> list[tuple[str, str]]:
        with psycopg.RawCursor(self.conn) as cursor, server_errors():
            cursor.execute(f"SELECT * FROM ({query.sql}) AS _sqlml_q LIMIT 0", query.params or None)
            return [(c.name, _type_name(cursor, c.type_code)) for c in cursor.description or []]

    @contextmanager
    def transaction(self) -> Iterator[None]:
        with self.conn.transaction():
            yield

    # -- models ------------------------------------------------------------------------

    def create_model(
        self,
        name: str,
        query: Query,
        request: TrainRequest,
        function_name: str | None,
        progress: Progress,
    ) -> int:
        self._progress = progress
        try:
            return int(
                self._call(
                    "SELECT sqlml.train_model(%s, %s, %s::jsonb, %s, %s::jsonb)",
                    [name, query.sql, request.to_json(), function_name, _json(query.params)],
                )
            )
        finally:
            self._progress = None

    def evaluate(self, name: str, query: Query) -> dict[str, float | None]:
        return self._call(
            "SELECT sqlml.evaluate_json(%s, %s, %s::jsonb)", [name, query.sql, _json(query.params)]
        )

    def cursor(self) -> PostgresBackend:
        """The same session for another thread: psycopg serialises a connection's use, and
        every result is read in full before the next statement."""
        return PostgresBackend(self.conn, owns_connection=False)

    def end_transaction(self, commit: bool) -> None:
        if self.conn.info.transaction_status != psycopg.pq.TransactionStatus.IDLE:
            self.conn.execute("COMMIT" if commit else "ROLLBACK")

    def close(self) -> None:
        self.conn.remove_notice_handler(self._on_notice)
        if self._owns:
            self.conn.close()


def _json(params: tuple[Any, ...]) -> str:
    """A query's values for the server, which binds them to the types PostgreSQL infers for
    the placeholders: numbers, booleans and NULL as they are, anything else as its text."""
    return json.dumps(
        [v if v is None or isinstance(v, bool | int | float | str) else str(v) for v in params]
    )


def _check_installed(conn: psycopg.Connection) -> None:
    """sqlml is installed in the database, and the role may use it."""
    role, database, installed, usable = conn.execute(
        "SELECT current_user, current_database(), n.oid IS NOT NULL, "
        "n.oid IS NOT NULL AND has_schema_privilege(n.oid, 'USAGE') "
        "FROM (SELECT 1) AS one LEFT JOIN pg_namespace n ON n.nspname = 'sqlml'"
    ).fetchone() or (None, None, False, False)
    if not installed:
        raise SqlmlError(
            "sqlml is not installed in this database: run `sqlml install <dsn>` "
            "as a superuser first (see the README, section PostgreSQL)"
        )
    if not usable:
        raise PermissionDeniedError(
            f"role {role} may not use sqlml in database {database}: an administrator "
            f"lets it with GRANT sqlml_user TO {role}"
        )
    found = conn.execute(
        "SELECT value FROM sqlml.catalog_info WHERE key = 'installed_version'"
    ).fetchone()
    if found and found[0] != __version__:
        # The client calls the server's functions by their signatures, which releases change.
        raise CatalogVersionError(
            f"database {database} has sqlml {found[0]} installed and this client is sqlml "
            f"{__version__}: a superuser runs `sqlml install --upgrade <dsn>` with this "
            f"release (or use sqlml {found[0]} here)"
        )


def open_connection(dsn: str) -> psycopg.Connection[Any]:
    """A psycopg connection (autocommit), or one clear BackendError saying where it could
    not connect and why, without the password."""
    try:
        parts = conninfo_to_dict(dsn)
    except psycopg.ProgrammingError as error:
        reason = _first_line(error).replace(dsn, "the string given")  # it may hold a password
        raise BackendError(f"not a PostgreSQL connection string: {reason}") from None
    try:
        return psycopg.connect(dsn, autocommit=True)
    except psycopg.Error as error:
        raise BackendError(
            f"cannot connect to PostgreSQL {_described(parts)}: {_first_line(error)}"
        ) from None


def connect(dsn: str) -> PostgresBackend:
    conn = open_connection(dsn)
    try:
        return PostgresBackend(conn, owns_connection=True)
    except BaseException:
        conn.close()
        raise


def _described(parts: dict[str, Any]) -> str:
    """Where a connection string points, without its password."""
    database = parts.get("dbname") or parts.get("user") or "(the default database)"
    where = f"database {database}"
    if parts.get("host"):
        where += f" on {parts['host']}" + (f":{parts['port']}" if parts.get("port") else "")
    return where + (f" as {parts['user']}" if parts.get("user") else "")


def _first_line(error: Exception) -> str:
    # libpq's message repeats the address ("connection to server at ... failed:") and adds
    # hints on further lines; the reason is what is left.
    message = str(error).splitlines()[0] if str(error) else type(error).__name__
    return re.sub(
        r"^connection failed: connection to server at [^:]+ failed: ", "", message
    ).replace("FATAL:  ", "")
