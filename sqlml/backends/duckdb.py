"""The embedded engine: the model is trained and run in this very process."""

from __future__ import annotations

import contextlib
import json
import re
import threading
import uuid
import warnings
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import duckdb
import pyarrow as pa

from sqlml import catalog_upgrade
from sqlml._udfs_loader import load_engine_module, udfs
from sqlml.backends.base import Backend, Progress, Query, TrainRequest
from sqlml.errors import (
    BackendError,
    DatabaseInUseError,
    ReadOnlyError,
    SqlmlError,
    WrongThreadError,
)
from sqlml.interrupts import interruptible

Catalog = udfs.catalog.Catalog
ModelVersion = udfs.catalog.ModelVersion
PredictorCache = udfs.predict.PredictorCache
Predictor = udfs.predict.Predictor
predict_function = udfs.naming.predict_function
load_engine_module("duckdb_functions")
duckdb_udfs = udfs.duckdb_functions

# One process-wide cache: connections to the same file share loaded models.
_PREDICTORS = PredictorCache()


class _DuckDBExecutor:
    engine = "duckdb"

    def __init__(self, con: duckdb.DuckDBPyConnection):
        self.con = con

    def run(self, sql: str, params: Sequence[Any] = ()) -> list[tuple]:
        return self.con.execute(sql, list(params)).fetchall()


class DuckDBResult:
    """The pending result of a connection's last statement. DuckDB keeps one per
    connection, so a result that a later statement replaced is refused, never read.

    DuckDB runs a query as its rows are fetched, calling the models' functions then: until
    the rows are all read (or the result is replaced or closed) it holds the connection's
    share of them (_Sharing), and a fetch is stopped by Ctrl-C as execute() is."""

    def __init__(self, backend: DuckDBBackend):
        self._backend = backend
        self._con = backend.con
        self._statement = backend.statements
        # DuckDB's type objects as their names (VARCHAR), as sqlml's own results give them
        self.description = [
            (name, str(kind), *rest) for name, kind, *rest in self._con.description or []
        ] or None
        self._holding = False
        if self.description:
            backend._host.sharing.acquire(backend)
            self._holding = True
            backend._pending = self

    def done(self) -> None:
        """The rows are read, or will not be: the functions are free to change."""
        if self._holding:
            self._holding = False
            self._backend._host.sharing.release(self._backend)

    def _live(self) -> duckdb.DuckDBPyConnection:
        if self._backend.statements != self._statement:
            raise SqlmlError(
                "this result was replaced by a later statement on the same connection: "
                "fetch a result before running the next statement, or give each its own "
                "connection with cursor()"
            )
        return self._con

    def _fetch(self, fetch: Callable[[duckdb.DuckDBPyConnection], Any]) -> Any:
        con = self._live()
        return interruptible(lambda: fetch(con), con.interrupt)

    def fetchone(self) -> tuple | None:
        if not self.description:
            return None
        row = self._fetch(lambda con: con.fetchone())
        if row is None:
            self.done()
        return row

    def fetchmany(self, size: int) -> list[tuple]:
        if not self.description:
            return []
        rows = self._fetch(lambda con: con.fetchmany(size))
        if len(rows) < size:
            self.done()
        return rows

    def fetchall(self) -> list[tuple]:
        if not self.description:
            return []
        try:
            return self._fetch(lambda con: con.fetchall())
        finally:
            self.done()

    def record_batches(self, rows: int) -> Iterator[pa.RecordBatch]:
        """Streamed: DuckDB computes each batch as it is read."""
        if not self.description:
            return
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)  # as arrow() says
            reader = self._fetch(lambda con: con.to_arrow_reader(rows))
        try:
            while True:
                try:
                    batch = self._fetch(lambda _: reader.read_next_batch())
                except StopIteration:
                    return
                yield batch
        finally:
            self.done()

    def arrow(self) -> pa.Table:
        if not self.description:
            return pa.table({})
        with warnings.catch_warnings():
            # DuckDB warns that a DB-API result costs one more copy than a relation.
            warnings.simplefilter("ignore", UserWarning)
            try:
                return self._fetch(lambda con: con.to_arrow_table())
            finally:
                self.done()


