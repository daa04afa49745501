"""PostgreSQL's catalog SQL, as clients send it, rewritten for DuckDB with sqlglot.

Only a statement that asks PostgreSQL's catalog or settings something is rewritten (it
names a relation sqlml.server.pg_compat defines or one of information_schema, qualifies a
name with pg_catalog, casts to a reg* type, uses OPERATOR(pg_catalog.x), or reads a setting
the server keeps); anything else, DuckDB SQL included, runs as sent. The rewrite is by the
parsed tree, never by matching whole query strings:

- ``pg_catalog.X`` for a relation pg_compat defines → the compatibility catalog's X, and
  ``pg_catalog.f(...)`` → ``f(...)``, found on the session's search_path;
- ``'customers'::regclass`` → the relation's OID, ``c.oid::regclass`` → its name (and the
  same for regtype, regnamespace, regproc); ``::oid`` → UINTEGER, which is sent as oid;
- ``x OPERATOR(pg_catalog.~) 'pattern'`` → a regular expression match;
- a function in FROM that DuckDB only has as a scalar → a subquery of its rows;
- int2vector columns (pg_index.indkey) taken apart → lists, subscripts from 0;
- ``COLLATE pg_catalog.default`` and ``pg_catalog.`` before type names are dropped.
"""

from __future__ import annotations

import functools
import re
from typing import Protocol

import sqlglot
from sqlglot import exp
from sqlglot.dialects.postgres import Postgres
from sqlglot.errors import SqlglotError
from sqlglot.tokens import TokenType

from sqlml.server import pg_compat

_COMPAT = exp.Table(
    catalog=exp.to_identifier(pg_compat.CATALOG), db=exp.to_identifier("main")
)  # where the compatibility relations are
_HINT = re.compile(
    r"pg_|regclass|regtype|regproc|regnamespace|OPERATOR\s*\(|information_schema"
    r"|current_setting|set_config",
    re.IGNORECASE,
)
_SETTING_CALL = re.compile(r"current_setting|set_config", re.IGNORECASE)
_REG_TYPES = {"regclass", "regtype", "regnamespace", "regproc", "regprocedure", "regrole"}
_POSTGRES = Postgres()
_OID_ARRAY_PARAMETER = re.compile(r"\$(\d+)\s*::\s*(?:pg_catalog\.)?oid\s*\[\]", re.IGNORECASE)
_LABEL_KEYWORDS = {TokenType.SELECT, TokenType.INSERT, TokenType.UPDATE, TokenType.DELETE}
_AFTER_LABEL = {TokenType.COMMA, TokenType.FROM, TokenType.R_PAREN, TokenType.SEMICOLON}
# Functions that return rows (others named in FROM give one row of their value).
_SET_RETURNING = {
    "generate_series",
    "generate_subscripts",
    "unnest",
    "explode",
    "range",
    "pg_get_keywords",
    "regexp_split_to_table",
    "json_each",
    "json_each_text",
    "jsonb_each",
    "pg_timezone_names",
    "read_csv",
    "read_parquet",
}
_T = exp.DataType.Type
_PG_TYPES = {
    _T.BOOLEAN: "bool",
    _T.SMALLINT: "int2",
    _T.INT: "int4",
    _T.BIGINT: "int8",
    _T.FLOAT: "float4",
    _T.DOUBLE: "float8",
    _T.DECIMAL: "numeric",
    _T.TEXT: "text",
    _T.VARCHAR: "varchar",
    _T.CHAR: "bpchar",
    _T.VARBINARY: "bytea",
    _T.DATE: "date",
    _T.TIME: "time",
    _T.TIMESTAMP: "timestamp",
    _T.TIMESTAMPTZ: "timestamptz",
    _T.INTERVAL: "interval",
    _T.UUID: "uuid",
    _T.JSON: "json",
    _T.JSONB: "jsonb",
}
# pg_catalog's columns of types int2vector and oidvector.
_VECTOR_COLUMNS = {"indkey", "indclass", "indoption", "indcollation"}
# PostgreSQL's functions that DuckDB has under another name.
_FUNCTION_NAMES = {"json_build_object": "json_object", "jsonb_build_object": "json_object"}
# PostgreSQL type names DuckDB does not know → what it knows.
_TYPE_NAMES = {
    "oid": "UINTEGER",  # sent as oid (pg_types)
    "name": "VARCHAR",
    '"char"': "VARCHAR",
    "char": "VARCHAR",
    "int2vector": "SMALLINT[]",
    "oidvector": "BIGINT[]",
    "xid": "BIGINT",
    "cid": "BIGINT",
    "aclitem": "VARCHAR",
    "pg_node_tree": "VARCHAR",
    "regrole": "BIGINT",
}


