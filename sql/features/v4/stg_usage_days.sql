-- Staging, cached per usage file: usage per account, user and day, with the
-- events of the vocabulary's `login` and `api` roles apart. One row stands
-- for all of a user's feature rows that day, so the per-snapshot windows
-- join a fraction of the raw rows. A day split across two files gives two
-- rows; what reads this sums them.
SELECT
    account_id,
    user_id,
    day,
    sum(events) AS events,
    sum(CASE WHEN role = 'login' THEN events ELSE 0 END) AS login_events,
    sum(CASE WHEN role = 'api' THEN events ELSE 0 END) AS api_events
FROM stg_usage
GROUP BY account_id, user_id, day
