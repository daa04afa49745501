"""Expression nodes for sqlml's statements and functions.

They only exist between parsing and rewriting: the rewriter replaces every one of them,
so the SQL sent to an engine never contains them.
"""

from __future__ import annotations

from sqlglot import exp

# The alias of the derived table that holds a query's rows wherever sqlml wraps one
# (a FROM (query), a TRANSFORM, an ML.* function's input): one name, so none shadows another.
SOURCE_ALIAS = "_sqlml_src"


class MLStatement(exp.Expression):
    """Base of every sqlml statement (CREATE MODEL, SHOW MODELS, ...)."""


class CreateModel(MLStatement):
    arg_types = {
        "this": True,  # model name (str, normalised)
        "query": True,  # exp.Query producing the training rows
        "target": False,
        "task": False,
        "algorithm": False,
        "function": False,
        "features": False,  # list[FeatureSource]
        "options": False,  # dict[str, python value]
        "transform": False,  # list[exp.Expr]: BigQuery's TRANSFORM select list
        "redshift": False,  # dict: Redshift ML's clauses as written (IAM_ROLE, MODEL_TYPE, ...)
        "replace": False,
        "if_not_exists": False,
    }


class FeatureSource(exp.Expression):
    arg_types = {"this": True, "as_of": False}


class ShowModels(MLStatement):
    arg_types = {"where": False}  # LIKE 'p%' or WHERE ...: a condition on the rows


class ShowModel(MLStatement):
    """Redshift's SHOW MODEL m: the model's facts as (key, value) rows."""

    arg_types = {"this": True}


class ShowModelVersions(MLStatement):
    arg_types = {"this": True}


class ShowTrials(MLStatement):
    """SHOW TRIALS m: the trials of the search that trained the version in use."""

    arg_types = {"this": True}


class ShowRuns(MLStatement):
    """SHOW RUNS [m]: every training run (of the model), failed and cancelled ones too."""

    arg_types = {"this": False}


class DescribeModel(MLStatement):
    arg_types = {"this": True}


class EvaluateModel(MLStatement):
    arg_types = {"this": True, "query": False}


class ExplainModel(MLStatement):
    arg_types = {"this": True}


class ExplainQuery(MLStatement):
    """EXPLAIN [ANALYZE] of a query that uses PREDICT: explained after rewriting."""

    arg_types = {"this": True, "analyze": False}


class DropModel(MLStatement):
    arg_types = {"this": True, "if_exists": False, "version": False, "force": False}


class AlterModelVersion(MLStatement):
    arg_types = {"this": True, "version": True}


class ExportModel(MLStatement):
    """EXPORT MODEL m [VERSION n] TO 'path' (BigQuery's OPTIONS (URI = 'path') too)."""

    arg_types = {"this": True, "version": False, "path": True}


class ImportModel(MLStatement):
    """IMPORT [OR REPLACE] MODEL [IF NOT EXISTS] m FROM 'path' [TASK t] [FEATURES (a, ...)]
    [TARGET c] [FUNCTION f], and BigQuery's CREATE MODEL m OPTIONS (MODEL_TYPE = 'ONNX',
    MODEL_PATH = 'path'). ``data``: the file's bytes instead of a path (sqlml.import_model)."""

    arg_types = {
        "this": True,
        "path": False,
        "data": False,
        "task": False,
        "features": False,  # list[str]
        "target": False,
        "function": False,
        "replace": False,
        "if_not_exists": False,
    }


class AlterModelRollback(MLStatement):
    """ALTER MODEL m ROLLBACK: the version in use before the one in use now."""

    arg_types = {"this": True}


class AlterModelOwner(MLStatement):
    arg_types = {"this": True, "owner": True}


class MLPredict(exp.Expression, exp.Func):
    """PREDICT(model, args...) / PREDICT_PROBA(model, args...)."""

    arg_types = {"this": True, "expressions": False, "proba": False}
    is_var_len_args = True


class MLTableFunction(exp.Expression):
    """BigQuery ML's table functions, ML.<name>(MODEL m [, TABLE t | (query)] [, STRUCT(...)]):
    PREDICT becomes a query over the input; the others are answered from the catalog."""

    arg_types = {
        "this": True,  # the function's name, upper case: PREDICT, EVALUATE, ROC_CURVE, ...
        "model": True,  # model name (str, normalised)
        "query": False,  # exp.Query: the input rows
        "params": False,  # dict[str, python value]: the STRUCT(value AS name, ...)
        "thresholds": False,  # list[float]: ROC_CURVE's GENERATE_ARRAY / ARRAY
    }


# -- feature tables --------------------------------------------------------------------------


class CreateFeatureTable(MLStatement):
    arg_types = {
        "this": True,  # feature table name (str, normalised)
        "query": True,
        "keys": True,  # list[str]
        "timestamp": True,  # str
        "ttl": False,  # str, an interval such as '30 days'
        "replace": False,
        "if_not_exists": False,
    }


class RefreshFeatureTable(MLStatement):
    arg_types = {"this": True}


class Retrain(MLStatement):
    """MindsDB's RETRAIN m: not sqlml's; answered with the statement that does it."""

    arg_types = {"this": True}


class ShowFeatureTables(MLStatement):
    arg_types = {"where": False}


class DescribeFeatureTable(MLStatement):
    arg_types = {"this": True}


class DropFeatureTable(MLStatement):
    arg_types = {"this": True, "if_exists": False, "cascade": False}


class FeaturesAtTime(exp.Expression):
    """FEATURES_AT_TIME(ft, TABLE spine | (query) [, time_column]) in FROM."""

    arg_types = {"this": True, "query": True, "time": False}
