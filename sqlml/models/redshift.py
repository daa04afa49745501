"""Redshift ML's CREATE MODEL form, in sqlml's terms.

`CREATE MODEL m FROM (SELECT ...) TARGET y FUNCTION f IAM_ROLE default [AUTO ON|OFF]
[MODEL_TYPE ...] [PROBLEM_TYPE ...] [OBJECTIVE '...'] [HYPERPARAMETERS DEFAULT EXCEPT (...)]
[SETTINGS (...)]`. Each clause either maps to sqlml's (an algorithm, a task, a hyperparameter
of the algorithm's estimator, a row limit) or has no equivalent here and is ignored with a
notice that says so. What the statement said is kept with the model for SHOW MODEL. The
checks against the training query (TARGET column, task, FUNCTION types) are in
redshift_checks.py.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from sqlml._udfs_loader import udfs
from sqlml.errors import SqlmlSyntaxError, UnknownOptionError, UnsupportedError, close_matches
from sqlml.models.forms import Translated, mixed_forms, to_number
from sqlml.models.redshift_checks import check_function_types, check_task, query_column
from sqlml.session import Query, Session

# SageMaker Autopilot's metrics (AUTO ON's OBJECTIVE) → the metric sqlml's search optimises.
AUTOPILOT_METRICS = {
    "mse": "rmse",
    "accuracy": "accuracy",
    "f1": "f1",
    "f1macro": "f1",
    "auc": "roc_auc",
}

# MODEL_TYPE → sqlml's algorithm; LINEAR_LEARNER's depends on the task.
MODEL_TYPES = {"XGBOOST": "lightgbm", "LINEAR_LEARNER": None, "MLP": "mlp"}
UNSUPERVISED = {"FORECAST": "time-series forecasting"}
# MODEL_TYPE KMEANS's hyperparameters (SageMaker's k-means) → KMeans' parameters.
KMEANS_INIT = {"random": "random", "kmeans++": "k-means++"}
KMEANS_HYPERPARAMETERS: dict[str, tuple[str, Callable[[Any], Any]]] = {
    "K": ("n_clusters", lambda v: to_number(v, int, "HYPERPARAMETERS K")),
    "EPOCHS": ("max_iter", lambda v: to_number(v, int, "HYPERPARAMETERS EPOCHS")),
    "INIT_METHOD": ("init", lambda v: _kmeans_init(v)),
}
KMEANS_IGNORED = frozenset(
    {
        "MINI_BATCH_SIZE",
        "EXTRA_CENTER_FACTOR",
        "LOCAL_LLOYD_MAX_ITER",
        "LOCAL_LLOYD_TOL",
        "LOCAL_LLOYD_INIT_METHOD",
        "LOCAL_LLOYD_NUM_TRIALS",
        "HALF_LIFE_TIME_SIZE",
        "EVAL_METRICS",
    }
)

# PROBLEM_TYPE → (task, number of classes it implies: 2, 3 meaning "more than 2", or None)
PROBLEM_TYPES = {
    "REGRESSION": ("regression", None),
    "BINARY_CLASSIFICATION": ("classification", 2),
    "MULTICLASS_CLASSIFICATION": ("classification", 3),
}


@dataclass(frozen=True)
class Objective:
    task: str
    classes: int | None  # 2 binary, 3 multiclass, None either
    lightgbm: str | None = None  # LightGBM's objective, when it is not the task's default
    note: str | None = None  # why it has no equivalent, said in a notice


_NO_EQUIVALENT = "sqlml has no equivalent loss"
_METRIC_NOTE = "AUTO OFF trains once, with no search to steer; every metric is reported"
OBJECTIVES = {
    # XGBoost's objectives (AUTO OFF)
    "reg:squarederror": Objective("regression", None),
    "reg:absoluteerror": Objective("regression", None, "regression_l1"),
    "reg:pseudohubererror": Objective("regression", None, "huber"),
    "reg:tweedie": Objective("regression", None, "tweedie"),
    "reg:gamma": Objective("regression", None, "gamma"),
    "count:poisson": Objective("regression", None, "poisson"),
    "reg:squaredlogerror": Objective("regression", None, note=_NO_EQUIVALENT),
    "reg:logistic": Objective("regression", None, note=_NO_EQUIVALENT),
    "binary:logistic": Objective("classification", 2),
    "binary:hinge": Objective("classification", 2, note=_NO_EQUIVALENT),
    "multi:softmax": Objective("classification", 3),
    "multi:softprob": Objective("classification", 3),
    # SageMaker Autopilot's metrics (AUTO ON)
    "mse": Objective("regression", None, note=_METRIC_NOTE),
    "accuracy": Objective("classification", None, note=_METRIC_NOTE),
    "f1": Objective("classification", 2, note=_METRIC_NOTE),
    "f1macro": Objective("classification", 3, note=_METRIC_NOTE),
    "auc": Objective("classification", 2, note=_METRIC_NOTE),
}
RANKING = ("rank:pairwise", "rank:ndcg", "rank:map")


def _xgboost_depth(value: Any) -> int:
    depth = int(to_number(value, int, "HYPERPARAMETERS MAX_DEPTH"))
    return -1 if depth <= 0 else depth  # XGBoost's 0 and LightGBM's -1: no limit


def _inverse(where: str) -> Callable[[Any], float]:
    def convert(value: Any) -> float:
        number = float(to_number(value, float, where))
        return 1.0 / number if number > 0 else 1e12

    return convert


def _as(kind: type, where: str) -> Callable[[Any], int | float]:
    return lambda value: to_number(value, kind, where)


# Redshift hyperparameter → {sqlml algorithm: (parameter, conversion)}
HYPERPARAMETERS: dict[str, dict[str, tuple[str, Callable[[Any], Any]]]] = {
    "NUM_ROUND": {"lightgbm": ("n_estimators", _as(int, "HYPERPARAMETERS NUM_ROUND"))},
    "MAX_DEPTH": {"lightgbm": ("max_depth", _xgboost_depth)},
    "ETA": {"lightgbm": ("learning_rate", _as(float, "HYPERPARAMETERS ETA"))},
    "SUBSAMPLE": {"lightgbm": ("subsample", _as(float, "HYPERPARAMETERS SUBSAMPLE"))},
    "COLSAMPLE_BYTREE": {
        "lightgbm": ("colsample_bytree", _as(float, "HYPERPARAMETERS COLSAMPLE_BYTREE"))
    },
    "ALPHA": {"lightgbm": ("reg_alpha", _as(float, "HYPERPARAMETERS ALPHA"))},
    "LAMBDA": {"lightgbm": ("reg_lambda", _as(float, "HYPERPARAMETERS LAMBDA"))},
    "GAMMA": {"lightgbm": ("min_split_gain", _as(float, "HYPERPARAMETERS GAMMA"))},
    "MIN_CHILD_WEIGHT": {
        "lightgbm": ("min_child_weight", _as(float, "HYPERPARAMETERS MIN_CHILD_WEIGHT"))
    },
    "MAX_LEAVES": {"lightgbm": ("num_leaves", _as(int, "HYPERPARAMETERS MAX_LEAVES"))},
    "EPOCHS": {
        "logistic_regression": ("max_iter", _as(int, "HYPERPARAMETERS EPOCHS")),
        "mlp": ("max_iter", _as(int, "HYPERPARAMETERS EPOCHS")),
    },
    "WD": {  # weight decay: an L2 penalty
        "logistic_regression": ("C", _inverse("HYPERPARAMETERS WD")),
        "mlp": ("alpha", _as(float, "HYPERPARAMETERS WD")),
    },
    "LEARNING_RATE": {"mlp": ("learning_rate_init", _as(float, "HYPERPARAMETERS LEARNING_RATE"))},
    "MINI_BATCH_SIZE": {"mlp": ("batch_size", _as(int, "HYPERPARAMETERS MINI_BATCH_SIZE"))},
}
# Redshift's (XGBoost's, Linear Learner's) other hyperparameters: accepted, with a notice.
KNOWN_HYPERPARAMETERS = frozenset(
    {
        *HYPERPARAMETERS,
        # XGBoost
        "BASE_SCORE",
        "COLSAMPLE_BYLEVEL",
        "COLSAMPLE_BYNODE",
        "CSV_WEIGHTS",
        "DEFAULT_PREDICTION",
        "DSPLIT",
        "EARLY_STOPPING_ROUNDS",
        "GROW_POLICY",
        "LAMBDA_BIAS",
        "MAX_BIN",
        "MAX_DELTA_STEP",
        "NORMALIZE_TYPE",
        "NUM_CLASS",
        "NUM_PARALLEL_TREE",
        "ONE_DROP",
        "PROCESS_TYPE",
        "RATE_DROP",
        "REFRESH_LEAF",
        "SAMPLE_TYPE",
        "SCALE_POS_WEIGHT",
        "SKETCH_EPS",
        "SKIP_DROP",
        "TREE_METHOD",
        "TWEEDIE_VARIANCE_POWER",
        "UPDATER",
        # Linear Learner
        "BINARY_CLASSIFIER_MODEL_SELECTION_CRITERIA",
        "EARLY_STOPPING_PATIENCE",
        "EARLY_STOPPING_TOLERANCE",
        "L1",
        "LOSS",
        "MOMENTUM",
        "NORMALIZE_DATA",
        "NORMALIZE_LABEL",
        "NUM_CLASSES",
        "NUM_MODELS",
        "OPTIMIZER",
        "POSITIVE_EXAMPLE_WEIGHT_MULT",
        "TARGET_PRECISION",
        "TARGET_RECALL",
        "USE_LR_SCHEDULER",
    }
)

IGNORED_SETTINGS = {
    "S3_BUCKET": "sqlml keeps training data and models in the database",
    "KMS_KEY_ID": "sqlml keeps training data and models in the database",
    "S3_GARBAGE_COLLECT": "sqlml keeps training data and models in the database",
    "TAGS": "sqlml has no SageMaker jobs to tag",
    "MAX_RUNTIME": "it bounds the automatic model search, and AUTO OFF has none",
    "MAX_BATCH_ROWS": "sqlml predicts in its own batches",
}
SETTINGS = (*IGNORED_SETTINGS, "MAX_CELLS")


def from_redshift(clauses: dict[str, Any], session: Session, query: Query | None) -> Translated:
    """sqlml's target, algorithm, task and options for a Redshift ML CREATE MODEL."""
    redshift: dict[str, Any] = clauses["redshift"]
    _refuse(clauses, redshift)
    assert query is not None  # only bring-your-own-model has none, refused above
    if str(redshift.get("model_type", "")).upper() == "KMEANS":
        return _kmeans(clauses, redshift, session, query)
    if not clauses.get("target"):
        raise SqlmlSyntaxError("CREATE MODEL needs TARGET <column> (the label to predict)")
    columns = session.backend.describe(query)
    target = query_column(columns, clauses["target"], "TARGET")
    translated = Translated(target=target, algorithm=None, task=None)
    model_type = _model_type(redshift, translated)
    task, classes = _task(redshift)
    needs_task = task is None and model_type == "LINEAR_LEARNER"
    if needs_task or classes is not None or task == "regression":
        typed = (target, dict(columns)[target])
        task = check_task(session, query, typed, redshift, task, classes)
    translated.task = task
    searching = redshift.get("auto", model_type == "AUTO") is not False
    if model_type == "AUTO":
        translated.algorithm = "auto"
    else:
        translated.algorithm = MODEL_TYPES[model_type] or (
            "logistic_regression" if task == "classification" else "linear_regression"
        )
    _objective(redshift, translated, searching)
    _hyperparameters(redshift, model_type, translated)
    if searching and model_type != "AUTO":  # Autopilot within one model type
        _search_the_model_type(translated)
    _settings(redshift, len(columns), translated, searching)
    if "function_types" in redshift:
        check_function_types(clauses["function"], redshift["function_types"], columns, target)
    return _finished(redshift, model_type, query, translated)


