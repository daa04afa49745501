"""A query and the values of its placeholders, as sqlml hands it to an engine.

Placeholders are numbered (``$1``, ``$2`` ...): both engines take that form, a query that a
rewrite repeats still stands for the same values, and values never become SQL text. The
client and the server (PostgreSQL's PL/Python) share this type.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Query:
    sql: str
    params: tuple[Any, ...] = ()

    def marks(self, count: int) -> list[str]:
        """Placeholders for ``count`` more values, numbered after the query's own."""
        return [f"${len(self.params) + i}" for i in range(1, count + 1)]

    def extended(self, sql: str, *values: Any) -> Query:
        """A statement built around this query's SQL, with ``values`` for its marks()."""
        return Query(sql, (*self.params, *values))

    def sampled(self, rank: str, seed: int, rows: int) -> Query:
        """At most ``rows`` of the query's rows, drawn in SQL before anything is read:
        those that rank first by ``rank``, an expression of the row (``{row}``) and the seed
        (``{seed}``) that the engine hashes, so the same seed draws the same rows in any
        scan order."""
        seed_mark, rows_mark = self.marks(2)
        order = rank.format(row="_sqlml_all", seed=seed_mark)
        return self.extended(
            f"SELECT * FROM ({self.sql}) AS _sqlml_all ORDER BY {order} LIMIT {rows_mark}",
            seed,
            rows,
        )
