//! `healthscore score`: features for one `as_of` → calibrated churn and
//! expansion probabilities → health score, tier, reasons, overrides and
//! context from earlier runs → the `account_scores` and `score_drivers`
//! tables.
//!
//! Health score (0–100, higher is healthier) = 100 × (1 − p_churn_at_renewal),
//! where p_churn_at_renewal is the calibrated churn probability the model
//! gives the account were its renewal due mid-way through the next 30 days.
//! It measures the account, not the calendar: an unhealthy account renewing
//! in ten months is red today. The timing-aware p_churn_30d/60d/90d sit
//! beside it. In a cold start (rules card) the health score is the rules
//! score, and the probabilities are the rules risk calibrated on the
//! validation window (null when too few accounts churned there). Tiers use
//! the card's cut-offs (from the training window's churn rate at renewal)
//! unless `scoring.tiers` fixes them.
//!
//! Everything is computed at `as_of`, never at the wall clock, and rows are
//! sorted by `account_id`, so a rerun gives the same bytes.

pub mod care;
pub mod live;
pub mod reasons;

use std::collections::{BTreeMap, HashMap};

use arrow::array::RecordBatch;
use chrono::NaiveDate;

use crate::config::Config;
use crate::dates::{date, day};
use crate::domain::Tier;
use crate::engine::Engine;
use crate::error::{Error, Result};
use crate::features::{Feature, FeatureSet};
use crate::model::card::Kind;
use crate::columns;
use crate::model::frame::{self, Frame};
use crate::model::registry::Registry;
use crate::model::Model;
use crate::output::tables::{account_scores, score_drivers};
use crate::output::Output;

/// The current model, refused when its feature set has changed.
pub async fn current_model(engine: &Engine, cfg: &Config) -> Result<(Model, FeatureSet)> {
    let registry = Registry::open(&engine.stores, cfg)?;
    let Some(version) = registry.current().await? else {
        return Err(Error::Usage(format!(
            "no current model under {}: run `healthscore train` first (it falls back to the rules score when outcomes are too few)",
            registry.location()
        )));
    };
    let stored = registry.load(&version).await?;
    let card = &stored.card;
    let fs = FeatureSet::load(&cfg.sql_dir, &card.feature_set.version)?;
    if fs.hash != card.feature_set.hash {
        return Err(Error::Usage(format!(
            "model `{}/{}` was trained on feature set `{}` with hash {}…, but `{}` now hashes to {}…: \
             a released feature set is frozen — restore it, or put the change in a new version folder and run `healthscore train`",
            card.name,
            card.version,
            card.feature_set.version,
            &card.feature_set.hash[..12],
            fs.sql.dir.display(),
            &fs.hash[..12]
        )));
    }
    if fs.vocabulary(cfg) != card.vocabulary {
        return Err(Error::Usage(format!(
            "model `{}/{}` read the export through another vocabulary than the config gives now (`features.vocabulary_file`): \
             the features would mean something else — restore the file, or run `healthscore train`",
            card.name, card.version
        )));
    }
    for name in &card.features {
        let f = fs.spec.get(name).ok_or_else(|| Error::Usage(format!("feature `{name}` of model `{}` is not in `{}`", card.version, fs.sql.name)))?;
        if let Some(t) = f.missing(|r| engine.present(r)).first() {
            return Err(Error::Usage(format!(
                "model `{}` reads `{name}`, which needs table `{t}`, and `{t}` is missing from the export; restore it or retrain without it",
                card.version
            )));
        }
    }
    Ok((Model::from_stored(stored, cfg.training.num_threads)?, fs))
}

pub struct Scored {
    pub as_of: NaiveDate,
    pub model_version: String,
    pub model_kind: Kind,
    pub feature_version: String,
    pub feature_hash: String,
    pub horizons: Vec<u32>,
    pub expansion_horizon: u32,
    pub frame: Frame,
    pub features: Vec<Feature>,
    /// rows × features, positive = raises churn risk.
    pub contributions: Vec<f64>,
    pub medians: HashMap<(String, usize), f64>,
    pub vocab: frame::Vocab,
    pub rows: Vec<account_scores::Row>,
}

fn round1(v: f64) -> f64 {
    (v * 10.0).round() / 10.0
}
fn round4(v: f64) -> f64 {
    (v * 10_000.0).round() / 10_000.0
}

struct Override {
    tier: Option<Tier>,
    score: Option<f64>,
    reason: String,
    author: String,
}

