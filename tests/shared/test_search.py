"""Hyperparameter search and USING auto (SQL.md section 6): candidates and RANGE values,
random / grid / bayes, the validation metric, cv, the time budget, every trial recorded
(SHOW TRIALS, ML.TRIAL_INFO), and the errors of a search that cannot be run."""

from __future__ import annotations

import itertools
import json

import pytest

import sqlml

SMALL = "n_estimators = 20, n_jobs = 1"


def trials(con: sqlml.Connection, model: str) -> list[dict]:
    cursor = con.execute(f"SHOW TRIALS {model}")
    names = [column[0] for column in cursor.description or []]
    return [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]


def test_a_random_search_records_every_trial_and_keeps_the_best(con, breast_cancer):
    con.execute(
        "CREATE MODEL tumour TARGET diagnosis OPTIONS (num_leaves = [7, 15, 31], "
        f"learning_rate = RANGE(0.02, 0.3, LOG), trials = 5, {SMALL}) FROM breast_cancer"
    )
    found = trials(con, "tumour")
    assert [t["trial_id"] for t in found] == [1, 2, 3, 4, 5]
    assert all(t["status"] == "succeeded" and t["metric"] == "roc_auc" for t in found)
    for trial in found:
        params = json.loads(trial["hyperparameters"])
        assert params["num_leaves"] in (7, 15, 31)
        assert 0.02 <= params["learning_rate"] <= 0.3
        assert params["n_estimators"] == 20  # a fixed option stays fixed
    (best,) = [t for t in found if t["is_optimal"]]
    assert best["value"] == max(t["value"] for t in found)
    # The model in use is the best trial's; its stored metrics are the hold-out rows'.
    described = dict(con.execute("SHOW MODEL tumour").fetchall())
    assert "roc_auc" in json.dumps(described)
    chosen = json.loads(best["hyperparameters"])
    model = con.backend.catalog.get("tumour")
    assert model.metadata["hyperparameters"]["num_leaves"] == chosen["num_leaves"]
    assert model.metadata["rows_test"] > 0 and model.metadata["search"]["method"] == "random"
    assert len(con.execute("SELECT PREDICT(tumour, *) FROM breast_cancer").fetchall()) == 569


def test_ml_trial_info_has_bigquerys_columns(con, breast_cancer):
    con.execute(
        f"CREATE MODEL tumour TARGET diagnosis OPTIONS (num_leaves = [7, 31], trials = 2, {SMALL})"
        " FROM breast_cancer"
    )
    cursor = con.execute("SELECT * FROM ML.TRIAL_INFO(MODEL tumour) ORDER BY trial_id")
    assert [c[0] for c in cursor.description or []] == [
        "trial_id",
        "hyperparameters",
        "hparam_tuning_evaluation_metrics",
        "training_loss",
        "eval_loss",
        "status",
        "error_message",
        "is_optimal",
    ]
    rows = cursor.fetchall()
    assert [row[0] for row in rows] == [1, 2]
    assert {row[5] for row in rows} == {"SUCCEEDED"} and sum(row[7] for row in rows) == 1
    assert set(json.loads(rows[0][2])) == {"roc_auc"} and rows[0][4] > 0


def test_a_grid_search_tries_every_combination_once(con, diabetes):
    con.execute(
        "CREATE MODEL progress TARGET progression OPTIONS (search = 'grid', "
        f"num_leaves = [7, 15], min_child_samples = [5, 10, 20], {SMALL}) FROM diabetes"
    )
    found = trials(con, "progress")
    combinations = {
        (p["num_leaves"], p["min_child_samples"])
        for p in (json.loads(t["hyperparameters"]) for t in found)
    }
    assert combinations == set(itertools.product([7, 15], [5, 10, 20]))
    assert len(found) == 6 and {t["metric"] for t in found} == {"r2"}


def test_a_metric_to_minimise_keeps_the_lowest(con, wine):
    con.execute(
        "CREATE MODEL grapes TARGET cultivar OPTIONS (metric = 'log_loss', "
        f"num_leaves = RANGE(4, 32), trials = 4, {SMALL}) FROM wine"
    )
    found = trials(con, "grapes")
    (best,) = [t for t in found if t["is_optimal"]]
    assert best["value"] == min(t["value"] for t in found)
    assert all(4 <= json.loads(t["hyperparameters"])["num_leaves"] <= 32 for t in found)


