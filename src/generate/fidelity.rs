//! Reason fidelity: a property of the generated company, not of scoring.
//! The generator plants each churner's causes in `_truth/` beside the export;
//! this checks a scoring run's risk reasons against them (the demo and the
//! quality benchmark report it). On an export nobody generated there is no
//! `_truth` and nothing to check.

use std::collections::HashMap;

use crate::dates::day;
use crate::engine::Engine;
use crate::error::Result;
use crate::columns;
use crate::output::tables::account_scores::Row as AccountScore;
use crate::score::Scored;

/// Days a planted cause needs before its signals can show (a monthly
/// invoice falls due, a survey goes out, a trend window fills).
pub const VISIBLE_AFTER_DAYS: i32 = 30;

/// How well reasons name what is really wrong (generated data only): for
/// accounts that churned within `horizon` days after `as_of` with a planted
/// cause visible by then, how often one of the cause's features is the top
/// (top-1) or among the top three (top-3) risk reasons — beside what reasons
/// drawn at random from the explainable features would score, and how often
/// healthy accounts (no cause planted near `as_of`, no churn) are given a
/// cause's features as their top risk (the false alarm).
#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct Fidelity {
    pub churners: usize,
    /// Churners with an observable planted cause that began before `as_of`.
    pub judged: usize,
    /// Churners whose planted cause began less than `VISIBLE_AFTER_DAYS` before `as_of`.
    pub not_yet: usize,
    pub top1: usize,
    pub top3: usize,
    /// Expected hits of three reasons drawn at random from the explainable features.
    pub random_top1: f64,
    pub random_top3: f64,
    pub healthy: usize,
    /// Mean over causes of the share of healthy accounts whose top risk
    /// reason is one of that cause's features.
    pub false_alarm: f64,
}

impl Fidelity {
    pub fn share(&self) -> f64 {
        self.rate(self.top3)
    }
    pub fn rate(&self, hits: usize) -> f64 {
        if self.judged == 0 { 0.0 } else { hits as f64 / self.judged as f64 }
    }
}

/// C(n, k) as a float (small n).
fn choose(n: usize, k: usize) -> f64 {
    if k > n {
        return 0.0;
    }
    (0..k).fold(1.0, |acc, i| acc * (n - i) as f64 / (i + 1) as f64)
}

/// Reads `_truth` beside the export and checks `scored`'s reasons against it.
pub async fn check(engine: &Engine, scored: &Scored, horizon: i32) -> Result<Option<Fidelity>> {
    let truth = engine.cfg.warehouse.join("_truth/");
    let files = engine.stores.blob(&truth)?.list().await?;
    if files.is_empty() {
        return Ok(None);
    }
    engine.register_parquet("_truth", &truth).await?;
    let a = day(scored.as_of);
    let explainable: Vec<&str> = scored.features.iter().filter(|f| f.explain).map(|f| f.name.as_str()).collect();
    let e = explainable.len();
    let by_id: HashMap<&str, &AccountScore> = scored.rows.iter().map(|r| (r.account_id.as_str(), r)).collect();
    let top = |r: &AccountScore, k: usize| -> Vec<String> { r.risk.iter().take(k).map(|(n, _)| n.clone()).collect() };
    let mut f = Fidelity::default();
    let sql = format!(
        "SELECT account_id, causes, CAST(onset AS INT) AS onset FROM _truth \
         WHERE outcome = 'churned' AND CAST(resolved AS INT) >= {a} AND CAST(resolved AS INT) < {}",
        a + horizon
    );
    for b in engine.query(&sql).await? {
        let ids = columns::strings(&b, "account_id")?;
        let causes = columns::strings(&b, "causes")?;
        let onset = columns::floats(&b, "onset")?;
        for i in 0..b.num_rows() {
            let Some(r) = ids[i].as_deref().and_then(|id| by_id.get(id)) else { continue };
            f.churners += 1;
            let cs = causes[i].clone().unwrap_or_default();
            let mut measures: Vec<&str> = cs.split(',').flat_map(|c| super::cause_features(c).iter().copied()).filter(|n| explainable.contains(n)).collect();
            measures.sort();
            measures.dedup();
            // A cause must have begun a month before `as_of` to show in its data.
            if measures.is_empty() || !(onset[i] <= (a - VISIBLE_AFTER_DAYS) as f64) {
                if !measures.is_empty() {
                    f.not_yet += 1;
                }
                continue;
            }
            f.judged += 1;
            let k = measures.len();
            let hit = |n: usize| top(r, n).iter().any(|t| measures.contains(&t.as_str()));
            f.top1 += hit(1) as usize;
            f.top3 += hit(3) as usize;
            f.random_top1 += k as f64 / e.max(1) as f64;
            f.random_top3 += 1.0 - choose(e.saturating_sub(k), 3) / choose(e, 3).max(1.0);
            if !hit(3) {
                tracing::debug!("fidelity miss: {} planted {cs}, top risk reasons {:?}", r.account_id, top(r, 3));
            }
        }
    }
    // healthy: no planted cause active within half a year before `as_of` or
    // up to the horizon after it, and no churn in the horizon
    let troubled: std::collections::HashSet<String> = engine
        .query(&format!(
            "SELECT DISTINCT account_id FROM _truth WHERE causes <> '' AND CAST(onset AS INT) < {} \
             AND (resolved IS NULL OR CAST(resolved AS INT) >= {})",
            a + horizon,
            a - 180
        ))
        .await?
        .iter()
        .map(|b| columns::strings(b, "account_id"))
        .collect::<Result<Vec<_>>>()?
        .into_iter()
        .flatten()
        .flatten()
        .collect();
    let healthy: Vec<&AccountScore> = scored.rows.iter().filter(|r| !troubled.contains(&r.account_id)).collect();
    f.healthy = healthy.len();
    if !healthy.is_empty() {
        let per_cause: Vec<f64> = super::CAUSES
            .iter()
            .map(|c| {
                let feats = super::cause_features(c);
                healthy.iter().filter(|r| top(r, 1).iter().any(|t| feats.contains(&t.as_str()))).count() as f64 / healthy.len() as f64
            })
            .collect();
        f.false_alarm = per_cause.iter().sum::<f64>() / per_cause.len() as f64;
    }
    Ok(Some(f))
}
