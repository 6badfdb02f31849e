//! Models: churn as a hazard per 30-day interval and expansion within a
//! horizon, both LightGBM, calibrated, explained with TreeSHAP, kept in a
//! registry; and the rules score they are measured against.
//!
//! Churn: each snapshot is expanded into one row per 30-day interval after
//! `as_of` (the row carries `interval_start_days`, and `days_to_renewal`
//! counted from the interval's start), labelled "churned in this interval"
//! among accounts still there at its start. One model learns the hazard h_k;
//! churn within a horizon is 1 − Π(1 − h_k), monotone across horizons by
//! construction, and churn by any renewal date follows the same way.
//!
//! The health score asks the same model a question about the account rather
//! than the calendar: the calibrated churn hazard were its renewal due
//! mid-way through the next 30 days (`p_churn_at_renewal`). Its SHAP values,
//! without the two timing inputs, are the reasons.

pub mod calibrate;
pub mod card;
pub mod drift;
pub mod frame;
pub mod lgbm;
pub mod metrics;
pub mod registry;
pub mod rules;
pub mod shap;
pub mod train;

use std::collections::BTreeMap;

use card::{Calibration, Card, INTERVAL_DAYS, Kind};
use frame::Frame;

use crate::error::{Error, Result};
use crate::features::Feature;

/// Days to renewal used for the health question ("renewing mid-interval").
pub const RENEWAL_NOW_DAYS: f64 = 15.0;

pub struct Model {
    pub card: Card,
    hazard: Option<lgbm::Predictor>,
    expansion: Option<lgbm::Predictor>,
    calibration: Option<Calibration>,
    pub ensemble: Option<shap::Ensemble>,
}

/// What a model says about each row of a frame.
pub struct Scores {
    /// Per horizon of `card.horizons`, per row.
    pub p_churn: Vec<Vec<f64>>,
    pub p_expand: Vec<f64>,
    /// Churn probability were the renewal due now (model) — None for rules.
    pub p_churn_at_renewal: Vec<Option<f64>>,
    /// 0–100, higher is healthier.
    pub health: Vec<f64>,
    /// rows × frame width; positive = raises churn risk. Log-odds for a
    /// model, health points for the rules score.
    pub contributions: Vec<f64>,
    /// Per row: the hazard per interval (model only), for renewal forecasts.
    pub hazards: Vec<Vec<f64>>,
}

pub fn sigmoid(x: f64) -> f64 {
    1.0 / (1.0 + (-x).exp())
}

/// The churn model's input for interval `k` (0-based): the frame plus the
/// interval's start, with `days_to_renewal` counted from that start. With
/// `renewal_now`, every row is asked as if its renewal were mid-interval.
///
/// The renewal-now question keeps the pair (tenure, days to renewal)
/// consistent: the account is asked about as it will be at its own next
/// renewal, so its tenure grows by the days until then. A 40-day-old account
/// in onboarding is asked about its first renewal at ~1 year, not as a
/// 40-day-old account renewing in 15 days, which no training row looks like.
pub fn hazard_matrix(frame: &Frame, k: u32, renewal_now: bool) -> Vec<f64> {
    let w = frame.width();
    let start = (k * INTERVAL_DAYS) as f64;
    let renewal = frame.col("days_to_renewal");
    let tenure = frame.col("tenure_days");
    let mut x = Vec::with_capacity(frame.rows() * (w + 1));
    for i in 0..frame.rows() {
        let row = frame.row(i);
        let at = x.len();
        x.extend_from_slice(row);
        if let Some(j) = renewal {
            let d = row[j];
            x[at + j] = if renewal_now {
                if let Some(t) = tenure.filter(|_| !d.is_nan() && d > RENEWAL_NOW_DAYS) {
                    x[at + t] += d - RENEWAL_NOW_DAYS;
                }
                RENEWAL_NOW_DAYS
            } else if d.is_nan() {
                d
            } else {
                (d - start).rem_euclid(365.0)
            };
        }
        x.push(start);
    }
    x
}

/// Cumulative churn within each horizon from per-interval hazards.
pub fn cumulative(hazards: &[f64], horizons: &[u32]) -> Vec<f64> {
    horizons
        .iter()
        .map(|h| {
            let n = (*h / INTERVAL_DAYS) as usize;
            1.0 - hazards.iter().take(n).map(|q| 1.0 - q).product::<f64>()
        })
        .collect()
}

