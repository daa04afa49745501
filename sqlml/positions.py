"""Where in the text given to ``execute()`` an error is: a line and column of the user's
SQL, never of the SQL sqlml rewrote it into.

An engine that ran the statement as written says where itself (DuckDB's ``LINE n:`` and
caret, PostgreSQL's error position); otherwise the first name or value the message quotes
that occurs exactly once in the statement is the place.
"""

from __future__ import annotations

import re
from typing import Any

from sqlml.statements import Statement

Position = tuple[int, int]  # line, column; both 1-based

_DUCKDB_EXCERPT = re.compile(r"^LINE (\d+): (.*)\n( *)\^", re.M)
_QUOTED = re.compile(r"\"([^\"\n]+)\"|'([^'\n]+)'")


def locate(error: BaseException, statement: Statement, sent_as_written: bool) -> Position | None:
    """The error's place, or None. ``sent_as_written``: the engine got the statement's text
    itself (a plain statement, its placeholders unchanged), so its positions are ours."""
    engine_error: Any = getattr(error, "engine_error", None) or error
    within: Position | None = None
    if sent_as_written:
        within = _duckdb_position(str(engine_error), statement.text) or _postgres_position(
            engine_error, statement.text
        )
    within = within or _quoted_position(str(error), statement.text)
    if within is None:
        return None
    line, column = within
    return statement.line + line - 1, column + (statement.column - 1 if line == 1 else 0)


def _duckdb_position(message: str, text: str) -> Position | None:
    found = _DUCKDB_EXCERPT.search(message)
    if not found:
        return None
    line = int(found.group(1))
    lines = text.split("\n")
    if not 1 <= line <= len(lines):
        return None
    excerpt, caret = found.group(2), len(found.group(3)) - len(f"LINE {line}: ")
    # A long line is shown as a window of it, with "..." where it was cut.
    start = 0
    if excerpt.startswith("..."):
        window = excerpt[3:].removesuffix("...")
        start = lines[line - 1].find(window[:40]) - 3
        if start < -3:
            return None
    return line, max(1, start + caret + 1)


def _postgres_position(error: Any, text: str) -> Position | None:
    diag = getattr(error, "diag", None)
    offset = getattr(diag, "statement_position", None)
    if not offset or not str(offset).isdigit():
        return None
    return _line_and_column(text, int(offset) - 1)


def _quoted_position(message: str, text: str) -> Position | None:
    for match in _QUOTED.finditer(message):
        quoted = match.group(1) or match.group(2)
        places = [
            m.start() for m in re.finditer(rf"(?<![\w$]){re.escape(quoted)}(?![\w$])", text, re.I)
        ]
        if len(places) == 1:
            return _line_and_column(text, places[0])
    return None


def _line_and_column(text: str, offset: int) -> Position:
    line = text.count("\n", 0, offset) + 1
    return line, offset - (text.rfind("\n", 0, offset) + 1) + 1
