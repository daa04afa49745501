"""Training on a large table, both engines: 5,000,000 rows x 50 features by default.

    python -m benchmarks.train_large [--rows 5000000] [--features 50] [--rounds 1]
        [--engine duckdb|postgres|both]

Runs benchmarks.train_duckdb and benchmarks.train_postgres at this size (the same
contenders, sqlml against the same steps by hand, each in a fresh process), one after the
other, and writes their results to benchmarks/results/train_large_duckdb.json and
train_large_postgres.json: work time, CPU and peak memory (sqlml on PostgreSQL: its server
backend's) as ratios to the by-hand run. It shows that the server reads a table larger than
PostgreSQL's 1 GB value limit in chunks, and what training at this size costs in memory.
About 20 minutes on 2 cores.
"""

from __future__ import annotations

import argparse
import sys

from benchmarks import train_duckdb, train_postgres

ENGINES = {"duckdb": train_duckdb.main, "postgres": train_postgres.main}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=5_000_000)
    parser.add_argument("--features", type=int, default=50)
    parser.add_argument("--rounds", type=int, default=1)
    parser.add_argument("--engine", choices=[*ENGINES, "both"], default="both")
    args = parser.parse_args(argv)
    size = ["--rows", str(args.rows), "--features", str(args.features)]
    for engine, run in ENGINES.items():
        if args.engine in (engine, "both"):
            only = ["--no-profile"] if engine == "postgres" else []
            name = f"train_large_{engine}"
            status = run([*size, "--rounds", str(args.rounds), "--name", name, *only])
            if status:
                return status
    return 0


if __name__ == "__main__":
    sys.exit(main())
