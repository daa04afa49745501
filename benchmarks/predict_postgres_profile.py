"""Part of ``benchmarks.predict_postgres`` (unless ``--skip-profile``): where the time goes.

- the batch path, on the SQL sqlml's rewrite emits today (sqlml/predict/batch.py): the
  chunks are built (a scan, and packing each chunk's numbers with ``sqlml.array_bytes``),
  the batch function scores each chunk (a PL/Python call, reading the packed chunk,
  onnxruntime, the answer's float8[] bytes) and the answers are unpacked
  (``sqlml.float8_array``, unnest, avg). Each part is timed on its own, with the chunks
  precomputed into an unlogged table and scratch functions in schema ``bench`` (nothing of
  sqlml's is changed); also the same query with larger chunks;
- the per-row path: PL/Python's own cost per call, step by step up to the model's FUNCTION,
  and one-row onnxruntime calls in this process.
"""

from __future__ import annotations

import base64
import json
import re
import sys
import time
from collections.abc import Callable
from typing import Any

import numpy as np

from benchmarks._harness import print_table
from benchmarks._onnxruntime import session
from benchmarks._postgres import bench_schema, server_prelude
from benchmarks.predict_postgres_batch import AVG_SQL, COLUMNS, FEATURES

_ACTUAL = re.compile(r"actual time=([\d.]+)\.\.([\d.]+) rows=(\d+) loops=(\d+)")
# The rewritten query's parts: its chunks (a generate_series of block ranges, each packed by
# a LATERAL aggregate), and the one batch call whose float8[] bytes are unnested.
_CHUNKS = re.compile(r"\bFROM (GENERATE_SERIES\(.*AS _sqlml_chunks)\) AS _sqlml_scored", re.S)
_CALL = re.compile(
    r'UNNEST\(sqlml\.float8_array\(sqlml\."?\w+"?\(_sqlml_n, _sqlml_num1, _sqlml_cat1\)\)\)', re.I
)
_PACKING = re.compile(r'LATERAL \(SELECT .*? FROM t AS "t" WHERE', re.S)
_ARGUMENTS = "n integer, numbers bytea, texts text[]"
# Scratch functions that reach into the scoring module sqlml's batch functions hand off to.
_SCORING = "import time\nfrom sqlml._udfs_loader import udfs\nscoring = udfs.pg_scoring\n"

