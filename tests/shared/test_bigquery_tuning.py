"""BigQuery ML's tuning and AutoML options, its default label column, its data splits and
class weights, and Redshift's TARGET 'string' (SQL.md sections 1, 2 and 6), both engines."""

from __future__ import annotations

import json

import pytest
from queries import one, rows, scalar

import sqlml
from sqlml.session import SqlmlNotice

BOOSTED = "model_type = 'boosted_tree_classifier', input_label_cols = ['diagnosis']"


@pytest.fixture
def bigquery(connect, breast_cancer) -> sqlml.Connection:
    return connect(read="bigquery")


def metadata(con: sqlml.Connection, model: str) -> dict:
    return con.backend.catalog.get(model).metadata


def test_num_trials_with_hparam_range_and_candidates_searches(bigquery):
    bigquery.execute(
        f"CREATE MODEL tumour OPTIONS ({BOOSTED}, max_iterations = 20, num_trials = 4, "
        "max_parallel_trials = 2, hparam_tuning_algorithm = 'RANDOM_SEARCH', "
        "hparam_tuning_objectives = ['LOG_LOSS'], learn_rate = HPARAM_RANGE(0.05, 0.3), "
        "max_tree_depth = HPARAM_CANDIDATES([3, 5])) AS SELECT * FROM breast_cancer"
    )
    meta = metadata(bigquery, "tumour")
    assert meta["search"]["method"] == "random" and meta["search"]["metric"] == "log_loss"
    trials = meta["trials"]
    assert len(trials) == 4
    for trial in trials:
        assert 0.05 <= trial["hyperparameters"]["learning_rate"] <= 0.3
        assert trial["hyperparameters"]["max_depth"] in (3, 5)
        assert trial["hyperparameters"]["n_estimators"] == 20
    best = min(t["value"] for t in trials if t["status"] == "succeeded")
    (chosen,) = [t for t in trials if t["is_optimal"]]
    assert chosen["value"] == best  # log loss: the lowest wins
    info = rows(bigquery, "SELECT * FROM ML.TRIAL_INFO(MODEL tumour)")
    assert sum(1 for r in info if r["is_optimal"]) == 1 and len(info) == 4


def test_a_range_whose_conversion_inverts_keeps_its_ends_in_order(bigquery):
    # BigQuery's l2_reg is logistic regression's 1 / C.
    bigquery.execute(
        "CREATE MODEL tumour OPTIONS (model_type = 'logistic_reg', input_label_cols = "
        "['diagnosis'], num_trials = 3, l2_reg = HPARAM_RANGE(0.1, 10)) "
        "AS SELECT * FROM breast_cancer"
    )
    for trial in metadata(bigquery, "tumour")["trials"]:
        assert 0.1 <= trial["hyperparameters"]["C"] <= 10


def test_num_trials_alone_searches_the_model_types_own_space(bigquery):
    bigquery.execute(
        f"CREATE MODEL tumour OPTIONS ({BOOSTED}, num_trials = 3, max_iterations = 20) "
        "AS SELECT * FROM breast_cancer"
    )
    trials = metadata(bigquery, "tumour")["trials"]
    leaves = {t["hyperparameters"]["num_leaves"] for t in trials}
    assert len(trials) == 3 and len(leaves) > 1  # varied, not three copies of one model
    assert all(t["hyperparameters"]["n_estimators"] == 20 for t in trials)  # given: fixed


def test_automl_classifier_is_using_auto_with_budget_hours_overridden(bigquery):
    with pytest.warns(SqlmlNotice, match="budget_hours is overridden by time_budget"):
        bigquery.execute(
            "CREATE MODEL tumour OPTIONS (model_type = 'AUTOML_CLASSIFIER', "
            "input_label_cols = ['diagnosis'], budget_hours = 1.0, time_budget = 4, "
            "optimization_objective = 'MAXIMIZE_AU_ROC') AS SELECT * FROM breast_cancer"
        )
    meta = metadata(bigquery, "tumour")
    assert meta["search"]["time_budget"] == 4 and meta["search"]["metric"] == "roc_auc"
    algorithms = {t["algorithm"] for t in meta["trials"]}
    assert "lightgbm" in algorithms and len(algorithms) > 1


