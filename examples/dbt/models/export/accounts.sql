-- today's row of every customer account (healthscore's `accounts`)
{{ config(location='export/accounts.parquet') }}
select
    company_id                  as account_id,
    company_name                as name,
    size_band                   as segment,
    vertical                    as industry,
    plan_name                   as plan,
    cast(seats as double)       as seats_licensed,
    cast(annual_value as double) as arr,
    cast(customer_since as date) as contract_start,
    cast(next_renewal as date)  as renewal_date,
    csm_email                   as owner_email,
    cast(hubspot_id as varchar) as crm_id
from {{ ref('raw_crm_companies') }}
