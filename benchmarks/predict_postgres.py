"""PREDICT inside PostgreSQL against onnxruntime alone, the client round trip and per-row calls.

    python -m benchmarks.predict_postgres [--rows 1000000] [--repeats 3] [--row-repeats 1]

In a scratch database (``--database``, dropped and created again, sqlml installed in it) on
the server of ``--dsn``: ``--rows`` rows x 20 float8 features and an int4 target (numpy seed
0, loaded by binary COPY), a LightGBM model ``CREATE MODEL m TARGET y USING lightgbm
FUNCTION m_fn OPTIONS (n_estimators = 100, num_leaves = 31, max_rows = 200000)``, then on
every row:

a. batch PREDICT through the sqlml client: ``SELECT avg(PREDICT_PROBA(m, *)) FROM t`` and
   ``CREATE TABLE out AS SELECT PREDICT_PROBA(m, *) AS p FROM t`` (checked to take the batch
   path: rewritten SQL and the functions' call counts);
b. onnxruntime alone on the same stored ONNX over a preloaded float32 matrix: one thread in
   10k-row and in large batches (the faster is the baseline), and two 2-thread setups (the
   baseline of the parallel per-row run);
c. the client round trip: binary COPY out, numpy, onnxruntime (1 thread), binary COPY of
   the predictions into a new table;
d. per-row calls: ``SELECT avg(m_fn(x0, ..., x19)) FROM t`` from plain psycopg (m_fn is the
   model's FUNCTION: it answers the label), serial and with parallel workers, and
   and ``SELECT avg(p) FROM (SELECT PREDICT_PROBA(m, *) AS p FROM t LIMIT n) s`` through the
   client (the rewrite picks the LIMIT's rows first, then scores them in chunks);
e. parity of batch, per-row (sqlml's per-row PREDICT_PROBA function, and m_fn's labels), ORT
   alone and the round trip on the same rows.

CPU seconds include the server's: the CPU of every child of the postmaster (the backend and
any parallel workers) is read from /proc around each run. Then (unless ``--skip-profile``)
the batch path and the per-row path are profiled, and a few changes are prototyped by hand
in the scratch database (schema ``bench``; nothing of sqlml's is changed): packing and
result conversion without per-value conversions, larger chunks, LIMIT as a subquery.

Writes benchmarks/results/predict_postgres.json.
"""

from __future__ import annotations

import argparse
import base64
import json
import os
import re
import struct
import sys
import threading
import time
from collections.abc import Callable
from typing import Any

import numpy as np
import pyarrow as pa

from benchmarks._harness import (
    Target,
    Timing,
    _machine_busy_seconds,
    _own_cpu_seconds,
    busy_warning,
    make_data,
    print_table,
    print_targets,
    status_mb,
    write_results,
)

NAME = "predict_postgres"
FEATURES = 20
ADMIN_DSN = "postgresql://postgres@127.0.0.1/postgres"
DATABASE = "sqlml_bench"
MODEL_SQL = (
    "CREATE MODEL m TARGET y USING lightgbm FUNCTION m_fn OPTIONS "
    "(n_estimators = 100, num_leaves = 31, max_rows = 200000) AS SELECT * FROM t"
)
AVG_SQL = "SELECT avg(PREDICT_PROBA(m, *)) FROM t"
CTAS_SQL = "CREATE TABLE out AS SELECT PREDICT_PROBA(m, *) AS p FROM t"
LIMIT_SQL = "SELECT avg(p) FROM (SELECT PREDICT_PROBA(m, *) AS p FROM t LIMIT {n}) s"
COLUMNS = ", ".join(f"x{i}" for i in range(FEATURES))
ROW_SQL = f"SELECT avg(m_fn({COLUMNS})) FROM t"
ORT_SMALL, ORT_LARGE = 10_000, 100_000

BATCH_AVG, BATCH_CTAS = "batch PREDICT_PROBA avg", "batch PREDICT_PROBA CTAS"
ORT_1_SMALL = f"ort 1 thread, batch {ORT_SMALL:,}"
ORT_1_LARGE = f"ort 1 thread, batch {ORT_LARGE:,}"
ORT_2_PY = f"ort 2 py threads x intra_op=1, batch {ORT_SMALL:,}"
ORT_2_INTRA = f"ort intra_op=2, batch {ORT_LARGE:,}"
ROUND_TRIP = "client round trip (COPY out, ORT 1 thread, COPY in)"
ROW_SERIAL = "per-row m_fn, serial"
ROW_PARALLEL = "per-row m_fn, parallel workers"
ROW_LIMIT = "PREDICT_PROBA via client LIMIT (rows picked, then batch)"

# -- the scratch database (train_postgres uses these too) -----------------------------------

COPY_SIGNATURE = b"PGCOPY\n\xff\r\n\x00"


def database_dsn(admin_dsn: str, database: str) -> str:
    """The admin URL with another database (sqlml.connect tells engines apart by URL)."""
    from urllib.parse import quote, urlsplit

    return urlsplit(admin_dsn)._replace(path="/" + quote(database)).geturl()


def create_database(admin_dsn: str, database: str) -> str:
    """Drop and create ``database``, install sqlml in it; its DSN."""
    import psycopg

    import sqlml.install

    with psycopg.connect(admin_dsn, autocommit=True) as conn:
        name = psycopg.sql.Identifier(database).as_string(conn)
        conn.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
        conn.execute(f"CREATE DATABASE {name}")
    dsn = database_dsn(admin_dsn, database)
    sqlml.install.install(dsn, report=lambda _: None)
    return dsn


def drop_database(admin_dsn: str, database: str) -> None:
    import psycopg

    with psycopg.connect(admin_dsn, autocommit=True) as conn:
        name = psycopg.sql.Identifier(database).as_string(conn)
        conn.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")


def copy_payload(columns: list[tuple[np.ndarray, str]]) -> bytes:
    """PostgreSQL's binary COPY format for NOT NULL fixed-width columns given as
    (values, big-endian numpy type such as '>f8' or '>i4')."""
    fields: list[tuple[str, str]] = [("count", ">i2")]
    for i, (_, kind) in enumerate(columns):
        fields += [(f"size{i}", ">i4"), (f"value{i}", kind)]
    rows = np.empty(len(columns[0][0]), dtype=np.dtype(fields))
    rows["count"] = len(columns)
    for i, (values, kind) in enumerate(columns):
        rows[f"size{i}"] = np.dtype(kind).itemsize
        rows[f"value{i}"] = values
    return COPY_SIGNATURE + struct.pack(">ii", 0, 0) + rows.tobytes() + struct.pack(">h", -1)


def copy_out(conn: Any, query: str) -> bytearray:
    """``COPY (query) TO STDOUT (FORMAT BINARY)``, all of it."""
    out = bytearray()
    with conn.cursor() as cursor, cursor.copy(f"COPY ({query}) TO STDOUT (FORMAT BINARY)") as copy:
        for data in copy:
            out += data
    return out


