-- Staging: the billing history. A subscription runs from `start_day` until
-- `end_day` (null while active).
SELECT
    subscription_id,
    account_id,
    lower(plan) AS plan,
    CAST(start_date AS INT) AS start_day,
    CAST(end_date AS INT) AS end_day,
    mrr,
    seats
FROM subscriptions
