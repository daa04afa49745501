"""The per-row functions of a model (udfs/pg_scoring.py: row_function): the scorer a function
keeps in its SD between calls answers every row as sqlml.predict / sqlml.predict_proba do
(another path: features by name, a new onnxruntime call each row), whatever the kinds of
features and NULLs, and it follows the model when ALTER MODEL ... SET VERSION replaces the
function in the same session."""

from __future__ import annotations

import json

import onnx
import psycopg
import pytest
from pg_support import FAST, FEATURES, GENERATED_ROWS, as_dict, execute, rows, scalar

from sqlml._udfs_loader import udfs

_TRAIN = """
    SELECT *,
        (coalesce(x, 5) + 3 * (word = 'red')::int + 2 * coalesce(flag, false)::int > 6) AS yes,
        ((k + extract(hour FROM ts)::int + coalesce(length(word), 0)) % 3)::integer AS cls,
        coalesce(x, 4) * 2 + k + extract(hour FROM ts)::float8 / 5 AS amount
    FROM ({scored}) g
"""
# Numbers only, with NULLs: the path that binds a preallocated row to onnxruntime.
_NUMBERS = "x, k, flag"
MODELS = {
    "pr_bin": ("yes", FEATURES),
    "pr_multi": ("cls", FEATURES),
    "pr_reg": ("amount", FEATURES),
    "pr_num_bin": ("yes", _NUMBERS),
    "pr_num_multi": ("cls", _NUMBERS),
    "pr_num_reg": ("amount", _NUMBERS),
}


@pytest.fixture(scope="module")
def models(pg: psycopg.Connection) -> None:
    pg.execute(
        "CREATE TABLE train AS " + _TRAIN.format(scored=GENERATED_ROWS.format(start=1, stop=600))
    )
    pg.execute("CREATE TABLE score AS " + GENERATED_ROWS.format(start=10_001, stop=10_300))
    pg.execute("INSERT INTO score VALUES (1, NULL, NULL, NULL, NULL, NULL, NULL)")
    for model, (target, features) in MODELS.items():
        execute(
            pg,
            f"CREATE MODEL {model} TARGET {target} FUNCTION {model}_f OPTIONS ({FAST}) "
            f"AS SELECT {features}, {target} FROM train",
        )


def by_name(model: str, proba: bool) -> str:
    """sqlml.predict / predict_proba with the features as a JSON object: the reference."""
    features = MODELS[model][1]
    pairs = ", ".join(f"'{f}', {f}" for f in features.split(", "))
    function = "predict_proba" if proba else "predict"
    return f"sqlml.{function}('{model}', jsonb_build_object({pairs}))"


def per_row(model: str, proba: bool) -> str:
    name = udfs.naming.predict_function(model, proba)
    return f'sqlml."{name}"({MODELS[model][1]})'


CASES = [(m, False) for m in MODELS] + [(m, True) for m in MODELS if "reg" not in m]


@pytest.mark.parametrize(("model", "proba"), CASES, ids=[f"{m}-{p}" for m, p in CASES])
def test_per_row_answers_equal_predict_by_name(pg, models, model, proba):
    pg.execute("SET max_parallel_workers_per_gather = 0")
    got = rows(pg, f"SELECT id, {per_row(model, proba)}, {by_name(model, proba)} FROM score")
    for row_id, answer, reference in got:
        assert answer is not None, row_id
        if proba:  # a number (binary) or {label: probability}, as jsonb
            assert answer == as_dict(reference), row_id
        elif isinstance(answer, float):  # regression; text holds the float8 exactly
            assert answer == float(reference), row_id
        else:  # the label; sqlml.predict gives it as text
            assert (json.dumps(answer) if isinstance(answer, bool) else str(answer)) == reference
    assert len({repr(r[1]) for r in got}) >= 2  # the rows do not all get one answer


def test_a_call_answers_alone_as_within_a_scan(pg, models):
    """The scorer's buffers are reused row after row: no answer leaks into the next one."""
    pg.execute("SET max_parallel_workers_per_gather = 0")
    scanned = dict(rows(pg, f"SELECT id, pr_num_bin_f({_NUMBERS}) FROM score ORDER BY id"))
    for row_id in list(scanned)[:20]:
        alone = scalar(pg, f"SELECT pr_num_bin_f({_NUMBERS}) FROM score WHERE id = %s", [row_id])
        assert alone == scanned[row_id]


def test_the_function_follows_set_version_in_the_same_session(pg, models):
    query = f"SELECT array_agg(pr_num_reg_f({_NUMBERS}) ORDER BY id) FROM score"
    first = scalar(pg, query)  # version 1's scorer is now in the function's SD
    execute(
        pg,
        "CREATE OR REPLACE MODEL pr_num_reg TARGET amount FUNCTION pr_num_reg_f "
        "OPTIONS (n_estimators = 3, n_jobs = 1) AS SELECT x, k, flag, amount FROM train",
    )
    second = scalar(pg, query)
    reference = [
        float(r[0])
        for r in rows(pg, f"SELECT {by_name('pr_num_reg', False)} FROM score ORDER BY id")
    ]
    assert second != first and second == reference
    execute(pg, "ALTER MODEL pr_num_reg SET VERSION 1")
    assert scalar(pg, query) == first


def test_numeric_models_feed_their_matrix_to_the_model_without_split_and_concat(pg, models):
    """convert.py: the ColumnTransformer's Concat of every numeric column, in order, is the
    ``numeric`` input itself; the Split in front of it goes too."""
    stored = scalar(
        pg,
        "SELECT v.onnx FROM sqlml.model_versions v JOIN sqlml.model_registry r "
        "ON r.name = v.name AND r.current_version = v.version WHERE v.name = 'pr_num_bin'",
    )
    graph = onnx.load_from_string(bytes(stored)).graph
    assert [i.name for i in graph.input] == ["numeric"]
    assert not {"Split", "Concat"} & {n.op_type for n in graph.node}