def test_budget_hours_is_the_time_budget_and_a_notice_says_how_to_shorten_it(bigquery):
    # 0.001 h is 3.6 s; the notice says it, and how to give seconds instead.
    with pytest.warns(SqlmlNotice, match=r"budget_hours = 0.001: searching for up to 3.6 s"):
        bigquery.execute(
            "CREATE MODEL r OPTIONS (model_type = 'AUTOML_REGRESSOR', input_label_cols = "
            "['mean_radius'], budget_hours = 0.001, optimization_objective = 'MINIMIZE_MAE') "
            "AS SELECT * FROM breast_cancer"
        )
    search = metadata(bigquery, "r")["search"]
    assert search["time_budget"] == pytest.approx(3.6) and search["metric"] == "mae"


def test_without_input_label_cols_the_label_column_is_the_target(bigquery):
    bigquery.execute(
        "CREATE MODEL tumour OPTIONS (model_type = 'logistic_reg') "
        "AS SELECT mean_radius, mean_texture, diagnosis AS label FROM breast_cancer"
    )
    assert metadata(bigquery, "tumour")["target"] == "label"
    assert one(bigquery, "SHOW MODELS")["task"] == "classification"


def test_custom_split_holds_out_the_rows_the_bool_column_marks(bigquery):
    query = (
        "SELECT *, CASE WHEN mean_radius > 17 THEN TRUE WHEN mean_radius < 9 THEN NULL "
        "ELSE FALSE END AS is_eval FROM breast_cancer"
    )
    bigquery.execute(f"CREATE TABLE marked AS {query}")
    bigquery.execute(
        f"CREATE MODEL tumour OPTIONS ({BOOSTED}, max_iterations = 20, "
        "data_split_method = 'CUSTOM', data_split_col = 'is_eval') AS SELECT * FROM marked"
    )
    meta = metadata(bigquery, "tumour")
    held = scalar(bigquery, "SELECT COUNT(*) FROM marked WHERE is_eval IS NOT FALSE")
    assert meta["rows_test"] == held and meta["rows_train"] == 569 - held
    assert "is_eval" not in [f["name"] for f in meta["features"]]
    # The stored metrics are those of exactly those rows (TRUE, or NULL).
    again = one(
        bigquery,
        "SELECT * FROM ML.EVALUATE(MODEL tumour, (SELECT * FROM marked "
        "WHERE is_eval IS NOT FALSE))",
    )
    assert again["roc_auc"] == pytest.approx(meta["metrics"]["roc_auc"])


def test_seq_split_holds_out_the_last_rows_in_the_columns_order(bigquery):
    bigquery.execute(
        "CREATE TABLE ordered AS SELECT *, ROW_NUMBER() OVER (ORDER BY mean_area) AS n "
        "FROM breast_cancer"
    )
    bigquery.execute(
        f"CREATE MODEL tumour OPTIONS ({BOOSTED}, max_iterations = 20, "
        "data_split_method = 'SEQ', data_split_col = 'n', data_split_eval_fraction = 0.25) "
        "AS SELECT * FROM ordered"
    )
    meta = metadata(bigquery, "tumour")
    assert meta["rows_test"] == round(569 * 0.25)
    last = one(
        bigquery,
        f"SELECT * FROM ML.EVALUATE(MODEL tumour, (SELECT * FROM ordered WHERE n > "
        f"{569 - meta['rows_test']}))",
    )
    assert last["roc_auc"] == pytest.approx(meta["metrics"]["roc_auc"])


def test_class_weights_weigh_the_classes_named(bigquery):
    bigquery.execute(
        f"CREATE MODEL plain OPTIONS ({BOOSTED}, max_iterations = 20) "
        "AS SELECT * FROM breast_cancer"
    )
    bigquery.execute(
        f"CREATE MODEL weighted OPTIONS ({BOOSTED}, max_iterations = 20, "
        "class_weights = [('0', 50.0)]) AS SELECT * FROM breast_cancer"
    )
    meta = metadata(bigquery, "weighted")
    assert meta["options"]["class_weights"] == [["0", 50.0]]
    count = "SELECT COUNT(*) FROM breast_cancer WHERE PREDICT({}, *) = 0"
    # Weighing a class (0: malignant) up makes the model call it more often.
    assert scalar(bigquery, count.format("weighted")) > scalar(bigquery, count.format("plain"))


