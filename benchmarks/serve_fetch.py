"""Rows per second a client fetches from ``sqlml serve``, beside PostgreSQL itself serving
the same table on this machine, in the same run.

    python -m benchmarks.serve_fetch [--rows 1000000] [--repeats 3]

The table has 4 columns (int, double, text, timestamp). Each contender fetches all of it:
psycopg 3 in text and in binary, and psql (``psql -c 'SELECT * FROM wide' > /dev/null``,
unaligned). Before timing, the first rows from both servers are checked to be the same, in
text and in binary. Reported: rows/s per client and server, and sqlml serve / PostgreSQL
(throughput: above 1 is faster than PostgreSQL), with the other processes' load: before
the runs, and per run (there the server at work, sqlml serve or PostgreSQL's backend, is
one of those other processes). Writes benchmarks/results/serve_fetch.json.
"""

from __future__ import annotations

import argparse
import re
import shutil
import subprocess
import sys
import tempfile
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import psycopg

from benchmarks._harness import busy_warning, measure, print_table, ratio, write_results
from benchmarks._postgres import ADMIN_DSN, create_database, drop_database

DATABASE = "sqlml_bench_serve"
MAKE = {
    "sqlml_serve": "CREATE OR REPLACE TABLE wide AS SELECT i::INTEGER AS i, "
    "(i * 0.5)::DOUBLE AS d, 'row ' || i::VARCHAR AS t, "
    "TIMESTAMP '2024-01-01' + INTERVAL (i) SECOND AS ts "
    "FROM range({rows}) r(i)",
    "postgresql": "CREATE TABLE wide AS SELECT i::int AS i, i * 0.5::float8 AS d, "
    "'row ' || i AS t, TIMESTAMP '2024-01-01' + make_interval(secs => i) AS ts "
    "FROM generate_series(0, {rows} - 1) i",
}


def _serve(database: Path) -> tuple[subprocess.Popen[str], int]:
    process = subprocess.Popen(
        [sys.executable, "-m", "sqlml", "serve", str(database), "--port", "0"],
        stderr=subprocess.PIPE,
        text=True,
    )
    assert process.stderr is not None
    for line in process.stderr:
        found = re.search(r"on 127\.0\.0\.1:(\d+)", line)
        if found:
            # Keep reading its log, or a full pipe would stop the server.
            threading.Thread(target=process.stderr.read, daemon=True).start()
            return process, int(found.group(1))
    raise RuntimeError("sqlml serve did not start")


def _same_rows(served_dsn: str, postgres_dsn: str, rows: int) -> None:
    """The first rows, as psycopg reads them in text and in binary, are the same from both."""
    query = "SELECT * FROM wide ORDER BY i LIMIT 1000"
    for binary in (False, True):
        fetched = []
        for dsn in (served_dsn, postgres_dsn):
            with psycopg.connect(dsn) as conn:
                fetched.append(conn.cursor(binary=binary).execute(query).fetchall())
        if fetched[0] != fetched[1]:
            raise SystemExit(f"sqlml serve and PostgreSQL differ (binary={binary})")
        with psycopg.connect(served_dsn) as conn:
            count = conn.execute("SELECT count(*) FROM wide").fetchone()
        if count is None or count[0] != rows:
            raise SystemExit(f"sqlml serve has {count} rows, not {rows}")


def _psycopg(dsn: str, binary: bool) -> Callable[[], None]:
    def run() -> None:
        with psycopg.connect(dsn) as conn:
            conn.cursor(binary=binary).execute("SELECT * FROM wide").fetchall()

    return run


def _psql(host: str, port: int, database: str, user: str) -> Callable[[], None]:
    psql = shutil.which("psql") or "psql"

    def run() -> None:
        subprocess.run(
            [
                psql,
                "-X",
                "-A",
                "-t",
                "-h",
                host,
                "-p",
                str(port),
                "-U",
                user,
                database,
                "-c",
                "SELECT * FROM wide",
            ],
            stdout=subprocess.DEVNULL,
            check=True,
        )

    return run


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    postgres_dsn = create_database(ADMIN_DSN, DATABASE)
    with tempfile.TemporaryDirectory() as folder:
        process, port = _serve(Path(folder) / "wide.duckdb")
        served_dsn = f"host=127.0.0.1 port={port} dbname=wide user=bench"
        try:
            for dsn, engine in ((served_dsn, "sqlml_serve"), (postgres_dsn, "postgresql")):
                with psycopg.connect(dsn, autocommit=True) as conn:
                    conn.execute(MAKE[engine].format(rows=int(args.rows)))
            _same_rows(served_dsn, postgres_dsn, int(args.rows))
            others_at_start = busy_warning()
            pg = psycopg.conninfo.conninfo_to_dict(postgres_dsn)
            clients: dict[str, dict[str, Callable[[], None]]] = {
                "psycopg_text": {
                    "sqlml_serve": _psycopg(served_dsn, False),
                    "postgresql": _psycopg(postgres_dsn, False),
                },
                "psycopg_binary": {
                    "sqlml_serve": _psycopg(served_dsn, True),
                    "postgresql": _psycopg(postgres_dsn, True),
                },
                "psql": {
                    "sqlml_serve": _psql("127.0.0.1", port, "wide", "bench"),
                    "postgresql": _psql(
                        str(pg.get("host", "127.0.0.1")),
                        int(pg.get("port", 5432)),
                        DATABASE,
                        str(pg.get("user", "postgres")),
                    ),
                },
            }
            results: dict[str, Any] = {}
            for client, contenders in clients.items():
                timings = measure(contenders, repeats=args.repeats)
                results[client] = {
                    "rows_per_second": {
                        name: round(args.rows / t.best) for name, t in timings.items()
                    },
                    "sqlml_serve_over_postgresql": ratio(
                        timings["postgresql"], timings["sqlml_serve"]
                    ),
                    "timings": [t.to_json() for t in timings.values()],
                }
        finally:
            process.terminate()
            process.wait(timeout=30)
            drop_database(ADMIN_DSN, DATABASE)
    print_table(
        f"Fetching {args.rows:,} rows x 4 columns (best of {args.repeats})",
        ["client", "sqlml serve rows/s", "PostgreSQL rows/s", "serve / PostgreSQL"],
        [
            [
                client,
                facts["rows_per_second"]["sqlml_serve"],
                facts["rows_per_second"]["postgresql"],
                facts["sqlml_serve_over_postgresql"]["best"],
            ]
            for client, facts in results.items()
        ],
    )
    path = write_results(
        "serve_fetch",
        {"rows": args.rows, "others_cores_at_start": others_at_start, "clients": results},
    )
    print(f"\nwrote {path}")


if __name__ == "__main__":
    main()
