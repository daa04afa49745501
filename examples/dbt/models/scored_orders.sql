{#- Each order with the amount order_amount expects, by the sqlml.predict macro: its
    second argument names the rows whose columns are the model's features. -#}
{{ config(materialized='table') }}

with orders as (
    select * from {{ ref('stg_orders') }}
),

customers as (
    select * from {{ ref('stg_customers') }}
),

baskets as (
    select o.order_id, o.amount, o.items, c.channel, c.region, c.age
    from orders as o
    join customers as c using (customer_id)
)

select
    b.order_id,
    b.amount,
    {{ sqlml.predict(ref('order_amount'), 'b') }} as expected_amount,
    {{ sqlml.model_version(ref('order_amount')) }} as model_version
from baskets as b
