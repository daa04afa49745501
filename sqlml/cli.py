"""The ``sqlml`` command: an interactive shell, a script runner and a guided demo.

Exit codes: 0 success, 1 a statement (or opening the database) failed, 2 usage error,
130 interrupted. SQLML_DEBUG=1 in the environment shows a failing statement's traceback.
"""

from __future__ import annotations

import argparse
import math
import os
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import TYPE_CHECKING, Any, TextIO

import duckdb
import psycopg
from rich import box
from rich.console import Console
from rich.syntax import Syntax
from rich.table import Table
from rich.text import Text

import sqlml
from sqlml import demo
from sqlml.dialects import READABLE
from sqlml.errors import SqlmlError

if TYPE_CHECKING:
    from prompt_toolkit import PromptSession
    from prompt_toolkit.history import History
    from rich.status import Status

    from sqlml.connection import Connection, Cursor
    from sqlml.statements import Statement

MAX_ROWS = 50  # rows printed per result; the rest are counted, not shown
PIPE_WIDTH = 160  # output width when stdout is not a terminal (SHOW MODELS fits)
HISTORY_FILE = ".sqlml_history"
DB_HELP = "a DuckDB file, :memory: or a postgresql:// DSN"

# Statements whose only output is DuckDB's bookkeeping column (CREATE TABLE -> Count,
# SET -> Success) print no table, unless the user asked for such a column in a query.
_STATUS_COLUMNS = (["Count"], ["Success"])
_QUERY_WORDS = {"SELECT", "WITH", "FROM", "VALUES", "TABLE", "SHOW", "DESCRIBE", "PRAGMA"}

HELP = """\
End a statement with ';' to run it (Enter inside a statement starts a new line;
Esc then Enter runs the buffer as it is). Besides SQL and sqlml's statements:
  .help           this help
  .tables         SHOW TABLES
  .models         SHOW MODELS
  .quit / .exit   leave (Ctrl-D too)"""

_DOT_SQL = {".tables": "SHOW TABLES", ".models": "SHOW MODELS"}


# -- output -----------------------------------------------------------------------------


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


# -- running SQL ------------------------------------------------------------------------


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
        try:
            with ui.progress.running():
                outcome = fetch(execute(con, statement), statement.text)
        except Exception as error:
            if os.environ.get("SQLML_DEBUG"):
                raise
            where = f" at line {statement.line}" if name_line else ""
            ui.error(f"Error{where}: {one_line(error)}")
            return False
        print_outcome(ui.out, outcome, show_ok)
    return True


def _connect(database: str, ui: Ui, read: str | None = None) -> Connection | None:
    try:
        return sqlml.connect(database, progress=ui.progress, read=read)
    except Exception as error:  # duckdb, psycopg and the OS all have their own errors
        if os.environ.get("SQLML_DEBUG"):
            raise
        ui.error(f"Error: cannot open {database}: {one_line(error)}")
        return None


# -- subcommands ------------------------------------------------------------------------


def cmd_run(args: argparse.Namespace, ui: Ui) -> int:
    try:
        script = Path(args.file).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as error:
        ui.error(f"Error: cannot read {args.file}: {error}")
        return 2
    con = _connect(args.db, ui, args.read)
    if con is None:
        return 1
    with con:
        return 0 if run_sql(con, script, ui) else 1


def cmd_shell(args: argparse.Namespace, ui: Ui) -> int:
    con = _connect(args.db, ui, args.read)
    if con is None:
        return 1
    with con:
        if not sys.stdin.isatty():
            # A pipe or a file: run it as a script, like `run`.
            return 0 if run_sql(con, sys.stdin.read(), ui) else 1
        return _interactive(con, args.db, ui)


def _interactive(con: Connection, database: str, ui: Ui) -> int:
    session = _prompt_session(con)
    ui.out.print(
        Text(f"sqlml {sqlml.__version__} on {database}. End statements with ';'. ", style="bold")
        + Text(".help for help, .quit to leave.", style="dim")
    )
    while True:
        try:
            text = session.prompt("sqlml> ").strip()
        except KeyboardInterrupt:  # Ctrl-C drops the current input, as in psql
            continue
        except EOFError:
            return 0
        if not text:
            continue
        if text.startswith("."):
            if _dot_command(text, con, ui):
                return 0
            continue
        try:
            run_sql(con, text, ui, show_ok=True, name_line="\n" in text)
        except KeyboardInterrupt:  # stops the statement, not the shell
            ui.error("Cancelled")


