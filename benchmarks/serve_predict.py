"""PREDICT through ``sqlml serve`` (psycopg 3 over loopback) beside the same statements on
``sqlml.connect`` in process, in the same run.

    python -m benchmarks.serve_predict [--rows 1000000] [--repeats 3] [--features 20]

A DuckDB file gets ``t``: ``--rows`` rows x ``--features`` DOUBLE features and a 0/1 target
``y``, made by DuckDB SQL (``setseed``, one thread: the same rows every run), and a LightGBM
model ``m`` (100 trees x 31 leaves, trained once in process, as predict_duckdb). The file is
then copied: the server serves the copy, this process keeps the original open through
``sqlml.connect``, so both sides hold the same rows and the same model and run interleaved
(A B C D A B C D …), each over one connection kept open:

- ``SELECT avg(PREDICT_PROBA(m, *)) FROM t`` (``*`` binds the features by name; ``y`` is
  not one of them and is left out by PREDICT itself);
- ``DROP TABLE IF EXISTS scored`` + ``CREATE TABLE scored AS SELECT *, PREDICT(m, *) AS p
  FROM t``.

Reported: best / median seconds, CPU (this process + the server's), and in-process / server
(target >= 0.9: the server costs at most about a tenth). Checked: the same avg on both sides,
and the same count and sum of ``scored.p``. Any line of the server's log that is not routine
is printed. Writes benchmarks/results/serve_predict.json.
"""

from __future__ import annotations

import argparse
import math
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import psycopg

import sqlml
from benchmarks._harness import (
    Target,
    Timing,
    busy_warning,
    measure,
    print_table,
    print_targets,
    print_timings,
    ratio,
    write_results,
)
from benchmarks._serve import (
    LIGHTGBM_OPTIONS,
    Progress,
    Served,
    ServerFailed,
    make_table,
    run_in_scratch,
    serving,
    train,
)

NAME = "serve_predict"
TARGET_RATIO = 0.9
AVG = "SELECT avg(PREDICT_PROBA(m, *)) FROM t"
DROP = "DROP TABLE IF EXISTS scored"
CTAS = "CREATE TABLE scored AS SELECT *, PREDICT(m, *) AS p FROM t"
CHECK = "SELECT count(*), sum(p)::DOUBLE FROM scored"
THREADS = "SELECT current_setting('threads')"
WARM = "SELECT avg(PREDICT_PROBA(m, *)) FROM (SELECT * FROM t LIMIT 1000) s"


def _on_server(served: Served, conn: psycopg.Connection, sql: str) -> psycopg.Cursor:
    """``sql`` through the server; a failure names the statement, the error and the log."""
    try:
        return conn.execute(sql)
    except psycopg.Error as error:
        state = getattr(error, "sqlstate", None)
        log = "\n".join(f"    {line}" for line in served.problems()[-20:]) or "    (nothing)"
        raise ServerFailed(
            f"through the server: {sql}\n  failed: {type(error).__name__} [{state}] {error}\n"
            f"  server alive: {served.alive()}; its log, lines not routine:\n{log}"
        ) from error


def _contenders(
    con: Any, served: Served, conn: psycopg.Connection, rows: int, seen: dict[str, Any]
) -> dict[str, Callable[[], None]]:
    def avg_in_process() -> None:
        seen["avg in process"] = con.execute(AVG).fetchall()[0][0]

    def avg_server() -> None:
        seen["avg server"] = _on_server(served, conn, AVG).fetchall()[0][0]

    def ctas_in_process() -> None:
        con.execute(DROP)
        con.execute(CTAS)

    def ctas_server() -> None:
        _on_server(served, conn, DROP)
        cursor = _on_server(served, conn, CTAS)
        if cursor.rowcount != rows:
            raise ServerFailed(f"{CTAS}: the server says {cursor.statusmessage}, not {rows}")

    return {
        "avg PREDICT_PROBA, in process": avg_in_process,
        "avg PREDICT_PROBA, server": avg_server,
        "CTAS PREDICT, in process": ctas_in_process,
        "CTAS PREDICT, server": ctas_server,
    }


