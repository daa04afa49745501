"""PREDICT and PREDICT_PROBA end to end (SQL.md sections 3 and 7): result types, probabilities,
where PREDICT may appear, argument binding, NULLs and unknown categories, the model's FUNCTION,
and parity with the stored ONNX model and with natively trained models."""

from __future__ import annotations

import json

import datasets
import lightgbm
import numpy as np
import pandas as pd
import pyarrow as pa
import pytest
from queries import FAST, scalar, values
from sklearn.ensemble import RandomForestClassifier
from sklearn.linear_model import LinearRegression, LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

import sqlml
from sqlml._udfs_loader import udfs

PENGUIN_FEATURES = (
    "island, bill_length_mm, bill_depth_mm, flipper_length_mm, body_mass_g, sex, year"
)


def result_type(con: sqlml.Connection, sql: str) -> pa.DataType:
    return con.execute(sql).arrow().schema.field(0).type


@pytest.fixture
def species(con, penguins) -> str:
    """A multiclass model with text and NULL features."""
    con.execute(f"CREATE MODEL species TARGET species OPTIONS ({FAST}) FROM penguins")
    return "species"


# -- result types ---------------------------------------------------------------------------------


@pytest.fixture
def labels(make_table) -> str:
    n = 300
    rng = np.random.default_rng(3)
    x = rng.normal(size=n)
    frame = pd.DataFrame(
        {
            "x": x,
            "flag": x > 0,
            "word": np.where(x > 0, "high", "low"),
            "level": np.digitize(x, [-0.5, 0.5]).astype(np.int64),
            "many": (np.floor(x * 10) + 100).astype(np.int64),
            "amount": x * 3 + 1,
        }
    )
    return make_table("labels", frame)


@pytest.mark.parametrize(
    "target, task",
    [
        ("flag", "classification"),
        ("word", "classification"),
        ("level", "classification"),
        ("CAST(level AS INTEGER)", "classification"),
        ("CAST(level AS SMALLINT)", "classification"),
        ("CAST(level AS DOUBLE PRECISION)", "classification"),
    ],
)
def test_predict_returns_the_label_in_the_target_type(con, labels, target, task):
    query = f"SELECT x, {target} AS y FROM labels"
    con.execute(f"CREATE MODEL m TARGET y TASK {task} OPTIONS ({FAST}) AS {query}")
    expected = result_type(con, f"SELECT y FROM ({query}) AS s")
    assert result_type(con, f"SELECT PREDICT(m, x) FROM ({query}) AS s") == expected
    # and the values are the target's own values, not codes
    assert set(values(con, f"SELECT PREDICT(m, x) FROM ({query}) AS s")) <= set(
        values(con, f"SELECT y FROM ({query}) AS s")
    )


@pytest.mark.parametrize(
    "target",
    ["many", "CAST(many AS INTEGER)", "amount", "CAST(amount AS DECIMAL(10, 3))"],
)
def test_regression_returns_double(con, labels, target):
    query = f"SELECT x, {target} AS y FROM labels"
    con.execute(f"CREATE MODEL m TARGET y TASK regression OPTIONS ({FAST}) AS {query}")
    assert result_type(con, "SELECT PREDICT(m, x) FROM labels") == pa.float64()


def test_model_function_returns_the_target_type(con, labels):
    con.execute(
        f"CREATE MODEL m TARGET flag FUNCTION flag_of OPTIONS ({FAST}) "
        "AS SELECT x, flag FROM labels"
    )
    assert result_type(con, "SELECT flag_of(x) FROM labels") == pa.bool_()


# -- PREDICT_PROBA --------------------------------------------------------------------------------


def test_binary_proba_of_a_boolean_target_is_the_probability_of_true(con, labels):
    con.execute(f"CREATE MODEL m TARGET flag OPTIONS ({FAST}) AS SELECT x, flag FROM labels")
    rows = con.execute("SELECT flag, PREDICT(m, x), PREDICT_PROBA(m, x) FROM labels").fetchall()
    assert all(0.0 <= p <= 1.0 for _, _, p in rows)
    assert all(label == (p > 0.5) for _, label, p in rows)
    true_mean = np.mean([p for flag, _, p in rows if flag])
    false_mean = np.mean([p for flag, _, p in rows if not flag])
    assert true_mean > 0.8 and false_mean < 0.2


