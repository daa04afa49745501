"""The SQL functions that serve a model in PostgreSQL: created, replaced and dropped from the
catalog alone by the SECURITY DEFINER functions, never from SQL text a caller supplies.

Their bodies hand off to ``sqlml.in_server`` (the one home of every in-server entry point),
with the model's ONNX inside them so that parallel workers, which cannot use SPI, can score.
"""

from __future__ import annotations

import base64
import hashlib
import json
import re
import textwrap
from dataclasses import dataclass
from typing import Any

from sqlml.errors import PermissionDeniedError

from . import naming
from .answers import Answer, answer_of
from .catalog import Catalog, ModelVersion
from .features import Feature
from .pg_spi import SCHEMA, SpiExecutor
from .sql_types import ARGUMENT_TYPES, BY_ARROW_NAME, TEXT

# -- the functions that serve a model --------------------------------------------------------


def return_type(metadata: dict[str, Any], proba: bool) -> str:
    kind = answer_of(metadata, proba)
    if kind in (Answer.VALUE, Answer.PROBABILITY):
        return "double precision"
    if kind in (Answer.PROBABILITIES, Answer.DISTANCES):
        return "jsonb"
    return BY_ARROW_NAME.get(metadata["label_type"], TEXT).postgres


def batch_return_type(metadata: dict[str, Any], proba: bool) -> str:
    """A batch function's answers: numbers as a float8[]'s own bytes (sqlml.float8_array turns
    them back without a per-value conversion), labels and JSON as arrays."""
    numbers = answer_of(metadata, proba) in (Answer.VALUE, Answer.PROBABILITY)
    return "bytea" if numbers else f"{return_type(metadata, proba)}[]"


@dataclass(frozen=True)
class _Function:
    """One function a model's in-use version needs."""

    schema: str
    name: str
    arguments: str  # the types, as pg_get_function_identity_arguments writes them
    returns: str
    body: str

    def qualified(self, plpy: Any) -> str:
        return f"{plpy.quote_ident(self.schema)}.{plpy.quote_ident(self.name)}"


def install_model_functions(plpy: Any, name: str) -> None:
    """(Re)create the SQL functions of the model's in-use version, drop those of its that
    it no longer needs (a FUNCTION renamed, moved to another schema or left out), and record
    what it has in the catalog.

    The ONNX bytes are part of each function's body: a PARALLEL SAFE function cannot use
    SPI, so it cannot read the catalog, and this way parallel workers can score rows too.
    """
    catalog = _definer_catalog(plpy)
    catalog.check_may_manage(name, "make the functions of")
    model = catalog.get(name)
    wanted = _functions_of(plpy, model, catalog.onnx(name, model.version))
    for function in wanted:
        naming.check_identifier(function.name, "FUNCTION")
    needed = {(f.schema, f.name, f.arguments, f.returns) for f in wanted}
    for existing in _made_for(plpy, name):
        if (existing.schema, existing.name, existing.arguments, existing.returns) not in needed:
            plpy.execute(f"DROP FUNCTION {existing.signature}")
    for function in wanted:
        _create_function(plpy, model, function)
    catalog.record_objects(name, [(f.schema, f.name, f.arguments) for f in wanted])


def _functions_of(plpy: Any, model: ModelVersion, onnx: bytes) -> list[_Function]:
    prelude = _prelude(plpy)
    payload = base64.b64encode(onnx).decode()
    meta = json.dumps(model.metadata)
    features = [Feature.from_json(f) for f in model.metadata["features"]]
    arguments = ", ".join(ARGUMENT_TYPES[f.kind].postgres for f in features)
    probabilities = (False,) if model.task == "regression" else (False, True)
    row_functions = [
        (SCHEMA, naming.predict_function(model.name, proba), proba) for proba in probabilities
    ]
    if model.function_name:
        schema = model.metadata.get("function_schema", "public")
        _check_may_create_in(plpy, schema, model.function_name)
        row_functions.append((schema, model.function_name, False))
    setup = textwrap.indent(prelude, "    ")
    functions = []
    for schema, function_name, proba in row_functions:
        # The first call in a process builds the row's scorer and keeps it in SD (the
        # function's own dict, new when the function is replaced); every call then costs
        # one look-up and one call besides PL/Python's own work.
        body = (
            'score = SD.get("sqlml")\n'
            "if score is None:\n"
            f"{setup}\n"
            f"    score = SD['sqlml'] = handoff.call(plpy, handoff.row_function, GD, "
            f"{model.onnx_sha256!r}, {payload!r}, {meta!r}, {proba!r})\n"
            "return score(args)"
        )
        returns = return_type(model.metadata, proba)
        functions.append(_Function(schema, function_name, arguments, returns, body))
    # The batch forms: a packed chunk of rows per call (see sqlml/predict/batch.py).
    for proba in probabilities:
        body = (
            f"{prelude}\n"
            f"return handoff.call(plpy, handoff.predict_batch, GD, {model.onnx_sha256!r}, "
            f"{payload!r}, {meta!r}, n, numbers, texts, {proba!r})"
        )
        functions.append(
            _Function(
                SCHEMA,
                naming.predict_function(model.name, proba, batch=True),
                "n integer, numbers bytea, texts text[]",
                batch_return_type(model.metadata, proba),
                body,
            )
        )
    return functions


