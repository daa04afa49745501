"""What the ``sqlml serve`` benchmarks (serve_predict, serve_load) share: the data, made by
DuckDB SQL, the server, its process's memory and CPU and its log, and progress lines.

- ``make_table``: ``x0 … x{features-1}`` (about standard normal, Box-Muller over
  ``random()``) and ``y`` INTEGER 0/1 from the nonlinear function of ``_harness.make_data``,
  deterministic: ``setseed`` and one thread while it is made.
- ``train``: ``CREATE OR REPLACE MODEL`` with predict_duckdb's LightGBM options.
- ``serving``: ``python -m sqlml serve FILE --port 0`` in a session of its own (a Ctrl-C in
  the terminal reaches the benchmark, which then stops the server with SIGTERM), its stderr
  read all along into ``Served.log``; ``Served.problems`` are the log's lines that are not
  routine (failed statements, internal errors, tracebacks); RSS, peak RSS and CPU seconds of
  the server's process from ``/proc``.
- ``Progress``: ``[   12.3 s] message`` lines on stderr.
"""

from __future__ import annotations

import contextlib
import re
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from benchmarks._postgres import process_cpu_seconds, process_peak_rss_mb, process_rss_mb

LIGHTGBM_OPTIONS = "n_estimators = 100, num_leaves = 31, max_rows = 200000"  # as predict_duckdb
STOP_TIMEOUT = 30.0
_ROUTINE = re.compile(
    r"(: connected: |: disconnected$|clients authenticate: |serving .* on |stopping \(|"
    r"sqlml serve: stopped$)"
)


class ServerFailed(RuntimeError):
    """The server hung, exited or answered wrongly."""


def run_in_scratch(
    prefix: str,
    run: Callable[[Path], dict[str, Any]],
    progress: Progress,
    failures: tuple[type[BaseException], ...] = (),
) -> dict[str, Any]:
    """``run`` in a scratch folder, removed after; Ctrl-C (exit 130) and a failure of the
    server or of ``failures`` (exit 1) end the benchmark with one line."""
    try:
        with tempfile.TemporaryDirectory(prefix=prefix) as folder:
            return run(Path(folder))
    except KeyboardInterrupt:
        print(f"\ninterrupted after {progress.elapsed:.1f} s; server stopped", file=sys.stderr)
        raise SystemExit(130) from None
    except (ServerFailed, *failures) as failure:
        print(f"\nerror: {failure}", file=sys.stderr)
        raise SystemExit(1) from None


class Progress:
    """Progress lines with the time since the benchmark started."""

    def __init__(self) -> None:
        self.start = time.perf_counter()

    @property
    def elapsed(self) -> float:
        return time.perf_counter() - self.start

    def __call__(self, message: str) -> None:
        print(f"[{self.elapsed:7.1f} s] {message}", file=sys.stderr, flush=True)


# -- data and model ------------------------------------------------------------------------


def _normal() -> str:
    return "sqrt(-2 * ln(1 - random())) * cos(2 * pi() * random())"


def make_table(con: Any, name: str, rows: int, features: int = 20, seed: float = 0.42) -> None:
    """``name`` (x0…, y) in the sqlml connection ``con``'s DuckDB, by SQL alone. Same seed,
    same rows: ``setseed`` with one thread (random() in parallel is not repeatable)."""
    xs = ", ".join(f"{_normal()} AS x{i}" for i in range(features))
    names = ", ".join(f"x{i}" for i in range(features))
    logit = f"sin(2 * x0) * x1 + 0.8 * x2 * x2 - x3 * x4 + tanh(x5 + x6) - 0.8 + 0.5 * {_normal()}"
    threads = con.execute("SELECT current_setting('threads')").fetchone()[0]
    con.execute("SET threads = 1")
    try:
        con.execute(f"SELECT setseed({seed})")
        con.execute(
            f"CREATE OR REPLACE TEMP TABLE _raw_{name} AS "
            f"SELECT i, {xs} FROM range({int(rows)}) r(i) ORDER BY i"
        )
        con.execute(
            f"CREATE OR REPLACE TABLE {name} AS SELECT {names}, "
            f"({logit} > 0)::INTEGER AS y FROM _raw_{name} ORDER BY i"
        )
        con.execute(f"DROP TABLE _raw_{name}")
    finally:
        con.execute(f"SET threads = {int(threads)}")


def train(con: Any, model: str, table: str, options: str = LIGHTGBM_OPTIONS) -> float:
    """CREATE OR REPLACE MODEL ``model`` TARGET y on every column of ``table``; seconds."""
    start = time.perf_counter()
    con.execute(
        f"CREATE OR REPLACE MODEL {model} TARGET y USING lightgbm "
        f"OPTIONS ({options}) AS SELECT * FROM {table}"
    )
    return time.perf_counter() - start


# -- the server ----------------------------------------------------------------------------


@dataclass
class Served:
    process: subprocess.Popen[str]
    port: int
    log: list[str] = field(default_factory=list)

    @property
    def pid(self) -> int:
        return self.process.pid

    @property
    def dsn(self) -> str:
        return f"host=127.0.0.1 port={self.port} dbname=bench user=bench"

    def rss_mb(self) -> float:
        return process_rss_mb(self.pid)

    def peak_rss_mb(self) -> float:
        return process_peak_rss_mb(self.pid)

    def cpu_seconds(self) -> float:
        return process_cpu_seconds(self.pid)

    def problems(self) -> list[str]:
        """The log's lines that are not routine (connections, start, stop)."""
        return [line for line in self.log if not _ROUTINE.search(line)]

    def alive(self) -> bool:
        return self.process.poll() is None


def start_server(database: Path, *extra: str) -> Served:
    process = subprocess.Popen(
        [sys.executable, "-m", "sqlml", "serve", str(database), "--port", "0", *extra],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,  # the terminal's Ctrl-C is the benchmark's to handle
    )
    assert process.stderr is not None
    log: list[str] = []
    for line in process.stderr:
        log.append(line.rstrip("\n"))
        found = re.search(r"on 127\.0\.0\.1:(\d+)", line)
        if found:
            served = Served(process, int(found.group(1)), log)
            break
    else:
        process.wait()
        raise RuntimeError(
            f"sqlml serve did not start (exit {process.returncode}):\n" + "\n".join(log)
        )

    def keep_reading() -> None:  # a full pipe would stall the server's logging
        assert process.stderr is not None
        for line in process.stderr:
            log.append(line.rstrip("\n"))

    threading.Thread(target=keep_reading, daemon=True).start()
    return served


def stop_server(served: Served) -> int | None:
    """SIGTERM, then SIGKILL after STOP_TIMEOUT; the exit code (None if it had to be killed)."""
    if served.process.poll() is not None:
        return served.process.returncode
    served.process.terminate()
    try:
        return served.process.wait(timeout=STOP_TIMEOUT)
    except subprocess.TimeoutExpired:
        print(
            f"sqlml serve (pid {served.pid}) did not stop in {STOP_TIMEOUT:g} s; killing it",
            file=sys.stderr,
        )
        served.process.kill()
        served.process.wait()
        return None


@contextlib.contextmanager
def serving(database: Path, *extra: str) -> Iterator[Served]:
    served = start_server(database, *extra)
    try:
        yield served
    finally:
        stop_server(served)
