"""Redshift ML's CREATE MODEL form, SHOW MODEL and the model's FUNCTION (SQL.md section 2),
on both engines: the customer-churn tutorial's statements as written, then every mapping,
notice and error of the form."""

from __future__ import annotations

import datetime as dt
import re

import numpy as np
import pandas as pd
import pytest
from queries import one, rows, scalar, values

import sqlml
from sqlml.session import SqlmlNotice

# Every Redshift statement here says IAM_ROLE; tests that are about it check its notice.
pytestmark = pytest.mark.filterwarnings("ignore:IAM_ROLE is accepted and ignored")

STATES = ["CA", "FL", "MA", "NJ", "NY", "OH", "TX", "WA"]


def customer_activity(n: int = 500, seed: int = 7) -> pd.DataFrame:
    """The tutorial's customer_activity table: churn ('True.' / 'False.') follows the
    average daily spend and the customer-service calls, so a model can learn it."""
    rng = np.random.default_rng(seed)
    account_length = rng.integers(20, 240, n)
    minutes = {part: rng.uniform(50, 350, n).round(1) for part in ("day", "eve", "night")}
    intl_mins = rng.uniform(0, 20, n).round(1)
    charges = {"day": 0.17, "eve": 0.085, "night": 0.045}
    charge = {part: (minutes[part] * rate).round(2) for part, rate in charges.items()}
    intl_charge = (intl_mins * 0.27).round(2)
    total_charge = (sum(charge.values()) + intl_charge) * account_length / 30
    cust_serv_calls = rng.poisson(1.5, n)
    spend = total_charge / account_length
    risk = 2.5 * (spend - spend.mean()) / spend.std() + 0.6 * (cust_serv_calls - 1.5)
    churn = risk + rng.normal(0, 0.5, n) > 0.8
    days = rng.integers(0, 540, n)  # 2019-01-01 to mid-2020: the tutorial splits at 2020
    calls = {part: rng.integers(40, 160, n).astype("int32") for part in ("day", "eve", "night")}
    return pd.DataFrame(
        {
            "state": rng.choice(STATES, n),
            "account_length": account_length.astype("int32"),
            "area_code": rng.choice([408, 415, 510], n).astype("int32"),
            "phone": [f"{a}-{b:04d}" for a, b in zip(*rng.integers(0, 999, (2, n)), strict=True)],
            "intl_plan": rng.choice(["yes", "no"], n),
            "vmail_plan": rng.choice(["yes", "no"], n),
            "vmail_message": rng.integers(0, 40, n).astype("int32"),
            "day_mins": minutes["day"],
            "day_calls": calls["day"],
            "day_charge": charge["day"],
            "total_charge": total_charge.round(2),
            "eve_mins": minutes["eve"],
            "eve_calls": calls["eve"],
            "eve_charge": charge["eve"],
            "night_mins": minutes["night"],
            "night_calls": calls["night"],
            "night_charge": charge["night"],
            "intl_mins": intl_mins,
            "intl_calls": rng.integers(0, 15, n).astype("int32"),
            "intl_charge": intl_charge,
            "cust_serv_calls": cust_serv_calls.astype("int32"),
            "churn": np.where(churn, "True.", "False."),
            "record_date": [dt.date(2019, 1, 1) + dt.timedelta(int(d)) for d in days],
        }
    )


@pytest.fixture
def activity(make_table) -> str:
    return make_table("customer_activity", customer_activity())


@pytest.fixture
def redshift(connect, activity) -> sqlml.Connection:
    """A connection that reads Redshift SQL (customer_activity is loaded first)."""
    return connect(read="redshift")


# -- the tutorial, as written ------------------------------------------------------------

TUTORIAL_CREATE = """
CREATE MODEL customer_churn_auto_model
FROM
    (
      SELECT state,
             account_length,
             area_code,
             total_charge/account_length AS average_daily_spend,
             cust_serv_calls/account_length AS average_daily_cases,
             churn
      FROM customer_activity
      WHERE record_date < '2020-01-01'
     )
TARGET churn FUNCTION ml_fn_customer_churn_auto
IAM_ROLE default SETTINGS (
  S3_BUCKET '<your-s3-bucket>'
);
"""

