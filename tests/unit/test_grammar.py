"""The ML grammar without a database: statements of SQL.md sections 1, 3 and 4, how a script
is cut into statements, which statements are sqlml's, and where syntax errors are reported."""

from __future__ import annotations

import datetime as dt
import itertools

import pytest
from sqlglot import exp
from sqlglot.errors import ParseError

from sqlml._udfs_loader import udfs
from sqlml.dialects import expressions as ml
from sqlml.dialects import ml_dialect
from sqlml.errors import InputSchemaError, SqlmlSyntaxError
from sqlml.predict.calls import rewrite_predictions
from sqlml.statements import split

# The grammar is shared by every engine's dialect: everything here must hold for both.
DIALECTS = [pytest.param("duckdb", id="duck_dialect"), pytest.param("postgres", id="pg_dialect")]


@pytest.fixture(params=DIALECTS)
def dialect(request: pytest.FixtureRequest):
    return ml_dialect(request.param)


def parse_one(dialect, sql: str) -> exp.Expr:
    trees = dialect.parse(sql)
    assert len(trees) == 1 and trees[0] is not None
    return trees[0]


def parse_error(dialect, sql: str) -> dict:
    with pytest.raises(ParseError) as caught:
        dialect.parse(sql)
    assert caught.value.errors, "a parse error must say where it is"
    return caught.value.errors[0]


def span_of(sql: str, token: str, occurrence: int = 1) -> tuple[int, int]:
    """1-based first and last column of the n-th occurrence of ``token`` in a one-line ``sql``."""
    start = -1
    for _ in range(occurrence):
        start = sql.index(token, start + 1)
    return start + 1, start + len(token)


def table_names(query: exp.Expr) -> set[str]:
    return {t.name for t in query.find_all(exp.Table)}


# -- CREATE MODEL ------------------------------------------------------------------------------


def test_create_model_minimal(dialect):
    tree = parse_one(dialect, "CREATE MODEL churn TARGET churned AS SELECT * FROM customers")
    assert isinstance(tree, ml.CreateModel)
    assert tree.this == "churn"
    assert tree.args["target"] == "churned"
    assert not tree.args["replace"]
    assert not tree.args["if_not_exists"]
    assert tree.args.get("task") is None
    assert tree.args.get("algorithm") is None
    assert tree.args.get("function") is None
    assert tree.args["options"] == {}
    query = tree.args["query"]
    assert isinstance(query, exp.Select)
    assert table_names(query) == {"customers"}


def test_create_model_every_clause(dialect):
    tree = parse_one(
        dialect,
        """CREATE OR REPLACE MODEL IF NOT EXISTS churn
               TARGET churned
               TASK classification
               USING random_forest
               FUNCTION churn_predict
               OPTIONS (n_estimators = 50, test_size = 0.25, seed = 7)
               AS SELECT age, plan, churned FROM customers WHERE age > 18""",
    )
    assert isinstance(tree, ml.CreateModel)
    assert tree.this == "churn"
    assert tree.args["replace"] is True
    assert tree.args["if_not_exists"] is True
    assert tree.args["target"] == "churned"
    assert tree.args["task"] == "classification"
    assert tree.args["algorithm"] == "random_forest"
    assert tree.args["function"] == "churn_predict"
    assert tree.args["options"] == {"n_estimators": 50, "test_size": 0.25, "seed": 7}
    query = tree.args["query"]
    assert [c.alias_or_name for c in query.expressions] == ["age", "plan", "churned"]
    assert query.find(exp.Where) is not None


def test_keywords_are_case_insensitive(dialect):
    upper = parse_one(
        dialect, "CREATE OR REPLACE MODEL m TARGET y TASK REGRESSION USING LIGHTGBM FROM t"
    )
    lower = parse_one(
        dialect, "create or replace model m target y task regression using lightgbm from t"
    )
    for tree in (upper, lower):
        assert isinstance(tree, ml.CreateModel)
        assert tree.args["replace"] is True
        assert tree.args["task"] == "regression"
        assert tree.args["algorithm"] == "lightgbm"


_CLAUSES = [
    "TARGET y",
    "TASK regression",
    "USING linear_regression",
    "FUNCTION f_predict",
    "OPTIONS (test_size = 0.3, seed = 3)",
]


