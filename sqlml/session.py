"""What every statement family gets to work with: the backend, progress and notices, and
the way a query becomes the engine's SQL. It imports nothing of the families themselves."""

from __future__ import annotations

import warnings
from collections.abc import Callable
from dataclasses import dataclass, field

from sqlglot import exp

from sqlml.backends.base import Backend, ModelVersion, Progress

__all__ = ["ModelLookup", "ModelVersion", "Rewriting", "Session", "SqlmlNotice"]


class SqlmlNotice(UserWarning):
    """Something sqlml accepted but did not do as written (an ignored option, ...)."""


@dataclass
class Session:
    backend: Backend
    progress: Progress
    to_engine_sql: Callable[[exp.Expr], str]  # rewrite + generate a query for the engine
    dialect: str = "duckdb"  # the dialect statements are written in (the client's read=)

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
