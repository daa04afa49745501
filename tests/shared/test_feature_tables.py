"""Feature tables and their point-in-time joins, both engines.

The rule everywhere: for a spine row (key, t) the feature row used is the newest with
timestamp <= t and, with a TTL, timestamp >= t - TTL; none gives NULLs. The randomized tests
hold FEATURES_AT_TIME to a brute-force reference of that rule; the traps check that training
never reads a value from after the label time.
"""

from __future__ import annotations

import bisect
import datetime as dt
from collections.abc import Iterator
from typing import Any

import numpy as np
import pandas as pd
import psycopg
import pytest
from queries import FAST, rows, scalar, values
from servers import load, reset

import sqlml
from sqlml.errors import (
    FeatureTableNotFoundError,
    InputSchemaError,
    InvalidTrainingDataError,
    ModelExistsError,
    SqlmlError,
    SqlmlSyntaxError,
    UnknownOptionError,
)
from sqlml.session import Query, SqlmlNotice

BASE = dt.datetime(2024, 1, 1)
TTL = dt.timedelta(days=3)
SPINE = "(SELECT id, CAST(k AS BIGINT) AS customer_id, t AS label_time, label FROM spine_raw)"


def day(n: float) -> dt.datetime:
    return BASE + dt.timedelta(days=n)


# -- data -----------------------------------------------------------------------------------


def random_features(rng: np.random.Generator) -> pd.DataFrame:
    """~3,000 rows over keys 0..44 (45..49 have none), on a grid of 6-hour stamps so that many
    keys share a timestamp; x and tag are sometimes NULL."""
    frames = []
    for key in range(45):
        stamps = np.sort(rng.choice(200, size=int(rng.integers(40, 100)), replace=False))
        frames.append(
            pd.DataFrame(
                {
                    "customer_id": key,
                    "feature_time": [BASE + dt.timedelta(hours=6 * int(s)) for s in stamps],
                }
            )
        )
    features = pd.concat(frames, ignore_index=True)
    n = len(features)
    x = rng.normal(size=n).round(3)
    x[rng.random(n) < 0.15] = np.nan
    tags = np.array(["a", "b", "c", None], dtype=object)[rng.integers(0, 4, size=n)]
    features["x"] = x
    features["tag"] = tags
    return features


def random_spine(rng: np.random.Generator, features: pd.DataFrame) -> pd.DataFrame:
    """~2,000 rows: times before any feature, exactly at a feature time or at its TTL's edge,
    at random minutes, NULL; keys with and without features, NULL keys; repeated rows."""
    stamps = features.groupby("customer_id")["feature_time"].apply(list).to_dict()
    rows_: list[tuple[float, dt.datetime | None]] = []
    for _ in range(1800):
        key = float(rng.integers(0, 53))
        kind = rng.random()
        own = stamps.get(int(key))
        if kind < 0.03:
            key = np.nan
        if kind < 0.35 and own:
            t = own[int(rng.integers(len(own)))]
            if kind < 0.12:
                t = t + TTL  # exactly at the TTL's edge: still fresh
            elif kind < 0.15:
                t = t + TTL + dt.timedelta(seconds=1)
        elif kind < 0.40:
            t = BASE - dt.timedelta(days=float(rng.uniform(0, 5)))
        elif kind < 0.45:
            t = None
        else:
            t = BASE + dt.timedelta(minutes=int(rng.integers(-3 * 1440, 55 * 1440)))
        rows_.append((key, t))
    spine = pd.DataFrame(rows_, columns=["k", "t"])
    spine["t"] = pd.to_datetime(spine["t"])
    spine.insert(0, "id", np.arange(len(spine)))
    spine["label"] = rng.integers(0, 2, size=len(spine))
    repeated = spine.iloc[rng.choice(len(spine), size=200, replace=False)]
    return pd.concat([spine, repeated], ignore_index=True)


def reference(features: pd.DataFrame, spine: pd.DataFrame, ttl: dt.timedelta | None) -> list:
    """The rule, by brute force: (id, customer_id, label_time, label, x, tag) per spine row."""
    history: dict[int, list[tuple[dt.datetime, Any, Any]]] = {}
    for key, stamp, x, tag in features.itertuples(index=False):
        history.setdefault(int(key), []).append((stamp.to_pydatetime(), _plain(x), _plain(tag)))
    for rows_ in history.values():
        rows_.sort(key=lambda r: r[0])
    out = []
    for id_, k, t, label in spine.itertuples(index=False):
        key = None if pd.isna(k) else int(k)
        when = None if pd.isna(t) else t.to_pydatetime()
        found: tuple[Any, Any] = (None, None)
        if key is not None and when is not None:
            rows_ = history.get(key, [])
            i = bisect.bisect_right([r[0] for r in rows_], when) - 1
            if i >= 0 and (ttl is None or rows_[i][0] >= when - ttl):
                found = rows_[i][1:]
        out.append((int(id_), key, when, int(label), *found))
    return out


def _plain(value: Any) -> Any:
    return None if value is None or (isinstance(value, float) and np.isnan(value)) else value


def ordered(records: list[tuple]) -> list[tuple]:
    """Sorted with NULLs last, whatever the types."""
    return sorted(records, key=lambda r: tuple((v is None, 0 if v is None else v) for v in r))


def load_frame(con: sqlml.Connection, name: str, frame: pd.DataFrame) -> None:
    """make_table's loading, for a connection the fixture did not open."""
    if con.backend.name == "postgres":
        load(con.backend.conn, name, frame)
        return
    raw = con.backend.con
    raw.register("_frame", frame)
    try:
        raw.execute(f'CREATE OR REPLACE TABLE "{name}" AS SELECT * FROM _frame')
    finally:
        raw.unregister("_frame")


