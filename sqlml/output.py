"""Drawing results, progress and errors on the terminal for the ``sqlml`` command."""

from __future__ import annotations

import math
import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from decimal import Decimal
from typing import TYPE_CHECKING, Any, TextIO

import duckdb
from rich import box
from rich.console import Console
from rich.table import Table
from rich.text import Text

from sqlml.errors import SqlmlError

if TYPE_CHECKING:
    from rich.status import Status

    from sqlml.connection import Cursor

MAX_ROWS = 50  # rows printed per result; the rest are counted, not shown
PIPE_WIDTH = 160  # output width when stdout is not a terminal (SHOW MODELS fits)

# Statements whose only output is DuckDB's bookkeeping column (CREATE TABLE -> Count,
# SET -> Success) print no table, unless the user asked for such a column in a query.
_STATUS_COLUMNS = (["Count"], ["Success"])
_QUERY_WORDS = {"SELECT", "WITH", "FROM", "VALUES", "TABLE", "SHOW", "DESCRIBE", "PRAGMA"}


def _console(stream: TextIO) -> Console:
    # Piped output has no terminal width; rich would fold tables at 80 columns.
    wide = not stream.isatty() and "COLUMNS" not in os.environ
    return Console(file=stream, width=PIPE_WIDTH if wide else None, highlight=False)


class ProgressDisplay:
    """Receives sqlml's progress messages: a spinner on a terminal, plain lines otherwise."""

    def __init__(self, console: Console):
        self.console = console
        self._status: Status | None = None

    def __call__(self, message: str) -> None:
        if self._status is not None:
            self._status.update(Text(message, style="dim"))
        else:
            self.console.print(Text(f"  {message}", style="dim"), soft_wrap=True)

    @contextmanager
    def running(self) -> Iterator[None]:
        """While a statement runs: a terminal shows the latest message on a spinner line."""
        if not self.console.is_terminal:
            yield
            return
        with self.console.status(Text("running", style="dim")) as status:
            self._status = status
            try:
                yield
            finally:
                self._status = None


@dataclass
class Ui:
    out: Console
    err: Console
    progress: ProgressDisplay

    @classmethod
    def create(cls) -> Ui:
        err = _console(sys.stderr)
        return cls(out=_console(sys.stdout), err=err, progress=ProgressDisplay(err))

    def error(self, message: str) -> None:
        # soft_wrap: one line, however long, so it stays greppable when piped.
        self.err.print(Text(message, style="bold red"), soft_wrap=True)


@dataclass
class Outcome:
    """What one statement returned, fetched before anything is printed."""

    columns: list[str]
    rows: list[tuple]
    hidden: int = 0  # rows beyond MAX_ROWS, counted but not fetched into memory
    status: str | None = None  # set instead of a table for DDL and DML


def fetch(cursor: Cursor, sql: str, max_rows: int = MAX_ROWS) -> Outcome:
    columns = [column[0] for column in cursor.description or []]
    if not columns or (columns in _STATUS_COLUMNS and _first_word(sql) not in _QUERY_WORDS):
        rows = cursor.fetchall()
        if columns == ["Count"] and rows and isinstance(rows[0][0], int):
            return Outcome([], [], status=f"{_plural(rows[0][0], 'row')} affected")
        return Outcome([], [], status="OK")
    rows = cursor.fetchmany(max_rows)
    hidden = 0
    while batch := cursor.fetchmany(10_000):
        hidden += len(batch)
    return Outcome(columns, rows, hidden)


def _first_word(sql: str) -> str:
    words = sql.lstrip(" \t\r\n(").split(maxsplit=1)
    return words[0].upper() if words else ""


def _plural(count: int, noun: str) -> str:
    return f"{count:,} {noun}" if count == 1 else f"{count:,} {noun}s"


def print_outcome(console: Console, outcome: Outcome, show_ok: bool = False) -> None:
    """The one place results are drawn: by the shell, `run` and the demo alike."""
    if outcome.status is not None:
        if show_ok or outcome.status != "OK":
            console.print(Text(outcome.status, style="dim"), soft_wrap=True)
        return
    table = Table(box=box.ROUNDED, header_style="bold")
    for index, name in enumerate(outcome.columns):
        numeric = _is_numeric(row[index] for row in outcome.rows)
        table.add_column(Text(name), justify="right" if numeric else "left", overflow="fold")
    for row in outcome.rows:
        table.add_row(*(_cell(value) for value in row))
    console.print(table)
    console.print(Text(_row_count(len(outcome.rows), outcome.hidden), style="dim"))


def _row_count(shown: int, hidden: int) -> str:
    if hidden:
        return f"{shown} of {shown + hidden:,} rows shown ({hidden:,} more)"
    return _plural(shown, "row")


def _is_numeric(values: Iterator[Any]) -> bool:
    present = next((value for value in values if value is not None), None)
    return isinstance(present, int | float | Decimal) and not isinstance(present, bool)


def _cell(value: Any) -> Text:
    # Text, not a markup string: data like "[red]" must print as it is.
    if value is None:
        return Text("NULL", style="dim")
    return Text(format_value(value))


def format_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return _format_float(value)
    if isinstance(value, dict):
        items = (f"{format_value(key)}: {format_value(item)}" for key, item in value.items())
        return "{" + ", ".join(items) + "}"
    if isinstance(value, list | tuple):
        return "[" + ", ".join(format_value(item) for item in value) + "]"
    if value is None:
        return "NULL"
    return str(value)


def _format_float(value: float) -> str:
    # Six significant-ish digits: metrics and probabilities stay readable, not 17 digits.
    if not math.isfinite(value):
        return str(value)
    if value == 0 or 1e-4 <= abs(value) < 1e15:
        return repr(round(value, 6))
    return f"{value:.6g}"


def one_line(error: BaseException) -> str:
    """The gist of an error: DuckDB appends a caret-marked excerpt after 'LINE n:'."""
    kept: list[str] = []
    for line in str(error).splitlines():
        if line.startswith("LINE "):
            break
        if line.strip():
            kept.append(line.strip())
    message = " ".join(kept)
    if isinstance(error, SqlmlError | duckdb.Error):
        return message or type(error).__name__
    return f"{type(error).__name__}: {message}" if message else type(error).__name__