@dataclass(frozen=True)
class _Registered:
    version: int
    sha: str
    function_name: str | None
    functions: tuple[str, ...]
    owner: DuckDBBackend  # the root connection they were registered through (_FunctionHost)


class _Sharing:
    """Statements, and results whose rows DuckDB computes as they are read, use the
    registered functions together; removing one waits until no other thread's statement
    or unread result uses them (it could be calling it: a removed function's call fails, or
    crashes the process). A waiting remover goes before new statements. Two removers in the
    middle of their statements (CREATE OR REPLACE MODEL) do not wait on each other: a
    remover only waits for readers, never for another remover; but its own statement goes
    on only once no remover is removing any more (the other did not wait for it)."""

    def __init__(self) -> None:
        self._turn = threading.Condition()
        # id of a connection → (its thread, how many of its statements or results use them)
        self._readers: dict[int, tuple[int, int]] = {}
        self._removers: list[int] = []  # the threads removing (or waiting to)
        self._inside = 0  # how many of them are past the wait, removing

    def acquire(self, who: object) -> None:
        key, thread = id(who), threading.get_ident()
        with self._turn:
            # A thread that already reads goes on (its result inside its statement): were it
            # to wait, the remover would wait for it in turn.
            while self._removers and all(t != thread for t, _ in self._readers.values()):
                self._turn.wait()
            self._readers[key] = (thread, self._readers.get(key, (thread, 0))[1] + 1)

    def release(self, who: object) -> None:
        key = id(who)
        with self._turn:
            thread, count = self._readers[key]
            if count > 1:
                self._readers[key] = (thread, count - 1)
            else:
                del self._readers[key]
            self._turn.notify_all()

    def _others_reading(self) -> bool:
        # A reader of this very thread runs nothing now (its thread is here): waiting for
        # it would wait for ever (an unread result, then a second connection's statement).
        # Nor does one of a thread that is itself waiting to remove.
        return any(thread not in self._removers for thread, _ in self._readers.values())

    @contextmanager
    def using(self, who: object) -> Iterator[None]:
        self.acquire(who)
        try:
            yield
        finally:
            self.release(who)

    @contextmanager
    def removing(self, who: object) -> Iterator[None]:
        me = threading.get_ident()
        with self._turn:
            self._removers.append(me)
            self._turn.notify_all()
            while self._others_reading():
                self._turn.wait()
            self._inside += 1
        try:
            yield
        finally:
            with self._turn:
                self._removers.remove(me)
                self._inside -= 1
                self._turn.notify_all()
                # Another remover may be removing now: it let this thread's statement be
                # while this thread was removing too, so the statement waits for it to end.
                while self._inside:
                    self._turn.wait()


@dataclass
class _FunctionHost:
    """The model functions of one database instance, and its writers' lock.

    DuckDB keeps a registered Python function in the catalog of the database, shared by
    every connection to it (remove_function removes it for all of them), but a call of it
    crashes the process once the connection that registered it has closed, and a cursor
    closes with the connection it came from. So the functions are registered through a
    cursor of the root connection (the one sqlml.connect opened; the sessions cursor() makes
    share it), which outlives every session that can call them: a session closes removing
    nothing, while others may be running PREDICT. A root connection removes what was
    registered through it before it closes, and other roots of the same file (they share
    this host) register those again on their next statement. That cursor runs nothing else,
    so it is never in a transaction or an unread result: DuckDB's catalog is transactional,
    and a function registered in a session's open transaction would be seen by no other
    connection until it commits, and gone if it rolls back.

    A function is removed only while no other statement runs (``sharing``). The connections
    of one process write the catalog one at a time: DuckDB would let two transactions race
    and fail the second with a write conflict.
    """

    registered: dict[str, _Registered] = field(default_factory=dict)
    lock: threading.RLock = field(default_factory=threading.RLock)
    sharing: _Sharing = field(default_factory=_Sharing)
    # Every change to the models goes through this process's connections (a DuckDB file
    # is one process's to write), which count them: a statement reads the catalog again
    # only when the count moved since the functions were last brought up to date.
    changes: int = 0
    synced_at: int = -1
    # Root connections open on it. Once none is, DuckDB has closed the database and let go
    # of the file, which another process may then change: the next root starts afresh.
    roots: int = 0


