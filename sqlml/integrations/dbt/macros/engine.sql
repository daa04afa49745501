{#- How the package reaches sqlml on each adapter. dbt-duckdb: functions the plugin
    sqlml.integrations.dbt_duckdb registers; dbt-postgres: the functions `sqlml install`
    put into schema sqlml. Text always travels as a bound parameter. -#}

{% macro _fetch(sql, bindings) %}
  {%- do sqlml.check_setup() -%}
  {%- set result = adapter.add_query(sql, bindings=bindings, abridge_sql_log=True) -%}
  {%- set rows = result[1].fetchall() -%}
  {%- do adapter.dispatch('_after_call', 'sqlml')() -%}
  {{ return(rows) }}
{% endmacro %}

{#- dbt-duckdb runs each node in a transaction and the plugin's functions run sqlml on
    another connection, whose commits a transaction begun before them does not see (the
    feature table it made, the model it trained): the call's transaction ends with it.
    On PostgreSQL sqlml runs inside dbt's transaction. -#}
{% macro default___after_call() %}{% endmacro %}
{% macro duckdb___after_call() %}{%- do adapter.commit() -%}{% endmacro %}

{% macro _placeholder() %}{{ return(adapter.dispatch('_placeholder', 'sqlml')()) }}{% endmacro %}
{% macro default___placeholder() %}{{ return('%s') }}{% endmacro %}
{% macro duckdb___placeholder() %}{{ return('?') }}{% endmacro %}

{#- The rows of one sqlml statement (CREATE MODEL, EVALUATE MODEL, ...), as dicts. -#}
{% macro statement_rows(statement) %}
  {%- set rows = sqlml._fetch(adapter.dispatch('_statement_rows_sql', 'sqlml')(), [statement]) -%}
  {{ return(fromjson(rows[0][0])) }}
{% endmacro %}
{% macro default___statement_rows_sql() %}
  {{ return("select coalesce(jsonb_agg(r), '[]'::jsonb)::text from sqlml.execute(%s) as t(r)") }}
{% endmacro %}
{% macro duckdb___statement_rows_sql() %}{{ return('select sqlml_execute(?)') }}{% endmacro %}

{#- A query with sqlml's functions (PREDICT, FEATURES_AT_TIME, ML.*) as the engine's SQL. -#}
{% macro engine_sql(query) %}
  {%- set function = adapter.dispatch('_function_names', 'sqlml')()['sql'] -%}
  {{ return(sqlml._fetch('select ' ~ function ~ '(' ~ sqlml._placeholder() ~ ')', [query])[0][0]) }}
{% endmacro %}

{#- One expression computed row by row, such as PREDICT(m, c.*), as the engine's SQL. -#}
{% macro engine_expression(expression) %}
  {%- set function = adapter.dispatch('_function_names', 'sqlml')()['expression'] -%}
  {{ return(sqlml._fetch('select ' ~ function ~ '(' ~ sqlml._placeholder() ~ ')', [expression])[0][0]) }}
{% endmacro %}

{% macro default___function_names() %}
  {{ return({'sql': 'sqlml.sql', 'expression': 'sqlml.sql_expression'}) }}
{% endmacro %}
{% macro duckdb___function_names() %}
  {{ return({'sql': 'sqlml_sql', 'expression': 'sqlml_sql_expression'}) }}
{% endmacro %}

{#- on-run-start, and each call: is sqlml reachable on this target? -#}
{% macro check_setup() %}
  {%- if execute -%}{%- do adapter.dispatch('check_setup', 'sqlml')() -%}{%- endif -%}
  {{ return('select 1 as sqlml_ready') }}
{% endmacro %}

{% macro default__check_setup() %}
  {%- set found = run_query(
      "select to_regprocedure('sqlml.execute(text)') is not null,"
      ~ " to_regprocedure('sqlml.sql_expression(text)') is not null") -%}
  {%- if not found.rows[0][0] -%}
    {{ exceptions.raise_compiler_error(
        "sqlml is not installed in database " ~ target.dbname ~ " (target " ~ target.name
        ~ "): run `sqlml install postgresql://USER@" ~ target.host ~ ":" ~ target.port ~ "/"
        ~ target.dbname ~ "` once, as a superuser, then run dbt again") }}
  {%- elif not found.rows[0][1] -%}
    {{ exceptions.raise_compiler_error(
        "the sqlml installed in database " ~ target.dbname ~ " is older than this dbt package:"
        ~ " run `sqlml install --upgrade postgresql://USER@" ~ target.host ~ ":" ~ target.port
        ~ "/" ~ target.dbname ~ "`, then run dbt again") }}
  {%- endif -%}
{% endmacro %}

{% macro duckdb__check_setup() %}
  {%- set found = run_query(
      "select count(*) from duckdb_functions() where function_name = 'sqlml_execute'") -%}
  {%- if found.rows[0][0] == 0 -%}
    {{ exceptions.raise_compiler_error(
        "the dbt-duckdb profile's target " ~ target.name ~ " has no sqlml plugin: add it to"
        ~ " that target in profiles.yml,\n    plugins:\n      - module: sqlml.integrations.dbt_duckdb") }}
  {%- endif -%}
{% endmacro %}
