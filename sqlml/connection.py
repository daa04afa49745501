"""The client: a Connection runs SQL with sqlml's statements on one backend."""

from __future__ import annotations

import contextlib
import dataclasses
import importlib
import re
import sys
from collections.abc import Callable, Iterable, Iterator
from os import PathLike
from types import FrameType
from typing import TYPE_CHECKING, Any, TypeAlias, cast

import pyarrow as pa
import sqlglot
from sqlglot import exp
from sqlglot.errors import ErrorLevel, ParseError, SqlglotError
from sqlglot.tokens import TokenType

from sqlml import parameters, pipeline, replacement_scans
from sqlml._udfs_loader import udfs
from sqlml.backends.base import Backend
from sqlml.dialects import expressions as ml
from sqlml.dialects import ml_dialect
from sqlml.errors import (
    BackendError,
    InputSchemaError,
    SqlmlError,
    SqlmlSyntaxError,
    UnsupportedError,
)
from sqlml.feature_tables import statements as feature_table_statements
from sqlml.models import create, manage, portable
from sqlml.parameters import Params
from sqlml.positions import locate
from sqlml.predict.calls import model_name, signature
from sqlml.result import EmptyResult, Result
from sqlml.session import Query, Session
from sqlml.statements import Statement, split

if TYPE_CHECKING:
    import duckdb
    import psycopg

# What sqlml.connect() opens: a DuckDB file or :memory:, a PostgreSQL DSN, or a connection.
Target: TypeAlias = "str | PathLike[str] | duckdb.DuckDBPyConnection | psycopg.Connection[Any]"

Progress = Callable[[str], None]


def _stderr_progress(message: str) -> None:
    print(f"sqlml: {message}", file=sys.stderr, flush=True)


def _silent(message: str) -> None:
    pass


class Cursor:
    """One statement's result, as PEP 249 (DB-API 2.0) describes a cursor's: description,
    rowcount, fetchone / fetchmany / fetchall, iteration; plus arrow() and df()."""

    arraysize = 1  # rows fetchmany() gives when not told

    def __init__(self, result: Result, backend: Backend):
        self._result = result
        self._backend = backend

    @property
    def description(self) -> list[tuple] | None:
        """(name, type_code, None, ...) per column; type_code is the engine's name of the
        column's type (DuckDB's VARCHAR, PostgreSQL's text), for every kind of statement."""
        described = self._result.description
        if described is None:
            return None
        return [(name, self._backend.type_code(kind), *rest) for name, kind, *rest in described]

    @property
    def rowcount(self) -> int:
        """Rows the statement returned or changed, where known; -1 otherwise (as DuckDB's)."""
        return getattr(self._result, "rowcount", -1)

    def fetchone(self) -> tuple | None:
        return self._result.fetchone()

    def fetchmany(self, size: int | None = None) -> list[tuple]:
        return self._result.fetchmany(self.arraysize if size is None else size)

    def fetchall(self) -> list[tuple]:
        return self._result.fetchall()

    def arrow(self) -> pa.Table:
        return self._result.arrow()

    def record_batches(self, rows: int = 65_536) -> Iterator[pa.RecordBatch]:
        """The rows as Arrow batches, read as they are consumed (a result too large to hold
        at once streams through)."""
        return self._result.record_batches(rows)

    def df(self) -> Any:
        return self.arrow().to_pandas()

    def close(self) -> None:
        """Nothing is held: a result is read or dropped with the next statement."""

    def __enter__(self) -> Cursor:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __iter__(self) -> Iterator[tuple]:
        while (row := self.fetchone()) is not None:
            yield row