def _finished(
    redshift: dict[str, Any], model_type: str, query: Query, translated: Translated
) -> Translated:
    """The clauses sqlml accepts without using them, noticed; the statement kept."""
    for clause, why in (
        ("iam_role", "sqlml trains inside the database, with no AWS role"),
        ("preprocessors", "sqlml's own preprocessing is part of every model"),
    ):
        if clause in redshift:
            translated.notices.append(f"{clause.upper()} is accepted and ignored: {why}")
    translated.annotations = {"redshift": _annotation(redshift, model_type, query.sql)}
    return translated


def _kmeans(
    clauses: dict[str, Any], redshift: dict[str, Any], session: Session, query: Query
) -> Translated:
    """MODEL_TYPE KMEANS (with AUTO OFF, no TARGET, HYPERPARAMETERS ... (K 'n')): USING
    kmeans."""
    if clauses.get("target"):
        raise SqlmlSyntaxError("MODEL_TYPE KMEANS finds clusters and takes no TARGET")
    if redshift.get("auto") is not False:
        raise SqlmlSyntaxError("MODEL_TYPE KMEANS needs AUTO OFF, as in Redshift")
    given = redshift.get("hyperparameters") or {}
    if "K" not in given:
        raise SqlmlSyntaxError(
            "MODEL_TYPE KMEANS needs the number of clusters: HYPERPARAMETERS DEFAULT EXCEPT (K 'n')"
        )
    translated = Translated(target="", algorithm="kmeans", task="clustering")
    for name, value in given.items():
        if name in KMEANS_HYPERPARAMETERS:
            parameter, convert = KMEANS_HYPERPARAMETERS[name]
            translated.options[parameter] = convert(value)
        elif name in KMEANS_IGNORED:
            translated.notices.append(
                f"HYPERPARAMETERS {name} has no equivalent for MODEL_TYPE KMEANS: ignored"
            )
        else:
            known = [*KMEANS_HYPERPARAMETERS, *KMEANS_IGNORED]
            raise UnknownOptionError(
                f"HYPERPARAMETERS: unknown {name!r} for MODEL_TYPE KMEANS."
                f"{close_matches(name, known)}"
            )
    _settings(redshift, len(session.backend.describe(query)), translated, False)
    return _finished(redshift, "KMEANS", query, translated)