def test_auto_class_weights_balances_the_classes(bigquery):
    bigquery.execute(
        "CREATE MODEL tumour OPTIONS (model_type = 'random_forest_classifier', "
        "input_label_cols = ['diagnosis'], auto_class_weights = TRUE, num_parallel_tree = 20) "
        "AS SELECT * FROM breast_cancer"
    )
    assert metadata(bigquery, "tumour")["hyperparameters"]["class_weight"] == "balanced"


def test_class_weights_in_a_search_weigh_every_trial(connect, breast_cancer):
    con = connect()
    con.execute(
        "CREATE MODEL tumour TARGET diagnosis USING auto OPTIONS (trials = 4, "
        "class_weights = 'balanced') FROM breast_cancer"
    )
    trials = metadata(con, "tumour")["trials"]
    assert all(t["hyperparameters"]["class_weight"] == "balanced" for t in trials)
    assert "mlp" not in {t["algorithm"] for t in trials}  # it cannot weigh classes


@pytest.mark.parametrize(
    ("options", "error", "message"),
    [
        (
            "model_type = 'logistic_reg', input_label_col = ['diagnosis']",
            sqlml.UnknownOptionError,
            "Did you mean: input_label_cols",
        ),
        (
            f"{BOOSTED}, num_trials = 2, hparam_tuning_algorithm = 'GENETIC'",
            sqlml.UnknownOptionError,
            "Supported: VIZIER_DEFAULT, RANDOM_SEARCH, GRID_SEARCH",
        ),
        (
            f"{BOOSTED}, num_trials = 2, hparam_tuning_objectives = ['R2_SCORE']",
            sqlml.UnknownOptionError,
            "metric = 'r2' does not fit classification",
        ),
        (
            f"{BOOSTED}, num_trials = 2, hparam_tuning_objectives = ['ROC_AUC', 'LOG_LOSS']",
            sqlml.UnsupportedError,
            "optimises one objective",
        ),
        (
            f"{BOOSTED}, data_split_method = 'CUSTOM'",
            sqlml.UnknownOptionError,
            "needs data_split_col",
        ),
        (
            f"{BOOSTED}, data_split_method = 'CUSTOM', data_split_col = 'mean_area'",
            sqlml.InvalidTrainingDataError,
            "needs a BOOL split_column",
        ),
        (
            f"{BOOSTED}, data_split_method = 'SEQ', data_split_col = 'nothing'",
            sqlml.InvalidTrainingDataError,
            "split_column 'nothing' is not among",
        ),
        (
            f"{BOOSTED}, class_weights = [('1', 1.0), ('2', 2.0)]",
            sqlml.UnknownOptionError,
            "'2' is not a class of the target. Classes: 0, 1",
        ),
        (
            "model_type = 'linear_reg', input_label_cols = ['mean_area'], "
            "auto_class_weights = TRUE",
            sqlml.UnknownOptionError,
            "class_weights is for classification",
        ),
        (
            "model_type = 'dnn_classifier', input_label_cols = ['diagnosis'], "
            "auto_class_weights = TRUE",
            sqlml.UnknownOptionError,
            "USING mlp cannot weigh classes",
        ),
        (
            "model_type = 'automl_classifier', input_label_cols = ['diagnosis'], "
            "optimization_objective = 'MAXIMIZE_AU_PRC'",
            sqlml.UnknownOptionError,
            "'MAXIMIZE_AU_PRC' is not supported",
        ),
    ],
)
def test_bad_tuning_and_split_options_fail_and_store_nothing(bigquery, options, error, message):
    with pytest.raises(error, match=message):
        bigquery.execute(f"CREATE MODEL m OPTIONS ({options}) AS SELECT * FROM breast_cancer")
    assert rows(bigquery, "SHOW MODELS") == []


def test_redshift_target_as_a_string_names_the_column(connect, breast_cancer):
    con = connect()
    con.execute(
        "CREATE MODEL tumour FROM breast_cancer TARGET 'Diagnosis' FUNCTION predict_tumour "
        "IAM_ROLE default AUTO OFF MODEL_TYPE XGBOOST"
    )
    assert metadata(con, "tumour")["target"] == "diagnosis"
    assert json.loads(json.dumps(metadata(con, "tumour")["classes"])) == [0, 1]