def load_random(con: sqlml.Connection, seed: int) -> tuple[pd.DataFrame, pd.DataFrame]:
    rng = np.random.default_rng(seed)
    features = random_features(rng)
    spine = random_spine(rng, features)
    load_frame(con, "raw_features", features)
    load_frame(con, "spine_raw", spine)
    source = "AS SELECT customer_id, feature_time, x, tag FROM raw_features"
    con.execute(f"CREATE FEATURE TABLE ft KEY customer_id TIMESTAMP feature_time {source}")
    con.execute(
        f"CREATE FEATURE TABLE ft_ttl KEY customer_id TIMESTAMP feature_time "
        f"TTL INTERVAL '3 days' {source}"
    )
    return features, spine


def at_time(con: sqlml.Connection, table: str, spine: str = SPINE) -> list[tuple]:
    return [
        tuple(r.values()) for r in rows(con, f"SELECT * FROM FEATURES_AT_TIME({table}, {spine})")
    ]


def table_names(con: sqlml.Connection) -> set[str]:
    return set(
        values(
            con,
            "SELECT table_name FROM information_schema.tables WHERE table_schema = "
            "current_schema()",
        )
    )


def described(con: sqlml.Connection, table: str) -> dict[tuple[str, str], str]:
    return {
        (r["section"], r["name"]): r["value"] for r in rows(con, f"DESCRIBE FEATURE TABLE {table}")
    }


@pytest.fixture
def trained(con: sqlml.Connection, monkeypatch: pytest.MonkeyPatch) -> list[Query]:
    """Every training query (and its parameters) CREATE MODEL hands to the engine."""
    queries: list[Query] = []
    original = con.backend.create_model

    def create_model(name: str, query: Query, *args: Any) -> int:
        queries.append(query)
        return original(name, query, *args)

    monkeypatch.setattr(con.backend, "create_model", create_model)
    return queries


def training_rows(con: sqlml.Connection, query: Query) -> list[tuple]:
    return [tuple(r) for r in con.backend.run(query.sql, query.params).fetchall()]


# -- the rule against a brute-force reference -------------------------------------------------


@pytest.mark.parametrize(("table", "ttl"), [("ft", None), ("ft_ttl", TTL)])
def test_features_at_time_matches_a_brute_force_reference(con, table, ttl):
    features, spine = load_random(con, seed=5)
    expected = reference(features, spine, ttl)
    cursor = con.execute(f"SELECT * FROM FEATURES_AT_TIME({table}, {SPINE})")
    assert [d[0] for d in cursor.description] == [
        "id",
        "customer_id",
        "label_time",
        "label",
        "x",
        "tag",
    ]
    actual = [tuple(r) for r in cursor.fetchall()]
    assert len(actual) == len(spine) == 2000  # one row per spine row, repeats kept
    assert ordered(actual) == ordered(expected)
    # Ordered by key and time (NULLs last); rows tied on both may come in any order.
    stamps = [r[1:3] for r in actual]
    assert stamps == ordered([r[1:3] for r in expected])
    # The data does hold every case the rule distinguishes.
    found = [r for r in expected if r[4] is not None or r[5] is not None]
    assert 500 < len(found) < len(expected) - 300
    exact = {(k, t) for k, t in zip(features.customer_id, features.feature_time, strict=True)}
    assert sum((r[1], r[2]) in exact for r in expected) > 100


def test_ttl_blanks_what_is_too_old(con):
    load_random(con, seed=11)
    plain = {r[0]: r for r in at_time(con, "ft")}
    fresh = {r[0]: r for r in at_time(con, "ft_ttl")}
    blanked = [i for i in plain if plain[i][4:] != (None, None) and fresh[i][4:] == (None, None)]
    assert len(blanked) > 30
    assert all(fresh[i][4:] in ((None, None), plain[i][4:]) for i in plain)


def test_a_time_column_named_in_the_call_is_used(con):
    load_random(con, seed=3)
    spine = (
        "(SELECT customer_id, label_time, label_time + INTERVAL '1 day' AS later FROM "
        f"{SPINE} AS s WHERE label_time IS NOT NULL)"
    )
    named = rows(con, f"SELECT * FROM FEATURES_AT_TIME(ft, {spine}, later)")
    shifted = rows(
        con,
        "SELECT * FROM FEATURES_AT_TIME(ft, (SELECT customer_id, label_time + INTERVAL '1 day' "
        f"AS later FROM {SPINE} AS s WHERE label_time IS NOT NULL))",
    )
    assert ordered([(r["customer_id"], r["later"], r["x"], r["tag"]) for r in named]) == ordered(
        [(r["customer_id"], r["later"], r["x"], r["tag"]) for r in shifted]
    )
    with pytest.raises(InputSchemaError, match="label_time, later"):
        con.execute(f"SELECT * FROM FEATURES_AT_TIME(ft, {spine})")


@pytest.fixture
def both(postgres_database: psycopg.Connection, tmp_path) -> Iterator[list[sqlml.Connection]]:
    """A DuckDB and a PostgreSQL connection, each on an empty database."""
    reset(postgres_database)
    opened = [sqlml.connect(str(tmp_path / "both.duckdb")), sqlml.connect(postgres_database)]
    yield opened
    for con in opened:
        con.close()


