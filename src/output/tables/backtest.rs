//! `backtest`: rolling-origin evaluation — for each monthly origin, a model
//! trained on what was known then, scored on the months after it, beside
//! the rules score. One partition per backtest run.

use arrow::array::RecordBatch;

use super::{build, col, counts, floats, texts, Table, Type};
use super::model_metrics::metric;
use crate::error::Result;

pub const RUN_ID: &str = "run_id";
pub const ORIGIN: &str = "origin";
pub const TRAIN_FROM: &str = "train_from";
pub const TRAIN_TO: &str = "train_to";
pub const TARGET: &str = "target";
pub const ROWS: &str = metric::ROWS;
pub const POSITIVES: &str = metric::POSITIVES;
pub const AUC: &str = metric::AUC;
pub const RULES_AUC: &str = "rules_auc";
pub const PR_AUC: &str = metric::PR_AUC;
pub const RULES_PR_AUC: &str = "rules_pr_auc";
pub const BRIER: &str = metric::BRIER;
pub const LOG_LOSS: &str = metric::LOG_LOSS;
pub const TOP_DECILE_LIFT: &str = metric::TOP_DECILE_LIFT;
pub const CALIBRATION_ERROR: &str = metric::CALIBRATION_ERROR;

pub const TABLE: Table = Table {
    name: "backtest",
    partition: RUN_ID,
    doc: "One row per backtest origin and target: the model trained as of the origin against the rules score.",
    columns: &[
        col(ORIGIN, Type::Text, false, "The origin: the model was trained on snapshots before this date."),
        col(TRAIN_FROM, Type::Text, false, "The first training snapshot."),
        col(TRAIN_TO, Type::Text, false, "The last training snapshot."),
        col(TARGET, Type::Text, false, "The target, e.g. `churn_90d`."),
        col(ROWS, Type::Count, false, "Snapshot rows scored after the origin."),
        col(POSITIVES, Type::Count, false, "Of them, the rows whose target happened."),
        col(AUC, Type::Float, true, "The model's ROC AUC."),
        col(RULES_AUC, Type::Float, true, "The rules score's ROC AUC on the same rows."),
        col(PR_AUC, Type::Float, true, "The model's precision-recall AUC."),
        col(RULES_PR_AUC, Type::Float, true, "The rules score's precision-recall AUC."),
        col(BRIER, Type::Float, true, "The model's Brier score (mean squared error of the probability)."),
        col(LOG_LOSS, Type::Float, true, "The model's log loss."),
        col(TOP_DECILE_LIFT, Type::Float, true, "The positive rate among the riskiest tenth over the overall rate."),
        col(CALIBRATION_ERROR, Type::Float, true, "Expected calibration error over probability deciles."),
    ],
};

#[derive(Debug, Clone)]
pub struct Row {
    pub origin: String,
    pub train_from: String,
    pub train_to: String,
    pub target: String,
    pub rows: usize,
    pub positives: usize,
    pub auc: Option<f64>,
    pub rules_auc: Option<f64>,
    pub pr_auc: Option<f64>,
    pub rules_pr_auc: Option<f64>,
    pub brier: Option<f64>,
    pub log_loss: Option<f64>,
    pub top_decile_lift: Option<f64>,
    pub calibration_error: Option<f64>,
}

pub fn batch(rows: &[Row]) -> Result<RecordBatch> {
    build(&TABLE, &[], 0, |c, _| {
        Some(match c {
            ORIGIN => texts(rows, |r| Some(r.origin.clone())),
            TRAIN_FROM => texts(rows, |r| Some(r.train_from.clone())),
            TRAIN_TO => texts(rows, |r| Some(r.train_to.clone())),
            TARGET => texts(rows, |r| Some(r.target.clone())),
            ROWS => counts(rows, |r| r.rows),
            POSITIVES => counts(rows, |r| r.positives),
            AUC => floats(rows, |r| r.auc),
            RULES_AUC => floats(rows, |r| r.rules_auc),
            PR_AUC => floats(rows, |r| r.pr_auc),
            RULES_PR_AUC => floats(rows, |r| r.rules_pr_auc),
            BRIER => floats(rows, |r| r.brier),
            LOG_LOSS => floats(rows, |r| r.log_loss),
            TOP_DECILE_LIFT => floats(rows, |r| r.top_decile_lift),
            CALIBRATION_ERROR => floats(rows, |r| r.calibration_error),
            _ => return None,
        })
    })
}
