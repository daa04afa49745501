"""PostgreSQL's side: the PL/Python entry points that sql/'s functions hand off to.

Everything here runs inside a PostgreSQL backend process. ``plpy`` (SPI) is passed in by
the caller, never imported, so the module also loads outside the server.
"""

from __future__ import annotations

import base64
import hashlib
import json
import re
import struct
import textwrap
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pyarrow as pa

from sqlml.errors import InvalidTrainingDataError, PermissionDeniedError, SqlmlError

from . import naming
from .catalog import Catalog, ModelVersion
from .features import (
    CATEGORICAL_INPUT,
    NULL_CATEGORY,
    NUMERIC_INPUT,
    Feature,
    number_of,
    row_inputs,
)
from .predict import Predictor
from .train import TrainRequest, check_columns, evaluate, train

SCHEMA = "sqlml"
_NAN = "'\\x7ff8000000000000'::bytea"


def call(plpy: Any, function: Any, *args: Any) -> Any:
    """Run an entry point; a sqlml error becomes a PostgreSQL ERROR with its SQLSTATE."""
    try:
        return function(plpy, *args)
    except SqlmlError as error:
        raise _server_error(plpy, str(error), error.sqlstate) from None
    except plpy.SPIError as error:
        # A sqlml error raised by a function this one called through SQL: pass it on as
        # it was, rather than as the SQL call that failed.
        message = str(error)
        if not message.startswith("sqlml: "):
            raise
        raise _server_error(plpy, message.removeprefix("sqlml: "), error.sqlstate) from None


_ERROR_CLASSES: dict[int, type] = {}


def _server_error(plpy: Any, message: str, sqlstate: str) -> Exception:
    """A plpy.Error that PostgreSQL reports as ``ERROR: sqlml: <message>``.

    PL/Python prefixes the message with the exception's class name; a class called
    ``sqlml`` makes that prefix read as the product's name. schema_name marks the ERROR as
    sqlml's own, so the client can map it back to the same Python exception.
    """
    cls = _ERROR_CLASSES.get(id(plpy.Error))
    if cls is None:
        cls = type("sqlml", (plpy.Error,), {"__module__": "builtins"})
        _ERROR_CLASSES[id(plpy.Error)] = cls
    server_error = cls(message)
    server_error.sqlstate = sqlstate
    server_error.schema_name = "sqlml"
    return server_error


class SpiExecutor:
    """Runs the catalog's ``?``-parameterised SQL through SPI."""

    blob_type = "BYTEA"

    def __init__(self, plpy: Any):
        self.plpy = plpy
        self._plans: dict[tuple, Any] = {}

    def run(self, sql: str, params: Sequence[Any] = ()) -> list[tuple]:
        params = list(params)
        if params:
            types = tuple(_spi_type(v) for v in params)
            key = (sql, types)
            plan = self._plans.get(key)
            if plan is None:
                plan = self.plpy.prepare(_dollar_params(sql), list(types))
                self._plans[key] = plan
            result = self.plpy.execute(plan, params)
        else:
            result = self.plpy.execute(sql)
        return rows_of(result)


def rows_of(result: Any) -> list[tuple]:
    try:
        columns = result.colnames()
    except Exception:  # a statement without a result set
        return []
    return [tuple(row[c] for c in columns) for row in result]


def _spi_type(value: Any) -> str:
    import datetime as dt

    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int):
        return "bigint"
    if isinstance(value, float):
        return "double precision"
    if isinstance(value, bytes | bytearray | memoryview):
        return "bytea"
    if isinstance(value, dt.datetime):
        return "timestamp"
    return "text"


def _dollar_params(sql: str) -> str:
    counter = iter(range(1, 10_000))
    return re.sub(r"\?", lambda _: f"${next(counter)}", sql)


# -- reading rows ------------------------------------------------------------------------

# SQL type → how its values travel: packed float8 bytes, or an array of text.
_NUMBER_TYPES = {
    "smallint": pa.int16(),
    "integer": pa.int32(),
    "bigint": pa.int64(),
    "real": pa.float32(),
    "double precision": pa.float64(),
    "numeric": pa.float64(),
    "boolean": pa.bool_(),
    "date": pa.date32(),
    "timestamp without time zone": pa.timestamp("us"),
    "timestamp with time zone": pa.timestamp("us", tz="UTC"),
}


