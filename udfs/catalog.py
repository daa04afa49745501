"""The model catalog: tables in schema ``sqlml`` of the user's own database.

The same code serves DuckDB (through the client's connection) and PostgreSQL (through
PL/Python's SPI): each hands in an :class:`Executor` that runs ``?``-parameterised SQL.
Metadata is one JSON document per version, so new facts (monitoring, lineage, search
results) need no schema change; the columns beside it are what listings filter on.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from sqlml.errors import (
    FeatureTableNotFoundError,
    ModelExistsError,
    ModelNotFoundError,
    PermissionDeniedError,
    UnknownOptionError,
    UnsupportedError,
    close_matches,
)

from .metrics import better, primary_metric

# 2 (sqlml 0.2.0): keys, foreign keys on PostgreSQL, owners and the recorded engine objects.
SCHEMA_VERSION = "2"


class Executor(Protocol):
    engine: str  # "duckdb" or "postgres": their DDL and row locks differ

    def run(self, sql: str, params: Sequence[Any] = ()) -> list[tuple]: ...


def ddl(engine: str) -> list[str]:
    """The catalog as this release makes it (CREATE ... IF NOT EXISTS)."""
    blob = "BYTEA" if engine == "postgres" else "BLOB"
    # DuckDB cannot delete a row and the rows that refer to it in one transaction (a
    # documented limit of its foreign keys), and DROP MODEL must be one transaction: there
    # the keys alone hold, and the catalog's writers keep the references.
    model = " REFERENCES sqlml.model_registry (name)" if engine == "postgres" else ""
    return [
        "CREATE SCHEMA IF NOT EXISTS sqlml",
        """CREATE TABLE IF NOT EXISTS sqlml.catalog_info (
            key VARCHAR PRIMARY KEY,
            value VARCHAR)""",
        # owner: the role that created the model (PostgreSQL; DuckDB has no roles).
        """CREATE TABLE IF NOT EXISTS sqlml.model_registry (
            name VARCHAR PRIMARY KEY,
            current_version INTEGER NOT NULL,
            function_name VARCHAR,
            owner VARCHAR,
            created_at TIMESTAMP NOT NULL,
            updated_at TIMESTAMP NOT NULL)""",
        f"""CREATE TABLE IF NOT EXISTS sqlml.model_versions (
            name VARCHAR NOT NULL{model},
            version INTEGER NOT NULL,
            task VARCHAR NOT NULL,
            algorithm VARCHAR NOT NULL,
            target VARCHAR NOT NULL,
            metric_name VARCHAR,
            metric_value DOUBLE PRECISION,
            metadata VARCHAR NOT NULL,
            onnx {blob} NOT NULL,
            onnx_sha256 VARCHAR NOT NULL,
            created_at TIMESTAMP NOT NULL,
            PRIMARY KEY (name, version))""",
        # Every engine object made for a model, as the engine stores its name: what DROP
        # MODEL and a new version remove, and what no other model may take.
        f"""CREATE TABLE IF NOT EXISTS sqlml.model_objects (
            name VARCHAR NOT NULL{model},
            schema_name VARCHAR NOT NULL,
            object_name VARCHAR NOT NULL,
            arguments VARCHAR NOT NULL,
            PRIMARY KEY (schema_name, object_name, arguments))""",
        # What the training rows looked like (ML.FEATURE_INFO), kept apart from the
        # metadata every user of the model reads: on PostgreSQL only roles that may read
        # the training tables, or manage the model, see these rows.
        f"""CREATE TABLE IF NOT EXISTS sqlml.model_statistics (
            name VARCHAR NOT NULL{model},
            version INTEGER NOT NULL,
            feature_info VARCHAR NOT NULL,
            PRIMARY KEY (name, version))""",
        # Which version of each model was in use from when, and who put it there: one row
        # per change (a new version put in use, SET VERSION, ROLLBACK, a version dropped).
        f"""CREATE TABLE IF NOT EXISTS sqlml.model_deployments (
            name VARCHAR NOT NULL{model},
            sequence INTEGER NOT NULL,
            version INTEGER NOT NULL,
            deployed_at TIMESTAMP NOT NULL,
            deployed_by VARCHAR,
            action VARCHAR NOT NULL,
            PRIMARY KEY (name, sequence))""",
        # Every training run, the failed and cancelled ones too, and each trial of a search
        # (parent_run: its statement's run). Runs outlive their models: no key to them.
        # facts: JSON of the options as resolved, the data's fingerprint, the libraries'
        # versions, the timings and every metric.
        """CREATE TABLE IF NOT EXISTS sqlml.runs (
            run_id VARCHAR PRIMARY KEY,
            parent_run VARCHAR,
            model VARCHAR NOT NULL,
            version INTEGER,
            started_at TIMESTAMP NOT NULL,
            seconds DOUBLE PRECISION,
            run_by VARCHAR,
            status VARCHAR NOT NULL,
            error_message VARCHAR,
            algorithm VARCHAR,
            metric VARCHAR,
            metric_value DOUBLE PRECISION,
            options VARCHAR,
            facts VARCHAR NOT NULL)""",
        # A feature table's data is a table of its own name; this row is what defines it.
        """CREATE TABLE IF NOT EXISTS sqlml.feature_tables (
            name VARCHAR PRIMARY KEY,
            definition VARCHAR NOT NULL,
            created_at TIMESTAMP NOT NULL,
            refreshed_at TIMESTAMP NOT NULL)""",
        """CREATE OR REPLACE VIEW sqlml.models AS
            SELECT r.name, v.version, v.task, v.algorithm, v.target,
                   v.metric_name AS metric, v.metric_value AS metric_value,
                   r.function_name AS function, v.created_at
            FROM sqlml.model_registry r
            JOIN sqlml.model_versions v ON v.name = r.name AND v.version = r.current_version""",
    ]


# A search's kept trial N of model m is a model of its own, m.trial_N (udfs/train.py
# TrialModel), made with each version of m and scored as any model is.
TRIAL_MARK = ".trial_"


# OPTIONS (deploy = ...): which new version is put in use (PostgresML's deploy rules).
DEPLOY_RULES = ("newest", "best")
# How each change of the version in use is recorded (model_deployments.action).
CREATED, SET_VERSION, ROLLED_BACK, DROPPED = "created", "set version", "rollback", "version dropped"


def deploy_rule(options: dict[str, Any]) -> str:
    """OPTIONS (deploy = 'newest' | 'best'), checked: 'best' needs a hold-out metric."""
    rule = options.get("deploy", "newest")
    if rule not in DEPLOY_RULES:
        raise UnknownOptionError(
            f"deploy = {rule!r} is not a deploy rule.{close_matches(str(rule), DEPLOY_RULES)} "
            "Rules: 'newest' (the new version is used) or 'best' (only if its hold-out metric "
            "beats the version in use)"
        )
    if rule == "best" and options.get("test_size") == 0:
        raise UnknownOptionError(
            "deploy = 'best' compares hold-out metrics, and test_size = 0 keeps no rows to "
            "measure the new version on: give a test_size above 0, or deploy = 'newest'"
        )
    return str(rule)


def trial_model_name(name: str, trial_id: int) -> str:
    return f"{name}{TRIAL_MARK}{trial_id}"


def is_trial_model_name(name: str) -> bool:
    head, mark, number = name.rpartition(TRIAL_MARK)
    return bool(head and mark and number.isdigit())


def model_exists(name: str) -> ModelExistsError:
    return ModelExistsError(
        f"model {name!r} already exists; use CREATE OR REPLACE MODEL to train a new version, "
        "or CREATE MODEL IF NOT EXISTS"
    )


@dataclass
class Run:
    """A row of sqlml.runs: one CREATE MODEL, or one trial of its search."""

    run_id: str
    model: str
    started_at: dt.datetime
    options: dict[str, Any]
    status: str = "running"  # succeeded, failed (error_message says why) or cancelled
    version: int | None = None
    seconds: float | None = None
    error_message: str | None = None
    algorithm: str | None = None
    metric: str | None = None
    metric_value: float | None = None
    facts: dict[str, Any] = field(default_factory=dict)
    parent_run: str | None = None
    searched: list[dict[str, Any]] = field(default_factory=list, repr=False)  # its trials

    @classmethod
    def start(cls, model: str, options: dict[str, Any]) -> Run:
        return cls(uuid.uuid4().hex, model, _now(), options)

    def finished(self, status: str, version: int | None, metadata: dict[str, Any]) -> None:
        """Its outcome, and what the stored version's metadata says of it."""
        self.status, self.version = status, version
        self.seconds = round((_now() - self.started_at).total_seconds(), 3)
        if not metadata:
            return
        self.algorithm = metadata["algorithm"]
        self.metric = primary_metric(metadata["task"])
        self.metric_value = metadata.get("metrics", {}).get(self.metric)
        self.facts |= {
            "resolved_options": {
                **metadata.get("options", {}),
                **metadata.get("resolved_hyperparameters", metadata["hyperparameters"]),
            },
            "data": {
                **self.facts.get("data", {}),
                "rows": metadata["rows_train"] + metadata["rows_test"],
                "rows_train": metadata["rows_train"],
                "content_sha256": metadata.get("data_sha256"),
                "columns": [[f["name"], f["sql_type"]] for f in metadata["features"]]
                + [[metadata["target"], metadata["target_sql_type"]]],
            },
            "libraries": metadata.get("libraries"),
            "timings": metadata.get("timings"),
            "metrics": metadata.get("metrics"),
            "search": metadata.get("search"),
        }
        self.searched = metadata.get("trials") or []

    def failure_json(self) -> str:
        """The row of a run that stored no model, as sqlml.record_failed_run takes it."""
        return json.dumps(
            {
                "run_id": self.run_id,
                "model": self.model,
                "started_at": self.started_at.isoformat(),
                "seconds": self.seconds,
                "status": self.status,
                "error_message": self.error_message,
                "options": json.dumps(self.options, default=str),
                "facts": json.dumps(self.facts, default=str),
            }
        )

    def trials(self) -> list[Run]:
        """Each trial of the run's search as a run of its own."""
        return [
            Run(
                f"{self.run_id}/{trial['trial_id']}",
                self.model,
                self.started_at,
                trial["hyperparameters"],
                status=trial["status"],
                version=self.version,
                seconds=trial["seconds"],
                error_message=trial["error_message"],
                algorithm=trial["algorithm"],
                metric=trial["metric"],
                metric_value=trial["value"],
                facts={"eval_loss": trial["eval_loss"], "is_optimal": trial["is_optimal"]},
                parent_run=self.run_id,
            )
            for trial in self.searched
        ]


