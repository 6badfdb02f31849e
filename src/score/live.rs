//! The live backtest: earlier `account_scores` partitions against the
//! outcomes that have matured since. Unlike `backtest`, which retrains at
//! past origins, this judges the probabilities that were published — the
//! ones a CSM and the playbooks acted on.
//!
//! For each calendar month the newest partition scored before `as_of` is
//! taken; its accounts get their labels from the labels SQL (the same
//! censoring as training: a horizon the export does not yet cover is
//! unknown, never "stayed"); a partition counts once the horizon is observed
//! for most of its accounts. Its calibration error is the mean, over deciles
//! of the predicted `p_churn_{h}d`, of |mean predicted − observed rate|.

use std::collections::BTreeMap;

use chrono::NaiveDate;

use crate::columns;
use crate::config::Config;
use crate::engine::Engine;
use crate::error::Result;
use crate::model::train::labels_at;
use crate::output::tables::account_scores;
use crate::output::Output;

/// One matured scoring partition.
#[derive(Debug, Clone, PartialEq)]
pub struct Partition {
    pub as_of: NaiveDate,
    /// Accounts whose horizon is observed.
    pub accounts: usize,
    pub churned: usize,
    /// Mean |predicted − observed| over deciles of the prediction.
    pub error: f64,
    /// The ROC AUC the published probabilities realised (None when every
    /// account or none churned), to set beside the card's test-window AUC.
    pub auc: Option<f64>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Live {
    /// The churn horizon judged (90 days when modelled, else the longest).
    pub horizon: u32,
    /// The newest matured monthly partitions, newest first (at most `needed`).
    pub partitions: Vec<Partition>,
    /// Monthly partitions scored before `as_of` whose outcomes have not matured yet.
    pub pending: usize,
    pub needed: usize,
    pub bound: f64,
}

impl Live {
    pub fn calibrated(&self) -> bool {
        self.partitions.len() >= self.needed && self.partitions.iter().all(|p| p.error <= self.bound)
    }