def test_binary_proba_of_an_integer_target_is_the_probability_of_the_larger(con, breast_cancer):
    con.execute(f"CREATE MODEL m TARGET diagnosis OPTIONS ({FAST}) FROM breast_cancer")
    assert result_type(con, "SELECT PREDICT_PROBA(m, *) FROM breast_cancer") == pa.float64()
    rows = con.execute(
        "SELECT diagnosis, PREDICT(m, *), PREDICT_PROBA(m, *) FROM breast_cancer"
    ).fetchall()
    assert all(0.0 <= p <= 1.0 for _, _, p in rows)
    assert all(label == (1 if p > 0.5 else 0) for _, label, p in rows)
    assert np.mean([p for y, _, p in rows if y == 1]) > 0.8
    assert np.mean([p for y, _, p in rows if y == 0]) < 0.2


def test_binary_proba_of_a_text_target_is_the_probability_of_the_last_label(con, breast_cancer):
    # 'malignant' sorts after 'benign', so it is the positive class
    con.execute(
        f"CREATE MODEL m TARGET kind OPTIONS ({FAST}) AS SELECT *, CASE WHEN diagnosis = 1 "
        "THEN 'benign' ELSE 'malignant' END AS kind FROM breast_cancer"
    )
    rows = con.execute(
        "SELECT diagnosis, PREDICT(m, *), PREDICT_PROBA(m, *) FROM breast_cancer"
    ).fetchall()
    assert all(label == ("malignant" if p > 0.5 else "benign") for _, label, p in rows)
    assert np.mean([p for y, _, p in rows if y == 0]) > 0.8  # malignant rows


def _as_dict(value) -> dict:
    return dict(value) if not isinstance(value, dict) else value


def test_multiclass_proba_is_a_map_of_every_label(con, species):
    rows = con.execute("SELECT PREDICT(species, *), PREDICT_PROBA(species, *) FROM penguins")
    rows = rows.fetchall()
    assert len(rows) == 344
    for label, probabilities in rows:
        probabilities = _as_dict(probabilities)
        assert set(probabilities) == {"Adelie", "Chinstrap", "Gentoo"}
        assert sum(probabilities.values()) == pytest.approx(1.0, abs=1e-5)
        assert all(0.0 <= p <= 1.0 for p in probabilities.values())
        assert max(probabilities, key=probabilities.get) == label


def test_multiclass_proba_keys_have_the_target_type(con, make_table, backend_name):
    """DuckDB: MAP keys in the target's type; PostgreSQL: jsonb, whose keys are text."""
    make_table("wine", datasets.wine())
    con.execute(f"CREATE MODEL m TARGET cultivar OPTIONS ({FAST}) FROM wine")
    rows = con.execute("SELECT cultivar, PREDICT(m, *), PREDICT_PROBA(m, *) FROM wine").fetchall()
    key = int if backend_name == "duckdb" else str
    for _, label, probabilities in rows:
        probabilities = _as_dict(probabilities)
        assert set(probabilities) == {key(0), key(1), key(2)}
        assert max(probabilities, key=probabilities.get) == key(label)
    assert np.mean([_as_dict(p)[key(y)] for y, _, p in rows]) > 0.8


# -- where PREDICT can appear ---------------------------------------------------------------------


def test_predict_in_where(con, species):
    correct = scalar(con, "SELECT count(*) FROM penguins WHERE PREDICT(species, *) = species")
    listed = values(con, "SELECT PREDICT(species, *) = species FROM penguins")
    assert correct == sum(bool(v) for v in listed)
    assert correct > 0.9 * 344


def test_predict_proba_in_where(con, species, breast_cancer):
    con.execute(f"CREATE MODEL cancer TARGET diagnosis OPTIONS ({FAST}) FROM breast_cancer")
    confident = scalar(
        con, "SELECT count(*) FROM breast_cancer b WHERE PREDICT_PROBA(cancer, b.*) > 0.8"
    )
    probabilities = values(con, "SELECT PREDICT_PROBA(cancer, *) FROM breast_cancer")
    assert confident == sum(p > 0.8 for p in probabilities)
    assert 0 < confident < 569


