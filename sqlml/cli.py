"""The ``sqlml`` command: an interactive shell, a script runner and a guided demo.

Exit codes: 0 success, 1 a statement (or opening the database) failed, 2 usage error,
130 interrupted. SQLML_DEBUG=1 in the environment shows a failing statement's traceback.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import psycopg
from rich.console import Console
from rich.syntax import Syntax
from rich.text import Text

import sqlml
from sqlml import demo
from sqlml.dialects import READABLE
from sqlml.errors import SqlmlError
from sqlml.output import Ui, one_line
from sqlml.script import Cancelled, run_sql
from sqlml.shell import interactive

if TYPE_CHECKING:
    from sqlml.connection import Connection

DB_HELP = "a DuckDB file, :memory: or a postgresql:// DSN"


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
        return interactive(con, args.db, ui)


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
    except Cancelled:  # said which statement
        return 130
    except KeyboardInterrupt:
        ui.error("Interrupted")
        return 130


if __name__ == "__main__":
    raise SystemExit(main())
