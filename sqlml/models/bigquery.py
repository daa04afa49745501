"""BigQuery ML's CREATE MODEL vocabulary, in sqlml's terms.

`CREATE MODEL m OPTIONS (model_type = 'linear_reg', input_label_cols = ['y'], ...) AS ...`
names its label, algorithm and hyperparameters in OPTIONS. Each BigQuery option either maps
to sqlml's (a target, an algorithm, a hyperparameter of that algorithm's estimator, the
hold-out split) or has no equivalent and is ignored with a notice that says so.
"""

from __future__ import annotations

from typing import Any

from sqlml.errors import SqlmlSyntaxError, UnknownOptionError, UnsupportedError, close_matches
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
}

# BigQuery hyperparameter → {algorithm: (sqlml's parameter, conversion)}
HYPERPARAMETERS: dict[str, dict[str, tuple[str, Any]]] = {
    "max_iterations": {
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
    "auto_class_weights",
    "booster_type",
    "calculate_p_values",
    "category_encoding_method",
    "class_weights",
    "data_split_col",
    "dropout",
    "early_stop",
    "fit_intercept",
    "kms_key_name",
    "labels",
    "learn_rate_strategy",
    "ls_init_learn_rate",
    "min_rel_progress",
    "min_tree_child_weight",
    "model_registry",
    "optimize_strategy",
    "tree_method",
    "warm_start",
    "budget_hours",
    "activation_fn",
    "optimizer",
    "vertex_ai_model_id",
}
_OWN = ("model_type", "input_label_cols", "data_split_method", "data_split_eval_fraction")


def is_bigquery_form(options: dict[str, Any]) -> bool:
    return "model_type" in options or "input_label_cols" in options


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
    if algorithm == "auto":
        raise UnsupportedError(f"OPTIONS model_type = {model_type!r}: AutoML is not available yet")
    labels = options.get("input_label_cols")
    if not labels:
        raise SqlmlSyntaxError("CREATE MODEL needs OPTIONS (input_label_cols = ['column'])")
    labels = labels if isinstance(labels, list) else [labels]
    if len(labels) != 1:
        raise UnsupportedError("OPTIONS input_label_cols: sqlml trains on one label column")
    translated = Translated(target=str(labels[0]).lower(), algorithm=algorithm, task=task)

    method = str(options.get("data_split_method", "auto_split")).lower()
    if method == "no_split":
        translated.options["test_size"] = 0.0
    elif "data_split_eval_fraction" in options:
        translated.options["test_size"] = float(options["data_split_eval_fraction"])
    elif method not in ("auto_split", "random"):
        translated.notices.append(
            f"OPTIONS data_split_method = {method!r} is not supported; a random 20% split is used"
        )
    for name, value in options.items():
        if name in _OWN:
            continue
        if name in ("test_size", "seed", "max_rows"):
            translated.options[name] = value
        elif name in HYPERPARAMETERS:
            mapping = HYPERPARAMETERS[name].get(algorithm)
            if mapping is None:
                translated.notices.append(
                    f"OPTIONS {name} has no equivalent for model_type {model_type!r}: ignored"
                )
                continue
            parameter, convert = mapping
            translated.options[parameter] = convert(value)
        elif name in ALWAYS:
            translated.notices.append(f"OPTIONS {name}: {ALWAYS[name]}")
        elif name in IGNORED:
            translated.notices.append(f"OPTIONS {name} has no equivalent in sqlml: ignored")
        else:
            known = [*_OWN, *HYPERPARAMETERS, *ALWAYS, *IGNORED]
            raise UnknownOptionError(
                f"unknown BigQuery ML option {name!r}.{close_matches(name, known)}"
            )
    return translated
