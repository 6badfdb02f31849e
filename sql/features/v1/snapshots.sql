-- The population at each snapshot date: every account with a subscription
-- running on `as_of` (started before it, not ended before it). Without
-- `subscriptions`, accounts that started before `as_of` and pay today (the
-- snapshot-only fallback `validate` warns about).
SELECT DISTINCT s.account_id, d.as_of, CAST(d.as_of AS INT) AS as_of_day
FROM snapshot_dates d
JOIN stg_subscriptions s
  ON s.start_day < CAST(d.as_of AS INT)
 AND (s.end_day IS NULL OR s.end_day >= CAST(d.as_of AS INT))
JOIN stg_accounts a ON a.account_id = s.account_id
UNION ALL
SELECT a.account_id, d.as_of, CAST(d.as_of AS INT) AS as_of_day
FROM snapshot_dates d
JOIN stg_accounts a ON a.contract_start_day < CAST(d.as_of AS INT)
WHERE a.arr > 0
  AND (SELECT count(*) FROM stg_subscriptions) = 0