/// Unexpired overrides at `as_of` (created before it, expiring after it), the latest per account.
async fn overrides(engine: &Engine, as_of: NaiveDate) -> Result<HashMap<String, Override>> {
    let sql = format!(
        "SELECT account_id, lower(tier) AS tier, score, reason, author FROM overrides \
         WHERE created_at < TIMESTAMP '{as_of} 00:00:00' AND expires_at > TIMESTAMP '{as_of} 00:00:00' \
         ORDER BY account_id, created_at"
    );
    let mut out = HashMap::new();
    for b in engine.query(&sql).await? {
        let ids = columns::strings(&b, "account_id")?;
        let tiers = columns::strings(&b, "tier")?;
        let scores = columns::floats(&b, "score")?;
        let reasons = columns::strings(&b, "reason")?;
        let authors = columns::strings(&b, "author")?;
        for i in 0..b.num_rows() {
            let tier = tiers[i].as_deref().and_then(Tier::parse);
            let score = Some(scores[i]).filter(|s| s.is_finite() && (0.0..=100.0).contains(s));
            if tier.is_none() && score.is_none() {
                tracing::warn!("`overrides`: account {} has no valid tier (red, yellow, green) or score (0–100); ignored", ids[i].clone().unwrap_or_default());
                continue;
            }
            out.insert(
                ids[i].clone().unwrap_or_default(),
                Override { tier, score, reason: reasons[i].clone().unwrap_or_default(), author: authors[i].clone().unwrap_or_default() },
            );
        }
    }
    Ok(out)
}

struct AccountInfo {
    crm_id: Option<String>,
    name: Option<String>,
    owner: Option<String>,
    arr: f64,
    renewal: Option<i32>,
}

async fn account_info(engine: &Engine) -> Result<HashMap<String, AccountInfo>> {
    let mut out = HashMap::new();
    for b in engine.query("SELECT account_id, crm_id, name, owner_email, arr, CAST(renewal_date AS INT) AS renewal FROM accounts").await? {
        let ids = columns::strings(&b, "account_id")?;
        let crm = columns::strings(&b, "crm_id")?;
        let names = columns::strings(&b, "name")?;
        let owners = columns::strings(&b, "owner_email")?;
        let arr = columns::floats(&b, "arr")?;
        let ren = columns::floats(&b, "renewal")?;
        for i in 0..b.num_rows() {
            out.insert(
                ids[i].clone().unwrap_or_default(),
                AccountInfo {
                    crm_id: crm[i].clone(),
                    name: names[i].clone(),
                    owner: owners[i].clone(),
                    arr: arr[i],
                    renewal: (!ren[i].is_nan()).then_some(ren[i] as i32),
                },
            );
        }
    }
    Ok(out)
}

/// Each account's context features (`model: false`: the text that reasons
/// and alert messages quote — the product areas that stopped, which message
/// on which day mentioned an intent), by name, where not null.
fn context(batches: &[RecordBatch], fs: &FeatureSet) -> Result<HashMap<String, Vec<(String, String)>>> {
    let mut out: HashMap<String, Vec<(String, String)>> = HashMap::new();
    for f in fs.spec.features.iter().filter(|f| !f.model) {
        for b in batches.iter().filter(|b| b.column_by_name(&f.name).is_some()) {
            let (ids, text) = (columns::strings(b, "account_id")?, columns::strings(b, &f.name)?);
            for (id, t) in ids.into_iter().zip(text).filter_map(|(i, t)| Some((i?, t?))) {
                out.entry(id).or_default().push((f.name.clone(), t));
            }
        }
    }
    Ok(out)
}

