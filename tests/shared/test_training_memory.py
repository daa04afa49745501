"""A training set that will not fit in memory is refused before it is read, by the
planner's estimate of its rows (issue 10, finding 7)."""

from __future__ import annotations

import pytest

import sqlml


def test_a_training_set_too_large_for_memory_is_refused_up_front(con: sqlml.Connection) -> None:
    # Both planners know generate_series' row count: nothing is read to refuse it.
    huge = "SELECT g * 1.0 AS x, g % 2 = 0 AS y FROM generate_series(1, 10000000000000) AS s(g)"
    with pytest.raises(sqlml.TrainingTooLargeError, match="max_rows = ") as refused:
        con.execute(f"CREATE MODEL huge TARGET y AS {huge}")
    assert "10,000,000,000,000 rows of 2 columns" in str(refused.value)
    assert con.backend.catalog.names() == []
    # A max_rows above what fits is no way round.
    with pytest.raises(sqlml.TrainingTooLargeError):
        con.execute(f"CREATE MODEL huge TARGET y OPTIONS (max_rows = 10000000000000) AS {huge}")