SCAN = "scan + count per chunk (no packing)"
PACK = "scan + packing: sqlml.array_bytes(array_agg(ARRAY[coalesce(x::real, 'NaN'), ...]))"
WHOLE = "sqlml.float8_array(batch function) + unnest + avg"
ALONE = "batch function alone (answers as float8[] bytes)"
NOOP = "no-op PL/Python function, same arguments"


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
        self.prelude = server_prelude(self.raw)
        bench_schema(self.raw)

    def plpython(self, name: str, arguments: str, returns: str, body: str) -> None:
        self.raw.execute(
            f"CREATE OR REPLACE FUNCTION bench.{name}({arguments}) RETURNS {returns} "
            f"LANGUAGE plpython3u STABLE PARALLEL SAFE AS $bench$\n{self.prelude}\n"
            f"{body}\n$bench$"
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

    def batch(self, rewritten: str) -> dict[str, Any]:
        """The breakdown of the batch avg query, ``rewritten`` as sqlml sends it."""
        out: dict[str, Any] = {}
        print("  profile: EXPLAIN ANALYZE of the batch query", file=sys.stderr)
        plan = [r[0] for r in self.con.execute(f"EXPLAIN ANALYZE {AVG_SQL}").fetchall()]
        out["explain_analyze"] = {"plan": plan, **explain_analyze_summary(plan)}
        found = _CHUNKS.search(rewritten)
        scan_only = _PACKING.sub(
            "LATERAL (SELECT CAST(COUNT(*) AS INT) AS _sqlml_n, sum(x0) AS _sqlml_s, "
            'NULL::bytea AS _sqlml_num1 FROM t AS "t" WHERE',
            found.group(1) if found else "",
            count=1,
        )
        if (
            found is None
            or not _CALL.search(rewritten)
            or "sqlml.array_bytes(" not in rewritten.lower()
            or scan_only == found.group(1)
        ):
            out["note"] = "the rewritten SQL has another shape: no breakdown"
            return out
        chunks = found.group(1)
        print("  profile: building the chunks", file=sys.stderr)
        out["chunks"] = self.time_queries(
            {
                SCAN: f"SELECT sum(_sqlml_n), sum(_sqlml_s) FROM {scan_only}",
                PACK: f"SELECT sum(_sqlml_n), sum(length(_sqlml_num1)) FROM {chunks}",
            }
        )
        over = self.function_over_chunks(chunks)
        out["function_over_chunks"] = over
        scan, packed = (out["chunks"][k]["best_s"] for k in (SCAN, PACK))
        whole, alone, noop = (over["queries"][k]["best_s"] for k in (WHOLE, ALONE, NOOP))
        inside = over["inside_function_s"]
        parts = {
            "chunks: scan + count": scan,
            "chunks: packing (sqlml.array_bytes)": packed - scan,
            "batch function: PL/Python call + bytea argument (no-op function)": noop,
            **{f"batch function: {k}": v for k, v in inside.items()},
            "batch function: the rest (prelude, handoff.call, bytea result)": (
                alone - noop - sum(inside.values())
            ),
            "unpacking: sqlml.float8_array + unnest + avg": whole - alone,
        }
        out["breakdown_s"] = {k: round(v, 4) for k, v in parts.items()}
        out["chunk_sizes"] = self.chunk_sizes(rewritten)
        return out

    def function_over_chunks(self, chunks: str) -> dict[str, Any]:
        """The batch function over the avg query's chunks, precomputed into bench.chunks
        (stored uncompressed): alone, with the unpacking, against a no-op function, and an
        instrumented copy of its body (udfs.pg_scoring.predict_batch, binary classifier)."""
        print("  profile: the batch function over precomputed chunks", file=sys.stderr)
        self.raw.execute("CREATE UNLOGGED TABLE bench.chunks (n int, num bytea)")
        self.raw.execute("ALTER TABLE bench.chunks ALTER COLUMN num SET STORAGE EXTERNAL")
        self.raw.execute(f"INSERT INTO bench.chunks SELECT _sqlml_n, _sqlml_num1 FROM {chunks}")
        n_chunks, n_rows = self.raw.execute("SELECT count(*), sum(n) FROM bench.chunks").fetchone()
        payload = base64.b64encode(self.onnx).decode()
        meta = json.dumps(self.model.metadata)
        self.plpython("noop", _ARGUMENTS, "bytea", "return b''")
        self.plpython(
            "timed",
            _ARGUMENTS,
            "bytea",
            _SCORING + "acc = GD.setdefault('bench_stages', [0.0, 0.0, 0.0, 0])\n"
            "t0 = time.perf_counter()\n"
            f"predictor = scoring._predictor(GD, {self.model.onnx_sha256!r}, {payload!r}, "
            f"{meta!r}, threads=scoring.BATCH_THREADS)\n"
            "matrix = scoring._real_matrix(numbers, n)\n"
            "t1 = time.perf_counter()\n"
            "scores = predictor.scores_from_inputs({udfs.features.NUMERIC_INPUT: matrix})\n"
            "t2 = time.perf_counter()\n"
            "answer = scoring._float8_array(scores[:, 1])\n"
            "t3 = time.perf_counter()\n"
            "acc[0] += t1 - t0; acc[1] += t2 - t1; acc[2] += t3 - t2; acc[3] += 1\n"
            "return answer",
        )
        self.plpython(
            "stages", "", "double precision[]", "return GD.get('bench_stages', [0, 0, 0, 0])"
        )
        self.plpython("reset", "", "void", "GD['bench_stages'] = [0.0, 0.0, 0.0, 0]")
        call = f"{self.batch_fn}(n, num, NULL)"
        queries = self.time_queries(
            {
                WHOLE: f"SELECT avg(p) FROM (SELECT unnest(sqlml.float8_array({call})) AS p "
                "FROM bench.chunks) s",
                ALONE: f"SELECT sum(length({call})) FROM bench.chunks",
                NOOP: "SELECT sum(length(bench.noop(n, num, NULL))) FROM bench.chunks",
            }
        )
        self.raw.execute("SELECT bench.reset()")
        start = time.perf_counter()
        self.raw.execute("SELECT sum(length(bench.timed(n, num, NULL))) FROM bench.chunks")
        wall = time.perf_counter() - start
        parse_s, ort_s, answer_s, calls = self.raw.execute("SELECT bench.stages()").fetchone()[0]
        return {
            "chunks": n_chunks,
            "rows": n_rows,
            "queries": queries,
            "instrumented_run_s": round(wall, 3),
            "calls": int(calls),
            "inside_function_s": {
                "cache look-up + reading the packed chunk (_real_matrix)": round(parse_s, 3),
                "onnxruntime (scores_from_inputs)": round(ort_s, 3),
                "the answer's float8[] bytes (_float8_array)": round(answer_s, 3),
            },
        }

    def chunk_sizes(self, rewritten: str) -> dict[str, Any]:
        """The avg query as sqlml writes it and with chunks five times larger."""
        from sqlml.predict.batch import CHUNK_ROWS

        print("  profile: chunk sizes", file=sys.stderr)
        larger = rewritten.replace(f"{CHUNK_ROWS} * 16.0", f"{CHUNK_ROWS * 5} * 16.0")
        variants = {"sqlml as is": rewritten}
        if larger != rewritten:
            variants[f"chunks of {CHUNK_ROWS * 5:,} rows"] = larger
        answers: dict[str, Any] = {}
        return {
            "timings": self.time_queries(variants, answers),
            "same_answer_as_sqlml": {k: a == answers["sqlml as is"] for k, a in answers.items()},
        }

    # the per-row path

    def per_row(self, rows: int) -> dict[str, Any]:
        """µs a row, serial, from PL/Python's bare call up to the model's FUNCTION m_fn."""
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
        self.plpython("row_prelude", arguments, "float8", "return 0.5")
        self.plpython("row_call", arguments, "float8", "return handoff.call(plpy, lambda _: 0.5)")
        self.raw.execute("SET max_parallel_workers_per_gather = 0")
        try:
            sample = min(rows, 50_000)
            queries = {
                label: f"SELECT avg({fn}({COLUMNS})) FROM (SELECT * FROM t LIMIT {sample}) s"
                for label, fn in (
                    ("PL/Python, 20 float8 arguments, returns a constant", "bench.row_noop"),
                    ("+ a callable kept in SD (sqlml's body)", "bench.row_sd"),
                    ("+ sqlml's prelude on every call", "bench.row_prelude"),
                    ("+ prelude and handoff.call on every call", "bench.row_call"),
                    ("the model's FUNCTION m_fn", "m_fn"),
                )
            }
            for fn in ("bench.row_noop", "bench.row_sd", "m_fn"):
                self.raw.execute(f"SELECT {fn}({COLUMNS}) FROM t LIMIT 1")  # load the model
            timed = self.time_queries(queries)
        finally:
            self.raw.execute("RESET max_parallel_workers_per_gather")
        return {
            "rows": sample,
            "us_per_row": {k: round(v["best_s"] / sample * 1e6, 2) for k, v in timed.items()},
            "client_onnxruntime_single_row": single_row_latency(self.onnx, self.model.metadata),
        }


def single_row_latency(onnx: bytes, metadata: dict[str, Any], rows: int = 20_000) -> dict:
    """µs per one-row call in this process on the stored graph: ``session.run`` with a new
    input array and output list, a preallocated IOBinding, and sqlml's per-row scorer
    (udfs.pg_scoring.row_function) for probabilities and for labels."""
    import onnx as onnx_lib
    import onnxruntime as ort

    from sqlml._udfs_loader import udfs

    scorer = session(onnx, 1)
    values = np.random.default_rng(1).standard_normal((rows, FEATURES)).tolist()

    numbers = np.zeros((1, FEATURES), dtype=np.float32)
    scores = np.zeros((1, 2), dtype=np.float32)
    binding = scorer.io_binding()
    binding.bind_ortvalue_input("numeric", ort.OrtValue.ortvalue_from_numpy(numbers))
    binding.bind_ortvalue_output("probabilities", ort.OrtValue.ortvalue_from_numpy(scores))

    def run_fresh(row: list) -> None:
        scorer.run(["probabilities"], {"numeric": np.array([row], dtype=np.float32)})

    def run_bound(row: list) -> None:
        numbers[0] = row
        scorer.run_with_iobinding(binding)

    payload = base64.b64encode(onnx).decode()
    meta = json.dumps(metadata)
    contenders: dict[str, Callable[[list], Any]] = {
        "onnxruntime session.run, new arrays": run_fresh,
        "onnxruntime IOBinding, preallocated arrays": run_bound,
    }
    for proba in (True, False):
        label = f"sqlml row_function ({'probability' if proba else 'label'})"
        contenders[label] = udfs.pg_scoring.row_function(None, {}, "k", payload, meta, proba)
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


def print_profile(profile: dict[str, Any]) -> None:
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
    if "note" in batch:
        print(f"batch profile: {batch['note']}")
    if "breakdown_s" in batch:
        over = batch["function_over_chunks"]
        print_table(
            f"Profile: where the batch avg query's time goes ({over['rows']:,} rows in "
            f"{over['chunks']} chunks; best of runs, each part timed apart)",
            ["part", "s"],
            list(batch["breakdown_s"].items()),
        )
        sizes = batch["chunk_sizes"]
        print_table(
            "Profile: the batch avg query with other chunk sizes",
            ["variant", "best s", "runs", "same answer"],
            [
                [
                    k,
                    v["best_s"],
                    " ".join(f"{r:.2f}" for r in v["runs_s"]),
                    sizes["same_answer_as_sqlml"][k],
                ]
                for k, v in sizes["timings"].items()
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
