select customer_id, signup_date, region, channel, age
from {{ ref('customers') }}
