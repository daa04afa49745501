"""The shell's own commands, in DuckDB's CLI's (``.tables``) and psql's (``\\dt``) spelling
alike: leaving, help, output settings and looking around the database. Each one's SQL is
sqlml's public statements or the information schema, so it works the same on both engines.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from rich.text import Text
from sqlglot import exp

from sqlml.output import MODES, Ui
from sqlml.script import run_sql
from sqlml.syntax import SYNOPSES, synopses_for

if TYPE_CHECKING:
    from sqlml.connection import Connection

LEAVE = object()  # what a command returns to end the shell

HELP = """\
End a statement with ';' to run it (Enter inside a statement starts a new line; Esc then
Enter runs the buffer as it is). Ctrl-C cancels a running statement, or clears the input.
Besides SQL and sqlml's statements:
  \\q  .quit  exit  quit     leave (Ctrl-D too)
  \\?  .help  help           this help
  \\h [STATEMENT]            a statement's syntax (help CREATE MODEL); \\h alone lists them
  .tables  \\dt [pattern]    tables and views
  \\d [name]                 a table's columns, a model or a feature table (no name: \\dt)
  .models  \\dm              models (SHOW MODELS)
  .features                 feature tables (SHOW FEATURE TABLES)
  .mode [MODE]              output: table, csv, json, markdown or line
  \\x [on|off|auto]          expanded output: a line per column (auto: when too wide)
  .maxrows [N]              rows shown per result in a terminal (0: all)
  \\timing [on|off]  .timer  how long each statement took"""

_QUIT_WORDS = {"\\q", ".quit", ".exit", "exit", "quit"}
_HELP_WORDS = {"\\?", ".help", "help"}


def is_command(text: str) -> bool:
    """Whether a line of input is one of the shell's commands rather than SQL."""
    first = text.strip().rstrip(";").split(maxsplit=1)
    if not first:
        return False
    word = first[0].lower()
    return (
        text.lstrip().startswith(("\\", "."))
        or word in _QUIT_WORDS
        or (word == "help" and _help_topic_or_bare(text))
    )


def _help_topic_or_bare(text: str) -> bool:
    rest = text.strip().rstrip(";").split(maxsplit=1)[1:]
    return not rest or bool(synopses_for(rest[0]))


