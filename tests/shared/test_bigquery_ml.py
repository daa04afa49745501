"""BigQuery ML's table functions (ML.PREDICT, ML.EVALUATE, ...) and TRANSFORM, both engines.

The statements of BigQuery's penguins tutorial run as written but for the table name.
"""

from __future__ import annotations

import pytest
from queries import FAST, one, rows, scalar, values

import sqlml
from sqlml.session import SqlmlNotice

TUTORIAL_MODEL = """
CREATE OR REPLACE MODEL `bqml_tutorial.penguins_model`
OPTIONS
  (model_type='linear_reg',
  input_label_cols=['body_mass_g'],
  enable_global_explain=TRUE) AS
SELECT
  *
FROM
  penguins
WHERE
  body_mass_g IS NOT NULL
"""
TUTORIAL_EVALUATE = """
SELECT
  *
FROM
  ML.EVALUATE(MODEL `bqml_tutorial.penguins_model`,
    (
    SELECT
      *
    FROM
      penguins
    WHERE
      body_mass_g IS NOT NULL))
"""
TUTORIAL_PREDICT = """
SELECT
  *
FROM
  ML.PREDICT(MODEL `bqml_tutorial.penguins_model`,
    (
    SELECT
      *
    FROM
      penguins
    WHERE
      island = 'Biscoe'))
"""
TUTORIAL_GLOBAL_EXPLAIN = """
SELECT
  *
FROM
  ML.GLOBAL_EXPLAIN(MODEL `bqml_tutorial.penguins_model`)
"""
SEX_MODEL = (
    "CREATE MODEL sex OPTIONS (model_type = 'boosted_tree_classifier', "
    "input_label_cols = ['sex'], max_iterations = 20) AS "
    "SELECT bill_length_mm, bill_depth_mm, body_mass_g, species, sex FROM penguins "
    "WHERE sex IS NOT NULL"
)
SPECIES_MODEL = (
    "CREATE MODEL species OPTIONS (model_type = 'boosted_tree_classifier', "
    "input_label_cols = ['species'], max_iterations = 20) AS "
    "SELECT bill_length_mm, bill_depth_mm, flipper_length_mm, species FROM penguins"
)


@pytest.fixture
def bigquery(connect, penguins) -> sqlml.Connection:
    """A connection that reads BigQuery SQL (the penguins table is loaded first)."""
    return connect(read="bigquery")


@pytest.fixture
def sex(bigquery) -> sqlml.Connection:
    bigquery.execute(SEX_MODEL)
    return bigquery


def test_penguins_tutorial_evaluates_predicts_and_explains(bigquery):
    bigquery.execute(TUTORIAL_MODEL)
    evaluation = one(bigquery, TUTORIAL_EVALUATE)
    assert list(evaluation) == [
        "mean_absolute_error",
        "mean_squared_error",
        "mean_squared_log_error",
        "median_absolute_error",
        "r2_score",
        "explained_variance",
    ]
    # The tutorial's model explains most of the variance of body mass, in grams.
    assert evaluation["r2_score"] > 0.8
    assert evaluation["mean_absolute_error"] < 350
    stored = one(bigquery, "SELECT * FROM ML.EVALUATE(MODEL `bqml_tutorial.penguins_model`)")
    assert (
        stored["r2_score"] == one(bigquery, "EVALUATE MODEL `bqml_tutorial.penguins_model`")["r2"]
    )

    predicted = rows(bigquery, TUTORIAL_PREDICT)
    assert len(predicted) == scalar(
        bigquery, "SELECT COUNT(*) FROM penguins WHERE island = 'Biscoe'"
    )
    # BigQuery's shape: the prediction first, then every input column.
    assert list(predicted[0]) == [
        "predicted_body_mass_g",
        "species",
        "island",
        "bill_length_mm",
        "bill_depth_mm",
        "flipper_length_mm",
        "body_mass_g",
        "sex",
        "year",
    ]
    expected = values(
        bigquery,
        "SELECT PREDICT(`bqml_tutorial.penguins_model`, *) FROM penguins WHERE island = 'Biscoe'",
    )
    assert sorted(r["predicted_body_mass_g"] for r in predicted) == pytest.approx(sorted(expected))

    explained = rows(bigquery, TUTORIAL_GLOBAL_EXPLAIN)
    assert {r["feature"] for r in explained} == {
        "species",
        "island",
        "bill_length_mm",
        "bill_depth_mm",
        "flipper_length_mm",
        "sex",
        "year",
    }
    attributions = [r["attribution"] for r in explained]
    assert attributions == sorted(attributions, reverse=True)
    assert explained[0]["attribution"] > 0


