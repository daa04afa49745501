"""The SQL side of a served session: what arrives runs through a sqlml connection.

Every statement goes through ``Connection.execute`` as it would in process (the same
rewriting, the same errors); what PostgreSQL's clients expect beyond DuckDB's SQL (session
settings, transaction states, command tags, SQLSTATEs) is answered here.
"""

from __future__ import annotations

import os
import re
import tempfile
import threading
from collections.abc import Callable, Iterator
from contextlib import suppress
from dataclasses import dataclass, field
from typing import Any

import pyarrow as pa

from sqlml import parameters
from sqlml.connection import Connection, Cursor
from sqlml.dialects import ml_dialect
from sqlml.errors import BackendError, SqlmlError
from sqlml.feature_tables.statements import SUMMARY_COLUMNS as feature_table_summary
from sqlml.models.create import SUMMARY_COLUMNS as model_summary
from sqlml.server import pg_compat, pg_copy, pg_rewrite, pg_types, wire
from sqlml.server.protocol import Column, CopyIn, CopyOut, Outcome, SqlError
from sqlml.session import Query
from sqlml.statements import split
from sqlml.version import __version__

BATCH_ROWS = 65_536

# Settings PostgreSQL's clients set or read that DuckDB does not have: kept per session,
# the reported ones sent back as ParameterStatus when they change.
DEFAULT_SETTINGS = {
    "server_version": "16.4",
    "server_version_num": "160004",
    "server_encoding": "UTF8",
    "client_encoding": "UTF8",
    "DateStyle": "ISO, MDY",
    "IntervalStyle": "postgres",
    "integer_datetimes": "on",
    "standard_conforming_strings": "on",
    "TimeZone": "UTC",
    "application_name": "",
    "is_superuser": "on",
    "session_authorization": "sqlml",
    "extra_float_digits": "1",
    "transaction_isolation": "serializable",
    "transaction_read_only": "off",
    "default_transaction_isolation": "serializable",
    "max_identifier_length": "63",
    "statement_timeout": "0",
    "lc_messages": "C",
    "lc_monetary": "C",
    "lc_numeric": "C",
    "lc_time": "C",
    "jit": "off",
    "row_security": "on",
    "bytea_output": "hex",
}
REPORTED = {
    "server_version",
    "server_encoding",
    "client_encoding",
    "DateStyle",
    "IntervalStyle",
    "integer_datetimes",
    "standard_conforming_strings",
    "TimeZone",
    "application_name",
    "is_superuser",
    "session_authorization",
}
_ALIASES = {"transaction isolation level": "transaction_isolation", "time zone": "TimeZone"}

_DUCKDB_SQLSTATES = {
    "ParserException": "42601",
    "SyntaxException": "42601",
    "ConversionException": "22P02",
    "OutOfRangeException": "22003",
    "InterruptException": "57014",
    "InvalidInputException": "22023",
    "NotImplementedException": "0A000",
    "PermissionException": "42501",
    "OutOfMemoryException": "53200",
    "IOException": "58030",
    "SerializationException": "40001",
    "DependencyException": "2BP01",
    "SequenceException": "2200H",
}


def sqlstate_of(error: SqlmlError) -> str:
    """The SQLSTATE PostgreSQL would give: sqlml's own, or the nearest for DuckDB's error."""
    if not isinstance(error, BackendError) or error.engine_error is None:
        return error.sqlstate
    return engine_sqlstate(error.engine_error, error.sqlstate)


def engine_sqlstate(engine_error: Exception, default: str) -> str:
    """The SQLSTATE nearest to a DuckDB exception's kind and message."""
    kind = type(engine_error).__name__
    message = str(engine_error)
    if kind == "CatalogException":
        if "Table with name" in message or "Table or view" in message:
            return "42P01"
        if "Function" in message or "Macro" in message:
            return "42883"
        if "Schema" in message:
            return "3F000"
        if "already exists" in message:
            return "42P07"
        return "42704"
    if kind == "BinderException":
        if "column" in message.lower():
            return "42703"
        if "function" in message.lower():
            return "42883"
        return "42P18" if "parameter" in message.lower() else "42000"
    if kind == "ConstraintException":
        if "NOT NULL" in message:
            return "23502"
        if "foreign key" in message.lower():
            return "23503"
        if "CHECK" in message:
            return "23514"
        return "23505"
    if kind == "TransactionException":
        return "25P02" if "aborted" in message else "25001"
    return _DUCKDB_SQLSTATES.get(kind, default)