impl Model {
    pub fn from_stored(s: registry::Stored, threads: usize) -> Result<Model> {
        let (hazard, expansion, ensemble) = match (&s.card.kind, &s.model, &s.expansion) {
            (Kind::Lightgbm, Some(m), Some(e)) => {
                (Some(lgbm::Predictor::load(m, threads)?), Some(lgbm::Predictor::load(e, threads)?), Some(shap::Ensemble::parse(m)?))
            }
            (Kind::Lightgbm, _, _) => {
                return Err(Error::Usage(format!("model version `{}` is missing its model files; retrain with `healthscore train`", s.card.version)));
            }
            _ => (None, None, None),
        };
        Ok(Model { card: s.card, hazard, expansion, calibration: s.calibration, ensemble })
    }

    pub fn is_rules(&self) -> bool {
        self.card.kind == Kind::Rules
    }

    /// The rules score on this model's features, for comparing reasons
    /// (uncalibrated: its probabilities are null).
    pub fn rules_twin(&self) -> Model {
        let mut card = self.card.clone();
        card.kind = Kind::Rules;
        Model { card, hazard: None, expansion: None, calibration: None, ensemble: None }
    }

    /// A rules card whose probabilities were calibrated.
    pub fn rules_calibrated(&self) -> bool {
        self.is_rules() && self.calibration.as_ref().is_some_and(|c| !c.rules.is_empty())
    }

    /// Per-interval calibrated hazards for every row (intervals up to the longest horizon).
    pub fn hazards(&self, frame: &Frame) -> Result<Vec<Vec<f64>>> {
        self.hazards_for(frame, self.card.horizons.iter().max().copied().unwrap_or(90) / INTERVAL_DAYS)
    }

    /// The calibrated hazards of the first `k_max` 30-day intervals after
    /// `as_of` (none for the rules score). Past the longest trained horizon
    /// the model extrapolates: its interval input is beyond every split it
    /// learnt, so those intervals get the last trained interval's baseline,
    /// while `days_to_renewal`, counted from each interval's start, still
    /// brings the renewal's risk to the interval that holds it.
    pub fn hazards_for(&self, frame: &Frame, k_max: u32) -> Result<Vec<Vec<f64>>> {
        let (Some(h), Some(c)) = (&self.hazard, &self.calibration) else { return Ok(vec![]) };
        let mut per_row = vec![Vec::with_capacity(k_max as usize); frame.rows()];
        for k in 0..k_max {
            let p = h.predict(&hazard_matrix(frame, k, false))?;
            for (i, v) in p.into_iter().enumerate() {
                per_row[i].push(c.hazard.apply(v));
            }
        }
        Ok(per_row)
    }

    /// Every score of every row, with its reasons: the model's TreeSHAP
    /// contributions (whose sum is the renewal-now log-odds), or the rules
    /// score's points.
    pub fn predict(&self, frame: &Frame, features: &[&Feature], weights: &BTreeMap<String, f64>) -> Result<Scores> {
        self.scores(frame, features, weights, true)
    }

    /// The same scores without the model's reasons (`contributions` is empty
    /// for a model): the renewal-now probability comes from LightGBM's own
    /// prediction rather than TreeSHAP's sum, which is the same number but
    /// costs a TreeSHAP pass. For measuring a model, not explaining it.
    pub fn probabilities(&self, frame: &Frame, features: &[&Feature], weights: &BTreeMap<String, f64>) -> Result<Scores> {
        self.scores(frame, features, weights, false)
    }