def describe(plpy: Any, query: str) -> list[tuple[str, str]]:
    """(column, SQL type) of a query's result, without reading its rows."""
    result = plpy.execute(f"SELECT * FROM ({query}) AS _sqlml_q LIMIT 0")
    names, oids, mods = result.colnames(), result.coltypes(), result.coltypmods()
    plan = plpy.prepare("SELECT format_type($1, $2) AS t", ["oid", "integer"])
    return [
        (n, plpy.execute(plan, [o, m])[0]["t"]) for n, o, m in zip(names, oids, mods, strict=True)
    ]


def _base_type(sql_type: str) -> str:
    return re.sub(r"\(.*\)", "", sql_type).strip()


def read_query(plpy: Any, query: str) -> tuple[pa.Table, dict[str, str]]:
    """All rows of a query as Arrow, read column-wise in one aggregate pass.

    Numbers, booleans and times travel as one float8-packed bytea per column (NULL as
    NaN), text as one array: SPI then builds a handful of Python objects instead of one per
    value. Every aggregate of one pass sees the rows in the same order.
    """
    columns = describe(plpy, query)
    if not columns:
        raise InvalidTrainingDataError("the query returns no columns")
    parts = [f"count(*) AS {plpy.quote_ident('_sqlml_rows')}"]
    for i, (name, sql_type) in enumerate(columns):
        column = f"_sqlml_q.{plpy.quote_ident(name)}"
        base = _base_type(sql_type)
        if base in _NUMBER_TYPES:
            value = _as_float8(column, base)
            parts.append(f"string_agg(coalesce(float8send({value}), {_NAN}), ''::bytea) AS c{i}")
        else:
            parts.append(f"array_agg({column}::text) AS c{i}")
    row = plpy.execute(f"SELECT {', '.join(parts)} FROM ({query}) AS _sqlml_q")[0]
    n = row["_sqlml_rows"]
    arrays = []
    for i, (_, sql_type) in enumerate(columns):
        value = row[f"c{i}"]
        base = _base_type(sql_type)
        if base in _NUMBER_TYPES:
            packed = np.frombuffer(value or b"", dtype=">f8").astype(np.float64)
            arrays.append(_from_float8(packed, _NUMBER_TYPES[base]))
        else:
            arrays.append(pa.array(value or [], type=pa.string()))
        assert len(arrays[-1]) == n
    table = pa.Table.from_arrays(arrays, names=[name for name, _ in columns])
    return table, dict(columns)


def _as_float8(column: str, base: str) -> str:
    if base == "boolean":
        return f"{column}::int::float8"
    if base == "date":
        return f"({column} - DATE '1970-01-01')::float8"
    if base.startswith("timestamp"):
        return f"extract(epoch FROM {column})::float8"
    return f"{column}::float8"


def _from_float8(values: np.ndarray, kind: pa.DataType) -> pa.Array:
    missing = np.isnan(values)
    mask = missing if missing.any() else None
    if pa.types.is_boolean(kind):
        return pa.array(values == 1.0, mask=mask)
    if pa.types.is_date(kind):
        return pa.array(np.where(missing, 0, values).astype(np.int32), mask=mask).cast(kind)
    if pa.types.is_timestamp(kind):
        micros = np.where(missing, 0, np.round(values * 1e6)).astype(np.int64)
        return pa.array(micros, mask=mask).cast(pa.timestamp("us")).cast(kind)
    if pa.types.is_integer(kind):
        return pa.array(np.where(missing, 0, values).astype(kind.to_pandas_dtype()), mask=mask)
    return pa.array(values.astype(kind.to_pandas_dtype()), mask=mask)


# -- training ------------------------------------------------------------------------------


