"""EXPORT MODEL (SQL.md section 4): one ONNX file, preprocessing and sqlml's metadata
included, that plain onnxruntime runs with no sqlml, answering as PREDICT does."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import onnx
import pytest
from queries import FAST, one, rows

import sqlml
from sqlml.errors import FileAccessError, ModelNotFoundError, UnsupportedError

# Runs a file with onnxruntime alone: sqlml and its database-side package cannot be imported.
# It encodes each row as the file's metadata says (numbers float32 with NULL as NaN, text
# with NULL as '') and prints the scores: a regressor's values, a classifier's labels.
PLAIN_ONNXRUNTIME = """
import json, sys
sys.modules["sqlml"] = sys.modules["udfs"] = None
import numpy as np, onnxruntime
path, rows = sys.argv[1], json.load(sys.stdin)
session = onnxruntime.InferenceSession(path, providers=["CPUExecutionProvider"])
facts = json.loads(session.get_modelmeta().custom_metadata_map["sqlml.metadata"])
inputs = {}
for group, names in facts["inputs"].items():
    if not names:
        continue
    if group == "numeric":
        cells = [[np.nan if r[n] is None else float(r[n]) for n in names] for r in rows]
        inputs[group] = np.array(cells, dtype=np.float32)
    else:
        inputs[group] = np.array([["" if r[n] is None else str(r[n]) for n in names] for r in rows])
meta = facts["metadata"]
if meta["task"] == "regression":
    (values,) = session.run(None, inputs)
    print(json.dumps(values.reshape(-1).tolist()))
else:
    probabilities = session.run(None, inputs)[1]
    print(json.dumps([meta["classes"][i] for i in probabilities.argmax(axis=1)]))