@dataclass(frozen=True)
class ModelVersion:
    name: str
    version: int
    current_version: int
    function_name: str | None
    metadata: dict[str, Any]
    onnx_sha256: str
    created_at: dt.datetime

    @property
    def task(self) -> str:
        return self.metadata["task"]


_VERSION_COLUMNS = (
    "r.name, v.version, r.current_version, r.function_name, v.metadata, v.onnx_sha256, "
    "v.created_at FROM sqlml.model_registry r JOIN sqlml.model_versions v ON v.name = r.name"
)


def _record(row: tuple) -> ModelVersion:
    name, version, current, function_name, metadata, sha, created = row
    if isinstance(created, str):  # PL/Python hands timestamps over as text
        created = dt.datetime.fromisoformat(created)
    return ModelVersion(name, version, current, function_name, json.loads(metadata), sha, created)


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC).replace(tzinfo=None)


class Catalog:
    def __init__(self, executor: Executor, caller: str = "current_user"):
        self.db = executor
        # Whose rights a change is checked against (PostgreSQL): the role running the SQL,
        # or, in sqlml's SECURITY DEFINER functions, which run as the installer, the
        # session's role (PostgreSQL tells a definer function no other).
        self.caller = caller

    def create(self) -> None:
        for statement in ddl(self.db.engine):
            self.db.run(statement)
        if not self.db.run("SELECT value FROM sqlml.catalog_info WHERE key = 'schema_version'"):
            self.db.run(
                "INSERT INTO sqlml.catalog_info VALUES ('schema_version', ?)", [SCHEMA_VERSION]
            )

    # -- reading -----------------------------------------------------------------------

    def names(self) -> list[str]:
        return [r[0] for r in self.db.run("SELECT name FROM sqlml.model_registry ORDER BY name")]

    def find(self, name: str, version: int | None = None) -> ModelVersion | None:
        """The version in use (or the one asked for) of a model, or None."""
        if version is None:
            rows = self.db.run(
                f"SELECT {_VERSION_COLUMNS} AND v.version = r.current_version WHERE r.name = ?",
                [name],
            )
        else:
            rows = self.db.run(
                f"SELECT {_VERSION_COLUMNS} WHERE r.name = ? AND v.version = ?", [name, version]
            )
        return _record(rows[0]) if rows else None

    def get(self, name: str, version: int | None = None) -> ModelVersion:
        model = self.find(name, version)
        if model is not None:
            return model
        if version is not None and self.find(name) is not None:
            known = [str(v.version) for v in self.versions(name)]
            raise ModelNotFoundError(
                f"model {name!r} has no version {version}; versions: {', '.join(known)}"
            )
        raise ModelNotFoundError(
            f"model {name!r} does not exist.{close_matches(name, self.names())}"
        )

    def current(self) -> list[ModelVersion]:
        return [
            _record(r)
            for r in self.db.run(
                f"SELECT {_VERSION_COLUMNS} AND v.version = r.current_version ORDER BY r.name"
            )
        ]

    def versions(self, name: str) -> list[ModelVersion]:
        return [
            _record(r)
            for r in self.db.run(
                f"SELECT {_VERSION_COLUMNS} WHERE r.name = ? ORDER BY v.version", [name]
            )
        ]

    def onnx(self, name: str, version: int) -> bytes:
        rows = self.db.run(
            "SELECT onnx FROM sqlml.model_versions WHERE name = ? AND version = ?", [name, version]
        )
        if not rows:
            raise ModelNotFoundError(f"model {name!r} has no version {version}")
        return bytes(rows[0][0])

    def feature_info(self, name: str, version: int) -> list[dict[str, Any]] | None:
        """The training rows' statistics, None where the caller may not see them."""
        rows = self.db.run(
            "SELECT feature_info FROM sqlml.model_statistics WHERE name = ? AND version = ?",
            [name, version],
        )
        return json.loads(rows[0][0]) if rows else None

    def owner_of_function(self, function_name: str) -> str | None:
        rows = self.db.run(
            "SELECT name FROM sqlml.model_registry WHERE function_name = ?", [function_name]
        )
        return rows[0][0] if rows else None

    # -- writing (the caller owns the transaction) -------------------------------------

    def add_version(
        self,
        name: str,
        onnx: bytes,
        metadata: dict[str, Any],
        function_name: str | None,
        replace: bool = True,
    ) -> int:
        """Store a new version and make it the one in use; returns its number.

        The model's registry row is taken first and held to the end of the transaction, so
        concurrent writers of one model go one after another: each gets the next number, the
        last to commit serves, and of several new models of one name only the first stores
        (the others find its row: ModelExistsError unless ``replace``).
        """
        now = _now()
        owner = "current_user" if self.db.engine == "postgres" else "NULL"
        created = self.db.run(
            "INSERT INTO sqlml.model_registry "
            "(name, current_version, function_name, owner, created_at, updated_at) "
            f"VALUES (?, 0, ?, {owner}, ?, ?) ON CONFLICT (name) DO NOTHING RETURNING name",
            [name, function_name, now, now],
        )
        if not created:
            if not replace:
                raise model_exists(name)
            self._lock(name, "replace")
        (latest,) = self.db.run(
            "SELECT max(version) FROM sqlml.model_versions WHERE name = ?", [name]
        )[0]
        version = (latest or 0) + 1
        metric = primary_metric(metadata["task"])
        public = {k: v for k, v in metadata.items() if k != "feature_info"}
        statistics = metadata.get("feature_info")
        self.db.run(
            "INSERT INTO sqlml.model_versions "
            "VALUES (?, ?, ?, ?, ?, ?, CAST(? AS DOUBLE PRECISION), ?, ?, ?, ?)",
            [
                name,
                version,
                metadata["task"],
                metadata["algorithm"],
                metadata["target"],
                metric,
                metadata.get("metrics", {}).get(metric),
                # Each version keeps its FUNCTION: SET VERSION brings it back with it.
                json.dumps(
                    {**public, "function_name": function_name},
                    default=str,
                ),
                onnx,
                hashlib.sha256(onnx).hexdigest(),
                now,
            ],
        )
        if statistics is not None:
            self.db.run(
                "INSERT INTO sqlml.model_statistics VALUES (?, ?, ?)",
                [name, version, json.dumps(statistics, default=str)],
            )
        if self._puts_in_use(name, metric, metadata):
            self._put_in_use(name, version, function_name, CREATED, now)
        return version

    def _puts_in_use(self, name: str, metric: str, metadata: dict[str, Any]) -> bool:
        """Whether the new version is put in use: always, unless OPTIONS (deploy = 'best')
        and the version in use has a hold-out metric the new one does not beat. The
        registry row is held, so the comparison is with what is in use at commit."""
        if deploy_rule(metadata.get("options") or {}) != "best":
            return True
        rows = self.db.run(
            "SELECT v.metric_value FROM sqlml.model_registry r JOIN sqlml.model_versions v "
            "ON v.name = r.name AND v.version = r.current_version WHERE r.name = ?",
            [name],
        )
        ours = metadata.get("metrics", {}).get(metric)
        if not rows or rows[0][0] is None or ours is None:
            return True  # nothing in use, or nothing to compare with
        return better(metric, float(ours), float(rows[0][0]))

    def _put_in_use(
        self, name: str, version: int, function_name: str | None, action: str, now: dt.datetime
    ) -> None:
        """The registry serves ``version`` (with its FUNCTION) from ``now``, and the model's
        deployment history says so."""
        self.db.run(
            "UPDATE sqlml.model_registry SET current_version = ?, function_name = ?, "
            "updated_at = ? WHERE name = ?",
            [version, function_name, now, name],
        )
        self._deployed(name, version, action, now)

    def _deployed(self, name: str, version: int, action: str, now: dt.datetime) -> None:
        """A row of the model's deployment history: ``version`` is in use from ``now``."""
        who = self.caller if self.db.engine == "postgres" else "NULL"  # DuckDB has no roles
        ((last,),) = self.db.run(
            "SELECT max(sequence) FROM sqlml.model_deployments WHERE name = ?", [name]
        )
        self.db.run(
            f"INSERT INTO sqlml.model_deployments VALUES (?, ?, ?, ?, {who}, ?)",
            [name, (last or 0) + 1, version, now, action],
        )

    def deployments(self, name: str) -> list[tuple[int, int, dt.datetime, str | None, str]]:
        """(sequence, version, deployed_at, deployed_by, action) of the model, in order."""
        rows = self.db.run(
            "SELECT sequence, version, deployed_at, deployed_by, action "
            "FROM sqlml.model_deployments WHERE name = ? ORDER BY sequence",
            [name],
        )
        return [
            (s, v, dt.datetime.fromisoformat(at) if isinstance(at, str) else at, who, action)
            for s, v, at, who, action in rows
        ]

    def previous_in_use(self, name: str) -> int | None:
        """The version ROLLBACK goes back to: the one in use before the version in use was
        put there, skipping versions since dropped (each rollback steps one further back)."""
        existing = {v.version for v in self.versions(name)}
        stack: list[int] = []
        for _, version, _, _, action in self.deployments(name):
            if action in (ROLLED_BACK, DROPPED):
                while stack and stack[-1] != version:
                    stack.pop()
            elif not stack or stack[-1] != version:
                stack.append(version)
        stack = [v for v in stack if v in existing]
        return stack[-2] if len(stack) > 1 else None

    def record_run(self, run: Run) -> None:
        """A run's row, and one per trial of its search (the caller owns the transaction)."""
        who = self.caller if self.db.engine == "postgres" else "NULL"  # DuckDB has no roles
        for row in [run, *run.trials()]:
            self.db.run(
                "INSERT INTO sqlml.runs (run_id, parent_run, model, version, started_at, "
                "seconds, run_by, status, error_message, algorithm, metric, metric_value, "
                f"options, facts) VALUES (?, ?, ?, ?, ?, ?, {who}, ?, ?, ?, ?, "
                "CAST(? AS DOUBLE PRECISION), ?, ?)",
                [
                    row.run_id,
                    row.parent_run,
                    row.model,
                    row.version,
                    row.started_at,
                    row.seconds,
                    row.status,
                    row.error_message,
                    row.algorithm,
                    row.metric,
                    row.metric_value,
                    json.dumps(row.options, default=str),
                    json.dumps(row.facts, default=str),
                ],
            )

    RUN_COLUMNS = (
        "run_id",
        "model",
        "version",
        "status",
        "started_at",
        "seconds",
        "run_by",
        "algorithm",
        "metric",
        "metric_value",
        "options",
        "error_message",
    )

    def runs(self, name: str | None = None) -> list[tuple]:
        """The statement runs (not their trials), oldest first: RUN_COLUMNS of each."""
        where = "parent_run IS NULL" + ("" if name is None else " AND model = ?")
        return self.db.run(
            f"SELECT {', '.join(self.RUN_COLUMNS)} FROM sqlml.runs WHERE {where} "
            "ORDER BY started_at, run_id",
            [] if name is None else [name],
        )

    def run_of(self, name: str, version: int) -> str | None:
        """The run that made a version (None for a model imported, copied, or older)."""
        rows = self.db.run(
            "SELECT run_id FROM sqlml.runs WHERE model = ? AND version = ? AND parent_run IS NULL",
            [name, version],
        )
        return rows[0][0] if rows else None

    def drop_version(self, name: str, version: int, force: bool) -> int | None:
        """DROP MODEL m VERSION n: the version in use only with ``force``, which puts the
        one in use before it back (as ROLLBACK does; else the newest other). The version
        then in use if it changed (the caller remakes the model's functions), else None."""
        self._lock(name, "drop a version of")
        model = self.get(name, version)
        others = [v.version for v in self.versions(name) if v.version != version]
        replacement = None
        if model.version == model.current_version:
            if not others:
                raise UnsupportedError(
                    f"version {version} is the only version of model {name!r}: DROP MODEL "
                    f"{name} removes the model"
                )
            if not force:
                raise UnsupportedError(
                    f"version {version} of model {name!r} is in use: ALTER MODEL {name} SET "
                    f"VERSION <another> first, or DROP MODEL {name} VERSION {version} FORCE"
                )
            replacement = self.previous_in_use(name) or max(others)
            self.set_current(name, replacement, DROPPED)
        for table in ("model_statistics", "model_versions"):
            self.db.run(
                f"DELETE FROM sqlml.{table} WHERE name = ? AND version = ?", [name, version]
            )
        return replacement

    def _lock(self, name: str, action: str) -> None:
        """Hold the model's registry row to the end of the transaction, once the caller
        may change the model (PostgreSQL; DuckDB has no roles, and its writers are one
        process, which keeps its own connections one after another)."""
        if self.db.engine != "postgres":
            return
        self.check_may_manage(name, action)
        if not self.db.run(
            "SELECT 1 FROM sqlml.model_registry WHERE name = ? FOR UPDATE", [name]
        ):  # row security hides the row from FOR UPDATE when it changed hands meanwhile
            self.check_may_manage(name, action)

    def check_may_manage(self, name: str, action: str) -> None:
        """Only the owner, a member of the owning role or sqlml_admin may replace, drop,
        alter or re-version a model (PostgreSQL's rule for its own objects)."""
        if self.db.engine != "postgres":
            return
        rows = self.db.run(
            f"SELECT owner, sqlml.may_manage({self.caller}, owner), {self.caller}::text "
            "FROM sqlml.model_registry WHERE name = ?",
            [name],
        )
        if rows and not rows[0][1]:
            owner, _, role = rows[0]
            raise PermissionDeniedError(
                f"model {name!r} belongs to role {owner}: only {owner}, its members and "
                f"sqlml_admin may {action} it (role {role} may use it)"
            )

    def set_owner(self, name: str, role: str) -> None:
        """ALTER MODEL ... OWNER TO: as PostgreSQL's ALTER ... OWNER, the caller must be
        able to manage the model and be a member of the new owner (or sqlml_admin)."""
        self._lock(name, "give away")
        rows = self.db.run(
            f"SELECT sqlml.may_manage({self.caller}, rolname) FROM pg_roles WHERE rolname = ?",
            [role],
        )
        if not rows:
            raise ModelNotFoundError(f"ALTER MODEL {name} OWNER TO: role {role!r} does not exist")
        if not rows[0][0]:
            raise PermissionDeniedError(
                f"ALTER MODEL {name} OWNER TO {role}: you must be a member of role {role} "
                "(or of sqlml_admin) to give it a model"
            )
        self.db.run(
            "UPDATE sqlml.model_registry SET owner = ?, updated_at = ? WHERE name = ?",
            [role, _now(), name],
        )

    def record_objects(self, name: str, objects: list[tuple[str, str, str]]) -> None:
        """The engine objects the model has now: (schema, name, arguments) as stored."""
        self.db.run("DELETE FROM sqlml.model_objects WHERE name = ?", [name])
        for schema, object_name, arguments in objects:
            self.db.run(
                "INSERT INTO sqlml.model_objects VALUES (?, ?, ?, ?)",
                [name, schema, object_name, arguments],
            )

    def set_current(self, name: str, version: int | None, action: str = SET_VERSION) -> int:
        """Put a version in use (None: the one ROLLBACK goes back to, found under the lock,
        so that concurrent changes go one after another); the version now in use."""
        self._lock(name, "change the version of")
        if version is None:
            version = self.previous_in_use(name)
            if version is None:
                self.get(name)  # an unknown model is told as such
                raise UnsupportedError(
                    f"model {name!r} has no earlier version in use to go back to: SHOW MODEL "
                    f"VERSIONS {name} lists its versions, ALTER MODEL {name} SET VERSION n "
                    "puts one in use"
                )
        model = self.get(name, version)
        # Versions stored before 0.2.0 do not say their FUNCTION: the model's stays.
        function_name = model.metadata.get("function_name", model.function_name)
        self._put_in_use(name, version, function_name, action, _now())
        return version

    def trial_models(self, name: str) -> list[ModelVersion]:
        """The models of the model's kept trials (m.trial_N made by replace_trials: their
        metadata says so, so a model that only looks like one is not taken for it)."""
        rows = self.db.run(
            "SELECT name FROM sqlml.model_registry WHERE starts_with(name, ?)",
            [name + TRIAL_MARK],
        )
        found = [self.find(candidate) for (candidate,) in sorted(rows)]
        return [m for m in found if m is not None and m.metadata.get("trial_of", [None])[0] == name]

    def replace_trials(
        self,
        name: str,
        version: int,
        trials: list[Any],
        made: Callable[[str], None],
        drop: Callable[[str], None],
    ) -> None:
        """Store the kept trials of the model's new version (udfs/train.py TrialModel) as
        models m.trial_N, ``made`` telling the engine of each; the trial models of an earlier
        version that this one does not have are dropped by ``drop``."""
        keep = {trial_model_name(name, trial.trial_id) for trial in trials}
        for old in self.trial_models(name):
            if old.name not in keep:
                drop(old.name)
        for trial in trials:
            trial_name = trial_model_name(name, trial.trial_id)
            metadata = {**trial.metadata, "trial_of": [name, version], "trial_id": trial.trial_id}
            # A kept trial's model is always its newest version's, whatever the deploy rule.
            options = {k: v for k, v in metadata.get("options", {}).items() if k != "deploy"}
            metadata["options"] = options
            self.add_version(trial_name, trial.onnx, metadata, None, replace=True)
            made(trial_name)

    def drop(self, name: str) -> None:
        self._lock(name, "drop")
        self.db.run("DELETE FROM sqlml.model_objects WHERE name = ?", [name])
        self.db.run("DELETE FROM sqlml.model_deployments WHERE name = ?", [name])
        self.db.run("DELETE FROM sqlml.model_statistics WHERE name = ?", [name])
        self.db.run("DELETE FROM sqlml.model_versions WHERE name = ?", [name])
        self.db.run("DELETE FROM sqlml.model_registry WHERE name = ?", [name])