def train_model(
    plpy: Any, name: str, query: str, request_json: str, function_name: str | None
) -> int:
    """CREATE MODEL inside the server: read, train, store, create the model's functions."""
    request = TrainRequest(**json.loads(request_json))
    check_columns([c for c, _ in describe(plpy, query)], request)
    notice = _notice(plpy)
    notice("reading training data")
    table, types = read_query(plpy, query)
    request.sql_types = types
    trained = train(table, request, notice)
    del table
    metadata = dict(trained.metadata)
    if function_name:
        (schema,) = plpy.execute("SELECT current_schema() AS s")[0].values()
        metadata["function_schema"] = schema
    version = Catalog(SpiExecutor(plpy)).add_version(name, trained.onnx, metadata, function_name)
    # Creating PL/Python functions needs the installer's rights: a SECURITY DEFINER
    # function does it from the catalog alone, running none of the caller's SQL.
    plpy.execute(plpy.prepare("SELECT sqlml._install_model_functions($1)", ["text"]), [name])
    return version


def _notice(plpy: Any):
    def notice(message: str) -> None:
        plpy.notice(f"sqlml: {message}")

    return notice


# -- the functions that serve a model --------------------------------------------------------

_SQL_ARGUMENT_TYPES = {
    "numeric": "double precision",
    "boolean": "boolean",
    "categorical": "text",
    "temporal": "timestamp",
}
_SQL_LABEL_TYPES = {
    "bool": "boolean",
    "int8": "smallint",
    "int16": "smallint",
    "int32": "integer",
    "int64": "bigint",
    "uint8": "integer",
    "uint16": "integer",
    "uint32": "bigint",
    "uint64": "numeric",
    "float": "real",
    "double": "double precision",
}


def return_type(metadata: dict[str, Any], proba: bool) -> str:
    if metadata["task"] == "regression":
        return "double precision"
    if proba:
        return "double precision" if len(metadata["classes"]) == 2 else "jsonb"
    return _SQL_LABEL_TYPES.get(metadata["label_type"], "text")


def batch_return_type(metadata: dict[str, Any], proba: bool) -> str:
    """A batch function's answers: numbers as a float8[]'s own bytes (sqlml.float8_array turns
    them back without a per-value conversion), labels and JSON as arrays."""
    numbers = metadata["task"] == "regression" or (proba and len(metadata["classes"]) == 2)
    return "bytea" if numbers else f"{return_type(metadata, proba)}[]"


def install_model_functions(plpy: Any, name: str, previous: ModelVersion | None = None) -> None:
    """(Re)create the SQL functions of the model's in-use version.

    The ONNX bytes are part of each function's body: a PARALLEL SAFE function cannot use
    SPI, so it cannot read the catalog, and this way parallel workers can score rows too.
    """
    catalog = Catalog(SpiExecutor(plpy))
    model = catalog.get(name)
    onnx = catalog.onnx(name, model.version)
    prelude = _prelude(plpy)
    payload = base64.b64encode(onnx).decode()
    meta = json.dumps(model.metadata)
    features = [Feature.from_json(f) for f in model.metadata["features"]]
    arguments = ", ".join(_SQL_ARGUMENT_TYPES[f.kind] for f in features)
    targets = [(f"{SCHEMA}.{plpy.quote_ident(naming.predict_function(name))}", False)]
    if model.task == "classification":
        targets.append(
            (f"{SCHEMA}.{plpy.quote_ident(naming.predict_function(name, proba=True))}", True)
        )
    if model.function_name:
        schema = model.metadata.get("function_schema", "public")
        _check_may_create_in(plpy, schema)
        qualified = f"{plpy.quote_ident(schema)}.{plpy.quote_ident(model.function_name)}"
        targets.append((qualified, False))
    setup = textwrap.indent(prelude, "    ")
    for qualified, proba in targets:
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
        _create_function(
            plpy,
            name,
            model.version,
            qualified,
            arguments,
            return_type(model.metadata, proba),
            body,
        )
    # The batch forms: a packed chunk of rows per call (see rewrite/batch.py).
    for proba in (False, True) if model.task == "classification" else (False,):
        qualified = f"{SCHEMA}.{plpy.quote_ident(naming.predict_function(name, proba, True))}"
        body = (
            f"{prelude}\n"
            f"return handoff.call(plpy, handoff.predict_batch, GD, {model.onnx_sha256!r}, "
            f"{payload!r}, {meta!r}, n, numbers, texts, {proba!r})"
        )
        _create_function(
            plpy,
            name,
            model.version,
            qualified,
            "n integer, numbers bytea, texts text[]",
            batch_return_type(model.metadata, proba),
            body,
        )


