-- Staging, cached per usage file: the product areas (the vocabulary's
-- `product` role: not logins, not the API) each account used on each day.
SELECT account_id, day, feature
FROM stg_usage
WHERE role = 'product' AND events > 0
GROUP BY account_id, day, feature
