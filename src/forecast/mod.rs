//! The renewal forecast for finance: per account renewing within the
//! window, the chance of churning by its own renewal date, the ARR move
//! expected when it renews, and the ARR expected to renew; a rollup by month
//! and segment with a P10/P50/P90 band; a scenario where the playbooks that
//! helped save at their measured rate; and a backtest against what renewed.
//!
//! `p_churn_by_renewal` is the churn model's hazard over the 30-day
//! intervals from `as_of` up to and including the one holding the renewal:
//! 1 − Π(1 − h_k). Renewals past the longest trained horizon use the same
//! model beyond it (`Model::hazards_for`): the interval input saturates at
//! the last trained interval, while `days_to_renewal` still moves the
//! renewal's risk to its interval. The rules score has no hazards: its
//! probability for the shortest horizon reaching the renewal (else the
//! longest) stands in.
//!
//! The move at renewal comes from history, not the model: Σ after / Σ before
//! − 1 over the non-churn ARR moves (`outcome_events` of the labels SQL:
//! renewals, expansions, contractions) booked in the account's segment in
//! the year before `as_of`. The band draws each renewing account's move
//! from the same moves (in proportion to their ARR), so it carries their
//! spread too.

use std::collections::BTreeMap;

use rand::{Rng, SeedableRng};
use rayon::prelude::*;

use crate::config::Config;
use crate::engine::Engine;
use crate::error::{Error, Result};
use crate::output::tables::{alerts, renewal_forecast, renewal_forecast_rollup};
use crate::model::card::INTERVAL_DAYS;
use crate::model::Model;
use crate::output::tables::renewal_forecast::Row;
use crate::score::Scored;

/// The default window: renewals within a year of `as_of`.
pub const WINDOW_DAYS: i32 = crate::config::FORECAST_WINDOW_DAYS;

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
    /// Renewing accounts left out because the model gives no churn chance
    /// (a rules score without probabilities: cold start).
    pub without_probability: usize,
}

/// Non-churn ARR moves, as ratios after / before weighted by the ARR
/// before: their weighted mean is Σ after / Σ before, what a dollar up for
/// renewal became.
#[derive(Debug, Default, Clone)]
pub struct MoveSet {
    ratios: Vec<f64>,
    /// Running sums of the weights, for drawing a move in proportion to them.
    cum: Vec<f64>,
}

impl MoveSet {
    pub fn new(moves: impl IntoIterator<Item = (f64, f64)>) -> MoveSet {
        let mut m = MoveSet::default();
        for (before, after) in moves {
            m.push(before, after);
        }
        m
    }

    fn push(&mut self, before: f64, after: f64) {
        if before > 0.0 && after >= 0.0 && after.is_finite() {
            self.ratios.push(after / before);
            self.cum.push(self.cum.last().copied().unwrap_or(0.0) + before);
        }
    }

    pub fn len(&self) -> usize {
        self.ratios.len()
    }

    pub fn is_empty(&self) -> bool {
        self.ratios.is_empty()
    }

    /// Σ after / Σ before (1 with no moves).
    pub fn mean(&self) -> f64 {
        match self.cum.last() {
            Some(w) => self.ratios.iter().zip(self.weights()).map(|(r, x)| r * x).sum::<f64>() / w,
            None => 1.0,
        }
    }

    fn weights(&self) -> impl Iterator<Item = f64> + '_ {
        self.cum.iter().scan(0.0, |prev, c| {
            let w = c - *prev;
            *prev = *c;
            Some(w)
        })
    }

    /// The move a uniform `u` in [0, 1) draws, in proportion to the weights.
    pub fn draw(&self, u: f64) -> f64 {
        match self.cum.last() {
            Some(w) => self.ratios[self.cum.partition_point(|c| *c <= u * w).min(self.ratios.len() - 1)],
            None => 1.0,
        }
    }
}

/// What the year before `as_of` says about the ARR of an account that
/// renews, per segment (the account's segment at `as_of`), from the scored
/// accounts' own history — they all stayed through their last renewal:
/// - at the renewal: each account's move at its previous renewal (its next
///   renewal date less a year, within the slack) — after / before of its
///   moves there, or flat when nothing was booked — weighted by ARR;
/// - between renewals: the moves booked away from that date (seats bought
///   mid-contract), as a yearly rate over the segment's ARR, counted for the
///   share of a year until the renewal.
#[derive(Debug, Default, Clone)]
pub struct Moves {
    at_renewal: BTreeMap<String, MoveSet>,
    all_at_renewal: MoveSet,
    /// Per segment and pooled: (Σ mid-contract change, Σ ARR).
    mid: BTreeMap<String, (f64, f64)>,
    all_mid: (f64, f64),
}

