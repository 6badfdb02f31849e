-- Staging: CSM activities (emails, calls, meetings, QBRs).
SELECT
    account_id,
    contact_id,
    CAST(CAST(occurred_at AS DATE) AS INT) AS occurred_day,
    lower(kind) AS kind,
    lower(direction) AS direction
FROM activities
