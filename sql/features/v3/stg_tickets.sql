-- Staging: support tickets. `resolved_day` and `csat` are mutable: the feature
-- views treat them as unknown at any snapshot on or before the resolution.
-- A ticket's priority is high when the vocabulary gives it the `high` role.
-- What its text says is read with every other message's (`stg_messages`).
SELECT
    t.ticket_id,
    t.account_id,
    CAST(CAST(t.created_at AS DATE) AS INT) AS created_day,
    CAST(CAST(t.resolved_at AS DATE) AS INT) AS resolved_day,
    -- whole seconds: their sums are exact, so averages do not depend on row order
    CAST(date_part('epoch', t.resolved_at) - date_part('epoch', t.created_at) AS BIGINT) AS resolution_seconds,
    lower(t.priority) AS priority,
    coalesce(p.role = 'high', false) AS high_priority,
    t.csat
FROM tickets t
LEFT JOIN vocabulary p ON p.relation = 'ticket_priority' AND p.term = lower(t.priority)