def _create_function(
    plpy: Any, model: str, version: int, qualified: str, arguments: str, returns: str, body: str
) -> None:
    schema, name = _schema_and_name(plpy, qualified)
    for existing in _existing_functions(plpy, schema, name):
        if not existing.belongs_to(model):
            raise PermissionDeniedError(
                f"a function {qualified}({existing.arguments}) exists and is not model "
                f"{model!r}'s: choose another FUNCTION name"
            )
        if (existing.arguments, existing.returns) != (arguments, returns):
            plpy.execute(f"DROP FUNCTION {existing.signature}")
    tag = _dollar_tag(body)
    # STABLE, not IMMUTABLE: ALTER MODEL ... SET VERSION changes what the name answers.
    plpy.execute(
        f"CREATE OR REPLACE FUNCTION {qualified}({arguments}) RETURNS {returns} "
        f"LANGUAGE plpython3u STABLE PARALLEL SAFE AS {tag}{body}{tag}"
    )
    signature = f"{qualified}({arguments})"
    comment = plpy.quote_literal(f"{_COMMENT_PREFIX}{model} version {version}")
    plpy.execute(f"COMMENT ON FUNCTION {signature} IS {comment}")
    # Using a model is a right of its own: sqlml_user has it, PUBLIC does not.
    plpy.execute(f"REVOKE ALL ON FUNCTION {signature} FROM PUBLIC")
    plpy.execute(f"GRANT EXECUTE ON FUNCTION {signature} TO sqlml_user")


# Every function sqlml creates for a model says so in its comment, which only its owner
# (the installer) can set: that and the owner tell a model's function from anyone else's.
_COMMENT_PREFIX = "sqlml model "


@dataclass(frozen=True)
class _ExistingFunction:
    signature: str  # as regprocedure prints it, quoted: usable in DROP FUNCTION
    arguments: str
    returns: str
    owned: bool  # by the role these SECURITY DEFINER functions run as
    comment: str

    def belongs_to(self, model: str) -> bool:
        return self.owned and self.comment.startswith(f"{_COMMENT_PREFIX}{model} version ")


def _schema_and_name(plpy: Any, qualified: str) -> tuple[str, str]:
    row = plpy.execute(
        plpy.prepare("SELECT (parse_ident($1))[1] AS s, (parse_ident($1))[2] AS n", ["text"]),
        [qualified],
    )[0]
    return row["s"], row["n"]


def _existing_functions(plpy: Any, schema: str, name: str) -> list[_ExistingFunction]:
    rows = plpy.execute(
        plpy.prepare(
            "SELECT p.oid::regprocedure::text AS signature, "
            "pg_get_function_identity_arguments(p.oid) AS arguments, "
            "pg_get_function_result(p.oid) AS returns, "
            "p.proowner = (SELECT oid FROM pg_roles WHERE rolname = current_user) AS owned, "
            "coalesce(obj_description(p.oid, 'pg_proc'), '') AS comment "
            "FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace "
            "WHERE n.nspname = $1 AND p.proname = $2",
            ["text", "text"],
        ),
        [schema, name],
    )
    return [
        _ExistingFunction(
            r["signature"],
            ", ".join(a.strip() for a in r["arguments"].split(",")) if r["arguments"] else "",
            r["returns"],
            r["owned"],
            r["comment"],
        )
        for r in rows
    ]


def _check_may_create_in(plpy: Any, schema: str) -> None:
    """The FUNCTION goes where the caller (not the installer) may create objects."""
    plan = plpy.prepare("SELECT has_schema_privilege(session_user, $1, 'CREATE') AS ok", ["text"])
    if not plpy.execute(plan, [schema])[0]["ok"]:
        raise PermissionDeniedError(f"FUNCTION: you may not create functions in schema {schema!r}")


def drop_model_functions(plpy: Any, model: ModelVersion) -> None:
    """Drop the model's functions, and nothing that is not one of them."""
    places = [
        (SCHEMA, naming.predict_function(model.name, proba, batch))
        for proba in (False, True)
        for batch in (False, True)
    ]
    if model.function_name:
        places.append((model.metadata.get("function_schema", "public"), model.function_name))
    for schema, name in places:
        for existing in _existing_functions(plpy, schema, name):
            if existing.belongs_to(model.name):
                plpy.execute(f"DROP FUNCTION {existing.signature}")


