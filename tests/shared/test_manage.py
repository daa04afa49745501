"""Managing models end to end (SQL.md section 4): SHOW MODELS, DESCRIBE, EVALUATE, EXPLAIN,
versions (OR REPLACE, ALTER ... SET VERSION, failed replacements, IF NOT EXISTS), DROP, and
models seen from other connections."""

from __future__ import annotations

import datetime as dt
import json
import math

import datasets
import numpy as np
import pandas as pd
import pytest
from queries import FAST, one, rows, scalar, values

import sqlml

CLASSIFICATION_METRICS = {"accuracy", "precision", "recall", "f1", "roc_auc", "log_loss"}
REGRESSION_METRICS = {"rmse", "mae", "r2"}


def listed(con: sqlml.Connection) -> dict[str, dict]:
    return {r["name"]: r for r in rows(con, "SHOW MODELS")}


def described(con: sqlml.Connection, model: str) -> dict[str, list[tuple[str, str]]]:
    """DESCRIBE MODEL as section → [(name, value), ...] in the order given."""
    sections: dict[str, list[tuple[str, str]]] = {}
    for row in sorted(rows(con, f"DESCRIBE MODEL {model}"), key=lambda r: r["position"]):
        sections.setdefault(row["section"], []).append((row["name"], row["value"]))
    return sections


def catalog_versions(con: sqlml.Connection, model: str) -> list[int]:
    return values(
        con, f"SELECT version FROM sqlml.model_versions WHERE name = '{model}' ORDER BY version"
    )


@pytest.fixture
def flip(make_table) -> str:
    """Data two models can learn opposite answers from, so that switching shows."""
    rng = np.random.default_rng(5)
    x = rng.normal(size=300)
    frame = pd.DataFrame({"x": x, "up": np.where(x > 0, "up", "down")})
    frame["down"] = np.where(x > 0, "down", "up")
    return make_table("flip", frame)


TRAIN_UP = f"OPTIONS ({FAST}) AS SELECT x, up AS y FROM flip"
TRAIN_DOWN = f"OPTIONS ({FAST}) AS SELECT x, down AS y FROM flip"


def answers(con: sqlml.Connection, model: str = "m") -> list[str]:
    return values(con, f"SELECT PREDICT({model}, x) FROM flip ORDER BY x")


def agreement(con: sqlml.Connection, column: str, model: str = "m") -> float:
    predicted = answers(con, model)
    truth = values(con, f"SELECT {column} FROM flip ORDER BY x")
    return float(np.mean([a == b for a, b in zip(predicted, truth, strict=True)]))


# -- SHOW MODELS -------------------------------------------------------------------------------


def test_show_models_on_an_empty_catalog(con):
    cursor = con.execute("SHOW MODELS")
    assert cursor.fetchall() == []
    columns = [d[0] for d in cursor.description]
    for column in ("name", "version", "task", "algorithm", "target", "metric", "created_at"):
        assert column in columns


def test_show_models_lists_every_model(con, penguins, diabetes):
    con.execute(f"CREATE MODEL species TARGET species OPTIONS ({FAST}) FROM penguins")
    con.execute("CREATE MODEL progression TARGET progression USING linear_regression FROM diabetes")
    models = listed(con)
    assert set(models) == {"species", "progression"}
    species, progression = models["species"], models["progression"]
    assert (species["version"], species["task"], species["algorithm"], species["target"]) == (
        1,
        "classification",
        "lightgbm",
        "species",
    )
    assert (progression["task"], progression["algorithm"], progression["target"]) == (
        "regression",
        "linear_regression",
        "progression",
    )
    assert species["metric"] == "roc_auc"
    assert progression["metric"] == "r2"
    assert species["metric_value"] == pytest.approx(one(con, "EVALUATE MODEL species")["roc_auc"])
    assert progression["metric_value"] == pytest.approx(
        one(con, "EVALUATE MODEL progression")["r2"]
    )
    assert isinstance(species["created_at"], dt.datetime)
    assert species["created_at"] <= progression["created_at"]


