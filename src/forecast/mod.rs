//! The renewal forecast for finance (issue 16, first part): per account
//! renewing within the window, the chance of churning by its own renewal
//! date and the ARR expected to renew; and the interval arithmetic the
//! rollup's P10/P50/P90 will rest on.
//!
//! `p_churn_by_renewal` is the churn model's hazard over the 30-day
//! intervals from `as_of` up to and including the one holding the renewal:
//! 1 − Π(1 − h_k). Renewals past the longest trained horizon use the same
//! model beyond it (`Model::hazards_for`): the interval input saturates at
//! the last trained interval, while `days_to_renewal` still moves the
//! renewal's risk to its interval. The rules score has no hazards: its
//! probability for the shortest horizon reaching the renewal (else the
//! longest) stands in.

use std::collections::BTreeMap;

use rand::{Rng, SeedableRng};

use crate::config::Config;
use crate::engine::Engine;
use crate::error::{Error, Result};
use crate::output::tables::{renewal_forecast, renewal_forecast_rollup};
use crate::model::card::INTERVAL_DAYS;
use crate::model::Model;
use crate::output::tables::renewal_forecast::Row;
use crate::score::Scored;

/// The default window: renewals within a year of `as_of`.
pub const WINDOW_DAYS: i32 = 365;

/// Churn by a renewal `days` after `as_of`, from the 30-day hazards.
pub fn by_renewal(hazards: &[f64], days: i32) -> f64 {
    let n = (days.max(0) as u32 / INTERVAL_DAYS) as usize + 1;
    1.0 - hazards.iter().take(n).map(|h| 1.0 - h).product::<f64>()
}

/// The accounts renewing within `window_days` of `as_of`, and how many were
/// left out: no renewal date known at `as_of`, or no ARR (never guessed).
#[derive(Debug, Default)]
pub struct Forecast {
    pub rows: Vec<Row>,
    pub without_renewal: usize,
    pub without_arr: usize,
}

pub fn accounts(model: &Model, scored: &Scored, window_days: i32) -> Result<Forecast> {
    let as_of = crate::dates::day(scored.as_of);
    let intervals = (window_days.max(0) as u32).div_ceil(INTERVAL_DAYS) + 1;
    let hazards = model.hazards_for(&scored.frame, intervals)?;
    let mut f = Forecast::default();
    for (i, r) in scored.rows.iter().enumerate() {
        let Some(renewal) = r.renewal_date else {
            f.without_renewal += 1;
            continue;
        };
        let days = renewal - as_of;
        if !(0..=window_days).contains(&days) {
            continue;
        }
        if !(r.arr.is_finite() && r.arr > 0.0) {
            f.without_arr += 1;
            continue;
        }
        let p = match hazards.get(i).filter(|h| !h.is_empty()) {
            Some(h) => by_renewal(h, days),
            None => {
                let k = scored.horizons.iter().position(|h| *h as i32 >= days).unwrap_or(scored.horizons.len().saturating_sub(1));
                r.p_churn.get(k).copied().unwrap_or(f64::NAN)
            }
        };
        f.rows.push(Row {
            account_id: r.account_id.clone(),
            crm_id: r.crm_id.clone(),
            segment: r.segment.clone(),
            owner: r.owner.clone(),
            renewal_date: renewal,
            arr: r.arr,
            p_churn_by_renewal: (p * 10_000.0).round() / 10_000.0,
            health_score: r.health,
            tier: r.tier.as_str(),
            top_risk_reason: r.risk.first().map(|(_, t)| t.clone()),
        });
    }
    f.rows.sort_by(|a, b| (a.renewal_date, &a.account_id).cmp(&(b.renewal_date, &b.account_id)));
    Ok(f)
}

/// The draws behind each group's band, and their seed.
pub const DRAWS: usize = 10_000;
pub const SEED: u64 = 7;

