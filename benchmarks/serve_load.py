"""``sqlml serve`` under load: concurrent psycopg 3 clients, each one query at a time, a mix
of PREDICT and catalog queries over loopback; throughput, errors, latency and the server's
memory before and after.

    python -m benchmarks.serve_load [--seconds 60] [--clients 16] [--warmup 10]
        [--baseline-seconds 10] [--small-rows 10000] [--train-rows 50000]

Set-up, in process through ``sqlml.connect``: ``train`` (``--train-rows`` rows) and ``small``
(``--small-rows`` rows, another seed), both 20 DOUBLE features + a 0/1 target made by DuckDB
SQL (benchmarks/_serve.py), and a LightGBM model ``m`` trained on ``train`` (100 trees x 31
leaves). Then ``sqlml serve`` on the file, and ``--clients`` threads, each with one psycopg
connection kept for the whole run, looping over the kinds below (client i starts at kind
i mod 3), one query at a time:

- predict: ``SELECT count(*) FROM small WHERE PREDICT(m, *) = 1``
- catalog \\dt: what psql's ``\\dt`` sends (pg_class join pg_namespace, relkind r/p)
- information_schema.columns: ``SELECT * FROM information_schema.columns WHERE table_name =
  'small'``

Every answer must equal the one the server gave to a single client before the load (and the
PREDICT count the one in process); a different answer is an error, as is any exception.

Phases: the baseline (client 0 alone, ``--baseline-seconds``: latency with no contention),
the warm-up (all clients, ``--warmup`` s), then the server's RSS (``/proc/PID/status``
VmRSS) as *before*, the run (all clients, ``--seconds``), RSS *after* (connections still
open) and once more after they close. Reported: queries/s, errors (target 0; each is
printed), p50 / p95 / p99 / max latency per kind beside the baseline's p50, queries per
client, CPU of this process and of the server, and RSS after / before (target <= 1.2).
A query still running 60 s after the end is reported as a hang (client, query, how long),
with the server's log. Writes benchmarks/results/serve_load.json.
"""

from __future__ import annotations

import argparse
import contextlib
import resource
import sys
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import psycopg

import sqlml
from benchmarks._harness import Target, busy_warning, print_table, print_targets, write_results
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

NAME = "serve_load"
RSS_TARGET = 1.2
HANG_SECONDS = 60.0  # how long after the end a query may still run before it is a hang
KINDS = {
    "predict": "SELECT count(*) FROM small WHERE PREDICT(m, *) = 1",
    "catalog \\dt": "SELECT n.nspname, c.relname FROM pg_catalog.pg_class c "
    "LEFT JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace "
    "WHERE c.relkind IN ('r','p') AND n.nspname <> 'pg_catalog' ORDER BY 1,2",
    "information_schema.columns": "SELECT * FROM information_schema.columns "
    "WHERE table_name = 'small'",
}
ORDER = list(KINDS)


def _answer(rows: list[tuple]) -> list[str]:
    """Rows as comparable text, in a fixed order (information_schema has no ORDER BY)."""
    return sorted(repr(row) for row in rows)


@dataclass
class Failure:
    kind: str
    client: int
    at_s: float  # since the phase started
    error: str
    sqlstate: str | None = None

    def to_json(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "query": KINDS[self.kind],
            "client": self.client,
            "at_s": round(self.at_s, 3),
            "error": self.error,
            "sqlstate": self.sqlstate,
        }


@dataclass
class Phase:
    name: str
    stop: threading.Event = field(default_factory=threading.Event)
    start: float = 0.0
    records: dict[int, list[tuple[str, float]]] = field(default_factory=dict)  # client → (kind, s)
    failures: list[Failure] = field(default_factory=list)
    wall_s: float = 0.0
    client_cpu_s: float = 0.0
    server_cpu_s: float = 0.0
    rss_samples: list[tuple[float, float]] = field(default_factory=list)  # (s, MiB)

    def count(self) -> int:
        return sum(len(r) for r in self.records.values())


