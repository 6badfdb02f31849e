//! `healthscore effectiveness`: whether each playbook's alerts helped.
//!
//! The unit is an account, a playbook and a cohort (the control group is
//! drawn per cohort: the account's next renewal, see `cohort`), so an
//! account held out stays held out while the playbook keeps firing. A unit
//! is *treated* when one of its alerts was sent, *control* when it was held
//! out; units only ever suppressed otherwise (cooldown, cap, override,
//! shadow) are neither. Its outcome is the account's churn (and expansion)
//! within 90 days of its first alert, from the labels SQL with training's
//! censoring: a unit whose 90 days have not passed is *maturing*, not a
//! "stayed". Treated and control are compared by the difference of their
//! rates with Newcombe's hybrid score interval (good at small counts and
//! rates near 0), and by the share of churn prevented, 1 − RR, with the
//! log risk-ratio interval.

use std::collections::{BTreeMap, HashMap};

use crate::model::train::Label;
use crate::output::tables::alerts::{Earlier, Suppression};
use crate::output::tables::effectiveness::{Interval, Row};

/// The 95 % normal quantile.
const Z: f64 = 1.959_963_984_540_054;

/// Wilson's score interval of `k` in `n`.
pub fn wilson(k: usize, n: usize) -> (f64, f64) {
    let (k, n) = (k as f64, n as f64);
    let p = k / n;
    let z2 = Z * Z;
    let centre = (p + z2 / (2.0 * n)) / (1.0 + z2 / n);
    let half = Z * (p * (1.0 - p) / n + z2 / (4.0 * n * n)).sqrt() / (1.0 + z2 / n);
    ((centre - half).max(0.0), (centre + half).min(1.0))
}

/// p₁ − p₂ with Newcombe's hybrid score interval (method 10).
pub fn difference(k1: usize, n1: usize, k2: usize, n2: usize) -> Option<Interval> {
    if n1 == 0 || n2 == 0 {
        return None;
    }
    let (p1, p2) = (k1 as f64 / n1 as f64, k2 as f64 / n2 as f64);
    let ((l1, u1), (l2, u2)) = (wilson(k1, n1), wilson(k2, n2));
    let d = p1 - p2;
    Some(Interval { value: d, low: d - ((p1 - l1).powi(2) + (u2 - p2).powi(2)).sqrt(), high: d + ((u1 - p1).powi(2) + (p2 - l2).powi(2)).sqrt() })
}

/// 1 − p₁ / p₂, the share of the control's rate the treatment removed, with
/// the interval of the log risk ratio (none without events in both groups).
pub fn reduction(k1: usize, n1: usize, k2: usize, n2: usize) -> Option<Interval> {
    if k1 == 0 || k2 == 0 {
        return None;
    }
    let rr = (k1 as f64 / n1 as f64) / (k2 as f64 / n2 as f64);
    let se = (1.0 / k1 as f64 - 1.0 / n1 as f64 + 1.0 / k2 as f64 - 1.0 / n2 as f64).sqrt();
    Some(Interval { value: 1.0 - rr, low: 1.0 - rr * (Z * se).exp(), high: 1.0 - rr * (-Z * se).exp() })
}

/// One account × playbook × cohort.
#[derive(Debug, Clone, PartialEq)]
pub struct Unit {
    pub playbook: String,
    pub account_id: String,
    /// Its first alert sent or held out (days since 1970-01-01).
    pub first: i32,
    pub treated: bool,
    pub alert_ids: Vec<String>,
}

/// The units of `alerts` (of any number of runs).
pub fn units(alerts: &[Earlier]) -> Vec<Unit> {
    let mut by: BTreeMap<(&str, &str, i32), Unit> = BTreeMap::new();
    for a in alerts {
        let (treated, control) = (a.suppressed_by.is_none(), a.suppressed_by == Some(Suppression::ControlGroup));
        if !treated && !control {
            continue;
        }
        let u = by.entry((a.playbook.as_str(), a.account_id.as_str(), a.cohort)).or_insert_with(|| Unit {
            playbook: a.playbook.clone(),
            account_id: a.account_id.clone(),
            first: a.as_of,
            treated,
            alert_ids: vec![],
        });
        u.first = u.first.min(a.as_of);
        u.treated |= treated;
        u.alert_ids.push(a.alert_id.clone());
    }
    by.into_values().collect()
}

/// Per playbook: the treated against the control units whose outcome has
/// matured; `labels` at (account, first alert); `feedback` alert id →
/// helpful; below `min_units` in either group, "not enough data yet".
pub fn measure(units: &[Unit], labels: &HashMap<(String, i32), Label>, expansion_horizon: u32, feedback: &HashMap<String, bool>, min_units: usize, from: i32) -> Vec<Row> {
    let mut rows: BTreeMap<&str, Row> = BTreeMap::new();
    for u in units {
        let r = rows.entry(u.playbook.as_str()).or_insert_with(|| Row { playbook: u.playbook.clone(), from, ..Default::default() });
        for id in &u.alert_ids {
            if let Some(h) = feedback.get(id) {
                r.feedback += 1;
                r.helpful += *h as usize;
            }
        }
        let label = labels.get(&(u.account_id.clone(), u.first));
        let Some(churned) = label.and_then(|l| l.churned_within(90)) else {
            r.maturing += 1;
            continue;
        };
        let expanded = label.and_then(|l| l.expanded_within(expansion_horizon)).unwrap_or(false);
        if u.treated {
            r.treated += 1;
            r.treated_churned += churned as usize;
            r.treated_expanded += expanded as usize;
        } else {
            r.control += 1;
            r.control_churned += churned as usize;
            r.control_expanded += expanded as usize;
        }
    }
    for r in rows.values_mut() {
        r.churn_difference = difference(r.treated_churned, r.treated, r.control_churned, r.control);
        r.churn_reduction = reduction(r.treated_churned, r.treated, r.control_churned, r.control);
        r.expansion_difference = difference(r.treated_expanded, r.treated, r.control_expanded, r.control);
        r.verdict = verdict(r, min_units);
    }
    rows.into_values().collect()
}

