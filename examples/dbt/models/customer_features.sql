{#- What is known about each customer at the end of every week: a sqlml feature table, so
    training reads each label's features as of its own time and scoring the newest. -#}
{{ config(materialized='sqlml_feature_table', key='customer_id', timestamp='feature_time',
          ttl='120 days') }}

with customers as (
    select * from {{ ref('stg_customers') }}
),

orders as (
    select * from {{ ref('stg_orders') }}
),

weeks as (
    select cast(week as timestamp) as feature_time
    from generate_series(cast('2025-01-05' as timestamp), cast('2025-12-28' as timestamp),
                         interval '7 days') as s(week)
)

select
    c.customer_id,
    w.feature_time,
    c.channel,
    c.age,
    count(o.order_id) as orders_total,
    count(case when o.ordered_at > w.feature_time - interval '90 days' then 1 end) as orders_90d,
    coalesce(sum(case when o.ordered_at > w.feature_time - interval '90 days'
                      then o.amount end), 0) as spend_90d,
    {{ dbt.datediff('max(o.ordered_at)', 'w.feature_time', 'day') }} as days_since_order
from customers as c
join weeks as w on cast(c.signup_date as timestamp) <= w.feature_time
left join orders as o on o.customer_id = c.customer_id and o.ordered_at <= w.feature_time
group by c.customer_id, w.feature_time, c.channel, c.age
