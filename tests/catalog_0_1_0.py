"""A catalog as sqlml 0.1.0 made it (its layout kept here), filled as concurrent CREATE MODELs
left it then: one version number stored twice, one model registered twice. The upgrade
tests of both engines build it and move it forward.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from collections.abc import Callable, Sequence
from typing import Any

import sqlml

Run = Callable[[str, Sequence[Any]], object]

# 0.1.0's udfs/catalog.py: ddl(blob_type), without keys.
LAYOUT = [
    "CREATE SCHEMA IF NOT EXISTS sqlml",
    "CREATE TABLE sqlml.catalog_info (key VARCHAR NOT NULL, value VARCHAR)",
    """CREATE TABLE sqlml.model_registry (
        name VARCHAR NOT NULL, current_version INTEGER NOT NULL, function_name VARCHAR,
        created_at TIMESTAMP NOT NULL, updated_at TIMESTAMP NOT NULL)""",
    """CREATE TABLE sqlml.model_versions (
        name VARCHAR NOT NULL, version INTEGER NOT NULL, task VARCHAR NOT NULL,
        algorithm VARCHAR NOT NULL, target VARCHAR NOT NULL, metric_name VARCHAR,
        metric_value DOUBLE PRECISION, metadata VARCHAR NOT NULL, onnx {blob} NOT NULL,
        onnx_sha256 VARCHAR NOT NULL, created_at TIMESTAMP NOT NULL)""",
    """CREATE TABLE sqlml.feature_tables (
        name VARCHAR NOT NULL, definition VARCHAR NOT NULL, created_at TIMESTAMP NOT NULL,
        refreshed_at TIMESTAMP NOT NULL)""",
    """CREATE VIEW sqlml.models AS
        SELECT r.name, v.version, v.task, v.algorithm, v.target,
               v.metric_name AS metric, v.metric_value AS metric_value,
               r.function_name AS function, v.created_at
        FROM sqlml.model_registry r
        JOIN sqlml.model_versions v ON v.name = r.name AND v.version = r.current_version""",
]

# (version, minutes after the first) of model "raced": number 2 twice, as the race left it.
RACED_VERSIONS = [(1, 0), (2, 1), (2, 2), (3, 3)]


def trained_model() -> tuple[bytes, dict[str, Any]]:
    """A real model's ONNX and metadata (trained here, in memory): x → y = 2x."""
    con = sqlml.connect()
    try:
        con.execute("CREATE TABLE t AS SELECT g::DOUBLE AS x, 2.0 * g AS y FROM range(60) r(g)")
        con.execute("CREATE MODEL m TARGET y USING linear_regression FROM t")
        model = con.backend.catalog.get("m")
        return con.backend.catalog.onnx("m", model.version), model.metadata
    finally:
        con.close()


def build(run: Run, blob: str, onnx: bytes, metadata: dict[str, Any]) -> None:
    """The 0.1.0 catalog with models "raced" (four version rows, two registry rows, version
    3 in use) and "single"."""
    for statement in LAYOUT:
        run(statement.format(blob=blob), [])
    start = dt.datetime(2026, 1, 1)
    run(
        "INSERT INTO sqlml.catalog_info VALUES ('schema_version', '1'), "
        "('installed_version', '0.1.0')",
        [],
    )
    rows = [("raced", v, start + dt.timedelta(minutes=m)) for v, m in RACED_VERSIONS]
    rows.append(("single", 1, start))
    for name, version, created in rows:
        run(
            "INSERT INTO sqlml.model_versions VALUES (?, ?, 'regression', 'linear_regression', "
            "'y', 'r2', 1.0, ?, ?, ?, ?)",
            [
                name,
                version,
                json.dumps(metadata),
                onnx,
                hashlib.sha256(onnx).hexdigest(),
                created,
            ],
        )
    for name, current, updated in [("raced", 2, 2), ("raced", 3, 3), ("single", 1, 0)]:
        run(
            "INSERT INTO sqlml.model_registry VALUES (?, ?, NULL, ?, ?)",
            [name, current, start, start + dt.timedelta(minutes=updated)],
        )