@pytest.mark.parametrize(
    "order",
    # a spread of the 120 orders
    [list(p) for p in itertools.islice(itertools.permutations(_CLAUSES), 0, None, 17)],
)
def test_create_model_clauses_in_any_order(dialect, order):
    tree = parse_one(dialect, f"CREATE MODEL m {' '.join(order)} AS SELECT * FROM t")
    assert tree.args["target"] == "y"
    assert tree.args["task"] == "regression"
    assert tree.args["algorithm"] == "linear_regression"
    assert tree.args["function"] == "f_predict"
    assert tree.args["options"] == {"test_size": 0.3, "seed": 3}
    assert table_names(tree.args["query"]) == {"t"}


def test_predict_is_accepted_for_target(dialect):
    tree = parse_one(dialect, "CREATE MODEL m PREDICT churned FROM customers")
    assert tree.args["target"] == "churned"


def test_options_literal_types(dialect):
    tree = parse_one(
        dialect,
        """CREATE MODEL m TARGET y OPTIONS (
               num_leaves = 63, learning_rate = 0.05, min_gain = -1, alpha = -0.5,
               tiny = 1e-3, objective = 'binary', boost_from_average = true,
               deterministic = FALSE, Class_Weight = 'balanced'
           ) FROM t""",
    )
    options = tree.args["options"]
    assert options == {
        "num_leaves": 63,
        "learning_rate": 0.05,
        "min_gain": -1,
        "alpha": -0.5,
        "tiny": 0.001,
        "objective": "binary",
        "boost_from_average": True,
        "deterministic": False,
        "class_weight": "balanced",  # option names are case-insensitive
    }
    # the Python types matter: an estimator rejects 63.0 leaves and "true" as a flag
    assert type(options["num_leaves"]) is int
    assert type(options["min_gain"]) is int
    assert type(options["learning_rate"]) is float
    assert type(options["boost_from_average"]) is bool
    assert type(options["deterministic"]) is bool


def test_options_string_keeps_its_case_and_spaces(dialect):
    tree = parse_one(dialect, "CREATE MODEL m TARGET y OPTIONS (note = 'Hello World') FROM t")
    assert tree.args["options"] == {"note": "Hello World"}


def test_empty_options(dialect):
    tree = parse_one(dialect, "CREATE MODEL m TARGET y OPTIONS () FROM t")
    assert tree.args["options"] == {}


def test_data_source_from_table(dialect):
    tree = parse_one(dialect, "CREATE MODEL m TARGET y FROM sales")
    query = tree.args["query"]
    assert isinstance(query, exp.Select)
    assert isinstance(query.expressions[0], exp.Star)
    assert table_names(query) == {"sales"}


def test_data_source_from_schema_qualified_table(dialect):
    tree = parse_one(dialect, "CREATE MODEL m TARGET y FROM analytics.sales")
    table = tree.args["query"].find(exp.Table)
    assert table.name == "sales"
    assert table.db == "analytics"


def test_data_source_from_subquery(dialect):
    tree = parse_one(
        dialect, "CREATE MODEL m TARGET y FROM (SELECT a, y FROM t WHERE a > 1) OPTIONS (seed = 1)"
    )
    query = tree.args["query"]
    inner = query.find(exp.Subquery)
    assert inner is not None
    assert [c.alias_or_name for c in inner.this.expressions] == ["a", "y"]
    assert inner.this.find(exp.Where) is not None
    assert tree.args["options"] == {"seed": 1}


def test_data_source_as_query_with_cte_and_union(dialect):
    tree = parse_one(
        dialect,
        "CREATE MODEL m TARGET y AS WITH a AS (SELECT 1 AS x, 2 AS y) "
        "SELECT * FROM a UNION ALL SELECT * FROM a",
    )
    query = tree.args["query"]
    assert isinstance(query, exp.Query)
    assert query.find(exp.Union) is not None
    assert query.find(exp.With) is not None or query.args.get("with_") is not None


def test_trailing_semicolon(dialect):
    trees = [t for t in dialect.parse("CREATE MODEL m TARGET y FROM t;") if t is not None]
    assert len(trees) == 1 and isinstance(trees[0], ml.CreateModel)


def test_unquoted_names_fold_to_lower_case(dialect):
    tree = parse_one(dialect, "CREATE MODEL Churn TARGET Churned FUNCTION Churn_Predict FROM t")
    assert tree.this == "churn"
    assert tree.args["target"] == "churned"
    assert tree.args["function"] == "churn_predict"


def test_quoted_names_keep_their_case(dialect):
    tree = parse_one(
        dialect, 'CREATE MODEL "Churn Model" TARGET "Churned" FUNCTION "ChurnFn" FROM t'
    )
    assert tree.this == "Churn Model"
    assert tree.args["target"] == "Churned"
    assert tree.args["function"] == "ChurnFn"