TUTORIAL_PREDICT = """
SELECT phone,
       ml_fn_customer_churn_auto(
           state,
           account_length,
           area_code,
           total_charge/account_length,
           cust_serv_calls/account_length
       ) AS active
FROM customer_activity
WHERE record_date > '2020-01-01';
"""

TUTORIAL_BY_STATE = """
WITH inferred AS (
    SELECT state,
           ml_fn_customer_churn_auto(
               state,
               account_length,
               area_code,
               total_charge/account_length,
               cust_serv_calls/account_length
           )::varchar(6) AS active
    FROM customer_activity
    WHERE record_date > '2020-01-01'
)
SELECT state,
       SUM(CASE WHEN active = 'True.' THEN 1 ELSE 0 END) AS churners,
       SUM(CASE WHEN active = 'False.' THEN 1 ELSE 0 END) AS nonchurners,
       COUNT(*) AS total_per_state
FROM inferred
GROUP BY state
ORDER BY state;
"""

TUTORIAL_MISSES = """
WITH infer_data AS (
    SELECT area_code || phone AS accountid,
           churn,
           ml_fn_customer_churn_auto(
               state,
               account_length,
               area_code,
               total_charge/account_length,
               cust_serv_calls/account_length
           ) AS predicted
    FROM customer_activity
    WHERE record_date < '2020-01-01'
)
SELECT *  FROM infer_data where churn!=predicted;
"""


def test_churn_tutorial_trains_predicts_and_shows_the_model(redshift):
    with pytest.warns(SqlmlNotice) as notices:
        summary = one(redshift, TUTORIAL_CREATE)
    said = " | ".join(str(n.message) for n in notices)
    assert "IAM_ROLE is accepted and ignored" in said
    assert "SETTINGS S3_BUCKET is accepted and ignored" in said
    # AUTO ON (the default without MODEL_TYPE) is USING auto: 12 trials without MAX_RUNTIME.
    trials = rows(redshift, "SHOW TRIALS customer_churn_auto_model")
    assert len(trials) == 12 and sum(t["is_optimal"] for t in trials) == 1
    chosen = next(t["algorithm"] for t in trials if t["is_optimal"])
    assert (summary["task"], summary["algorithm"]) == ("classification", chosen)
    assert summary["metric_value"] > 0.85  # roc_auc on the hold-out; chance is 0.5

    facts = show_model(redshift, "customer_churn_auto_model")
    assert facts["Model State"] == "READY"
    assert facts["Function Name"] == "ml_fn_customer_churn_auto"
    assert facts["Function Parameters"] == (
        "state, account_length, area_code, average_daily_spend, average_daily_cases"
    )
    assert len(facts["Function Parameter Types"].split(", ")) == 5
    assert facts["Target Column"] == "churn"
    assert (facts["Model Type"], facts["AUTO"]) == (chosen, "ON")
    assert facts["Problem Type"] == "BinaryClassification"
    assert facts["IAM Role"] == "default"
    assert facts["S3 Bucket"] == "<your-s3-bucket>"
    assert "customer_activity" in facts["Query"]
    assert float(facts["validation:accuracy"]) > 0.8

    predicted = rows(redshift, TUTORIAL_PREDICT)
    later = scalar(
        redshift, "SELECT COUNT(*) FROM customer_activity WHERE record_date > '2020-01-01'"
    )
    assert len(predicted) == later
    assert {r["active"] for r in predicted} == {"True.", "False."}
    # Sensible: the predictions of rows the model never saw agree with their labels.
    truth = dict(
        redshift.execute(
            "SELECT phone, churn FROM customer_activity WHERE record_date > '2020-01-01'"
        ).fetchall()
    )
    right = sum(truth[r["phone"]] == r["active"] for r in predicted)
    assert right / len(predicted) > 0.8

    by_state = rows(redshift, TUTORIAL_BY_STATE)
    assert [r["state"] for r in by_state] == sorted({r["state"] for r in by_state})
    assert all(r["churners"] + r["nonchurners"] == r["total_per_state"] for r in by_state)
    assert sum(r["total_per_state"] for r in by_state) == later

    misses = rows(redshift, TUTORIAL_MISSES)
    trained_on = scalar(
        redshift, "SELECT COUNT(*) FROM customer_activity WHERE record_date < '2020-01-01'"
    )
    # USING auto chooses on a validation split, not on these rows: a few more misses than
    # a model fitted to all of them may make.
    assert len(misses) < 0.15 * trained_on
    assert all(r["churn"] != r["predicted"] for r in misses)

    redshift.execute("DROP MODEL customer_churn_auto_model")
    assert rows(redshift, "SHOW MODEL ALL") == []