class Settings(Protocol):
    """The session's PostgreSQL settings (the server keeps them; DuckDB has not got them)."""

    def get(self, name: str) -> str | None: ...

    def change(self, name: str, value: str) -> None: ...


def rewrite(sql: str, settings: Settings) -> str | None:
    """DuckDB SQL for a statement that asks PostgreSQL's catalog or settings; None for any
    other. ``current_setting('jit')`` of a setting the server keeps becomes its value, and
    ``set_config('jit', 'off', false)`` changes it (DuckDB's own settings stay DuckDB's)."""
    if not _HINT.search(sql):
        return None
    if not _SETTING_CALL.search(sql):
        return _catalog_only(sql)  # the same text always gives the same SQL: kept
    tree = _parse(sql)
    if tree is None:
        return None
    settings_used = _settings(tree, settings)
    if not _asks_catalog(tree) and not settings_used:
        return None
    return _generate(tree)


@functools.lru_cache(maxsize=1024)
def _catalog_only(sql: str) -> str | None:
    """rewrite() of a statement that reads no setting. BI tools and drivers send the same
    catalog queries over and over, and parsing one takes longer than DuckDB runs it."""
    tree = _parse(sql)
    if tree is None or not _asks_catalog(tree):
        return None
    return _generate(tree)


def _parse(sql: str) -> exp.Expression | None:
    try:
        tree = sqlglot.parse_one(_parsable(sql), read="postgres")
    except SqlglotError:
        return None
    return tree if isinstance(tree, exp.Expression) else None


def _generate(tree: exp.Expression) -> str | None:
    vectors = _VECTOR_COLUMNS | {
        alias.alias.lower()
        for alias in tree.find_all(exp.Alias)
        if isinstance(alias.this, exp.Column) and alias.this.name.lower() in _VECTOR_COLUMNS
    }  # tmp.i_indoption, the alias of a subquery's i.indoption, is one too
    try:
        return _children_first(tree, vectors).sql("duckdb")
    except SqlglotError:
        return None  # sent as it came: DuckDB's error says what it cannot run


@functools.lru_cache(maxsize=1024)
def parameter_types(sql: str) -> dict[int, str]:
    """PostgreSQL's type names of the $n parameters a statement casts (``$1::int`` → int4),
    for clients (asyncpg) that need each parameter's type to send its value. Kept per
    statement text (drivers prepare the same ones again): callers must not change it."""
    if "$" not in sql:
        return {}
    try:
        tree = sqlglot.parse_one(_parsable(sql), read="postgres")
    except SqlglotError:
        return {}
    # $1::oid[] is read as bigint[] (_parsable) but asked for as oid[], which drivers
    # (asyncpg's type introspection) can send without introspecting first.
    found = {int(n): "_oid" for n in _OID_ARRAY_PARAMETER.findall(sql)}
    for cast in tree.find_all(exp.Cast) if isinstance(tree, exp.Expression) else ():
        parameter = cast.this
        if isinstance(parameter, exp.Parameter) and isinstance(cast.to, exp.DataType):
            name = _pg_type_name(cast.to)
            if name is not None and parameter.name.isdigit():
                found.setdefault(int(parameter.name), name)
    return found


def _pg_type_name(to: exp.DataType) -> str | None:
    if to.this == exp.DataType.Type.ARRAY and to.expressions:
        element = _pg_type_name(to.expressions[0])
        return None if element is None else "_" + element
    return _PG_TYPES.get(to.this)


def _settings(tree: exp.Expression, settings: Settings) -> bool:
    """Put the session's value for current_setting / set_config of a setting the server
    keeps; whether there was one."""
    found = False
    for call in list(tree.find_all(exp.Anonymous)):
        name = str(call.this).lower()
        arguments = call.expressions
        if name not in ("current_setting", "set_config") or not arguments:
            continue
        if not (isinstance(arguments[0], exp.Literal) and arguments[0].is_string):
            continue
        setting = arguments[0].name
        if name == "set_config" and len(arguments) > 1 and isinstance(arguments[1], exp.Literal):
            if settings.get(setting) is None:
                continue
            settings.change(setting, arguments[1].name)
        value = settings.get(setting)
        if value is not None:
            call.replace(exp.Literal.string(value))
            found = True
    return found


def _parsable(sql: str) -> str:
    """PostgreSQL that sqlglot's parser does not take, respelled by its tokens: ``::oid[]``
    (as ``::bigint[]``) and a keyword as a column label (``AS select``, quoted)."""
    try:
        tokens = _POSTGRES.tokenize(sql)
    except SqlglotError:
        return sql
    edits: list[tuple[int, int, str]] = []
    for i, token in enumerate(tokens[:-1]):
        after = tokens[i + 1]
        if (
            token.token_type == TokenType.DCOLON
            and after.text.lower() == "oid"
            and i + 2 < len(tokens)
            and tokens[i + 2].token_type == TokenType.L_BRACKET
        ):
            edits.append((after.start, after.end, "bigint"))
        if (
            token.token_type == TokenType.ALIAS
            and after.token_type in _LABEL_KEYWORDS
            and (i + 2 == len(tokens) or tokens[i + 2].token_type in _AFTER_LABEL)
        ):
            edits.append((after.start, after.end, f'"{after.text.lower()}"'))
    for start, end, text in reversed(edits):
        sql = sql[:start] + text + sql[end + 1 :]
    return sql


