"""PostgreSQL without the client (SQL.md sections 4, 8, 9; README "PostgreSQL"): a plain psycopg
session does everything through sqlml's functions, training and predicting inside the server.
Errors are PostgreSQL ERRORs with sqlml's SQLSTATEs and DuckDB's messages."""

from __future__ import annotations

from collections.abc import Iterator

import datasets
import pg_support
import psycopg
import pytest
from pg_support import FAST, as_dict, execute, rows, scalar

import sqlml
from sqlml import errors
from sqlml._udfs_loader import udfs

PENGUIN_FEATURES = (
    "island, bill_length_mm, bill_depth_mm, flipper_length_mm, body_mass_g, sex, year"
)
CANCER_FEATURES = ", ".join(c for c in datasets.breast_cancer().columns if c != "diagnosis")
DIABETES_FEATURES = ", ".join(c for c in datasets.diabetes().columns if c != "progression")
JSONB = 3802  # pg_type oid
MODELS = {
    "species": f"TARGET species FUNCTION species_of OPTIONS ({FAST}) "
    f"AS SELECT {PENGUIN_FEATURES}, species FROM penguins",
    "cancer": f"TARGET diagnosis FUNCTION cancer_of OPTIONS ({FAST}) FROM breast_cancer",
    "progression": f"TARGET progression FUNCTION progression_of OPTIONS ({FAST}) FROM diabetes",
}


def penguins_with_id():
    frame = datasets.penguins()
    frame.insert(0, "id", range(1, len(frame) + 1))
    return frame


@pytest.fixture(scope="module")
def psql(pg: psycopg.Connection) -> dict[str, dict]:
    """Tables and models made from plain SQL; each CREATE MODEL's result row."""
    pg_support.load(pg, "penguins", penguins_with_id())
    pg_support.load(pg, "breast_cancer", datasets.breast_cancer())
    pg_support.load(pg, "diabetes", datasets.diabetes())
    return {name: execute(pg, f"CREATE MODEL {name} {rest}") for name, rest in MODELS.items()}


@pytest.fixture(scope="module")
def duck() -> Iterator[sqlml.Connection]:
    """The same tables and models on DuckDB, to compare error messages with."""
    con = sqlml.connect(":memory:")
    raw = con.backend.con
    for name, frame in (
        ("penguins", penguins_with_id()),
        ("breast_cancer", datasets.breast_cancer()),
        ("diabetes", datasets.diabetes()),
    ):
        raw.register("_frame", frame)
        raw.execute(f"CREATE TABLE {name} AS SELECT * FROM _frame")
        raw.unregister("_frame")
    for name, rest in MODELS.items():
        con.execute(f"CREATE MODEL {name} {rest}")
    yield con
    con.close()


def table(conn: psycopg.Connection, query: str) -> tuple[list[str], list[tuple]]:
    cursor = conn.execute(query)
    return [c.name for c in cursor.description], cursor.fetchall()


# -- training and predicting from plain SQL ------------------------------------------------------


def test_execute_create_model_returns_its_summary_as_jsonb(psql, pg):
    (summary,) = psql["species"]
    assert set(summary) == {
        "model",
        "version",
        "task",
        "algorithm",
        "rows_train",
        "rows_test",
        "metric",
        "metric_value",
        "seconds",
    }
    assert summary["model"] == "species" and summary["version"] == 1
    assert summary["task"] == "classification" and summary["algorithm"] == "lightgbm"
    assert summary["rows_train"] + summary["rows_test"] == 344
    assert psql["progression"][0]["task"] == "regression"
    # The model is stored in the database it was trained in, with its ONNX.
    assert scalar(pg, "SELECT length(onnx) > 0 FROM sqlml.model_versions WHERE name = 'species'")


def test_the_models_function_predicts_in_plain_sql(psql, pg):
    answers = rows(pg, f"SELECT species, species_of({PENGUIN_FEATURES}) FROM penguins")
    assert {type(p) for _, p in answers} == {str}
    assert sum(s == p for s, p in answers) / len(answers) > 0.9
    values = [r[0] for r in rows(pg, f"SELECT progression_of({DIABETES_FEATURES}) FROM diabetes")]
    assert len(values) == 442 and all(isinstance(v, float) for v in values)
    assert len(set(values)) > 10
    signature = pg_support.functions_named(pg, "species_of")
    assert signature == [
        "species_of(text,double precision,double precision,double precision,"
        "double precision,text,double precision)"
    ]


