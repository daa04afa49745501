"""sqlml's own statements (CREATE MODEL, SHOW MODELS, ...), carried out on a backend."""

from __future__ import annotations

import warnings
from collections.abc import Callable
from dataclasses import dataclass

from sqlglot import exp

from sqlml.backends.base import Backend, Progress
from sqlml.dialects import expressions as ml
from sqlml.result import Result


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


def run(statement: ml.MLStatement, session: Session) -> Result:
    from sqlml.commands import create_model, feature_tables, manage

    handlers: dict[type, Callable[[ml.MLStatement, Session], Result]] = {
        ml.CreateModel: create_model.create_model,
        ml.ShowModels: manage.show_models,
        ml.ShowModel: manage.show_model,
        ml.ShowModelVersions: manage.show_versions,
        ml.DescribeModel: manage.describe_model,
        ml.EvaluateModel: manage.evaluate_model,
        ml.ExplainModel: manage.explain_model,
        ml.DropModel: manage.drop_model,
        ml.AlterModelVersion: manage.alter_model_version,
        ml.CreateFeatureTable: feature_tables.create_feature_table,
        ml.RefreshFeatureTable: feature_tables.refresh_feature_table,
        ml.ShowFeatureTables: feature_tables.show_feature_tables,
        ml.DescribeFeatureTable: feature_tables.describe_feature_table,
        ml.DropFeatureTable: feature_tables.drop_feature_table,
    }
    return handlers[type(statement)](statement, session)