def test_predict_of_a_binary_classifier_gives_label_and_probabilities(sex):
    predicted = rows(sex, "SELECT * FROM ML.PREDICT(MODEL sex, TABLE penguins)")
    assert list(predicted[0])[:2] == ["predicted_sex", "predicted_sex_probs"]
    assert len(predicted) == 344
    for row in predicted:
        probs = _probs(row["predicted_sex_probs"])
        assert set(probs) == {"female", "male"}
        assert sum(probs.values()) == pytest.approx(1.0)
        assert row["predicted_sex"] == ("male" if probs["male"] > 0.5 else "female")
    accuracy = sum(r["predicted_sex"] == r["sex"] for r in predicted if r["sex"]) / 333
    assert accuracy > 0.85


def test_a_threshold_moves_the_binary_decision(sex):
    query = (
        "SELECT predicted_sex, predicted_sex_probs FROM ML.PREDICT(MODEL sex, TABLE penguins, "
        "STRUCT(0.9 AS threshold))"
    )
    predicted = rows(sex, query)
    for row in predicted:
        male = _probs(row["predicted_sex_probs"])["male"]
        assert row["predicted_sex"] == ("male" if male > 0.9 else "female")
    males_at_09 = sum(r["predicted_sex"] == "male" for r in predicted)
    males_at_05 = scalar(
        sex,
        "SELECT COUNT(*) FROM ML.PREDICT(MODEL sex, TABLE penguins) WHERE predicted_sex = 'male'",
    )
    assert males_at_09 < males_at_05


def test_predict_of_a_multiclass_model_lists_every_class(bigquery):
    bigquery.execute(SPECIES_MODEL)
    predicted = rows(
        bigquery,
        "SELECT p.* FROM ML.PREDICT(MODEL species, (SELECT * FROM penguins WHERE year = 2008)) "
        "AS p",
    )
    assert len(predicted) == scalar(bigquery, "SELECT COUNT(*) FROM penguins WHERE year = 2008")
    for row in predicted:
        probs = _probs(row["predicted_species_probs"])
        assert set(probs) == {"Adelie", "Chinstrap", "Gentoo"}
        assert sum(probs.values()) == pytest.approx(1.0, abs=1e-5)
        assert row["predicted_species"] == max(probs, key=probs.get)


def test_table_functions_work_inside_larger_queries(sex):
    counted = rows(
        sex,
        "SELECT predicted_sex, COUNT(*) AS n FROM ML.PREDICT(MODEL sex, TABLE penguins) "
        "GROUP BY predicted_sex ORDER BY predicted_sex",
    )
    assert [r["predicted_sex"] for r in counted] == ["female", "male"]
    assert sum(r["n"] for r in counted) == 344
    in_cte = scalar(
        sex,
        "WITH gentoo AS (SELECT * FROM penguins WHERE species = 'Gentoo') "
        "SELECT COUNT(*) FROM ML.PREDICT(MODEL sex, (SELECT * FROM gentoo))",
    )
    assert in_cte == scalar(sex, "SELECT COUNT(*) FROM penguins WHERE species = 'Gentoo'")
    best = scalar(
        sex,
        "SELECT feature FROM ML.FEATURE_IMPORTANCE(MODEL sex) ORDER BY importance_gain DESC "
        "LIMIT 1",
    )
    assert best in {"bill_length_mm", "bill_depth_mm", "body_mass_g", "species"}


def test_one_models_predictions_feed_another(bigquery):
    bigquery.execute(
        f"CREATE MODEL mass TARGET body_mass_g OPTIONS ({FAST}) AS "
        "SELECT bill_length_mm, flipper_length_mm, body_mass_g FROM penguins"
    )
    bigquery.execute(SEX_MODEL)
    chained = rows(
        bigquery,
        "SELECT predicted_sex, body_mass_g FROM ML.PREDICT(MODEL sex, (SELECT bill_length_mm, "
        "bill_depth_mm, predicted_body_mass_g AS body_mass_g, species "
        "FROM ML.PREDICT(MODEL mass, TABLE penguins)))",
    )
    assert len(chained) == 344
    assert {r["predicted_sex"] for r in chained} == {"female", "male"}
    by_hand = values(bigquery, "SELECT PREDICT(mass, *) FROM penguins")
    assert sorted(r["body_mass_g"] for r in chained) == pytest.approx(sorted(by_hand))


def test_evaluate_with_rows_and_a_threshold(sex):
    plain = one(sex, "SELECT * FROM ML.EVALUATE(MODEL sex, TABLE penguins)")
    assert list(plain) == ["precision", "recall", "accuracy", "f1_score", "log_loss", "roc_auc"]
    assert plain["accuracy"] > 0.85 and plain["roc_auc"] > 0.9
    strict = one(
        sex, "SELECT * FROM ML.EVALUATE(MODEL sex, TABLE penguins, STRUCT(0.9 AS threshold))"
    )
    # A stricter threshold: fewer males predicted, so precision up and recall down.
    assert strict["recall"] < plain["recall"]
    assert strict["precision"] >= plain["precision"]
    assert strict["roc_auc"] == pytest.approx(plain["roc_auc"])  # threshold-free