class Connection:
    def __init__(
        self, backend: Backend, progress: bool | Progress = False, read: str | None = None
    ):
        self.backend = backend
        # The dialect scripts are written in: the engine's own unless `read=` says otherwise,
        # in which case every statement is transpiled to the engine's SQL.
        self.read = read or backend.name
        self._dialect = ml_dialect(self.read)
        if callable(progress):
            self._progress: Progress = progress
            backend.report_progress(progress)
        else:
            self._progress = _stderr_progress if progress else _silent
        self._session = Session(backend, self._progress, _rewrite(None), self.read)
        self._closed = False
        self._last = Cursor(_empty(), backend)

    # -- public API --------------------------------------------------------------------

    def execute(self, sql: str, params: Params = None) -> Cursor:
        """Run one statement (plain SQL or sqlml's), with optional parameters: ``?`` or
        ``$1`` with a sequence, ``$name`` with a mapping (PostgreSQL: also ``%s`` and
        ``%(name)s``), bound as values, never written into the SQL."""
        statement = self._one_statement(sql, "execute()")
        scope = self._scope(sys._getframe(1))
        self._last = Cursor(self._run(statement, params, scope), self.backend)
        return self._last

    def executescript(self, script: str) -> Cursor:
        """Run every statement of a script in order; the last one's result is returned."""
        result: Result | None = None
        scope = self._scope(sys._getframe(1))
        for statement in self._split(script):
            result = self._run(statement, None, scope)
        self._last = Cursor(result if result is not None else _empty(), self.backend)
        return self._last

    def command(self, statement: ml.MLStatement) -> Cursor:
        """Run an already-parsed sqlml statement (the function forms in PostgreSQL use it)."""
        return Cursor(_run_statement(statement, self._session), self.backend)

    def engine_sql(self, sql: str) -> str:
        """The SQL a query runs as on the engine: sqlml's functions (PREDICT, ML.*,
        FEATURES_AT_TIME) rewritten into the engine's own. Only a query has one; sqlml's
        statements run with execute()."""
        statement = self._one_statement(sql, "engine_sql()")
        self.backend.begin_statement()
        with self.backend.statement():
            if not statement.is_ml:
                return self._transpiled(statement)
            tree = self._parse(statement)
            if not isinstance(tree, exp.Query):
                raise UnsupportedError(
                    "only a query (SELECT ...) runs as the engine's SQL; run sqlml's other "
                    "statements as they are (PostgreSQL: sqlml.execute)"
                )
            return self._session.query(tree).sql

    def engine_expression(self, expression: str) -> str:
        """The engine's SQL of one sqlml expression computed row by row, such as
        ``PREDICT(churn, c.*)``, for a select list the caller writes itself (dbt's
        sqlml.predict macro). A model that reads feature tables needs its query rewritten
        as a whole: engine_sql()."""
        statement = self._one_statement(f"SELECT {expression}", "engine_expression()")
        self.backend.begin_statement()
        with self.backend.statement():
            tree = self._parse(statement)
            clauses = [key for key, value in tree.args.items() if value and key != "expressions"]
            if not isinstance(tree, exp.Select) or len(tree.expressions) != 1 or clauses:
                raise SqlmlSyntaxError(
                    f"engine_expression() takes one expression, such as PREDICT(m, c.*), "
                    f"not {expression!r}"
                )
            for node in tree.find_all(ml.MLPredict):
                model = self.backend.catalog.find(model_name(node))
                if model is not None and model.metadata.get("annotations", {}).get("features"):
                    raise UnsupportedError(
                        f"model {model.name} was trained with FEATURES: its PREDICT looks the "
                        "features up by key in the query's FROM, so only a whole query can be "
                        "rewritten for it: engine_sql() (PostgreSQL: sqlml.sql(); dbt: "
                        "{% call sqlml.query() %} ... {% endcall %})"
                    )
            rewritten = self._session.query(tree).sql
        (item,) = sqlglot.parse_one(rewritten, read=self.backend.name).expressions
        return item.unalias().sql(dialect=self.backend.name)

    def register(self, name: str, frame: Any) -> None:
        """Makes a pandas or polars frame or an Arrow table a view named ``name`` on this
        connection (DuckDB; frames in the caller's scope are found by name without it)."""
        self.backend.register(name, frame)

    def executemany(self, sql: str, seq_of_params: Iterable[Params]) -> Cursor:
        """Run one statement once per set of parameters (PEP 249); the last result."""
        statement = self._one_statement(sql, "executemany()")
        scope = self._scope(sys._getframe(1))
        result: Result = _empty()
        for params in seq_of_params:
            result = self._run(statement, params, scope)
        self._last = Cursor(result, self.backend)
        return self._last

    # As a DB-API cursor (what cursor() gives): the last execute()'s result.

    @property
    def description(self) -> list[tuple] | None:
        return self._last.description

    @property
    def rowcount(self) -> int:
        return self._last.rowcount

    def fetchone(self) -> tuple | None:
        return self._last.fetchone()

    def fetchmany(self, size: int | None = None) -> list[tuple]:
        return self._last.fetchmany(size)

    def fetchall(self) -> list[tuple]:
        return self._last.fetchall()

    def commit(self) -> None:
        """Commits a transaction the caller began (BEGIN); sqlml's statements commit by
        themselves, and plain statements outside BEGIN are committed as they run."""
        self.backend.end_transaction(commit=True)

    def rollback(self) -> None:
        """Rolls back a transaction the caller began (BEGIN); without one it does nothing."""
        self.backend.end_transaction(commit=False)

    def cursor(self) -> Connection:
        """A connection to the same database for another thread (as duckdb's and DB-API's
        cursor()): models and catalog shared, statements and results its own. A DuckDB
        connection belongs to the first thread that runs a statement on it."""
        return Connection(self.backend.cursor(), self._progress, self.read)

    def close(self) -> None:
        if not self._closed:
            self._closed = True
            self.backend.close()

    def __enter__(self) -> Connection:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- internals ---------------------------------------------------------------------

    def _split(self, sql: str) -> list[Statement]:
        if self._closed:
            raise SqlmlError("the connection is closed")
        statements = split(sql, self._dialect)
        if not statements:
            raise SqlmlSyntaxError("no SQL statement to run")
        return statements

    def _one_statement(self, sql: str, method: str) -> Statement:
        statements = self._split(sql)
        if len(statements) != 1:
            raise SqlmlSyntaxError(
                f"{method} runs one statement and got {len(statements)}; use executescript()"
            )
        return statements[0]

    def _scope(self, caller: FrameType) -> dict[str, Any]:
        """The data frames the caller can see, which DuckDB reads by name."""
        return replacement_scans.in_scope(caller) if self.backend.reads_frames else {}

    def _run(self, statement: Statement, params: Params, scope: dict[str, Any]) -> Result:
        self.backend.begin_statement()
        used: dict[str, str] = {}  # engine function → model, for errors about PREDICT
        text, values = parameters.bind(statement.text, params, self._dialect, self.backend.name)
        written = statement
        statement = dataclasses.replace(statement, text=text)
        session = dataclasses.replace(self._session, rewrite=_rewrite(used), params=values)
        as_written = not statement.is_ml and self.read == self.backend.name and text == written.text
        frames = replacement_scans.named_in(statement.text, scope, self._dialect)
        try:
            with (
                _deep_recursion(),
                self.backend.statement(),
                self.backend.reading_frames(frames),
            ):
                return self._dispatch(statement, session)
        except SqlmlError as error:
            if error.line is None:
                _place(error, locate(error, written, as_written))
            raise
        except RecursionError:
            raise SqlmlSyntaxError(
                "the statement nests too deeply (sqlml parses about 1,000 levels of "
                "parentheses or subqueries)",
                statement.line,
                statement.column,
            ) from None
        except _ENGINE_ERRORS as error:
            explained = self._explain_engine_error(error, used, written)
            _place(explained, locate(error, written, as_written))
            raise explained from error

    def _dispatch(self, statement: Statement, session: Session) -> Result:
        if not statement.is_ml:
            try:
                return self.backend.run(self._transpiled(statement), session.params)
            except _ENGINE_ERRORS:
                described = self._described_model(statement)
                if described is None:
                    raise
                return _run_statement(described, session)
        tree = self._parse(statement)
        if isinstance(tree, ml.ExplainQuery):
            keyword = "EXPLAIN ANALYZE" if tree.args.get("analyze") else "EXPLAIN"
            query = session.query(tree.this)
            return self.backend.run(f"{keyword} {query.sql}", query.params)
        if isinstance(tree, ml.MLStatement):
            return _run_statement(tree, session)
        query = session.query(tree)
        return self.backend.run(query.sql, query.params)

    def _described_model(self, statement: Statement) -> ml.MLStatement | None:
        """``DESCRIBE m`` (MindsDB's, and DuckDB's for tables) that the engine could not
        answer, when m is a model or feature table: sqlml's DESCRIBE of it."""
        tokens = self._dialect.tokenize(statement.text)
        if len(tokens) != 2 or tokens[0].text.upper() not in ("DESCRIBE", "DESC"):
            return None
        token = tokens[1]
        name = token.text if token.token_type == TokenType.IDENTIFIER else token.text.lower()
        if self.backend.catalog.find(name) is not None:
            return ml.DescribeModel(this=name)
        if name in udfs.catalog.FeatureTables(self.backend.catalog.db).names():
            return ml.DescribeFeatureTable(this=name)
        return None

    def _transpiled(self, statement: Statement) -> str:
        """A plain statement in the engine's SQL: as written when it is already, else
        translated by sqlglot, which must say so when it cannot (never a wrong query)."""
        if self.read == self.backend.name:
            return statement.text
        tree = self._parse(statement)
        try:
            return tree.sql(dialect=self.backend.name, unsupported_level=ErrorLevel.RAISE)
        except SqlglotError as error:
            raise UnsupportedError(
                f"cannot translate this {self.read} statement (line {statement.line}) to "
                f"{self.backend.name}: {error}"
            ) from error

    def _parse(self, statement: Statement) -> exp.Expr:
        try:
            trees = self._dialect.parse(statement.text)
        except ParseError as error:
            detail = error.errors[0] if error.errors else {}
            line = detail.get("line") or 1
            # sqlglot gives the column of the token's last character: point at its first.
            highlight = detail.get("highlight") or ""
            column = max(1, (detail.get("col") or 1) - max(len(highlight) - 1, 0))
            if line == 1:
                column += statement.column - 1
            raise SqlmlSyntaxError(
                detail.get("description") or str(error), statement.line + line - 1, column
            ) from None
        if len(trees) != 1 or trees[0] is None:
            raise SqlmlSyntaxError(
                "expected exactly one statement", statement.line, statement.column
            )
        return trees[0]

    def _explain_engine_error(
        self, error: Exception, used: dict[str, str], statement: Statement
    ) -> SqlmlError:
        """An engine error about PREDICT's arguments, told in the model's terms."""
        message = _engine_message(error)
        named = [m for f, m in used.items() if f.lower() in message.lower()]
        if not named and used and _is_conversion_error(error):
            named = list(dict.fromkeys(used.values()))  # a value that could not be cast
        if not named:
            return _engine_error(error, statement)
        signatures = "; ".join(signature(self.backend.catalog.get(m)) for m in named)
        return InputSchemaError(
            f"PREDICT({', '.join(named)}, ...): the arguments do not fit the model's "
            f"signature {signatures}. The engine said: {message}"
        )