def test_cross_validation_scores_each_trial_over_the_folds_and_refits(con, diabetes):
    con.execute(
        "CREATE MODEL progress TARGET progression USING random_forest OPTIONS (cv = 3, "
        "max_depth = [3, 6], n_estimators = 20) FROM diabetes"
    )
    search = con.backend.catalog.get("progress").metadata["search"]
    assert search["validation"] == "cv 3" and search["refit"] is True
    assert search["trials"] == 20 or len(trials(con, "progress")) == search["trials"]


def test_using_auto_tries_each_algorithm_first_and_keeps_the_best(con, breast_cancer):
    con.execute(
        "CREATE MODEL tumour TARGET diagnosis USING auto OPTIONS (trials = 6) FROM breast_cancer"
    )
    found = trials(con, "tumour")
    assert [t["algorithm"] for t in found[:4]] == [
        "lightgbm",
        "random_forest",
        "logistic_regression",
        "mlp",
    ]
    first = [json.loads(t["hyperparameters"]) for t in found[:4]]  # each one's defaults
    assert first[0]["num_leaves"] == 31 and first[0]["reg_lambda"] == 0.0
    assert first[1]["max_features"] == "sqrt" and first[2] == {"C": 1.0}
    assert first[3]["hidden_layer_sizes"] == [100]
    (best,) = [t for t in found if t["is_optimal"]]
    shown = con.execute("SHOW MODELS").fetchall()
    assert shown[0][3] == best["algorithm"]
    assert best["value"] >= found[0]["value"]  # never worse than default LightGBM


def test_a_time_budget_stops_the_search(con, breast_cancer):
    con.execute(
        "CREATE MODEL tumour TARGET diagnosis USING auto OPTIONS (time_budget = 3) "
        "FROM breast_cancer"
    )
    search = con.backend.catalog.get("tumour").metadata["search"]
    assert search["time_budget"] == 3 and search["trials"] >= 1
    # The deadline holds inside a trial; a little slack for the trial's own checks.
    assert search["seconds"] < 3 + 2
    statuses = {t["status"] for t in trials(con, "tumour")}
    assert statuses <= {"succeeded", "stopped", "failed"} and "succeeded" in statuses


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ("num_leafs = [7, 15]", r"unknown option 'num_leafs'.*Did you mean: num_leaves"),
        ("num_leaves = []", r"num_leaves = \[\] has no candidates"),
        ("learning_rate = RANGE(0.3, 0.1)", r"needs lo < hi"),
        ("learning_rate = RANGE(0, 0.3, LOG)", r"with LOG needs lo > 0"),
        ("num_leaves = [7, 15], trials = 0", r"trials"),
        ("search = 'genetic'", r"not a search method"),
        ("search = 'grid', learning_rate = RANGE(0.01, 0.3)", r"'grid' needs candidate lists"),
        ("metric = 'rmse', num_leaves = [7, 15]", r"metric = 'rmse' does not fit"),
        ("time_budget = 0.001, num_leaves = [7, 15]", r"ended before any trial finished"),
    ],
)
def test_a_search_that_cannot_run_fails_and_stores_nothing(con, breast_cancer, options, message):
    with pytest.raises(sqlml.SqlmlError, match=message):
        con.execute(f"CREATE MODEL tumour TARGET diagnosis OPTIONS ({options}) FROM breast_cancer")
    assert con.execute("SHOW MODELS").fetchall() == []


def test_using_auto_takes_no_hyperparameters(con, breast_cancer):
    with pytest.raises(sqlml.UnknownOptionError, match="USING auto chooses"):
        con.execute(
            "CREATE MODEL t TARGET diagnosis USING auto OPTIONS (num_leaves = 7) FROM breast_cancer"
        )


def test_show_trials_of_a_model_trained_without_a_search(con, breast_cancer):
    con.execute(f"CREATE MODEL tumour TARGET diagnosis OPTIONS ({SMALL}) FROM breast_cancer")
    with pytest.raises(sqlml.UnsupportedError, match="without a search"):
        con.execute("SHOW TRIALS tumour")


def test_a_search_of_one_algorithm_tries_its_defaults_first(con, breast_cancer):
    con.execute("CREATE MODEL tumour TARGET diagnosis OPTIONS (trials = 1) FROM breast_cancer")
    first = json.loads(trials(con, "tumour")[0]["hyperparameters"])
    # LightGBM's defaults, inside the space sqlml searches when none is named.
    assert first["num_leaves"] == 31 and first["learning_rate"] == 0.1
    assert first["n_estimators"] == 100 and first["min_child_samples"] == 20


