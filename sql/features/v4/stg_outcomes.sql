-- Staging: commercial outcomes as booked (renewed, churned, expanded,
-- contracted), day as a day number.
SELECT
    account_id,
    CAST(event_date AS INT) AS event_day,
    lower(kind) AS kind
FROM outcomes
