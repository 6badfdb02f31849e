//! Evaluation metrics for a probability against a 0/1 outcome: AUC, PR-AUC
//! (average precision), Brier score, log loss, top-decile lift and a decile
//! calibration table. Ties in the score are handled exactly (AUC by mid-ranks).

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Metrics {
    pub rows: usize,
    pub positives: usize,
    pub auc: Option<f64>,
    pub pr_auc: Option<f64>,
    pub brier: Option<f64>,
    pub log_loss: Option<f64>,
    pub top_decile_lift: Option<f64>,
    /// Mean |predicted − observed| over the deciles of the calibration table.
    pub calibration_error: Option<f64>,
    pub calibration: Vec<CalibrationBin>,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct CalibrationBin {
    pub decile: usize,
    pub rows: usize,
    pub predicted: f64,
    pub observed: f64,
}

/// Area under the ROC curve by the rank-sum, with mid-ranks for ties.
pub fn auc(score: &[f64], y: &[bool]) -> Option<f64> {
    let pos = y.iter().filter(|v| **v).count();
    let neg = y.len() - pos;
    if pos == 0 || neg == 0 {
        return None;
    }
    let mut idx: Vec<usize> = (0..score.len()).collect();
    idx.sort_by(|a, b| score[*a].total_cmp(&score[*b]));
    let mut rank_sum = 0.0;
    let mut i = 0;
    while i < idx.len() {
        let mut j = i;
        while j + 1 < idx.len() && score[idx[j + 1]] == score[idx[i]] {
            j += 1;
        }
        let mid = (i + j) as f64 / 2.0 + 1.0;
        for k in i..=j {
            if y[idx[k]] {
                rank_sum += mid;
            }
        }
        i = j + 1;
    }
    Some((rank_sum - pos as f64 * (pos as f64 + 1.0) / 2.0) / (pos as f64 * neg as f64))
}

/// Average precision: the mean of precision at each positive, scores
/// descending (tied scores count as one threshold).
pub fn average_precision(score: &[f64], y: &[bool]) -> Option<f64> {
    let pos = y.iter().filter(|v| **v).count();
    if pos == 0 {
        return None;
    }
    let mut idx: Vec<usize> = (0..score.len()).collect();
    idx.sort_by(|a, b| score[*b].total_cmp(&score[*a]));
    let (mut tp, mut seen, mut ap, mut prev_recall) = (0usize, 0usize, 0.0, 0.0);
    let mut i = 0;
    while i < idx.len() {
        let mut j = i;
        while j + 1 < idx.len() && score[idx[j + 1]] == score[idx[i]] {
            j += 1;
        }
        for k in i..=j {
            seen += 1;
            if y[idx[k]] {
                tp += 1;
            }
        }
        let recall = tp as f64 / pos as f64;
        ap += (recall - prev_recall) * (tp as f64 / seen as f64);
        prev_recall = recall;
        i = j + 1;
    }
    Some(ap)
}

pub fn evaluate(p: &[f64], y: &[bool]) -> Metrics {
    let n = p.len();
    let positives = y.iter().filter(|v| **v).count();
    if n == 0 {
        return Metrics { rows: 0, positives: 0, auc: None, pr_auc: None, brier: None, log_loss: None, top_decile_lift: None, calibration_error: None, calibration: vec![] };
    }
    let yf = |i: usize| if y[i] { 1.0 } else { 0.0 };
    let brier = (0..n).map(|i| (p[i] - yf(i)).powi(2)).sum::<f64>() / n as f64;
    let eps = 1e-15;
    let log_loss = -(0..n)
        .map(|i| {
            let q = p[i].clamp(eps, 1.0 - eps);
            if y[i] { q.ln() } else { (1.0 - q).ln() }
        })
        .sum::<f64>()
        / n as f64;
    // Deciles by predicted value, ascending; the top decile is the last.
    let mut idx: Vec<usize> = (0..n).collect();
    idx.sort_by(|a, b| p[*a].total_cmp(&p[*b]).then(a.cmp(b)));
    let mut calibration = Vec::new();
    for d in 0..10 {
        let lo = d * n / 10;
        let hi = (d + 1) * n / 10;
        if hi <= lo {
            continue;
        }
        let rows = hi - lo;
        let predicted = idx[lo..hi].iter().map(|i| p[*i]).sum::<f64>() / rows as f64;
        let observed = idx[lo..hi].iter().map(|i| yf(*i)).sum::<f64>() / rows as f64;
        calibration.push(CalibrationBin { decile: d + 1, rows, predicted, observed });
    }
    let base = positives as f64 / n as f64;
    let top_decile_lift = calibration.last().filter(|_| base > 0.0).map(|b| b.observed / base);
    let calibration_error = Some(calibration.iter().map(|b| (b.predicted - b.observed).abs()).sum::<f64>() / calibration.len() as f64);
    Metrics {
        rows: n,
        positives,
        auc: auc(p, y),
        pr_auc: average_precision(p, y),
        brier: Some(brier),
        log_loss: Some(log_loss),
        top_decile_lift,
        calibration_error,
        calibration,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn auc_of_a_perfect_and_a_reversed_ranking() {
        let y = [false, false, true, true];
        assert_eq!(auc(&[0.1, 0.2, 0.8, 0.9], &y), Some(1.0));
        assert_eq!(auc(&[0.9, 0.8, 0.2, 0.1], &y), Some(0.0));
        assert_eq!(auc(&[0.5; 4], &y), Some(0.5));
        assert_eq!(auc(&[0.5; 2], &[true, true]), None);
    }

    #[test]
    fn average_precision_matches_a_hand_count() {
        // ranking: + - + → precisions at positives 1/1 and 2/3
        let ap = average_precision(&[0.9, 0.8, 0.7], &[true, false, true]).unwrap();
        assert!((ap - (0.5 * 1.0 + 0.5 * 2.0 / 3.0)).abs() < 1e-12);
    }

    #[test]
    fn calibration_of_a_calibrated_score_is_small() {
        let n = 10_000;
        let p: Vec<f64> = (0..n).map(|i| (i % 100) as f64 / 100.0).collect();
        // outcomes drawn deterministically so that each level's rate matches p
        let y: Vec<bool> = (0..n).map(|i| ((i / 100) as f64) < p[i] * 100.0).collect();
        let m = evaluate(&p, &y);
        assert!(m.calibration_error.unwrap() < 0.02, "{:?}", m.calibration_error);
        assert_eq!(m.calibration.len(), 10);
    }
}