@dataclass
class Shell:
    con: Connection
    ui: Ui
    expanded_before: str = "table"

    def run(self, text: str) -> object:
        """Carries out one command; LEAVE ends the shell."""
        words = text.strip().rstrip(";").split()
        name, arguments = words[0], words[1:]
        lowered = name.lower()
        if lowered in _QUIT_WORDS:
            return LEAVE
        if lowered in _HELP_WORDS and not arguments:
            self.ui.out.print(Text(HELP))
            return None
        if lowered in ("help", "\\h"):
            self._syntax(" ".join(arguments))
            return None
        handler = self._handlers().get(lowered)
        if handler is None:
            self.ui.error(f"Error: unknown command {name}; \\? (or .help) lists them")
            return None
        handler(arguments)
        return None

    def _handlers(self) -> dict[str, Callable[[list[str]], None]]:
        return {
            ".tables": self._tables,
            "\\dt": self._tables,
            "\\d": self._describe,
            ".schema": self._describe,
            ".models": lambda _: self._sql("SHOW MODELS"),
            "\\dm": lambda _: self._sql("SHOW MODELS"),
            ".features": lambda _: self._sql("SHOW FEATURE TABLES"),
            ".mode": self._mode,
            "\\x": self._expanded,
            ".maxrows": self._max_rows,
            "\\timing": self._timer,
            ".timer": self._timer,
        }

    # -- help ---------------------------------------------------------------------------

    def _syntax(self, words: str) -> None:
        if not words:
            listing = "\n".join(f"  {name}" for name in SYNOPSES)
            self.ui.out.print(Text(f"sqlml's statements (\\h NAME shows one):\n{listing}"))
            return
        found = synopses_for(words)
        if not found:
            self.ui.error(
                f"Error: no help for {words}: sqlml's statements are listed by \\h; plain SQL "
                "is the engine's own (see DuckDB's or PostgreSQL's documentation)"
            )
            return
        for name, synopsis in found:
            self.ui.out.print(Text(f"Statement: {name}", style="bold"))
            self.ui.out.print(Text(synopsis + "\n"))

    # -- settings -----------------------------------------------------------------------

    def _mode(self, arguments: list[str]) -> None:
        if not arguments:
            self.ui.out.print(Text(f"mode {self.ui.settings.mode} (one of {', '.join(MODES)})"))
            return
        mode = arguments[0].lower()
        if mode not in MODES:
            self.ui.error(f"Error: unknown mode {mode}; the modes are {', '.join(MODES)}")
            return
        self.ui.settings.mode = mode

    def _expanded(self, arguments: list[str]) -> None:
        settings = self.ui.settings
        wanted = arguments[0].lower() if arguments else None
        if wanted not in (None, "on", "off", "auto"):
            self.ui.error("Error: \\x takes on, off or auto")
            return
        turn_on = wanted == "on" or (wanted is None and settings.mode != "line")
        if turn_on:
            if settings.mode != "line":
                self.expanded_before = settings.mode
            settings.mode = "line"
        else:  # off, auto (table mode expands what is too wide by itself), or a toggle
            settings.mode = "table" if wanted == "auto" else self.expanded_before
        state = "on" if turn_on else ("auto" if wanted == "auto" else "off")
        self.ui.out.print(Text(f"Expanded display is {state}.", style="dim"))

    def _max_rows(self, arguments: list[str]) -> None:
        settings = self.ui.settings
        if not arguments:
            shown = "every row" if settings.max_rows is None else f"{settings.max_rows} rows"
            self.ui.out.print(Text(f"maxrows: {shown} per result (.maxrows 0 shows all)"))
            return
        if not arguments[0].isdigit():
            self.ui.error("Error: .maxrows takes a number of rows (0: all)")
            return
        settings.max_rows = int(arguments[0]) or None

    def _timer(self, arguments: list[str]) -> None:
        settings = self.ui.settings
        wanted = arguments[0].lower() if arguments else None
        if wanted not in (None, "on", "off"):
            self.ui.error("Error: \\timing takes on or off")
            return
        settings.timer = not settings.timer if wanted is None else wanted == "on"
        self.ui.out.print(Text(f"Timing is {'on' if settings.timer else 'off'}.", style="dim"))

    # -- looking around -----------------------------------------------------------------

    def _sql(self, sql: str, params: list[object] | None = None) -> None:
        run_sql(self.con, sql, self.ui, params=params)

    def _tables(self, arguments: list[str]) -> None:
        pattern = arguments[0].replace("*", "%") if arguments else "%"
        self._sql(
            "SELECT table_schema AS schema, table_name AS name, "
            "CASE WHEN table_type = 'VIEW' THEN 'view' ELSE 'table' END AS type "
            "FROM information_schema.tables "
            "WHERE table_schema NOT IN ('sqlml', 'information_schema', 'pg_catalog') "
            "AND table_name LIKE ? ORDER BY schema, name",
            [pattern],
        )

    def _describe(self, arguments: list[str]) -> None:
        if not arguments:
            self._tables([])
            return
        table = exp.to_table(arguments[0], dialect=self.con.backend.name)
        name = table.name if table.this.quoted else table.name.lower()
        quoted = exp.to_identifier(name, quoted=True).sql(self.con.backend.name)
        if name in self._names("SHOW MODELS"):
            self._sql(f"DESCRIBE MODEL {quoted}")
        elif name in self._names("SHOW FEATURE TABLES"):
            self._sql(f"DESCRIBE FEATURE TABLE {quoted}")
        elif self._is_table(name, table.db):
            self._sql(
                "SELECT column_name AS column, data_type AS type, is_nullable AS nullable "
                "FROM information_schema.columns WHERE table_name = ? "
                "AND (table_schema = ? OR ? = '') ORDER BY ordinal_position",
                [name, table.db, table.db],
            )
        else:
            self.ui.error(f"Error: no table, view, model or feature table named {arguments[0]}")

    def _names(self, show: str) -> set[str]:
        return {row[0] for row in self.con.execute(show).fetchall()}

    def _is_table(self, name: str, schema: str) -> bool:
        found = self.con.execute(
            "SELECT count(*) FROM information_schema.columns WHERE table_name = ? "
            "AND (table_schema = ? OR ? = '')",
            [name, schema, schema],
        ).fetchone()
        return bool(found and found[0])
