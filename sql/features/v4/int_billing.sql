-- Billing per account and snapshot. An invoice paid on or after `as_of` was
-- unpaid then; it is late when its due day passed unpaid, or it was paid
-- after its due day.
SELECT
    s.account_id,
    s.as_of,
    count(*) FILTER (
        WHERE i.due_day >= s.as_of_day - 180 AND i.due_day < s.as_of_day
          AND (i.paid_day IS NULL OR i.paid_day >= s.as_of_day OR i.paid_day > i.due_day)
    ) AS late_invoices_180d,
    max(CASE WHEN i.due_day < s.as_of_day AND (i.paid_day IS NULL OR i.paid_day >= s.as_of_day)
             THEN s.as_of_day - i.due_day ELSE 0 END) AS days_overdue_max,
    CAST(sum(CASE WHEN i.due_day < s.as_of_day AND (i.paid_day IS NULL OR i.paid_day >= s.as_of_day)
                  THEN i.amount ELSE 0 END) AS DOUBLE)
      / nullif(CAST(sum(CASE WHEN i.issued_day >= s.as_of_day - 365 THEN i.amount ELSE 0 END) AS DOUBLE), 0) AS overdue_amount_share
FROM snapshots s
JOIN stg_invoices i
  ON i.account_id = s.account_id
 AND i.issued_day < s.as_of_day
 AND i.issued_day >= s.as_of_day - 730
GROUP BY s.account_id, s.as_of