def test_sqlml_predict_takes_a_row_as_jsonb(psql, pg):
    labels = rows(
        pg,
        f"SELECT sqlml.predict('species', to_jsonb(p)), species_of({PENGUIN_FEATURES}) "
        "FROM penguins p",
    )
    assert all(a == b for a, b in labels)
    cancer = rows(
        pg,
        f"SELECT sqlml.predict('cancer', to_jsonb(b)), cancer_of({CANCER_FEATURES})::text "
        "FROM breast_cancer b",
    )
    assert all(a == b for a, b in cancer) and {a for a, _ in cancer} == {"0", "1"}
    progression = rows(
        pg,
        f"SELECT sqlml.predict('progression', to_jsonb(d)), progression_of({DIABETES_FEATURES}) "
        "FROM diabetes d",
    )
    assert all(float(a) == b for a, b in progression)


def test_sqlml_predict_proba(psql, pg):
    proba_function = udfs.naming.predict_function("cancer", proba=True)
    binary = rows(
        pg,
        f"SELECT sqlml.predict_proba('cancer', to_jsonb(b)), "
        f'sqlml."{proba_function}"({CANCER_FEATURES}), cancer_of({CANCER_FEATURES}) '
        "FROM breast_cancer b",
    )
    for jsonb, per_row, label in binary:
        assert isinstance(jsonb, float) and jsonb == per_row
        assert label == (1 if jsonb > 0.5 else 0)
    multiclass = rows(
        pg,
        "SELECT sqlml.predict_proba('species', to_jsonb(p)), sqlml.predict('species', to_jsonb(p)) "
        "FROM penguins p",
    )
    for probabilities, label in multiclass:
        probabilities = as_dict(probabilities)
        assert set(probabilities) == {"Adelie", "Chinstrap", "Gentoo"}
        assert sum(probabilities.values()) == pytest.approx(1, abs=1e-5)
        assert max(probabilities, key=probabilities.get) == label


# -- managing models: the table functions ---------------------------------------------------------

SHOW_COLUMNS = [
    "name",
    "version",
    "task",
    "algorithm",
    "target",
    "metric",
    "metric_value",
    "function",
    "created_at",
]


def test_models_view_and_show_models(psql, pg):
    columns, view = table(pg, "SELECT * FROM sqlml.models ORDER BY name")
    assert columns == SHOW_COLUMNS
    assert [r[0] for r in view] == ["cancer", "progression", "species"]
    by_name = {r[0]: dict(zip(columns, r, strict=True)) for r in view}
    assert by_name["species"]["function"] == "species_of"
    assert by_name["species"]["metric"] == "roc_auc" and by_name["progression"]["metric"] == "r2"
    assert by_name["cancer"]["metric_value"] == pytest.approx(psql["cancer"][0]["metric_value"])
    columns, shown = table(pg, "SELECT * FROM sqlml.show_models()")
    assert columns == SHOW_COLUMNS
    assert shown == view


def test_execute_show_models_returns_jsonb_rows(psql, pg):
    cursor = pg.execute("SELECT * FROM sqlml.execute('SHOW MODELS')")
    assert [c.type_code for c in cursor.description] == [JSONB]
    shown = [row[0] for row in cursor.fetchall()]
    assert sorted(r["name"] for r in shown) == ["cancer", "progression", "species"]
    assert all(set(r) == set(SHOW_COLUMNS) for r in shown)  # jsonb keeps no key order
    described = execute(pg, "DESCRIBE MODEL species")
    assert all(set(r) == {"section", "position", "name", "value"} for r in described)


def test_describe_model(psql, pg):
    columns, described = table(pg, "SELECT * FROM sqlml.describe_model('species')")
    assert columns == ["section", "position", "name", "value"]
    facts = {(s, n): v for s, _, n, v in described if s == "model"}
    assert facts[("model", "name")] == "species" and facts[("model", "target")] == "species"
    assert facts[("model", "function")] == "species_of"
    features = sorted((p, n, v) for s, p, n, v in described if s == "feature")
    assert features == [
        (1, "island", "text"),
        (2, "bill_length_mm", "double precision"),
        (3, "bill_depth_mm", "double precision"),
        (4, "flipper_length_mm", "double precision"),
        (5, "body_mass_g", "double precision"),
        (6, "sex", "text"),
        (7, "year", "bigint"),
    ]
    assert {"model", "feature", "option", "metric", "timing"} <= {r[0] for r in described}
    assert ("option", "n_estimators") in {(s, n) for s, _, n, _ in described}
    via_execute = execute(pg, "DESCRIBE MODEL species")
    assert described == [(r["section"], r["position"], r["name"], r["value"]) for r in via_execute]


