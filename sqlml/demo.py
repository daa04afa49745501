"""The guided example behind ``sqlml demo``: its data and its steps.

Only content lives here (what to say, which SQL to run); ``sqlml.cli`` renders it with the
same code that prints the shell's results, so the demo shows exactly what a user will see.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import duckdb

    from sqlml.connection import Connection

TABLE = "penguins"
DEFAULT_DATABASE = "sqlml_demo.duckdb"


@dataclass(frozen=True)
class Step:
    title: str
    explanation: str
    sql: str
    # Loads the data the step needs first; returns what to tell the user about it.
    prepare: Callable[[Connection], str] | None = None


INTRO = (
    "sqlml trains and runs machine-learning models with SQL, inside the database. This demo "
    "works on the Palmer penguins data set (344 penguins of three species, with a few NULLs "
    "and text columns) in an embedded DuckDB file. Every statement below is real sqlml SQL: "
    "paste any of them into `sqlml shell`."
)

_FEATURES = "island, bill_length_mm, bill_depth_mm, flipper_length_mm, body_mass_g, sex"
_MASS_FEATURES = "species, island, bill_length_mm, bill_depth_mm, flipper_length_mm, sex"


def _duckdb(con: Connection) -> duckdb.DuckDBPyConnection:
    """The demo's DuckDB connection, under sqlml's."""
    from sqlml.backends.duckdb import DuckDBBackend
    from sqlml.errors import UnsupportedError

    if not isinstance(con.backend, DuckDBBackend):
        raise UnsupportedError("the demo's data loads into DuckDB only")
    return con.backend.con


def load_customers(con: Connection) -> str:
    """A shop's last 180 days, made up: one row per customer and day with activity
    (customer_activity_daily), and churn labels observed at past times (churn_labels).
    Customers who churn wind down over the 30 days before they leave."""
    import datetime as dt

    import numpy as np
    import pandas as pd

    rng = np.random.default_rng(7)
    customers, days = 400, 180
    today = dt.date.today()
    first_day = today - dt.timedelta(days=days - 1)
    rate = rng.uniform(0.8, 1.6, customers)  # orders a day while engaged
    churns = rng.random(customers) < 0.3
    churn_day = np.where(churns, rng.integers(90, days, customers), days + 999)
    day = np.arange(days)
    # Engagement fades linearly over the 45 days before the churn day, then stops.
    fading = np.clip((churn_day[:, None] - day[None, :]) / 45, 0, 1)
    orders = rng.poisson(rate[:, None] * fading)
    spend = np.round(orders * rng.gamma(4.0, 9.0, orders.shape), 2)
    who, when = np.nonzero(orders)
    activity = pd.DataFrame(
        {
            "customer_id": who + 1,
            "day": pd.to_datetime(first_day) + pd.to_timedelta(when, unit="D"),
            "orders": orders[who, when],
            "spend": spend[who, when],
        }
    )
    # One label per customer at a past time, while still a customer: did they leave within
    # the next 30 days?
    label_day = np.where(
        churns, churn_day - rng.integers(1, 31, customers), rng.integers(60, days - 30, customers)
    )
    labels = pd.DataFrame(
        {
            "customer_id": np.arange(1, customers + 1),
            "label_time": pd.to_datetime(first_day) + pd.to_timedelta(label_day, unit="D"),
            "churned": churns,
        }
    )
    raw = _duckdb(con)
    for name, frame in (("customer_activity_daily", activity), ("churn_labels", labels)):
        raw.register("_sqlml_demo_frame", frame)
        try:
            raw.execute(f"CREATE OR REPLACE TABLE {name} AS SELECT * FROM _sqlml_demo_frame")
        finally:
            raw.unregister("_sqlml_demo_frame")
    # Today's customers: those active in the last 30 days.
    raw.execute(
        "CREATE OR REPLACE TABLE customers AS SELECT DISTINCT customer_id "
        "FROM customer_activity_daily WHERE day > current_date - INTERVAL 30 DAYS"
    )
    return (
        f"Made up a shop: {len(activity):,} days of activity of {customers} customers "
        "(customer_activity_daily), a churn label per customer at a past time (churn_labels) "
        "and today's customers (customers: those active in the last 30 days)."
    )


CHURN_STEPS: tuple[Step, ...] = (
    Step(
        "Features from events: a feature table",
        "Churn is predicted from what a customer did recently. A FEATURE TABLE keeps such "
        "features per KEY and TIMESTAMP, with their history: here each customer's orders and "
        "spend over the 30 days up to each active day. TTL says how long a row stays valid: "
        "30 days without activity and the features are NULL.",
        """CREATE FEATURE TABLE customer_features
    KEY customer_id
    TIMESTAMP day
    TTL INTERVAL '30 days'
