-- Staging: today's account snapshot, renamed and cast (dates as day numbers).
SELECT
    account_id,
    name,
    lower(segment) AS segment,
    lower(industry) AS industry,
    lower(plan) AS plan,
    seats_licensed,
    arr,
    CAST(contract_start AS INT) AS contract_start_day,
    CAST(renewal_date AS INT) AS renewal_day,
    crm_id
FROM accounts