def test_quoted_name_with_quotes_and_semicolon(dialect):
    tree = parse_one(dialect, 'CREATE MODEL "x""; DROP TABLE t; --" TARGET y FROM t')
    assert tree.this == 'x"; DROP TABLE t; --'
    assert table_names(tree.args["query"]) == {"t"}


# -- management statements ---------------------------------------------------------------------


@pytest.mark.parametrize("sql", ["SHOW MODELS", "show models", "SHOW MODELS;"])
def test_show_models(dialect, sql):
    trees = [t for t in dialect.parse(sql) if t is not None]
    assert len(trees) == 1 and isinstance(trees[0], ml.ShowModels)


@pytest.mark.parametrize(
    "sql, kind, name",
    [
        ("SHOW MODEL VERSIONS churn", ml.ShowModelVersions, "churn"),
        ("show model versions Churn", ml.ShowModelVersions, "churn"),
        ("DESCRIBE MODEL churn", ml.DescribeModel, "churn"),
        ("DESC MODEL churn", ml.DescribeModel, "churn"),
        ('describe model "Churn"', ml.DescribeModel, "Churn"),
        ("EVALUATE MODEL churn", ml.EvaluateModel, "churn"),
        ("EXPLAIN MODEL churn", ml.ExplainModel, "churn"),
        ('explain model "CHURN"', ml.ExplainModel, "CHURN"),
        ("DROP MODEL churn", ml.DropModel, "churn"),
    ],
)
def test_management_statement(dialect, sql, kind, name):
    tree = parse_one(dialect, sql)
    assert isinstance(tree, kind)
    assert tree.this == name


def test_drop_model_if_exists(dialect):
    plain = parse_one(dialect, "DROP MODEL churn")
    guarded = parse_one(dialect, "DROP MODEL IF EXISTS churn")
    assert not plain.args.get("if_exists")
    assert guarded.args["if_exists"] is True
    assert guarded.this == "churn"


def test_evaluate_without_on_has_no_query(dialect):
    assert parse_one(dialect, "EVALUATE MODEL churn").args.get("query") is None


def test_evaluate_on_table(dialect):
    tree = parse_one(dialect, "EVALUATE MODEL churn ON customers_2025")
    assert tree.this == "churn"
    assert table_names(tree.args["query"]) == {"customers_2025"}


def test_evaluate_on_query(dialect):
    tree = parse_one(dialect, "EVALUATE MODEL churn ON (SELECT * FROM customers WHERE year = 2025)")
    query = tree.args["query"]
    assert table_names(query) == {"customers"}
    assert query.find(exp.Where) is not None


@pytest.mark.parametrize("version", [1, 3, 12])
def test_alter_model_set_version(dialect, version):
    tree = parse_one(dialect, f"ALTER MODEL Churn SET VERSION {version}")
    assert isinstance(tree, ml.AlterModelVersion)
    assert tree.this == "churn"
    assert tree.args["version"] == version
    assert type(tree.args["version"]) is int


# -- PREDICT / PREDICT_PROBA ----------------------------------------------------------------------


def predictions(tree: exp.Expr) -> list[ml.MLPredict]:
    return list(tree.find_all(ml.MLPredict))


def test_predict_with_star(dialect):
    tree = parse_one(dialect, "SELECT id, PREDICT(churn, *) AS will_churn FROM customers")
    (node,) = predictions(tree)
    assert not node.args.get("proba")
    assert node.this.name == "churn"
    assert len(node.expressions) == 1 and isinstance(node.expressions[0], exp.Star)


def test_predict_proba_with_table_star(dialect):
    tree = parse_one(dialect, "SELECT PREDICT_PROBA(churn, c.*) AS p FROM customers c")
    (node,) = predictions(tree)
    assert node.args.get("proba") is True
    (argument,) = node.expressions
    assert isinstance(argument, exp.Column) and isinstance(argument.this, exp.Star)
    assert argument.table == "c"


def test_predict_with_positional_arguments(dialect):
    tree = parse_one(dialect, "SELECT PREDICT(churn, age, plan, monthly_spend * 12) FROM t")
    (node,) = predictions(tree)
    assert [e.sql() for e in node.expressions] == ["age", "plan", "monthly_spend * 12"]


@pytest.mark.parametrize("spelling", ["predict", "Predict", "PREDICT"])
def test_predict_function_name_is_case_insensitive(dialect, spelling):
    (node,) = predictions(parse_one(dialect, f"SELECT {spelling}(m, *) FROM t"))
    assert not node.args.get("proba")


