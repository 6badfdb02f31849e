select
    company_id                  as account_id,
    respondent                  as contact_id,
    cast(answered_on as date)   as responded_at,
    cast(nps_score as double)   as score
from {{ ref('raw_survey_nps') }}