def _kmeans_init(value: Any) -> str:
    given = str(value).lower()
    if given not in KMEANS_INIT:
        raise UnknownOptionError(
            f"HYPERPARAMETERS INIT_METHOD: unknown {value!r}. Known: {', '.join(KMEANS_INIT)}"
        )
    return KMEANS_INIT[given]


# -- clauses -----------------------------------------------------------------------------


def _refuse(clauses: dict[str, Any], redshift: dict[str, Any]) -> None:
    """Mixed forms and the parts of Redshift ML sqlml does not have."""
    ours = {"algorithm": "USING", "task": "TASK", "options": "OPTIONS", "features": "FEATURES"}
    mixed = [word for key, word in ours.items() if clauses.get(key)]
    if mixed:
        given = [k.upper() for k in redshift if k != "function_types"] or ["FUNCTION (types)"]
        raise mixed_forms(mixed, f"Redshift ML's {', '.join(given)}")
    byom = [c for c in ("job_name", "returns", "sagemaker") if c in redshift]
    if byom:
        words = {"job_name": "FROM 'job_name'", "returns": "RETURNS", "sagemaker": "SAGEMAKER"}
        raise UnsupportedError(
            f"{words[byom[0]]}: Redshift ML's bring-your-own-model form (a SageMaker job) is "
            "not supported: IMPORT MODEL m FROM 'model.onnx' brings a model of your own as an "
            "ONNX file, or train with FROM table or FROM (query)"
        )