class Client:
    """One psycopg connection, one query at a time."""

    def __init__(self, index: int, dsn: str, expected: dict[str, list[str]]):
        self.index = index
        self.dsn = dsn
        self.expected = expected
        self.conn = psycopg.connect(dsn, autocommit=True)
        self.running: tuple[str, float] | None = None  # (kind, perf_counter at its start)
        self.thread: threading.Thread | None = None

    def query(self, kind: str) -> list[tuple]:
        return self.conn.execute(KINDS[kind]).fetchall()

    def loop(self, phase: Phase) -> None:
        records = phase.records.setdefault(self.index, [])
        turn = self.index
        while not phase.stop.is_set():
            kind = ORDER[turn % len(ORDER)]
            turn += 1
            start = time.perf_counter()
            self.running = (kind, start)
            try:
                answer = _answer(self.query(kind))
            except psycopg.Error as error:
                phase.failures.append(
                    Failure(
                        kind,
                        self.index,
                        start - phase.start,
                        f"{type(error).__name__}: {error}",
                        getattr(error, "sqlstate", None),
                    )
                )
                if self.conn.broken or self.conn.closed:
                    self._reconnect(phase)
                continue
            finally:
                self.running = None
            records.append((kind, time.perf_counter() - start))
            if answer != self.expected[kind]:
                phase.failures.append(
                    Failure(
                        kind,
                        self.index,
                        start - phase.start,
                        f"wrong result: {answer[:3]} … ({len(answer)} rows), expected "
                        f"{self.expected[kind][:3]} … ({len(self.expected[kind])} rows)",
                    )
                )

    def _reconnect(self, phase: Phase) -> None:
        try:
            self.conn = psycopg.connect(self.dsn, autocommit=True)
        except psycopg.Error as error:
            phase.failures.append(
                Failure(
                    "predict",
                    self.index,
                    time.perf_counter() - phase.start,
                    f"reconnect failed: {error}",
                )
            )
            phase.stop.wait(1.0)

    def cancel(self) -> None:
        with contextlib.suppress(psycopg.Error, OSError):
            self.conn.cancel_safe(timeout=5.0)

    def close(self) -> None:
        with contextlib.suppress(psycopg.Error):
            self.conn.close()


def _log_tail(served: Served, lines: int = 30) -> str:
    tail = "\n".join(f"    {line}" for line in served.problems()[-lines:]) or "    (nothing)"
    return f"  server alive: {served.alive()}; its log, lines not routine:\n{tail}"


def _cpu_self() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def run_phase(
    name: str, clients: list[Client], seconds: float, served: Served, progress: Progress
) -> Phase:
    """All ``clients`` loop for ``seconds``; in-flight queries then finish (or are a hang)."""
    phase = Phase(name)
    cpu, server_cpu = _cpu_self(), served.cpu_seconds()
    phase.start = time.perf_counter()
    for client in clients:
        client.thread = threading.Thread(
            target=client.loop, args=(phase,), name=f"client-{client.index}", daemon=True
        )
        client.thread.start()
    try:
        last_note = 0.0
        while (elapsed := time.perf_counter() - phase.start) < seconds:
            time.sleep(min(1.0, seconds - elapsed))
            elapsed = time.perf_counter() - phase.start
            phase.rss_samples.append((round(elapsed, 2), round(served.rss_mb(), 1)))
            if not served.alive():
                raise ServerFailed(
                    f"{name}: sqlml serve exited with {served.process.returncode}\n"
                    + _log_tail(served)
                )
            if elapsed - last_note >= 5.0 or elapsed >= seconds:
                last_note = elapsed
                progress(
                    f"{name}: {elapsed:.0f}/{seconds:g} s, {phase.count():,} queries, "
                    f"{len(phase.failures)} errors, server RSS {served.rss_mb():.0f} MiB"
                )
    finally:
        phase.stop.set()
        _join(clients, phase, served)
    phase.wall_s = time.perf_counter() - phase.start
    phase.client_cpu_s = _cpu_self() - cpu
    phase.server_cpu_s = served.cpu_seconds() - server_cpu
    return phase


