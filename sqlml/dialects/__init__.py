"""sqlglot dialects that understand sqlml's statements, one per engine."""

from __future__ import annotations

from sqlglot.dialects.dialect import Dialect
from sqlglot.dialects.duckdb import DuckDB
from sqlglot.dialects.postgres import Postgres
from sqlglot.tokens import TokenType

from sqlml.dialects.grammar import ML_FUNCTIONS, ML_WORDS, MLGrammar

__all__ = ["ML_WORDS", "SqlmlDuckDB", "SqlmlPostgres", "ml_dialect"]


def _ml_keywords(tokenizer: type) -> dict:
    # EXPLAIN and SHOW are COMMAND tokens, which swallow the rest of the statement as
    # text; as plain words they reach the ML grammar (EXPLAIN MODEL, SHOW MODELS, EXPLAIN
    # <query with PREDICT>). Statements without ML words never reach a parser.
    return {**tokenizer.KEYWORDS, "EXPLAIN": TokenType.VAR, "SHOW": TokenType.VAR}


class SqlmlDuckDB(DuckDB):
    class Tokenizer(DuckDB.tokenizer_class):  # type: ignore[misc]
        KEYWORDS = _ml_keywords(DuckDB.tokenizer_class)

    class Parser(MLGrammar, DuckDB.parser_class):  # type: ignore[misc]
        FUNCTIONS = {**DuckDB.parser_class.FUNCTIONS, **ML_FUNCTIONS}


class SqlmlPostgres(Postgres):
    class Tokenizer(Postgres.tokenizer_class):  # type: ignore[misc]
        KEYWORDS = _ml_keywords(Postgres.tokenizer_class)

    class Parser(MLGrammar, Postgres.parser_class):  # type: ignore[misc]
        FUNCTIONS = {**Postgres.parser_class.FUNCTIONS, **ML_FUNCTIONS}


_BY_ENGINE: dict[str, type[Dialect]] = {"duckdb": SqlmlDuckDB, "postgres": SqlmlPostgres}


def ml_dialect(engine: str) -> Dialect:
    return _BY_ENGINE[engine]()
