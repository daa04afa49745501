"""The ML grammar shared by every sqlml dialect, as a mixin for a sqlglot parser class."""

from __future__ import annotations

from typing import Any

from sqlglot import exp
from sqlglot.tokens import TokenType

from sqlml.dialects import expressions as ml

# BigQuery ML's table functions, written ML.<name>(MODEL m, ...).
ML_TABLE_FUNCTIONS = frozenset(
    {
        "PREDICT",
        "EVALUATE",
        "FEATURE_IMPORTANCE",
        "GLOBAL_EXPLAIN",
        "TRAINING_INFO",
        "FEATURE_INFO",
        "CONFUSION_MATRIX",
        "ROC_CURVE",
        "EXPLAIN_PREDICT",  # recognised, to say it is not available
    }
)

_CREATE_MODEL_CLAUSES = ("TARGET", "PREDICT", "TASK", "USING", "FUNCTION", "FEATURES", "OPTIONS")
# Redshift ML's clauses: read here as written, given meaning by sqlml.models.redshift.
REDSHIFT_CLAUSES = (
    "IAM_ROLE",
    "AUTO",
    "MODEL_TYPE",
    "PROBLEM_TYPE",
    "OBJECTIVE",
    "PREPROCESSORS",
    "HYPERPARAMETERS",
    "SETTINGS",
    "RETURNS",
    "SAGEMAKER",
)


def name_of(identifier: exp.Expr) -> str:
    """The catalog name of a model: unquoted identifiers fold to lower case; a dataset-
    qualified name (BigQuery's `ds.model`) is one name, its parts joined by dots."""
    if isinstance(identifier, exp.Table | exp.Column):
        parts = identifier.parts
    elif isinstance(identifier, exp.Dot):
        parts = [identifier.this, identifier.expression]
    else:
        parts = [identifier]
    if not parts or not all(isinstance(p, exp.Identifier) for p in parts):
        raise ValueError(f"not a name: {identifier.sql()}")
    return ".".join(p.name if p.quoted else p.name.lower() for p in parts)


def literal_value(node: exp.Expr) -> Any:
    """The Python value of an OPTIONS value: number, string, boolean, NULL, list or word."""
    if isinstance(node, exp.Paren):
        return literal_value(node.this)
    if isinstance(node, exp.Neg):
        return -literal_value(node.this)
    if isinstance(node, exp.Literal):
        if node.is_string:
            return node.this
        text = node.this
        return int(text) if text.lstrip("-").isdigit() else float(text)
    if isinstance(node, exp.Boolean):
        return bool(node.this)
    if isinstance(node, exp.Null):
        return None
    if isinstance(node, (exp.Array, exp.Tuple)):
        return [literal_value(e) for e in node.expressions]
    if isinstance(node, (exp.Column, exp.Identifier, exp.Var)) and not isinstance(node, exp.Star):
        return node.name
    raise TypeError(f"{node.sql()} is not a literal value")


