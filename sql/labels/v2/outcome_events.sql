-- Outcome events (renewed, churned, expanded, contracted) per account and
-- day, with the ARR just before and just after (the renewal forecast reads
-- the moves). From `outcomes` when it is given; otherwise derived from
-- `subscriptions` (ARR = 12 × MRR):
-- at each day a subscription starts or ends, MRR just before and just after
-- are compared. Churn: MRR falls to 0 and no subscription starts within the
-- grace period. Expansion (contraction): MRR rises (falls) by more than the
-- configured share.
WITH changes AS (
    SELECT account_id, start_day AS day FROM stg_subscriptions
    UNION
    SELECT account_id, end_day AS day FROM stg_subscriptions WHERE end_day IS NOT NULL
),
mrr AS (
    SELECT
        c.account_id,
        c.day,
        sum(CASE WHEN s.start_day < c.day AND (s.end_day IS NULL OR s.end_day >= c.day) THEN s.mrr ELSE 0 END) AS mrr_before,
        sum(CASE WHEN s.start_day <= c.day AND (s.end_day IS NULL OR s.end_day > c.day) THEN s.mrr ELSE 0 END) AS mrr_after,
        min(CASE WHEN s.start_day > c.day THEN s.start_day END) AS next_start
    FROM changes c
    JOIN stg_subscriptions s ON s.account_id = c.account_id
    GROUP BY c.account_id, c.day
),
derived AS (
    SELECT
        m.account_id,
        m.day AS event_day,
        CAST(m.mrr_before AS DOUBLE) * 12.0 AS arr_before,
        CAST(m.mrr_after AS DOUBLE) * 12.0 AS arr_after,
        CASE
            WHEN m.mrr_before > 0 AND m.mrr_after = 0
                 AND (m.next_start IS NULL OR m.next_start > m.day + p.churn_grace_days) THEN 'churned'
            WHEN m.mrr_before > 0 AND m.mrr_after > m.mrr_before * (1 + p.expansion_share) THEN 'expanded'
            WHEN m.mrr_after > 0 AND m.mrr_after < m.mrr_before * (1 - p.expansion_share) THEN 'contracted'
        END AS kind
    FROM mrr m
    CROSS JOIN run_params p
)
SELECT account_id, CAST(event_date AS INT) AS event_day, lower(kind) AS kind,
       CAST(arr_before AS DOUBLE) AS arr_before, CAST(arr_after AS DOUBLE) AS arr_after
FROM outcomes
UNION ALL
SELECT account_id, event_day, kind, arr_before, arr_after
FROM derived
WHERE kind IS NOT NULL
  AND (SELECT count(*) FROM outcomes) = 0
