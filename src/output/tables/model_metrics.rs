//! `model_metrics`: a model's test-window metrics per target, beside the
//! rules baseline's, in long form (one metric per row), and its feature
//! importance — one partition per model version.

use arrow::array::RecordBatch;

use super::{build, col, floats, texts, Table, Type};
use crate::error::Result;

pub const MODEL_VERSION: &str = "model_version";
pub const SPLIT: &str = "split";
pub const TARGET: &str = "target";
pub const MODEL: &str = "model";
pub const METRIC: &str = "metric";
pub const VALUE: &str = "value";

/// The names in the `metric` column (the backtest's columns use the same).
pub mod metric {
    pub const ROWS: &str = "rows";
    pub const POSITIVES: &str = "positives";
    pub const AUC: &str = "auc";
    pub const PR_AUC: &str = "pr_auc";
    pub const BRIER: &str = "brier";
    pub const LOG_LOSS: &str = "log_loss";
    pub const TOP_DECILE_LIFT: &str = "top_decile_lift";
    pub const CALIBRATION_ERROR: &str = "calibration_error";

    /// A calibration decile's mean prediction (`which` = `predicted`) or observed rate (`observed`).
    pub fn calibration_decile(decile: usize, which: &str) -> String {
        format!("calibration_decile_{decile:02}_{which}")
    }

    pub fn importance_gain(feature: &str) -> String {
        format!("importance_gain:{feature}")
    }
}

pub const TABLE: Table = Table {
    name: "model_metrics",
    partition: MODEL_VERSION,
    doc: "One row per model version, target, scorer and metric on the test window.",
    columns: &[
        col(MODEL_VERSION, Type::Text, false, "The model version the metrics belong to."),
        col(SPLIT, Type::Text, false, "The window measured on (`test`)."),
        col(TARGET, Type::Text, false, "The target: `churn_30d` … `expand_90d`, or `churn` for feature importance."),
        col(MODEL, Type::Text, false, "Who scored: `lightgbm` or the `rules` baseline."),
        col(METRIC, Type::Text, false, "The metric: rows, positives, auc, pr_auc, brier, log_loss, top_decile_lift, calibration_error, calibration deciles, `importance_gain:<feature>`."),
        col(VALUE, Type::Float, true, "The metric's value (null when it cannot be computed, e.g. AUC with one class)."),
    ],
};

#[derive(Debug, Clone)]
pub struct Row {
    pub target: String,
    pub model: &'static str,
    pub metric: String,
    pub value: Option<f64>,
}

/// The rows of model `version` on the `test` window.
pub fn batch(version: &str, rows: &[Row]) -> Result<RecordBatch> {
    build(&TABLE, &[], 0, |c, _| {
        Some(match c {
            MODEL_VERSION => texts(rows, |_| Some(version.to_string())),
            SPLIT => texts(rows, |_| Some("test".to_string())),
            TARGET => texts(rows, |r| Some(r.target.clone())),
            MODEL => texts(rows, |r| Some(r.model.to_string())),
            METRIC => texts(rows, |r| Some(r.metric.clone())),
            VALUE => floats(rows, |r| r.value),
            _ => return None,
        })
    })
}
