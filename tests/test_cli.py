"""The `sqlml` command, run for real in subprocesses as a user would."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest
from cli_support import sqlml_cli

import sqlml


def tables(output: str) -> list[list[dict[str, str]]]:
    """Every table the CLI printed, as rows keyed by column name (box drawing or ASCII)."""
    found: list[list[dict[str, str]]] = []
    header: list[str] | None = None
    for line in output.splitlines():
        if set(line) <= set("|+- ") or line.startswith("├"):
            continue  # the rule under the header (ASCII tables draw it with '|')
        if not line.startswith(("│", "|")):
            header = None
            continue
        cells = [cell.strip() for cell in re.split(r"[│|]", line)[1:-1]]
        if header is None:
            header = cells
            found.append([])
        else:
            found[-1].append(dict(zip(header, cells, strict=True)))
    return found


def table_with(output: str, *columns: str) -> list[dict[str, str]]:
    """The first non-empty table printed with all these columns."""
    return next(t for t in tables(output) if t and all(column in t[0] for column in columns))


def test_version(tmp_path: Path) -> None:
    result = sqlml_cli("--version", cwd=tmp_path)
    assert result.returncode == 0
    assert result.stdout.strip() == f"sqlml {sqlml.__version__}"


def test_usage_errors_exit_2(tmp_path: Path) -> None:
    assert sqlml_cli(cwd=tmp_path).returncode == 2
    missing = sqlml_cli("run", ":memory:", "missing.sql", cwd=tmp_path)
    assert missing.returncode == 2
    assert "cannot read missing.sql" in missing.stderr


def test_demo(tmp_path: Path) -> None:
    # A file where the demo's database goes is kept unless --force says to replace it.
    existing = tmp_path / "sqlml_demo.duckdb"
    existing.write_text("not a database")
    refused = sqlml_cli("demo", cwd=tmp_path)
    assert refused.returncode == 1 and "pass --force to replace it" in refused.stderr
    assert existing.read_text() == "not a database"
    result = sqlml_cli("demo", "--force", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert f"writes its tables and models to {existing.resolve()}" in result.stderr
    out = result.stdout
    # The SQL is shown before its result: the demo teaches the statements.
    assert "CREATE MODEL penguin_species" in out
    assert out.index("EVALUATE MODEL penguin_species;") < out.index("│ accuracy")
    accuracy = float(table_with(out, "accuracy")[0]["accuracy"])
    assert accuracy > 0.9
    # PREDICT vs actual: nearly every Adelie penguin is recognised as one.
    confusion = {
        (r["actual"], r["predicted"]): int(r["penguins"])
        for r in table_with(out, "actual", "penguins")
    }
    assert confusion[("Adelie", "Adelie")] > 140
    probabilities = table_with(out, "probabilities")
    assert len(probabilities) == 5
    assert re.fullmatch(
        r"\{Adelie: \S+, Chinstrap: \S+, Gentoo: \S+\}", probabilities[0]["probabilities"]
    )
    models = {row["name"]: row for row in table_with(out, "created_at")}  # SHOW MODELS
    assert set(models) == {"penguin_species", "penguin_mass", "penguin_mass_gbm"}
    assert models["penguin_mass"]["metric"] == "r2"
    assert 0.5 < float(models["penguin_mass"]["metric_value"]) <= 1
    assert "penguin_mass_gbm" in out and "linear_error_g" in out
    # The churn part: a feature table, a model trained as of label times, today's risks.
    created, refreshed = (t[0] for t in tables(out) if t and "added" in t[0])
    assert created["feature_table"] == refreshed["feature_table"] == "customer_features"
    assert int(created["rows"]) > 10_000 and created["added"] == created["rows"]
    assert refreshed["rows"] == created["rows"] and refreshed["added"] == "0"  # merged, not copied
    (churn,) = (t[0] for t in tables(out) if t and t[0].get("model") == "churn")
    assert float(churn["metric_value"]) > 0.65  # roc_auc on held-out labels
    risks = [float(r["churn_risk"]) for r in table_with(out, "churn_risk")]
    assert len(risks) == 5 and risks == sorted(risks, reverse=True)
    assert "training lightgbm" in result.stderr  # progress goes to stderr
    assert "Finished in" in out


SCRIPT = """\
CREATE TABLE readings AS
    SELECT range AS x, CASE WHEN range < 100 THEN 'low' ELSE 'high' END AS level
    FROM range(200);