def test_predict_in_group_by_and_order_by(con, species):
    grouped = con.execute(
        "SELECT PREDICT(species, *) AS p, count(*) AS n FROM penguins "
        "GROUP BY PREDICT(species, *) ORDER BY p"
    ).fetchall()
    listed = values(con, "SELECT PREDICT(species, *) FROM penguins")
    assert grouped == sorted((label, listed.count(label)) for label in set(listed))
    assert sum(n for _, n in grouped) == 344


def test_predict_in_a_cte_and_subquery(con, species):
    from_cte = con.execute(
        "WITH scored AS (SELECT species, PREDICT(species, *) AS p FROM penguins) "
        "SELECT p, count(*) FROM scored GROUP BY p ORDER BY p"
    ).fetchall()
    from_subquery = con.execute(
        "SELECT p, count(*) FROM (SELECT PREDICT(species, p.*) AS p FROM penguins p) AS s "
        "GROUP BY p ORDER BY p"
    ).fetchall()
    assert from_cte == from_subquery
    assert {label for label, _ in from_cte} <= {"Adelie", "Chinstrap", "Gentoo"}


def test_predict_in_a_join(con, species, make_table):
    make_table(
        "diet",
        pd.DataFrame(
            {"kind": ["Adelie", "Chinstrap", "Gentoo"], "food": ["krill", "fish", "squid"]}
        ),
    )
    joined = con.execute(
        "SELECT d.food, count(*) FROM penguins p JOIN diet d ON PREDICT(species, p.*) = d.kind "
        "GROUP BY d.food ORDER BY d.food"
    ).fetchall()
    food = {"Adelie": "krill", "Chinstrap": "fish", "Gentoo": "squid"}
    listed = [food[label] for label in values(con, "SELECT PREDICT(species, *) FROM penguins")]
    assert joined == sorted((f, listed.count(f)) for f in set(listed))


def test_predict_in_create_table_as_and_insert_select(con, species):
    con.execute(
        "CREATE TABLE scored AS SELECT species AS actual, PREDICT(species, *) AS predicted "
        "FROM penguins"
    )
    con.execute("INSERT INTO scored SELECT species, PREDICT(species, p.*) FROM penguins p")
    assert scalar(con, "SELECT count(*) FROM scored") == 2 * 344
    assert scalar(con, "SELECT count(*) FROM scored WHERE predicted IS NULL") == 0
    agree = scalar(con, "SELECT count(*) FROM scored WHERE actual = predicted")
    assert agree > 0.9 * 2 * 344


def test_predict_in_a_view(con, species):
    con.execute(
        "CREATE VIEW scored AS SELECT species, PREDICT(species, *) AS predicted, "
        "PREDICT_PROBA(species, *) AS probabilities FROM penguins"
    )
    rows = con.execute("SELECT species, predicted, probabilities FROM scored").fetchall()
    direct = values(con, "SELECT PREDICT(species, *) FROM penguins")
    assert [r[1] for r in rows] == direct
    assert all(_as_dict(r[2]) for r in rows)


def test_predict_over_no_rows(con, species):
    assert values(con, "SELECT PREDICT(species, *) FROM penguins WHERE 1 = 0") == []


def test_two_models_in_one_query(con, species):
    con.execute(
        f"CREATE MODEL island TARGET island OPTIONS ({FAST}) "
        "AS SELECT species, bill_length_mm, flipper_length_mm, island FROM penguins"
    )
    rows = con.execute(
        "SELECT PREDICT(species, *), PREDICT(island, *), PREDICT_PROBA(island, *) FROM penguins"
    ).fetchall()
    assert len(rows) == 344
    assert {r[0] for r in rows} <= {"Adelie", "Chinstrap", "Gentoo"}
    assert {r[1] for r in rows} <= {"Biscoe", "Dream", "Torgersen"}


def test_explain_of_a_query_with_predict(con, species):
    plan = con.execute("EXPLAIN SELECT PREDICT(species, *) FROM penguins").fetchall()
    assert plan


# -- binding the arguments ------------------------------------------------------------------------


def test_star_table_star_and_positional_agree(con, species):
    star = values(con, "SELECT PREDICT_PROBA(species, *) FROM penguins")
    table_star = values(con, "SELECT PREDICT_PROBA(species, p.*) FROM penguins AS p")
    positional = values(con, f"SELECT PREDICT_PROBA(species, {PENGUIN_FEATURES}) FROM penguins")
    assert [_as_dict(v) for v in star] == [_as_dict(v) for v in table_star]
    assert [_as_dict(v) for v in star] == [_as_dict(v) for v in positional]


