"""BigQuery ML's CREATE MODEL form and `read=` transpiling (SQL.md section 2), both engines."""

from __future__ import annotations

import pytest
from queries import one, rows, scalar

import sqlml
from sqlml.session import SqlmlNotice

PENGUINS_TUTORIAL = """
CREATE OR REPLACE MODEL `bqml_tutorial.penguins_model`
OPTIONS
  (model_type='linear_reg',
  input_label_cols=['body_mass_g']) AS
SELECT
  *
FROM
  penguins
WHERE
  body_mass_g IS NOT NULL
"""


@pytest.fixture
def bigquery(connect, penguins) -> sqlml.Connection:
    """A connection that reads BigQuery SQL (the penguins table is loaded first)."""
    return connect(read="bigquery")


def test_bigquery_penguins_tutorial_trains_a_linear_model(bigquery):
    summary = one(bigquery, PENGUINS_TUTORIAL)
    assert summary["model"] == "bqml_tutorial.penguins_model"
    assert summary["task"] == "regression"
    assert summary["algorithm"] == "linear_regression"
    # The tutorial's model explains most of the variance of body mass.
    assert summary["metric_value"] > 0.7
    predicted = scalar(
        bigquery,
        "SELECT avg(abs(PREDICT(`bqml_tutorial.penguins_model`, *) - body_mass_g)) "
        "FROM penguins WHERE body_mass_g IS NOT NULL",
    )
    assert predicted < 400  # grams, on animals of 2,700 to 6,300 g


def test_bigquery_model_types_and_hyperparameters_map_to_sqlml(bigquery):
    bigquery.execute(
        "CREATE MODEL `ds.sex` OPTIONS (model_type = 'boosted_tree_classifier', "
        "input_label_cols = ['sex'], max_iterations = 15, learn_rate = 0.2, "
        "data_split_method = 'NO_SPLIT') AS SELECT * FROM penguins WHERE sex IS NOT NULL"
    )
    facts = {
        (r["section"], r["name"]): r["value"] for r in rows(bigquery, "DESCRIBE MODEL `ds.sex`")
    }
    assert facts[("model", "algorithm")] == "lightgbm"
    assert facts[("model", "task")] == "classification"
    assert facts[("option", "n_estimators")] == "15"
    assert facts[("option", "learning_rate")] == "0.2"
    assert facts[("model", "rows_test")] == "0"  # NO_SPLIT trains on every row


def test_bigquery_option_without_equivalent_is_ignored_with_a_notice(bigquery):
    with pytest.warns(SqlmlNotice, match="enable_global_explain"):
        bigquery.execute(
            "CREATE MODEL m OPTIONS (model_type = 'logistic_reg', input_label_cols = ['sex'], "
            "enable_global_explain = TRUE) AS SELECT * FROM penguins WHERE sex IS NOT NULL"
        )
    assert one(bigquery, "SHOW MODELS")["algorithm"] == "logistic_regression"


def test_mixing_forms_is_an_error_naming_the_clauses(bigquery):
    with pytest.raises(sqlml.SqlmlSyntaxError, match="mixes forms: TARGET"):
        bigquery.execute(
            "CREATE MODEL m TARGET sex OPTIONS (model_type = 'logistic_reg', "
            "input_label_cols = ['sex']) AS SELECT * FROM penguins"
        )


def test_unknown_model_type_names_close_matches(bigquery):
    with pytest.raises(sqlml.UnknownOptionError, match="Did you mean: linear_reg"):
        bigquery.execute(
            "CREATE MODEL m OPTIONS (model_type = 'linear_regg', input_label_cols = ['year']) "
            "AS SELECT * FROM penguins"
        )
    assert rows(bigquery, "SHOW MODELS") == []


def test_unknown_bigquery_option_names_close_matches(bigquery):
    with pytest.raises(sqlml.UnknownOptionError, match="Did you mean: max_iterations"):
        bigquery.execute(
            "CREATE MODEL m OPTIONS (model_type = 'linear_reg', input_label_cols = ['year'], "
            "max_iteration = 3) AS SELECT * FROM penguins"
        )


def test_input_label_cols_naming_a_missing_column(bigquery):
    with pytest.raises(sqlml.InvalidTrainingDataError, match="'body_mass'"):
        bigquery.execute(
            "CREATE MODEL m OPTIONS (model_type = 'linear_reg', input_label_cols = ['body_mass']) "
            "AS SELECT * FROM penguins"
        )


def test_plain_bigquery_sql_is_transpiled_to_the_engine(bigquery):
    # SAFE_CAST and INT64 are BigQuery's; each engine gets its own spelling.
    assert scalar(bigquery, "SELECT SAFE_CAST('12' AS INT64) + 1") == 13
    assert scalar(bigquery, "SELECT COUNT(*) FROM penguins WHERE island = 'Biscoe'") == 168


def test_an_unknown_read_dialect_is_refused(connect):
    with pytest.raises(sqlml.UnknownOptionError, match="Did you mean: bigquery"):
        connect(read="bigquerry")
