"""IMPORT MODEL (SQL.md section 4): a file sqlml exported comes back as it was, on either
engine; an ONNX model of skl2onnx, onnxmltools (LightGBM, XGBoost) or a plain tensor graph
(as a PyTorch export is) becomes a model like any other; what cannot be served is refused
at IMPORT."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
import pandas as pd
import pytest
from onnx import TensorProto, helper
from queries import FAST, rows, scalar, values

import sqlml
import sqlml.transfer
from sqlml.errors import FileAccessError, ModelExistsError, ModelFileError, UnsupportedError

PENGUIN_COLUMNS = "island, bill_length_mm, bill_depth_mm, flipper_length_mm, body_mass_g, sex, year"


def predictions(con: sqlml.Connection, model: str, columns: str, table: str) -> list:
    return values(con, f"SELECT PREDICT({model}, {columns}) FROM {table} ORDER BY {columns}")


@pytest.fixture
def exported_species(con, penguins, tmp_path) -> Path:
    con.execute(f"CREATE MODEL species TARGET species OPTIONS ({FAST}) AS SELECT * FROM penguins")
    path = tmp_path / "species.onnx"
    con.execute(f"EXPORT MODEL species TO '{path}'")
    return path


def test_an_exported_model_comes_back_as_it_was(con, exported_species):
    imported = rows(con, f"IMPORT MODEL again FROM '{exported_species}'")[0]
    assert (imported["model"], imported["version"], imported["algorithm"]) == (
        "again",
        1,
        "lightgbm",
    )
    ours = predictions(con, "again", PENGUIN_COLUMNS, "penguins")
    assert ours == predictions(con, "species", PENGUIN_COLUMNS, "penguins")
    original, back = (con.backend.catalog.get(n).metadata for n in ("species", "again"))
    assert back["features"] == original["features"] and back["metrics"] == original["metrics"]
    assert back["annotations"]["imported"]["model"] == "species"
    assert rows(con, "EVALUATE MODEL again ON penguins") == rows(
        con, "EVALUATE MODEL species ON penguins"
    )
    with pytest.raises(ModelExistsError, match="again"):
        con.execute(f"IMPORT MODEL again FROM '{exported_species}'")
    assert scalar(con, f"IMPORT OR REPLACE MODEL again FROM '{exported_species}'") == "again"
    assert [r["version"] for r in rows(con, "SHOW MODEL VERSIONS again")] == [1, 2]
    con.execute(f"IMPORT MODEL IF NOT EXISTS again FROM '{exported_species}'")  # no 3rd
    assert len(rows(con, "SHOW MODEL VERSIONS again")) == 2


def test_a_model_moves_between_engines_with_the_same_answers(con, exported_species, tmp_path):
    if con.backend.name != "postgres":
        pytest.skip("one PostgreSQL and one DuckDB database")
    from datasets import penguins

    duck = sqlml.connect()
    duck.register("penguins_frame", penguins())
    duck.execute("CREATE TABLE penguins AS SELECT * FROM penguins_frame")
    duck.execute(f"IMPORT MODEL species FROM '{exported_species}'")  # PostgreSQL's, in DuckDB
    expected = predictions(con, "species", PENGUIN_COLUMNS, "penguins")
    assert predictions(duck, "species", PENGUIN_COLUMNS, "penguins") == expected
    duck.execute(f"EXPORT MODEL species TO '{tmp_path / 'from_duckdb.onnx'}'")
    data = (tmp_path / "from_duckdb.onnx").read_bytes()
    # psql's way: the bytes through sqlml.import_model (the server cannot read our files)
    assert con.execute("SELECT sqlml.import_model('back', ?)", [data]).fetchone()[0] == 1
    assert predictions(con, "back", PENGUIN_COLUMNS, "penguins") == expected
    stored = con.backend.catalog.onnx("back", 1)
    assert onnx.load_from_string(stored).graph == onnx.load_from_string(data).graph
    duck.close()
    with pytest.raises(UnsupportedError, match=r"sqlml.import_model\('x', <the file's bytes>\)"):
        con.execute(f"SELECT sqlml.execute($$IMPORT MODEL x FROM '{exported_species}'$$)")


# -- models sqlml did not make ---------------------------------------------------------------


def penguin_rows():
    from datasets import penguins

    frame = penguins().dropna()
    return frame[["island", "bill_length_mm", "flipper_length_mm", "year"]], frame["species"]


def test_a_scikit_learn_pipeline_with_text_and_per_feature_inputs(con, penguins, tmp_path):
    from skl2onnx import to_onnx
    from skl2onnx.common.data_types import FloatTensorType, Int64TensorType, StringTensorType
    from sklearn.compose import ColumnTransformer
    from sklearn.ensemble import RandomForestClassifier
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import OneHotEncoder

    x, y = penguin_rows()
    encode = ColumnTransformer([("island", OneHotEncoder(), ["island"])], remainder="passthrough")
    forest = RandomForestClassifier(30, random_state=0)
    pipeline = Pipeline([("encode", encode), ("forest", forest)]).fit(x, y)
    inputs = [
        ("island", StringTensorType([None, 1])),
        ("bill_length_mm", FloatTensorType([None, 1])),
        ("flipper_length_mm", FloatTensorType([None, 1])),
        ("year", Int64TensorType([None, 1])),
    ]
    (tmp_path / "forest.onnx").write_bytes(
        to_onnx(pipeline, initial_types=inputs).SerializeToString()
    )
    imported = rows(
        con,
        f"IMPORT MODEL forest FROM '{tmp_path / 'forest.onnx'}' TARGET species "
        "FUNCTION forest_species",
    )[0]
    assert (imported["task"], imported["algorithm"]) == ("classification", "onnx")
    columns = "island, bill_length_mm, flipper_length_mm, year"
    where = "WHERE bill_length_mm IS NOT NULL AND flipper_length_mm IS NOT NULL"
    found = rows(
        con,
        f"SELECT {columns}, PREDICT(forest, *) AS p, forest_species({columns}) AS f "
        f"FROM (SELECT {columns} FROM penguins {where}) t",
    )
    frame = pd.DataFrame([{c: r[c] for c in x.columns} for r in found])
    expected = pipeline.predict(frame.astype(x.dtypes.to_dict()))
    assert [r["p"] for r in found] == list(expected) == [r["f"] for r in found]
    described = {r["name"]: r["value"] for r in rows(con, "DESCRIBE MODEL forest")}
    assert described["classes"].count("Gentoo") == 1 and "island" in described
    measured = rows(con, f"EVALUATE MODEL forest ON (SELECT * FROM penguins {where})")[0]
    assert measured["accuracy"] > 0.95  # a forest scored on its own training rows
    copy = sqlml.connect()
    sqlml.transfer.copy_model(con, copy, "forest")  # copy-model, as for a trained model
    scored = "SELECT PREDICT(forest, 'Biscoe', 45.0, 210.0, 2008)"
    assert copy.execute(scored).fetchone() == con.execute(scored).fetchone()
    copy.close()


def test_a_lightgbm_matrix_input_takes_positional_or_given_names(con, tmp_path, make_table):
    import lightgbm
    import onnxmltools
    from datasets import breast_cancer
    from onnxmltools.convert.common.data_types import FloatTensorType

    frame = breast_cancer()
    x = frame.drop(columns="diagnosis").to_numpy(np.float32)[:, :3]
    booster = lightgbm.LGBMClassifier(n_estimators=20, verbose=-1).fit(x, frame["diagnosis"])
    graph = onnxmltools.convert_lightgbm(
        booster, initial_types=[("input", FloatTensorType([None, 3]))], target_opset=15
    )
    (tmp_path / "tumour.onnx").write_bytes(graph.SerializeToString())
    con.execute(f"IMPORT MODEL tumour FROM '{tmp_path / 'tumour.onnx'}'")
    names = [r["name"] for r in rows(con, "DESCRIBE MODEL tumour") if r["section"] == "feature"]
    assert names == ["f0", "f1", "f2"]
    make_table("three", frame.iloc[:, :3].set_axis(["radius", "texture", "perimeter"], axis=1))
    con.execute(
        f"IMPORT MODEL named FROM '{tmp_path / 'tumour.onnx'}' "
        "FEATURES (radius, texture, perimeter)"
    )
    expected = booster.predict_proba(frame.iloc[:, :3].to_numpy(np.float32))[:, 1]
    got = values(con, "SELECT PREDICT_PROBA(named, *) FROM three")
    np.testing.assert_allclose(sorted(got), sorted(expected), atol=1e-6)


def test_an_xgboost_classifier_scores_as_xgboost_does(con, tmp_path, make_table):
    import onnxmltools
    import xgboost
    from datasets import breast_cancer
    from onnxmltools.convert.common.data_types import FloatTensorType

    frame = breast_cancer()
    features = frame.iloc[:, :4].set_axis(["a", "b", "c", "d"], axis=1)
    x = features.to_numpy(np.float32)
    labels = (frame["diagnosis"] == frame["diagnosis"].iloc[0]).astype(int)
    booster = xgboost.XGBClassifier(n_estimators=20, max_depth=3, n_jobs=1).fit(x, labels)
    graph = onnxmltools.convert_xgboost(
        booster, initial_types=[("input", FloatTensorType([None, 4]))], target_opset=15
    )
    (tmp_path / "xgb.onnx").write_bytes(graph.SerializeToString())
    make_table("four", features.assign(id=range(len(features))))
    con.execute(f"IMPORT MODEL xgb FROM '{tmp_path / 'xgb.onnx'}' FEATURES (a, b, c, d)")
    got = rows(
        con,
        "SELECT PREDICT(xgb, a, b, c, d) AS label, PREDICT_PROBA(xgb, a, b, c, d) "
        "AS p FROM four ORDER BY id",
    )
    assert [r["label"] for r in got] == booster.predict(x).tolist()
    np.testing.assert_allclose([r["p"] for r in got], booster.predict_proba(x)[:, 1], atol=1e-5)


def plain_tensor_graph(outputs: int, softmax: bool) -> bytes:
    """What torch.onnx.export writes for a linear layer: one float input [n, 2], MatMul and
    Add (and Softmax), one float output."""
    weights = helper.make_tensor(
        "w", TensorProto.FLOAT, [2, outputs], [0.5, -1.0, 2.0, 1.0][: 2 * outputs]
    )
    bias = helper.make_tensor("b", TensorProto.FLOAT, [outputs], [0.25] * outputs)
    nodes = [
        helper.make_node("MatMul", ["x", "w"], ["xw"]),
        helper.make_node("Add", ["xw", "b"], ["y"]),
    ]
    if softmax:
        nodes.append(helper.make_node("Softmax", ["y"], ["p"], axis=1))
    out = "p" if softmax else "y"
    graph = helper.make_graph(
        nodes,
        "torch_jit",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["batch", 2])],
        [helper.make_tensor_value_info(out, TensorProto.FLOAT, ["batch", outputs])],
        [weights, bias],
    )
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]).SerializeToString()


def test_a_plain_tensor_graph_regresses_or_classifies_as_told(con, tmp_path, make_table):
    make_table("points", pd.DataFrame({"a": [0.0, 1.0, -2.0], "b": [1.0, 0.0, 0.0]}))
    (tmp_path / "linear.onnx").write_bytes(plain_tensor_graph(1, softmax=False))
    con.execute(f"IMPORT MODEL linear FROM '{tmp_path / 'linear.onnx'}' FEATURES (a, b)")
    got = values(con, "SELECT PREDICT(linear, a, b) FROM points ORDER BY a")
    np.testing.assert_allclose(got, [-0.75, -0.75, 0.75], rtol=1e-6)  # 0.5a - b + 0.25
    (tmp_path / "two.onnx").write_bytes(plain_tensor_graph(2, softmax=True))
    with pytest.raises(ModelFileError, match="say TASK classification"):
        con.execute(f"IMPORT MODEL two FROM '{tmp_path / 'two.onnx'}'")
    con.execute(
        f"IMPORT MODEL two FROM '{tmp_path / 'two.onnx'}' TASK classification FEATURES (a, b)"
    )
    assert values(con, "SELECT PREDICT(two, a, b) FROM points ORDER BY a") == [1, 0, 0]
    assert rows(con, "SHOW MODELS WHERE name = 'two'")[0]["task"] == "classification"


def test_what_cannot_be_served_is_refused_at_import(con, exported_species, tmp_path):
    def refused(error: type[Exception], match: str, statement: str) -> None:
        with pytest.raises(error, match=match):
            con.execute(statement)

    (tmp_path / "text.onnx").write_text("not a model")
    refused(ModelFileError, "not an ONNX model", f"IMPORT MODEL m FROM '{tmp_path / 'text.onnx'}'")
    refused(
        FileAccessError,
        "cannot read .*missing.onnx: No such file",
        f"IMPORT MODEL m FROM '{tmp_path / 'missing.onnx'}'",
    )
    custom = onnx.load_from_string(plain_tensor_graph(1, softmax=False))
    custom.graph.node.append(helper.make_node("Mystery", ["y"], ["z"], domain="com.example"))
    custom.graph.output[0].name = "z"
    custom.opset_import.append(helper.make_opsetid("com.example", 1))
    (tmp_path / "custom.onnx").write_bytes(custom.SerializeToString())
    refused(
        ModelFileError,
        "onnxruntime cannot run the graph",
        f"IMPORT MODEL m FROM '{tmp_path / 'custom.onnx'}'",
    )
    future = onnx.load_from_string(plain_tensor_graph(1, softmax=False))
    future.opset_import[0].version = 99
    (tmp_path / "future.onnx").write_bytes(future.SerializeToString())
    refused(
        ModelFileError,
        "onnxruntime cannot run the graph",
        f"IMPORT MODEL m FROM '{tmp_path / 'future.onnx'}'",
    )
    image = helper.make_graph(  # an image [n, 2, 4], flattened: no column is a feature
        [
            helper.make_node("Flatten", ["x"], ["flat"], axis=1),
            helper.make_node("MatMul", ["flat", "w"], ["y"]),
        ],
        "image",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["batch", 2, 4])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["batch", 1])],
        [helper.make_tensor("w", TensorProto.FLOAT, [8, 1], [0.1] * 8)],
    )
    model = helper.make_model(image, opset_imports=[helper.make_opsetid("", 17)])
    (tmp_path / "image.onnx").write_bytes(model.SerializeToString())
    refused(
        ModelFileError,
        r"sqlml feeds one \[n, 1\]",
        f"IMPORT MODEL m FROM '{tmp_path / 'image.onnx'}'",
    )
    (tmp_path / "linear.onnx").write_bytes(plain_tensor_graph(1, softmax=False))
    refused(
        ModelFileError,
        "3 feature names given for the graph's 2 features",
        f"IMPORT MODEL m FROM '{tmp_path / 'linear.onnx'}' FEATURES (a, b, c)",
    )
    refused(
        ModelFileError,
        "exported by sqlml, which says its task and features itself",
        f"IMPORT MODEL m FROM '{exported_species}' TASK regression",
    )
    refused(ModelExistsError, "species", f"IMPORT MODEL species FROM '{exported_species}'")
    assert "m" not in values(con, "SELECT name FROM sqlml.models")


def test_bigquery_and_redshift_forms(con, exported_species):
    con.execute(f"CREATE MODEL bq OPTIONS (MODEL_TYPE = 'ONNX', MODEL_PATH = '{exported_species}')")
    assert predictions(con, "bq", PENGUIN_COLUMNS, "penguins") == predictions(
        con, "species", PENGUIN_COLUMNS, "penguins"
    )
    with pytest.raises(UnsupportedError, match=r"IMPORT MODEL m FROM 'model\.onnx'"):
        con.execute(
            "CREATE MODEL byom FROM 'job-1' FUNCTION f (int) RETURNS float "
            "IAM_ROLE default SETTINGS (S3_BUCKET 'b')"
        )