def drop_model(plpy: Any, name: str) -> None:
    catalog = Catalog(SpiExecutor(plpy))
    drop_model_functions(plpy, catalog.get(name))
    catalog.drop(name)


def set_model_version(plpy: Any, name: str, version: int) -> None:
    catalog = Catalog(SpiExecutor(plpy))
    catalog.set_current(name, version)
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
        "from sqlml._udfs_loader import udfs; handoff = udfs.postgres"
    )


def _prelude(plpy: Any) -> str:
    rows = plpy.execute("SELECT value FROM sqlml.catalog_info WHERE key = 'python_path'")
    return prelude(json.loads(rows[0]["value"]) if rows else [])


# -- predicting ----------------------------------------------------------------------------


def _predictor(cache: dict, key: str, onnx_b64: str, meta: str, threads: int = 1) -> Predictor:
    predictor = cache.get(("sqlml", key, threads))
    if predictor is None:
        predictor = Predictor(base64.b64decode(onnx_b64), json.loads(meta), threads=threads)
        cache[("sqlml", key, threads)] = predictor
    return predictor


def row_function(
    plpy: Any, cache: dict, key: str, onnx_b64: str, meta: str, proba: bool
) -> Callable[[list], Any]:
    """What a per-row SQL function of a model calls for each row: built on its first call
    and kept in the function's SD, so later calls skip the prelude, the cache look-ups and
    ``call``'s frame (measured in m_fn: 9.4 → 6.6 µs a row, PL/Python's own 2 µs included)."""
    scorer = _row_scorer(cache, key, onnx_b64, meta)
    answer = _row_answer(scorer.predictor, proba)

    def score(args: list) -> Any:
        try:
            return answer(scorer(args))
        except SqlmlError as error:  # what ``call`` does, without its frame on every row
            raise _server_error(plpy, str(error), error.sqlstate) from None

    return score


def predict_row(
    plpy: Any, cache: dict, key: str, onnx_b64: str, meta: str, args: list, proba: bool
) -> Any:
    """One row's answer: the body of per-row functions made before ``row_function``."""
    scorer = _row_scorer(cache, key, onnx_b64, meta)
    return _row_answer(scorer.predictor, proba)(scorer(args))


def _row_scorer(cache: dict, key: str, onnx_b64: str, meta: str) -> _RowScorer:
    # One per process and model, shared by its functions (labels, probabilities, FUNCTION).
    scorer = cache.get(("sqlml-row", key))
    if scorer is None:
        scorer = cache[("sqlml-row", key)] = _RowScorer(_predictor(cache, key, onnx_b64, meta))
    return scorer