class MLGrammar:
    """Parser mixin: put it before the dialect's parser class in the bases."""

    def _parse_statement(self) -> exp.Expr | None:
        statement = self._parse_ml_statement()
        if statement is not None:
            return statement
        return super()._parse_statement()  # type: ignore[misc]

    # -- statements -------------------------------------------------------------------

    def _parse_ml_statement(self) -> exp.Expr | None:
        if not self._curr:
            return None
        start = self._index
        word = self._curr.text.upper()
        parsers = {
            "CREATE": self._parse_ml_create,
            "SHOW": self._parse_ml_show,
            "DESCRIBE": self._parse_ml_describe,
            "DESC": self._parse_ml_describe,
            "EVALUATE": self._parse_ml_evaluate,
            "EXPLAIN": self._parse_ml_explain,
            "DROP": self._parse_ml_drop,
            "ALTER": self._parse_ml_alter,
            "REFRESH": self._parse_ml_refresh,
        }
        parser = parsers.get(word)
        if parser is None:
            return None
        self._advance()
        statement = parser()
        if statement is None:
            self._retreat(start)
        return statement

    def _parse_ml_create(self) -> exp.Expr | None:
        replace = self._match_text_seq("OR", "REPLACE")
        if self._match_text_seq("FEATURE", "TABLE"):
            return self._parse_ml_create_feature_table(replace)
        if not self._match_text_seq("MODEL"):
            return None
        if_not_exists = self._match_text_seq("IF", "NOT", "EXISTS")
        name = self._parse_model_name()
        args: dict[str, Any] = {
            "this": name,
            "replace": replace,
            "if_not_exists": if_not_exists,
            "features": [],
            "options": {},
            "redshift": {},
        }
        redshift = args["redshift"]
        query = None
        while self._curr and self._curr.token_type != TokenType.SEMICOLON:
            clause = self._curr
            word = clause.text.upper()
            if word == "AS" and query is None:
                self._advance()
                query = self._parse_ml_query()
            elif word == "FROM" and self._next and self._next.token_type == TokenType.STRING:
                self._advance()  # Redshift's FROM 'job_name': bring your own model
                self._set_once(redshift, "job_name", self._parse_string().name, clause)
            elif word == "FROM" and query is None:
                self._advance()
                query = self._parse_ml_from()
            elif word in ("TARGET", "PREDICT"):
                self._advance()
                self._set_once(args, "target", self._parse_ml_column_name(), clause)
            elif word == "TASK":
                self._advance()
                self._set_once(args, "task", self._parse_ml_word(), clause)
            elif word == "USING":
                self._advance()
                self._set_once(args, "algorithm", self._parse_ml_word(), clause)
            elif word == "FUNCTION":
                self._advance()
                self._set_once(args, "function", self._parse_ml_function_name(), clause)
                if self._curr and self._curr.token_type == TokenType.L_PAREN:
                    # Redshift's FUNCTION f (type, ...): the declared argument types
                    types = self._parse_wrapped_csv(self._parse_ml_type_as_written)
                    redshift["function_types"] = types
            elif word == "FEATURES":
                self._advance()
                args["features"].extend(self._parse_csv(self._parse_ml_feature_source))
            elif word == "OPTIONS":
                self._advance()
                self._parse_ml_options(args["options"])
            elif word == "TRANSFORM":  # BigQuery's TRANSFORM (expr AS name, ...)
                self._advance()
                projections = self._parse_wrapped_csv(self._parse_expression)
                self._set_once(args, "transform", projections, clause)
            elif word in REDSHIFT_CLAUSES:
                self._advance()
                self._set_once(redshift, word.lower(), self._parse_redshift_clause(word), clause)
            else:
                expected = ", ".join((*_CREATE_MODEL_CLAUSES, *REDSHIFT_CLAUSES, "AS", "FROM"))
                self.raise_error(
                    f"Unexpected {self._curr.text!r} in CREATE MODEL; expected one of {expected}"
                )
        if query is None and "job_name" not in redshift:
            self.raise_error("CREATE MODEL needs its training data: AS SELECT ... or FROM table")
        # Without TARGET, BigQuery's OPTIONS (input_label_cols = [...]) names the label; a
        # Redshift statement's missing TARGET is told in Redshift's terms when it is run.
        if "target" not in args and "input_label_cols" not in args["options"] and not redshift:
            self.raise_error(
                "CREATE MODEL needs TARGET <label column> (or BigQuery's "
                "OPTIONS (input_label_cols = ['column']))"
            )
        return ml.CreateModel(query=query, **args)

    def _parse_ml_show(self) -> exp.Expr | None:
        if self._match_text_seq("FEATURE", "TABLES"):
            return ml.ShowFeatureTables()
        if self._match_text_seq("MODELS"):
            return ml.ShowModels()
        if not self._match_text_seq("MODEL"):
            return None
        if self._match_text_seq("VERSIONS"):  # a model named versions is quoted: "versions"
            return ml.ShowModelVersions(this=self._parse_model_name())
        if self._match(TokenType.ALL):  # Redshift's SHOW MODEL ALL: every model
            return ml.ShowModels()
        return ml.ShowModel(this=self._parse_model_name())

    def _parse_ml_describe(self) -> exp.Expr | None:
        following = self._next and self._next.token_type != TokenType.SEMICOLON
        if following and self._match_text_seq("FEATURE", "TABLE"):
            return ml.DescribeFeatureTable(this=self._parse_model_name())
        if following and self._match_text_seq("MODEL"):
            return ml.DescribeModel(this=self._parse_model_name())
        return None

    def _parse_ml_evaluate(self) -> exp.Expr | None:
        if not self._match_text_seq("MODEL"):
            self.raise_error("Expected MODEL after EVALUATE")
        name = self._parse_model_name()
        query = None
        if self._match(TokenType.ON):
            query = self._parse_ml_from()
        return ml.EvaluateModel(this=name, query=query)

    def _parse_ml_explain(self) -> exp.Expr | None:
        if self._match_text_seq("MODEL"):
            return ml.ExplainModel(this=self._parse_model_name())
        analyze = self._match(TokenType.ANALYZE)
        return ml.ExplainQuery(this=super()._parse_statement(), analyze=analyze)  # type: ignore[misc]

    def _parse_ml_drop(self) -> exp.Expr | None:
        if self._match_text_seq("FEATURE", "TABLE"):
            if_exists = self._match_text_seq("IF", "EXISTS")
            name = self._parse_model_name()
            cascade = self._match_text_seq("CASCADE")
            return ml.DropFeatureTable(this=name, if_exists=if_exists, cascade=cascade)
        if not self._match_text_seq("MODEL"):
            return None
        if_exists = self._match_text_seq("IF", "EXISTS")
        return ml.DropModel(this=self._parse_model_name(), if_exists=if_exists)

    def _parse_ml_alter(self) -> exp.Expr | None:
        if not self._match_text_seq("MODEL"):
            return None
        name = self._parse_model_name()
        if not self._match_text_seq("SET", "VERSION"):
            self.raise_error("Expected SET VERSION <n> after ALTER MODEL <name>")
        version = self._parse_number()
        if version is None or not version.this.isdigit():
            self.raise_error("SET VERSION takes a whole version number")
        return ml.AlterModelVersion(this=name, version=int(version.this))

    # -- pieces ------------------------------------------------------------------------

    def _set_once(self, args: dict[str, Any], key: str, value: Any, clause: Any) -> None:
        """``clause`` is the clause's keyword token: a repeat is reported where it stands."""
        if key in args:
            self.raise_error(f"{clause.text.upper()} is given twice in CREATE MODEL", clause)
        args[key] = value

    def _parse_model_name(self) -> str:
        token = self._curr
        if token is None or token.token_type in (TokenType.SEMICOLON, TokenType.SENTINEL):
            self.raise_error("Expected a model name", self._prev)
        table = self._parse_table_parts()
        if table is None or not table.name:
            self.raise_error("Expected a model name", token)
        try:
            return name_of(table)
        except ValueError:
            self.raise_error(f"Expected a model name, not {table.sql()}", token)
            raise

    def _parse_ml_function_name(self) -> str:
        """A (qualified) function name, stopping before Redshift's ( argument types )."""
        token = self._curr
        parts = [self._parse_id_var(any_token=False)]
        while self._match(TokenType.DOT):
            parts.append(self._parse_id_var(any_token=False))
        if not all(isinstance(p, exp.Identifier) for p in parts):
            self.raise_error("Expected a function name", token)
        return ".".join(p.name if p.quoted else p.name.lower() for p in parts)

    def _parse_ml_column_name(self) -> str:
        token = self._curr
        identifier = self._parse_id_var(any_token=False)
        if identifier is None:
            self.raise_error("Expected a column name", token)
        return name_of(identifier)

    def _parse_ml_word(self) -> str:
        token = self._curr
        identifier = self._parse_var(any_token=True)
        if identifier is None:
            self.raise_error("Expected a word", token)
        return identifier.name.lower()

    def _parse_ml_feature_source(self) -> ml.FeatureSource:
        name = self._parse_model_name()
        as_of = self._parse_ml_column_name() if self._match_text_seq("AS", "OF") else None
        return ml.FeatureSource(this=name, as_of=as_of)

    def _parse_ml_options(self, options: dict[str, Any]) -> None:
        if not self._match(TokenType.L_PAREN):
            self.raise_error("Expected ( after OPTIONS")
        while not self._match(TokenType.R_PAREN):
            token = self._curr
            key = self._parse_var(any_token=True)
            if key is None:
                self.raise_error("Expected an option name", token)
            if not self._match(TokenType.EQ):
                self.raise_error(f"Expected = after option {key.name}")
            value_token = self._curr
            node = self._parse_bitwise()
            try:
                value = literal_value(node)
            except (TypeError, AttributeError):
                self.raise_error(f"Option {key.name} needs a literal value", value_token)
            name = key.name.lower()
            if name in options:
                self.raise_error(f"Option {name} is given twice", token)
            options[name] = value
            if not self._match(TokenType.COMMA) and not (
                self._curr and self._curr.token_type == TokenType.R_PAREN
            ):
                self.raise_error("Expected , or ) in OPTIONS")

    # -- Redshift ML's clauses --------------------------------------------------------

    def _parse_redshift_clause(self, word: str) -> Any:
        """The value of one Redshift clause, as plain Python (its meaning is elsewhere)."""
        if word == "AUTO":
            return self._parse_redshift_switch(word)
        if word == "HYPERPARAMETERS":
            if not self._match(TokenType.DEFAULT):
                self.raise_error("Expected DEFAULT or DEFAULT EXCEPT (...) after HYPERPARAMETERS")
            return self._parse_redshift_pairs(word) if self._match(TokenType.EXCEPT) else {}
        if word == "SETTINGS":
            return self._parse_redshift_pairs(word)
        if word == "RETURNS":
            return self._parse_ml_type_as_written()
        # IAM_ROLE default | 'arn'; MODEL_TYPE X; PROBLEM_TYPE (X); OBJECTIVE 'x'; ...
        wrapped = self._match(TokenType.L_PAREN)
        value = self._parse_redshift_value(word)
        if wrapped and not self._match(TokenType.R_PAREN):
            self.raise_error(f"Expected ) after {word} ({value}")
        return value

    def _parse_ml_type_as_written(self) -> str:
        start = self._curr
        if self._parse_types() is None:
            self.raise_error("Expected a data type", start)
        return self._find_sql(start, self._prev)

    def _parse_redshift_switch(self, word: str) -> bool:
        token = self._curr
        if token is None or token.text.upper() not in ("ON", "OFF"):
            self.raise_error(f"Expected ON or OFF after {word}", token or self._prev)
            raise AssertionError  # raise_error raises
        self._advance()
        return token.text.upper() == "ON"

    def _parse_redshift_value(self, clause: str) -> Any:
        """A string, a number or a word (ON / OFF / DEFAULT / XGBOOST ...)."""
        token = self._curr
        ends = (TokenType.SEMICOLON, TokenType.R_PAREN, TokenType.SENTINEL)
        if token is None or token.token_type in ends:
            self.raise_error(f"Expected a value for {clause}", self._prev)
        if token.token_type in (TokenType.STRING, TokenType.NUMBER, TokenType.DASH):
            return literal_value(self._parse_unary())
        self._advance()
        return token.text.upper()

    def _parse_redshift_pairs(self, clause: str) -> dict[str, Any]:
        """( KEY value [, ...] ): Redshift writes no = between them (accepted too)."""
        if not self._match(TokenType.L_PAREN):
            self.raise_error(f"Expected ( after {clause}")
        pairs: dict[str, Any] = {}
        while not self._match(TokenType.R_PAREN):
            token = self._curr
            key = self._parse_var(any_token=True)
            if key is None:
                self.raise_error(f"Expected a name in {clause} (...)", token)
            name = key.name.upper()
            if name in pairs:
                self.raise_error(f"{clause} {name} is given twice", token)
            self._match(TokenType.EQ)
            pairs[name] = self._parse_redshift_value(f"{clause} {name}")
            if not self._match(TokenType.COMMA) and not (
                self._curr and self._curr.token_type == TokenType.R_PAREN
            ):
                self.raise_error(f"Expected , or ) in {clause} (...)")
        return pairs

    def _parse_ml_query(self) -> exp.Expr:
        token = self._curr
        query = self._parse_select(nested=True, parse_subquery_alias=False)
        if not isinstance(query, exp.Query):
            self.raise_error("Expected a query (SELECT ...)", token)
        return query

    def _parse_ml_from(self) -> exp.Expr:
        """``table`` or ``(query)``, as a query that selects every column."""
        token = self._curr
        if self._curr and self._curr.token_type == TokenType.L_PAREN:
            source = self._parse_wrapped(self._parse_ml_query)
            return exp.select("*").from_(source.subquery("_sqlml_src"))
        table = self._parse_table_parts()
        if table is None:
            self.raise_error("Expected a table name or (query)", token)
        return exp.select("*").from_(table)

    # -- feature tables ----------------------------------------------------------------

    def _parse_ml_create_feature_table(self, replace: bool) -> exp.Expr:
        if_not_exists = self._match_text_seq("IF", "NOT", "EXISTS")
        args: dict[str, Any] = {
            "this": self._parse_model_name(),
            "replace": replace,
            "if_not_exists": if_not_exists,
        }
        query = None
        while self._curr and self._curr.token_type != TokenType.SEMICOLON and query is None:
            clause = self._curr
            word = clause.text.upper()
            self._advance()
            if word == "KEY":
                keys = self._parse_csv(self._parse_ml_column_name)
                self._set_once(args, "keys", keys, clause)
            elif word == "TIMESTAMP":
                self._set_once(args, "timestamp", self._parse_ml_column_name(), clause)
            elif word == "TTL":
                self._set_once(args, "ttl", self._parse_ml_interval(), clause)
            elif word == "AS":
                query = self._parse_ml_query()
            elif word == "FROM":
                query = self._parse_ml_from()
            else:
                self.raise_error(
                    f"Unexpected {clause.text!r} in CREATE FEATURE TABLE; expected KEY, "
                    "TIMESTAMP, TTL or AS",
                    clause,
                )
        for required, example in (("keys", "KEY customer_id"), ("timestamp", "TIMESTAMP t")):
            if required not in args:
                self.raise_error(f"CREATE FEATURE TABLE needs {example}")
        if query is None:
            self.raise_error("CREATE FEATURE TABLE needs its rows: AS SELECT ...")
        return ml.CreateFeatureTable(query=query, **args)

    def _parse_ml_interval(self) -> str:
        """TTL INTERVAL '30 days' (or INTERVAL 30 DAY, or '30 days') as text: '30 days'."""
        token = self._curr
        node = self._parse_bitwise()
        if isinstance(node, exp.Interval) and node.this is not None:
            unit = node.args.get("unit")
            return f"{node.this.name} {unit.name}".strip() if unit else node.this.name
        if isinstance(node, exp.Literal) and node.is_string:
            return node.this
        self.raise_error("TTL takes an interval, such as INTERVAL '30 days'", token)
        raise AssertionError  # raise_error raises

    def _parse_ml_refresh(self) -> exp.Expr | None:
        if not self._match_text_seq("FEATURE", "TABLE"):
            return None
        return ml.RefreshFeatureTable(this=self._parse_model_name())

    def _parse_features_at_time(self) -> exp.Expr:
        """After ``FEATURES_AT_TIME(``: ft, TABLE t | (query) [, time column]."""
        name = self._parse_model_name()
        if not self._match(TokenType.COMMA):
            self.raise_error("FEATURES_AT_TIME(feature_table, TABLE spine | (query) [, time])")
        self._match_text_seq("TABLE")
        query = self._parse_ml_from()
        time = self._parse_ml_column_name() if self._match(TokenType.COMMA) else None
        return ml.FeaturesAtTime(this=name, query=query, time=time)

    # -- BigQuery ML's table functions ------------------------------------------------

    def _parse_ml_table_function(self, name: str) -> exp.Expr:
        """After ``ML.<name>(``: MODEL m, then an optional TABLE t or (query), then an
        optional STRUCT(value AS name, ...) or threshold array. Without MODEL it is an
        ordinary call (sqlml's PREDICT(m, ...), or someone's own function)."""
        if not self._match_text_seq("MODEL"):
            args = self._parse_csv(self._parse_lambda)
            builder = ML_FUNCTIONS.get(name)
            return builder(args) if builder else exp.Anonymous(this=name, expressions=args)
        node = ml.MLTableFunction(this=name, model=self._parse_model_name())
        while self._match(TokenType.COMMA):
            token = self._curr
            if self._match_text_seq("TABLE") or (token and token.token_type == TokenType.L_PAREN):
                self._ml_set_argument(node, "query", self._parse_ml_from(), token, name)
            elif self._match_text_seq("STRUCT"):
                self._ml_set_argument(node, "params", self._parse_ml_struct(), token, name)
            else:
                self._ml_set_argument(node, "thresholds", self._parse_ml_numbers(), token, name)
        return node

    def _ml_set_argument(
        self, node: exp.Expr, key: str, value: Any, token: Any, function: str
    ) -> None:
        if node.args.get(key) is not None:
            self.raise_error(f"ML.{function} takes one {key} argument", token)
        node.set(key, value)

    def _parse_ml_struct(self) -> dict[str, Any]:
        """STRUCT(0.6 AS threshold, ...) as {name: value}."""
        values: dict[str, Any] = {}
        self._match_l_paren()
        while not self._match(TokenType.R_PAREN):
            token = self._curr
            node = self._parse_bitwise()
            if not self._match(TokenType.ALIAS):
                self.raise_error("Expected value AS name in STRUCT(...)", token)
            name = self._parse_ml_word()
            try:
                values[name] = literal_value(node)
            except (TypeError, AttributeError):
                self.raise_error(f"STRUCT field {name} needs a literal value", token)
            self._match(TokenType.COMMA)
        return values

    def _parse_ml_numbers(self) -> list[float]:
        """GENERATE_ARRAY(start, end, step) or [a, b, ...]: ROC_CURVE's thresholds."""
        token = self._curr
        node = self._parse_bitwise()
        try:
            if isinstance(node, exp.Array):
                return [float(literal_value(v)) for v in node.expressions]
            if isinstance(node, exp.GenerateSeries) or (
                isinstance(node, exp.Anonymous) and node.name.upper() == "GENERATE_ARRAY"
            ):
                start, end, step = (float(literal_value(a)) for a in _call_arguments(node))
                count = round((end - start) / step) + 1 if step > 0 else 0
                return [round(start + i * step, 12) for i in range(max(count, 0))]
        except (TypeError, ValueError, AttributeError):
            pass
        self.raise_error("Expected TABLE t, (query), STRUCT(...) or GENERATE_ARRAY(...)", token)
        raise AssertionError  # raise_error raises


def _call_arguments(node: exp.Expr) -> list[exp.Expr]:
    if isinstance(node, exp.Anonymous):
        return list(node.expressions)
    return [node.args.get(k) for k in ("start", "end", "step")]


def build_predict(proba: bool):
    def builder(args: list[exp.Expr]) -> ml.MLPredict:
        model, *rest = args or [None]
        return ml.MLPredict(this=model, expressions=rest, proba=proba)

    return builder


ML_FUNCTIONS = {"PREDICT": build_predict(False), "PREDICT_PROBA": build_predict(True)}


def _table_function_parser(name: str):
    return lambda parser: parser._parse_ml_table_function(name)


ML_FUNCTION_PARSERS = {
    **{name: _table_function_parser(name) for name in ML_TABLE_FUNCTIONS},
    "FEATURES_AT_TIME": lambda parser: parser._parse_features_at_time(),
}
