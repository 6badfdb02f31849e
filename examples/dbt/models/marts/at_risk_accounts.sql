-- healthscore's results back in the warehouse: red accounts of the newest
-- scoring with their reasons, for the CS team's dashboard. Needs the
-- `healthscore` source (`healthscore dbt-sources --out models/sources/healthscore.yml`),
-- so it is off until `--vars '{healthscore_scored: true}'`.
{{ config(enabled=var('healthscore_scored', false)) }}
with scores as (
    select * from {{ source('healthscore', 'account_scores') }}
),
newest as (
    select max(as_of) as as_of from scores
)
select s.account_id, s.name, s.segment, s.arr, s.health_score, s.tier, s.p_churn_90d,
       s.top_risk_reasons, s.recommended_action, s.as_of
from scores s join newest n on s.as_of = n.as_of
where s.tier = 'red'
