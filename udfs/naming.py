"""Names of the engine functions that serve a model's predictions.

Derived from the model name alone, so a view that calls them keeps working when a new
version of the model replaces the old one. The hash keeps two names that fold to the same
slug apart; the slug keeps them readable in EXPLAIN output.
"""

from __future__ import annotations

import hashlib
import re

# predict / proba: one row per call; *_batch: a packed chunk of rows per call (PostgreSQL).
KINDS = ("predict", "proba", "predict_batch", "proba_batch")


def predict_function(model: str, proba: bool = False, batch: bool = False) -> str:
    slug = re.sub(r"[^a-z0-9]+", "_", model.lower()).strip("_")[:40] or "model"
    digest = hashlib.sha1(model.encode()).hexdigest()[:8]
    kind = ("proba" if proba else "predict") + ("_batch" if batch else "")
    return f"sqlml_{kind}_{slug}_{digest}"
