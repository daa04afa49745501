"""Drawing results, progress and errors on the terminal for the ``sqlml`` command."""

from __future__ import annotations

import csv
import io
import json
import math
import os
import re
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from decimal import Decimal
from typing import TYPE_CHECKING, Any, TextIO

import duckdb
from rich import box
from rich.console import Console
from rich.progress import (
    BarColumn,
    Progress,
    SpinnerColumn,
    TaskID,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)
from rich.table import Table
from rich.text import Text

from sqlml.errors import SqlmlError

if TYPE_CHECKING:
    from sqlml.connection import Cursor

TERMINAL_MAX_ROWS = 50  # rows a terminal shows per result by default (.maxrows changes it)
MODES = ("table", "csv", "json", "markdown", "line")  # as DuckDB's CLI calls them
PIPE_WIDTH = 160  # output width when stdout is not a terminal (SHOW MODELS fits)

# Statements whose only output is DuckDB's bookkeeping column (CREATE TABLE -> Count,
# SET -> Success) print no table, unless the user asked for such a column in a query.
_STATUS_COLUMNS = (["Count"], ["Success"])
_QUERY_WORDS = {"SELECT", "WITH", "FROM", "VALUES", "TABLE", "SHOW", "DESCRIBE", "PRAGMA"}


def _console(stream: TextIO) -> Console:
    # Piped output has no terminal width; rich would fold tables at 80 columns.
    wide = not stream.isatty() and "COLUMNS" not in os.environ
    return Console(file=stream, width=PIPE_WIDTH if wide else None, highlight=False)


PLAIN_STEP_SECONDS = 2.0
# A step count at the end of a message ("lightgbm: tree 40/100", "query 35%").
_FRACTION = re.compile(r"(\d+(?:\.\d+)?)(?:/(\d+)|%)\s*$")


class ProgressDisplay:
    """Receives sqlml's progress messages and says how long the statement has run and, for
    a message that counts steps, about how long it has left: a live line on a terminal
    (spinner, bar, elapsed, remaining), plain timed lines otherwise."""

    def __init__(self, console: Console):
        self.console = console
        self._live: Progress | None = None
        self._task: TaskID | None = None
        self._started = time.monotonic()
        self._steps: tuple[str, float, float] | None = None  # series, its start, done then
        self._last_line = 0.0

    def __call__(self, message: str) -> None:
        now = time.monotonic()
        done, total = self._fraction(message, now)
        if self._live is not None and self._task is not None:
            self._live.update(self._task, description=message, completed=done, total=total)
            return
        if done is not None and done != total and now - self._last_line < PLAIN_STEP_SECONDS:
            return  # a counting series prints a plain line every few seconds, not each step
        self._last_line = now
        line = f"  [{now - self._started:6.1f} s] {message}"
        left = self._remaining(done, total, now)
        if left is not None:
            line += f" (about {left:.0f} s left)"
        self.console.print(Text(line, style="dim"), soft_wrap=True)

    def _fraction(self, message: str, now: float) -> tuple[float | None, float | None]:
        found = _FRACTION.search(message)
        if not found:
            self._steps = None
            return None, None
        done = float(found.group(1))
        total = float(found.group(2) or 100)
        series = message[: found.start()]
        if self._steps is None or self._steps[0] != series or done < self._steps[2]:
            self._steps = (series, now, done)
        return done, total

    def _remaining(self, done: float | None, total: float | None, now: float) -> float | None:
        if done is None or total is None or self._steps is None:
            return None
        _, since, done_then = self._steps
        if done <= done_then or now - since < 1.0:
            return None
        return (now - since) / (done - done_then) * (total - done)

    @contextmanager
    def running(self) -> Iterator[None]:
        """While a statement runs: its clock starts; a terminal shows a live progress line."""
        self._started, self._steps, self._last_line = time.monotonic(), None, 0.0
        if not self.console.is_terminal:
            yield
            return
        columns = (
            SpinnerColumn(),
            TextColumn("[dim]{task.description}"),
            BarColumn(bar_width=20),
            TimeElapsedColumn(),
            TimeRemainingColumn(),
        )
        with Progress(*columns, console=self.console, transient=True) as live:
            self._live, self._task = live, live.add_task("running", total=None)
            try:
                yield
            finally:
                self._live = self._task = None


@dataclass
class Settings:
    """How results are shown; the shell's dot and backslash commands change them."""

    mode: str = "table"
    max_rows: int | None = None  # None: every row
    timer: bool = False  # say how long each statement took


@dataclass
class Ui:
    out: Console
    err: Console
    progress: ProgressDisplay
    settings: Settings = field(default_factory=Settings)

    @classmethod
    def create(cls, mode: str = "table") -> Ui:
        err, out = _console(sys.stderr), _console(sys.stdout)
        # A terminal shows the first rows of a big result; a pipe or a file gets them all.
        max_rows = TERMINAL_MAX_ROWS if out.is_terminal else None
        return cls(out, err, ProgressDisplay(err), Settings(mode, max_rows))

    def error(self, message: str) -> None:
        # soft_wrap: one line, however long, so it stays greppable when piped.
        self.err.print(Text(message, style="bold red"), soft_wrap=True)


