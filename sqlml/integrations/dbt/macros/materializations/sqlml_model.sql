{#- A node that trains a sqlml model. Its SQL is the training query; its config gives the
    CREATE MODEL clauses:

      {{ config(materialized='sqlml_model', target='churned', using='lightgbm',
                options={'num_leaves': 31}, function='churn_predict',
                features=[{'table': 'customer_features', 'as_of': 'label_time'}]) }}

    The model is named after the node ("schema"."name") and trained with CREATE OR REPLACE
    MODEL, so a failed training leaves the version in use serving. The node's relation is
    the model card, one row: model, version, algorithm, metric, metric_value, rows,
    trained_at, fingerprint, signature. Training is skipped when the compiled SQL and the
    settings (signature) and the training rows (fingerprint) are those of the card and its
    version is the one in use; --full-refresh retrains; --empty never trains. -#}

{% materialization sqlml_model, default %}
  {%- set settings = sqlml._settings(
      ['target', 'task', 'using', 'function', 'options', 'features'], ['target']) -%}
  {%- set card = this.incorporate(type='table') -%}
  {%- set existing = load_cached_relation(this) -%}
  {%- set name = sqlml._quoted_name(this) -%}
  {%- set sqlml_statement = sqlml._create_model_statement(name, settings, sql) -%}
  {%- set signature = local_md5(sql ~ tojson(settings, sort_keys=true)) -%}

  {{ run_hooks(pre_hooks, inside_transaction=False) }}
  {{ run_hooks(pre_hooks, inside_transaction=True) }}

  {%- if flags.EMPTY -%}
    {{ log("sqlml: " ~ name ~ " is not trained under --empty", info=True) }}
    {%- set rows = none if existing is none else [] -%}
  {%- else -%}
    {%- set fingerprint = sqlml._fingerprint(sql, sqlml._feature_tables(settings['features'])) -%}
    {%- set previous = sqlml._card_row(existing) if not should_full_refresh() else none -%}
    {%- if previous is not none and previous['signature'] == signature
          and previous['fingerprint'] == fingerprint
          and sqlml._version_in_use(sqlml._catalog_name(this)) == previous['version'] -%}
      {{ log("sqlml: " ~ name ~ " is unchanged (query, settings and rows): version "
             ~ previous['version'] ~ " kept, not retrained", info=True) }}
      {%- set rows = [] -%}
    {%- else -%}
      {%- set trained = sqlml.statement_rows(sqlml_statement)[0] -%}
      {%- set rows = [trained, fingerprint, signature] -%}
    {%- endif -%}
  {%- endif -%}

  {%- if rows is none or rows | length > 0 -%}
    {%- if existing is not none -%}{{ adapter.drop_relation(existing) }}{%- endif -%}
    {% call statement('main') -%}
      {{ get_create_table_as_sql(False, card, sqlml._card_sql(rows)) }}
    {%- endcall %}
  {%- else -%}
    {% call statement('main') -%} select 1 as sqlml_unchanged {%- endcall %}
  {%- endif -%}

  {{ run_hooks(post_hooks, inside_transaction=True) }}
  {{ adapter.commit() }}
  {{ run_hooks(post_hooks, inside_transaction=False) }}
  {% do persist_docs(card, model) %}
  {{ return({'relations': [card]}) }}
{% endmaterialization %}

{% macro _create_model_statement(name, settings, query) %}
  {%- set caller_name = "sqlml_model " ~ this.identifier -%}
  {%- set parts = ['CREATE OR REPLACE MODEL', name, 'TARGET', adapter.quote(settings['target'])] -%}
  {%- if settings['task'] -%}
    {%- do parts.extend(['TASK', sqlml._identifier(settings['task'], 'task', caller_name)]) -%}
  {%- endif -%}
  {%- if settings['using'] -%}
    {%- do parts.extend(['USING', sqlml._identifier(settings['using'], 'using', caller_name)]) -%}
  {%- endif -%}
  {%- if settings['function'] -%}
    {%- do parts.extend(['FUNCTION', adapter.quote(settings['function'])]) -%}
  {%- endif -%}
  {%- set sources = [] -%}
  {%- for table, as_of in sqlml._feature_tables(settings['features']) -%}
    {%- do sources.append(table ~ (' AS OF ' ~ adapter.quote(as_of) if as_of else '')) -%}
  {%- endfor -%}
  {%- if sources -%}{%- do parts.extend(['FEATURES', sources | join(', ')]) -%}{%- endif -%}
  {%- if settings['options'] -%}
    {%- if settings['options'] is not mapping -%}
      {{ exceptions.raise_compiler_error(caller_name ~ ": options must be a mapping, such as"
          ~ " options={'num_leaves': 31}") }}
    {%- endif -%}
    {%- set options = [] -%}
    {%- for key, value in settings['options'].items() -%}
      {%- do options.append(sqlml._identifier(key, 'an option name', caller_name)
                            ~ ' = ' ~ sqlml._literal(value)) -%}
    {%- endfor -%}
    {%- do parts.append('OPTIONS (' ~ options | join(', ') ~ ')') -%}
  {%- endif -%}
  {%- do parts.extend(['AS', query]) -%}
  {{ return(parts | join(' ')) }}
{% endmacro %}

{#- The feature tables the model reads: each item of `features` names one, by the name of a
    node of this project (which the model must depend on) or of one made outside dbt, with
    an optional AS OF column: 'customer_features' or {'table': 'customer_features',
    'as_of': 'label_time'}. A list of (quoted table name, AS OF column or none). -#}
{% macro _feature_tables(features) %}
  {%- set caller_name = "sqlml_model " ~ this.identifier -%}
  {%- set tables = [] -%}
  {%- for item in ([] if not features else [features] if features is string
                   or features is mapping else features) -%}
    {%- set table = item if item is string else item.get('table') -%}
    {%- set as_of = none if item is string else item.get('as_of') -%}
    {%- for candidate in graph.nodes.values()
          if candidate.resource_type == 'model' and candidate.name == table -%}
      {%- if candidate.unique_id not in model.depends_on.nodes -%}
        {{ exceptions.raise_compiler_error(
            caller_name ~ " reads feature table " ~ table ~ " but dbt does not know it depends"
            ~ " on it: add the line  -- depends_on: {{ ref('" ~ table ~ "') }}  to its SQL") }}
      {%- endif -%}
      {%- do tables.append((adapter.quote(candidate.schema) ~ '.'
                            ~ adapter.quote(candidate.alias or candidate.name), as_of)) -%}
    {%- else -%}
      {%- do tables.append((sqlml._identifier(table, 'a feature table', caller_name), as_of)) -%}
    {%- endfor -%}
  {%- endfor -%}
  {{ return(tables) }}
{% endmacro %}

{#- The training data's fingerprint: for the query's rows and each feature table's, their
    count and an order-free hash of their content. -#}
{% macro _fingerprint(query, feature_tables) %}
  {%- set row_hash = adapter.dispatch('_row_hash', 'sqlml')('_sqlml_rows') -%}
  {%- set queries = [query] -%}
  {%- for table, as_of in feature_tables -%}{%- do queries.append('SELECT * FROM ' ~ table) -%}{%- endfor -%}
  {%- set parts = [] -%}
  {%- for each in queries -%}
    {%- set found = sqlml.statement_rows(
        'SELECT count(*) AS n, coalesce(sum(' ~ row_hash ~ '), 0) AS h FROM (' ~ each
        ~ '\n) AS _sqlml_rows')[0] -%}
    {%- do parts.append(found['n'] ~ ':' ~ found['h']) -%}
  {%- endfor -%}
  {{ return(local_md5(parts | join(' '))) }}
{% endmacro %}
{% macro default___row_hash(alias) %}{{ return('hashtextextended(' ~ alias ~ '::text, 0)') }}{% endmacro %}
{% macro duckdb___row_hash(alias) %}{{ return('hash(' ~ alias ~ ')') }}{% endmacro %}

{% macro _card_row(existing) %}
  {%- if existing is none -%}{{ return(none) }}{%- endif -%}
  {%- set found = run_query('select version, signature, fingerprint from ' ~ existing) -%}
  {%- if found.rows | length != 1 -%}{{ return(none) }}{%- endif -%}
  {{ return({'version': found.rows[0][0], 'signature': found.rows[0][1],
             'fingerprint': found.rows[0][2]}) }}
{% endmacro %}

{#- The version in use of the model of this name, or none when there is no such model (it
    was dropped: the node trains it again). -#}
{% macro _version_in_use(catalog_name) %}
  {%- for row in sqlml.statement_rows('SHOW MODELS') if row['name'] == catalog_name -%}
    {{ return(row['version']) }}
  {%- endfor -%}
  {{ return(none) }}
{% endmacro %}

{#- The card's one row (or none under --empty) as a query of typed literals. -#}
{% macro _card_sql(rows) %}
  {%- set text, integer = dbt.type_string(), dbt.type_int() -%}
  {%- if rows is none or rows | length == 0 -%}
    {%- set trained, fingerprint, signature = {}, none, none -%}
  {%- else -%}
    {%- set trained, fingerprint, signature = rows[0], rows[1], rows[2] -%}
  {%- endif -%}
  {%- set total = none if trained.get('rows_train') is none
                  else trained['rows_train'] + (trained.get('rows_test') or 0) -%}
  select
    cast({{ sqlml._literal(trained.get('model')) }} as {{ text }}) as model,
    cast({{ sqlml._literal(trained.get('version')) }} as {{ integer }}) as version,
    cast({{ sqlml._literal(trained.get('task')) }} as {{ text }}) as task,
    cast({{ sqlml._literal(trained.get('algorithm')) }} as {{ text }}) as algorithm,
    cast({{ sqlml._literal(trained.get('metric')) }} as {{ text }}) as metric,
    cast({{ sqlml._literal(trained.get('metric_value')) }} as double precision) as metric_value,
    cast({{ sqlml._literal(total) }} as {{ dbt.type_bigint() }}) as rows,
    cast({{ 'current_timestamp' if trained else 'NULL' }} as {{ dbt.type_timestamp() }}) as trained_at,
    cast({{ sqlml._literal(fingerprint) }} as {{ text }}) as fingerprint,
    cast({{ sqlml._literal(signature) }} as {{ text }}) as signature
  {%- if not trained %} where 1 = 0{% endif %}
{% endmacro %}
