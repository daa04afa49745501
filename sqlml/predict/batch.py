"""PostgreSQL: PREDICT over chunks of rows instead of one function call per row.

A per-row PL/Python call costs far more than the model itself (measured: ~12k rows/s per
process against ~200k for onnxruntime on a matrix). Where the engine has batch functions
and a SELECT has the shape batch_shapes.py accepts (one source, a table or subquery; a
LIMIT only where it does not change which rows are scored, or moved inside the source
first), its source's rows are grouped into chunks of about CHUNK_ROWS, and each chunk's
features are packed column by column by the server's own aggregates: numbers as one
[rows, features] real array's bytes (sqlml.array_bytes), text as one text array. One call
of the model's batch function (udfs/pg_scoring.py: predict_batch) scores a chunk; numeric
answers come back as a float8[]'s bytes, which sqlml.float8_array turns into the array.

A table or materialized view (not a CTE) is chunked by ranges of heap blocks, its rows
carried through whole; any other source by row number, with the columns the rest of the
query reads carried one by one (array columns cannot be: such a SELECT is left to the
per-row rewrite). A WHERE without PREDICT is applied inside the chunks; identical calls share one
answer column. The answers and the carried rows are unnest()ed side by side in a select
list, so they stay in step:

    SELECT <query, PREDICT → s._sqlml_p1> FROM (
        SELECT (_sqlml_row).<column>, ..., _sqlml_p1 FROM (
            SELECT unnest(_sqlml_rows) AS _sqlml_row,
                   unnest(<schema>.<batch function>(_sqlml_n, _sqlml_num1, _sqlml_cat1))
                       AS _sqlml_p1
            FROM generate_series(0, <last block>, <blocks per chunk>) AS _sqlml_g(first),
                 LATERAL (SELECT count(*)::int AS _sqlml_n, array_agg(s) AS _sqlml_rows,
                                 <packed features> AS _sqlml_num1, ... AS _sqlml_cat1
                          FROM <table> AS s
                          WHERE <s.ctid within the chunk's blocks> [AND <WHERE>])
                     AS _sqlml_chunks) AS _sqlml_scored
    ) AS s ...

and for another source, chunks numbered by row instead:

    FROM (SELECT unnest(_sqlml_c0) AS <column>, ..., unnest(<batch call>) AS _sqlml_p1
          FROM (SELECT count(*)::int AS _sqlml_n, array_agg(s.<column>) AS _sqlml_c0, ...,
                       <packed features>
                FROM (SELECT s.*, (row_number() OVER () - 1) / 10000 AS _sqlml_chunk
                      FROM <source> AS s [WHERE <WHERE>]) AS s
                GROUP BY _sqlml_chunk) AS _sqlml_chunks) AS s
"""

from __future__ import annotations

from collections.abc import Callable

import sqlglot
from sqlglot import exp

from sqlml._udfs_loader import udfs
from sqlml.dialects import expressions as ml
from sqlml.errors import InputSchemaError
from sqlml.parameters import take
from sqlml.predict.batch_shapes import eligible, limit_inside
from sqlml.predict.calls import (
    expand_arguments,
    model_name,
    rewrite_predictions,
    signature,
)
from sqlml.scope import ctes_around
from sqlml.session import ModelLookup, Query, Rewriting

CHUNK_ROWS = 10_000
Describe = Callable[[exp.Query], list[tuple[str, str]]]  # a query → (column, type) pairs
RelationKind = Callable[[str], str | None]  # a relation's name → pg_class.relkind


def rewrite_batches(tree: exp.Expr, rewriting: Rewriting) -> None:
    """Rewrite every SELECT whose shape allows it, where the engine has batch functions;
    PREDICT calls elsewhere are left for the per-row rewrite."""
    backend = rewriting.session.backend
    if not backend.batch_predict:
        return
    lookup, relation_kind = rewriting.models, backend.relation_kind

    def describe(query: exp.Query) -> list[tuple[str, str]]:
        query = query.copy()
        params = take(query, rewriting.session.params)
        return backend.describe(Query(_sql(query), params))

    schema = backend.function_schema or "sqlml"
    # Innermost first: a SELECT's source becomes SQL text here, so the PREDICTs inside it
    # must have been rewritten by then (what no batch takes, the per-row rewrite takes).
    selects = {
        id(p.find_ancestor(exp.Select)): p.find_ancestor(exp.Select)
        for p in reversed(list(tree.find_all(ml.MLPredict, bfs=True)))
    }
    for select in selects.values():
        if select is not None:
            limit_inside(select)
        if select is not None and eligible(select):
            rewriting.used.update(_rewrite(select, lookup, describe, relation_kind, schema))


