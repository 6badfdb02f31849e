-- daily product usage per user and feature
select
    company_id                  as account_id,
    user_ref                    as user_id,
    cast(event_day as date)     as date,
    feature_key                 as feature,
    cast(event_count as double) as events
from {{ ref('raw_product_events') }}