def _join(clients: list[Client], phase: Phase, served: Served) -> None:
    interrupted = sys.exc_info()[0] is not None
    deadline = time.perf_counter() + (5.0 if interrupted else HANG_SECONDS)
    for client in clients:
        assert client.thread is not None
        client.thread.join(timeout=max(deadline - time.perf_counter(), 0.0))
    stuck = [c for c in clients if c.thread is not None and c.thread.is_alive()]
    if not stuck:
        return
    now = time.perf_counter()
    lines = []
    for client in stuck:
        running = client.running
        what = (
            f"{running[0]} ({KINDS[running[0]]}), running for {now - running[1]:.1f} s"
            if running
            else "between queries"
        )
        lines.append(f"  client {client.index}: {what}")
        client.cancel()
    for client in stuck:
        assert client.thread is not None
        client.thread.join(timeout=10.0)
    still = sum(1 for c in stuck if c.thread is not None and c.thread.is_alive())
    if interrupted:
        return
    raise ServerFailed(
        f"{phase.name}: {len(stuck)} client(s) still in a query {HANG_SECONDS:g} s after the "
        f"end (cancel requests sent; {still} still stuck 10 s later):\n"
        + "\n".join(lines)
        + f"\n{_log_tail(served)}"
    )


# -- figures -------------------------------------------------------------------------------


def latency(phase: Phase) -> dict[str, dict[str, float]]:
    """Per kind: count, queries/s, p50 / p95 / p99 / max in milliseconds."""
    out: dict[str, dict[str, float]] = {}
    by_kind: dict[str, list[float]] = {kind: [] for kind in KINDS}
    for records in phase.records.values():
        for kind, seconds in records:
            by_kind[kind].append(seconds)
    for kind, values in by_kind.items():
        if not values:
            continue
        ms = np.asarray(values) * 1000
        out[kind] = {
            "queries": len(values),
            "queries_per_second": round(len(values) / phase.wall_s, 2),
            "p50_ms": round(float(np.percentile(ms, 50)), 2),
            "p95_ms": round(float(np.percentile(ms, 95)), 2),
            "p99_ms": round(float(np.percentile(ms, 99)), 2),
            "max_ms": round(float(ms.max()), 2),
        }
    return out


def phase_json(phase: Phase) -> dict[str, Any]:
    per_client = [len(phase.records.get(i, [])) for i in sorted(phase.records)]
    return {
        "wall_s": round(phase.wall_s, 2),
        "queries": phase.count(),
        "queries_per_second": round(phase.count() / phase.wall_s, 2),
        "errors": len(phase.failures),
        "latency": latency(phase),
        "queries_per_client": {
            "min": min(per_client, default=0),
            "max": max(per_client, default=0),
        },
        "client_cpu_cores": round(phase.client_cpu_s / phase.wall_s, 2),
        "server_cpu_cores": round(phase.server_cpu_s / phase.wall_s, 2),
        "server_rss_mb_samples": phase.rss_samples,
        "failures": [f.to_json() for f in phase.failures[:200]],
    }


def print_failures(phases: list[Phase]) -> None:
    failures = [(p.name, f) for p in phases for f in p.failures]
    if not failures:
        return
    print(f"\nErrors ({len(failures)}), the same one counted once, first time shown:")
    seen: Counter[tuple[str, str, str]] = Counter()
    first: dict[tuple[str, str, str], Failure] = {}
    for name, failure in failures:
        what = "wrong result" if failure.error.startswith("wrong result") else failure.error
        key = (name, failure.kind, what)
        seen[key] += 1
        first.setdefault(key, failure)
    for shown, (key, count) in enumerate(seen.items()):
        if shown == 20:
            print(f"  … and {len(seen) - 20} more kinds of error (the JSON has the first 200)")
            break
        failure = first[key]
        print(
            f"  {count} x [{key[0]}] {failure.kind} (client {failure.client}, at "
            f"{failure.at_s:.2f} s, SQLSTATE {failure.sqlstate}): {failure.error}\n"
            f"      query: {KINDS[failure.kind]}"
        )


