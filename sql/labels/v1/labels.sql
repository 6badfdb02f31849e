-- Labels per snapshot: days from `as_of` to the first churn on or after it,
-- whether the account expanded within the expansion horizon, and how many
-- days after `as_of` the export still observes. A horizon longer than
-- `observed_days` is censored (the label is unknown, never "stayed"); the
-- trainer applies that rule per horizon.
SELECT
    s.account_id,
    s.as_of,
    min(CASE WHEN e.kind = 'churned' AND e.event_day >= s.as_of_day THEN e.event_day - s.as_of_day END) AS days_to_churn,
    max(CASE WHEN e.kind = 'expanded' AND e.event_day >= s.as_of_day
              AND e.event_day < s.as_of_day + p.expansion_horizon THEN 1 ELSE 0 END) AS expanded,
    CAST(p.export_date AS INT) - s.as_of_day AS observed_days
FROM snapshots s
CROSS JOIN run_params p
LEFT JOIN outcome_events e ON e.account_id = s.account_id
GROUP BY s.account_id, s.as_of, s.as_of_day, p.export_date, p.expansion_horizon
