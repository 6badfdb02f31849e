-- What happened to the customer outside the product, as a news or
-- firmographics vendor reported it before `as_of` (`external_signals`),
-- per account and snapshot. A signal's kind plays a role through the
-- vocabulary (`external_signal`: a vendor's `rif` is `layoffs`), so no
-- vendor's words are written here.
WITH x AS (
    SELECT e.account_id, CAST(CAST(e.occurred_at AS DATE) AS INT) AS day, v.role, e.magnitude
    FROM external_signals e
    JOIN vocabulary v ON v.relation = 'external_signal' AND v.term = lower(e.kind)
)
SELECT
    s.account_id,
    s.as_of,
    count(*) FILTER (WHERE x.role = 'layoffs' AND x.day >= s.as_of_day - 180) AS layoffs_180d,
    max(x.magnitude) FILTER (WHERE x.role = 'layoffs' AND x.day >= s.as_of_day - 180) AS layoff_share_180d,
    count(*) FILTER (WHERE x.role = 'leadership_change' AND x.day >= s.as_of_day - 90) AS leadership_changes_90d,
    sum(x.magnitude) FILTER (WHERE x.role = 'funding') AS funding_raised_365d,
    count(*) FILTER (WHERE x.role = 'acquisition') AS acquisitions_365d,
    count(*) FILTER (WHERE x.role = 'bankruptcy') AS bankruptcies_365d,
    count(*) FILTER (WHERE x.role = 'hiring_surge' AND x.day >= s.as_of_day - 180) AS hiring_surges_180d
FROM snapshots s
JOIN x
  ON x.account_id = s.account_id
 AND x.day < s.as_of_day
 AND x.day >= s.as_of_day - 365
GROUP BY s.account_id, s.as_of
