//! `sync_log`: one row per destination and sync run — what was sent, what
//! the CRM acknowledged, rejected or never confirmed, and why a run stopped.

use arrow::array::RecordBatch;

use super::{build, col, counts, dates, texts, Table, Type};
use crate::error::Result;

pub const RUN_ID: &str = "run_id";
pub const DESTINATION: &str = "destination";
pub const AS_OF: &str = "as_of";
pub const STARTED_AT: &str = "started_at";
pub const FINISHED_AT: &str = "finished_at";
pub const STATUS: &str = "status";
pub const RECORDS: &str = "records";
pub const UNCHANGED: &str = "unchanged";
pub const SENT: &str = "sent";
pub const ACKNOWLEDGED: &str = "acknowledged";
pub const REJECTED: &str = "rejected";
pub const RETRIED: &str = "retried";
pub const REQUESTS: &str = "requests";
pub const NOT_DELIVERED: &str = "not_delivered";
pub const SKIPPED_NO_KEY: &str = "skipped_no_key";
pub const QUARANTINED: &str = "quarantined";
pub const MERGED: &str = "merged";
pub const IN_DOUBT: &str = "in_doubt";
pub const MESSAGE: &str = "message";

pub const TABLE: Table = Table {
    name: "sync_log",
    partition: RUN_ID,
    doc: "One row per destination and sync run: counts of what was sent and what the CRM confirmed.",
    columns: &[
        col(RUN_ID, Type::Text, false, "The sync run."),
        col(DESTINATION, Type::Text, false, "The destination's name in the config."),
        col(AS_OF, Type::Date, false, "The `account_scores` partition that was sent."),
        col(STARTED_AT, Type::Text, false, "When the destination's sync started (UTC, RFC 3339)."),
        col(FINISHED_AT, Type::Text, false, "When it finished (UTC, RFC 3339)."),
        col(STATUS, Type::Text, false, "ok, rejections, alerts_in_doubt, incomplete, daily_limit, failed or misconfigured."),
        col(RECORDS, Type::Count, false, "Scored accounts with a key, duplicates included."),
        col(UNCHANGED, Type::Count, false, "Records whose values the CRM already acknowledged: not sent."),
        col(SENT, Type::Count, false, "Records sent (new or changed)."),
        col(ACKNOWLEDGED, Type::Count, false, "Records the CRM returned as written."),
        col(REJECTED, Type::Count, false, "Records the CRM refused (see `sync_rejections`)."),
        col(RETRIED, Type::Count, false, "Requests or records sent again after a transient failure."),
        col(REQUESTS, Type::Count, false, "HTTP requests made."),
        col(NOT_DELIVERED, Type::Count, false, "Records neither acknowledged nor rejected: sent again next run."),
        col(SKIPPED_NO_KEY, Type::Count, false, "Accounts without a value in the match column: not sent."),
        col(QUARANTINED, Type::Count, false, "Records not sent because they failed the same way run after run."),
        col(MERGED, Type::Count, false, "Acknowledged records the CRM had merged into another record."),
        col(IN_DOUBT, Type::Count, false, "Alerts whose request to a webhook got no answer (a killed run, a timeout): it may have them, so they are never resent (see `sync_rejections`, code IN_DOUBT)."),
        col(MESSAGE, Type::Text, true, "Why the run stopped, or the records the CRM had merged."),
    ],
};

#[derive(Debug, Clone, Default)]
pub struct Row {
    pub destination: String,
    pub started_at: String,
    pub finished_at: String,
    pub status: String,
    pub counts: Counts,
    pub message: Option<String>,
}

/// What one destination's sync did, record by record.
#[derive(Debug, Default, Clone, serde::Serialize)]
pub struct Counts {
    pub records: usize,
    pub unchanged: usize,
    pub sent: usize,
    pub acknowledged: usize,
    pub rejected: usize,
    pub retried: usize,
    pub requests: usize,
    pub not_delivered: usize,
    pub skipped_no_key: usize,
    /// Records not sent because they are quarantined (not in `rejected`).
    pub quarantined: usize,
    /// Acknowledged records the CRM had merged into another (the key drifted).
    pub merged: usize,
    /// Alerts a webhook may or may not have received: never resent.
    pub in_doubt: usize,
}

/// The rows of sync run `run_id`, which sent the scores of `as_of` (days since 1970-01-01).
pub fn batch(run_id: &str, as_of: i32, rows: &[Row]) -> Result<RecordBatch> {
    build(&TABLE, &[], 0, |c, _| {
        Some(match c {
            RUN_ID => texts(rows, |_| Some(run_id.to_string())),
            DESTINATION => texts(rows, |r| Some(r.destination.clone())),
            AS_OF => dates(rows, |_| Some(as_of)),
            STARTED_AT => texts(rows, |r| Some(r.started_at.clone())),
            FINISHED_AT => texts(rows, |r| Some(r.finished_at.clone())),
            STATUS => texts(rows, |r| Some(r.status.clone())),
            RECORDS => counts(rows, |r| r.counts.records),
            UNCHANGED => counts(rows, |r| r.counts.unchanged),
            SENT => counts(rows, |r| r.counts.sent),
            ACKNOWLEDGED => counts(rows, |r| r.counts.acknowledged),
            REJECTED => counts(rows, |r| r.counts.rejected),
            RETRIED => counts(rows, |r| r.counts.retried),
            REQUESTS => counts(rows, |r| r.counts.requests),
            NOT_DELIVERED => counts(rows, |r| r.counts.not_delivered),
            SKIPPED_NO_KEY => counts(rows, |r| r.counts.skipped_no_key),
            QUARANTINED => counts(rows, |r| r.counts.quarantined),
            MERGED => counts(rows, |r| r.counts.merged),
            IN_DOUBT => counts(rows, |r| r.counts.in_doubt),
            MESSAGE => texts(rows, |r| r.message.clone()),
            _ => return None,
        })
    })
}
