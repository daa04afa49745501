"""What every benchmark shares: data, timing, memory, machine facts, results and tables.

- ``make_data``: the benchmark table (numpy seed 0, a nonlinear binary target).
- ``measure``: best-of / median timing of several contenders, run interleaved (A B C A B C …)
  so that a slow spell of the machine hits them alike; each run also records how much CPU
  *other* processes used meanwhile (the machine may be shared).
- ``run_child``: one contender in a fresh ``python -m`` subprocess: wall time, peak RSS of
  that very process (``os.wait4``'s rusage, so native allocations count, unlike tracemalloc)
  and an RSS trace sampled from outside (``/proc/<pid>/status``, no GIL involved) that
  ``stage_peaks`` cuts into the stages the child marks with ``Child.mark``.
- ``ratio`` / ``fastest``: how contenders compare; ``engine_sql``: the SQL sqlml sends.
- ``machine_info`` / ``write_results`` / ``print_table``.

What only some benchmarks share lives beside it: ``_postgres`` (scratch databases, binary
COPY, the server's CPU and memory), ``_onnxruntime`` (the onnxruntime baseline) and
``_training`` (the training benchmarks' by-hand path, stages and reports).
"""

from __future__ import annotations

import contextlib
import datetime as dt
import itertools
import json
import os
import platform
import resource
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field
from importlib import metadata
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa

ROOT = Path(__file__).resolve().parent.parent
RESULTS = Path(__file__).resolve().parent / "results"

PACKAGES = (
    "sqlml",
    "duckdb",
    "onnxruntime",
    "lightgbm",
    "scikit-learn",
    "skl2onnx",
    "onnxmltools",
    "onnx",
    "numpy",
    "pyarrow",
    "pandas",
)
_ENV_NOTED = (
    "OPENBLAS_CORETYPE",
    "OPENBLAS_L2_SIZE",
    "OMP_NUM_THREADS",
    "OMP_WAIT_POLICY",
    "OPENBLAS_NUM_THREADS",
)
_CLK_TCK = os.sysconf("SC_CLK_TCK")


# -- data ------------------------------------------------------------------------------


def make_data(rows: int, features: int = 20, seed: int = 0) -> pa.Table:
    """``x0 … x{features-1}`` standard normal float64 and ``y`` int32 0/1 (about 47 % ones)
    from a nonlinear function of x0…x6 plus noise."""
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((rows, features))
    logit = (
        np.sin(2 * x[:, 0]) * x[:, 1]
        + 0.8 * x[:, 2] ** 2
        - x[:, 3] * x[:, 4]
        + np.tanh(x[:, 5] + x[:, 6])
        - 0.8
        + 0.5 * rng.standard_normal(rows)
    )
    columns = {f"x{i}": x[:, i] for i in range(features)}
    columns["y"] = (logit > 0).astype(np.int32)
    return pa.table(columns)


def load_table(con: Any, name: str, table: pa.Table) -> None:
    """Copy an Arrow table into a real DuckDB table ``name`` (DOUBLE / INTEGER columns)."""
    view = f"_bench_{name}_source"
    con.register(view, table)
    try:
        con.execute(f'CREATE OR REPLACE TABLE "{name}" AS SELECT * FROM {view}')
    finally:
        con.unregister(view)


# -- machine load ----------------------------------------------------------------------


def _machine_busy_seconds() -> float:
    """CPU seconds all processes have spent busy since boot (from /proc/stat)."""
    try:
        with open("/proc/stat") as stat:
            fields = stat.readline().split()[1:]
    except OSError:
        return float("nan")
    user, nice, system, _idle, _iowait, irq, softirq, steal = (int(v) for v in fields[:8])
    return (user + nice + system + irq + softirq + steal) / _CLK_TCK


def _own_cpu_seconds() -> float:
    total = 0.0
    for who in (resource.RUSAGE_SELF, resource.RUSAGE_CHILDREN):
        usage = resource.getrusage(who)
        total += usage.ru_utime + usage.ru_stime
    return total


@contextlib.contextmanager
def others_load() -> Iterator[dict[str, float]]:
    """Yields a dict that, on exit, holds ``others_cores``: how many cores *other*
    processes kept busy on average meanwhile (0 on a quiet machine)."""
    out: dict[str, float] = {}
    machine, own, start = _machine_busy_seconds(), _own_cpu_seconds(), time.perf_counter()
    try:
        yield out
    finally:
        wall = time.perf_counter() - start
        others = (_machine_busy_seconds() - machine) - (_own_cpu_seconds() - own)
        out["others_cores"] = round(max(others, 0.0) / wall, 2) if wall > 0 else 0.0