def test_catalog_view_lists_the_models_in_use(con, penguins):
    con.execute(f"CREATE MODEL species TARGET species OPTIONS ({FAST}) FROM penguins")
    assert values(con, "SELECT name FROM sqlml.models") == ["species"]
    assert values(con, "SELECT version FROM sqlml.models") == [1]


# -- DESCRIBE MODEL ----------------------------------------------------------------------------


def test_describe_lists_features_in_order_with_their_sql_types(con, penguins):
    con.execute(
        f"CREATE MODEL species TARGET species OPTIONS ({FAST}) "
        "AS SELECT body_mass_g, sex, species, island, year FROM penguins"
    )
    features = described(con, "species")["feature"]
    assert [name for name, _ in features] == ["body_mass_g", "sex", "island", "year"]
    engine_types = {
        name: kind
        for name, kind in con.execute(
            "SELECT column_name, data_type FROM information_schema.columns "
            "WHERE table_name = 'penguins'"
        ).fetchall()
    }
    for name, sql_type in features:
        assert sql_type.lower() == engine_types[name].lower(), name


def test_describe_gives_facts_options_metrics_and_timings(con, penguins):
    con.execute(
        "CREATE MODEL species TARGET species FUNCTION species_of "
        "OPTIONS (n_estimators = 20, n_jobs = 1, num_leaves = 7, test_size = 0.25, seed = 9) "
        "FROM penguins"
    )
    sections = described(con, "species")
    facts = dict(sections["model"])
    assert facts["name"] == "species"
    assert facts["version"] == "1"
    assert facts["task"] == "classification"
    assert facts["algorithm"] == "lightgbm"
    assert facts["target"] == "species"
    assert facts["function"] == "species_of"
    assert int(facts["rows_train"]) + int(facts["rows_test"]) == 344
    assert abs(int(facts["rows_test"]) - 0.25 * 344) <= 1
    options = {name: json.loads(value) for name, value in sections["option"]}
    assert options["n_estimators"] == 20
    assert options["num_leaves"] == 7
    assert options["test_size"] == 0.25
    assert options["seed"] == 9
    metrics = {name: float(value) for name, value in sections["metric"]}
    assert set(metrics) == CLASSIFICATION_METRICS
    assert metrics["roc_auc"] == pytest.approx(listed(con)["species"]["metric_value"])
    timings = {name: float(value) for name, value in sections["timing"]}
    assert timings, "DESCRIBE MODEL gives the training timings"
    assert all(seconds >= 0 for seconds in timings.values())
    assert any("fit" in name for name in timings)


def test_describe_regression_metrics(con, diabetes):
    con.execute("CREATE MODEL progression TARGET progression USING linear_regression FROM diabetes")
    metrics = {name: float(v) for name, v in described(con, "progression")["metric"]}
    # sqlml's three, and what BigQuery's ML.EVALUATE reports besides.
    assert set(metrics) == REGRESSION_METRICS | {"mse", "msle", "median_ae", "explained_variance"}
    assert metrics["r2"] > 0.3
    assert metrics["mse"] == pytest.approx(metrics["rmse"] ** 2)


# -- EVALUATE MODEL ------------------------------------------------------------------------------


def test_evaluate_gives_one_row_of_metrics(con, penguins):
    con.execute(f"CREATE MODEL species TARGET species OPTIONS ({FAST}) FROM penguins")
    metrics = one(con, "EVALUATE MODEL species")
    assert set(metrics) == CLASSIFICATION_METRICS
    for name in ("accuracy", "precision", "recall", "f1", "roc_auc"):
        assert 0.0 <= metrics[name] <= 1.0
    assert metrics["log_loss"] >= 0


