"""Tab completion for the shell: SQL keywords, sqlml's statement words, the shell's own
commands, and the database's tables, columns, models and feature tables.

The names are read once and again after each statement (``forget()``), with sqlml's public
statements and the information schema, so completion never runs SQL while the user types.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from typing import TYPE_CHECKING

from prompt_toolkit.completion import CompleteEvent, Completer, Completion
from prompt_toolkit.document import Document
from sqlglot.tokens import Tokenizer

if TYPE_CHECKING:
    from sqlml.connection import Connection

# Words of sqlml's statements and functions that SQL itself does not have.
SQLML_WORDS = [
    "MODEL",
    "MODELS",
    "VERSION",
    "VERSIONS",
    "TRIALS",
    "TARGET",
    "TASK",
    "USING",
    "FUNCTION",
    "OPTIONS",
    "FEATURES",
    "FEATURE",
    "EVALUATE",
    "REFRESH",
    "TTL",
    "KEY",
    "PREDICT",
    "PREDICT_PROBA",
    "FEATURES_AT_TIME",
    "CLASSIFICATION",
    "REGRESSION",
    "LIGHTGBM",
    "RANDOM_FOREST",
    "LOGISTIC_REGRESSION",
    "LINEAR_REGRESSION",
    "MLP",
    "TRANSFORM",
    "OWNER",
    "ML.PREDICT",
    "ML.EVALUATE",
    "ML.CONFUSION_MATRIX",
    "ML.ROC_CURVE",
    "ML.FEATURE_IMPORTANCE",
    "ML.GLOBAL_EXPLAIN",
    "ML.TRAINING_INFO",
    "ML.FEATURE_INFO",
]
COMMANDS = [
    "\\q",
    "\\?",
    "\\h",
    "\\d",
    "\\dt",
    "\\dm",
    "\\x",
    "\\timing",
    ".quit",
    ".exit",
    ".help",
    ".tables",
    ".schema",
    ".models",
    ".features",
    ".mode",
    ".maxrows",
    ".timer",
]

_WORD_BEFORE_CURSOR = re.compile(r"[\w.\\$]+$")


def _keywords() -> list[str]:
    words = {word for word in Tokenizer.KEYWORDS if re.fullmatch(r"[A-Z_]+", word)}
    return sorted(words | set(SQLML_WORDS))


class SqlCompleter(Completer):
    def __init__(self, con: Connection):
        self._con = con
        self._keywords = _keywords()
        self._names: list[str] | None = None
        self._columns: dict[str, list[str]] = {}

    def forget(self) -> None:
        """The database may have changed: read the names again when next needed."""
        self._names = None
        self._columns = {}

    def get_completions(
        self, document: Document, complete_event: CompleteEvent
    ) -> Iterator[Completion]:
        found = _WORD_BEFORE_CURSOR.search(document.text_before_cursor)
        if not found:
            return
        word = found.group()
        at_start = not document.text_before_cursor[: found.start()].strip()
        if at_start and word.startswith(("\\", ".")):
            yield from _matching(word, COMMANDS, -len(word))
            return
        if "." in word and not word.upper().startswith("ML."):
            table, _, prefix = word.rpartition(".")
            yield from _matching(prefix, self._columns_of(table), -len(prefix))
            return
        names = self._all_names()
        yield from _matching(word, names, -len(word))
        keywords = (k if word[:1].isupper() else k.lower() for k in self._keywords)
        yield from _matching(word, keywords, -len(word))

    def _all_names(self) -> list[str]:
        if self._names is None:
            self._names = sorted(set(self._read_names()))
        return self._names

    def _read_names(self) -> Iterator[str]:
        queries = (
            "SELECT table_name FROM information_schema.tables "
            "WHERE table_schema NOT IN ('sqlml', 'information_schema', 'pg_catalog')",
            "SELECT DISTINCT column_name FROM information_schema.columns "
            "WHERE table_schema NOT IN ('sqlml', 'information_schema', 'pg_catalog')",
            "SHOW MODELS",
            "SHOW FEATURE TABLES",
        )
        for sql in queries:
            try:
                yield from (str(row[0]) for row in self._con.execute(sql).fetchall())
            except Exception:  # completion must never break the prompt
                continue

    def _columns_of(self, table: str) -> list[str]:
        if table not in self._columns:
            try:
                rows = self._con.execute(
                    "SELECT column_name FROM information_schema.columns WHERE table_name = ? "
                    "ORDER BY ordinal_position",
                    [table],
                ).fetchall()
            except Exception:  # as above
                rows = []
            self._columns[table] = [str(row[0]) for row in rows]
        return self._columns[table]


def _matching(prefix: str, candidates: Iterable[str], start: int) -> Iterator[Completion]:
    lowered = prefix.lower()
    for candidate in candidates:
        if candidate.lower().startswith(lowered) and candidate != prefix:
            yield Completion(candidate, start_position=start)
