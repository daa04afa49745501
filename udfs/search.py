"""Hyperparameter search and automatic model selection: OPTIONS (search = ..., trials = ...,
x = [candidates], y = RANGE(lo, hi [, LOG])) and USING auto.

Optuna's samplers choose each trial (random, grid, bayes = TPE); sqlml runs the trials, so
that the time budget holds inside a trial too (LightGBM stops between trees, random forests
and networks between epochs). Trials are scored on a validation split carved
from the training rows (or by cv-fold cross-validation), never on the hold-out rows whose
metrics are stored. Every trial is recorded; the best trial's model is kept, refit on all
training rows when the budget leaves time for it.
"""

from __future__ import annotations

import math
import os
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from sqlml.errors import MissingExtraError, UnknownOptionError, close_matches

from . import metrics
from .algorithms import ALGORITHMS, Algorithm, algorithm, standardised, weighed
from .features import Feature
from .option_ranges import Range, checked
from .preprocessing import fitting_pipeline

Progress = Callable[[str], None]

SEARCH_OPTIONS = ("search", "trials", "time_budget", "metric", "cv", "parallel_trials")
METHODS = ("random", "grid", "bayes")
AUTO = "auto"
LOSSES = {"classification": "log_loss", "regression": "rmse", "clustering": "mean_squared_distance"}
VALIDATION_SIZE = 0.2  # of the training rows, when there is no cv
# Fewer training rows than this are scored by SMALL_CV-fold cross-validation unless cv says:
# one split of a small table is a few dozen rows, and hundreds of trials overfit it (wine,
# 142 rows: validation log loss 0.0005, hold-out 0.12).
SMALL_TABLE_ROWS = 1000
SMALL_CV = 5
PARTS = 5  # one validation split is compared in this many parts: see _chosen
TRIALS_KEPT = 3  # besides the chosen one, the best trials' models are kept, to be scored
REFIT_FACTOR = 1.25  # a refit reads all training rows, a trial 1 - VALIDATION_SIZE of them
DEFAULT_TRIALS = 20
AUTO_TRIALS = 12  # USING auto without trials or time_budget: each algorithm's defaults, then 8
TRIALS_WITH_A_BUDGET = 1000  # a time_budget without trials searches until the deadline
MINIMISED = metrics.MINIMISED

# USING auto: the algorithms tried for each task, each with its own space.
AUTO_ALGORITHMS = {
    "classification": ("lightgbm", "random_forest", "logistic_regression", "mlp"),
    "regression": ("lightgbm", "random_forest", "linear_regression", "mlp"),
}


@dataclass(frozen=True)
class Span:
    """RANGE(lo, hi [, LOG]): whole numbers when both ends are, else continuous."""

    low: float
    high: float
    log: bool = False
    integer: bool = False

    def to_json(self) -> dict[str, Any]:
        return {"range": [self.low, self.high], "log": self.log}

    def grid(self, name: str) -> list[Any]:
        if not self.integer or self.high - self.low > 100:
            raise UnknownOptionError(
                f"search = 'grid' needs candidate lists: {name} is a RANGE; give "
                f"{name} = [a, b, ...], or use search = 'random' or 'bayes'"
            )
        return list(range(int(self.low), int(self.high) + 1))


Dimension = Span | list


def span(name: str, value: dict[str, Any]) -> Span:
    """The Span an OPTIONS value RANGE(...) stands for (the dialect gives it as a mapping),
    checked."""
    low, high = value["range"]
    log = bool(value.get("log"))
    for end in (low, high):
        if not isinstance(end, int | float) or isinstance(end, bool) or not math.isfinite(end):
            raise UnknownOptionError(f"RANGE of {name} takes two numbers, not {end!r}")
    if low >= high:
        raise UnknownOptionError(f"RANGE of {name} needs lo < hi, not RANGE({low}, {high})")
    if log and low <= 0:
        raise UnknownOptionError(f"RANGE of {name} with LOG needs lo > 0, not {low}")
    return Span(float(low), float(high), log, isinstance(low, int) and isinstance(high, int))