# -- mappings ------------------------------------------------------------------------------

FEATURES = (
    "SELECT state, account_length, total_charge, cust_serv_calls, churn FROM customer_activity"
)


def show_model(con: sqlml.Connection, model: str) -> dict[str, str]:
    """SHOW MODEL's (key, value) rows as a dict."""
    return {r["key"]: r["value"] for r in rows(con, f"SHOW MODEL {model}")}


def options(con: sqlml.Connection, model: str) -> dict[str, str]:
    return {
        r["name"]: r["value"]
        for r in rows(con, f"DESCRIBE MODEL {model}")
        if r["section"] in ("option", "model")
    }


def test_xgboost_with_auto_off_maps_its_hyperparameters_to_lightgbm(con, activity):
    with pytest.warns(SqlmlNotice, match="EARLY_STOPPING_ROUNDS has no equivalent"):
        con.execute(
            f"CREATE MODEL churn_xgb FROM ({FEATURES}) TARGET churn "
            "FUNCTION churn_xgb_fn (varchar(2), int, float, int) IAM_ROLE default AUTO OFF "
            "MODEL_TYPE XGBOOST PROBLEM_TYPE BINARY_CLASSIFICATION OBJECTIVE 'binary:logistic' "
            "HYPERPARAMETERS DEFAULT EXCEPT (NUM_ROUND '15', MAX_DEPTH '4', ETA '0.2', "
            "SUBSAMPLE '0.8', COLSAMPLE_BYTREE '0.9', ALPHA '0.1', LAMBDA '2', GAMMA '0.05', "
            "MIN_CHILD_WEIGHT '2', EARLY_STOPPING_ROUNDS '5')"
        )
    facts = options(con, "churn_xgb")
    assert (facts["algorithm"], facts["task"]) == ("lightgbm", "classification")
    assert facts["n_estimators"] == "15"
    assert facts["max_depth"] == "4"
    assert facts["learning_rate"] == "0.2"
    assert (facts["subsample"], facts["subsample_freq"]) == ("0.8", "1")
    assert facts["colsample_bytree"] == "0.9"
    assert (facts["reg_alpha"], facts["reg_lambda"]) == ("0.1", "2.0")
    assert facts["min_split_gain"] == "0.05"
    assert facts["min_child_weight"] == "2.0"
    shown = show_model(con, "churn_xgb")
    assert (shown["Model Type"], shown["AUTO"], shown["Objective"]) == (
        "xgboost",
        "OFF",
        "binary:logistic",
    )
    assert shown["Declared Parameter Types"] == "varchar(2), int, float, int"
    churned = scalar(
        con,
        "SELECT AVG(CASE WHEN churn_xgb_fn(state, account_length, total_charge, "
        "cust_serv_calls) = churn THEN 1.0 ELSE 0 END) FROM customer_activity",
    )
    assert churned > 0.75


def test_regression_objectives_map_to_lightgbm_objectives(con, activity):
    con.execute(
        "CREATE MODEL spend FROM (SELECT state, account_length, day_mins, total_charge "
        "FROM customer_activity) TARGET total_charge FUNCTION spend_fn IAM_ROLE default "
        "MODEL_TYPE XGBOOST OBJECTIVE 'reg:absoluteerror' "
        "HYPERPARAMETERS DEFAULT EXCEPT (NUM_ROUND 20)"
    )
    facts = options(con, "spend")
    assert (facts["task"], facts["objective"]) == ("regression", "regression_l1")
    shown = show_model(con, "spend")
    assert shown["Problem Type"] == "Regression"
    assert float(shown["validation:r2"]) > 0.5