def busy_warning(seconds: float = 2.0) -> float:
    """Print a warning when other processes use the CPU now; returns their cores in use."""
    with others_load() as load:
        time.sleep(seconds)
    cores = load["others_cores"]
    if cores > 0.2:
        print(
            f"warning: other processes are using {cores:.1f} of {os.cpu_count()} cores; "
            "absolute times will be slow and noisy (ratios suffer less)",
            file=sys.stderr,
        )
    return cores


# -- timing ----------------------------------------------------------------------------


@dataclass
class Timing:
    name: str
    runs: list[float] = field(default_factory=list)
    others_cores: list[float] = field(default_factory=list)  # per run, see measure
    cpu: list[float] = field(default_factory=list)  # CPU seconds per run (+ the server's)
    server_cpu: list[float] = field(default_factory=list)  # per run, when measured
    note: str = ""

    @property
    def best(self) -> float:
        return min(self.runs)

    @property
    def median(self) -> float:
        return statistics.median(self.runs)

    def to_json(self) -> dict[str, Any]:
        out = {
            "name": self.name,
            "best_s": round(self.best, 4),
            "median_s": round(self.median, 4),
            "runs_s": [round(r, 4) for r in self.runs],
            "cpu_s": [round(c, 4) for c in self.cpu],
            "others_cores": self.others_cores,
            "note": self.note,
        }
        if self.server_cpu:
            out["server_cpu_s"] = self.server_cpu
        return out


def measure(
    contenders: dict[str, Callable[[], Any]],
    repeats: int = 3,
    notes: dict[str, str] | None = None,
    verbose: bool = True,
    server: Callable[[], float] | None = None,
) -> dict[str, Timing]:
    """Time each contender ``repeats`` times, interleaved round by round.

    ``server``, when given, reads the CPU seconds of the server that does the work
    (_postgres.ServerCpu.seconds): a run's CPU is then this process's plus the server's,
    and the server's is not counted as other processes' load."""
    timings = {name: Timing(name, note=(notes or {}).get(name, "")) for name in contenders}
    for round_ in range(repeats):
        for name, run in contenders.items():
            busy, own = _machine_busy_seconds(), _own_cpu_seconds()
            srv = server() if server is not None else 0.0
            start = time.perf_counter()
            run()
            elapsed = time.perf_counter() - start
            own = _own_cpu_seconds() - own
            srv = server() - srv if server is not None else 0.0
            others = max((_machine_busy_seconds() - busy) - own - srv, 0.0)
            others = round(others / elapsed, 2) if elapsed > 0 else 0.0
            timing = timings[name]
            timing.runs.append(elapsed)
            timing.cpu.append(own + srv)
            timing.others_cores.append(others)
            if server is not None:
                timing.server_cpu.append(round(srv, 3))
            if verbose:
                on_server = f", server {srv:.2f} s" if server is not None else ""
                print(
                    f"  [{round_ + 1}/{repeats}] {name}: {elapsed:.3f} s, CPU {own + srv:.3f} s"
                    f"{on_server} (others: {others:.1f} cores)",
                    file=sys.stderr,
                    flush=True,
                )
    return timings


def ratio(a: Timing, b: Timing) -> dict[str, float]:
    """a / b for best and median wall time and for the least CPU of runs. With ``a`` the
    baseline it is a throughput ratio (1.0: as fast as the baseline); with ``a`` sqlml, its
    cost relative to the baseline. The CPU ratio barely moves when others share the machine."""
    return {
        "best": round(a.best / b.best, 3),
        "median": round(a.median / b.median, 3),
        "cpu": round(min(a.cpu) / min(b.cpu), 3),
    }


def fastest(timings: dict[str, Timing], labels: list[str]) -> Timing:
    """The contender with the best best-of time among ``labels``."""
    return min((timings[label] for label in labels), key=lambda t: t.best)


def summary(
    timings: dict[str, Timing], rows: int, ratios: dict[str, Any], targets: list, **more: Any
) -> dict[str, Any]:
    """What a PREDICT benchmark reports besides its timings: ``more`` (baselines first), the
    rows per second of each contender, the ratios and the targets (``Target``s)."""
    return {
        **more,
        "rows_per_second": {label: round(rows / t.best) for label, t in timings.items()},
        "ratios": ratios,
        "targets": [t.to_json() for t in targets],
    }


def engine_sql(con: Any, sql: str) -> str:
    """The SQL the sqlml connection ``con`` sends to its engine for one statement."""
    (statement,) = con._split(sql)
    return con._engine_sql(con._parse(statement))


# -- subprocesses ----------------------------------------------------------------------


