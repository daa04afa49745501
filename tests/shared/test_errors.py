"""Errors end to end (SQL.md section 9): each failure is one clear sqlml error naming what was
wrong and where, and nothing half-done is left behind."""

from __future__ import annotations

import datasets
import numpy as np
import pandas as pd
import pytest
from queries import FAST, scalar, values

import sqlml

PENGUIN_FEATURES = (
    "island, bill_length_mm, bill_depth_mm, flipper_length_mm, body_mass_g, sex, year"
)


def model_names(con: sqlml.Connection) -> list[str]:
    cursor = con.execute("SHOW MODELS")
    names = [d[0] for d in cursor.description]
    return [dict(zip(names, row, strict=True))["name"] for row in cursor.fetchall()]


def assert_catalog_empty(con: sqlml.Connection) -> None:
    assert model_names(con) == []
    assert scalar(con, "SELECT count(*) FROM sqlml.model_versions") == 0
    assert scalar(con, "SELECT count(*) FROM sqlml.model_registry") == 0


@pytest.fixture
def species(con, penguins) -> str:
    con.execute(f"CREATE MODEL species TARGET species OPTIONS ({FAST}) FROM penguins")
    return "species"


@pytest.fixture
def t(make_table) -> str:
    rng = np.random.default_rng(7)
    x = rng.normal(size=200)
    frame = pd.DataFrame({"x": x, "word": rng.choice(["a", "b"], 200)})
    frame["y"] = np.where(x > 0, "yes", "no")
    return make_table("t", frame)


# -- syntax errors: line and column -------------------------------------------------------------


def _span(line: str, token: str) -> tuple[int, int]:
    start = line.index(token)
    return start + 1, start + len(token)


def test_syntax_error_gives_line_and_column(con):
    sql = "CREATE MODEL m TARGET y BOGUS FROM t"
    with pytest.raises(sqlml.SqlmlSyntaxError) as caught:
        con.execute(sql)
    error = caught.value
    assert "BOGUS" in str(error)
    assert error.line == 1
    first, last = _span(sql, "BOGUS")
    assert first <= error.column <= last
    assert "line 1" in str(error) and f"column {error.column}" in str(error)


def test_syntax_error_column_is_where_the_token_starts(con):
    sql = "CREATE MODEL m TARGET y BOGUS FROM t"
    with pytest.raises(sqlml.SqlmlSyntaxError) as caught:
        con.execute(sql)
    assert (caught.value.line, caught.value.column) == (1, sql.index("BOGUS") + 1)


def test_syntax_error_in_a_script_counts_lines_of_the_script(con):
    script = "CREATE TABLE a AS SELECT 1 AS x;\nSELECT 2;\n  CREATE MODEL m TARGET y BOGUS FROM a;"
    with pytest.raises(sqlml.SqlmlSyntaxError) as caught:
        con.executescript(script)
    assert caught.value.line == 3
    first, last = _span(script.splitlines()[2], "BOGUS")
    assert first <= caught.value.column <= last


def test_syntax_error_after_another_statement_on_the_same_line(con):
    script = "SELECT 1; CREATE MODEL m TARGET y BOGUS FROM t"
    with pytest.raises(sqlml.SqlmlSyntaxError) as caught:
        con.executescript(script)
    assert caught.value.line == 1
    first, last = _span(script, "BOGUS")
    assert first <= caught.value.column <= last


def test_syntax_error_on_a_later_line_of_a_statement(con):
    script = "SELECT 1; CREATE MODEL m\n   TARGET y\n   OPTIONS (seed 3) FROM t"
    with pytest.raises(sqlml.SqlmlSyntaxError) as caught:
        con.executescript(script)
    assert caught.value.line == 3
    first, last = _span(script.splitlines()[2], "3")
    assert first <= caught.value.column <= last


def test_syntax_error_in_a_predict_query(con):
    script = "SELECT 1;\n\nSELECT PREDICT(m, *) FROM t WHERE"
    with pytest.raises(sqlml.SqlmlSyntaxError) as caught:
        con.executescript(script)
    assert caught.value.line == 3


def test_unreadable_script_gives_line_and_column(con):
    with pytest.raises(sqlml.SqlmlSyntaxError) as caught:
        con.executescript("SELECT 1;\nSELECT 'never closed")
    assert caught.value.line == 2
    assert caught.value.column is not None