class ClientError(SqlError):
    """A SqlmlError as the client sees it: its SQLSTATE and where in the statement."""

    def __init__(self, error: SqlmlError, text: str):
        super().__init__(sqlstate_of(error), str(error))
        self.position: int | None = None
        if error.line is not None:
            lines = text.split("\n")
            line = min(error.line, len(lines))
            self.position = sum(len(x) + 1 for x in lines[: line - 1]) + (error.column or 1)


class Canceled(SqlmlError):
    sqlstate = "57014"


@dataclass
class _Rows:
    columns: list[Column] | None
    cursor: Cursor | None
    command: str

    def batches(self) -> Iterator[pa.RecordBatch]:
        if self.cursor is None:
            return iter(())
        return self.cursor.record_batches(BATCH_ROWS)

    def tag(self, rows: int) -> str:
        return f"{self.command} {rows}"


@dataclass
class _Command:
    text: str
    columns: list[Column] | None = None
    rows: list[pa.RecordBatch] = field(default_factory=list)
    counted: bool = False  # the tag ends with the number of rows sent (FETCH 100)

    def batches(self) -> Iterator[pa.RecordBatch]:
        return iter(self.rows)

    def tag(self, rows: int) -> str:
        return f"{self.text} {rows}" if self.counted else self.text


@dataclass
class _SqlCursor:
    """A cursor made by DECLARE: its rows, materialised so that other statements may run
    between FETCHes (psqlODBC, and so Tableau, reads results this way)."""

    columns: list[Column]
    rows: pa.Table
    position: int = 0

    def fetch(self, count: int | None) -> _Command:
        left = self.rows.num_rows - self.position
        end = self.position + (left if count is None else min(count, left))
        taken = self.rows.slice(self.position, end - self.position)
        self.position = end
        return _Command("FETCH", self.columns, taken.to_batches(), counted=True)


_DECLARE = re.compile(
    r"DECLARE\s+(?P<name>\"[^\"]+\"|\S+)\s+(?:BINARY\s+)?(?:(?:A|IN)SENSITIVE\s+)?"
    r"(?:NO\s+)?(?:SCROLL\s+)?CURSOR\s+(?:WITH(?:OUT)?\s+HOLD\s+)?FOR\s+(?P<query>.*)",
    re.IGNORECASE | re.DOTALL,
)
_FETCH = re.compile(
    r"FETCH\s+(?:(?:FORWARD|NEXT)\s+)?(?P<count>ALL|\d+)?\s*(?:(?:FROM|IN)\s+)?"
    r"(?P<name>\"[^\"]+\"|[^\s;]+)\s*;?\s*$",
    re.IGNORECASE | re.DOTALL,
)


def _setting_result(name: str, value: str) -> _Command:
    return _Command(
        "SHOW",
        [Column(name, pg_types.ColumnType(pg_types.TEXT))],
        [pa.record_batch({name: pa.array([value], pa.string())})],
    )


def _words(text: str, count: int = 3) -> list[str]:
    return text.split(None, count)[:count]


# The first words of a statement → its command tag where it is always the same.
_COUNTED = {"INSERT": "INSERT 0", "UPDATE": "UPDATE", "DELETE": "DELETE", "MERGE": "MERGE"}
_QUERIES = {
    "SELECT",
    "WITH",
    "VALUES",
    "TABLE",
    "FROM",
    "SHOW",
    "DESCRIBE",
    "DESC",
    "EXPLAIN",
    "EVALUATE",
    "SUMMARIZE",
    "PIVOT",
    "UNPIVOT",
    "PRAGMA",
    "CALL",
}
_EXPLAINED = ("explain_key", "explain_value")  # DuckDB's EXPLAIN ANALYZE columns
_READ_ONLY_ML = {"SHOW", "DESCRIBE", "DESC", "EVALUATE", "EXPLAIN"}