def _own_predictions(select: exp.Select) -> list[ml.MLPredict]:
    return [p for p in select.find_all(ml.MLPredict) if p.find_ancestor(exp.Select) is select]


def _sql(node: exp.Expr) -> str:
    return node.sql(dialect="postgres")


def _ident(name: str) -> str:
    return exp.to_identifier(name, quoted=True).sql(dialect="postgres")


def _value(feature: udfs.features.Feature, argument: str) -> tuple[str, bool]:
    """(one feature's value as the model reads it, whether it is text)."""
    if feature.kind == "categorical":
        return f"({argument})::text", True
    if feature.kind == "boolean":
        value = f"({argument})::int::real"
    elif feature.kind == "temporal":
        value = f"(extract(epoch FROM ({argument})::timestamp)::float8 / 86400)::real"
    else:
        value = f"({argument})::real"
    return f"coalesce({value}, 'NaN'::real)", False


def _packed_numbers(values: list[str]) -> str:
    """A chunk's numbers as one [rows, features] real array, handed over as the array's own
    bytes (sqlml.array_bytes): the cheapest packing measured, 0.46 s per million rows of 20
    features, against 1.14 s through array_send and 1.7 s for per-value float4send;
    udfs/pg_scoring.py (predict_batch) reads it with numpy."""
    if not values:
        return "NULL::bytea"
    return f"sqlml.array_bytes(array_agg(ARRAY[{', '.join(values)}]))"


def _packed_texts(values: list[str]) -> str:
    """A chunk's text features, feature after feature, as one text array."""
    return " || ".join(f"array_agg({v})" for v in values) or "NULL::text[]"


