{#- Every customer scored as of the data's last week. Incremental: a run scores new
    customers, and every customer again once repeat_buyer has a new version. The model
    reads a feature table, so the query is rewritten as a whole (sqlml.query). -#}
{{ config(materialized='incremental', unique_key='customer_id') }}

{% call sqlml.query() %}
select
    c.customer_id,
    PREDICT({{ sqlml.model(ref('repeat_buyer')) }}, c.*) as will_repeat,
    PREDICT_PROBA({{ sqlml.model(ref('repeat_buyer')) }}, c.*) as p_repeat,
    {{ sqlml.model_version(ref('repeat_buyer')) }} as model_version,
    current_timestamp as scored_at
from (
    select customer_id, cast('2025-12-28' as timestamp) as label_time
    from {{ ref('stg_customers') }}
    {% if is_incremental() %}
    where customer_id not in (
        select customer_id from {{ this }}
        where model_version = {{ sqlml.model_version(ref('repeat_buyer')) }}
    )
    {% endif %}
) as c
{% endcall %}
