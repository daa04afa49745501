"""PREDICT in chunks on PostgreSQL (sqlml/predict/batch.py, README "PREDICT and PREDICT_PROBA").

A SELECT over one table or subquery scores chunks of 10,000 rows with the model's batch
function; joins and LIMIT call the per-row function. Which one ran is read from the server's
own bookkeeping: with ``track_functions`` on, ``pg_stat_xact_user_functions`` names every
PL/Python function the transaction called and how often. Whatever the shape, the answers are
the per-row function's, row by row.
"""

from __future__ import annotations

from collections.abc import Iterator

import psycopg
import pytest
from pg_support import FAST, FEATURES, GENERATED_ROWS, execute, rows

import sqlml
from sqlml._udfs_loader import udfs

# The targets follow from the features (pg_support.GENERATED_ROWS).
_TARGETS = """
    SELECT *,
        CASE WHEN coalesce(x, 5) + 3 * (word = 'red')::int + 2 * coalesce(flag, false)::int
                  + 2 * (day > DATE '2021-01-01')::int + (id % 5 = 0)::int > 7
             THEN 'yes' ELSE 'no' END AS label,
        ((k + extract(hour FROM ts)::int + coalesce(length(word), 0)) % 3)::integer AS cls,
        coalesce(x, 4) * 2 + k + extract(day FROM day)::float8 / 3
            + extract(hour FROM ts)::float8 / 5 AS amount
    FROM ({generated}) g
"""
# Rows training never saw: every feature NULL, unknown categories, other dates and times.
_SPECIAL = """
    INSERT INTO score VALUES
        (1, NULL, NULL, NULL, NULL, NULL, NULL),
        (2, 5.5, 3, 'purple', true, DATE '2035-05-05', TIMESTAMP '2024-02-29 23:59:59.999999'),
        (3, 9.9, 6, '', false, DATE '1999-12-31', TIMESTAMP '1970-01-01 00:00:00'),
        (4, -100, -1, 'RED', NULL, DATE '2020-06-15', TIMESTAMP '2021-06-01 12:34:56.5'),
        (5, 1e9, 100, 'red', true, NULL, TIMESTAMP '2022-01-01 06:00:00'),
        (6, 0.1, 2, 'green', false, DATE '2021-01-02', NULL)
"""
MODELS = {"bin": "label", "multi": "cls", "reg": "amount"}


def per_row(model: str, proba: bool = False) -> str:
    """A direct call of the model's per-row function in schema sqlml."""
    return f'sqlml."{udfs.naming.predict_function(model, proba)}"({FEATURES})'


@pytest.fixture(scope="module")
def tables(pg: psycopg.Connection) -> None:
    pg.execute(
        "CREATE TABLE train AS "
        + _TARGETS.format(generated=GENERATED_ROWS.format(start=1, stop=600))
    )
    pg.execute("CREATE TABLE score AS " + GENERATED_ROWS.format(start=10_001, stop=10_400))
    pg.execute(_SPECIAL)
    for model, target in MODELS.items():
        execute(
            pg,
            f"CREATE MODEL {model} TARGET {target} FUNCTION {model}_f OPTIONS ({FAST}) "
            f"AS SELECT {FEATURES}, {target} FROM train",
        )


@pytest.fixture(scope="module")
def con(pg: psycopg.Connection, tables) -> Iterator[sqlml.Connection]:
    with sqlml.connect(pg) as con:
        yield con


def calls(pg: psycopg.Connection, con: sqlml.Connection, query: str) -> tuple[list, dict]:
    """A query's rows through the client, and the PL/Python functions it called (how often).

    The counts a session has not yet sent to the statistics system stay in the view after
    their transaction ends, so what this query called is the difference.
    """
    snapshot = "SELECT funcname, calls FROM pg_stat_xact_user_functions"
    with pg.transaction():
        pg.execute("SET LOCAL track_functions = 'pl'")
        before = dict(rows(pg, snapshot))
        result = con.execute(query).fetchall()
        after = dict(rows(pg, snapshot))
    return result, {f: n - before.get(f, 0) for f, n in after.items() if n != before.get(f, 0)}


def batch_name(model: str, proba: bool = False) -> str:
    return udfs.naming.predict_function(model, proba, batch=True)


