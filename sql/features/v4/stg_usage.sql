-- Staging: product usage per user, day and feature (day as a day number),
-- each feature given its role from the vocabulary (`login`, `api`; anything
-- the vocabulary does not name is a `product` area).
SELECT
    u.account_id,
    coalesce(u.user_id, '') AS user_id,
    CAST(u.date AS INT) AS day,
    lower(u.feature) AS feature,
    coalesce(v.role, 'product') AS role,
    u.events
FROM usage u
LEFT JOIN vocabulary v ON v.relation = 'usage' AND v.term = lower(u.feature)