def _rewrite(used: dict[str, str] | None) -> Callable[[exp.Expr, Session], Query]:
    """The pipeline for a statement's queries; ``used`` collects the PREDICTs it meets."""
    return lambda tree, session: pipeline.engine_query(tree, session, used)


def _engine_error_types() -> tuple[type[Exception], ...]:
    """The engines' own exception classes, of the drivers that are installed."""
    classes: list[type[Exception]] = []
    for module in ("duckdb", "psycopg"):
        with contextlib.suppress(ImportError):
            classes.append(importlib.import_module(module).Error)
    return tuple(classes)


_ENGINE_ERRORS = _engine_error_types()

# PostgreSQL's SQLSTATEs for a value that cannot be read as the type asked for.
_CAST_SQLSTATES = ("22P02", "22003", "22007", "22008")


def _is_conversion_error(error: Exception) -> bool:
    sqlstate = getattr(error, "sqlstate", None)
    return type(error).__name__ == "ConversionException" or sqlstate in _CAST_SQLSTATES


def _place(error: SqlmlError, position: tuple[int, int] | None) -> None:
    """Gives the error its line and column. sqlml's own messages stay as they are, the same
    as the server's; an engine's message, whose excerpt may be of the rewritten SQL, ends
    with the place instead."""
    if position is None:
        return
    error.line, error.column = position
    if isinstance(error, BackendError):
        place = f"line {error.line}, column {error.column}"
        error.args = (f"{_engine_message(error.engine_error or error)} ({place})",)