def row_name(model: str, proba: bool = False) -> str:
    return udfs.naming.predict_function(model, proba)


def plan(con: sqlml.Connection, query: str) -> str:
    return "\n".join(r[0] for r in con.execute(f"EXPLAIN {query}").fetchall())


def keyed(result: list[tuple]) -> dict:
    return {r[0]: r[1:] for r in result}


# -- which function runs -------------------------------------------------------------------------


def test_a_select_over_one_table_scores_in_chunks(pg, con):
    # The chunks are built by aggregates the query itself does not have.
    assert "Aggregate" in plan(con, "SELECT id, PREDICT(bin, *) FROM score")
    result, called = calls(pg, con, "SELECT id, PREDICT(bin, *) FROM score")
    assert called == {batch_name("bin"): 1}  # 406 rows: one chunk, one call
    assert len(result) == 406


def test_a_join_calls_the_per_row_function(pg, con):
    query = "SELECT s.id, PREDICT(bin, s.*) FROM score s JOIN (SELECT 1 AS one) o ON true"
    assert "Aggregate" not in plan(con, query)
    result, called = calls(pg, con, query)
    assert called == {row_name("bin"): 406}
    batch, _ = calls(pg, con, "SELECT id, PREDICT(bin, *) FROM score")
    assert keyed(result) == keyed(batch)


@pytest.mark.parametrize(
    ("query", "by_hand"),
    [
        (
            "SELECT id, PREDICT(bin, *) FROM score WHERE k > 2 ORDER BY id DESC LIMIT 50 OFFSET 3",
            "SELECT id FROM score WHERE k > 2 ORDER BY id DESC LIMIT 50 OFFSET 3",
        ),
        # LIMIT over groups: every row is read, the LIMIT stays outside.
        (
            "SELECT k, count(*), avg(PREDICT_PROBA(bin, *)) FROM score "
            "GROUP BY k ORDER BY k LIMIT 3",
            "SELECT k FROM score GROUP BY k ORDER BY k LIMIT 3",
        ),
    ],
    ids=["rows", "groups"],
)
def test_a_limit_picks_its_rows_first_then_scores_them_in_chunks(pg, con, query, by_hand):
    result, called = calls(pg, con, query)
    assert set(called) == {batch_name("bin", "PREDICT_PROBA" in query)}
    assert [r[0] for r in result] == [r[0] for r in rows(pg, by_hand)]  # the same rows, in order
    if "GROUP BY" not in query:
        expected = keyed(rows(pg, f"SELECT id, bin_f({FEATURES}) FROM score"))
        assert keyed(result) == {i: expected[i] for i in keyed(result)}


@pytest.mark.parametrize(
    ("query", "by_hand"),
    [
        (
            "SELECT id, PREDICT_PROBA(bin, *) AS p FROM score ORDER BY p DESC, id LIMIT 5",
            f"SELECT id, {per_row('bin', proba=True)} AS p FROM score ORDER BY p DESC, id LIMIT 5",
        ),
        (
            "SELECT id, PREDICT(bin, *) FROM score ORDER BY 2, 1 LIMIT 5",
            f"SELECT id, bin_f({FEATURES}) FROM score ORDER BY 2, 1 LIMIT 5",
        ),
    ],
    ids=["by-name", "by-position"],
)
def test_a_limit_on_the_order_of_predictions_scores_every_row_in_chunks(pg, con, query, by_hand):
    result, called = calls(pg, con, query)
    assert set(called) == {batch_name("bin", "PREDICT_PROBA" in query)}
    assert result == rows(pg, by_hand)


def test_a_limit_on_rows_predict_filters_scores_row_by_row(pg, con):
    # The per-row function may stop as soon as 5 rows pass; a batch would score them all.
    query = "SELECT id FROM score WHERE PREDICT(bin, *) = 'yes' LIMIT 5"
    result, called = calls(pg, con, query)
    assert set(called) == {row_name("bin")} and len(result) == 5


# -- the same answers as the per-row function -----------------------------------------------------

