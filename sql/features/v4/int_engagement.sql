-- CSM engagement per account and snapshot, from the year of activities
-- before `as_of`: touches, meetings, business reviews (the vocabulary's
-- `activity` roles), the executive sponsor's part in
-- them, and how many people at the customer were engaged. Activities are
-- summed per contact first, so engaged contacts are counted without a
-- COUNT(DISTINCT): DataFusion gives each group of that its own hash set,
-- about 12 KB per account and snapshot (1 GB at 88,000 accounts).
WITH per_contact AS (
    SELECT
        s.account_id,
        s.as_of,
        s.as_of_day,
        a.contact_id,
        max(a.occurred_day) AS last_day,
        count(*) FILTER (WHERE a.occurred_day >= s.as_of_day - 90) AS touches_90d,
        count(*) FILTER (WHERE a.occurred_day >= s.as_of_day - 90 AND a.role IN ('meeting', 'business_review')) AS meetings_90d,
        max(CASE WHEN a.role = 'business_review' AND a.occurred_day >= s.as_of_day - 120 THEN 1 ELSE 0 END) AS qbr_last_120d,
        max(CASE WHEN a.role = 'business_review' THEN a.occurred_day END) AS last_qbr_day,
        count(*) FILTER (WHERE a.occurred_day >= s.as_of_day - 90 AND c.is_exec_sponsor) AS exec_sponsor_touches_90d
    FROM snapshots s
    JOIN stg_activities a
      ON a.account_id = s.account_id
     AND a.occurred_day < s.as_of_day
     AND a.occurred_day >= s.as_of_day - 365
    LEFT JOIN stg_contacts c ON c.contact_id = a.contact_id
    GROUP BY s.account_id, s.as_of, s.as_of_day, a.contact_id
)
SELECT
    account_id,
    as_of,
    as_of_day - max(last_day) AS days_since_csm_touch,
    sum(touches_90d) AS touches_90d,
    sum(meetings_90d) AS meetings_90d,
    max(qbr_last_120d) AS qbr_last_120d,
    as_of_day - max(last_qbr_day) AS days_since_qbr,
    sum(exec_sponsor_touches_90d) AS exec_sponsor_touches_90d,
    count(contact_id) FILTER (WHERE touches_90d > 0) AS engaged_contacts_90d
FROM per_contact
GROUP BY account_id, as_of, as_of_day