/// Fewer renewals than this in a segment: the segments pooled stand in.
pub const MIN_MOVES: usize = 30;

/// One scored account's year: its ARR now, its segment, whether it renewed
/// in the year (its previous renewal lies after its start), the move there,
/// and the change booked away from it.
#[derive(Debug, Clone, PartialEq)]
pub struct Year {
    pub segment: String,
    pub arr: f64,
    /// (ARR before, after) at the previous renewal; None when the account
    /// had not reached one in the year.
    pub renewal: Option<(f64, f64)>,
    pub mid_change: f64,
}

impl Moves {
    pub fn new(years: &[Year]) -> Moves {
        let mut m = Moves::default();
        for y in years {
            if let Some((before, after)) = y.renewal {
                m.all_at_renewal.push(before, after);
                m.at_renewal.entry(y.segment.clone()).or_default().push(before, after);
            }
            if y.arr > 0.0 && y.arr.is_finite() && y.mid_change.is_finite() {
                let e = m.mid.entry(y.segment.clone()).or_default();
                *e = (e.0 + y.mid_change, e.1 + y.arr);
                m.all_mid = (m.all_mid.0 + y.mid_change, m.all_mid.1 + y.arr);
            }
        }
        m
    }

    /// The moves a renewal in `segment` draws from (none booked: no change).
    pub fn of(&self, segment: &str) -> &MoveSet {
        match self.at_renewal.get(segment) {
            Some(v) if v.len() >= MIN_MOVES => v,
            _ => &self.all_at_renewal,
        }
    }

    /// The segment's mid-contract change per year, as a share of its ARR.
    pub fn mid_rate(&self, segment: &str) -> f64 {
        let pooled = || if self.all_mid.1 > 0.0 { self.all_mid.0 / self.all_mid.1 } else { 0.0 };
        match (self.of(segment).len(), self.at_renewal.get(segment), self.mid.get(segment)) {
            (_, Some(v), Some((c, a))) if v.len() >= MIN_MOVES && *a > 0.0 => c / a,
            _ => pooled(),
        }
    }

    /// The mid-contract change a renewal `days` away is expected to carry.
    pub fn lift(&self, segment: &str, days: i32) -> f64 {
        self.mid_rate(segment) * days.max(0) as f64 / 365.0
    }

    /// The change expected of a renewal `days` away, as a share of its ARR.
    pub fn change(&self, segment: &str, days: i32) -> f64 {
        self.of(segment).mean() - 1.0 + self.lift(segment, days)
    }

    /// Renewals seen in the year.
    pub fn len(&self) -> usize {
        self.all_at_renewal.len()
    }

    pub fn is_empty(&self) -> bool {
        self.all_at_renewal.is_empty()
    }
}

/// The moves of the scored accounts booked in the year before `as_of`,
/// from the labels SQL's `outcome_events` (registered here; the feature
/// set's views must be).
pub async fn moves(engine: &Engine, cfg: &Config, scored: &Scored) -> Result<Moves> {
    crate::features::SqlFolder::load(&cfg.sql_dir, "labels", crate::model::train::LABELS_VERSION)?.register(engine, &[]).await?;
    let as_of = crate::dates::day(scored.as_of);
    let mut events: std::collections::HashMap<String, Vec<(i32, f64, f64)>> = std::collections::HashMap::new();
    for (id, day, before, after) in arr_moves(engine, as_of - 365 - RENEWAL_SLACK_DAYS, as_of).await? {
        events.entry(id).or_default().push((day, before, after));
    }
    let tenure = scored.frame.col("tenure_days");
    let years: Vec<Year> = scored
        .rows
        .iter()
        .enumerate()
        .map(|(i, r)| {
            let ev = events.get(&r.account_id).map(Vec::as_slice).unwrap_or_default();
            let previous = r.renewal_date.map(|d| d - 365).filter(|p| *p < as_of);
            // it had reached that renewal: it began before it
            let began = tenure.map(|j| scored.frame.value(i, j)).filter(|t| t.is_finite()).map(|t| as_of - t as i32);
            let renewed_then = previous.filter(|p| began.is_none_or(|b| b < p - RENEWAL_SLACK_DAYS));
            let near = |d: i32| previous.is_some_and(|p| (d - p).abs() <= RENEWAL_SLACK_DAYS);
            let at: Vec<&(i32, f64, f64)> = ev.iter().filter(|e| near(e.0)).collect();
            let renewal = renewed_then.map(|_| match (at.first(), at.last()) {
                (Some(f), Some(l)) => (f.1, l.2),
                _ => (r.arr, r.arr),
            });
            let mid_change = ev.iter().filter(|e| !near(e.0) && e.0 >= as_of - 365).map(|e| e.2 - e.1).sum();
            Year { segment: r.segment.clone(), arr: r.arr, renewal, mid_change }
        })
        .collect();
    Ok(Moves::new(&years))
}

