"""The grammar of Redshift ML's CREATE MODEL clauses (IAM_ROLE, AUTO, MODEL_TYPE, ...,
SETTINGS, RETURNS) and its declared types, read as written: their meaning is given by
sqlml.models.redshift."""

from __future__ import annotations

from typing import Any

from sqlglot.tokens import TokenType

from sqlml.dialects.parsing import GrammarPieces, literal_value

# Redshift ML's clauses: read here as written, given meaning by sqlml.models.redshift.
REDSHIFT_CLAUSES = (
    "IAM_ROLE",
    "AUTO",
    "MODEL_TYPE",
    "PROBLEM_TYPE",
    "OBJECTIVE",
    "PREPROCESSORS",
    "HYPERPARAMETERS",
    "SETTINGS",
    "RETURNS",
    "SAGEMAKER",
)


class RedshiftGrammar(GrammarPieces):
    """Parser mixin for the values of Redshift ML's clauses in CREATE MODEL."""

    def _parse_redshift_clause(self, word: str) -> Any:
        """The value of one Redshift clause, as plain Python (its meaning is elsewhere)."""
        if word == "AUTO":
            return self._parse_redshift_switch(word)
        if word == "HYPERPARAMETERS":
            if not self._match(TokenType.DEFAULT):
                self._fail("Expected DEFAULT or DEFAULT EXCEPT (...) after HYPERPARAMETERS")
            return self._parse_redshift_pairs(word) if self._match(TokenType.EXCEPT) else {}
        if word == "SETTINGS":
            return self._parse_redshift_pairs(word)
        if word == "RETURNS":
            return self._parse_ml_type_as_written()
        # IAM_ROLE default | 'arn'; MODEL_TYPE X; PROBLEM_TYPE (X); OBJECTIVE 'x'; ...
        wrapped = self._match(TokenType.L_PAREN)
        value = self._parse_redshift_value(word)
        if wrapped and not self._match(TokenType.R_PAREN):
            self._fail(f"Expected ) after {word} ({value}")
        return value

    def _parse_ml_type_as_written(self) -> str:
        """A data type (RETURNS t, FUNCTION f (t, ...)) as its SQL text."""
        start = self._curr
        if self._parse_types() is None:
            self._fail("Expected a data type", start)
        return self._find_sql(start, self._prev)

    def _parse_redshift_switch(self, word: str) -> bool:
        token = self._curr
        if token is None or token.text.upper() not in ("ON", "OFF"):
            self._fail(f"Expected ON or OFF after {word}", token or self._prev)
        self._advance()
        return token.text.upper() == "ON"

    def _parse_redshift_value(self, clause: str) -> Any:
        """A string, a number or a word (ON / OFF / DEFAULT / XGBOOST ...)."""
        token = self._curr
        ends = (TokenType.SEMICOLON, TokenType.R_PAREN, TokenType.SENTINEL)
        if token is None or token.token_type in ends:
            self._fail(f"Expected a value for {clause}", self._prev)
        if token.token_type in (TokenType.STRING, TokenType.NUMBER, TokenType.DASH):
            node = self._parse_unary()
            try:
                return literal_value(node)
            except (TypeError, ValueError):
                self._fail(
                    f"Expected one value for {clause}, not {node.sql() if node else token.text}",
                    token,
                )
        self._advance()
        return token.text.upper()

    def _parse_redshift_pairs(self, clause: str) -> dict[str, Any]:
        """( KEY value [, ...] ): Redshift writes no = between them (accepted too)."""
        if not self._match(TokenType.L_PAREN):
            self._fail(f"Expected ( after {clause}")
        pairs: dict[str, Any] = {}
        while not self._match(TokenType.R_PAREN):
            token = self._curr
            key = self._parse_var(any_token=True)
            if key is None:
                self._fail(f"Expected a name in {clause} (...)", token)
            name = key.name.upper()
            if name in pairs:
                self._fail(f"{clause} {name} is given twice", token)
            self._match(TokenType.EQ)
            pairs[name] = self._parse_redshift_value(f"{clause} {name}")
            if not self._match(TokenType.COMMA) and not (
                self._curr and self._curr.token_type == TokenType.R_PAREN
            ):
                self._fail(f"Expected , or ) in {clause} (...)")
        return pairs