# -- the run -------------------------------------------------------------------------------


def prepare(path: Path, args: argparse.Namespace, progress: Progress) -> dict[str, Any]:
    con = sqlml.connect(str(path))
    try:
        progress(f"making train ({args.train_rows:,} rows) and small ({args.small_rows:,} rows)")
        make_table(con, "train", args.train_rows, seed=0.42)
        make_table(con, "small", args.small_rows, seed=0.17)
        progress(f"training m (LightGBM, {LIGHTGBM_OPTIONS}) in process")
        seconds = train(con, "m", "train")
        count = con.execute(KINDS["predict"]).fetchall()[0][0]
        progress(f"trained in {seconds:.1f} s; PREDICT(m, *) = 1 on {count:,} rows of small")
    finally:
        con.close()
    return {"train_s": round(seconds, 2), "predict_count_in_process": count}


def run(args: argparse.Namespace, folder: Path, progress: Progress) -> dict[str, Any]:
    path = folder / "load.duckdb"
    facts = prepare(path, args, progress)
    phases: list[Phase] = []
    progress("starting sqlml serve")
    with serving(path) as served:
        progress(f"serving on port {served.port} (pid {served.pid})")
        rss: dict[str, float] = {"started": round(served.rss_mb(), 1)}
        clients: list[Client] = []
        try:
            first: dict[str, list[tuple]] = {}
            with psycopg.connect(served.dsn, autocommit=True) as conn:
                for kind, sql in KINDS.items():
                    try:
                        first[kind] = conn.execute(sql).fetchall()
                    except psycopg.Error as error:
                        raise ServerFailed(
                            f"the reference client's {kind}: {sql}\n  failed: "
                            f"{type(error).__name__} [{getattr(error, 'sqlstate', None)}] "
                            f"{error}\n{_log_tail(served)}"
                        ) from error
            expected = {kind: _answer(rows) for kind, rows in first.items()}
            predict_served = first["predict"][0][0]
            if predict_served != facts["predict_count_in_process"]:
                raise ServerFailed(
                    f"the server's PREDICT count {predict_served} is not the in-process "
                    f"{facts['predict_count_in_process']}"
                )
            progress(f"connecting {args.clients} clients")
            clients = [Client(i, served.dsn, expected) for i in range(args.clients)]
            if args.baseline_seconds > 0:
                phases.append(
                    run_phase(
                        "baseline, 1 client", clients[:1], args.baseline_seconds, served, progress
                    )
                )
            if args.warmup > 0:
                phases.append(
                    run_phase(
                        f"warm-up, {args.clients} clients", clients, args.warmup, served, progress
                    )
                )
            rss["before"] = round(served.rss_mb(), 1)
            progress(f"server RSS before the run: {rss['before']:.1f} MiB")
            run_ = run_phase(
                f"run, {args.clients} clients", clients, args.seconds, served, progress
            )
            phases.append(run_)
            rss["after"] = round(served.rss_mb(), 1)
            rss["peak_during_run"] = max((r for _, r in run_.rss_samples), default=rss["after"])
        finally:
            for client in clients:
                client.close()
        time.sleep(2.0)
        rss["after_clients_closed"] = round(served.rss_mb(), 1)
        rss["peak_VmHWM"] = round(served.peak_rss_mb(), 1)
        problems = served.problems()
    return {**facts, "phases": phases, "rss_mb": rss, "server_log_problems": problems}


