"""The grammar of feature tables: CREATE FEATURE TABLE (with its TTL interval), REFRESH
FEATURE TABLE, FEATURES_AT_TIME(...) and CREATE MODEL's FEATURES ft AS OF col. SHOW,
DESCRIBE and DROP FEATURE TABLE share the model statements' dispatch, in grammar.py."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from sqlglot import exp
from sqlglot.tokens import TokenType

from sqlml.dialects import expressions as ml
from sqlml.dialects.parsing import GrammarPieces


class FeatureTableGrammar(GrammarPieces):
    """Parser mixin for the feature-table statements and FEATURES_AT_TIME."""

    def _parse_ml_create_feature_table(self, replace: bool) -> exp.Expr:
        if_not_exists = self._match_text_seq("IF", "NOT", "EXISTS")
        args: dict[str, Any] = {
            "this": self._parse_model_name(),
            "replace": replace,
            "if_not_exists": if_not_exists,
        }
        query = None
        while self._curr and self._curr.token_type != TokenType.SEMICOLON and query is None:
            clause = self._curr
            word = clause.text.upper()
            self._advance()
            if word == "KEY":
                keys = self._parse_csv(self._parse_ml_column_name)
                self._set_once(args, "keys", keys, clause)
            elif word == "TIMESTAMP":
                self._set_once(args, "timestamp", self._parse_ml_column_name(), clause)
            elif word == "TTL":
                self._set_once(args, "ttl", self._parse_ml_interval(), clause)
            elif word == "AS":
                query = self._parse_ml_query()
            elif word == "FROM":
                query = self._parse_ml_from()
            else:
                self._fail(
                    f"Unexpected {clause.text!r} in CREATE FEATURE TABLE; expected KEY, "
                    "TIMESTAMP, TTL or AS",
                    clause,
                )
        for required, example in (("keys", "KEY customer_id"), ("timestamp", "TIMESTAMP t")):
            if required not in args:
                self._fail(f"CREATE FEATURE TABLE needs {example}")
        if query is None:
            self._fail("CREATE FEATURE TABLE needs its rows: AS SELECT ...")
        return ml.CreateFeatureTable(query=query, **args)

    def _parse_ml_interval(self) -> str:
        """TTL INTERVAL '30 days' (or INTERVAL 30 DAY, or '30 days') as text: '30 days'."""
        token = self._curr
        node = self._parse_bitwise()
        if isinstance(node, exp.Interval) and node.this is not None:
            unit = node.args.get("unit")
            return f"{node.this.name} {unit.name}".strip() if unit else node.this.name
        if isinstance(node, exp.Literal) and node.is_string:
            return node.this
        self._fail("TTL takes an interval, such as INTERVAL '30 days'", token)

    def _parse_ml_refresh(self) -> exp.Expr | None:
        if not self._match_text_seq("FEATURE", "TABLE"):
            return None
        return ml.RefreshFeatureTable(this=self._parse_model_name())

    def _parse_ml_feature_source(self) -> ml.FeatureSource:
        """CREATE MODEL's FEATURES ft [AS OF column]."""
        name = self._parse_model_name()
        as_of = self._parse_ml_column_name() if self._match_text_seq("AS", "OF") else None
        return ml.FeatureSource(this=name, as_of=as_of)

    def _parse_features_at_time(self) -> exp.Expr:
        """After ``FEATURES_AT_TIME(``: ft, TABLE t | (query) [, time column]."""
        name = self._parse_model_name()
        if not self._match(TokenType.COMMA):
            self._fail("FEATURES_AT_TIME(feature_table, TABLE spine | (query) [, time])")
        self._match_text_seq("TABLE")
        query = self._parse_ml_from()
        time = self._parse_ml_column_name() if self._match(TokenType.COMMA) else None
        return ml.FeaturesAtTime(this=name, query=query, time=time)


FEATURE_FUNCTION_PARSERS: dict[str, Callable[[FeatureTableGrammar], exp.Expr]] = {
    "FEATURES_AT_TIME": lambda parser: parser._parse_features_at_time(),
}