def _create_function(plpy: Any, model: ModelVersion, function: _Function) -> None:
    """CREATE OR REPLACE the function, which must not be anybody else's: these functions run
    as the installer, who could replace any function."""
    for existing in _existing_functions(plpy, function.schema, function.name):
        if not existing.belongs_to(model.name):
            raise PermissionDeniedError(
                f"a function {function.qualified(plpy)}({existing.arguments}) exists and is "
                f"not model {model.name!r}'s: choose another FUNCTION name"
            )
    tag = _dollar_tag(function.body)
    signature = f"{function.qualified(plpy)}({function.arguments})"
    # STABLE, not IMMUTABLE: ALTER MODEL ... SET VERSION changes what the name answers.
    plpy.execute(
        f"CREATE OR REPLACE FUNCTION {signature} RETURNS {function.returns} "
        f"LANGUAGE plpython3u STABLE PARALLEL SAFE AS {tag}{function.body}{tag}"
    )
    comment = plpy.quote_literal(f"{_COMMENT_PREFIX}{model.name} version {model.version}")
    plpy.execute(f"COMMENT ON FUNCTION {signature} IS {comment}")
    # Using a model is a right of its own: sqlml_user has it, PUBLIC does not.
    plpy.execute(f"REVOKE ALL ON FUNCTION {signature} FROM PUBLIC")
    plpy.execute(f"GRANT EXECUTE ON FUNCTION {signature} TO sqlml_user")


# Every function sqlml creates for a model says so in its comment, which only its owner
# (the installer) can set: that and the owner tell a model's function from anyone else's.
_COMMENT_PREFIX = "sqlml model "


@dataclass(frozen=True)
class _ExistingFunction:
    schema: str
    name: str
    signature: str  # as regprocedure prints it, quoted: usable in DROP FUNCTION
    arguments: str
    returns: str
    owned: bool  # by the role these SECURITY DEFINER functions run as
    comment: str

    def belongs_to(self, model: str) -> bool:
        marker = re.escape(f"{_COMMENT_PREFIX}{model} version ")
        return self.owned and re.fullmatch(marker + r"\d+", self.comment) is not None


_FUNCTIONS = (
    "SELECT n.nspname AS schema, p.proname AS name, p.oid::regprocedure::text AS signature, "
    "pg_get_function_identity_arguments(p.oid) AS arguments, "
    "pg_get_function_result(p.oid) AS returns, "
    "p.proowner = (SELECT oid FROM pg_roles WHERE rolname = current_user) AS owned, "
    "coalesce(obj_description(p.oid, 'pg_proc'), '') AS comment "
    "FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace "
)


def _existing_functions(plpy: Any, schema: str, name: str) -> list[_ExistingFunction]:
    plan = plpy.prepare(_FUNCTIONS + "WHERE n.nspname = $1 AND p.proname = $2", ["text", "text"])
    return _as_functions(plpy.execute(plan, [schema, name]))


def _made_for(plpy: Any, model: str) -> list[_ExistingFunction]:
    """Every function sqlml made for the model, in any schema, whatever its name."""
    plan = plpy.prepare(
        _FUNCTIONS + "WHERE starts_with(obj_description(p.oid, 'pg_proc'), $1)", ["text"]
    )
    found = _as_functions(plpy.execute(plan, [f"{_COMMENT_PREFIX}{model} version "]))
    return [f for f in found if f.belongs_to(model)]


