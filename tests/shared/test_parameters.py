"""Parameters in every statement, both engines: ``?``, ``$1`` and ``$name`` everywhere,
psycopg's ``%s`` and ``%(name)s`` on PostgreSQL too, bound as values (a value holding a
quote, or SQL, is only ever a value)."""

from __future__ import annotations

import datetime as dt

import pandas as pd
import pytest
from queries import FAST

import sqlml
from sqlml.errors import ParameterError

QUOTED = "o'brien"  # a plan whose name holds a quote
QUOTED_SQL = "'o''brien'"  # the same, written as an SQL string
HOSTILE = "x' OR '1'='1"


@pytest.fixture
def customers(make_table) -> str:
    n = 300
    frame = pd.DataFrame(
        {
            "id": range(n),
            "age": [20 + i % 50 for i in range(n)],
            "plan": [("pro", QUOTED, "basic")[i % 3] for i in range(n)],
            "spend": [float(i % 17) * 2.5 for i in range(n)],
            "signed_up": [dt.datetime(2024, 1, 1) + dt.timedelta(days=i % 90) for i in range(n)],
            "churned": [(i % 3 == 1) != (i % 11 == 0) for i in range(n)],
        }
    )
    return make_table("customers", frame)


@pytest.fixture
def churn(con: sqlml.Connection, customers: str) -> str:
    con.execute(
        "CREATE MODEL churn TARGET churned USING lightgbm "
        f"OPTIONS ({FAST}) AS SELECT age, plan, spend, churned FROM customers WHERE age > ?",
        [25],
    )
    return "churn"


def count(con: sqlml.Connection, sql: str, params) -> int:
    (row,) = con.execute(sql, params).fetchall()
    return int(row[0])


def rows_trained_on(con: sqlml.Connection, model: str) -> int:
    facts = dict(con.execute(f"SHOW MODEL {model}").fetchall())
    return int(facts["Train Rows"]) + int(facts["Test Rows"])


def test_plain_sql_takes_every_documented_style(con, customers):
    expected = count(con, f"SELECT count(*) FROM customers WHERE plan = {QUOTED_SQL}", None)
    assert expected == 100
    assert count(con, "SELECT count(*) FROM customers WHERE plan = ?", [QUOTED]) == expected
    assert count(con, "SELECT count(*) FROM customers WHERE plan = $1", (QUOTED,)) == expected
    assert count(con, "SELECT count(*) FROM customers WHERE plan = $p", {"p": QUOTED}) == expected
    # $1 may be used twice; values are values, never SQL
    assert count(con, "SELECT count(*) FROM customers WHERE plan = $1 OR plan = $1", [HOSTILE]) == 0
    assert count(con, "SELECT count(*) FROM customers WHERE plan = ?", [HOSTILE]) == 0


def test_a_question_mark_in_a_string_or_name_is_not_a_placeholder(con):
    row = con.execute("SELECT 'is it?' AS \"why?\", ? AS v -- or this?", ["yes"]).fetchone()
    assert row == ("is it?", "yes")


def test_psycopg_styles_on_postgres(con, customers, backend_name):
    if backend_name != "postgres":
        pytest.skip("psycopg's placeholder styles are PostgreSQL's")
    assert count(con, "SELECT count(*) FROM customers WHERE plan = %s", [QUOTED]) == 100
    named = "SELECT count(*) FROM customers WHERE plan = %(p)s AND plan LIKE 'o%%'"
    assert count(con, named, {"p": QUOTED}) == 100


def test_postgres_jsonb_question_mark_stays_an_operator(con, backend_name):
    if backend_name != "postgres":
        pytest.skip("the ? operator is PostgreSQL's")
    has_key = """SELECT '{"a": 1}'::jsonb ? 'a', j ? 'b' FROM (SELECT '{"b": 2}'::jsonb AS j) s"""
    assert con.execute(has_key).fetchall() == [(True, True)]
    with_value = """SELECT '{"a": 1}'::jsonb ? ?, (SELECT '{"b": 2}'::jsonb) ? $1"""
    with pytest.raises(ParameterError, match="one placeholder style"):
        con.execute(with_value, ["a"])
    assert con.execute("""SELECT '{"a": 1}'::jsonb ? ?""", ["z"]).fetchall() == [(False,)]


def test_every_predict_shape_takes_parameters(con, churn):
    by_hand = "SELECT count(*) FROM customers WHERE plan = 'pro' AND age < 40"
    expected = count(con, by_hand, None)
    where = "plan = ? AND age < ?"
    args = ["pro", 40]
    # one call per row in an expression, and the chunked SELECT PREDICT(m, *) FROM t
    per_row = f"SELECT count(*) FROM customers WHERE {where} AND PREDICT(churn, *) IS NOT NULL"
    assert count(con, per_row, args) == expected
    chunked = f"SELECT id, PREDICT(churn, *) AS p FROM customers WHERE {where}"
    assert len(con.execute(chunked, args).fetchall()) == expected
    # a LIMIT, itself a parameter, and the PREDICT the issue saw fail on PostgreSQL
    limited = "SELECT PREDICT(churn, *) FROM customers WHERE plan = ? LIMIT ?"
    assert len(con.execute(limited, ["pro", 2]).fetchall()) == 2
    in_cte = (
        "WITH c AS (SELECT * FROM customers WHERE plan = $1) "
        "SELECT count(PREDICT(churn, *)) FROM c WHERE age < $2"
    )
    assert count(con, in_cte, args) == expected
    joined = (
        "SELECT count(PREDICT(churn, c.age, c.plan, c.spend)) FROM customers c "
        "JOIN (SELECT id FROM customers WHERE age < ?) AS young ON young.id = c.id "
        "WHERE c.plan = ?"
    )
    assert count(con, joined, [40, "pro"]) == expected
    # the same values written in: the same answers
    scored = "SELECT id, PREDICT(churn, *) FROM customers WHERE {} ORDER BY id"
    written = con.execute(scored.format("plan = 'pro' AND age < 40")).fetchall()
    assert con.execute(scored.format(where), args).fetchall() == written