@dataclass
class Outcome:
    """What one statement returned, fetched before anything is printed."""

    columns: list[str]
    rows: list[tuple]
    hidden: int = 0  # rows beyond the settings' max_rows, counted but not kept
    status: str | None = None  # set instead of a table for DDL and DML


def fetch(cursor: Cursor, sql: str, max_rows: int | None = None) -> Outcome:
    columns = [column[0] for column in cursor.description or []]
    if not columns or (columns in _STATUS_COLUMNS and _first_word(sql) not in _QUERY_WORDS):
        rows = cursor.fetchall()
        if columns == ["Count"] and rows and isinstance(rows[0][0], int):
            return Outcome([], [], status=f"{_plural(rows[0][0], 'row')} affected")
        return Outcome([], [], status="OK")
    if max_rows is None:
        return Outcome(columns, cursor.fetchall())
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


def print_outcome(
    console: Console, outcome: Outcome, settings: Settings | None = None, show_ok: bool = False
) -> None:
    """The one place results are drawn: by the shell, `run` and the demo alike."""
    mode = (settings or Settings()).mode
    if outcome.status is not None:
        # Data formats carry only data: a CSV or JSON stream stays readable by a program.
        if mode not in ("csv", "json") and (show_ok or outcome.status != "OK"):
            console.print(Text(outcome.status, style="dim"), soft_wrap=True)
        return
    if mode == "table":
        if _width_needed(outcome) > console.width:
            mode = "line"  # too wide to read as columns: one value per line instead
        else:
            console.print(_table(outcome))
    if mode in _WRITERS:
        console.file.write(_WRITERS[mode](outcome))
        console.file.flush()
    if mode in ("table", "line", "markdown"):
        console.print(Text(_row_count(len(outcome.rows), outcome.hidden), style="dim"))


def _table(outcome: Outcome) -> Table:
    table = Table(box=box.ROUNDED, header_style="bold")
    for index, name in enumerate(outcome.columns):
        numeric = _is_numeric(row[index] for row in outcome.rows)
        # no_wrap: a header too narrow for its column makes the table too wide, which then
        # shows as lines rather than as headers folded into fragments
        table.add_column(
            Text(name, no_wrap=True), justify="right" if numeric else "left", overflow="fold"
        )
    for row in outcome.rows:
        table.add_row(*(_cell(value) for value in row))
    return table


_LONG_WORD = 24  # a longer word (a hash, a JSON document) may be folded over lines


def _width_needed(outcome: Outcome) -> int:
    """The table's width with no header and no ordinary word cut: each column as wide as
    its header and its longest word (up to _LONG_WORD), plus the borders and padding."""
    widths = []
    for index, name in enumerate(outcome.columns):
        words = (w for row in outcome.rows for w in format_value(row[index]).split())
        longest = min(max(map(len, words), default=4), _LONG_WORD)
        widths.append(max(len(name), longest) + 3)
    return sum(widths) + 1


def _csv(outcome: Outcome) -> str:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(outcome.columns)
    writer.writerows([_plain(value) for value in row] for row in outcome.rows)
    return buffer.getvalue()


def _json(outcome: Outcome) -> str:
    objects = [dict(zip(outcome.columns, row, strict=True)) for row in outcome.rows]
    return json.dumps(objects, default=_json_value, ensure_ascii=False) + "\n"


def _markdown(outcome: Outcome) -> str:
    def line(cells: list[str]) -> str:
        return "| " + " | ".join(cell.replace("|", "\\|") for cell in cells) + " |\n"

    rule = line(["---"] * len(outcome.columns))
    body = [line([format_value(value) for value in row]) for row in outcome.rows]
    return "".join([line(outcome.columns), rule, *body])


def _lines(outcome: Outcome) -> str:
    """psql's expanded display: a block per row, a line per column."""
    width = max(map(len, outcome.columns), default=0)
    blocks = []
    for number, row in enumerate(outcome.rows, 1):
        values = [
            f"{name.ljust(width)} | {format_value(value)}"
            for name, value in zip(outcome.columns, row, strict=True)
        ]
        blocks.append("\n".join([f"-[ RECORD {number} ]" + "-" * max(3, width - 8), *values]))
    return "\n".join(blocks) + "\n" if blocks else ""


_WRITERS = {"csv": _csv, "json": _json, "markdown": _markdown, "line": _lines}


def _plain(value: Any) -> Any:
    """A value as CSV writes it: NULL empty, the rest as format_value shows them, except
    floats, which keep every digit."""
    if value is None:
        return ""
    if isinstance(value, float):
        return repr(value)
    return format_value(value)


def _json_value(value: Any) -> Any:
    if isinstance(value, Decimal):
        return float(value)
    if isinstance(value, bytes):
        return value.hex()
    return str(value)  # dates, times, UUIDs, intervals


def _row_count(shown: int, hidden: int) -> str:
    if hidden:
        return (
            f"{shown} of {shown + hidden:,} rows shown ({hidden:,} more: .maxrows N shows N, "
            ".maxrows 0 every row)"
        )
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
