"""BigQuery ML's CREATE MODEL vocabulary, in sqlml's terms.

`CREATE MODEL m OPTIONS (model_type = 'linear_reg', input_label_cols = ['y'], ...) AS ...`
names its label, algorithm and hyperparameters in OPTIONS. Each BigQuery option either maps
to sqlml's (a target, an algorithm, a hyperparameter of that algorithm's estimator, the
hold-out split) or has no equivalent and is ignored with a notice that says so.
"""

from __future__ import annotations

import difflib
from typing import Any

from sqlml._udfs_loader import udfs
from sqlml.errors import UnknownOptionError, UnsupportedError, close_matches
from sqlml.models.forms import Translated, mixed_forms

# model_type → (algorithm, task)
MODEL_TYPES = {
    "linear_reg": ("linear_regression", "regression"),
    "logistic_reg": ("logistic_regression", "classification"),
    "boosted_tree_classifier": ("lightgbm", "classification"),
    "boosted_tree_regressor": ("lightgbm", "regression"),
    "random_forest_classifier": ("random_forest", "classification"),
    "random_forest_regressor": ("random_forest", "regression"),
    "dnn_classifier": ("mlp", "classification"),
    "dnn_regressor": ("mlp", "regression"),
    "automl_classifier": ("auto", "classification"),
    "automl_regressor": ("auto", "regression"),
    "kmeans": ("kmeans", "clustering"),
}
KMEANS_INIT = {"random": "random", "kmeans++": "k-means++", "custom": None}

# BigQuery hyperparameter → {algorithm: (sqlml's parameter, conversion)}
HYPERPARAMETERS: dict[str, dict[str, tuple[str, Any]]] = {
    "num_clusters": {"kmeans": ("n_clusters", int)},
    "standardize_features": {"kmeans": ("standardize", bool)},
    "max_iterations": {
        "kmeans": ("max_iter", int),
        "lightgbm": ("n_estimators", int),
        "logistic_regression": ("max_iter", int),
        "mlp": ("max_iter", int),
    },
    "learn_rate": {"lightgbm": ("learning_rate", float), "mlp": ("learning_rate_init", float)},
    "l1_reg": {"lightgbm": ("reg_alpha", float)},
    "l2_reg": {
        "lightgbm": ("reg_lambda", float),
        "logistic_regression": ("C", lambda v: 1.0 / float(v) if float(v) > 0 else 1e12),
        "mlp": ("alpha", float),
    },
    "max_tree_depth": {"lightgbm": ("max_depth", int), "random_forest": ("max_depth", int)},
    "num_parallel_tree": {"random_forest": ("n_estimators", int)},
    "min_split_loss": {"lightgbm": ("min_split_gain", float)},
    "min_tree_child_weight": {"lightgbm": ("min_child_weight", float)},
    "colsample_bynode": {"lightgbm": ("feature_fraction_bynode", float)},
    "subsample": {"lightgbm": ("subsample", float), "random_forest": ("max_samples", float)},
    "colsample_bytree": {"lightgbm": ("colsample_bytree", float)},
    "hidden_units": {"mlp": ("hidden_layer_sizes", tuple)},
    "batch_size": {"mlp": ("batch_size", int)},
}

# What sqlml does whatever the option says: accepted, with a notice that says so.
ALWAYS = {
    "enable_global_explain": "sqlml always keeps global explanations (ML.GLOBAL_EXPLAIN)",
}

# Accepted, with nothing to do here: said in a notice, never silently dropped.
IGNORED = {
    "booster_type",
    "calculate_p_values",
    "category_encoding_method",
    "dropout",
    "early_stop",
    "fit_intercept",
    "kms_key_name",
    "labels",
    "learn_rate_strategy",
    "ls_init_learn_rate",
    "min_rel_progress",
    "model_registry",
    "optimize_strategy",
    "tree_method",
    "warm_start",
    "activation_fn",
    "optimizer",
    "vertex_ai_model_id",
}
# Hyperparameter tuning and AutoML: BigQuery's option → sqlml's, and their values.
TUNING = {"num_trials": "trials", "max_parallel_trials": "parallel_trials"}
TUNING_ALGORITHMS = {"vizier_default": "bayes", "random_search": "random", "grid_search": "grid"}
TUNING_OBJECTIVES = {
    "roc_auc": "roc_auc",
    "log_loss": "log_loss",
    "accuracy": "accuracy",
    "precision": "precision",
    "recall": "recall",
    "f1_score": "f1",
    "mean_absolute_error": "mae",
    "mean_squared_error": "rmse",  # the same order of trials as its root
    "r2_score": "r2",
    "davies_bouldin_index": "davies_bouldin_index",
}
AUTOML_OBJECTIVES = {
    "maximize_au_roc": "roc_auc",
    "minimize_log_loss": "log_loss",
    "minimize_rmse": "rmse",
    "minimize_mae": "mae",
}
DEFAULT_LABEL = "label"  # BigQuery's label column when input_label_cols is not given