def test_star_binds_by_name_not_position(con, species):
    """Other column order, extra columns, the target missing: * still finds each feature."""
    con.execute(
        "CREATE TABLE shuffled AS SELECT year, sex, 'note' AS remark, body_mass_g, "
        "flipper_length_mm, bill_depth_mm, bill_length_mm, 0 AS id, island FROM penguins"
    )
    assert values(con, "SELECT PREDICT(species, *) FROM shuffled") == values(
        con, "SELECT PREDICT(species, *) FROM penguins"
    )


def test_table_star_picks_the_right_table_in_a_join(con, species, make_table):
    # the other table has columns with the names of features, holding other values
    make_table(
        "decoy",
        pd.DataFrame({"island": ["Nowhere"], "bill_length_mm": [999.0], "sex": ["?"]}),
    )
    joined = values(con, "SELECT PREDICT_PROBA(species, p.*) FROM penguins p CROSS JOIN decoy d")
    alone = values(con, "SELECT PREDICT_PROBA(species, *) FROM penguins")
    assert [_as_dict(v) for v in joined] == [_as_dict(v) for v in alone]


def test_positional_arguments_take_expressions_and_literals(con, species):
    literal = scalar(con, "SELECT PREDICT(species, 'Biscoe', 48.0, 15.0, 220, 5200, 'male', 2008)")
    assert literal == "Gentoo"  # a big Biscoe penguin with a shallow bill
    shifted = values(
        con,
        "SELECT PREDICT(species, island, bill_length_mm + 0, bill_depth_mm, "
        "CAST(flipper_length_mm AS INTEGER), body_mass_g, sex, year) FROM penguins "
        "WHERE flipper_length_mm IS NOT NULL",
    )
    assert len(shifted) == 342


# -- NULLs and unknown categories -----------------------------------------------------------------


def test_all_null_inputs_predict_a_label(con, species):
    label = scalar(con, "SELECT PREDICT(species, NULL, NULL, NULL, NULL, NULL, NULL, NULL)")
    assert label in {"Adelie", "Chinstrap", "Gentoo"}
    probabilities = _as_dict(
        scalar(con, "SELECT PREDICT_PROBA(species, NULL, NULL, NULL, NULL, NULL, NULL, NULL)")
    )
    assert sum(probabilities.values()) == pytest.approx(1.0, abs=1e-5)


def test_rows_with_nulls_in_the_data_predict(con, species):
    with_nulls = values(
        con,
        "SELECT PREDICT(species, *) FROM penguins WHERE sex IS NULL OR bill_length_mm IS NULL",
    )
    assert len(with_nulls) == 11
    assert all(label in {"Adelie", "Chinstrap", "Gentoo"} for label in with_nulls)


def test_unseen_categories_are_unknown_not_errors(con, species):
    query = "SELECT PREDICT_PROBA(species, '{island}', 40.0, 18.0, 190, 3700, '{sex}', 2030)"
    first = _as_dict(scalar(con, query.format(island="Atlantis", sex="unknown")))
    second = _as_dict(scalar(con, query.format(island="Lemuria", sex="neither")))
    assert sum(first.values()) == pytest.approx(1.0, abs=1e-5)
    # two categories never seen in training are both just "unknown"
    assert first == pytest.approx(second)


def test_null_number_is_imputed_as_at_training(con, make_table):
    """A NULL feature is replaced by what training learned (the median), not by zero."""
    frame = datasets.diabetes()
    make_table("diabetes", frame)
    con.execute(
        "CREATE MODEL m TARGET progression USING linear_regression OPTIONS (test_size = 0) "
        "FROM diabetes"
    )
    median = float(np.median(frame["bmi"].to_numpy(np.float32)))
    row = "age, sex, {bmi}, bp, s1, s2, s3, s4, s5, s6"
    with_null, with_median, with_zero = con.execute(
        f"SELECT PREDICT(m, {row.format(bmi='NULL')}), "
        f"PREDICT(m, {row.format(bmi=repr(median))}), "
        f"PREDICT(m, {row.format(bmi='0.5')}) FROM diabetes LIMIT 5"
    ).fetchall()[0]
    assert with_null == pytest.approx(with_median, abs=1e-3)
    assert with_null != pytest.approx(with_zero, abs=1e-3)