def test_duckdb_and_postgresql_give_identical_results(both):
    results = []
    for con in both:
        load_random(con, seed=17)
        con.execute(f"CREATE VIEW labels_view AS SELECT * FROM {SPINE} AS s")
        facts = described(con, "ft_ttl")
        results.append(
            {
                "plain": at_time(con, "ft"),
                "ttl": at_time(con, "ft_ttl"),
                "filtered": rows(
                    con,
                    "SELECT customer_id, label_time, x FROM FEATURES_AT_TIME(ft_ttl, TABLE "
                    "labels_view) AS f WHERE x > 0 ORDER BY customer_id, label_time, x",
                ),
                "described": {
                    k: v for k, v in facts.items() if k[1] in ("rows", "freshness", "key", "ttl")
                },
            }
        )
    duck, pg = results
    for name in ("plain", "ttl"):
        # Identical rows in the same (key, time) order.
        assert [r[1:3] for r in duck[name]] == [r[1:3] for r in pg[name]]
        assert ordered(duck[name]) == ordered(pg[name])
    assert duck["filtered"] == pg["filtered"]
    assert len(duck["filtered"]) > 100
    assert duck["described"] == pg["described"]


def test_spines_in_ctes_nested_calls_two_keys_and_other_spellings(con, make_table):
    make_table(
        "events",
        pd.DataFrame(
            {
                "c": [1, 1, 1, 2],
                "r": ["n", "s", "n", "n"],
                "t": [day(1), day(1), day(3), day(2)],
                "v": [1.0, 2.0, 3.0, 4.0],
            }
        ),
    )
    make_table(
        "spine",
        pd.DataFrame(
            {"c": [1, 1, 1, 2], "r": ["n", "s", "n", "s"], "d": [day(2), day(2), day(4), day(4)]}
        ),
    )
    # Two keys: (1, 's') does not get (1, 'n')'s values.
    con.execute("CREATE FEATURE TABLE two KEY c, r TIMESTAMP t AS SELECT * FROM events")
    expected = [
        (1, "n", day(2), 1.0),
        (1, "n", day(4), 3.0),
        (1, "s", day(2), 2.0),
        (2, "s", day(4), None),
    ]
    assert at_time(con, "two", "TABLE spine") == expected
    # A spine that reads a CTE of the statement around it.
    cte = rows(
        con,
        "WITH s AS (SELECT * FROM spine WHERE c = 1) SELECT * FROM FEATURES_AT_TIME(two, "
        "(SELECT * FROM s))",
    )
    assert [tuple(r.values()) for r in cte] == expected[:3]
    # A key spelled in another case than the spine's column ("Cust" against cust).
    con.execute(
        'CREATE FEATURE TABLE cased KEY cust TIMESTAMP t AS SELECT c AS "Cust", t, v AS w '
        "FROM events WHERE r = 'n'"
    )
    assert at_time(con, "cased", "(SELECT c AS cust, d FROM spine)") == [
        (1, day(2), 1.0),
        (1, day(2), 1.0),
        (1, day(4), 3.0),
        (2, day(4), 4.0),
    ]
    # One call's output as another's spine.
    nested = at_time(con, "cased", "(SELECT *, c AS cust FROM FEATURES_AT_TIME(two, TABLE spine))")
    assert ordered([r[1:] for r in nested]) == [
        ("n", day(2), 1.0, 1, 1.0),
        ("n", day(4), 3.0, 1, 3.0),
        ("s", day(2), 2.0, 1, 1.0),
        ("s", day(4), None, 2, 4.0),
    ]


# -- leakage traps ---------------------------------------------------------------------------


@pytest.fixture
def leaky(con, make_table) -> None:
    """Per customer: a noise value one day before the label time, and from one day after it a
    value equal to the label. Training on anything from after the label time would be perfect."""
    rng = np.random.default_rng(2)
    n = 300
    label_times = [day(int(d)) for d in rng.integers(10, 60, size=n)]
    labels = rng.integers(0, 2, size=n)
    make_table(
        "labels",
        pd.DataFrame({"customer_id": np.arange(n), "label_time": label_times, "churned": labels}),
    )
    make_table(
        "history",
        pd.DataFrame(
            {
                "customer_id": np.tile(np.arange(n), 2),
                "feature_time": [t - dt.timedelta(days=1) for t in label_times]
                + [t + dt.timedelta(days=1) for t in label_times],
                "signal": np.concatenate([rng.normal(size=n).round(3), labels.astype(float)]),
            }
        ),
    )
    con.execute(
        "CREATE FEATURE TABLE activity KEY customer_id TIMESTAMP feature_time "
        "AS SELECT * FROM history"
    )


def test_training_never_reads_a_value_from_after_the_label_time(con, leaky, trained):
    (created,) = rows(
        con,
        f"CREATE MODEL churn TARGET churned FEATURES activity AS OF label_time OPTIONS ({FAST}) "
        "AS SELECT customer_id, label_time, churned FROM labels",
    )
    (query,) = trained
    training = training_rows(con, query)
    lookup = at_time(con, "activity", "labels")
    assert ordered(training) == ordered(lookup)
    assert len(training) == 300
    # Every signal is the noise from the day before, never the label from the day after.
    before = dict(
        con.execute(
            "SELECT h.customer_id, h.signal FROM history h JOIN labels l ON "
            "l.customer_id = h.customer_id AND h.feature_time < l.label_time"
        ).fetchall()
    )
    assert {r[0]: r[3] for r in training} == before
    model = con.backend.catalog.get("churn")
    assert [f["name"] for f in model.metadata["features"]] == ["signal"]
    # A model that saw the label would be perfect.
    assert created["metric_value"] < 0.8