INSERT INTO readings VALUES (50, 'low');
CREATE MODEL level_model TARGET level USING logistic_regression AS SELECT * FROM readings;
SELECT x, PREDICT(level_model, *) AS predicted
FROM (VALUES (5), (195)) v(x)
ORDER BY x;
"""


def test_run_prints_each_result(tmp_path: Path) -> None:
    script = tmp_path / "pipeline.sql"
    script.write_text(SCRIPT)
    result = sqlml_cli("run", ":memory:", str(script), cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    summary, predictions = tables(result.stdout)  # CREATE TABLE and INSERT print no table
    assert summary[0]["model"] == "level_model"
    assert summary[0]["algorithm"] == "logistic_regression"
    assert predictions == [{"x": "5", "predicted": "low"}, {"x": "195", "predicted": "high"}]
    assert "1 row affected" in result.stdout


@pytest.mark.parametrize(
    ("bad", "message", "line"),
    [
        ("SELEC 1 AS oops", "syntax error", 3),
        ("CREATE MODEL m TARGET a\n    USING lightgbmm AS SELECT * FROM t", "unknown algorithm", 4),
    ],
)
def test_run_stops_at_the_failing_line(tmp_path: Path, bad: str, message: str, line: int) -> None:
    script = tmp_path / "bad.sql"
    script.write_text(f"CREATE TABLE t AS SELECT 1 AS a;\n\n{bad};\nSELECT 42 AS never;\n")
    result = sqlml_cli("run", ":memory:", str(script), cwd=tmp_path)
    assert result.returncode == 1
    error, *excerpt = result.stderr.strip().splitlines()
    assert len(excerpt) in (0, 2)  # the line and a caret under the place, no traceback
    assert f"line {line}" in error and message in error and len(re.findall(r"line \d", error)) == 1
    assert "never" not in result.stdout


def test_run_points_at_the_error_in_a_multi_line_statement(tmp_path: Path) -> None:
    script = tmp_path / "bad.sql"
    script.write_text("CREATE TABLE t AS SELECT 1 AS a;\n\nSELECT a,\n       nope\nFROM t;\n")
    result = sqlml_cli("run", ":memory:", str(script), cwd=tmp_path)
    assert result.returncode == 1
    assert result.stderr.splitlines() == [
        'Error at line 4: Binder Error: Referenced column "nope" not found in FROM clause! '
        'Candidate bindings: "a"',
        "    4 |        nope",
        "      |        ^",
    ]


def test_shell_reads_a_script_from_stdin(tmp_path: Path) -> None:
    stdin = (
        "CREATE TABLE t AS SELECT range AS a FROM range(120);\n"
        "SELECT count(*) AS n,\n       max(a) AS top FROM t;\n"
        "SELECT a FROM t ORDER BY a;\n"
        "SHOW MODELS;\n"
    )
    result = sqlml_cli("shell", "db.duckdb", cwd=tmp_path, stdin=stdin)
    assert result.returncode == 0, result.stderr
    count, listing, models = tables(result.stdout)
    assert count == [{"n": "120", "top": "119"}]
    # a pipe gets every row (a terminal shows the first 50: tests/shared/test_shell.py)
    assert [row["a"] for row in listing] == [str(i) for i in range(120)]
    assert "120 rows" in result.stdout
    assert models == [] and "0 rows" in result.stdout  # SHOW MODELS on a fresh database

    failing = sqlml_cli("shell", "db.duckdb", cwd=tmp_path, stdin="SELECT nope FROM t;\n")
    assert failing.returncode == 1
    assert 'Referenced column "nope" not found' in failing.stderr
    assert "Traceback" not in failing.stderr


def test_run_reads_bigquery_sql_with_read(tmp_path):
    script = tmp_path / "bigquery.sql"
    script.write_text(
        "CREATE TABLE `t` AS SELECT 1 AS a;\n"
        "SELECT SAFE_CAST('41' AS INT64) + a AS answer FROM `t`;\n"
    )
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "sqlml.cli",
            "run",
            ":memory:",
            str(script),
            "--read",
            "bigquery",
        ],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert "42" in result.stdout
