{#- Tests of the sqlml dbt package (dbt hub packages need the network; these ship with it).

    On a sqlml_model node: a hold-out metric of the model in use is at least a value.
      models:
        - name: repeat_buyer
          data_tests:
            - sqlml.sqlml_metric_at_least: {metric: roc_auc, value: 0.7} -#}
{% test sqlml_metric_at_least(model, metric, value) %}
  {%- set name = sqlml.model(model, 'sqlml_metric_at_least') -%}
  {%- set measured = none -%}
  {%- if execute -%}
    {%- set metrics = sqlml.statement_rows('EVALUATE MODEL ' ~ name)[0] -%}
    {%- if metric not in metrics -%}
      {{ exceptions.raise_compiler_error(
          "sqlml_metric_at_least: model " ~ name ~ " has no metric " ~ metric
          ~ "; its metrics are " ~ metrics.keys() | join(', ')) }}
    {%- endif -%}
    {%- set measured = metrics[metric] -%}
  {%- endif -%}
  select
    cast({{ sqlml._literal(metric) }} as {{ dbt.type_string() }}) as metric,
    cast({{ sqlml._literal(measured) }} as double precision) as measured,
    cast({{ sqlml._literal(value) }} as double precision) as at_least
  where not coalesce(cast({{ sqlml._literal(measured) }} as double precision)
                     >= {{ sqlml._literal(value) }}, false)
{% endtest %}

{#- On a column of predictions: every one is within [min_value, max_value], or one of
    values; a NULL prediction fails too.
      columns:
        - name: p_repeat
          data_tests:
            - sqlml.sqlml_predictions_within: {min_value: 0, max_value: 1} -#}
{% test sqlml_predictions_within(model, column_name, min_value=none, max_value=none, values=none) %}
  {%- if min_value is none and max_value is none and values is none -%}
    {{ exceptions.raise_compiler_error(
        "sqlml_predictions_within on " ~ column_name ~ " needs min_value, max_value or values") }}
  {%- endif -%}
  {%- set checks = [column_name ~ ' is not null'] -%}
  {%- if min_value is not none -%}{%- do checks.append(column_name ~ ' >= ' ~ sqlml._literal(min_value)) -%}{%- endif -%}
  {%- if max_value is not none -%}{%- do checks.append(column_name ~ ' <= ' ~ sqlml._literal(max_value)) -%}{%- endif -%}
  {%- if values is not none -%}
    {%- set listed = [] -%}
    {%- for item in values -%}{%- do listed.append(sqlml._literal(item)) -%}{%- endfor -%}
    {%- do checks.append(column_name ~ ' in (' ~ listed | join(', ') ~ ')') -%}
  {%- endif -%}
  select * from {{ model }} where not coalesce({{ checks | join(' and ') }}, false)
{% endtest %}
