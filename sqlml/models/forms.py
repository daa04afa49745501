"""What CREATE MODEL's forms share: sqlml's own clauses, BigQuery ML's OPTIONS
(sqlml.models.bigquery) and Redshift ML's clauses (sqlml.models.redshift) are each
translated to one Translated, which is what training needs."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from sqlml.errors import SqlmlSyntaxError, UnknownOptionError


@dataclass
class Translated:
    target: str
    algorithm: str | None
    task: str | None
    options: dict[str, Any] = field(default_factory=dict)
    notices: list[str] = field(default_factory=list)  # said to the user, never silent
    annotations: dict[str, Any] = field(default_factory=dict)  # kept with the model


def mixed_forms(ours: list[str], theirs: str) -> SqlmlSyntaxError:
    """The error for a statement that uses sqlml's clauses ``ours`` with another form's."""
    return SqlmlSyntaxError(
        f"CREATE MODEL mixes forms: {', '.join(ours)} with {theirs}; use one or the other"
    )


def to_number(value: Any, kind: type, where: str) -> int | float:
    """A number written as a number or as a string ('100'), as Redshift writes them."""
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise UnknownOptionError(f"{where} needs a number, not {value!r}") from None
    if kind is int:
        if not number.is_integer():
            raise UnknownOptionError(f"{where} needs a whole number, not {value!r}")
        return int(number)
    return number
