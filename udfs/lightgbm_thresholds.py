"""Make LightGBM split thresholds exact in float32 before converting a model to ONNX.

Why
---
LightGBM keeps every numeric split threshold ``t`` as a double and, at prediction time,
compares ``double(x) <= t``. The ONNX ``TreeEnsemble*`` operators produced by onnxmltools
store thresholds as float32, and the double is rounded to the *nearest* float32. When the
rounding goes up (``float32(t) > t``), a float32 input ``x == float32(t)`` satisfies
``x <= float32(t)`` in ONNX but not ``x <= t`` in LightGBM, so the row goes down the other
branch and the prediction changes (observed: a probability off by 0.014 on a few rows of a
million). Rows sitting exactly on such a value are common, because LightGBM puts thresholds
between neighbouring training values and data are often float32 or low precision.

The fix
-------
For any float32 value ``x`` and double ``t``::

    x <= t   <=>   x <= floor32(t)

where ``floor32(t)`` is the largest float32 that is ``<= t``: no float32 lies strictly
between the two. Replacing every numeric threshold by ``floor32(t)`` therefore leaves the
native model's decisions unchanged on every float32-representable input (including
``+-inf``; NaN and zero handling do not depend on the threshold), while the converted ONNX
threshold is now exactly representable, so ONNX takes the same branch as LightGBM.

Categorical splits (bit 0 of ``decision_type`` set) use ``threshold`` as an index into
``cat_boundaries`` and are left untouched, as are the trees' leaf values, gains and
counts, so feature importances and everything else about the model stay the same.

Only numpy, lightgbm and the standard library are imported, so this module can be loaded
on its own inside the database.
"""

from __future__ import annotations

import copy
import itertools
import math
from typing import Any

import lightgbm
import numpy as np

__all__ = ["floor_to_float32", "round_thresholds_down_to_float32"]

_FLOAT32_MAX = float(np.finfo(np.float32).max)
_CATEGORICAL_MASK = 1  # LightGBM kCategoricalMask: bit 0 of decision_type
_TREE_HEADER = "Tree="
_END_OF_TREES = "end of trees"
_TREE_SIZES = "tree_sizes="


def floor_to_float32(value: float) -> float:
    """Return the largest float32 (as a Python float) that is ``<= value``.

    NaN and infinities are returned unchanged; values above the float32 range map to the
    largest finite float32 and values below it to ``-inf``.
    """
    if math.isnan(value) or math.isinf(value):
        return value
    if value > _FLOAT32_MAX:
        return _FLOAT32_MAX
    if value < -_FLOAT32_MAX:
        return -math.inf
    nearest = np.float32(value)  # round to nearest, ties to even
    if float(nearest) > value:
        nearest = np.nextafter(nearest, np.float32(-np.inf))
    return float(nearest)


def _round_tree_block(lines: list[str]) -> int:
    """Round the numeric thresholds of one ``Tree=`` block in place; return how many changed."""
    keys = {line.split("=", 1)[0]: i for i, line in enumerate(lines) if "=" in line}
    if "threshold" not in keys or "decision_type" not in keys:
        if "num_leaves" in keys and int(lines[keys["num_leaves"]].split("=", 1)[1]) <= 1:
            return 0  # a single leaf has no splits
        raise ValueError(f"unexpected LightGBM tree block without threshold: {lines[0]!r}")
    thr_idx = keys["threshold"]
    thresholds = lines[thr_idx].split("=", 1)[1].split()
    decision_types = lines[keys["decision_type"]].split("=", 1)[1].split()
    if len(thresholds) != len(decision_types):
        raise ValueError(
            f"{lines[0]}: {len(thresholds)} thresholds but {len(decision_types)} decision types"
        )
    changed = 0
    for i, (token, decision_type) in enumerate(zip(thresholds, decision_types, strict=True)):
        if int(decision_type) & _CATEGORICAL_MASK:
            continue  # threshold is an index into cat_boundaries, not a value
        value = float(token)
        rounded = floor_to_float32(value)
        if rounded != value:
            thresholds[i] = repr(rounded)
            changed += 1
    if changed:
        lines[thr_idx] = "threshold=" + " ".join(thresholds)
    return changed


def _round_model_string(model_str: str) -> tuple[str, int]:
    """Rewrite a LightGBM model text; return it and the number of thresholds changed."""
    lines = model_str.split("\n")
    try:
        end = lines.index(_END_OF_TREES)
    except ValueError:
        raise ValueError("not a LightGBM model string: no 'end of trees' line") from None
    starts = [i for i in range(end) if lines[i].startswith(_TREE_HEADER)]
    bounds = [*starts, end]
    sizes_idx = next((i for i in range(end) if lines[i].startswith(_TREE_SIZES)), None)

    def block_sizes() -> list[int]:
        # Bytes from a "Tree=" line up to the next one (or "end of trees"), as LightGBM's
        # tree_sizes header counts them; it seeks to these offsets when loading.
        return [
            sum(len(line.encode("utf-8")) + 1 for line in lines[a:b])
            for a, b in itertools.pairwise(bounds)
        ]

    if sizes_idx is not None:
        declared = [int(s) for s in lines[sizes_idx][len(_TREE_SIZES) :].split()]
        if declared != block_sizes():
            raise ValueError("LightGBM model string: tree_sizes does not match the tree blocks")

    changed = 0
    for a, b in itertools.pairwise(bounds):
        block = lines[a:b]
        n = _round_tree_block(block)
        if n:
            lines[a:b] = block  # same number of lines, so bounds stay valid
            changed += n

    if sizes_idx is not None and changed:
        lines[sizes_idx] = _TREE_SIZES + " ".join(str(s) for s in block_sizes())
    return "\n".join(lines), changed


def round_thresholds_down_to_float32(model: Any) -> None:
    """Round every numeric split threshold of a fitted LightGBM sklearn model down to float32.

    ``model`` is a fitted ``lightgbm.LGBMClassifier`` / ``LGBMRegressor`` (any
    ``LGBMModel``). Its booster is serialised with ``model_to_string(num_iteration=-1)``
    (all trees, even past an early-stopping best iteration), each non-categorical
    threshold ``t`` becomes the largest float32 ``<= t`` (thresholds already exact in
    float32 keep their original text), the ``tree_sizes`` header is recomputed, and
    ``model._Booster`` is replaced by ``lightgbm.Booster(model_str=...)``. The new booster
    keeps the old one's ``best_iteration``, ``best_score`` and ``params``. Nothing else
    on the wrapper changes, so ``predict``, ``predict_proba``, ``feature_importances_``
    and the onnxmltools / skl2onnx converters keep working. Native predictions on
    float32-representable inputs are unchanged. Idempotent.

    Raises ``sklearn.exceptions.NotFittedError`` (via ``model.booster_``) if the model
    is not fitted, and ``ValueError`` if the model text is not in the expected format.
    """
    old = model.booster_
    new_str, _ = _round_model_string(old.model_to_string(num_iteration=-1))
    new = lightgbm.Booster(model_str=new_str)
    new.best_iteration = old.best_iteration
    new.best_score = copy.deepcopy(old.best_score)
    new.params = copy.deepcopy(old.params)
    model._Booster = new
