"""Running SQL text from the ``sqlml`` command statement by statement, printing each result."""

from __future__ import annotations

import os
import re
import time
from typing import TYPE_CHECKING

from rich.text import Text

from sqlml.errors import SqlmlError
from sqlml.output import Ui, fetch, one_line, print_outcome

if TYPE_CHECKING:
    from sqlml.connection import Connection, Cursor
    from sqlml.parameters import Params
    from sqlml.statements import Statement


class Cancelled(KeyboardInterrupt):
    """Ctrl-C stopped a statement; the user has been told which."""


def split_statements(con: Connection, text: str) -> list[Statement]:
    from sqlml.dialects import ml_dialect
    from sqlml.statements import split

    return split(text, ml_dialect(con.read))  # backticks and all, for --read bigquery


def execute(con: Connection, statement: Statement, params: Params = None) -> Cursor:
    # Padding puts the statement back at its place in the script, so the line and column
    # of sqlml's syntax errors point into the script rather than into the statement.
    padding = "\n" * (statement.line - 1) + " " * (statement.column - 1)
    return con.execute(padding + statement.text, params)


# The place an error's message ends with; the CLI says it once, before the message.
_PLACE = re.compile(r" \((?:in the statement at )?line \d+(?:, column \d+)?\)$")


def error_lines(
    error: BaseException, statement: Statement, text: str, name_line: bool
) -> list[str]:
    """The error as the command line prints it: where and what, then the line of the
    user's SQL it is on with a caret under the place (when the place is known)."""
    line = getattr(error, "line", None) or statement.line
    column = getattr(error, "column", None)
    where = f" at line {line}" if name_line or line != statement.line else ""
    lines = [f"Error{where}: {_PLACE.sub('', one_line(error))}"]
    source = text.split("\n")
    if column is not None and 1 <= line <= len(source):
        gutter = f"{line:>5} | "
        caret = " " * (len(gutter) - 2) + "| " + " " * (column - 1) + "^"
        lines += [gutter + source[line - 1], caret]
    return lines


def run_sql(
    con: Connection,
    text: str,
    ui: Ui,
    *,
    show_ok: bool = False,
    name_line: bool = True,
    params: Params = None,
) -> bool:
    """Run each statement of ``text`` and print its result; stop at the first failure.
    ``params`` are the values of a one-statement text's placeholders."""
    try:
        statements = split_statements(con, text)
    except SqlmlError as error:
        ui.error(f"Error: {one_line(error)}")
        return False
    for statement in statements:
        where = f" at line {statement.line}" if name_line else ""
        started = time.perf_counter()
        try:
            with ui.progress.running():
                cursor = execute(con, statement, params)
                outcome = fetch(cursor, statement.text, ui.settings.max_rows)
        except KeyboardInterrupt:
            ui.error(f"Cancelled{where}: the statement was stopped by Ctrl-C")
            raise Cancelled from None
        except Exception as error:
            if os.environ.get("SQLML_DEBUG"):
                raise
            for line in error_lines(error, statement, text, name_line):
                ui.error(line)
            return False
        print_outcome(ui.out, outcome, ui.settings, show_ok)
        if ui.settings.timer:
            took = time.perf_counter() - started
            (ui.err if ui.settings.mode in ("csv", "json") else ui.out).print(
                Text(f"Time: {took * 1000:.3f} ms", style="dim")
            )
    return True