class SqlmlEngine:
    """One client's session on a served database: its own DuckDB connection (a cursor of
    the served one), its own transaction and settings."""

    def __init__(
        self, root: Connection, notice: Callable[[str], None], report: Callable[[str, str], None]
    ):
        self._notice = notice
        self._report = report
        self._canceled = threading.Event()
        self.connection = Connection(root.backend.cursor(), progress=self._progress)
        self._dialect = ml_dialect("duckdb")
        self.settings = dict(DEFAULT_SETTINGS)
        self.transaction_status = b"I"
        self._cursors: dict[str, _SqlCursor] = {}
        self._engine_con: Any = getattr(self.connection.backend, "con", None)
        pg_compat.search_path(self._engine_con)

    # -- what the protocol asks -----------------------------------------------------------

    def split(self, sql: str) -> list[str]:
        try:
            return [s.text for s in split(sql, self._dialect)]
        except SqlmlError as error:
            raise ClientError(error, sql) from None

    def check(self, sql: str) -> None:
        """A syntax error in a statement, raised when it is prepared (Parse) as PostgreSQL
        does, not when it first runs."""
        if not sql.strip() or split(sql, self._dialect)[0].is_ml or self._engine_con is None:
            return  # sqlml's own statements were parsed by split()
        try:
            self._engine_con.extract_statements(self._catalog(sql, run=False))
        except Exception as error:  # DuckDB's ParserException
            raise SqlError(engine_sqlstate(error, "42601"), str(error)) from None

    def parameter_count(self, sql: str) -> int:
        return parameters.highest_number(sql, self._dialect, "duckdb")

    def parameter_types(self, sql: str) -> list[int]:
        """Each $n's type OID where the statement casts it, else 0 (unknown)."""
        cast = pg_rewrite.parameter_types(sql)
        return [
            pg_types.BY_NAME[cast[n]].oid if cast.get(n) in pg_types.BY_NAME else 0
            for n in range(1, self.parameter_count(sql) + 1)
        ]

    def describe(self, sql: str, params: list[Any] | None) -> list[Column] | Outcome | None:
        words = [w.upper() for w in _words(sql)]
        if not words:
            return None
        session = self._session_command(words, sql, run=False)
        if session is not None:
            return session.columns
        summary = _creates(sql)
        if summary is not None and split(sql, self._dialect)[0].is_ml:
            # Its one row's columns, known without training (Describe runs nothing).
            return [Column(name, pg_types.from_arrow(kind)) for name, kind in summary.items()]
        if words[0] not in _QUERIES:
            return None
        statement = split(sql, self._dialect)[0]
        if not statement.is_ml and words[:2] == ["EXPLAIN", "ANALYZE"]:
            return [Column(name, pg_types.ColumnType(pg_types.TEXT)) for name in _EXPLAINED]
        if words[0] in ("SHOW", "DESCRIBE", "DESC", "EXPLAIN") or (
            statement.is_ml and words[0] in _READ_ONLY_ML
        ):
            shown = self.execute(sql, params or [])  # read-only: its columns are its result's
            return shown if isinstance(shown, Outcome) else None
        if words[0] not in ("SELECT", "WITH", "VALUES", "TABLE", "FROM"):
            return None
        values = params if params is not None else [None] * self.parameter_count(sql)
        try:
            text = (
                self.connection.engine_sql(sql)
                if statement.is_ml
                else self._catalog(sql, run=False)
            )
            described = self.connection.backend.describe(Query(text, tuple(values)))
        except SqlmlError as error:
            raise ClientError(error, sql) from None
        except Exception as error:  # DuckDB's own, on the rewritten query
            raise SqlError(engine_sqlstate(error, "XX000"), str(error)) from None
        return [Column(name, pg_types.from_duckdb(kind)) for name, kind in described]

    def execute(self, sql: str, params: list[Any]) -> Outcome | CopyIn:
        self._canceled.clear()
        words = [w.upper() for w in _words(sql, 6)]
        session = self._session_command(words, sql, run=True)
        if session is not None:
            return session
        if self.transaction_status == b"E":
            raise SqlError(
                "25P02",
                "current transaction is aborted, commands ignored until end of transaction block",
            )
        copy = pg_copy.parse(sql) if words and words[0] == "COPY" else None
        if copy is not None:
            return self._copy_out(copy) if copy.to_client else self._copy_in(copy)
        return self._run(sql, params, words)

    def _run(self, sql: str, params: list[Any], words: list[str]) -> Outcome:
        try:
            cursor = self.connection.execute(self._catalog(sql), params or None)
        except SqlmlError as error:
            self._failed()
            raise ClientError(error, sql) from None
        except BaseException:
            self._failed()
            raise
        return self._outcome(words, cursor)

    def cancel(self) -> None:
        self._canceled.set()
        if self._engine_con is not None:
            self._engine_con.interrupt()

    def close(self) -> None:
        self.connection.close()

    # -- internals ------------------------------------------------------------------------

    def _copy_out(self, copy: pg_copy.CopyStatement) -> CopyOut:
        columns = ", ".join(map(pg_copy.quote_identifier, copy.columns)) or "*"
        query = copy.source if copy.is_query else f"SELECT {columns} FROM {copy.source}"
        outcome = self._run(query, [], ["SELECT"])
        described = outcome.columns or []
        types = [c.type for c in described]

        def pieces() -> Iterator[bytes]:
            if copy.options.header:
                yield wire.message(b"d", pg_copy.header([c.name for c in described], copy.options))
            for batch in outcome.batches():
                result.rows += batch.num_rows
                yield wire.copy_data_rows(*pg_copy.lines(batch, types, copy.options))

        result = CopyOut(len(described), pieces())
        return result

    def _copy_in(self, copy: pg_copy.CopyStatement) -> CopyIn:
        columns = copy.columns
        if not columns:
            table = self._run(f"SELECT * FROM {copy.source} LIMIT 0", [], ["SELECT"])
            columns = [c.name for c in table.columns or []]
        return _CopyLoad(self, copy, columns)

    def _catalog(self, sql: str, run: bool = True) -> str:
        """A question to PostgreSQL's catalog in DuckDB's terms; other SQL as it is. Only a
        statement that runs changes a setting (set_config), not one being described."""
        rewritten = pg_rewrite.rewrite(sql, _SessionSettings(self, changes=run))
        if rewritten is None or split(sql, self._dialect)[0].is_ml:
            return sql
        return rewritten

    def _cursor_command(self, first: str, sql: str, run: bool) -> _Command | None:
        """DECLARE ... CURSOR FOR, FETCH and CLOSE; None for any other statement."""
        if first == "DECLARE" and (declared := _DECLARE.match(sql.strip())):
            name = _cursor_name(declared.group("name"))
            if run:
                outcome = self.execute(declared.group("query"), [])
                if not isinstance(outcome, Outcome) or outcome.columns is None:
                    raise SqlError("42P11", "cursor can only scan a query that returns rows")
                rows = pa.Table.from_batches(list(outcome.batches()))
                self._cursors[name] = _SqlCursor(outcome.columns, rows)
            return _Command("DECLARE CURSOR")
        if first == "FETCH" and (fetched := _FETCH.match(sql.strip())):
            name = _cursor_name(fetched.group("name"))
            cursor = self._cursors.get(name)
            if cursor is None:
                raise SqlError("34000", f'cursor "{name}" does not exist')
            count = fetched.group("count")
            if not run:
                return _Command("FETCH", cursor.columns, counted=True)
            return cursor.fetch(None if count is None or count.upper() == "ALL" else int(count))
        if first == "CLOSE":
            target = sql.split(None, 1)[1].strip().rstrip(";").strip() if " " in sql else ""
            if run:
                if target.upper() == "ALL":
                    self._cursors.clear()
                elif self._cursors.pop(_cursor_name(target), None) is None:
                    raise SqlError("34000", f'cursor "{_cursor_name(target)}" does not exist')
            return _Command("CLOSE CURSOR" if target.upper() != "ALL" else "CLOSE CURSOR ALL")
        return None

    def _progress(self, message: str) -> None:
        if self._canceled.is_set():
            raise Canceled("canceling statement due to user request")
        self._notice(message)

    def _failed(self) -> None:
        if self.transaction_status == b"T":
            self.transaction_status = b"E"

    def _outcome(self, words: list[str], cursor: Cursor) -> Outcome:
        first = words[0] if words else ""
        description = cursor.description
        if first in _COUNTED or (first == "CREATE" and " AS " in " ".join(words).upper()):
            count = cursor.fetchone() if description else None
            rows = int(count[0]) if count and isinstance(count[0], int) else max(cursor.rowcount, 0)
            if first == "CREATE":
                return _Command(f"SELECT {rows}")
            return _Command(f"{_COUNTED[first]} {rows}")
        if description is None or (first not in _QUERIES and _only_count(description)):
            return _Command(_tag(words))
        columns = [Column(name, pg_types.from_duckdb(str(kind))) for name, kind, *_ in description]
        return _Rows(columns, cursor, "SELECT")

    def _session_command(self, words: list[str], sql: str, run: bool) -> _Command | None:
        """Transactions and settings, as PostgreSQL answers them; None for anything else."""
        if not words:
            return None
        first = words[0].rstrip(";")
        if first in ("BEGIN", "START"):
            if run:
                if self.transaction_status == b"I":
                    self._engine("BEGIN TRANSACTION")
                    self.transaction_status = b"T"
                else:
                    self._notice("there is already a transaction in progress")
            return _Command("BEGIN")
        if first in ("COMMIT", "END", "ROLLBACK", "ABORT"):
            tag = "ROLLBACK" if first in ("ROLLBACK", "ABORT") else "COMMIT"
            if run:
                if self.transaction_status == b"I":
                    self._notice("there is no transaction in progress")
                else:
                    failed = self.transaction_status == b"E"
                    self.transaction_status = b"I"
                    self.connection.backend.end_transaction(commit=tag == "COMMIT" and not failed)
                    tag = "ROLLBACK" if failed else tag
            return _Command(tag)
        if self.transaction_status == b"E" and run:
            return None  # refused by execute()
        if first == "SET":
            return self._set(sql, run)
        if first == "RESET" and len(words) > 1:
            if words[1].rstrip(";") == "ALL":
                if run:
                    for setting, value in DEFAULT_SETTINGS.items():
                        if self.settings[setting] != value:
                            self._change(setting, value)
                    self._engine("SET TimeZone = $1", [DEFAULT_SETTINGS["TimeZone"]])
                return _Command("RESET")
            name = self._known(words[1])
            if name is not None:
                if run:
                    self._change(name, DEFAULT_SETTINGS[name])
                return _Command("RESET")
        if first == "SHOW" and len(words) > 1:
            name = self._known(" ".join(sql.split()[1:]).rstrip(";").strip())
            if name is not None:
                return _setting_result(
                    name.lower() if name != "TimeZone" else name, self.settings[name]
                )
        if first in ("DISCARD", "DEALLOCATE", "UNLISTEN", "LISTEN", "NOTIFY"):
            if first == "DISCARD" and run:
                self._cursors.clear()
            return _Command(first if first != "DISCARD" else f"DISCARD {words[1]}".rstrip(";"))
        return self._cursor_command(first, sql, run)

    def _known(self, name: str) -> str | None:
        wanted = _ALIASES.get(name.lower(), name).lower()
        return next((k for k in self.settings if k.lower() == wanted), None)

    def _set(self, sql: str, run: bool) -> _Command | None:
        body = sql.split(None, 1)[1] if len(sql.split(None, 1)) > 1 else ""
        for scope in ("SESSION ", "LOCAL "):
            if body.upper().startswith(scope):
                body = body[len(scope) :]
        if body.upper().startswith("TRANSACTION") or body.upper().startswith(
            "SESSION CHARACTERISTICS"
        ):
            return _Command("SET")
        if body.upper().startswith("TIME ZONE"):
            name, value = "TimeZone", body[len("TIME ZONE") :]
        else:
            for separator in ("=", " TO ", " to "):
                if separator in body:
                    name, value = body.split(separator, 1)
                    break
            else:
                return None
        known = self._known(name.strip())
        if known is None:
            return None  # DuckDB's own setting
        text = value.strip().rstrip(";").strip()
        if len(text) >= 2 and text[0] == text[-1] == "'":
            text = text[1:-1].replace("''", "'")
        if run:
            if known == "TimeZone":
                self._engine("SET TimeZone = $1", [text if text.upper() != "DEFAULT" else "UTC"])
            self._change(known, text if text.upper() != "DEFAULT" else DEFAULT_SETTINGS[known])
        return _Command("SET")

    def _change(self, name: str, value: str) -> None:
        self.settings[name] = value
        if name in REPORTED:
            self._report(name, value)

    def _engine(self, sql: str, params: list[Any] | None = None) -> None:
        try:
            self.connection.execute(sql, params)
        except SqlmlError as error:
            raise ClientError(error, sql) from None


