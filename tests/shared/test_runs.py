"""Every training run recorded (SQL.md section 4): SHOW RUNS [m] and sqlml.runs, with the
options as given and as resolved, the data's fingerprint, the libraries' versions, timings,
metrics and status, failed runs and each trial of a search too."""

from __future__ import annotations

import json

import pytest
from queries import FAST, one, rows, values

import sqlml
from sqlml.errors import InvalidTrainingDataError, ModelNotFoundError
from sqlml.models.create import _outcome


def facts(con: sqlml.Connection, run_id: str) -> dict:
    (text,) = values(con, f"SELECT facts FROM sqlml.runs WHERE run_id = '{run_id}'")
    return json.loads(text)


def test_a_run_records_what_made_the_version(con, penguins):
    train = f"MODEL species TARGET species OPTIONS ({FAST}) AS SELECT * FROM penguins"
    con.execute(f"CREATE {train}")
    con.execute(f"CREATE OR REPLACE {train} WHERE island <> 'Dream'")
    first, second = rows(con, "SHOW RUNS species")
    assert (first["status"], first["version"], second["version"]) == ("succeeded", 1, 2)
    shown = one(con, "SHOW MODELS")
    assert (second["metric"], second["metric_value"]) == (shown["metric"], shown["metric_value"])
    assert json.loads(first["options"]) == {"n_estimators": 20, "n_jobs": 1}
    given = facts(con, first["run_id"])
    assert given["resolved_options"]["n_estimators"] == 20
    assert given["resolved_options"]["num_leaves"] == 31  # LightGBM's default, filled in
    assert given["data"]["rows"] == values(con, "SELECT count(*) FROM penguins")[0]
    assert ["species", given["data"]["columns"][-1][1]] == given["data"]["columns"][-1]
    assert given["libraries"]["sqlml"] == sqlml.__version__ and given["libraries"]["lightgbm"]
    assert set(given["timings"]) >= {"prepare", "fit"} and "roc_auc" in given["metrics"]
    again = facts(con, second["run_id"])
    assert again["data"]["query_sha256"] != given["data"]["query_sha256"]
    assert again["data"]["content_sha256"] != given["data"]["content_sha256"]
    assert first["seconds"] > 0 and first["started_at"] < second["started_at"]
    described = {r["name"]: r["value"] for r in rows(con, "DESCRIBE MODEL species")}
    assert described["run_id"] == second["run_id"]


def test_the_same_rows_in_another_order_have_the_same_content_hash(con, penguins):
    train = f"OR REPLACE MODEL m TARGET species OPTIONS ({FAST}) AS SELECT * FROM penguins"
    con.execute(f"CREATE {train} ORDER BY body_mass_g, bill_length_mm, sex, island")
    con.execute(f"CREATE {train} ORDER BY body_mass_g DESC, bill_length_mm, sex, island")
    first, second = (facts(con, run["run_id"])["data"] for run in rows(con, "SHOW RUNS m"))
    assert first["query_sha256"] != second["query_sha256"]
    assert first["content_sha256"] == second["content_sha256"]
    assert len(first["content_sha256"]) == 64


def test_a_failed_run_is_recorded_with_its_message(con, make_table):
    import pandas as pd

    make_table("empty_target", pd.DataFrame({"x": [1.0, 2.0, 3.0], "y": [None, None, None]}))
    with pytest.raises(InvalidTrainingDataError):
        con.execute("CREATE MODEL nothing TARGET y AS SELECT x, y FROM empty_target")
    (run,) = rows(con, "SHOW RUNS nothing")  # the run of a model that does not exist
    assert run["status"] == "failed" and run["version"] is None
    assert "InvalidTrainingDataError" in run["error_message"]
    assert [r["model"] for r in rows(con, "SHOW RUNS")] == ["nothing"]
    with pytest.raises(ModelNotFoundError):
        con.execute("SHOW RUNS never_trained")


def test_each_trial_of_a_search_is_a_run(con, breast_cancer):
    con.execute(
        "CREATE MODEL tumour TARGET diagnosis OPTIONS (trials = 3, n_estimators = 10) "
        "AS SELECT * FROM breast_cancer"
    )
    (run,) = rows(con, "SHOW RUNS tumour")
    trials = rows(
        con,
        f"SELECT run_id, status, metric, metric_value FROM sqlml.runs "
        f"WHERE parent_run = '{run['run_id']}' ORDER BY run_id",
    )
    assert [t["run_id"] for t in trials] == [f"{run['run_id']}/{i}" for i in (1, 2, 3)]
    assert {t["metric"] for t in trials} == {"roc_auc"} and all(t["metric_value"] for t in trials)


def test_a_run_stopped_by_ctrl_c_or_a_cancel_is_cancelled():
    class Cancelled(Exception):
        sqlstate = "57014"

    assert _outcome(KeyboardInterrupt()) == "cancelled" == _outcome(Cancelled())
    assert _outcome(ValueError("bad")) == "failed"
