-- Relationships per account and snapshot. A contact who left on or after
-- `as_of` was still there then.
SELECT
    s.account_id,
    s.as_of,
    max(CASE WHEN c.is_champion AND c.left_day < s.as_of_day AND c.left_day >= s.as_of_day - 90 THEN 1 ELSE 0 END) AS champion_left_90d,
    max(CASE WHEN c.is_champion AND (c.left_day IS NULL OR c.left_day >= s.as_of_day) THEN 1 ELSE 0 END) AS has_active_champion
FROM snapshots s
JOIN stg_contacts c ON c.account_id = s.account_id
GROUP BY s.account_id, s.as_of
