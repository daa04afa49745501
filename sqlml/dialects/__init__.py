"""sqlglot dialects that understand sqlml's statements, one per engine."""

from __future__ import annotations

from sqlglot.dialects.bigquery import BigQuery
from sqlglot.dialects.dialect import Dialect
from sqlglot.dialects.duckdb import DuckDB
from sqlglot.dialects.postgres import Postgres
from sqlglot.dialects.redshift import Redshift
from sqlglot.tokens import Tokenizer, TokenType

from sqlml.dialects.function_grammar import ML_FUNCTIONS
from sqlml.dialects.grammar import ML_FUNCTION_PARSERS, MLGrammar

__all__ = ["READABLE", "SqlmlDuckDB", "SqlmlPostgres", "ml_dialect"]


def _ml_keywords(tokenizer: type[Tokenizer]) -> dict[str, TokenType]:
    # EXPLAIN and SHOW are COMMAND tokens, which swallow the rest of the statement as
    # text; as plain words they reach the ML grammar (EXPLAIN MODEL, SHOW MODELS, EXPLAIN
    # <query with PREDICT>). Statements without ML words never reach a parser.
    # REFRESH (PostgreSQL's REFRESH MATERIALIZED VIEW) likewise, for REFRESH FEATURE TABLE.
    words = ("EXPLAIN", "SHOW", "REFRESH")
    return {**tokenizer.KEYWORDS, **dict.fromkeys(words, TokenType.VAR)}


def _with_ml_grammar(base: type[Dialect], name: str) -> type[Dialect]:
    """A subclass of a sqlglot dialect (never the dialect itself) that parses sqlml's
    statements and functions besides its own SQL."""

    class Tokenizer(base.tokenizer_class):  # type: ignore[name-defined]
        KEYWORDS = _ml_keywords(base.tokenizer_class)

    class Parser(MLGrammar, base.parser_class):  # type: ignore[name-defined]
        FUNCTIONS = {**base.parser_class.FUNCTIONS, **ML_FUNCTIONS}
        # BigQuery parses ML.PREDICT(...) itself: sqlml's parser reads both its PREDICT
        # and BigQuery's table functions.
        FUNCTION_PARSERS = {**base.parser_class.FUNCTION_PARSERS, **ML_FUNCTION_PARSERS}

    return type(name, (base,), {"Tokenizer": Tokenizer, "Parser": Parser})


SqlmlDuckDB = _with_ml_grammar(DuckDB, "SqlmlDuckDB")
SqlmlPostgres = _with_ml_grammar(Postgres, "SqlmlPostgres")

# Engines run SQL; the other dialects can only be read (a script's `read=`), then
# transpiled to the engine's.
_BY_NAME: dict[str, type[Dialect]] = {
    "duckdb": SqlmlDuckDB,
    "postgres": SqlmlPostgres,
    "bigquery": _with_ml_grammar(BigQuery, "SqlmlBigQuery"),
    "redshift": _with_ml_grammar(Redshift, "SqlmlRedshift"),
}
READABLE = tuple(_BY_NAME)


def ml_dialect(name: str) -> Dialect:
    try:
        return _BY_NAME[name]()
    except KeyError:
        from sqlml.errors import UnknownOptionError, close_matches

        raise UnknownOptionError(
            f"cannot read SQL of dialect {name!r}.{close_matches(name, READABLE)}"
            f" Readable: {', '.join(READABLE)}"
        ) from None
