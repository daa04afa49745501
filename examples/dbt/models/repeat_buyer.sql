{#- The model: will a customer order again within 60 days? Each label row is joined to the
    customer's features as of its label_time (point in time, never later). -#}
{{ config(materialized='sqlml_model', target='repeat_purchase', using='lightgbm',
          options={'num_leaves': 15, 'learning_rate': 0.05, 'n_estimators': 200},
          features=[{'table': 'customer_features', 'as_of': 'label_time'}]) }}
-- depends_on: {{ ref('customer_features') }}

select customer_id, label_time, repeat_purchase
from {{ ref('purchase_labels') }}
