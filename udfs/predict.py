"""PREDICT's work: run a stored ONNX model over Arrow columns, a batch at a time."""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Sequence
from typing import Any, TypeAlias

import numpy as np
import pyarrow as pa

from .answers import Answer, answer
from .features import Feature, label_arrow_type, model_inputs

Column: TypeAlias = pa.Array | pa.ChunkedArray


class Predictor:
    """An ONNX model with what it needs to read SQL columns and answer in SQL types."""

    def __init__(self, onnx: bytes, metadata: dict[str, Any], threads: int = 1):
        import onnxruntime as ort

        options = ort.SessionOptions()
        # The engine runs batches on several threads at once; one ORT thread each avoids
        # oversubscribing the cores.
        options.intra_op_num_threads = threads
        options.inter_op_num_threads = 1
        self.session = ort.InferenceSession(
            onnx, sess_options=options, providers=["CPUExecutionProvider"]
        )
        self.metadata = metadata
        self.features = [Feature.from_json(f) for f in metadata["features"]]
        self.task: str = metadata["task"]
        # A classifier's labels, in the order of its probabilities (a k-means model's
        # centroid ids, in the order of its distances); none for regression.
        self.classes: list = metadata.get("classes") or []
        self._outputs = [o.name for o in self.session.get_outputs()]
        if self.classes:
            self._labels = pa.array(self.classes, type=label_arrow_type(metadata["label_type"]))

    # -- scores ------------------------------------------------------------------------

    def scores_from_inputs(self, inputs: dict[str, np.ndarray]) -> np.ndarray:
        """Scores of the graph's inputs (features.model_inputs / row_inputs).

        Regression: values [n]; classification: probabilities [n, classes]; clustering:
        distances to the centroids [n, centroids].
        """
        if self.task == "clustering":
            (distances,) = self.session.run(self._outputs[1:2], inputs)
            return distances
        if self.task == "classification":
            (probabilities,) = self.session.run(self._outputs[1:2], inputs)
            # float32 sums of tree votes can land a hair outside [0, 1] (1.0000001).
            return np.clip(probabilities, 0.0, 1.0, out=probabilities)
        (values,) = self.session.run(self._outputs[:1], inputs)
        return values.reshape(-1)

    def scores(self, columns: Sequence[Column]) -> np.ndarray:
        return self.scores_from_inputs(model_inputs(self.features, list(columns)))

    # -- SQL answers -------------------------------------------------------------------

    def answers(self, columns: Sequence[Column], proba: bool) -> pa.Array:
        """PREDICT's (or PREDICT_PROBA's) answers as an Arrow array (udfs/answers.py)."""
        scores = self.scores(columns)
        kind = answer(self.task, len(self.classes), proba)
        if kind is Answer.VALUE:
            return pa.array(scores.astype(np.float64))
        if kind is Answer.LABEL:
            return self._labels.take(pa.array(scores.argmax(axis=1)))
        if kind is Answer.CENTROID:
            return self._labels.take(pa.array(scores.argmin(axis=1)))
        probabilities = scores.astype(np.float64)
        if kind is Answer.PROBABILITY:
            return pa.array(probabilities[:, 1])
        n, k = probabilities.shape
        offsets = pa.array(np.arange(0, n * k + 1, k, dtype=np.int32))
        keys = self._labels.take(pa.array(np.tile(np.arange(k), n)))
        return pa.MapArray.from_arrays(offsets, keys, pa.array(probabilities.reshape(-1)))


class PredictorCache:
    """Predictors by ONNX content, so no model is loaded twice in one process."""

    def __init__(self, capacity: int = 32):
        self._items: OrderedDict[str, Predictor] = OrderedDict()
        self._capacity = capacity
        self._lock = threading.Lock()

    def get(self, key: str) -> Predictor | None:
        with self._lock:
            predictor = self._items.get(key)
            if predictor is not None:
                self._items.move_to_end(key)
            return predictor

    def put(self, key: str, predictor: Predictor) -> Predictor:
        with self._lock:
            self._items[key] = predictor
            self._items.move_to_end(key)
            while len(self._items) > self._capacity:
                self._items.popitem(last=False)
            return predictor
