"""The interactive ``sqlml shell``: prompt, multi-line input, history, tab completion and
the shell's own commands (shell_commands.py)."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from rich.text import Text

import sqlml
from sqlml.completion import SqlCompleter
from sqlml.output import Ui
from sqlml.script import Cancelled, run_sql
from sqlml.shell_commands import LEAVE, Shell, is_command

if TYPE_CHECKING:
    from prompt_toolkit import PromptSession
    from prompt_toolkit.history import History

    from sqlml.connection import Connection

HISTORY_FILE = ".sqlml_history"


def interactive(con: Connection, database: str, ui: Ui) -> int:
    """Read statements at a prompt until \\q or Ctrl-D; the exit code is always 0."""
    completer = SqlCompleter(con)
    session = _prompt_session(con, completer)
    commands = Shell(con, ui)
    ui.out.print(
        Text(f"sqlml {sqlml.__version__} on {database}. End statements with ';'. ", style="bold")
        + Text("\\? for help, \\q to leave.", style="dim")
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
        if is_command(text):
            if commands.run(text) is LEAVE:
                return 0
            continue
        try:
            run_sql(con, text, ui, show_ok=True, name_line="\n" in text)
        except Cancelled:  # stopped the statement, not the shell
            pass
        except KeyboardInterrupt:  # while printing a result
            ui.error("Cancelled")
        completer.forget()  # the statement may have made or dropped names


def _prompt_session(con: Connection, completer: SqlCompleter) -> PromptSession[str]:
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
        completer=completer,
        complete_while_typing=False,  # Tab completes; typing is never slowed by lookups
        multiline=True,
        key_bindings=bindings,
        lexer=PygmentsLexer(SqlLexer),
        prompt_continuation=lambda width, *_: "...> ".rjust(width),
    )


def _is_complete(con: Connection, text: str) -> bool:
    """Whether Enter should run the buffer: a shell command, or SQL that ends with ';'."""
    from sqlglot.errors import TokenError
    from sqlglot.tokens import TokenType

    from sqlml.dialects import ml_dialect

    stripped = text.strip()
    if not stripped or is_command(stripped):
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
