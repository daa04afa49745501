"""sqlml: train and run machine-learning models with SQL, inside DuckDB and PostgreSQL."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from sqlml.errors import (
    BackendError,
    FeatureTableNotFoundError,
    InputSchemaError,
    InvalidTrainingDataError,
    ModelExistsError,
    ModelNotFoundError,
    SqlmlError,
    SqlmlSyntaxError,
    UnknownOptionError,
    UnsupportedError,
)

if TYPE_CHECKING:
    from sqlml.connection import Connection

__version__ = "0.1.0"

__all__ = [
    "BackendError",
    "Connection",
    "FeatureTableNotFoundError",
    "InputSchemaError",
    "InvalidTrainingDataError",
    "ModelExistsError",
    "ModelNotFoundError",
    "SqlmlError",
    "SqlmlSyntaxError",
    "UnknownOptionError",
    "UnsupportedError",
    "__version__",
    "connect",
]


def connect(target: Any = ":memory:", **options: Any) -> Connection:
    """Open a sqlml connection on a DuckDB file, ``:memory:``, a ``postgresql://`` DSN,
    or an existing duckdb / psycopg connection.

    Imported lazily: the database-side code (``udfs``) imports ``sqlml.errors`` and must
    not pull in the client's parser.
    """
    from sqlml.connection import connect as _connect

    return _connect(target, **options)


def __getattr__(name: str) -> Any:
    if name == "Connection":
        from sqlml.connection import Connection

        return Connection
    raise AttributeError(f"module 'sqlml' has no attribute {name!r}")
