//! Feature drift: how far each model input's distribution at a scoring
//! date has moved from the training window's, as a population stability
//! index (PSI) over bins fixed at training time.
//!
//! Numeric inputs: the training window's deciles are the cut points (ties
//! merged, so a feature with few values gets fewer bins). Categorical
//! inputs: one bin per code the vocabulary knows and one for codes it does
//! not. Missing values are a bin of their own in both, so a feature that
//! stops arriving drifts too. Empty bins get a floor share (1e-4) so the
//! logarithm stays finite: PSI = Σ (now − then) × ln(now / then).

use serde::{Deserialize, Serialize};

use super::frame::Frame;

/// A model input's distribution over the training window's rows.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Reference {
    pub feature: String,
    pub categorical: bool,
    /// Numeric: the upper edges of every bin but the last (a value v falls
    /// in the first bin whose edge is ≥ v). Categorical: the known codes.
    pub edges: Vec<f64>,
    /// Shares per bin: edges.len() + 1 value bins (the last: above every
    /// edge, or an unknown code), then the missing bin.
    pub shares: Vec<f64>,
}

/// The floor share an empty bin gets.
pub const FLOOR: f64 = 1e-4;

impl Reference {
    pub fn fit(feature: &str, categorical: bool, values: &[f64]) -> Reference {
        let mut known: Vec<f64> = values.iter().copied().filter(|v| !v.is_nan()).collect();
        known.sort_by(f64::total_cmp);
        let edges = if categorical {
            let mut c = known.clone();
            c.dedup();
            c
        } else {
            let mut e: Vec<f64> = (1..10).filter_map(|q| known.get((known.len() * q / 10).saturating_sub(1)).copied()).collect();
            e.dedup();
            // a top edge equal to the maximum would leave the last bin empty
            if e.last().is_some_and(|l| Some(l) == known.last()) {
                e.pop();
            }
            e
        };
        let mut r = Reference { feature: feature.to_string(), categorical, edges, shares: vec![] };
        r.shares = r.distribution(values.iter().copied());
        r
    }

    fn bin(&self, v: f64) -> usize {
        if v.is_nan() {
            return self.edges.len() + 1;
        }
        if self.categorical {
            return self.edges.iter().position(|c| *c == v).unwrap_or(self.edges.len());
        }
        self.edges.partition_point(|e| *e < v)
    }

    /// Shares of `values` over this reference's bins.
    pub fn distribution(&self, values: impl Iterator<Item = f64>) -> Vec<f64> {
        let mut n = vec![0usize; self.edges.len() + 2];
        let mut total = 0usize;
        for v in values {
            n[self.bin(v)] += 1;
            total += 1;
        }
        n.iter().map(|k| if total == 0 { 0.0 } else { *k as f64 / total as f64 }).collect()
    }

    /// The PSI of `values` against this reference, and their missing share.
    pub fn psi(&self, values: impl Iterator<Item = f64>) -> (f64, f64) {
        let now = self.distribution(values);
        let psi = now.iter().zip(&self.shares).map(|(a, e)| {
            let (a, e) = (a.max(FLOOR), e.max(FLOOR));
            (a - e) * (a / e).ln()
        });
        (psi.sum(), *now.last().unwrap_or(&0.0))
    }

    pub fn missing(&self) -> f64 {
        *self.shares.last().unwrap_or(&0.0)
    }
}

/// Every input the card has a reference for, measured on `frame` (the
/// accounts scored at one date), largest drift first. An input the frame
/// lacks is all missing.
pub fn measure(card: &super::card::Card, frame: &Frame, lines: crate::config::Drift) -> Vec<crate::output::tables::feature_drift::Row> {
    let mut out: Vec<_> = card
        .drift
        .iter()
        .map(|r| {
            let (psi, missing_now) = match frame.col(&r.feature) {
                Some(j) => r.psi((0..frame.rows()).map(|i| frame.value(i, j))),
                None => r.psi((0..frame.rows()).map(|_| f64::NAN)),
            };
            crate::output::tables::feature_drift::Row {
                feature: r.feature.clone(),
                categorical: r.categorical,
                psi: (psi * 10_000.0).round() / 10_000.0,
                status: lines.status(psi),
                missing_training: r.missing(),
                missing_now,
            }
        })
        .collect();
    out.sort_by(|a, b| b.psi.total_cmp(&a.psi).then(a.feature.cmp(&b.feature)));
    out
}