class _RowScorer:
    """One row through onnxruntime with as little Python around it as possible.

    The numbers go into a preallocated [1, k] float32 array that an IOBinding shares with
    onnxruntime, and the scores come back in another; so a call builds no dict, array or
    output list (measured: ``session.run`` with fresh arrays 6.7 µs, this 4.9 µs). The
    arrays are overwritten by the next row: a backend runs one call at a time, and the
    answer is read out as Python values before the call returns. onnxruntime binds no
    string tensors, so models with text features take ``session.run`` instead.
    """

    def __init__(self, predictor: Predictor):
        import onnxruntime as ort

        self.predictor = predictor
        features = predictor.features
        session = predictor.session
        self._numeric = [(i, f) for i, f in enumerate(features) if not f.onnx_is_string]
        self._text = [i for i, f in enumerate(features) if f.onnx_is_string]
        # Numbers and booleans as PL/Python hands them go straight into the float32 row
        # (numpy reads None as NaN, like number_of); dates need converting.
        self._direct = not self._text and all(f.kind != "temporal" for _, f in self._numeric)
        self._numbers = np.zeros((1, len(self._numeric)), dtype=np.float32)
        outputs = [o.name for o in session.get_outputs()]
        self._output = [outputs[1] if predictor.task == "classification" else outputs[0]]
        self._run = session.run
        self._feeds: dict[str, np.ndarray] = {}
        if self._numeric:
            self._feeds[NUMERIC_INPUT] = self._numbers
        if self._text:
            return
        # The scores' shape and type for one row, from one row of NULLs.
        (sample,) = session.run(self._output, row_inputs(features, [None] * len(features)))
        self._scores = np.zeros_like(sample)
        self._binding = session.io_binding()
        self._binding.bind_ortvalue_input(
            NUMERIC_INPUT, ort.OrtValue.ortvalue_from_numpy(self._numbers)
        )
        self._binding.bind_ortvalue_output(
            self._output[0], ort.OrtValue.ortvalue_from_numpy(self._scores)
        )
        self._run_bound = session.run_with_iobinding

    def __call__(self, args: list) -> np.ndarray:
        """The row's scores ([1, classes] or [1, 1]), valid until the next call."""
        if self._direct:
            try:
                self._numbers[0] = args
            except (TypeError, ValueError):  # number_of says which feature, and why
                self._numbers[0] = [number_of(f, args[i]) for i, f in self._numeric]
            self._run_bound(self._binding)
            return self._scores
        if self._numeric:
            self._numbers[0] = [number_of(f, args[i]) for i, f in self._numeric]
        if not self._text:
            self._run_bound(self._binding)
            return self._scores
        texts = [NULL_CATEGORY if args[i] is None else str(args[i]) for i in self._text]
        self._feeds[CATEGORICAL_INPUT] = np.array([texts], dtype=object)
        return self._run(self._output, self._feeds)[0]


def _row_answer(predictor: Predictor, proba: bool) -> Callable[[np.ndarray], Any]:
    """One row's scores as the SQL answer, in plain Python values: the same answers as
    ``_answer`` (clipped to [0, 1], np.argmax's choice of label) without numpy calls."""
    if predictor.task == "regression":
        return lambda scores: scores.item(0)
    classes = predictor.classes
    if proba and len(classes) == 2:
        return lambda scores: _clip(scores.item(1))
    if proba:
        labels = [str(c) for c in classes]
        return lambda scores: json.dumps(
            dict(zip(labels, [_clip(p) for p in scores.tolist()[0]], strict=True))
        )
    if len(classes) == 2:
        first, second = classes

        def label(scores: np.ndarray) -> Any:
            p0, p1 = _clip(scores.item(0)), _clip(scores.item(1))
            return second if p1 > p0 or (p1 != p1 and p0 == p0) else first  # NaN: argmax's

        return label
    return lambda scores: classes[_first_max([_clip(p) for p in scores.tolist()[0]])]


def _clip(p: float) -> float:
    """np.clip(p, 0, 1): float32 sums of tree votes can land a hair outside [0, 1]."""
    return 0.0 if p < 0.0 else 1.0 if p > 1.0 else p


def _first_max(values: list[float]) -> int:
    """np.argmax of a short list: the first largest value, or the first NaN."""
    best = 0
    for i, value in enumerate(values):
        if value != value:
            return i
        if value > values[best]:
            best = i
    return best


# One onnxruntime thread: with more, a tree ensemble may sum its trees in another order
# and a row's probability would differ in the last bits between query shapes.
BATCH_THREADS = 1


def predict_batch(
    plpy: Any,
    cache: dict,
    key: str,
    onnx_b64: str,
    meta: str,
    n: int,
    numeric: bytes | None,
    categorical: list | None,
    proba: bool,
) -> list:
    """Answers for a chunk of ``n`` rows packed by rewrite/batch.py: numbers as one binary
    [n, k] real array, text feature after feature in one text array. The answers come back
    in row order: numbers as a float8[]'s bytes (see batch_return_type), others as a list."""
    if not n:
        return None
    predictor = _predictor(cache, key, onnx_b64, meta, threads=BATCH_THREADS)
    inputs = {}
    if numeric:
        inputs[NUMERIC_INPUT] = _real_matrix(numeric, n)
    if categorical:
        values = [NULL_CATEGORY if v is None else v for v in categorical]
        inputs[CATEGORICAL_INPUT] = np.array(values, dtype=object).reshape(-1, n).T.copy()
    scores = predictor.scores_from_inputs(inputs)
    if predictor.task == "regression":
        return _float8_array(scores.reshape(-1))
    if not proba:
        return [predictor.classes[i] for i in scores.argmax(axis=1).tolist()]
    if scores.shape[1] == 2:
        return _float8_array(scores[:, 1])
    labels = [str(c) for c in predictor.classes]
    return [json.dumps(dict(zip(labels, row, strict=True))) for row in scores.tolist()]


