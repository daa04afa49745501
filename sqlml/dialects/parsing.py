"""What every part of sqlml's grammar reads with: model and column names, literal values,
the training query or table, a clause given once, and a failure that the type checker
knows never returns; the base of every grammar mixin."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, NoReturn

from sqlglot import exp
from sqlglot.errors import ParseError
from sqlglot.tokens import Token, TokenType

from sqlml.dialects import expressions as ml

if TYPE_CHECKING:  # the checker sees the parser the mixin is put before
    from sqlglot.parser import Parser as _ParserBase
else:
    _ParserBase = object


def name_of(identifier: exp.Expr) -> str:
    """The catalog name of a model: unquoted identifiers fold to lower case; a dataset-
    qualified name (BigQuery's `ds.model`) is one name, its parts joined by dots."""
    if isinstance(identifier, exp.Table | exp.Column):
        parts = identifier.parts
    elif isinstance(identifier, exp.Dot):
        parts = [identifier.this, identifier.expression]
    else:
        parts = [identifier]
    names = [p for p in parts if isinstance(p, exp.Identifier)]
    if not parts or len(names) != len(parts):
        raise ValueError(f"not a name: {identifier.sql()}")
    return ".".join(p.name if p.quoted else p.name.lower() for p in names)


def literal_value(node: exp.Expr | None) -> Any:
    """The Python value of an OPTIONS value: number, string, boolean, NULL, list or word."""
    if node is None:
        raise TypeError("no value")
    if isinstance(node, exp.Paren):
        return literal_value(node.this)
    if isinstance(node, exp.Neg):
        return -literal_value(node.this)
    if isinstance(node, exp.Literal):
        if node.is_string:
            return node.this
        text = node.this
        return int(text) if text.lstrip("-").isdigit() else float(text)
    if isinstance(node, exp.Boolean):
        return bool(node.this)
    if isinstance(node, exp.Null):
        return None
    if isinstance(node, (exp.Array, exp.Tuple)):
        return [literal_value(e) for e in node.expressions]
    if isinstance(node, exp.GenerateSeries):  # DuckDB's dialect reads RANGE(...) as this
        ends = [node.args.get("start"), node.args.get("end"), node.args.get("step")]
        return _search_range([e for e in ends if e is not None])
    if isinstance(node, exp.Anonymous) and node.name.upper() in ("RANGE", "HPARAM_RANGE"):
        return _search_range(node.expressions)
    if isinstance(node, exp.Anonymous) and node.name.upper() == "HPARAM_CANDIDATES":
        (candidates,) = node.expressions
        return {"candidates": literal_value(candidates)}
    if isinstance(node, (exp.Column, exp.Identifier, exp.Var)) and not isinstance(node, exp.Star):
        return node.name
    raise TypeError(f"{node.sql()} is not a literal value")


def _search_range(ends: list[exp.Expr]) -> dict[str, Any]:
    """RANGE(lo, hi [, LOG | LINEAR]) (BigQuery: HPARAM_RANGE(lo, hi)): a dimension of a
    hyperparameter search, as the training request carries it."""
    if len(ends) not in (2, 3):
        raise TypeError("RANGE takes (lo, hi) or (lo, hi, LOG)")
    scale = literal_value(ends[2]) if len(ends) == 3 else "LINEAR"
    if not isinstance(scale, str) or scale.upper() not in ("LOG", "LINEAR"):
        raise TypeError("the third argument of RANGE is LOG or LINEAR")
    return {
        "range": [literal_value(ends[0]), literal_value(ends[1])],
        "log": scale.upper() == "LOG",
    }


class GrammarPieces(_ParserBase):
    """The pieces the statements' and functions' parsers share (a parser mixin)."""

    def _fail(self, message: str, token: Token | None = None) -> NoReturn:
        """sqlglot's raise_error, which raises at the dialects' error level (IMMEDIATE);
        told as never returning, so that what a check has ruled out is known after it."""
        self.raise_error(message, token or self._curr or self._prev)
        raise ParseError(message)

    def _set_once(self, args: dict[str, Any], key: str, value: Any, clause: Any) -> None:
        """``clause`` is the clause's keyword token: a repeat is reported where it stands."""
        if key in args:
            self._fail(f"{clause.text.upper()} is given twice in CREATE MODEL", clause)
        args[key] = value

    def _parse_model_name(self) -> str:
        token = self._curr
        if token is None or token.token_type in (TokenType.SEMICOLON, TokenType.SENTINEL):
            self._fail("Expected a model name", self._prev)
        table = self._parse_table_parts()
        if table is None or not table.name:
            self._fail("Expected a model name", token)
        try:
            return name_of(table)
        except ValueError:
            self._fail(f"Expected a model name, not {table.sql()}", token)
            raise

    def _parse_ml_column_name(self) -> str:
        token = self._curr
        identifier = self._parse_id_var(any_token=False)
        if identifier is None:
            self._fail("Expected a column name", token)
        return name_of(identifier)

    def _parse_ml_word(self) -> str:
        token = self._curr
        identifier = self._parse_var(any_token=True)
        if identifier is None:
            self._fail("Expected a word", token)
        return identifier.name.lower()

    def _parse_ml_query(self) -> exp.Query:
        token = self._curr
        query = self._parse_select(nested=True, parse_subquery_alias=False)
        if not isinstance(query, exp.Query):
            self._fail("Expected a query (SELECT ...)", token)
        return query

    def _parse_ml_from(self) -> exp.Select:
        """``table`` or ``(query)``, as a query that selects every column."""
        token = self._curr
        if self._curr and self._curr.token_type == TokenType.L_PAREN:
            source = self._parse_wrapped(self._parse_ml_query)
            return exp.select("*").from_(source.subquery(ml.SOURCE_ALIAS))
        table = self._parse_table_parts()
        if table is None:
            self._fail("Expected a table name or (query)", token)
        return exp.select("*").from_(table)