/// In words: which inputs crossed which line (None when none did).
pub fn warning(rows: &[crate::output::tables::feature_drift::Row], lines: crate::config::Drift) -> Option<String> {
    let list = |status: &str| rows.iter().filter(|r| r.status == status).map(|r| format!("{} ({:.2})", r.feature, r.psi)).collect::<Vec<_>>();
    let (act, watch) = (list("act"), list("watch"));
    if act.is_empty() && watch.is_empty() {
        return None;
    }
    let mut parts = Vec::new();
    if !act.is_empty() {
        parts.push(format!("{} inputs moved past the act line (PSI ≥ {}): {} — retrain, or check the export for a broken feed", act.len(), lines.act, act.join(", ")));
    }
    if !watch.is_empty() {
        parts.push(format!("{} past the watch line (≥ {}): {}", watch.len(), lines.watch, watch.join(", ")));
    }
    Some(format!("feature drift since training: {}", parts.join("; ")))
}

/// The references of every column of `frame` over `rows`.
pub fn references(frame: &Frame, rows: &[usize]) -> Vec<Reference> {
    (0..frame.width())
        .map(|j| {
            let values: Vec<f64> = rows.iter().map(|i| frame.value(*i, j)).collect();
            Reference::fit(&frame.names[j], frame.categorical[j], &values)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_same_distribution_does_not_drift_and_a_shift_does() {
        let then: Vec<f64> = (0..5000).map(|i| (i % 100) as f64).collect();
        let r = Reference::fit("x", false, &then);
        assert_eq!(r.edges.len(), 9, "deciles: {:?}", r.edges);
        assert!(r.shares.iter().take(10).all(|s| (s - 0.1).abs() < 0.01), "{:?}", r.shares);
        assert!(r.psi(then.iter().copied()).0 < 1e-9);
        // a sample of the same distribution: well below the watch line
        assert!(r.psi((0..700).map(|i| ((i * 37) % 100) as f64)).0 < 0.02);
        // halved: most mass moves to the lower bins
        let (psi, _) = r.psi(then.iter().map(|v| v / 2.0));
        assert!(psi > 0.25, "{psi}");
    }

    #[test]
    fn missing_values_are_a_bin_of_their_own() {
        let then: Vec<f64> = (0..1000).map(|i| (i % 10) as f64).collect();
        let r = Reference::fit("x", false, &then);
        assert_eq!(r.missing(), 0.0);
        let now: Vec<f64> = (0..1000).map(|i| if i % 2 == 0 { f64::NAN } else { (i % 10) as f64 }).collect();
        let (psi, missing) = r.psi(now.iter().copied());
        assert_eq!(missing, 0.5);
        assert!(psi > 0.25, "a feature half gone drifts: {psi}");
    }

    #[test]
    fn categories_unseen_in_training_share_one_bin() {
        let then: Vec<f64> = (0..900).map(|i| (i % 3) as f64).collect();
        let r = Reference::fit("plan", true, &then);
        assert_eq!(r.edges, vec![0.0, 1.0, 2.0]);
        assert!(r.psi(then.iter().copied()).0 < 1e-9);
        let now: Vec<f64> = (0..900).map(|i| if i % 3 == 0 { 7.0 } else { (i % 3) as f64 }).collect();
        let d = r.distribution(now.iter().copied());
        assert!((d[3] - 1.0 / 3.0).abs() < 1e-9 && d[0] == 0.0, "{d:?}");
        assert!(r.psi(now.iter().copied()).0 > 0.25);
    }

    #[test]
    fn a_feature_with_few_values_gets_fewer_bins() {
        let then: Vec<f64> = (0..1000).map(|i| if i % 4 == 0 { 1.0 } else { 0.0 }).collect();
        let r = Reference::fit("flag", false, &then);
        assert_eq!(r.edges, vec![0.0]);
        assert!((r.shares[0] - 0.75).abs() < 1e-9 && (r.shares[1] - 0.25).abs() < 1e-9);
    }
}