def test_linear_learner_is_logistic_or_linear_by_the_target(con, activity):
    con.execute(
        f"CREATE MODEL churn_ll FROM ({FEATURES}) TARGET churn FUNCTION churn_ll_fn "
        "IAM_ROLE default MODEL_TYPE LINEAR_LEARNER "
        "HYPERPARAMETERS DEFAULT EXCEPT (EPOCHS '50', WD '0.5')"
    )
    facts = options(con, "churn_ll")
    assert (facts["algorithm"], facts["task"]) == ("logistic_regression", "classification")
    assert (facts["max_iter"], facts["C"]) == ("50", "2.0")

    with pytest.warns(SqlmlNotice, match="EPOCHS has no equivalent for MODEL_TYPE LINEAR_LEARNER"):
        con.execute(
            "CREATE MODEL spend_ll FROM (SELECT account_length, day_mins, total_charge "
            "FROM customer_activity) TARGET total_charge FUNCTION spend_ll_fn "
            "IAM_ROLE default MODEL_TYPE LINEAR_LEARNER PROBLEM_TYPE REGRESSION "
            "HYPERPARAMETERS DEFAULT EXCEPT (EPOCHS '50')"
        )
    assert options(con, "spend_ll")["algorithm"] == "linear_regression"
    # The spend grows with the account's length and its minutes: a linear fit explains it.
    assert options(con, "spend_ll")["task"] == "regression"
    assert one(con, "EVALUATE MODEL spend_ll")["r2"] > 0.5


def test_mlp_maps_to_a_multilayer_perceptron(con, activity):
    con.execute(
        f"CREATE MODEL churn_mlp FROM ({FEATURES}) TARGET churn FUNCTION churn_mlp_fn "
        "IAM_ROLE default MODEL_TYPE MLP PROBLEM_TYPE BINARY_CLASSIFICATION "
        "HYPERPARAMETERS DEFAULT EXCEPT (EPOCHS '300', LEARNING_RATE '0.01', "
        "MINI_BATCH_SIZE '32', WD '0.001')"
    )
    facts = options(con, "churn_mlp")
    assert facts["algorithm"] == "mlp"
    assert facts["max_iter"] == "300"
    assert facts["learning_rate_init"] == "0.01"
    assert facts["batch_size"] == "32"
    assert facts["alpha"] == "0.001"
    assert one(con, "EVALUATE MODEL churn_mlp")["roc_auc"] > 0.75


def test_automl_objective_and_ignored_clauses_are_each_said(con, activity):
    with pytest.warns(SqlmlNotice) as notices:
        con.execute(
            f"CREATE MODEL churn_f1 FROM ({FEATURES}) TARGET churn FUNCTION churn_f1_fn "
            "IAM_ROLE 'arn:aws:iam::123456789012:role/RedshiftML' AUTO ON MODEL_TYPE XGBOOST "
            "OBJECTIVE 'F1' PREPROCESSORS '[]' HYPERPARAMETERS DEFAULT EXCEPT (NUM_ROUND '10') "
            "SETTINGS (S3_BUCKET 'bucket', KMS_KEY_ID 'key', S3_GARBAGE_COLLECT OFF, "
            "MAX_RUNTIME 4)"
        )
    said = [str(n.message) for n in notices]
    for expected in (
        "IAM_ROLE is accepted and ignored",
        "PREPROCESSORS is accepted and ignored",
        "SETTINGS S3_BUCKET is accepted and ignored",
        "SETTINGS KMS_KEY_ID is accepted and ignored",
        "SETTINGS S3_GARBAGE_COLLECT is accepted and ignored",
    ):
        assert any(s.startswith(expected) for s in said), (expected, said)
    # AUTO ON with MODEL_TYPE XGBOOST: a search of LightGBM on F1 within MAX_RUNTIME, the
    # HYPERPARAMETERS given staying fixed.
    meta = con.backend.catalog.get("churn_f1").metadata
    assert (meta["search"]["metric"], meta["search"]["time_budget"]) == ("f1", 4)
    assert {t["algorithm"] for t in meta["trials"]} == {"lightgbm"}
    assert {t["hyperparameters"]["n_estimators"] for t in meta["trials"]} == {10}
    shown = show_model(con, "churn_f1")
    assert shown["IAM Role"] == "arn:aws:iam::123456789012:role/RedshiftML"
    assert shown["Max Runtime"] == "4"