def parse_copy(buffer: bytes | bytearray, sizes: list[int]) -> list[np.ndarray]:
    """The columns of a binary COPY of NOT NULL fixed-width columns (byte sizes ``sizes``),
    as big-endian views into ``buffer`` (float8 for 8 bytes, int4 for 4)."""
    if bytes(buffer[:11]) != COPY_SIGNATURE:
        raise ValueError("not a binary COPY stream")
    start = 19 + struct.unpack_from(">i", buffer, 15)[0]
    width = 2 + sum(4 + s for s in sizes)
    n = (len(buffer) - start - 2) // width
    if start + n * width + 2 != len(buffer) or bytes(buffer[-2:]) != b"\xff\xff":
        raise ValueError("unexpected binary COPY layout (NULLs or variable-width values?)")
    if (np.ndarray((n,), ">i2", buffer, start, (width,)) != len(sizes)).any():
        raise ValueError("unexpected field count")
    columns, offset = [], start + 2
    for size in sizes:
        if (np.ndarray((n,), ">i4", buffer, offset, (width,)) != size).any():
            raise ValueError("a NULL or a value of another size")
        kind = {8: ">f8", 4: ">i4"}[size]
        columns.append(np.ndarray((n,), kind, buffer, offset + 4, (width,)))
        offset += 4 + size
    return columns


def copy_out_matrix(conn: Any, query: str, width: int) -> np.ndarray:
    """A query of ``width`` NOT NULL float8 columns as one float32 [n, width] matrix."""
    buffer = copy_out(conn, query)
    start = 19 + struct.unpack_from(">i", buffer, 15)[0]
    columns = parse_copy(buffer, [8] * width)  # checks the layout: no NULLs, all float8
    n = len(columns[0])
    # The float8 values as one strided [n, width] view, converted in one pass.
    values = np.ndarray((n, width), ">f8", buffer, start + 6, (2 + 12 * width, 12))
    return values.astype(np.float32)


def load_table(dsn: str, table: pa.Table, name: str = "t") -> float:
    """CREATE TABLE ``name`` (float8 / int4 columns), binary COPY, VACUUM ANALYZE; seconds."""
    import psycopg

    start = time.perf_counter()
    columns, definitions = [], []
    for field in table.schema:
        kind = ">i4" if pa.types.is_integer(field.type) else ">f8"
        definitions.append(f'"{field.name}" {"int4" if kind == ">i4" else "float8"} NOT NULL')
        columns.append((table.column(field.name).to_numpy(), kind))
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute(f'DROP TABLE IF EXISTS "{name}"')
        conn.execute(f'CREATE TABLE "{name}" ({", ".join(definitions)})')
        with (
            conn.cursor() as cursor,
            cursor.copy(f'COPY "{name}" FROM STDIN (FORMAT BINARY)') as cp,
        ):
            cp.write(copy_payload(columns))
        conn.execute(f'VACUUM ANALYZE "{name}"')
    return time.perf_counter() - start


def server_settings(conn: Any) -> dict[str, str]:
    names = (
        "server_version",
        "shared_buffers",
        "work_mem",
        "jit",
        "max_parallel_workers_per_gather",
        "max_parallel_workers",
        "synchronize_seqscans",
        "wal_level",
    )
    return {n: conn.execute(f"SHOW {n}").fetchone()[0] for n in names}


# -- the server's CPU --------------------------------------------------------------------


def _proc_stat(pid: int) -> list[str] | None:
    try:
        with open(f"/proc/{pid}/stat") as stat:
            return stat.read().rsplit(")", 1)[1].split()
    except OSError:
        return None


_CLK_TCK = os.sysconf("SC_CLK_TCK")


def process_cpu_seconds(pid: int) -> float:
    """utime + stime of a process (all its threads), from /proc."""
    fields = _proc_stat(pid)
    return (int(fields[11]) + int(fields[12])) / _CLK_TCK if fields else float("nan")


def process_peak_rss_mb(pid: int) -> float:
    """VmHWM: the process's peak resident set."""
    return status_mb(f"/proc/{pid}/status", "VmHWM") or float("nan")


def process_rss_mb(pid: int) -> float:
    return status_mb(f"/proc/{pid}/status") or float("nan")


class ServerCpu:
    """CPU seconds of the whole PostgreSQL server: the postmaster's children (backends,
    parallel workers, background processes) plus what the postmaster has reaped."""

    def __init__(self, backend_pid: int):
        fields = _proc_stat(backend_pid)
        self.postmaster = int(fields[1]) if fields else None

    @property
    def available(self) -> bool:
        return self.postmaster is not None

    def seconds(self) -> float:
        if self.postmaster is None:
            return 0.0
        own = _proc_stat(self.postmaster)
        ticks = sum(int(v) for v in own[11:15]) if own else 0  # utime stime cutime cstime
        for entry in os.scandir("/proc"):
            if entry.name.isdigit():
                fields = _proc_stat(int(entry.name))
                if fields and int(fields[1]) == self.postmaster:
                    ticks += int(fields[11]) + int(fields[12])
        return ticks / _CLK_TCK


def measure_with_server(
    contenders: dict[str, Callable[[], Any]],
    repeats: int,
    notes: dict[str, str],
    server: ServerCpu,
) -> tuple[dict[str, Timing], dict[str, list[float]]]:
    """Like _harness.measure (interleaved rounds), but a run's CPU is this process's plus the
    server's, and "others" excludes the server's CPU too. Also returns the server's CPU."""
    timings = {name: Timing(name, note=notes.get(name, "")) for name in contenders}
    server_cpu: dict[str, list[float]] = {name: [] for name in contenders}
    for round_ in range(repeats):
        for name, run in contenders.items():
            busy, own, srv = _machine_busy_seconds(), _own_cpu_seconds(), server.seconds()
            start = time.perf_counter()
            run()
            elapsed = time.perf_counter() - start
            srv = server.seconds() - srv
            own = _own_cpu_seconds() - own
            others = max((_machine_busy_seconds() - busy) - own - srv, 0.0) / elapsed
            timings[name].runs.append(elapsed)
            timings[name].cpu.append(own + srv)
            timings[name].others_cores.append(round(others, 2))
            server_cpu[name].append(round(srv, 3))
            print(
                f"  [{round_ + 1}/{repeats}] {name}: {elapsed:.3f} s, CPU {own + srv:.2f} s "
                f"(server {srv:.2f} s; others: {others:.1f} cores)",
                file=sys.stderr,
                flush=True,
            )
    return timings, server_cpu


class WorkerWatch:
    """Counts the parallel workers of a leader backend while a query runs, by polling
    pg_stat_activity from another connection."""

    def __init__(self, dsn: str, leader_pid: int, interval: float = 0.2):
        import psycopg

        self._conn = psycopg.connect(dsn, autocommit=True)
        self.leader_pid = leader_pid
        self.interval = interval
        self.most = 0
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def _poll(self) -> None:
        while not self._stop.is_set():
            (count,) = self._conn.execute(
                "SELECT count(*) FROM pg_stat_activity "
                "WHERE leader_pid = %s AND pid <> %s AND backend_type = 'parallel worker'",
                [self.leader_pid, self.leader_pid],
            ).fetchone()
            self.most = max(self.most, int(count))
            self._stop.wait(self.interval)

    def wrap(self, run: Callable[[], Any]) -> Callable[[], Any]:
        def watched() -> Any:
            self._stop.clear()
            self._thread = threading.Thread(target=self._poll, daemon=True)
            self._thread.start()
            try:
                return run()
            finally:
                self._stop.set()
                self._thread.join()

        return watched

    def close(self) -> None:
        self._conn.close()


# -- contenders ----------------------------------------------------------------------------


