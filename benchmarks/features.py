"""Feature tables: sqlml's point-in-time SQL against the join a user would write by hand.

    python -m benchmarks.features [--engine duckdb|postgres|both] [--spine-rows 1000000]
        [--feature-rows 10000000] [--keys 100000] [--repeats 3]

Data (numpy seed 0): a source table of ``--feature-rows`` rows, ``--keys`` entities x
(feature-rows / keys) timestamps (one a day from 2024-01-01, a per-entity hour offset; rows
arrive day by day, as a feature pipeline appends them), three float8 features a, b, c with
about 5 % / 0 % / 2 % NULLs. Then:

- ``CREATE FEATURE TABLE ft KEY entity_id TIMESTAMP ts AS SELECT * FROM src`` (timed; beside
  it, for reference, the bare CREATE TABLE AS + PRIMARY KEY a user would run) and the same
  with ``TTL INTERVAL '12 hours'`` (ft_ttl, unless --no-ttl);
- a. ``FEATURES_AT_TIME(ft, (SELECT entity_id, t FROM spine))`` over ``--spine-rows`` spine
  rows (t uniform over the data's range plus 3 days each side; 1 % of the keys unknown)
  against the hand-written ASOF LEFT JOIN (DuckDB) / LEFT JOIN LATERAL (... ORDER BY ts DESC
  LIMIT 1) (PostgreSQL), with sqlml's ORDER BY (the fair baseline: sqlml's output is
  ordered) and without. Both sides are materialised by CREATE TABLE AS;
- b. ``SELECT entity_id, PREDICT_PROBA(m, *) FROM today`` (``--keys`` keys, features as of
  now) and over ``today_asof`` (the AS OF column t present) for a model trained with
  ``FEATURES ft AS OF t``, against the hand-written lookup join followed by the same
  PREDICT_PROBA with explicit feature arguments, so the ratio isolates the lookup.

Every pair is checked to give the same rows (EXCEPT ALL both ways; PREDICT: the same
probability per key). Targets: sqlml / baseline <= 1.2 on best-of time, against the ordered
hand join. Writes benchmarks/results/features_<engine>.json.
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import pyarrow as pa

from benchmarks import _harness
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
from benchmarks._postgres import (
    ADMIN_DSN,
    ServerCpu,
    copy_table,
    create_database,
    drop_database,
    server_settings,
)

DATABASE = "sqlml_bench_features"
START = dt.datetime(2024, 1, 1)
TTL = "12 hours"  # under the daily spacing of the rows: the TTL blanks about half
FEATURES = ("a", "b", "c")
NULL_SHARE = {"a": 0.05, "b": 0.0, "c": 0.02}
LABEL_ROWS = 20_000
MODEL_SQL = (
    "CREATE MODEL m TARGET y FEATURES ft AS OF t OPTIONS (n_estimators = 50) "
    "AS SELECT entity_id, t, y FROM labels"
)
TARGET_RATIO = 1.2


# -- data ------------------------------------------------------------------------------------


@dataclass
class Data:
    source: pa.Table  # entity_id int32, ts timestamp[us], a, b, c float64 (nullable)
    spine: pa.Table  # entity_id, t
    label_spine: pa.Table  # entity_id, t (labels are computed from the features in SQL)
    today: pa.Table  # entity_id: every key once
    today_asof: pa.Table  # entity_id, t: every key once, at a random time
    days: int


def make_data(feature_rows: int, spine_rows: int, keys: int, seed: int = 0) -> Data:
    rng = np.random.default_rng(seed)
    days = max(feature_rows // keys, 1)
    n = days * keys
    entity = np.tile(np.arange(keys, dtype=np.int32), days)  # day-major: as appended
    offset_h = rng.integers(0, 24, keys)  # one per entity: (entity, ts) stays unique
    day = np.repeat(np.arange(days), keys)
    start_us = _epoch_us(START)
    ts = start_us + (day * 24 + offset_h[entity]) * 3_600_000_000
    columns: dict[str, Any] = {"entity_id": entity, "ts": pa.array(ts, pa.timestamp("us"))}
    for name in FEATURES:
        values = rng.standard_normal(n)
        mask = rng.random(n) < NULL_SHARE[name]
        columns[name] = pa.array(values, mask=mask)
    span_us = (days + 6) * 86_400_000_000  # 3 days either side: some rows find nothing

    def spine(rows: int, unknown: float) -> pa.Table:
        ids = rng.integers(0, int(keys / (1 - unknown)), rows).astype(np.int32)
        t = start_us - 3 * 86_400_000_000 + rng.integers(0, span_us, rows)
        return pa.table({"entity_id": ids, "t": pa.array(t, pa.timestamp("us"))})

    asof = start_us + rng.integers(0, days * 86_400_000_000, keys)
    return Data(
        source=pa.table(columns),
        spine=spine(spine_rows, 0.01),
        label_spine=spine(min(LABEL_ROWS, spine_rows), 0.0),
        today=pa.table({"entity_id": np.arange(keys, dtype=np.int32)}),
        today_asof=pa.table(
            {
                "entity_id": np.arange(keys, dtype=np.int32),
                "t": pa.array(asof, pa.timestamp("us")),
            }
        ),
        days=days,
    )


def _epoch_us(when: dt.datetime) -> int:
    return int((when - dt.datetime(1970, 1, 1)).total_seconds() * 1_000_000)


# -- engines ---------------------------------------------------------------------------------


class Engine:
    """What differs between DuckDB and PostgreSQL: loading, the hand-written joins."""

    name = ""

    def __init__(self, con: Any, raw: Any):
        self.con = con  # the sqlml connection
        self.raw = raw  # the engine's own connection, same session settings

    def run(self, sql: str) -> None:
        self.raw.execute(sql)

    def rows(self, sql: str) -> list[tuple]:
        return self.raw.execute(sql).fetchall()

    def load(self, name: str, table: pa.Table) -> None:
        raise NotImplementedError

    def source_query(self) -> str:
        return "SELECT * FROM src"

    def analyze(self, table: str) -> None:
        pass

    def settings(self) -> dict[str, Any]:
        return {}

    def hand_join(self, spine: str, table: str, time: str, ttl: str | None, order: bool) -> str:
        """SELECT <spine columns>, a, b, c FROM (spine) s <point-in-time join> ft f."""
        raise NotImplementedError

    def ctas(self, name: str, select: str) -> str:
        return f"CREATE TABLE {name} AS {select}"

    def measure(
        self, contenders: dict[str, Callable[[], Any]], repeats: int, notes: dict[str, str]
    ) -> dict[str, Timing]:
        return measure(contenders, repeats, notes)


class DuckDB(Engine):
    name = "duckdb"

    def load(self, name: str, table: pa.Table) -> None:
        self.raw.register("_bench_arrow", table)
        try:
            self.raw.execute(f"CREATE OR REPLACE TABLE {name} AS SELECT * FROM _bench_arrow")
        finally:
            self.raw.unregister("_bench_arrow")

    def settings(self) -> dict[str, Any]:
        names = ("threads", "memory_limit", "preserve_insertion_order")
        return {n: self.rows(f"SELECT current_setting('{n}')")[0][0] for n in names}

    def hand_join(self, spine: str, table: str, time: str, ttl: str | None, order: bool) -> str:
        def feature(name: str) -> str:
            if ttl is None:
                return f"f.{name}"
            return f"CASE WHEN f.ts >= s.{time} - INTERVAL '{ttl}' THEN f.{name} END AS {name}"

        sql = (
            f"SELECT s.*, {', '.join(feature(n) for n in FEATURES)} FROM ({spine}) s "
            f"ASOF LEFT JOIN {table} f ON s.entity_id = f.entity_id AND s.{time} >= f.ts"
        )
        return sql + (f" ORDER BY s.entity_id, s.{time}" if order else "")


class Postgres(Engine):
    name = "postgres"

    def load(self, name: str, table: pa.Table) -> None:
        """Binary COPY; NULL floats travel as NaN (the COPY writes NOT NULL fields) and the
        feature table's query turns them back into NULLs."""
        copy_table(self.raw, name, table)
        self.analyze(name)

    def measure(
        self, contenders: dict[str, Callable[[], Any]], repeats: int, notes: dict[str, str]
    ) -> dict[str, Timing]:
        """CPU counts the server's processes too: the work happens there."""
        server = ServerCpu(self.raw.info.backend_pid)
        return measure(contenders, repeats, notes, server=server.seconds)

    def source_query(self) -> str:
        nulls = ", ".join(f"NULLIF({n}, 'NaN') AS {n}" for n in FEATURES)
        return f"SELECT entity_id, ts, {nulls} FROM src"

    def analyze(self, table: str) -> None:
        self.run(f"VACUUM ANALYZE {table}")

    def settings(self) -> dict[str, Any]:
        return server_settings(self.raw)

    def hand_join(self, spine: str, table: str, time: str, ttl: str | None, order: bool) -> str:
        fresh = f" AND f.ts >= s.{time} - INTERVAL '{ttl}'" if ttl else ""
        features = ", ".join(f"f.{n}" for n in FEATURES)
        sql = (
            f"SELECT s.*, {features} FROM ({spine}) s LEFT JOIN LATERAL (SELECT "
            f"{features} FROM {table} f WHERE f.entity_id = s.entity_id AND f.ts <= s.{time}"
            f"{fresh} ORDER BY f.ts DESC LIMIT 1) f ON true"
        )
        return sql + (f" ORDER BY s.entity_id, s.{time}" if order else "")