# Each algorithm's space for USING auto (a search of one algorithm uses the user's).
AUTO_SPACES: dict[str, dict[str, Dimension]] = {
    "lightgbm": {
        "num_leaves": Span(7, 127, log=True, integer=True),
        "learning_rate": Span(0.01, 0.3, log=True),
        "n_estimators": Span(50, 500, log=True, integer=True),
        "min_child_samples": Span(5, 100, log=True, integer=True),
        "colsample_bytree": Span(0.5, 1.0),
        "reg_lambda": Span(1e-3, 10.0, log=True),
    },
    "random_forest": {
        "n_estimators": Span(50, 300, log=True, integer=True),
        "max_features": ["sqrt", 0.5, 1.0],
        "min_samples_leaf": Span(1, 20, log=True, integer=True),
    },
    # Below C = 0.1 (standardised inputs) the probabilities shrink to the base rate: the
    # ranking (roc_auc) can still win while every row gets the majority class.
    "logistic_regression": {"C": Span(0.1, 100.0, log=True)},
    "linear_regression": {},
    "kmeans": {"n_clusters": Span(2, 12, integer=True)},
    "mlp": {
        "hidden_layer_sizes": [[64], [128], [64, 32]],
        "alpha": Span(1e-5, 1e-1, log=True),
        "learning_rate_init": Span(1e-4, 1e-2, log=True),
    },
}


@dataclass
class Candidate:
    """One algorithm of a search, with what is searched and what is fixed."""

    algo: Algorithm
    space: dict[str, Dimension]
    fixed: dict[str, Any]
    own_space: bool = False  # the algorithm's space (AUTO_SPACES), not one the user named


@dataclass
class Plan:
    method: str
    trials: int
    budget: float | None  # seconds
    metric: str
    cv: int | None
    parallel: int
    candidates: list[Candidate]

    @property
    def maximise(self) -> bool:
        return self.metric not in MINIMISED


@dataclass
class Trial:
    trial_id: int
    algorithm: str
    hyperparameters: dict[str, Any]
    status: str = "succeeded"  # or failed, stopped (at the deadline)
    value: float | None = None
    eval_loss: float | None = None
    seconds: float = 0.0
    error: str | None = None
    is_optimal: bool = False
    baseline: bool = False  # the first candidate's defaults, kept unless clearly beaten
    pipeline: Any = field(default=None, repr=False)  # fitted on the training part, if kept

    def to_json(self, metric: str) -> dict[str, Any]:
        return {
            "trial_id": self.trial_id,
            "algorithm": self.algorithm,
            "hyperparameters": _plain(self.hyperparameters),
            "metric": metric,
            "value": self.value,
            "eval_loss": self.eval_loss,
            "seconds": round(self.seconds, 3),
            "status": self.status,
            "error_message": self.error,
            "is_optimal": self.is_optimal,
        }


@dataclass
class Outcome:
    best: Trial
    trials: list[Trial]
    summary: dict[str, Any]


def wanted(own: dict[str, Any], hyperparameters: dict[str, Any], algorithm_name: str) -> bool:
    """Whether the statement asks for a search at all."""
    return (
        algorithm_name == AUTO
        or any(k in own for k in SEARCH_OPTIONS)
        or any(_is_dimension(v) for v in hyperparameters.values())
    )


