"""copy-model between DuckDB and PostgreSQL (sqlml/transfer.py): the ONNX and its metadata
travel unchanged, so the copy predicts what the original does, and the target creates the
model's FUNCTION."""

from __future__ import annotations

from collections.abc import Iterator

import datasets
import pandas as pd
import pg_support
import psycopg
import pytest
from pg_support import FAST, functions_named, rows

import sqlml
from sqlml.errors import ModelExistsError
from sqlml.transfer import copy_model

PENGUIN_FEATURES = (
    "island, bill_length_mm, bill_depth_mm, flipper_length_mm, body_mass_g, sex, year"
)
CANCER_FEATURES = ", ".join(c for c in datasets.breast_cancer().columns if c != "diagnosis")


def with_id(frame: pd.DataFrame) -> pd.DataFrame:
    frame.insert(0, "id", range(1, len(frame) + 1))
    return frame


TABLES = {
    "penguins": lambda: with_id(datasets.penguins()),
    "breast_cancer": lambda: with_id(datasets.breast_cancer()),
}


@pytest.fixture(scope="module")
def duck(tmp_path_factory) -> Iterator[sqlml.Connection]:
    """A DuckDB file with the tables and model duck_species (FUNCTION duck_species_of)."""
    con = sqlml.connect(str(tmp_path_factory.mktemp("copy") / "source.duckdb"))
    raw = con.backend.con
    for name, make in TABLES.items():
        raw.register("_frame", make())
        raw.execute(f"CREATE TABLE {name} AS SELECT * FROM _frame")
        raw.unregister("_frame")
    con.execute(
        f"CREATE MODEL duck_species TARGET species FUNCTION duck_species_of OPTIONS ({FAST}) "
        f"AS SELECT {PENGUIN_FEATURES}, species FROM penguins"
    )
    yield con
    con.close()


@pytest.fixture(scope="module")
def postgres(pg: psycopg.Connection) -> Iterator[sqlml.Connection]:
    """The same tables in PostgreSQL, and model pg_cancer (FUNCTION pg_cancer_of)."""
    for name, make in TABLES.items():
        pg_support.load(pg, name, make())
    with sqlml.connect(pg) as con:
        con.execute(
            f"CREATE MODEL pg_cancer TARGET diagnosis FUNCTION pg_cancer_of OPTIONS ({FAST}) "
            f"AS SELECT {CANCER_FEATURES}, diagnosis FROM breast_cancer"
        )
        yield con


def keyed(con: sqlml.Connection, query: str) -> dict:
    return {r[0]: r[1] for r in con.execute(query).fetchall()}


def max_difference(left: dict, right: dict) -> float:
    assert left.keys() == right.keys()
    return max(abs(left[k] - right[k]) for k in left)


def as_probabilities(value: dict) -> dict[str, float]:
    """A MAP (DuckDB) or a jsonb object (PostgreSQL): both arrive as dicts."""
    assert isinstance(value, dict)
    return {str(label): float(p) for label, p in value.items()}


def test_a_duckdb_model_copied_into_postgres_predicts_the_same(duck, postgres, pg):
    assert copy_model(duck, postgres, "duck_species") == 1
    assert functions_named(pg, "duck_species_of") == [
        "duck_species_of(text,double precision,double precision,double precision,"
        "double precision,text,double precision)"
    ]
    on_duckdb = keyed(duck, f"SELECT id, PREDICT(duck_species, {PENGUIN_FEATURES}) FROM penguins")
    on_postgres = keyed(postgres, f"SELECT id, duck_species_of({PENGUIN_FEATURES}) FROM penguins")
    assert on_postgres == on_duckdb
    assert len(set(on_duckdb.values())) == 3
    via_jsonb = dict(
        rows(pg, "SELECT id, sqlml.predict('duck_species', to_jsonb(p)) FROM penguins p")
    )
    assert via_jsonb == on_duckdb

    duck_proba = keyed(
        duck, f"SELECT id, PREDICT_PROBA(duck_species, {PENGUIN_FEATURES}) FROM penguins"
    )
    pg_proba = keyed(
        postgres, f"SELECT id, PREDICT_PROBA(duck_species, {PENGUIN_FEATURES}) FROM penguins"
    )
    assert duck_proba.keys() == pg_proba.keys()
    for key in duck_proba:
        expected, got = as_probabilities(duck_proba[key]), as_probabilities(pg_proba[key])
        assert expected.keys() == got.keys()
        assert max(abs(expected[c] - got[c]) for c in expected) <= 1e-6
    copied = postgres.backend.catalog.get("duck_species").metadata["copied_from"]
    assert copied == {"model": "duck_species", "version": 1}


def test_a_postgres_model_copied_into_duckdb_predicts_the_same(duck, postgres):
    assert copy_model(postgres, duck, "pg_cancer") == 1
    on_postgres = keyed(
        postgres, f"SELECT id, PREDICT(pg_cancer, {CANCER_FEATURES}) FROM breast_cancer"
    )
    on_duckdb = keyed(duck, f"SELECT id, pg_cancer_of({CANCER_FEATURES}) FROM breast_cancer")
    assert on_duckdb == on_postgres and set(on_duckdb.values()) == {0, 1}
    pg_proba = keyed(postgres, "SELECT id, PREDICT_PROBA(pg_cancer, *) FROM breast_cancer")
    duck_proba = keyed(duck, "SELECT id, PREDICT_PROBA(pg_cancer, *) FROM breast_cancer")
    assert max_difference(pg_proba, duck_proba) <= 1e-6
    # The training statistics, kept apart from the metadata, come along.
    statistics = postgres.backend.catalog.feature_info("pg_cancer", 1)
    assert statistics and duck.backend.catalog.feature_info("pg_cancer", 1) == statistics


def test_copying_onto_an_existing_name_needs_replace(duck, postgres, pg):
    if "duck_species" not in {r[0] for r in postgres.execute("SHOW MODELS").fetchall()}:
        copy_model(duck, postgres, "duck_species")
    with pytest.raises(ModelExistsError):
        copy_model(duck, postgres, "duck_species")
    assert [r[1] for r in postgres.execute("SHOW MODEL VERSIONS duck_species").fetchall()] == [1]
    # Another name, but the FUNCTION would be taken from the model that has it.
    with pytest.raises(ModelExistsError):
        copy_model(duck, postgres, "duck_species", new_name="duck_species_2")
    assert "duck_species_2" not in {r[0] for r in postgres.execute("SHOW MODELS").fetchall()}

    assert copy_model(duck, postgres, "duck_species", replace=True) == 2
    versions = postgres.execute("SHOW MODEL VERSIONS duck_species").fetchall()
    assert [(r[1], r[2]) for r in versions] == [(1, False), (2, True)]
    labels = keyed(postgres, f"SELECT id, duck_species_of({PENGUIN_FEATURES}) FROM penguins")
    assert labels == keyed(
        duck, f"SELECT id, PREDICT(duck_species, {PENGUIN_FEATURES}) FROM penguins"
    )
