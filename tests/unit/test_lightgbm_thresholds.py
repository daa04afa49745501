"""LightGBM -> ONNX parity on float32 inputs that sit exactly on float32-rounded thresholds.

The features are drawn from pairs of *adjacent* float32 values ``(v, nextafter(v, +inf))``,
so LightGBM often splits between the two members of a pair. The double threshold is their
exact midpoint, which rounds to nearest-even in float32 and so rounds *up* to the upper
member about half the time: the training rows themselves then hit the bug. Rows built
directly from the model's rounded-up thresholds are added on top, so the "without the fix
ONNX disagrees" assertions cannot pass vacuously.
"""

from __future__ import annotations

import pickle
from typing import Any

import lightgbm as lgb
import numpy as np
import onnxruntime as ort
import pytest
from onnxmltools.convert.lightgbm.operator_converters.LightGbm import convert_lightgbm
from skl2onnx import convert_sklearn, update_registered_converter
from skl2onnx.common.data_types import FloatTensorType
from skl2onnx.common.shape_calculator import (
    calculate_linear_classifier_output_shapes,
    calculate_linear_regressor_output_shapes,
)

from udfs.lightgbm_thresholds import floor_to_float32, round_thresholds_down_to_float32

# Same as udfs/convert.py. skl2onnx 1.20 refuses its own defaults here (ai.onnx.ml 5,
# main opset 25) and onnxmltools' LightGBM converter supports main opset 15 at most.
TARGET_OPSET = {"": 15, "ai.onnx.ml": 3}
TOL = 1e-5
N_FEATURES = 4

update_registered_converter(
    lgb.LGBMClassifier,
    "LightGbmLGBMClassifier",
    calculate_linear_classifier_output_shapes,
    convert_lightgbm,
    options={"nocl": [True, False], "zipmap": [True, False, "columns"]},
)
update_registered_converter(
    lgb.LGBMRegressor,
    "LightGbmLGBMRegressor",
    calculate_linear_regressor_output_shapes,
    convert_lightgbm,
    options={"split": None},
)


def _paired_float32_data(rng: np.random.Generator, n_rows: int, n_pairs: int = 16) -> np.ndarray:
    """Features drawn from ``n_pairs`` pairs of adjacent float32 values per column."""
    low = rng.uniform(-2.0, 2.0, size=(N_FEATURES, n_pairs)).astype(np.float32)
    values = np.concatenate([low, np.nextafter(low, np.float32(np.inf))], axis=1)
    columns = [rng.choice(values[j], size=n_rows) for j in range(N_FEATURES)]
    return np.stack(columns, axis=1).astype(np.float32)


_SPLIT_KEYS = ("split_feature", "decision_type", "threshold", "missing_type", "default_left")


def _splits(model: Any) -> list[tuple[Any, ...]]:
    """Every split node of the model, as a tuple of _SPLIT_KEYS, in a fixed order."""
    splits: list[tuple[Any, ...]] = []
    stack = [tree["tree_structure"] for tree in model.booster_.dump_model()["tree_info"]]
    while stack:
        node = stack.pop()
        if "split_index" in node:
            splits.append(tuple(node[key] for key in _SPLIT_KEYS))
            stack += [node["right_child"], node["left_child"]]
    return splits


def _numeric_splits(model: Any) -> list[tuple[int, float]]:
    """(feature, double threshold) of every numeric split in the model."""
    return [(s[0], float(s[2])) for s in _splits(model) if s[1] == "<="]


def _rows_on_rounded_up_thresholds(
    model: Any, X: np.ndarray, rng: np.random.Generator, per_threshold: int = 3
) -> np.ndarray:
    """Copies of random rows with one feature set to float32(t) for thresholds t rounding up."""
    rows = []
    for feature, threshold in _numeric_splits(model):
        if float(np.float32(threshold)) > threshold:
            picked = X[rng.integers(0, len(X), per_threshold)].copy()
            picked[:, feature] = np.float32(threshold)
            rows.append(picked)
    assert rows, "no split threshold rounds up in float32; the test data exercise nothing"
    return np.concatenate(rows).astype(np.float32)


