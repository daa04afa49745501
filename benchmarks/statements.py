"""What a small statement costs through sqlml beside the driver alone: the fixed price of
splitting, binding parameters (the tokenizer finds the placeholders), the helper thread
that lets Ctrl-C stop a DuckDB query, and the cursor.

    python -m benchmarks.statements [--engine duckdb|postgres|both] [--statements 2000]
        [--repeats 3]

Each contender runs ``--statements`` statements in a row from the main thread (where the
Ctrl-C helper is used): ``SELECT 1``, and a query on a 10,000-row table with a bound
parameter. The baseline is the same statements on the driver's own connection (duckdb's
``execute(...).fetchall()``, psycopg's). Reported: microseconds per statement and sqlml /
driver. Writes benchmarks/results/statements.json.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable
from typing import Any

import sqlml
from benchmarks._harness import measure, print_table, ratio, write_results
from benchmarks._postgres import ADMIN_DSN, create_database, drop_database

DATABASE = "sqlml_bench_statements"
SERIES = {
    "duckdb": "range AS x FROM range(10000)",
    "postgres": "g AS x FROM generate_series(0, 9999) g",
}
SHAPES = {
    "select_1": ("SELECT 1", None),
    "bound_query": ("SELECT count(*) FROM t WHERE x < ?", [5000]),
}


def _loop(
    execute: Callable[[str, Any], Any], sql: str, params: Any, count: int
) -> Callable[[], None]:
    def run() -> None:
        for _ in range(count):
            execute(sql, params)

    return run


def _engine(engine: str, count: int, repeats: int) -> dict[str, Any]:
    if engine == "duckdb":
        con = sqlml.connect(":memory:")
        raw = con.backend.con

        def driver(sql: str, params: Any) -> Any:
            return raw.execute(sql, params).fetchall()

        dsn = None
    else:
        dsn = create_database(ADMIN_DSN, DATABASE)
        con = sqlml.connect(dsn)
        raw = con.backend.conn

        def driver(sql: str, params: Any) -> Any:
            return raw.execute(sql.replace("?", "%s"), params).fetchall()

    try:
        con.execute(f"CREATE TABLE t AS SELECT {SERIES[engine]}")

        def through_sqlml(sql: str, params: Any) -> Any:
            return con.execute(sql, params).fetchall()

        shapes: dict[str, Any] = {}
        for shape, (sql, params) in SHAPES.items():
            timings = measure(
                {
                    "driver": _loop(driver, sql, params, count),
                    "sqlml": _loop(through_sqlml, sql, params, count),
                },
                repeats=repeats,
            )
            shapes[shape] = {
                "statement": sql,
                "microseconds_per_statement": {
                    name: round(t.best / count * 1e6, 1) for name, t in timings.items()
                },
                "sqlml_over_driver": ratio(timings["sqlml"], timings["driver"]),
                "timings": [t.to_json() for t in timings.values()],
            }
        return shapes
    finally:
        con.close()
        if dsn is not None:
            drop_database(ADMIN_DSN, DATABASE)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--engine", choices=("duckdb", "postgres", "both"), default="both")
    parser.add_argument("--statements", type=int, default=2000)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    engines = ["duckdb", "postgres"] if args.engine == "both" else [args.engine]
    results = {engine: _engine(engine, args.statements, args.repeats) for engine in engines}
    rows = [
        [
            engine,
            shape,
            facts["microseconds_per_statement"]["driver"],
            facts["microseconds_per_statement"]["sqlml"],
            facts["sqlml_over_driver"]["best"],
        ]
        for engine, shapes in results.items()
        for shape, facts in shapes.items()
    ]
    print_table(
        "Per statement (best of the repeats)",
        ["engine", "statement", "driver µs", "sqlml µs", "sqlml / driver"],
        rows,
    )
    path = write_results("statements", {"statements": args.statements, "engines": results})
    print(f"\nwrote {path}")


if __name__ == "__main__":
    main()
