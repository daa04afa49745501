"""``sqlml shell`` in a pseudo-terminal (pexpect) and ``sqlml run``'s output formats, as a
user of DuckDB's CLI or psql would use them, on both engines."""

from __future__ import annotations

import csv
import io
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pexpect
import pytest
from queries import FAST

ANSI = re.compile(r"\x1b\[[0-9;?]*[a-zA-Z]|\r")


@pytest.fixture
def database(database_for_a_process) -> str:
    """Table customers (120 rows) and model m, in a database another process may open."""
    frame = pd.DataFrame(
        {
            "id": range(120),
            "age": [20 + i % 40 for i in range(120)],
            "plan": [("basic", "pro")[i % 2] for i in range(120)],
        }
    )
    frame["churned"] = frame["age"] > 35
    return database_for_a_process(
        {"customers": frame},
        f"CREATE MODEL m TARGET churned OPTIONS ({FAST}) "
        "AS SELECT age, plan, churned FROM customers",
    )


def _environment() -> dict[str, str]:
    env = {**os.environ, "NO_COLOR": "1"}
    for name in ("SQLML_DEBUG", "COLUMNS", "LINES"):
        env.pop(name, None)
    return env


class Shell:
    """A shell in a terminal 100 columns wide; ``run`` types a line and gives what was
    printed up to the next prompt, without the terminal's escape codes."""

    def __init__(self, database: str, cwd: Path):
        self.process = pexpect.spawn(
            sys.executable,
            ["-m", "sqlml.cli", "shell", database],
            env=_environment(),
            cwd=str(cwd),
            encoding="utf-8",
            timeout=60,
            dimensions=(50, 100),
        )
        self.statements = 0
        self.process.expect("sqlml>")

    def run(self, line: str) -> str:
        # The prompt is drawn again as the user types, so the end of the output is a marker
        # query's answer, which the typed text does not contain.
        self.statements += 1
        mark = self.statements * 1000 + 7
        self.process.sendline(line)
        self.process.sendline(f"SELECT {self.statements} * 1000 + 7 AS mark;")
        self.process.expect(rf"\b{mark}\b")
        printed = ANSI.sub("", self.process.before)
        self.process.expect("sqlml>")
        # The marker's echo comes after the answer, or before it when the statement is
        # slow (typed ahead while it runs): then the answer is between the echo and the
        # marker's own output, which starts on the line before the one naming "mark".
        answer, _, later = printed.partition(f"SELECT {self.statements} * 1000 + 7")
        header = later.rfind("mark")
        if "running" in answer[-200:] and header > 0:
            box = later.rfind("\n", 0, later.rfind("\n", 0, header))
            answer += later[: max(box, 0)]
        return answer

    def type(self, text: str) -> None:
        self.process.send(text)

    def close(self) -> int:
        self.process.expect(pexpect.EOF)
        self.process.close()
        return int(self.process.exitstatus or 0)


@pytest.fixture
def shell(database: str, tmp_path: Path):
    opened = Shell(database, tmp_path)
    yield opened
    opened.process.close(force=True)


@pytest.mark.parametrize("word", ["\\q", "exit", "quit;", ".quit", "EOF"])
def test_every_way_of_leaving_leaves(shell, backend_name, word):
    if backend_name != "duckdb":
        pytest.skip("leaving is the shell's, not the engine's")
    if word == "EOF":
        shell.process.sendeof()
    else:
        shell.process.sendline(word)
    assert shell.close() == 0


def test_help_lists_the_commands_and_shows_a_statements_syntax(shell, backend_name):
    if backend_name != "duckdb":
        pytest.skip("help is the shell's, not the engine's")
    listing = shell.run("\\?")
    for command in ("\\q", "\\dt", "\\d [name]", ".mode", "\\x", ".maxrows", "\\timing"):
        assert command in listing
    assert shell.run(".help") == shell.run("help").replace("help", ".help", 1)
    syntax = shell.run("help CREATE MODEL")
    assert "Statement: CREATE MODEL" in syntax and "TARGET column" in syntax
    assert "DROP FEATURE TABLE" in shell.run("\\h drop")
    assert "no help for SELEC" in shell.run("\\h SELEC")


