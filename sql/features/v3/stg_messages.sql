-- Staging: what customers wrote — ticket subjects and bodies, NPS comments,
-- and the text of activities that are not outbound (emails and notes from
-- the customer's side) — one row per message with its day, its sentiment
-- (VADER's compound score, -1 to 1) and its weight for each intent of
-- `intent.yaml` (0 when not mentioned or negated). Text is scored in Rust
-- through `sentiment()` and `intent_weight()` (src/features/text.rs). Both
-- are kept as whole numbers (sentiment × 10,000, weights × 100: the
-- precision they have) so that sums are exact and features do not depend on
-- the order rows arrive in. `said` names the message for a reason —
-- "2026-10-12|A ticket" — and never its words.
WITH texts AS (
    SELECT account_id, CAST(created_at AS DATE) AS date, 'ticket' AS source, 'A ticket' AS kind,
           concat_ws('. ', subject, body) AS text
    FROM tickets
    UNION ALL
    SELECT account_id, CAST(responded_at AS DATE) AS date, 'nps' AS source, 'An NPS comment' AS kind, comment AS text
    FROM nps
    UNION ALL
    SELECT account_id, CAST(occurred_at AS DATE) AS date, 'activity' AS source, 'A customer email or note' AS kind, body AS text
    FROM activities
    WHERE direction IS NULL OR lower(direction) <> 'outbound'
),
-- only the days some snapshot's 90-day window reads (`int_text`): a daily
-- score reads a quarter of text, not the export's years
span AS (
    SELECT min(CAST(as_of AS INT)) - 90 AS first_day, max(CAST(as_of AS INT)) AS last_day
    FROM snapshot_dates
)
SELECT
    account_id,
    CAST(date AS INT) AS day,
    source,
    concat(CAST(date AS VARCHAR), '|', kind) AS said,
    CAST(round(sentiment(text) * 10000) AS BIGINT) AS sentiment_e4,
    CAST(round(intent_weight(text, 'cancel') * 100) AS BIGINT) AS intent_cancel,
    CAST(round(intent_weight(text, 'competitor') * 100) AS BIGINT) AS intent_competitor,
    CAST(round(intent_weight(text, 'downgrade') * 100) AS BIGINT) AS intent_downgrade,
    CAST(round(intent_weight(text, 'budget_cut') * 100) AS BIGINT) AS intent_budget_cut,
    CAST(round(intent_weight(text, 'price') * 100) AS BIGINT) AS intent_price,
    CAST(round(intent_weight(text, 'champion_leaving') * 100) AS BIGINT) AS intent_champion_leaving
FROM texts
CROSS JOIN span
WHERE text IS NOT NULL AND length(trim(text)) > 0
  AND CAST(date AS INT) >= span.first_day AND CAST(date AS INT) < span.last_day