def _onnx_predict(model: Any, X: np.ndarray) -> tuple[np.ndarray | None, np.ndarray]:
    """(labels or None, probabilities or regression values) from onnxruntime."""
    is_classifier = isinstance(model, lgb.LGBMClassifier)
    onx = convert_sklearn(
        model,
        initial_types=[("X", FloatTensorType([None, X.shape[1]]))],
        target_opset=TARGET_OPSET,
        options={id(model): {"zipmap": False}} if is_classifier else None,
    )
    sess = ort.InferenceSession(onx.SerializeToString(), providers=["CPUExecutionProvider"])
    outputs = sess.run(None, {"X": X})
    if is_classifier:
        return outputs[0], outputs[1]
    return None, outputs[0].ravel()


def _native_predict(model: Any, X: np.ndarray) -> tuple[np.ndarray | None, np.ndarray]:
    X64 = X.astype(np.float64)  # exact: every float32 is a double
    if isinstance(model, lgb.LGBMClassifier):
        return model.predict(X64), model.predict_proba(X64)
    return None, model.predict(X64)


def _mismatch(model: Any, X: np.ndarray) -> tuple[float, int]:
    """(max |onnx - native|, number of differing labels) on float32 inputs X."""
    onnx_labels, onnx_values = _onnx_predict(model, X)
    native_labels, native_values = _native_predict(model, X)
    max_diff = float(np.max(np.abs(onnx_values - native_values)))
    label_diffs = 0 if native_labels is None else int(np.sum(onnx_labels != native_labels))
    return max_diff, label_diffs


def _special_rows() -> np.ndarray:
    """Float32 edge values: infinities, extremes, signed zeros, subnormals, NaN."""
    finfo = np.finfo(np.float32)
    specials = np.array(
        [np.inf, -np.inf, finfo.max, -finfo.max, 0.0, -0.0, finfo.smallest_subnormal, np.nan],
        dtype=np.float32,
    )
    return np.repeat(specials[:, None], N_FEATURES, axis=1)


def _fit(kind: str, X: np.ndarray, rng: np.random.Generator) -> Any:
    score = np.sin(2.0 * X[:, 0]) + X[:, 1] - 0.5 * X[:, 2] * X[:, 3]
    noisy = score + rng.normal(scale=0.5, size=len(X))
    params = {"n_estimators": 40, "num_leaves": 15, "min_child_samples": 5, "verbose": -1}
    if kind == "binary":
        return lgb.LGBMClassifier(**params).fit(X, (noisy > 0).astype(int))
    if kind == "multiclass":
        return lgb.LGBMClassifier(**params).fit(X, np.digitize(noisy, [-0.5, 0.5]))
    return lgb.LGBMRegressor(**params).fit(X, noisy)


@pytest.mark.parametrize("kind", ["binary", "multiclass", "regression"])
def test_onnx_matches_native_only_after_rounding_down(kind: str) -> None:
    rng = np.random.default_rng(20240611)
    X_train = _paired_float32_data(rng, 3000)
    model = _fit(kind, X_train, rng)
    X = np.concatenate([X_train, _rows_on_rounded_up_thresholds(model, X_train, rng)])
    X_native = np.concatenate([X, _special_rows()])

    native_before = _native_predict(model, X_native)
    leaves_before = model.predict(X_native.astype(np.float64), pred_leaf=True)
    diff_before, labels_before = _mismatch(model, X)
    # The data really exercise the bug: the unfixed model disagrees somewhere.
    assert diff_before > 1e-3, diff_before
    if kind != "regression":
        assert labels_before > 0

    round_thresholds_down_to_float32(model)

    # Native behaviour on float32-representable inputs is bit-for-bit unchanged.
    native_after = _native_predict(model, X_native)
    np.testing.assert_array_equal(
        model.predict(X_native.astype(np.float64), pred_leaf=True), leaves_before
    )
    np.testing.assert_array_equal(native_after[1], native_before[1])
    if kind != "regression":
        np.testing.assert_array_equal(native_after[0], native_before[0])
    assert all(float(np.float32(t)) == t for _, t in _numeric_splits(model))

    diff_after, labels_after = _mismatch(model, X)
    assert diff_after <= TOL, diff_after
    assert labels_after == 0