@dataclass
class ChildRun:
    """One contender run in its own process."""

    wall_s: float  # from spawn to exit, interpreter start and imports included
    peak_rss_mb: float  # the process's own maximum resident set (wait4 rusage)
    cpu_s: float
    result: dict[str, Any]  # what the child wrote with Child.finish
    samples: list[tuple[float, float]]  # (time.monotonic(), RSS MiB), sampled from outside
    others_cores: float

    def stage_peaks(self) -> dict[str, float]:
        return stage_peaks(self.samples, self.result.get("marks", []))


def run_child(
    module: str,
    args: list[str],
    env: dict[str, str] | None = None,
    sample_interval: float = 0.005,
    timeout: float = 900.0,
) -> ChildRun:
    """Run ``python -m module --child-out FILE *args`` from the repository root."""
    with tempfile.TemporaryDirectory(prefix="sqlml-bench-") as tmp:
        out = Path(tmp) / "result.json"
        command = [sys.executable, "-m", module, *args, "--child-out", str(out)]
        samples: list[tuple[float, float]] = []
        with others_load() as load:
            start = time.perf_counter()
            proc = subprocess.Popen(command, cwd=ROOT, env={**os.environ, **(env or {})})
            status_path = f"/proc/{proc.pid}/status"
            deadline = time.monotonic() + timeout
            while time.monotonic() < deadline:
                rss = status_mb(status_path)
                if rss is None:  # exited (a zombie has no VmRSS) or gone
                    break
                samples.append((time.monotonic(), rss))
                time.sleep(sample_interval)
            else:
                proc.kill()
            _, status, usage = os.wait4(proc.pid, 0)
            wall = time.perf_counter() - start
        proc.returncode = os.waitstatus_to_exitcode(status)
        if proc.returncode != 0:
            raise RuntimeError(f"{' '.join(command)} exited with {proc.returncode}")
        result = json.loads(out.read_text())
    return ChildRun(
        wall_s=wall,
        peak_rss_mb=usage.ru_maxrss / 1024,  # KiB on Linux
        cpu_s=usage.ru_utime + usage.ru_stime,
        result=result,
        samples=samples,
        others_cores=load["others_cores"],
    )