def test_max_cells_bounds_the_rows_by_the_query_columns(con, activity):
    con.execute(
        f"CREATE MODEL churn_cells FROM ({FEATURES}) TARGET churn FUNCTION churn_cells_fn "
        "IAM_ROLE default MODEL_TYPE XGBOOST HYPERPARAMETERS DEFAULT EXCEPT (NUM_ROUND '5') "
        "SETTINGS (MAX_CELLS 1000)"
    )
    facts = options(con, "churn_cells")
    assert facts["max_rows"] == "200"  # 1,000 cells over 5 columns
    assert int(facts["rows_train"]) + int(facts["rows_test"]) == 200


def test_problem_type_is_checked_against_the_classes(con, activity):
    three = (
        "SELECT account_length, total_charge, CASE WHEN cust_serv_calls > 2 THEN 'many' "
        "WHEN cust_serv_calls > 0 THEN 'some' ELSE 'none' END AS calls FROM customer_activity"
    )
    with pytest.raises(sqlml.InvalidTrainingDataError, match="PROBLEM_TYPE BINARY_CLASSIFICATION"):
        con.execute(
            f"CREATE MODEL calls FROM ({three}) TARGET calls FUNCTION calls_fn IAM_ROLE default "
            "MODEL_TYPE XGBOOST PROBLEM_TYPE BINARY_CLASSIFICATION"
        )
    with pytest.raises(sqlml.InvalidTrainingDataError, match="PROBLEM_TYPE REGRESSION"):
        con.execute(
            f"CREATE MODEL calls FROM ({three}) TARGET calls FUNCTION calls_fn IAM_ROLE default "
            "MODEL_TYPE XGBOOST PROBLEM_TYPE REGRESSION"
        )
    with pytest.warns(SqlmlNotice, match="has 2 classes; trained a binary classifier"):
        con.execute(
            f"CREATE MODEL churn_multi FROM ({FEATURES}) TARGET churn FUNCTION churn_multi_fn "
            "IAM_ROLE default MODEL_TYPE XGBOOST PROBLEM_TYPE MULTICLASS_CLASSIFICATION "
            "HYPERPARAMETERS DEFAULT EXCEPT (NUM_ROUND '5')"
        )
    assert values(con, "SHOW MODEL ALL") == ["churn_multi"]


def test_show_model_works_for_every_model_and_show_model_all_lists_them(con, activity):
    con.execute(
        "CREATE MODEL plain TARGET churn USING random_forest OPTIONS (n_estimators = 5) "
        f"AS {FEATURES}"
    )
    facts = show_model(con, "plain")
    assert (facts["Model Type"], facts["Algorithm"]) == ("random_forest", "random_forest")
    assert facts["Problem Type"] == "BinaryClassification"
    assert "IAM Role" not in facts and "Function Name" not in facts
    assert facts["Function Parameters"] == "state, account_length, total_charge, cust_serv_calls"
    assert rows(con, "SHOW MODEL ALL") == rows(con, "SHOW MODELS")
    assert values(con, "SHOW MODEL VERSIONS plain") == ["plain"]
    with pytest.raises(sqlml.ModelNotFoundError, match="Did you mean: plain"):
        con.execute("SHOW MODEL plane")


# -- errors ---------------------------------------------------------------------------------

