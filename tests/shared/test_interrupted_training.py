"""What held and must keep holding (issue 10): a CREATE OR REPLACE MODEL stopped in any
phase (kill -9 or Ctrl-C of the client; on PostgreSQL also pg_cancel_backend and
pg_terminate_backend of its server process) leaves the version that served before serving,
or the new version whole if it had committed, and the catalog whole: nothing half-done. A
client stopped with Ctrl-C or a cancel keeps a usable connection.

Each stop comes at two fractions of the statement's measured duration, so one lands while
the rows are read and the model trains and one while the model is converted and stored.
"""

from __future__ import annotations

import signal
import time
from collections.abc import Callable

import interruptions
from catalog_race import catalog_problems
from interruptions import Worker
from servers import TEST_DATABASE, dsn_for

import sqlml

FRACTIONS = (0.3, 0.75)
Stop = Callable[[Worker, sqlml.Connection], None]


def _signal_client(how: signal.Signals) -> Stop:
    def stop(worker: Worker, con: sqlml.Connection) -> None:
        worker.signal(how)

    return stop


def _signal_server(function: str) -> Stop:
    """Cancels or terminates the worker's server process (found by its application name)."""

    def stop(worker: Worker, con: sqlml.Connection) -> None:
        stopped = con.backend.catalog.db.run(
            f"SELECT {function}(pid) FROM pg_stat_activity WHERE application_name = ?",
            [interruptions.APPLICATION_NAME],
        )
        assert stopped == [(True,)], "the worker's server process was not found"

    return stop


CLIENT_STOPS = {
    "Ctrl-C of the client": _signal_client(signal.SIGINT),
    "kill -9 of the client": _signal_client(signal.SIGKILL),
}
SERVER_STOPS = {
    "pg_cancel_backend": _signal_server("pg_cancel_backend"),
    "pg_terminate_backend": _signal_server("pg_terminate_backend"),
}
# After these the worker's connection is gone; after the others it must still work.
ENDS_THE_CONNECTION = {"kill -9 of the client", "pg_terminate_backend"}


def test_a_stopped_create_or_replace_leaves_a_whole_catalog(
    connect, backend_name: str, tmp_path
) -> None:
    con = connect()
    con.execute(interruptions.CREATE_ROWS)
    con.execute(interruptions.FIRST_VERSION)
    first = con.execute(interruptions.PREDICTIONS).fetchall()
    seconds = interruptions.replacement_seconds(con)  # version 2
    replaced = con.execute(interruptions.PREDICTIONS).fetchall()
    assert replaced != first
    con.execute("ALTER MODEL kept SET VERSION 1")
    on_postgres = backend_name == "postgres"
    if on_postgres:
        stops = CLIENT_STOPS | SERVER_STOPS
        target = dsn_for(TEST_DATABASE) + f"?application_name={interruptions.APPLICATION_NAME}"
    else:
        stops = CLIENT_STOPS
        target = str(tmp_path / "test.duckdb")
        con.close()  # the worker must hold the file
    worker: Worker | None = None
    for how, stop in stops.items():
        for fraction in FRACTIONS:
            worker = worker or Worker(target)
            worker.begin()
            time.sleep(seconds * fraction)
            stop(worker, con)
            outcome = worker.outcome()
            if how == "kill -9 of the client":
                assert outcome == "" or outcome.startswith("done"), (how, fraction, outcome)
            elif not outcome.startswith("done"):
                assert outcome.startswith("stopped "), (how, fraction, outcome)
                then = worker.outcome()
                assert then.startswith("unusable" if how in ENDS_THE_CONNECTION else "usable")
            if how in ENDS_THE_CONNECTION or not on_postgres:
                worker.finish()
                worker = None
            if on_postgres:
                _wait_until_idle(con)
            else:
                con = connect()
            committed = _check_whole(con, first, replaced, (how, fraction))
            if how != "kill -9 of the client" and fraction == FRACTIONS[0]:
                # Only a killed PostgreSQL client's statement runs on in the server.
                assert not committed, (how, fraction, "the statement was not stopped")
            if committed:
                con.execute("ALTER MODEL kept SET VERSION 1")
            if not on_postgres:
                con.close()
    if worker is not None:
        worker.finish()


def _check_whole(
    con: sqlml.Connection, first: list[tuple], replaced: list[tuple], where: tuple
) -> bool:
    """The catalog is whole and the model serves either version 1 or a whole replacement;
    True if the replacement committed."""
    assert catalog_problems(con) == [], where
    (serving,) = [m.version for m in con.backend.catalog.current() if m.name == "kept"]
    predictions = con.execute(interruptions.PREDICTIONS).fetchall()
    if serving == 1:
        assert predictions == first, where
        return False
    assert predictions == replaced, where
    assert serving == max(m.version for m in con.backend.catalog.versions("kept")), where
    return True


def _wait_until_idle(con: sqlml.Connection) -> None:
    """Until the worker's server process has no statement running: a killed client's
    statement runs on in the server until it ends."""
    deadline = time.monotonic() + 120
    while con.backend.catalog.db.run(
        "SELECT pid FROM pg_stat_activity WHERE application_name = ? AND state = 'active'",
        [interruptions.APPLICATION_NAME],
    ):
        assert time.monotonic() < deadline, "the worker's server process did not end"
        time.sleep(0.1)
