"""The psql binary against ``sqlml serve``: a script's transcript line by line, and psql at its
prompt (\\x, \\timing, Ctrl-C)."""

from __future__ import annotations

import shutil
import subprocess
import time

import pytest
from serve_support import Served

SCRIPT = """\
CREATE OR REPLACE TABLE shop_orders (id INTEGER, amount DOUBLE, big BOOLEAN);
INSERT INTO shop_orders SELECT i, i % 10, i % 10 > 4 FROM range(200) r(i);
SELECT count(*) AS orders, sum(amount) AS total FROM shop_orders;
\\o /dev/null
CREATE OR REPLACE MODEL order_size USING logistic_regression TARGET big
  FROM (SELECT amount, big FROM shop_orders);
\\o
SELECT id, PREDICT(order_size, amount) AS big FROM shop_orders WHERE id IN (1, 7) ORDER BY id;
BEGIN;
SELECT nosuch FROM shop_orders;
SELECT 1;
ROLLBACK;
SELECT 'after' AS state; SELECT 2 AS two;
"""

TRANSCRIPT = """\
CREATE TABLE
INSERT 0 200
 orders | total
--------+-------
    200 |   900
(1 row)

 id | big
----+-----
  1 | f
  7 | t
(2 rows)

BEGIN
ROLLBACK
 state
-------
 after
(1 row)

 two
-----
   2
(1 row)

"""


def _psql(
    served: Served, *args: str, script: str | None = None
) -> subprocess.CompletedProcess[str]:
    psql = shutil.which("psql")
    if psql is None:
        pytest.fail("psql is not installed (Debian's postgresql-client)")
    return subprocess.run(
        [psql, "-X", "-h", "127.0.0.1", "-p", str(served.port), "-U", "tester", "shop", *args],
        input=script,
        capture_output=True,
        text=True,
        timeout=120,
        env={"PGCONNECT_TIMEOUT": "10", "PATH": "/usr/bin:/bin"},
    )


def test_a_psql_script_reads_as_on_postgresql(served: Served) -> None:
    loud = _psql(served, "-v", "ON_ERROR_STOP=0", script=SCRIPT)
    shown = [line.rstrip() for line in loud.stdout.splitlines()]
    assert shown == TRANSCRIPT.split("\n")[:-1], loud.stdout + loud.stderr
    errors = [line for line in loud.stderr.splitlines() if line.startswith("ERROR")]
    assert errors[0].startswith(
        'ERROR:  Binder Error: Referenced column "nosuch" not found in FROM clause!'
    )
    assert errors[1] == (
        "ERROR:  current transaction is aborted, commands ignored until end of transaction block"
    )
    assert "NOTICE:  model order_size version" in loud.stderr
    assert "LINE 1: SELECT nosuch FROM shop_orders;" in loud.stderr


def test_psql_options_that_talk_to_the_server(served: Served) -> None:
    done = _psql(served, "-At", "-c", "SELECT version()", "-c", "SHOW server_version")
    assert done.returncode == 0, done.stderr
    version, server = done.stdout.splitlines()
    assert version.startswith("PostgreSQL 16.") and "sqlml" in version
    assert server.startswith("16.")
    failed = _psql(served, "-c", "SELECT * FROM nowhere")
    assert failed.returncode == 1
    assert "nowhere" in failed.stderr


def test_interactive_psql_expanded_timing_and_ctrl_c(served: Served) -> None:
    """psql at its prompt: \\x, \\timing, and Ctrl-C cancelling a long query (57014) with
    the session still usable afterwards."""
    import pexpect

    psql = pexpect.spawn(
        "psql",
        ["-X", "-h", "127.0.0.1", "-p", str(served.port), "-U", "tester", "shop"],
        encoding="utf-8",
        timeout=60,
        env={"PAGER": "", "PSQL_PAGER": "", "TERM": "dumb", "PATH": "/usr/bin:/bin"},
    )
    try:
        psql.expect("shop=# ")
        psql.sendline("\\set VERBOSITY verbose")
        psql.expect("shop=# ")
        psql.sendline("\\x")
        psql.expect("Expanded display is on.")
        psql.sendline("SELECT 1 AS one, 'two' AS two;")
        psql.expect(r"-\[ RECORD 1 \]-*\r\none \| 1\r\ntwo \| two")
        psql.sendline("\\x")
        psql.expect("Expanded display is off.")
        psql.sendline("\\timing")
        psql.expect("Timing is on.")
        psql.sendline("SELECT 42 AS answer;")
        psql.expect(r"Time: \d+[.,]\d+ ms")
        psql.sendline("SELECT sum(i) FROM range(1000000000000) t(i);")
        time.sleep(1.5)  # running
        psql.sendintr()
        psql.expect("ERROR:  57014")
        psql.sendline("SELECT 'still here' AS state;")
        psql.expect("still here")
        psql.sendline("\\q")
        psql.expect(pexpect.EOF)
    finally:
        psql.close(force=True)
