-- Staging: account attributes as they changed. A row holds from
-- `valid_day` until the account's next row.
SELECT
    account_id,
    CAST(valid_from AS INT) AS valid_day,
    lower(segment) AS segment,
    lower(industry) AS industry
FROM account_history
