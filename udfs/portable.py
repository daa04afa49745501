"""A model as one portable ONNX file (EXPORT MODEL), and a file as a model (IMPORT MODEL).
sqlml's metadata rides in the graph's metadata_props under one key, so the file is a plain
ONNX model that onnxruntime runs with no sqlml installed."""

from __future__ import annotations

import hashlib
import json
from typing import Any

from sqlml.errors import ModelFileError

from .features import CATEGORICAL_INPUT, NULL_CATEGORY, NUMERIC_INPUT, Feature
from .sql_types import ARGUMENT_TYPES, BY_ARROW_NAME
from .training_facts import libraries

METADATA_KEY = "sqlml.metadata"
FORMAT = 1  # of the JSON under METADATA_KEY; a reader refuses a later one it cannot know
# How a row becomes the graph's inputs (udfs/features.py model_inputs), for whoever runs the
# file without sqlml.
ENCODING = {
    NUMERIC_INPUT: "float32 [n, k], the numeric features in order: numbers as they are, "
    "booleans 0/1, dates and timestamps as days since 1970-01-01, NULL as NaN",
    CATEGORICAL_INPUT: f"string [n, m], the text features in order, NULL as {NULL_CATEGORY!r}",
}


def export(catalog: Any, name: str, version: int | None = None) -> bytes:
    """EXPORT MODEL's file: the version in use (or the one asked for) of a stored model."""
    model = catalog.get(name, version)
    return exported(
        catalog.onnx(model.name, model.version),
        model.metadata,
        model.name,
        model.version,
        libraries(),
    )


def exported(
    onnx_bytes: bytes,
    metadata: dict[str, Any],
    name: str,
    version: int,
    libraries: dict[str, str | None],
) -> bytes:
    """The stored model's ONNX with sqlml's metadata in it (the graph itself unchanged, so
    it answers as PREDICT does)."""
    import onnx

    model = onnx.load_from_string(onnx_bytes)
    features = [Feature.from_json(f) for f in metadata["features"]]
    inputs = {
        NUMERIC_INPUT: [f.name for f in features if not f.onnx_is_string],
        CATEGORICAL_INPUT: [f.name for f in features if f.onnx_is_string],
    }
    facts = {
        "format": FORMAT,
        "model": name,
        "version": version,
        "libraries": libraries,
        "inputs": inputs,
        "encoding": ENCODING,
        "metadata": {k: v for k, v in metadata.items() if k != "function_name"},
    }
    for entry in [e for e in model.metadata_props if e.key == METADATA_KEY]:
        model.metadata_props.remove(entry)
    entry = model.metadata_props.add()
    entry.key, entry.value = METADATA_KEY, json.dumps(facts, default=str)
    model.doc_string = (
        f"sqlml model {name} version {version} ({metadata['task']} of {metadata['target']} by "
        f"{metadata['algorithm']}); inputs: "
        + "; ".join(f"{group}: {ENCODING[group]}" for group, names in inputs.items() if names)
        + f"; sqlml's metadata is the JSON under metadata_props key {METADATA_KEY!r}"
    )
    return bytes(model.SerializeToString())


def sqlml_facts(onnx_bytes: bytes) -> dict[str, Any] | None:
    """What an exported file says of itself (exported's JSON), None for an ONNX model sqlml
    did not export."""
    import onnx

    try:
        model = onnx.load_from_string(onnx_bytes)
    except Exception as error:  # protobuf's DecodeError, or a truncated file
        raise ModelFileError(f"the file is not an ONNX model ({type(error).__name__})") from None
    found = [e.value for e in model.metadata_props if e.key == METADATA_KEY]
    if not found:
        return None
    facts = json.loads(found[-1])
    if facts.get("format", FORMAT) > FORMAT:
        raise ModelFileError(
            f"the file was exported by a later sqlml (format {facts['format']}, this one "
            f"reads {FORMAT}): upgrade sqlml to import it"
        )
    return dict(facts)


def imported(
    data: bytes,
    engine: str,
    source: str,
    task: str | None = None,
    names: list[str] | None = None,
    target: str | None = None,
) -> tuple[bytes, dict[str, Any]]:
    """IMPORT MODEL: the ONNX to store and its metadata. A file sqlml exported comes back
    as it was (its graph unchanged, its metadata read back); any other is fitted to sqlml's
    inputs and outputs (udfs/foreign_onnx.py), its features and classes read from the graph.
    ``source`` says where the file came from, for DESCRIBE."""
    origin = {"file": source, "sha256": hashlib.sha256(data).hexdigest()}
    facts = sqlml_facts(data)
    if facts is not None:
        if task is not None or names is not None:
            raise ModelFileError(
                f"{source} was exported by sqlml, which says its task and features itself: "
                "import it without TASK or FEATURES"
            )
        metadata = {k: v for k, v in facts["metadata"].items() if k not in _NOT_CARRIED}
        origin |= {"model": facts["model"], "version": facts["version"]}
        annotations = {**metadata.get("annotations", {}), "imported": origin}
        return data, {**metadata, "annotations": annotations}
    from .foreign_onnx import adapted

    model = adapted(data, task, names)
    labels = "string" if any(isinstance(c, str) for c in model.classes) else "int64"
    label_type = labels if model.task == "classification" else "double"
    features = [
        Feature(
            c.name,
            getattr(ARGUMENT_TYPES["categorical" if c.is_text else "numeric"], engine),
            "categorical" if c.is_text else "numeric",
        )
        for c in model.columns
    ]
    metadata = {
        "task": model.task,
        "target": target or "label",  # BigQuery's default label column
        "target_sql_type": getattr(BY_ARROW_NAME[label_type], engine),
        "label_type": label_type,
        "features": [f.to_json() for f in features],
        "classes": model.classes or None,
        "algorithm": "onnx",
        "options": {},
        "hyperparameters": {},
        "rows_train": 0,
        "rows_test": 0,
        "metrics": {},
        "importance": [],
        "timings": {},
        "parity_max_abs_diff": None,
        "annotations": {"imported": origin},
    }
    return model.onnx, metadata


# A kept trial's marks would make the import pass for a trial of the model it came from.
_NOT_CARRIED = ("trial_of", "trial_id", "function_name", "function_schema", "copied_from")
