"""CREATE / REFRESH / SHOW / DESCRIBE / DROP FEATURE TABLE.

A feature table is a real table of the same name, with a primary key on (key..., timestamp)
(its index serves the point-in-time lookups), plus a row in sqlml.feature_tables that keeps
its definition and the query REFRESH runs again. Rows are merged on (key, timestamp): a new
pair is added, a known one takes the query's values; nothing is deleted (older rows are the
history that training as of a past time needs).
"""

from __future__ import annotations

from typing import Any

import pyarrow as pa
from sqlglot import exp

from sqlml._udfs_loader import udfs
from sqlml.dialects import expressions as ml
from sqlml.errors import (
    InputSchemaError,
    InvalidTrainingDataError,
    ModelExistsError,
    ParameterError,
    UnknownOptionError,
)
from sqlml.feature_tables.point_in_time import feature_tables, table_ref
from sqlml.parameters import placeholders_in
from sqlml.result import ArrowResult, EmptyResult, Result, facts_result
from sqlml.session import Query, Session
from sqlml.show_filter import filtered

_STAGE = "_sqlml_stage"
SUMMARY_COLUMNS = {
    "feature_table": pa.string(),
    "rows": pa.int64(),
    "added": pa.int64(),
    "freshness": pa.string(),
}


def create_feature_table(node: ml.CreateFeatureTable, session: Session) -> Result:
    tables, name = feature_tables(session), node.this
    existing = tables.find(name)
    if existing is not None and node.args.get("if_not_exists"):
        return ArrowResult.from_rows(SUMMARY_COLUMNS, [])
    if existing is not None and not node.args.get("replace"):
        raise ModelExistsError(
            f"feature table {name!r} already exists; use CREATE OR REPLACE FEATURE TABLE, or "
            "REFRESH FEATURE TABLE to merge in new rows"
        )
    if existing is None and _relation_exists(session, name):
        raise ModelExistsError(f"CREATE FEATURE TABLE {name}: a table named {name} exists already")
    if placeholders_in(node.args["query"]):
        raise ParameterError(
            f"CREATE FEATURE TABLE {name}: its query is kept and run again by REFRESH FEATURE "
            "TABLE, so it cannot hold parameters (as a view's cannot); write the values in it"
        )
    query_sql = session.to_engine_sql(node.args["query"])
    columns = session.backend.describe(Query(query_sql))
    where = f"CREATE FEATURE TABLE {name}"
    keys = [_column(k, columns, "KEY", where) for k in node.args["keys"]]
    timestamp = _column(node.args["timestamp"], columns, "TIMESTAMP", where)
    kind = dict(columns)[timestamp]
    if not udfs.sql_types.is_temporal(kind):
        raise InputSchemaError(
            f"{where}: TIMESTAMP column {timestamp!r} is {kind}; it must be a date or timestamp"
        )
    if timestamp in keys:
        raise InputSchemaError(f"{where}: {timestamp!r} cannot be both KEY and TIMESTAMP")
    ttl = node.args.get("ttl")
    if ttl is not None:
        _check_interval(session, ttl)
    now = udfs.catalog._now()
    table = udfs.catalog.FeatureTable(
        name, keys, timestamp, ttl, query_sql, [list(c) for c in columns], now, now
    )
    with session.backend.transaction():
        if existing is not None:
            session.backend.run(f"DROP TABLE {_sql(session, table_ref(name))}", None)
        added = _fill(session, table, where)
        tables.save(table)
    if existing is not None:
        using = _dependents(session, name)
        missing = [c for c in existing.features if c not in table.features]
        if using:  # said, never silent: their PREDICTs read the new rows from now on
            lost = f"; features {', '.join(missing)} are gone" if missing else ""
            session.notice(
                f"{where}: model(s) {', '.join(using)} use it and look features up in the "
                f"new rows from now on{lost}"
            )
    return _summary(session, table, added)


def refresh_feature_table(node: ml.RefreshFeatureTable, session: Session) -> Result:
    tables = feature_tables(session)
    table = tables.get(node.this)
    columns = [list(c) for c in session.backend.describe(Query(table.query))]
    if columns != table.columns:
        raise InputSchemaError(
            f"REFRESH FEATURE TABLE {table.name}: its query now gives the columns "
            f"{_listed(columns)} instead of {_listed(table.columns)}; recreate it with CREATE "
            "OR REPLACE FEATURE TABLE"
        )
    with session.backend.transaction():
        added = _merge(session, table, f"REFRESH FEATURE TABLE {table.name}")
        tables.refreshed(table.name)
    return _summary(session, table, added)


