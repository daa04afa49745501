"""The exceptions sqlml raises.

Every error derives from :class:`SqlmlError` and also from the builtin it resembles, so
callers can catch either. ``udfs/`` imports this module inside the database, so it must
stay free of third-party imports.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable


class SqlmlError(Exception):
    """Root of every error sqlml raises.

    ``sqlstate`` is the PostgreSQL SQLSTATE used when the error is raised inside the server;
    ``line`` and ``column`` (1-based) say where in the SQL text the error is, when known.
    """

    sqlstate = "XX000"
    line: int | None = None
    column: int | None = None


class SqlmlSyntaxError(SqlmlError, ValueError):
    """The SQL text cannot be parsed; the message gives line and column."""

    sqlstate = "42601"

    def __init__(self, message: str, line: int | None = None, column: int | None = None):
        where = f" (line {line}, column {column})" if line is not None else ""
        super().__init__(f"{message}{where}")
        self.line = line
        self.column = column


class ModelNotFoundError(SqlmlError, LookupError):
    sqlstate = "42704"


class ModelExistsError(SqlmlError, ValueError):
    sqlstate = "42710"


class NameTooLongError(SqlmlError, ValueError):
    """A name longer than the engine keeps (PostgreSQL: 63 bytes)."""

    sqlstate = "42622"


class FeatureTableNotFoundError(SqlmlError, LookupError):
    sqlstate = "42P01"


class UnknownOptionError(SqlmlError, ValueError):
    sqlstate = "22023"


class InvalidTrainingDataError(SqlmlError, ValueError):
    """The training query's result cannot train a model (no rows, bad target, ...)."""

    sqlstate = "22000"


class InputSchemaError(SqlmlError, TypeError):
    """PREDICT got arguments that do not fit the model's signature."""

    sqlstate = "42883"


class PermissionDeniedError(SqlmlError, PermissionError):
    sqlstate = "42501"


class UnsupportedError(SqlmlError, NotImplementedError):
    sqlstate = "0A000"


class CatalogVersionError(SqlmlError, RuntimeError):
    """The catalog was made by a release this one cannot read or move forward."""

    sqlstate = "55000"


class DatabaseInUseError(SqlmlError, RuntimeError):
    """Another process holds the database (a DuckDB file is written by one process at a time)."""

    sqlstate = "55006"


class TrainingTooLargeError(SqlmlError, RuntimeError):
    """The training rows would not fit in the memory the engine has: sample them."""

    sqlstate = "53200"


class ReadOnlyError(SqlmlError, PermissionError):
    """A statement that writes, on a connection opened read-only."""

    sqlstate = "25006"


class WrongThreadError(SqlmlError, RuntimeError):
    """A connection used from a thread other than its own (DuckDB runs one statement at a
    time per connection: each thread takes its own with ``cursor()``)."""

    sqlstate = "55000"


class ParameterError(SqlmlError, ValueError):
    """A statement's placeholders and the parameters given with it do not match."""

    sqlstate = "42P02"


class MissingExtraError(SqlmlError, ImportError):
    """An optional part of sqlml whose libraries are not installed; the message names the
    extra that brings them (``pip install 'sqlml[dbt]'``)."""

    sqlstate = "58P01"


class FileAccessError(SqlmlError, OSError):
    """A file sqlml was asked to read or write (EXPORT / IMPORT MODEL) cannot be; the
    message names it and says why."""

    sqlstate = "58030"


class ModelFileError(SqlmlError, ValueError):
    """A file or bytes given as a model are not an ONNX model sqlml can serve; the message
    says what is wrong with it."""

    sqlstate = "22P03"


class BackendError(SqlmlError, RuntimeError):
    """The database engine rejected a statement sqlml generated or passed through.

    ``engine_error`` is the engine's own exception (duckdb.Error, psycopg.Error).
    """

    engine_error: Exception | None = None


def close_matches(word: str, candidates: Iterable[str]) -> str:
    """' Did you mean: a, b?' for the candidates close to ``word``, or ''."""
    pool = list(candidates)
    matches = difflib.get_close_matches(word, pool, n=3, cutoff=0.5)
    if not matches:
        lowered = {c.lower(): c for c in pool}
        matches = [lowered[m] for m in difflib.get_close_matches(word.lower(), lowered, n=3)]
    return f" Did you mean: {', '.join(matches)}?" if matches else ""


def from_server(sqlstate: str | None, message: str) -> SqlmlError | None:
    """The sqlml error that a PostgreSQL ERROR raised by sqlml's server code stands for."""
    classes: list[type[SqlmlError]] = [
        SqlmlSyntaxError,
        ModelNotFoundError,
        ModelExistsError,
        NameTooLongError,
        FeatureTableNotFoundError,
        UnknownOptionError,
        InvalidTrainingDataError,
        InputSchemaError,
        PermissionDeniedError,
        UnsupportedError,
        TrainingTooLargeError,
        ParameterError,
        FileAccessError,
        ModelFileError,
    ]
    for cls in classes:
        if cls.sqlstate == sqlstate:
            error = cls.__new__(cls)
            Exception.__init__(error, message)
            return error
    return None
