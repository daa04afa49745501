"""The Python API as PEP 249 (DB-API 2.0) drivers behave, on both engines, and DuckDB's
data frames read by name."""

from __future__ import annotations

import pandas as pd
import pyarrow as pa
import pytest
from queries import FAST

import sqlml
from sqlml.errors import UnsupportedError


@pytest.fixture
def points(make_table) -> str:
    frame = pd.DataFrame({"x": [float(i) for i in range(60)], "label": [i % 3 for i in range(60)]})
    frame["flag"] = frame["x"] > 30
    return make_table("points", frame)


def test_module_says_what_it_is():
    assert sqlml.apilevel == "2.0"
    assert sqlml.threadsafety == 1
    assert sqlml.paramstyle == "qmark"
    assert issubclass(sqlml.ParameterError, sqlml.Error)


def test_description_has_the_same_type_codes_for_plain_sql_and_sqlml_statements(
    con, points, backend_name
):
    con.execute(f"CREATE MODEL m TARGET flag OPTIONS ({FAST}) AS SELECT x, flag FROM points")
    plain = con.execute("SELECT 'a' AS name, CAST(1 AS INTEGER) AS version, 0.5 AS score")
    shown = con.execute("SHOW MODELS")
    codes = {d[0]: d[1] for d in shown.description}
    plain_codes = {d[0]: d[1] for d in plain.description}
    assert codes["name"] == plain_codes["name"]  # VARCHAR on DuckDB, text on PostgreSQL
    assert codes["version"] == plain_codes["version"]
    expected = {"duckdb": ("VARCHAR", "INTEGER"), "postgres": ("text", "int4")}[backend_name]
    assert (codes["name"], codes["version"]) == expected
    predicted = con.execute("SELECT x, PREDICT(m, *) AS p FROM points LIMIT 3").description
    assert [d[1] for d in predicted] == (
        ["DOUBLE", "BOOLEAN"] if backend_name == "duckdb" else ["float8", "bool"]
    )
    assert all(len(d) == 7 for d in predicted)


def test_cursor_rowcount_fetchmany_and_iteration(con, points, backend_name):
    cursor = con.cursor()
    assert cursor.execute("SELECT x FROM points ORDER BY x") is not None
    assert cursor.fetchmany() == [(0.0,)]  # arraysize 1
    assert cursor.fetchmany(2) == [(1.0,), (2.0,)]
    assert len(list(con.execute("SELECT x FROM points"))) == 60
    shown = con.execute("SHOW MODELS")
    assert shown.rowcount == 0
    if backend_name == "postgres":
        assert con.execute("SELECT x FROM points").rowcount == 60
        assert con.execute("UPDATE points SET label = 9 WHERE x < 10").rowcount == 10
    else:
        assert con.execute("SELECT x FROM points").rowcount == -1  # as DuckDB's own cursor
    with con.execute("SELECT count(*) FROM points") as counted:
        assert counted.fetchone() == (60,)
    cursor.close()


def test_executemany_binds_each_set_of_parameters(con, points):
    con.executemany("INSERT INTO points VALUES (?, ?, ?)", [(100.0, 1, True), (101.0, 2, False)])
    assert con.execute("SELECT count(*) FROM points WHERE x >= 100").fetchone() == (2,)
    con.executemany("DELETE FROM points WHERE x = $1", [[100.0], [101.0]])
    assert con.execute("SELECT count(*) FROM points").fetchone() == (60,)


def test_commit_and_rollback_end_the_callers_transaction(con, points):
    con.commit()  # nothing open: nothing to do, as DB-API's
    con.rollback()
    con.execute("BEGIN")
    con.execute("DELETE FROM points")
    con.rollback()
    assert con.execute("SELECT count(*) FROM points").fetchone() == (60,)
    con.execute("BEGIN")
    con.execute("DELETE FROM points WHERE x < 30")
    con.commit()
    assert con.execute("SELECT count(*) FROM points").fetchone() == (30,)


def test_connection_is_a_context_manager(connect):
    with connect() as con:
        assert con.execute("SELECT 1").fetchone() == (1,)
    with pytest.raises(sqlml.SqlmlError, match="closed"):
        con.execute("SELECT 1")


def test_duckdb_reads_data_frames_in_the_callers_scope(con, backend_name):
    if backend_name != "duckdb":
        pytest.skip("DuckDB reads Python objects by name; PostgreSQL reads tables")
    training = pd.DataFrame({"x": [float(i) for i in range(80)], "y": [i > 40 for i in range(80)]})
    result = con.execute(
        f"CREATE MODEL from_frame TARGET y OPTIONS ({FAST}) AS SELECT * FROM training"
    )
    assert result.fetchone()[0] == "from_frame"
    fresh = pa.table({"x": [1.0, 79.0]})  # noqa: F841 (the query reads it by name)
    assert con.execute("SELECT PREDICT(from_frame, *) FROM fresh ORDER BY x").fetchall() == [
        (False,),
        (True,),
    ]
    con.register("registered", training)
    assert con.execute("SELECT count(*) FROM registered").fetchone() == (80,)
    # a real table of the same name comes first, as in DuckDB
    con.execute("CREATE TABLE training AS SELECT 1 AS x")
    assert con.execute("SELECT count(*) FROM training").fetchone() == (1,)


def test_register_on_postgres_says_what_to_do(con, backend_name):
    if backend_name != "postgres":
        pytest.skip("PostgreSQL's side")
    with pytest.raises(UnsupportedError, match="load it into a table"):
        con.register("frame", pd.DataFrame({"a": [1]}))
