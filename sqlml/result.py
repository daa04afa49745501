"""Query results as the client hands them out, whatever produced them."""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from typing import Any, Protocol

import pyarrow as pa


class Result(Protocol):
    @property
    def description(self) -> list[tuple] | None: ...

    def fetchone(self) -> tuple | None: ...

    def fetchmany(self, size: int) -> list[tuple]: ...

    def fetchall(self) -> list[tuple]: ...

    def arrow(self) -> pa.Table: ...

    def record_batches(self, rows: int) -> Iterator[pa.RecordBatch]:
        """The rows not yet fetched, as Arrow batches of at most ``rows`` rows."""
        ...


class ArrowResult:
    """A result computed by sqlml itself (SHOW MODELS, DESCRIBE MODEL, ...)."""

    def __init__(self, table: pa.Table):
        self.table = table
        self._rows: list[tuple] | None = None
        self._position = 0

    @classmethod
    def from_rows(
        cls, columns: dict[str, pa.DataType], rows: Sequence[Sequence[Any]]
    ) -> ArrowResult:
        arrays = [
            pa.array([row[i] for row in rows], type=kind) for i, kind in enumerate(columns.values())
        ]
        return cls(pa.Table.from_arrays(arrays, names=list(columns)))

    @property
    def description(self) -> list[tuple]:
        # The Arrow type: the cursor names it as its engine does.
        return [(f.name, f.type, None, None, None, None, None) for f in self.table.schema]

    @property
    def rowcount(self) -> int:
        return self.table.num_rows

    def _all(self) -> list[tuple]:
        if self._rows is None:
            columns = [c.to_pylist() for c in self.table.columns]
            self._rows = list(zip(*columns, strict=True)) if columns else []
        return self._rows

    def fetchone(self) -> tuple | None:
        rows = self._all()
        if self._position >= len(rows):
            return None
        self._position += 1
        return rows[self._position - 1]

    def fetchmany(self, size: int) -> list[tuple]:
        rows = self._all()[self._position : self._position + size]
        self._position += len(rows)
        return rows

    def fetchall(self) -> list[tuple]:
        rows = self._all()[self._position :]
        self._position += len(rows)
        return rows

    def arrow(self) -> pa.Table:
        return self.table

    def record_batches(self, rows: int) -> Iterator[pa.RecordBatch]:
        return iter(self.arrow().to_batches(rows))


class EmptyResult(ArrowResult):
    """What a statement that returns no rows (DROP MODEL, ...) hands back."""

    def __init__(self) -> None:
        super().__init__(pa.table({}))

    @property
    def description(self) -> None:  # type: ignore[override]
        return None

    @property
    def rowcount(self) -> int:
        return -1


class RowsResult(ArrowResult):
    """Rows already fetched as Python tuples, with their column names."""

    def __init__(
        self,
        columns: list[str],
        rows: list[tuple],
        types: list[str] | None = None,
        rowcount: int | None = None,
    ):
        self._columns = columns
        self._types = types or ["" for _ in columns]
        self._rows = rows
        self._position = 0
        self._rowcount = len(rows) if rowcount is None else rowcount

    @property
    def rowcount(self) -> int:
        return self._rowcount

    @property
    def description(self) -> list[tuple] | None:  # type: ignore[override]
        if not self._columns:
            return None
        return [
            (c, t, None, None, None, None, None)
            for c, t in zip(self._columns, self._types, strict=True)
        ]

    def arrow(self) -> pa.Table:
        return (
            pa.Table.from_pylist([dict(zip(self._columns, r, strict=True)) for r in self._rows])
            if self._rows
            else pa.table({c: pa.array([], pa.null()) for c in self._columns})
        )


def facts_result(facts: list[tuple[str, str, Any]]) -> ArrowResult:
    """(section, name, value) facts as DESCRIBE's rows: (section, position in the section,
    name, value as text); facts without a value are left out."""
    rows: list[tuple[str, int, str, str]] = []
    positions: dict[str, int] = {}
    for section, name, value in facts:
        if value is None:
            continue
        positions[section] = positions.get(section, 0) + 1
        text = value if isinstance(value, str) else json.dumps(value, default=str)
        rows.append((section, positions[section], name, text))
    columns = {
        "section": pa.string(),
        "position": pa.int32(),
        "name": pa.string(),
        "value": pa.string(),
    }
    return ArrowResult.from_rows(columns, rows)
