"""Data frames in the caller's scope, read by name as DuckDB's Python API reads them
(``duckdb.sql("SELECT * FROM df")``): pandas and polars frames and Arrow tables.

DuckDB looks for them in the Python frame that calls it, which for sqlml is sqlml's own
(or a helper thread); so the connection looks in its caller's frame instead and hands the
frames a statement names to the engine for the statement's length. A real table or view
of the same name comes first, as in DuckDB.
"""

from __future__ import annotations

from types import FrameType
from typing import Any

from sqlglot.dialects.dialect import Dialect
from sqlglot.errors import TokenError
from sqlglot.tokens import TokenType

# (module prefix, class name) of the objects DuckDB reads as tables.
_FRAME_TYPES = {
    ("pandas", "DataFrame"),
    ("pyarrow", "Table"),
    ("pyarrow", "RecordBatchReader"),
    ("pyarrow", "Dataset"),
    ("polars", "DataFrame"),
    ("polars", "LazyFrame"),
}
_NAME_TOKENS = (TokenType.VAR, TokenType.IDENTIFIER)


def _is_frame(value: Any) -> bool:
    kind = type(value)
    return (kind.__module__.split(".")[0], kind.__name__) in _FRAME_TYPES


def in_scope(frame: FrameType | None) -> dict[str, Any]:
    """The data frames a Python frame can see by name (its locals over its globals)."""
    if frame is None:
        return {}
    visible = {**frame.f_globals, **frame.f_locals}
    return {name: value for name, value in visible.items() if _is_frame(value)}


def named_in(text: str, frames: dict[str, Any], dialect: Dialect) -> dict[str, Any]:
    """The frames whose names the statement uses as a name."""
    if not frames:
        return {}
    try:
        names = {t.text for t in dialect.tokenize(text) if t.token_type in _NAME_TOKENS}
    except TokenError:
        return {}
    return {name: frame for name, frame in frames.items() if name in names}
