"""Query parameters: the placeholder styles a statement may use, and the one form sqlml binds.

A statement may use ``?`` (positional), ``$1`` (numbered) or, with a mapping of values,
``$name``; on PostgreSQL also psycopg's ``%s`` and ``%(name)s`` (``%%`` then stands for a
literal ``%``, as psycopg reads it). Each becomes a numbered placeholder standing for one
value of a tuple (udfs/query.py says why), found by the tokenizer, so a ``?`` in a string,
a quoted name or a comment stays as written.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Any, TypeAlias

from sqlglot import exp
from sqlglot.dialects.dialect import Dialect
from sqlglot.tokens import Token, TokenType

from sqlml.errors import ParameterError

Params: TypeAlias = Sequence[Any] | Mapping[str, Any] | None

# psycopg's placeholders, read as psycopg reads them: anywhere in the text.
_PSYCOPG = re.compile(r"%%|%\((?P<name>[^)]+)\)[sbt]|%[sbt]")


def bind(text: str, params: Params, dialect: Dialect, engine: str) -> tuple[str, tuple[Any, ...]]:
    """The statement with numbered placeholders, and the value of each number in order."""
    if params is None:
        # Without values, anything that reads as a placeholder is a value forgotten.
        if not _has_placeholders(text, dialect, engine):
            return text, ()
        params = ()
    if isinstance(params, str | bytes) or not isinstance(params, Sequence | Mapping):
        raise ParameterError(
            f"parameters are a sequence (for ? or $1) or a mapping (for $name), not "
            f"{type(params).__name__}: write ({params!r},) for one value"
        )
    if engine == "postgres" and any(m.group() != "%%" for m in _PSYCOPG.finditer(text)):
        return _bind_psycopg(text, params)
    return _bind_tokens(text, params, dialect, engine)


# After one of these a ? is an operator (PostgreSQL's jsonb "has key"), not a value.
_OPERAND_ENDS = {
    TokenType.VAR,
    TokenType.IDENTIFIER,
    TokenType.STRING,
    TokenType.NUMBER,
    TokenType.R_PAREN,
    TokenType.R_BRACKET,
}


def _tokens(text: str, dialect: Dialect, engine: str) -> list[Token]:
    """The statement's tokens, PostgreSQL's jsonb ? operator left out."""
    tokens = dialect.tokenize(text)
    if engine != "postgres":
        return tokens
    return [
        token
        for token, before in zip(tokens, [None, *tokens[:-1]], strict=True)
        if not (token.text == "?" and before and _ends_operand(before, dialect))
    ]


def _ends_operand(token: Token, dialect: Dialect) -> bool:
    # a type name ends a cast: '{"a": 1}'::jsonb ? 'a'
    return token.token_type in _OPERAND_ENDS or token.token_type in dialect.parser_class.TYPE_TOKENS


def _has_placeholders(text: str, dialect: Dialect, engine: str) -> bool:
    return ("?" in text or "$" in text) and any(
        t.token_type in (TokenType.PLACEHOLDER, TokenType.PARAMETER)
        for t in _tokens(text, dialect, engine)
    )


def _bind_tokens(
    text: str, params: Sequence[Any] | Mapping[str, Any], dialect: Dialect, engine: str
) -> Any:
    tokens = _tokens(text, dialect, engine)
    positional: list[Token] = []
    numbered: list[tuple[Token, int]] = []
    named: list[tuple[Token, str]] = []
    for token, after in zip(tokens, [*tokens[1:], None], strict=True):
        if token.token_type == TokenType.PLACEHOLDER and token.text == "?":
            positional.append(token)
        elif (number := _dollar_number(token, after)) is not None:
            numbered.append((token, number))
        elif (
            token.token_type == TokenType.PARAMETER
            and after
            and after.start == token.end + 1
            and after.token_type == TokenType.VAR
        ):
            named.append((token, after.text))
    if sum(map(bool, (positional, numbered, named))) > 1:
        raise ParameterError("a statement uses one placeholder style: ?, $1 or $name, not several")
    if named:
        values, numbers = _by_name(params, [name for _, name in named], "$name")
        spans = [
            (t.start, t.end + 1 + len(name), f"${n}")
            for (t, name), n in zip(named, numbers, strict=True)
        ]
        return _spliced(text, spans), values
    values = _positional(params, "?" if positional else "$1")
    if positional:
        _check_count(len(positional), values)
        spans = [(t.start, t.end + 1, f"${i}") for i, t in enumerate(positional, 1)]
        return _spliced(text, spans), values
    used = {n for _, n in numbered}
    if used != set(range(1, len(values) + 1)):
        highest = max(used, default=0)
        raise ParameterError(
            f"the statement uses {_placeholders(sorted(used))} and {_count(values)} "
            f"{'was' if len(values) == 1 else 'were'} given"
            + (f": ${highest} needs at least {highest}" if highest > len(values) else "")
        )
    return text, values


def _bind_psycopg(text: str, params: Sequence[Any] | Mapping[str, Any]) -> Any:
    matches = [m for m in _PSYCOPG.finditer(text) if m.group() != "%%"]
    names = [m.group("name") for m in matches]
    if any(names) and not all(names):
        raise ParameterError("a statement uses %s or %(name)s placeholders, not both")
    if all(names):
        values, numbers = _by_name(params, names, "%(name)s")
    else:
        values = _positional(params, "%s")
        _check_count(len(matches), values)
        numbers = list(range(1, len(matches) + 1))
    replacement = iter(numbers)
    spliced = _PSYCOPG.sub(lambda m: "%" if m.group() == "%%" else f"${next(replacement)}", text)
    return spliced, values


def _positional(params: Sequence[Any] | Mapping[str, Any], style: str) -> tuple[Any, ...]:
    if isinstance(params, Mapping):
        raise ParameterError(f"{style} placeholders take a sequence of values, not a mapping")
    return tuple(params)


def _by_name(
    params: Sequence[Any] | Mapping[str, Any], names: list[str], style: str
) -> tuple[tuple[Any, ...], list[int]]:
    if not isinstance(params, Mapping):
        raise ParameterError(f"{style} placeholders take a mapping of names to values")
    order = list(dict.fromkeys(names))
    missing = [n for n in order if n not in params]
    if missing:
        raise ParameterError(f"no value was given for parameter(s) {', '.join(missing)}")
    unused = [str(n) for n in params if n not in order]
    if unused:
        raise ParameterError(f"parameter(s) {', '.join(unused)} are not in the statement")
    return tuple(params[n] for n in order), [order.index(n) + 1 for n in names]


def _check_count(placeholders: int, values: tuple[Any, ...]) -> None:
    if placeholders != len(values):
        raise ParameterError(
            f"the statement has {placeholders} placeholder{'s' * (placeholders != 1)} and "
            f"{_count(values)} {'was' if len(values) == 1 else 'were'} given"
        )


def _count(values: tuple[Any, ...]) -> str:
    return f"{len(values)} parameter{'s' * (len(values) != 1)}"


def _placeholders(numbers: list[int]) -> str:
    return ", ".join(f"${n}" for n in numbers) if numbers else "no placeholders"


def _spliced(text: str, spans: list[tuple[int, int, str]]) -> str:
    pieces, at = [], 0
    for start, end, replacement in spans:
        pieces += [text[at:start], replacement]
        at = end
    return "".join([*pieces, text[at:]])


# -- in a parsed statement ---------------------------------------------------------------


def _number(node: exp.Expr) -> int | None:
    """The number of a numbered placeholder (DuckDB parses it as Placeholder, PostgreSQL as
    Parameter), else None."""
    if isinstance(node, exp.Placeholder) and str(node.this or "").isdigit():
        return int(node.this)
    if isinstance(node, exp.Parameter) and isinstance(node.this, exp.Literal):
        return int(node.this.this) if node.this.is_int else None
    return None


def placeholders_in(tree: exp.Expr) -> list[exp.Expr]:
    return [node for node in tree.walk() if _number(node) is not None]


def take(tree: exp.Expr, params: tuple[Any, ...]) -> tuple[Any, ...]:
    """The values of the placeholders in ``tree`` (a part of a statement), which are
    renumbered in place from $1 up: a part is run on its own with only its values."""
    nodes = placeholders_in(tree)
    used = sorted({n for node in nodes if (n := _number(node)) is not None})
    if used and used[-1] > len(params):
        raise ParameterError(f"the statement uses ${used[-1]} and {_count(params)} were given")
    renumbered = {old: new for new, old in enumerate(used, 1)}
    for node in nodes:
        number = _number(node)
        assert number is not None
        node.replace(exp.Parameter(this=exp.Literal.number(renumbered[number])))
    return tuple(params[n - 1] for n in used)


def _dollar_number(token: Token, after: Token | None) -> int | None:
    """n when the two tokens are a $n placeholder ($ right before the digits)."""
    if (
        token.token_type == TokenType.PARAMETER
        and after is not None
        and after.start == token.end + 1
        and after.token_type == TokenType.NUMBER
        and after.text.isdigit()
    ):
        return int(after.text)
    return None


def highest_number(text: str, dialect: Dialect, engine: str) -> int:
    """The highest $n a statement uses (0 for none): how many values it takes."""
    if "$" not in text:
        return 0
    tokens = _tokens(text, dialect, engine)
    numbers = (
        _dollar_number(t, after) for t, after in zip(tokens, [*tokens[1:], None], strict=True)
    )
    return max((n for n in numbers if n is not None), default=0)
