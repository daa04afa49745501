"""sqlml: train and run machine-learning models with SQL, inside DuckDB and PostgreSQL."""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Any

# LightGBM's OpenMP threads busy-wait between parallel regions by default; beside the
# engine's own threads and onnxruntime's, that made each training in a process slower than
# the last (measured: fit 0.95 s → 4.4 s over four runs; 0.2-0.5 s with PASSIVE). It must be
# set before the OpenMP runtime loads, hence here.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

from sqlml.errors import (
    BackendError,
    CatalogVersionError,
    DatabaseInUseError,
    FeatureTableNotFoundError,
    InputSchemaError,
    InvalidTrainingDataError,
    MissingExtraError,
    ModelExistsError,
    ModelNotFoundError,
    NameTooLongError,
    ParameterError,
    PermissionDeniedError,
    ReadOnlyError,
    SqlmlError,
    SqlmlSyntaxError,
    TrainingTooLargeError,
    UnknownOptionError,
    UnsupportedError,
    WrongThreadError,
)
from sqlml.version import __version__

if TYPE_CHECKING:
    from sqlml.connection import Connection


# PEP 249 (DB-API 2.0): one connection per thread (cursor() gives another); placeholders
# are ? (qmark) and also $1 (numeric) and $name (named): see Connection.execute.
apilevel = "2.0"
threadsafety = 1
paramstyle = "qmark"
Error = SqlmlError  # every error sqlml raises

__all__ = [
    "BackendError",
    "CatalogVersionError",
    "Connection",
    "DatabaseInUseError",
    "Error",
    "FeatureTableNotFoundError",
    "InputSchemaError",
    "InvalidTrainingDataError",
    "MissingExtraError",
    "ModelExistsError",
    "ModelNotFoundError",
    "NameTooLongError",
    "ParameterError",
    "PermissionDeniedError",
    "ReadOnlyError",
    "SqlmlError",
    "SqlmlSyntaxError",
    "TrainingTooLargeError",
    "UnknownOptionError",
    "UnsupportedError",
    "WrongThreadError",
    "__version__",
    "apilevel",
    "connect",
    "paramstyle",
    "threadsafety",
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