def _children_first(node: exp.Expression, vectors: set[str]) -> exp.Expression:
    """The tree rewritten from its leaves up, so that a rewritten node's parts (a cast
    inside a cast) are rewritten too. ``vectors``: the names of int2vector columns."""
    for key, value in list(node.args.items()):
        if isinstance(value, exp.Expression):
            node.set(key, _children_first(value, vectors))
        elif isinstance(value, list):
            rewritten = [
                _children_first(v, vectors) if isinstance(v, exp.Expression) else v for v in value
            ]
            node.set(key, rewritten)
    return _rewrite_node(node, vectors)


def _asks_catalog(tree: exp.Expression) -> bool:
    for node in tree.walk():
        if isinstance(node, exp.Operator):
            return True
        if isinstance(node, exp.Table) and (
            _compat_relation(node) or node.db == "information_schema"
        ):
            return True
        if isinstance(node, exp.Cast) and _type_name(node.to) in _REG_TYPES:
            return True
        if isinstance(node, exp.Dot) and _is_catalog_schema(node.this):
            return True
    return False


def _compat_relation(table: exp.Table) -> bool:
    return table.name in pg_compat.RELATIONS and table.db in ("", "pg_catalog")


def _is_pg_catalog(node: exp.Expression | None) -> bool:
    return isinstance(node, (exp.Identifier, exp.Column, exp.Var)) and (
        node.name.lower() == "pg_catalog"
    )


def _is_catalog_schema(node: exp.Expression | None) -> bool:
    """pg_catalog, or information_schema before a function pg_compat defines."""
    if _is_pg_catalog(node):
        return True
    return isinstance(node, (exp.Identifier, exp.Column, exp.Var)) and (
        node.name.lower() == "information_schema"
        and isinstance(node.parent, exp.Dot)
        and isinstance(node.parent.expression, exp.Func)
        and _function_name(node.parent.expression) in pg_compat.FUNCTIONS
    )


def _function_name(node: exp.Func) -> str:
    if isinstance(node, exp.Anonymous):
        return str(node.this).lower()
    return node.sql_name().lower()


def _type_name(to: exp.Expression) -> str:
    """A cast's type as PostgreSQL spells it, without pg_catalog."""
    if isinstance(to, exp.ObjectIdentifier):
        return to.name.lower()
    if isinstance(to, exp.DataType):
        kind = to.args.get("kind")
        if isinstance(kind, exp.Dot):
            return kind.expression.name.lower() + ("[]" if to.args.get("nested") else "")
        if to.this == exp.DataType.Type.USERDEFINED and kind is not None:
            return kind.name.lower() if hasattr(kind, "name") else str(kind).lower()
        return to.sql("postgres").lower()
    return to.sql("postgres").lower()


def _rewrite_node(node: exp.Expression, vectors: set[str]) -> exp.Expression:
    if isinstance(node, exp.Table):
        return _table(node)
    if isinstance(node, exp.Column):
        if node.db == "pg_catalog":
            node.set("db", None)  # pg_catalog.pg_class.relname: the table keeps its name
        return _vector(node, vectors)
    if isinstance(node, exp.Bracket) and _is_vector(node.this):
        # int2vector subscripts count from 0, DuckDB's lists from 1.
        one = exp.Literal.number(1)
        node.set("expressions", [exp.Add(this=e, expression=one.copy()) for e in node.expressions])
        return node
    if isinstance(node, exp.Dot) and _is_catalog_schema(node.this):
        return node.expression  # pg_catalog.f(...) → f(...), found on the search_path
    if isinstance(node, exp.Collate) and "default" in node.expression.sql().lower():
        return node.this
    if isinstance(node, exp.Operator):
        return _operator(node)
    if isinstance(node, exp.Cast):
        return _cast(node)
    if isinstance(node, exp.Anonymous) and str(node.this).lower() in _FUNCTION_NAMES:
        node.set("this", _FUNCTION_NAMES[str(node.this).lower()])
    return node


