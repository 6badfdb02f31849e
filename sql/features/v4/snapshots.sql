-- The population at each snapshot date, from history alone — never a join
-- with today's `accounts`, so accounts deleted after churning stay in the
-- snapshots they belonged to, and a zeroed ARR today says nothing of last year.
-- With `subscriptions`: every account with a subscription running on `as_of`
-- (started before it, not ended before it). Without: accounts whose usage
-- began before `as_of` and that had not churned before it (`outcomes`).
-- `start_day` is when the account became a customer, as far as history shows.
WITH subs AS (
    SELECT d.as_of, s.account_id, min(s.start_day) AS start_day
    FROM snapshot_dates d
    JOIN stg_subscriptions s
      ON s.start_day < CAST(d.as_of AS INT)
     AND (s.end_day IS NULL OR s.end_day >= CAST(d.as_of AS INT))
    GROUP BY d.as_of, s.account_id
),
first_use AS (
    SELECT account_id, min(day) AS start_day
    FROM stg_usage_days
    WHERE (SELECT count(*) FROM stg_subscriptions) = 0
    GROUP BY account_id
),
first_churn AS (
    SELECT account_id, min(event_day) AS churn_day
    FROM stg_outcomes
    WHERE kind = 'churned'
    GROUP BY account_id
)
SELECT account_id, as_of, CAST(as_of AS INT) AS as_of_day, start_day
FROM subs
UNION ALL
SELECT f.account_id, d.as_of, CAST(d.as_of AS INT) AS as_of_day, f.start_day
FROM snapshot_dates d
JOIN first_use f ON f.start_day < CAST(d.as_of AS INT)
LEFT JOIN first_churn c ON c.account_id = f.account_id
WHERE c.churn_day IS NULL OR c.churn_day >= CAST(d.as_of AS INT)
