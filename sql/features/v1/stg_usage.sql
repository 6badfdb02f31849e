-- Staging: product usage per user, day and feature (day as a day number).
SELECT
    account_id,
    coalesce(user_id, '') AS user_id,
    CAST(date AS INT) AS day,
    lower(feature) AS feature,
    events
FROM usage