_HOSTS: dict[tuple[str, str], _FunctionHost] = {}
# Connections being opened in several threads at once make or upgrade the catalog in turn.
_OPENING = threading.Lock()


class DuckDBBackend(Backend):
    name = "duckdb"
    _host: _FunctionHost
    _host_key: tuple[str, str]  # its file and catalog id: which _HOSTS entry

    def __init__(
        self,
        con: duckdb.DuckDBPyConnection,
        owns_connection: bool,
        parent: DuckDBBackend | None = None,
    ):
        self.con = con
        self._owns = owns_connection
        self._in_transaction = False
        self._thread: int | None = None  # the thread the connection belongs to, once used
        self.statements = 0  # how many statements it has begun: results check it
        self._progress: Progress | None = None
        self._frames_shown: set[str] = set()
        self._pending: DuckDBResult | None = None
        if parent is None:
            # The functions are registered through a cursor of the root (_FunctionHost),
            # and load models through another: the connection that called them is busy
            # running its query. Its sessions share both (the first under the host's lock).
            self._root = self
            self._functions = con.cursor()
            self._loader = con.cursor()
            self._loading = threading.Lock()
        else:
            self._root = parent._root
            self._functions, self._loader = parent._functions, parent._loader
            self._loading = parent._loading
        self.catalog = Catalog(_DuckDBExecutor(con))
        # The catalog as committed, whatever this connection's transaction: what is scored
        self._functions_catalog = Catalog(_DuckDBExecutor(self._functions))
        self._loader_catalog = Catalog(_DuckDBExecutor(self._loader))
        self.read_only = bool(
            con.execute(
                "SELECT readonly FROM duckdb_databases() WHERE database_name = current_database()"
            ).fetchall()[0][0]
        )
        if parent is not None:
            self._host = parent._host
        else:
            with _OPENING:
                self._open_catalog()
                self._host_key = self._instance()
                self._host = _HOSTS.setdefault(self._host_key, _FunctionHost())
                self._host.roots += 1
        self.sync_models()

    def _open_catalog(self) -> None:
        if self.read_only:
            # Nothing can be written: the catalog must be there, in this release's layout.
            layout = catalog_upgrade.layout_of_duckdb(self.catalog.db)
            if layout != udfs.catalog.SCHEMA_VERSION:
                made = "has no sqlml catalog" if layout is None else "has an older sqlml catalog"
                raise ReadOnlyError(
                    f"this database {made} and is open read-only: open it once for "
                    "writing (sqlml.connect(path)) so that sqlml can make or upgrade it"
                )
            return
        with self.transaction():
            catalog_upgrade.upgrade_duckdb(self.catalog.db)
            self.catalog.create()

    @classmethod
    def open(cls, path: str, read_only: bool = False) -> DuckDBBackend:
        """A database file (or :memory:) of this process's own."""
        try:
            con = duckdb.connect(path, read_only=read_only)
        except duckdb.IOException as error:
            if "Could not set lock" not in str(error):
                raise
            held = re.search(r"Conflicting lock is held in (.*?)(?:\. See|$)", str(error))
            holder = held.group(1) if held else "another process"
            raise DatabaseInUseError(
                f"{path} is open in {holder}: DuckDB lets one process at a time open a file "
                "for writing, and readers only while no process writes it. Close it there "
                "and connect again; processes that only read can share the file with "
                "sqlml.connect(path, read_only=True)"
            ) from None
        return cls(con, owns_connection=True)

    def cursor(self) -> DuckDBBackend:
        """Another connection to the same database, for another thread: the models and the
        catalog are shared, the pending result and the transaction are its own."""
        return DuckDBBackend(self.con.cursor(), owns_connection=True, parent=self)

    def begin_statement(self) -> None:
        current = threading.get_ident()
        if self._thread is None:
            self._thread = current
        elif self._thread != current:
            raise WrongThreadError(
                "this DuckDB connection belongs to another thread (the first that ran a "
                "statement on it), and DuckDB runs one statement at a time per connection: "
                "give each thread its own with connection.cursor()"
            )
        self._let_go_of_pending()
        self.statements += 1

    def _let_go_of_pending(self) -> None:
        """The last result will not be read any more: its share of the functions ends."""
        if self._pending is not None:
            self._pending.done()
            self._pending = None

    def _instance(self) -> tuple[str, str]:
        """Which database this is: its file (or :memory:) and the id its catalog was given."""
        ((path,),) = self.con.execute(
            "SELECT coalesce(path, ':memory:') FROM duckdb_databases() "
            "WHERE database_name = current_database()"
        ).fetchall()
        rows = self.con.execute(
            "SELECT value FROM sqlml.catalog_info WHERE key = 'instance_id'"
        ).fetchall()
        if rows:
            return path, rows[0][0]
        instance = uuid.uuid4().hex
        if not self.read_only:
            self.con.execute("INSERT INTO sqlml.catalog_info VALUES ('instance_id', ?)", [instance])
        return path, instance

    # -- running SQL ---------------------------------------------------------------------

    def run(self, sql: str, params: Sequence[Any] | dict | None = None) -> DuckDBResult:
        self._let_go_of_pending()  # DuckDB drops it for the new statement
        tick = self._tick if self._progress is not None else None
        interruptible(lambda: self.con.execute(sql, params), self.con.interrupt, tick)
        return DuckDBResult(self)

    reads_frames = True

    @contextmanager
    def reading_frames(self, frames: dict[str, Any]) -> Iterator[None]:
        # Views of this connection alone; a table or view of the name is read instead, as
        # DuckDB's own lookup of Python objects does. A view lives until a later statement
        # no longer names its frame: the result being read may still scan it.
        for name in self._frames_shown - frames.keys():
            with contextlib.suppress(duckdb.Error):
                self.con.unregister(name)
                self._frames_shown.discard(name)
        for name, frame in frames.items():
            if not self._relation_exists(name):
                self.con.register(name, frame)
                self._frames_shown.add(name)
            elif name in self._frames_shown:  # a table of the name now: it comes first
                with contextlib.suppress(duckdb.Error):
                    self.con.unregister(name)
                    self._frames_shown.discard(name)
        yield

    def _relation_exists(self, name: str) -> bool:
        """A table or view of the name, other than a frame this connection registered."""
        found = self.con.execute(
            "SELECT count(*) FROM (SELECT table_name AS name FROM duckdb_tables() UNION ALL "
            "SELECT view_name FROM duckdb_views() WHERE NOT (temporary AND view_name = ANY(?))) "
            "WHERE lower(name) = lower(?)",
            [sorted(self._frames_shown), name],
        ).fetchall()
        return bool(found[0][0])

    def register(self, name: str, frame: Any) -> None:
        self.con.register(name, frame)

    def end_transaction(self, commit: bool) -> None:
        # No transaction open: as DB-API's commit and rollback, nothing to do.
        with contextlib.suppress(duckdb.TransactionException):
            self.con.commit() if commit else self.con.rollback()

    def report_progress(self, progress: Progress) -> None:
        # DuckDB measures a query's progress only with its progress bar on; sqlml shows it.
        self.con.execute("SET enable_progress_bar = true")
        self.con.execute("SET enable_progress_bar_print = false")
        self._progress = progress

    def _tick(self, seconds: float) -> None:
        """A long query's progress as DuckDB estimates it, once it has run a second."""
        if self._progress is None or seconds < 1.0:
            return  # a short query says nothing
        percent = self.con.query_progress()
        if percent >= 0:
            self._progress(f"query {percent:.0f}%")

    def describe(self, query: Query) -> list[tuple[str, str]]:
        relation = self.con.sql(query.sql, params=list(query.params))
        return list(zip(relation.columns, map(str, relation.types), strict=True))

    @contextmanager
    def transaction(self) -> Iterator[None]:
        # Nested uses (DROP FEATURE TABLE ... CASCADE drops models) join the outer one.
        if self._in_transaction:
            yield
            return
        self._check_writable()
        with self._host_lock():
            self.con.execute("BEGIN TRANSACTION")
            self._in_transaction = True
            try:
                yield
            except BaseException:
                self.con.execute("ROLLBACK")
                raise
            finally:
                self._in_transaction = False
            self.con.execute("COMMIT")

    def _check_writable(self) -> None:
        if self.read_only:
            raise ReadOnlyError(
                "this connection is read-only: models and feature tables are made, changed "
                "and dropped on a connection opened for writing (sqlml.connect(path))"
            )

    def _host_lock(self) -> threading.RLock | contextlib.nullcontext[None]:
        # While the connection is being opened it has no host yet: _OPENING serialises that.
        host = getattr(self, "_host", None)
        return host.lock if host is not None else contextlib.nullcontext()

    # -- models ------------------------------------------------------------------------

    def create_model(
        self,
        name: str,
        query: Query,
        request: TrainRequest,
        function_name: str | None,
        progress: Progress,
    ) -> int:
        self._check_writable()  # before training, not after it
        columns = self.describe(query)
        udfs.train.check_columns([c for c, _ in columns], request)
        request.sql_types = dict(columns)
        max_rows, seed = udfs.train.sample_size(request)
        udfs.train.check_fits_in_memory(self._estimated_rows(query), len(columns), max_rows)
        progress("reading training data")
        if max_rows is not None:  # sampled before reading: max_rows bounds the memory
            query = query.sampled("hash({row}, {seed}::BIGINT)", seed, max_rows)
        # The rows go to train() with no other reference, so it can free them once they
        # are converted (measured: 1,150 → 1,040 MiB peak for 1M rows of 20 columns).
        trained = udfs.train.train(self._arrow(query), request, progress)
        return self.add_model_version(
            name, trained.onnx, trained.metadata, function_name, request.replace, trained.trials
        )

    def _arrow(self, query: Query) -> pa.Table:
        relation = self.con.sql(query.sql, params=list(query.params))
        return interruptible(relation.to_arrow_table, self.con.interrupt)

    def _estimated_rows(self, query: Query) -> int | None:
        """The planner's estimate of the query's rows (nothing is read)."""
        ((_, plan),) = self.con.execute(
            f"EXPLAIN (FORMAT json) {query.sql}", list(query.params)
        ).fetchall()
        estimate = json.loads(plan)[0].get("extra_info", {}).get("Estimated Cardinality")
        return int(estimate) if isinstance(estimate, str) and estimate.isdigit() else None

    def add_model_version(
        self,
        name: str,
        onnx: bytes,
        metadata: dict[str, Any],
        function_name: str | None,
        replace: bool,
        trials: list[udfs.train.TrialModel] | None = None,
    ) -> int:
        with self.transaction():
            version = self.catalog.add_version(name, onnx, metadata, function_name, replace)
            self.catalog.replace_trials(name, version, trials or [], _nothing, self.catalog.drop)
        self._host.changes += 1
        self.sync_models()
        return version

    def drop_model(self, name: str) -> None:
        with self.transaction():
            for trial in self.catalog.trial_models(name):
                self.catalog.drop(trial.name)
            self.catalog.drop(name)
        self._host.changes += 1
        self.sync_models()

    def set_model_version(
        self, name: str, version: int | None, action: str = udfs.catalog.SET_VERSION
    ) -> None:
        with self.transaction():
            self.catalog.set_current(name, version, action)
        self._host.changes += 1
        self.sync_models()

    def drop_model_version(self, name: str, version: int, force: bool) -> None:
        with self.transaction():
            for trial in self.catalog.trial_models(name):
                if trial.metadata["trial_of"] == [name, version]:
                    self.catalog.drop(trial.name)
            self.catalog.drop_version(name, version, force)
        self._host.changes += 1
        self.sync_models()

    def evaluate(self, name: str, query: Query) -> dict[str, float | None]:
        return udfs.train.evaluate(self.predictor(name), self._arrow(query))

    def predictor(self, name: str) -> Predictor:
        """The model's in-use version; loads it through the loader cursor on first use.

        DuckDB's threads call this at once: the lock keeps them off the one loader cursor.
        """
        with self._loading:
            return self._load_predictor(name)

    def _load_predictor(self, name: str) -> Predictor:
        entry = self._host.registered.get(name)
        model: ModelVersion | None = None
        if entry is not None:
            version, sha = entry.version, entry.sha
        else:
            model = self._loader_catalog.get(name)
            version, sha = model.version, model.onnx_sha256
        predictor = _PREDICTORS.get(sha)
        if predictor is None:
            model = model or self._loader_catalog.get(name, version)
            onnx = self._loader_catalog.onnx(name, version)
            predictor = _PREDICTORS.put(sha, Predictor(onnx, model.metadata))
        return predictor

    @contextmanager
    def statement(self) -> Iterator[None]:
        with self._host.sharing.using(self):
            self.sync_models()
            yield

    def sync_models(self) -> None:
        with self._host.lock:
            if self._host.synced_at == self._host.changes:
                return
            synced_at = self._host.changes
            wanted = self._wanted()
            # Inside a transaction (DROP FEATURE TABLE ... CASCADE drops its models) the
            # lock is held, so removing waits for the next statement's sync.
            if self._in_transaction or not self._stale(wanted):
                self._register_missing(wanted)
                if not self._in_transaction:
                    self._host.synced_at = synced_at
                return
        # Removing waits for the other statements, and never while holding the lock that
        # their own syncing needs.
        with self._host.sharing.removing(self), self._host.lock:
            synced_at = self._host.changes
            wanted = self._wanted()
            for name in self._stale(wanted):
                self._unregister(name)
            self._register_missing(wanted)
            self._host.synced_at = synced_at

    def _wanted(self) -> dict[str, tuple[int, str, str | None]]:
        rows = self._functions.execute(
            "SELECT r.name, r.current_version, v.onnx_sha256, r.function_name "
            "FROM sqlml.model_registry r JOIN sqlml.model_versions v "
            "ON v.name = r.name AND v.version = r.current_version"
        ).fetchall()
        return {name: (version, sha, function) for name, version, sha, function in rows}

    def _stale(self, wanted: dict[str, tuple[int, str, str | None]]) -> list[str]:
        return [
            name
            for name, entry in self._host.registered.items()
            if wanted.get(name) != (entry.version, entry.sha, entry.function_name)
        ]

    def _register_missing(self, wanted: dict[str, tuple[int, str, str | None]]) -> None:
        for name, (version, _sha, _function) in wanted.items():
            if name not in self._host.registered:
                self._register(self._functions_catalog.get(name, version))

    def _register(self, model: ModelVersion) -> None:
        name = model.name
        functions = [(predict_function(name), False)]
        if model.task != "regression":
            functions.append((predict_function(name, proba=True), True))
        if model.function_name:
            functions.append((model.function_name, False))

        root = self._root  # the functions keep it, never this session, alive

        def scorer(proba: bool) -> Any:
            def score(columns: tuple) -> Any:
                predictor = root.predictor(name)
                return predictor.answers(columns, proba)

            return score

        registered = []
        try:
            for function_name, proba in functions:
                duckdb_udfs.register(
                    root._functions, function_name, model.metadata, scorer(proba), proba
                )
                registered.append(function_name)
        except duckdb.Error as error:
            for function_name in registered:
                root._functions.remove_function(function_name)
            raise BackendError(
                f"could not register the functions of model {name!r}: {error}"
            ) from error
        self._host.registered[name] = _Registered(
            model.version, model.onnx_sha256, model.function_name, tuple(registered), root
        )

    def _unregister(self, name: str) -> None:
        entry = self._host.registered.pop(name)
        for function_name in entry.functions:
            with contextlib.suppress(duckdb.Error):
                entry.owner._functions.remove_function(function_name)

    def function_exists(self, name: str) -> bool:
        rows = self.con.execute(
            "SELECT 1 FROM duckdb_functions() WHERE lower(function_name) = lower(?) LIMIT 1",
            [name],
        ).fetchall()
        return bool(rows)

    def close(self) -> None:
        self._let_go_of_pending()
        if self._root is self:  # a session leaves the functions to the root
            with self._host.sharing.removing(self), self._host.lock:
                for name, entry in list(self._host.registered.items()):
                    if entry.owner is self:
                        self._unregister(name)
                        self._host.changes += 1  # other roots register it again
            self._functions.close()
            self._loader.close()
            with _OPENING:
                self._host.roots -= 1
                if self._host.roots == 0 and _HOSTS.get(self._host_key) is self._host:
                    del _HOSTS[self._host_key]
        if self._owns:
            self.con.close()


def _nothing(_: str) -> None:
    """A model's functions are registered when statements sync (sync_models)."""