def test_confusion_matrix_counts_the_rows(sex):
    matrix = rows(sex, "SELECT * FROM ML.CONFUSION_MATRIX(MODEL sex, TABLE penguins)")
    assert list(matrix[0]) == ["expected_label", "female", "male"]
    assert [r["expected_label"] for r in matrix] == ["female", "male"]
    by_hand = rows(
        sex,
        "SELECT sex, predicted_sex, COUNT(*) AS n FROM ML.PREDICT(MODEL sex, TABLE penguins) "
        "WHERE sex IS NOT NULL GROUP BY 1, 2",
    )
    for cell in by_hand:
        row = next(r for r in matrix if r["expected_label"] == cell["sex"])
        assert row[cell["predicted_sex"]] == cell["n"]
    held_out = rows(sex, "SELECT * FROM ML.CONFUSION_MATRIX(MODEL sex)")
    rows_test = int(_facts(sex, "sex")[("model", "rows_test")])
    assert sum(r["female"] + r["male"] for r in held_out) == rows_test


def test_roc_curve_on_the_hold_out_and_on_given_thresholds(sex):
    curve = rows(sex, "SELECT * FROM ML.ROC_CURVE(MODEL sex)")
    assert len(curve) > 10
    thresholds = [r["threshold"] for r in curve]
    assert thresholds == sorted(thresholds)
    recalls = [r["recall"] for r in curve]
    assert recalls == sorted(recalls, reverse=True)  # a higher threshold finds fewer
    positives = {r["true_positives"] + r["false_negatives"] for r in curve}
    assert len(positives) == 1
    given = rows(
        sex,
        "SELECT * FROM ML.ROC_CURVE(MODEL sex, TABLE penguins, GENERATE_ARRAY(0.2, 0.8, 0.3))",
    )
    assert [r["threshold"] for r in given] == pytest.approx([0.2, 0.5, 0.8])
    males = scalar(sex, "SELECT COUNT(*) FROM penguins WHERE sex = 'male'")
    at_half = given[1]
    assert at_half["true_positives"] + at_half["false_negatives"] == males
    predicted_males = scalar(
        sex,
        "SELECT COUNT(*) FROM ML.PREDICT(MODEL sex, TABLE penguins) "
        "WHERE predicted_sex = 'male' AND sex IS NOT NULL",
    )
    assert at_half["true_positives"] + at_half["false_positives"] == predicted_males


def test_feature_info_and_training_info_describe_the_training(sex):
    info = {r["input"]: r for r in rows(sex, "SELECT * FROM ML.FEATURE_INFO(MODEL sex)")}
    assert list(info) == ["bill_length_mm", "bill_depth_mm", "body_mass_g", "species"]
    low, high, mean = one(
        sex,
        "SELECT MIN(body_mass_g) AS lo, MAX(body_mass_g) AS hi, AVG(body_mass_g) AS mean "
        "FROM penguins WHERE sex IS NOT NULL",
    ).values()
    assert info["body_mass_g"]["min"] == pytest.approx(low)
    assert info["body_mass_g"]["max"] == pytest.approx(high)
    assert info["body_mass_g"]["mean"] == pytest.approx(mean, rel=1e-5)
    assert info["body_mass_g"]["null_count"] == 0
    assert info["species"]["category_count"] == 3 and info["species"]["min"] is None
    training = one(sex, "SELECT * FROM ML.TRAINING_INFO(MODEL sex)")
    assert training["iteration"] == 20  # max_iterations
    assert training["eval_loss"] == pytest.approx(one(sex, "EVALUATE MODEL sex")["log_loss"])
    assert 0 < training["loss"] < training["eval_loss"] * 3
    assert training["duration_ms"] >= 0


def test_transform_is_kept_with_the_model_and_applied_at_predict(bigquery):
    bigquery.execute(
        "CREATE MODEL mass TRANSFORM (flipper_length_mm / 10 AS flipper_cm, "
        "UPPER(species) AS kind, body_mass_g) "
        "OPTIONS (model_type = 'linear_reg', input_label_cols = ['body_mass_g']) "
        "AS SELECT * FROM penguins WHERE body_mass_g IS NOT NULL"
    )
    features = [k[1] for k in _facts(bigquery, "mass") if k[0] == "feature"]
    assert features == ["flipper_cm", "kind"]
    predicted = rows(bigquery, "SELECT * FROM ML.PREDICT(MODEL mass, TABLE penguins)")
    assert "flipper_length_mm" in predicted[0] and "flipper_cm" not in predicted[0]
    by_hand = values(
        bigquery,
        "SELECT PREDICT(mass, flipper_length_mm / 10, UPPER(species)) FROM penguins",
    )
    assert sorted(r["predicted_body_mass_g"] for r in predicted if r["predicted_body_mass_g"]) == (
        pytest.approx(sorted(v for v in by_hand if v))
    )
    evaluation = one(bigquery, "SELECT * FROM ML.EVALUATE(MODEL mass, TABLE penguins)")
    assert evaluation["r2_score"] > 0.7
    # sqlml's own EVALUATE MODEL ... ON goes through the TRANSFORM too.
    assert one(bigquery, "EVALUATE MODEL mass ON penguins")["r2"] == pytest.approx(
        evaluation["r2_score"]
    )


