"""Cut a script into statements and tell sqlml's statements from the engine's own."""

from __future__ import annotations

from dataclasses import dataclass

from sqlglot.dialects.dialect import Dialect
from sqlglot.errors import TokenError
from sqlglot.tokens import Token, TokenType

from sqlml.dialects.function_grammar import ML_TABLE_FUNCTIONS
from sqlml.errors import SqlmlSyntaxError

# (first word, second word) pairs that open a sqlml statement; None matches anything.
_ML_OPENINGS = {
    ("CREATE", "MODEL"),
    ("SHOW", "MODELS"),
    ("SHOW", "MODEL"),
    ("SHOW", "TRIALS"),
    ("SHOW", "RUNS"),
    ("DESCRIBE", "MODEL"),
    ("DESC", "MODEL"),
    ("EVALUATE", "MODEL"),
    ("EXPLAIN", "MODEL"),
    ("DROP", "MODEL"),
    ("ALTER", "MODEL"),
    ("EXPORT", "MODEL"),
    ("IMPORT", "MODEL"),
    ("CREATE", "FEATURE"),
    ("REFRESH", "FEATURE"),
    ("SHOW", "FEATURE"),
    ("DESCRIBE", "FEATURE"),
    ("DESC", "FEATURE"),
    ("DROP", "FEATURE"),
}
_ML_FUNCTIONS = {"PREDICT", "PREDICT_PROBA", "FEATURES_AT_TIME"}


@dataclass(frozen=True)
class Statement:
    text: str  # the statement as written, without the closing semicolon
    line: int  # where it starts in the script (1-based), for error positions
    column: int
    is_ml: bool  # needs sqlml's parser; otherwise it goes to the engine as written


def split(script: str, dialect: Dialect) -> list[Statement]:
    try:
        tokens = dialect.tokenize(script)
    except TokenError:
        offset = _unreadable_from(script, dialect)
        line = script.count("\n", 0, offset) + 1
        column = offset - (script.rfind("\n", 0, offset) + 1) + 1
        raise SqlmlSyntaxError(
            f"cannot read the SQL from {script[offset : offset + 20]!r} on: an unterminated "
            "string, quoted name or comment?",
            line,
            column,
        ) from None
    statements: list[Statement] = []
    current: list[Token] = []
    for token in [*tokens, None]:
        if token is None or token.token_type == TokenType.SEMICOLON:
            if current:
                first, last = current[0], current[-1]
                statements.append(
                    Statement(
                        text=script[first.start : last.end + 1],
                        line=first.line,
                        column=first.col - (first.end - first.start),
                        is_ml=_is_ml(current),
                    )
                )
            current = []
        else:
            current.append(token)
    return statements


def _unreadable_from(script: str, dialect: Dialect) -> int:
    """Where tokenizing starts to fail: the longest prefix that still reads ends there
    (sqlglot's error does not say where)."""
    low, high = 0, len(script)
    while low < high:
        middle = (low + high + 1) // 2
        try:
            dialect.tokenize(script[:middle])
            low = middle
        except TokenError:
            high = middle - 1
    return low


def _is_ml(tokens: list[Token]) -> bool:
    words = [t.text.upper() if t.token_type != TokenType.STRING else "" for t in tokens]
    opening = tuple(words[:2])
    # `DESCRIBE model` alone describes a table named model.
    if opening in _ML_OPENINGS and (len(words) > 2 or opening[1] in ("MODELS", "RUNS")):
        return True
    if words[:1] == ["RETRAIN"]:  # MindsDB's: answered with sqlml's way
        return True
    or_replace = (["CREATE", "OR", "REPLACE"], ["IMPORT", "OR", "REPLACE"])
    if words[:3] in or_replace and words[3:4] in (["MODEL"], ["FEATURE"]):
        return True
    calls = [i for i, t in enumerate(tokens[:-1]) if tokens[i + 1].token_type == TokenType.L_PAREN]
    return any(
        words[i] in _ML_FUNCTIONS
        # BigQuery's ML.<function>(MODEL ...)
        or (words[i] in ML_TABLE_FUNCTIONS and words[i - 2 : i] == ["ML", "."])
        for i in calls
    )