    /// In words: what was judged and the verdict.
    pub fn verdict(&self) -> String {
        let errs: Vec<String> = self
            .partitions
            .iter()
            .map(|p| format!("{} {:.3}{}", p.as_of.format("%Y-%m"), p.error, p.auc.map(|a| format!(" (AUC realised {a:.3})")).unwrap_or_default()))
            .collect();
        if self.partitions.len() < self.needed {
            format!(
                "{} of the {} monthly scoring partitions needed have matured {}-day outcomes{}{}",
                self.partitions.len(),
                self.needed,
                self.horizon,
                if self.pending > 0 { format!(" ({} more still maturing)", self.pending) } else { String::new() },
                if errs.is_empty() { String::new() } else { format!("; calibration error {}", errs.join(", ")) }
            )
        } else if self.calibrated() {
            format!("calibrated: mean |predicted − observed| over deciles ≤ {} in the last {} months ({})", self.bound, self.needed, errs.join(", "))
        } else {
            format!("not calibrated: mean |predicted − observed| over deciles above {} in ({})", self.bound, errs.join(", "))
        }
    }
}

/// Mean |mean predicted − observed rate| over ten equal-count bins by prediction.
pub fn decile_error(pairs: &mut [(f64, bool)]) -> f64 {
    pairs.sort_by(|a, b| a.0.total_cmp(&b.0));
    let n = pairs.len();
    let bins = 10.min(n);
    if bins == 0 {
        return f64::NAN;
    }
    let mut sum = 0.0;
    for b in 0..bins {
        let part = &pairs[b * n / bins..(b + 1) * n / bins];
        let p = part.iter().map(|x| x.0).sum::<f64>() / part.len() as f64;
        let y = part.iter().filter(|x| x.1).count() as f64 / part.len() as f64;
        sum += (p - y).abs();
    }
    sum / bins as f64
}

/// The live backtest of the partitions scored before `as_of`. Replaces the
/// engine's `snapshots` view (scoring has finished reading it) with the
/// earlier partitions' accounts, which the labels SQL reads.
pub async fn live(engine: &Engine, cfg: &Config, out: &Output, as_of: NaiveDate, horizons: &[u32], needed: usize, bound: f64) -> Result<Live> {
    let horizon = if horizons.contains(&90) { 90 } else { horizons.iter().copied().max().unwrap_or(90) };
    let t = &account_scores::TABLE;
    // the newest partition of each month before `as_of`
    let mut months: BTreeMap<String, NaiveDate> = BTreeMap::new();
    for p in out.partitions(t.name).await? {
        let Some(d) = t.partition_date(&p) else { continue };
        if d < as_of {
            let m = months.entry(d.format("%Y-%m").to_string()).or_insert(d);
            *m = (*m).max(d);
        }
    }
    let mut live = Live { horizon, partitions: vec![], pending: 0, needed, bound };
    if months.is_empty() {
        return Ok(live);
    }
    let column = account_scores::p_churn(horizon);
    let mut scored: Vec<(NaiveDate, Vec<(String, f64)>)> = Vec::new();
    for d in months.values().rev() {
        let batches = out.read_partition(t.name, &t.partition(*d)).await?.unwrap_or_default();
        let mut rows = Vec::new();
        for b in &batches {
            if b.column_by_name(&column).is_none() {
                continue; // scored with other horizons
            }
            let (ids, p) = (columns::strings(b, account_scores::ACCOUNT_ID)?, columns::floats(b, &column)?);
            rows.extend(ids.into_iter().zip(p).filter_map(|(id, p)| Some((id?, p)).filter(|(_, p)| p.is_finite())));
        }
        scored.push((*d, rows));
    }
    let pairs: Vec<(String, i32)> = scored.iter().flat_map(|(d, rows)| rows.iter().map(move |(id, _)| (id.clone(), crate::dates::day(*d)))).collect();
    let labels = labels_at(engine, cfg, &pairs).await?;
    for (d, rows) in scored {
        let day = crate::dates::day(d);
        let mut pairs: Vec<(f64, bool)> = rows.iter().filter_map(|(id, p)| Some((*p, labels.get(&(id.clone(), day))?.churned_within(horizon)?))).collect();
        // matured: the horizon is observed for most of its accounts
        if rows.is_empty() || pairs.len() * 2 < rows.len() {
            live.pending += 1;
            continue;
        }
        if live.partitions.len() < needed {
            let churned = pairs.iter().filter(|x| x.1).count();
            let (p, y): (Vec<f64>, Vec<bool>) = pairs.iter().copied().unzip();
            let auc = crate::model::metrics::auc(&p, &y);
            let error = decile_error(&mut pairs);
            live.partitions.push(Partition { as_of: d, accounts: pairs.len(), churned, error, auc });
        }
    }
    Ok(live)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_decile_error_is_zero_when_each_decile_matches_and_large_when_it_does_not() {
        // ten bins of ten: in bin b, b of ten churn, predicted b / 10
        let mut good: Vec<(f64, bool)> = (0..100).map(|i| ((i / 10) as f64 / 10.0, i % 10 < i / 10)).collect();
        assert!(decile_error(&mut good) < 1e-12);
        let mut bad: Vec<(f64, bool)> = (0..100).map(|i| (0.9, i % 10 == 0)).collect();
        assert!((decile_error(&mut bad) - 0.8).abs() < 1e-12);
    }

    #[test]
    fn the_verdict_needs_enough_partitions_each_within_the_bound() {
        let p = |m: u32, error: f64| Partition { as_of: NaiveDate::from_ymd_opt(2026, m, 1).unwrap(), accounts: 900, churned: 40, error, auc: Some(0.8) };
        let mut l = Live { horizon: 90, partitions: vec![p(8, 0.01), p(7, 0.02)], pending: 2, needed: 3, bound: 0.05 };
        assert!(!l.calibrated());
        assert!(l.verdict().starts_with("2 of the 3 monthly scoring partitions needed have matured 90-day outcomes (2 more still maturing)"), "{}", l.verdict());
        l.partitions.push(p(6, 0.03));
        assert!(l.calibrated(), "{}", l.verdict());
        l.partitions[1].error = 0.08;
        assert!(!l.calibrated() && l.verdict().starts_with("not calibrated"), "{}", l.verdict());
    }
}