REWRITE_S: dict[str, float] = {}  # sqlml's client-side rewrite time per statement


def engine_sql(con: Any, sql: str) -> str:
    """The SQL sqlml sends to the engine for ``sql`` (recorded in the results), and how long
    sqlml's rewrite took (it describes the spine on the server: a fixed cost per statement)."""
    start = time.perf_counter()
    generated = _harness.engine_sql(con, sql)
    REWRITE_S[sql] = round(time.perf_counter() - start, 4)
    return generated


# -- checks ----------------------------------------------------------------------------------


def same_rows(engine: Engine, a: str, b: str) -> dict[str, Any]:
    """Row counts, rows in one and not the other (EXCEPT ALL, NULLs equal), and sums."""
    sums = ", ".join(f"sum({n}), count({n})" for n in FEATURES)
    facts = {}
    for table in (a, b):
        count, *rest = engine.rows(f"SELECT count(*), {sums} FROM {table}")[0]
        facts[table] = {"rows": count, "sums": [round(float(v or 0), 6) for v in rest]}
    only_a = engine.rows(f"SELECT count(*) FROM (SELECT * FROM {a} EXCEPT ALL SELECT * FROM {b}) d")
    only_b = engine.rows(f"SELECT count(*) FROM (SELECT * FROM {b} EXCEPT ALL SELECT * FROM {a}) d")
    return {
        "tables": facts,
        f"only_in_{a}": only_a[0][0],
        f"only_in_{b}": only_b[0][0],
        "equal": only_a[0][0] == 0 and only_b[0][0] == 0 and facts[a]["rows"] == facts[b]["rows"],
    }