def _table(table: exp.Table) -> exp.Expression:
    if _compat_relation(table):
        if not table.alias:  # columns may name it: pg_catalog.pg_class.relname
            table.set("alias", exp.TableAlias(this=exp.to_identifier(table.name)))
        table.set("catalog", _COMPAT.args["catalog"].copy())
        table.set("db", _COMPAT.args["db"].copy())
        return table
    function = table.this
    if table.db == "pg_catalog" and not table.alias and not isinstance(function, exp.Func):
        # DuckDB's own pg_catalog relation: columns may name it as pg_catalog.pg_x.col
        table.set("alias", exp.TableAlias(this=exp.to_identifier(table.name)))
    if isinstance(function, exp.Func):
        if table.db in ("pg_catalog", "information_schema"):
            table.set("db", None)
        if isinstance(function, exp.GenerateSeries):
            # DuckDB's generate_series is a table function too: pos(n) keeps its name.
            arguments = [function.args[k] for k in ("start", "end", "step") if function.args.get(k)]
            table.set("this", exp.Anonymous(this="generate_series", expressions=arguments))
            return table
        if _function_name(function) not in _SET_RETURNING:
            return _function_rows(table, function)
    return table


def _function_rows(table: exp.Table, function: exp.Func) -> exp.Expression:
    """A function PostgreSQL allows in FROM and DuckDB does not (a scalar, or a macro that
    unnests): its value(s) as the rows of a subquery, with the alias's column names and
    WITH ORDINALITY's numbering."""
    alias = table.args.get("alias")
    name = table.alias or _function_name(function)
    columns = [c.name for c in alias.columns] if alias is not None else []
    values: list[exp.Expression] = [
        exp.Alias(this=function.copy(), alias=exp.to_identifier(columns[0] if columns else name))
    ]
    if table.args.get("ordinality"):
        numbering = exp.Window(this=exp.RowNumber())
        label = columns[1] if len(columns) > 1 else "ordinality"
        values.append(exp.Alias(this=numbering, alias=exp.to_identifier(label)))
    return exp.select(*values).subquery(name)


def _is_vector(node: exp.Expression) -> bool:
    return isinstance(node, exp.Anonymous) and str(node.this) == "vector"


def _vector(column: exp.Column, vectors: set[str]) -> exp.Expression:
    """An int2vector / oidvector catalog column (pg_index.indkey) that a query takes apart:
    pg_compat keeps them as PostgreSQL prints them ('1 2'), vector() makes the list."""
    if column.name.lower() not in vectors:
        return column
    parent = column.parent
    taken_apart = isinstance(parent, (exp.Func, exp.Bracket, exp.Unnest, exp.Any))
    if taken_apart and not (isinstance(parent, exp.Expression) and _is_vector(parent)):
        return exp.Anonymous(this="vector", expressions=[column])
    return column


def _operator(node: exp.Operator) -> exp.Expression:
    symbol = str(node.args.get("operator", "")).rsplit(".", 1)[-1].strip()
    left, right = node.this, node.expression
    if isinstance(right, exp.Collate):
        right = right.this
    matches: dict[str, exp.Expression] = {
        "~": exp.RegexpLike(this=left, expression=right),
        "~*": exp.RegexpILike(this=left, expression=right),
        "!~": exp.Not(this=exp.RegexpLike(this=left, expression=right)),
        "!~*": exp.Not(this=exp.RegexpILike(this=left, expression=right)),
        "=": exp.EQ(this=left, expression=right),
        "<>": exp.NEQ(this=left, expression=right),
        "~~": exp.Like(this=left, expression=right),
    }
    return matches.get(symbol, node)


def _cast(node: exp.Cast) -> exp.Expression:
    name = _type_name(node.to)
    inner = node.this
    if name in _REG_TYPES:
        kind = "regclass" if name == "regclass" else name.removesuffix("edure")
        if isinstance(inner, exp.Literal) and inner.is_string:
            if inner.name.isdigit():
                return exp.Literal.number(inner.name)
            return _compat_call(f"{kind}_oid", inner)
        return _compat_call(f"{kind}_name", inner)
    if _array_literal(inner) and name.endswith("[]"):  # '{1,2}' → '[1,2]'
        inner = exp.Literal.string("[" + inner.name[1:-1] + "]")
        node.set("this", inner)
    duckdb_name = _TYPE_NAMES.get(name.removesuffix("[]"))
    if duckdb_name is not None:
        suffix = "[]" if name.endswith("[]") else ""
        return exp.Cast(this=inner, to=exp.DataType.build(duckdb_name + suffix, dialect="duckdb"))
    if isinstance(node.to, exp.DataType) and isinstance(node.to.args.get("kind"), exp.Dot):
        return exp.Cast(this=inner, to=exp.DataType.build(name, dialect="postgres"))
    return node


def _array_literal(node: exp.Expression) -> bool:
    return (
        isinstance(node, exp.Literal)
        and node.is_string
        and node.name.startswith("{")
        and node.name.endswith("}")
    )


def _compat_call(name: str, argument: exp.Expression) -> exp.Expression:
    return exp.Anonymous(this=name, expressions=[argument])
