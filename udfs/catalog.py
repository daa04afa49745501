"""The model catalog: tables in schema ``sqlml`` of the user's own database.

The same code serves DuckDB (through the client's connection) and PostgreSQL (through
PL/Python's SPI): each hands in an :class:`Executor` that runs ``?``-parameterised SQL.
Metadata is one JSON document per version, so new facts (monitoring, lineage, search
results) need no schema change; the columns beside it are what listings filter on.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from sqlml.errors import FeatureTableNotFoundError, ModelNotFoundError, close_matches

from .metrics import primary_metric

SCHEMA_VERSION = "1"


class Executor(Protocol):
    blob_type: str  # BLOB (DuckDB) or BYTEA (PostgreSQL)

    def run(self, sql: str, params: Sequence[Any] = ()) -> list[tuple]: ...


def ddl(blob_type: str) -> list[str]:
    return [
        "CREATE SCHEMA IF NOT EXISTS sqlml",
        "CREATE TABLE IF NOT EXISTS sqlml.catalog_info (key VARCHAR NOT NULL, value VARCHAR)",
        """CREATE TABLE IF NOT EXISTS sqlml.model_registry (
            name VARCHAR NOT NULL,
            current_version INTEGER NOT NULL,
            function_name VARCHAR,
            created_at TIMESTAMP NOT NULL,
            updated_at TIMESTAMP NOT NULL)""",
        f"""CREATE TABLE IF NOT EXISTS sqlml.model_versions (
            name VARCHAR NOT NULL,
            version INTEGER NOT NULL,
            task VARCHAR NOT NULL,
            algorithm VARCHAR NOT NULL,
            target VARCHAR NOT NULL,
            metric_name VARCHAR,
            metric_value DOUBLE PRECISION,
            metadata VARCHAR NOT NULL,
            onnx {blob_type} NOT NULL,
            onnx_sha256 VARCHAR NOT NULL,
            created_at TIMESTAMP NOT NULL)""",
        # A feature table's data is a table of its own name; this row is what defines it.
        """CREATE TABLE IF NOT EXISTS sqlml.feature_tables (
            name VARCHAR NOT NULL,
            definition VARCHAR NOT NULL,
            created_at TIMESTAMP NOT NULL,
            refreshed_at TIMESTAMP NOT NULL)""",
        """CREATE OR REPLACE VIEW sqlml.models AS
            SELECT r.name, v.version, v.task, v.algorithm, v.target,
                   v.metric_name AS metric, v.metric_value AS metric_value,
                   r.function_name AS function, v.created_at
            FROM sqlml.model_registry r
            JOIN sqlml.model_versions v ON v.name = r.name AND v.version = r.current_version""",
    ]


@dataclass(frozen=True)
class ModelVersion:
    name: str
    version: int
    current_version: int
    function_name: str | None
    metadata: dict[str, Any]
    onnx_sha256: str
    created_at: dt.datetime

    @property
    def task(self) -> str:
        return self.metadata["task"]


_VERSION_COLUMNS = (
    "r.name, v.version, r.current_version, r.function_name, v.metadata, v.onnx_sha256, "
    "v.created_at FROM sqlml.model_registry r JOIN sqlml.model_versions v ON v.name = r.name"
)


def _record(row: tuple) -> ModelVersion:
    name, version, current, function_name, metadata, sha, created = row
    if isinstance(created, str):  # PL/Python hands timestamps over as text
        created = dt.datetime.fromisoformat(created)
    return ModelVersion(name, version, current, function_name, json.loads(metadata), sha, created)


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC).replace(tzinfo=None)


class Catalog:
    def __init__(self, executor: Executor):
        self.db = executor

    def create(self) -> None:
        for statement in ddl(self.db.blob_type):
            self.db.run(statement)
        if not self.db.run("SELECT value FROM sqlml.catalog_info WHERE key = 'schema_version'"):
            self.db.run(
                "INSERT INTO sqlml.catalog_info VALUES ('schema_version', ?)", [SCHEMA_VERSION]
            )

    # -- reading -----------------------------------------------------------------------

    def names(self) -> list[str]:
        return [r[0] for r in self.db.run("SELECT name FROM sqlml.model_registry ORDER BY name")]

    def find(self, name: str, version: int | None = None) -> ModelVersion | None:
        """The version in use (or the one asked for) of a model, or None."""
        if version is None:
            rows = self.db.run(
                f"SELECT {_VERSION_COLUMNS} AND v.version = r.current_version WHERE r.name = ?",
                [name],
            )
        else:
            rows = self.db.run(
                f"SELECT {_VERSION_COLUMNS} WHERE r.name = ? AND v.version = ?", [name, version]
            )
        return _record(rows[0]) if rows else None

    def get(self, name: str, version: int | None = None) -> ModelVersion:
        model = self.find(name, version)
        if model is not None:
            return model
        if version is not None and self.find(name) is not None:
            known = [str(v.version) for v in self.versions(name)]
            raise ModelNotFoundError(
                f"model {name!r} has no version {version}; versions: {', '.join(known)}"
            )
        raise ModelNotFoundError(
            f"model {name!r} does not exist.{close_matches(name, self.names())}"
        )

    def current(self) -> list[ModelVersion]:
        return [
            _record(r)
            for r in self.db.run(
                f"SELECT {_VERSION_COLUMNS} AND v.version = r.current_version ORDER BY r.name"
            )
        ]

    def versions(self, name: str) -> list[ModelVersion]:
        return [
            _record(r)
            for r in self.db.run(
                f"SELECT {_VERSION_COLUMNS} WHERE r.name = ? ORDER BY v.version", [name]
            )
        ]

    def onnx(self, name: str, version: int) -> bytes:
        rows = self.db.run(
            "SELECT onnx FROM sqlml.model_versions WHERE name = ? AND version = ?", [name, version]
        )
        if not rows:
            raise ModelNotFoundError(f"model {name!r} has no version {version}")
        return bytes(rows[0][0])

    def owner_of_function(self, function_name: str) -> str | None:
        rows = self.db.run(
            "SELECT name FROM sqlml.model_registry WHERE function_name = ?", [function_name]
        )
        return rows[0][0] if rows else None

    # -- writing (the caller owns the transaction) -------------------------------------

    def add_version(
        self, name: str, onnx: bytes, metadata: dict[str, Any], function_name: str | None
    ) -> int:
        """Store a new version and make it the one in use; returns its number."""
        now = _now()
        (latest,) = self.db.run(
            "SELECT max(version) FROM sqlml.model_versions WHERE name = ?", [name]
        )[0]
        version = (latest or 0) + 1
        metric = primary_metric(metadata["task"])
        self.db.run(
            "INSERT INTO sqlml.model_versions "
            "VALUES (?, ?, ?, ?, ?, ?, CAST(? AS DOUBLE PRECISION), ?, ?, ?, ?)",
            [
                name,
                version,
                metadata["task"],
                metadata["algorithm"],
                metadata["target"],
                metric,
                metadata.get("metrics", {}).get(metric),
                json.dumps(metadata, default=str),
                onnx,
                hashlib.sha256(onnx).hexdigest(),
                now,
            ],
        )
        if self.db.run("SELECT 1 FROM sqlml.model_registry WHERE name = ?", [name]):
            self.db.run(
                "UPDATE sqlml.model_registry SET current_version = ?, function_name = ?, "
                "updated_at = ? WHERE name = ?",
                [version, function_name, now, name],
            )
        else:
            self.db.run(
                "INSERT INTO sqlml.model_registry VALUES (?, ?, ?, ?, ?)",
                [name, version, function_name, now, now],
            )
        return version

    def set_current(self, name: str, version: int) -> None:
        self.get(name, version)
        self.db.run(
            "UPDATE sqlml.model_registry SET current_version = ?, updated_at = ? WHERE name = ?",
            [version, _now(), name],
        )

    def drop(self, name: str) -> None:
        self.db.run("DELETE FROM sqlml.model_versions WHERE name = ?", [name])
        self.db.run("DELETE FROM sqlml.model_registry WHERE name = ?", [name])


# -- feature tables ----------------------------------------------------------------------


@dataclass(frozen=True)
class FeatureTable:
    name: str
    keys: list[str]
    timestamp: str
    ttl: str | None  # an interval as written, e.g. '30 days'
    query: str  # the engine's SQL that REFRESH runs again
    columns: list[list[str]]  # [name, engine type] of every column, in query order
    created_at: dt.datetime
    refreshed_at: dt.datetime

    @property
    def features(self) -> list[str]:
        """The columns that are neither key nor timestamp."""
        return [c for c, _ in self.columns if c not in self.keys and c != self.timestamp]

    def definition(self) -> str:
        return json.dumps(
            {
                "keys": self.keys,
                "timestamp": self.timestamp,
                "ttl": self.ttl,
                "query": self.query,
                "columns": self.columns,
            }
        )


class FeatureTables:
    """The catalog's feature tables (sqlml.feature_tables)."""

    def __init__(self, executor: Executor):
        self.db = executor

    def names(self) -> list[str]:
        return [r[0] for r in self.db.run("SELECT name FROM sqlml.feature_tables ORDER BY name")]

    def find(self, name: str) -> FeatureTable | None:
        rows = self.db.run(
            "SELECT name, definition, created_at, refreshed_at FROM sqlml.feature_tables "
            "WHERE name = ?",
            [name],
        )
        return _feature_table(rows[0]) if rows else None

    def get(self, name: str) -> FeatureTable:
        table = self.find(name)
        if table is None:
            raise FeatureTableNotFoundError(
                f"feature table {name!r} does not exist.{close_matches(name, self.names())}"
            )
        return table

    def all(self) -> list[FeatureTable]:
        return [self.get(name) for name in self.names()]

    def save(self, table: FeatureTable) -> None:
        self.drop(table.name)
        self.db.run(
            "INSERT INTO sqlml.feature_tables VALUES (?, ?, ?, ?)",
            [table.name, table.definition(), table.created_at, table.refreshed_at],
        )

    def refreshed(self, name: str) -> None:
        self.db.run(
            "UPDATE sqlml.feature_tables SET refreshed_at = ? WHERE name = ?", [_now(), name]
        )

    def drop(self, name: str) -> None:
        self.db.run("DELETE FROM sqlml.feature_tables WHERE name = ?", [name])


def _feature_table(row: tuple) -> FeatureTable:
    name, definition, created, refreshed = row
    created, refreshed = (
        dt.datetime.fromisoformat(v) if isinstance(v, str) else v for v in (created, refreshed)
    )
    spec = json.loads(definition)
    return FeatureTable(
        name,
        spec["keys"],
        spec["timestamp"],
        spec["ttl"],
        spec["query"],
        spec["columns"],
        created,
        refreshed,
    )