def test_a_change_after_the_label_time_does_not_reach_training(con, make_table, trained):
    make_table(
        "history",
        pd.DataFrame(
            {
                "customer_id": [1, 1, 1, 2],
                "feature_time": [day(1), day(5), day(9), day(2)],
                "v": [10.0, 20.0, 30.0, 40.0],
            }
        ),
    )
    make_table(
        "labels",
        pd.DataFrame(
            {
                "customer_id": [1, 1, 1, 2, 2, 3],
                "label_time": [day(4), day(5), day(8.99), day(1), day(2), day(10)],
                "y": [1.0, 2.0, 3.0, 4.0, 5.0, 6.0],
            }
        ),
    )
    con.execute(
        "CREATE FEATURE TABLE h KEY customer_id TIMESTAMP feature_time AS SELECT * FROM history"
    )
    expected = [
        (1, day(4), 1.0, 10.0),  # day 5's value is after the label: not seen
        (1, day(5), 2.0, 20.0),  # exactly at the feature time: seen
        (1, day(8.99), 3.0, 20.0),
        (2, day(1), 4.0, None),  # nothing before t, though customer 1 has: NULL
        (2, day(2), 5.0, 40.0),
        (3, day(10), 6.0, None),  # no features at all
    ]
    assert at_time(con, "h", "labels") == expected
    # Changing the value at day 9 (after every label) and adding one at day 8.995 change nothing
    # before them.
    con.execute("UPDATE history SET v = 99 WHERE feature_time = " + _stamp(con, day(9)))
    con.execute(
        f"INSERT INTO history VALUES (1, {_stamp(con, day(8.995))}, 77), "
        f"(3, {_stamp(con, day(10.5))}, 50)"
    )
    con.execute("REFRESH FEATURE TABLE h")
    assert at_time(con, "h", "labels") == expected
    con.execute(
        f"CREATE MODEL m TARGET y FEATURES h OPTIONS ({FAST}, min_child_samples = 1) "
        "AS SELECT * FROM labels"
    )
    (query,) = trained
    assert ordered(training_rows(con, query)) == ordered(expected)


def _stamp(con: sqlml.Connection, when: dt.datetime) -> str:
    return f"CAST('{when.isoformat(sep=' ')}' AS TIMESTAMP)"


def test_ttl_expiry_gives_nulls(con, make_table):
    make_table(
        "history",
        pd.DataFrame(
            {
                "customer_id": [1, 1, 2],
                "feature_time": [day(0), day(10), day(0)],
                "v": [1.0, 2.0, 3.0],
            }
        ),
    )
    con.execute(
        "CREATE FEATURE TABLE h KEY customer_id TIMESTAMP feature_time TTL INTERVAL '2 days' "
        "AS SELECT * FROM history"
    )
    spine = pd.DataFrame(
        {
            "customer_id": [1, 1, 1, 1, 1, 2],
            "t": [day(1), day(2), day(2) + dt.timedelta(seconds=1), day(9), day(12), day(30)],
        }
    )
    make_table("spine", spine)
    found = [r[2] for r in at_time(con, "h", "spine")]
    # the edge (t - TTL = feature time) is fresh; past it the old value is not carried on.
    assert found == [1.0, 1.0, None, None, 2.0, None]


# -- REFRESH ---------------------------------------------------------------------------------


def test_refresh_merges_new_and_changed_rows(con, make_table):
    make_table(
        "events",
        pd.DataFrame(
            {
                "customer_id": [1, 1, 2, 3],
                "feature_time": [day(1), day(2), day(1), day(3)],
                "spend": [1.0, 2.0, 3.0, 4.0],
            }
        ),
    )
    created = rows(
        con,
        "CREATE FEATURE TABLE spend KEY customer_id TIMESTAMP feature_time "
        "AS SELECT customer_id, feature_time, spend FROM events",
    )
    assert created == [{"feature_table": "spend", "rows": 4, "added": 4, "freshness": str(day(3))}]
    first = described(con, "spend")
    con.execute(
        "UPDATE events SET spend = 20 WHERE customer_id = 1 AND feature_time = "
        + _stamp(con, day(2))
    )
    con.execute("DELETE FROM events WHERE customer_id = 3")
    con.execute(
        f"INSERT INTO events VALUES (1, {_stamp(con, day(4))}, 5), (4, {_stamp(con, day(2))}, 6)"
    )
    refreshed = rows(con, "REFRESH FEATURE TABLE spend")
    assert refreshed == [
        {"feature_table": "spend", "rows": 6, "added": 2, "freshness": str(day(4))}
    ]
    assert rows(con, "SELECT * FROM spend ORDER BY customer_id, feature_time") == [
        {"customer_id": 1, "feature_time": day(1), "spend": 1.0},
        {"customer_id": 1, "feature_time": day(2), "spend": 20.0},  # updated
        {"customer_id": 1, "feature_time": day(4), "spend": 5.0},
        {"customer_id": 2, "feature_time": day(1), "spend": 3.0},
        {"customer_id": 3, "feature_time": day(3), "spend": 4.0},  # history is kept
        {"customer_id": 4, "feature_time": day(2), "spend": 6.0},
    ]
    # A second refresh of unchanged data adds nothing and duplicates nothing.
    again = rows(con, "REFRESH FEATURE TABLE spend")
    assert again[0]["added"] == 0 and again[0]["rows"] == 6
    assert scalar(con, "SELECT COUNT(*) FROM spend") == 6
    second = described(con, "spend")
    assert first[("feature_table", "rows")] == "4" and second[("feature_table", "rows")] == "6"
    assert first[("feature_table", "freshness")] == str(day(3))
    assert second[("feature_table", "freshness")] == str(day(4))
    assert second[("feature_table", "created_at")] == first[("feature_table", "created_at")]
    assert second[("feature_table", "last_refresh")] > first[("feature_table", "last_refresh")]
    shown = rows(con, "SHOW FEATURE TABLES")[0]
    assert str(shown["refreshed_at"]) == second[("feature_table", "last_refresh")]