def test_predict_anywhere_an_expression_goes(dialect):
    tree = parse_one(
        dialect,
        """WITH scored AS (SELECT PREDICT(m, *) AS p FROM t)
           SELECT p, count(*) FROM scored
           JOIN u ON PREDICT(m, u.*) = u.label
           WHERE PREDICT_PROBA(m, u.*) > 0.8
           GROUP BY p""",
    )
    nodes = predictions(tree)
    assert len(nodes) == 3
    assert sum(1 for n in nodes if n.args.get("proba")) == 1


def test_predict_inside_create_table_as_and_insert(dialect):
    ctas = parse_one(dialect, "CREATE TABLE scores AS SELECT PREDICT(m, *) AS p FROM t")
    insert = parse_one(dialect, "INSERT INTO scores SELECT PREDICT(m, *) FROM t")
    view = parse_one(dialect, "CREATE VIEW v AS SELECT PREDICT_PROBA(m, t.*) FROM t")
    for tree in (ctas, insert, view):
        assert len(predictions(tree)) == 1


# -- rewriting PREDICT (no database: the catalog is a dict) ------------------------------------


ModelVersion = udfs.catalog.ModelVersion


def _model(name: str, task: str = "classification") -> ModelVersion:
    features = [
        {"name": "age", "sql_type": "INTEGER", "kind": "numeric"},
        {"name": "Plan Name", "sql_type": "VARCHAR", "kind": "categorical"},
        {"name": "spend", "sql_type": "DOUBLE", "kind": "numeric"},
    ]
    return ModelVersion(
        name=name,
        version=1,
        current_version=1,
        function_name=None,
        metadata={"task": task, "features": features},
        onnx_sha256="0" * 64,
        created_at=dt.datetime(2025, 1, 1),
    )


class _Catalog:
    def __init__(self, *models: ModelVersion):
        self.models = {m.name: m for m in models}
        self.asked: list[str] = []

    def get(self, name: str) -> ModelVersion:
        self.asked.append(name)
        return self.models[name]


def _rewrite(dialect, sql: str, catalog: _Catalog) -> tuple[exp.Expr, dict[str, str]]:
    tree = parse_one(dialect, sql)
    used = rewrite_predictions(tree, catalog.get)
    assert not list(tree.find_all(ml.MLPredict)), "no PREDICT may survive the rewrite"
    return tree, used


def _calls(tree: exp.Expr) -> list[exp.Anonymous]:
    return list(tree.find_all(exp.Anonymous))


def test_rewrite_star_binds_features_by_name_in_model_order(dialect):
    tree, used = _rewrite(dialect, "SELECT PREDICT(churn, *) FROM t", _Catalog(_model("churn")))
    (call,) = _calls(tree)
    assert [a.name for a in call.expressions] == ["age", "Plan Name", "spend"]
    assert all(a.this.quoted for a in call.expressions), "feature names must be quoted"
    assert used == {call.name: "churn"}


def test_rewrite_table_star_keeps_the_qualifier(dialect):
    tree, _ = _rewrite(dialect, "SELECT PREDICT(churn, c.*) FROM t AS c", _Catalog(_model("churn")))
    (call,) = _calls(tree)
    assert [a.table for a in call.expressions] == ["c", "c", "c"]


def test_rewrite_positional_arguments_pass_through(dialect):
    tree, _ = _rewrite(
        dialect, "SELECT PREDICT(churn, a + 1, 'basic', s) FROM t", _Catalog(_model("churn"))
    )
    (call,) = _calls(tree)
    assert [a.sql() for a in call.expressions] == ["a + 1", "'basic'", "s"]


def test_rewrite_proba_uses_another_function(dialect):
    catalog = _Catalog(_model("churn"))
    tree, used = _rewrite(
        dialect, "SELECT PREDICT(churn, *), PREDICT_PROBA(churn, *) FROM t", catalog
    )
    names = {c.name for c in _calls(tree)}
    assert len(names) == 2
    assert set(used) == names and set(used.values()) == {"churn"}


def test_rewrite_model_name_case(dialect):
    catalog = _Catalog(_model("churn"), _model("Churn"))
    tree, _ = _rewrite(dialect, 'SELECT PREDICT(CHURN, *), PREDICT("Churn", *) FROM t', catalog)
    assert catalog.asked == ["churn", "Churn"]
    first, second = _calls(tree)
    assert first.name.lower() != second.name.lower(), "models differing in case need own functions"