def plan(
    own: dict[str, Any],
    hyperparameters: dict[str, Any],
    algorithm_name: str,
    task: str | None,
    n_classes: int = 2,
    class_weight: dict[int, float] | str | None = None,
) -> Plan:
    """The search the options ask for, every value checked before anything is fitted (and,
    with ``task`` None, before the rows are read: what depends on the task is checked once
    it is known)."""
    method = own.get("search", "bayes" if algorithm_name == AUTO else "random")
    if method not in METHODS:
        raise UnknownOptionError(
            f"search = {method!r} is not a search method.{close_matches(str(method), METHODS)}"
            f" Methods: {', '.join(METHODS)}"
        )
    metric = str(own.get("metric", default_metric(task or "classification", n_classes)))
    metric = metric.lower()
    allowed = metrics.METRICS[task] if task else sum(metrics.METRICS.values(), ())
    if metric not in allowed:
        raise UnknownOptionError(
            f"metric = {metric!r} does not fit {task or 'any task'}."
            f"{close_matches(metric, allowed)} Metrics of {task or 'a task'}: {', '.join(allowed)}"
        )
    cv = own.get("cv")
    if cv is not None:
        cv = int(checked("cv", cv, Range(int, 2, 20)))
    parallel = int(checked("parallel_trials", own.get("parallel_trials", 1), Range(int, 1, 64)))
    budget = own.get("time_budget")
    if budget is not None:
        budget = float(checked("time_budget", budget, Range(float, 0, 86_400, low_open=True)))
    if algorithm_name == AUTO:
        candidates = _auto_candidates(task or "classification", hyperparameters, class_weight)
        if method == "grid":
            raise UnknownOptionError(
                "USING auto searches with search = 'bayes' (the default) or 'random', not grid"
            )
    else:
        algo = standardised(algorithm(algorithm_name), own)
        named = algo.named(hyperparameters)
        space = {k: _dimension(k, v) for k, v in named.items() if _is_dimension(v)}
        fixed = {k: v for k, v in named.items() if k not in space}
        own_space = False
        if class_weight is not None:
            fixed["class_weight"] = weighed(algo, class_weight)
        if not space:  # trials with nothing named to search: the algorithm's own space
            if method == "grid":
                raise UnknownOptionError(
                    "search = 'grid' needs a candidate list to search: x = [a, b, ...]"
                )
            space = {k: d for k, d in AUTO_SPACES[algo.name].items() if k not in fixed}
            own_space = True
        algo.check_options({**fixed, **{k: _example(d) for k, d in space.items()}})
        candidates = [Candidate(algo, space, fixed, own_space)]
    trials = own.get("trials")
    if trials is not None:
        trials = int(checked("trials", trials, Range(int, 1, 100_000)))
    if not any(c.space for c in candidates):  # nothing to vary: one trial says it all
        trials = 1
    elif trials is None and method == "grid":
        trials = math.prod(len(_grid_values(k, d)) for k, d in candidates[0].space.items())
    elif trials is None and budget is not None:
        trials = TRIALS_WITH_A_BUDGET
    elif trials is None:
        trials = AUTO_TRIALS if algorithm_name == AUTO else DEFAULT_TRIALS
    return Plan(method, trials, budget, metric, cv, parallel, candidates)


def default_metric(task: str, n_classes: int = 2) -> str:
    """BigQuery's defaults: roc_auc for binary, log_loss for multiclass, r2 for regression,
    davies_bouldin_index for clustering."""
    if task in ("regression", "clustering"):
        return metrics.primary_metric(task)
    return "roc_auc" if n_classes == 2 else "log_loss"