fn verdict(r: &Row, min_units: usize) -> String {
    if r.treated < min_units || r.control < min_units {
        return format!(
            "not enough data yet: {} treated and {} control units have matured, {min_units} of each are needed{}",
            r.treated,
            r.control,
            if r.maturing > 0 { format!(" ({} maturing)", r.maturing) } else { String::new() }
        );
    }
    let Some(d) = r.churn_difference else { return "not enough data yet".into() };
    let pts = |v: f64| format!("{:.1}", 100.0 * v.abs());
    let ci = format!("95% interval {:+.1} to {:+.1} points", 100.0 * d.low, 100.0 * d.high);
    if d.high < 0.0 {
        format!("helped: {} points less churn within 90 days ({ci})", pts(d.value))
    } else if d.low > 0.0 {
        format!("harmed: {} points more churn within 90 days ({ci})", pts(d.value))
    } else {
        format!("no measurable effect on churn ({ci})")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wilson_and_newcombe_match_the_published_examples() {
        // Newcombe (1998), table II, example (a): 56/70 vs 48/80 → 0.2000 (0.0524, 0.3339)
        let d = difference(56, 70, 48, 80).unwrap();
        assert!((d.value - 0.2).abs() < 1e-12);
        assert!((d.low - 0.0524).abs() < 5e-4 && (d.high - 0.3339).abs() < 5e-4, "{d:?}");
        // Wilson at 0 events stays inside [0, 1]
        let (l, u) = wilson(0, 10);
        assert!(l == 0.0 && (u - 0.2775).abs() < 5e-4, "{u}");
    }

    #[test]
    fn the_reduction_is_one_minus_the_risk_ratio() {
        let r = reduction(20, 200, 20, 100).unwrap();
        assert!((r.value - 0.5).abs() < 1e-12);
        assert!(r.low < 0.5 && r.high > 0.5 && r.high < 1.0, "{r:?}");
        assert!(reduction(0, 100, 5, 50).is_none(), "no events: no ratio");
    }

    fn alert(account: &str, playbook: &str, as_of: i32, cohort: i32, s: Option<Suppression>) -> Earlier {
        Earlier { alert_id: format!("{account}-{playbook}-{as_of}"), account_id: account.into(), playbook: playbook.into(), as_of, cohort, suppressed_by: s }
    }

    #[test]
    fn a_unit_is_an_account_playbook_and_cohort_and_only_sent_or_held_out_alerts_count() {
        let a = vec![
            alert("a", "p", 100, 150, None),
            alert("a", "p", 130, 150, Some(Suppression::Cooldown)),
            alert("a", "p", 200, 500, Some(Suppression::ControlGroup)),
            alert("b", "p", 130, 150, Some(Suppression::Shadow)),
            alert("c", "p", 130, 150, Some(Suppression::ControlGroup)),
        ];
        let u = units(&a);
        assert_eq!(u.iter().map(|u| (u.account_id.as_str(), u.first, u.treated)).collect::<Vec<_>>(), vec![("a", 100, true), ("a", 200, false), ("c", 130, false)]);
    }

    #[test]
    fn the_measure_compares_matured_units_and_says_when_there_are_too_few() {
        let mut units = Vec::new();
        let mut labels = HashMap::new();
        for i in 0..400 {
            let (id, treated) = (format!("a{i}"), i % 4 != 0);
            // treated churn 10 %, control 30 %; every tenth unit not matured yet
            let churned = if treated { i % 10 == 1 } else { i % 20 < 6 };
            let observed = if i % 10 == 9 { 30 } else { 400 };
            labels.insert((id.clone(), 0), Label { days_to_churn: churned.then_some(40), expanded: false, observed_days: observed });
            units.push(Unit { playbook: "save".into(), account_id: id, first: 0, treated, alert_ids: vec![format!("x{i}")] });
        }
        let feedback: HashMap<String, bool> = [("x1".to_string(), true), ("x2".to_string(), false)].into();
        let r = &measure(&units, &labels, 90, &feedback, 30, 0)[0];
        assert_eq!((r.treated + r.control + r.maturing, r.maturing, r.feedback, r.helpful), (400, 40, 2, 1));
        let d = r.churn_difference.unwrap();
        assert!(d.high < 0.0 && r.verdict.starts_with("helped: "), "{r:?}");
        let few = &measure(&units[..60], &labels, 90, &feedback, 30, 0)[0];
        assert!(few.verdict.starts_with("not enough data yet: "), "{}", few.verdict);
    }
}