def round_trip(conn: Any, onnx: bytes, batch: int, keep: dict[str, Any]) -> Callable:
    """What a user writes: binary COPY out → float32 matrix → onnxruntime (1 thread) →
    binary COPY of the probabilities into a new table. ``keep`` gets the last scores and
    each run's stage seconds."""
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.intra_op_num_threads = 1
    options.inter_op_num_threads = 1
    session = ort.InferenceSession(onnx, sess_options=options, providers=["CPUExecutionProvider"])
    feed = session.get_inputs()[0].name

    def run() -> None:
        start = time.perf_counter()
        matrix = copy_out_matrix(conn, f"SELECT {COLUMNS} FROM t", FEATURES)
        fetched = time.perf_counter()
        scores = np.concatenate(
            [
                session.run(["probabilities"], {feed: matrix[i : i + batch]})[0][:, 1]
                for i in range(0, len(matrix), batch)
            ]
        ).astype(np.float64)
        scored = time.perf_counter()
        conn.execute("DROP TABLE IF EXISTS out_client")
        conn.execute("CREATE TABLE out_client (p float8)")
        with (
            conn.cursor() as cursor,
            cursor.copy("COPY out_client FROM STDIN (FORMAT BINARY)") as copy,
        ):
            copy.write(copy_payload([(scores, ">f8")]))
        keep["scores"] = scores
        keep.setdefault("stages", []).append(
            {
                "COPY out + parse to float32": round(fetched - start, 3),
                "onnxruntime": round(scored - fetched, 3),
                "CREATE TABLE + COPY in": round(time.perf_counter() - scored, 3),
            }
        )

    return run


def batch_check(con: Any, rows: int) -> dict[str, Any]:
    """Which path each query shape takes: its rewritten SQL, and the call counts of the
    model's functions inside one transaction (pg_stat_get_xact_function_calls, with
    track_functions = 'pl'), which is rolled back. Also times the first (cold) batch run."""
    from sqlml._udfs_loader import udfs

    raw = con.backend.conn
    names = {
        "batch": udfs.naming.predict_function("m", proba=True, batch=True),
        "per_row": udfs.naming.predict_function("m", proba=True),
    }
    shapes = {"avg": AVG_SQL, "ctas": CTAS_SQL, "limit": LIMIT_SQL.format(n=rows)}
    rewritten = {k: con._engine_sql(con._dialect.parse(sql)[0]) for k, sql in shapes.items()}
    out: dict[str, Any] = {
        "functions": names,
        "rewritten_uses": {
            shape: {kind: name in sql for kind, name in names.items()}
            for shape, sql in rewritten.items()
        },
        "rewritten_avg_sql": rewritten["avg"],
    }
    oids = dict(
        raw.execute(
            "SELECT p.proname, p.oid FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace "
            "WHERE n.nspname = 'sqlml' AND p.proname = ANY(%s)",
            [list(names.values())],
        ).fetchall()
    )

    def calls() -> dict[str, int]:
        return {
            kind: int(
                raw.execute(
                    "SELECT coalesce(pg_stat_get_xact_function_calls(%s), 0)", [oids[name]]
                ).fetchone()[0]
            )
            for kind, name in names.items()
        }

    con.execute("BEGIN")
    try:
        con.execute("SET LOCAL track_functions = 'pl'")
        start = time.perf_counter()
        con.execute(AVG_SQL).fetchall()
        out["cold_first_batch_avg_s"] = round(time.perf_counter() - start, 3)
        after_avg = calls()
        con.execute(CTAS_SQL.replace("TABLE out", "TABLE out_check"))
        after_ctas = calls()
        # Serial here: a parallel worker's calls are not counted in this transaction.
        con.execute("SET LOCAL max_parallel_workers_per_gather = 0")
        con.execute(LIMIT_SQL.format(n=1000)).fetchall()
        after_limit = calls()
    finally:
        con.execute("ROLLBACK")
    out["calls"] = {
        "avg": after_avg,
        "ctas": {k: after_ctas[k] - after_avg[k] for k in names},
        "limit_1000": {k: after_limit[k] - after_ctas[k] for k in names},
    }
    out["batch_path_taken"] = (
        after_avg["batch"] > 0
        and after_avg["per_row"] == 0
        and out["calls"]["ctas"]["batch"] > 0
        and out["calls"]["ctas"]["per_row"] == 0
    )
    out["limit_takes_batch"] = (
        out["calls"]["limit_1000"]["batch"] > 0 and out["calls"]["limit_1000"]["per_row"] == 0
    )
    return out


def explain_plan(conn: Any, sql: str) -> list[str]:
    return [r[0] for r in conn.execute(f"EXPLAIN {sql}").fetchall()]


# -- parity ----------------------------------------------------------------------------------


def parity(
    batch: np.ndarray,
    ort_probabilities: np.ndarray,
    client: np.ndarray | None,
    per_row: np.ndarray,
    per_row_labels: np.ndarray,
    classes: list,
) -> dict[str, Any]:
    """Probabilities of the larger class compared row by row (rows in the table's order);
    the FUNCTION's labels against the labels of ORT's probabilities (argmax, as sqlml)."""

    def compare(a: np.ndarray, b: np.ndarray) -> dict[str, Any]:
        n = min(len(a), len(b))
        diff = np.abs(a[:n] - b[:n])
        return {
            "rows": n,
            "max_abs_diff": float(diff.max()) if n else None,
            "rows_differing": int((diff > 0).sum()),
        }

    ort_scores = ort_probabilities[:, 1].astype(np.float64)
    ort_labels = np.asarray(classes)[ort_probabilities.argmax(axis=1)]
    out = {
        "rows_batch": len(batch),
        "batch_vs_ort_alone": compare(batch, ort_scores),
        "per_row_proba_vs_batch": compare(per_row, batch),
        "per_row_proba_vs_ort_alone": compare(per_row, ort_scores),
        "m_fn_labels_vs_ort_alone_argmax": compare(per_row_labels, ort_labels),
    }
    if client is not None:
        out["round_trip_vs_batch"] = compare(client, batch)
    return out


# -- profile ---------------------------------------------------------------------------------

_ACTUAL = re.compile(r"actual time=([\d.]+)\.\.([\d.]+) rows=(\d+) loops=(\d+)")


def explain_analyze_summary(lines: list[str]) -> dict[str, Any]:
    """Inclusive milliseconds of the plan nodes that matter for the batch path."""
    nodes = []
    for line in lines:
        match = _ACTUAL.search(line)
        if match:
            label = line.split("(cost=")[0].replace("->", "").strip()
            total = float(match.group(2)) * int(match.group(4))
            nodes.append({"node": label, "total_ms": round(total, 1), "loops": int(match.group(4))})
    executed = next(
        (
            float(m.group(1))
            for line in lines
            if (m := re.search(r"Execution Time: ([\d.]+)", line))
        ),
        None,
    )

    def first(prefix: str, loops: int | None = None) -> float | None:
        for node in nodes:
            if node["node"].startswith(prefix) and (loops is None or node["loops"] > 1):
                return node["total_ms"]
        return None

    project = first("ProjectSet")
    chunks = first("Nested Loop")
    summary = {
        "execution_ms": executed,
        "project_set_ms": project,
        "chunks_nested_loop_ms": chunks,
        "chunk_aggregate_ms": first("Aggregate", loops=2),
        "tid_range_scans_ms": first("Tid Range Scan", loops=2),
        "nodes": nodes,
    }
    if project is not None and chunks is not None:
        summary["functions_and_unnest_ms"] = round(project - chunks, 1)
    return summary