def run(
    search: Plan,
    frame: pd.DataFrame,
    y: np.ndarray,
    features: list[Feature],
    task: str,
    seed: int,
    progress: Progress,
) -> Outcome:
    """The trials, in the training rows only; the best one's model."""
    optuna = _optuna()
    started = time.monotonic()
    deadline = None if search.budget is None else started + search.budget
    cv = search.cv or (SMALL_CV if len(y) < SMALL_TABLE_ROWS else None)
    folds = _folds(len(y), y if task == "classification" else None, cv, seed)
    study = optuna.create_study(
        direction="maximize" if search.maximise else "minimize",
        sampler=_sampler(optuna, search, seed),
    )
    if len(search.candidates) > 1:  # each algorithm's defaults first: the baseline
        for candidate in search.candidates:
            study.enqueue_trial({"algorithm": candidate.algo.name})
    elif search.method != "grid" and not search.candidates[0].own_space:
        # the defaults, as far as the user's space holds them (in its own space, _suggested
        # gives the first trial the algorithm's defaults)
        study.enqueue_trial(_defaults_in_space(search.candidates[0]), skip_if_exists=True)
    trials: list[Trial] = []
    lock = threading.Lock()

    def trials_deadline() -> float | None:
        """The deadline less the time to refit the best trial so far on every training row
        and to check it against the defaults on fresh folds (_chosen), so that both fit in
        the budget too."""
        if deadline is None:
            return None
        with lock:
            done = [t for t in trials if t.status == "succeeded" and t.value is not None]
        if not done:
            return deadline
        best = (max if search.maximise else min)(done, key=lambda t: t.value or 0.0)
        check = 0.0 if best.baseline else sum(t.seconds for t in done if t.baseline) + best.seconds
        return deadline - best.seconds / len(folds) * REFIT_FACTOR - check

    def objective(chosen: Any) -> float:
        trial_deadline = trials_deadline()
        if _past(trial_deadline):
            study.stop()
            raise optuna.TrialPruned
        candidate, params = _suggested(chosen, search)
        trial = Trial(chosen.number + 1, candidate.algo.name, {**candidate.fixed, **params})
        trial.baseline = chosen.number == 0 and candidate.own_space
        clock = time.monotonic()
        try:
            trial.value, trial.eval_loss, _, trial.pipeline = _score(
                candidate.algo,
                trial.hyperparameters,
                frame,
                y,
                folds,
                features,
                task,
                seed,
                search,
                trial_deadline,
            )
        except _OutOfTime:
            trial.status = "stopped"
        except Exception as error:  # a trial's options the estimator refuses, ...
            trial.status, trial.error = "failed", f"{type(error).__name__}: {error}"
        trial.seconds = time.monotonic() - clock
        with lock:
            trials.append(trial)
            _keep_the_best_models(trials, search.maximise)
            _say(progress, search, trials, trial, deadline)
        if trial.status == "succeeded" and trial.value is not None:
            return trial.value
        raise optuna.TrialPruned  # not a result: Optuna's sampler leaves it out

    study.optimize(objective, n_trials=search.trials, n_jobs=search.parallel)
    trials.sort(key=lambda t: t.trial_id)
    finished = [t for t in trials if t.status == "succeeded" and t.value is not None]
    if not finished:
        raise _no_trial_finished(search, trials)
    fresh = _folds(len(y), y if task == "classification" else None, cv, seed + 1)

    def rescored(trial: Trial) -> list[float | None]:
        """The trial's metric on each part of folds it was not chosen on."""
        algo = ALGORITHMS[trial.algorithm]
        _, _, parts, _ = _score(
            algo,
            trial.hyperparameters,
            frame,
            y,
            fresh,
            features,
            task,
            seed,
            search,
            deadline,
            parted=True,
        )
        return parts

    best = _chosen(finished, search.maximise, rescored, progress)
    best.is_optimal = True
    summary = {
        "method": search.method,
        "metric": search.metric,
        "validation": f"cv {cv}" if cv else f"split {VALIDATION_SIZE}",
        "folds": len(folds),
        "trials": len(trials),
        "time_budget": search.budget,
        "seconds": round(time.monotonic() - started, 3),
        "best_trial": best.trial_id,
    }
    return Outcome(best, trials, summary)


# -- the trials --------------------------------------------------------------------------


class _OutOfTime(Exception):
    """The deadline came while a trial was fitting."""


def _keep_the_best_models(trials: list[Trial], maximise: bool) -> None:
    """Only the best TRIALS_KEPT + 1 trials and the baseline keep their fitted models
    (memory stays bounded however many trials run)."""
    fitted = [t for t in trials if t.pipeline is not None and t.value is not None]
    fitted = [t for t in fitted if not t.baseline]  # it may yet be chosen: see _chosen
    fitted.sort(key=lambda t: t.value or 0.0, reverse=maximise)
    for trial in fitted[TRIALS_KEPT + 1 :]:
        trial.pipeline = None


def _past(deadline: float | None) -> bool:
    return deadline is not None and time.monotonic() >= deadline