def same_predictions(engine: Engine, a: str, b: str) -> dict[str, Any]:
    (count_a,), (count_b,) = (engine.rows(f"SELECT count(*) FROM {t}")[0] for t in (a, b))
    joined, worst, differ, mean = engine.rows(
        f"SELECT count(*), max(abs(x.p - y.p)), sum(CASE WHEN x.p IS DISTINCT FROM y.p "
        f"THEN 1 ELSE 0 END), avg(x.p) FROM {a} x JOIN {b} y USING (entity_id)"
    )[0]
    return {
        "rows": [count_a, count_b],
        "joined": joined,
        "max_abs_diff": float(worst or 0),
        "rows_differing": int(differ or 0),
        "mean_p": float(mean or 0),
        "equal": count_a == count_b == joined and not differ,
    }


def explain(engine: Engine, sql: str) -> list[str]:
    return [str(r[-1]) for r in engine.rows(f"EXPLAIN {sql}")]


# -- the benchmark ---------------------------------------------------------------------------


def contender(engine: Engine, table: str, sql: str, via_sqlml: bool) -> Callable[[], None]:
    """DROP + CREATE TABLE AS; sqlml's statements go through the sqlml connection."""
    ctas = engine.ctas(table, sql)

    def run() -> None:
        engine.run(f"DROP TABLE IF EXISTS {table}")
        if via_sqlml:
            engine.con.execute(ctas)
        else:
            engine.run(ctas)

    return run


