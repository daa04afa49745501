"""The ML grammar shared by every sqlml dialect, as a mixin for a sqlglot parser class:
the statement dispatch, CREATE MODEL and the statements that manage models (SHOW /
DESCRIBE / EVALUATE / EXPLAIN / DROP / ALTER / EXPORT, with SHOW / DESCRIBE / DROP FEATURE TABLE),
composed with the mixins of Redshift ML's clauses (redshift_grammar.py), the feature
tables (feature_grammar.py) and the functions (function_grammar.py); pieces they share
are in parsing.py."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from sqlglot import exp
from sqlglot.tokens import TokenType

from sqlml.dialects import expressions as ml
from sqlml.dialects.feature_grammar import FEATURE_FUNCTION_PARSERS, FeatureTableGrammar
from sqlml.dialects.function_grammar import TABLE_FUNCTION_PARSERS, FunctionGrammar
from sqlml.dialects.parsing import literal_value
from sqlml.dialects.redshift_grammar import REDSHIFT_CLAUSES, RedshiftGrammar

_CREATE_MODEL_CLAUSES = ("TARGET", "PREDICT", "TASK", "USING", "FUNCTION", "FEATURES", "OPTIONS")


class MLGrammar(RedshiftGrammar, FeatureTableGrammar, FunctionGrammar):
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
            "EXPORT": self._parse_ml_export,
            "IMPORT": self._parse_ml_import,
            "REFRESH": self._parse_ml_refresh,
            "RETRAIN": lambda: ml.Retrain(this=self._parse_model_name()),
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
                self._set_once(args, "target", self._parse_ml_target(), clause)
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
        if query is None and str(args["options"].get("model_type", "")).upper() == "ONNX":
            return self._bigquery_import(args)
        if query is None and "job_name" not in redshift:
            self._fail("CREATE MODEL needs its training data: AS SELECT ... or FROM table")
        # Without TARGET, BigQuery's OPTIONS (input_label_cols = [...] or its default label
        # column) names the label, and USING kmeans needs none: told when it is run, as is a
        # Redshift statement's missing TARGET, in Redshift's terms.
        if not ("target" in args or args["options"] or "algorithm" in args or redshift):
            self._fail(
                "CREATE MODEL needs TARGET <label column> (or BigQuery's "
                "OPTIONS (input_label_cols = ['column']))"
            )
        return ml.CreateModel(query=query, **args)

    def _bigquery_import(self, args: dict[str, Any]) -> ml.ImportModel:
        """BigQuery's CREATE MODEL m OPTIONS (MODEL_TYPE = 'ONNX', MODEL_PATH = '...')."""
        options = {k: v for k, v in args["options"].items() if k != "model_type"}
        path = options.pop("model_path", None)
        if not isinstance(path, str):
            self._fail("MODEL_TYPE = 'ONNX' needs MODEL_PATH = 'file.onnx': the model to import")
        if options:
            self._fail(
                f"MODEL_TYPE = 'ONNX' imports a model and takes no other option "
                f"({', '.join(options)}); sqlml's IMPORT MODEL takes TASK and FEATURES"
            )
        return ml.ImportModel(
            this=args["this"],
            path=path,
            replace=args["replace"],
            if_not_exists=args["if_not_exists"],
            function=args.get("function"),
        )

    def _parse_ml_target(self) -> str:
        """The label column: a name, or a string as Redshift's documentation writes it
        (TARGET 'Churn'), which names the column as written."""
        if self._curr and self._curr.token_type == TokenType.STRING:
            self._advance()
            return self._prev.text
        return self._parse_ml_column_name()

    def _parse_ml_show(self) -> exp.Expr | None:
        if self._match_text_seq("FEATURE", "TABLES"):
            return ml.ShowFeatureTables(where=self._parse_ml_show_filter())
        if self._match_text_seq("MODELS"):
            return ml.ShowModels(where=self._parse_ml_show_filter())
        if self._match_text_seq("TRIALS"):
            return ml.ShowTrials(this=self._parse_model_name())
        if self._match_text_seq("RUNS"):
            named = self._curr and self._curr.token_type != TokenType.SEMICOLON
            return ml.ShowRuns(this=self._parse_model_name() if named else None)
        if not self._match_text_seq("MODEL"):
            return None
        if self._match_text_seq("VERSIONS"):  # a model named versions is quoted: "versions"
            return ml.ShowModelVersions(this=self._parse_model_name())
        if self._match(TokenType.ALL):  # Redshift's SHOW MODEL ALL: every model
            return ml.ShowModels(where=self._parse_ml_show_filter())
        return ml.ShowModel(this=self._parse_model_name())

    def _parse_ml_show_filter(self) -> exp.Expr | None:
        """SHOW ... LIKE 'pattern' (on the name, as MySQL's and MindsDB's) or WHERE cond."""
        if self._match(TokenType.LIKE):
            pattern = self._parse_string()
            if pattern is None:
                self._fail("Expected a quoted pattern after LIKE, as in LIKE 'churn%'")
            return exp.Like(this=exp.column("name"), expression=pattern)
        if self._match(TokenType.WHERE):
            return self._parse_disjunction()
        return None

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
        name = self._parse_model_name()
        if not self._match_text_seq("VERSION"):
            return ml.DropModel(this=name, if_exists=if_exists)
        version = self._parse_ml_version_number("DROP MODEL ... VERSION")
        force = self._match_text_seq("FORCE")
        return ml.DropModel(this=name, if_exists=if_exists, version=version, force=force)

    def _parse_ml_alter(self) -> exp.Expr | None:
        if not self._match_text_seq("MODEL"):
            return None
        name = self._parse_model_name()
        if self._match_text_seq("OWNER", "TO"):
            role = self._parse_id_var(any_token=False)
            if role is None:
                self._fail("OWNER TO takes a role name")
            return ml.AlterModelOwner(this=name, owner=role.name)
        if self._match_text_seq("ROLLBACK"):
            return ml.AlterModelRollback(this=name)
        if not self._match_text_seq("SET", "VERSION"):
            self._fail(
                "Expected SET VERSION <n>, ROLLBACK or OWNER TO <role> after ALTER MODEL <name>"
            )
        return ml.AlterModelVersion(this=name, version=self._parse_ml_version_number("SET VERSION"))

    def _parse_ml_export(self) -> exp.Expr | None:
        if not self._match_text_seq("MODEL"):
            return None
        name = self._parse_model_name()
        version = None
        if self._match_text_seq("VERSION"):
            version = self._parse_ml_version_number("VERSION")
        if self._match_text_seq("TO"):
            path = self._parse_string()
            if path is None:
                self._fail("EXPORT MODEL ... TO takes the file's path in quotes: TO 'model.onnx'")
            return ml.ExportModel(this=name, version=version, path=path.name)
        if self._match_text_seq("OPTIONS"):  # BigQuery's OPTIONS (URI = '...')
            options: dict[str, Any] = {}
            self._parse_ml_options(options)
            if set(options) != {"uri"} or not isinstance(options["uri"], str):
                self._fail("EXPORT MODEL ... OPTIONS takes one option, URI = 'path'")
            return ml.ExportModel(this=name, version=version, path=options["uri"])
        self._fail("Expected TO 'path' (or OPTIONS (URI = 'path')) after EXPORT MODEL <name>")

    def _parse_ml_import(self) -> exp.Expr | None:
        replace = self._match_text_seq("OR", "REPLACE")
        if not self._match_text_seq("MODEL"):
            return None
        if_not_exists = self._match_text_seq("IF", "NOT", "EXISTS")
        args: dict[str, Any] = {
            "this": self._parse_model_name(),
            "replace": replace,
            "if_not_exists": if_not_exists,
        }
        if not self._match(TokenType.FROM):
            self._fail("Expected FROM 'file.onnx' after IMPORT MODEL <name>")
        path = self._parse_string()
        if path is None:
            self._fail("IMPORT MODEL ... FROM takes the file's path in quotes: FROM 'model.onnx'")
        args["path"] = path.name
        while self._curr and self._curr.token_type != TokenType.SEMICOLON:
            clause = self._curr
            word = clause.text.upper()
            self._advance()
            if word == "TASK":
                self._set_once(args, "task", self._parse_ml_word(), clause)
            elif word == "FEATURES":
                names = self._parse_wrapped_csv(self._parse_ml_column_name)
                self._set_once(args, "features", names, clause)
            elif word == "TARGET":
                self._set_once(args, "target", self._parse_ml_column_name(), clause)
            elif word == "FUNCTION":
                self._set_once(args, "function", self._parse_ml_function_name(), clause)
            else:
                self._fail(
                    f"Unexpected {clause.text!r} in IMPORT MODEL; expected one of TASK, "
                    "FEATURES (name, ...), TARGET, FUNCTION",
                    clause,
                )
        return ml.ImportModel(**args)

    def _parse_ml_version_number(self, clause: str) -> int:
        version = self._parse_number()
        if version is None or not version.this.isdigit():
            self._fail(f"{clause} takes a whole version number")
        return int(version.this)

    # -- CREATE MODEL's pieces -------------------------------------------------------

    def _parse_ml_function_name(self) -> str:
        """A (qualified) function name, stopping before Redshift's ( argument types )."""
        token = self._curr
        parts = [self._parse_id_var(any_token=False)]
        while self._match(TokenType.DOT):
            parts.append(self._parse_id_var(any_token=False))
        names = [p for p in parts if isinstance(p, exp.Identifier)]
        if len(names) != len(parts):
            self._fail("Expected a function name", token)
        return ".".join(p.name if p.quoted else p.name.lower() for p in names)

    def _parse_ml_options(self, options: dict[str, Any]) -> None:
        if not self._match(TokenType.L_PAREN):
            self._fail("Expected ( after OPTIONS")
        while not self._match(TokenType.R_PAREN):
            token = self._curr
            key = self._parse_var(any_token=True)
            if key is None:
                self._fail("Expected an option name", token)
            if not self._match(TokenType.EQ):
                self._fail(f"Expected = after option {key.name}")
            value_token = self._curr
            node = self._parse_bitwise()
            try:
                value = literal_value(node)
            except (TypeError, AttributeError):
                self._fail(f"Option {key.name} needs a literal value", value_token)
            name = key.name.lower()
            if name in options:
                self._fail(f"Option {name} is given twice", token)
            options[name] = value
            if not self._match(TokenType.COMMA) and not (
                self._curr and self._curr.token_type == TokenType.R_PAREN
            ):
                self._fail("Expected , or ) in OPTIONS")


# The FUNCTION_PARSERS of a dialect's parser: BigQuery ML's table functions and
# FEATURES_AT_TIME, each read by its mixin's method.
ML_FUNCTION_PARSERS: dict[str, Callable[[MLGrammar], exp.Expr]] = {
    **TABLE_FUNCTION_PARSERS,
    **FEATURE_FUNCTION_PARSERS,
}
