"""DuckDB only: models live in the database file and serve any later process; the client
wraps an existing duckdb connection; DuckDB's own statements and parameters pass through."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import datasets
import duckdb
import pytest
from queries import FAST

import sqlml


@pytest.fixture
def db_path(tmp_path: Path) -> Path:
    return tmp_path / "models.duckdb"


@pytest.fixture
def trained(db_path: Path) -> dict:
    """A file with penguins, a model with a FUNCTION and a view using PREDICT; the connection
    is closed again, and what it predicted is returned."""
    con = sqlml.connect(str(db_path))
    try:
        frame = datasets.penguins()
        con.backend.con.register("frame", frame)
        con.execute("CREATE TABLE penguins AS SELECT * FROM frame")
        con.backend.con.unregister("frame")
        con.execute(
            f"CREATE MODEL species TARGET species FUNCTION species_of OPTIONS ({FAST}) "
            "FROM penguins"
        )
        con.execute(
            "CREATE VIEW scored AS SELECT PREDICT(species, *) AS label, "
            "PREDICT_PROBA(species, *) AS probs FROM penguins"
        )
        labels = [r[0] for r in con.execute("SELECT label FROM scored").fetchall()]
        probs = [dict(r[0]) for r in con.execute("SELECT probs FROM scored").fetchall()]
    finally:
        con.close()
    return {"labels": labels, "probs": probs}


def _run_elsewhere(db_path: Path, body: str, options: str = "") -> dict:
    """Run ``body`` in a new Python process with ``con`` open on the file (connected with
    ``options``); it sets ``out``."""
    script = (
        textwrap.dedent(
            f"""
        import json, sys
        import sqlml
        con = sqlml.connect(sys.argv[1]{options})
        out = {{}}
        """
        )
        + textwrap.dedent(body)
        + "\nprint(json.dumps(out))\n"
    )
    return json.loads(_python(script, db_path).strip().splitlines()[-1])


def _python(script: str, db_path: Path) -> str:
    """What ``script`` prints, run in a new Python process with the file's path as argv[1]."""
    done = subprocess.run(
        [sys.executable, "-c", script, str(db_path)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    return done.stdout


def test_a_model_predicts_in_a_new_process(db_path, trained):
    out = _run_elsewhere(
        db_path,
        """
        rows = con.execute("SELECT PREDICT(species, *), PREDICT_PROBA(species, p.*) "
                           "FROM penguins p").fetchall()
        out["labels"] = [r[0] for r in rows]
        out["probs"] = [dict(r[1]) for r in rows]
        out["models"] = [r[0] for r in con.execute("SHOW MODELS").fetchall()]
        """,
    )
    assert out["models"] == ["species"]
    assert out["labels"] == trained["labels"]
    for here, there in zip(trained["probs"], out["probs"], strict=True):
        assert there == pytest.approx(here, abs=1e-12)


def test_a_model_another_process_trained_while_the_file_was_closed_here(db_path):
    """This process had the file open (with no model) and closed it; another then trained a
    model into it. Opening it again here finds that model's functions (dbt-duckdb trains in
    its own process between a test's looks at the file)."""
    con = sqlml.connect(str(db_path))
    con.execute("CREATE TABLE points AS SELECT g AS x, 2 * g AS y FROM range(50) AS t(g)")
    con.close()
    _run_elsewhere(
        db_path,
        """
        con.execute("CREATE MODEL later TARGET y USING linear_regression "
                    "AS SELECT x, y FROM points")
        """,
    )
    con = sqlml.connect(str(db_path))
    try:
        rows = con.execute("SELECT PREDICT(later, *) FROM points ORDER BY x LIMIT 3").fetchall()
    finally:
        con.close()
    assert [row[0] for row in rows] == pytest.approx([0.0, 2.0, 4.0], abs=1e-3)


def test_a_view_and_a_function_work_in_a_new_process(db_path, trained):
    out = _run_elsewhere(
        db_path,
        """
        out["view"] = [r[0] for r in con.execute("SELECT label FROM scored").fetchall()]
        out["function"] = [r[0] for r in con.execute(
            "SELECT species_of(island, bill_length_mm, bill_depth_mm, flipper_length_mm, "
            "body_mass_g, sex, year) FROM penguins").fetchall()]
        """,
    )
    assert out["view"] == trained["labels"]
    assert out["function"] == trained["labels"]


def test_a_copied_file_takes_its_models_along(db_path, trained, tmp_path):
    copy = tmp_path / "copy.duckdb"
    shutil.copy(db_path, copy)
    with sqlml.connect(str(copy)) as con:
        assert [r[0] for r in con.execute("SELECT label FROM scored").fetchall()] == (
            trained["labels"]
        )
        con.execute("DROP MODEL species")
    with sqlml.connect(str(db_path)) as original:  # the original is untouched
        assert [r[0] for r in original.execute("SHOW MODELS").fetchall()] == ["species"]


def test_wrapping_an_existing_duckdb_connection(db_path, trained):
    raw = duckdb.connect(str(db_path))
    try:
        con = sqlml.connect(raw)
        assert [r[0] for r in con.execute("SELECT label FROM scored").fetchall()] == (
            trained["labels"]
        )
        con.close()  # the caller's connection stays open
        assert raw.execute("SELECT count(*) FROM penguins").fetchone() == (344,)
    finally:
        raw.close()


def test_query_parameters_with_predict(db_path, trained):
    with sqlml.connect(str(db_path)) as con:
        rows = con.execute(
            "SELECT PREDICT(species, *) FROM penguins WHERE island = ? AND year = ?",
            ["Biscoe", 2008],
        ).fetchall()
        expected = con.execute(
            "SELECT count(*) FROM penguins WHERE island = 'Biscoe' AND year = 2008"
        ).fetchone()[0]
        assert len(rows) == expected > 0


def test_in_memory_database():
    with sqlml.connect(":memory:") as con:
        con.execute(
            "CREATE TABLE t AS SELECT i::DOUBLE AS x, i % 2 = 0 AS even FROM range(200) r(i)"
        )
        con.execute("CREATE MODEL m TARGET even OPTIONS (n_estimators = 5, n_jobs = 1) FROM t")
        assert con.execute("SELECT count(PREDICT(m, *)) FROM t").fetchone() == (200,)


def test_describe_of_a_table_named_model(db_path):
    """DuckDB's DESCRIBE / SHOW of a table called ``model`` is plain SQL, not an ML error."""
    with sqlml.connect(str(db_path)) as con:
        con.execute("CREATE TABLE model AS SELECT 1 AS id, 'x' AS name")
        columns = [r[0] for r in con.execute("DESCRIBE model").fetchall()]
        assert columns == ["id", "name"]
        assert con.execute("SELECT model.name FROM model").fetchall() == [("x",)]


def test_plain_sql_with_ml_looking_words_passes_through(db_path):
    with sqlml.connect(str(db_path)) as con:
        con.execute("CREATE TABLE model AS SELECT 1 AS model, 2 AS predict, 3 AS models")
        assert con.execute("SELECT model, predict, models FROM model").fetchall() == [(1, 2, 3)]
        con.execute("CREATE MACRO predict_x(a) AS a + 1")
        assert con.execute("SELECT predict_x(model) FROM model").fetchall() == [(2,)]
        assert con.execute("SELECT 'PREDICT(m, *)' AS s").fetchall() == [("PREDICT(m, *)",)]
        con.execute("DROP TABLE model")


# -- read-only use (issue 10, finding 9) ------------------------------------------------


def _labels(con: sqlml.Connection) -> list[str]:
    return [r[0] for r in con.execute("SELECT PREDICT(species, *) FROM penguins").fetchall()]


def test_a_read_only_connection_predicts_shows_and_describes(db_path, trained):
    with sqlml.connect(str(db_path), read_only=True) as con:
        assert _labels(con) == trained["labels"]
        assert [r[0] for r in con.execute("SELECT label FROM scored").fetchall()] == trained[
            "labels"
        ]
        assert [r[0] for r in con.execute("SHOW MODELS").fetchall()] == ["species"]
        assert con.execute("DESCRIBE MODEL species").fetchall()
        assert con.execute("SHOW MODEL VERSIONS species").fetchall()
    with sqlml.connect(duckdb.connect(str(db_path), read_only=True)) as wrapped:
        assert _labels(wrapped) == trained["labels"]


@pytest.mark.parametrize(
    "statement",
    [
        f"CREATE MODEL other TARGET species OPTIONS ({FAST}) FROM penguins",
        f"CREATE OR REPLACE MODEL species TARGET species OPTIONS ({FAST}) FROM penguins",
        "DROP MODEL species",
        "ALTER MODEL species SET VERSION 1",
        "CREATE FEATURE TABLE f KEY species TIMESTAMP ts AS SELECT *, now() AS ts FROM penguins",
    ],
)
def test_a_read_only_connection_refuses_what_writes(db_path, trained, statement):
    with sqlml.connect(str(db_path), read_only=True) as con:
        with pytest.raises(sqlml.ReadOnlyError, match="read-only"):
            con.execute(statement)
        assert _labels(con) == trained["labels"]  # still usable, nothing changed
        assert [r[0] for r in con.execute("SHOW MODELS").fetchall()] == ["species"]


def test_readers_share_a_file_and_a_writer_is_told_who_holds_it(db_path, trained):
    with sqlml.connect(str(db_path), read_only=True) as con:
        elsewhere = _run_elsewhere(
            db_path,
            'out["labels"] = [r[0] for r in con.execute("SELECT label FROM scored").fetchall()]',
            ", read_only=True",
        )
        assert elsewhere["labels"] == trained["labels"]
        assert _labels(con) == trained["labels"]
        script = textwrap.dedent(
            """
            import sys, sqlml
            try:
                sqlml.connect(sys.argv[1])
            except sqlml.DatabaseInUseError as error:
                print(error)
            """
        )
        said = _python(script, db_path)
        assert "is open in" in said and "read_only=True" in said


def test_a_file_without_a_catalog_cannot_be_opened_read_only(db_path):
    duckdb.connect(str(db_path)).execute("CREATE TABLE t AS SELECT 1 AS a").close()
    with pytest.raises(sqlml.ReadOnlyError, match="open it once for writing"):
        sqlml.connect(str(db_path), read_only=True)
