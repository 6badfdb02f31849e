//! `feature_drift`: per scoring date and model input, how far its
//! distribution moved from the training window's (PSI over bins fixed at
//! training), flagged against the `monitoring.drift` thresholds.

use arrow::array::RecordBatch;

use super::{build, col, dates, floats, texts, Table, Type};
use crate::error::Result;

pub const AS_OF: &str = "as_of";
pub const FEATURE: &str = "feature";
pub const KIND: &str = "kind";
pub const PSI: &str = "psi";
pub const STATUS: &str = "status";
pub const MISSING_TRAINING: &str = "missing_training";
pub const MISSING_NOW: &str = "missing_now";
pub const TRAINING_FROM: &str = "training_from";
pub const TRAINING_TO: &str = "training_to";
pub const MODEL_VERSION: &str = "model_version";

pub const TABLE: Table = Table {
    name: "feature_drift",
    partition: AS_OF,
    doc: "One row per model input per scoring date: its population stability index against the training window, and whether it crossed the watch or act line.",
    columns: &[
        col(AS_OF, Type::Date, false, "The scoring date."),
        col(FEATURE, Type::Text, false, "The model input."),
        col(KIND, Type::Text, false, "`numeric` (bins: the training window's deciles) or `categorical` (a bin per known code, one for unknown codes); both with a bin for missing values."),
        col(PSI, Type::Float, false, "Σ (share now − share then) × ln(share now / share then) over the bins; empty bins count as 0.0001."),
        col(STATUS, Type::Text, false, "`ok`, `watch` (PSI ≥ monitoring.drift.watch, default 0.1) or `act` (≥ monitoring.drift.act, default 0.25)."),
        col(MISSING_TRAINING, Type::Float, false, "Share of the training window's rows with the input missing."),
        col(MISSING_NOW, Type::Float, false, "Share of the accounts scored at `as_of` with it missing."),
        col(TRAINING_FROM, Type::Text, false, "The training window's first snapshot."),
        col(TRAINING_TO, Type::Text, false, "Its last snapshot."),
        col(MODEL_VERSION, Type::Text, false, "The model the bins came from."),
    ],
};

#[derive(Debug, Clone, PartialEq)]
pub struct Row {
    pub feature: String,
    pub categorical: bool,
    pub psi: f64,
    pub status: &'static str,
    pub missing_training: f64,
    pub missing_now: f64,
}

pub fn batch(rows: &[Row], as_of: i32, training: (&str, &str), model_version: &str) -> Result<RecordBatch> {
    build(&TABLE, &[], 0, |c, _| {
        Some(match c {
            AS_OF => dates(rows, |_| Some(as_of)),
            FEATURE => texts(rows, |r| Some(r.feature.clone())),
            KIND => texts(rows, |r| Some(if r.categorical { "categorical" } else { "numeric" }.to_string())),
            PSI => floats(rows, |r| Some(r.psi)),
            STATUS => texts(rows, |r| Some(r.status.to_string())),
            MISSING_TRAINING => floats(rows, |r| Some(r.missing_training)),
            MISSING_NOW => floats(rows, |r| Some(r.missing_now)),
            TRAINING_FROM => texts(rows, |_| Some(training.0.to_string())),
            TRAINING_TO => texts(rows, |_| Some(training.1.to_string())),
            MODEL_VERSION => texts(rows, |_| Some(model_version.to_string())),
            _ => return None,
        })
    })
}
