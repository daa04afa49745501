"""Point-in-time joins of feature tables: FEATURES_AT_TIME, the training rows of CREATE MODEL
... FEATURES, and the feature lookup of PREDICT.

One rule everywhere: for a row (key, t) the feature row used is the newest with timestamp <= t
and, with a TTL, timestamp >= t - TTL; none gives NULLs. A feature table holds one row per
(key, timestamp) (its primary key), so the newest row is never a tie. DuckDB runs it as an
ASOF LEFT JOIN (the TTL then blanks a match that is too old: the newest row being too old
means every older one is too); PostgreSQL as a LEFT JOIN LATERAL (... ORDER BY timestamp DESC
LIMIT 1) that walks the primary key's index.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlglot import exp

from sqlml._udfs_loader import udfs
from sqlml.dialects import expressions as ml
from sqlml.errors import InputSchemaError, ModelNotFoundError, SqlmlSyntaxError
from sqlml.predict.calls import model_name, star_table
from sqlml.scope import describe_in_scope, replace_in_from
from sqlml.session import Rewriting, Session

FeatureTable = Any  # udfs.catalog.FeatureTable
_SPINE = "_sqlml_spine"
NOW_COLUMN = "_sqlml_now"


@dataclass
class Lookup:
    table: FeatureTable
    time: str  # the spine column that says "as of when"
    keys: list[str]  # the spine's spelling of the table's keys (they may differ in case)


def feature_tables(session: Session) -> Any:
    return udfs.catalog.FeatureTables(session.backend.catalog.db)


def table_ref(name: str, alias: str | None = None) -> exp.Table:
    """A feature table's own table (its name may be schema-qualified), every part quoted."""
    *schema, table = name.split(".")
    return exp.Table(
        this=exp.to_identifier(table, quoted=True),
        db=exp.to_identifier(schema[-1], quoted=True) if schema else None,
        alias=exp.TableAlias(this=exp.to_identifier(alias)) if alias else None,
    )


def time_column(table: FeatureTable, spine: dict[str, str], given: str | None, where: str) -> str:
    """The spine's "as of" column: the one named, else the only date/time column that is not
    a key, else the feature table's own timestamp name."""
    if given is not None:
        column = _resolve(given, spine)
        if column is None:
            raise InputSchemaError(
                f"{where}: the time column {given!r} is not among the spine's columns "
                f"({', '.join(spine)})"
            )
        if not udfs.sql_types.is_temporal(spine[column]):
            raise InputSchemaError(
                f"{where}: the time column {column!r} is {spine[column]}; it must be a date or "
                "timestamp"
            )
        return column
    temporal = udfs.sql_types.is_temporal
    candidates = [c for c, t in spine.items() if temporal(t) and c not in table.keys]
    if len(candidates) == 1:
        return candidates[0]
    if table.timestamp in candidates:
        return table.timestamp
    found = f"its date/time columns are {', '.join(candidates)}" if candidates else "it has none"
    raise InputSchemaError(
        f"{where}: say which spine column is the time to look features up at ({found}): "
        f"FEATURES_AT_TIME({table.name}, spine, time_column) / FEATURES {table.name} AS OF column"
    )


def check_spine(table: FeatureTable, spine: dict[str, str], where: str) -> None:
    missing = [k for k in table.keys if _resolve(k, spine) is None]
    if missing:
        raise InputSchemaError(
            f"{where}: the spine lacks the key column(s) {', '.join(missing)} of feature table "
            f"{table.name!r} (the spine has {', '.join(spine)})"
        )
    clashes = [f for f in table.features if _resolve(f, spine) is not None]
    if clashes:
        raise InputSchemaError(
            f"{where}: feature(s) {', '.join(clashes)} of {table.name!r} clash with spine "
            "column(s) of the same name; rename them in the spine"
        )


def join(
    spine: exp.Query, columns: list[str], lookups: list[Lookup], engine: str, ordered: bool = True
) -> exp.Select:
    """SELECT <spine columns>, <every lookup's features> FROM (spine) point-in-time joined to
    each feature table, ordered by the first table's key and time (a stable order)."""
    select = exp.select(*(_spine_column(c) for c in columns)).from_(spine.subquery(_SPINE))
    for i, lookup in enumerate(lookups):
        alias = f"_sqlml_f{i}"
        if engine == "duckdb":
            select = _asof(select, lookup, alias)
        else:
            select = _lateral(select, lookup, alias)
    if not ordered:
        return select
    first = lookups[0]
    order = [*first.keys, first.time]
    return select.order_by(*(_spine_column(c) for c in order))