def test_evaluate_on_a_table_agrees_with_predict(con, penguins):
    con.execute(f"CREATE MODEL species TARGET species OPTIONS ({FAST}) FROM penguins")
    metrics = one(con, "EVALUATE MODEL species ON penguins")
    correct = scalar(
        con,
        "SELECT avg(CASE WHEN PREDICT(species, *) = species THEN 1.0 ELSE 0.0 END) FROM penguins",
    )
    assert metrics["accuracy"] == pytest.approx(float(correct))
    assert metrics["accuracy"] > 0.9


def test_evaluate_on_a_query(con, penguins):
    con.execute(f"CREATE MODEL species TARGET species OPTIONS ({FAST}) FROM penguins")
    subset = "SELECT * FROM penguins WHERE island = 'Dream'"
    metrics = one(con, f"EVALUATE MODEL species ON ({subset})")
    correct = scalar(
        con,
        "SELECT avg(CASE WHEN PREDICT(species, *) = species THEN 1.0 ELSE 0.0 END) "
        f"FROM ({subset}) AS s",
    )
    assert metrics["accuracy"] == pytest.approx(float(correct))


def test_evaluate_regression_on_a_table_agrees_with_predict(con, diabetes):
    con.execute("CREATE MODEL progression TARGET progression USING linear_regression FROM diabetes")
    metrics = one(con, "EVALUATE MODEL progression ON diabetes")
    assert set(metrics) == REGRESSION_METRICS
    errors = np.array(
        values(con, "SELECT PREDICT(progression, *) - progression FROM diabetes"), dtype=float
    )
    assert metrics["rmse"] == pytest.approx(math.sqrt(np.mean(errors**2)), rel=1e-4)
    assert metrics["mae"] == pytest.approx(np.mean(np.abs(errors)), rel=1e-4)
    assert 0.3 < metrics["r2"] < 1.0


def test_evaluate_where_a_metric_is_undefined_gives_null(con, make_table):
    """ROC AUC of rows that all have the same label is undefined: NULL, not NaN."""
    make_table("breast_cancer", datasets.breast_cancer())
    con.execute(f"CREATE MODEL cancer TARGET diagnosis OPTIONS ({FAST}) FROM breast_cancer")
    metrics = one(con, "EVALUATE MODEL cancer ON (SELECT * FROM breast_cancer WHERE diagnosis = 1)")
    assert metrics["accuracy"] > 0.9
    assert metrics["roc_auc"] is None


# -- EXPLAIN MODEL -------------------------------------------------------------------------------


@pytest.fixture
def signal(make_table) -> str:
    rng = np.random.default_rng(6)
    n = 400
    frame = pd.DataFrame(
        {
            "noise": rng.normal(size=n),
            "strong": rng.normal(size=n),
            "weak": rng.normal(size=n),
            "colour": rng.choice(["red", "blue"], n),
        }
    )
    frame["y"] = np.where(frame["strong"] * 3 + frame["weak"] * 0.5 > 0, "yes", "no")
    return make_table("signal", frame)


@pytest.mark.parametrize("algorithm", ["lightgbm", "random_forest", "logistic_regression"])
def test_explain_ranks_features_by_importance(con, signal, algorithm):
    options = f"OPTIONS ({FAST})" if algorithm != "logistic_regression" else ""
    con.execute(f"CREATE MODEL m TARGET y USING {algorithm} {options} FROM signal")
    ranking = con.execute("EXPLAIN MODEL m").fetchall()
    assert [d[0] for d in con.execute("EXPLAIN MODEL m").description] == ["feature", "importance"]
    assert {name for name, _ in ranking} == {"noise", "strong", "weak", "colour"}
    importances = [value for _, value in ranking]
    assert importances == sorted(importances, reverse=True)
    assert all(value >= 0 for value in importances)
    assert ranking[0][0] == "strong"
    order = [name for name, _ in ranking]
    assert order.index("weak") < order.index("noise")


# -- versions ------------------------------------------------------------------------------------


