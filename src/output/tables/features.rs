//! `features`: the feature table `healthscore features` writes — one row per
//! account and snapshot date, one column per feature of the feature set
//! (which the feature set's `features.yaml` documents), one partition per date.

use arrow::array::{BooleanArray, RecordBatch};

use super::{Column, Table, Type};
use crate::error::{Error, Result};

pub const ACCOUNT_ID: &str = "account_id";
pub const AS_OF: &str = "as_of";

pub const TABLE: Table = Table {
    name: "features",
    partition: AS_OF,
    doc: "One row per account and snapshot date; after the two keys, one column per feature of the feature set.",
    columns: &[
        Column { name: ACCOUNT_ID, ty: Type::Text, nullable: false, doc: "The account's id in the export." },
        Column { name: AS_OF, ty: Type::Date, nullable: false, doc: "The snapshot date: features read only data from before it." },
    ],
};

/// The rows of `batches` whose `as_of` is `day` (days since 1970-01-01).
pub fn on_day(batches: &[RecordBatch], day: i32) -> Result<Vec<RecordBatch>> {
    batches
        .iter()
        .map(|b| {
            let asof = crate::columns::days(b, AS_OF)?;
            let keep: BooleanArray = asof.iter().map(|v| Some(*v == day)).collect();
            arrow::compute::filter_record_batch(b, &keep).map_err(|e| Error::other("splitting features by date", e))
        })
        .collect()
}
