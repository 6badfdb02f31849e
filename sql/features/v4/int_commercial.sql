-- Commercial facts at each snapshot, all from history known before `as_of`
-- (never today's `accounts` row, whose renewal date, ARR, plan and seats are
-- today's: a churned account's renewal date is often its termination day).
--   plan, seats, ARR   the subscriptions running at `as_of` (null without them)
--   tenure             days since the account's first subscription (or usage)
--   days_to_renewal    the contract's next anniversary: the first day of the
--                      unbroken run of subscriptions the running one belongs
--                      to, plus whole terms (seats bought mid-contract start a
--                      new subscription but keep the renewal date); without
--                      subscriptions, the last renewal booked in `outcomes`
--                      plus a year; else null
--   segment            the newest `account_history` row before `as_of` when the
--                      export has one; else today's `accounts` row, which the
--                      contract treats as stable (null for accounts deleted since)
WITH running AS (
    SELECT
        s.account_id,
        s.as_of,
        CAST(sum(b.mrr) AS DOUBLE) * 12 AS arr,
        sum(b.seats) AS seats,
        first_value(b.plan ORDER BY b.start_day DESC, b.subscription_id) AS plan,
        first_value(b.start_day ORDER BY b.start_day DESC, b.subscription_id) AS term_start_day,
        first_value(b.term_days ORDER BY b.start_day DESC, b.subscription_id) AS term_days
    FROM snapshots s
    JOIN stg_subscriptions b
      ON b.account_id = s.account_id
     AND b.start_day < s.as_of_day
     AND (b.end_day IS NULL OR b.end_day >= s.as_of_day)
    GROUP BY s.account_id, s.as_of
),
history AS (
    SELECT
        s.account_id,
        s.as_of,
        min(b.start_day) AS first_day,
        CAST(sum(CASE WHEN b.start_day < s.as_of_day - 180 AND (b.end_day IS NULL OR b.end_day >= s.as_of_day - 180)
                      THEN b.mrr ELSE 0 END) AS DOUBLE) * 12 AS arr_180d_ago
    FROM snapshots s
    JOIN stg_subscriptions b ON b.account_id = s.account_id AND b.start_day < s.as_of_day
    GROUP BY s.account_id, s.as_of
),
segment_then AS (
    SELECT
        s.account_id,
        s.as_of,
        first_value(h.segment ORDER BY h.valid_day DESC) AS segment
    FROM snapshots s
    JOIN stg_account_history h
      ON h.account_id = s.account_id
     AND h.valid_day < s.as_of_day
     AND h.segment IS NOT NULL
    GROUP BY s.account_id, s.as_of
),
-- the first day of each unbroken run of subscriptions: a start that no
-- earlier subscription of the account runs into
run_starts AS (
    SELECT b.account_id, b.start_day
    FROM stg_subscriptions b
    LEFT JOIN stg_subscriptions c
      ON c.account_id = b.account_id
     AND c.start_day < b.start_day
     AND (c.end_day IS NULL OR c.end_day >= b.start_day)
    WHERE c.account_id IS NULL
),
contract AS (
    SELECT s.account_id, s.as_of, max(c.start_day) AS contract_start_day
    FROM snapshots s
    JOIN run_starts c ON c.account_id = s.account_id AND c.start_day < s.as_of_day
    GROUP BY s.account_id, s.as_of
),
booked AS (
    SELECT s.account_id, s.as_of, max(o.event_day) AS last_renewal_day
    FROM snapshots s
    JOIN stg_outcomes o
      ON o.account_id = s.account_id
     AND o.event_day < s.as_of_day
     AND o.kind IN ('renewed', 'expanded', 'contracted')
    GROUP BY s.account_id, s.as_of
)
SELECT
    s.account_id,
    s.as_of,
    coalesce(g.segment, a.segment) AS segment,
    r.plan,
    r.seats,
    r.arr,
    s.as_of_day - coalesce(h.first_day, s.start_day) AS tenure_days,
    CASE
        WHEN r.term_start_day IS NOT NULL AND r.term_days > 0
            THEN ((coalesce(ct.contract_start_day, r.term_start_day) - s.as_of_day) % r.term_days + r.term_days) % r.term_days
        WHEN k.last_renewal_day IS NOT NULL
            THEN ((k.last_renewal_day - s.as_of_day) % 365 + 365) % 365
    END AS days_to_renewal,
    CASE WHEN h.arr_180d_ago > 0 THEN coalesce(r.arr, 0) / h.arr_180d_ago - 1 END AS arr_change_180d
FROM snapshots s
LEFT JOIN stg_accounts a ON a.account_id = s.account_id
LEFT JOIN running r ON r.account_id = s.account_id AND r.as_of = s.as_of
LEFT JOIN history h ON h.account_id = s.account_id AND h.as_of = s.as_of
LEFT JOIN contract ct ON ct.account_id = s.account_id AND ct.as_of = s.as_of
LEFT JOIN booked k ON k.account_id = s.account_id AND k.as_of = s.as_of
LEFT JOIN segment_then g ON g.account_id = s.account_id AND g.as_of = s.as_of
