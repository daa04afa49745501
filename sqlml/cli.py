"""The ``sqlml`` command: an interactive shell, a script runner and a guided demo.

Exit codes: 0 success, 1 a statement (or opening the database) failed, 2 usage error,
130 interrupted. SQLML_DEBUG=1 in the environment shows a failing statement's traceback.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
import warnings
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import psycopg
from rich.console import Console
from rich.syntax import Syntax
from rich.text import Text

import sqlml
from sqlml import demo
from sqlml.connection import is_postgres_dsn
from sqlml.dialects import READABLE
from sqlml.errors import SqlmlError
from sqlml.output import MODES, Ui, one_line
from sqlml.script import Cancelled, run_sql
from sqlml.session import SqlmlNotice
from sqlml.shell import interactive

if TYPE_CHECKING:
    from sqlml.connection import Connection

DB_HELP = "a DuckDB file, :memory: or a postgresql:// DSN"


def _connect(
    database: str,
    ui: Ui,
    read: str | None = None,
    *,
    create: bool = False,
    read_only: bool = False,
) -> Connection | None:
    """The database, or None once the error is said. A DuckDB file that does not exist is
    an error (a typo would otherwise make an empty database) unless ``create``."""
    if not create and not _exists(database):
        ui.error(
            f"Error: no DuckDB database at {database} (a postgresql:// URL or host=... "
            f"dbname=... names a PostgreSQL one; sqlml shell {database} creates a file)"
        )
        return None
    try:
        return sqlml.connect(database, progress=ui.progress, read=read, read_only=read_only)
    except Exception as error:  # duckdb, psycopg and the OS all have their own errors
        if os.environ.get("SQLML_DEBUG"):
            raise
        said = one_line(error)
        ui.error(
            f"Error: {said}"
            if isinstance(error, SqlmlError)
            else f"Error: cannot open {database}: {said}"
        )
        return None


def _exists(database: str) -> bool:
    """A PostgreSQL database is there to connect to; a DuckDB file may not be."""
    return is_postgres_dsn(database) or database == ":memory:" or Path(database).exists()


def _postgres_only(command: str, dsn: str, ui: Ui) -> bool:
    if is_postgres_dsn(dsn):
        return True
    ui.error(
        f"Error: sqlml {command} is for PostgreSQL (postgresql://... or host=... dbname=...); "
        f"a DuckDB file needs no install: sqlml.connect({dsn!r}) or sqlml shell {dsn} sets it up"
    )
    return False


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


def cmd_serve(args: argparse.Namespace, ui: Ui) -> int:
    if args.add_user is not None:  # before importing the server: nothing is served
        return _add_user(args, ui)

    import logging

    from sqlml.server import auth
    from sqlml.server.listener import Server, check_address

    if args.db is None:
        ui.error("Error: sqlml serve needs a database to serve: sqlml serve shop.duckdb")
        return 2
    if is_postgres_dsn(args.db):
        ui.error(
            "Error: sqlml serve serves a DuckDB database; PostgreSQL already speaks its protocol"
        )
        return 2
    if (args.tls_cert is None) != (args.tls_key is None):
        ui.error("Error: --tls-cert and --tls-key go together: give both, or neither")
        return 2
    logging.basicConfig(level=logging.INFO, format="%(asctime)s sqlml serve: %(message)s")
    try:
        users = auth.load_users(args.users) if args.users is not None else None
        tls = auth.tls_context(args.tls_cert, args.tls_key) if args.tls_cert else None
    except auth.ConfigError as error:
        ui.error(f"Error: {error}")
        return 2
    problem = check_address(args.host, users is not None)
    if problem:
        ui.error(f"Error: {problem}")
        return 2
    con = _connect(args.db, ui, None, create=not args.read_only, read_only=args.read_only)
    if con is None:
        return 1
    with con:
        server = Server(con, args.host, args.port, args.max_connections, users, tls)
        try:
            port = server.bind()
        except OSError as error:
            ui.error(f"Error: cannot listen on {args.host}:{args.port}: {error.strerror}")
            return 1
        ui.progress(
            "clients authenticate: "
            + (f"SCRAM-SHA-256, {len(users)} user(s) in {args.users}" if users else "no (trust)")
            + f"; TLS: {'with ' + args.tls_cert if tls else 'off'}"
        )
        ui.progress(
            f"serving {args.db} on {args.host}:{port} (psql -h {args.host} -p {port}); Ctrl-C stops"
        )
        server.serve_forever()
    return 0


def _add_user(args: argparse.Namespace, ui: Ui) -> int:
    """``sqlml serve --users FILE --add-user NAME``: the password from the terminal (or
    stdin's first line, for scripts) becomes a SCRAM verifier in FILE; nothing is served."""
    from sqlml.server import auth

    if args.users is None:
        ui.error("Error: --add-user needs the users file to write: --users FILE")
        return 2
    password = _read_password(args.add_user)
    if not password:
        ui.error("Error: no password given (or the two differ); nothing was written")
        return 1
    try:
        replaced = auth.add_user(args.users, args.add_user, password)
    except auth.ConfigError as error:
        ui.error(f"Error: {error}")
        return 1
    ui.progress(f"{'replaced' if replaced else 'added'} user {args.add_user} in {args.users}")
    return 0


def _read_password(user: str) -> str:
    """From the terminal, twice; from a pipe, its first line (so scripts can feed it)."""
    import getpass

    if not sys.stdin.isatty():
        return sys.stdin.readline().rstrip("\r\n")
    password = getpass.getpass(f"Password for {user}: ")
    return password if getpass.getpass("Again: ") == password else ""


def cmd_shell(args: argparse.Namespace, ui: Ui) -> int:
    if not _exists(args.db):
        ui.progress(f"creating a new DuckDB database at {args.db}")
    con = _connect(args.db, ui, args.read, create=True)
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

    if not _postgres_only("install", args.dsn, ui):
        return 2
    return _admin(lambda: install.install(args.dsn, upgrade=args.upgrade, report=ui.progress), ui)


def cmd_uninstall(args: argparse.Namespace, ui: Ui) -> int:
    from sqlml import install

    if not _postgres_only("uninstall", args.dsn, ui):
        return 2

    def uninstall() -> None:
        found = install.contents(args.dsn)
        if found is not None and not args.yes and not _confirmed(found, ui):
            raise SqlmlError("nothing was dropped (sqlml uninstall --yes skips the question)")
        install.uninstall(args.dsn, report=ui.progress)

    return _admin(uninstall, ui)


def _confirmed(found: tuple[int, int], ui: Ui) -> bool:
    models, tables = found
    question = (
        f"This drops schema sqlml with {models} model(s), their functions and {tables} "
        "feature table definition(s). Go on? [y/N] "
    )
    if not sys.stdin.isatty():
        ui.error(f"Error: {question.split('. ')[0]}: pass --yes to confirm")
        return False
    return input(question).strip().lower() in ("y", "yes")


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


def cmd_dbt_package(args: argparse.Namespace, ui: Ui) -> int:
    from sqlml.integrations import dbt_package

    ui.out.print(str(dbt_package.path()), markup=False, highlight=False, soft_wrap=True)
    return 0


def cmd_dbt_init(args: argparse.Namespace, ui: Ui) -> int:
    from sqlml.integrations import dbt_package

    try:
        ui.progress(dbt_package.add_to_project(Path(args.project_dir)))
    except SqlmlError as error:
        ui.error(f"Error: {error}")
        return 1
    ui.progress("run `dbt deps` to install it (no network needed)")
    return 0


def cmd_demo(args: argparse.Namespace, ui: Ui) -> int:
    started = time.perf_counter()
    database = args.db
    if database != ":memory:" and Path(database).exists() and not args.force:
        ui.error(
            f"Error: {database} exists and the demo starts from an empty database: pass "
            "--force to replace it, or --db to write another file"
        )
        return 1
    try:
        _remove_database(database)  # the demo starts from scratch every time
    except OSError as error:
        ui.error(f"Error: cannot replace {database}: {error}")
        return 1
    where = "memory" if database == ":memory:" else str(Path(database).resolve())
    ui.progress(f"the demo writes its tables and models to {where}")
    con = _connect(database, ui, create=True)
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
        command.add_argument(
            "--format",
            choices=MODES,
            default="table",
            help="how results are printed (default: table; the shell's .mode changes it)",
        )
    run.set_defaults(handler=cmd_run)

    serve = commands.add_parser(
        "serve", help="serve a DuckDB database over PostgreSQL's protocol (psql, BI tools)"
    )
    serve.add_argument("db", nargs="?", help="DuckDB file (created if missing) or :memory:")
    serve.add_argument(
        "--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1)"
    )
    serve.add_argument(
        "--port", type=int, default=5433, help="port (default 5433; 0 picks a free one)"
    )
    serve.add_argument("--read-only", action="store_true", help="open the file for reading only")
    serve.add_argument(
        "--max-connections", type=int, default=100, help="clients at once (default 100)"
    )
    serve.add_argument(
        "--users",
        metavar="FILE",
        help="clients log in with a password (SCRAM-SHA-256) of a user in FILE; needed to "
        "listen beyond this machine",
    )
    serve.add_argument(
        "--add-user",
        metavar="NAME",
        help="write NAME's password (asked, or read from stdin) into --users FILE and exit",
    )
    serve.add_argument("--tls-cert", metavar="FILE", help="PEM certificate: clients may use TLS")
    serve.add_argument("--tls-key", metavar="FILE", help="PEM private key of --tls-cert")
    serve.set_defaults(handler=cmd_serve)

    guided = commands.add_parser("demo", help="a guided example on the Palmer penguins")
    guided.add_argument(
        "--db", default=demo.DEFAULT_DATABASE, help="DuckDB file to create for the demo"
    )
    guided.add_argument("--force", action="store_true", help="replace the file if it exists")
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
    uninstall.add_argument(
        "--yes", action="store_true", help="do not ask before dropping every model"
    )
    uninstall.set_defaults(handler=cmd_uninstall)

    package = commands.add_parser(
        "dbt-package", help="print the path of the sqlml dbt package (packages.yml: - local: PATH)"
    )
    package.set_defaults(handler=cmd_dbt_package)
    dbt = commands.add_parser("dbt", help="dbt projects: `sqlml dbt init` adds the sqlml package")
    dbt_commands = dbt.add_subparsers(dest="dbt_command", required=True, metavar="COMMAND")
    dbt_init = dbt_commands.add_parser(
        "init", help="add the sqlml dbt package to the project's packages.yml"
    )
    dbt_init.add_argument(
        "--project-dir", default=".", help="the dbt project (default: this folder)"
    )
    dbt_init.set_defaults(handler=cmd_dbt_init)

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
    ui = Ui.create(getattr(args, "format", "table"))
    # The progress lines say each notice ("notice: ..."); the warning would say it again.
    warnings.filterwarnings("ignore", category=SqlmlNotice)
    try:
        return handler(args, ui)
    except Cancelled:  # said which statement
        return 130
    except KeyboardInterrupt:
        ui.error("Interrupted")
        return 130


if __name__ == "__main__":
    raise SystemExit(main())
