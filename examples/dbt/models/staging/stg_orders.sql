select order_id, customer_id, ordered_at, amount, items
from {{ ref('orders') }}