def test_create_model_reads_the_rows_its_parameters_choose(con, customers):
    chosen = "AS SELECT age, plan, spend, churned FROM customers WHERE plan = ? AND age > ?"
    con.execute(f"CREATE MODEL m TARGET churned {chosen}", [QUOTED, 30])
    expected = count(
        con,
        f"SELECT count(*) FROM customers WHERE plan = {QUOTED_SQL} AND age > 30",
        None,
    )
    assert rows_trained_on(con, "m") == expected
    # sampled in SQL before reading: the query's placeholders and the sample's together
    con.execute(
        "CREATE MODEL sampled TARGET churned OPTIONS (max_rows = 40) "
        "AS SELECT age, plan, spend, churned FROM customers WHERE plan <> $1 OR age > $2",
        [QUOTED, 30],
    )
    assert rows_trained_on(con, "sampled") == 40


def test_evaluate_and_the_table_functions_take_parameters(con, churn):
    on = "(SELECT age, plan, spend, churned FROM customers WHERE plan = ?)"
    bound = con.execute(f"EVALUATE MODEL churn ON {on}", [QUOTED]).fetchall()
    written = con.execute(f"EVALUATE MODEL churn ON {on.replace('?', QUOTED_SQL)}").fetchall()
    assert bound == written
    assert bound != con.execute(f"EVALUATE MODEL churn ON {on}", ["pro"]).fetchall()
    predicted = (
        "SELECT count(*) FROM ML.PREDICT(MODEL churn, (SELECT * FROM customers WHERE plan = ?))"
    )
    assert count(con, predicted, [QUOTED]) == 100
    evaluated = "SELECT * FROM ML.EVALUATE(MODEL churn, (SELECT * FROM customers WHERE age > $1))"
    assert con.execute(evaluated, [30]).fetchall() != con.execute(evaluated, [60]).fetchall()


def test_features_at_time_takes_parameters(con, customers):
    con.execute(
        "CREATE FEATURE TABLE spend_ft KEY id TIMESTAMP signed_up "
        "AS SELECT id, signed_up, spend FROM customers"
    )
    spine = "(SELECT id, CAST(? AS TIMESTAMP) AS at FROM customers WHERE plan = ?)"
    found = con.execute(
        f"SELECT count(spend) FROM FEATURES_AT_TIME(spend_ft, {spine})",
        [dt.datetime(2024, 12, 31), QUOTED],
    ).fetchall()
    assert found == [(100,)]
    before = con.execute(
        f"SELECT count(spend) FROM FEATURES_AT_TIME(spend_ft, {spine})",
        [dt.datetime(2023, 12, 31), QUOTED],
    ).fetchall()
    assert before == [(0,)]


def test_a_feature_tables_kept_query_refuses_parameters(con, customers):
    with pytest.raises(ParameterError, match="REFRESH FEATURE TABLE"):
        con.execute(
            "CREATE FEATURE TABLE ft KEY id TIMESTAMP signed_up "
            "AS SELECT id, signed_up, spend FROM customers WHERE plan = ?",
            [QUOTED],
        )
    assert con.execute("SHOW FEATURE TABLES").fetchall() == []


def test_explain_takes_parameters(con, churn):
    plan = con.execute("EXPLAIN SELECT PREDICT(churn, *) FROM customers WHERE plan = ?", ["pro"])
    assert plan.fetchall()


@pytest.mark.parametrize(
    ("sql", "params", "message"),
    [
        ("SELECT ?, ?", [1], "2 placeholders and 1 parameter was given"),
        ("SELECT ?", [1, 2], "1 placeholder and 2 parameters were given"),
        ("SELECT $1, $3", [1, 2], r"uses \$1, \$3 and 2 parameters were given"),
        ("SELECT 1", [1], "uses no placeholders"),
        ("SELECT ?, $1", [1], "one placeholder style"),
        ("SELECT $a", {"b": 1}, "no value was given for parameter"),
        ("SELECT $a", {"a": 1, "b": 2}, "are not in the statement"),
        ("SELECT ?", {"a": 1}, "take a sequence"),
        ("SELECT $a", [1], "take a mapping"),
        ("SELECT ?", "pro", "not str"),
    ],
)
def test_placeholders_and_values_that_do_not_match_are_one_clear_error(con, sql, params, message):
    with pytest.raises(ParameterError, match=message):
        con.execute(sql, params)
    assert con.execute("SELECT 1").fetchall() == [(1,)]  # and the connection goes on


def test_a_model_statement_with_unmatched_parameters_trains_nothing(con, customers):
    with pytest.raises(ParameterError):
        con.execute("CREATE MODEL m TARGET churned AS SELECT * FROM customers WHERE age > ?")
    with pytest.raises(ParameterError):
        con.execute(
            "CREATE MODEL m TARGET churned AS SELECT * FROM customers WHERE age > ?", [1, 2]
        )
    assert con.execute("SHOW MODELS").fetchall() == []