/// `sql/outputs/v1/renewal_forecast_rollup.sql` over the per-account rows
/// (registered as `renewal_forecast`), each group with its band.
pub async fn rollup(engine: &Engine, cfg: &Config, rows: &[Row], as_of: i32) -> Result<Vec<renewal_forecast_rollup::Row>> {
    let batch = renewal_forecast::batch(rows, as_of)?;
    engine.register_batches(renewal_forecast::TABLE.name, batch.schema(), vec![batch])?;
    crate::features::SqlFolder::load(&cfg.sql_dir, "outputs", "v1")?.register(engine).await?;
    let t = &renewal_forecast_rollup::TABLE;
    let mut groups: BTreeMap<(String, String), Vec<(f64, f64)>> = BTreeMap::new();
    for r in rows {
        let item = (r.arr, r.p_churn_by_renewal);
        for key in [(r.renewal_month(), r.segment.clone()), (r.renewal_month(), "all".into()), ("all".into(), "all".into())] {
            groups.entry(key).or_default().push(item);
        }
    }
    let mut out = Vec::new();
    for b in engine.query(&format!("SELECT * FROM {}", t.name)).await? {
        use crate::columns::{floats, strings};
        use renewal_forecast_rollup as c;
        let (m, s) = (strings(&b, c::RENEWAL_MONTH)?, strings(&b, c::SEGMENT)?);
        let (n, arr, exp, risk, grr) = (floats(&b, c::ACCOUNTS)?, floats(&b, c::ARR)?, floats(&b, c::EXPECTED_ARR)?, floats(&b, c::ARR_AT_RISK)?, floats(&b, c::GROSS_RETENTION)?);
        for i in 0..b.num_rows() {
            let key = (m[i].clone().unwrap_or_default(), s[i].clone().unwrap_or_default());
            let members = groups.get(&key).ok_or_else(|| {
                Error::Config(format!("`sql/outputs/v1/{}.sql` returned the group {key:?}, which no account is in: keep its groups to renewal_month × segment, per month and in total", t.name))
            })?;
            out.push(renewal_forecast_rollup::Row {
                renewal_month: key.0,
                segment: key.1,
                accounts: n[i] as usize,
                arr: arr[i],
                expected_arr: exp[i],
                arr_at_risk: risk[i],
                gross_retention: grr[i],
                band: renewed_band(members, DRAWS, SEED),
            });
        }
    }
    // months in order, each month's segments then its `all`, the total last
    let key = |r: &renewal_forecast_rollup::Row| (r.renewal_month == "all", r.renewal_month.clone(), r.segment == "all", r.segment.clone());
    out.sort_by_key(key);
    Ok(out)
}

/// One renewal month of a backtest (or the whole window).
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct Check {
    pub month: String,
    pub accounts: usize,
    pub arr: f64,
    pub expected: f64,
    /// ARR of the accounts that had not churned by their renewal.
    pub actual: f64,
    pub band: (f64, f64, f64),
}

impl Check {
    /// (expected − actual) over ARR up for renewal.
    pub fn error(&self) -> f64 {
        (self.expected - self.actual) / self.arr
    }

    pub fn inside(&self) -> bool {
        self.band.0 <= self.actual && self.actual <= self.band.2
    }
}

/// A forecast made at `origin` against what renewed: per renewal month and
/// in total; accounts whose renewal the export does not yet cover are left
/// out and counted.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct Backtest {
    pub origin: String,
    pub months: Vec<Check>,
    pub total: Check,
    pub unobserved: usize,
}

pub fn backtest(rows: &[Row], labels: &std::collections::HashMap<(String, i32), crate::model::train::Label>, origin: i32) -> Backtest {
    let mut by_month: BTreeMap<String, Vec<(&Row, bool)>> = BTreeMap::new();
    let mut unobserved = 0;
    for r in rows {
        let d = r.renewal_date - origin;
        match labels.get(&(r.account_id.clone(), origin)).filter(|l| l.observed_days > d) {
            Some(l) => by_month.entry(r.renewal_month()).or_default().push((r, l.days_to_churn.is_some_and(|c| c <= d))),
            None => unobserved += 1,
        }
    }
    let check = |month: String, items: &[(&Row, bool)]| {
        let accounts: Vec<(f64, f64)> = items.iter().map(|(r, _)| (r.arr, r.p_churn_by_renewal)).collect();
        Check {
            month,
            accounts: items.len(),
            arr: items.iter().map(|(r, _)| r.arr).sum(),
            expected: items.iter().map(|(r, _)| r.expected_arr()).sum(),
            actual: items.iter().filter(|(_, churned)| !churned).map(|(r, _)| r.arr).sum(),
            band: renewed_band(&accounts, DRAWS, SEED),
        }
    };
    let all: Vec<(&Row, bool)> = by_month.values().flatten().copied().collect();
    Backtest {
        origin: crate::dates::date(origin).to_string(),
        months: by_month.iter().map(|(m, items)| check(m.clone(), items)).collect(),
        total: check("total".into(), &all),
        unobserved,
    }
}

/// The distribution of how many of independent events with probabilities
/// `p` happen (the Poisson-binomial), exactly: element k is P(k happen).
pub fn poisson_binomial(p: &[f64]) -> Vec<f64> {
    let mut d = vec![1.0];
    for &q in p {
        let mut next = vec![0.0; d.len() + 1];
        for (k, v) in d.iter().enumerate() {
            next[k] += v * (1.0 - q);
            next[k + 1] += v * q;
        }
        d = next;
    }
    d
}