def _rewrite(
    select: exp.Select,
    lookup: ModelLookup,
    describe: Describe,
    relation_kind: RelationKind,
    schema: str,
) -> dict[str, str]:
    source = select.args["from_"].this
    alias = source.alias_or_name
    body = source.this if isinstance(source, exp.Subquery) else source.copy()
    if isinstance(body, exp.Table):
        body.set("alias", None)
    used = rewrite_predictions(body, lookup, schema)  # what the source's own SELECTs left
    body_sql = f"({_sql(body)})" if isinstance(source, exp.Subquery) else _sql(body)
    predictions = _own_predictions(select)
    models = [(p, lookup(model_name(p))) for p in predictions]
    calls = [(p, model, expand_arguments(p, model)) for p, model in models]
    # One look at the source tells its columns and the types of PREDICT's arguments.
    probes = [_sql(a) for _, _, arguments in calls for a in arguments]
    # The statement's CTEs around it: the source may read one.
    ctes = ctes_around(select)
    probe: exp.Select = exp.maybe_parse(
        f"SELECT {', '.join([f'{_ident(alias)}.*', *probes])} FROM {body_sql} AS {_ident(alias)}",
        dialect="postgres",
    )
    for cte in ctes:
        probe = probe.with_(cte.alias, as_=cte.this.copy(), copy=False)
    described = describe(probe)
    available = [name for name, _ in described[: len(described) - len(probes)]]
    argument_types = iter(t for _, t in described[len(described) - len(probes) :])
    for prediction, model, arguments in calls:
        _check_types(prediction, model, arguments, [next(argument_types) for _ in arguments])

    where = select.args.get("where")
    # A WHERE without PREDICT filters the rows before they are packed into chunks.
    pushed = where if where is not None and not list(where.find_all(ml.MLPredict)) else None

    # The source columns the rest of the query reads, carried through the chunks: a table's
    # rows whole (its row type survives array_agg), a subquery's column by column, which
    # cannot carry arrays (array_agg would stack them): such a query scores row by row.
    skip = {id(n) for p in predictions for n in p.walk()}
    skip |= {id(n) for n in source.walk()}  # the source's own SELECT * is not a use
    if pushed is not None:
        skip |= {id(n) for n in pushed.walk()}
    needed = _needed_columns(select, skip, alias, available)
    rows = _ident(alias)
    by_blocks = (
        isinstance(source, exp.Table)
        and source.name not in {cte.alias for cte in ctes}  # a CTE is no table's blocks
        and relation_kind(body_sql) in _HEAP_KINDS
    )
    types = dict(described[: len(available)])
    if not by_blocks and any(_is_array(types[c]) for c in needed):
        return used  # the source's own PREDICTs were rewritten per row above

    aggregates = ["count(*)::int AS _sqlml_n"]
    if needed:
        aggregates += (
            [f"array_agg({rows}) AS _sqlml_rows"]
            if by_blocks
            else [f"array_agg({rows}.{_ident(c)}) AS _sqlml_c{i}" for i, c in enumerate(needed)]
        )
    functions, outputs = [], []
    columns: dict[tuple, str] = {}  # one output column for each distinct call
    for prediction, model, arguments in calls:
        name = model.name
        proba = bool(prediction.args.get("proba"))
        same = (name, proba, *map(_sql, arguments))
        if same in columns:  # `GROUP BY PREDICT(...)` repeats the select list's call
            prediction.replace(exp.column(columns[same], table=alias))
            continue
        index = len(columns) + 1
        columns[same] = f"_sqlml_p{index}"
        numbers: list[str] = []
        texts: list[str] = []
        for feature, argument in zip(model.metadata["features"], arguments, strict=True):
            value, is_text = _value(udfs.features.Feature.from_json(feature), _sql(argument))
            (texts if is_text else numbers).append(value)
        aggregates.append(f"{_packed_numbers(numbers)} AS _sqlml_num{index}")
        aggregates.append(f"{_packed_texts(texts)} AS _sqlml_cat{index}")
        function = udfs.naming.predict_function(name, proba, batch=True)
        used[function] = name
        call = f"{schema}.{_ident(function)}(_sqlml_n, _sqlml_num{index}, _sqlml_cat{index})"
        if udfs.pg_functions.batch_return_type(model.metadata, proba) == "bytea":
            call = f"sqlml.float8_array({call})"  # numbers come back as an array's bytes
        functions.append(call)
        outputs.append(f"_sqlml_p{index}")
        prediction.replace(exp.column(f"_sqlml_p{index}", table=alias))

    condition = _sql(pushed.this) if pushed is not None else None
    # Set-returning functions side by side in a select list run in step (a LATERAL
    # unnest would get a Memoize node that hashes every packed chunk for nothing).
    scored = [f"unnest({f}) AS {o}" for f, o in zip(functions, outputs, strict=True)]
    if by_blocks:
        chunks = _block_chunks(body_sql, rows, aggregates, condition)
        carried = ["unnest(_sqlml_rows) AS _sqlml_row"] if needed else []
        fields = [f"(_sqlml_row).{_ident(c)} AS {_ident(c)}" for c in needed]
        derived = (
            f"SELECT {', '.join([*fields, *outputs])} FROM "
            f"(SELECT {', '.join([*carried, *scored])} FROM {chunks}) AS _sqlml_scored"
        )
    else:
        chunks = _numbered_chunks(body_sql, rows, aggregates, condition)
        carried = [f"unnest(_sqlml_c{i}) AS {_ident(c)}" for i, c in enumerate(needed)]
        derived = f"SELECT {', '.join([*carried, *scored])} FROM {chunks}"
    if pushed is not None:
        select.set("where", None)
    _expand_stars(select, alias, available)
    subquery = sqlglot.parse_one(derived, read="postgres")
    source.replace(exp.Subquery(this=subquery, alias=exp.TableAlias(this=exp.to_identifier(alias))))
    return used


# Tables and materialized views keep rows in heap blocks, which ctid ranges read directly.
_HEAP_KINDS = ("r", "m")