def _dot_command(text: str, con: Connection, ui: Ui) -> bool:
    """Handle a .command; True means leave the shell."""
    command = text.split()[0].lower()
    if command in (".quit", ".exit"):
        return True
    if command == ".help":
        ui.out.print(Text(HELP))
    elif command in _DOT_SQL:
        run_sql(con, _DOT_SQL[command], ui)
    else:
        ui.error(f"Error: unknown command {command}; .help lists them")
    return False


def _prompt_session(con: Connection) -> PromptSession[str]:
    from prompt_toolkit import PromptSession
    from prompt_toolkit.key_binding import KeyBindings
    from prompt_toolkit.lexers import PygmentsLexer
    from pygments.lexers.sql import SqlLexer

    bindings = KeyBindings()

    @bindings.add("enter")
    def _enter(event: Any) -> None:
        buffer = event.current_buffer
        if _is_complete(con, buffer.text):
            buffer.validate_and_handle()
        else:
            buffer.insert_text("\n")

    return PromptSession(
        history=_history(),
        multiline=True,
        key_bindings=bindings,
        lexer=PygmentsLexer(SqlLexer),
        prompt_continuation=lambda width, *_: "...> ".rjust(width),
    )


def _is_complete(con: Connection, text: str) -> bool:
    """Whether Enter should run the buffer: a dot command, or SQL that ends with ';'."""
    from sqlglot.errors import TokenError
    from sqlglot.tokens import TokenType

    from sqlml.dialects import ml_dialect

    stripped = text.strip()
    if not stripped or stripped.startswith("."):
        return True
    try:
        tokens = ml_dialect(con.backend.name).tokenize(text)
    except TokenError:  # an open string or comment: the statement goes on
        return False
    # Only comments: nothing to wait for.
    return not tokens or tokens[-1].token_type == TokenType.SEMICOLON


def _history() -> History:
    from prompt_toolkit.history import FileHistory, InMemoryHistory

    try:
        path = Path.home() / HISTORY_FILE
        with path.open("a", encoding="utf-8"):
            pass  # fail now, not on the first statement, if home is not writable
        return FileHistory(str(path))
    except (OSError, RuntimeError):  # RuntimeError: no home directory at all
        return InMemoryHistory()


def _admin(action: Callable[[], object], ui: Ui) -> int:
    """Run an install-like action; a failure is one line, as for statements."""
    try:
        action()
    except (SqlmlError, OSError, psycopg.Error) as error:
        if os.environ.get("SQLML_DEBUG"):
            raise
        ui.error(f"Error: {one_line(error)}")
        return 1
    return 0


def cmd_install(args: argparse.Namespace, ui: Ui) -> int:
    from sqlml import install

    return _admin(lambda: install.install(args.dsn, upgrade=args.upgrade, report=ui.progress), ui)


def cmd_uninstall(args: argparse.Namespace, ui: Ui) -> int:
    from sqlml import install

    return _admin(lambda: install.uninstall(args.dsn, report=ui.progress), ui)


def cmd_copy_model(args: argparse.Namespace, ui: Ui) -> int:
    from sqlml.transfer import copy_model

    def copy() -> None:
        source = _connect(args.source, ui)
        target = _connect(args.target, ui) if source is not None else None
        if source is None or target is None:
            raise SqlmlError("cannot open both databases")
        with source, target:
            version = copy_model(source, target, args.name, args.new_name, args.replace)
        ui.progress(f"copied {args.name} to {args.target} as version {version}")

    return _admin(copy, ui)


