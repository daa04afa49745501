"""The ML grammar shared by every sqlml dialect, as a mixin for a sqlglot parser class."""

from __future__ import annotations

from typing import Any

from sqlglot import exp
from sqlglot.tokens import TokenType

from sqlml.dialects import expressions as ml

# Words that can start a sqlml statement or name an ML function. A statement without any
# of them is plain SQL and goes to the engine untouched.
ML_WORDS = frozenset({"MODEL", "MODELS", "PREDICT", "PREDICT_PROBA"})

_CREATE_MODEL_CLAUSES = ("TARGET", "PREDICT", "TASK", "USING", "FUNCTION", "FEATURES", "OPTIONS")


def _name_of(identifier: exp.Expr) -> str:
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
        }
        query = None
        while self._curr and self._curr.token_type != TokenType.SEMICOLON:
            clause = self._curr
            word = clause.text.upper()
            if word == "AS" and query is None:
                self._advance()
                query = self._parse_ml_query()
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
                self._set_once(args, "function", self._parse_model_name(), clause)
            elif word == "FEATURES":
                self._advance()
                args["features"].extend(self._parse_csv(self._parse_ml_feature_source))
            elif word == "OPTIONS":
                self._advance()
                self._parse_ml_options(args["options"])
            else:
                expected = ", ".join((*_CREATE_MODEL_CLAUSES, "AS", "FROM"))
                self.raise_error(
                    f"Unexpected {self._curr.text!r} in CREATE MODEL; expected one of {expected}"
                )
        if query is None:
            self.raise_error("CREATE MODEL needs its training data: AS SELECT ... or FROM table")
        # Without TARGET, BigQuery's OPTIONS (input_label_cols = [...]) names the label.
        if "target" not in args and "input_label_cols" not in args["options"]:
            self.raise_error(
                "CREATE MODEL needs TARGET <label column> (or BigQuery's "
                "OPTIONS (input_label_cols = ['column']))"
            )
        return ml.CreateModel(query=query, **args)

    def _parse_ml_show(self) -> exp.Expr | None:
        if self._match_text_seq("MODELS"):
            return ml.ShowModels()
        if self._match_text_seq("MODEL", "VERSIONS"):
            return ml.ShowModelVersions(this=self._parse_model_name())
        return None

    def _parse_ml_describe(self) -> exp.Expr | None:
        following = self._next and self._next.token_type != TokenType.SEMICOLON
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
            return _name_of(table)
        except ValueError:
            self.raise_error(f"Expected a model name, not {table.sql()}", token)
            raise

    def _parse_ml_column_name(self) -> str:
        token = self._curr
        identifier = self._parse_id_var(any_token=False)
        if identifier is None:
            self.raise_error("Expected a column name", token)
        return _name_of(identifier)

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


def build_predict(proba: bool):
    def builder(args: list[exp.Expr]) -> ml.MLPredict:
        model, *rest = args or [None]
        return ml.MLPredict(this=model, expressions=rest, proba=proba)

    return builder


ML_FUNCTIONS = {"PREDICT": build_predict(False), "PREDICT_PROBA": build_predict(True)}
