"""Ctrl-C, as a real SIGINT, against a long query on both engines: in the Python API the
caller gets KeyboardInterrupt and the connection still works; the shell says so and goes
on; ``sqlml run`` stops with exit code 130 and names the statement."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time

import pandas as pd
import pexpect
import pytest
from queries import FAST

# Minutes of work on either engine, if nothing stops it.
LONG_QUERY = {
    "duckdb": "SELECT count(*) FROM range(100000000000) t(i) WHERE (i % 1000003) * 7 % 11 = 3",
    "postgres": "SELECT count(*) FROM generate_series(1, 100000) a, generate_series(1, 100000) b "
    "WHERE (a * 7 + b) % 11 = 3",
}
# PREDICT over as many rows: the engine is inside the model's UDF most of the time.
LONG_PREDICT = {
    "duckdb": "SELECT count(PREDICT(m, x)) FROM (SELECT (i % 100)::DOUBLE AS x "
    "FROM range(10000000000) t(i)) AS s",
    "postgres": "SELECT count(PREDICT(m, x)) FROM (SELECT ((a + b) % 100)::float8 AS x "
    "FROM generate_series(1, 100000) a, generate_series(1, 100000) b) AS s",
}
STOPS_WITHIN = 30  # seconds from the signal to the caller's prompt, at most


@pytest.fixture
def database(database_for_a_process) -> str:
    """Model m (one feature x), in a database another process may open."""
    frame = pd.DataFrame({"x": [float(i % 100) for i in range(400)]})
    frame["y"] = frame["x"] > 50
    return database_for_a_process(
        {"points": frame}, f"CREATE MODEL m TARGET y OPTIONS ({FAST}) AS SELECT x, y FROM points"
    )


def _environment() -> dict[str, str]:
    env = {**os.environ, "COLUMNS": "120", "NO_COLOR": "1", "PYTHONUNBUFFERED": "1"}
    env.pop("SQLML_DEBUG", None)
    return env


_API_CALLER = textwrap.dedent(
    """
    import sys, time
    import sqlml
    con = sqlml.connect(sys.argv[1])
    con.execute("SELECT 1").fetchall()
    print("running", flush=True)
    started = time.monotonic()
    try:
        con.execute(sys.argv[2]).fetchall()
        print("finished", flush=True)
    except KeyboardInterrupt:
        print(f"interrupted after {time.monotonic() - started:.1f} s", flush=True)
    print("then", con.execute("SELECT 42").fetchall(), flush=True)
    """
)


def _interrupted(command: list[str]) -> subprocess.Popen[str]:
    """Starts the command, waits for it to say it is running, then presses Ctrl-C."""
    process = subprocess.Popen(
        command,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env=_environment(),
        # a child of a non-interactive shell may inherit SIGINT ignored: the user's has not
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )
    assert process.stdout is not None
    assert process.stdout.readline().strip() == "running"
    time.sleep(2)  # well inside the query
    process.send_signal(signal.SIGINT)
    return process


@pytest.mark.parametrize("query", [LONG_QUERY, LONG_PREDICT], ids=["plain", "predict"])
def test_ctrl_c_stops_the_query_and_the_connection_goes_on(database, backend_name, query):
    process = _interrupted([sys.executable, "-c", _API_CALLER, database, query[backend_name]])
    output, _ = process.communicate(timeout=STOPS_WITHIN + 30)
    assert "interrupted after" in output, output
    seconds = float(output.split("interrupted after ")[1].split()[0])
    assert seconds < 2 + STOPS_WITHIN, output
    assert "then [(42,)]" in output, output
    assert process.returncode == 0


def test_sqlml_run_stops_at_ctrl_c_and_names_the_statement(database, backend_name, tmp_path):
    script = tmp_path / "long.sql"
    script.write_text(f"SELECT 1 AS first;\n\n{LONG_QUERY[backend_name]};\nSELECT 2 AS never;\n")
    # `run` prints the first result before the long one starts
    process = subprocess.Popen(
        [sys.executable, "-m", "sqlml.cli", "run", database, str(script)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=_environment(),
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )
    time.sleep(8)  # connected, the first statement done, inside the long one
    process.send_signal(signal.SIGINT)
    output, errors = process.communicate(timeout=STOPS_WITHIN + 30)
    assert process.returncode == 130, errors
    assert "Cancelled" in errors and "line 3" in errors, errors
    assert "never" not in output


def test_the_shell_cancels_the_statement_and_goes_on(database, backend_name):
    shell = pexpect.spawn(
        sys.executable,
        ["-m", "sqlml.cli", "shell", database],
        env=_environment(),
        encoding="utf-8",
        timeout=60,
        dimensions=(40, 120),
    )
    try:
        shell.expect("sqlml>")
        shell.sendline(LONG_PREDICT[backend_name] + ";")
        time.sleep(3)
        shell.sendintr()
        shell.expect("Cancelled", timeout=STOPS_WITHIN)
        shell.expect("sqlml>")
        shell.sendline("SELECT 40 + 2 AS answer;")
        shell.expect("42")
        shell.sendline(".quit")
        shell.expect(pexpect.EOF)
    finally:
        shell.close(force=True)
    assert shell.exitstatus == 0
