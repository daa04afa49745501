"""An ONNX model sqlml did not make (skl2onnx's, onnxmltools', a PyTorch export) fitted to
the interface sqlml scores through (udfs/convert.py): inputs ``numeric`` float [n, k] and
``categorical`` string [n, m], and outputs a label and a probability matrix (classification)
or one value per row (regression). The graph is kept as it is; a few nodes in front take
sqlml's inputs apart into the graph's own, and a few behind give its answers sqlml's shape.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from sqlml.errors import ModelFileError

from .features import CATEGORICAL_INPUT, NUMERIC_INPUT

# ONNX element types: which a feature of each kind may be fed as.
_FLOAT, _STRING, _DOUBLE = 1, 8, 11
_NUMBERS = {1, 2, 3, 4, 5, 6, 7, 10, 11, 12, 13, 16}  # floats, ints, unsigned, bfloat16
_CLASS_LABELS = ("classlabels_int64s", "classlabels_strings")
# sqlml's outputs (read by position; named apart from the graph's own names)
LABEL, PROBABILITIES, VALUE = "sqlml_label", "sqlml_probabilities", "sqlml_value"


@dataclass(frozen=True)
class Column:
    """A feature of the model: its name, whether it is text, and the graph input (and, for a
    positional matrix, the column of it) that takes it."""

    name: str
    is_text: bool
    source: str
    position: int | None  # None: the input is this feature alone ([n] or [n, 1])


@dataclass(frozen=True)
class Adapted:
    onnx: bytes
    task: str
    columns: list[Column]
    classes: list[Any]  # in the order of the probabilities; [] for regression


def adapted(data: bytes, task: str | None, names: list[str] | None) -> Adapted:
    """The model with sqlml's inputs and outputs, or a ModelFileError saying what in the
    graph cannot be served (told at IMPORT, never at PREDICT)."""
    import onnx

    try:
        model = onnx.load_from_string(data)
    except Exception as error:
        raise ModelFileError(f"the file is not an ONNX model ({type(error).__name__})") from None
    _check_runs(data, "as it is")
    graph = model.graph
    columns = _columns(graph, names)
    task, probabilities, classes = _answers(graph, task)
    opset = next((o.version for o in model.opset_import if o.domain in ("", "ai.onnx")), None)
    if opset is None:
        model.opset_import.add(domain="", version=13)
        opset = 13
    _feed_inputs(graph, columns, opset)
    _shape_outputs(graph, task, probabilities)
    adapted_bytes = model.SerializeToString()
    width = _check_runs(adapted_bytes, "with sqlml's inputs", columns, task, len(classes))
    if task == "classification" and not classes:
        classes = list(range(width))
    if task == "classification" and len(classes) != width:
        raise ModelFileError(
            f"the graph names {len(classes)} classes but gives {width} probabilities per row"
        )
    return Adapted(adapted_bytes, task, columns, classes)


# -- inputs --------------------------------------------------------------------------------


def _columns(graph: Any, names: list[str] | None) -> list[Column]:
    """One feature per [n] or [n, 1] input, or f0 … fN for one [n, N] number matrix; the
    statement's names, when given, in their place."""
    initialised = {i.name for i in graph.initializer}
    inputs = [i for i in graph.input if i.name not in initialised]
    if not inputs:
        raise ModelFileError("the graph has no input to feed the features to")
    described = ", ".join(f"{i.name} {_described(i)}" for i in inputs)
    shapes = [shape for shape in map(_tensor, inputs) if shape is not None]
    if len(shapes) < len(inputs):
        raise ModelFileError(f"an input is not a tensor of numbers or text: {described}")
    columns: list[Column] = []
    if len(inputs) == 1 and _width(shapes[0]) not in (None, 1) and shapes[0][0] in _NUMBERS:
        width = _width(shapes[0]) or 0
        columns = [Column(f"f{i}", False, inputs[0].name, i) for i in range(width)]
    else:
        for given, (elem, dims) in zip(inputs, shapes, strict=True):
            if len(dims) not in (1, 2) or (len(dims) == 2 and dims[1] != 1):
                raise ModelFileError(
                    f"input {given.name} is {_described(given)}: sqlml feeds one [n, 1] (or "
                    f"[n]) input per feature, or one [n, k] matrix of numbers; inputs: "
                    f"{described}"
                )
            if elem != _STRING and elem not in _NUMBERS:
                raise ModelFileError(
                    f"input {given.name} is {_described(given)}: not numbers or text"
                )
            columns.append(Column(given.name, elem == _STRING, given.name, None))
    if names is not None:
        if len(names) != len(columns):
            raise ModelFileError(
                f"{len(names)} feature names given for the graph's {len(columns)} features "
                f"({described})"
            )
        columns = [
            Column(name, c.is_text, c.source, c.position)
            for name, c in zip(names, columns, strict=True)
        ]
    return columns