class Profiler:
    """Scratch functions in schema ``bench`` of the benchmark database and timed queries."""

    def __init__(self, con: Any, repeats: int):
        from sqlml._udfs_loader import udfs

        self.con = con
        self.raw = con.backend.conn
        self.repeats = repeats
        self.model = con.backend.catalog.get("m")
        self.onnx = con.backend.catalog.onnx("m", self.model.version)
        self.batch_fn = "sqlml." + udfs.naming.predict_function("m", proba=True, batch=True)
        paths = self.raw.execute(
            "SELECT value FROM sqlml.catalog_info WHERE key = 'python_path'"
        ).fetchone()
        self.prelude = udfs.postgres.prelude(json.loads(paths[0]) if paths else [])
        self.raw.execute("DROP SCHEMA IF EXISTS bench CASCADE")
        self.raw.execute("CREATE SCHEMA bench")

    # helpers

    def predictor_line(self) -> str:
        onnx_b64 = base64.b64encode(self.onnx).decode()
        meta = json.dumps(self.model.metadata)
        return (
            f"predictor = handoff._predictor(GD, {self.model.onnx_sha256!r}, {onnx_b64!r}, "
            f"{meta!r}, threads=handoff.BATCH_THREADS)"
        )

    def plpython(
        self, name: str, arguments: str, returns: str, body: str, numpy: bool = True
    ) -> None:
        imports = "import numpy as np\n" if numpy else ""
        self.raw.execute(
            f"CREATE OR REPLACE FUNCTION bench.{name}({arguments}) RETURNS {returns} "
            f"LANGUAGE plpython3u STABLE PARALLEL SAFE AS $bench$\n{self.prelude}\n"
            f"{imports}{body}\n$bench$"
        )

    def time_queries(
        self, queries: dict[str, str], answers: dict[str, Any] | None = None
    ) -> dict[str, dict[str, Any]]:
        """``repeats`` timed runs of each query, interleaved (the model is loaded in this
        backend already); best and runs. ``answers`` gets each query's first result row."""
        runs: dict[str, list[float]] = {k: [] for k in queries}
        for _ in range(self.repeats):
            for label, sql in queries.items():
                start = time.perf_counter()
                result = self.raw.execute(sql).fetchall()
                runs[label].append(time.perf_counter() - start)
                if answers is not None:
                    answers.setdefault(label, result[0] if result else None)
        return {
            label: {"best_s": round(min(r), 3), "runs_s": [round(v, 3) for v in r]}
            for label, r in runs.items()
        }

    # the batch path

    def batch(self, rewritten: str, rows: int) -> dict[str, Any]:
        from sqlml.rewrite.batch import CHUNK_ROWS

        out: dict[str, Any] = {}
        print("  profile: EXPLAIN ANALYZE of the batch query", file=sys.stderr)
        plan = [r[0] for r in self.con.execute(f"EXPLAIN ANALYZE {AVG_SQL}").fetchall()]
        out["explain_analyze"] = {"plan": plan, **explain_analyze_summary(plan)}

        call = re.compile(r'UNNEST\((sqlml\."[^"]+")\((_sqlml_n, _sqlml_num1, _sqlml_cat1)\)\)')
        found = re.search(
            r"\bFROM (GENERATE_SERIES\(.*AS _sqlml_chunks)\) AS _sqlml_scored", rewritten, re.S
        )
        if not call.search(rewritten) or found is None or "ARRAY_SEND(" not in rewritten:
            out["note"] = "the rewritten SQL has another shape: no chunk-level profile"
            return out
        chunks = found.group(1)
        scan_only = re.sub(
            r'LATERAL \(SELECT .*? FROM t AS "t" WHERE',
            "LATERAL (SELECT CAST(COUNT(*) AS INT) AS _sqlml_n, sum(x0) AS _sqlml_s, "
            'NULL::bytea AS _sqlml_num1 FROM t AS "t" WHERE',
            chunks,
            count=1,
            flags=re.S,
        )
        # Identity functions in C: byteasend returns a copy of its argument's bytes, so
        # declared real[] → bytea it hands over an array's in-memory form (header, then the
        # float4 values, native byte order) with no per-value send function; declared
        # bytea → float8[] it does the reverse. The latter is NOT safe to expose: a crafted
        # bytea becomes an invalid array. Prototype only.
        self.raw.execute(
            "CREATE FUNCTION bench.array_bytes(real[]) RETURNS bytea LANGUAGE internal "
            "IMMUTABLE STRICT PARALLEL SAFE AS 'byteasend'"
        )
        self.raw.execute(
            "CREATE FUNCTION bench.float8_array(bytea) RETURNS float8[] LANGUAGE internal "
            "IMMUTABLE STRICT PARALLEL SAFE AS 'byteasend'"
        )
        print("  profile: packing the chunks", file=sys.stderr)
        packing = f"SELECT sum(_sqlml_n), sum(length(_sqlml_num1)) FROM {chunks}"
        out["packing"] = self.time_queries(
            {
                "scan + count per chunk (no packing)": (
                    f"SELECT sum(_sqlml_n), sum(_sqlml_s) FROM {scan_only}"
                    if scan_only != chunks
                    else "SELECT 1"
                ),
                "sqlml: array_send(array_agg(ARRAY[coalesce(x::real, NaN), ...]))": packing,
                "prototype: bench.array_bytes(array_agg(ARRAY[...])) (no per-value send)": (
                    packing.replace("ARRAY_SEND(", "bench.array_bytes(")
                ),
            }
        )

        print("  profile: the batch function over precomputed chunks", file=sys.stderr)
        self.raw.execute("CREATE UNLOGGED TABLE bench.chunks (n int, num bytea)")
        self.raw.execute("ALTER TABLE bench.chunks ALTER COLUMN num SET STORAGE EXTERNAL")
        self.raw.execute(f"INSERT INTO bench.chunks SELECT _sqlml_n, _sqlml_num1 FROM {chunks}")
        n_chunks, n_rows = self.raw.execute("SELECT count(*), sum(n) FROM bench.chunks").fetchone()
        arguments = "n integer, numbers bytea, texts text[]"
        self.plpython("noop", arguments, "double precision[]", "return []")
        self.plpython(
            "timed",
            arguments,
            "double precision[]",
            "import time\n"
            "acc = GD.setdefault('bench_stages', [0.0, 0.0, 0.0, 0])\n"
            "t0 = time.perf_counter()\n"
            f"{self.predictor_line()}\n"
            "matrix = handoff._real_matrix(numbers, n)\n"
            "t1 = time.perf_counter()\n"
            "scores = predictor.scores_from_inputs({handoff.NUMERIC_INPUT: matrix})\n"
            "t2 = time.perf_counter()\n"
            "answer = scores[:, 1].astype(np.float64).tolist()\n"
            "t3 = time.perf_counter()\n"
            "acc[0] += t1 - t0; acc[1] += t2 - t1; acc[2] += t3 - t2; acc[3] += 1\n"
            "return answer",
        )
        self.plpython(
            "stages", "", "double precision[]", "return GD.get('bench_stages', [0, 0, 0, 0])"
        )
        self.plpython("reset", "", "void", "GD['bench_stages'] = [0.0, 0.0, 0.0, 0]")
        over = "FROM bench.chunks"
        timed = self.time_queries(
            {
                "sqlml batch function + unnest + avg": (
                    f"SELECT avg(p) FROM (SELECT unnest({self.batch_fn}(n, num, NULL)) AS p "
                    f"{over}) s"
                ),
                "no-op PL/Python function, same arguments": (
                    f"SELECT sum(cardinality(bench.noop(n, num, NULL))) {over}"
                ),
            }
        )
        self.raw.execute("SELECT bench.reset()")
        start = time.perf_counter()
        self.raw.execute(
            f"SELECT avg(p) FROM (SELECT unnest(bench.timed(n, num, NULL)) AS p {over}) s"
        ).fetchall()
        wall = time.perf_counter() - start
        parse_s, ort_s, tolist_s, calls = self.raw.execute("SELECT bench.stages()").fetchone()[0]
        noop = timed["no-op PL/Python function, same arguments"]["best_s"]
        out["function_over_chunks"] = {
            "chunks": n_chunks,
            "rows": n_rows,
            "queries": timed,
            "instrumented_run_s": round(wall, 3),
            "inside_function_s": {
                "load + parse the packed chunk (_real_matrix)": round(parse_s, 3),
                "onnxruntime (scores_from_inputs)": round(ort_s, 3),
                "scores to a Python list": round(tolist_s, 3),
            },
            "calls": int(calls),
            "call_and_argument_overhead_s": noop,
            "result_conversion_unnest_avg_s": round(wall - parse_s - ort_s - tolist_s - noop, 3),
        }

        print("  profile: prototypes of the batch query", file=sys.stderr)
        native_parse = (
            "header = np.frombuffer(numbers, dtype=np.int32, count=3)\n"
            "assert header[1] == 0  # no NULL bitmap\n"
            "start = (16 + 8 * int(header[0]) + 7) // 8 * 8 - 4\n"
            "matrix = np.frombuffer(numbers, dtype=np.float32, offset=start).reshape(n, -1)\n"
        )
        be_parse = "matrix = handoff._real_matrix(numbers, n)\n"
        score = (
            f"{self.predictor_line()}\n"
            "scores = predictor.scores_from_inputs({handoff.NUMERIC_INPUT: matrix})[:, 1]\n"
        )
        as_list = "return scores.astype(np.float64).tolist()"
        # A float8[] in memory: ndim 1, no NULL bitmap, element type 701, n, lower bound 1.
        as_raw = (
            "header = np.array([1, 0, 701, n, 1], dtype=np.int32).tobytes()\n"
            "return header + scores.astype(np.float64).tobytes()"
        )
        self.plpython("native_in", arguments, "double precision[]", native_parse + score + as_list)
        self.plpython("raw_out", arguments, "bytea", be_parse + score + as_raw)
        self.plpython("both", arguments, "bytea", native_parse + score + as_raw)
        sqlml_sql = rewritten
        native = rewritten.replace("ARRAY_SEND(", "bench.array_bytes(")
        bigger = f"{CHUNK_ROWS * 5} * 16.0"
        variants = {
            "sqlml as is": sqlml_sql,
            "input: array_bytes instead of array_send": call.sub(
                r"UNNEST(bench.native_in(\2))", native
            ),
            "output: raw float8[] bytes instead of a list": call.sub(
                r"UNNEST(bench.float8_array(bench.raw_out(\2)))", sqlml_sql
            ),
            "input + output": call.sub(r"UNNEST(bench.float8_array(bench.both(\2)))", native),
            f"input + output, chunks of {CHUNK_ROWS * 5:,}": call.sub(
                r"UNNEST(bench.float8_array(bench.both(\2)))", native
            ).replace(f"{CHUNK_ROWS} * 16.0", bigger),
        }
        answers: dict[str, Any] = {}
        timings = self.time_queries(variants, answers)
        out["prototypes"] = {
            "timings": timings,
            "same_answer_as_sqlml": {k: a == answers["sqlml as is"] for k, a in answers.items()},
        }
        return out

    # LIMIT, written so that the batch path takes it

    def limit_as_subquery(self, rows: int) -> dict[str, Any]:
        """``… FROM t LIMIT n`` keeps PREDICT per row; the same rows as a subquery source,
        ``… FROM (SELECT * FROM t LIMIT n) t``, take the batch path (row-numbered chunks).
        Also timed: that rewritten SQL without the source columns it carries through the
        chunks (the outer query reads none of them)."""
        print("  profile: LIMIT as a subquery source", file=sys.stderr)
        query = (
            "SELECT avg(p) FROM (SELECT PREDICT_PROBA(m, *) AS p "
            f"FROM (SELECT * FROM t LIMIT {rows}) t) s"
        )
        rewritten = self.con._engine_sql(self.con._dialect.parse(query)[0])
        slim = re.sub(r'UNNEST\(_sqlml_c\d+\) AS "[^"]+", ', "", rewritten)
        slim = re.sub(r'ARRAY_AGG\("t"\."[^"]+"\) AS _sqlml_c\d+, ', "", slim)
        queries = {"as sqlml rewrites it": rewritten}
        if slim != rewritten and "_sqlml_c0" not in slim:
            queries["prototype: without the carried columns"] = slim
        answers: dict[str, Any] = {}
        return {
            "query": query,
            "batch_path": "proba_batch" in rewritten,
            "carried_columns": len(re.findall(r"UNNEST\(_sqlml_c\d+\)", rewritten)),
            "timings": self.time_queries(queries, answers),
            "answers": {k: v[0] if v else None for k, v in answers.items()},
        }

    # the per-row path

    def per_row(self, rows: int) -> dict[str, Any]:
        print("  profile: the per-row path", file=sys.stderr)
        arguments = ", ".join(f"a{i} double precision" for i in range(FEATURES))
        self.raw.execute(
            f"CREATE FUNCTION bench.row_noop({arguments}) RETURNS float8 LANGUAGE plpython3u "
            "STABLE PARALLEL SAFE AS $bench$\nreturn 0.5\n$bench$"
        )
        self.raw.execute(
            f"CREATE FUNCTION bench.row_sd({arguments}) RETURNS float8 LANGUAGE plpython3u "
            "STABLE PARALLEL SAFE AS $bench$\n"
            'f = SD.get("f")\nif f is None:\n    f = SD["f"] = lambda args: 0.5\n'
            "return f(args)\n$bench$"
        )
        self.plpython("row_prelude", arguments, "float8", "return 0.5", numpy=False)
        self.plpython(
            "row_call", arguments, "float8", "return handoff.call(plpy, lambda _: 0.5)", numpy=False
        )
        # The body sqlml wrote before row_function: prelude and handoff.call on every row.
        onnx_b64 = base64.b64encode(self.onnx).decode()
        meta = json.dumps(self.model.metadata)
        self.plpython(
            "row_old_body",
            arguments,
            "integer",
            f"return handoff.call(plpy, handoff.predict_row, GD, {self.model.onnx_sha256!r}, "
            f"{onnx_b64!r}, {meta!r}, args, False)",
            numpy=False,
        )
        self.raw.execute("SET max_parallel_workers_per_gather = 0")
        try:
            sample = min(rows, 50_000)
            queries = {
                label: f"SELECT avg({fn}({COLUMNS})) FROM (SELECT * FROM t LIMIT {sample}) s"
                for label, fn in (
                    ("PL/Python, 20 float8 arguments, returns a constant", "bench.row_noop"),
                    ("+ a callable kept in SD (sqlml's body)", "bench.row_sd"),
                    ("+ sqlml's prelude on every call (the former body)", "bench.row_prelude"),
                    ("+ prelude and handoff.call on every call", "bench.row_call"),
                    ("the model's FUNCTION m_fn", "m_fn"),
                    ("m_fn, former body (prelude, call, predict_row)", "bench.row_old_body"),
                )
            }
            for fn in ("bench.row_noop", "bench.row_sd", "m_fn", "bench.row_old_body"):
                self.raw.execute(f"SELECT {fn}({COLUMNS}) FROM t LIMIT 1")  # load the model
            timed = self.time_queries(queries)
        finally:
            self.raw.execute("RESET max_parallel_workers_per_gather")
        out: dict[str, Any] = {
            "rows": sample,
            "us_per_row": {k: round(v["best_s"] / sample * 1e6, 2) for k, v in timed.items()},
        }
        out["client_onnxruntime_single_row"] = single_row_latency(self.onnx, self.model.metadata)
        return out