/// Non-churn moves with `from <= event_day < to`: (account, day, ARR before, after).
async fn arr_moves(engine: &Engine, from: i32, to: i32) -> Result<Vec<(String, i32, f64, f64)>> {
    let sql = format!(
        "SELECT account_id, event_day, arr_before, arr_after FROM outcome_events \
         WHERE kind <> 'churned' AND arr_before > 0 AND arr_after >= 0 AND event_day >= {from} AND event_day < {to} \
         ORDER BY account_id, event_day"
    );
    let mut out = Vec::new();
    for b in engine.query(&sql).await? {
        use crate::columns::{floats, strings};
        let (id, d, before, after) = (strings(&b, "account_id")?, floats(&b, "event_day")?, floats(&b, "arr_before")?, floats(&b, "arr_after")?);
        for i in 0..b.num_rows() {
            out.push((id[i].clone().unwrap_or_default(), d[i] as i32, before[i], after[i]));
        }
    }
    Ok(out)
}

/// The expansion chance by a renewal `days` away from the chance `p` within
/// `horizon` days, at the same rate: 1 − (1 − p)^(days / horizon).
pub fn expand_by_renewal(p: f64, days: i32, horizon: u32) -> Option<f64> {
    (p.is_finite() && horizon > 0).then(|| 1.0 - (1.0 - p.clamp(0.0, 1.0)).powf(days.max(1) as f64 / horizon as f64))
}

pub fn accounts(model: &Model, scored: &Scored, moves: &Moves, window_days: i32) -> Result<Forecast> {
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
        if !p.is_finite() {
            f.without_probability += 1;
            continue;
        }
        f.rows.push(Row {
            account_id: r.account_id.clone(),
            crm_id: r.crm_id.clone(),
            segment: r.segment.clone(),
            owner: r.owner.clone(),
            renewal_date: renewal,
            arr: r.arr,
            p_churn_by_renewal: (p * 10_000.0).round() / 10_000.0,
            p_expand_by_renewal: expand_by_renewal(r.p_expand, days, scored.expansion_horizon),
            expected_change: moves.change(&r.segment, days),
            save: None,
            health_score: r.health,
            tier: r.tier.as_str(),
            top_risk_reason: r.risk.first().map(|(_, t)| t.clone()),
        });
    }
    f.rows.sort_by(|a, b| (a.renewal_date, &a.account_id).cmp(&(b.renewal_date, &b.account_id)));
    Ok(f)
}

/// The saves scenario: each account an alert of `as_of` reached (any alert
/// but one held out as control) from a playbook the `effectiveness` table
/// says helped gets that playbook's measured churn reduction (the largest
/// when several). Applied to the churn chance by the renewal, though it was
/// measured on churn within 90 days of the alert: the approximation is stated.
pub fn apply_saves(rows: &mut [Row], alerts: &[alerts::Row], helped: &BTreeMap<String, f64>) {
    let mut best: std::collections::HashMap<&str, (&str, f64)> = std::collections::HashMap::new();
    for a in alerts.iter().filter(|a| !a.control_group()) {
        if let Some(r) = helped.get(&a.playbook) {
            let e = best.entry(a.account_id.as_str()).or_insert((a.playbook.as_str(), *r));
            if *r > e.1 {
                *e = (a.playbook.as_str(), *r);
            }
        }
    }
    for row in rows {
        row.save = best.get(row.account_id.as_str()).map(|(p, r)| (p.to_string(), *r));
    }
}

/// The draws behind each group's band, and their seed.
pub const DRAWS: usize = 10_000;
pub const SEED: u64 = 7;

