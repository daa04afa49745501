"""Fitted scikit-learn pipeline → ONNX bytes, preprocessing included."""

from __future__ import annotations

from functools import cache
from typing import Any

from .features import Feature

# onnxmltools' LightGBM converter supports opset 15 at most; the rest follows it.
TARGET_OPSET = {"": 15, "ai.onnx.ml": 3}


@cache
def _register_lightgbm() -> None:
    from lightgbm import LGBMClassifier, LGBMRegressor
    from onnxmltools.convert.lightgbm.operator_converters.LightGbm import convert_lightgbm
    from skl2onnx import update_registered_converter
    from skl2onnx.common.shape_calculator import (
        calculate_linear_classifier_output_shapes,
        calculate_linear_regressor_output_shapes,
    )

    update_registered_converter(
        LGBMClassifier,
        "LightGbmLGBMClassifier",
        calculate_linear_classifier_output_shapes,
        convert_lightgbm,
        options={"nocl": [True, False], "zipmap": [True, False, "columns"]},
    )
    update_registered_converter(
        LGBMRegressor,
        "LightGbmLGBMRegressor",
        calculate_linear_regressor_output_shapes,
        convert_lightgbm,
        options={"split": None},
    )


def to_onnx(pipeline: Any, features: list[Feature], metadata: dict[str, str]) -> bytes:
    """One input per feature ([n, 1] float or string); classifiers output label indices
    and a probability matrix, regressors one value per row."""
    from skl2onnx import to_onnx as skl_to_onnx
    from skl2onnx.common.data_types import FloatTensorType, StringTensorType

    _register_lightgbm()
    initial_types = [
        (f.name, StringTensorType([None, 1]) if f.onnx_is_string else FloatTensorType([None, 1]))
        for f in features
    ]
    estimator = pipeline.steps[-1][1]
    options = {id(estimator): {"zipmap": False}} if hasattr(estimator, "classes_") else None
    model = skl_to_onnx(
        pipeline, initial_types=initial_types, options=options, target_opset=TARGET_OPSET
    )
    for key, value in metadata.items():
        entry = model.metadata_props.add()
        entry.key, entry.value = key, value
    return model.SerializeToString()