_FLOAT4_OID = 700
_FLOAT8_OID = 701


def _float8_array(values: np.ndarray) -> bytes:
    """A 1-D float8[] as PostgreSQL keeps it in memory, without its length word: ndim 1,
    data offset 0 (no NULL bitmap), element type, length, lower bound 1, then the values in
    the server's byte order (at byte 24 counting the length word: 8-byte aligned)."""
    header = struct.pack("=iiIii", 1, 0, _FLOAT8_OID, len(values), 1)
    return header + np.ascontiguousarray(values, dtype=np.float64).tobytes()


def _real_matrix(packed: bytes, n: int) -> np.ndarray:
    """A 2-D real[] as sqlml.array_bytes hands it over (PostgreSQL's in-memory array without
    its length word) as float32 [n, k].

    Layout: ndim, data offset (0: no NULL bitmap), element type, then the length and the
    lower bound of each dimension; the values follow, in the server's byte order, from the
    data offset or else the header's end rounded up to 8 bytes (counting the length word).
    The values come with no NULLs: they are coalesced to NaN.
    """
    ndim, offset, element_type = np.frombuffer(packed, dtype=np.int32, count=3)
    if element_type != _FLOAT4_OID or ndim != 2 or offset:
        raise ValueError(f"not a 2-D real[] without NULLs: {ndim}, {offset}, {element_type}")
    rows, width = (int(d) for d in np.frombuffer(packed, dtype=np.int32, count=2, offset=12))
    if rows != n:
        raise ValueError(f"the packed chunk has {rows} rows, not {n}")
    start = -(-(4 + 12 + 8 * ndim) // 8) * 8 - 4  # MAXALIGN(header) less the length word
    return np.frombuffer(packed, dtype=np.float32, count=rows * width, offset=start).reshape(
        rows, width
    )


def _answer(predictor: Predictor, scores: np.ndarray, proba: bool) -> Any:
    if predictor.task == "regression":
        return float(np.ravel(scores)[0])
    classes = predictor.classes
    if proba:
        if len(classes) == 2:
            return float(scores[1])
        return json.dumps({str(c): float(p) for c, p in zip(classes, scores, strict=True)})
    return classes[int(np.argmax(scores))]


def predict_json(plpy: Any, cache: dict, name: str, row_json: str, proba: bool) -> Any:
    """sqlml.predict(model, jsonb): features looked up by name in a JSON object."""
    catalog = Catalog(SpiExecutor(plpy))
    model = catalog.get(name)
    predictor = cache.get(("sqlml", model.onnx_sha256))
    if predictor is None:
        onnx = catalog.onnx(name, model.version)
        predictor = Predictor(onnx, model.metadata)
        cache[("sqlml", model.onnx_sha256)] = predictor
    row = json.loads(row_json)
    missing = [f.name for f in predictor.features if f.name not in row]
    if missing:
        from sqlml.errors import InputSchemaError

        raise InputSchemaError(f"sqlml.predict({name!r}, ...): the row has no {', '.join(missing)}")
    values = [row[f.name] for f in predictor.features]
    scores = predictor.scores_from_inputs(row_inputs(predictor.features, values))
    if proba and model.task != "classification":
        raise SqlmlError(f"model {name!r} is a {model.task} model; use sqlml.predict")
    answer = _answer(predictor, scores[0], proba)
    if proba:  # jsonb: a number for binary models, an object for multiclass ones
        return answer if isinstance(answer, str) else json.dumps(answer)
    return json.dumps(answer) if isinstance(answer, bool) else str(answer)  # text


def evaluate_model(plpy: Any, cache: dict, name: str, query: str) -> str:
    catalog = Catalog(SpiExecutor(plpy))
    model = catalog.get(name)
    predictor = Predictor(catalog.onnx(name, model.version), model.metadata)
    table, _ = read_query(plpy, query)
    return json.dumps(evaluate(predictor, table))
