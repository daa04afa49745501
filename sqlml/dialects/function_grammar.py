"""The grammar of sqlml's functions: PREDICT / PREDICT_PROBA, and BigQuery ML's table
functions, ML.<name>(MODEL m, TABLE t or (query), STRUCT(...) or a threshold array)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from sqlglot import exp
from sqlglot.tokens import TokenType

from sqlml.dialects import expressions as ml
from sqlml.dialects.parsing import GrammarPieces, literal_value

# BigQuery ML's table functions, written ML.<name>(MODEL m, ...).
ML_TABLE_FUNCTIONS = frozenset(
    {
        "PREDICT",
        "EVALUATE",
        "FEATURE_IMPORTANCE",
        "GLOBAL_EXPLAIN",
        "TRAINING_INFO",
        "FEATURE_INFO",
        "CONFUSION_MATRIX",
        "ROC_CURVE",
        "TRIAL_INFO",
        "CENTROIDS",
        "EXPLAIN_PREDICT",  # recognised, to say it is not available
    }
)


class FunctionGrammar(GrammarPieces):
    """Parser mixin for the calls of ML.<name>(MODEL ...)."""

    def _parse_ml_table_function(self, name: str) -> exp.Expr:
        """After ``ML.<name>(``: MODEL m, then an optional TABLE t or (query), then an
        optional STRUCT(value AS name, ...) or threshold array. Without MODEL it is an
        ordinary call (sqlml's PREDICT(m, ...), or someone's own function)."""
        if not self._match_text_seq("MODEL"):
            args = self._parse_csv(self._parse_lambda)
            builder = ML_FUNCTIONS.get(name)
            return builder(args) if builder else exp.Anonymous(this=name, expressions=args)
        node = ml.MLTableFunction(this=name, model=self._parse_model_name())
        while self._match(TokenType.COMMA):
            token = self._curr
            if self._match_text_seq("TABLE") or (token and token.token_type == TokenType.L_PAREN):
                self._ml_set_argument(node, "query", self._parse_ml_from(), token, name)
            elif self._match_text_seq("STRUCT"):
                self._ml_set_argument(node, "params", self._parse_ml_struct(), token, name)
            else:
                self._ml_set_argument(node, "thresholds", self._parse_ml_numbers(), token, name)
        return node

    def _ml_set_argument(
        self, node: exp.Expr, key: str, value: Any, token: Any, function: str
    ) -> None:
        if node.args.get(key) is not None:
            self._fail(f"ML.{function} takes one {key} argument", token)
        node.set(key, value)

    def _parse_ml_struct(self) -> dict[str, Any]:
        """STRUCT(0.6 AS threshold, ...) as {name: value}."""
        values: dict[str, Any] = {}
        self._match_l_paren()
        while not self._match(TokenType.R_PAREN):
            token = self._curr
            node = self._parse_bitwise()
            if not self._match(TokenType.ALIAS):
                self._fail("Expected value AS name in STRUCT(...)", token)
            name = self._parse_ml_word()
            try:
                values[name] = literal_value(node)
            except (TypeError, AttributeError):
                self._fail(f"STRUCT field {name} needs a literal value", token)
            self._match(TokenType.COMMA)
        return values

    def _parse_ml_numbers(self) -> list[float]:
        """GENERATE_ARRAY(start, end, step) or [a, b, ...]: ROC_CURVE's thresholds."""
        token = self._curr
        node = self._parse_bitwise()
        try:
            if isinstance(node, exp.Array):
                return [float(literal_value(v)) for v in node.expressions]
            if isinstance(node, exp.GenerateSeries) or (
                isinstance(node, exp.Anonymous) and node.name.upper() == "GENERATE_ARRAY"
            ):
                start, end, step = (float(literal_value(a)) for a in _call_arguments(node))
                count = round((end - start) / step) + 1 if step > 0 else 0
                return [round(start + i * step, 12) for i in range(max(count, 0))]
        except (TypeError, ValueError, AttributeError):
            pass
        self._fail("Expected TABLE t, (query), STRUCT(...) or GENERATE_ARRAY(...)", token)


def _call_arguments(node: exp.Expr) -> list[exp.Expr | None]:
    if isinstance(node, exp.Anonymous):
        return list(node.expressions)
    return [node.args.get(k) for k in ("start", "end", "step")]


def build_predict(proba: bool) -> Callable[[list[exp.Expr]], ml.MLPredict]:
    def builder(args: list[exp.Expr]) -> ml.MLPredict:
        model = args[0] if args else None
        return ml.MLPredict(this=model, expressions=args[1:], proba=proba)

    return builder


ML_FUNCTIONS = {"PREDICT": build_predict(False), "PREDICT_PROBA": build_predict(True)}


def _table_function_parser(name: str) -> Callable[[FunctionGrammar], exp.Expr]:
    return lambda parser: parser._parse_ml_table_function(name)


TABLE_FUNCTION_PARSERS = {name: _table_function_parser(name) for name in ML_TABLE_FUNCTIONS}