def show_feature_tables(node: ml.ShowFeatureTables, session: Session) -> Result:
    columns = {
        "name": pa.string(),
        "key": pa.string(),
        "timestamp": pa.string(),
        "ttl": pa.string(),
        "features": pa.int32(),
        "rows": pa.int64(),
        "freshness": pa.string(),
        "refreshed_at": pa.timestamp("us"),
    }
    rows = []
    for table in feature_tables(session).all():
        count, newest = _facts(session, table)
        rows.append(
            (
                table.name,
                ", ".join(table.keys),
                table.timestamp,
                table.ttl,
                len(table.features),
                count,
                newest,
                table.refreshed_at,
            )
        )
    shown = ArrowResult.from_rows(columns, rows)
    return filtered(shown, node.args.get("where"), session, "SHOW FEATURE TABLES")


def describe_feature_table(node: ml.DescribeFeatureTable, session: Session) -> Result:
    """One row per fact: (section, position, name, value), as DESCRIBE MODEL gives."""
    table = feature_tables(session).get(node.this)
    count, newest = _facts(session, table)
    facts: list[tuple[str, str, Any]] = [
        ("feature_table", "name", table.name),
        ("feature_table", "key", ", ".join(table.keys)),
        ("feature_table", "timestamp", table.timestamp),
        ("feature_table", "ttl", table.ttl),
        ("feature_table", "rows", count),
        ("feature_table", "freshness", newest),
        ("feature_table", "created_at", table.created_at.isoformat(sep=" ")),
        ("feature_table", "last_refresh", table.refreshed_at.isoformat(sep=" ")),
        ("feature_table", "query", table.query),
    ]
    facts += [("column", name, kind) for name, kind in table.columns]
    facts += [("model", model, "uses it") for model in _dependents(session, table.name)]
    return facts_result(facts)


def drop_feature_table(node: ml.DropFeatureTable, session: Session) -> Result:
    tables = feature_tables(session)
    if tables.find(node.this) is None and node.args.get("if_exists"):
        return EmptyResult()
    table = tables.get(node.this)
    dependents = _dependents(session, table.name)
    if dependents and not node.args.get("cascade"):
        raise InputSchemaError(
            f"DROP FEATURE TABLE {table.name}: model(s) {', '.join(dependents)} use it; drop "
            "them first, or DROP FEATURE TABLE ... CASCADE to drop them too"
        )
    with session.backend.transaction():
        for model in dependents:
            session.backend.drop_model(model)
        session.backend.run(f"DROP TABLE {_sql(session, table_ref(table.name))}", None)
        tables.drop(table.name)
    return EmptyResult()


# -- helpers -------------------------------------------------------------------------------


def _fill(session: Session, table: udfs.catalog.FeatureTable, where: str) -> int:
    """A new feature table: the query's rows straight into it, checked, then keyed (adding
    the primary key to a full table is several times faster than upserting into an indexed
    one); returns its rows."""
    run = session.backend.run
    target = _sql(session, table_ref(table.name))
    run(f"CREATE TABLE {target} AS SELECT * FROM ({table.query}) AS q", None)
    _check_rows(session, target, table, where)
    key = ", ".join(_quote(session, c) for c in [*table.keys, table.timestamp])
    run(f"ALTER TABLE {target} ADD PRIMARY KEY ({key})", None)
    (rows,) = _first(run(f"SELECT COUNT(*) FROM {target}", None))
    return rows


def _merge(session: Session, table: udfs.catalog.FeatureTable, where: str) -> int:
    """REFRESH: run the table's query once into a staging table, check it, and upsert it on
    (key, timestamp); returns how many rows were added."""
    run = session.backend.run
    stage = _quote(session, _STAGE)
    # Made inside the caller's transaction: a failure rolls it back with everything else
    # (a DROP in a finally would fail in PostgreSQL's aborted transaction and hide the error).
    run(f"CREATE TEMPORARY TABLE {stage} AS {table.query}", None)
    _check_rows(session, stage, table, where)
    target = _sql(session, table_ref(table.name))
    (before,) = _first(run(f"SELECT COUNT(*) FROM {target}", None))
    names = ", ".join(_quote(session, c) for c, _ in table.columns)
    key = ", ".join(_quote(session, c) for c in [*table.keys, table.timestamp])
    updates = ", ".join(
        f"{_quote(session, f)} = EXCLUDED.{_quote(session, f)}" for f in table.features
    )
    action = f"DO UPDATE SET {updates}" if updates else "DO NOTHING"
    run(
        f"INSERT INTO {target} ({names}) SELECT {names} FROM {stage} ON CONFLICT ({key}) {action}",
        None,
    )
    (after,) = _first(run(f"SELECT COUNT(*) FROM {target}", None))
    run(f"DROP TABLE {stage}", None)
    return after - before


