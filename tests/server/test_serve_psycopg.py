"""psycopg 3 against ``sqlml serve``: text and binary, prepared statements, pipelines,
errors with their SQLSTATEs, transactions, notices, cancelling."""

from __future__ import annotations

import datetime as dt
import threading
import time
import uuid
from decimal import Decimal

import psycopg
import pytest
from psycopg import errors
from serve_support import Served

TYPED_ROW = """
SELECT 7::INTEGER AS i, (-3)::SMALLINT AS s, 9007199254740993::BIGINT AS b,
       1.5::DOUBLE AS d, 0.25::FLOAT AS f, 12.50::DECIMAL(5, 2) AS n,
       'héllo, "world"' AS t, NULL::VARCHAR AS missing, true AS yes,
       DATE '2024-02-29' AS day, TIME '03:04:05.25' AS clock,
       TIMESTAMP '2024-01-02 03:04:05.5' AS ts, TIMESTAMPTZ '2024-01-02 03:04:05+00' AS tz,
       INTERVAL '1 day 2 hours' AS span, '\\x00\\xFF'::BLOB AS raw,
       '6f1c7a62-3c52-4d7e-9d3a-0a4f1e2b3c4d'::UUID AS id, [1, NULL, 3] AS numbers,
       ['a b', 'c'] AS words
"""

# A query that runs for minutes unless it is cancelled.
LONG_QUERY = "SELECT sum(hash(a.range + b.range)) FROM range(1000000) a, range(1000000) b"

EXPECTED = (
    7,
    -3,
    9007199254740993,
    1.5,
    0.25,
    Decimal("12.50"),
    'héllo, "world"',
    None,
    True,
    dt.date(2024, 2, 29),
    dt.time(3, 4, 5, 250000),
    dt.datetime(2024, 1, 2, 3, 4, 5, 500000),
    dt.datetime(2024, 1, 2, 3, 4, 5, tzinfo=dt.UTC),
    dt.timedelta(days=1, hours=2),
    b"\x00\xff",
    uuid.UUID("6f1c7a62-3c52-4d7e-9d3a-0a4f1e2b3c4d"),
    [1, None, 3],
    ["a b", "c"],
)


@pytest.mark.parametrize("binary", [False, True], ids=["text", "binary"])
def test_values_of_every_common_type_arrive_as_written(served: Served, binary: bool) -> None:
    with served.connect() as conn:
        row = conn.cursor(binary=binary).execute(TYPED_ROW).fetchone()
    assert row == EXPECTED


@pytest.mark.parametrize("binary", [False, True], ids=["text", "binary"])
def test_parameters_are_bound_as_values(served: Served, binary: bool) -> None:
    with served.connect() as conn:
        conn.execute("CREATE OR REPLACE TABLE people (id INTEGER, name VARCHAR, born DATE)")
        cur = conn.cursor(binary=binary)
        cur.executemany(
            "INSERT INTO people VALUES (%s, %s, %s)",
            [(1, "O'Brien", dt.date(1990, 5, 1)), (2, "x'); DROP TABLE people; --", None)],
        )
        got = cur.execute(
            "SELECT name FROM people WHERE id = %s AND (born > %s OR born IS NULL)",
            [1, dt.date(1980, 1, 1)],
        ).fetchall()
        assert got == [("O'Brien",)]
        assert cur.execute("SELECT count(*) FROM people").fetchone() == (2,)


def test_prepared_statements_past_the_threshold_and_pipelines(served: Served) -> None:
    with served.connect(prepare_threshold=1) as conn:
        results = [conn.execute("SELECT %s::INTEGER * 2", [i]).fetchone() for i in range(8)]
        assert results == [(i * 2,) for i in range(8)]
        with conn.pipeline():
            first = conn.execute("SELECT 1")
            second = conn.execute("SELECT %s::VARCHAR || 'b'", ["a"])
        assert (first.fetchone(), second.fetchone()) == ((1,), ("ab",))


def test_errors_carry_postgresql_sqlstates(served: Served) -> None:
    with served.connect() as conn:
        with pytest.raises(errors.UndefinedColumn) as column:
            conn.execute("SELECT nosuch")
        assert column.value.diag.statement_position == "8"
        with pytest.raises(errors.UndefinedTable):
            conn.execute("SELECT * FROM no_such_table")
        with pytest.raises(errors.SyntaxError):
            conn.execute("SELEC 1")
        with pytest.raises(errors.UndefinedObject, match="no_such_model"):
            conn.execute("SELECT PREDICT(no_such_model, 1)")
        # the session goes on
        assert conn.execute("SELECT 42").fetchone() == (42,)


def test_a_failed_transaction_refuses_statements_until_rollback(served: Served) -> None:
    with served.connect() as conn:
        conn.execute("CREATE OR REPLACE TABLE ledger (n INTEGER)")
        conn.execute("BEGIN")
        conn.execute("INSERT INTO ledger VALUES (1)")
        assert conn.info.transaction_status == psycopg.pq.TransactionStatus.INTRANS
        with pytest.raises(errors.UndefinedColumn):
            conn.execute("SELECT nosuch FROM ledger")
        assert conn.info.transaction_status == psycopg.pq.TransactionStatus.INERROR
        with pytest.raises(errors.InFailedSqlTransaction):
            conn.execute("SELECT 1")
        conn.execute("ROLLBACK")
        assert conn.info.transaction_status == psycopg.pq.TransactionStatus.IDLE
        assert conn.execute("SELECT count(*) FROM ledger").fetchone() == (0,)
        with conn.transaction():
            conn.execute("INSERT INTO ledger VALUES (2)")
        assert conn.execute("SELECT sum(n) FROM ledger").fetchone() == (2,)