def test_rewrite_wrong_argument_count_names_model_and_signature(dialect):
    with pytest.raises(InputSchemaError) as caught:
        _rewrite(dialect, "SELECT PREDICT(churn, a, b) FROM t", _Catalog(_model("churn")))
    message = str(caught.value)
    assert "churn" in message
    assert "2" in message and "3" in message
    assert "age INTEGER" in message and "Plan Name VARCHAR" in message


def test_rewrite_star_with_more_arguments_is_an_error(dialect):
    with pytest.raises(InputSchemaError, match="churn"):
        _rewrite(dialect, "SELECT PREDICT(churn, *, age) FROM t", _Catalog(_model("churn")))


def test_rewrite_proba_of_regression_is_an_error(dialect):
    with pytest.raises(InputSchemaError, match="regression"):
        _rewrite(
            dialect,
            "SELECT PREDICT_PROBA(price, *) FROM t",
            _Catalog(_model("price", "regression")),
        )


def test_rewrite_first_argument_must_be_a_name(dialect):
    with pytest.raises(SqlmlSyntaxError, match="model name"):
        _rewrite(dialect, "SELECT PREDICT('churn', *) FROM t", _Catalog(_model("churn")))


# -- syntax errors -------------------------------------------------------------------------------


def test_unknown_clause_in_create_model(dialect):
    sql = "CREATE MODEL m TARGET y BOGUS FROM t"
    error = parse_error(dialect, sql)
    assert "BOGUS" in error["description"]
    assert "TARGET" in error["description"]  # lists what would have been valid
    first, last = span_of(sql, "BOGUS")
    assert error["line"] == 1
    assert first <= error["col"] <= last


def test_syntax_error_on_a_later_line(dialect):
    sql = "CREATE MODEL m\n  TARGET y\n  OPTIONS (n_estimators 20)\n  FROM t"
    error = parse_error(dialect, sql)
    assert error["line"] == 3
    line = sql.splitlines()[2]
    first, last = span_of(line, "20")
    assert first <= error["col"] <= last


def test_dataset_qualified_model_names_are_one_name(dialect):
    """BigQuery's `ds.model`: the catalog name keeps the dataset, folded like any name."""
    assert parse_one(dialect, "CREATE MODEL Sales.Churn TARGET y FROM t").this == "sales.churn"
    assert parse_one(dialect, 'CREATE MODEL "Sales".m TARGET y FROM t').this == "Sales.m"


@pytest.mark.parametrize(
    "sql, words",
    [
        ("CREATE MODEL m TARGET y", ["AS SELECT", "FROM"]),
        ("CREATE MODEL m AS SELECT 1", ["TARGET"]),
        ("CREATE MODEL m FROM t", ["TARGET"]),
        ("CREATE MODEL m TARGET y TARGET z FROM t", ["TARGET", "twice"]),
        ("CREATE MODEL m TARGET y USING a USING b FROM t", ["USING", "twice"]),
        ("CREATE MODEL m TARGET y OPTIONS (a = 1, a = 2) FROM t", ["a", "twice"]),
        ("CREATE MODEL m TARGET y OPTIONS (a 1) FROM t", ["="]),
        ("CREATE MODEL m TARGET y OPTIONS (a = 1 b = 2) FROM t", [","]),
        ("CREATE MODEL m TARGET y OPTIONS a = 1 FROM t", ["("]),
        ("CREATE MODEL m TARGET y OPTIONS (a = x + 1) FROM t", ["a", "literal"]),
        ("ALTER MODEL m SET VERSION x", ["version number"]),
        ("ALTER MODEL m SET VERSION 1.5", ["version number"]),
        ("ALTER MODEL m VERSION 2", ["SET VERSION"]),
    ],
)
def test_syntax_errors_say_what_is_wrong(dialect, sql, words):
    error = parse_error(dialect, sql)
    for word in words:
        assert word in error["description"], error["description"]
    assert error["line"] == 1


@pytest.mark.parametrize("sql", ["DROP MODEL IF EXISTS", "SHOW MODEL VERSIONS"])
def test_missing_model_name_is_reported_plainly(dialect, sql):
    """SQL.md 9: one clear message; the parser's internals (token reprs) must not leak."""
    error = parse_error(dialect, sql)
    assert "model name" in error["description"]
    assert "Token" not in error["description"]


def test_duplicate_clause_error_points_at_the_second_clause(dialect):
    sql = "CREATE MODEL m TARGET y TARGET z AS SELECT 1"
    error = parse_error(dialect, sql)
    first, last = span_of(sql, "TARGET", occurrence=2)
    assert first <= error["col"] <= last, error


# -- cutting scripts into statements --------------------------------------------------------------


def texts(script: str, dialect) -> list[str]:
    return [s.text for s in split(script, dialect)]


