"""Sessions on one DuckDB database close while others run PREDICT.

A model's functions are DuckDB's, one set per database for all its connections: no
session closing, nor the transaction or unread result of one, may take them from another.
"""

from __future__ import annotations

import subprocess
import sys
import textwrap
import threading
from collections.abc import Callable
from pathlib import Path

import sqlml
from sqlml.backends.duckdb import _Sharing

ROUNDS = 10
TRAINERS = 3
PREDICTORS = 4
PREDICTIONS = 20
ROWS = "SELECT g % 50 AS x, (g % 50) * 2 AS y FROM generate_series(1, 200) AS t(g)"
PREDICT = "SELECT PREDICT(shared, x) FROM points WHERE x < 3 ORDER BY x"
TRAIN = "TARGET y USING linear_regression AS SELECT x, y FROM points"


def _database(path: Path) -> sqlml.Connection:
    root = sqlml.connect(str(path))
    root.execute(f"CREATE TABLE points AS {ROWS}").fetchall()
    return root


def _session(root: sqlml.Connection) -> sqlml.Connection:
    """A session as sqlml serve makes one: a connection on a cursor of the served one."""
    return sqlml.Connection(root.backend.cursor())


def _round(root: sqlml.Connection, expected: list[tuple]) -> list[str]:
    """Trainers replace their models and close at once, while predictors score the shared
    model (some leaving each result unread until their next statement); what went wrong."""
    problems: list[str] = []
    start = threading.Barrier(TRAINERS + PREDICTORS)
    sessions = [_session(root) for _ in range(TRAINERS + PREDICTORS)]

    def train(own: sqlml.Connection, index: int) -> None:
        with own:
            start.wait()
            own.execute(f"CREATE OR REPLACE MODEL m{index} {TRAIN}")

    def predict(own: sqlml.Connection, index: int) -> None:
        with own:
            start.wait()
            for _ in range(PREDICTIONS):
                result = own.execute(PREDICT)
                rows = [result.fetchone()] if index % 2 else result.fetchall()
                if rows != expected[: len(rows)]:
                    problems.append(f"wrong predictions {rows}")

    def run(index: int) -> None:
        own = sessions[index]
        try:
            train(own, index) if index < TRAINERS else predict(own, index)
        except BaseException as error:  # reported to the test, never lost in the thread
            problems.append(f"{type(error).__name__}: {error}")

    threads = [threading.Thread(target=run, args=(i,)) for i in range(len(sessions))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    return problems


def test_sessions_closing_never_take_functions_from_others_predicting(tmp_path: Path) -> None:
    root = _database(tmp_path / "shared.duckdb")
    with _session(root) as maker:  # made by a session that closes before the others
        maker.execute(f"CREATE MODEL shared {TRAIN}")
        expected = maker.execute(PREDICT).fetchall()
    for round_ in range(ROUNDS):
        assert _round(root, expected) == [], f"round {round_}"
    assert len(root.execute("SHOW MODELS").fetchall()) == 1 + TRAINERS
    assert root.execute(PREDICT).fetchall() == expected
    root.close()


def test_a_session_in_a_transaction_takes_no_function_from_the_others(tmp_path: Path) -> None:
    root = _database(tmp_path / "shared.duckdb")
    in_transaction = _session(root)
    in_transaction.execute("BEGIN")
    with _session(root) as maker:
        maker.execute(f"CREATE MODEL shared {TRAIN}")
        expected = maker.execute(PREDICT).fetchall()
    # Its statements see the catalog as it was at BEGIN, and what it would register in
    # its transaction no one else would see, and a rollback would take back.
    assert in_transaction.execute("SELECT 42").fetchall() == [(42,)]
    other = _session(root)
    assert other.execute(PREDICT).fetchall() == expected
    in_transaction.execute("ROLLBACK")
    in_transaction.close()
    assert other.execute(PREDICT).fetchall() == expected
    other.close()
    root.close()


def test_a_second_connection_to_the_file_scores_on_once_the_first_closes(
    tmp_path: Path,
) -> None:
    # In a process of its own: a function whose connection closed crashes the one calling it.
    script = f"""
        import sqlml
        path = {str(tmp_path / "shared.duckdb")!r}
        first, second = sqlml.connect(path), sqlml.connect(path)
        first.execute("CREATE TABLE points AS {ROWS}").fetchall()
        session = first.cursor()  # its functions close with the first connection
        session.execute("CREATE MODEL shared {TRAIN}")
        expected = second.execute("{PREDICT}").fetchall()
        first.close()
        assert second.execute("{PREDICT}").fetchall() == expected
        second.close()
        print("scored")
    """
    done = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(script)], capture_output=True, text=True
    )
    assert (done.returncode, done.stdout.strip()) == (0, "scored"), done.stderr


def test_a_remover_that_let_another_in_waits_for_it_before_its_statement_goes_on() -> None:
    # Two statements remove functions at once (CREATE OR REPLACE MODEL): neither waits for
    # the other's statement, which runs nothing while it removes. The first done removing
    # may call what the second removes, so its statement waits for the second to be done.
    sharing = _Sharing()
    first, second = object(), object()
    both_reading = threading.Barrier(2)
    second_removing, second_may_end, first_goes_on = (threading.Event() for _ in range(3))

    def statement(who: object, removing: Callable[[], object]) -> None:
        with sharing.using(who):
            both_reading.wait(10)
            with sharing.removing(who):
                removing()
            if who is first:
                first_goes_on.set()

    def second_removes() -> None:
        second_removing.set()
        second_may_end.wait(10)

    threads = [
        threading.Thread(target=statement, args=(first, lambda: second_removing.wait(10))),
        threading.Thread(target=statement, args=(second, second_removes)),
    ]
    for thread in threads:
        thread.start()
    assert second_removing.wait(10)
    assert not first_goes_on.wait(0.3)
    second_may_end.set()
    assert first_goes_on.wait(10)
    for thread in threads:
        thread.join(10)