def test_refresh_leaves_out_null_keys_with_a_notice_and_refuses_duplicates(con, make_table):
    make_table(
        "events",
        pd.DataFrame(
            {"customer_id": [1.0, 2.0], "feature_time": [day(1), day(1)], "spend": [1.0, 2.0]}
        ),
    )
    con.execute(
        "CREATE FEATURE TABLE spend KEY customer_id TIMESTAMP feature_time AS SELECT * FROM events"
    )
    con.execute(f"INSERT INTO events VALUES (NULL, {_stamp(con, day(2))}, 3), (3, NULL, 4)")
    with pytest.warns(SqlmlNotice, match="2 row"):
        con.execute("REFRESH FEATURE TABLE spend")
    assert scalar(con, "SELECT COUNT(*) FROM spend") == 2
    before = described(con, "spend")[("feature_table", "last_refresh")]
    con.execute(f"INSERT INTO events VALUES (2, {_stamp(con, day(1))}, 9)")
    with pytest.raises(InvalidTrainingDataError, match="2 rows for customer_id = 2"):
        con.execute("REFRESH FEATURE TABLE spend")
    # Nothing of the failed refresh stays.
    assert rows(con, "SELECT customer_id, spend FROM spend ORDER BY 1") == [
        {"customer_id": 1.0, "spend": 1.0},
        {"customer_id": 2.0, "spend": 2.0},
    ]
    assert described(con, "spend")[("feature_table", "last_refresh")] == before
    assert "_sqlml_stage" not in table_names(con)


def test_refresh_refuses_a_query_whose_columns_changed(con, make_table):
    make_table("events", pd.DataFrame({"c": [1], "t": [day(1)], "v": [1.0]}))
    con.execute("CREATE FEATURE TABLE f KEY c TIMESTAMP t AS SELECT * FROM events")
    con.execute("ALTER TABLE events ADD COLUMN w DOUBLE PRECISION")
    with pytest.raises(InputSchemaError, match="CREATE OR REPLACE FEATURE TABLE"):
        con.execute("REFRESH FEATURE TABLE f")


# -- SHOW / DESCRIBE / DROP / CREATE variants ------------------------------------------------


@pytest.fixture
def events(make_table) -> str:
    return make_table(
        "events",
        pd.DataFrame(
            {
                "customer_id": [1, 1, 2],
                "region": ["n", "n", "s"],
                "feature_time": [day(1), day(2), day(1)],
                "spend": [1.0, 2.0, 3.0],
                "visits": [1, 2, 3],
            }
        ),
    )


def test_show_and_describe(con, events):
    assert rows(con, "SHOW FEATURE TABLES") == []
    con.execute(
        "CREATE FEATURE TABLE spend KEY customer_id, region TIMESTAMP feature_time "
        "TTL INTERVAL '30 days' AS SELECT * FROM events"
    )
    con.execute(
        "CREATE FEATURE TABLE visits KEY customer_id TIMESTAMP feature_time "
        "AS SELECT customer_id, feature_time, visits FROM events"
    )
    shown = rows(con, "SHOW FEATURE TABLES")
    assert [r["name"] for r in shown] == ["spend", "visits"]
    spend = shown[0]
    assert spend["key"] == "customer_id, region"
    assert spend["timestamp"] == "feature_time"
    assert spend["ttl"].lower() == "30 days"
    assert (spend["features"], spend["rows"], spend["freshness"]) == (2, 3, str(day(2)))
    assert shown[1]["ttl"] is None
    facts = described(con, "spend")
    assert facts[("feature_table", "key")] == "customer_id, region"
    assert facts[("feature_table", "timestamp")] == "feature_time"
    assert facts[("feature_table", "ttl")].lower() == "30 days"
    assert facts[("feature_table", "rows")] == "3"
    assert facts[("feature_table", "freshness")] == str(day(2))
    assert "events" in facts[("feature_table", "query")]
    columns = [
        (r["name"], r["value"])
        for r in rows(con, "DESCRIBE FEATURE TABLE spend")
        if r["section"] == "column"
    ]
    assert [c for c, _ in columns] == ["customer_id", "region", "feature_time", "spend", "visits"]
    assert "TIMESTAMP" in dict(columns)["feature_time"].upper()
    assert ("feature_table", "last_refresh") in facts and ("feature_table", "created_at") in facts
    with pytest.raises(FeatureTableNotFoundError, match="spend"):
        con.execute("DESCRIBE FEATURE TABLE spnd")