_OWN = (
    "model_type",
    "input_label_cols",
    "data_split_method",
    "data_split_eval_fraction",
    "data_split_col",
    "class_weights",
    "auto_class_weights",
    "hparam_tuning_algorithm",
    "hparam_tuning_objectives",
    "budget_hours",
    "optimization_objective",
    "kmeans_init_method",
    "kmeans_init_col",
    "distance_type",
    *TUNING,
)
# sqlml's own options, accepted beside BigQuery's as they are (time_budget overrides
# BUDGET_HOURS, for instance).
_SQLML = udfs.algorithms.RESERVED_OPTIONS


def is_bigquery_form(options: dict[str, Any]) -> bool:
    """BigQuery's OPTIONS: a model_type or input_label_cols, or an option that is a
    misspelling of one (told with close matches, not as a missing TARGET)."""
    words = ("model_type", "input_label_cols")
    return any(difflib.get_close_matches(name.lower(), words, cutoff=0.8) for name in options)


def from_bigquery(options: dict[str, Any], clauses: dict[str, Any]) -> Translated:
    """sqlml's target, algorithm, task and options for BigQuery's OPTIONS."""
    mixed = [name for name in ("target", "algorithm", "task") if clauses.get(name)]
    if mixed:
        words = {"target": "TARGET", "algorithm": "USING", "task": "TASK"}
        raise mixed_forms(
            [words[m] for m in mixed], "BigQuery's OPTIONS (model_type, input_label_cols)"
        )
    model_type = str(options.get("model_type", "boosted_tree_regressor")).lower()
    if model_type not in MODEL_TYPES:
        raise UnknownOptionError(
            f"OPTIONS model_type: unknown {model_type!r}.{close_matches(model_type, MODEL_TYPES)}"
            f" Known: {', '.join(MODEL_TYPES)}"
        )
    algorithm, task = MODEL_TYPES[model_type]
    if algorithm == "kmeans":
        translated = Translated(target="", algorithm=algorithm, task=task)
        _kmeans(options, translated)
    else:
        translated = Translated(target=_label(options), algorithm=algorithm, task=task)
    _split(options, translated)
    _class_weights(options, translated)
    _tuning(options, translated)
    if algorithm == "auto":
        _automl(options, translated)
    for name, value in options.items():
        if name in _OWN:
            continue
        if name in _SQLML:
            translated.options[name] = value
        elif name in HYPERPARAMETERS:
            mapping = HYPERPARAMETERS[name].get(algorithm)
            if mapping is None:
                translated.notices.append(
                    f"OPTIONS {name} has no equivalent for model_type {model_type!r}: ignored"
                )
                continue
            parameter, convert = mapping
            translated.options[parameter] = _converted(value, convert)
        elif name in ALWAYS:
            translated.notices.append(f"OPTIONS {name}: {ALWAYS[name]}")
        elif name in IGNORED:
            translated.notices.append(f"OPTIONS {name} has no equivalent in sqlml: ignored")
        else:
            known = [*_OWN, *HYPERPARAMETERS, *ALWAYS, *IGNORED, *_SQLML]
            raise UnknownOptionError(
                f"unknown BigQuery ML option {name!r}.{close_matches(name, known)}"
            )
    return translated


def _kmeans(options: dict[str, Any], translated: Translated) -> None:
    """model_type = 'kmeans': no label; kmeans_init_method RANDOM, KMEANS++ or CUSTOM (the
    rows whose BOOL kmeans_init_col is TRUE start the centroids); distance EUCLIDEAN."""
    if "input_label_cols" in options:
        raise UnknownOptionError(
            "model_type = 'kmeans' finds clusters: it takes no input_label_cols"
        )
    method = str(options.get("kmeans_init_method", "kmeans++")).lower()
    if method not in KMEANS_INIT:
        raise UnknownOptionError(
            f"OPTIONS kmeans_init_method: unknown {method!r}.{close_matches(method, KMEANS_INIT)}"
            f" Known: {', '.join(m.upper() for m in KMEANS_INIT)}"
        )
    column = options.get("kmeans_init_col")
    if (method == "custom") != (column is not None):
        raise UnknownOptionError(
            "OPTIONS kmeans_init_method = 'CUSTOM' and kmeans_init_col go together"
        )
    if column is not None:
        translated.options["init_column"] = str(column).lower()
    else:
        translated.options["init"] = KMEANS_INIT[method]
    distance = str(options.get("distance_type", "euclidean")).lower()
    if distance != "euclidean":
        raise UnsupportedError(
            f"OPTIONS distance_type = {distance.upper()!r}: sqlml's k-means is EUCLIDEAN"
        )


def _label(options: dict[str, Any]) -> str:
    labels = options.get("input_label_cols", DEFAULT_LABEL)
    labels = labels if isinstance(labels, list) else [labels]
    if len(labels) != 1:
        raise UnsupportedError("OPTIONS input_label_cols: sqlml trains on one label column")
    return str(labels[0]).lower()