def _asof(select: exp.Select, lookup: Lookup, alias: str) -> exp.Select:
    table, time = lookup.table, _spine_column(lookup.time)
    stamp = exp.column(_quoted(table.timestamp), table=alias)
    on = exp.and_(
        *(
            exp.column(_quoted(k), table=alias).eq(_spine_column(s))
            for k, s in zip(table.keys, lookup.keys, strict=True)
        ),
        exp.GTE(this=time, expression=stamp),
    )
    for feature in table.features:
        value: exp.Expr = exp.column(_quoted(feature), table=alias)
        if table.ttl:
            fresh = exp.GTE(this=stamp.copy(), expression=_minus_ttl(time.copy(), table.ttl))
            value = exp.Case(ifs=[exp.If(this=fresh, true=value)])
        select = select.select(value.as_(feature, quoted=True))
    return select.join(table_ref(table.name, alias), on=on, join_type="ASOF LEFT")


def _lateral(select: exp.Select, lookup: Lookup, alias: str) -> exp.Select:
    table, time = lookup.table, _spine_column(lookup.time)
    stamp = exp.column(_quoted(table.timestamp), table="_sqlml_ft")
    conditions = [
        *(
            exp.column(_quoted(k), table="_sqlml_ft").eq(_spine_column(s))
            for k, s in zip(table.keys, lookup.keys, strict=True)
        ),
        exp.LTE(this=stamp, expression=time),
    ]
    if table.ttl:
        conditions.append(exp.GTE(this=stamp.copy(), expression=_minus_ttl(time.copy(), table.ttl)))
    newest = (
        exp.select(*(exp.column(_quoted(f), table="_sqlml_ft") for f in table.features))
        .from_(table_ref(table.name, "_sqlml_ft"))
        .where(exp.and_(*conditions))
        # Plain DESC (NULLS FIRST) is the primary key's index read backwards: one index
        # step per lookup. sqlglot would write DESC NULLS LAST, which the index cannot
        # serve (a scan and sort of the key's rows instead). The timestamp is never NULL.
        .order_by(exp.Ordered(this=stamp.copy(), desc=True, nulls_first=True))
        .limit(1)
    )
    lateral = exp.Lateral(
        this=newest.subquery(), alias=exp.TableAlias(this=exp.to_identifier(alias))
    )
    select = select.join(lateral, on=exp.true(), join_type="LEFT")
    return select.select(
        *(exp.column(_quoted(f), table=alias).as_(f, quoted=True) for f in table.features)
    )


def _minus_ttl(time: exp.Expr, ttl: str) -> exp.Expr:
    return exp.Sub(this=time, expression=exp.Interval(this=exp.Literal.string(ttl)))


def _spine_column(name: str) -> exp.Column:
    return exp.column(_quoted(name), table=_SPINE)


def _quoted(name: str) -> exp.Identifier:
    return exp.to_identifier(name, quoted=True)


def spine_keys(table: FeatureTable, spine: dict[str, str]) -> list[str]:
    """The spine's names of the table's keys (check_spine has made sure there are)."""
    return [_resolve(k, spine) or k for k in table.keys]


def _resolve(name: str, columns: dict[str, str]) -> str | None:
    return udfs.naming.matching_column(list(columns), name)


# -- FEATURES_AT_TIME ---------------------------------------------------------------------


def rewrite_features_at_time(tree: exp.Expr, rewriting: Rewriting) -> None:
    session = rewriting.session
    # Innermost first: an outer call's spine may hold another call, and the outer rewrite
    # puts a copy of its spine in the tree (the inner node found before would be orphaned).
    for node in reversed(list(tree.find_all(ml.FeaturesAtTime, bfs=True))):
        table = feature_tables(session).get(node.this)
        query = node.args["query"]
        spine = describe_in_scope(session, query, node)
        where = f"FEATURES_AT_TIME({table.name}, ...)"
        check_spine(table, spine, where)
        time = time_column(table, spine, node.args.get("time"), where)
        lookup = Lookup(table, time, spine_keys(table, spine))
        joined = join(query, list(spine), [lookup], session.backend.name)
        replace_in_from(node, joined, "features_at_time")


# -- CREATE MODEL ... FEATURES ft [AS OF column] -------------------------------------------