def _engine_message(error: Exception) -> str:
    """The engine's message without its excerpt of the SQL it ran, which may be sqlml's
    rewrite rather than the user's text (the error's line and column point there instead)."""
    return str(error).split("\n\nLINE ")[0].split("\nLINE ")[0]


def _engine_error(error: Exception, statement: Statement) -> BackendError:
    """The engine's own error, saying where the statement stands in the script."""
    where = f" (in the statement at line {statement.line})" if statement.line > 1 else ""
    wrapped = BackendError(f"{error}{where}")
    wrapped.engine_error = error
    return wrapped


def _empty() -> Result:
    return EmptyResult()


Handler = Callable[[Any, Session], Result]

# Each sqlml statement and the function that carries it out.
HANDLERS: dict[type[ml.MLStatement], Handler] = {
    ml.CreateModel: create.create_model,
    ml.ShowModels: manage.show_models,
    ml.ShowModel: manage.show_model,
    ml.ShowModelVersions: manage.show_versions,
    ml.ShowTrials: manage.show_trials,
    ml.ShowRuns: manage.show_runs,
    ml.DescribeModel: manage.describe_model,
    ml.EvaluateModel: manage.evaluate_model,
    ml.ExplainModel: manage.explain_model,
    ml.DropModel: manage.drop_model,
    ml.AlterModelVersion: manage.alter_model_version,
    ml.AlterModelOwner: manage.alter_model_owner,
    ml.AlterModelRollback: manage.alter_model_rollback,
    ml.ExportModel: portable.export_model,
    ml.ImportModel: portable.import_model,
    ml.Retrain: manage.retrain,
    ml.CreateFeatureTable: feature_table_statements.create_feature_table,
    ml.RefreshFeatureTable: feature_table_statements.refresh_feature_table,
    ml.ShowFeatureTables: feature_table_statements.show_feature_tables,
    ml.DescribeFeatureTable: feature_table_statements.describe_feature_table,
    ml.DropFeatureTable: feature_table_statements.drop_feature_table,
}