    fn scores(&self, frame: &Frame, features: &[&Feature], weights: &BTreeMap<String, f64>, explain: bool) -> Result<Scores> {
        let n = frame.rows();
        let w = frame.width();
        if self.is_rules() {
            let r = rules::score(frame, features, weights);
            // calibrated on the validation window when the card could be;
            // a running max keeps p30 <= p60 <= p90
            let maps = self.calibration.as_ref().filter(|c| c.rules.len() == self.card.horizons.len());
            let (p_churn, p_expand) = match maps {
                Some(c) => {
                    let mut p: Vec<Vec<f64>> = c.rules.iter().map(|m| r.health.iter().map(|h| m.apply(1.0 - h / 100.0)).collect()).collect();
                    for k in 1..p.len() {
                        for i in 0..n {
                            p[k][i] = p[k][i].max(p[k - 1][i]);
                        }
                    }
                    (p, r.health.iter().map(|h| c.expansion.apply(h / 100.0)).collect())
                }
                None => (self.card.horizons.iter().map(|_| vec![f64::NAN; n]).collect(), vec![f64::NAN; n]),
            };
            return Ok(Scores {
                p_churn,
                p_expand,
                p_churn_at_renewal: vec![None; n],
                health: r.health,
                contributions: r.contributions.iter().map(|c| -c).collect(),
                hazards: vec![vec![]; n],
            });
        }
        let (Some(hz), Some(exp), Some(cal), Some(ens)) = (&self.hazard, &self.expansion, &self.calibration, &self.ensemble) else {
            return Err(Error::Usage("the model has no expansion model or calibration".into()));
        };
        let hazards = self.hazards(frame)?;
        let mut p_churn: Vec<Vec<f64>> = self.card.horizons.iter().map(|_| Vec::with_capacity(n)).collect();
        for hz in &hazards {
            for (k, p) in cumulative(hz, &self.card.horizons).into_iter().enumerate() {
                p_churn[k].push(p);
            }
        }
        let p_expand: Vec<f64> = exp.predict(&frame.x)?.into_iter().map(|p| cal.expansion.apply(p)).collect();
        let now = hazard_matrix(frame, 0, true);
        if !explain {
            let p_now: Vec<f64> = hz.predict(&now)?.into_iter().map(|p| cal.hazard.apply(p)).collect();
            let health = p_now.iter().map(|p| 100.0 * (1.0 - p)).collect();
            return Ok(Scores { p_churn, p_expand, p_churn_at_renewal: p_now.into_iter().map(Some).collect(), health, contributions: vec![], hazards });
        }
        let t = std::time::Instant::now();
        let contrib = ens.contributions(&now);
        let secs = t.elapsed().as_secs_f64();
        tracing::info!(
            stage = "score.shap",
            secs,
            "explained {n} rows with TreeSHAP ({} trees) in {secs:.2}s, {:.0} rows/s",
            ens.trees.len(),
            n as f64 / secs.max(1e-9)
        );
        let mut p_now = Vec::with_capacity(n);
        let mut contributions = vec![0.0; n * w];
        for i in 0..n {
            let row = &contrib[i * (w + 2)..(i + 1) * (w + 2)];
            let raw: f64 = row.iter().sum();
            p_now.push(cal.hazard.apply(sigmoid(raw)));
            contributions[i * w..(i + 1) * w].copy_from_slice(&row[..w]);
        }
        let health = p_now.iter().map(|p| 100.0 * (1.0 - p)).collect();
        Ok(Scores { p_churn, p_expand, p_churn_at_renewal: p_now.into_iter().map(Some).collect(), health, contributions, hazards })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn frame(rows: &[[f64; 2]]) -> Frame {
        Frame {
            account_id: (0..rows.len()).map(|i| format!("a{i}")).collect(),
            as_of: vec![0; rows.len()],
            names: vec!["tenure_days".into(), "days_to_renewal".into()],
            categorical: vec![false, false],
            x: rows.iter().flatten().copied().collect(),
            segment: vec![],
        }
    }

    #[test]
    fn intervals_count_days_to_renewal_from_their_start() {
        let x = hazard_matrix(&frame(&[[400.0, 50.0], [400.0, f64::NAN]]), 2, false);
        // row: tenure, days_to_renewal, interval start
        assert_eq!(&x[..3], &[400.0, (50.0f64 - 60.0).rem_euclid(365.0), 60.0]);
        assert!(x[4].is_nan(), "unknown renewal stays unknown");
    }

    #[test]
    fn the_renewal_now_question_ages_tenure_to_the_accounts_own_renewal() {
        let x = hazard_matrix(&frame(&[[40.0, 325.0], [800.0, 10.0], [100.0, f64::NAN]]), 0, true);
        assert_eq!(&x[..3], &[40.0 + 310.0, RENEWAL_NOW_DAYS, 0.0]);
        // already within the renewal window: asked as it is
        assert_eq!(&x[3..6], &[800.0, RENEWAL_NOW_DAYS, 0.0]);
        // no known renewal: tenure as it is
        assert_eq!(&x[6..9], &[100.0, RENEWAL_NOW_DAYS, 0.0]);
    }

    #[test]
    fn cumulative_churn_is_monotone_across_horizons() {
        let c = cumulative(&[0.1, 0.2, 0.05], &[30, 60, 90]);
        assert!((c[0] - 0.1).abs() < 1e-12);
        assert!((c[1] - (1.0 - 0.9 * 0.8)).abs() < 1e-12);
        assert!(c[0] <= c[1] && c[1] <= c[2]);
    }
}
