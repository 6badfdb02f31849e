//! Reasons a CSM can act on: each account's largest risk and positive
//! drivers, rendered through `features.yaml` with the account's own value and
//! its segment's median, and one recommended action.
//!
//! Only features marked `explain: true` become reasons; context (renewal
//! timing, tenure, plan, segment) still counts in the score.

use std::collections::HashMap;

use std::cmp::Ordering;

use crate::domain::Tier;
use crate::features::{Direction, Feature, render};
use crate::model::frame::Frame;

/// Contributions below this (log-odds, or health points for rules) are too
/// small to call a reason.
pub const MIN_CONTRIBUTION: f64 = 0.02;

/// Median of each column per segment, among the scored rows.
pub fn segment_medians(frame: &Frame) -> HashMap<(String, usize), f64> {
    let mut by: HashMap<(String, usize), Vec<f64>> = HashMap::new();
    for i in 0..frame.rows() {
        let seg = frame.segment.get(i).cloned().unwrap_or_default();
        for j in 0..frame.width() {
            let v = frame.value(i, j);
            if !v.is_nan() {
                by.entry((seg.clone(), j)).or_default().push(v);
            }
        }
    }
    by.into_iter()
        .map(|(k, mut v)| {
            v.sort_by(f64::total_cmp);
            let n = v.len();
            let m = if n % 2 == 1 { v[n / 2] } else { (v[n / 2 - 1] + v[n / 2]) / 2.0 };
            (k, m)
        })
        .collect()
}

pub struct Reasons {
    /// (feature, rendered text), largest first.
    pub risk: Vec<(String, String)>,
    pub positive: Vec<(String, String)>,
    pub action: String,
}

fn fill(template: &str, value: &str, median: &str) -> String {
    template.replace("{value}", value).replace("{segment_median}", median)
}

/// Reasons for row `i`. `contrib` is the row's contributions (positive = risk).
#[allow(clippy::too_many_arguments)]
pub fn explain(
    frame: &Frame,
    i: usize,
    contrib: &[f64],
    features: &[&Feature],
    medians: &HashMap<(String, usize), f64>,
    n_risk: usize,
    n_positive: usize,
    tier: Tier,
    p_expand: f64,
) -> Reasons {
    let seg = frame.segment.get(i).cloned().unwrap_or_default();
    let median = |j: usize| medians.get(&(seg.clone(), j)).copied();
    // A reason must point the way its direction says: "only 3 active users"
    // is a risk only below the segment's median, whatever SHAP's baseline.
    let side = |j: usize| -> Option<std::cmp::Ordering> {
        let v = frame.value(i, j);
        if v.is_nan() {
            return None;
        }
        median(j).map(|m| v.total_cmp(&m))
    };
    let is_risk = |j: usize| match (features[j].direction, side(j)) {
        (Direction::LowerIsRisk, Some(Ordering::Less)) | (Direction::HigherIsRisk, Some(Ordering::Greater)) => true,
        _ => false,
    };
    let is_good = |j: usize| match (features[j].direction, side(j)) {
        (Direction::LowerIsRisk, Some(Ordering::Greater)) | (Direction::HigherIsRisk, Some(Ordering::Less)) => true,
        _ => false,
    };
    let mut order: Vec<usize> = (0..frame.width()).filter(|j| features[*j].explain && contrib[*j].is_finite()).collect();
    order.sort_by(|a, b| contrib[*b].total_cmp(&contrib[*a]).then(a.cmp(b)));
    let text = |j: usize, template: &str| {
        let f = features[j];
        let v = render(f.unit, frame.value(i, j));
        let m = medians.get(&(seg.clone(), j)).map(|m| render(f.unit, *m)).unwrap_or_else(|| "n/a".into());
        fill(template, &v, &m)
    };
    let risk: Vec<(String, String)> = order
        .iter()
        .filter(|j| contrib[**j] >= MIN_CONTRIBUTION && is_risk(**j))
        .filter_map(|j| features[*j].reason.as_deref().map(|t| (features[*j].name.clone(), text(*j, t))))
        .take(n_risk)
        .collect();
    let positive: Vec<(String, String)> = order
        .iter()
        .rev()
        .filter(|j| contrib[**j] <= -MIN_CONTRIBUTION && is_good(**j))
        .filter_map(|j| features[*j].positive.as_deref().map(|t| (features[*j].name.clone(), text(*j, t))))
        .take(n_positive)
        .collect();
    let top_action = risk.first().and_then(|(name, _)| features.iter().find(|f| &f.name == name)).and_then(|f| f.action.clone());
    // The top risk's action, whatever the tier: a green account whose
    // champion just left still needs the new champion found.
    let action = match top_action {
        Some(a) => a,
        None if p_expand >= 0.3 => "Expansion signal: talk to the champion about more seats or a higher plan".to_string(),
        None if tier == Tier::Green => "Healthy: keep the regular cadence".to_string(),
        None => "Review the account with its owner: the score is low without one clear driver".to_string(),
    };
    Reasons { risk, positive, action }
}
