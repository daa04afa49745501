{#- A node's sqlml settings: its config (config(target='churned', ...)) over the
    meta.sqlml mapping (config(meta={'sqlml': {...}}) or a properties file), checked. -#}
{% macro _settings(known, required) %}
  {%- set meta = (config.get('meta') or {}).get('sqlml') or {} -%}
  {%- if meta is not mapping -%}
    {{ exceptions.raise_compiler_error("meta.sqlml must be a mapping of " ~ known | join(', ')) }}
  {%- endif -%}
  {%- for key in meta if key not in known -%}
    {{ exceptions.raise_compiler_error(
        "meta.sqlml has no setting " ~ key ~ " for materialized='" ~ config.get('materialized')
        ~ "': the settings are " ~ known | join(', ')) }}
  {%- endfor -%}
  {%- set settings = {} -%}
  {%- for key in known -%}
    {%- set value = config.get(key) -%}
    {%- do settings.update({key: value if value is not none else meta.get(key)}) -%}
  {%- endfor -%}
  {%- for key in required if settings[key] is none or settings[key] == '' -%}
    {{ exceptions.raise_compiler_error(
        "materialized='" ~ config.get('materialized') ~ "' needs " ~ key ~ ": add "
        ~ key ~ "='...' to the node's config() (or to meta.sqlml)") }}
  {%- endfor -%}
  {{ return(settings) }}
{% endmacro %}

{#- An option's value as sqlml's SQL: a number, TRUE / FALSE, a quoted string, NULL, or a
    list of those ([15, 31, 63]). -#}
{% macro _literal(value) %}
  {%- if value is none -%}{{ return('NULL') }}
  {%- elif value is sameas true -%}{{ return('TRUE') }}
  {%- elif value is sameas false -%}{{ return('FALSE') }}
  {%- elif value is number -%}{{ return(value | string) }}
  {%- elif value is string -%}{{ return("'" ~ value | replace("'", "''") ~ "'") }}
  {%- elif value is iterable and value is not mapping -%}
    {%- set items = [] -%}
    {%- for item in value -%}{%- do items.append(sqlml._literal(item)) -%}{%- endfor -%}
    {{ return('[' ~ items | join(', ') ~ ']') }}
  {%- else -%}
    {{ exceptions.raise_compiler_error("sqlml cannot write the option value " ~ value ~ " as SQL") }}
  {%- endif -%}
{% endmacro %}
