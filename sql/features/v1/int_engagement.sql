-- CSM engagement per account and snapshot, from the year of activities
-- before `as_of`: touches, meetings, QBRs, the executive sponsor's part in
-- them, and how many people at the customer were engaged.
SELECT
    s.account_id,
    s.as_of,
    s.as_of_day - max(a.occurred_day) AS days_since_csm_touch,
    count(*) FILTER (WHERE a.occurred_day >= s.as_of_day - 90) AS touches_90d,
    count(*) FILTER (WHERE a.occurred_day >= s.as_of_day - 90 AND a.kind IN ('call', 'meeting', 'qbr')) AS meetings_90d,
    max(CASE WHEN a.kind = 'qbr' AND a.occurred_day >= s.as_of_day - 120 THEN 1 ELSE 0 END) AS qbr_last_120d,
    s.as_of_day - max(CASE WHEN a.kind = 'qbr' THEN a.occurred_day END) AS days_since_qbr,
    count(*) FILTER (WHERE a.occurred_day >= s.as_of_day - 90 AND c.is_exec_sponsor) AS exec_sponsor_touches_90d,
    count(DISTINCT a.contact_id) FILTER (WHERE a.occurred_day >= s.as_of_day - 90) AS engaged_contacts_90d
FROM snapshots s
JOIN stg_activities a
  ON a.account_id = s.account_id
 AND a.occurred_day < s.as_of_day
 AND a.occurred_day >= s.as_of_day - 365
LEFT JOIN stg_contacts c ON c.contact_id = a.contact_id
GROUP BY s.account_id, s.as_of, s.as_of_day