BAD = [
    (
        "TARGET churn FUNCTION f IAM_ROLE default USING lightgbm",
        sqlml.SqlmlSyntaxError,
        "mixes forms: USING with Redshift ML's IAM_ROLE",
    ),
    (
        "TARGET churn FUNCTION f IAM_ROLE default TASK classification",
        sqlml.SqlmlSyntaxError,
        "mixes forms: TASK with Redshift ML's IAM_ROLE",
    ),
    (
        "TARGET churn FUNCTION f IAM_ROLE default OPTIONS (model_type = 'logistic_reg')",
        sqlml.SqlmlSyntaxError,
        "mixes forms: OPTIONS with Redshift ML's IAM_ROLE",
    ),
    (
        "TARGET churn IAM_ROLE default AUTO OFF MODEL_TYPE KMEANS",
        sqlml.SqlmlSyntaxError,
        "MODEL_TYPE KMEANS finds clusters and takes no TARGET",
    ),
    (
        "TARGET churn IAM_ROLE default MODEL_TYPE XGBOST",
        sqlml.UnknownOptionError,
        "MODEL_TYPE: unknown 'XGBOST'. Did you mean: XGBOOST",
    ),
    (
        "TARGET churn IAM_ROLE default PROBLEM_TYPE BINARY_CLASIFICATION",
        sqlml.UnknownOptionError,
        "PROBLEM_TYPE: unknown 'BINARY_CLASIFICATION'. Did you mean: BINARY_CLASSIFICATION",
    ),
    (
        "TARGET churn IAM_ROLE default OBJECTIVE 'binary:logistik'",
        sqlml.UnknownOptionError,
        "OBJECTIVE: unknown 'binary:logistik'. Did you mean: binary:logistic",
    ),
    (
        "TARGET churn IAM_ROLE default OBJECTIVE 'rank:ndcg'",
        sqlml.UnsupportedError,
        "OBJECTIVE 'rank:ndcg': ranking",
    ),
    (
        "TARGET churn IAM_ROLE default PROBLEM_TYPE REGRESSION OBJECTIVE 'binary:logistic'",
        sqlml.SqlmlSyntaxError,
        "OBJECTIVE 'binary:logistic' does not fit PROBLEM_TYPE REGRESSION",
    ),
    (
        "TARGET churn IAM_ROLE default MODEL_TYPE XGBOOST HYPERPARAMETERS DEFAULT EXCEPT "
        "(NUM_ROUNDS '10')",
        sqlml.UnknownOptionError,
        "HYPERPARAMETERS: unknown 'NUM_ROUNDS'. Did you mean: NUM_ROUND",
    ),
    (
        "TARGET churn IAM_ROLE default MODEL_TYPE XGBOOST HYPERPARAMETERS DEFAULT EXCEPT "
        "(NUM_ROUND 'many')",
        sqlml.UnknownOptionError,
        "HYPERPARAMETERS NUM_ROUND needs a number, not 'many'",
    ),
    (
        "TARGET churn IAM_ROLE default SETTINGS (S3_BUCKT 'b')",
        sqlml.UnknownOptionError,
        "SETTINGS: unknown 'S3_BUCKT'. Did you mean: S3_BUCKET",
    ),
    ("TARGET churn IAM_ROLE default AUTO OFF", sqlml.SqlmlSyntaxError, "AUTO OFF needs MODEL_TYPE"),
    ("FUNCTION f IAM_ROLE default", sqlml.SqlmlSyntaxError, "needs TARGET"),
    (
        "TARGET churned IAM_ROLE default",
        sqlml.InvalidTrainingDataError,
        "TARGET churned: not among",
    ),
    (
        "TARGET churn FUNCTION f (varchar, int, float) IAM_ROLE default",
        sqlml.InputSchemaError,
        r"FUNCTION f declares 3 argument types, but the query has 4 feature columns \(state, "
        "account_length, total_charge, cust_serv_calls\\)",
    ),
    (
        "TARGET churn FUNCTION f (int, int, float, int) IAM_ROLE default",
        sqlml.InputSchemaError,
        r"FUNCTION f: argument 1 is declared int \(number\), but column 'state' is \w+",
    ),
    (
        "TARGET churn FUNCTION f (varchar, int, date, int) IAM_ROLE default",
        sqlml.InputSchemaError,
        r"argument 3 is declared date \(date-time\), but column 'total_charge' is [\w ]+ \(number",
    ),
]


@pytest.mark.parametrize(("clauses", "error", "message"), BAD, ids=[b[2][:40] for b in BAD])
def test_bad_redshift_statements_are_one_clear_error(con, activity, clauses, error, message):
    with pytest.raises(error, match=message):
        con.execute(f"CREATE MODEL bad FROM ({FEATURES}) {clauses}")
    assert rows(con, "SHOW MODELS") == []


def test_bring_your_own_model_is_not_supported(con):
    with pytest.raises(sqlml.UnsupportedError, match=re.escape("FROM 'job_name'")):
        con.execute("CREATE MODEL byom FROM 'sagemaker-job-1' FUNCTION f IAM_ROLE default")
    with pytest.raises(sqlml.UnsupportedError, match="RETURNS"):
        con.execute(
            "CREATE MODEL byom FROM t FUNCTION f (int) RETURNS float SAGEMAKER 'endpoint' "
            "IAM_ROLE default"
        )