def _split(options: dict[str, Any], translated: Translated) -> None:
    """DATA_SPLIT_METHOD: AUTO_SPLIT and RANDOM hold out a random fraction (0.2 unless
    DATA_SPLIT_EVAL_FRACTION says), CUSTOM holds out the rows whose BOOL DATA_SPLIT_COL is
    TRUE or NULL, SEQ the last fraction of rows by DATA_SPLIT_COL, NO_SPLIT none."""
    method = str(options.get("data_split_method", "auto_split")).lower()
    methods = ("auto_split", "random", "custom", "seq", "no_split")
    if method not in methods:
        raise UnknownOptionError(
            f"OPTIONS data_split_method: unknown {method!r}.{close_matches(method, methods)}"
            f" Known: {', '.join(m.upper() for m in methods)}"
        )
    column = options.get("data_split_col")
    if method in ("custom", "seq"):
        if not column:
            raise UnknownOptionError(
                f"OPTIONS data_split_method = {method.upper()!r} needs data_split_col"
            )
        translated.options["split_column"] = str(column).lower()
        translated.options["split"] = method
    elif column:
        raise UnknownOptionError(
            "OPTIONS data_split_col is for data_split_method = 'CUSTOM' or 'SEQ'"
        )
    if method == "no_split":
        translated.options["test_size"] = 0.0
    elif "data_split_eval_fraction" in options:
        translated.options["test_size"] = float(options["data_split_eval_fraction"])


def _class_weights(options: dict[str, Any], translated: Translated) -> None:
    """CLASS_WEIGHTS = [('label', weight), ...] or AUTO_CLASS_WEIGHTS = TRUE (inversely
    proportional to each class's frequency)."""
    weights = options.get("class_weights")
    if weights is not None:
        if options.get("auto_class_weights"):
            raise UnknownOptionError(
                "OPTIONS class_weights and auto_class_weights = TRUE: give one or the other"
            )
        translated.options["class_weights"] = weights
    elif options.get("auto_class_weights"):
        translated.options["class_weights"] = "balanced"


def _tuning(options: dict[str, Any], translated: Translated) -> None:
    """NUM_TRIALS, MAX_PARALLEL_TRIALS, HPARAM_TUNING_ALGORITHM and
    HPARAM_TUNING_OBJECTIVES as sqlml's search options."""
    for name, ours in TUNING.items():
        if name in options:
            translated.options[ours] = options[name]
    if "hparam_tuning_algorithm" in options:
        given = str(options["hparam_tuning_algorithm"]).lower()
        translated.options["search"] = _one_of(given, TUNING_ALGORITHMS, "hparam_tuning_algorithm")
    if "hparam_tuning_objectives" in options:
        given = options["hparam_tuning_objectives"]
        objectives = given if isinstance(given, list) else [given]
        if len(objectives) != 1:
            raise UnsupportedError(
                "OPTIONS hparam_tuning_objectives: sqlml's search optimises one objective"
            )
        objective = str(objectives[0]).lower()
        translated.options["metric"] = _one_of(
            objective, TUNING_OBJECTIVES, "hparam_tuning_objectives"
        )


def _automl(options: dict[str, Any], translated: Translated) -> None:
    """AUTOML_CLASSIFIER / AUTOML_REGRESSOR: USING auto, BUDGET_HOURS its time budget (which
    sqlml's time_budget option overrides) and OPTIMIZATION_OBJECTIVE its metric."""
    if "budget_hours" in options and "time_budget" not in options:
        hours = float(options["budget_hours"])
        translated.options["time_budget"] = hours * 3600
        translated.notices.append(
            f"OPTIONS budget_hours = {hours:g}: searching for up to {hours * 3600:g} s; "
            "OPTIONS (time_budget = <seconds>) gives a shorter search"
        )
    elif "budget_hours" in options:
        translated.notices.append("OPTIONS budget_hours is overridden by time_budget")
    if "optimization_objective" in options:
        given = str(options["optimization_objective"]).lower()
        translated.options["metric"] = _one_of(given, AUTOML_OBJECTIVES, "optimization_objective")


def _one_of(given: str, known: dict[str, str], option: str) -> str:
    if given not in known:
        raise UnknownOptionError(
            f"OPTIONS {option}: {given.upper()!r} is not supported."
            f"{close_matches(given, known)} Supported: {', '.join(k.upper() for k in known)}"
        )
    return known[given]


def _converted(value: Any, convert: Any) -> Any:
    """A hyperparameter's value in sqlml's terms; an HPARAM_RANGE's ends (in order: a
    conversion may invert them) and each of HPARAM_CANDIDATES too."""
    if isinstance(value, dict) and "range" in value:
        ends = sorted(convert(end) for end in value["range"])
        return {**value, "range": ends}
    if isinstance(value, dict) and "candidates" in value:
        return {"candidates": [convert(v) for v in value["candidates"]]}
    return convert(value)