class _CopyLoad:
    """COPY ... FROM STDIN: the client's data spooled to a file, then loaded by DuckDB's CSV
    reader in one INSERT (all or nothing)."""

    def __init__(self, session: SqlmlEngine, copy: pg_copy.CopyStatement, columns: list[str]):
        self.session = session
        self.copy = copy
        self.columns = columns
        self.width = len(columns)
        # Closed and removed by finish() or abort(), which the protocol always calls.
        self._file = tempfile.NamedTemporaryFile(  # noqa: SIM115
            prefix="sqlml-copy-", suffix=".txt", delete=False
        )

    def write(self, data: bytes) -> None:
        self._file.write(data)

    def finish(self) -> str:
        self._file.close()
        try:
            sql = pg_copy.load_sql(self.copy.source, self.columns, self.copy.options)
            values = pg_copy.load_parameters(self._file.name, self.width, self.copy.options)
            outcome = self.session._run(sql, values, ["INSERT"])
            return "COPY " + outcome.tag(0).rsplit(" ", 1)[-1]
        finally:
            os.unlink(self._file.name)

    def abort(self) -> None:
        self._file.close()
        with suppress(OSError):
            os.unlink(self._file.name)


@dataclass
class _SessionSettings:
    """A session's settings as pg_rewrite reads and changes them."""

    session: SqlmlEngine
    changes: bool

    def get(self, name: str) -> str | None:
        known = self.session._known(name)
        return None if known is None else self.session.settings[known]

    def change(self, name: str, value: str) -> None:
        known = self.session._known(name)
        if known is not None and self.changes:
            self.session._change(known, value)