def test_drop_is_refused_while_a_model_uses_it_unless_cascade(con, events, make_table):
    make_table(
        "labels",
        pd.DataFrame(
            {"customer_id": [1, 2, 1, 2] * 5, "label_time": [day(3)] * 20, "y": np.arange(20.0)}
        ),
    )
    con.execute(
        "CREATE FEATURE TABLE spend KEY customer_id TIMESTAMP feature_time "
        "AS SELECT customer_id, feature_time, spend FROM events"
    )
    con.execute(
        "CREATE FEATURE TABLE spare KEY customer_id TIMESTAMP feature_time "
        "AS SELECT customer_id, feature_time, visits FROM events"
    )
    con.execute(f"CREATE MODEL m TARGET y FEATURES spend OPTIONS ({FAST}) AS SELECT * FROM labels")
    facts = described(con, "spend")
    assert facts[("model", "m")] == "uses it"
    with pytest.raises(InputSchemaError, match="model\\(s\\) m use it"):
        con.execute("DROP FEATURE TABLE spend")
    # Replacing it is allowed, and said: the model reads the new rows from now on.
    with pytest.warns(SqlmlNotice, match=r"model\(s\) m use it .* features spend are gone"):
        con.execute(
            "CREATE OR REPLACE FEATURE TABLE spend KEY customer_id TIMESTAMP feature_time "
            "AS SELECT customer_id, feature_time, visits FROM events"
        )
    assert "spend" in table_names(con) and len(rows(con, "SHOW MODELS")) == 1
    con.execute("DROP FEATURE TABLE spare")  # no model uses it
    con.execute("DROP FEATURE TABLE spend CASCADE")
    assert rows(con, "SHOW MODELS") == []
    assert rows(con, "SHOW FEATURE TABLES") == []
    assert {"spend", "spare"} & table_names(con) == set()
    con.execute("DROP FEATURE TABLE IF EXISTS spend")
    with pytest.raises(FeatureTableNotFoundError):
        con.execute("DROP FEATURE TABLE spend")


def test_create_variants(con, events):
    create = (
        "CREATE {} FEATURE TABLE {} spend KEY customer_id TIMESTAMP feature_time "
        "AS SELECT customer_id, feature_time, {} FROM events"
    )
    con.execute(create.format("", "", "spend"))
    with pytest.raises(ModelExistsError, match="already exists"):
        con.execute(create.format("", "", "visits"))
    assert rows(con, create.format("", "IF NOT EXISTS", "visits")) == []
    assert "spend" in [c for c, _ in con.backend.describe(Query("SELECT * FROM spend"))]
    con.execute(create.format("OR REPLACE", "", "visits"))
    assert [c for c, _ in con.backend.describe(Query("SELECT * FROM spend"))] == [
        "customer_id",
        "feature_time",
        "visits",
    ]
    assert described(con, "spend")[("column", "visits")]
    # A plain table of the name is not taken over, even by OR REPLACE.
    for prefix in ("", "OR REPLACE"):
        with pytest.raises(ModelExistsError, match="a table named events"):
            con.execute(
                f"CREATE {prefix} FEATURE TABLE events KEY customer_id TIMESTAMP feature_time "
                "AS SELECT customer_id, feature_time, spend FROM events"
            )
    assert [r["name"] for r in rows(con, "SHOW FEATURE TABLES")] == ["spend"]


# -- CREATE MODEL ... FEATURES and PREDICT ---------------------------------------------------


@pytest.fixture
def serving(con, make_table) -> None:
    """Customers 1..20 have a feature row an hour ago, 21..40 ten days ago, and history in
    2024; labels in 2024; a region feature table keyed by region."""
    rng = np.random.default_rng(8)
    history = pd.DataFrame(
        {
            "customer_id": np.repeat(np.arange(1, 41), 10),
            "feature_time": [day(3 * i) for i in range(10)] * 40,
            "x": rng.normal(size=400).round(3),
        }
    )
    make_table("history", history)
    n = 400
    customers = rng.integers(1, 41, size=n)
    labels = pd.DataFrame(
        {
            "id": np.arange(n),
            "customer_id": customers,
            "region": np.where(customers % 2 == 0, "n", "s"),
            "label_time": [day(float(d)) for d in rng.uniform(-1, 30, size=n).round(2)],
            "z": rng.normal(size=n).round(3),
        }
    )
    labels["y"] = rng.normal(size=n) + labels["z"]
    make_table("labels", labels)
    make_table(
        "region_stats",
        pd.DataFrame(
            {
                "region": ["n", "s", "n"],
                "stat_time": [day(0), day(0), day(15)],
                "w": [1.0, 2.0, 3.0],
            }
        ),
    )
    make_table(
        "today",
        pd.DataFrame(
            {
                "customer_id": np.arange(1, 43),  # 41 and 42 have no features
                "region": np.where(np.arange(1, 43) % 2 == 0, "n", "s"),
                "z": np.linspace(-1, 1, 42),
            }
        ),
    )
    now = "CAST(CURRENT_TIMESTAMP AS TIMESTAMP)"
    con.execute(
        f"INSERT INTO history SELECT customer_id, {now} - INTERVAL '1 hour', customer_id + 10.0 "
        "FROM history WHERE customer_id <= 20 AND feature_time = " + _stamp(con, day(0))
    )
    con.execute(
        f"INSERT INTO history SELECT customer_id, {now} - INTERVAL '10 days', -customer_id - 10.0 "
        "FROM history WHERE customer_id > 20 AND feature_time = " + _stamp(con, day(0))
    )
    con.execute(
        "CREATE FEATURE TABLE recent KEY customer_id TIMESTAMP feature_time "
        "AS SELECT * FROM history"
    )
    con.execute(
        "CREATE FEATURE TABLE recent_ttl KEY customer_id TIMESTAMP feature_time "
        "TTL INTERVAL '2 days' AS SELECT * FROM history"
    )
    con.execute(
        "CREATE FEATURE TABLE regions KEY region TIMESTAMP stat_time AS SELECT * FROM region_stats"
    )


def _positional(con: sqlml.Connection, model: str, spine: str, time: str, by: str) -> list:
    """PREDICT with every feature given, over FEATURES_AT_TIME of each of the model's
    feature tables: what PREDICT(m, *) must equal."""
    meta = con.backend.catalog.get(model).metadata
    for use in meta["annotations"]["features"]:
        spine = f"(SELECT * FROM FEATURES_AT_TIME({use['table']}, {spine}, {time}))"
    arguments = ", ".join(f["name"] for f in meta["features"])
    return values(con, f"SELECT PREDICT({model}, {arguments}) FROM {spine} AS s ORDER BY {by}")


