"""The ML grammar shared by every sqlml dialect, as a mixin for a sqlglot parser class:
the statements (CREATE / SHOW / DESCRIBE / EVALUATE / EXPLAIN / DROP / ALTER MODEL with
Redshift ML's clauses, the FEATURE TABLE statements, FEATURES_AT_TIME); functions in
function_grammar.py, shared pieces in parsing.py."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from sqlglot import exp
from sqlglot.tokens import TokenType

from sqlml.dialects import expressions as ml
from sqlml.dialects.function_grammar import ML_TABLE_FUNCTIONS, FunctionGrammar
from sqlml.dialects.parsing import literal_value

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


class MLGrammar(FunctionGrammar):
    """Parser mixin: put it before the dialect's parser class in the bases."""

    def _parse_statement(self) -> exp.Expr | None:
        statement = self._parse_ml_statement()
        if statement is not None:
            return statement
        return super()._parse_statement()

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
                job_name = self._parse_string()
                if job_name is None:
                    self._fail("Expected the training job's name", clause)
                self._set_once(redshift, "job_name", job_name.name, clause)
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
                self._fail(
                    f"Unexpected {self._curr.text!r} in CREATE MODEL; expected one of {expected}"
                )
        if query is None and "job_name" not in redshift:
            self._fail("CREATE MODEL needs its training data: AS SELECT ... or FROM table")
        # Without TARGET, BigQuery's OPTIONS (input_label_cols = [...]) names the label; a
        # Redshift statement's missing TARGET is told in Redshift's terms when it is run.
        if "target" not in args and "input_label_cols" not in args["options"] and not redshift:
            self._fail(
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
            self._fail("Expected MODEL after EVALUATE")
        name = self._parse_model_name()
        query = None
        if self._match(TokenType.ON):
            query = self._parse_ml_from()
        return ml.EvaluateModel(this=name, query=query)

    def _parse_ml_explain(self) -> exp.Expr | None:
        if self._match_text_seq("MODEL"):
            return ml.ExplainModel(this=self._parse_model_name())
        analyze = self._match(TokenType.ANALYZE)
        return ml.ExplainQuery(this=super()._parse_statement(), analyze=analyze)

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
            self._fail("Expected SET VERSION <n> after ALTER MODEL <name>")
        version = self._parse_number()
        if version is None or not version.this.isdigit():
            self._fail("SET VERSION takes a whole version number")
        return ml.AlterModelVersion(this=name, version=int(version.this))

    # -- Redshift ML's clauses --------------------------------------------------------

    def _parse_redshift_clause(self, word: str) -> Any:
        """The value of one Redshift clause, as plain Python (its meaning is elsewhere)."""
        if word == "AUTO":
            return self._parse_redshift_switch(word)
        if word == "HYPERPARAMETERS":
            if not self._match(TokenType.DEFAULT):
                self._fail("Expected DEFAULT or DEFAULT EXCEPT (...) after HYPERPARAMETERS")
            return self._parse_redshift_pairs(word) if self._match(TokenType.EXCEPT) else {}
        if word == "SETTINGS":
            return self._parse_redshift_pairs(word)
        if word == "RETURNS":
            return self._parse_ml_type_as_written()
        # IAM_ROLE default | 'arn'; MODEL_TYPE X; PROBLEM_TYPE (X); OBJECTIVE 'x'; ...
        wrapped = self._match(TokenType.L_PAREN)
        value = self._parse_redshift_value(word)
        if wrapped and not self._match(TokenType.R_PAREN):
            self._fail(f"Expected ) after {word} ({value}")
        return value

    def _parse_redshift_switch(self, word: str) -> bool:
        token = self._curr
        if token is None or token.text.upper() not in ("ON", "OFF"):
            self._fail(f"Expected ON or OFF after {word}", token or self._prev)
        self._advance()
        return token.text.upper() == "ON"

    def _parse_redshift_value(self, clause: str) -> Any:
        """A string, a number or a word (ON / OFF / DEFAULT / XGBOOST ...)."""
        token = self._curr
        ends = (TokenType.SEMICOLON, TokenType.R_PAREN, TokenType.SENTINEL)
        if token is None or token.token_type in ends:
            self._fail(f"Expected a value for {clause}", self._prev)
        if token.token_type in (TokenType.STRING, TokenType.NUMBER, TokenType.DASH):
            return literal_value(self._parse_unary())
        self._advance()
        return token.text.upper()

    def _parse_redshift_pairs(self, clause: str) -> dict[str, Any]:
        """( KEY value [, ...] ): Redshift writes no = between them (accepted too)."""
        if not self._match(TokenType.L_PAREN):
            self._fail(f"Expected ( after {clause}")
        pairs: dict[str, Any] = {}
        while not self._match(TokenType.R_PAREN):
            token = self._curr
            key = self._parse_var(any_token=True)
            if key is None:
                self._fail(f"Expected a name in {clause} (...)", token)
            name = key.name.upper()
            if name in pairs:
                self._fail(f"{clause} {name} is given twice", token)
            self._match(TokenType.EQ)
            pairs[name] = self._parse_redshift_value(f"{clause} {name}")
            if not self._match(TokenType.COMMA) and not (
                self._curr and self._curr.token_type == TokenType.R_PAREN
            ):
                self._fail(f"Expected , or ) in {clause} (...)")
        return pairs

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
                self._fail(
                    f"Unexpected {clause.text!r} in CREATE FEATURE TABLE; expected KEY, "
                    "TIMESTAMP, TTL or AS",
                    clause,
                )
        for required, example in (("keys", "KEY customer_id"), ("timestamp", "TIMESTAMP t")):
            if required not in args:
                self._fail(f"CREATE FEATURE TABLE needs {example}")
        if query is None:
            self._fail("CREATE FEATURE TABLE needs its rows: AS SELECT ...")
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
        self._fail("TTL takes an interval, such as INTERVAL '30 days'", token)
        raise AssertionError  # raise_error raises

    def _parse_ml_refresh(self) -> exp.Expr | None:
        if not self._match_text_seq("FEATURE", "TABLE"):
            return None
        return ml.RefreshFeatureTable(this=self._parse_model_name())

    def _parse_features_at_time(self) -> exp.Expr:
        """After ``FEATURES_AT_TIME(``: ft, TABLE t | (query) [, time column]."""
        name = self._parse_model_name()
        if not self._match(TokenType.COMMA):
            self._fail("FEATURES_AT_TIME(feature_table, TABLE spine | (query) [, time])")
        self._match_text_seq("TABLE")
        query = self._parse_ml_from()
        time = self._parse_ml_column_name() if self._match(TokenType.COMMA) else None
        return ml.FeaturesAtTime(this=name, query=query, time=time)


def _table_function_parser(name: str) -> Callable[[MLGrammar], exp.Expr]:
    return lambda parser: parser._parse_ml_table_function(name)


ML_FUNCTION_PARSERS = {
    **{name: _table_function_parser(name) for name in ML_TABLE_FUNCTIONS},
    "FEATURES_AT_TIME": lambda parser: parser._parse_features_at_time(),
}
