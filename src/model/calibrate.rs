//! Isotonic calibration: a non-decreasing map from a model's probability to
//! the observed rate, fitted by pool-adjacent-violators on the validation
//! window and applied with linear interpolation between block centres.
//!
//! Churn is modelled as a hazard per 30-day interval and all intervals share
//! one calibrator; cumulative churn 1 − Π(1 − h) is then monotone across
//! horizons by construction, which per-horizon calibrators would not be.

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Isotonic {
    /// Block centres (mean input), strictly increasing.
    pub x: Vec<f64>,
    /// Block rates, non-decreasing.
    pub y: Vec<f64>,
}

impl Isotonic {
    /// Pool-adjacent-violators over the scores sorted ascending. Rows with
    /// the same score form one block from the start (a tied group has one
    /// rate, its mean), so block centres are strictly increasing and no
    /// block is ever dropped.
    pub fn fit(p: &[f64], y: &[bool]) -> Isotonic {
        let mut idx: Vec<usize> = (0..p.len()).filter(|i| p[*i].is_finite()).collect();
        idx.sort_by(|a, b| p[*a].total_cmp(&p[*b]));
        // blocks of (sum_x, sum_y, weight)
        let mut blocks: Vec<(f64, f64, f64)> = Vec::new();
        let mut i = 0;
        while i < idx.len() {
            let mut tie = (0.0, 0.0, 0.0);
            let v = p[idx[i]];
            while i < idx.len() && p[idx[i]] == v {
                tie = (tie.0 + v, tie.1 + if y[idx[i]] { 1.0 } else { 0.0 }, tie.2 + 1.0);
                i += 1;
            }
            blocks.push(tie);
            while blocks.len() >= 2 {
                let n = blocks.len();
                let (a, b) = (blocks[n - 2], blocks[n - 1]);
                if a.1 / a.2 >= b.1 / b.2 {
                    blocks.truncate(n - 2);
                    blocks.push((a.0 + b.0, a.1 + b.1, a.2 + b.2));
                } else {
                    break;
                }
            }
        }
        let (x, y) = blocks.iter().map(|(sx, sy, w)| (sx / w, sy / w)).unzip();
        Isotonic { x, y }
    }

    /// The identity map: what a model whose validation window cannot
    /// calibrate it carries (the card says "uncalibrated").
    pub fn identity() -> Isotonic {
        Isotonic { x: vec![], y: vec![] }
    }

    pub fn is_identity(&self) -> bool {
        self.x.is_empty()
    }

    pub fn apply(&self, p: f64) -> f64 {
        let n = self.x.len();
        if n == 0 {
            return p;
        }
        if p <= self.x[0] {
            return self.y[0];
        }
        if p >= self.x[n - 1] {
            return self.y[n - 1];
        }
        let j = self.x.partition_point(|v| *v <= p);
        let (x0, x1, y0, y1) = (self.x[j - 1], self.x[j], self.y[j - 1], self.y[j]);
        y0 + (y1 - y0) * (p - x0) / (x1 - x0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn isotonic_is_monotone_and_fixes_a_biased_score() {
        // true rate is p/2: the calibrator must halve it
        let p: Vec<f64> = (0..2000).map(|i| (i % 100) as f64 / 100.0).collect();
        let y: Vec<bool> = (0..2000).map(|i| ((i / 100) as f64 / 20.0) < p[i] / 2.0).collect();
        let c = Isotonic::fit(&p, &y);
        let mut last = -1.0;
        for k in 0..=100 {
            let v = c.apply(k as f64 / 100.0);
            assert!(v >= last - 1e-12);
            last = v;
        }
        assert!((c.apply(0.8) - 0.4).abs() < 0.08, "{}", c.apply(0.8));
    }

    /// Regression: blocks of equal scores were collapsed by dropping the
    /// earlier ones, so a tied top group with a true rate of 0.2 came out at 1.0.
    #[test]
    fn tied_scores_are_pooled_not_dropped() {
        let mut p = vec![0.1; 50];
        let mut y = vec![false; 50];
        y[0] = true; // 2 % at the bottom
        p.extend([0.9; 10]);
        y.extend([true, true, false, false, false, false, false, false, false, false]);
        let c = Isotonic::fit(&p, &y);
        assert!((c.apply(0.9) - 0.2).abs() < 1e-12, "tied top group: {}", c.apply(0.9));
        assert!((c.apply(0.1) - 0.02).abs() < 1e-12, "bottom group: {}", c.apply(0.1));
        assert!(c.x.windows(2).all(|w| w[0] < w[1]), "centres must increase strictly: {:?}", c.x);
    }

    #[test]
    fn a_violating_pair_is_pooled_into_its_mean() {
        let c = Isotonic::fit(&[0.1, 0.2, 0.3], &[false, true, false]);
        // 0.1 → 0; 0.2 and 0.3 violate (1 then 0) and pool to 0.5
        assert_eq!(c.y, vec![0.0, 0.5]);
        assert!((c.x[1] - 0.25).abs() < 1e-12);
    }

    #[test]
    fn identity_leaves_probabilities_alone() {
        let c = Isotonic::identity();
        assert!(c.is_identity());
        assert_eq!(c.apply(0.37), 0.37);
    }
}
