"""Several processes training one model at once, and what the catalog must look like after.

The workers run in processes of their own (spawned, so each has its own engine connection
and its own onnxruntime); a DuckDB file can be opened by one process at a time, so there
they take turns, waiting while another holds the file.
"""

from __future__ import annotations

import hashlib
import multiprocessing
import time
from collections import Counter
from typing import Any

import sqlml

# Small and fast: the race is about storing, not about training.
RACE_ROWS = "SELECT x, x * 2 + (x % 7) AS y FROM race_rows"
LOCK_WAIT_SECONDS = 60


def _open(target: str) -> sqlml.Connection:
    deadline = time.monotonic() + LOCK_WAIT_SECONDS
    while True:
        try:
            return sqlml.connect(target)
        except sqlml.DatabaseInUseError:  # a DuckDB file another process holds
            if time.monotonic() > deadline:
                raise
            time.sleep(0.05)


def _train(target: str, statement: str, rounds: int, start_at: float) -> list[tuple[str, Any]]:
    """Run the statement ``rounds`` times; each outcome as (kind, version or message)."""
    keep_open = not target.endswith(".duckdb")
    con = _open(target) if keep_open else None
    time.sleep(max(0.0, start_at - time.time()))
    outcomes: list[tuple[str, Any]] = []
    for _ in range(rounds):
        current = con or _open(target)
        try:
            row = current.execute(statement).fetchone()
            outcomes.append(("ok", row[1] if row else None))
        except sqlml.ModelExistsError as error:
            outcomes.append(("exists", str(error)))
        except Exception as error:  # every other outcome is a finding: reported, not hidden
            outcomes.append((type(error).__name__, str(error)))
        finally:
            if con is None:
                current.close()
    if con is not None:
        con.close()
    return outcomes


def race(target: str, statement: str, processes: int, rounds: int) -> list[tuple[str, Any]]:
    """Every outcome of ``processes`` processes running ``statement`` ``rounds`` times each,
    all starting at the same moment."""
    context = multiprocessing.get_context("spawn")
    start_at = time.time() + 8  # after every process has imported sqlml and connected
    with context.Pool(processes) as pool:
        results = pool.starmap(
            _train, [(target, statement, rounds, start_at) for _ in range(processes)]
        )
    return [outcome for outcomes in results for outcome in outcomes]


def catalog_problems(con: sqlml.Connection) -> list[str]:
    """What is wrong with the catalog: duplicate keys, versions without their ONNX, a model
    whose version in use does not exist."""
    run = con.backend.catalog.db.run
    problems = []
    versions = run("SELECT name, version, onnx, onnx_sha256 FROM sqlml.model_versions")
    for (name, version), count in Counter((n, v) for n, v, _, _ in versions).items():
        if count > 1:
            problems.append(f"{name} version {version} is stored {count} times")
    for name, version, onnx, sha in versions:
        if onnx is None or hashlib.sha256(bytes(onnx)).hexdigest() != sha:
            problems.append(f"{name} version {version} has no intact ONNX")
    registry = run("SELECT name, current_version FROM sqlml.model_registry")
    for name, count in Counter(n for n, _ in registry).items():
        if count > 1:
            problems.append(f"{name} is registered {count} times")
    stored = {(n, v) for n, v, _, _ in versions}
    for name, current in registry:
        if (name, current) not in stored:
            problems.append(f"{name} is served by version {current}, which is not stored")
    for name in {n for n, _ in stored} - {n for n, _ in registry}:
        problems.append(f"{name} has versions but is not registered")
    last_deployed = dict(
        run(
            "SELECT name, version FROM sqlml.model_deployments d WHERE sequence = "
            "(SELECT max(sequence) FROM sqlml.model_deployments e WHERE e.name = d.name)"
        )
    )
    for name, current in registry:
        if name in last_deployed and last_deployed[name] != current:
            problems.append(
                f"{name} is served by version {current}, its history says {last_deployed[name]}"
            )
    if con.backend.name == "postgres":
        problems += _object_problems(run, {n for n, _ in registry})
    return problems


def _object_problems(run: Any, models: set[str]) -> list[str]:
    """PostgreSQL: the functions the catalog records are exactly those sqlml made (each says
    whose it is in its comment), and each belongs to a registered model."""
    recorded = {
        (schema, name, arguments): model
        for model, schema, name, arguments in run(
            "SELECT name, schema_name, object_name, arguments FROM sqlml.model_objects"
        )
    }
    made = {
        (schema, name, arguments): comment
        for schema, name, arguments, comment in run(
            "SELECT n.nspname, p.proname, pg_get_function_identity_arguments(p.oid), "
            "obj_description(p.oid, 'pg_proc') FROM pg_proc p "
            "JOIN pg_namespace n ON n.oid = p.pronamespace "
            "WHERE starts_with(obj_description(p.oid, 'pg_proc'), 'sqlml model ')"
        )
    }
    problems = [f"{key} is recorded but does not exist" for key in recorded.keys() - made.keys()]
    problems += [f"{key} exists but is not recorded" for key in made.keys() - recorded.keys()]
    for key, model in recorded.items():
        if model not in models:
            problems.append(f"{key} is recorded for {model}, which is not registered")
        elif key in made and not made[key].startswith(f"sqlml model {model} version "):
            problems.append(f"{key} is recorded for {model} but made for another model")
    return problems
