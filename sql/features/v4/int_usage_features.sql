-- Feature breadth per account and snapshot: how many product features
-- (the vocabulary's `product` role: not logins, not the API) were used in the 30 days before `as_of` and in
-- the 30 days before those; and the product areas that stopped: used in the
-- 30 days before those, not in the last 30 (their names, as the export
-- writes them, for the alert messages).
WITH per_feature AS (
    SELECT
        u.account_id,
        c.as_of,
        u.feature,
        max(CASE WHEN c.days_before <= 30 THEN 1 ELSE 0 END) AS used_30d,
        max(CASE WHEN c.days_before > 30 THEN 1 ELSE 0 END) AS used_prev30
    FROM stg_usage_feature_days u
    JOIN int_calendar c ON u.day = c.day
    GROUP BY u.account_id, c.as_of, u.feature
)
SELECT
    f.account_id,
    f.as_of,
    sum(f.used_30d) AS feature_breadth_30d,
    sum(f.used_prev30) AS feature_breadth_prev30,
    sum(CASE WHEN f.used_prev30 = 1 AND f.used_30d = 0 THEN 1 ELSE 0 END) AS areas_stopped_30d,
    string_agg(CASE WHEN f.used_prev30 = 1 AND f.used_30d = 0 THEN f.feature END, ', ' ORDER BY f.feature) AS areas_stopped
FROM per_feature f
JOIN snapshots s ON s.account_id = f.account_id AND s.as_of = f.as_of
GROUP BY f.account_id, f.as_of