def _tensor(value: Any) -> tuple[int, list[int | None]] | None:
    if not value.type.HasField("tensor_type"):
        return None
    tensor = value.type.tensor_type
    dims = [d.dim_value if d.HasField("dim_value") else None for d in tensor.shape.dim]
    return tensor.elem_type, dims


def _width(shape: tuple[int, list[int | None]] | None) -> int | None:
    if shape is None or len(shape[1]) != 2:
        return None
    return shape[1][1]


def _described(value: Any) -> str:
    import onnx

    shape = _tensor(value)
    if shape is None:
        return "(not a tensor)"
    elem, dims = shape
    name = onnx.TensorProto.DataType.Name(elem).lower()
    return f"{name} [{', '.join('n' if d is None else str(d) for d in dims)}]"


def _feed_inputs(graph: Any, columns: list[Column], opset: int) -> None:
    """sqlml's two matrices, split into the graph's inputs (cast to their types) in front."""
    from onnx import TensorProto, helper

    originals = {i.name: i for i in graph.input}
    # The graph's inputs become inner names (one may be called numeric, as sqlml's is).
    fed = {c.source: f"{c.source}_sqlml_fed" for c in columns}
    for node in graph.node:
        for i, name in enumerate(node.input):
            node.input[i] = fed.get(name, name)
    nodes: list[Any] = []
    new_inputs = []
    for group, is_text in ((NUMERIC_INPUT, False), (CATEGORICAL_INPUT, True)):
        mine = [c for c in columns if c.is_text == is_text]
        if not mine:
            continue
        kind = TensorProto.STRING if is_text else TensorProto.FLOAT
        new_inputs.append(helper.make_tensor_value_info(group, kind, [None, len(mine)]))
        if mine[0].position is not None:  # the graph's one matrix: sqlml's numeric, cast
            nodes.append(_cast_node(group, originals[mine[0].source], fed[mine[0].source]))
            continue
        parts = [f"{group}_sqlml_{i}" for i in range(len(mine))]
        nodes += _split_nodes(group, parts, opset)
        for part, column in zip(parts, mine, strict=True):
            original = originals[column.source]
            shape = _tensor(original)
            target = fed[column.source]
            if shape is not None and len(shape[1]) == 1:  # an [n] input: flattened
                flat = f"{part}_flat"
                nodes += _flatten_nodes(part, flat)
                part = flat
            nodes.append(_cast_node(part, original, target))
    kept = [i for i in graph.input if i.name not in fed]
    del graph.input[:]
    graph.input.extend(new_inputs + kept)
    existing = list(graph.node)
    del graph.node[:]
    graph.node.extend(nodes + existing)


def _cast_node(source: str, original: Any, target: str) -> Any:
    from onnx import helper

    elem = original.type.tensor_type.elem_type
    if elem in (_FLOAT, _STRING):
        return helper.make_node("Identity", [source], [target])
    return helper.make_node("Cast", [source], [target], to=elem)


def _split_nodes(source: str, parts: list[str], opset: int) -> list[Any]:
    from onnx import TensorProto, helper

    if len(parts) == 1:
        return [helper.make_node("Identity", [source], parts)]
    if opset < 13:  # the sizes were an attribute until opset 13
        return [helper.make_node("Split", [source], parts, axis=1, split=[1] * len(parts))]
    sizes = f"{source}_sqlml_sizes"
    return [
        helper.make_node(
            "Constant",
            [],
            [sizes],
            value=helper.make_tensor(sizes, TensorProto.INT64, [len(parts)], [1] * len(parts)),
        ),
        helper.make_node("Split", [source, sizes], parts, axis=1),
    ]


def _flatten_nodes(source: str, target: str) -> list[Any]:
    from onnx import TensorProto, helper

    shape = f"{target}_shape"
    return [
        helper.make_node(
            "Constant", [], [shape], value=helper.make_tensor(shape, TensorProto.INT64, [1], [-1])
        ),
        helper.make_node("Reshape", [source, shape], [target]),
    ]


# -- outputs -------------------------------------------------------------------------------