def status_mb(status_path: str, field: str = "VmRSS") -> float | None:
    """A memory field of /proc/<pid>/status in MiB (VmRSS now, VmHWM the peak); None when
    the process is gone (or, as a zombie, has no such field)."""
    try:
        with open(status_path) as status:
            for line in status:
                if line.startswith(f"{field}:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        return None
    return None


def stage_peaks(samples: list[tuple[float, float]], marks: list[list[Any]]) -> dict[str, float]:
    """Peak RSS (MiB) per stage: a sample belongs to the last mark at or before it."""
    peaks: dict[str, float] = {}
    ordered = sorted((float(t), str(label)) for t, label in marks)
    for when, rss in samples:
        label = "start"
        for mark_time, mark_label in ordered:
            if mark_time > when:
                break
            label = mark_label
        peaks[label] = max(peaks.get(label, 0.0), rss)
    return {k: round(v, 1) for k, v in peaks.items()}


def self_rss_mb() -> float:
    return status_mb("/proc/self/status") or 0.0


def self_peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


class Child:
    """The child's side of run_child: stage marks (wall clock, process CPU, and for the
    parent's RSS trace) and the result."""

    def __init__(self, out: str):
        self.out = out
        self.marks: list[tuple[float, str, float]] = []  # (monotonic, label, process CPU)
        self._lock = threading.Lock()

    def mark(self, label: str) -> None:
        with self._lock:
            if not self.marks or self.marks[-1][1] != label:
                self.marks.append((time.monotonic(), label, time.process_time()))

    def stages(self) -> dict[str, dict[str, float]]:
        """Wall and CPU seconds from each mark to the next (the last mark ends it)."""
        out: dict[str, dict[str, float]] = {}
        for (t, label, cpu), (t_next, _, cpu_next) in itertools.pairwise(self.marks):
            entry = out.setdefault(label, {"s": 0.0, "cpu_s": 0.0})
            entry["s"] = round(entry["s"] + t_next - t, 4)
            entry["cpu_s"] = round(entry["cpu_s"] + cpu_next - cpu, 4)
        return out

    def finish(self, result: dict[str, Any]) -> None:
        marks = [[t, label] for t, label, _ in self.marks]
        payload = {**result, "marks": marks, "self_peak_rss_mb": self_peak_rss_mb()}
        Path(self.out).write_text(json.dumps(payload))


# -- machine facts and results ---------------------------------------------------------


def _version(package: str) -> str | None:
    try:
        return metadata.version(package)
    except metadata.PackageNotFoundError:
        return None


def _cpu_model() -> str:
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    return platform.processor()


def _memory_gib() -> float | None:
    with contextlib.suppress(OSError, ValueError, IndexError):
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                return round(int(line.split()[1]) / 1024**2, 1)
    return None


def _git(*args: str) -> str | None:
    try:
        done = subprocess.run(
            ["git", *args], cwd=ROOT, capture_output=True, text=True, timeout=10, check=True
        )
    except (OSError, subprocess.SubprocessError):
        return None
    return done.stdout.strip()


def machine_info() -> dict[str, Any]:
    return {
        "date_utc": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "cores": os.cpu_count(),
        "cores_usable": len(os.sched_getaffinity(0)),
        "cpu": _cpu_model(),
        "memory_gib": _memory_gib(),
        "platform": platform.platform(),
        "python": platform.python_version(),
        "versions": {p: _version(p) for p in PACKAGES},
        "git": _git("describe", "--always", "--dirty", "--abbrev=12"),
        "env": {k: os.environ[k] for k in _ENV_NOTED if k in os.environ},
        "load_average": [round(v, 2) for v in os.getloadavg()],
    }


def write_results(name: str, payload: dict[str, Any]) -> Path:
    RESULTS.mkdir(parents=True, exist_ok=True)
    path = RESULTS / f"{name}.json"
    document = {"benchmark": name, "machine": machine_info(), **payload}
    path.write_text(json.dumps(document, indent=2, default=_json_default) + "\n")
    return path


def _json_default(value: Any) -> Any:
    if isinstance(value, np.generic):
        return value.item()
    if hasattr(value, "__dataclass_fields__"):
        return asdict(value)
    raise TypeError(f"not JSON serialisable: {type(value).__name__}")


@dataclass
class Target:
    name: str
    value: float
    op: str  # ">=", "<=", "==", ">"
    threshold: float

    @property
    def met(self) -> bool:
        ops: dict[str, Callable[[float, float], bool]] = {
            ">=": lambda a, b: a >= b,
            "<=": lambda a, b: a <= b,
            ">": lambda a, b: a > b,
            "==": lambda a, b: a == b,
        }
        return ops[self.op](self.value, self.threshold)

    @classmethod
    def from_json(cls, entry: dict[str, Any]) -> Target:
        op, threshold = entry["target"].split(" ", 1)
        return cls(entry["name"], entry["value"], op, float(threshold))

    def to_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "value": self.value,
            "target": f"{self.op} {self.threshold:g}",
            "met": self.met,
        }


def print_table(title: str, headers: list[str], rows: list[list[Any]]) -> None:
    cells = [[_cell(v) for v in row] for row in rows]
    widths = [max(len(h), *(len(r[i]) for r in cells)) for i, h in enumerate(headers)]
    print(f"\n{title}")
    print("  ".join(h.ljust(w) for h, w in zip(headers, widths, strict=True)))
    print("  ".join("-" * w for w in widths))
    for row in cells:
        print("  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)))


def print_timings(
    title: str, timings: dict[str, Timing], rows: int | None = None, setup: bool = False
) -> None:
    """Best, median and least CPU of each contender; the server's CPU where measured,
    rows/s when ``rows`` is given, the load of other processes, and its setup (note)."""
    server = any(t.server_cpu for t in timings.values())
    print_table(
        title,
        [
            "contender",
            "best s",
            "median s",
            "CPU s",
            *(["server CPU s"] if server else []),
            *(["rows/s"] if rows else []),
            "others cores",
            *(["setup"] if setup else []),
        ],
        [
            [
                t.name,
                t.best,
                t.median,
                min(t.cpu),
                *([min(t.server_cpu)] if server else []),
                *([round(rows / t.best)] if rows else []),
                f"{min(t.others_cores):.1f}-{max(t.others_cores):.1f}",
                *([t.note] if setup else []),
            ]
            for t in timings.values()
        ],
    )


def print_targets(targets: list[Target]) -> None:
    print_table(
        "Targets",
        ["target", "value", "wanted", "met"],
        [[t.name, t.value, f"{t.op} {t.threshold:g}", "yes" if t.met else "NO"] for t in targets],
    )


def _cell(value: Any) -> str:
    if isinstance(value, float):
        if value != 0 and (abs(value) < 1e-3 or abs(value) >= 1e6):
            return f"{value:.3g}"
        return f"{value:,.3f}"
    if isinstance(value, int) and not isinstance(value, bool):
        return f"{value:,}"
    return str(value)