def test_tables_describe_and_models_on_both_engines(shell):
    for command in (".tables", "\\dt", "\\d"):
        assert re.search(r"│ \w+\s+│ customers\s+│ table │", shell.run(command)), command
    columns = shell.run("\\d customers")
    assert re.search(r"│ age\s+│ (BIGINT|bigint)", columns) and "plan" in columns
    model = shell.run("\\d m")
    assert re.search(r"│ feature\s+│\s+1 │ age", model)
    models = shell.run(".models")  # too wide for 100 columns: a line per column
    assert re.search(r"name\s+\| m\n", models) and re.search(r"task\s+\| classification", models)
    assert "no table, view, model or feature table named nothing" in shell.run("\\d nothing")


def test_a_terminal_shows_the_first_rows_and_says_how_to_see_more(shell):
    capped = shell.run("SELECT id FROM customers ORDER BY id;")
    assert "50 of 120 rows shown (70 more: .maxrows N shows N" in capped
    assert re.search(r"│\s+49 │", capped) and not re.search(r"│\s+50 │", capped)
    shell.run(".maxrows 0")
    assert re.search(r"│\s+119 │", shell.run("SELECT id FROM customers ORDER BY id;"))


def test_modes_expanded_display_and_timing(shell):
    shell.run(".mode csv")
    assert "id,plan\n0,basic\n1,pro" in shell.run(
        "SELECT id, plan FROM customers ORDER BY id LIMIT 2;"
    )
    shell.run(".mode json")
    printed = shell.run("SELECT id, plan FROM customers ORDER BY id LIMIT 2;")
    assert json.loads(printed[printed.index("[") :].splitlines()[0]) == [
        {"id": 0, "plan": "basic"},
        {"id": 1, "plan": "pro"},
    ]
    shell.run(".mode markdown")
    assert "| id | plan |\n| --- | --- |\n| 0 | basic |" in shell.run(
        "SELECT id, plan FROM customers ORDER BY id LIMIT 1;"
    )
    shell.run(".mode table")
    assert "Expanded display is on." in shell.run("\\x")
    assert "-[ RECORD 1 ]" in shell.run("SELECT id, plan FROM customers ORDER BY id LIMIT 1;")
    assert "Expanded display is off." in shell.run("\\x")
    # too wide for 100 columns: lines, not headers squashed into fragments
    wide = ", ".join(f"age AS a_rather_long_column_name_{i}" for i in range(8))
    assert "-[ RECORD 1 ]" in shell.run(f"SELECT {wide} FROM customers LIMIT 1;")
    assert "Timing is on." in shell.run("\\timing")
    assert re.search(r"Time: \d+\.\d{3} ms", shell.run("SELECT 1;"))


def test_tab_completes_tables_columns_models_and_keywords(shell):
    shell.type("sel\t")
    shell.process.expect("select")
    shell.type(" count(*) AS n FROM custo\t")
    shell.process.expect("customers")
    shell.type(" WHERE pla\t")
    shell.process.expect("plan")
    assert re.search(r"│\s+60 │", shell.run(" = 'pro';"))
    shell.run("CREATE TABLE fresh_table AS SELECT 1 AS a;")
    shell.type("SELECT * FROM fresh_t\t")
    shell.process.expect(completed("fresh_t", "able"))  # a table made in this session
    assert "1 row" in shell.run(";")
    shell.run(
        f"CREATE MODEL zebra_model TARGET churned OPTIONS ({FAST}) "
        "AS SELECT age, churned FROM customers;"
    )
    shell.run(
        "CREATE FEATURE TABLE yak_features KEY id TIMESTAMP day "
        "AS SELECT id, DATE '2024-01-01' AS day, age FROM customers;"
    )
    shell.type("SELECT count(PREDICT(zebra_m\t")
    shell.process.expect(completed("zebra_m", "odel"))
    shell.type(", age)) FROM FEATURES_AT_TIME(yak_f\t")
    shell.process.expect(completed("yak_f", "eatures"))
    answered = shell.run(", (SELECT id, DATE '2024-06-01' AS at FROM customers));")
    assert re.search(r"│\s+120 │", answered), answered