def run_engine(engine: Engine, data: Data, args: argparse.Namespace) -> dict[str, Any]:
    con = engine.con
    config: dict[str, Any] = {"settings": engine.settings()}
    print(f"[{engine.name}] loading {data.source.num_rows:,} source rows", file=sys.stderr)
    start = time.perf_counter()
    engine.load("src", data.source)
    config["load_source_s"] = round(time.perf_counter() - start, 2)
    for name in ("spine", "label_spine", "today", "today_asof"):
        engine.load(name, getattr(data, name))

    # CREATE FEATURE TABLE, once each (10M rows: too slow to repeat), and the bare
    # CREATE TABLE AS + PRIMARY KEY beside it for reference.
    creation: dict[str, float] = {}
    query = engine.source_query()
    tables = {"ft": None, **({} if args.no_ttl else {"ft_ttl": TTL})}
    for table, ttl in tables.items():
        clause = f" TTL INTERVAL '{ttl}'" if ttl else ""
        print(f"[{engine.name}] CREATE FEATURE TABLE {table}{clause}", file=sys.stderr)
        start = time.perf_counter()
        summary = con.execute(
            f"CREATE FEATURE TABLE {table} KEY entity_id TIMESTAMP ts{clause} AS {query}"
        ).fetchall()
        creation[f"CREATE FEATURE TABLE {table}"] = round(time.perf_counter() - start, 2)
        start = time.perf_counter()
        engine.analyze(table)
        creation[f"VACUUM ANALYZE {table}"] = round(time.perf_counter() - start, 2)
        config[f"{table}_summary"] = [list(map(str, r)) for r in summary]
    print(f"[{engine.name}] bare CREATE TABLE AS + PRIMARY KEY", file=sys.stderr)
    engine.run("DROP TABLE IF EXISTS ft_bare")
    start = time.perf_counter()
    engine.run(f"CREATE TABLE ft_bare AS {query}")
    engine.run("ALTER TABLE ft_bare ADD PRIMARY KEY (entity_id, ts)")
    creation["bare CREATE TABLE AS + ADD PRIMARY KEY"] = round(time.perf_counter() - start, 2)
    engine.run("DROP TABLE ft_bare")

    # a. FEATURES_AT_TIME against the hand-written join.
    spine = "SELECT entity_id, t FROM spine"
    contenders: dict[str, Callable[[], None]] = {}
    notes: dict[str, str] = {}
    pairs: dict[str, tuple[str, str]] = {}  # comparison → (sqlml, baseline) labels
    outputs: dict[str, str] = {}  # label → its table
    for table, ttl in tables.items():
        suffix = " TTL" if ttl else ""
        sqlml_label, ordered, unordered = (
            f"sqlml FEATURES_AT_TIME{suffix}",
            f"hand join + ORDER BY{suffix}",
            f"hand join, no ORDER BY{suffix}",
        )
        fat = f"SELECT * FROM FEATURES_AT_TIME({table}, ({spine}))"
        end = "_ttl" if ttl else ""
        for label, sql, via, out in (
            (sqlml_label, fat, True, f"out_sqlml{end}"),
            (ordered, engine.hand_join(spine, table, "t", ttl, True), False, f"out_ordered{end}"),
            (unordered, engine.hand_join(spine, table, "t", ttl, False), False, f"out_plain{end}"),
        ):
            contenders[label] = contender(engine, out, sql, via)
            notes[label] = engine_sql(con, sql) if via else sql
            outputs[label] = out
        pairs[f"FEATURES_AT_TIME{suffix} / hand join + ORDER BY (fair)"] = (sqlml_label, ordered)
        pairs[f"FEATURES_AT_TIME{suffix} / hand join, no ORDER BY"] = (sqlml_label, unordered)
    con.execute(f"SELECT count(*) FROM FEATURES_AT_TIME(ft, ({spine} LIMIT 10))").fetchall()
    print(f"[{engine.name}] a. {len(contenders)} contenders x {args.repeats}", file=sys.stderr)
    timings = engine.measure(contenders, args.repeats, notes)
    checks: dict[str, Any] = {}
    for name, (a, b) in pairs.items():
        checks[name] = same_rows(engine, outputs[a], outputs[b])
    plans = {label: explain(engine, notes[label]) for label in list(contenders)[:2]}

    # b. PREDICT with the feature lookup, as of now and as of the spine's t.
    print(f"[{engine.name}] labels + {MODEL_SQL}", file=sys.stderr)
    engine.run("DROP TABLE IF EXISTS labels")
    engine.con.execute(
        "CREATE TABLE labels AS SELECT entity_id, t, CASE WHEN coalesce(a, 0) + "
        "coalesce(b, 0) * coalesce(c, 0) > 0.3 THEN 1 ELSE 0 END AS y FROM "
        "FEATURES_AT_TIME(ft, (SELECT entity_id, t FROM label_spine))"
    )
    start = time.perf_counter()
    con.execute(MODEL_SQL)
    train_s = time.perf_counter() - start
    now_type = "TIMESTAMP"
    hand_now = engine.hand_join(
        f"SELECT entity_id, CAST(CURRENT_TIMESTAMP AS {now_type}) AS now FROM today",
        "ft",
        "now",
        None,
        False,
    )
    hand_asof = engine.hand_join("SELECT entity_id, t FROM today_asof", "ft", "t", None, False)
    features = ", ".join(FEATURES)
    predict = {
        "sqlml PREDICT_PROBA(m, *) as of now": (
            "SELECT entity_id, PREDICT_PROBA(m, *) AS p FROM today",
            "p_sqlml_now",
        ),
        "hand join + PREDICT_PROBA(m, a, b, c) as of now": (
            f"SELECT entity_id, PREDICT_PROBA(m, {features}) AS p FROM ({hand_now}) j",
            "p_hand_now",
        ),
        "sqlml PREDICT_PROBA(m, *) AS OF t": (
            "SELECT entity_id, PREDICT_PROBA(m, *) AS p FROM today_asof",
            "p_sqlml_asof",
        ),
        "hand join + PREDICT_PROBA(m, a, b, c) AS OF t": (
            f"SELECT entity_id, PREDICT_PROBA(m, {features}) AS p FROM ({hand_asof}) j",
            "p_hand_asof",
        ),
        "lookup only (hand join, no PREDICT) as of now": (hand_now, "p_lookup_now"),
    }
    p_contenders = {
        label: contender(engine, out, sql, via_sqlml="PREDICT" in sql)
        for label, (sql, out) in predict.items()
    }
    p_notes = {label: engine_sql(con, sql) for label, (sql, _) in predict.items()}
    p_pairs = {
        "PREDICT as of now / hand join + PREDICT": (
            "sqlml PREDICT_PROBA(m, *) as of now",
            "hand join + PREDICT_PROBA(m, a, b, c) as of now",
        ),
        "PREDICT AS OF t / hand join + PREDICT": (
            "sqlml PREDICT_PROBA(m, *) AS OF t",
            "hand join + PREDICT_PROBA(m, a, b, c) AS OF t",
        ),
    }
    print(f"[{engine.name}] b. {len(p_contenders)} contenders x {args.repeats}", file=sys.stderr)
    # Warm up: the first PREDICT in a session loads the model.
    for sql in (
        "SELECT count(PREDICT_PROBA(m, *)) FROM (SELECT * FROM today LIMIT 10) x",
        f"SELECT count(PREDICT_PROBA(m, {features})) FROM ({hand_now} LIMIT 10) x",
    ):
        con.execute(sql).fetchall()
    timings.update(engine.measure(p_contenders, args.repeats, p_notes))
    for name, (a, b) in p_pairs.items():
        checks[name] = same_predictions(engine, predict[a][1], predict[b][1])
    pairs.update(p_pairs)

    ratios = {name: ratio(timings[a], timings[b]) for name, (a, b) in pairs.items()}
    # The unordered hand join is reported, not judged: sqlml's output is ordered.
    targets = [
        Target(f"time {name}", r["best"], "<=", TARGET_RATIO)
        for name, r in ratios.items()
        if "no ORDER BY" not in name
    ]
    targets += [
        Target(f"same result: {name}", float(c["equal"]), "==", 1.0) for name, c in checks.items()
    ]
    config.update(
        {
            "feature_rows": data.source.num_rows,
            "keys": data.today.num_rows,
            "days": data.days,
            "spine_rows": data.spine.num_rows,
            "label_rows": data.label_spine.num_rows,
            "ttl": None if args.no_ttl else TTL,
            "repeats": args.repeats,
            "model": MODEL_SQL,
            "train_s": round(train_s, 2),
            "materialised_by": "DROP TABLE IF EXISTS + CREATE TABLE AS, on both sides",
            "sqlml_rewrite_s": dict(REWRITE_S),
        }
    )
    return {
        "config": config,
        "creation_s": creation,
        "timings": [t.to_json() for t in timings.values()],
        "ratios": ratios,
        "checks": checks,
        "plans": plans,
        "targets": [t.to_json() for t in targets],
        "_timings": timings,
        "_targets": targets,
        "_creation": creation,
    }


