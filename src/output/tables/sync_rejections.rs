//! `sync_rejections`: one row per record a CRM refused in a sync run (or that
//! was quarantined), with the CRM's code, field and message.

use arrow::array::RecordBatch;

use super::{bools, build, col, dates, texts, Table, Type};
use crate::error::Result;

pub const RUN_ID: &str = "run_id";
pub const DESTINATION: &str = "destination";
pub const AS_OF: &str = "as_of";
pub const ACCOUNT_ID: &str = "account_id";
pub const RECORD_KEY: &str = "record_key";
pub const CODE: &str = "code";
pub const FIELD: &str = "field";
pub const MESSAGE: &str = "message";
pub const QUARANTINED: &str = "quarantined";

pub const TABLE: Table = Table {
    name: "sync_rejections",
    partition: RUN_ID,
    doc: "One row per record the CRM rejected in a sync run, or that was quarantined.",
    columns: &[
        col(RUN_ID, Type::Text, false, "The sync run."),
        col(DESTINATION, Type::Text, false, "The destination's name in the config."),
        col(AS_OF, Type::Date, false, "The `account_scores` partition that was sent."),
        col(ACCOUNT_ID, Type::Text, false, "The account whose record was refused."),
        col(RECORD_KEY, Type::Text, false, "The CRM record id or unique value it was matched by."),
        col(CODE, Type::Text, false, "The CRM's error code (or DUPLICATE_KEY)."),
        col(FIELD, Type::Text, true, "The CRM field the error names, when it names one."),
        col(MESSAGE, Type::Text, false, "The CRM's message."),
        col(QUARANTINED, Type::Bool, false, "Not sent this run: it failed the same way `quarantine_after` runs in a row."),
    ],
};

#[derive(Debug, Clone)]
pub struct Row {
    pub destination: String,
    pub account_id: String,
    pub record_key: String,
    pub code: String,
    pub field: Option<String>,
    pub message: String,
    pub quarantined: bool,
}

pub fn batch(run_id: &str, as_of: i32, rows: &[Row]) -> Result<RecordBatch> {
    build(&TABLE, &[], 0, |c, _| {
        Some(match c {
            RUN_ID => texts(rows, |_| Some(run_id.to_string())),
            DESTINATION => texts(rows, |r| Some(r.destination.clone())),
            AS_OF => dates(rows, |_| Some(as_of)),
            ACCOUNT_ID => texts(rows, |r| Some(r.account_id.clone())),
            RECORD_KEY => texts(rows, |r| Some(r.record_key.clone())),
            CODE => texts(rows, |r| Some(r.code.clone())),
            FIELD => texts(rows, |r| r.field.clone()),
            MESSAGE => texts(rows, |r| Some(r.message.clone())),
            QUARANTINED => bools(rows, |r| r.quarantined),
            _ => return None,
        })
    })
}