# -- the model's FUNCTION -------------------------------------------------------------------------


def test_model_function_works_like_predict(con, penguins):
    con.execute(
        f"CREATE MODEL species TARGET species FUNCTION species_of OPTIONS ({FAST}) FROM penguins"
    )
    by_function = values(con, f"SELECT species_of({PENGUIN_FEATURES}) FROM penguins")
    by_predict = values(con, "SELECT PREDICT(species, *) FROM penguins")
    assert by_function == by_predict
    assert scalar(
        con, "SELECT species_of('Biscoe', 48.0, 15.0, 220, 5200, 'male', 2008)"
    ) == scalar(con, "SELECT PREDICT(species, 'Biscoe', 48.0, 15.0, 220, 5200, 'male', 2008)")
    # anywhere an expression goes
    filtered = scalar(
        con, f"SELECT count(*) FROM penguins WHERE species_of({PENGUIN_FEATURES}) = species"
    )
    assert filtered == sum(
        a == b
        for a, b in zip(by_function, values(con, "SELECT species FROM penguins"), strict=True)
    )


# -- parity with the stored ONNX model and with native libraries ----------------------------------


def _stored(con: sqlml.Connection, model: str):
    onnx, metadata = con.execute(
        "SELECT v.onnx, v.metadata FROM sqlml.model_versions v JOIN sqlml.model_registry r "
        "ON r.name = v.name AND r.current_version = v.version "
        f"WHERE v.name = '{model}'"
    ).fetchone()
    return udfs.predict.Predictor(bytes(onnx), json.loads(metadata))


def test_sql_predictions_equal_the_stored_model_on_many_batches(con, species, make_table):
    """Over several thousand rows (many engine batches), PREDICT and PREDICT_PROBA in SQL give
    exactly what the stored ONNX model gives for the same rows."""
    frame = datasets.penguins()
    rng = np.random.default_rng(4)
    big = pd.concat([frame] * 15, ignore_index=True)
    big["bill_length_mm"] = big["bill_length_mm"] + rng.normal(0, 3, len(big))
    big.loc[rng.random(len(big)) < 0.05, "island"] = "Atlantis"  # unseen category
    big.loc[rng.random(len(big)) < 0.05, "body_mass_g"] = np.nan
    make_table("many_penguins", big)

    table = con.execute(
        "SELECT *, PREDICT(species, *) AS label, PREDICT_PROBA(species, *) AS probs "
        "FROM many_penguins"
    ).arrow()
    assert table.num_rows == len(big) > 5000
    predictor = _stored(con, "species")
    columns = [table.column(f.name) for f in predictor.features]
    expected = predictor.scores(columns)
    got = np.array(
        [[_as_dict(p)[c] for c in predictor.classes] for p in table.column("probs").to_pylist()]
    )
    np.testing.assert_allclose(got, expected, atol=1e-6)
    labels = [predictor.classes[i] for i in expected.argmax(axis=1)]
    assert table.column("label").to_pylist() == labels


@pytest.fixture
def cancer_with_id(make_table) -> tuple[pd.DataFrame, str]:
    frame = datasets.breast_cancer()
    frame.insert(0, "id", np.arange(len(frame)))
    make_table("cancer", frame)
    features = [c for c in frame.columns if c not in ("id", "diagnosis")]
    return frame, ", ".join(features)


def _native_features(frame: pd.DataFrame) -> np.ndarray:
    return frame.drop(columns=["id", "diagnosis"]).to_numpy(np.float64)


