-- Usage per account and snapshot: active users, logins and events in the 30
-- days before `as_of` and the 30 before those, and days since the last
-- activity (within 60 days). Users are counted per (account, as_of, user)
-- first, so no DISTINCT is needed over the large join; the join reads the
-- daily rollup `stg_usage_days`, not the raw rows.
WITH per_user AS (
    SELECT
        u.account_id,
        c.as_of,
        u.user_id,
        min(c.days_before) AS last_active_days_before,
        sum(CASE WHEN c.days_before <= 30 THEN u.events ELSE 0 END) AS events_30d,
        sum(CASE WHEN c.days_before > 30 THEN u.events ELSE 0 END) AS events_prev30,
        sum(CASE WHEN c.days_before <= 30 THEN u.login_events ELSE 0 END) AS logins_30d,
        sum(CASE WHEN c.days_before > 30 THEN u.login_events ELSE 0 END) AS logins_prev30,
        sum(CASE WHEN c.days_before <= 30 THEN u.api_events ELSE 0 END) AS api_30d,
        sum(CASE WHEN c.days_before > 30 THEN u.api_events ELSE 0 END) AS api_prev30
    FROM stg_usage_days u
    JOIN int_calendar c ON u.day = c.day
    GROUP BY u.account_id, c.as_of, u.user_id
)
SELECT
    p.account_id,
    p.as_of,
    sum(CASE WHEN p.events_30d - p.api_30d > 0 THEN 1 ELSE 0 END) AS active_users_30d,
    sum(CASE WHEN p.events_prev30 - p.api_prev30 > 0 THEN 1 ELSE 0 END) AS active_users_prev30,
    sum(p.logins_30d) AS logins_30d,
    sum(p.logins_prev30) AS logins_prev30,
    sum(p.events_30d - p.logins_30d - p.api_30d) AS product_events_30d,
    sum(p.events_prev30 - p.logins_prev30 - p.api_prev30) AS product_events_prev30,
    sum(p.api_30d) AS api_events_30d,
    sum(p.api_prev30) AS api_events_prev30,
    sum(p.events_30d) AS events_30d,
    min(p.last_active_days_before) AS days_since_last_activity
FROM per_user p
JOIN snapshots s ON s.account_id = p.account_id AND s.as_of = p.as_of
GROUP BY p.account_id, p.as_of
