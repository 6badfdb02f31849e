-- Staging: invoices. `paid_day` is mutable: unknown before the payment.
SELECT
    invoice_id,
    account_id,
    CAST(issued_at AS INT) AS issued_day,
    CAST(due_date AS INT) AS due_day,
    CAST(paid_at AS INT) AS paid_day,
    -- exact decimal: float sums depend on the order rows arrive in, and that
    -- order varies between runs (features must be the same bytes every run)
    CAST(amount AS DECIMAL(38, 6)) AS amount
FROM invoices