def test_categorical_missing_values_and_wrapper_state() -> None:
    rng = np.random.default_rng(7)
    n = 2000
    X = _paired_float32_data(rng, n)
    X[:, 3] = rng.integers(0, 12, n)  # categorical column
    X[rng.random(n) < 0.05, 1] = np.nan
    y = (X[:, 0] + np.nan_to_num(X[:, 1]) + 1.5 * np.isin(X[:, 3], [2, 5, 7, 9]) > 0.5).astype(int)
    model = lgb.LGBMClassifier(n_estimators=30, num_leaves=15, verbose=-1)
    model.fit(X, y, categorical_feature=[3])

    before = _splits(model)
    assert any(s[1] == "==" for s in before), "model has no categorical split"
    proba = model.predict_proba(X)
    importances = model.feature_importances_.copy()
    gains = model.booster_.feature_importance("gain")
    old_booster = model.booster_

    round_thresholds_down_to_float32(model)

    assert model.booster_ is not old_booster
    assert model.booster_.best_iteration == old_booster.best_iteration
    after = _splits(model)
    assert len(after) == len(before)
    for b, a in zip(before, after, strict=True):
        assert a[:2] == b[:2] and a[3:] == b[3:]
        if b[1] == "==":
            assert a[2] == b[2]  # categorical sets untouched
        else:
            assert a[2] == floor_to_float32(b[2])
    np.testing.assert_array_equal(model.predict_proba(X), proba)
    np.testing.assert_array_equal(model.feature_importances_, importances)
    np.testing.assert_array_equal(model.booster_.feature_importance("gain"), gains)

    text = model.booster_.model_to_string(num_iteration=-1)
    round_thresholds_down_to_float32(model)  # idempotent
    assert model.booster_.model_to_string(num_iteration=-1) == text
    clone = pickle.loads(pickle.dumps(model))
    np.testing.assert_array_equal(clone.predict_proba(X), proba)

    finite = X[~np.isnan(X).any(axis=1)]
    diff, label_diffs = _mismatch(model, finite)
    assert diff <= TOL and label_diffs == 0


def test_floor_to_float32() -> None:
    f32 = np.finfo(np.float32)
    assert floor_to_float32(0.1) == float(np.float32(0.09999999403953552))
    assert floor_to_float32(1.0) == 1.0
    assert floor_to_float32(1e-50) == 0.0
    assert floor_to_float32(-1e-50) == -float(f32.smallest_subnormal)
    assert floor_to_float32(3.5e38) == float(f32.max)
    assert floor_to_float32(-3.5e38) == -np.inf
    assert floor_to_float32(np.inf) == np.inf
    assert np.isnan(floor_to_float32(np.nan))

    rng = np.random.default_rng(3)
    low = rng.uniform(-10, 10, 2000).astype(np.float32)
    high = np.nextafter(low, np.float32(np.inf))
    midpoints = (low.astype(np.float64) + high.astype(np.float64)) / 2
    doubles = np.concatenate([midpoints, rng.normal(size=2000) * 1e3, rng.normal(size=500) * 1e-40])
    for value in doubles:
        t = float(value)
        floor = floor_to_float32(t)
        assert float(np.float32(floor)) == floor and floor <= t
        assert float(np.nextafter(np.float32(floor), np.float32(np.inf))) > t
        near = np.float32(t)
        up, down = np.float32(np.inf), np.float32(-np.inf)
        for x in (near, np.nextafter(near, up), np.nextafter(near, down)):
            assert (float(x) <= t) == (float(x) <= floor)