# -- feature tables ----------------------------------------------------------------------


@dataclass(frozen=True)
class FeatureTable:
    name: str
    keys: list[str]
    timestamp: str
    ttl: str | None  # an interval as written, e.g. '30 days'
    query: str  # the engine's SQL that REFRESH runs again
    columns: list[list[str]]  # [name, engine type] of every column, in query order
    created_at: dt.datetime
    refreshed_at: dt.datetime

    @property
    def features(self) -> list[str]:
        """The columns that are neither key nor timestamp."""
        return [c for c, _ in self.columns if c not in self.keys and c != self.timestamp]

    def definition(self) -> str:
        return json.dumps(
            {
                "keys": self.keys,
                "timestamp": self.timestamp,
                "ttl": self.ttl,
                "query": self.query,
                "columns": self.columns,
            }
        )


class FeatureTables:
    """The catalog's feature tables (sqlml.feature_tables)."""

    def __init__(self, executor: Executor):
        self.db = executor

    def names(self) -> list[str]:
        return [r[0] for r in self.db.run("SELECT name FROM sqlml.feature_tables ORDER BY name")]

    def find(self, name: str) -> FeatureTable | None:
        rows = self.db.run(
            "SELECT name, definition, created_at, refreshed_at FROM sqlml.feature_tables "
            "WHERE name = ?",
            [name],
        )
        return _feature_table(rows[0]) if rows else None

    def get(self, name: str) -> FeatureTable:
        table = self.find(name)
        if table is None:
            raise FeatureTableNotFoundError(
                f"feature table {name!r} does not exist.{close_matches(name, self.names())}"
            )
        return table

    def all(self) -> list[FeatureTable]:
        return [self.get(name) for name in self.names()]

    def save(self, table: FeatureTable) -> None:
        self.drop(table.name)
        self.db.run(
            "INSERT INTO sqlml.feature_tables VALUES (?, ?, ?, ?)",
            [table.name, table.definition(), table.created_at, table.refreshed_at],
        )

    def refreshed(self, name: str) -> None:
        self.db.run(
            "UPDATE sqlml.feature_tables SET refreshed_at = ? WHERE name = ?", [_now(), name]
        )

    def drop(self, name: str) -> None:
        self.db.run("DELETE FROM sqlml.feature_tables WHERE name = ?", [name])


def _feature_table(row: tuple) -> FeatureTable:
    name, definition, created, refreshed = row
    created, refreshed = (
        dt.datetime.fromisoformat(v) if isinstance(v, str) else v for v in (created, refreshed)
    )
    spec = json.loads(definition)
    return FeatureTable(
        name,
        spec["keys"],
        spec["timestamp"],
        spec["ttl"],
        spec["query"],
        spec["columns"],
        created,
        refreshed,
    )
