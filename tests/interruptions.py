"""A CREATE OR REPLACE MODEL stopped part-way, and what must hold after: the version that
served before still serves (or the new one, whole, if it committed first) and the catalog is
whole. Run as a script, this file is the process that gets stopped (``Worker``): it connects and
warms up (imports and a small training, so the clock measures the statement, not start-up).
"""

from __future__ import annotations

import signal
import subprocess
import sys
import time

import sqlml

ROWS = "kill_rows"
# A few seconds of reading, training, converting and storing on either engine.
_COLUMNS = ", ".join(
    f"((CAST(g AS BIGINT) * {factor}) % 1000) / 1000.0 AS f{i}"
    for i, factor in enumerate([7919, 104729, 13, 31, 977, 2, 3, 5])
)
CREATE_ROWS = (
    f"CREATE TABLE {ROWS} AS SELECT {_COLUMNS}, (g % 3) AS y FROM generate_series(1, 60000) AS t(g)"
)
FIRST_VERSION = (
    f"CREATE MODEL kept TARGET y USING lightgbm OPTIONS (n_estimators = 3) AS SELECT * FROM {ROWS}"
)
REPLACEMENT = (
    "CREATE OR REPLACE MODEL kept TARGET y USING lightgbm OPTIONS (n_estimators = 60) "
    f"AS SELECT * FROM {ROWS}"
)
_WARM_UP = (
    "CREATE OR REPLACE MODEL warm_up TARGET y USING lightgbm OPTIONS (n_estimators = 2) "
    f"AS SELECT * FROM {ROWS} LIMIT 300"
)
PREDICTIONS = f"SELECT PREDICT(kept, *) FROM {ROWS} ORDER BY f0, f1, f2, f3, f4 LIMIT 500"
APPLICATION_NAME = "sqlml_interrupted"


class Worker:
    """The worker process: warmed up, it runs the replacement each time it is told to and
    says how each run ended (``done in <seconds>`` or ``stopped <error>``); a stopped run
    is followed by ``usable`` once a query on the same connection has worked (or
    ``unusable``)."""

    def __init__(self, target: str) -> None:
        self.process = subprocess.Popen(
            [sys.executable, __file__, target],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        self._expect("ready")

    def begin(self) -> None:
        """Starts the replacement; returns once it has begun."""
        self._send("go")
        self._expect("training")

    def outcome(self) -> str:
        """How the run ended, once it has (empty if the process is gone)."""
        assert self.process.stdout is not None
        return self.process.stdout.readline().strip()

    def signal(self, how: signal.Signals) -> None:
        self.process.send_signal(how)

    def finish(self) -> None:
        """Closes the worker's connection and waits for it to exit (or be gone)."""
        if self.process.poll() is None:
            assert self.process.stdin is not None
            self.process.stdin.close()
        self.process.wait(timeout=120)

    def _send(self, line: str) -> None:
        assert self.process.stdin is not None
        self.process.stdin.write(line + "\n")
        self.process.stdin.flush()

    def _expect(self, wanted: str) -> None:
        line = self.outcome()
        if line != wanted:
            self.process.kill()
            raise AssertionError(f"the worker said {line!r}, not {wanted!r}")


def replacement_seconds(con: sqlml.Connection) -> float:
    """How long the replacement takes on a warm connection (it commits version 2)."""
    started = time.monotonic()
    con.execute(REPLACEMENT)
    return time.monotonic() - started


def _work(target: str) -> None:
    con = sqlml.connect(target)
    con.execute(_WARM_UP)
    print("ready", flush=True)
    # Ctrl-C reaches the statement, as in a shell; one that comes after it ended is ignored.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    for _ in sys.stdin:
        print("training", flush=True)
        try:
            signal.signal(signal.SIGINT, signal.default_int_handler)
            started = time.monotonic()
            con.execute(REPLACEMENT)
            signal.signal(signal.SIGINT, signal.SIG_IGN)
            print(f"done in {time.monotonic() - started:.3f}", flush=True)
        except (KeyboardInterrupt, sqlml.SqlmlError) as error:
            signal.signal(signal.SIGINT, signal.SIG_IGN)
            print(f"stopped {type(error).__name__}", flush=True)
            try:
                con.execute(f"SELECT count(*) FROM {ROWS}").fetchall()
                print("usable", flush=True)
            except sqlml.SqlmlError as later:  # the server process is gone
                print(f"unusable {type(later).__name__}", flush=True)
                return
    con.close()


if __name__ == "__main__":
    _work(sys.argv[1])