def _block_chunks(table: str, rows: str, aggregates: list[str], condition: str | None) -> str:
    """Chunks of a table by ranges of heap blocks (TID range scans, PostgreSQL 14+), sized
    from the planner's statistics to about CHUNK_ROWS rows: each chunk is aggregated as it
    is read, so memory holds one chunk, whatever the table's size."""
    relation = f"{exp.Literal.string(table).sql(dialect='postgres')}::regclass"
    # Blocks per chunk, from the rows in the first 16 blocks (the planner's statistics are
    # missing until the table is analyzed, which a freshly loaded table is not).
    step = (
        f"(SELECT greatest(1, floor({CHUNK_ROWS} * 16.0 / greatest(count(*), 1)))::int "
        f"FROM {table} WHERE ctid < '(16,0)'::tid)"
    )
    last = f"(pg_relation_size({relation}) / current_setting('block_size')::int)::int"
    where = f" AND ({condition})" if condition else ""
    return (
        f"generate_series(0, {last}, {step}) AS _sqlml_g(first), "
        f"LATERAL (SELECT {', '.join(aggregates)} FROM {table} AS {rows} "
        f"WHERE {rows}.ctid >= format('(%s,0)', _sqlml_g.first)::tid "
        f"AND {rows}.ctid < format('(%s,0)', _sqlml_g.first + {step})::tid{where}) "
        f"AS _sqlml_chunks"
    )


def _numbered_chunks(source: str, rows: str, aggregates: list[str], condition: str | None) -> str:
    """Chunks of any row source by row number (a hashed GROUP BY: the chunks are built
    side by side, so a large source spills to disk)."""
    where = f" WHERE {condition}" if condition else ""
    return (
        f"(SELECT {', '.join(aggregates)} FROM ("
        f"SELECT {rows}.*, (row_number() OVER () - 1) / {CHUNK_ROWS} AS _sqlml_chunk "
        f"FROM {source} AS {rows}{where}) AS {rows} GROUP BY _sqlml_chunk) AS _sqlml_chunks"
    )


def _is_array(sql_type: str) -> bool:
    return sql_type.endswith("]") or sql_type.startswith("_")  # int4[] / _int4


def _element_type(sql_type: str) -> str:
    return udfs.sql_types.base_name(sql_type).replace("[]", "")


def _check_types(
    prediction: ml.MLPredict,
    model: udfs.catalog.ModelVersion,
    arguments: list[exp.Expr],
    types: list[str],
) -> None:
    """The per-row functions' signatures reject a wrong type; so must the batch form. A bare
    NULL fits any feature (it describes as text)."""
    features = model.metadata["features"]
    wrong = [
        f"{f['name']} {f['sql_type']} got {t}"
        for f, a, t in zip(features, arguments, types, strict=True)
        if not isinstance(a, exp.Null)
        and _element_type(t) not in udfs.sql_types.POSTGRES_NAMES_BY_KIND[f["kind"]]
    ]
    if wrong:
        function = "PREDICT_PROBA" if prediction.args.get("proba") else "PREDICT"
        raise InputSchemaError(
            f"{function}({model.name}, ...): the arguments do not fit the model's signature "
            f"{signature(model)}: {'; '.join(wrong)}"
        )


def _needed_columns(
    select: exp.Select, skip: set[int], alias: str, available: list[str]
) -> list[str]:
    nodes = [n for n in select.walk() if id(n) not in skip]
    if any(_is_source_star(n, alias) for n in nodes):
        return list(available)
    named = {
        _column_name(n)
        for n in nodes
        if isinstance(n, exp.Column) and n.table in ("", alias) and not isinstance(n.this, exp.Star)
    }
    return [c for c in available if c in named]


def _column_name(column: exp.Column) -> str:
    identifier = column.this
    return identifier.name if identifier.quoted else identifier.name.lower()


def _is_source_star(node: exp.Expr, alias: str) -> bool:
    if isinstance(node, exp.Star):
        return isinstance(node.parent, exp.Select)
    return isinstance(node, exp.Column) and isinstance(node.this, exp.Star) and node.table == alias


def _expand_stars(select: exp.Select, alias: str, available: list[str]) -> None:
    """`*` must not show the helper columns: spell out the source's columns instead."""
    expanded: list[exp.Expr] = []
    for projection in select.expressions:
        if _is_source_star(projection, alias):
            expanded += [
                exp.column(exp.to_identifier(c, quoted=True), table=alias) for c in available
            ]
        else:
            expanded.append(projection)
    select.set("expressions", expanded)