def open_duckdb(threads: int) -> Engine:
    import sqlml

    con = sqlml.connect(":memory:")
    raw = con.backend.con
    raw.execute(f"SET threads = {threads}")
    return DuckDB(con, raw)


def open_postgres(admin_dsn: str, database: str) -> Engine:
    import sqlml

    print(f"creating database {database} and installing sqlml", file=sys.stderr)
    dsn = create_database(admin_dsn, database)
    con = sqlml.connect(dsn)
    return Postgres(con, con.backend.conn)


def report(engine: str, result: dict[str, Any]) -> None:
    timings: dict[str, Timing] = result["_timings"]
    creation = [[k, v] for k, v in result["_creation"].items()]
    print_table(f"{engine}: creation (once)", ["step", "s"], creation)
    print_timings(f"{engine}: timings (CPU: least of runs; PostgreSQL's has the server's)", timings)
    print_table(
        f"{engine}: sqlml / baseline",
        ["comparison", "best", "median", "CPU"],
        [[k, r["best"], r["median"], r["cpu"]] for k, r in result["ratios"].items()],
    )
    print_targets(result["_targets"])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--engine", choices=["duckdb", "postgres", "both"], default="both")
    parser.add_argument("--spine-rows", type=int, default=1_000_000)
    parser.add_argument("--feature-rows", type=int, default=10_000_000)
    parser.add_argument("--keys", type=int, default=100_000)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--threads", type=int, default=2, help="DuckDB threads")
    parser.add_argument("--no-ttl", action="store_true", help="skip the TTL feature table")
    parser.add_argument("--dsn", default=ADMIN_DSN, help="a superuser's DSN on the server")
    parser.add_argument("--database", default=DATABASE, help="scratch database (recreated)")
    parser.add_argument("--keep", action="store_true", help="keep the scratch database")
    args = parser.parse_args(argv)

    print("generating data (numpy seed 0)", file=sys.stderr)
    data = make_data(args.feature_rows, args.spine_rows, args.keys)
    engines = ["duckdb", "postgres"] if args.engine == "both" else [args.engine]
    for name in engines:
        others = busy_warning()
        load_average = [round(v, 2) for v in os.getloadavg()]
        started = time.perf_counter()
        if name == "duckdb":
            engine = open_duckdb(args.threads)
        else:
            engine = open_postgres(args.dsn, args.database)
        try:
            result = run_engine(engine, data, args)
        finally:
            engine.con.close()
            if name == "postgres" and not args.keep:
                drop_database(args.dsn, args.database)
        result["config"]["others_cores_at_start"] = others
        result["config"]["load_average_at_start"] = load_average
        result["config"]["total_s"] = round(time.perf_counter() - started, 1)
        report(name, result)
        payload = {k: v for k, v in result.items() if not k.startswith("_")}
        path = write_results(f"features_{name}", payload)
        print(f"\nwrote {path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