def test_models_train_and_predict_with_notices(served: Served) -> None:
    notices: list[str] = []
    with served.connect() as conn:
        conn.add_notice_handler(lambda d: notices.append(d.message_primary or ""))
        conn.execute(
            "CREATE OR REPLACE TABLE flowers AS SELECT i, (i % 10)::DOUBLE AS x, "
            "(i % 10 > 4) AS big FROM range(400) r(i)"
        )
        # Prepared (the extended protocol): Describe gives the summary's columns without
        # training; the one row comes at Execute.
        summary = conn.execute(
            "CREATE OR REPLACE MODEL sizes USING logistic_regression TARGET big "
            "FROM (SELECT x, big FROM flowers)",
            prepare=True,
        )
        assert summary.description is not None
        assert [d.name for d in summary.description][:3] == ["model", "version", "task"]
        assert summary.fetchone()[:2] == ("sizes", 1)  # type: ignore[index]
        assert any("ready" in n for n in notices)
        right = conn.execute(
            "SELECT avg((PREDICT(sizes, x) = big)::INTEGER) FROM flowers"
        ).fetchone()
        assert right is not None and right[0] > 0.9
        shown = conn.execute("SHOW MODELS").fetchall()
        assert "sizes" in [r[0] for r in shown]


def test_cancel_stops_a_long_query_and_the_session_goes_on(served: Served) -> None:
    with served.connect() as conn:
        timer = threading.Timer(1.0, conn.cancel_safe)
        timer.start()
        started = time.monotonic()
        with pytest.raises(errors.QueryCanceled):
            conn.execute(LONG_QUERY)
        assert time.monotonic() - started < 20
        assert conn.execute("SELECT 1").fetchone() == (1,)


def test_a_slow_session_does_not_hold_up_others(served: Served) -> None:
    with served.connect() as slow, served.connect() as quick:
        timer = threading.Timer(3.0, slow.cancel_safe)
        timer.start()
        failures: list[BaseException] = []

        def run_slow() -> None:
            try:
                slow.execute(LONG_QUERY)
            except errors.QueryCanceled as error:
                failures.append(error)

        worker = threading.Thread(target=run_slow)
        worker.start()
        time.sleep(0.3)
        started = time.monotonic()
        assert quick.execute("SELECT 2").fetchone() == (2,)
        assert time.monotonic() - started < 2.0
        worker.join()
        assert len(failures) == 1


def test_sessions_train_and_predict_at_once(served: Served) -> None:
    with served.connect() as conn:
        conn.execute(
            "CREATE OR REPLACE TABLE points AS SELECT i, (i % 10)::DOUBLE AS x, "
            "(i % 10 > 4) AS big FROM range(300) r(i)"
        )
        conn.execute(
            "CREATE OR REPLACE MODEL shared_model USING logistic_regression TARGET big "
            "FROM (SELECT x, big FROM points)"
        )
    failures: list[BaseException] = []

    def train(n: int) -> None:
        try:
            with served.connect() as own:
                own.execute(
                    f"CREATE OR REPLACE MODEL parallel_{n} USING logistic_regression "
                    "TARGET big FROM (SELECT x, big FROM points)"
                )  # and the session closes while the others still PREDICT
        except BaseException as error:
            failures.append(error)

    def predict() -> None:
        try:
            with served.connect() as own:
                for _ in range(20):
                    row = own.execute(
                        "SELECT count(*) FROM points WHERE PREDICT(shared_model, x) = big"
                    ).fetchone()
                    assert row is not None and row[0] > 250
        except BaseException as error:
            failures.append(error)

    workers = [threading.Thread(target=train, args=(n,)) for n in range(3)]
    workers += [threading.Thread(target=predict) for _ in range(4)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    assert failures == []
    with served.connect() as conn:
        names = {r[0] for r in conn.execute("SHOW MODELS").fetchall()}
    assert {"parallel_0", "parallel_1", "parallel_2", "shared_model"} <= names


def test_feature_tables_and_ml_functions_through_the_server(served: Served) -> None:
    with served.connect() as conn:
        conn.execute(
            "CREATE OR REPLACE TABLE visits AS SELECT i % 20 AS customer_id, "
            "TIMESTAMP '2024-01-01' + INTERVAL (i) HOUR AS seen, (i % 7)::DOUBLE AS pages "
            "FROM range(400) r(i)"
        )
        created = conn.execute(
            "CREATE OR REPLACE FEATURE TABLE visit_features KEY customer_id TIMESTAMP seen "
            "AS SELECT customer_id, seen, pages FROM visits"
        ).fetchone()
        assert created is not None and created[0] == "visit_features"
        spine = conn.execute(
            "SELECT customer_id, pages FROM FEATURES_AT_TIME(visit_features, "
            "(SELECT 3 AS customer_id, TIMESTAMP '2024-01-02' AS seen)) "
        ).fetchall()
        # customer 3's last visit at or before 2024-01-02 00:00 is hour 23 (i = 23): 23 % 7
        assert spine == [(3, 2.0)]
        conn.execute(
            "CREATE OR REPLACE TABLE petals AS SELECT (i % 10)::DOUBLE AS x, "
            "(i % 10 > 4) AS big FROM range(300) r(i)"
        )
        conn.execute(
            "CREATE OR REPLACE MODEL petal_model USING logistic_regression TARGET big "
            "FROM (SELECT x, big FROM petals)"
        )
        predicted = conn.execute(
            "SELECT predicted_big, x FROM ML.PREDICT(MODEL petal_model, "
            "(SELECT x FROM petals WHERE x IN (1, 9) GROUP BY x)) ORDER BY x"
        ).fetchall()
        assert predicted == [(False, 1.0), (True, 9.0)]
