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
    pub fn fit(p: &[f64], y: &[bool]) -> Isotonic {
        let mut idx: Vec<usize> = (0..p.len()).collect();
        idx.sort_by(|a, b| p[*a].total_cmp(&p[*b]));
        // blocks of (sum_x, sum_y, weight)
        let mut blocks: Vec<(f64, f64, f64)> = Vec::new();
        for i in idx {
            blocks.push((p[i], if y[i] { 1.0 } else { 0.0 }, 1.0));
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
        let mut x = Vec::new();
        let mut out = Vec::new();
        for (sx, sy, w) in blocks {
            let cx = sx / w;
            // equal centres (possible after merging) collapse to the later block
            if x.last().is_some_and(|l: &f64| *l >= cx) {
                x.pop();
                out.pop();
            }
            x.push(cx);
            out.push(sy / w);
        }
        Isotonic { x, y: out }
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
}