def test_a_small_table_is_scored_by_cross_validation_unless_cv_says(con, breast_cancer):
    con.execute(
        f"CREATE MODEL tumour TARGET diagnosis OPTIONS (num_leaves = [7, 15], trials = 2, {SMALL}) "
        "FROM breast_cancer"
    )
    assert con.backend.catalog.get("tumour").metadata["search"]["validation"] == "cv 5"
    con.execute(
        f"CREATE OR REPLACE MODEL tumour TARGET diagnosis OPTIONS (num_leaves = [7, 15], "
        f"trials = 2, cv = 3, {SMALL}) FROM breast_cancer"
    )
    assert con.backend.catalog.get("tumour").metadata["search"]["validation"] == "cv 3"


def test_the_best_trials_are_kept_as_models_to_score(connect, breast_cancer):
    bigquery = connect(read="bigquery")
    bigquery.execute(
        f"CREATE MODEL tumour TARGET diagnosis OPTIONS (num_leaves = RANGE(4, 64), trials = 6, "
        f"{SMALL}) FROM breast_cancer"
    )
    found = trials(bigquery, "tumour")
    (chosen,) = [t for t in found if t["is_optimal"]]
    assert chosen["model"] == "tumour"  # the chosen trial is the model itself
    others = [t for t in found if t["model"] not in (None, "tumour")]
    assert len(others) == 3  # search.TRIALS_KEPT
    best_others = sorted((t for t in found if not t["is_optimal"]), key=lambda t: -t["value"])
    assert {t["trial_id"] for t in others} == {t["trial_id"] for t in best_others[:3]}
    assert [r[0] for r in bigquery.execute("SHOW MODELS").fetchall()] == ["tumour"]

    trial = others[0]
    by_struct = bigquery.execute(
        f"SELECT predicted_diagnosis_probs FROM ML.PREDICT(MODEL tumour, TABLE breast_cancer, "
        f"STRUCT({trial['trial_id']} AS trial_id))"
    ).fetchall()
    by_name = bigquery.execute(
        f"SELECT PREDICT_PROBA(`{trial['model']}`, *) FROM breast_cancer"
    ).fetchall()
    chosen_scores = bigquery.execute(
        "SELECT PREDICT_PROBA(tumour, *) FROM breast_cancer"
    ).fetchall()
    assert len(by_struct) == len(by_name) == 569
    assert [r[0] for r in by_name] != [r[0] for r in chosen_scores]  # another model
    evaluated = bigquery.execute(
        f"SELECT roc_auc FROM ML.EVALUATE(MODEL tumour, STRUCT({trial['trial_id']} AS trial_id))"
    ).fetchall()[0][0]
    stored = bigquery.backend.catalog.get(trial["model"]).metadata["metrics"]["roc_auc"]
    assert evaluated == pytest.approx(stored)

    # A trial without a kept model, or one of another version, cannot be scored.
    dropped = next(t for t in found if t["model"] is None)  # 6 trials: 2 are not kept
    with pytest.raises(sqlml.UnknownOptionError, match="has no kept model"):
        bigquery.execute(
            f"SELECT * FROM ML.PREDICT(MODEL tumour, TABLE breast_cancer, "
            f"STRUCT({dropped['trial_id']} AS trial_id))"
        )
    bigquery.execute(
        f"CREATE OR REPLACE MODEL tumour TARGET diagnosis OPTIONS ({SMALL}) FROM breast_cancer"
    )
    assert bigquery.backend.catalog.trial_models("tumour") == []  # a new version without them
    bigquery.execute("ALTER MODEL tumour SET VERSION 1")
    again = {t["trial_id"]: t["model"] for t in trials(bigquery, "tumour")}
    assert again[trial["trial_id"]] is None and again[chosen["trial_id"]] == "tumour"


def test_dropping_a_model_drops_its_kept_trials(con, breast_cancer):
    con.execute(
        f"CREATE MODEL tumour TARGET diagnosis OPTIONS (num_leaves = [4, 8, 16], trials = 3, "
        f"{SMALL}) FROM breast_cancer"
    )
    assert len(con.backend.catalog.trial_models("tumour")) == 2
    con.execute("DROP MODEL tumour")
    assert con.backend.catalog.trial_models("tumour") == []
    with pytest.raises(sqlml.SqlmlSyntaxError, match="is a kept trial of a search"):
        con.execute(f"CREATE MODEL m.trial_1 TARGET diagnosis OPTIONS ({SMALL}) FROM breast_cancer")
