{#- A second model, on plain columns: an order's amount from its basket and its customer.
    Its sqlml settings are in models/schema.yml (config: meta: sqlml:). -#}
with orders as (
    select * from {{ ref('stg_orders') }}
),

customers as (
    select * from {{ ref('stg_customers') }}
)

select o.amount, o.items, c.channel, c.region, c.age
from orders as o
join customers as c using (customer_id)
