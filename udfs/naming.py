"""Names: of the engine functions that serve a model's predictions, and of columns.

Derived from the model name alone, so a view that calls them keeps working when a new
version of the model replaces the old one. The hash keeps two names that fold to the same
slug apart; the slug keeps them readable in EXPLAIN output.
"""

from __future__ import annotations

import hashlib
import re


def predict_function(model: str, proba: bool = False, batch: bool = False) -> str:
    slug = re.sub(r"[^a-z0-9]+", "_", model.lower()).strip("_")[:40] or "model"
    digest = hashlib.sha1(model.encode()).hexdigest()[:8]
    kind = ("proba" if proba else "predict") + ("_batch" if batch else "")
    return f"sqlml_{kind}_{slug}_{digest}"


def matching_column(names: list[str], name: str) -> str | None:
    """The column called ``name``: exactly, else the only one equal but for case (an
    unquoted name folds to lower case in PostgreSQL, not in DuckDB); None if there is none."""
    if name in names:
        return name
    folded = [c for c in names if c.lower() == name.lower()]
    return folded[0] if len(folded) == 1 else None
