"""What an engine must do for sqlml: one class per engine, a few abstract methods.

Where a statement runs, how training data is read and where the model is trained are the
backend's business; the catalog's layout is shared (``udfs.catalog``). Optional abilities
are class flags, so that callers ask rather than guess.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any, ClassVar

import pyarrow as pa

from sqlml._udfs_loader import udfs
from sqlml.errors import UnsupportedError
from sqlml.result import Result

Progress = Callable[[str], None]
Catalog = udfs.catalog.Catalog
ModelVersion = udfs.catalog.ModelVersion
TrainRequest = udfs.train.TrainRequest
Query = udfs.query.Query


class Backend(ABC):
    name: ClassVar[str]  # the sqlglot dialect of the engine: "duckdb", "postgres"

    catalog: Catalog

    # -- running SQL ---------------------------------------------------------------------

    @abstractmethod
    def run(self, sql: str, params: Sequence[Any] | dict | None = None) -> Result:
        """Run one statement of the engine's own SQL and hand back its result."""

    @abstractmethod
    def describe(self, query: Query) -> list[tuple[str, str]]:
        """A query's (column, SQL type) pairs, without running it."""

    def relation_kind(self, name: str) -> str | None:
        """pg_class.relkind of a relation (PostgreSQL), None where unknown."""
        return None

    @abstractmethod
    @contextmanager
    def transaction(self) -> Iterator[None]:
        """All catalog changes inside commit together or not at all."""

    def record_failed_run(self, run: udfs.catalog.Run) -> None:
        """Keep the row of a run that stored no model, in a transaction of its own."""
        with self.transaction():
            self.catalog.record_run(run)

    # -- models ------------------------------------------------------------------------

    @abstractmethod
    def create_model(
        self,
        name: str,
        query: Query,
        request: TrainRequest,
        function_name: str | None,
        progress: Progress,
    ) -> int:
        """Train on the query's rows and store the model as a new version; its number."""

    @abstractmethod
    def sync_models(self) -> None:
        """Make the engine's functions (PREDICT's and each model's FUNCTION) match the
        catalog. Called before every statement, so it must be cheap when nothing changed."""

    @abstractmethod
    def add_model_version(
        self,
        name: str,
        onnx: bytes,
        metadata: dict[str, Any],
        function_name: str | None,
        replace: bool,
    ) -> int:
        """Store an already trained model as the model's new in-use version (copy-model,
        and later IMPORT MODEL and the registry), with its engine functions; without
        ``replace`` a model of that name must not exist (ModelExistsError)."""

    @abstractmethod
    def drop_model(self, name: str) -> None:
        """Remove every version of the model and its functions, atomically."""

    @abstractmethod
    def set_model_version(
        self, name: str, version: int | None, action: str = udfs.catalog.SET_VERSION
    ) -> None:
        """Make ``version`` the one PREDICT and the model's FUNCTION use (None: the one in
        use before the version in use, for ROLLBACK), recording ``action`` in the model's
        deployment history."""

    @abstractmethod
    def drop_model_version(self, name: str, version: int, force: bool) -> None:
        """Remove one version (udfs.catalog.Catalog.drop_version), atomically."""

    def set_model_owner(self, name: str, role: str) -> None:
        """Give the model to another role (PostgreSQL); engines without roles refuse."""
        raise UnsupportedError(
            f"{self.name} has no roles: whoever may open the database manages every model, "
            "so a model has no owner to change"
        )

    @abstractmethod
    def evaluate(self, name: str, query: Query) -> dict[str, float | None]:
        """Metrics of the model's in-use version on the query's rows (target included)."""

    # Engine functions that serve PREDICT live in this schema (None: the default one).
    function_schema: ClassVar[str | None] = None
    # Whether the engine has per-model batch functions (sqlml/predict/batch.py) to prefer over
    # one call per row where the query's shape allows.
    batch_predict: ClassVar[bool] = False

    def function_exists(self, name: str) -> bool:
        """Whether the engine already has a function of that name (not one of ours)."""
        return False

    @contextmanager
    def statement(self) -> Iterator[None]:
        """While one statement runs: the models' engine functions are current and stay."""
        self.sync_models()
        yield

    def begin_statement(self) -> None:
        """Called as each statement starts, in the caller's thread (DuckDB checks it)."""
        return None

    def type_code(self, kind: Any) -> str:
        """A result column's type as the engine names it (DB-API's type_code): an Arrow
        type of a result sqlml computed, or the engine's own."""
        if isinstance(kind, pa.DataType):
            known = udfs.sql_types.BY_ARROW_NAME.get(str(kind))
            return known.duckdb if known else str(kind).upper()
        return str(kind)

    # EXPORT / IMPORT MODEL write and read files where the statement runs: the caller's,
    # except inside the PostgreSQL server, whose file system is not the user's.
    local_files: ClassVar[bool] = True

    reads_frames: ClassVar[bool] = False  # data frames in the caller's scope, by name

    @contextmanager
    def reading_frames(self, frames: dict[str, Any]) -> Iterator[None]:
        """While a statement runs: the caller's data frames it names, as tables."""
        yield

    def register(self, name: str, frame: Any) -> None:
        raise UnsupportedError(
            f"register() shows a data frame to DuckDB; on {self.name}, load it into a table "
            "first (for example with COPY, or pandas' to_sql)"
        )

    def check_may_create_function(self, function_name: str) -> None:
        """Refuses, before training, a FUNCTION the caller may not create."""
        return None

    def type_as_declared(self, name: str) -> str:
        """A type's name as the engine spells it in a function's declaration."""
        return name

    def end_transaction(self, commit: bool) -> None:
        """COMMIT or ROLLBACK of a transaction the caller began; none open: nothing."""
        return None

    def report_progress(self, progress: Progress) -> None:
        """Say how far a long plain query has got, where the engine knows (DuckDB does)."""
        return None

    def cursor(self) -> Backend:
        """Another connection to the same database, for use in another thread."""
        raise UnsupportedError(f"a {self.name} connection here has no cursor()")

    @abstractmethod
    def close(self) -> None: ...
