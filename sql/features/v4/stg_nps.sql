-- Staging: NPS responses.
SELECT
    account_id,
    contact_id,
    CAST(responded_at AS INT) AS responded_day,
    score
FROM nps
