-- Staging: the billing history. A subscription runs from `start_day` until
-- `end_day` (null while active) and renews every `term_days` from its start
-- (`term_months` when the export gives it, else 12 months).
SELECT
    subscription_id,
    account_id,
    lower(plan) AS plan,
    CAST(start_date AS INT) AS start_day,
    CAST(end_date AS INT) AS end_day,
    -- exact decimal, so sums do not depend on row order
    CAST(mrr AS DECIMAL(38, 6)) AS mrr,
    seats,
    CAST(round(coalesce(CAST(term_months AS DOUBLE), 12.0) * 365.0 / 12.0) AS INT) AS term_days
FROM subscriptions
