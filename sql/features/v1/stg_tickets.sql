-- Staging: support tickets. `resolved_day` and `csat` are mutable: the feature
-- views treat them as unknown at any snapshot on or before the resolution.
SELECT
    ticket_id,
    account_id,
    CAST(CAST(created_at AS DATE) AS INT) AS created_day,
    CAST(CAST(resolved_at AS DATE) AS INT) AS resolved_day,
    (date_part('epoch', resolved_at) - date_part('epoch', created_at)) / 3600.0 AS resolution_hours,
    lower(priority) AS priority,
    csat,
    lower(concat_ws(' ', subject, body)) AS text
FROM tickets
