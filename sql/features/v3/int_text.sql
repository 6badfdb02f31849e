-- What customers wrote in the 90 days before `as_of`, per account and
-- snapshot: mean sentiment over 30 and 90 days and its trend (the last 30
-- days against the 60 before), the share of negative messages (compound at
-- or below -0.05, VADER's line), how long ago the most negative one was, and
-- each intent's summed weight with its latest message (`said`: day and kind).
SELECT
    s.account_id,
    s.as_of,
    count(*) AS messages_90d,
    sum(m.sentiment_e4) FILTER (WHERE m.day >= s.as_of_day - 30) / 10000.0 / count(*) FILTER (WHERE m.day >= s.as_of_day - 30) AS sentiment_30d,
    sum(m.sentiment_e4) / 10000.0 / count(*) AS sentiment_90d,
    sum(m.sentiment_e4) FILTER (WHERE m.day < s.as_of_day - 30) / 10000.0 / count(*) FILTER (WHERE m.day < s.as_of_day - 30) AS sentiment_prior_60d,
    count(*) FILTER (WHERE m.sentiment_e4 <= -500) / CAST(count(*) AS DOUBLE) AS negative_share_90d,
    s.as_of_day - max(m.day) FILTER (WHERE m.sentiment_e4 <= -5000) AS days_since_very_negative,
    sum(m.intent_cancel) / 100.0 AS intent_cancel_90d,
    sum(m.intent_competitor) / 100.0 AS intent_competitor_90d,
    sum(m.intent_downgrade) / 100.0 AS intent_downgrade_90d,
    sum(m.intent_budget_cut) / 100.0 AS intent_budget_cut_90d,
    sum(m.intent_price) / 100.0 AS intent_price_90d,
    sum(m.intent_champion_leaving) / 100.0 AS intent_champion_leaving_90d,
    max(m.said) FILTER (WHERE m.intent_cancel > 0) AS intent_cancel_said,
    max(m.said) FILTER (WHERE m.intent_competitor > 0) AS intent_competitor_said,
    max(m.said) FILTER (WHERE m.intent_downgrade > 0) AS intent_downgrade_said,
    max(m.said) FILTER (WHERE m.intent_budget_cut > 0) AS intent_budget_cut_said,
    max(m.said) FILTER (WHERE m.intent_price > 0) AS intent_price_said,
    max(m.said) FILTER (WHERE m.intent_champion_leaving > 0) AS intent_champion_leaving_said
FROM snapshots s
JOIN stg_messages m
  ON m.account_id = s.account_id
 AND m.day < s.as_of_day
 AND m.day >= s.as_of_day - 90
GROUP BY s.account_id, s.as_of, s.as_of_day