@pytest.mark.parametrize("table", ["recent", "recent_ttl"])
def test_predict_looks_features_up_as_of_now_or_as_of_the_as_of_column(con, serving, table):
    con.execute(
        f"CREATE MODEL m TARGET y FEATURES {table} AS OF label_time OPTIONS ({FAST}) "
        "AS SELECT customer_id, label_time, z, x_hint, y FROM "
        "(SELECT *, 0 AS x_hint FROM labels) AS l"
    )
    model = con.backend.catalog.get("m")
    assert [f["name"] for f in model.metadata["features"]] == ["z", "x_hint", "x"]
    assert model.metadata["annotations"]["features"] == [
        {"table": table, "as_of": "label_time", "keys": ["customer_id"], "features": ["x"]}
    ]
    described = rows(con, "DESCRIBE MODEL m")
    assert [(r["name"], r["value"]) for r in described if r["section"] == "feature_table"] == [
        (table, "AS OF label_time: x")
    ]
    # Keys only (and the non-feature inputs): as of now.
    con.execute("CREATE TABLE today2 AS SELECT customer_id, z, 0 AS x_hint FROM today")
    now = values(con, "SELECT PREDICT(m, *) FROM today2 ORDER BY customer_id")
    expected = _positional(
        con,
        "m",
        "(SELECT *, CAST(CURRENT_TIMESTAMP AS TIMESTAMP) AS now_t FROM today2)",
        "now_t",
        "customer_id",
    )
    assert now == pytest.approx(expected) and len(now) == 42
    looked_up = rows(
        con,
        f"SELECT customer_id, x FROM FEATURES_AT_TIME({table}, (SELECT customer_id, "
        "CAST(CURRENT_TIMESTAMP AS TIMESTAMP) AS now_t FROM today)) AS f ORDER BY customer_id",
    )
    fresh = {r["customer_id"]: r["x"] for r in looked_up}
    assert all(fresh[c] == c + 10 for c in range(1, 21))
    assert all(fresh[c] is None for c in (41, 42))
    stale = [fresh[c] for c in range(21, 41)]
    assert stale == ([None] * 20 if table == "recent_ttl" else [-c - 10.0 for c in range(21, 41)])
    # A table with the AS OF column: as of each row's own time.
    con.execute(
        "CREATE TABLE past AS SELECT id, customer_id, label_time, z, 0 AS x_hint FROM labels"
    )
    past = values(con, "SELECT PREDICT(m, *) FROM past ORDER BY id")
    assert past == pytest.approx(_positional(con, "m", "past", "label_time", "id"))
    as_of_now = _positional(
        con,
        "m",
        "(SELECT *, CAST(CURRENT_TIMESTAMP AS TIMESTAMP) AS now_t FROM past)",
        "now_t",
        "id",
    )
    assert past != pytest.approx(as_of_now)
    # t.* in a join reads the features for that table's rows.
    joined = rows(
        con,
        "SELECT t.customer_id, PREDICT(m, t.*) AS p FROM today2 t JOIN labels l "
        "ON l.customer_id = t.customer_id ORDER BY t.customer_id, l.id",
    )
    by_customer = dict(zip(range(1, 43), now, strict=True))
    assert len(joined) == 400
    assert all(r["p"] == pytest.approx(by_customer[r["customer_id"]]) for r in joined)


def test_a_model_on_two_feature_tables(con, serving, trained):
    con.execute(
        f"CREATE MODEL m TARGET y FEATURES recent AS OF label_time, regions AS OF label_time "
        f"OPTIONS ({FAST}) AS SELECT id, customer_id, region, label_time, z, y FROM labels"
    )
    model = con.backend.catalog.get("m")
    assert model.metadata["annotations"]["features"] == [
        {"table": "recent", "as_of": "label_time", "keys": ["customer_id"], "features": ["x"]},
        {"table": "regions", "as_of": "label_time", "keys": ["region"], "features": ["w"]},
    ]
    # Keys and the AS OF column are not features; id is an ordinary column.
    assert [f["name"] for f in model.metadata["features"]] == ["id", "z", "x", "w"]
    (query,) = trained
    nested = at_time(
        con,
        "regions",
        "(SELECT * FROM FEATURES_AT_TIME(recent, (SELECT id, customer_id, region, label_time, "
        "z, y FROM labels), label_time))",
    )
    training = training_rows(con, query)
    assert ordered(training) == ordered(nested)
    w = {r[0]: r[-1] for r in training}
    assert {w[i] for i in w} == {1.0, 2.0, 3.0, None}  # before day 0, after day 15 for n
    con.execute("CREATE TABLE keys AS SELECT 7 AS id, customer_id, region, z FROM today")
    predicted = values(con, "SELECT PREDICT(m, *) FROM keys ORDER BY customer_id")
    in_cte = values(
        con, "WITH k AS (SELECT * FROM keys) SELECT PREDICT(m, *) FROM k ORDER BY customer_id"
    )
    assert in_cte == predicted
    assert predicted == pytest.approx(
        _positional(
            con,
            "m",
            "(SELECT *, CAST(CURRENT_TIMESTAMP AS TIMESTAMP) AS now_t FROM keys)",
            "now_t",
            "customer_id",
        )
    )


# -- bad input -------------------------------------------------------------------------------


def _nothing_left(con: sqlml.Connection, name: str) -> None:
    assert rows(con, "SHOW FEATURE TABLES") == []
    assert {name, "_sqlml_stage"} & table_names(con) == set()


