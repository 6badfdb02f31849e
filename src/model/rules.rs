//! The rules score: the baseline every model is compared with, and what
//! scoring uses in a cold start (too few churns to learn from).
//!
//! Each feature in a weighted signal group (usage, adoption, support, payment,
//! engagement) is turned into a 0–1 "healthy" score: its percentile among
//! peers of the same segment on the same date, flipped for features where a
//! higher value is the risk. A group's score is the mean of its features';
//! a group with no values for an account has its weight shared out among the
//! others. Health = 100 × the weighted mean. Each feature's part of the
//! distance from 50 is its contribution, so reasons come from the same
//! breakdown.

use std::collections::{BTreeMap, HashMap};

use super::frame::Frame;
use crate::features::{Direction, Feature};

pub struct RulesScore {
    /// 0–100 per row, higher is healthier.
    pub health: Vec<f64>,
    /// rows × frame width, in health points (negative = risk).
    pub contributions: Vec<f64>,
}

/// Percentile (mid-rank, 0..1) of each row's value among its peer group.
fn peer_percentiles(frame: &Frame, j: usize) -> Vec<f64> {
    let n = frame.rows();
    let mut groups: HashMap<(i32, &str), Vec<usize>> = HashMap::new();
    for i in 0..n {
        let seg = frame.segment.get(i).map(String::as_str).unwrap_or("");
        groups.entry((frame.as_of[i], seg)).or_default().push(i);
    }
    let mut out = vec![f64::NAN; n];
    for (_, mut idx) in groups {
        idx.retain(|i| !frame.value(*i, j).is_nan());
        idx.sort_by(|a, b| frame.value(*a, j).total_cmp(&frame.value(*b, j)));
        let m = idx.len();
        let mut k = 0;
        while k < m {
            let mut e = k;
            while e + 1 < m && frame.value(idx[e + 1], j) == frame.value(idx[k], j) {
                e += 1;
            }
            let pct = if m == 1 { 0.5 } else { (k + e) as f64 / 2.0 / (m - 1) as f64 };
            for t in k..=e {
                out[idx[t]] = pct;
            }
            k = e + 1;
        }
    }
    out
}

pub fn score(frame: &Frame, features: &[&Feature], weights: &BTreeMap<String, f64>) -> RulesScore {
    let n = frame.rows();
    let w = frame.width();
    // (column, group, healthy score per row)
    let mut signals: Vec<(usize, &str, Vec<f64>)> = Vec::new();
    for f in features {
        if f.direction == Direction::None || !weights.get(&f.group).is_some_and(|w| *w > 0.0) {
            continue;
        }
        let Some(j) = frame.col(&f.name) else { continue };
        let mut p = peer_percentiles(frame, j);
        if f.direction == Direction::HigherIsRisk {
            p.iter_mut().for_each(|v| *v = 1.0 - *v);
        }
        signals.push((j, f.group.as_str(), p));
    }
    let mut health = vec![50.0; n];
    let mut contributions = vec![0.0; n * w];
    for i in 0..n {
        let mut per_group: BTreeMap<&str, Vec<(usize, f64)>> = BTreeMap::new();
        for (j, g, p) in &signals {
            if !p[i].is_nan() {
                per_group.entry(*g).or_default().push((*j, p[i]));
            }
        }
        let total: f64 = per_group.keys().map(|g| weights[*g]).sum();
        if total <= 0.0 {
            continue;
        }
        let mut h = 0.0;
        for (g, vals) in &per_group {
            let share = weights[*g] / total / vals.len() as f64;
            for (j, s) in vals {
                h += share * s;
                contributions[i * w + j] = share * (s - 0.5) * 100.0;
            }
        }
        health[i] = 100.0 * h;
    }
    RulesScore { health, contributions }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn frame(values: &[[f64; 2]]) -> Frame {
        Frame {
            account_id: (0..values.len()).map(|i| format!("a{i}")).collect(),
            as_of: vec![0; values.len()],
            names: vec!["logins".into(), "tickets".into()],
            categorical: vec![false, false],
            x: values.iter().flatten().copied().collect(),
            segment: vec![],
        }
    }

    #[test]
    fn the_rules_score_ranks_each_signal_among_peers_by_its_direction() {
        let logins = Feature::for_test("logins", "usage", Direction::LowerIsRisk, None, None);
        let tickets = Feature::for_test("tickets", "support", Direction::HigherIsRisk, None, None);
        let weights: BTreeMap<String, f64> = [("usage".to_string(), 1.0), ("support".to_string(), 1.0)].into();
        let f = frame(&[[1.0, 9.0], [2.0, 5.0], [3.0, 1.0], [f64::NAN, f64::NAN]]);
        let s = score(&f, &[&logins, &tickets], &weights);
        // few logins and many tickets: the least healthy; the opposite: the healthiest
        assert_eq!(s.health[0], 0.0);
        assert_eq!(s.health[1], 50.0);
        assert_eq!(s.health[2], 100.0);
        assert_eq!(s.health[3], 50.0, "no signal at all: the middle");
        // each signal's contribution is its share × its distance from the middle
        assert_eq!((s.contributions[0], s.contributions[1]), (-25.0, -25.0));
        assert_eq!((s.contributions[4], s.contributions[5]), (25.0, 25.0));
    }

    #[test]
    fn a_group_without_weight_does_not_count() {
        let logins = Feature::for_test("logins", "usage", Direction::LowerIsRisk, None, None);
        let tickets = Feature::for_test("tickets", "support", Direction::HigherIsRisk, None, None);
        let weights: BTreeMap<String, f64> = [("usage".to_string(), 1.0), ("support".to_string(), 0.0)].into();
        let s = score(&frame(&[[1.0, 1.0], [3.0, 9.0]]), &[&logins, &tickets], &weights);
        assert_eq!(s.health, vec![0.0, 100.0], "only logins rank the accounts");
        assert_eq!(s.contributions[1], 0.0);
    }
}