AS SELECT customer_id, day,
          sum(orders) OVER last_30_days AS orders_30d,
          sum(spend) OVER last_30_days AS spend_30d
   FROM customer_activity_daily
   WINDOW last_30_days AS (PARTITION BY customer_id ORDER BY day
                           RANGE BETWEEN INTERVAL 29 DAYS PRECEDING AND CURRENT ROW);""",
        prepare=load_customers,
    ),
    Step(
        "Point in time",
        "FEATURES_AT_TIME gives, for each (customer, time), the features as they were then: "
        "the newest row at or before that time, never one from after it. That is what "
        "training must see, or the model learns from the future.",
        """SELECT * FROM FEATURES_AT_TIME(customer_features,
    (SELECT customer_id, label_time, churned FROM churn_labels))
LIMIT 5;""",
    ),
    Step(
        "Train on labels at label time",
        "FEATURES ... AS OF joins every label to the features as of its label_time, by the "
        "same rule. The key and the time are not features; orders_30d and spend_30d are.",
        """CREATE MODEL churn
    TARGET churned
    FEATURES customer_features AS OF label_time
AS SELECT customer_id, label_time, churned FROM churn_labels;""",
    ),
    Step(
        "Who is about to leave?",
        "PREDICT needs only the key: the current features of each customer (the newest row "
        "within the TTL of now) are looked up the same way as at training.",
        """SELECT customer_id,
       round(PREDICT_PROBA(churn, c.*), 3) AS churn_risk
FROM customers c
ORDER BY churn_risk DESC
LIMIT 5;""",
    ),
    Step(
        "Keeping features fresh",
        "REFRESH FEATURE TABLE runs the feature query again and merges its rows by (key, "
        "timestamp): new ones are added, changed ones updated, none duplicated. Nothing is "
        "new here, so nothing is added. SHOW FEATURE TABLES and DESCRIBE FEATURE TABLE tell "
        "more.",
        "REFRESH FEATURE TABLE customer_features;",
    ),
)

STEPS: tuple[Step, ...] = (
    Step(
        "A first look at the data",
        "Plain SQL still works as usual. Note the penguins whose sex was not recorded: sqlml "
        "takes NULLs as they are, no cleaning needed.",
        f"""SELECT species, island, count(*) AS penguins,
       count(*) - count(sex) AS unknown_sex,
       round(avg(body_mass_g)) AS avg_mass_g
FROM {TABLE}
GROUP BY ALL
ORDER BY ALL;""",
    ),
    Step(
        "Train a classifier",
        "CREATE MODEL learns to predict the TARGET column from every other column of the "
        "query. Text columns (island, sex) are encoded and NULLs imputed inside the model; "
        "20% of the rows are held out to measure it. FUNCTION also makes an ordinary SQL "
        "function out of the model.",
        f"""CREATE MODEL penguin_species
    TARGET species
    USING lightgbm
    FUNCTION predict_species
AS SELECT species, {_FEATURES}
   FROM {TABLE};""",
    ),
    Step(
        "How good is it?",
        "EVALUATE MODEL gives the metrics on the held-out rows, which the model never saw "
        "while training (add ON (SELECT ...) to score it on other data).",
        "EVALUATE MODEL penguin_species;",
    ),
    Step(
        "What did it learn from?",
        "EXPLAIN MODEL ranks the features by how much the model relies on them.",
        "EXPLAIN MODEL penguin_species;",
    ),
    Step(
        "Predicted vs actual",
        "PREDICT(model, p.*) works anywhere an expression does; the features are bound to "
        "the columns by name. Here it counts predicted vs actual species over every penguin "
        "(training rows included).",
        f"""SELECT species AS actual,
       PREDICT(penguin_species, p.*) AS predicted,
       count(*) AS penguins
