-- Staging: invoices. `paid_day` is mutable: unknown before the payment.
SELECT
    invoice_id,
    account_id,
    CAST(issued_at AS INT) AS issued_day,
    CAST(due_date AS INT) AS due_day,
    CAST(paid_at AS INT) AS paid_day,
    amount
FROM invoices
