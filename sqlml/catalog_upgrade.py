"""Catalogs made by earlier releases, moved forward by the scripts ``sql/sqlml--A--B.sql``.

PostgreSQL runs them in ``sqlml install --upgrade``; a DuckDB file runs them the first time
this release connects to it. The scripts hold portable SQL; ``@CATALOG_TABLES@`` in them
stands for the engine's CREATE TABLE statements of this release.
"""

from __future__ import annotations

import re
from importlib import resources
from pathlib import Path

from sqlml._udfs_loader import udfs
from sqlml.errors import CatalogVersionError
from sqlml.version import __version__

_STEP = re.compile(r"sqlml--(\d+\.\d+\.\d+)--(\d+\.\d+\.\d+)\.sql")
# A DuckDB catalog records the layout it has (catalog_info's schema_version), not the
# release that made it: the first release of each layout.
RELEASE_OF_SCHEMA = {"1": "0.1.0", udfs.catalog.SCHEMA_VERSION: __version__}


def sql_dir() -> Path:
    """sql/ of a source checkout, or sqlml/_sql when installed as a wheel."""
    packaged = resources.files("sqlml") / "_sql"
    if packaged.is_dir():
        return Path(str(packaged))
    return Path(__file__).resolve().parent.parent / "sql"


def upgrade_path(start: str, target: str = __version__) -> list[Path]:
    """The chain of sqlml--A--B.sql scripts from release ``start`` to ``target``."""
    steps = {}
    for path in sql_dir().iterdir():
        match = _STEP.fullmatch(path.name)
        if match:
            steps[match.group(1)] = (match.group(2), path)
    chain, version = [], start
    while version != target and version in steps:
        version, path = steps[version]
        chain.append(path)
    return chain


def render(script: str, engine: str) -> str:
    """The script with the engine's catalog tables in place of ``@CATALOG_TABLES@``."""
    tables = ";\n".join(udfs.catalog.ddl(engine)) + ";"
    return re.sub(r"^@CATALOG_TABLES@$", lambda _: tables, script, flags=re.MULTILINE)


def layout_of_duckdb(executor: udfs.catalog.Executor) -> str | None:
    """The catalog layout a DuckDB file has (catalog_info's schema_version), None if none."""
    if not executor.run(
        "SELECT 1 FROM information_schema.tables "
        "WHERE table_schema = 'sqlml' AND table_name = 'catalog_info'"
    ):
        return None
    rows = executor.run("SELECT value FROM sqlml.catalog_info WHERE key = 'schema_version'")
    return rows[0][0] if rows else "1"


def upgrade_duckdb(executor: udfs.catalog.Executor) -> None:
    """Bring a DuckDB file's catalog to this release (the caller holds the transaction)."""
    layout = layout_of_duckdb(executor)
    if layout is None or layout == udfs.catalog.SCHEMA_VERSION:
        return  # a new catalog, or one of this release
    release = RELEASE_OF_SCHEMA.get(layout)
    chain = upgrade_path(release) if release else []
    if not chain:
        raise CatalogVersionError(
            f"this file's sqlml catalog has layout {layout}, which sqlml {__version__} cannot "
            "read or move forward: open it with the sqlml release that made it"
        )
    for step in chain:
        executor.run(render(step.read_text(), "duckdb"))
    executor.run(
        "UPDATE sqlml.catalog_info SET value = ? WHERE key = 'schema_version'",
        [udfs.catalog.SCHEMA_VERSION],
    )
