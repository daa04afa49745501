"""A DuckDB file made by sqlml 0.1.0 is moved to this release's catalog on first connect."""

from __future__ import annotations

import duckdb
import pytest
from catalog_0_1_0 import build, trained_model
from catalog_race import catalog_problems

import sqlml


def test_a_0_1_0_catalog_gets_its_keys_and_keeps_every_model(tmp_path) -> None:
    onnx, metadata = trained_model()
    path = str(tmp_path / "old.duckdb")
    raw = duckdb.connect(path)
    build(lambda sql, params: raw.execute(sql, list(params)), "BLOB", onnx, metadata)
    raw.close()

    con = sqlml.connect(path)
    try:
        catalog = con.backend.catalog
        assert catalog_problems(con) == []
        # The second copy of version 2 comes after the last: nothing is lost.
        assert [m.version for m in catalog.versions("raced")] == [1, 2, 3, 4]
        assert [(m.name, m.version) for m in catalog.current()] == [("raced", 3), ("single", 1)]
        (answer,) = con.execute("SELECT PREDICT(raced, x) FROM (SELECT 10.0 AS x) AS q").fetchone()
        assert answer == pytest.approx(20.0, abs=1e-3)
        assert con.execute("SHOW MODELS").fetchall()[0][:2] == ("raced", 3)
        with pytest.raises(duckdb.ConstraintException):
            con.backend.con.execute(
                "INSERT INTO sqlml.model_registry VALUES ('single', 1, NULL, NULL, now(), now())"
            )
        layout = catalog.db.run("SELECT value FROM sqlml.catalog_info WHERE key = 'schema_version'")
        assert layout == [("2",)]
    finally:
        con.close()


def test_a_catalog_of_an_unknown_layout_is_refused_untouched(tmp_path) -> None:
    path = str(tmp_path / "future.duckdb")
    con = sqlml.connect(path)
    con.backend.con.execute(
        "UPDATE sqlml.catalog_info SET value = '99' WHERE key = 'schema_version'"
    )
    con.close()
    with pytest.raises(sqlml.CatalogVersionError, match="layout 99"):
        sqlml.connect(path)
    raw = duckdb.connect(path)
    assert raw.execute(
        "SELECT value FROM sqlml.catalog_info WHERE key = 'schema_version'"
    ).fetchall() == [("99",)]
    raw.close()