def cmd_demo(args: argparse.Namespace, ui: Ui) -> int:
    started = time.perf_counter()
    database = args.db
    try:
        _remove_database(database)  # the demo starts from scratch every time
    except OSError as error:
        ui.error(f"Error: cannot replace {database}: {error}")
        return 1
    con = _connect(database, ui)
    if con is None:
        return 1
    with con:
        ui.out.print(Text(demo.INTRO))
        with ui.progress.running():
            rows = demo.load_penguins(con)
        ui.out.print(
            Text(f"\nLoaded {rows} penguins from the palmerpenguins package into table ")
            + Text(demo.TABLE, style="bold")
            + Text(".")
        )
        for number, step in enumerate(demo.STEPS, start=1):
            if step.prepare is not None:
                with ui.progress.running():
                    told = step.prepare(con)
                ui.out.print(Text(f"\n{told}"))
            _print_step(ui.out, number, len(demo.STEPS), step)
            if not run_sql(con, step.sql, ui, name_line=False):
                return 1
    ui.out.print()
    ui.out.print(Text(demo.outro(database)))
    ui.out.print(Text(f"Finished in {time.perf_counter() - started:.1f} s.", style="dim"))
    return 0


def _remove_database(database: str) -> None:
    if database != ":memory:":
        for path in (Path(database), Path(f"{database}.wal")):
            path.unlink(missing_ok=True)


def _print_step(console: Console, number: int, total: int, step: demo.Step) -> None:
    console.print()
    console.rule(Text(f"{number}/{total} · {step.title}", style="bold"), align="left")
    console.print(Text(step.explanation))
    # highlight() gives bare Text, indented by hand: Syntax and Padding would pad every
    # line with spaces to the full width.
    sql = Syntax("", "sql", theme="ansi_dark").highlight(step.sql.strip())
    console.print()
    console.print(Text("\n").join(Text("    ") + line for line in sql.split("\n")))


# -- entry point ------------------------------------------------------------------------


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="sqlml", description="Train and run machine-learning models with SQL."
    )
    parser.add_argument("--version", action="version", version=f"sqlml {sqlml.__version__}")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    shell = commands.add_parser("shell", help="interactive SQL shell (reads a script from a pipe)")
    shell.add_argument("db", nargs="?", default=":memory:", help=f"{DB_HELP} (default :memory:)")
    shell.set_defaults(handler=cmd_shell)

    run = commands.add_parser("run", help="run a SQL script and print each result")
    run.add_argument("db", help=DB_HELP)
    run.add_argument("file", help="the .sql script")
    for command in (shell, run):
        command.add_argument(
            "--read",
            choices=READABLE,
            help="the dialect the SQL is written in (default: the engine's); it is transpiled",
        )
    run.set_defaults(handler=cmd_run)

    guided = commands.add_parser("demo", help="a guided example on the Palmer penguins")
    guided.add_argument(
        "--db", default=demo.DEFAULT_DATABASE, help="DuckDB file to (re)create for the demo"
    )
    guided.set_defaults(handler=cmd_demo)

    install = commands.add_parser(
        "install", help="put sqlml's schema and functions into a PostgreSQL database"
    )
    install.add_argument("dsn", help="postgresql://... of the database (connect as a superuser)")
    install.add_argument(
        "--upgrade", action="store_true", help="move an older install forward with sql/'s scripts"
    )
    install.set_defaults(handler=cmd_install)

    uninstall = commands.add_parser(
        "uninstall", help="remove schema sqlml, its models and their functions from PostgreSQL"
    )
    uninstall.add_argument("dsn", help="postgresql://... of the database")
    uninstall.set_defaults(handler=cmd_uninstall)

    copy = commands.add_parser(
        "copy-model", help="copy a model between databases (DuckDB and PostgreSQL alike)"
    )
    copy.add_argument("source", help=f"where the model is: {DB_HELP}")
    copy.add_argument("target", help=f"where it goes: {DB_HELP}")
    copy.add_argument("name", help="the model's name")
    copy.add_argument("--as", dest="new_name", help="its name in the target (default: the same)")
    copy.add_argument(
        "--replace", action="store_true", help="add a new version when the target has the model"
    )
    copy.set_defaults(handler=cmd_copy_model)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = _parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exit_:  # --help, --version (0) and usage errors (2)
        return exit_.code if isinstance(exit_.code, int) else 2
    handler: Callable[[argparse.Namespace, Ui], int] = args.handler
    ui = Ui.create()
    try:
        return handler(args, ui)
    except KeyboardInterrupt:
        ui.error("Interrupted")
        return 130


if __name__ == "__main__":
    raise SystemExit(main())
