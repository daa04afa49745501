"""One DuckDB database, several threads (issue 10, finding 8).

A DuckDB connection runs one statement at a time and keeps one pending result, so a sqlml
connection belongs to the thread that first runs a statement on it; other threads get
their own with ``cursor()``, which shares the database, its catalog and its models.
"""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Callable
from pathlib import Path

import pytest
from catalog_race import catalog_problems

import sqlml

THREADS = 4
ROUNDS = 12
ROWS = "SELECT g % 50 AS x, (g % 50) * 2 AS y FROM generate_series(1, 200) AS t(g)"


def _in_threads(work: Callable[[int], None]) -> list[BaseException]:
    """Run ``work(i)`` in THREADS threads started together; what each raised."""
    errors: list[BaseException] = []
    start = threading.Barrier(THREADS)

    def run(index: int) -> None:
        start.wait()
        try:
            work(index)
        except BaseException as error:  # reported to the test, never lost in the thread
            errors.append(error)

    threads = [threading.Thread(target=run, args=(i,)) for i in range(THREADS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    return errors


@pytest.fixture
def shop(tmp_path: Path) -> sqlml.Connection:
    con = sqlml.connect(str(tmp_path / "shop.duckdb"))
    con.execute(f"CREATE TABLE points AS {ROWS}")
    con.execute("CREATE MODEL doubler TARGET y USING linear_regression AS SELECT x, y FROM points")
    return con


def _predictions(con: sqlml.Connection, model: str) -> list[tuple[int, float]]:
    rows = con.execute(
        f"SELECT x, PREDICT({model}, x) FROM points WHERE x < 5 GROUP BY ALL ORDER BY x"
    ).fetchall()
    return [(x, round(value, 3)) for x, value in rows]


def test_cursors_let_threads_train_and_predict_on_one_database(shop: sqlml.Connection) -> None:
    expected = _predictions(shop, "doubler")
    seen: Counter[str] = Counter()

    def work(index: int) -> None:
        own = shop.cursor()
        try:
            for round_ in range(ROUNDS):
                assert _predictions(own, "doubler") == expected
                assert ("doubler",) in [row[:1] for row in own.execute("SHOW MODELS").fetchall()]
                if round_ % 4 == index % 4:
                    own.execute(
                        f"CREATE OR REPLACE MODEL m{index} TARGET y USING linear_regression "
                        "AS SELECT x, y FROM points"
                    )
                    assert _predictions(own, f"m{index}") == expected
                seen[str(index)] += 1
        finally:
            own.close()

    assert _in_threads(work) == []
    assert sum(seen.values()) == THREADS * ROUNDS
    models = {m.name: m.version for m in shop.backend.catalog.current()}
    assert models == {"doubler": 1, **{f"m{i}": ROUNDS // 4 for i in range(THREADS)}}
    assert catalog_problems(shop) == []


def test_a_connection_used_from_another_thread_says_to_take_a_cursor(
    shop: sqlml.Connection,
) -> None:
    expected = _predictions(shop, "doubler")  # this thread now holds the connection

    def work(index: int) -> None:
        for _ in range(ROUNDS):
            shop.execute("SELECT PREDICT(doubler, x) FROM points").fetchall()

    errors = _in_threads(work)
    assert len(errors) == THREADS
    for error in errors:
        assert isinstance(error, sqlml.WrongThreadError), error
        assert "cursor()" in str(error)
    # Nothing the other threads tried reached the connection: it still works here.
    assert _predictions(shop, "doubler") == expected


def test_a_connection_belongs_to_the_thread_that_first_runs_a_statement(tmp_path: Path) -> None:
    con = sqlml.connect(str(tmp_path / "handed.duckdb"))  # opened here, used only there
    answers: list[tuple | None] = []

    def first_thread_only(index: int) -> None:
        if index == 0:
            answers.append(con.execute("SELECT 42").fetchone())

    errors = _in_threads(first_thread_only)
    assert errors == [] and answers == [(42,)]
    with pytest.raises(sqlml.WrongThreadError):
        con.execute("SELECT 1")
    con.close()


def test_a_result_replaced_by_a_later_statement_is_refused(shop: sqlml.Connection) -> None:
    first = shop.execute("SELECT x FROM points ORDER BY x LIMIT 3")
    second = shop.execute("SELECT 'other'")
    with pytest.raises(sqlml.SqlmlError, match="later statement"):
        first.fetchall()
    assert second.fetchall() == [("other",)]