def _run_statement(statement: ml.MLStatement, session: Session) -> Result:
    return HANDLERS[type(statement)](statement, session)


# sqlglot parses and writes SQL recursively, about 15 Python frames a level of nesting:
# Python's default limit (1,000) stops it at some 40 levels of parentheses.
_RECURSION_LIMIT = 16_000


@contextlib.contextmanager
def _deep_recursion() -> Iterator[None]:
    before = sys.getrecursionlimit()
    sys.setrecursionlimit(max(before, _RECURSION_LIMIT))
    try:
        yield
    finally:
        sys.setrecursionlimit(before)


def connect(
    target: Target = ":memory:",
    *,
    progress: bool | Progress = False,
    read: str | None = None,
    read_only: bool = False,
) -> Connection:
    """A file path or ``:memory:`` (DuckDB), a ``postgresql://`` DSN, or an open duckdb
    or psycopg connection. ``read`` names the dialect scripts are written in (bigquery,
    redshift, postgres, duckdb): their statements are transpiled to the engine's.
    ``read_only`` opens a DuckDB file for reading, which several processes may do at once."""
    if read is not None:
        ml_dialect(read)  # an unknown dialect fails before anything is opened
    return Connection(_backend(target, read_only), progress, read)


# libpq's keyword form ("host=db dbname=shop"), beside its URLs.
_KEYWORD_DSN = re.compile(
    r"^\s*(host|hostaddr|port|dbname|user|password|service|sslmode|passfile)\s*=", re.I
)


def is_postgres_dsn(target: str) -> bool:
    """Whether a string names a PostgreSQL database (a URL or libpq's key=value form)
    rather than a DuckDB file."""
    return target.startswith(("postgresql://", "postgres://")) or bool(_KEYWORD_DSN.match(target))


def _backend(target: Target, read_only: bool) -> Backend:
    import duckdb

    from sqlml.backends.duckdb import DuckDBBackend

    is_dsn = isinstance(target, str) and is_postgres_dsn(target)
    if read_only and (is_dsn or not isinstance(target, str | PathLike)):
        raise TypeError(
            "read_only=True opens a DuckDB file by its path (an open duckdb connection says "
            "for itself whether it is read-only; on PostgreSQL, grant the role only what it "
            "may do)"
        )
    if isinstance(target, duckdb.DuckDBPyConnection):
        return DuckDBBackend(target, owns_connection=False)
    if is_dsn:
        from sqlml.backends import postgres

        return postgres.connect(cast(str, target))
    if type(target).__module__.startswith("psycopg"):  # psycopg is not imported for DuckDB
        from sqlml.backends.postgres import PostgresBackend

        return PostgresBackend(cast("psycopg.Connection[Any]", target), owns_connection=False)
    if isinstance(target, str | PathLike):
        return DuckDBBackend.open(str(target), read_only)
    raise TypeError(f"sqlml.connect() takes a path, ':memory:' or a connection, not {target!r}")