def test_engine_syntax_error_in_a_script_gives_the_script_line(con):
    """A plain SQL statement with a syntax error on line 3 of a script is reported at line 3."""
    with pytest.raises(Exception) as caught:
        con.executescript("SELECT 1;\nSELECT 2;\nSELEC 3;")
    assert isinstance(caught.value, sqlml.SqlmlError)
    assert "line 3" in str(caught.value).lower()


@pytest.mark.parametrize(
    ("script", "place"),
    [
        # the engine ran it as written: its own position, on line 4 of the text
        ("SELECT 1;\nSELECT x,\n  word,\n  nonexistent\nFROM t", (4, 3)),
        # a sqlml statement rewritten into other SQL: the name the message quotes
        ("SELECT 1;\nSELECT x,\n  PREDICT(m, *),\n    nonexistent FROM t", (4, 5)),
        ("SELECT 1;\n\nCREATE MODEL m2 TARGET y\n  USING lightgbmx AS SELECT * FROM t", (4, 9)),
    ],
)
def test_errors_say_where_they_are_in_the_users_text(con, t, script, place):
    con.execute(f"CREATE MODEL m TARGET y OPTIONS ({FAST}) AS SELECT x, word, y FROM t")
    with pytest.raises(sqlml.SqlmlError) as caught:
        con.executescript(script)
    assert (caught.value.line, caught.value.column) == place
    assert "LINE 1" not in str(caught.value)  # never an excerpt of sqlml's rewrite


def test_missing_model_name_is_reported_plainly(con):
    with pytest.raises(sqlml.SqlmlSyntaxError) as caught:
        con.execute("SHOW MODEL VERSIONS")
    assert "model name" in str(caught.value)
    assert "Token" not in str(caught.value)  # no parser internals


def test_statements_after_a_failing_one_do_not_run(con, t):
    script = (
        "CREATE TABLE before_error AS SELECT 1 AS x;\n"
        "CREATE MODEL m TARGET y USING no_such_algorithm FROM t;\n"
        "CREATE TABLE after_error AS SELECT 1 AS x;"
    )
    with pytest.raises(sqlml.UnknownOptionError):
        con.executescript(script)
    assert scalar(con, "SELECT count(*) FROM before_error") == 1
    with pytest.raises(Exception, match="after_error"):
        con.execute("SELECT count(*) FROM after_error")
    assert_catalog_empty(con)


def test_execute_takes_exactly_one_statement(con):
    with pytest.raises(sqlml.SqlmlSyntaxError, match="executescript"):
        con.execute("SELECT 1; SELECT 2")
    with pytest.raises(sqlml.SqlmlSyntaxError):
        con.execute("  -- nothing here\n")


def test_closed_connection(connect):
    closed = connect()
    closed.close()
    with pytest.raises(sqlml.SqlmlError, match="closed"):
        closed.execute("SELECT 1")


# -- unknown models -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "sql",
    [
        f"SELECT PREDICT(specie, {PENGUIN_FEATURES}) FROM penguins",
        "SELECT PREDICT_PROBA(specis, *) FROM penguins",
        "DESCRIBE MODEL specie",
        "EVALUATE MODEL specie",
        "EVALUATE MODEL specie ON penguins",
        "EXPLAIN MODEL specie",
        "DROP MODEL specie",
        "SHOW MODEL VERSIONS specie",
        "ALTER MODEL specie SET VERSION 1",
    ],
)
def test_unknown_model_names_close_matches(con, species, sql):
    with pytest.raises(sqlml.ModelNotFoundError) as caught:
        con.execute(sql)
    message = str(caught.value)
    assert "Did you mean" in message and "species" in message


def test_unknown_model_without_close_matches(con, species):
    with pytest.raises(sqlml.ModelNotFoundError) as caught:
        con.execute("SELECT PREDICT(zebra_crossing, *) FROM penguins")
    assert "zebra_crossing" in str(caught.value)
    assert "Did you mean" not in str(caught.value)


def test_unknown_model_is_a_lookup_error(con, penguins):
    with pytest.raises(LookupError):
        con.execute("DESCRIBE MODEL nothing_here")


def test_missing_version(con, species):
    with pytest.raises(sqlml.ModelNotFoundError) as caught:
        con.execute("ALTER MODEL species SET VERSION 4")
    assert "4" in str(caught.value) and "1" in str(caught.value)
    assert values(con, "SELECT version FROM sqlml.models") == [1]


def test_drop_of_a_missing_model(con, species):
    with pytest.raises(sqlml.ModelNotFoundError):
        con.execute("DROP MODEL nothing_here")
    assert model_names(con) == ["species"]


