"""What every statement family gets to work with: the backend, progress and notices, and
the way a query becomes the engine's SQL. It imports nothing of the families themselves."""

from __future__ import annotations

import dataclasses
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from sqlglot import exp

from sqlml._udfs_loader import udfs
from sqlml.backends.base import Backend, ModelVersion, Progress
from sqlml.parameters import take

__all__ = ["ModelLookup", "ModelVersion", "Query", "Rewriting", "Session", "SqlmlNotice"]

Query = udfs.query.Query


class SqlmlNotice(UserWarning):
    """Something sqlml accepted but did not do as written (an ignored option, ...)."""


@dataclass
class Session:
    backend: Backend
    progress: Progress
    rewrite: Callable[[exp.Expr, Session], Query]  # a query rewritten, for the engine
    dialect: str = "duckdb"  # the dialect statements are written in (the client's read=)
    params: tuple[Any, ...] = ()  # the values of the statement's $1, $2 ...

    def to_engine_sql(self, tree: exp.Expr) -> str:
        """The engine's SQL for a query without parameters (rewritten in place)."""
        return self.rewrite(tree, self).sql

    def query(self, tree: exp.Expr) -> Query:
        """A part of the statement (a copy, rewritten) as the engine's SQL with the values
        of the placeholders it holds, which are numbered from $1 in it."""
        tree = tree.copy()
        part = dataclasses.replace(self, params=take(tree, self.params))
        return self.rewrite(tree, part)

    def describe(self, tree: exp.Expr) -> list[tuple[str, str]]:
        """(column, SQL type) of a query of the statement, without running it."""
        return self.backend.describe(self.query(tree))

    def notice(self, message: str) -> None:
        """Said, never silent: a Python warning, and a progress line (PostgreSQL: NOTICE)."""
        warnings.warn(message, SqlmlNotice, stacklevel=2)
        self.progress(f"notice: {message}")


ModelLookup = Callable[[str], ModelVersion]  # a model's name → its in-use version (or raises)


@dataclass
class Rewriting:
    """What the rewrite passes of one statement share (sqlml/pipeline.py runs them)."""

    session: Session
    models: ModelLookup  # one catalog read per model the statement names
    used: dict[str, str] = field(default_factory=dict)  # engine function → model, for errors