FROM {TABLE} p
GROUP BY ALL
ORDER BY ALL;""",
    ),
    Step(
        "How sure is it?",
        "PREDICT_PROBA returns a MAP of species to probability for a multiclass model. "
        "These are the penguins the model is least sure about.",
        f"""SELECT species AS actual,
       PREDICT(penguin_species, p.*) AS predicted,
       round(PREDICT_PROBA(penguin_species, p.*)[PREDICT(penguin_species, p.*)], 3)
           AS confidence,
       PREDICT_PROBA(penguin_species, p.*) AS probabilities
FROM {TABLE} p
ORDER BY confidence
LIMIT 5;""",
    ),
    Step(
        "The model as a SQL function",
        "The FUNCTION of the model takes the features in order, with their SQL types: "
        "here a penguin that is not in the table.",
        """SELECT predict_species('Biscoe', 50.0, 15.5, 225.0, 5400.0, 'male') AS species;""",
    ),
    Step(
        "A regression model",
        "A numeric target with many values makes a regression. This one predicts the body "
        "mass in grams with a linear model; rows whose target is NULL are skipped.",
        f"""CREATE MODEL penguin_mass
    TARGET body_mass_g
    USING linear_regression
AS SELECT {_MASS_FEATURES}, body_mass_g
   FROM {TABLE};""",
    ),
    Step(
        "A second opinion",
        "The same question with gradient-boosted trees. OPTIONS sets the algorithm's "
        "hyperparameters (an unknown one is an error that names the close matches).",
        f"""CREATE MODEL penguin_mass_gbm
    TARGET body_mass_g
    USING lightgbm
    OPTIONS (num_leaves = 7, min_child_samples = 10)
AS SELECT {_MASS_FEATURES}, body_mass_g
   FROM {TABLE};""",
    ),
    Step(
        "Compare the models",
        "SHOW MODELS lists every model with its held-out metric: r2 for the two mass models "
        "(closer to 1 is better) is the fair comparison.",
        "SHOW MODELS;",
    ),
    Step(
        "Side by side in SQL",
        "Models are just functions in queries, so comparing them is a GROUP BY: the mean "
        "error in grams of each model, per species. The rows the models trained on are "
        "included here, which flatters the trees: when the two disagree, trust the held-out "
        "metric of SHOW MODELS.",
        f"""SELECT species,
       round(avg(abs(PREDICT(penguin_mass, p.*) - body_mass_g))) AS linear_error_g,
       round(avg(abs(PREDICT(penguin_mass_gbm, p.*) - body_mass_g))) AS lightgbm_error_g
FROM {TABLE} p
WHERE body_mass_g IS NOT NULL
GROUP BY species
ORDER BY species;""",
    ),
    Step(
        "Everything sqlml recorded",
        "DESCRIBE MODEL shows the features with their SQL types and order, the options, "
        "the metrics and the timings stored with the model.",
        "DESCRIBE MODEL penguin_species;",
    ),
    *CHURN_STEPS,
)


def outro(database: str) -> str:
    return (
        f"That's it. The models live in {database}: explore them with "
        f"`sqlml shell {database}` (try SHOW MODEL VERSIONS penguin_species, or "
        "CREATE OR REPLACE MODEL to train a new version)."
    )


def load_penguins(con: Connection) -> int:
    """Put the data set shipped by the palmerpenguins package into TABLE; returns its rows."""
    import palmerpenguins

    frame = palmerpenguins.load_penguins()
    raw = _duckdb(con)  # it reads a pandas frame directly
    raw.register("_sqlml_demo_penguins", frame)
    try:
        raw.execute(f"CREATE OR REPLACE TABLE {TABLE} AS SELECT * FROM _sqlml_demo_penguins")
    finally:
        raw.unregister("_sqlml_demo_penguins")
    return len(frame)