def test_create_of_an_existing_model(con, species):
    with pytest.raises(sqlml.ModelExistsError) as caught:
        con.execute(f"CREATE MODEL species TARGET species OPTIONS ({FAST}) FROM penguins")
    assert "species" in str(caught.value) and "OR REPLACE" in str(caught.value)
    assert values(con, "SELECT version FROM sqlml.model_versions") == [1]


def test_unquoted_names_fold_so_case_variants_are_the_same_model(con, species):
    with pytest.raises(sqlml.ModelExistsError):
        con.execute(f"CREATE MODEL SPECIES TARGET species OPTIONS ({FAST}) FROM penguins")
    assert len(values(con, "SELECT PREDICT(Species, *) FROM penguins")) == 344


def test_quoted_names_are_distinct_models(con, species):
    con.execute(f'CREATE MODEL "Species" TARGET sex OPTIONS ({FAST}) FROM penguins')
    assert sorted(model_names(con)) == ["Species", "species"]
    by_lower = set(values(con, "SELECT PREDICT(species, *) FROM penguins"))
    by_quoted = set(values(con, 'SELECT PREDICT("Species", *) FROM penguins'))
    assert by_lower <= {"Adelie", "Chinstrap", "Gentoo"}
    assert by_quoted <= {"male", "female"}


# -- training errors ----------------------------------------------------------------------------


def test_unknown_algorithm_names_close_matches(con, t):
    with pytest.raises(sqlml.UnknownOptionError) as caught:
        con.execute("CREATE MODEL m TARGET y USING lightgmb FROM t")
    assert "lightgmb" in str(caught.value)
    assert "Did you mean: lightgbm" in str(caught.value)


def test_unknown_option_names_close_matches(con, t):
    with pytest.raises(sqlml.UnknownOptionError) as caught:
        con.execute("CREATE MODEL m TARGET y OPTIONS (num_leave = 7) FROM t")
    assert "num_leave" in str(caught.value)
    assert "Did you mean" in str(caught.value) and "num_leaves" in str(caught.value)


def test_option_of_another_algorithm_is_unknown(con, t):
    with pytest.raises(sqlml.UnknownOptionError, match="num_leaves"):
        con.execute("CREATE MODEL m TARGET y USING random_forest OPTIONS (num_leaves = 7) FROM t")


def test_bad_option_value_is_a_sqlml_error(con, t):
    with pytest.raises(sqlml.SqlmlError, match="num_leaves"):
        con.execute("CREATE MODEL m TARGET y OPTIONS (num_leaves = 'many') FROM t")


def test_test_size_out_of_range(con, t):
    with pytest.raises(sqlml.SqlmlError, match="test_size"):
        con.execute("CREATE MODEL m TARGET y OPTIONS (test_size = 1.5) FROM t")


def test_unknown_task_names_close_matches(con, t):
    with pytest.raises(sqlml.UnknownOptionError) as caught:
        con.execute("CREATE MODEL m TARGET y TASK clasification FROM t")
    assert "Did you mean: classification" in str(caught.value)


def test_missing_target_column_names_close_matches(con, penguins):
    with pytest.raises(sqlml.InvalidTrainingDataError) as caught:
        con.execute("CREATE MODEL m TARGET specis FROM penguins")
    message = str(caught.value)
    assert "specis" in message
    assert "Did you mean" in message and "species" in message


def test_all_null_target(con, t):
    with pytest.raises(sqlml.InvalidTrainingDataError, match="NULL"):
        con.execute("CREATE MODEL m TARGET y AS SELECT x, CAST(NULL AS VARCHAR) AS y FROM t")


def test_one_class_target(con, t):
    with pytest.raises(sqlml.InvalidTrainingDataError, match="one class"):
        con.execute("CREATE MODEL m TARGET y AS SELECT x, 'yes' AS y FROM t")


def test_one_class_target_after_dropping_null_labels(con, t):
    with pytest.raises(sqlml.InvalidTrainingDataError, match="one class"):
        con.execute(
            "CREATE MODEL m TARGET y AS SELECT x, CASE WHEN x > 0 THEN 'yes' END AS y FROM t"
        )


def test_empty_training_query(con, t):
    with pytest.raises(sqlml.InvalidTrainingDataError, match="no rows"):
        con.execute("CREATE MODEL m TARGET y AS SELECT * FROM t WHERE 1 = 0")