def test_split_simple_script(dialect):
    statements = split("SELECT 1;\nSELECT 2;\n\n  SELECT 3", dialect)
    assert [s.text for s in statements] == ["SELECT 1", "SELECT 2", "SELECT 3"]
    assert [(s.line, s.column) for s in statements] == [(1, 1), (2, 1), (4, 3)]


def test_split_several_statements_on_one_line(dialect):
    statements = split("SELECT 'a;b'; SELECT 2;SELECT 3", dialect)
    assert [s.text for s in statements] == ["SELECT 'a;b'", "SELECT 2", "SELECT 3"]
    assert [s.column for s in statements] == [1, 15, 24]


@pytest.mark.parametrize(
    "script, expected",
    [
        ("SELECT 'a;b' AS x; SELECT 2", ["SELECT 'a;b' AS x", "SELECT 2"]),
        ("SELECT 'it''s; fine'; SELECT 2", ["SELECT 'it''s; fine'", "SELECT 2"]),
        ('SELECT "col;name" FROM t; SELECT 2', ['SELECT "col;name" FROM t', "SELECT 2"]),
        ("SELECT 1; -- no; statement; here\nSELECT 2", ["SELECT 1", "SELECT 2"]),
        ("SELECT 1 /* a; b; */ + 1; SELECT 2", ["SELECT 1 /* a; b; */ + 1", "SELECT 2"]),
        ("SELECT $$a;b$$; SELECT 2", ["SELECT $$a;b$$", "SELECT 2"]),
        (
            "SELECT $tag$ x; $$ y; $tag$; SELECT 2",
            ["SELECT $tag$ x; $$ y; $tag$", "SELECT 2"],
        ),
        (
            "CREATE MODEL m TARGET y AS SELECT 'a;b' AS s, y FROM t; SHOW MODELS",
            ["CREATE MODEL m TARGET y AS SELECT 'a;b' AS s, y FROM t", "SHOW MODELS"],
        ),
        (";;SELECT 1;;;SELECT 2;", ["SELECT 1", "SELECT 2"]),
    ],
)
def test_split_tricky_scripts(dialect, script, expected):
    assert texts(script, dialect) == expected


@pytest.mark.parametrize("script", ["", "   \n  ", ";;", "-- only a comment", "/* nothing */ ;"])
def test_split_scripts_without_statements(dialect, script):
    assert split(script, dialect) == []


def test_split_keeps_the_statement_text_as_written(dialect):
    script = "select  PREDICT( m ,* )\n  from t ;"
    (statement,) = split(script, dialect)
    assert statement.text == "select  PREDICT( m ,* )\n  from t"


def test_split_unreadable_script_is_a_syntax_error(dialect):
    with pytest.raises(SqlmlSyntaxError):
        split("SELECT 1;\nSELECT 'never closed", dialect)


def test_split_unreadable_script_says_where(dialect):
    """SQL.md 9: a syntax error gives line and column (here: the unterminated string)."""
    with pytest.raises(SqlmlSyntaxError) as caught:
        split("SELECT 1;\nSELECT 'never closed", dialect)
    assert caught.value.line == 2
    assert caught.value.column is not None


# -- which statements are sqlml's ---------------------------------------------------------------


@pytest.mark.parametrize(
    "sql",
    [
        "CREATE MODEL m TARGET y FROM t",
        "create model m target y from t",
        "CREATE OR REPLACE MODEL m TARGET y FROM t",
        "SHOW MODELS",
        "SHOW MODEL VERSIONS m",
        "DESCRIBE MODEL m",
        "DESC MODEL m",
        "EVALUATE MODEL m",
        "EXPLAIN MODEL m",
        "DROP MODEL m",
        "drop model if exists m",
        "ALTER MODEL m SET VERSION 2",
        "SELECT PREDICT(m, *) FROM t",
        "select predict_proba(m, t.*) from t",
        "SELECT predict (m, *) FROM t",
        "SELECT * FROM t WHERE PREDICT(m, *) = 1",
        "WITH s AS (SELECT PREDICT(m, *) AS p FROM t) SELECT * FROM s",
        "CREATE VIEW v AS SELECT PREDICT(m, *) FROM t",
        "INSERT INTO s SELECT PREDICT(m, *) FROM t",
        "EXPLAIN SELECT PREDICT(m, *) FROM t",
    ],
)
def test_ml_statements(dialect, sql):
    (statement,) = split(sql, dialect)
    assert statement.is_ml


