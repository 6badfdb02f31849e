//! `score_drivers`: every account × model feature at `as_of` — the value,
//! its contribution to the churn risk, and the segment's median. The table
//! the reasons are chosen from, kept whole so anyone can check them.

use arrow::array::RecordBatch;

use super::{bools, build, col, dates, floats, texts, Table, Type};

pub const ACCOUNT_ID: &str = "account_id";
pub const AS_OF: &str = "as_of";
pub const FEATURE: &str = "feature";
pub const LABEL: &str = "label";
pub const VALUE: &str = "value";
pub const VALUE_TEXT: &str = "value_text";
pub const CONTRIBUTION: &str = "contribution";
pub const SEGMENT_MEDIAN: &str = "segment_median";
pub const EXPLAINED: &str = "explained";

pub const TABLE: Table = Table {
    name: "score_drivers",
    partition: AS_OF,
    doc: "One row per account and model feature at `as_of`: the value, its contribution to the churn risk and the segment's median.",
    columns: &[
        col(ACCOUNT_ID, Type::Text, false, "The account's id in the export."),
        col(AS_OF, Type::Date, false, "The scoring date."),
        col(FEATURE, Type::Text, false, "The feature's name in the feature set."),
        col(LABEL, Type::Text, false, "The feature's label, as reasons show it."),
        col(VALUE, Type::Float, true, "The feature's value (null for a categorical feature or a missing value)."),
        col(VALUE_TEXT, Type::Text, false, "The value as text, in the feature's unit, or the category."),
        col(CONTRIBUTION, Type::Float, true, "TreeSHAP contribution to the churn risk (log-odds; positive raises it), or the rules score's."),
        col(SEGMENT_MEDIAN, Type::Float, true, "The feature's median among accounts of the same segment at `as_of`."),
        col(EXPLAINED, Type::Bool, false, "Whether the feature may be given as a reason."),
    ],
};

/// Accounts per `score_drivers` batch: the table is accounts × features
/// rows (3.4 million at 82,000 accounts, 300 MB of Arrow arrays), so it is
/// built and written a slice at a time rather than held whole.
pub const ACCOUNTS_PER_BATCH: usize = 1024;

#[derive(Debug, Clone)]
pub struct Row<'a> {
    pub account_id: &'a str,
    pub feature: &'a str,
    pub label: &'a str,
    pub value: Option<f64>,
    pub value_text: String,
    pub contribution: Option<f64>,
    pub segment_median: Option<f64>,
    pub explained: bool,
}

/// Rows at `as_of` (days since 1970-01-01) as a batch.
pub fn batch(rows: &[Row], as_of: i32) -> RecordBatch {
    build(&TABLE, &[], 0, |c, _| {
        Some(match c {
            ACCOUNT_ID => texts(rows, |r| Some(r.account_id.to_string())),
            AS_OF => dates(rows, |_| Some(as_of)),
            FEATURE => texts(rows, |r| Some(r.feature.to_string())),
            LABEL => texts(rows, |r| Some(r.label.to_string())),
            VALUE => floats(rows, |r| r.value),
            VALUE_TEXT => texts(rows, |r| Some(r.value_text.clone())),
            CONTRIBUTION => floats(rows, |r| r.contribution),
            SEGMENT_MEDIAN => floats(rows, |r| r.segment_median),
            EXPLAINED => bools(rows, |r| r.explained),
            _ => return None,
        })
    })
    .expect("the builders follow the schema, one value per row each")
}
