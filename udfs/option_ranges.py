"""The values CREATE MODEL's OPTIONS may take, checked for type and range before anything
is read or trained; a refusal gives the allowed range."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from sqlml.errors import UnknownOptionError

_INT32 = 2**31 - 1


@dataclass(frozen=True)
class Range:
    kind: type  # int or float (an int is a float too)
    low: float
    high: float
    low_open: bool = False  # the bound itself is not allowed
    high_open: bool = False

    def __str__(self) -> str:
        kind = "a whole number" if self.kind is int else "a number"
        low = f"{'>' if self.low_open else '>='} {self.low:g}"
        high = f"{'<' if self.high_open else '<='} {self.high:g}"
        return f"{kind} {low} and {high}"

    def holds(self, value: float) -> bool:
        above = value > self.low if self.low_open else value >= self.low
        below = value < self.high if self.high_open else value <= self.high
        return above and below


# sqlml's own settings.
OWN = {
    "test_size": Range(float, 0, 1, high_open=True),
    "seed": Range(int, 0, 2**32 - 1),
    "max_rows": Range(int, 1, 2**62),
}
# Hyperparameters whose size bounds the work of training: a bound keeps a typing slip from
# training without end. Any other number must fit the estimators' C integers or be finite.
HYPERPARAMETERS = {
    "n_estimators": Range(int, 1, 100_000),
    "num_iterations": Range(int, 1, 100_000),
    "max_iter": Range(int, 1, 1_000_000),
    "num_leaves": Range(int, 2, 131_072),
    "max_depth": Range(int, -1, 10_000),
    "learning_rate": Range(float, 0, 10, low_open=True),
}
_ANY_NUMBER = Range(float, -_INT32 - 1, _INT32)


def checked(name: str, value: Any, allowed: Range) -> Any:
    """The value, if it is of the range's kind and inside it."""
    number = isinstance(value, int | float) and not isinstance(value, bool)
    whole = number and (isinstance(value, int) or float(value).is_integer())
    if (
        not number
        or (allowed.kind is int and not whole)
        or not math.isfinite(value)
        or not allowed.holds(value)
    ):
        raise UnknownOptionError(f"option {name} must be {allowed}, not {value!r}")
    return int(value) if allowed.kind is int else float(value)


def check_hyperparameter(name: str, value: Any) -> None:
    if name in HYPERPARAMETERS:
        checked(name, value, HYPERPARAMETERS[name])
    elif isinstance(value, float) and not math.isfinite(value):
        raise UnknownOptionError(f"option {name} must be a finite number, not {value!r}")
    elif isinstance(value, int) and not isinstance(value, bool) and not _ANY_NUMBER.holds(value):
        raise UnknownOptionError(f"option {name} must be {_ANY_NUMBER}, not {value!r}")
