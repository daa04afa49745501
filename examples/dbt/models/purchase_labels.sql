{#- Did the customer order again within 60 days of the label date? Three label dates. -#}
{{ config(materialized='table') }}

with customers as (
    select * from {{ ref('stg_customers') }}
),

orders as (
    select * from {{ ref('stg_orders') }}
),

label_dates as (
    select cast(d as timestamp) as label_time
    from generate_series(cast('2025-08-01' as timestamp), cast('2025-10-01' as timestamp),
                         interval '1 month') as s(d)
)

select
    c.customer_id,
    l.label_time,
    exists (
        select 1 from orders as o
        where o.customer_id = c.customer_id
          and o.ordered_at > l.label_time
          and o.ordered_at <= l.label_time + interval '60 days'
    ) as repeat_purchase
from customers as c
join label_dates as l on cast(c.signup_date as timestamp) < l.label_time