def test_transform_refuses_what_depends_on_other_rows(bigquery):
    with pytest.raises(sqlml.UnsupportedError, match=r"TRANSFORM: .*depends on other rows"):
        bigquery.execute(
            "CREATE MODEL m TRANSFORM (body_mass_g - AVG(body_mass_g) OVER () AS centred, sex) "
            "OPTIONS (model_type = 'logistic_reg', input_label_cols = ['sex']) "
            "AS SELECT * FROM penguins"
        )
    with pytest.raises(
        sqlml.UnsupportedError, match=r"ML\.STANDARD_SCALER\(body_mass_g\) \(BigQuery ML"
    ):
        bigquery.execute(
            "CREATE MODEL m TRANSFORM (ML.STANDARD_SCALER(body_mass_g) OVER () AS mass, sex) "
            "OPTIONS (model_type = 'logistic_reg', input_label_cols = ['sex']) "
            "AS SELECT * FROM penguins"
        )
    assert rows(bigquery, "SHOW MODELS") == []


def test_global_explain_says_what_it_ignores(sex):
    with pytest.warns(SqlmlNotice, match="class_level_explain"):
        sex.execute(
            "SELECT * FROM ML.GLOBAL_EXPLAIN(MODEL sex, STRUCT(TRUE AS class_level_explain))"
        )


@pytest.mark.parametrize(
    ("query", "error", "message"),
    [
        ("SELECT * FROM ML.PREDICT(MODEL sex)", sqlml.InputSchemaError, "needs input rows"),
        (
            "SELECT * FROM ML.PREDICT(MODEL sex, TABLE penguins, STRUCT(0.5 AS treshold))",
            sqlml.UnknownOptionError,
            "unknown STRUCT field 'treshold'",
        ),
        (
            "SELECT * FROM ML.EVALUATE(MODEL sex, TABLE penguins, STRUCT(2 AS threshold))",
            sqlml.InputSchemaError,
            "number from 0 to 1",
        ),
        (
            "SELECT * FROM ML.EVALUATE(MODEL sex, STRUCT(0.4 AS threshold))",
            sqlml.InputSchemaError,
            "needs rows to evaluate",
        ),
        (
            "SELECT * FROM ML.FEATURE_INFO(MODEL sex, TABLE penguins)",
            sqlml.InputSchemaError,
            "takes only MODEL sex",
        ),
        (
            "SELECT * FROM ML.EXPLAIN_PREDICT(MODEL sex, TABLE penguins)",
            sqlml.UnsupportedError,
            "ML.EXPLAIN_PREDICT is not available",
        ),
        ("SELECT * FROM ML.EVALUATE(MODEL sexx)", sqlml.ModelNotFoundError, "sexx"),
    ],
)
def test_bad_table_function_calls_are_clear_errors(sex, query, error, message):
    with pytest.raises(error, match=message):
        sex.execute(query)


def test_regression_and_multiclass_refuse_what_only_binary_models_have(bigquery):
    bigquery.execute(SPECIES_MODEL)
    with pytest.raises(sqlml.UnsupportedError, match="binary classifiers"):
        bigquery.execute("SELECT * FROM ML.ROC_CURVE(MODEL species)")
    with pytest.raises(sqlml.InputSchemaError, match="threshold applies to binary"):
        bigquery.execute(
            "SELECT * FROM ML.PREDICT(MODEL species, TABLE penguins, STRUCT(0.3 AS threshold))"
        )
    bigquery.execute(
        f"CREATE MODEL mass TARGET body_mass_g OPTIONS ({FAST}) AS SELECT * FROM penguins"
    )
    with pytest.raises(sqlml.UnsupportedError, match="for classifiers"):
        bigquery.execute("SELECT * FROM ML.CONFUSION_MATRIX(MODEL mass)")


def _probs(value) -> dict[str, float]:
    """predicted_<label>_probs as {label: prob}: DuckDB's list of structs or PostgreSQL's jsonb."""
    return {str(p["label"]): p["prob"] for p in value}


def _facts(con: sqlml.Connection, model: str) -> dict[tuple[str, str], str]:
    return {(r["section"], r["name"]): r["value"] for r in rows(con, f"DESCRIBE MODEL {model}")}
