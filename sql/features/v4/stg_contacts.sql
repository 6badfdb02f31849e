-- Staging: contacts. `left_day` is mutable: unknown before the departure.
SELECT
    contact_id,
    account_id,
    coalesce(is_champion, false) AS is_champion,
    coalesce(is_exec_sponsor, false) AS is_exec_sponsor,
    CAST(left_at AS INT) AS left_day
FROM contacts