@pytest.mark.parametrize(
    ("clauses", "error", "message"),
    [
        ("KEY cust TIMESTAMP feature_time", InputSchemaError, "KEY column 'cust' is not among"),
        ("KEY customer_id TIMESTAMP ts", InputSchemaError, "TIMESTAMP column 'ts' is not among"),
        (
            "KEY customer_id TIMESTAMP spend",
            InputSchemaError,
            "TIMESTAMP column 'spend' is (DOUBLE|float8); it must be a date",
        ),
        (
            "KEY feature_time TIMESTAMP feature_time",
            InputSchemaError,
            "'feature_time' cannot be both KEY and TIMESTAMP",
        ),
        (
            "KEY customer_id TIMESTAMP feature_time TTL INTERVAL 'banana'",
            UnknownOptionError,
            "TTL 'banana' is not an interval",
        ),
        (
            "KEY customer_id TIMESTAMP feature_time TTL 42",
            SqlmlSyntaxError,
            "TTL takes an interval",
        ),
        ("TIMESTAMP feature_time", SqlmlSyntaxError, "needs KEY"),
    ],
)
def test_bad_definitions_name_the_columns(con, events, clauses, error, message):
    with pytest.raises(error, match=message) as raised:
        con.execute(
            f"CREATE FEATURE TABLE ft {clauses} "
            "AS SELECT customer_id, feature_time, spend FROM events"
        )
    if error is InputSchemaError and "not among" in message:
        assert "customer_id, feature_time, spend" in str(raised.value)
    _nothing_left(con, "ft")


def test_a_query_with_two_rows_for_one_key_and_time_is_refused(con, make_table):
    make_table(
        "events",
        pd.DataFrame(
            {"c": [1, 1, 2, None], "t": [day(1), day(1), day(1), day(1)], "v": [1.0, 2.0, 3.0, 4.0]}
        ),
    )
    with pytest.raises(InvalidTrainingDataError, match=r"2 rows for c = 1\.0"):
        con.execute("CREATE FEATURE TABLE f KEY c TIMESTAMP t AS SELECT * FROM events")
    _nothing_left(con, "f")
    con.execute("CREATE FEATURE TABLE f KEY c TIMESTAMP t AS SELECT * FROM events WHERE v > 1")
    # OR REPLACE with a bad query keeps the table it would have replaced.
    with pytest.raises(InvalidTrainingDataError):
        con.execute("CREATE OR REPLACE FEATURE TABLE f KEY c TIMESTAMP t AS SELECT * FROM events")
    assert scalar(con, "SELECT COUNT(*) FROM f") == 2
    assert [r["name"] for r in rows(con, "SHOW FEATURE TABLES")] == ["f"]


def test_rows_without_key_or_timestamp_are_left_out_with_a_notice(con, make_table):
    make_table(
        "events",
        pd.DataFrame({"c": [1.0, None, 3.0], "t": [day(1), day(1), None], "v": [1.0, 2.0, 3.0]}),
    )
    with pytest.warns(SqlmlNotice, match="2 row\\(s\\) without a key or timestamp"):
        created = rows(con, "CREATE FEATURE TABLE f KEY c TIMESTAMP t AS SELECT * FROM events")
    assert created[0]["rows"] == 1


@pytest.mark.parametrize(
    ("spine", "message"),
    [
        ("(SELECT label_time FROM labels)", "lacks the key column\\(s\\) customer_id"),
        ("(SELECT customer_id, label_time, x FROM labels)", "feature\\(s\\) x .* clash"),
        ("(SELECT customer_id, z FROM labels)", "it has none"),
        ("(SELECT customer_id, label_time, z FROM labels), z", "'z' is (DOUBLE|float8)"),
        ("(SELECT customer_id, label_time FROM labels), t", "time column 't' is not among"),
    ],
)
def test_bad_spines_name_the_columns(con, serving, spine, message):
    con.execute("ALTER TABLE labels ADD COLUMN x DOUBLE PRECISION")
    with pytest.raises(InputSchemaError, match=message):
        con.execute(f"SELECT * FROM FEATURES_AT_TIME(recent, {spine})")


def test_bad_feature_sources_of_create_model(con, serving):
    statements = {
        "CREATE MODEL m TARGET y FEATURES nope AS SELECT * FROM labels": (
            FeatureTableNotFoundError,
            "feature table 'nope' does not exist",
        ),
        "CREATE MODEL m TARGET y FEATURES recent AS SELECT label_time, y FROM labels": (
            InputSchemaError,
            "lacks the key column\\(s\\) customer_id",
        ),
        "CREATE MODEL m TARGET y FEATURES recent, recent_ttl AS SELECT * FROM labels": (
            InputSchemaError,
            "feature 'x' is in both 'recent' and 'recent_ttl'",
        ),
        "CREATE MODEL m TARGET y FEATURES recent AS OF z AS SELECT * FROM labels": (
            InputSchemaError,
            "'z' is (DOUBLE|float8)",
        ),
    }
    for statement, (error, message) in statements.items():
        with pytest.raises(error, match=message):
            con.execute(statement)
    assert rows(con, "SHOW MODELS") == []
    with pytest.raises(FeatureTableNotFoundError, match="recent"):
        con.execute("SELECT * FROM FEATURES_AT_TIME(recnt, TABLE labels)")


def test_predict_of_a_feature_model_over_a_table_without_the_keys(con, serving):
    con.execute(
        f"CREATE MODEL m TARGET y FEATURES recent OPTIONS ({FAST}) "
        "AS SELECT customer_id, label_time, z, y FROM labels"
    )
    with pytest.raises(SqlmlError, match="customer_id"):
        con.execute("SELECT PREDICT(m, *) FROM (SELECT z FROM labels) AS t")
