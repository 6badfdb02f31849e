-- Staging: support tickets. `resolved_day` and `csat` are mutable: the feature
-- views treat them as unknown at any snapshot on or before the resolution.
-- A ticket's priority is high when the vocabulary gives it the `high` role;
-- its text (subject and body, lowercased) shows cancellation intent or
-- negative wording when it contains one of the vocabulary's phrases.
WITH text_hits AS (
    SELECT
        t.ticket_id,
        max(CASE WHEN v.role = 'cancel_intent' THEN 1 ELSE 0 END) AS cancel_intent,
        max(CASE WHEN v.role = 'negative' THEN 1 ELSE 0 END) AS negative_wording
    FROM tickets t
    JOIN vocabulary v
      ON v.relation = 'ticket_text'
     AND strpos(lower(concat_ws(' ', t.subject, t.body)), v.term) > 0
    GROUP BY t.ticket_id
)
SELECT
    t.ticket_id,
    t.account_id,
    CAST(CAST(t.created_at AS DATE) AS INT) AS created_day,
    CAST(CAST(t.resolved_at AS DATE) AS INT) AS resolved_day,
    -- whole seconds: their sums are exact, so averages do not depend on row order
    CAST(date_part('epoch', t.resolved_at) - date_part('epoch', t.created_at) AS BIGINT) AS resolution_seconds,
    lower(t.priority) AS priority,
    coalesce(p.role = 'high', false) AS high_priority,
    t.csat,
    coalesce(h.cancel_intent = 1, false) AS cancel_intent,
    coalesce(h.negative_wording = 1, false) AS negative_wording
FROM tickets t
LEFT JOIN vocabulary p ON p.relation = 'ticket_priority' AND p.term = lower(t.priority)
LEFT JOIN text_hits h ON h.ticket_id = t.ticket_id