def test_no_feature_columns(con, t):
    with pytest.raises(sqlml.InvalidTrainingDataError, match="feature"):
        con.execute("CREATE MODEL m TARGET y AS SELECT y FROM t")


def test_regression_of_a_text_target(con, t):
    with pytest.raises(sqlml.InvalidTrainingDataError, match="regression"):
        con.execute("CREATE MODEL m TARGET y TASK regression FROM t")


@pytest.mark.parametrize(
    "sql",
    [
        "CREATE MODEL m TARGET y USING linear_regression FROM t",
        "CREATE MODEL m TARGET x USING logistic_regression TASK regression FROM t",
    ],
)
def test_algorithm_that_cannot_do_the_task(con, t, sql):
    with pytest.raises(sqlml.SqlmlError) as caught:
        con.execute(sql)
    assert "regression" in str(caught.value) or "classification" in str(caught.value)


# -- nothing half-done --------------------------------------------------------------------------

FAILING_CREATES = {
    "unknown-algorithm": "USING lightgmb FROM t",
    "unknown-option": "OPTIONS (num_leave = 7) FROM t",
    "bad-option-value": "OPTIONS (num_leaves = 'many') FROM t",
    "unknown-task": "TASK clasification FROM t",
    "missing-target": "AS SELECT x, word FROM t",
    "null-target": "AS SELECT x, CAST(NULL AS VARCHAR) AS y FROM t",
    "one-class": "AS SELECT x, 'yes' AS y FROM t",
    "no-rows": "AS SELECT * FROM t WHERE 1 = 0",
    "no-features": "AS SELECT y FROM t",
    "missing-table": "FROM no_such_table",
    "wrong-task-for-algorithm": "USING linear_regression FROM t",
}


@pytest.mark.parametrize("clauses", list(FAILING_CREATES.values()), ids=list(FAILING_CREATES))
def test_failed_create_leaves_nothing_behind(con, t, clauses):
    with pytest.raises(Exception):  # noqa: B017 - the class is checked by the tests above
        con.execute(f"CREATE MODEL m TARGET y FUNCTION m_of {clauses}")
    assert_catalog_empty(con)
    with pytest.raises(Exception, match="m_of"):
        con.execute("SELECT m_of(x, word) FROM t")
    with pytest.raises(sqlml.ModelNotFoundError):
        con.execute("SELECT PREDICT(m, *) FROM t")
    # the name and the function name are free to use
    con.execute(f"CREATE MODEL m TARGET y FUNCTION m_of OPTIONS ({FAST}) FROM t")
    assert values(con, "SELECT version FROM sqlml.models") == [1]
    assert len(values(con, "SELECT m_of(x, word) FROM t")) == 200


# -- PREDICT errors ------------------------------------------------------------------------------


def test_predict_with_too_few_arguments(con, species):
    with pytest.raises(sqlml.InputSchemaError) as caught:
        con.execute("SELECT PREDICT(species, island, bill_length_mm) FROM penguins")
    message = str(caught.value)
    assert "species" in message
    assert "2" in message and "7" in message
    for feature in ("island", "bill_length_mm", "body_mass_g", "year"):
        assert feature in message  # the expected signature


def test_predict_with_too_many_arguments(con, species):
    with pytest.raises(sqlml.InputSchemaError, match="species"):
        con.execute(f"SELECT PREDICT(species, {PENGUIN_FEATURES}, species) FROM penguins")


def test_predict_with_star_and_more(con, species):
    with pytest.raises(sqlml.InputSchemaError, match="species"):
        con.execute("SELECT PREDICT(species, *, island) FROM penguins")


def test_predict_without_arguments(con, species):
    with pytest.raises(sqlml.InputSchemaError, match="species"):
        con.execute("SELECT PREDICT(species) FROM penguins")


def test_predict_with_a_type_that_cannot_be_cast(con, species):
    with pytest.raises(sqlml.InputSchemaError) as caught:
        con.execute(
            "SELECT PREDICT(species, 'Biscoe', DATE '2020-01-01', 18.0, 190, 3700, 'male', 2008)"
        )
    message = str(caught.value)
    assert "species" in message
    assert "bill_length_mm" in message  # the expected signature


def test_predict_with_a_value_that_cannot_be_cast(con, species):
    with pytest.raises(sqlml.InputSchemaError) as caught:
        con.execute(
            "SELECT PREDICT(species, 'Biscoe', 'not a number', 18.0, 190, 3700, 'male', 2008)"
        )
    message = str(caught.value)
    assert "species" in message
    assert "bill_length_mm" in message  # the expected signature