/// Scores every account in the population at `as_of`.
pub async fn score(engine: &Engine, cfg: &Config, model: &Model, fs: &FeatureSet, as_of: NaiveDate) -> Result<Scored> {
    let card = &model.card;
    let features: Vec<&Feature> = card.features.iter().map(|n| fs.spec.get(n).expect("checked by current_model")).collect();
    let batches = fs.build(engine, &[as_of]).await?;
    let (frame, _) = frame::build(&batches, &features, Some(&card.vocab))?;
    let context = context(&batches, fs)?;
    let s = model.predict(&frame, &features, &cfg.rule_weights)?;
    let medians = reasons::segment_medians(&frame);
    let info = account_info(engine).await?;
    let ovr = overrides(engine, as_of).await?;
    let n = frame.rows();
    let w = frame.width();
    // `scoring.tiers` when fixed, else the model's own cut-offs from its card
    let tiers = cfg.tiers.clone().or_else(|| card.tiers.as_ref().map(|t| t.cutoffs.clone())).unwrap_or(crate::config::FIXED_TIERS);

    // percentile of the model's health among the same segment
    let mut by_seg: HashMap<&str, Vec<f64>> = HashMap::new();
    for i in 0..n {
        by_seg.entry(frame.segment.get(i).map(String::as_str).unwrap_or("")).or_default().push(s.health[i]);
    }
    by_seg.values_mut().for_each(|v| v.sort_by(f64::total_cmp));
    let percentile = |seg: &str, h: f64| {
        let v = &by_seg[seg];
        let below = v.partition_point(|x| *x < h);
        let equal = v.partition_point(|x| *x <= h) - below;
        100.0 * (below as f64 + equal as f64 / 2.0) / v.len() as f64
    };

    let seats = frame.col("seat_utilization");
    // `accounts` is today's row: its ARR and renewal date are facts of the
    // export's day. A past `as_of` (a backfill) reads them from the
    // point-in-time features instead, and has none when they are absent.
    let past = as_of < engine.export_date;
    let feature = |i: usize, name: &str| frame.col(name).map(|j| frame.value(i, j)).filter(|v| v.is_finite());
    let as_of_day = crate::dates::day(as_of);
    let mut rows = Vec::with_capacity(n);
    for i in 0..n {
        let id = frame.account_id[i].clone();
        let seg = frame.segment.get(i).cloned().unwrap_or_default();
        let model_health = round1(s.health[i]);
        let model_tier = tiers.classify(model_health);
        let o = ovr.get(&id);
        let health = o.and_then(|o| o.score).map(round1).unwrap_or(model_health);
        let tier = o.and_then(|o| o.tier).unwrap_or_else(|| tiers.classify(health));
        let p_expand = s.p_expand[i];
        let ctx = context.get(&id).map(Vec::as_slice).unwrap_or_default();
        let r =
            reasons::explain(&frame, i, &s.contributions[i * w..(i + 1) * w], &features, &medians, cfg.risk_reasons, cfg.positive_reasons, tier, p_expand, ctx);
        let a = info.get(&id);
        rows.push(account_scores::Row {
            crm_id: a.and_then(|a| a.crm_id.clone()),
            name: a.and_then(|a| a.name.clone()),
            owner: a.and_then(|a| a.owner.clone()),
            areas_stopped: ctx.iter().find(|(n, _)| n == "areas_stopped").map(|(_, t)| t.clone()),
            arr: if past { feature(i, "arr").unwrap_or(f64::NAN) } else { a.map(|a| a.arr).unwrap_or(f64::NAN) },
            renewal_date: if past { feature(i, "days_to_renewal").map(|d| as_of_day + d as i32) } else { a.and_then(|a| a.renewal) },
            segment_percentile: round1(percentile(&seg, s.health[i])),
            segment: seg,
            health,
            tier,
            model_health,
            model_tier,
            p_churn: s.p_churn.iter().map(|p| round4(p[i])).collect(),
            p_expand: round4(p_expand),
            p_churn_at_renewal: s.p_churn_at_renewal[i].map(round4),
            delta_7d: None,
            delta_30d: None,
            days_in_tier: None,
            risk: r.risk,
            positive: r.positive,
            action: r.action,
            override_applied: o.is_some(),
            override_reason: o.map(|o| o.reason.clone()),
            override_author: o.map(|o| o.author.clone()),
            hazards: s.hazards.get(i).cloned().unwrap_or_default(),
            previous_tier: None,
            seat_utilization: seats.map(|j| frame.value(i, j)).filter(|v| v.is_finite()),
            care: None,
            account_id: id,
        });
    }
    Ok(Scored {
        as_of,
        model_version: match card.kind {
            Kind::Rules if model.rules_calibrated() => {
                format!("{}/{} (rules, calibrated)", card.name, card.version)
            }
            Kind::Rules => format!("{}/{} (rules)", card.name, card.version),
            Kind::Lightgbm => format!("{}/{}", card.name, card.version),
        },
        model_kind: card.kind.clone(),
        feature_version: fs.version.clone(),
        feature_hash: fs.hash.clone(),
        horizons: card.horizons.clone(),
        expansion_horizon: card.expansion_horizon,
        contributions: s.contributions,
        medians,
        vocab: card.vocab.clone(),
        features: features.into_iter().cloned().collect(),
        frame,
        rows,
    })
}

/// The earlier runs a run is compared with: the newest at least 7 (and at
/// most 14) days before `as_of`, the same for 30 (60), and the newest of all.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct History {
    pub d7: Option<i32>,
    pub d30: Option<i32>,
    pub last: Option<i32>,
}

/// Picks the partitions `History` compares with from the published
/// partition days (any order; days at or after `as_of` are ignored).
pub fn pick_history(published: &[i32], as_of: i32) -> History {
    let mut earlier: Vec<i32> = published.iter().copied().filter(|d| *d < as_of).collect();
    earlier.sort_unstable();
    let pick = |n: i32| earlier.iter().rev().find(|d| **d <= as_of - n && **d > as_of - 2 * n).copied();
    History { d7: pick(7), d30: pick(30), last: earlier.last().copied() }
}

