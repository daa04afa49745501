{#- The sqlml name of a relation dbt builds: "schema"."identifier" (each target's schema
    has its own models and feature tables), and the same unquoted as sqlml's catalog
    lists it. -#}
{% macro _quoted_name(relation) %}
  {{ return(adapter.quote(relation.schema) ~ '.' ~ adapter.quote(relation.identifier)) }}
{% endmacro %}

{% macro _catalog_name(relation) %}
  {{ return(relation.schema ~ '.' ~ relation.identifier) }}
{% endmacro %}

{#- The model node of this project behind a relation, or none. -#}
{% macro _node_of(relation) %}
  {%- for node in graph.nodes.values() if node.resource_type == 'model' -%}
    {%- if node.schema | lower == relation.schema | lower
          and (node.alias or node.name) | lower == relation.identifier | lower -%}
      {{ return(node) }}
    {%- endif -%}
  {%- endfor -%}
  {{ return(none) }}
{% endmacro %}

{#- A model to score with: ref() of a sqlml_model node, or the name of a model trained
    outside dbt. Its name as sqlml's SQL. -#}
{% macro model(trained, caller_name='sqlml.model') %}
  {%- if trained is string -%}{{ return(trained) }}{%- endif -%}
  {%- if execute -%}
    {%- set node = sqlml._node_of(trained) -%}
    {%- if node is none or node.config.materialized != 'sqlml_model' -%}
      {{ exceptions.raise_compiler_error(
          caller_name ~ ": " ~ trained ~ " is not a sqlml_model node (materialized='"
          ~ (node.config.materialized if node is not none else 'not a model of this project')
          ~ "'): give ref() of a model whose config has materialized='sqlml_model', or the"
          ~ " name of a model trained outside dbt as a string") }}
    {%- endif -%}
  {%- endif -%}
  {{ return(sqlml._quoted_name(trained)) }}
{% endmacro %}

{#- A plain SQL identifier (a table alias), or an error that names the macro. -#}
{% macro _identifier(word, what, caller_name) %}
  {%- if not (word is string and modules.re.fullmatch('[A-Za-z_][A-Za-z0-9_$]*', word)) -%}
    {{ exceptions.raise_compiler_error(
        caller_name ~ ": " ~ what ~ " must be a plain SQL name, not " ~ (word | string)) }}
  {%- endif -%}
  {{ return(word) }}
{% endmacro %}