def test_predict_proba_of_a_regression_model(con, make_table):
    make_table("diabetes", datasets.diabetes())
    con.execute("CREATE MODEL progression TARGET progression USING linear_regression FROM diabetes")
    with pytest.raises(sqlml.InputSchemaError, match="regression"):
        con.execute("SELECT PREDICT_PROBA(progression, *) FROM diabetes")


def test_input_errors_are_type_errors(con, species):
    with pytest.raises(TypeError):
        con.execute("SELECT PREDICT(species, island) FROM penguins")


def test_model_function_with_wrong_arguments(con, penguins):
    con.execute(
        f"CREATE MODEL species TARGET species FUNCTION species_of OPTIONS ({FAST}) FROM penguins"
    )
    with pytest.raises(Exception, match="species_of"):
        con.execute("SELECT species_of(island, bill_length_mm) FROM penguins")


def test_predict_first_argument_must_be_a_model_name(con, species):
    with pytest.raises(sqlml.SqlmlSyntaxError, match="model name"):
        con.execute("SELECT PREDICT('species', *) FROM penguins")


# -- FUNCTION names ------------------------------------------------------------------------------


def test_function_name_of_another_model(con, t):
    con.execute(f"CREATE MODEL a TARGET y FUNCTION score OPTIONS ({FAST}) FROM t")
    with pytest.raises(sqlml.ModelExistsError) as caught:
        con.execute(f"CREATE MODEL b TARGET y FUNCTION score OPTIONS ({FAST}) FROM t")
    assert "score" in str(caught.value) and "a" in str(caught.value)
    assert model_names(con) == ["a"]


def test_function_name_of_a_builtin(con, t):
    with pytest.raises(sqlml.ModelExistsError, match="abs"):
        con.execute(f"CREATE MODEL m TARGET y FUNCTION abs OPTIONS ({FAST}) FROM t")
    assert_catalog_empty(con)
    assert scalar(con, "SELECT abs(-2)") == 2


# -- hostile names are just names -----------------------------------------------------------------

HOSTILE = 'x"; DROP TABLE t; --'
HOSTILE_SQL = '"x""; DROP TABLE t; --"'


def test_a_hostile_model_name_is_handled_safely(con, t):
    rows_before = scalar(con, "SELECT count(*) FROM t")
    con.execute(f"CREATE MODEL {HOSTILE_SQL} TARGET y OPTIONS ({FAST}) FROM t")
    assert scalar(con, "SELECT count(*) FROM t") == rows_before
    assert model_names(con) == [HOSTILE]
    predicted = values(con, f"SELECT PREDICT({HOSTILE_SQL}, *) FROM t")
    assert len(predicted) == rows_before and set(predicted) <= {"yes", "no"}
    probabilities = values(con, f"SELECT PREDICT_PROBA({HOSTILE_SQL}, t.*) FROM t")
    assert all(0 <= p <= 1 for p in probabilities)
    con.execute(f"CREATE OR REPLACE MODEL {HOSTILE_SQL} TARGET y OPTIONS ({FAST}) FROM t")
    for statement in (
        f"DESCRIBE MODEL {HOSTILE_SQL}",
        f"EVALUATE MODEL {HOSTILE_SQL}",
        f"EXPLAIN MODEL {HOSTILE_SQL}",
        f"SHOW MODEL VERSIONS {HOSTILE_SQL}",
        f"ALTER MODEL {HOSTILE_SQL} SET VERSION 1",
    ):
        assert con.execute(statement).fetchall() is not None
    assert scalar(con, "SELECT count(*) FROM t") == rows_before
    con.execute(f"DROP MODEL {HOSTILE_SQL}")
    assert model_names(con) == []
    assert scalar(con, "SELECT count(*) FROM t") == rows_before


def test_a_hostile_function_name_is_handled_safely(con, t):
    function = '"f""; DROP TABLE t; --"'
    con.execute(f'CREATE MODEL "o\'brien" TARGET y FUNCTION {function} OPTIONS ({FAST}) FROM t')
    assert values(con, f"SELECT {function}(x, word) FROM t") == values(
        con, 'SELECT PREDICT("o\'brien", *) FROM t'
    )
    con.execute('DROP MODEL "o\'brien"')
    assert scalar(con, "SELECT count(*) FROM t") == 200