@pytest.mark.parametrize(
    "algorithm, options, native",
    [
        (
            "lightgbm",
            "n_estimators = 20, n_jobs = 1",
            lambda: lightgbm.LGBMClassifier(n_estimators=20, random_state=42, verbose=-1, n_jobs=1),
        ),
        (
            "logistic_regression",
            "max_iter = 1000",
            lambda: make_pipeline(StandardScaler(), LogisticRegression(max_iter=1000)),
        ),
        (
            "random_forest",
            "n_estimators = 10, n_jobs = 1, seed = 3",
            lambda: RandomForestClassifier(n_estimators=10, random_state=3, n_jobs=1),
        ),
    ],
)
def test_proba_matches_a_natively_trained_model(con, cancer_with_id, algorithm, options, native):
    """Trained on every row (test_size = 0) in the same order, the stored model answers what
    the native library's own model answers."""
    frame, features = cancer_with_id
    con.execute(
        f"CREATE MODEL m TARGET diagnosis USING {algorithm} OPTIONS ({options}, test_size = 0) "
        f"AS SELECT {features}, diagnosis FROM cancer ORDER BY id"
    )
    model = native().fit(_native_features(frame), frame["diagnosis"].to_numpy())
    expected = model.predict_proba(_native_features(frame))[:, 1]
    got = np.array(values(con, "SELECT PREDICT_PROBA(m, *) FROM cancer ORDER BY id"))
    np.testing.assert_allclose(got, expected, atol=1e-4)
    labels = values(con, "SELECT PREDICT(m, *) FROM cancer ORDER BY id")
    agree = np.mean(np.array(labels) == model.predict(_native_features(frame)))
    assert agree > 0.99  # a probability within 1e-4 of 0.5 may round the other way


def test_regression_matches_a_natively_trained_model(con, make_table):
    frame = datasets.diabetes()
    frame.insert(0, "id", np.arange(len(frame)))
    make_table("diabetes", frame)
    features = [c for c in frame.columns if c not in ("id", "progression")]
    con.execute(
        "CREATE MODEL m TARGET progression USING linear_regression OPTIONS (test_size = 0) "
        f"AS SELECT {', '.join(features)}, progression FROM diabetes ORDER BY id"
    )
    native = LinearRegression().fit(frame[features].to_numpy(), frame["progression"].to_numpy())
    got = np.array(values(con, "SELECT PREDICT(m, *) FROM diabetes ORDER BY id"))
    np.testing.assert_allclose(
        got, native.predict(frame[features].to_numpy()), rtol=1e-4, atol=1e-3
    )


# -- PREDICT as the engine's own SQL (what dbt's macros expand to) --------------------------------


def test_engine_expression_scores_as_predict_does(con, penguins, species):
    expression = con.engine_expression("PREDICT(species, p.*)")
    assert "PREDICT" not in expression.upper().replace("SQLML_PREDICT", "")
    order = f"ORDER BY {PENGUIN_FEATURES}"  # rows that tie on all of them score alike
    ours = con.execute(f"SELECT {expression} FROM penguins AS p {order}").fetchall()
    theirs = con.execute(f"SELECT PREDICT(species, p.*) FROM penguins AS p {order}").fetchall()
    assert ours == theirs
    query = con.engine_sql("SELECT PREDICT_PROBA(species, p.*) AS probs FROM penguins AS p")
    assert "PREDICT_PROBA" not in query.upper()
    assert len(con.execute(query).fetchall()) == 344


@pytest.mark.parametrize("text", ["PREDICT(species, p.*) FROM penguins p", "1, 2", "1 LIMIT 2"])
def test_engine_expression_takes_one_expression(con, species, text):
    with pytest.raises(sqlml.SqlmlSyntaxError, match="takes one expression"):
        con.engine_expression(text)


def test_engine_expression_of_a_model_with_features_says_to_rewrite_the_query(con, make_table):
    make_table(
        "events",
        pd.DataFrame(
            {
                "k": [1, 2, 1, 2] * 10,
                "ts": pd.date_range("2025-01-01", periods=40, freq="D"),
                "v": [float(i % 7) for i in range(40)],
            }
        ),
    )
    make_table(
        "spine",
        pd.DataFrame(
            {
                "k": [1, 2] * 10,
                "t": pd.date_range("2025-02-01", periods=20, freq="D"),
                "y": [i % 3 == 0 for i in range(20)],
            }
        ),
    )
    con.execute("CREATE FEATURE TABLE ev KEY k TIMESTAMP ts AS SELECT k, ts, v FROM events")
    con.execute(f"CREATE MODEL fm TARGET y FEATURES ev AS OF t OPTIONS ({FAST}) FROM spine")
    with pytest.raises(sqlml.UnsupportedError, match=r"trained with FEATURES.*engine_sql\(\)"):
        con.engine_expression("PREDICT(fm, s.*)")
    assert len(con.execute(con.engine_sql("SELECT PREDICT(fm, s.*) FROM spine s")).fetchall()) == 20