/// `sql/outputs/v1/renewal_forecast_rollup.sql` over the per-account rows
/// (registered as `renewal_forecast`), each group with its band.
pub async fn rollup(engine: &Engine, cfg: &Config, rows: &[Row], moves: &Moves, as_of: i32) -> Result<Vec<renewal_forecast_rollup::Row>> {
    if rows.is_empty() {
        // nothing renews in the window (or nothing has a churn chance): no groups
        return Ok(Vec::new());
    }
    let batch = renewal_forecast::batch(rows, as_of)?;
    engine.register_batches(renewal_forecast::TABLE.name, batch.schema(), vec![batch])?;
    crate::features::SqlFolder::load(&cfg.sql_dir, "outputs", "v1")?.register(engine, &[]).await?;
    let t = &renewal_forecast_rollup::TABLE;
    let mut out = renewal_forecast_rollup::read(&engine.query(&format!("SELECT * FROM {}", t.name)).await?)?;
    let index: BTreeMap<(String, String), usize> = out.iter().enumerate().map(|(i, r)| ((r.renewal_month.clone(), r.segment.clone()), i)).collect();
    let mut filled = vec![false; out.len()];
    let mut accounts = Vec::with_capacity(rows.len());
    for r in rows {
        let item = Renewing { arr: r.arr, p_churn: r.p_churn_by_renewal, moves: moves.of(&r.segment), lift: moves.lift(&r.segment, r.renewal_date - as_of) };
        let keys = [(r.renewal_month(), r.segment.clone()), (r.renewal_month(), "all".into()), ("all".into(), "all".into())];
        let groups: Vec<usize> = keys.iter().filter_map(|k| index.get(k).copied()).collect();
        for &g in &groups {
            filled[g] = true;
        }
        accounts.push((item, groups));
    }
    if let Some(r) = out.iter().zip(&filled).find(|(_, f)| !**f).map(|(r, _)| r) {
        return Err(Error::Config(format!(
            "`sql/outputs/v1/{}.sql` returned the group {:?}, which no account is in: keep its groups to renewal_month × segment, per month and in total",
            t.name,
            (&r.renewal_month, &r.segment)
        )));
    }
    let bands = renewed_bands(&accounts, out.len(), DRAWS, SEED);
    for (r, band) in out.iter_mut().zip(bands) {
        r.band = band;
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
    /// Expected ARR, moves counted.
    pub expected: f64,
    /// What renewed: the ARR after the last move booked by the renewal, of
    /// the accounts that had not churned by it.
    pub actual: f64,
    /// Churn only: ARR × (1 − p) against the ARR of the accounts that stayed.
    pub expected_gross: f64,
    pub actual_gross: f64,
    pub band: (f64, f64, f64),
}

impl Check {
    /// (expected − actual) over ARR up for renewal.
    pub fn error(&self) -> f64 {
        (self.expected - self.actual) / self.arr
    }

    pub fn gross_error(&self) -> f64 {
        (self.expected_gross - self.actual_gross) / self.arr
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

/// What each account's ARR was after its last non-churn move booked after
/// `origin` and by its renewal (with the slack; accounts with none keep
/// their ARR).
pub async fn renewed_arr(engine: &Engine, rows: &[Row], origin: i32) -> Result<std::collections::HashMap<String, f64>> {
    let renewal: std::collections::HashMap<&str, i32> = rows.iter().map(|r| (r.account_id.as_str(), r.renewal_date)).collect();
    let to = rows.iter().map(|r| r.renewal_date).max().unwrap_or(origin) + RENEWAL_SLACK_DAYS + 1;
    let mut out = std::collections::HashMap::new();
    // ordered by day: the last move by the renewal wins
    for (id, day, _, after) in arr_moves(engine, origin + 1, to).await? {
        if renewal.get(id.as_str()).is_some_and(|r| day <= *r + RENEWAL_SLACK_DAYS) {
            out.insert(id, after);
        }
    }
    Ok(out)
}

/// Days after a renewal date that still count as "by the renewal" in a
/// backtest: renewal dates counted in whole 365-day terms run a day early
/// for every leap day since the contract began, and bookings land late.
pub const RENEWAL_SLACK_DAYS: i32 = 7;

pub fn backtest(
    rows: &[Row],
    labels: &std::collections::HashMap<(String, i32), crate::model::train::Label>,
    renewed: &std::collections::HashMap<String, f64>,
    moves: &Moves,
    origin: i32,
) -> Backtest {
    let mut by_month: BTreeMap<String, Vec<(&Row, bool)>> = BTreeMap::new();
    let mut unobserved = 0;
    for r in rows {
        let d = r.renewal_date - origin + RENEWAL_SLACK_DAYS;
        match labels.get(&(r.account_id.clone(), origin)).filter(|l| l.observed_days > d) {
            Some(l) => by_month.entry(r.renewal_month()).or_default().push((r, l.days_to_churn.is_some_and(|c| c <= d))),
            None => unobserved += 1,
        }
    }
    let check = |month: String, items: &[(&Row, bool)]| {
        let accounts: Vec<Renewing> = items.iter().map(|(r, _)| Renewing { arr: r.arr, p_churn: r.p_churn_by_renewal, moves: moves.of(&r.segment), lift: moves.lift(&r.segment, r.renewal_date - origin) }).collect();
        let stayed = || items.iter().filter(|(_, churned)| !churned).map(|(r, _)| *r);
        Check {
            month,
            accounts: items.len(),
            arr: items.iter().map(|(r, _)| r.arr).sum(),
            expected: items.iter().map(|(r, _)| r.expected_arr()).sum(),
            actual: stayed().map(|r| renewed.get(&r.account_id).copied().unwrap_or(r.arr)).sum(),
            expected_gross: items.iter().map(|(r, _)| r.retained_arr()).sum(),
            actual_gross: stayed().map(|r| r.arr).sum(),
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

/// An account up for renewal, for the band: its ARR, its chance of churning
/// by the renewal, and the moves (after / before) its renewal draws from.
#[derive(Debug, Clone, Copy)]
pub struct Renewing<'a> {
    pub arr: f64,
    pub p_churn: f64,
    pub moves: &'a MoveSet,
    /// The mid-contract change expected by the renewal, as a share.
    pub lift: f64,
}

/// P10, P50 and P90 of the ARR that renews when each account renews
/// independently (churning with its chance, else renewing with a move drawn
/// from its moves): `draws` simulated outcomes with a fixed seed (accounts
/// differ in ARR, so the count's Poisson-binomial does not give the sum),
/// the same figures on every run.
pub fn renewed_band(accounts: &[Renewing], draws: usize, seed: u64) -> (f64, f64, f64) {
    let one: Vec<(Renewing, Vec<usize>)> = accounts.iter().map(|a| (*a, vec![0])).collect();
    renewed_bands(&one, 1, draws, seed)[0]
}

/// The bands of `groups` groups at once: each draw draws every account's
/// outcome once and adds it to every group the account is in (a month's
/// segments, the month, the total), so each group's band is its own sum's
/// and the draws cost one pass over the accounts, not one per group. Draws
/// come in blocks, each from its own stream of the seed, so the blocks run
/// side by side and the figures do not depend on how many threads there are.
pub fn renewed_bands(accounts: &[(Renewing, Vec<usize>)], groups: usize, draws: usize, seed: u64) -> Vec<(f64, f64, f64)> {
    const BLOCK: usize = 250;
    let draws = draws.max(1);
    // per block, its draws' sums: draw-major, `groups` per draw
    let blocks: Vec<Vec<f64>> = (0..draws.div_ceil(BLOCK))
        .into_par_iter()
        .map(|block| {
            let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed);
            rng.set_stream(block as u64);
            let n = BLOCK.min(draws - block * BLOCK);
            let mut sums = vec![0.0; n * groups];
            for d in 0..n {
                let row = &mut sums[d * groups..(d + 1) * groups];
                for (a, gs) in accounts {
                    if rng.random::<f64>() >= a.p_churn {
                        let m = if a.moves.is_empty() { 1.0 } else { a.moves.draw(rng.random::<f64>()) };
                        let v = a.arr * (m + a.lift);
                        for &g in gs {
                            row[g] += v;
                        }
                    }
                }
            }
            sums
        })
        .collect();
    (0..groups)
        .map(|g| {
            let mut sums: Vec<f64> = blocks.iter().flat_map(|b| b.iter().skip(g).step_by(groups).copied()).collect();
            sums.sort_by(f64::total_cmp);
            let q = |x: f64| sums[((sums.len() - 1) as f64 * x).round() as usize];
            (q(0.1), q(0.5), q(0.9))
        })
        .collect()
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
        let none = MoveSet::default();
        let accounts: Vec<Renewing> = p.iter().map(|q| Renewing { arr: 10_000.0, p_churn: *q, moves: &none, lift: 0.0 }).collect();
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
    fn groups_drawn_together_each_get_their_own_sums_band() {
        // 40 accounts in the total; the first 20 also in a group of their own
        let p: Vec<f64> = (0..40).map(|i| 0.05 + 0.5 * (i as f64 / 40.0)).collect();
        let none = MoveSet::default();
        let accounts: Vec<Renewing> = p.iter().map(|q| Renewing { arr: 10_000.0, p_churn: *q, moves: &none, lift: 0.0 }).collect();
        let grouped: Vec<(Renewing, Vec<usize>)> = accounts.iter().enumerate().map(|(i, a)| (*a, if i < 20 { vec![0, 1] } else { vec![0] })).collect();
        let bands = renewed_bands(&grouped, 2, 20_000, 7);
        // the total draws exactly as the one group of every account does
        assert_eq!(bands[0], renewed_band(&accounts, 20_000, 7));
        // the part's band is its own sum's, not the total's
        let alone = renewed_band(&accounts[..20], 20_000, 7);
        for (joint, own) in [(bands[1].0, alone.0), (bands[1].1, alone.1), (bands[1].2, alone.2)] {
            assert!((joint - own).abs() <= 10_000.0, "drawn together {joint} vs alone {own}");
        }
        assert!(bands[1].2 < bands[0].0, "20 accounts renew less ARR than 40: {bands:?}");
    }

    #[test]
    fn moves_pool_the_segments_when_one_has_too_few_and_none_means_no_change() {
        assert_eq!(Moves::default().change("smb", 200), 0.0);
        assert_eq!(Moves::default().of("smb").draw(0.3), 1.0);
        // smb: half renewed flat at $1,000, half went $3,000 → $3,600 at renewal
        // (Σ after / Σ before = 4,600 / 4,000), and $400 a year bought mid-contract per $4,000
        let year = |seg: &str, arr: f64, renewal: Option<(f64, f64)>, mid: f64| Year { segment: seg.into(), arr, renewal, mid_change: mid };
        let mut y: Vec<Year> = (0..MIN_MOVES).map(|i| if i % 2 == 0 { year("smb", 1000.0, Some((1000.0, 1000.0)), 0.0) } else { year("smb", 3600.0, Some((3000.0, 3600.0)), 460.0) }).collect();
        y.push(year("enterprise", 5000.0, Some((10_000.0, 5_000.0)), 0.0));
        y.push(year("enterprise", 8000.0, None, 0.0));
        let moves = Moves::new(&y);
        assert_eq!(moves.len(), MIN_MOVES + 1, "an account without a renewal in the year has no move at it");
        let mid = 460.0 * 15.0 / (15.0 * 4600.0);
        assert!((moves.change("smb", 0) - 0.15).abs() < 1e-12, "{}", moves.change("smb", 0));
        assert!((moves.change("smb", 365) - 0.15 - mid).abs() < 1e-12 && (moves.lift("smb", 73) - mid / 5.0).abs() < 1e-12);
        // one enterprise renewal is too few: the pooled moves and rate stand in
        let half = MIN_MOVES as f64 / 2.0;
        let pooled = (half * 1000.0 + half * 3600.0 + 5_000.0) / (half * 1000.0 + half * 3000.0 + 10_000.0) - 1.0;
        let pooled_mid = 15.0 * 460.0 / (15.0 * 4600.0 + 13_000.0);
        assert!((moves.change("enterprise", 0) - pooled).abs() < 1e-12, "{}", moves.change("enterprise", 0));
        assert!((moves.mid_rate("enterprise") - pooled_mid).abs() < 1e-12);
        // draws follow the ARR weights: the $3,000 accounts are three in four dollars
        let smb = moves.of("smb");
        let big = (0..10_000).filter(|i| smb.draw(*i as f64 / 10_000.0) > 1.0).count();
        assert!((big as f64 / 10_000.0 - 0.75).abs() < 0.01, "{big}");
    }

    #[test]
    fn the_band_carries_the_moves_spread() {
        // no churn: every account renews, flat or doubled with equal chance
        let flat_or_doubled = MoveSet::new([(1.0, 1.0), (1.0, 2.0)]);
        let accounts: Vec<Renewing> = (0..200).map(|_| Renewing { arr: 100.0, p_churn: 0.0, moves: &flat_or_doubled, lift: 0.0 }).collect();
        let (p10, p50, p90) = renewed_band(&accounts, 4_000, 7);
        // the sum is 100 × (200 + Binomial(200, ½)): mean 30,000, sd ≈ 707
        assert!((p50 - 30_000.0).abs() < 300.0 && p10 < 29_500.0 && p90 > 30_500.0, "{p10} {p50} {p90}");
    }

    #[test]
    fn expansion_by_the_renewal_extends_the_horizon_at_its_rate() {
        assert_eq!(expand_by_renewal(f64::NAN, 100, 90), None);
        assert!((expand_by_renewal(0.1, 90, 90).unwrap() - 0.1).abs() < 1e-12);
        assert!((expand_by_renewal(0.1, 180, 90).unwrap() - 0.19).abs() < 1e-12);
    }

    #[test]
    fn saves_take_the_largest_measured_reduction_and_skip_the_control_group() {
        let row = |id: &str| Row {
            account_id: id.into(),
            crm_id: None,
            segment: "smb".into(),
            owner: None,
            renewal_date: 0,
            arr: 1000.0,
            p_churn_by_renewal: 0.4,
            p_expand_by_renewal: None,
            expected_change: 0.0,
            save: None,
            health_score: 30.0,
            tier: "red",
            top_risk_reason: None,
        };
        let alert = |id: &str, playbook: &str, control: bool| alerts::Row {
            alert_id: format!("{id}-{playbook}"),
            account_id: id.into(),
            crm_id: None,
            account_name: None,
            owner: None,
            playbook: playbook.into(),
            trigger: String::new(),
            severity: "high",
            route: "owner",
            priority: 0.0,
            message: String::new(),
            action: String::new(),
            arr: 1000.0,
            arr_at_risk: 400.0,
            p_churn_90d: 0.4,
            cohort: 0,
            suppressed_by: control.then_some(alerts::Suppression::ControlGroup),
        };
        let mut rows = vec![row("a"), row("b"), row("c")];
        let helped: BTreeMap<String, f64> = [("save".to_string(), 0.25), ("call".to_string(), 0.5)].into();
        let a = [alert("a", "save", false), alert("a", "call", false), alert("b", "call", true), alert("c", "digest", false)];
        apply_saves(&mut rows, &a, &helped);
        assert_eq!(rows[0].save, Some(("call".to_string(), 0.5)));
        assert!((rows[0].p_churn_with_saves() - 0.2).abs() < 1e-12 && (rows[0].expected_arr_with_saves() - 800.0).abs() < 1e-9);
        assert_eq!((rows[1].save.clone(), rows[2].save.clone()), (None, None), "held out, and a playbook with no measured effect");
        assert_eq!(rows[1].p_churn_with_saves(), 0.4);
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
            p_expand_by_renewal: None,
            expected_change: 0.1,
            save: None,
            health_score: 50.0,
            tier: "yellow",
            top_risk_reason: None,
        };
        let rows = vec![row("churned-at-renewal", 40), row("churned-after", 40), row("stayed", 45), row("unseen", 100)];
        let label = |c: Option<i32>, obs: i32| Label { days_to_churn: c, expanded: false, observed_days: obs };
        let labels: std::collections::HashMap<(String, i32), Label> = [
            (("churned-at-renewal".to_string(), origin), label(Some(40), 180)),
            (("churned-after".to_string(), origin), label(Some(40 + RENEWAL_SLACK_DAYS + 1), 180)),
            (("stayed".to_string(), origin), label(None, 180)),
            (("unseen".to_string(), origin), label(None, 90)),
        ]
        .into();
        // "stayed" expanded to 1,500 before its renewal; "churned-after" renewed flat
        let renewed: std::collections::HashMap<String, f64> = [("stayed".to_string(), 1500.0)].into();
        let b = backtest(&rows, &labels, &renewed, &Moves::default(), origin);
        assert_eq!((b.total.accounts, b.unobserved), (3, 1));
        assert_eq!((b.total.arr, b.total.actual_gross), (3000.0, 2000.0), "churn on the renewal day counts, churn past the slack does not");
        assert_eq!(b.total.actual, 2500.0, "what renewed: the ARR after the last move");
        assert!((b.total.expected_gross - 2400.0).abs() < 1e-9 && (b.total.gross_error() - 0.4 / 3.0).abs() < 1e-9);
        assert!((b.total.expected - 2640.0).abs() < 1e-9 && (b.total.error() - 0.14 / 3.0).abs() < 1e-9);
    }
}