def single_row_latency(onnx: bytes, metadata: dict[str, Any], rows: int = 20_000) -> dict:
    """µs per one-row call in this process on the stored graph: ``session.run`` with a new
    input array and output list (the former per-row path), a preallocated IOBinding, and
    sqlml's ``row_function`` (udfs/postgres.py) for probabilities and for labels."""
    import onnx as onnx_lib
    import onnxruntime as ort

    from sqlml._udfs_loader import udfs

    options = ort.SessionOptions()
    options.intra_op_num_threads = 1
    options.inter_op_num_threads = 1
    options.log_severity_level = 3
    session = ort.InferenceSession(onnx, options, ["CPUExecutionProvider"])
    values = np.random.default_rng(1).standard_normal((rows, FEATURES)).tolist()

    numbers = np.zeros((1, FEATURES), dtype=np.float32)
    scores = np.zeros((1, 2), dtype=np.float32)
    binding = session.io_binding()
    binding.bind_ortvalue_input("numeric", ort.OrtValue.ortvalue_from_numpy(numbers))
    binding.bind_ortvalue_output("probabilities", ort.OrtValue.ortvalue_from_numpy(scores))

    def run_fresh(row: list) -> None:
        session.run(["probabilities"], {"numeric": np.array([row], dtype=np.float32)})

    def run_bound(row: list) -> None:
        numbers[0] = row
        session.run_with_iobinding(binding)

    payload = base64.b64encode(onnx).decode()
    meta = json.dumps(metadata)
    contenders: dict[str, Callable[[list], Any]] = {
        "onnxruntime session.run, new arrays": run_fresh,
        "onnxruntime IOBinding, preallocated arrays": run_bound,
    }
    for proba in (True, False):
        label = f"sqlml row_function ({'probability' if proba else 'label'})"
        contenders[label] = udfs.postgres.row_function(None, {}, "k", payload, meta, proba)
    best: dict[str, float] = {}
    for _ in range(3):
        for label, run in contenders.items():
            start = time.perf_counter()
            for row in values:
                run(row)
            per = (time.perf_counter() - start) / rows * 1e6
            best[label] = min(best.get(label, 1e9), per)
    out: dict[str, Any] = {k: round(v, 2) for k, v in best.items()}
    out["graph_nodes"] = [n.op_type for n in onnx_lib.load_from_string(onnx).graph.node]
    return out