def _as_functions(rows: Any) -> list[_ExistingFunction]:
    return [
        _ExistingFunction(
            r["schema"],
            r["name"],
            r["signature"],
            ", ".join(a.strip() for a in r["arguments"].split(",")) if r["arguments"] else "",
            r["returns"],
            r["owned"],
            r["comment"],
        )
        for r in rows
    ]


def no_right_to_create(role: str, schema: str, function_name: str) -> PermissionDeniedError:
    """A FUNCTION goes into current_schema(), as CREATE FUNCTION's would: what to grant."""
    return PermissionDeniedError(
        f"FUNCTION {function_name}: role {role} may not create functions in schema {schema}, "
        "the first of its search_path (PostgreSQL 15 lets only its owner create in schema "
        f"public). An administrator can run CREATE SCHEMA {role} AUTHORIZATION {role} (the "
        f"default search_path puts it first, so the function goes there) or GRANT CREATE ON "
        f"SCHEMA {schema} TO {role}; or SET search_path to a schema {role} may create in; or "
        "train without FUNCTION and call PREDICT"
    )


def _check_may_create_in(plpy: Any, schema: str, function_name: str) -> None:
    """The FUNCTION goes where the caller (not the installer) may create objects."""
    plan = plpy.prepare(
        "SELECT has_schema_privilege(session_user, $1, 'CREATE') AS ok, session_user AS role",
        ["text"],
    )
    (row,) = plpy.execute(plan, [schema])
    if not row["ok"]:
        raise no_right_to_create(row["role"], schema, function_name)


def drop_model_functions(plpy: Any, name: str) -> None:
    """Drop every function made for the model, and nothing that is not one of them."""
    for existing in _made_for(plpy, name):
        plpy.execute(f"DROP FUNCTION {existing.signature}")


def _definer_catalog(plpy: Any) -> Catalog:
    """The catalog as these SECURITY DEFINER functions see it: rights are the session's."""
    return Catalog(SpiExecutor(plpy), caller="session_user")


def drop_model(plpy: Any, name: str) -> None:
    catalog = _definer_catalog(plpy)
    catalog.get(name)
    catalog.check_may_manage(name, "drop")
    for trial in catalog.trial_models(name):
        drop_model_functions(plpy, trial.name)
        catalog.drop(trial.name)
    drop_model_functions(plpy, name)
    catalog.drop(name)


def set_model_version(plpy: Any, name: str, version: int | None, action: str) -> None:
    """SET VERSION n, or (version NULL) ROLLBACK: catalog.set_current, then the functions."""
    catalog = _definer_catalog(plpy)
    catalog.set_current(name, version, action)
    install_model_functions(plpy, name)


def drop_model_version(plpy: Any, name: str, version: int, force: bool) -> None:
    """DROP MODEL m VERSION n [FORCE], with the kept trials of that version."""
    catalog = _definer_catalog(plpy)
    catalog.get(name, version)
    catalog.check_may_manage(name, "drop a version of")
    for trial in catalog.trial_models(name):
        if trial.metadata["trial_of"] == [name, version]:
            drop_model_functions(plpy, trial.name)
            catalog.drop(trial.name)
    if catalog.drop_version(name, version, bool(force)) is not None:
        install_model_functions(plpy, name)


def _dollar_tag(body: str) -> str:
    tag = "$sqlml$"
    while tag in body:
        tag = f"$sqlml{hashlib.sha1(tag.encode()).hexdigest()[:6]}$"
    return tag


def prelude(paths: list[str]) -> str:
    """The lines every function body starts with: find sqlml's packages, load the hand-off.

    The paths are written into the body rather than read from a table, because parallel
    workers cannot run SQL (SPI) and still need to import sqlml.
    """
    return (
        f"import sys; sys.path[:0] = [p for p in {paths!r} if p not in sys.path]\n"
        "from sqlml import in_server as handoff"
    )


def _prelude(plpy: Any) -> str:
    rows = plpy.execute("SELECT value FROM sqlml.catalog_info WHERE key = 'python_path'")
    return prelude(json.loads(rows[0]["value"]) if rows else [])
