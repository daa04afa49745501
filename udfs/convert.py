"""Fitted scikit-learn pipeline → ONNX bytes, preprocessing included."""

from __future__ import annotations

from functools import cache
from typing import Any

from .features import CATEGORICAL_INPUT, NUMERIC_INPUT, Feature

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
    """The whole model, preprocessing included, as ONNX.

    Inputs: ``numeric`` float [n, k] (numbers, booleans as 0/1, dates as days since
    1970-01-01) and ``categorical`` string [n, m], columns in feature order; an input is
    left out when no feature has its kind. Classifiers output label indices and a
    probability matrix, regressors one value per row. Two matrices instead of one input
    per feature make a single-row call about twice as fast (measured with onnxruntime 1.32).
    """
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
    model = _grouped_inputs(model, features)
    for key, value in metadata.items():
        entry = model.metadata_props.add()
        entry.key, entry.value = key, value
    return model.SerializeToString()


def _grouped_inputs(model: Any, features: list[Feature]) -> Any:
    """Put a Split in front of the per-feature inputs skl2onnx made: one matrix per kind."""
    import onnx
    from onnx import TensorProto, compose, helper

    per_feature = [i.name for i in model.graph.input]  # in feature order, maybe renamed
    nodes, inputs, outputs, initializers = [], [], [], []
    groups: dict[str, list[str]] = {}
    for group, dtype, is_string in (
        (NUMERIC_INPUT, TensorProto.FLOAT, False),
        (CATEGORICAL_INPUT, TensorProto.STRING, True),
    ):
        names = [
            n for n, f in zip(per_feature, features, strict=True) if f.onnx_is_string == is_string
        ]
        if not names:
            continue
        groups[group] = names
        inputs.append(helper.make_tensor_value_info(group, dtype, [None, len(names)]))
        outputs += [helper.make_tensor_value_info(n, dtype, [None, 1]) for n in names]
        if len(names) == 1:
            nodes.append(helper.make_node("Identity", [group], names))
            continue
        sizes = f"{group}_split_sizes"
        initializers.append(
            helper.make_tensor(sizes, TensorProto.INT64, [len(names)], [1] * len(names))
        )
        nodes.append(helper.make_node("Split", [group, sizes], names, axis=1))
    prefix = helper.make_model(
        helper.make_graph(nodes, "sqlml_inputs", inputs, outputs, initializers),
        opset_imports=list(model.opset_import),
        ir_version=model.ir_version,
    )
    merged = compose.merge_models(prefix, model, io_map=[(n, n) for n in per_feature])
    _skip_regrouping(merged.graph, groups)
    onnx.checker.check_model(merged)
    return merged


def _skip_regrouping(graph: Any, groups: dict[str, list[str]]) -> None:
    """Feed the group's matrix straight to each Concat that joins all its columns back in
    order (the ColumnTransformer does), then drop what no longer has a reader.

    Split → Concat of the same columns is an identity that onnxruntime does not remove, and
    those two nodes cost more than the trees in a one-row call (18 → 11 µs, per-row SQL).
    """
    renamed: dict[str, str] = {}
    outputs = {o.name for o in graph.output}
    for node in graph.node:
        axis = next((a.i for a in node.attribute if a.name == "axis"), None)
        if node.op_type != "Concat" or axis not in (1, -1) or node.output[0] in outputs:
            continue
        for group, names in groups.items():
            if list(node.input) == names:
                renamed[node.output[0]] = group
    if not renamed:
        return
    for node in graph.node:
        for i, name in enumerate(node.input):
            if name in renamed:
                node.input[i] = renamed[name]
    while True:  # dead nodes, readers first: the Concats, then the Split they read
        read = {name for node in graph.node for name in node.input} | outputs
        dead = [n for n in graph.node if not any(o in read for o in n.output)]
        if not dead:
            break
        for node in dead:
            graph.node.remove(node)
    read = {name for node in graph.node for name in node.input}
    for initializer in [i for i in graph.initializer if i.name not in read]:
        graph.initializer.remove(initializer)
