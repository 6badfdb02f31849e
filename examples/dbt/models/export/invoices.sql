select
    invoice_no                  as invoice_id,
    company_id                  as account_id,
    cast(issued_on as date)     as issued_at,
    cast(due_on as date)        as due_date,
    cast(paid_on as date)       as paid_at,
    cast(amount_usd as double)  as amount
from {{ ref('raw_billing_invoices') }}
