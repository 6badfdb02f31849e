-- Plan, seats and ARR at each snapshot from the billing history (not today's
-- `accounts` row, which would leak the future), tenure, and days to the next
-- renewal: today's renewal date stepped back in whole years (annual terms).
WITH running AS (
    SELECT
        s.account_id,
        s.as_of,
        sum(b.mrr) * 12 AS arr,
        sum(b.seats) AS seats,
        first_value(b.plan ORDER BY b.start_day DESC, b.subscription_id) AS plan
    FROM snapshots s
    JOIN stg_subscriptions b
      ON b.account_id = s.account_id
     AND b.start_day < s.as_of_day
     AND (b.end_day IS NULL OR b.end_day >= s.as_of_day)
    GROUP BY s.account_id, s.as_of
),
history AS (
    SELECT
        s.account_id,
        s.as_of,
        min(b.start_day) AS first_day,
        sum(CASE WHEN b.start_day < s.as_of_day - 180 AND (b.end_day IS NULL OR b.end_day >= s.as_of_day - 180)
                 THEN b.mrr ELSE 0 END) * 12 AS arr_180d_ago
    FROM snapshots s
    JOIN stg_subscriptions b ON b.account_id = s.account_id AND b.start_day < s.as_of_day
    GROUP BY s.account_id, s.as_of
)
SELECT
    s.account_id,
    s.as_of,
    a.segment,
    coalesce(r.plan, a.plan) AS plan,
    coalesce(r.seats, a.seats_licensed) AS seats,
    coalesce(r.arr, a.arr) AS arr,
    s.as_of_day - coalesce(h.first_day, a.contract_start_day) AS tenure_days,
    ((a.renewal_day - s.as_of_day) % 365 + 365) % 365 AS days_to_renewal,
    CASE WHEN h.arr_180d_ago > 0 THEN coalesce(r.arr, 0) / h.arr_180d_ago - 1 END AS arr_change_180d
FROM snapshots s
JOIN stg_accounts a ON a.account_id = s.account_id
LEFT JOIN running r ON r.account_id = s.account_id AND r.as_of = s.as_of
LEFT JOIN history h ON h.account_id = s.account_id AND h.as_of = s.as_of
