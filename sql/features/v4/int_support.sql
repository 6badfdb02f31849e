-- Support per account and snapshot, from tickets created in the year before
-- `as_of`. A ticket resolved on or after `as_of` was still open then, and its
-- resolution time and CSAT were not known yet. Which priorities are high and
-- which phrases show cancellation intent or negative wording come from the
-- vocabulary (`stg_tickets`), not from any one company's words.
SELECT
    s.account_id,
    s.as_of,
    count(*) FILTER (WHERE t.created_day >= s.as_of_day - 90) AS tickets_90d,
    count(*) FILTER (WHERE t.created_day >= s.as_of_day - 30) AS tickets_30d,
    count(*) FILTER (WHERE t.created_day >= s.as_of_day - 90 AND t.created_day < s.as_of_day - 30) AS tickets_prior_60d,
    count(*) FILTER (WHERE t.created_day >= s.as_of_day - 90 AND t.high_priority) AS high_priority_90d,
    count(*) FILTER (WHERE t.resolved_day IS NULL OR t.resolved_day >= s.as_of_day) AS open_tickets,
    avg(t.resolution_seconds) FILTER (WHERE t.created_day >= s.as_of_day - 90 AND t.resolved_day < s.as_of_day) / 3600.0 AS resolution_hours_90d,
    avg(t.csat) FILTER (WHERE t.created_day >= s.as_of_day - 90 AND t.resolved_day < s.as_of_day) AS csat_avg_90d,
    count(*) FILTER (
        WHERE t.created_day >= s.as_of_day - 90
          AND t.cancel_intent
    ) AS cancel_intent_90d,
    count(*) FILTER (
        WHERE t.created_day >= s.as_of_day - 90
          AND t.negative_wording
    ) AS negative_wording_90d
FROM snapshots s
JOIN stg_tickets t
  ON t.account_id = s.account_id
 AND t.created_day < s.as_of_day
 AND t.created_day >= s.as_of_day - 365
GROUP BY s.account_id, s.as_of