KINDS = {
    "binary label": ("PREDICT(bin, *)", "bin_f(x, k, word, flag, day, ts)"),
    "binary proba": ("PREDICT_PROBA(bin, *)", per_row("bin", proba=True)),
    "multiclass label": ("PREDICT(multi, *)", "multi_f(x, k, word, flag, day, ts)"),
    "multiclass proba": ("PREDICT_PROBA(multi, *)", per_row("multi", proba=True)),
    "regression": ("PREDICT(reg, *)", "reg_f(x, k, word, flag, day, ts)"),
}


@pytest.mark.parametrize(("batch", "row"), KINDS.values(), ids=KINDS.keys())
def test_batch_answers_equal_the_per_row_function(pg, con, batch, row):
    chunked, called = calls(pg, con, f"SELECT id, {batch} FROM score")
    assert len(called) == 1 and "_batch_" in next(iter(called)), called
    expected = keyed(rows(pg, f"SELECT id, {row} FROM score"))
    assert keyed(chunked) == expected
    # NULLs everywhere, unknown categories and odd dates get answers, not errors or NULLs.
    assert all(expected[i][0] is not None for i in range(1, 7))
    assert len({repr(v) for v in expected.values()}) >= 2


def test_result_types(pg, con):
    (row,) = con.execute(
        "SELECT PREDICT(bin, *), PREDICT_PROBA(bin, *), PREDICT(multi, *), "
        "PREDICT_PROBA(multi, *), PREDICT(reg, *) FROM score WHERE id = 2"
    ).fetchall()
    assert isinstance(row[0], str) and row[0] in ("yes", "no")
    assert isinstance(row[1], float) and 0 <= row[1] <= 1
    assert isinstance(row[2], int) and row[2] in (0, 1, 2)
    assert isinstance(row[3], dict) and set(row[3]) == {"0", "1", "2"}
    assert isinstance(row[4], float)


# -- query shapes ----------------------------------------------------------------------------------


def test_select_star_shows_the_tables_columns_plus_predict(pg, con):
    cursor = con.execute("SELECT *, PREDICT(bin, *) FROM score")
    columns = [d[0] for d in cursor.description]
    assert columns == ["id", "x", "k", "word", "flag", "day", "ts", "predict"]
    result = {r[0]: r for r in cursor.fetchall()}
    table = {r[0]: r for r in rows(pg, f"SELECT *, bin_f({FEATURES}) FROM score")}
    assert result == table


def test_select_star_carries_columns_of_every_type(pg, con):
    # Arrays of different lengths, NULL arrays and jsonb beside the features.
    pg.execute(
        "CREATE TABLE extra AS SELECT *, CASE WHEN id % 7 = 0 THEN NULL "
        "ELSE array_fill(id::int, ARRAY[1 + (id % 3)::int]) END AS tags, "
        "jsonb_build_object('id', id) AS doc FROM score"
    )
    expected = {r[0]: r for r in rows(pg, f"SELECT *, bin_f({FEATURES}) FROM extra")}
    cursor = con.execute("SELECT *, PREDICT(bin, *) FROM extra")
    assert [d[0] for d in cursor.description][-3:] == ["tags", "doc", "predict"]
    assert {r[0]: r for r in cursor.fetchall()} == expected


def test_where_on_a_column_is_applied(pg, con):
    result, called = calls(pg, con, "SELECT id, PREDICT(reg, *) FROM score WHERE id % 3 = 0")
    assert called == {batch_name("reg"): 1}
    expected = rows(pg, f"SELECT id, reg_f({FEATURES}) FROM score WHERE id % 3 = 0")
    assert keyed(result) == keyed(expected)
    assert len(result) == 135


def test_predict_in_where(pg, con):
    result, called = calls(pg, con, "SELECT id FROM score WHERE PREDICT(bin, *) = 'yes'")
    assert called == {batch_name("bin"): 1}
    expected = rows(pg, f"SELECT id FROM score WHERE bin_f({FEATURES}) = 'yes'")
    assert sorted(result) == sorted(expected) and 0 < len(expected) < 406
    likely = con.execute("SELECT id FROM score s WHERE PREDICT_PROBA(bin, s.*) > 0.5").fetchall()
    assert sorted(likely) == sorted(
        rows(pg, f"SELECT id FROM score WHERE {per_row('bin', proba=True)} > 0.5")
    )