def _creates(sql: str) -> dict[str, pa.DataType] | None:
    """The summary row's columns of CREATE [OR REPLACE] MODEL / FEATURE TABLE."""
    kept = [w.upper() for w in _words(sql, 5) if w.upper() not in ("OR", "REPLACE")]
    if kept[:2] == ["CREATE", "MODEL"]:
        return model_summary
    if kept[:2] == ["CREATE", "FEATURE"]:
        return feature_table_summary
    return None


def _cursor_name(name: str) -> str:
    return name[1:-1].replace('""', '"') if name.startswith('"') else name.lower()


def _only_count(description: list[tuple]) -> bool:
    """DuckDB's answer to a command (CREATE TABLE, COPY): one column, Count."""
    return len(description) == 1 and description[0][0] == "Count"


def _tag(words: list[str]) -> str:
    """PostgreSQL's tag for a command that returns no rows: CREATE TABLE, DROP VIEW, ..."""
    if not words:
        return ""
    first = words[0]
    if first in ("CREATE", "DROP", "ALTER") and len(words) > 1:
        rest = [w for w in words[1:] if w not in ("OR", "REPLACE", "TEMP", "TEMPORARY", "UNIQUE")]
        return f"{first} {rest[0]}" if rest else first
    return first


def server_version() -> str:
    import duckdb

    return f"PostgreSQL 16.4 (sqlml {__version__} on DuckDB {duckdb.__version__})"
