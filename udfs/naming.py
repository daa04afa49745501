"""Names: of the engine functions that serve a model's predictions, and of columns.

Derived from the model name alone, so a view that calls them keeps working when a new
version of the model replaces the old one. The hash tells models apart; the slug before it
keeps them readable in EXPLAIN output, and is cut so that the whole name stays within
PostgreSQL's 63 bytes, which would otherwise cut off the hash (and let two models share
one function). Each function's comment holds the whole model name.
"""

from __future__ import annotations

import hashlib
import re

from sqlml.errors import NameTooLongError

# PostgreSQL keeps the first 63 bytes of an identifier (NAMEDATALEN - 1) and drops the rest.
MAX_IDENTIFIER_BYTES = 63
_SLUG_CHARACTERS = 40


def predict_function(model: str, proba: bool = False, batch: bool = False) -> str:
    kind = ("proba" if proba else "predict") + ("_batch" if batch else "")
    prefix = f"sqlml_{kind}_"
    suffix = "_" + hashlib.sha1(model.encode()).hexdigest()[:8]
    room = min(_SLUG_CHARACTERS, MAX_IDENTIFIER_BYTES - len(prefix) - len(suffix))
    slug = re.sub(r"[^a-z0-9]+", "_", model.lower()).strip("_")[:room].strip("_") or "model"
    return f"{prefix}{slug}{suffix}"


def check_identifier(name: str, what: str) -> None:
    """Refuse a name PostgreSQL would shorten: the shortened one may be another object's."""
    size = len(name.encode())
    if size > MAX_IDENTIFIER_BYTES:
        raise NameTooLongError(
            f"{what} {name!r} is {size} bytes long; PostgreSQL keeps only the first "
            f"{MAX_IDENTIFIER_BYTES} bytes of a name: choose a shorter one"
        )


def matching_column(names: list[str], name: str) -> str | None:
    """The column called ``name``: exactly, else the only one equal but for case (an
    unquoted name folds to lower case in PostgreSQL, not in DuckDB); None if there is none."""
    if name in names:
        return name
    folded = [c for c in names if c.lower() == name.lower()]
    return folded[0] if len(folded) == 1 else None
