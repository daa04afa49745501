"""The algorithms CREATE MODEL ... USING accepts, and their hyperparameters."""

from __future__ import annotations

import dataclasses
import os
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from sqlml.errors import UnknownOptionError, UnsupportedError, close_matches

from .option_ranges import OWN, check_hyperparameter, checked

# OPTIONS that steer sqlml itself rather than the algorithm (the last six: search.py).
RESERVED_OPTIONS = (
    "deploy",
    "test_size",
    "seed",
    "max_rows",
    "split",
    "split_column",
    "class_weights",
    "standardize",
    "init_column",
    "search",
    "trials",
    "time_budget",
    "metric",
    "cv",
    "parallel_trials",
)


def _lightgbm(task: str) -> Callable[..., Any]:
    import logging

    import lightgbm

    # LightGBM prints its native messages ("[LightGBM] [Fatal] ...") to stdout unless given
    # a logger; a fatal one is also raised, and sqlml's error says it, so they go to a
    # logger that shows nothing below WARNING, which LightGBM never uses for them.
    lightgbm.register_logger(logging.getLogger("sqlml.lightgbm"))
    return lightgbm.LGBMClassifier if task == "classification" else lightgbm.LGBMRegressor


def _random_forest(task: str) -> Callable[..., Any]:
    from sklearn import ensemble

    if task == "classification":
        return ensemble.RandomForestClassifier
    return ensemble.RandomForestRegressor


def _logistic_regression(task: str) -> Callable[..., Any]:
    from sklearn.linear_model import LogisticRegression

    return LogisticRegression


def _linear_regression(task: str) -> Callable[..., Any]:
    from sklearn.linear_model import LinearRegression

    return LinearRegression


def _kmeans(task: str) -> Callable[..., Any]:
    from sklearn.cluster import KMeans

    return KMeans


def _mlp(task: str) -> Callable[..., Any]:
    from sklearn import neural_network

    if task == "classification":
        return neural_network.MLPClassifier
    return neural_network.MLPRegressor


@dataclass(frozen=True)
class Algorithm:
    name: str
    factory: Callable[[str], Callable[..., Any]]
    tasks: tuple[str, ...]
    scale_inputs: bool  # standardise numbers first (linear models and networks need it)
    defaults: dict[str, Any] = field(default_factory=dict)
    seed_parameter: str | None = "random_state"
    learns_missing: bool = False  # takes NaN as it is; otherwise the training median
    # Other names of its parameters (BigQuery's num_clusters is KMeans' n_clusters).
    aliases: dict[str, str] = field(default_factory=dict)

    @property
    def weighs_classes(self) -> bool:
        """Whether its classifier takes class_weight (OPTIONS class_weights)."""
        return "classification" in self.tasks and "class_weight" in self._known()

    def _known(self) -> set[str]:
        known: set[str] = set()
        for task in self.tasks:
            known.update(self.factory(task)().get_params())
        return known

    def named(self, hyperparameters: dict[str, Any]) -> dict[str, Any]:
        """The options under the estimator's own parameter names. Option names are SQL
        words, so case does not matter (C = 0.5 is logistic regression's C), unless two
        parameters differ only by case; then the exact spelling is needed."""
        known = self._known()
        by_lower: dict[str, list[str]] = {}
        for name in known:
            by_lower.setdefault(name.lower(), []).append(name)
        named: dict[str, Any] = {}
        for key, value in hyperparameters.items():
            key = self.aliases.get(key.lower(), key)
            matches = [key] if key in known else by_lower.get(key.lower(), [key])
            if len(matches) > 1:
                raise UnknownOptionError(
                    f"option {key!r} of USING {self.name} could be any of "
                    f"{', '.join(sorted(matches))}: write the one meant in double quotes"
                )
            named[matches[0]] = value
        return named

    def check_options(self, hyperparameters: dict[str, Any]) -> None:
        """Every option must be a real parameter of the algorithm's estimator."""
        known = self._known()
        for key, value in self.named(hyperparameters).items():
            if key not in known:
                raise UnknownOptionError(
                    f"unknown option {key!r} for USING {self.name}."
                    f"{close_matches(key, [*known, *self.aliases, *RESERVED_OPTIONS])}"
                    f" Options of {self.name}: {', '.join(sorted(known))}"
                )
            check_hyperparameter(key, value)

    def estimator(self, task: str, hyperparameters: dict[str, Any], seed: int) -> Any:
        if task not in self.tasks:
            other = "logistic_regression" if task == "classification" else "linear_regression"
            raise UnsupportedError(
                f"USING {self.name} does not do {task}; use {other}, lightgbm or random_forest"
                if task != "clustering"
                else f"USING {self.name} does not find clusters; use kmeans"
            )
        self.check_options(hyperparameters)
        hyperparameters = self.named(hyperparameters)
        cls = self.factory(task)
        params = {**self.defaults, **hyperparameters}
        if self.seed_parameter and self.seed_parameter not in hyperparameters:
            params[self.seed_parameter] = seed
        return cls(**params)