def training_rows(
    query: exp.Query, sources: list[tuple[str, str | None]], session: Session
) -> tuple[exp.Select, list[str], list[dict[str, Any]]]:
    """The spine joined point-in-time to each (feature table, AS OF column); the spine's key
    and time columns (which are not features); and what the model keeps about its feature
    tables. Evaluating the model on new labels builds its rows the same way."""
    spine = dict(session.describe(query))
    lookups: list[Lookup] = []
    kept: list[dict[str, Any]] = []
    excluded: list[str] = []
    seen: dict[str, str] = {}
    for name, as_of in sources:
        table = feature_tables(session).get(name)
        where = f"CREATE MODEL ... FEATURES {table.name}"
        check_spine(table, spine, where)
        time = time_column(table, spine, as_of, where)
        for feature in table.features:
            if feature in seen:
                raise InputSchemaError(
                    f"{where}: feature {feature!r} is in both {seen[feature]!r} and {table.name!r}"
                )
            seen[feature] = table.name
        lookups.append(Lookup(table, time, spine_keys(table, spine)))
        excluded += [*spine_keys(table, spine), time]
        kept.append(
            {"table": table.name, "as_of": time, "keys": table.keys, "features": table.features}
        )
    joined = join(query, list(spine), lookups, session.backend.name)
    return joined, list(dict.fromkeys(excluded)), kept


# -- PREDICT's feature lookup --------------------------------------------------------------


def rewrite_feature_lookups(tree: exp.Expr, rewriting: Rewriting) -> None:
    """PREDICT(m, *) / PREDICT(m, t.*) of a model trained with FEATURES: the table the call
    reads from gets the model's features, looked up by the same rule as at training: as of
    the model's AS OF column where the table has it, else as of now."""
    session = rewriting.session
    enriched: set[int] = set()
    for node in list(tree.find_all(ml.MLPredict)):
        try:
            model = rewriting.models(model_name(node))
        except (SqlmlSyntaxError, ModelNotFoundError):  # the PREDICT rewrite says so
            continue
        uses = model.metadata.get("annotations", {}).get("features")
        if not uses or len(node.expressions) != 1:
            continue  # positional arguments give every feature themselves
        star = star_table(node.expressions[0])
        if star is False:
            continue
        source = _source(node, star, model.name)
        if id(source) in enriched:
            continue
        replacement = _with_features(source, uses, session, model.name)
        source.replace(replacement)
        enriched.add(id(replacement))


def _source(node: ml.MLPredict, star: exp.Identifier | None, model: str) -> exp.Expr:
    select = node.find_ancestor(exp.Select)
    from_ = select.args.get("from_") if select else None
    if select is None or from_ is None:
        raise InputSchemaError(f"PREDICT({model}, *) needs a FROM with the feature table's keys")
    sources = [from_.this, *(j.this for j in select.args.get("joins") or [])]
    if star is None:
        if len(sources) > 1:
            raise InputSchemaError(
                f"PREDICT({model}, *) over a join: write PREDICT({model}, t.*) for the table "
                "that has the keys"
            )
        return sources[0]
    for source in sources:
        if source.alias_or_name == star.name:
            return source
    raise InputSchemaError(f"PREDICT({model}, {star.name}.*): no table {star.name} in FROM")


def _with_features(
    source: exp.Expr, uses: list[dict[str, Any]], session: Session, model: str
) -> exp.Subquery:
    alias = source.alias_or_name
    if isinstance(source, exp.Subquery):
        spine: exp.Query = source.this.copy()
    else:
        bare = source.copy()
        bare.set("alias", None)
        spine = exp.select("*").from_(bare)
    columns = describe_in_scope(session, spine, source)
    lookups, now_columns = [], []
    for i, use in enumerate(uses):
        table = feature_tables(session).get(use["table"])
        check_spine(table, columns, f"PREDICT({model}, ...)")
        time = _resolve(use["as_of"], columns)
        if time is None:  # serving: the newest features, as of now
            time = f"{NOW_COLUMN}{i}"
            kind = exp.DataType.build(
                dict(table.columns)[table.timestamp], dialect=session.backend.name
            )
            now_columns.append(exp.cast(exp.CurrentTimestamp(), kind).as_(time))
        lookups.append(Lookup(table, time, spine_keys(table, columns)))
    if now_columns:
        spine = exp.select("*", *now_columns).from_(spine.subquery("_sqlml_input"))
    joined = join(spine, list(columns), lookups, session.backend.name, ordered=False)
    return exp.Subquery(this=joined, alias=exp.TableAlias(this=exp.to_identifier(alias)))
