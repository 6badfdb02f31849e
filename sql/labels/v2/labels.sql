-- Labels per snapshot: days from `as_of` to the first churn on or after it,
-- whether the account expanded within the expansion horizon, and how many
-- days after `as_of` the outcome source proves. A horizon longer than
-- `observed_days` is censored (the label is unknown, never "stayed"); the
-- trainer applies that rule per horizon.
--
-- Observed up to the newest day the data covers, not a date in the config:
-- with `outcomes`, the day after its newest booked event (outcomes booked
-- weeks late must not turn recent churners into accounts that stayed);
-- churn derived from `subscriptions` is only confirmed `churn_grace_days`
-- after the last subscription ends, so the last grace days before the
-- export are not observed yet.
WITH coverage AS (
    SELECT CASE
        WHEN (SELECT count(*) FROM outcomes) > 0
            THEN least(CAST(p.export_date AS INT), (SELECT max(CAST(event_date AS INT)) FROM outcomes) + 1)
        ELSE CAST(p.export_date AS INT) - p.churn_grace_days
    END AS covered_until
    FROM run_params p
)
SELECT
    s.account_id,
    s.as_of,
    min(CASE WHEN e.kind = 'churned' AND e.event_day >= s.as_of_day THEN e.event_day - s.as_of_day END) AS days_to_churn,
    max(CASE WHEN e.kind = 'expanded' AND e.event_day >= s.as_of_day
              AND e.event_day < s.as_of_day + p.expansion_horizon THEN 1 ELSE 0 END) AS expanded,
    c.covered_until - s.as_of_day AS observed_days
FROM snapshots s
CROSS JOIN run_params p
CROSS JOIN coverage c
LEFT JOIN outcome_events e ON e.account_id = s.account_id
GROUP BY s.account_id, s.as_of, s.as_of_day, p.expansion_horizon, c.covered_until
