"""Running SQL text from the ``sqlml`` command statement by statement, printing each result."""

from __future__ import annotations

import os
from typing import TYPE_CHECKING

from sqlml.errors import SqlmlError
from sqlml.output import Ui, fetch, one_line, print_outcome

if TYPE_CHECKING:
    from sqlml.connection import Connection, Cursor
    from sqlml.statements import Statement


class Cancelled(KeyboardInterrupt):
    """Ctrl-C stopped a statement; the user has been told which."""


def split_statements(con: Connection, text: str) -> list[Statement]:
    from sqlml.dialects import ml_dialect
    from sqlml.statements import split

    return split(text, ml_dialect(con.read))  # backticks and all, for --read bigquery


def execute(con: Connection, statement: Statement) -> Cursor:
    # Padding puts the statement back at its place in the script, so the line and column
    # of sqlml's syntax errors point into the script rather than into the statement.
    padding = "\n" * (statement.line - 1) + " " * (statement.column - 1)
    return con.execute(padding + statement.text)


def run_sql(
    con: Connection, text: str, ui: Ui, *, show_ok: bool = False, name_line: bool = True
) -> bool:
    """Run each statement of ``text`` and print its result; stop at the first failure."""
    try:
        statements = split_statements(con, text)
    except SqlmlError as error:
        ui.error(f"Error: {one_line(error)}")
        return False
    for statement in statements:
        where = f" at line {statement.line}" if name_line else ""
        try:
            with ui.progress.running():
                outcome = fetch(execute(con, statement), statement.text)
        except KeyboardInterrupt:
            ui.error(f"Cancelled{where}: the statement was stopped by Ctrl-C")
            raise Cancelled from None
        except Exception as error:
            if os.environ.get("SQLML_DEBUG"):
                raise
            ui.error(f"Error{where}: {one_line(error)}")
            return False
        print_outcome(ui.out, outcome, show_ok)
    return True