def run(args: argparse.Namespace, folder: Path, progress: Progress) -> dict[str, Any]:
    local, copy = folder / "in_process.duckdb", folder / "served.duckdb"
    con = sqlml.connect(str(local))
    try:
        progress(f"making t: {args.rows:,} rows x {args.features} features (DuckDB SQL)")
        make_table(con, "t", args.rows, args.features)
        progress(f"training m (LightGBM, {LIGHTGBM_OPTIONS}) in process")
        train_s = train(con, "m", "t")
        progress(f"trained in {train_s:.1f} s")
        share_y = con.execute("SELECT avg(y) FROM t").fetchall()[0][0]
    finally:
        con.close()
    shutil.copyfile(local, copy)
    con = sqlml.connect(str(local))
    try:
        progress("starting sqlml serve on the copy")
        with serving(copy) as served, psycopg.connect(served.dsn, autocommit=True) as conn:
            progress(f"serving on port {served.port} (pid {served.pid}); warming up both sides")
            con.execute(WARM).fetchone()
            _on_server(served, conn, WARM).fetchone()
            threads = {
                "in_process": con.execute(THREADS).fetchall()[0][0],
                "server": _on_server(served, conn, THREADS).fetchall()[0][0],
            }
            seen: dict[str, Any] = {}
            progress(f"timing, best of {args.repeats}, interleaved")
            timings = measure(
                _contenders(con, served, conn, args.rows, seen),
                repeats=args.repeats,
                server=served.cpu_seconds,
            )
            progress("checking both sides' results")
            scored_server = tuple(_on_server(served, conn, CHECK).fetchall()[0])
            scored_local = tuple(con.execute(CHECK).fetchall()[0])
            server_peak = served.peak_rss_mb()
            problems = served.problems()
    finally:
        con.close()
    avg_local, avg_server = seen["avg in process"], seen["avg server"]
    same = {
        "avg": math.isclose(avg_local, avg_server, rel_tol=1e-9),
        "scored": scored_local[0] == scored_server[0] == args.rows
        and math.isclose(scored_local[1], scored_server[1], rel_tol=1e-12),
    }
    return {
        "timings": timings,
        "threads": threads,
        "train_s": round(train_s, 2),
        "share_of_ones": round(share_y, 4),
        "avg_proba": {"in_process": avg_local, "server": avg_server},
        "scored_count_sum": {"in_process": scored_local, "server": scored_server},
        "same_result": same,
        "server_peak_rss_mb": round(server_peak, 1),
        "server_log_problems": problems,
    }


def report(args: argparse.Namespace, facts: dict[str, Any]) -> dict[str, Any]:
    timings: dict[str, Timing] = facts.pop("timings")
    t = list(timings.values())
    ratios = {"avg PREDICT_PROBA": ratio(t[0], t[1]), "CTAS PREDICT": ratio(t[2], t[3])}
    targets = [
        Target(f"in process / server, {name} (best)", r["best"], ">=", TARGET_RATIO)
        for name, r in ratios.items()
    ]
    print_timings(
        f"PREDICT over {args.rows:,} rows x {args.features} features "
        f"(best of {args.repeats}; CPU = this process + the server)",
        timings,
        rows=args.rows,
    )
    print_table(
        "In process / server (1.0: the server costs nothing)",
        ["statement", "best", "median", "CPU"],
        [[name, r["best"], r["median"], r["cpu"]] for name, r in ratios.items()],
    )
    print_targets(targets)
    print(
        f"\nsame result: avg {'yes' if facts['same_result']['avg'] else 'NO'} "
        f"({facts['avg_proba']['in_process']!r} / {facts['avg_proba']['server']!r}), "
        f"scored {'yes' if facts['same_result']['scored'] else 'NO'} "
        f"({facts['scored_count_sum']['in_process']} / {facts['scored_count_sum']['server']})"
    )
    print(
        f"threads: in process {facts['threads']['in_process']}, "
        f"server {facts['threads']['server']}; server peak RSS {facts['server_peak_rss_mb']} MiB"
    )
    if facts["server_log_problems"]:
        print("\nthe server's log, lines not routine:")
        for line in facts["server_log_problems"]:
            print(f"  {line}")
    return {
        "rows": args.rows,
        "features": args.features,
        "repeats": args.repeats,
        "model": f"lightgbm ({LIGHTGBM_OPTIONS})",
        "statements": {"avg": AVG, "ctas": [DROP, CTAS]},
        **facts,
        "ratios_in_process_over_server": ratios,
        "timings": [x.to_json() for x in timings.values()],
        "targets": [x.to_json() for x in targets],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--features", type=int, default=20)
    args = parser.parse_args()
    progress = Progress()
    busy_warning()
    facts = run_in_scratch(
        "sqlml-bench-serve-", lambda folder: run(args, folder, progress), progress
    )
    payload = report(args, facts)
    path = write_results(NAME, payload)
    progress(f"done; wrote {path}")


if __name__ == "__main__":
    main()
