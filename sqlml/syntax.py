"""The synopsis of each of sqlml's statements, for the shell's ``\\h`` and ``help``: the
forms docs/sql.md describes in full."""

from __future__ import annotations

SYNOPSES: dict[str, str] = {
    "CREATE MODEL": """\
CREATE [OR REPLACE] MODEL [IF NOT EXISTS] name
    TARGET column                         -- or PREDICT column
    [TASK classification | regression]
    [USING lightgbm | random_forest | logistic_regression | linear_regression | mlp]
    [FUNCTION function_name]
    [FEATURES feature_table [AS OF column] [, ...]]
    [OPTIONS (key = value, ...)]
AS SELECT ...                             -- or FROM table, or FROM (SELECT ...)""",
    "PREDICT": """\
PREDICT(model, *)                   -- features bound by name
PREDICT(model, t.*)                 -- from one table of a join
PREDICT(model, a, b, c)             -- positional, in feature order
PREDICT_PROBA(model, ...)           -- probability of the larger label; a map for multiclass""",
    "SHOW MODELS": "SHOW MODELS",
    "SHOW MODEL": "SHOW MODEL name | SHOW MODEL ALL       -- Redshift's (key, value) rows",
    "SHOW MODEL VERSIONS": "SHOW MODEL VERSIONS name",
    "SHOW TRIALS": "SHOW TRIALS name",
    "DESCRIBE MODEL": "DESCRIBE MODEL name",
    "EVALUATE MODEL": "EVALUATE MODEL name [ON (SELECT ...) | ON table]",
    "EXPLAIN MODEL": "EXPLAIN MODEL name                     -- feature importance",
    "DROP MODEL": "DROP MODEL [IF EXISTS] name",
    "ALTER MODEL": "ALTER MODEL name SET VERSION n\nALTER MODEL name OWNER TO role   -- PostgreSQL",
    "CREATE FEATURE TABLE": """\
CREATE [OR REPLACE] FEATURE TABLE [IF NOT EXISTS] name
    KEY column [, ...]
    TIMESTAMP column
    [TTL INTERVAL '30 days']
AS SELECT ...""",
    "REFRESH FEATURE TABLE": "REFRESH FEATURE TABLE name",
    "SHOW FEATURE TABLES": "SHOW FEATURE TABLES",
    "DESCRIBE FEATURE TABLE": "DESCRIBE FEATURE TABLE name",
    "DROP FEATURE TABLE": "DROP FEATURE TABLE [IF EXISTS] name [CASCADE]",
    "FEATURES_AT_TIME": "SELECT * FROM FEATURES_AT_TIME(feature_table, TABLE spine | (query) "
    "[, time_column])",
    "ML.PREDICT": "SELECT * FROM ML.PREDICT(MODEL name, TABLE t | (query) "
    "[, STRUCT(0.5 AS threshold)])",
    "ML.EVALUATE": "SELECT * FROM ML.EVALUATE(MODEL name [, TABLE t | (query)] "
    "[, STRUCT(0.5 AS threshold)])",
    "ML.CONFUSION_MATRIX": "SELECT * FROM ML.CONFUSION_MATRIX(MODEL name [, rows] "
    "[, STRUCT(threshold)])",
    "ML.ROC_CURVE": "SELECT * FROM ML.ROC_CURVE(MODEL name [, rows] "
    "[, GENERATE_ARRAY(a, b, step)])",
    "ML.FEATURE_IMPORTANCE": "SELECT * FROM ML.FEATURE_IMPORTANCE(MODEL name)",
    "ML.GLOBAL_EXPLAIN": "SELECT * FROM ML.GLOBAL_EXPLAIN(MODEL name)",
    "ML.TRAINING_INFO": "SELECT * FROM ML.TRAINING_INFO(MODEL name)",
    "ML.FEATURE_INFO": "SELECT * FROM ML.FEATURE_INFO(MODEL name)",
}


def synopses_for(words: str) -> list[tuple[str, str]]:
    """The statements ``words`` names: an exact name, else every one it begins (CREATE)."""
    wanted = " ".join(words.upper().rstrip(";").split())
    if wanted in SYNOPSES:
        return [(wanted, SYNOPSES[wanted])]
    return [(name, text) for name, text in SYNOPSES.items() if name.startswith(wanted)]
