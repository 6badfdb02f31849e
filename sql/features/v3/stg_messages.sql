-- Staging: what customers wrote — ticket subjects and bodies, NPS comments,
-- and the text of activities that are not outbound (emails and notes from
-- the customer's side) — one row per message with its day, its sentiment
-- (VADER's compound score, -1 to 1) and its weight for each intent of
-- `intent.yaml` (0 when not mentioned or negated). Text is scored in Rust
-- through `sentiment()` and `intent_weight()` (src/features/text.rs). Both
-- are kept as whole numbers (sentiment × 10,000, weights × 100: the
-- precision they have) so that sums are exact and features do not depend on
-- the order rows arrive in.
WITH texts AS (
    SELECT account_id, CAST(CAST(created_at AS DATE) AS INT) AS day, 'ticket' AS source,
           concat_ws('. ', subject, body) AS text
    FROM tickets
    UNION ALL
    SELECT account_id, CAST(CAST(responded_at AS DATE) AS INT) AS day, 'nps' AS source, comment AS text
    FROM nps
    UNION ALL
    SELECT account_id, CAST(CAST(occurred_at AS DATE) AS INT) AS day, 'activity' AS source, body AS text
    FROM activities
    WHERE direction IS NULL OR lower(direction) <> 'outbound'
)
SELECT
    account_id,
    day,
    source,
    CAST(round(sentiment(text) * 10000) AS BIGINT) AS sentiment_e4,
    CAST(round(intent_weight(text, 'cancel') * 100) AS BIGINT) AS intent_cancel,
    CAST(round(intent_weight(text, 'competitor') * 100) AS BIGINT) AS intent_competitor,
    CAST(round(intent_weight(text, 'downgrade') * 100) AS BIGINT) AS intent_downgrade,
    CAST(round(intent_weight(text, 'budget_cut') * 100) AS BIGINT) AS intent_budget_cut,
    CAST(round(intent_weight(text, 'price') * 100) AS BIGINT) AS intent_price,
    CAST(round(intent_weight(text, 'champion_leaving') * 100) AS BIGINT) AS intent_champion_leaving
FROM texts
WHERE text IS NOT NULL AND length(trim(text)) > 0