def _model_type(redshift: dict[str, Any], translated: Translated) -> str:
    given = redshift.get("model_type")
    if given is None:
        if redshift.get("auto") is False:
            raise SqlmlSyntaxError("AUTO OFF needs MODEL_TYPE XGBOOST, LINEAR_LEARNER or MLP")
        return "AUTO"  # Autopilot: sqlml's USING auto
    name = str(given).upper()
    if name in UNSUPERVISED:
        raise UnsupportedError(
            f"MODEL_TYPE {name}: {UNSUPERVISED[name]} is not supported; sqlml trains "
            "supervised models (XGBOOST, LINEAR_LEARNER, MLP)"
        )
    if name not in MODEL_TYPES:
        raise UnknownOptionError(
            f"MODEL_TYPE: unknown {name!r}.{close_matches(name, MODEL_TYPES)}"
            f" Known: {', '.join(MODEL_TYPES)}"
        )
    return name


def _objective_of(redshift: dict[str, Any]) -> Objective | None:
    given = redshift.get("objective")
    if given is None:
        return None
    name = str(given).lower()
    if name in RANKING:
        raise UnsupportedError(f"OBJECTIVE {given!r}: ranking is not supported")
    if name not in OBJECTIVES:
        raise UnknownOptionError(
            f"OBJECTIVE: unknown {given!r}.{close_matches(name, OBJECTIVES)}"
            f" Known: {', '.join(OBJECTIVES)}"
        )
    return OBJECTIVES[name]