@pytest.mark.parametrize(
    "sql",
    [
        "SELECT 1",
        "SELECT model FROM t",
        "SELECT t.model, models FROM t",
        "SELECT 1 AS model",
        "SELECT predict FROM t",
        "SELECT predict_x(1)",
        "SELECT my_predict(1, 2)",
        "SELECT predict_probability(1)",
        "SELECT 'PREDICT(m, *)' AS s",
        "SELECT 1 -- PREDICT(m, *)",
        "SELECT 1 /* CREATE MODEL m */",
        "SELECT $$ PREDICT(m, *) $$",
        'SELECT "predict" FROM t',
        "CREATE TABLE model (id INTEGER)",
        "CREATE TABLE models AS SELECT 1 AS model",
        "DROP TABLE model",
        "ALTER TABLE model ADD COLUMN x INTEGER",
        "INSERT INTO model VALUES (1)",
        "WITH model AS (SELECT 1 AS x) SELECT * FROM model",
        "EXPLAIN SELECT 1",
        "SHOW TABLES",
        "DESCRIBE t",
    ],
)
def test_plain_statements(dialect, sql):
    (statement,) = split(sql, dialect)
    assert not statement.is_ml


def test_describe_of_a_table_named_model_is_plain_sql(dialect):
    """A table called ``model`` is ordinary SQL: DESCRIBE model must not become an ML error."""
    tree = parse_one(dialect, "DESCRIBE model")
    assert not isinstance(tree, ml.MLStatement)


def test_mixed_script_marks_each_statement(dialect):
    script = """
        CREATE TABLE t AS SELECT 1 AS x, 2 AS y;
        CREATE MODEL m TARGET y FROM t;
        SELECT x, PREDICT(m, *) FROM t;
        SELECT model FROM t;
        SHOW MODELS;
    """
    assert [s.is_ml for s in split(script, dialect)] == [False, True, True, False, True]


# -- Redshift ML's CREATE MODEL form and SHOW MODEL -------------------------------------------


def test_redshift_clauses_are_read_as_written_in_any_order(dialect):
    tree = parse_one(
        dialect,
        "CREATE MODEL m FROM (SELECT * FROM t) TARGET y FUNCTION Fn (varchar(2), int, "
        "double precision) IAM_ROLE 'arn:aws:iam::1:role/r' SETTINGS (S3_BUCKET 'b', "
        "S3_GARBAGE_COLLECT OFF, MAX_CELLS 1000) AUTO OFF MODEL_TYPE xgboost "
        "PROBLEM_TYPE ( BINARY_CLASSIFICATION ) OBJECTIVE 'binary:logistic' PREPROCESSORS '[]' "
        "HYPERPARAMETERS DEFAULT EXCEPT (NUM_ROUND '10', eta 0.3, LAMBDA = -1)",
    )
    assert isinstance(tree, ml.CreateModel)
    assert (tree.args["target"], tree.args["function"]) == ("y", "fn")
    assert tree.args["redshift"] == {
        "function_types": ["varchar(2)", "int", "double precision"],
        "iam_role": "arn:aws:iam::1:role/r",
        "settings": {"S3_BUCKET": "b", "S3_GARBAGE_COLLECT": "OFF", "MAX_CELLS": 1000},
        "auto": False,
        "model_type": "XGBOOST",
        "problem_type": "BINARY_CLASSIFICATION",
        "objective": "binary:logistic",
        "preprocessors": "[]",
        "hyperparameters": {"NUM_ROUND": "10", "ETA": 0.3, "LAMBDA": -1},
    }


def test_redshift_defaults_and_bring_your_own_model(dialect):
    tree = parse_one(dialect, "CREATE MODEL m FROM t TARGET y FUNCTION f IAM_ROLE default AUTO ON")
    assert tree.args["redshift"] == {"iam_role": "DEFAULT", "auto": True}
    tree = parse_one(dialect, "CREATE MODEL m FROM 'job-1' FUNCTION f (int) RETURNS float")
    assert tree.args["query"] is None
    assert tree.args["redshift"] == {
        "job_name": "job-1",
        "function_types": ["int"],
        "returns": "float",
    }