/// P10, P50 and P90 of the ARR that renews when each account (ARR, chance
/// of churning) renews independently: `draws` simulated outcomes with a
/// fixed seed (accounts differ in ARR, so the count's Poisson-binomial does
/// not give the sum), the same figures on every run.
pub fn renewed_band(accounts: &[(f64, f64)], draws: usize, seed: u64) -> (f64, f64, f64) {
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed);
    let mut sums: Vec<f64> = (0..draws.max(1))
        .map(|_| accounts.iter().filter(|(_, p)| rng.random::<f64>() >= *p).map(|(arr, _)| arr).sum())
        .collect();
    sums.sort_by(f64::total_cmp);
    let q = |x: f64| sums[((sums.len() - 1) as f64 * x).round() as usize];
    (q(0.1), q(0.5), q(0.9))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn churn_by_renewal_counts_the_intervals_up_to_the_one_holding_it() {
        let h = [0.01, 0.02, 0.03, 0.2];
        assert!((by_renewal(&h, 0) - 0.01).abs() < 1e-12);
        assert!((by_renewal(&h, 29) - 0.01).abs() < 1e-12);
        assert!((by_renewal(&h, 30) - (1.0 - 0.99 * 0.98)).abs() < 1e-12);
        assert!((by_renewal(&h, 100) - (1.0 - 0.99 * 0.98 * 0.97 * 0.8)).abs() < 1e-12);
        // it agrees with the horizons' cumulative churn
        let c = crate::model::cumulative(&h, &[90]);
        assert!((by_renewal(&h, 89) - c[0]).abs() < 1e-12);
    }

    #[test]
    fn the_poisson_binomial_matches_enumerating_every_outcome() {
        let p = [0.1, 0.5, 0.33, 0.9, 0.02, 0.7, 0.45];
        let exact = poisson_binomial(&p);
        let mut brute = vec![0.0; p.len() + 1];
        for mask in 0u32..(1 << p.len()) {
            let prob: f64 = p.iter().enumerate().map(|(i, q)| if mask >> i & 1 == 1 { *q } else { 1.0 - q }).product();
            brute[mask.count_ones() as usize] += prob;
        }
        for (a, b) in exact.iter().zip(&brute) {
            assert!((a - b).abs() < 1e-12, "{exact:?} vs {brute:?}");
        }
        assert!((exact.iter().sum::<f64>() - 1.0).abs() < 1e-12);
    }

    #[test]
    fn the_band_of_equal_accounts_is_the_poisson_binomial_quantiles() {
        // 40 accounts of $10,000, churn chances spread: renewed ARR = $10,000 × renewals
        let p: Vec<f64> = (0..40).map(|i| 0.05 + 0.5 * (i as f64 / 40.0)).collect();
        let accounts: Vec<(f64, f64)> = p.iter().map(|q| (10_000.0, *q)).collect();
        let (p10, p50, p90) = renewed_band(&accounts, 20_000, 7);
        // renewals are the non-churns: the Poisson-binomial of 1 − p
        let d = poisson_binomial(&p.iter().map(|q| 1.0 - q).collect::<Vec<_>>());
        let quantile = |x: f64| {
            let mut acc = 0.0;
            d.iter().position(|v| {
                acc += v;
                acc >= x
            })
            .unwrap() as f64
                * 10_000.0
        };
        for (sim, want) in [(p10, quantile(0.1)), (p50, quantile(0.5)), (p90, quantile(0.9))] {
            assert!((sim - want).abs() <= 10_000.0, "simulated {sim} vs exact {want}");
        }
        assert!(p10 < p50 && p50 < p90);
        assert_eq!(renewed_band(&accounts, 2_000, 7), renewed_band(&accounts, 2_000, 7), "a fixed seed: the same band on every run");
    }

    #[test]
    fn a_backtest_counts_churn_by_the_renewal_and_leaves_out_what_the_export_has_not_seen() {
        use crate::model::train::Label;
        let origin = 20_000;
        let row = |id: &str, d: i32| Row {
            account_id: id.into(),
            crm_id: None,
            segment: "smb".into(),
            owner: None,
            renewal_date: origin + d,
            arr: 1000.0,
            p_churn_by_renewal: 0.2,
            health_score: 50.0,
            tier: "yellow",
            top_risk_reason: None,
        };
        let rows = vec![row("churned-at-renewal", 40), row("churned-after", 40), row("stayed", 45), row("unseen", 100)];
        let label = |c: Option<i32>, obs: i32| Label { days_to_churn: c, expanded: false, observed_days: obs };
        let labels: std::collections::HashMap<(String, i32), Label> = [
            (("churned-at-renewal".to_string(), origin), label(Some(40), 180)),
            (("churned-after".to_string(), origin), label(Some(41), 180)),
            (("stayed".to_string(), origin), label(None, 180)),
            (("unseen".to_string(), origin), label(None, 90)),
        ]
        .into();
        let b = backtest(&rows, &labels, origin);
        assert_eq!((b.total.accounts, b.unobserved), (3, 1));
        assert_eq!((b.total.arr, b.total.actual), (3000.0, 2000.0), "churn on the renewal day counts, churn after it does not");
        assert!((b.total.expected - 2400.0).abs() < 1e-9 && (b.total.error() - 0.4 / 3.0).abs() < 1e-9);
    }
}
