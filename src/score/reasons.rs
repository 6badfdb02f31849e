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

/// `{value}`, `{segment_median}`, and `{name}` for each context feature of
/// the row (the text a feature set computes beside the features: which
/// message on which day mentioned an intent).
fn fill(template: &str, value: &str, median: &str, context: &[(String, String)]) -> String {
    let mut out = template.replace("{value}", value).replace("{segment_median}", median);
    for (name, text) in context {
        out = out.replace(&format!("{{{name}}}"), text);
    }
    out
}

/// Reasons for row `i`. `contrib` is the row's contributions (positive = risk);
/// `context` the row's context features, by name, for the templates.
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
    context: &[(String, String)],
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
        fill(template, &v, &m, context)
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

#[cfg(test)]
mod tests {
    use super::*;

    fn setup() -> (Frame, Vec<Feature>, HashMap<(String, usize), f64>) {
        let frame = Frame {
            account_id: vec!["a".into()],
            as_of: vec![0],
            names: vec!["logins".into(), "tickets".into()],
            categorical: vec![false, false],
            x: vec![3.0, 2.0],
            segment: vec!["smb".into()],
        };
        let features = vec![
            Feature::for_test("logins", "usage", Direction::LowerIsRisk, Some("Only {value} logins (segment median {segment_median})"), Some("Call the champion")),
            Feature::for_test("tickets", "support", Direction::HigherIsRisk, Some("{value} tickets"), Some("Review the tickets")),
        ];
        let medians = [(("smb".to_string(), 0), 10.0), (("smb".to_string(), 1), 4.0)].into();
        (frame, features, medians)
    }

    #[test]
    fn a_risk_reason_names_the_value_and_the_segment_median_and_leads_the_action() {
        let (frame, features, medians) = setup();
        let f: Vec<&Feature> = features.iter().collect();
        let r = explain(&frame, 0, &[0.5, 0.0], &f, &medians, 3, 2, Tier::Red, 0.0, &[]);
        assert_eq!(r.risk, vec![("logins".to_string(), "Only 3 logins (segment median 10)".to_string())]);
        assert_eq!(r.action, "Call the champion");
    }

    #[test]
    fn a_reason_must_point_the_way_its_direction_says() {
        let (frame, features, medians) = setup();
        let f: Vec<&Feature> = features.iter().collect();
        // SHAP calls fewer tickets than the median a risk: it is not one
        let r = explain(&frame, 0, &[0.0, 0.4], &f, &medians, 3, 2, Tier::Yellow, 0.0, &[]);
        assert!(r.risk.is_empty(), "{:?}", r.risk);
        assert_eq!(r.action, "Review the account with its owner: the score is low without one clear driver");
        // and few tickets lowering the risk is a positive reason
        let r = explain(&frame, 0, &[0.0, -0.4], &f, &medians, 3, 2, Tier::Green, 0.0, &[]);
        assert_eq!(r.positive.len(), 1);
        assert_eq!(r.action, "Healthy: keep the regular cadence");
        let r = explain(&frame, 0, &[0.0, 0.0], &f, &medians, 3, 2, Tier::Green, 0.4, &[]);
        assert!(r.action.starts_with("Expansion signal"), "{}", r.action);
    }

    #[test]
    fn a_reason_says_which_message_on_which_day_from_the_rows_context() {
        let (frame, mut features, medians) = setup();
        features[1].reason = Some("{tickets_last} mentions moving to a competitor (weight {value})".into());
        let f: Vec<&Feature> = features.iter().collect();
        let ctx = [("tickets_last".to_string(), "A ticket on 2026-10-12".to_string())];
        let r = explain(&frame, 0, &[0.0, 0.0], &f, &medians, 3, 2, Tier::Red, 0.0, &ctx);
        assert!(r.risk.is_empty());
        let frame = Frame { x: vec![3.0, 6.0], ..frame };
        let r = explain(&frame, 0, &[0.0, 0.5], &f, &medians, 3, 2, Tier::Red, 0.0, &ctx);
        assert_eq!(r.risk[0].1, "A ticket on 2026-10-12 mentions moving to a competitor (weight 6)");
    }
}