def test_or_replace_trains_version_two(con, flip):
    con.execute(f"CREATE MODEL m TARGET y {TRAIN_UP}")
    assert agreement(con, "up") > 0.95
    summary = one(con, f"CREATE OR REPLACE MODEL m TARGET y USING random_forest {TRAIN_DOWN}")
    assert summary["version"] == 2
    assert agreement(con, "down") > 0.95, "PREDICT must use the new version"
    model = listed(con)["m"]
    assert (model["version"], model["algorithm"]) == (2, "random_forest")
    versions = rows(con, "SHOW MODEL VERSIONS m")
    assert [v["version"] for v in versions] == [1, 2]
    assert [v["algorithm"] for v in versions] == ["lightgbm", "random_forest"]
    assert [v["in_use"] for v in versions] == [False, True]


def test_alter_model_set_version_switches_predict(con, flip):
    con.execute(f"CREATE MODEL m TARGET y {TRAIN_UP}")
    first = answers(con)
    con.execute(f"CREATE OR REPLACE MODEL m TARGET y {TRAIN_DOWN}")
    second = answers(con)
    assert first != second

    con.execute("ALTER MODEL m SET VERSION 1")
    assert answers(con) == first
    assert listed(con)["m"]["version"] == 1
    assert [v["in_use"] for v in rows(con, "SHOW MODEL VERSIONS m")] == [True, False]
    assert dict(described(con, "m")["model"])["version"] == "1"

    con.execute("ALTER MODEL m SET VERSION 2")
    assert answers(con) == second
    assert listed(con)["m"]["version"] == 2


def test_a_new_version_after_rollback_is_numbered_after_the_last(con, flip):
    con.execute(f"CREATE MODEL m TARGET y {TRAIN_UP}")
    con.execute(f"CREATE OR REPLACE MODEL m TARGET y {TRAIN_DOWN}")
    con.execute("ALTER MODEL m SET VERSION 1")
    summary = one(con, f"CREATE OR REPLACE MODEL m TARGET y {TRAIN_UP}")
    assert summary["version"] == 3
    assert catalog_versions(con, "m") == [1, 2, 3]
    assert listed(con)["m"]["version"] == 3


def test_a_view_follows_the_version_in_use(con, flip):
    con.execute(f"CREATE MODEL m TARGET y {TRAIN_UP}")
    con.execute("CREATE VIEW scored AS SELECT x, PREDICT(m, x) AS p FROM flip")
    before = values(con, "SELECT p FROM scored ORDER BY x")
    assert before == answers(con)
    con.execute(f"CREATE OR REPLACE MODEL m TARGET y {TRAIN_DOWN}")
    after = values(con, "SELECT p FROM scored ORDER BY x")
    assert after == answers(con) != before
    con.execute("ALTER MODEL m SET VERSION 1")
    assert values(con, "SELECT p FROM scored ORDER BY x") == before


@pytest.mark.parametrize(
    "replacement, error",
    [
        (f"OPTIONS ({FAST}, num_leafs = 3) AS SELECT x, down AS y FROM flip", sqlml.SqlmlError),
        (f"USING gradient_magic {TRAIN_DOWN}", sqlml.UnknownOptionError),
        (f"OPTIONS ({FAST}) AS SELECT x, 'down' AS y FROM flip", sqlml.InvalidTrainingDataError),
        (f"OPTIONS ({FAST}) AS SELECT x, down AS z FROM flip", sqlml.InvalidTrainingDataError),
        (
            f"OPTIONS ({FAST}) AS SELECT x, down AS y FROM flip WHERE x > 100",
            sqlml.InvalidTrainingDataError,
        ),
        # the class of this one is checked in test_errors.py
        (f"OPTIONS ({FAST}, num_leaves = 'many') AS SELECT x, down AS y FROM flip", Exception),
    ],
    ids=[
        "unknown-option",
        "unknown-algorithm",
        "one-class",
        "no-target",
        "no-rows",
        "bad-option-value",
    ],
)
def test_failed_replacement_leaves_version_one_serving(con, flip, replacement, error):
    con.execute(f"CREATE MODEL m TARGET y {TRAIN_UP}")
    before = answers(con)
    with pytest.raises(error):
        con.execute(f"CREATE OR REPLACE MODEL m TARGET y {replacement}")
    assert answers(con) == before
    assert listed(con)["m"]["version"] == 1
    assert [v["version"] for v in rows(con, "SHOW MODEL VERSIONS m")] == [1]
    assert catalog_versions(con, "m") == [1]
    # and the next successful replacement is version 2, not 3
    assert one(con, f"CREATE OR REPLACE MODEL m TARGET y {TRAIN_DOWN}")["version"] == 2


