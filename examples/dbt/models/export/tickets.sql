select
    ticket_ref                      as ticket_id,
    company_id                      as account_id,
    cast(opened_at as timestamp)    as created_at,
    cast(closed_at as timestamp)    as resolved_at,
    priority_label                  as priority,
    state                           as status,
    cast(satisfaction as double)    as csat,
    subject
from {{ ref('raw_helpdesk_tickets') }}
