-- Staging: CSM activities, each kind given its role from the vocabulary
-- (`meeting`, `business_review`; other kinds are plain touches).
SELECT
    a.account_id,
    a.contact_id,
    CAST(CAST(a.occurred_at AS DATE) AS INT) AS occurred_day,
    lower(a.kind) AS kind,
    coalesce(v.role, 'touch') AS role,
    lower(a.direction) AS direction
FROM activities a
LEFT JOIN vocabulary v ON v.relation = 'activity' AND v.term = lower(a.kind)