def test_two_models_in_one_query(pg, con):
    result, called = calls(
        pg,
        con,
        "SELECT id, PREDICT(bin, *) AS b, PREDICT(reg, *) AS r, PREDICT_PROBA(multi, *) AS m "
        "FROM score",
    )
    assert called == {batch_name("bin"): 1, batch_name("reg"): 1, batch_name("multi", True): 1}
    expected = rows(
        pg,
        f"SELECT id, bin_f({FEATURES}), reg_f({FEATURES}), {per_row('multi', True)} FROM score",
    )
    assert keyed(result) == keyed(expected)


def test_group_by_predict_and_a_subquery_source(pg, con):
    grouped = con.execute(
        "SELECT PREDICT(multi, *) AS c, count(*) FROM score GROUP BY PREDICT(multi, *)"
    ).fetchall()
    assert sorted(grouped) == sorted(
        rows(pg, f"SELECT multi_f({FEATURES}), count(*) FROM score GROUP BY 1")
    )
    result, called = calls(
        pg, con, "SELECT id, PREDICT(reg, *) FROM (SELECT * FROM score WHERE flag) AS s"
    )
    assert called == {batch_name("reg"): 1}
    assert keyed(result) == keyed(rows(pg, f"SELECT id, reg_f({FEATURES}) FROM score WHERE flag"))


def test_sources_that_read_the_statements_ctes(pg, con):
    # A subquery over a CTE, and a CTE that shadows a table of the same name (its rows, not
    # the table's blocks, are scored).
    expected = keyed(rows(pg, f"SELECT id, reg_f({FEATURES}) FROM score WHERE flag"))
    for query in (
        "WITH f AS (SELECT * FROM score WHERE flag) SELECT id, PREDICT(reg, *) "
        "FROM (SELECT * FROM f) AS s",
        "WITH score AS (SELECT * FROM score WHERE flag) SELECT id, PREDICT(reg, *) FROM score",
    ):
        result, called = calls(pg, con, query)
        assert called == {batch_name("reg"): 1}
        assert keyed(result) == expected


def test_an_empty_table(pg, con):
    pg.execute("CREATE TABLE empty AS SELECT * FROM score WHERE false")
    assert con.execute("SELECT id, PREDICT(bin, *) FROM empty").fetchall() == []
    assert con.execute("SELECT avg(PREDICT(reg, *)) FROM empty").fetchall() == [(None,)]
    assert con.execute("SELECT count(*) FROM empty WHERE PREDICT(bin, *) = 'yes'").fetchall() == [
        (0,)
    ]


@pytest.fixture(scope="module")
def big(pg: psycopg.Connection, tables) -> dict:
    """25,000 rows (chunks of 10,000: three of them) and the per-row function's answers."""
    pg.execute("CREATE TABLE big AS " + GENERATED_ROWS.format(start=1, stop=25_000))
    pg.execute("ANALYZE big")
    return keyed(rows(pg, f"SELECT id, reg_f({FEATURES}) FROM big"))


def test_more_rows_than_one_chunk_keep_their_identity(pg, con, big):
    result, called = calls(pg, con, "SELECT id, PREDICT(reg, *) FROM big")
    assert list(called) == [batch_name("reg")] and called[batch_name("reg")] >= 3
    assert len(result) == 25_000
    assert keyed(result) == big
    assert len({v for (v,) in big.values()}) > 100


def test_chunks_that_a_where_empties(pg, con, big):
    # Only the last chunk's rows pass; the chunks before it have none.
    result = con.execute("SELECT id, PREDICT(reg, *) FROM big WHERE id > 24900").fetchall()
    assert keyed(result) == {i: big[i] for i in range(24_901, 25_001)}
    assert con.execute("SELECT id, PREDICT(reg, *) FROM big WHERE id < 0").fetchall() == []


def test_a_table_never_analyzed_is_still_scored_in_chunks(pg, con, big):
    # Right after a bulk load the planner has no statistics; chunks stay 10,000 rows.
    pg.execute("CREATE TABLE fresh AS " + GENERATED_ROWS.format(start=1, stop=25_000))
    result, called = calls(pg, con, "SELECT id, PREDICT(reg, *) FROM fresh")
    assert keyed(result) == big
    assert called[batch_name("reg")] >= 3