def check_natively(estimator: Any, task: str) -> None:
    """Fits a copy of a LightGBM estimator on four rows, so options its native code rejects
    fail here, with LightGBM's own "[LightGBM] [Fatal]" line, which its C++ code writes to
    the process's stderr itself, kept off the user's terminal (raised, and told by sqlml)."""
    import numpy as np
    from sklearn.base import clone

    rows = np.arange(4.0).reshape(-1, 1)
    labels = np.array([0, 1, 0, 1]) if task == "classification" else rows.ravel()
    with _native_stderr_discarded():
        clone(estimator).fit(rows, labels)


@contextmanager
def _native_stderr_discarded() -> Iterator[None]:
    sys.stderr.flush()
    saved = os.dup(2)
    try:
        with open(os.devnull, "wb") as null:
            os.dup2(null.fileno(), 2)
        yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)


ALGORITHMS: dict[str, Algorithm] = {
    a.name: a
    for a in (
        Algorithm(
            "lightgbm",
            _lightgbm,
            ("classification", "regression"),
            scale_inputs=False,
            defaults={"verbose": -1, "n_estimators": 100},
            learns_missing=True,
        ),
        Algorithm(
            "random_forest",
            _random_forest,
            ("classification", "regression"),
            scale_inputs=False,
            defaults={"n_estimators": 100, "n_jobs": -1},
        ),
        Algorithm(
            "logistic_regression",
            _logistic_regression,
            ("classification",),
            scale_inputs=True,
            defaults={"max_iter": 1000},
        ),
        Algorithm(
            "linear_regression",
            _linear_regression,
            ("regression",),
            scale_inputs=True,
            seed_parameter=None,
        ),
        Algorithm(
            "mlp",
            _mlp,
            ("classification", "regression"),
            scale_inputs=True,
            # No early stopping: on small tables its validation split is a few rows and it
            # stops far too soon (penguins: accuracy 0.74 with it, AUC 1.0 without).
            defaults={"max_iter": 2000, "early_stopping": False},
        ),
        Algorithm(
            "kmeans",
            _kmeans,
            ("clustering",),
            scale_inputs=True,  # BigQuery's standardize_features, TRUE by default
            defaults={"n_clusters": 8, "n_init": "auto"},
            aliases={"num_clusters": "n_clusters"},
        ),
    )
}


def algorithm(name: str) -> Algorithm:
    try:
        return ALGORITHMS[name]
    except KeyError:
        raise UnknownOptionError(
            f"unknown algorithm {name!r} in USING.{close_matches(name, ALGORITHMS)}"
            f" Available: {', '.join(ALGORITHMS)}"
        ) from None


def split_options(options: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    """(sqlml's own settings, checked, the algorithm's hyperparameters)."""
    own = {
        k: checked(k, v, OWN[k]) if k in OWN else v
        for k, v in options.items()
        if k in RESERVED_OPTIONS
    }
    hyper = {k: v for k, v in options.items() if k not in RESERVED_OPTIONS}
    return own, hyper


def standardised(algo: Algorithm, own: dict[str, Any]) -> Algorithm:
    """The algorithm with OPTIONS standardize (BigQuery's standardize_features) applied:
    whether numbers are scaled to mean 0 and variance 1 first."""
    if "standardize" not in own:
        return algo
    if not isinstance(own["standardize"], bool):
        raise UnknownOptionError(f"standardize is TRUE or FALSE, not {own['standardize']!r}")
    return dataclasses.replace(algo, scale_inputs=own["standardize"])


def weighed(algo: Algorithm, class_weight: dict[int, float] | str) -> dict[int, float] | str:
    """The class weights, if the algorithm can weigh classes."""
    if not algo.weighs_classes:
        raise UnknownOptionError(
            f"USING {algo.name} cannot weigh classes: class_weights is for "
            f"{', '.join(a.name for a in ALGORITHMS.values() if a.weighs_classes)}"
        )
    return class_weight