/// Deltas and days in tier, from the published partitions before `as_of`,
/// and the care columns (which read the 30-day delta).
pub async fn add_history(out: &Output, scored: &mut Scored, care: &crate::config::Care) -> Result<()> {
    let t = &account_scores::TABLE;
    let as_of = day(scored.as_of);
    let published: Vec<i32> = out
        .partitions(t.name)
        .await?
        .iter()
        .filter_map(|p| t.partition_date(p))
        .map(day)
        .collect();
    let h = pick_history(&published, as_of);
    let mut runs: BTreeMap<i32, HashMap<String, account_scores::Earlier>> = BTreeMap::new();
    for d in [h.d7, h.d30, h.last].into_iter().flatten() {
        if !runs.contains_key(&d) {
            let batches = out.read_partition(t.name, &t.partition(date(d))).await?.unwrap_or_default();
            runs.insert(d, account_scores::read_earlier(&batches)?);
        }
    }
    for r in &mut scored.rows {
        let get = |d: Option<i32>| d.and_then(|d| runs.get(&d)).and_then(|m| m.get(&r.account_id));
        r.delta_7d = get(h.d7).map(|p| round1(r.health - p.health));
        r.delta_30d = get(h.d30).map(|p| round1(r.health - p.health));
        r.previous_tier = get(h.last).and_then(|p| p.tier);
        r.care = Some(care::classify(r, care));
        r.days_in_tier = Some(match (get(h.last), h.last) {
            (Some(p), Some(d)) if p.tier == Some(r.tier) => p.days_in_tier.unwrap_or(0) + (as_of - d) as i64,
            _ => 0,
        });
    }
    Ok(())
}

/// The `account_scores` rows of this run as a batch.
pub fn account_scores(s: &Scored) -> Result<RecordBatch> {
    account_scores::batch(&s.rows, day(s.as_of), &s.horizons, s.expansion_horizon, &s.model_version)
}

/// The `score_drivers` table: every account × feature, with its value, its
/// contribution (positive raises churn risk) and the segment's median, as
/// batches built on demand, `score_drivers::ACCOUNTS_PER_BATCH` accounts each.
pub fn score_drivers(s: &Scored) -> impl Iterator<Item = RecordBatch> + '_ {
    let rows = s.frame.rows();
    (0..rows).step_by(score_drivers::ACCOUNTS_PER_BATCH).map(move |start| drivers_batch(s, start..(start + score_drivers::ACCOUNTS_PER_BATCH).min(rows)))
}

fn drivers_batch(s: &Scored, accounts: std::ops::Range<usize>) -> RecordBatch {
    let f = &s.frame;
    let w = f.width();
    let mut rows = Vec::with_capacity(accounts.len() * w);
    for i in accounts {
        let seg = f.segment.get(i).cloned().unwrap_or_default();
        for j in 0..w {
            let ft = &s.features[j];
            let v = f.value(i, j);
            let shown = if ft.categorical {
                s.vocab.get(&ft.name).and_then(|voc| (v.is_finite()).then(|| voc.get(v as usize)).flatten()).cloned().unwrap_or_else(|| "n/a".into())
            } else {
                crate::features::render(ft.unit, v)
            };
            let c = s.contributions[i * w + j];
            rows.push(score_drivers::Row {
                account_id: &f.account_id[i],
                feature: &ft.name,
                label: &ft.label,
                value: (!ft.categorical && v.is_finite()).then_some(v),
                value_text: shown,
                contribution: c.is_finite().then(|| (c * 1e6).round() / 1e6),
                segment_median: if ft.categorical { None } else { s.medians.get(&(seg.clone(), j)).copied() },
                explained: ft.explain,
            });
        }
    }
    score_drivers::batch(&rows, day(s.as_of))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn history_picks_the_newest_run_inside_each_window() {
        let as_of = 1000;
        // runs 1, 6, 8, 13, 20, 31 and 59 days before, one after, unordered
        let published = [as_of - 20, as_of - 1, as_of - 8, as_of - 59, as_of - 6, as_of - 13, as_of - 31, as_of + 1];
        let h = pick_history(&published, as_of);
        assert_eq!(h.d7, Some(as_of - 8), "the newest at least 7 days old");
        assert_eq!(h.d30, Some(as_of - 31), "the newest at least 30 days old");
        assert_eq!(h.last, Some(as_of - 1), "the newest before as_of, never the one after");
    }

    #[test]
    fn history_leaves_a_window_empty_rather_than_reaching_too_far_back() {
        // only a run 15 days before: too old for the 7-day delta (max 14), too young for 30
        let h = pick_history(&[985], 1000);
        assert_eq!(h, History { d7: None, d30: None, last: Some(985) });
        assert_eq!(pick_history(&[], 1000), History::default());
        assert_eq!(pick_history(&[1000], 1000), History::default(), "a rerun of the same date is not history");
    }
}
