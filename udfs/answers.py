"""What PREDICT and PREDICT_PROBA answer: one rule, by task and class count, that every
engine's functions follow in their SQL types and in each wire format (DuckDB's Arrow
arrays, PostgreSQL's batch arrays and per-row values, sqlml.predict's JSON)."""

from __future__ import annotations

from enum import Enum
from typing import Any


class Answer(Enum):
    VALUE = "value"  # regression: the predicted number
    LABEL = "label"  # PREDICT of a classifier: the most probable class (np.argmax's choice)
    PROBABILITY = "probability"  # PREDICT_PROBA, two classes: the larger label's probability
    PROBABILITIES = "probabilities"  # PREDICT_PROBA, more classes: label → probability
    CENTROID = "centroid"  # PREDICT of a k-means model: the nearest centroid's id
    DISTANCES = "distances"  # PREDICT_PROBA of a k-means model: centroid id → distance


def answer(task: str, class_count: int, proba: bool) -> Answer:
    if task == "regression":
        return Answer.VALUE
    if task == "clustering":
        return Answer.DISTANCES if proba else Answer.CENTROID
    if not proba:
        return Answer.LABEL
    return Answer.PROBABILITY if class_count == 2 else Answer.PROBABILITIES


def answer_of(metadata: dict[str, Any], proba: bool) -> Answer:
    """The answer of a model's function, from the model's stored metadata."""
    return answer(metadata["task"], len(metadata.get("classes") or []), proba)