def completed(typed: str, rest: str) -> str:
    """What the terminal shows when ``typed`` is completed by ``rest``: under load the
    prompt may redraw between them, writing escape sequences in the middle."""
    return re.escape(typed) + r"(?:\x1b\[[0-9;?]*[a-zA-Z])*" + re.escape(rest)


def test_a_long_query_shows_its_progress_in_the_terminal(shell, backend_name):
    if backend_name != "duckdb":
        pytest.skip("PostgreSQL says nothing of a plain query's progress to a client")
    shell.process.sendline(
        "SELECT count(*) FROM range(1500000000) t(i) WHERE (i % 1000003) * 7 % 11 = 3;"
    )
    # the live line: the engine's estimate, a bar, the time taken and the time left
    shell.process.expect(r"query \d+%.*\d:\d\d:\d\d", timeout=60)
    shell.process.expect("1 row", timeout=120)


def _run(database: str, script: str, tmp_path: Path, *options: str) -> subprocess.CompletedProcess:
    path = tmp_path / "script.sql"
    path.write_text(script)
    return subprocess.run(
        [sys.executable, "-m", "sqlml.cli", "run", database, str(path), *options],
        capture_output=True,
        text=True,
        env=_environment(),
        timeout=300,
    )


def test_run_formats_results_for_programs(database, tmp_path):
    script = (
        "CREATE TABLE kept AS SELECT id, plan FROM customers;\nSELECT * FROM kept ORDER BY id;\n"
    )
    done = _run(database, script, tmp_path, "--format", "csv")
    assert done.returncode == 0, done.stderr
    rows = list(csv.DictReader(io.StringIO(done.stdout)))  # only data on stdout: no counts
    assert len(rows) == 120 and rows[0] == {"id": "0", "plan": "basic"}  # no cap in a pipe
    done = _run(
        database,
        "SELECT id, PREDICT(m, *) AS p FROM customers ORDER BY id;",
        tmp_path,
        "--format",
        "json",
    )
    predictions = json.loads(done.stdout)
    assert len(predictions) == 120 and set(predictions[0]) == {"id", "p"}


def test_notices_are_said_once_and_lightgbm_stays_quiet(database, tmp_path):
    script = (
        "CREATE MODEL bq OPTIONS (model_type = 'logistic_reg', input_label_cols = ['churned'], "
        "enable_global_explain = TRUE) AS SELECT age, plan, churned FROM customers;\n"
    )
    done = _run(database, script, tmp_path)
    assert done.returncode == 0, done.stderr
    assert done.stderr.count("enable_global_explain") == 1, done.stderr
    assert "SqlmlNotice" not in done.stderr and ".py:" not in done.stderr
    rejected = _run(
        database,
        "CREATE MODEL lgb TARGET churned OPTIONS (objective = 'nonsense') "
        "AS SELECT * FROM customers;",
        tmp_path,
    )
    assert rejected.returncode == 1
    assert "rejected OPTIONS (objective = 'nonsense'): Unknown objective" in rejected.stderr
    assert "[LightGBM]" not in rejected.stderr + rejected.stdout


def test_long_statements_say_how_long_they_have_run_and_have_left(database, tmp_path):
    script = (
        "CREATE MODEL slow TARGET churned OPTIONS (n_estimators = 300) "
        "AS SELECT age, plan, churned FROM customers;\n"
    )
    trained = _run(database, script, tmp_path)
    assert trained.returncode == 0, trained.stderr
    assert re.search(r"\[\s+\d+\.\d s\] lightgbm: tree 300/300", trained.stderr), trained.stderr
    if "postgresql" in database:
        return  # PostgreSQL says nothing of a plain query's progress to a client
    counting = "SELECT count(*) FROM range(1500000000) t(i) WHERE (i % 1000003) * 7 % 11 = 3;"
    done = _run(database, counting, tmp_path)
    assert re.search(r"\[\s+\d+\.\d s\] query \d+% \(about \d+ s left\)", done.stderr), done.stderr
