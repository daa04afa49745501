"""The database-side package: ``sqlml._udfs`` when installed, ``udfs`` in a checkout.

The type checker reads the checkout's package, so the code that calls into it is checked
against the real types.
"""

from __future__ import annotations

import importlib
from types import ModuleType
from typing import TYPE_CHECKING

MODULES = (
    "algorithms",
    "catalog",
    "features",
    "metrics",
    "naming",
    "pg_functions",
    "pg_scoring",
    "pg_spi",
    "pg_training",
    "portable",
    "predict",
    "search",
    "query",
    "sql_types",
    "tasks",
    "train",
)


def _load() -> ModuleType:
    try:
        package = importlib.import_module("sqlml._udfs")
    except ModuleNotFoundError:
        package = importlib.import_module("udfs")
    for module in MODULES:
        importlib.import_module(f"{package.__name__}.{module}")
    return package


if TYPE_CHECKING:
    import udfs
    import udfs.algorithms
    import udfs.catalog
    import udfs.duckdb_functions
    import udfs.features
    import udfs.metrics
    import udfs.naming
    import udfs.pg_functions
    import udfs.pg_scoring
    import udfs.pg_spi
    import udfs.pg_training
    import udfs.portable
    import udfs.predict
    import udfs.query
    import udfs.search
    import udfs.sql_types
    import udfs.tasks
    import udfs.train
else:
    udfs = _load()


def load_engine_module(name: str) -> None:
    """Load a module of the package that only one engine needs (DuckDB's UDFs import
    duckdb, which a PostgreSQL server has no use for)."""
    importlib.import_module(f"{udfs.__name__}.{name}")
