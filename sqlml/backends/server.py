"""What both PostgreSQL backends share (the client's and the one inside the server): the
models live in the server, so storing, replacing and dropping them are calls of sqlml's SQL
functions, made through the catalog's executor, which either backend provides."""

from __future__ import annotations

from typing import Any

import pyarrow as pa
from psycopg.postgres import types as psycopg_types

from sqlml._udfs_loader import udfs
from sqlml.backends.base import Backend


class ServerModels(Backend):
    name = "postgres"
    function_schema = "sqlml"
    batch_predict = True

    def type_code(self, kind: Any) -> str:
        """PostgreSQL's short type names, as psycopg's type registry spells them (int8,
        float8, text, ...), for sqlml's own results too."""
        if isinstance(kind, pa.DataType):
            known = udfs.sql_types.BY_ARROW_NAME.get(str(kind))
            nested = pa.types.is_nested(kind)
            kind = known.postgres if known else ("jsonb" if nested else "text")
        info = psycopg_types.get(str(kind))
        return info.name if info else str(kind)

    def check_may_create_function(self, function_name: str) -> None:
        """Before training: the FUNCTION goes into current_schema(), as CREATE FUNCTION's."""
        rows = self.catalog.db.run(
            "SELECT current_schema(), has_schema_privilege(current_schema(), 'CREATE'), "
            "current_user"
        )
        schema, allowed, role = rows[0]
        if not allowed:
            raise udfs.pg_functions.no_right_to_create(role, schema, function_name)

    def type_as_declared(self, name: str) -> str:
        # PostgreSQL's canonical spelling (timestamp → timestamp without time zone), as \df
        return str(self._value("SELECT CAST(CAST(? AS regtype) AS text)", [name]))

    def _value(self, sql: str, params: list[Any] | None = None) -> Any:
        rows = self.catalog.db.run(sql, params or [])
        return rows[0][0] if rows else None

    def relation_kind(self, name: str) -> str | None:
        return self._value("SELECT relkind::text FROM pg_class WHERE oid = to_regclass(?)", [name])

    def function_exists(self, name: str) -> bool:
        return bool(self.catalog.db.run("SELECT 1 FROM pg_proc WHERE proname = ?", [name]))

    def add_model_version(
        self,
        name: str,
        onnx: bytes,
        metadata: dict[str, Any],
        function_name: str | None,
        replace: bool,
    ) -> int:
        metadata = dict(metadata)
        if function_name:
            metadata["function_schema"] = self._value("SELECT current_schema()")
        with self.transaction():
            version = self.catalog.add_version(name, onnx, metadata, function_name, replace)
            self._value("SELECT sqlml._install_model_functions(?)", [name])
        return version

    def sync_models(self) -> None:
        pass  # the server creates a model's functions in the transaction that stores it

    def drop_model(self, name: str) -> None:
        self._value("SELECT sqlml.drop_model(?)", [name])

    def set_model_owner(self, name: str, role: str) -> None:
        with self.transaction():
            self.catalog.set_owner(name, role)

    def set_model_version(
        self, name: str, version: int | None, action: str = udfs.catalog.SET_VERSION
    ) -> None:
        self._value(
            "SELECT sqlml.set_model_version(?, CAST(? AS integer), ?)", [name, version, action]
        )

    def drop_model_version(self, name: str, version: int, force: bool) -> None:
        self._value(
            "SELECT sqlml.drop_model_version(?, CAST(? AS integer), ?)", [name, version, force]
        )
