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

pub mod reasons;

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use arrow::array::{
    ArrayRef, BooleanBuilder, Date32Builder, Float64Builder, Int64Builder, ListBuilder, RecordBatch, StringBuilder,
};
use arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use chrono::NaiveDate;

use crate::config::Config;
use crate::dates::{date, day};
use crate::engine::Engine;
use crate::error::{Error, Result};
use crate::features::{Feature, FeatureSet};
use crate::model::card::Kind;
use crate::model::frame::{self, Frame};
use crate::model::registry::Registry;
use crate::model::Model;
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
        for t in &f.requires {
            if !engine.present(t) {
                return Err(Error::Usage(format!(
                    "model `{}` reads `{name}`, which needs table `{t}`, and `{t}` is missing from the export; restore it or retrain without it",
                    card.version
                )));
            }
        }
    }
    Ok((Model::from_stored(stored, cfg.training.num_threads)?, fs))
}

#[derive(Debug, Clone)]
pub struct AccountScore {
    pub account_id: String,
    pub crm_id: Option<String>,
    pub name: Option<String>,
    pub segment: String,
    pub arr: f64,
    pub renewal_date: Option<i32>,
    pub health: f64,
    pub tier: &'static str,
    pub model_health: f64,
    pub model_tier: &'static str,
    pub p_churn: Vec<f64>,
    pub p_expand: f64,
    pub p_churn_at_renewal: Option<f64>,
    pub segment_percentile: f64,
    pub delta_7d: Option<f64>,
    pub delta_30d: Option<f64>,
    pub days_in_tier: Option<i64>,
    pub risk: Vec<(String, String)>,
    pub positive: Vec<(String, String)>,
    pub action: String,
    pub override_applied: bool,
    pub override_reason: Option<String>,
    pub override_author: Option<String>,
    /// Calibrated churn hazard per 30-day interval (empty for rules).
    pub hazards: Vec<f64>,
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
    pub rows: Vec<AccountScore>,
}

fn round1(v: f64) -> f64 {
    (v * 10.0).round() / 10.0
}
fn round4(v: f64) -> f64 {
    (v * 10_000.0).round() / 10_000.0
}

