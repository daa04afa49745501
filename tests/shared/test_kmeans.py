"""k-means clustering (SQL.md section 6): USING kmeans, BigQuery's model_type = 'kmeans',
Redshift's MODEL_TYPE KMEANS; PREDICT, ML.PREDICT, ML.CENTROIDS and EVALUATE; both engines."""

from __future__ import annotations

import json

import pytest
from queries import one, rows, scalar, values

import sqlml

MEASURES = "bill_length_mm, bill_depth_mm, flipper_length_mm, body_mass_g"
ROWS = f"(SELECT {MEASURES}, species FROM penguins WHERE body_mass_g IS NOT NULL)"
KMEANS = (
    f"CREATE MODEL k USING kmeans OPTIONS (num_clusters = 3) AS SELECT {MEASURES} FROM penguins"
)


def test_clusters_find_the_species_and_predict_names_a_centroid(con, penguins):
    from sklearn.metrics import adjusted_rand_score

    con.execute(KMEANS)
    assert one(con, "SHOW MODELS")["task"] == "clustering"
    found = rows(con, f"SELECT PREDICT(k, *) AS c, species FROM {ROWS} AS r")
    assert {r["c"] for r in found} == {1, 2, 3}
    # Standardised measurements separate the three species well (real data, not made up).
    agreement = adjusted_rand_score([r["species"] for r in found], [r["c"] for r in found])
    assert agreement > 0.5


def test_predict_proba_gives_the_distance_to_each_centroid(con, penguins):
    con.execute(KMEANS)
    for row in rows(con, f"SELECT PREDICT(k, *) AS c, PREDICT_PROBA(k, *) AS d FROM {ROWS} AS r"):
        distances = row["d"] if isinstance(row["d"], dict) else json.loads(row["d"])
        distances = {int(c): float(d) for c, d in distances.items()}
        assert sorted(distances) == [1, 2, 3]
        assert min(distances, key=lambda c: distances[c]) == row["c"]


def test_evaluate_gives_davies_bouldin_and_mean_squared_distance(con, penguins):
    con.execute(f"{KMEANS.replace('num_clusters = 3', 'num_clusters = 3, test_size = 0')}")
    stored = one(con, "EVALUATE MODEL k")
    assert 0 < stored["davies_bouldin_index"] < 2 and stored["mean_squared_distance"] > 0
    again = one(con, f"EVALUATE MODEL k ON (SELECT {MEASURES} FROM penguins)")
    assert again["davies_bouldin_index"] == pytest.approx(stored["davies_bouldin_index"])
    assert again["mean_squared_distance"] == pytest.approx(stored["mean_squared_distance"])


def test_bigquery_kmeans_predict_centroids_and_evaluate(connect, penguins):
    bigquery = connect(read="bigquery")
    bigquery.execute(
        "CREATE MODEL `ds.clusters` OPTIONS (model_type = 'kmeans', num_clusters = 3, "
        f"standardize_features = TRUE, test_size = 0) AS SELECT {MEASURES} FROM penguins "
        "WHERE body_mass_g IS NOT NULL"
    )
    predicted = rows(
        bigquery,
        f"SELECT * FROM ML.PREDICT(MODEL `ds.clusters`, (SELECT {MEASURES} FROM penguins "
        "WHERE body_mass_g IS NOT NULL))",
    )
    first = predicted[0]
    assert list(first)[:2] == ["CENTROID_ID", "NEAREST_CENTROIDS_DISTANCE"]
    assert "bill_length_mm" in first
    for row in predicted[:20]:
        pairs = row["NEAREST_CENTROIDS_DISTANCE"]
        pairs = json.loads(pairs) if isinstance(pairs, str) else pairs
        distances = {p["CENTROID_ID"]: float(p["DISTANCE"]) for p in pairs}
        assert min(distances, key=lambda c: distances[c]) == row["CENTROID_ID"]
    # A centroid is the mean of its rows, told in the columns' own units.
    centroids = rows(bigquery, "SELECT * FROM ML.CENTROIDS(MODEL `ds.clusters`)")
    assert {c["feature"] for c in centroids} == set(MEASURES.split(", "))
    means = {
        r["c"]: r["m"]
        for r in rows(
            bigquery,
            f"SELECT PREDICT(`ds.clusters`, *) AS c, AVG(body_mass_g) AS m FROM (SELECT "
            f"{MEASURES} FROM penguins WHERE body_mass_g IS NOT NULL) AS r GROUP BY 1",
        )
    }
    for centroid in centroids:
        if centroid["feature"] == "body_mass_g":
            expected = float(means[centroid["centroid_id"]])
            assert centroid["numerical_value"] == pytest.approx(expected, rel=0.01)
    evaluation = one(bigquery, "SELECT * FROM ML.EVALUATE(MODEL `ds.clusters`)")
    assert list(evaluation) == ["davies_bouldin_index", "mean_squared_distance"]