# -- main ------------------------------------------------------------------------------------


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--dsn", default=ADMIN_DSN, help="a superuser's DSN on the server")
    parser.add_argument("--database", default=DATABASE, help="scratch database (recreated)")
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--repeats", type=int, default=3, help="rounds of a-c")
    parser.add_argument("--row-repeats", type=int, default=1, help="rounds of d (slow)")
    parser.add_argument(
        "--parity-rows", type=int, default=100_000, help="rows of the per-row parity (0: all)"
    )
    parser.add_argument("--profile-repeats", type=int, default=2)
    parser.add_argument("--skip-profile", action="store_true")
    parser.add_argument("--keep", action="store_true", help="keep the scratch database")
    args = parser.parse_args(argv)

    # sqlml first, as in a user's process (it sets OMP_WAIT_POLICY before anything loads).
    import sqlml  # isort: skip
    import onnxruntime  # noqa: F401
    import psycopg

    from benchmarks.predict_duckdb import OrtBaseline
    from sqlml._udfs_loader import udfs

    others_at_start = busy_warning()
    started = time.perf_counter()
    print(f"creating database {args.database} and installing sqlml", file=sys.stderr)
    dsn = create_database(args.dsn, args.database)
    print(f"loading {args.rows:,} rows x {FEATURES} features (binary COPY)", file=sys.stderr)
    load_s = load_table(dsn, make_data(args.rows, FEATURES, seed=0))
    connections: list[Any] = []
    parity_rows = args.parity_rows or args.rows
    try:
        notices: list[tuple[float, str]] = []
        con = sqlml.connect(dsn, progress=lambda m: notices.append((time.perf_counter(), m)))
        raw = con.backend.conn
        # Scans start at block 0, so every reader sees the rows in the same order (parity).
        raw.execute("SET synchronize_seqscans = off")
        print("CREATE MODEL m (lightgbm, FUNCTION m_fn)", file=sys.stderr)
        start = time.perf_counter()
        con.execute(MODEL_SQL)
        train_s = time.perf_counter() - start
        train_notices = [[round(t - start, 3), m] for t, m in notices]
        model = con.backend.catalog.get("m")
        onnx = con.backend.catalog.onnx("m", model.version)
        settings = server_settings(raw)
        backend_pid = raw.execute("SELECT pg_backend_pid()").fetchone()[0]
        server = ServerCpu(backend_pid)

        print("checking the paths (cold first batch run)", file=sys.stderr)
        check = batch_check(con, args.rows)

        user = psycopg.connect(dsn, autocommit=True)  # the round trip's plain connection
        connections.append(user)
        user.execute("SET synchronize_seqscans = off")
        print("preloading the float32 matrix", file=sys.stderr)
        matrix = copy_out_matrix(user, f"SELECT {COLUMNS} FROM t", FEATURES)
        ort_setups = {
            ORT_1_SMALL: OrtBaseline(onnx, matrix, 1, batch=ORT_SMALL),
            ORT_1_LARGE: OrtBaseline(onnx, matrix, 1, batch=ORT_LARGE),
            ORT_2_PY: OrtBaseline(onnx, matrix, 1, batch=ORT_SMALL, python_threads=2),
            ORT_2_INTRA: OrtBaseline(onnx, matrix, 2, batch=ORT_LARGE),
        }
        kept: dict[str, Any] = {}

        def batch_avg() -> None:
            con.execute(AVG_SQL).fetchall()

        def batch_ctas() -> None:
            con.execute("DROP TABLE IF EXISTS out")
            con.execute(CTAS_SQL)

        contenders: dict[str, Callable[[], Any]] = {BATCH_AVG: batch_avg, BATCH_CTAS: batch_ctas}
        notes = {BATCH_AVG: AVG_SQL, BATCH_CTAS: f"DROP TABLE IF EXISTS out; {CTAS_SQL}"}
        for label, setup in ort_setups.items():
            contenders[label] = setup.run
            notes[label] = setup.setup
        contenders[ROUND_TRIP] = round_trip(user, onnx, ORT_LARGE, kept)
        notes[ROUND_TRIP] = (
            "psycopg binary COPY out -> numpy float32 -> onnxruntime intra_op=1, batch "
            f"{ORT_LARGE:,} -> binary COPY into a new table out_client"
        )
        print(f"timing a-c: {len(contenders)} contenders x {args.repeats}", file=sys.stderr)
        timings, server_cpu = measure_with_server(contenders, args.repeats, notes, server)

        # d. per-row calls, each connection warmed up (model loaded) first.
        serial = psycopg.connect(dsn, autocommit=True)
        parallel = psycopg.connect(dsn, autocommit=True)
        connections += [serial, parallel]
        for conn in (serial, parallel):
            conn.execute("SET synchronize_seqscans = off")
        serial.execute("SET max_parallel_workers_per_gather = 0")
        for setting in (
            "max_parallel_workers_per_gather = 2",
            "parallel_setup_cost = 0",
            "parallel_tuple_cost = 0",
        ):
            parallel.execute(f"SET {setting}")
        warm = f"SELECT avg(m_fn({COLUMNS})) FROM (SELECT * FROM t LIMIT 100) s"
        for conn in (serial, parallel):
            conn.execute(warm).fetchall()
        limit_sql = LIMIT_SQL.format(n=args.rows)
        plans = {
            ROW_SERIAL: explain_plan(serial, ROW_SQL),
            ROW_PARALLEL: explain_plan(parallel, ROW_SQL),
            ROW_LIMIT: [r[0] for r in con.execute(f"EXPLAIN {limit_sql}").fetchall()],
        }
        watches = {
            ROW_SERIAL: WorkerWatch(dsn, serial.info.backend_pid),
            ROW_PARALLEL: WorkerWatch(dsn, parallel.info.backend_pid),
            ROW_LIMIT: WorkerWatch(dsn, backend_pid),
        }
        row_contenders = {
            ROW_SERIAL: watches[ROW_SERIAL].wrap(lambda: serial.execute(ROW_SQL).fetchall()),
            ROW_PARALLEL: watches[ROW_PARALLEL].wrap(lambda: parallel.execute(ROW_SQL).fetchall()),
            ROW_LIMIT: watches[ROW_LIMIT].wrap(lambda: con.execute(limit_sql).fetchall()),
        }
        row_notes = {
            ROW_SERIAL: f"plain psycopg, max_parallel_workers_per_gather = 0: {ROW_SQL}",
            ROW_PARALLEL: "plain psycopg, max_parallel_workers_per_gather = 2, "
            f"parallel_setup_cost = parallel_tuple_cost = 0: {ROW_SQL}",
            ROW_LIMIT: f"sqlml client, server defaults: {limit_sql}",
        }
        print(f"timing d (per-row): 3 contenders x {args.row_repeats}", file=sys.stderr)
        row_timings, row_server_cpu = measure_with_server(
            row_contenders, args.row_repeats, row_notes, server
        )
        workers = {label: watch.most for label, watch in watches.items()}
        for watch in watches.values():
            watch.close()
        timings.update(row_timings)
        server_cpu.update(row_server_cpu)

        print("parity", file=sys.stderr)
        (batch_scores,) = parse_copy(copy_out(raw, "SELECT p FROM out"), [8])
        ort_probabilities = ort_setups[ORT_1_SMALL].scores()
        # Per row: sqlml's per-row PREDICT_PROBA function (what a join or a WHERE on a
        # prediction calls) and the FUNCTION m_fn, which answers the label.
        proba_fn = "sqlml." + udfs.naming.predict_function("m", proba=True)
        row_proba, row_labels = parse_copy(
            copy_out(
                serial,
                f"SELECT {proba_fn}({COLUMNS}), m_fn({COLUMNS}) "
                f"FROM (SELECT * FROM t LIMIT {parity_rows}) s",
            ),
            [8, 4],
        )
        parity_result = parity(
            batch_scores.astype(np.float64),
            ort_probabilities,
            kept.get("scores"),
            row_proba.astype(np.float64),
            row_labels.astype(np.int64),
            model.metadata["classes"],
        )

        profile: dict[str, Any] | None = None
        if not args.skip_profile:
            print("profiling", file=sys.stderr)
            profiler = Profiler(con, args.profile_repeats)
            profile = {
                "batch": profiler.batch(check["rewritten_avg_sql"], args.rows),
                "limit_as_subquery": profiler.limit_as_subquery(args.rows),
                "per_row": profiler.per_row(args.rows),
            }
        server_peak_rss = process_peak_rss_mb(backend_pid)
        con.close()
    finally:
        for conn in connections:
            conn.close()
        if not args.keep:
            drop_database(args.dsn, args.database)

    report = summarise(timings, server_cpu, workers, parity_result, check, args.rows)
    payload = {
        "config": {
            "rows": args.rows,
            "features": FEATURES,
            "repeats": args.repeats,
            "row_repeats": args.row_repeats,
            "parity_rows": parity_rows,
            "model": MODEL_SQL,
            "batch_chunk_rows": _chunk_rows(),
            "batch_onnxruntime_threads": udfs.postgres.BATCH_THREADS,
            "omp_wait_policy": os.environ.get("OMP_WAIT_POLICY"),
            "server": settings,
            "server_cpu_measured": server.available,
            "load_s": round(load_s, 2),
            "train_s": round(train_s, 2),
            "train_notices_s": train_notices,
            "sqlml_backend_peak_rss_mb": round(server_peak_rss, 1),
            "others_cores_at_start": others_at_start,
            "total_s": round(time.perf_counter() - started, 1),
        },
        "path_check": check,
        "per_row_plans": plans,
        "timings": [
            {**t.to_json(), "server_cpu_s": server_cpu[name]} for name, t in timings.items()
        ],
        "round_trip_stages_s": kept.get("stages"),
        **report,
        "profile": profile,
    }
    path = write_results(NAME, payload)
    print_report(timings, server_cpu, report, check, args.rows)
    stages = kept.get("stages") or []
    if stages:
        runs = timings[ROUND_TRIP].runs
        best = stages[runs.index(min(runs))] if len(stages) == len(runs) else stages[-1]
        print_table("Client round trip, best run", ["stage", "s"], list(best.items()))
    print_table(
        "CREATE MODEL m (max_rows = 200000): sqlml's NOTICEs, seconds from the start",
        ["s", "message"],
        [*train_notices, [round(train_s, 3), "(returned)"]],
    )
    if profile is not None:
        print_profile(profile, args.rows)
    print(f"\nwrote {path}")
    return 0


