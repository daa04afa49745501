"""The guided example behind ``sqlml demo``: its data and its steps.

Only content lives here (what to say, which SQL to run); ``sqlml.cli`` renders it with the
same code that prints the shell's results, so the demo shows exactly what a user will see.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from sqlml.connection import Connection

TABLE = "penguins"
DEFAULT_DATABASE = "sqlml_demo.duckdb"


@dataclass(frozen=True)
class Step:
    title: str
    explanation: str
    sql: str


INTRO = (
    "sqlml trains and runs machine-learning models with SQL, inside the database. This demo "
    "works on the Palmer penguins data set (344 penguins of three species, with a few NULLs "
    "and text columns) in an embedded DuckDB file. Every statement below is real sqlml SQL: "
    "paste any of them into `sqlml shell`."
)

_FEATURES = "island, bill_length_mm, bill_depth_mm, flipper_length_mm, body_mass_g, sex"
_MASS_FEATURES = "species, island, bill_length_mm, bill_depth_mm, flipper_length_mm, sex"

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
    raw = con.backend.con  # the DuckDB connection: it reads a pandas frame directly
    raw.register("_sqlml_demo_penguins", frame)
    try:
        raw.execute(f"CREATE OR REPLACE TABLE {TABLE} AS SELECT * FROM _sqlml_demo_penguins")
    finally:
        raw.unregister("_sqlml_demo_penguins")
    return len(frame)