def _score(
    algo: Algorithm,
    params: dict[str, Any],
    frame: pd.DataFrame,
    y: np.ndarray,
    folds: list[tuple[np.ndarray, np.ndarray]],
    features: list[Feature],
    task: str,
    seed: int,
    search: Plan,
    deadline: float | None,
    parted: bool = False,
) -> tuple[float | None, float | None, list[float | None], Any]:
    """The trial's metric on validation (the mean over cv folds), its eval loss, with
    ``parted`` the metric on each part of validation (each fold, or each of PARTS parts of
    the one split's rows: what _chosen compares trials by), and its fitted pipeline when
    there is one split (cv's fold models are not kept)."""
    values: list[float | None] = []
    losses: list[float | None] = []
    parts: list[float | None] = []
    pipeline = None
    threads = max(1, (os.cpu_count() or 1) // search.parallel)
    for fit_rows, check_rows in folds:
        pipeline = fit(
            algo, params, frame.iloc[fit_rows], y[fit_rows], features, task, seed, deadline, threads
        )
        scores = _predictions(pipeline, frame.iloc[check_rows], task)
        measured = _measured(task, y[check_rows], scores, pipeline)
        values.append(measured[search.metric])
        losses.append(measured[LOSSES[task]])
        if parted and len(folds) == 1:  # the split's rows are in random order: samples
            for part in np.array_split(np.arange(len(check_rows)), PARTS):
                on_part = _measured(task, y[check_rows][part], scores[part], pipeline)
                parts.append(on_part[search.metric])
        elif parted:
            parts.append(measured[search.metric])
    if any(v is None for v in values):
        return None, None, [], None
    value = float(np.mean([v for v in values if v is not None]))
    loss = None if None in losses else float(np.mean([v for v in losses if v is not None]))
    return value, loss, parts, pipeline  # cv: the last fold's model stands for the trial


def _chosen(
    finished: list[Trial],
    maximise: bool,
    rescored: Callable[[Trial], list[float | None]],
    progress: Progress,
) -> Trial:
    """The best trial on validation, unless it does not beat the baseline (the defaults)
    on folds it was not chosen on by more than one standard error: the mean of their
    paired differences over the parts of those folds must exceed its standard error (the
    one-standard-error rule). Among hundreds of trials the best is partly the luckiest on
    the search's folds; a lead that does not hold on others does not carry to new rows,
    and the defaults are the safer model. With no time left to check, the best is kept."""
    best = (max if maximise else min)(finished, key=lambda t: t.value or 0.0)
    baseline = next((t for t in finished if t.baseline), None)
    if baseline is None or baseline is best:
        return best
    try:
        ours, theirs = rescored(best), rescored(baseline)
    except Exception:  # _OutOfTime, or a fit that fails on other rows: the search's choice
        return best
    pairs = [(a, b) for a, b in zip(ours, theirs, strict=False) if a is not None and b is not None]
    if len(pairs) < 2:
        return best
    gains = np.array([a - b for a, b in pairs]) * (1 if maximise else -1)
    error = float(gains.std(ddof=1)) / math.sqrt(len(gains))
    if gains.mean() > error:
        return best
    progress(
        f"trial {best.trial_id} beats the defaults (trial {baseline.trial_id}) by "
        f"{gains.mean():.4f} on fresh folds, within its standard error {error:.4f} over "
        f"{len(gains)} parts: the defaults are kept"
    )
    return baseline


def fit(
    algo: Algorithm,
    params: dict[str, Any],
    frame: pd.DataFrame,
    y: np.ndarray,
    features: list[Feature],
    task: str,
    seed: int,
    deadline: float | None,
    threads: int | None = None,
) -> Any:
    """A pipeline of the algorithm fitted on the rows; raises _OutOfTime at the deadline."""
    params = dict(params)
    if threads is not None and algo.name in ("lightgbm", "random_forest"):
        params.setdefault("n_jobs", threads)
    estimator = algo.estimator(task, params, seed)
    pipeline = fitting_pipeline(features, algo, estimator, frame)
    if deadline is None:
        return pipeline.fit(frame, y)
    if algo.name == "lightgbm":
        return pipeline.fit(frame, y, model__callbacks=[_stop_at(deadline)])
    prepared = pipeline[:-1].fit_transform(frame, y)
    model = pipeline.steps[-1][1]
    if algo.name == "random_forest":  # grown a few trees at a time
        total = model.n_estimators
        model.set_params(warm_start=True)
        for grown in range(min(10, total), total + 10, 10):
            if _past(deadline):
                raise _OutOfTime
            model.set_params(n_estimators=min(grown, total))
            model.fit(prepared, y)
        model.set_params(warm_start=False)
    elif algo.name == "mlp" and model.solver != "lbfgs" and not model.early_stopping:
        _train_by_epochs(model, prepared, y, deadline)
    else:
        model.fit(prepared, y)
    if _past(deadline):
        raise _OutOfTime
    return pipeline


def _train_by_epochs(model: Any, X: Any, y: np.ndarray, deadline: float) -> None:
    """A network's fit, one epoch per partial_fit so that the deadline is checked between
    epochs. partial_fit keeps Adam's state from one epoch to the next, and a RandomState
    (not the seed) keeps the shuffles going on, so this trains the network fit() would
    (the same steps, another order of rows): the trial's score describes its refit."""
    seed = model.random_state
    model.set_params(random_state=np.random.RandomState(seed))
    classes = np.unique(y) if hasattr(model, "predict_proba") else None
    try:
        for _ in range(model.max_iter):
            if _past(deadline):
                raise _OutOfTime
            if classes is None:
                model.partial_fit(X, y)
            else:
                model.partial_fit(X, y, classes=classes)
            if model._no_improvement_count > model.n_iter_no_change:  # fit()'s own stop
                break
    finally:
        model.set_params(random_state=seed)


def _stop_at(deadline: float) -> Callable[[Any], None]:
    def callback(env: Any) -> None:
        if _past(deadline):
            raise _OutOfTime

    return callback


def _predictions(pipeline: Any, frame: pd.DataFrame, task: str) -> np.ndarray:
    if task == "clustering":  # the distance to each centroid
        return np.asarray(pipeline.transform(frame), dtype=np.float64)
    if task == "classification":
        return np.asarray(pipeline.predict_proba(frame), dtype=np.float64)
    return np.asarray(pipeline.predict(frame), dtype=np.float64)


def _measured(
    task: str, y: np.ndarray, scores: np.ndarray, pipeline: Any
) -> dict[str, float | None]:
    if task == "clustering":
        centers = pipeline.steps[-1][1].cluster_centers_
        return metrics.clustering(scores, metrics.centroid_gaps(centers))
    if task == "classification":
        if scores.ndim == 2 and scores.shape[1] < int(y.max()) + 1:  # a class unseen in fitting
            padded = np.zeros((len(scores), int(y.max()) + 1))
            padded[:, : scores.shape[1]] = scores
            scores = padded
        return metrics.classification(y, scores)
    return metrics.regression(y, scores)


def _folds(
    n: int, stratify: np.ndarray | None, cv: int | None, seed: int
) -> list[tuple[np.ndarray, np.ndarray]]:
    """(rows to fit, rows to score) of each fold: one validation split, or cv folds."""
    from sklearn.model_selection import KFold, StratifiedKFold, train_test_split

    indices = np.arange(n)
    enough = stratify is not None and np.bincount(stratify).min() >= (cv or 2)
    if cv:
        splitter = (
            StratifiedKFold(cv, shuffle=True, random_state=seed)
            if enough
            else KFold(cv, shuffle=True, random_state=seed)
        )
        return list(splitter.split(indices, stratify if enough else None))
    fit_rows, check_rows = train_test_split(
        indices,
        test_size=VALIDATION_SIZE,
        random_state=seed,
        stratify=stratify if enough else None,
    )
    return [(fit_rows, check_rows)]


# -- choosing trials -----------------------------------------------------------------------


def _optuna() -> Any:
    try:
        import optuna
    except ImportError as error:
        raise MissingExtraError(
            "hyperparameter search and USING auto need Optuna, which is not installed where "
            "sqlml trains (on PostgreSQL: the server's Python): pip install 'sqlml[automl]'"
        ) from error
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    return optuna


def _sampler(optuna: Any, search: Plan, seed: int) -> Any:
    if search.method == "grid":
        space = search.candidates[0].space
        return optuna.samplers.GridSampler(
            {name: _grid_values(name, d) for name, d in space.items()}, seed=seed
        )
    if search.method == "random":
        return optuna.samplers.RandomSampler(seed=seed)
    return optuna.samplers.TPESampler(seed=seed, n_startup_trials=5)


def _suggested(trial: Any, search: Plan) -> tuple[Candidate, dict[str, Any]]:
    """The candidate and hyperparameters Optuna picked for this trial. In the algorithms'
    own spaces the first trials (under USING auto enqueued, one per algorithm) take each
    algorithm's defaults, exactly (LightGBM's reg_lambda = 0 is no point of a LOG range)."""
    by_name = {c.algo.name: c for c in search.candidates}
    if len(by_name) > 1:
        candidate = by_name[trial.suggest_categorical("algorithm", list(by_name))]
        prefix = f"{candidate.algo.name}."
    else:
        candidate, prefix = search.candidates[0], ""
    if trial.number < len(by_name) and candidate.own_space:
        defaults = _defaults(candidate)
        return candidate, {k: defaults[k] for k in candidate.space if k in defaults}
    params = {}
    for name, dimension in candidate.space.items():
        key = prefix + name
        if isinstance(dimension, Span):
            suggest = trial.suggest_int if dimension.integer else trial.suggest_float
            params[name] = suggest(key, dimension.low, dimension.high, log=dimension.log)
        else:  # Optuna's choices are scalars: it picks a candidate's position
            params[name] = dimension[trial.suggest_categorical(key, range(len(dimension)))]
    return candidate, params


def _defaults(candidate: Candidate) -> dict[str, Any]:
    """The hyperparameters the algorithm has when none is given."""
    task = candidate.algo.tasks[0]  # the defaults are the same for every task
    return {**candidate.algo.factory(task)().get_params(), **candidate.algo.defaults}


def _defaults_in_space(candidate: Candidate) -> dict[str, Any]:
    """Optuna's parameters for the algorithm's own defaults, for each dimension that holds
    its default (the others are sampled)."""
    defaults = _defaults(candidate)
    chosen: dict[str, Any] = {}
    for name, dimension in candidate.space.items():
        default = defaults.get(name)
        if isinstance(dimension, Span):
            if not isinstance(default, int | float) or isinstance(default, bool):
                continue
            if dimension.low <= default <= dimension.high:
                chosen[name] = int(default) if dimension.integer else float(default)
        elif default in dimension:
            chosen[name] = dimension.index(default)
    return chosen


def _grid_values(name: str, dimension: Dimension) -> list[Any]:
    """The grid of a dimension as _suggested asks for it: a RANGE's numbers, a list's
    positions."""
    return dimension.grid(name) if isinstance(dimension, Span) else list(range(len(dimension)))


def _plain(params: dict[str, Any]) -> dict[str, Any]:
    return {k: _number(v) for k, v in params.items()}


def _number(value: Any) -> Any:
    return value.item() if isinstance(value, np.generic) else value


def _auto_candidates(
    task: str, hyperparameters: dict[str, Any], class_weight: dict[int, float] | str | None
) -> list[Candidate]:
    """Each algorithm of the task with its space; with class weights, those that can weigh
    classes."""
    if hyperparameters:
        raise UnknownOptionError(
            f"USING auto chooses the algorithm and its hyperparameters itself; it takes no "
            f"hyperparameters ({', '.join(hyperparameters)}): name an algorithm to search it"
        )
    algorithms = [ALGORITHMS[name] for name in AUTO_ALGORITHMS[task]]
    if class_weight is None:
        return [Candidate(a, AUTO_SPACES[a.name], {}, True) for a in algorithms]
    fixed = {"class_weight": class_weight}
    return [Candidate(a, AUTO_SPACES[a.name], fixed, True) for a in algorithms if a.weighs_classes]


def _is_dimension(value: Any) -> bool:
    """A list, or the dialect's mapping of RANGE(...) or HPARAM_CANDIDATES([...])."""
    return isinstance(value, list) or (
        isinstance(value, dict) and ("range" in value or "candidates" in value)
    )


def _dimension(name: str, value: Any) -> Dimension:
    if isinstance(value, dict) and "range" in value:
        return span(name, value)
    if isinstance(value, dict):
        value = value["candidates"]
    if not value:
        raise UnknownOptionError(f"{name} = [] has no candidates: give at least one value")
    return list(value)


def _example(dimension: Dimension) -> Any:
    """A value of the dimension, to check the option against the estimator's parameters."""
    if isinstance(dimension, Span):
        return int(dimension.low) if dimension.integer else dimension.low
    return dimension[0]


def _say(
    progress: Progress, search: Plan, trials: list[Trial], trial: Trial, deadline: float | None
) -> None:
    finished = [t.value for t in trials if t.status == "succeeded" and t.value is not None]
    best = (max if search.maximise else min)(finished) if finished else None
    told = f"{search.metric} {trial.value:.4f}" if trial.value is not None else trial.status
    left = "" if deadline is None else f", {max(0.0, deadline - time.monotonic()):.0f} s left"
    total = "" if search.trials >= TRIALS_WITH_A_BUDGET else f" of {search.trials}"
    best_text = "" if best is None else f" (best {best:.4f})"
    progress(f"trial {len(trials)}{total}: {trial.algorithm} {told}{best_text}{left}")


def _no_trial_finished(search: Plan, trials: list[Trial]) -> UnknownOptionError:
    stopped = [t for t in trials if t.status == "stopped"]
    if stopped or not trials:
        return UnknownOptionError(
            f"time_budget = {search.budget:g} s ended before any trial finished "
            f"({len(stopped)} stopped at the deadline): give a larger time_budget"
        )
    failed = trials[0]
    return UnknownOptionError(
        f"every trial of the search failed; trial 1 ({failed.algorithm} with "
        f"{_plain(failed.hyperparameters)}) said: {failed.error}"
    )
