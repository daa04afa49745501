"""CREATE MODEL end to end (SQL.md sections 1, 6, 7): quality on real data, every algorithm,
task inference, hold-out split, seeds, options and feature types."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from queries import FAST, one, rows, scalar

import sqlml

ONE_THREAD = "OPTIONS (n_jobs = 1)"


def shown(con: sqlml.Connection, name: str) -> dict:
    matches = [r for r in rows(con, "SHOW MODELS") if r["name"] == name]
    assert len(matches) == 1, f"SHOW MODELS lists {name!r} {len(matches)} times"
    return matches[0]


def accuracy(con: sqlml.Connection, model: str, table: str, target: str) -> float:
    return float(
        scalar(
            con,
            f"SELECT avg(CASE WHEN PREDICT({model}, *) = {target} THEN 1.0 ELSE 0.0 END) "
            f"FROM {table} WHERE {target} IS NOT NULL",
        )
    )


# -- what CREATE MODEL answers -----------------------------------------------------------------


def test_create_model_returns_a_summary_row(con, penguins):
    summary = one(con, f"CREATE MODEL species_model TARGET species OPTIONS ({FAST}) FROM penguins")
    assert summary["model"] == "species_model"
    assert summary["version"] == 1
    assert summary["task"] == "classification"
    assert summary["algorithm"] == "lightgbm"  # the default
    assert summary["rows_train"] + summary["rows_test"] == 344
    assert summary["metric"] == "roc_auc"
    assert 0.9 < summary["metric_value"] <= 1.0


# -- quality on real data ------------------------------------------------------------------------


def test_breast_cancer_lightgbm_holdout_auc(con, breast_cancer):
    con.execute(f"CREATE MODEL cancer TARGET diagnosis {ONE_THREAD} FROM breast_cancer")
    listed = shown(con, "cancer")
    assert listed["task"] == "classification"
    assert listed["metric"] == "roc_auc"
    assert listed["metric_value"] > 0.95
    evaluated = one(con, "EVALUATE MODEL cancer")
    assert evaluated["roc_auc"] == pytest.approx(listed["metric_value"])
    assert evaluated["accuracy"] > 0.9
    assert evaluated["f1"] > 0.9
    assert 0 < evaluated["log_loss"] < 0.3


def test_penguins_species_accuracy(con, penguins):
    con.execute(f"CREATE MODEL species TARGET species {ONE_THREAD} FROM penguins")
    assert one(con, "EVALUATE MODEL species")["accuracy"] > 0.9
    assert accuracy(con, "species", "penguins", "species") > 0.9


def test_diabetes_linear_regression_r2(con, diabetes):
    con.execute("CREATE MODEL progression TARGET progression USING linear_regression FROM diabetes")
    listed = shown(con, "progression")
    assert listed["task"] == "regression"
    assert listed["metric"] == "r2"
    assert listed["metric_value"] > 0.3
    metrics = one(con, "EVALUATE MODEL progression")
    assert metrics["r2"] == pytest.approx(listed["metric_value"])
    spread = float(scalar(con, "SELECT stddev_pop(progression) FROM diabetes"))
    assert metrics["rmse"] < 0.9 * spread  # better than always predicting the mean
    assert 0 < metrics["mae"] <= metrics["rmse"]


def test_wine_multiclass(con, wine):
    con.execute(f"CREATE MODEL cultivar TARGET cultivar OPTIONS ({FAST}) FROM wine")
    listed = shown(con, "cultivar")
    assert listed["task"] == "classification"
    metrics = one(con, "EVALUATE MODEL cultivar")
    assert metrics["accuracy"] > 0.85
    assert metrics["roc_auc"] > 0.95  # macro average over the three classes
    predicted = {r[0] for r in con.execute("SELECT DISTINCT PREDICT(cultivar, *) FROM wine")}
    assert predicted == {0, 1, 2}


# -- every algorithm -----------------------------------------------------------------------------

CLASSIFIERS = ["lightgbm", "random_forest", "logistic_regression", "mlp"]
REGRESSORS = ["lightgbm", "random_forest", "linear_regression", "mlp"]


def _options(algorithm: str) -> str:
    return f"OPTIONS ({FAST})" if algorithm in ("lightgbm", "random_forest") else ""


@pytest.mark.parametrize("algorithm", CLASSIFIERS)
def test_every_classifier_trains_and_predicts(con, breast_cancer, algorithm):
    summary = one(
        con,
        f"CREATE MODEL m TARGET diagnosis USING {algorithm} {_options(algorithm)} "
        "FROM breast_cancer",
    )
    assert summary["algorithm"] == algorithm
    assert shown(con, "m")["algorithm"] == algorithm
    assert summary["metric_value"] > 0.95
    assert accuracy(con, "m", "breast_cancer", "diagnosis") > 0.9
    probabilities = [r[0] for r in con.execute("SELECT PREDICT_PROBA(m, *) FROM breast_cancer")]
    assert len(probabilities) == 569
    assert all(0.0 <= p <= 1.0 for p in probabilities)


@pytest.mark.parametrize("algorithm", REGRESSORS)
def test_every_regressor_trains_and_predicts(con, diabetes, algorithm):
    summary = one(
        con,
        f"CREATE MODEL m TARGET progression USING {algorithm} {_options(algorithm)} FROM diabetes",
    )
    assert summary["algorithm"] == algorithm
    assert summary["task"] == "regression"
    values = [r[0] for r in con.execute("SELECT PREDICT(m, *) FROM diabetes")]
    assert len(values) == 442
    assert all(isinstance(v, float) and math.isfinite(v) for v in values)
    # better than predicting the mean on rows it has not seen
    assert summary["metric_value"] > 0.0, f"{algorithm} hold-out r2 = {summary['metric_value']}"


@pytest.mark.parametrize("algorithm", CLASSIFIERS)
def test_every_classifier_on_text_and_nulls(con, penguins, algorithm):
    """penguins has text features and NULLs in numbers and text: every algorithm copes."""
    con.execute(
        f"CREATE MODEL m TARGET species USING {algorithm} {_options(algorithm)} FROM penguins"
    )
    assert accuracy(con, "m", "penguins", "species") > 0.9, algorithm


@pytest.mark.parametrize("algorithm", CLASSIFIERS)
def test_every_classifier_multiclass(con, wine, algorithm):
    con.execute(f"CREATE MODEL m TARGET cultivar USING {algorithm} {_options(algorithm)} FROM wine")
    assert one(con, "EVALUATE MODEL m")["accuracy"] > 0.85, algorithm


# -- task inference (SQL.md 7) ------------------------------------------------------------------


@pytest.fixture
def targets(make_table) -> str:
    n = 420
    rng = np.random.default_rng(0)
    x = rng.normal(size=n)
    frame = pd.DataFrame(
        {
            "x": x,
            "flag": x > 0,
            "word": np.where(x > 0, "high", "low"),
            "int3": (np.arange(n) % 3).astype(np.int64),
            "int20": (np.arange(n) % 20).astype(np.int64),
            "int21": (np.arange(n) % 21).astype(np.int64),
            "float2": (np.arange(n) % 2).astype(np.float64),
            "amount": np.round(x * 100 + 500, 2),
        }
    )
    return make_table("targets", frame)


@pytest.mark.parametrize(
    "select, task",
    [
        ("flag AS y", "classification"),  # BOOLEAN
        ("word AS y", "classification"),  # text
        ("int3 AS y", "classification"),
        ("int20 AS y", "classification"),  # exactly 20 distinct values
        ("CAST(int20 AS INTEGER) AS y", "classification"),
        ("CAST(int20 AS SMALLINT) AS y", "classification"),
        ("int21 AS y", "regression"),  # 21 distinct values
        ("float2 AS y", "regression"),  # a non-integer number, even with two values
        ("amount AS y", "regression"),
    ],
)
def test_task_is_inferred_from_the_target(con, targets, select, task):
    summary = one(
        con, f"CREATE MODEL m TARGET y OPTIONS ({FAST}) AS SELECT x, {select} FROM targets"
    )
    assert summary["task"] == task
    assert shown(con, "m")["task"] == task


@pytest.mark.parametrize(
    "select, task",
    [
        ("int3 AS y", "regression"),
        ("int21 AS y", "classification"),
        ("float2 AS y", "classification"),
    ],
)
def test_task_clause_overrides_inference(con, targets, select, task):
    summary = one(
        con,
        f"CREATE MODEL m TARGET y TASK {task} OPTIONS ({FAST}) AS SELECT x, {select} FROM targets",
    )
    assert summary["task"] == task
    assert summary["metric"] == ("roc_auc" if task == "classification" else "r2")


def test_classification_of_a_number_target_predicts_its_values(con, targets):
    con.execute(
        f"CREATE MODEL m TARGET y TASK classification OPTIONS ({FAST}) "
        "AS SELECT x, float2 AS y FROM targets"
    )
    predicted = {r[0] for r in con.execute("SELECT PREDICT(m, x) FROM targets")}
    assert predicted <= {0.0, 1.0}


# -- hold-out split, seed, options ----------------------------------------------------------------


@pytest.mark.parametrize("test_size", [0.2, 0.5, 0.1])
def test_test_size_sets_the_holdout(con, penguins, test_size):
    summary = one(
        con,
        f"CREATE MODEL m TARGET species OPTIONS ({FAST}, test_size = {test_size}) FROM penguins",
    )
    assert summary["rows_train"] + summary["rows_test"] == 344
    assert abs(summary["rows_test"] - test_size * 344) <= 1


def test_default_holdout_is_a_fifth(con, penguins):
    summary = one(con, f"CREATE MODEL m TARGET species OPTIONS ({FAST}) FROM penguins")
    assert abs(summary["rows_test"] - 0.2 * 344) <= 1


def test_test_size_zero_trains_on_everything_and_stores_no_metrics(con, penguins):
    summary = one(
        con, f"CREATE MODEL m TARGET species OPTIONS ({FAST}, test_size = 0) FROM penguins"
    )
    assert summary["rows_train"] == 344
    assert summary["rows_test"] == 0
    assert summary["metric_value"] is None
    assert shown(con, "m")["metric_value"] is None
    assert all(v is None for v in one(con, "EVALUATE MODEL m").values())
    described = rows(con, "DESCRIBE MODEL m")
    assert not [r for r in described if r["section"] == "metric"]
    # it still predicts, and has learned something
    assert accuracy(con, "m", "penguins", "species") > 0.9


def test_rows_with_a_null_target_are_left_out(con, penguins):
    labelled = scalar(con, "SELECT count(sex) FROM penguins")
    assert labelled < 344  # the data set has NULL sexes
    summary = one(con, f"CREATE MODEL m TARGET sex OPTIONS ({FAST}) FROM penguins")
    assert summary["rows_train"] + summary["rows_test"] == labelled


def _probabilities(con: sqlml.Connection, model: str) -> list[float]:
    return [r[0] for r in con.execute(f"SELECT PREDICT_PROBA({model}, *) FROM breast_cancer")]


def test_same_seed_same_model(con, breast_cancer):
    first = one(
        con, f"CREATE MODEL a TARGET diagnosis OPTIONS ({FAST}, seed = 7) FROM breast_cancer"
    )
    second = one(
        con, f"CREATE MODEL b TARGET diagnosis OPTIONS ({FAST}, seed = 7) FROM breast_cancer"
    )
    assert first["metric_value"] == pytest.approx(second["metric_value"], abs=1e-12)
    assert _probabilities(con, "a") == pytest.approx(_probabilities(con, "b"), abs=1e-9)


def test_default_seed_is_42(con, breast_cancer):
    first = one(con, f"CREATE MODEL a TARGET diagnosis OPTIONS ({FAST}) FROM breast_cancer")
    second = one(
        con, f"CREATE MODEL b TARGET diagnosis OPTIONS ({FAST}, seed = 42) FROM breast_cancer"
    )
    assert first["metric_value"] == pytest.approx(second["metric_value"], abs=1e-12)
    assert _probabilities(con, "a") == pytest.approx(_probabilities(con, "b"), abs=1e-9)


def test_seed_changes_the_split(con, breast_cancer):
    losses = set()
    for seed in (1, 2, 3):
        con.execute(
            f"CREATE MODEL m{seed} TARGET diagnosis OPTIONS ({FAST}, seed = {seed}) "
            "FROM breast_cancer"
        )
        losses.add(one(con, f"EVALUATE MODEL m{seed}")["log_loss"])
    assert len(losses) == 3, "different seeds gave the same hold-out: the seed is ignored"


def test_seed_reaches_a_randomised_algorithm(con, breast_cancer):
    for name, seed in (("a", 1), ("b", 1), ("c", 2)):
        con.execute(
            f"CREATE MODEL {name} TARGET diagnosis USING random_forest "
            f"OPTIONS (n_estimators = 5, n_jobs = 1, test_size = 0, seed = {seed}) "
            "FROM breast_cancer"
        )
    assert _probabilities(con, "a") == _probabilities(con, "b")
    assert _probabilities(con, "a") != _probabilities(con, "c")


@pytest.mark.parametrize(
    "algorithm, options",
    [
        ("lightgbm", "num_leaves = 2, n_estimators = 1, n_jobs = 1"),
        ("random_forest", "max_depth = 1, n_estimators = 1, n_jobs = 1"),
    ],
)
def test_hyperparameters_reach_the_algorithm(con, breast_cancer, algorithm, options):
    """A single stump can only give two different probabilities."""
    con.execute(
        f"CREATE MODEL m TARGET diagnosis USING {algorithm} OPTIONS ({options}) FROM breast_cancer"
    )
    assert scalar(con, "SELECT count(DISTINCT PREDICT_PROBA(m, *)) FROM breast_cancer") == 2


def test_option_values_of_every_literal_type_are_accepted(con, breast_cancer):
    con.execute(
        "CREATE MODEL m TARGET diagnosis USING lightgbm OPTIONS ("
        "n_estimators = 10, n_jobs = 1, learning_rate = 0.2, min_split_gain = 0.0, "
        "reg_alpha = 1e-3, boosting_type = 'gbdt', max_depth = -1, objective = 'binary') "
        "FROM breast_cancer"
    )
    assert shown(con, "m")["metric_value"] > 0.9


# -- data sources and feature types ---------------------------------------------------------------


def _features(con: sqlml.Connection, model: str) -> list[str]:
    return [r["name"] for r in rows(con, f"DESCRIBE MODEL {model}") if r["section"] == "feature"]


def test_data_source_forms_are_equivalent(con, penguins):
    con.execute(f"CREATE MODEL a TARGET species OPTIONS ({FAST}) AS SELECT * FROM penguins")
    con.execute(f"CREATE MODEL b TARGET species OPTIONS ({FAST}) FROM penguins")
    con.execute(f"CREATE MODEL c TARGET species OPTIONS ({FAST}) FROM (SELECT * FROM penguins)")
    assert _features(con, "a") == _features(con, "b") == _features(con, "c")
    predictions = [
        [r[0] for r in con.execute(f"SELECT PREDICT({m}, *) FROM penguins")] for m in "abc"
    ]
    assert predictions[0] == predictions[1] == predictions[2]


def test_features_are_every_column_but_the_target(con, penguins):
    con.execute(
        f"CREATE MODEL m TARGET species OPTIONS ({FAST}) "
        "AS SELECT bill_length_mm, species, island, body_mass_g FROM penguins WHERE year > 2007"
    )
    assert _features(con, "m") == ["bill_length_mm", "island", "body_mass_g"]
    summary = shown(con, "m")
    assert summary["target"] == "species"


def test_or_replace_of_a_missing_model_creates_version_one(con, penguins):
    summary = one(con, f"CREATE OR REPLACE MODEL m TARGET species OPTIONS ({FAST}) FROM penguins")
    assert summary["version"] == 1


def test_predict_is_accepted_for_target(con, penguins):
    summary = one(con, f"CREATE MODEL m PREDICT species OPTIONS ({FAST}) FROM penguins")
    assert shown(con, "m")["target"] == "species"
    assert summary["task"] == "classification"


@pytest.fixture
def typed(make_table) -> str:
    n = 400
    rng = np.random.default_rng(1)
    days = rng.integers(0, 1000, n)
    frame = pd.DataFrame(
        {
            "flag": rng.random(n) > 0.5,
            "happened": pd.Timestamp("2020-01-01") + pd.to_timedelta(days, unit="D"),
            "amount": rng.normal(size=n),
            "colour": rng.choice(["red", "green", "blue"], n),
        }
    )
    frame["by_flag"] = np.where(frame["flag"], "yes", "no")
    frame["by_date"] = np.where(days > 500, "late", "early")
    frame["by_colour"] = np.where(frame["colour"] == "red", "warm", "cold")
    return make_table("typed", frame)


@pytest.mark.parametrize(
    "feature, target",
    [
        ("flag", "by_flag"),  # a BOOLEAN feature
        ("happened", "by_date"),  # a TIMESTAMP feature
        ("CAST(happened AS DATE) AS happened", "by_date"),  # a DATE feature
        ("colour", "by_colour"),  # a text feature
    ],
)
def test_feature_types_are_learned_from(con, typed, feature, target):
    con.execute(
        f"CREATE MODEL m TARGET y OPTIONS ({FAST}) AS SELECT {feature}, amount, {target} AS y "
        "FROM typed"
    )
    correct = scalar(
        con,
        f"SELECT avg(CASE WHEN PREDICT(m, *) = y THEN 1.0 ELSE 0.0 END) "
        f"FROM (SELECT {feature}, amount, {target} AS y FROM typed) AS s",
    )
    assert float(correct) > 0.95


@pytest.fixture
def awkward_names(make_table) -> str:
    n = 300
    rng = np.random.default_rng(2)
    frame = pd.DataFrame(
        {"Bill Length": rng.normal(size=n), "Island-Name": rng.choice(["a", "b"], n)}
    )
    frame["Species"] = np.where(frame["Bill Length"] > 0, "big", "small")
    return make_table("awkward", frame)


def test_quoted_column_names_with_spaces_and_case(con, awkward_names):
    con.execute(f'CREATE MODEL m TARGET "Species" OPTIONS ({FAST}) FROM awkward')
    assert _features(con, "m") == ["Bill Length", "Island-Name"]
    assert shown(con, "m")["target"] == "Species"
    correct = scalar(
        con, 'SELECT avg(CASE WHEN PREDICT(m, *) = "Species" THEN 1.0 ELSE 0.0 END) FROM awkward'
    )
    assert float(correct) > 0.95
    positional = scalar(
        con,
        'SELECT count(*) FROM awkward a WHERE PREDICT(m, a."Bill Length", a."Island-Name") '
        "IS DISTINCT FROM PREDICT(m, a.*)",
    )
    assert positional == 0
