"""The interactive ``sqlml shell``: prompt, multi-line input, history and dot commands."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from rich.text import Text

import sqlml
from sqlml.output import Ui
from sqlml.script import Cancelled, run_sql

if TYPE_CHECKING:
    from prompt_toolkit import PromptSession
    from prompt_toolkit.history import History

    from sqlml.connection import Connection

HISTORY_FILE = ".sqlml_history"

HELP = """\
End a statement with ';' to run it (Enter inside a statement starts a new line;
Esc then Enter runs the buffer as it is). Besides SQL and sqlml's statements:
  .help           this help
  .tables         SHOW TABLES
  .models         SHOW MODELS
  .quit / .exit   leave (Ctrl-D too)"""

_DOT_SQL = {".tables": "SHOW TABLES", ".models": "SHOW MODELS"}


def interactive(con: Connection, database: str, ui: Ui) -> int:
    """Read statements at a prompt until .quit or Ctrl-D; the exit code is always 0."""
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
        except Cancelled:  # stopped the statement, not the shell
            pass
        except KeyboardInterrupt:  # while printing a result
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
