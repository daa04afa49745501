"""Which task a target implies: the one rule both the trainer and the compatibility forms'
checks (Redshift's PROBLEM_TYPE) follow, so that they never disagree."""

from __future__ import annotations

from collections.abc import Callable

TASKS = ("classification", "regression")  # with a target; USING kmeans: clustering
MAX_CLASSES_FOR_INTEGER_TARGET = 20


def inferred_task(numeric: bool, integer: bool, distinct: Callable[[], int]) -> str:
    """Classification for a non-numeric target (text, boolean) or an integer one with few
    distinct values; regression otherwise. ``distinct`` is called only when it decides."""
    if not numeric:
        return "classification"
    if integer and distinct() <= MAX_CLASSES_FOR_INTEGER_TARGET:
        return "classification"
    return "regression"