def _chunk_rows() -> int:
    from sqlml.rewrite.batch import CHUNK_ROWS

    return CHUNK_ROWS


def _fastest(timings: dict[str, Timing], labels: list[str]) -> Timing:
    return min((timings[label] for label in labels), key=lambda t: t.best)


def _ratio(fast: Timing, slow: Timing) -> dict[str, float]:
    """fast / slow for best and median wall time and least CPU: a throughput ratio when
    ``fast`` is the baseline (1.0: as fast as the baseline)."""
    return {
        "best": round(fast.best / slow.best, 3),
        "median": round(fast.median / slow.median, 3),
        "cpu": round(min(fast.cpu) / min(slow.cpu), 3),
    }


def summarise(
    timings: dict[str, Timing],
    server_cpu: dict[str, list[float]],
    workers: dict[str, int],
    parity_result: dict[str, Any],
    check: dict[str, Any],
    rows: int,
) -> dict[str, Any]:
    ort1 = _fastest(timings, [ORT_1_SMALL, ORT_1_LARGE])
    ort2 = _fastest(timings, [ORT_1_SMALL, ORT_1_LARGE, ORT_2_PY, ORT_2_INTRA])
    avg, ctas, trip = timings[BATCH_AVG], timings[BATCH_CTAS], timings[ROUND_TRIP]

    def per_row_baseline(label: str) -> Timing:
        return ort2 if workers.get(label, 0) > 0 else ort1

    ratios: dict[str, Any] = {
        "ort_1thread_over_batch_avg": _ratio(ort1, avg),
        "ort_1thread_over_batch_ctas": _ratio(ort1, ctas),
        "batch_ctas_over_round_trip": _ratio(ctas, trip),
        "batch_avg_over_round_trip": _ratio(avg, trip),
        "ort_1thread_over_round_trip": _ratio(ort1, trip),
    }
    for label, key in (
        (ROW_SERIAL, "per_row_serial"),
        (ROW_PARALLEL, "per_row_parallel"),
        (ROW_LIMIT, "client_limit"),
    ):
        ratios[f"ort_over_{key}"] = {
            **_ratio(per_row_baseline(label), timings[label]),
            "baseline": per_row_baseline(label).name,
            "workers_launched": workers.get(label, 0),
        }
    targets = [
        Target(
            "a. batch avg: ORT 1 thread / batch",
            ratios["ort_1thread_over_batch_avg"]["best"],
            ">=",
            0.6,
        ),
        Target(
            "a. batch CTAS: ORT 1 thread / batch",
            ratios["ort_1thread_over_batch_ctas"]["best"],
            ">=",
            0.6,
        ),
        Target(
            "c. round trip / batch CTAS (batch faster)",
            round(1 / ratios["batch_ctas_over_round_trip"]["best"], 3),
            ">",
            1.0,
        ),
        Target(
            "d. per-row serial: ORT 1 thread / per-row",
            ratios["ort_over_per_row_serial"]["best"],
            ">=",
            0.3,
        ),
        Target(
            "d. per-row parallel: ORT 2 threads / per-row",
            ratios["ort_over_per_row_parallel"]["best"],
            ">=",
            0.3,
        ),
        Target(
            "a. client LIMIT (rows picked, then batch): ORT / it",
            ratios["ort_over_client_limit"]["best"],
            ">=",
            0.6,
        ),
        Target(
            "e. parity max |batch - ORT alone|",
            parity_result["batch_vs_ort_alone"]["max_abs_diff"],
            "<=",
            1e-6,
        ),
        Target(
            "e. parity max |per-row - batch|",
            parity_result["per_row_proba_vs_batch"]["max_abs_diff"],
            "<=",
            1e-6,
        ),
        Target(
            "e. m_fn labels differing from ORT's argmax",
            parity_result["m_fn_labels_vs_ort_alone_argmax"]["rows_differing"],
            "==",
            0,
        ),
        Target("path check: batch path taken", int(check["batch_path_taken"]), "==", 1),
    ]
    if "round_trip_vs_batch" in parity_result:
        targets.append(
            Target(
                "e. parity max |round trip - batch|",
                parity_result["round_trip_vs_batch"]["max_abs_diff"],
                "<=",
                1e-6,
            )
        )
    return {
        "baselines": {"ort_1_thread": ort1.name, "ort_2_threads": ort2.name},
        "rows_per_second": {label: round(rows / t.best) for label, t in timings.items()},
        "server_cpu_least_s": {label: min(v) for label, v in server_cpu.items()},
        "workers_launched": workers,
        "ratios": ratios,
        "parity": parity_result,
        "targets": [t.to_json() for t in targets],
    }


