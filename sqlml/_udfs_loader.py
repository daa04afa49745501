"""Find the database-side package: ``sqlml._udfs`` when installed, ``udfs`` in a checkout."""

from __future__ import annotations

import importlib
from types import ModuleType


def _load() -> ModuleType:
    try:
        package = importlib.import_module("sqlml._udfs")
    except ModuleNotFoundError:
        package = importlib.import_module("udfs")
    modules = (
        "algorithms",
        "catalog",
        "features",
        "metrics",
        "naming",
        "postgres",
        "predict",
        "train",
    )
    for module in modules:
        importlib.import_module(f"{package.__name__}.{module}")
    return package


udfs = _load()