"""


def run_plainly(path: Path, rows: list[dict]) -> list:
    done = subprocess.run(
        [sys.executable, "-c", PLAIN_ONNXRUNTIME, str(path)],
        input=json.dumps(rows),
        capture_output=True,
        text=True,
        check=True,
    )
    return json.loads(done.stdout)


def facts_of(path: Path) -> dict:
    props = {p.key: p.value for p in onnx.load(str(path)).metadata_props}
    return json.loads(props["sqlml.metadata"])


def test_a_classifier_file_answers_as_predict_does_without_sqlml(con, penguins, tmp_path):
    con.execute(f"CREATE MODEL species TARGET species OPTIONS ({FAST}) AS SELECT * FROM penguins")
    path = tmp_path / "species.onnx"
    written = one(con, f"EXPORT MODEL species TO '{path}'")
    assert written["model"] == "species" and written["version"] == 1
    assert written["bytes"] == path.stat().st_size and written["path"] == str(path)
    columns = "island, bill_length_mm, bill_depth_mm, flipper_length_mm, body_mass_g, sex, year"
    found = rows(con, f"SELECT {columns}, PREDICT(species, {columns}) AS p FROM penguins")
    predicted = [row.pop("p") for row in found]
    plainly = run_plainly(path, found)
    assert plainly == predicted and len(set(plainly)) == 3  # NULLs and text included


def test_a_regressor_file_answers_as_predict_does(con, diabetes, tmp_path):
    con.execute(
        f"CREATE MODEL progress TARGET progression OPTIONS ({FAST}) AS SELECT * FROM diabetes"
    )
    path = tmp_path / "progress.onnx"
    con.execute(f"EXPORT MODEL progress TO '{path}'")
    columns = "age, sex, bmi, bp, s1, s2, s3, s4, s5, s6"
    found = rows(con, f"SELECT {columns}, PREDICT(progress, {columns}) AS p FROM diabetes")
    predicted = [row.pop("p") for row in found]
    np.testing.assert_allclose(run_plainly(path, found), predicted, rtol=1e-6)


def test_the_file_says_what_the_model_is_and_any_version_exports(con, wine, tmp_path):
    train = f"MODEL grapes TARGET cultivar OPTIONS ({FAST}) AS SELECT * FROM wine"
    con.execute(f"CREATE {train}")
    con.execute(f"CREATE OR REPLACE {train} WHERE alcohol > 12")
    con.execute(f"EXPORT MODEL grapes TO '{tmp_path / 'now.onnx'}'")
    con.execute(f"EXPORT MODEL grapes VERSION 1 TO '{tmp_path / 'first.onnx'}'")
    now, first = facts_of(tmp_path / "now.onnx"), facts_of(tmp_path / "first.onnx")
    assert (now["model"], now["version"], first["version"]) == ("grapes", 2, 1)
    meta = now["metadata"]
    assert meta["task"] == "classification" and meta["target"] == "cultivar"
    assert meta["classes"] == [0, 1, 2] and meta["rows_train"] < first["metadata"]["rows_train"]
    assert [f["name"] for f in meta["features"]][:2] == ["alcohol", "malic_acid"]
    assert all(f["sql_type"] for f in meta["features"])
    stored = con.backend.catalog.get("grapes").metadata
    assert meta["metrics"] == stored["metrics"] and meta["options"] == stored["options"]
    assert now["libraries"]["sqlml"] == sqlml.__version__ and now["libraries"]["onnxruntime"]
    assert now["inputs"]["numeric"] == [f["name"] for f in meta["features"]]
    doc = onnx.load(str(tmp_path / "now.onnx")).doc_string
    assert "sqlml model grapes version 2" in doc and "days since 1970-01-01" in doc


def test_bigquery_form_and_file_uris(con, wine, tmp_path):
    con.execute(f"CREATE MODEL grapes TARGET cultivar OPTIONS ({FAST}) AS SELECT * FROM wine")
    con.execute(f"EXPORT MODEL grapes OPTIONS (URI = 'file://{tmp_path}/bq.onnx')")
    assert facts_of(tmp_path / "bq.onnx")["model"] == "grapes"
    with pytest.raises(UnsupportedError, match="gs:// URIs; give a local path"):
        con.execute("EXPORT MODEL grapes OPTIONS (URI = 'gs://bucket/grapes')")


def test_what_cannot_be_exported_is_told_and_nothing_is_written(con, wine, tmp_path):
    con.execute(f"CREATE MODEL grapes TARGET cultivar OPTIONS ({FAST}) AS SELECT * FROM wine")
    out = tmp_path / "out"
    out.mkdir()
    nowhere = out / "missing" / "grapes.onnx"
    with pytest.raises(FileAccessError, match=f"cannot write {nowhere}: No such file"):
        con.execute(f"EXPORT MODEL grapes TO '{nowhere}'")
    with pytest.raises(FileAccessError, match="it is a directory"):
        con.execute(f"EXPORT MODEL grapes TO '{out}'")
    with pytest.raises(ModelNotFoundError, match="Did you mean: grapes"):
        con.execute(f"EXPORT MODEL grape TO '{out / 'x.onnx'}'")
    with pytest.raises(ModelNotFoundError, match="has no version 7; versions: 1"):
        con.execute(f"EXPORT MODEL grapes VERSION 7 TO '{out / 'x.onnx'}'")
    assert list(out.iterdir()) == []  # no file, no temporary left


def test_postgres_returns_the_file_as_bytes_and_refuses_its_own_disk(con, wine, tmp_path):
    if con.backend.name != "postgres":
        pytest.skip("sqlml.export_model() is PostgreSQL's function form")
    con.execute(f"CREATE MODEL grapes TARGET cultivar OPTIONS ({FAST}) AS SELECT * FROM wine")
    con.execute(f"EXPORT MODEL grapes TO '{tmp_path / 'client.onnx'}'")
    data = con.execute("SELECT sqlml.export_model('grapes')").fetchone()[0]
    (tmp_path / "server.onnx").write_bytes(data)
    client, server = (onnx.load(str(tmp_path / n)) for n in ("client.onnx", "server.onnx"))
    assert client.graph == server.graph  # the very model, whoever wrote the file
    assert (
        facts_of(tmp_path / "server.onnx")["metadata"]
        == facts_of(tmp_path / "client.onnx")["metadata"]
    )
    with pytest.raises(UnsupportedError, match=r"SELECT sqlml.export_model\('grapes'\)"):
        con.execute(f"SELECT sqlml.execute($$EXPORT MODEL grapes TO '{tmp_path / 'x.onnx'}'$$)")