def test_if_not_exists_leaves_an_existing_model_alone(con, flip):
    con.execute(f"CREATE MODEL m TARGET y {TRAIN_UP}")
    before = answers(con)
    result = con.execute(f"CREATE MODEL IF NOT EXISTS m TARGET y {TRAIN_DOWN}").fetchall()
    assert result == []
    assert answers(con) == before
    assert catalog_versions(con, "m") == [1]


def test_if_not_exists_creates_a_missing_model(con, flip):
    summary = one(con, f"CREATE MODEL IF NOT EXISTS m TARGET y {TRAIN_DOWN}")
    assert summary["version"] == 1
    assert agreement(con, "down") > 0.95


# -- DROP MODEL ----------------------------------------------------------------------------------


def test_drop_model_removes_every_version(con, flip):
    con.execute(f"CREATE MODEL m TARGET y {TRAIN_UP}")
    con.execute(f"CREATE OR REPLACE MODEL m TARGET y {TRAIN_DOWN}")
    con.execute(f"CREATE MODEL other TARGET y {TRAIN_UP}")
    con.execute("DROP MODEL m")
    assert set(listed(con)) == {"other"}
    assert catalog_versions(con, "m") == []
    assert scalar(con, "SELECT count(*) FROM sqlml.model_registry WHERE name = 'm'") == 0
    with pytest.raises(sqlml.ModelNotFoundError):
        con.execute("SELECT PREDICT(m, x) FROM flip")
    with pytest.raises(sqlml.ModelNotFoundError):
        con.execute("SHOW MODEL VERSIONS m")
    assert len(answers(con, "other")) == 300  # the other model is untouched


def test_drop_model_removes_its_function(con, flip):
    con.execute(f"CREATE MODEL m TARGET y FUNCTION m_of {TRAIN_UP}")
    assert len(values(con, "SELECT m_of(x) FROM flip")) == 300
    con.execute("DROP MODEL m")
    with pytest.raises(Exception, match="m_of"):
        con.execute("SELECT m_of(x) FROM flip")


def test_a_dropped_name_and_function_can_be_used_again(con, flip):
    con.execute(f"CREATE MODEL m TARGET y FUNCTION m_of {TRAIN_UP}")
    con.execute(f"CREATE OR REPLACE MODEL m TARGET y FUNCTION m_of {TRAIN_UP}")
    con.execute("DROP MODEL m")
    summary = one(con, f"CREATE MODEL m TARGET y FUNCTION m_of {TRAIN_DOWN}")
    assert summary["version"] == 1
    assert values(con, "SELECT m_of(x) FROM flip ORDER BY x") == answers(con)
    assert agreement(con, "down") > 0.95


def test_drop_model_if_exists(con, flip):
    con.execute("DROP MODEL IF EXISTS never_was")  # no error
    con.execute(f"CREATE MODEL m TARGET y {TRAIN_UP}")
    con.execute("DROP MODEL IF EXISTS m")
    assert listed(con) == {}


# -- other connections ---------------------------------------------------------------------------


def test_a_view_with_predict_works_on_a_fresh_connection(con, connect, flip):
    con.execute(f"CREATE MODEL m TARGET y {TRAIN_UP}")
    con.execute("CREATE VIEW scored AS SELECT x, PREDICT(m, x) AS p FROM flip")
    expected = values(con, "SELECT p FROM scored ORDER BY x")
    con.close()
    fresh = connect()
    assert values(fresh, "SELECT p FROM scored ORDER BY x") == expected
    assert set(listed(fresh)) == {"m"}


