{#- A node that is a sqlml feature table. Its SQL is the feature query:

      {{ config(materialized='sqlml_feature_table', key='customer_id',
                timestamp='feature_time', ttl='90 days') }}

    The first run (and --full-refresh) creates it with CREATE OR REPLACE FEATURE TABLE; later
    runs REFRESH it: its query runs again and new rows are merged on (key, time), as an
    incremental model's do (a changed query takes --full-refresh, as for those). --empty
    makes an empty plain table when there is nothing of the name, and leaves what is there
    alone. -#}

{% materialization sqlml_feature_table, default %}
  {%- set settings = sqlml._settings(['key', 'timestamp', 'ttl'], ['key', 'timestamp']) -%}
  {%- set table = this.incorporate(type='table') -%}
  {%- set existing = load_cached_relation(this) -%}
  {%- set name = sqlml._quoted_name(this) -%}
  {%- set known = sqlml._catalog_name(this) in sqlml._feature_table_names() -%}

  {{ run_hooks(pre_hooks, inside_transaction=False) }}
  {{ run_hooks(pre_hooks, inside_transaction=True) }}

  {%- if flags.EMPTY -%}
    {#- Not a feature table: one would keep the empty query for its REFRESH. The next run
        puts the feature table in its place. -#}
    {%- if existing is none -%}
      {% call statement('main') -%} {{ get_create_table_as_sql(False, table, sql) }} {%- endcall %}
    {%- else -%}
      {% call statement('main') -%} select 1 as sqlml_unchanged {%- endcall %}
    {%- endif -%}
  {%- else -%}
    {%- if existing is not none and known and not should_full_refresh() -%}
      {%- set sqlml_statement = 'REFRESH FEATURE TABLE ' ~ name -%}
    {%- else -%}
      {%- if existing is not none and not known -%}
        {#- A table or view of the name that is no feature table: the feature table takes
            its place, as a table model's run replaces a view. -#}
        {%- do sqlml.statement_rows('DROP ' ~ existing.type | upper ~ ' ' ~ existing) -%}
      {%- endif -%}
      {%- set sqlml_statement = sqlml._create_feature_table_statement(name, settings, sql) -%}
    {%- endif -%}
    {%- set summary = sqlml.statement_rows(sqlml_statement)[0] -%}
    {{ log("sqlml: feature table " ~ name ~ ": " ~ summary['rows'] ~ " rows, "
           ~ summary['added'] ~ " added", info=True) }}
    {% call statement('main') -%} select count(*) as feature_rows from {{ table }} {%- endcall %}
  {%- endif -%}

  {{ run_hooks(post_hooks, inside_transaction=True) }}
  {{ adapter.commit() }}
  {{ run_hooks(post_hooks, inside_transaction=False) }}
  {% do persist_docs(table, model) %}
  {{ return({'relations': [table]}) }}
{% endmaterialization %}

{% macro _create_feature_table_statement(name, settings, query) %}
  {%- set keys = [settings['key']] if settings['key'] is string else settings['key'] -%}
  {%- set quoted = [] -%}
  {%- for key in keys -%}{%- do quoted.append(adapter.quote(key)) -%}{%- endfor -%}
  {%- set parts = ['CREATE OR REPLACE FEATURE TABLE', name, 'KEY', quoted | join(', '),
                   'TIMESTAMP', adapter.quote(settings['timestamp'])] -%}
  {%- if settings['ttl'] -%}
    {%- do parts.extend(['TTL INTERVAL', sqlml._literal(settings['ttl'])]) -%}
  {%- endif -%}
  {%- do parts.extend(['AS', query]) -%}
  {{ return(parts | join(' ')) }}
{% endmacro %}

{% macro _feature_table_names() %}
  {%- set names = [] -%}
  {%- for row in sqlml.statement_rows('SHOW FEATURE TABLES') -%}
    {%- do names.append(row['name']) -%}
  {%- endfor -%}
  {{ return(names) }}
{% endmacro %}