def print_report(
    timings: dict[str, Timing],
    server_cpu: dict[str, list[float]],
    report: dict[str, Any],
    check: dict[str, Any],
    rows: int,
) -> None:
    print_table(
        f"PREDICT in PostgreSQL, {rows:,} rows x {FEATURES} features (best / median of runs; "
        "CPU = client + whole server, least of runs)",
        ["contender", "best s", "median s", "CPU s", "server CPU s", "rows/s", "others cores"],
        [
            [
                t.name,
                t.best,
                t.median,
                min(t.cpu),
                min(server_cpu[name]),
                round(rows / t.best),
                f"{min(t.others_cores):.1f}-{max(t.others_cores):.1f}",
            ]
            for name, t in timings.items()
        ],
    )
    print_table(
        "Ratios (baseline time / contender time: 1.0 = as fast as the baseline)",
        ["ratio", "best", "median", "CPU", "note"],
        [
            [
                name,
                r["best"],
                r["median"],
                r["cpu"],
                f"vs {r['baseline']}, workers launched {r['workers_launched']}"
                if "baseline" in r
                else "",
            ]
            for name, r in report["ratios"].items()
        ],
    )
    calls = check["calls"]
    print_table(
        "Path check (function calls in one rolled-back transaction, track_functions = 'pl')",
        ["query", "batch function calls", "per-row function calls"],
        [
            [AVG_SQL, calls["avg"]["batch"], calls["avg"]["per_row"]],
            [CTAS_SQL, calls["ctas"]["batch"], calls["ctas"]["per_row"]],
            [
                LIMIT_SQL.format(n=1000),
                calls["limit_1000"]["batch"],
                calls["limit_1000"]["per_row"],
            ],
        ],
    )
    cold = check["cold_first_batch_avg_s"]
    print(f"cold first batch run (loads the model in the backend): {cold} s")
    parity_result = report["parity"]
    print_table(
        "Parity (probabilities as float8)",
        ["comparison", "rows", "max |diff|", "rows differing"],
        [
            [k, v["rows"], v["max_abs_diff"], v["rows_differing"]]
            for k, v in parity_result.items()
            if isinstance(v, dict)
        ],
    )
    print_targets([Target.from_json(t) for t in report["targets"]])


def print_profile(profile: dict[str, Any], rows: int) -> None:
    batch = profile["batch"]
    explain = batch.get("explain_analyze", {})
    print_table(
        "Profile: EXPLAIN ANALYZE of the batch avg query (ms, inclusive; timing adds overhead)",
        ["part", "ms"],
        [
            ["execution", explain.get("execution_ms")],
            ["chunks: TID range scans", explain.get("tid_range_scans_ms")],
            ["chunks: scan + aggregate/pack", explain.get("chunk_aggregate_ms")],
            ["chunks: nested loop (all chunk building)", explain.get("chunks_nested_loop_ms")],
            ["ProjectSet (chunks + batch function + unnest)", explain.get("project_set_ms")],
            ["=> batch function calls + unnest", explain.get("functions_and_unnest_ms")],
        ],
    )
    if "packing" in batch:
        print_table(
            "Profile: building the chunks alone (best s)",
            ["query", "best s"],
            [[k, v["best_s"]] for k, v in batch["packing"].items()],
        )
    over = batch.get("function_over_chunks")
    if over:
        inside = over["inside_function_s"]
        print_table(
            f"Profile: the batch function over {over['chunks']} precomputed chunks "
            f"({over['rows']:,} rows)",
            ["part", "s"],
            [
                *[[k, v["best_s"]] for k, v in over["queries"].items()],
                *[[f"inside: {k}", v] for k, v in inside.items()],
                ["call + bytea argument (no-op function)", over["call_and_argument_overhead_s"]],
                [
                    "list -> float8[] result, unnest, avg (the rest)",
                    over["result_conversion_unnest_avg_s"],
                ],
            ],
        )
    prototypes = batch.get("prototypes")
    if prototypes:
        print_table(
            "Profile: prototypes of the batch query (hand-written SQL, scratch functions)",
            ["variant", "best s", "runs", "same answer"],
            [
                [
                    k,
                    v["best_s"],
                    " ".join(f"{r:.2f}" for r in v["runs_s"]),
                    prototypes["same_answer_as_sqlml"][k],
                ]
                for k, v in prototypes["timings"].items()
            ],
        )
    limit = profile.get("limit_as_subquery")
    if limit:
        print_table(
            f"Profile: {limit['query']} (batch path: {limit['batch_path']}, "
            f"carries {limit['carried_columns']} columns)",
            ["variant", "best s", "runs"],
            [
                [k, v["best_s"], " ".join(f"{r:.2f}" for r in v["runs_s"])]
                for k, v in limit["timings"].items()
            ],
        )
    per_row = profile["per_row"]
    print_table(
        f"Profile: per-row calls, serial, {per_row['rows']:,} rows (µs per row)",
        ["function", "µs/row"],
        [
            *[[k, v] for k, v in per_row["us_per_row"].items()],
            *[
                [f"client: {k}", v]
                for k, v in per_row["client_onnxruntime_single_row"].items()
                if k != "graph_nodes"
            ],
        ],
    )


if __name__ == "__main__":
    sys.exit(main())