def test_a_second_connection_sees_and_uses_the_models(con, connect, flip):
    con.execute(f"CREATE MODEL m TARGET y FUNCTION m_of {TRAIN_UP}")
    con.execute("CREATE VIEW scored AS SELECT x, PREDICT(m, x) AS p FROM flip")
    expected = answers(con)
    other = connect()
    assert set(listed(other)) == {"m"}
    assert answers(other) == expected
    assert values(other, "SELECT p FROM scored ORDER BY x") == expected
    assert values(other, "SELECT m_of(x) FROM flip ORDER BY x") == expected


def test_changes_on_one_connection_are_seen_by_another(con, connect, flip):
    con.execute(f"CREATE MODEL m TARGET y {TRAIN_UP}")
    other = connect()
    first = answers(other)
    con.execute(f"CREATE OR REPLACE MODEL m TARGET y {TRAIN_DOWN}")
    assert answers(other) != first
    other.execute("ALTER MODEL m SET VERSION 1")
    assert answers(con) == first
    other.execute("DROP MODEL m")
    with pytest.raises(sqlml.ModelNotFoundError):
        con.execute("SELECT PREDICT(m, x) FROM flip")


# -- the forms users bring from other tools ---------------------------------------------------


@pytest.fixture
def three_models(con, make_table) -> list[str]:
    frame = pd.DataFrame({"x": [float(i) for i in range(80)], "y": [i % 2 == 0 for i in range(80)]})
    make_table("xy", frame)
    for name in ("pricing", "pruning", "quota"):
        con.execute(f"CREATE MODEL {name} TARGET y OPTIONS ({FAST}) AS SELECT * FROM xy")
    con.execute(f"CREATE OR REPLACE MODEL quota TARGET y OPTIONS ({FAST}) AS SELECT * FROM xy")
    return ["pricing", "pruning", "quota"]


def test_show_models_like_and_where(con, three_models):
    assert values(con, "SHOW MODELS LIKE 'pr%'") == ["pricing", "pruning"]
    assert values(con, "SHOW MODEL ALL LIKE '%ing'") == ["pricing", "pruning"]
    assert values(con, "SHOW MODELS WHERE version > 1") == ["quota"]
    chosen = con.execute("SHOW MODELS WHERE name = $1 OR name = $2", ["quota", "pricing"])
    assert [r[0] for r in chosen.fetchall()] == ["pricing", "quota"]
    with pytest.raises(sqlml.InputSchemaError, match=r"SHOW MODELS WHERE.*the columns are name"):
        con.execute("SHOW MODELS WHERE nme = 'x'")
    assert rows(con, "SHOW FEATURE TABLES LIKE 'p%'") == []


def test_describe_alone_describes_a_model_and_retrain_shows_the_sqlml_way(con, three_models):
    assert rows(con, "DESCRIBE quota") == rows(con, "DESCRIBE MODEL quota")
    with pytest.raises(sqlml.UnsupportedError, match="CREATE OR REPLACE MODEL quota TARGET y"):
        con.execute("RETRAIN quota")
    with pytest.raises(sqlml.ModelNotFoundError):
        con.execute("RETRAIN nothing")


def test_option_names_are_sql_words_of_any_case(con, make_table):
    frame = pd.DataFrame({"x": [float(i) for i in range(80)], "y": [i % 2 == 0 for i in range(80)]})
    make_table("xy", frame)
    con.execute(
        "CREATE MODEL lr TARGET y USING logistic_regression OPTIONS (C = 0.25, MAX_ITER = 50) "
        "AS SELECT * FROM xy"
    )
    options = dict(described(con, "lr")["option"])
    assert options["C"] == "0.25" and options["max_iter"] == "50"
    con.execute(
        'CREATE MODEL lr2 TARGET y USING logistic_regression OPTIONS ("C" = 2) AS SELECT * FROM xy'
    )
    assert dict(described(con, "lr2")["option"])["C"] == "2"