struct Override {
    tier: Option<String>,
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
        let ids = frame::strings(&b, "account_id")?;
        let tiers = frame::strings(&b, "tier")?;
        let scores = frame::floats(&b, "score")?;
        let reasons = frame::strings(&b, "reason")?;
        let authors = frame::strings(&b, "author")?;
        for i in 0..b.num_rows() {
            let tier = tiers[i].clone().filter(|t| ["red", "yellow", "green"].contains(&t.as_str()));
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
    arr: f64,
    renewal: Option<i32>,
}

async fn account_info(engine: &Engine) -> Result<HashMap<String, AccountInfo>> {
    let mut out = HashMap::new();
    for b in engine.query("SELECT account_id, crm_id, name, arr, CAST(renewal_date AS INT) AS renewal FROM accounts").await? {
        let ids = frame::strings(&b, "account_id")?;
        let crm = frame::strings(&b, "crm_id")?;
        let names = frame::strings(&b, "name")?;
        let arr = frame::floats(&b, "arr")?;
        let ren = frame::floats(&b, "renewal")?;
        for i in 0..b.num_rows() {
            out.insert(
                ids[i].clone().unwrap_or_default(),
                AccountInfo {
                    crm_id: crm[i].clone(),
                    name: names[i].clone(),
                    arr: arr[i],
                    renewal: (!ren[i].is_nan()).then_some(ren[i] as i32),
                },
            );
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

    let mut rows = Vec::with_capacity(n);
    for i in 0..n {
        let id = frame.account_id[i].clone();
        let seg = frame.segment.get(i).cloned().unwrap_or_default();
        let model_health = round1(s.health[i]);
        let model_tier = tiers.tier(model_health);
        let o = ovr.get(&id);
        let health = o.and_then(|o| o.score).map(round1).unwrap_or(model_health);
        let tier = match o.and_then(|o| o.tier.as_deref()) {
            Some("red") => "red",
            Some("yellow") => "yellow",
            Some("green") => "green",
            _ => tiers.tier(health),
        };
        let p_expand = s.p_expand[i];
        let r = reasons::explain(&frame, i, &s.contributions[i * w..(i + 1) * w], &features, &medians, cfg.risk_reasons, cfg.positive_reasons, tier, p_expand);
        let a = info.get(&id);
        rows.push(AccountScore {
            crm_id: a.and_then(|a| a.crm_id.clone()),
            name: a.and_then(|a| a.name.clone()),
            arr: a.map(|a| a.arr).unwrap_or(f64::NAN),
            renewal_date: a.and_then(|a| a.renewal),
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
            account_id: id,
        });
    }
    Ok(Scored {
        as_of,
        model_version: match card.kind {
            Kind::Rules if model.rules_calibrated() => format!("{}/{} (rules, calibrated)", card.name, card.version),
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

/// Deltas and days in tier, from the published partitions before `as_of`.
pub async fn add_history(out: &Output, scored: &mut Scored) -> Result<()> {
    let as_of = day(scored.as_of);
    let mut earlier: Vec<i32> = out
        .partitions("account_scores")
        .await?
        .iter()
        .filter_map(|p| p.strip_prefix("as_of=").and_then(|d| NaiveDate::parse_from_str(d, "%Y-%m-%d").ok()))
        .map(day)
        .filter(|d| *d < as_of)
        .collect();
    earlier.sort_unstable();
    struct Prev {
        health: f64,
        tier: String,
        days_in_tier: Option<i64>,
    }
    let mut cache: BTreeMap<i32, HashMap<String, Prev>> = BTreeMap::new();
    let mut load = async |d: i32| -> Result<()> {
        if cache.contains_key(&d) {
            return Ok(());
        }
        let mut m = HashMap::new();
        if let Some(batches) = out.read_partition("account_scores", &format!("as_of={}", date(d))).await? {
            for b in batches {
                let ids = frame::strings(&b, "account_id")?;
                let h = frame::floats(&b, "health_score")?;
                let t = frame::strings(&b, "tier")?;
                let dit = frame::floats(&b, "days_in_tier")?;
                for i in 0..b.num_rows() {
                    m.insert(
                        ids[i].clone().unwrap_or_default(),
                        Prev { health: h[i], tier: t[i].clone().unwrap_or_default(), days_in_tier: (!dit[i].is_nan()).then_some(dit[i] as i64) },
                    );
                }
            }
        }
        cache.insert(d, m);
        Ok(())
    };
    // the newest partition at least N days old (and at most 2N)
    let pick = |n: i32| earlier.iter().rev().find(|d| **d <= as_of - n && **d > as_of - 2 * n).copied();
    let (d7, d30, last) = (pick(7), pick(30), earlier.last().copied());
    for d in [d7, d30, last].into_iter().flatten() {
        load(d).await?;
    }
    for r in &mut scored.rows {
        let get = |d: Option<i32>| d.and_then(|d| cache.get(&d)).and_then(|m| m.get(&r.account_id));
        r.delta_7d = get(d7).map(|p| round1(r.health - p.health));
        r.delta_30d = get(d30).map(|p| round1(r.health - p.health));
        r.days_in_tier = Some(match (get(last), last) {
            (Some(p), Some(d)) if p.tier == r.tier => p.days_in_tier.unwrap_or(0) + (as_of - d) as i64,
            _ => 0,
        });
    }
    Ok(())
}

fn utf8(name: &str, nullable: bool) -> Field {
    Field::new(name, DataType::Utf8, nullable)
}
fn f64f(name: &str) -> Field {
    Field::new(name, DataType::Float64, true)
}
fn reason_list(name: &str) -> Field {
    Field::new(name, DataType::List(Arc::new(Field::new("item", DataType::Utf8, true))), false)
}

/// The `account_scores` table for this run.
pub fn account_scores(s: &Scored) -> Result<(SchemaRef, RecordBatch)> {
    let mut fields = vec![
        utf8("account_id", false),
        utf8("crm_id", true),
        utf8("name", true),
        utf8("segment", true),
        Field::new("as_of", DataType::Date32, false),
        f64f("health_score"),
        utf8("tier", false),
    ];
    for h in &s.horizons {
        fields.push(f64f(&format!("p_churn_{h}d")));
    }
    fields.extend([
        f64f(&format!("p_expand_{}d", s.expansion_horizon)),
        f64f("p_churn_at_renewal"),
        f64f("segment_percentile"),
        f64f("score_delta_7d"),
        f64f("score_delta_30d"),
        Field::new("days_in_tier", DataType::Int64, true),
        reason_list("top_risk_reasons"),
        reason_list("top_positive_reasons"),
        utf8("recommended_action", false),
        utf8("model_version", false),
        Field::new("override_applied", DataType::Boolean, false),
        f64f("model_health_score"),
        utf8("model_tier", false),
        utf8("override_reason", true),
        utf8("override_author", true),
        f64f("arr"),
        Field::new("renewal_date", DataType::Date32, true),
    ]);
    let schema = Arc::new(Schema::new(fields));
    let rows = &s.rows;
    let text = |f: &dyn Fn(&AccountScore) -> Option<String>| -> ArrayRef {
        let mut b = StringBuilder::new();
        rows.iter().for_each(|r| b.append_option(f(r)));
        Arc::new(b.finish())
    };
    let num = |f: &dyn Fn(&AccountScore) -> Option<f64>| -> ArrayRef {
        let mut b = Float64Builder::new();
        rows.iter().for_each(|r| b.append_option(f(r).filter(|v| v.is_finite())));
        Arc::new(b.finish())
    };
    let list = |f: &dyn Fn(&AccountScore) -> &Vec<(String, String)>| -> ArrayRef {
        let mut b = ListBuilder::new(StringBuilder::new());
        for r in rows {
            for (_, t) in f(r) {
                b.values().append_value(t);
            }
            b.append(true);
        }
        Arc::new(b.finish())
    };
    let as_of = day(s.as_of);
    let mut cols: Vec<ArrayRef> = vec![
        text(&|r| Some(r.account_id.clone())),
        text(&|r| r.crm_id.clone()),
        text(&|r| r.name.clone()),
        text(&|r| Some(r.segment.clone())),
        Arc::new(rows.iter().map(|_| Some(as_of)).collect::<arrow::array::Date32Array>()),
        num(&|r| Some(r.health)),
        text(&|r| Some(r.tier.to_string())),
    ];
    for k in 0..s.horizons.len() {
        cols.push(num(&|r| Some(r.p_churn[k])));
    }
    let mut days_in_tier = Int64Builder::new();
    rows.iter().for_each(|r| days_in_tier.append_option(r.days_in_tier));
    let mut applied = BooleanBuilder::new();
    rows.iter().for_each(|r| applied.append_value(r.override_applied));
    let mut renewal = Date32Builder::new();
    rows.iter().for_each(|r| renewal.append_option(r.renewal_date));
    cols.extend([
        num(&|r| Some(r.p_expand)),
        num(&|r| r.p_churn_at_renewal),
        num(&|r| Some(r.segment_percentile)),
        num(&|r| r.delta_7d),
        num(&|r| r.delta_30d),
        Arc::new(days_in_tier.finish()) as ArrayRef,
        list(&|r| &r.risk),
        list(&|r| &r.positive),
        text(&|r| Some(r.action.clone())),
        text(&|_| Some(s.model_version.clone())),
        Arc::new(applied.finish()) as ArrayRef,
        num(&|r| Some(r.model_health)),
        text(&|r| Some(r.model_tier.to_string())),
        text(&|r| r.override_reason.clone()),
        text(&|r| r.override_author.clone()),
        num(&|r| Some(r.arr)),
        Arc::new(renewal.finish()) as ArrayRef,
    ]);
    let batch = RecordBatch::try_new(schema.clone(), cols).map_err(|e| Error::other("building account_scores", e))?;
    Ok((schema, batch))
}

/// Accounts per `score_drivers` batch: the table is accounts × features
/// rows (3.4 million at 82,000 accounts, 300 MB of Arrow arrays), so it is
/// built and written a slice at a time rather than held whole.
pub const DRIVER_ACCOUNTS_PER_BATCH: usize = 1024;

/// The `score_drivers` table: every account × feature, with its value, its
/// contribution (positive raises churn risk) and the segment's median, as
/// batches built on demand.
pub fn score_drivers(s: &Scored) -> (SchemaRef, impl Iterator<Item = RecordBatch> + '_) {
    let schema = Arc::new(Schema::new(vec![
        utf8("account_id", false),
        Field::new("as_of", DataType::Date32, false),
        utf8("feature", false),
        utf8("label", false),
        f64f("value"),
        utf8("value_text", false),
        f64f("contribution"),
        f64f("segment_median"),
        Field::new("explained", DataType::Boolean, false),
    ]));
    let rows = s.frame.rows();
    let batches = (0..rows).step_by(DRIVER_ACCOUNTS_PER_BATCH).map({
        let schema = schema.clone();
        move |start| drivers_batch(s, &schema, start..(start + DRIVER_ACCOUNTS_PER_BATCH).min(rows))
    });
    (schema, batches)
}

fn drivers_batch(s: &Scored, schema: &SchemaRef, accounts: std::ops::Range<usize>) -> RecordBatch {
    let f = &s.frame;
    let w = f.width();
    let (mut id, mut feat, mut label, mut text) = (StringBuilder::new(), StringBuilder::new(), StringBuilder::new(), StringBuilder::new());
    let (mut value, mut contrib, mut median) = (Float64Builder::new(), Float64Builder::new(), Float64Builder::new());
    let mut explained = BooleanBuilder::new();
    let mut as_of = Date32Builder::new();
    let d = day(s.as_of);
    for i in accounts {
        let seg = f.segment.get(i).cloned().unwrap_or_default();
        for j in 0..w {
            let ft = &s.features[j];
            let v = f.value(i, j);
            id.append_value(&f.account_id[i]);
            as_of.append_value(d);
            feat.append_value(&ft.name);
            label.append_value(&ft.label);
            let shown = if ft.categorical {
                s.vocab.get(&ft.name).and_then(|voc| (v.is_finite()).then(|| voc.get(v as usize)).flatten()).cloned().unwrap_or_else(|| "n/a".into())
            } else {
                crate::features::render(ft.unit, v)
            };
            value.append_option((!ft.categorical && v.is_finite()).then_some(v));
            text.append_value(shown);
            let c = s.contributions[i * w + j];
            contrib.append_option(c.is_finite().then(|| (c * 1e6).round() / 1e6));
            median.append_option(if ft.categorical { None } else { s.medians.get(&(seg.clone(), j)).copied() });
            explained.append_value(ft.explain);
        }
    }
    RecordBatch::try_new(
        schema.clone(),
        vec![
            Arc::new(id.finish()),
            Arc::new(as_of.finish()),
            Arc::new(feat.finish()),
            Arc::new(label.finish()),
            Arc::new(value.finish()),
            Arc::new(text.finish()),
            Arc::new(contrib.finish()),
            Arc::new(median.finish()),
            Arc::new(explained.finish()),
        ],
    )
    .expect("the builders follow the schema, one value per row each")
}
