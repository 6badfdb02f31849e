select
    sub_id                          as subscription_id,
    company_id                      as account_id,
    plan_name                       as plan,
    cast(starts_on as date)         as start_date,
    cast(ends_on as date)           as end_date,
    cast(monthly_amount as double)  as mrr,
    cast(seats as double)           as seats
from {{ ref('raw_billing_subscriptions') }}