@pytest.mark.parametrize(
    ("sql", "message"),
    [
        ("CREATE MODEL m FROM t TARGET y AUTO MAYBE", "Expected ON or OFF after AUTO"),
        (
            "CREATE MODEL m FROM t TARGET y IAM_ROLE default IAM_ROLE default",
            "IAM_ROLE is given twice",
        ),
        ("CREATE MODEL m FROM t TARGET y HYPERPARAMETERS (NUM_ROUND '1')", "Expected DEFAULT"),
        ("CREATE MODEL m FROM t TARGET y SETTINGS (S3_BUCKET 'a', S3_BUCKET 'b')", "given twice"),
        ("CREATE MODEL m FROM t TARGET y SETTINGS S3_BUCKET 'a'", "Expected ( after SETTINGS"),
        ("CREATE MODEL m FROM t TARGET y MODEL_TYPE", "Expected a value for MODEL_TYPE"),
    ],
)
def test_redshift_clause_syntax_errors_name_the_clause(dialect, sql, message):
    assert message in parse_error(dialect, sql)["description"]


def test_show_model_forms(dialect):
    assert parse_one(dialect, "SHOW MODEL churn") == ml.ShowModel(this="churn")
    assert isinstance(parse_one(dialect, "SHOW MODEL ALL"), ml.ShowModels)
    assert parse_one(dialect, "show model versions churn") == ml.ShowModelVersions(this="churn")
    # A model named versions or ALL is shown with a quoted name.
    assert parse_one(dialect, 'SHOW MODEL "versions"') == ml.ShowModel(this="versions")
    assert parse_one(dialect, 'SHOW MODEL "ALL"') == ml.ShowModel(this="ALL")


# -- EXPORT and IMPORT MODEL ------------------------------------------------------------------


def test_export_and_import_statements(dialect):
    export = parse_one(dialect, "EXPORT MODEL Churn VERSION 2 TO 'churn.onnx'")
    assert isinstance(export, ml.ExportModel)
    assert (export.this, export.args["version"], export.args["path"]) == ("churn", 2, "churn.onnx")
    bigquery = parse_one(dialect, "EXPORT MODEL m OPTIONS (URI = 'file:///tmp/m.onnx')")
    assert bigquery.args["path"] == "file:///tmp/m.onnx" and bigquery.args["version"] is None
    imported = parse_one(
        dialect,
        "IMPORT OR REPLACE MODEL s FROM 's.onnx' TASK classification FEATURES (a, \"B\") "
        "TARGET y FUNCTION s_predict",
    )
    assert isinstance(imported, ml.ImportModel) and imported.args["replace"]
    assert imported.args["features"] == ["a", "B"] and imported.args["task"] == "classification"
    assert (imported.args["target"], imported.args["function"]) == ("y", "s_predict")
    onnx_form = parse_one(dialect, "CREATE MODEL s OPTIONS (MODEL_TYPE = 'ONNX', MODEL_PATH = 'x')")
    assert isinstance(onnx_form, ml.ImportModel) and onnx_form.args["path"] == "x"
    assert [
        s.is_ml for s in split("IMPORT OR REPLACE MODEL s FROM 'x'; EXPORT MODEL s TO 'y'", dialect)
    ] == [True, True]


@pytest.mark.parametrize(
    ("sql", "told"),
    [
        ("EXPORT MODEL m TO churn.onnx", "path in quotes"),
        ("EXPORT MODEL m", "Expected TO 'path'"),
        ("EXPORT MODEL m VERSION x TO 'a'", "whole version number"),
        ("EXPORT MODEL m OPTIONS (URI = 'a', FORMAT = 'b')", "one option, URI"),
        ("IMPORT MODEL m 'a.onnx'", "Expected FROM 'file.onnx'"),
        ("IMPORT MODEL m FROM a", "path in quotes"),
        ("IMPORT MODEL m FROM 'a' USING lightgbm", "expected one of TASK, FEATURES"),
        ("CREATE MODEL m OPTIONS (MODEL_TYPE = 'ONNX')", "needs MODEL_PATH"),
        (
            "CREATE MODEL m OPTIONS (MODEL_TYPE = 'ONNX', MODEL_PATH = 'a', L2_REG = 1)",
            "no other option",
        ),
    ],
)
def test_export_and_import_errors(dialect, sql, told):
    assert told in parse_error(dialect, sql)["description"]


def test_rollback_and_drop_of_one_version(dialect):
    assert isinstance(parse_one(dialect, "ALTER MODEL m ROLLBACK"), ml.AlterModelRollback)
    dropped = parse_one(dialect, "DROP MODEL IF EXISTS m VERSION 3 FORCE")
    assert (dropped.args["version"], dropped.args["force"], dropped.args["if_exists"]) == (
        3,
        True,
        True,
    )
    assert parse_one(dialect, "DROP MODEL m").args.get("version") is None
    assert "whole version number" in parse_error(dialect, "DROP MODEL m VERSION x")["description"]
    assert "ROLLBACK" in parse_error(dialect, "ALTER MODEL m RESET")["description"]
