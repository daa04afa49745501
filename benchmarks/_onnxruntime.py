"""The onnxruntime baseline: sessions over the stored ONNX and timed ``run`` calls.

- ``session``: an InferenceSession on the CPU with a given number of threads.
- ``OrtBaseline``: onnxruntime's ``run`` over a preloaded float32 matrix in batches, in one
  or several Python threads sharing the session: what sqlml's PREDICT is measured against.
"""

from __future__ import annotations

import itertools
import threading
from collections.abc import Callable
from typing import Any

import numpy as np


def session(onnx: bytes, intra_op_threads: int = 1) -> Any:
    """An onnxruntime session on the CPU: ``intra_op_threads`` threads, one inter-op."""
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.intra_op_num_threads = intra_op_threads
    options.inter_op_num_threads = 1
    options.log_severity_level = 3
    return ort.InferenceSession(onnx, sess_options=options, providers=["CPUExecutionProvider"])


def probability_output(session: Any) -> str:
    """The name of a classifier's probability output."""
    names = [o.name for o in session.get_outputs()]
    for name in names:
        if "prob" in name.lower():
            return name
    return names[1]


class OrtBaseline:
    """onnxruntime's ``run`` over a preloaded float32 matrix, fed as the model's inputs."""

    def __init__(
        self,
        onnx: bytes,
        matrix: np.ndarray,
        intra_op_threads: int,
        batch: int,
        python_threads: int = 1,
    ):
        self.session = session(onnx, intra_op_threads)
        self.batch = batch
        self.python_threads = python_threads
        self.rows = len(matrix)
        self.output = probability_output(self.session)
        self._feed = _feeder(self.session, matrix)
        self.setup = (
            f"{python_threads} Python thread(s) sharing 1 session, intra_op={intra_op_threads}, "
            f"batch {batch:,}, inputs {self._describe_inputs()}"
        )

    def _describe_inputs(self) -> str:
        inputs = self.session.get_inputs()
        if len(inputs) == 1:
            return f"one {inputs[0].type} {inputs[0].shape}"
        return f"{len(inputs)} x {inputs[0].type} {inputs[0].shape}"

    def _run_range(self, lo: int, hi: int, out: list[np.ndarray] | None) -> None:
        for start in range(lo, hi, self.batch):
            (scores,) = self.session.run(
                [self.output], self._feed(start, min(start + self.batch, hi))
            )
            if out is not None:
                out.append(scores)

    def run(self) -> None:
        if self.python_threads == 1:
            self._run_range(0, self.rows, None)
            return
        bounds = np.linspace(0, self.rows, self.python_threads + 1).astype(int)
        workers = [
            threading.Thread(target=self._run_range, args=(int(lo), int(hi), None))
            for lo, hi in itertools.pairwise(bounds)
        ]
        for worker in workers:
            worker.start()
        for worker in workers:
            worker.join()

    def scores(self) -> np.ndarray:
        out: list[np.ndarray] = []
        self._run_range(0, self.rows, out)
        return np.concatenate(out)


def _feeder(session: Any, matrix: np.ndarray) -> Callable[[int, int], dict[str, np.ndarray]]:
    """Feeds for rows [lo, hi): one [n, k] matrix, or one [n, 1] column per feature (by
    position: converters may rename inputs), whichever the graph takes."""
    inputs = session.get_inputs()
    features = matrix.shape[1]
    if len(inputs) == 1:
        rows = np.ascontiguousarray(matrix, dtype=np.float32)
        name = inputs[0].name
        return lambda lo, hi: {name: rows[lo:hi]}
    if len(inputs) == features:
        columns = np.asfortranarray(matrix, dtype=np.float32)  # each [lo:hi, i:i+1] contiguous
        names = [i.name for i in inputs]
        return lambda lo, hi: {n: columns[lo:hi, i : i + 1] for i, n in enumerate(names)}
    raise RuntimeError(
        f"cannot feed a graph with inputs {[(i.name, i.shape) for i in inputs]} "
        f"from a {matrix.shape} matrix"
    )
