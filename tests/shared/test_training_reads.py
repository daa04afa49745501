"""How training reads its rows (issue 10, finding 7): PostgreSQL reads in chunks of
READ_CHUNK_ROWS rows (no single value near its 1 GB limit), and max_rows is a sample taken
in SQL before reading, on both engines."""

from __future__ import annotations

import pytest

import sqlml
from sqlml._udfs_loader import udfs

ROWS = 2 * udfs.pg_training.READ_CHUNK_ROWS + 1  # three chunks, the last of one row
TABLE = (
    f"CREATE TABLE wide AS SELECT g * 1.0 AS x, 'k' || (g % 5) AS k, g * 2.0 AS y "
    f"FROM generate_series(1, {ROWS}) AS s(g)"
)


@pytest.fixture
def wide(con: sqlml.Connection) -> sqlml.Connection:
    con.execute(TABLE)
    return con


def _rows_used(summary: tuple) -> int:
    return summary[4] + summary[5]  # rows_train + rows_test


def test_every_row_of_several_chunks_is_read_once(wide: sqlml.Connection) -> None:
    summary = wide.execute(
        "CREATE MODEL doubled TARGET y USING linear_regression AS SELECT x, k, y FROM wide"
    ).fetchone()
    assert _rows_used(summary) == ROWS
    info = {r[0]: r for r in wide.execute("SELECT * FROM ML.FEATURE_INFO(MODEL doubled)")}
    assert info["x"][1:3] == (1.0, float(ROWS))  # min and max: the first and last chunk
    assert info["k"][6] == 5  # category_count
    (answer,) = wide.execute("SELECT PREDICT(doubled, 123.0, 'k3')").fetchone()
    assert answer == pytest.approx(246.0, rel=1e-3)  # rows of every chunk stayed aligned


def test_max_rows_samples_the_same_rows_for_the_same_seed(wide: sqlml.Connection) -> None:
    train = (
        "CREATE OR REPLACE MODEL sampled TARGET y USING linear_regression "
        "OPTIONS (max_rows = 1000, seed = {seed}) AS SELECT x, k, y FROM wide"
    )
    for seed in (7, 7, 8):
        assert _rows_used(wide.execute(train.format(seed=seed)).fetchone()) == 1000
    stored = [wide.backend.catalog.feature_info("sampled", v) for v in (1, 2, 3)]
    assert stored[0] is not None
    assert stored[0] == stored[1] != stored[2]  # the seed's sample, every time
    x = next(row for row in stored[0] if row["input"] == "x")
    # Drawn from the whole table, not its first rows.
    assert x["max"] > 2 * ROWS / 3 and x["min"] < ROWS / 3