def report(args: argparse.Namespace, facts: dict[str, Any]) -> dict[str, Any]:
    phases: list[Phase] = facts.pop("phases")
    run_ = phases[-1]
    baseline = phases[0] if args.baseline_seconds > 0 else None
    run_lat = latency(run_)
    base_lat = latency(baseline) if baseline else {}
    rss = facts["rss_mb"]
    rss_ratio = round(rss["after"] / rss["before"], 3)
    errors = sum(len(p.failures) for p in phases)
    targets = [
        Target("errors, every phase", errors, "==", 0),
        Target("server RSS after / before the run", rss_ratio, "<=", RSS_TARGET),
    ]
    print_table(
        f"{args.clients} clients x {args.seconds:g} s, one query at a time each "
        f"({run_.count():,} queries, {run_.count() / run_.wall_s:,.1f} queries/s, "
        f"{len(run_.failures)} errors)",
        [
            "kind",
            "queries",
            "queries/s",
            "p50 ms",
            "p95 ms",
            "p99 ms",
            "max ms",
            "1 client p50 ms",
            "p50 / 1 client",
        ],
        [
            [
                kind,
                lat["queries"],
                lat["queries_per_second"],
                lat["p50_ms"],
                lat["p95_ms"],
                lat["p99_ms"],
                lat["max_ms"],
                base_lat.get(kind, {}).get("p50_ms", "-"),
                round(lat["p50_ms"] / base_lat[kind]["p50_ms"], 2) if kind in base_lat else "-",
            ]
            for kind, lat in run_lat.items()
        ],
    )
    print_table(
        "Phases",
        [
            "phase",
            "wall s",
            "queries",
            "queries/s",
            "errors",
            "per client min-max",
            "client CPU cores",
            "server CPU cores",
        ],
        [
            [
                p.name,
                round(p.wall_s, 2),
                p.count(),
                round(p.count() / p.wall_s, 1),
                len(p.failures),
                "{min}-{max}".format(**phase_json(p)["queries_per_client"]),
                round(p.client_cpu_s / p.wall_s, 2),
                round(p.server_cpu_s / p.wall_s, 2),
            ]
            for p in phases
        ],
    )
    print_table(
        "Server RSS (VmRSS, MiB)",
        ["when", "MiB"],
        [[when, value] for when, value in rss.items()] + [["after / before", rss_ratio]],
    )
    print_targets(targets)
    print_failures(phases)
    if facts["server_log_problems"]:
        print("\nthe server's log, lines not routine:")
        for line in facts["server_log_problems"][:100]:
            print(f"  {line}")
    return {
        "clients": args.clients,
        "seconds": args.seconds,
        "warmup_s": args.warmup,
        "baseline_s": args.baseline_seconds,
        "small_rows": args.small_rows,
        "train_rows": args.train_rows,
        "model": f"lightgbm ({LIGHTGBM_OPTIONS})",
        "queries": KINDS,
        **facts,
        "rss_after_over_before": rss_ratio,
        "phases": {p.name: phase_json(p) for p in phases},
        "targets": [t.to_json() for t in targets],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=60.0)
    parser.add_argument("--clients", type=int, default=16)
    parser.add_argument("--warmup", type=float, default=10.0, help="seconds, all clients")
    parser.add_argument("--baseline-seconds", type=float, default=10.0, help="1 client; 0: none")
    parser.add_argument("--small-rows", type=int, default=10_000)
    parser.add_argument("--train-rows", type=int, default=50_000)
    args = parser.parse_args()
    progress = Progress()
    busy_warning()
    facts = run_in_scratch(
        "sqlml-bench-load-",
        lambda folder: run(args, folder, progress),
        progress,
        (psycopg.Error,),
    )
    payload = report(args, facts)
    path = write_results(NAME, payload)
    progress(f"done; wrote {path}")


if __name__ == "__main__":
    main()