def test_explain_model(psql, pg):
    columns, importance = table(pg, "SELECT * FROM sqlml.explain_model('species')")
    assert columns == ["feature", "importance"]
    assert {f for f, _ in importance} <= set(PENGUIN_FEATURES.split(", "))
    shares = [i for _, i in importance]
    assert shares == sorted(shares, reverse=True)
    assert sum(shares) == pytest.approx(1)


CLASSIFICATION_METRICS = ["accuracy", "precision", "recall", "f1", "roc_auc", "log_loss"]


def test_evaluate_model_with_and_without_a_query(psql, pg):
    columns, stored = table(pg, "SELECT * FROM sqlml.evaluate_model('species')")
    assert columns == ["metric", "value"]
    assert [m for m, _ in stored] == CLASSIFICATION_METRICS
    (evaluated,) = execute(pg, "EVALUATE MODEL species")
    assert dict(stored) == pytest.approx(evaluated)
    assert dict(stored)["roc_auc"] == pytest.approx(psql["species"][0]["metric_value"], abs=1e-4)

    on_query = dict(
        rows(pg, "SELECT * FROM sqlml.evaluate_model('species', 'SELECT * FROM penguins')")
    )
    assert list(on_query) == CLASSIFICATION_METRICS
    assert on_query["accuracy"] > 0.9
    (via_execute,) = execute(pg, "EVALUATE MODEL species ON (SELECT * FROM penguins)")
    assert on_query == pytest.approx(via_execute)
    regression = rows(
        pg, "SELECT * FROM sqlml.evaluate_model('progression', 'SELECT * FROM diabetes')"
    )
    assert [m for m, _ in regression] == ["rmse", "mae", "r2"]
    assert dict(regression)["r2"] > 0.3


def test_model_versions(psql, pg):
    execute(pg, f"CREATE MODEL versioned TARGET progression OPTIONS ({FAST}) FROM diabetes")
    execute(
        pg,
        "CREATE OR REPLACE MODEL versioned TARGET progression USING linear_regression "
        "FUNCTION versioned_of FROM diabetes",
    )
    columns, versions = table(pg, "SELECT * FROM sqlml.model_versions('versioned')")
    assert columns == [
        "name",
        "version",
        "in_use",
        "algorithm",
        "metric",
        "metric_value",
        "rows_train",
        "created_at",
    ]
    assert [(r[0], r[1], r[2], r[3]) for r in versions] == [
        ("versioned", 1, False, "lightgbm"),
        ("versioned", 2, True, "linear_regression"),
    ]
    assert versions[0][6] == versions[1][6] == 353  # 442 rows less the 20% hold-out
    execute(pg, "ALTER MODEL versioned SET VERSION 1")
    assert [r[2] for r in rows(pg, "SELECT * FROM sqlml.model_versions('versioned')")] == [
        True,
        False,
    ]
    assert scalar(pg, "SELECT version FROM sqlml.models WHERE name = 'versioned'") == 1


# -- errors: PostgreSQL ERRORs with sqlml's SQLSTATE and DuckDB's message -------------------------

ERRORS = {
    "unknown model": ("DESCRIBE MODEL speces", errors.ModelNotFoundError),
    "unknown model to drop": ("DROP MODEL cancr", errors.ModelNotFoundError),
    "unknown model to predict": (
        "SELECT PREDICT(speces, *) FROM penguins",
        errors.ModelNotFoundError,
    ),
    "unknown option": (
        "CREATE MODEL x TARGET species OPTIONS (n_estimator = 20) "
        f"AS SELECT {PENGUIN_FEATURES}, species FROM penguins",
        errors.UnknownOptionError,
    ),
    "one-class target": (
        "CREATE MODEL x TARGET species "
        "AS SELECT bill_length_mm, species FROM penguins WHERE species = 'Adelie'",
        errors.InvalidTrainingDataError,
    ),
    "missing target": ("CREATE MODEL x TARGET nope FROM penguins", errors.InvalidTrainingDataError),
    "syntax": ("CREATE MODEL x TARGET y BOGUS FROM t", errors.SqlmlSyntaxError),
    "existing model": (
        "CREATE MODEL species TARGET species FROM penguins",
        errors.ModelExistsError,
    ),
}