def _answers(graph: Any, task: str | None) -> tuple[str, str, list[Any]]:
    """The task, the tensor that answers (probabilities or values) and the classes the graph
    names. A ZipMap's input is its probability matrix (the map itself is dropped)."""
    outputs = list(graph.output)
    described = ", ".join(f"{o.name} {_described(o)}" for o in outputs)
    zipmaps = [n for n in graph.node if n.op_type == "ZipMap"]
    classes = _class_labels(zipmaps or [n for n in graph.node if _has_labels(n)])
    matrices = [o.name for o in outputs if _is_matrix(o)]
    numbers = [o.name for o in outputs if _is_numbers(o)]
    if task is None:
        task = "classification" if zipmaps or (matrices and classes) else None
        if task is None and len(numbers) == 1 and not matrices:
            task = "regression"
    if task == "classification":
        if zipmaps:
            return task, zipmaps[0].input[0], classes
        if matrices:
            return task, matrices[-1], classes
        raise ModelFileError(
            f"no output is a probability matrix [n, classes] to classify by: {described}"
        )
    if task == "regression":
        values = [o for o in numbers if o not in matrices] or numbers
        if values:
            return task, values[0], []
        raise ModelFileError(f"no output is one number per row to regress by: {described}")
    if task is not None:
        raise ModelFileError(f"TASK {task} cannot be imported: classification or regression")
    raise ModelFileError(
        f"cannot tell the task from the outputs ({described}): say TASK classification (an "
        "output of probabilities [n, classes]) or TASK regression"
    )


def _has_labels(node: Any) -> bool:
    return any(a.name in _CLASS_LABELS for a in node.attribute)


def _class_labels(nodes: list[Any]) -> list[Any]:
    for node in nodes:
        for attribute in node.attribute:
            if attribute.name == "classlabels_int64s" and attribute.ints:
                return [int(v) for v in attribute.ints]
            if attribute.name == "classlabels_strings" and attribute.strings:
                return [v.decode() for v in attribute.strings]
    return []


def _is_matrix(value: Any) -> bool:
    shape = _tensor(value)
    return shape is not None and shape[0] in _NUMBERS and len(shape[1]) == 2 and shape[1][1] != 1


def _is_numbers(value: Any) -> bool:
    shape = _tensor(value)
    return shape is not None and shape[0] in _NUMBERS and len(shape[1]) in (1, 2)


def _shape_outputs(graph: Any, task: str, answer: str) -> None:
    """Outputs (label, probabilities) or (value), float: what udfs/predict.py reads."""
    from onnx import TensorProto, helper

    for node in [n for n in graph.node if n.op_type == "ZipMap"]:
        graph.node.remove(node)
    nodes = [helper.make_node("Cast", [answer], [f"{answer}_sqlml"], to=TensorProto.FLOAT)]
    if task == "classification":
        nodes += [
            helper.make_node("Identity", [f"{answer}_sqlml"], [PROBABILITIES]),
            helper.make_node("ArgMax", [PROBABILITIES], [LABEL], axis=1, keepdims=0),
        ]
        outputs = [
            helper.make_tensor_value_info(LABEL, TensorProto.INT64, [None]),
            helper.make_tensor_value_info(PROBABILITIES, TensorProto.FLOAT, [None, None]),
        ]
    else:
        shape = "value_sqlml_shape"
        nodes += [
            helper.make_node(
                "Constant",
                [],
                [shape],
                value=helper.make_tensor(shape, TensorProto.INT64, [2], [-1, 1]),
            ),
            helper.make_node("Reshape", [f"{answer}_sqlml", shape], [VALUE]),
        ]
        outputs = [helper.make_tensor_value_info(VALUE, TensorProto.FLOAT, [None, 1])]
    graph.node.extend(nodes)
    del graph.output[:]
    graph.output.extend(outputs)


# -- checks --------------------------------------------------------------------------------


def _check_runs(
    data: bytes,
    how: str,
    columns: list[Column] | None = None,
    task: str | None = None,
    classes: int = 0,
) -> int:
    """Load the graph in onnxruntime (and, with sqlml's inputs, score a row of zeros and
    empty texts): an operator or opset it cannot run is refused here. The number of
    probabilities per row. A graph that refuses that row (an encoder that knows only its
    categories) is served if the classes it names say how many there are."""
    import onnxruntime as ort

    try:
        session = ort.InferenceSession(data, providers=["CPUExecutionProvider"])
    except Exception as error:
        raise ModelFileError(f"onnxruntime cannot run the graph {how}: {error}") from None
    if columns is None:
        return 0
    row: dict[str, np.ndarray] = {}
    numbers = [c for c in columns if not c.is_text]
    texts = [c for c in columns if c.is_text]
    if numbers:
        row[NUMERIC_INPUT] = np.zeros((1, len(numbers)), dtype=np.float32)
    if texts:
        row[CATEGORICAL_INPUT] = np.array([[""] * len(texts)], dtype=object)
    try:
        answers = session.run(None, row)
    except Exception as error:
        if task != "classification" or classes:
            return classes
        raise ModelFileError(
            f"onnxruntime cannot score a row {how} ({error}), and the graph names no classes "
            "to tell how many probabilities it gives"
        ) from None
    return int(answers[1].shape[1]) if task == "classification" else 0