def _check_rows(
    session: Session, relation: str, table: udfs.catalog.FeatureTable, where: str
) -> None:
    """Leave out (with a notice) rows without a key or timestamp; refuse a (key, timestamp)
    given twice, naming it."""
    run = session.backend.run
    pair = [*table.keys, table.timestamp]
    quoted = [_quote(session, c) for c in pair]
    missing = " OR ".join(f"{c} IS NULL" for c in quoted)
    (nulls,) = _first(run(f"SELECT COUNT(*) FROM {relation} WHERE {missing}", None))
    if nulls:
        run(f"DELETE FROM {relation} WHERE {missing}", None)
        session.notice(f"{where}: {nulls} row(s) without a key or timestamp were left out")
    duplicate = _first(
        run(
            f"SELECT {', '.join(quoted)}, COUNT(*) FROM {relation} "
            f"GROUP BY {', '.join(quoted)} HAVING COUNT(*) > 1 LIMIT 1",
            None,
        )
    )
    if duplicate is not None:
        at = ", ".join(f"{c} = {v}" for c, v in zip(pair, duplicate, strict=False))
        raise InvalidTrainingDataError(
            f"{where}: the query gives {duplicate[-1]} rows for {at}; a feature table keeps "
            "one row per key and timestamp"
        )


def _summary(session: Session, table: udfs.catalog.FeatureTable, added: int) -> Result:
    count, newest = _facts(session, table)
    return ArrowResult.from_rows(SUMMARY_COLUMNS, [(table.name, count, added, newest)])


def _facts(session: Session, table: udfs.catalog.FeatureTable) -> tuple[int, str | None]:
    """(rows, newest timestamp as text)."""
    stamp = _quote(session, table.timestamp)
    count, newest = _first(
        session.backend.run(
            f"SELECT COUNT(*), MAX({stamp}) FROM {_sql(session, table_ref(table.name))}", None
        )
    )
    return count, None if newest is None else str(newest)


def _first(result: Result) -> Any:
    """The first row, read to the end: DuckDB keeps a result that was not fetched to its end
    open, and the connection then refuses other work (register(), ...) until it is."""
    rows = result.fetchall()
    return rows[0] if rows else None


def _dependents(session: Session, name: str) -> list[str]:
    """Models with a version trained on the feature table."""
    catalog = session.backend.catalog
    return [
        model
        for model in catalog.names()
        if any(
            name in [f["table"] for f in v.metadata.get("annotations", {}).get("features", [])]
            for v in catalog.versions(model)
        )
    ]


def _relation_exists(session: Session, name: str) -> bool:
    *schema, table = name.split(".")
    rows = session.backend.catalog.db.run(
        "SELECT 1 FROM information_schema.tables WHERE table_name = ? AND table_schema = "
        + ("?" if schema else "current_schema()"),
        [table, *schema[-1:]],
    )
    return bool(rows)


def _check_interval(session: Session, ttl: str) -> None:
    interval = exp.cast(exp.Literal.string(ttl), exp.DataType.build("INTERVAL"))
    try:
        _first(session.backend.run(f"SELECT {_sql(session, interval)}", None))
    except Exception as error:  # the engine's own "invalid input syntax for interval"
        raise UnknownOptionError(f"TTL {ttl!r} is not an interval, such as '30 days'") from error


def _column(name: str, columns: list[tuple[str, str]], clause: str, where: str) -> str:
    names = [c for c, _ in columns]
    found = udfs.naming.matching_column(names, name)
    if found is not None:
        return found
    raise InputSchemaError(
        f"{where}: {clause} column {name!r} is not among the query's columns ({', '.join(names)})"
    )


def _listed(columns: list[list[str]]) -> str:
    return ", ".join(f"{c} {t}" for c, t in columns)


def _quote(session: Session, name: str) -> str:
    return exp.to_identifier(name, quoted=True).sql(dialect=session.backend.name)


def _sql(session: Session, node: exp.Expr) -> str:
    return node.sql(dialect=session.backend.name)