def _task(redshift: dict[str, Any]) -> tuple[str | None, int | None]:
    """(task, classes) from PROBLEM_TYPE and OBJECTIVE, which must agree."""
    objective = _objective_of(redshift)
    problem = redshift.get("problem_type")
    if problem is None:
        return (objective.task, objective.classes) if objective else (None, None)
    name = str(problem).upper()
    if name not in PROBLEM_TYPES:
        raise UnknownOptionError(
            f"PROBLEM_TYPE: unknown {name!r}.{close_matches(name, PROBLEM_TYPES)}"
            f" Known: {', '.join(PROBLEM_TYPES)}"
        )
    task, classes = PROBLEM_TYPES[name]
    if objective is None:
        return task, classes
    both_count = None not in (objective.classes, classes)
    if objective.task != task or (both_count and objective.classes != classes):
        raise SqlmlSyntaxError(
            f"OBJECTIVE {redshift['objective']!r} does not fit PROBLEM_TYPE {name}"
        )
    return task, classes if classes is not None else objective.classes


def _objective(redshift: dict[str, Any], translated: Translated, searching: bool) -> None:
    objective = _objective_of(redshift)
    if objective is None:
        return
    written = redshift["objective"]
    metric = AUTOPILOT_METRICS.get(str(written).lower())
    if metric is not None and searching:
        translated.options["metric"] = metric
    elif objective.note:
        translated.notices.append(f"OBJECTIVE {written!r} is ignored: {objective.note}")
    elif objective.lightgbm:
        if translated.algorithm == "lightgbm":
            translated.options["objective"] = objective.lightgbm
        else:
            translated.notices.append(
                f"OBJECTIVE {written!r} has no equivalent for {translated.algorithm}: ignored"
            )


def _hyperparameters(redshift: dict[str, Any], model_type: str, translated: Translated) -> None:
    algorithm = translated.algorithm or ""
    for name, value in (redshift.get("hyperparameters") or {}).items():
        if name not in KNOWN_HYPERPARAMETERS:
            raise UnknownOptionError(
                f"HYPERPARAMETERS: unknown {name!r}.{close_matches(name, KNOWN_HYPERPARAMETERS)}"
            )
        mapping = HYPERPARAMETERS.get(name, {}).get(algorithm)
        if mapping is None:
            translated.notices.append(
                f"HYPERPARAMETERS {name} has no equivalent for MODEL_TYPE {model_type} "
                f"({algorithm}) in sqlml: ignored"
            )
            continue
        parameter, convert = mapping
        translated.options[parameter] = convert(value)
        if parameter == "subsample":
            translated.options["subsample_freq"] = 1  # LightGBM only bags with a frequency


def _search_the_model_type(translated: Translated) -> None:
    """AUTO ON with a MODEL_TYPE: a search of that algorithm over the space USING auto gives
    it, the HYPERPARAMETERS the statement sets staying fixed."""
    space = udfs.search.AUTO_SPACES.get(translated.algorithm or "", {})
    for name, dimension in space.items():
        if name not in translated.options:
            translated.options[name] = (
                dimension.to_json() if isinstance(dimension, udfs.search.Span) else dimension
            )
    translated.options.setdefault("search", "bayes")


def _settings(
    redshift: dict[str, Any], n_columns: int, translated: Translated, searching: bool
) -> None:
    for name, value in (redshift.get("settings") or {}).items():
        if name == "MAX_RUNTIME" and searching:
            budget = to_number(value, float, "SETTINGS MAX_RUNTIME")
            translated.options["time_budget"] = budget
        elif name == "MAX_CELLS":
            # Redshift counts cells (rows x columns); sqlml's max_rows counts rows.
            cells = to_number(value, int, "SETTINGS MAX_CELLS")
            translated.options["max_rows"] = max(1, int(cells) // n_columns)
        elif name in IGNORED_SETTINGS:
            translated.notices.append(
                f"SETTINGS {name} is accepted and ignored: {IGNORED_SETTINGS[name]}"
            )
        else:
            raise UnknownOptionError(
                f"SETTINGS: unknown {name!r}.{close_matches(name, SETTINGS)}"
                f" Known: {', '.join(SETTINGS)}"
            )


def _annotation(redshift: dict[str, Any], model_type: str, query_sql: str) -> dict[str, Any]:
    """The statement's Redshift clauses as written, for SHOW MODEL."""
    kept = {k: v for k, v in redshift.items() if k != "auto"}
    auto = redshift.get("auto", "model_type" not in redshift)
    if model_type != "AUTO":  # else SHOW MODEL shows the algorithm the search chose
        kept["model_type"] = model_type
    return {**kept, "auto": "ON" if auto else "OFF", "query": query_sql}