def server_error(conn: psycopg.Connection, query: str, params=None) -> psycopg.Error:
    with pytest.raises(psycopg.Error) as caught:
        conn.execute(query, params)
    return caught.value


@pytest.mark.parametrize(("statement", "error_class"), ERRORS.values(), ids=ERRORS.keys())
def test_execute_errors_have_sqlml_sqlstate_and_duckdb_message(
    psql, pg, duck, statement, error_class
):
    with pytest.raises(error_class) as on_duckdb:
        duck.execute(statement)
    error = server_error(pg, "SELECT * FROM sqlml.execute(%s)", [statement])
    assert error.sqlstate == error_class.sqlstate
    assert error.diag.message_primary == f"sqlml: {on_duckdb.value}"
    assert "x" not in [r[0] for r in rows(pg, "SELECT name FROM sqlml.model_registry")]


def test_sqlml_predict_errors(psql, pg, duck):
    with pytest.raises(errors.ModelNotFoundError) as on_duckdb:
        duck.execute("SELECT PREDICT(speces, *) FROM penguins")
    error = server_error(pg, "SELECT sqlml.predict('speces', to_jsonb(p)) FROM penguins p")
    assert error.sqlstate == "42704"
    assert error.diag.message_primary == f"sqlml: {on_duckdb.value}"

    error = server_error(pg, "SELECT sqlml.predict('species', '{\"island\": \"Dream\"}')")
    assert error.sqlstate == errors.InputSchemaError.sqlstate
    assert error.diag.message_primary.startswith("sqlml: ")
    assert "bill_length_mm" in error.diag.message_primary

    error = server_error(
        pg, "SELECT sqlml.predict_proba('progression', to_jsonb(d)) FROM diabetes d"
    )
    assert error.diag.message_primary.startswith("sqlml: ")
    assert "regression" in error.diag.message_primary


def test_wrong_predict_arguments_name_the_signature(psql, pg):
    error = server_error(
        pg, "SELECT * FROM sqlml.execute('SELECT PREDICT(species, 1) FROM penguins')"
    )
    assert error.sqlstate == errors.InputSchemaError.sqlstate == "42883"
    message = error.diag.message_primary
    assert message.startswith("sqlml: PREDICT(species, ...)")
    assert "species(island text, bill_length_mm double precision" in message


# -- BigQuery's table functions and feature tables, from plain SQL --------------------------------


def test_ml_table_functions_run_in_the_server(psql, pg):
    predicted = execute(
        pg, "SELECT predicted_species, species FROM ML.PREDICT(MODEL species, TABLE penguins)"
    )
    assert len(predicted) == 344
    assert sum(r["predicted_species"] == r["species"] for r in predicted) / 344 > 0.9
    (evaluation,) = execute(pg, "SELECT * FROM ML.EVALUATE(MODEL progression, TABLE diabetes)")
    assert evaluation["r2_score"] > 0.3


def test_feature_tables_from_plain_sql(psql, pg):
    pg.execute(
        "CREATE TABLE visits AS SELECT id % 20 AS customer_id, "
        "TIMESTAMP '2024-01-01' + id * INTERVAL '1 day' AS seen, body_mass_g AS mass "
        "FROM penguins WHERE body_mass_g IS NOT NULL"
    )
    (created,) = execute(
        pg, "CREATE FEATURE TABLE visit_features KEY customer_id TIMESTAMP seen AS TABLE visits"
    )
    assert created["rows"] == created["added"] == 342
    spine = (
        "SELECT customer_id, TIMESTAMP '2024-06-01' AS at FROM generate_series(0, 24) customer_id"
    )
    looked_up = execute(pg, f"SELECT * FROM FEATURES_AT_TIME(visit_features, ({spine}))")
    by_hand = rows(
        pg,
        f"SELECT s.customer_id, (SELECT mass FROM visits v WHERE v.customer_id = s.customer_id "
        f"AND v.seen <= s.at ORDER BY v.seen DESC LIMIT 1) FROM ({spine}) s ORDER BY 1",
    )
    assert [(r["customer_id"], r["mass"]) for r in looked_up] == by_hand
    assert sum(mass is None for _, mass in by_hand) == 5  # keys 20-24 have no rows
    (shown,) = execute(pg, "SHOW FEATURE TABLES")
    assert shown["name"] == "visit_features" and shown["rows"] == 342
    execute(pg, "DROP FEATURE TABLE visit_features")
    assert execute(pg, "SHOW FEATURE TABLES") == []