def test_a_text_column_is_one_hot_and_its_centroid_weighs_each_category(con, penguins):
    con.execute(
        f"CREATE MODEL k USING kmeans OPTIONS (num_clusters = 3) AS SELECT {MEASURES}, island "
        "FROM penguins"
    )
    centroids = rows(con, "SELECT * FROM ML.CENTROIDS(MODEL k) WHERE feature = 'island'")
    assert len(centroids) == 3
    weights = json.loads(centroids[0]["categorical_value"])
    assert {w["category"] for w in weights} >= {"Biscoe", "Dream", "Torgersen"}


def test_custom_init_starts_from_the_marked_rows(connect, penguins):
    bigquery = connect(read="bigquery")
    bigquery.execute(
        "CREATE TABLE marked AS SELECT *, ROW_NUMBER() OVER (ORDER BY body_mass_g) IN (1, 150, "
        "300) AS seed FROM penguins WHERE body_mass_g IS NOT NULL"
    )
    bigquery.execute(
        "CREATE MODEL k OPTIONS (model_type = 'kmeans', num_clusters = 3, kmeans_init_method = "
        f"'CUSTOM', kmeans_init_col = 'seed', test_size = 0) AS SELECT {MEASURES}, seed "
        "FROM marked"
    )
    meta = bigquery.backend.catalog.get("k").metadata
    assert "seed" not in [f["name"] for f in meta["features"]]
    assert len(meta["classes"]) == 3


def test_num_clusters_can_be_searched_on_davies_bouldin(con, penguins):
    con.execute(
        "CREATE MODEL k USING kmeans OPTIONS (num_clusters = RANGE(2, 6), trials = 4) "
        f"AS SELECT {MEASURES} FROM penguins"
    )
    meta = con.backend.catalog.get("k").metadata
    assert meta["search"]["metric"] == "davies_bouldin_index"
    found = [t for t in meta["trials"] if t["status"] == "succeeded"]
    (best,) = [t for t in found if t["is_optimal"]]
    assert best["value"] == min(t["value"] for t in found)  # lower is better
    assert len(meta["classes"]) == best["hyperparameters"]["n_clusters"]


def test_redshift_kmeans_serves_its_function(connect, penguins):
    con = connect()
    con.execute(
        f"CREATE MODEL clusters FROM (SELECT {MEASURES} FROM penguins) FUNCTION cluster_of "
        "IAM_ROLE default AUTO OFF MODEL_TYPE KMEANS PREPROCESSORS 'none' "
        "HYPERPARAMETERS DEFAULT EXCEPT (K '4')"
    )
    found = values(con, f"SELECT DISTINCT cluster_of({MEASURES}) FROM penguins")
    assert sorted(found) == [1, 2, 3, 4]
    assert (
        scalar(
            con,
            f"SELECT COUNT(*) FROM penguins WHERE cluster_of({MEASURES}) = "
            f"PREDICT(clusters, {MEASURES})",
        )
        == 344
    )


@pytest.mark.parametrize(
    ("statement", "error", "message"),
    [
        (
            f"CREATE MODEL k TARGET species USING kmeans AS SELECT {MEASURES}, species "
            "FROM penguins",
            sqlml.SqlmlSyntaxError,
            "USING kmeans finds clusters and takes no TARGET",
        ),
        (
            "CREATE MODEL k OPTIONS (model_type = 'kmeans', input_label_cols = ['species']) "
            f"AS SELECT {MEASURES}, species FROM penguins",
            sqlml.UnknownOptionError,
            "takes no input_label_cols",
        ),
        (
            "CREATE MODEL k OPTIONS (model_type = 'kmeans', distance_type = 'COSINE') "
            f"AS SELECT {MEASURES} FROM penguins",
            sqlml.UnsupportedError,
            "distance_type = 'COSINE'",
        ),
        (
            "CREATE MODEL k OPTIONS (model_type = 'kmeans', kmeans_init_method = 'CUSTOM') "
            f"AS SELECT {MEASURES} FROM penguins",
            sqlml.UnknownOptionError,
            "go together",
        ),
        (
            "CREATE MODEL k OPTIONS (model_type = 'kmeans', num_clusters = 4, kmeans_init_method "
            "= 'CUSTOM', kmeans_init_col = 'seed') AS SELECT *, body_mass_g > 5000 AS seed FROM "
            f"(SELECT {MEASURES} FROM penguins) AS r",
            sqlml.InvalidTrainingDataError,
            "num_clusters is 4: mark one row per cluster",
        ),
        (
            f"CREATE MODEL k FROM (SELECT {MEASURES} FROM penguins) FUNCTION f IAM_ROLE default "
            "AUTO OFF MODEL_TYPE KMEANS",
            sqlml.SqlmlSyntaxError,
            r"needs the number of clusters",
        ),
        (
            "CREATE MODEL k USING kmeans OPTIONS (num_clusters = 3, metric = 'roc_auc') "
            f"AS SELECT {MEASURES} FROM penguins",
            sqlml.UnknownOptionError,
            "metric = 'roc_auc' does not fit clustering",
        ),
    ],
)
def test_bad_kmeans_statements_fail_and_store_nothing(connect, penguins, statement, error, message):
    con = connect(read="bigquery" if "model_type" in statement else None)
    with pytest.raises(error, match=message):
        con.execute(statement)
    assert rows(con, "SHOW MODELS") == []
