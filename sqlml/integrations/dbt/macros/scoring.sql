{#- Scoring in ordinary table, view and incremental models. ref() of the model node makes
    the DAG edge: a scored table is built after the model is trained.

      select c.id, {{ sqlml.predict(ref('churn'), 'c') }} as will_churn
      from {{ ref('customers') }} as c

    The second argument is the alias (or a relation named in FROM without one) whose
    columns are the model's features, bound by name. -#}

{% macro predict(trained, rows) %}
  {{ return(sqlml._prediction('PREDICT', trained, rows, 'sqlml.predict')) }}
{% endmacro %}

{% macro predict_proba(trained, rows) %}
  {{ return(sqlml._prediction('PREDICT_PROBA', trained, rows, 'sqlml.predict_proba')) }}
{% endmacro %}

{% macro _prediction(function, trained, rows, caller_name) %}
  {%- set name = sqlml.model(trained, caller_name) -%}
  {%- if rows is string -%}
    {%- set star = sqlml._identifier(rows, 'the alias of the rows to score', caller_name) -%}
  {%- else -%}
    {%- set star = adapter.quote(rows.identifier) -%}
  {%- endif -%}
  {%- if not execute -%}{{ return('null') }}{%- endif -%}
  {{ return(sqlml.engine_expression(function ~ '(' ~ name ~ ', ' ~ star ~ '.*)')) }}
{% endmacro %}

{#- The version of the model in use, as a number: a column of it lets an incremental model
    rescore the rows an older version scored. -#}
{% macro model_version(trained) %}
  {%- set name = sqlml.model(trained, 'sqlml.model_version') -%}
  {%- if not execute -%}{{ return('0') }}{%- endif -%}
  {%- set rows = sqlml.statement_rows('SHOW MODEL VERSIONS ' ~ name) -%}
  {%- for row in rows if row['in_use'] -%}{{ return(row['version']) }}{%- endfor -%}
  {{ exceptions.raise_compiler_error("sqlml.model_version: model " ~ name ~ " has no version in use") }}
{% endmacro %}

{#- A whole query in sqlml's SQL, rewritten into the engine's: for models that read feature
    tables (their PREDICT looks the features up by key), FEATURES_AT_TIME, ML.PREDICT, and
    PostgreSQL's chunked scoring, which is much faster than the per-row function.

      {% call sqlml.query() %}
        select c.id, PREDICT({{ sqlml.model(ref('churn')) }}, c.*) as will_churn
        from {{ ref('customers') }} as c
      {% endcall %} -#}
{% macro query() %}
  {%- set body = caller() -%}
  {%- if not execute -%}{{ return(body) }}{%- endif -%}
  {{ return(sqlml.engine_sql(body)) }}
{% endmacro %}
