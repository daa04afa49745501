"""Part of ``benchmarks.predict_postgres``: per-row calls and the parity of every path.

- d. ``SELECT avg(m_fn(x0, ..., x19)) FROM t`` from plain psycopg (m_fn is the model's
  FUNCTION: it answers the label), serial and with parallel workers (counted by
  ``WorkerWatch``), and the LIMIT shape through the sqlml client (``per_row_contenders``);
- e. parity of the batch path, the per-row functions (sqlml's per-row PREDICT_PROBA
  function, and m_fn's labels), onnxruntime alone and the round trip (``check_parity``).
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

import numpy as np

from benchmarks._postgres import copy_out, parse_copy
from benchmarks.predict_postgres_batch import COLUMNS, LIMIT_SQL

ROW_SQL = f"SELECT avg(m_fn({COLUMNS})) FROM t"
ROW_SERIAL = "per-row m_fn, serial"
ROW_PARALLEL = "per-row m_fn, parallel workers"
ROW_LIMIT = "PREDICT_PROBA via client LIMIT (rows picked, then batch)"
PARALLEL_SETTINGS = (
    "max_parallel_workers_per_gather = 2",
    "parallel_setup_cost = 0",
    "parallel_tuple_cost = 0",
)


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


def per_row_connections(dsn: str) -> tuple[Any, Any]:
    """Two plain connections, serial and parallel, each warmed up (the model loaded)."""
    import psycopg

    serial = psycopg.connect(dsn, autocommit=True)
    parallel = psycopg.connect(dsn, autocommit=True)
    for conn in (serial, parallel):
        conn.execute("SET synchronize_seqscans = off")
    serial.execute("SET max_parallel_workers_per_gather = 0")
    for setting in PARALLEL_SETTINGS:
        parallel.execute(f"SET {setting}")
    warm = f"SELECT avg(m_fn({COLUMNS})) FROM (SELECT * FROM t LIMIT 100) s"
    for conn in (serial, parallel):
        conn.execute(warm).fetchall()
    return serial, parallel


def explain_plan(conn: Any, sql: str) -> list[str]:
    return [r[0] for r in conn.execute(f"EXPLAIN {sql}").fetchall()]


def per_row_contenders(
    dsn: str, con: Any, serial: Any, parallel: Any, rows: int
) -> tuple[dict[str, Callable[[], Any]], dict[str, str], dict[str, list[str]], dict]:
    """d: (contenders, notes, plans, worker watches); close the watches when done."""
    limit_sql = LIMIT_SQL.format(n=rows)
    plans = {
        ROW_SERIAL: explain_plan(serial, ROW_SQL),
        ROW_PARALLEL: explain_plan(parallel, ROW_SQL),
        ROW_LIMIT: [r[0] for r in con.execute(f"EXPLAIN {limit_sql}").fetchall()],
    }
    watches = {
        ROW_SERIAL: WorkerWatch(dsn, serial.info.backend_pid),
        ROW_PARALLEL: WorkerWatch(dsn, parallel.info.backend_pid),
        ROW_LIMIT: WorkerWatch(dsn, con.backend.conn.info.backend_pid),
    }
    contenders = {
        ROW_SERIAL: watches[ROW_SERIAL].wrap(lambda: serial.execute(ROW_SQL).fetchall()),
        ROW_PARALLEL: watches[ROW_PARALLEL].wrap(lambda: parallel.execute(ROW_SQL).fetchall()),
        ROW_LIMIT: watches[ROW_LIMIT].wrap(lambda: con.execute(limit_sql).fetchall()),
    }
    notes = {
        ROW_SERIAL: f"plain psycopg, max_parallel_workers_per_gather = 0: {ROW_SQL}",
        ROW_PARALLEL: "plain psycopg, max_parallel_workers_per_gather = 2, "
        f"parallel_setup_cost = parallel_tuple_cost = 0: {ROW_SQL}",
        ROW_LIMIT: f"sqlml client, server defaults: {limit_sql}",
    }
    return contenders, notes, plans, watches


# -- parity ----------------------------------------------------------------------------------


def check_parity(
    raw: Any,
    serial: Any,
    ort_probabilities: np.ndarray,
    client: np.ndarray | None,
    parity_rows: int,
    classes: list,
) -> dict[str, Any]:
    """Probabilities of the larger class compared row by row (rows in the table's order):
    the batch CTAS's table ``out`` (read over ``raw``), ORT alone, the round trip's
    ``client`` scores, and on the first ``parity_rows`` rows sqlml's per-row PREDICT_PROBA
    function (what a join or a WHERE on a prediction calls); the FUNCTION m_fn's labels
    against the labels of ORT's probabilities (argmax, as sqlml)."""
    from sqlml._udfs_loader import udfs

    (batch,) = parse_copy(copy_out(raw, "SELECT p FROM out"), [8])
    batch = batch.astype(np.float64)
    proba_fn = "sqlml." + udfs.naming.predict_function("m", proba=True)
    per_row, per_row_labels = parse_copy(
        copy_out(
            serial,
            f"SELECT {proba_fn}({COLUMNS}), m_fn({COLUMNS}) "
            f"FROM (SELECT * FROM t LIMIT {parity_rows}) s",
        ),
        [8, 4],
    )
    per_row = per_row.astype(np.float64)

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
        "m_fn_labels_vs_ort_alone_argmax": compare(per_row_labels.astype(np.int64), ort_labels),
    }
    if client is not None:
        out["round_trip_vs_batch"] = compare(client, batch)
    return out
