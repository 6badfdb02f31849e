//! The model card (`card.json`): everything needed to trust, reproduce and
//! compare a model — what it was trained on, how, and how it did on the test
//! window beside the rules baseline.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::calibrate::Isotonic;
use super::frame::Vocab;
use super::metrics::Metrics;
use crate::output::tables::model_metrics::{self, metric};

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum Kind {
    /// LightGBM churn hazard + expansion models.
    Lightgbm,
    /// The rules score (cold start).
    Rules,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SqlRef {
    pub version: String,
    pub hash: String,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Window {
    pub from: String,
    pub to: String,
    pub snapshots: usize,
    pub rows: usize,
    /// Snapshots whose account churned within the longest horizon.
    pub churn_positives: usize,
    /// Distinct accounts among them (what cold start and calibration count).
    #[serde(default)]
    pub churned_accounts: usize,
    pub expansion_positives: usize,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct TargetMetrics {
    pub model: Option<Metrics>,
    pub rules: Metrics,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Promotion {
    pub promoted: bool,
    pub compared_with: Option<String>,
    /// What the two AUCs below measure: the longest churn horizon's
    /// (`churn_90d`), or the health score's against churn within it when
    /// the current model is the rules score.
    #[serde(default)]
    pub compared_on: String,
    /// The current model's AUC on this model's test window.
    #[serde(alias = "current_auc_90d")]
    pub current_auc: Option<f64>,
    /// This model's AUC on its test window.
    #[serde(alias = "new_auc_90d")]
    pub new_auc: Option<f64>,
    pub reason: String,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Card {
    pub name: String,
    pub version: String,
    pub kind: Kind,
    pub healthscore_version: String,
    /// Wall-clock time of training (cards are records, not results tables).
    pub trained_at: String,
    pub export_date: String,
    pub feature_set: SqlRef,
    pub label_set: SqlRef,
    /// Model inputs in order (the feature set's available features).
    pub features: Vec<String>,
    pub categorical: Vec<String>,
    pub vocab: Vocab,
    /// Churn horizons in days; churn is modelled per 30-day interval.
    pub horizons: Vec<u32>,
    pub expansion_horizon: u32,
    pub params: BTreeMap<String, String>,
    pub best_iteration: BTreeMap<String, usize>,
    pub train: Window,
    pub validation: Window,
    pub test: Window,
    /// Per target (`churn_30d`, …, `expand_90d`): test-window metrics.
    pub metrics: BTreeMap<String, TargetMetrics>,
    /// (feature, total gain) of the churn model, largest first.
    pub importance: Vec<(String, f64)>,
    pub warnings: Vec<String>,
    pub promotion: Option<Promotion>,
    /// The tier cut-offs this model scores with (unless `scoring.tiers`
    /// fixes them) and where they came from.
    #[serde(default)]
    pub tiers: Option<TierPolicy>,
    /// The health score itself checked against outcomes on the test window.
    #[serde(default)]
    pub health: Option<HealthChecks>,
    /// The words the feature SQL read the export through; scoring refuses
    /// a config whose vocabulary differs.
    #[serde(default)]
    pub vocabulary: crate::config::Vocabulary,
    /// Each model input's distribution over the training window: the bins
    /// `feature_drift` measures scoring dates against.
    #[serde(default)]
    pub drift: Vec<super::drift::Reference>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct TierPolicy {
    pub cutoffs: crate::config::Tiers,
    /// Churn rate within 30 days among training snapshots renewing within 30 days.
    pub base_rate: Option<f64>,
    pub method: String,
}

/// The health score (and its tiers) against what happened, for the model and
/// for the rules score on the same test rows.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct HealthChecks {
    pub model: Option<HealthCheck>,
    pub rules: HealthCheck,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct HealthCheck {
    /// AUC of the risk (100 − health) against churn within the longest horizon.
    pub auc_horizon: Option<f64>,
    /// … against churn by the next renewal (30 days' grace), where observed.
    pub auc_by_renewal: Option<f64>,
    pub rows_by_renewal: usize,
    /// Observed churn within the longest horizon per tier, red first.
    pub tiers: Vec<TierRate>,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct TierRate {
    pub tier: crate::domain::Tier,
    pub rows: usize,
    pub churned: usize,
    pub rate: Option<f64>,
}

/// Calibration maps, saved beside the model (`calibration.json`).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Calibration {
    pub hazard: Isotonic,
    pub expansion: Isotonic,
    /// A rules card's maps from the rules risk (1 − health / 100) to churn
    /// within each of `horizons`, fitted on the validation window; empty
    /// when the rules score carries no probabilities.
    #[serde(default)]
    pub rules: Vec<Isotonic>,
}

pub const INTERVAL_DAYS: u32 = 30;
/// The extra model input: days from `as_of` to the start of the interval.
pub const INTERVAL_FEATURE: &str = "interval_start_days";

impl Card {
    /// The `model_metrics` rows: one per (split, target, model, metric).
    /// The card's `model_metrics` rows: each target's test metrics for the
    /// model and the rules baseline, then the churn model's feature importance.
    pub fn metrics_rows(&self) -> Vec<model_metrics::Row> {
        let mut rows = Vec::new();
        let mut push = |target: &str, model: &'static str, metric: String, value: Option<f64>| {
            rows.push(model_metrics::Row { target: target.to_string(), model, metric, value });
        };
        for (target, tm) in &self.metrics {
            for (model, m) in [("lightgbm", tm.model.as_ref()), ("rules", Some(&tm.rules))] {
                let Some(m) = m else { continue };
                push(target, model, metric::ROWS.into(), Some(m.rows as f64));
                push(target, model, metric::POSITIVES.into(), Some(m.positives as f64));
                push(target, model, metric::AUC.into(), m.auc);
                push(target, model, metric::PR_AUC.into(), m.pr_auc);
                push(target, model, metric::BRIER.into(), m.brier);
                push(target, model, metric::LOG_LOSS.into(), m.log_loss);
                push(target, model, metric::TOP_DECILE_LIFT.into(), m.top_decile_lift);
                push(target, model, metric::CALIBRATION_ERROR.into(), m.calibration_error);
                for b in &m.calibration {
                    push(target, model, metric::calibration_decile(b.decile, "predicted"), Some(b.predicted));
                    push(target, model, metric::calibration_decile(b.decile, "observed"), Some(b.observed));
                }
            }
        }
        for (f, g) in &self.importance {
            push("churn", "lightgbm", metric::importance_gain(f), Some(*g));
        }
        rows
    }
}
