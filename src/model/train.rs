//! `healthscore train`: labels and features over monthly snapshots in one
//! plan, a time-ordered split with gaps, LightGBM for the churn hazard and for
//! expansion, isotonic calibration on the validation window, metrics on the
//! test window beside the rules baseline, and the promotion gate.
//!
//! Split: the newest `test_months` snapshot dates are the test window; the
//! validation window is the `validation_months` dates that end at least the
//! longest horizon before the test window starts; training takes every date
//! at least that long before validation. A 90-day label at snapshot T reads
//! T..T+90, the days the next snapshots' features read, so without the gaps
//! validation would be optimistic.

use std::collections::{BTreeMap, HashMap};

use chrono::NaiveDate;

use super::calibrate::Isotonic;
use super::card::{
    Calibration, Card, HealthCheck, HealthChecks, INTERVAL_DAYS, INTERVAL_FEATURE, Kind, Promotion, SqlRef, TargetMetrics, TierPolicy, TierRate, Window,
};
use super::frame::{self, Frame, Vocab};
use super::metrics::{self, Metrics};
use super::registry::{Registry, Stored};
use super::{Model, hazard_matrix, lgbm, rules};
use crate::config::{Config, FIXED_TIERS, Tiers};
use crate::domain::{Target, Tier};
use crate::columns;
use crate::engine::Engine;
use crate::output::tables;
use crate::error::{Error, Result};
use crate::features::{Feature, FeatureSet, SqlFolder};
use crate::dates::{date, day};

pub const LABELS_VERSION: &str = "v2";

/// Labels of one snapshot.
#[derive(Debug, Clone, Copy, Default)]
pub struct Label {
    pub days_to_churn: Option<i32>,
    pub expanded: bool,
    pub observed_days: i32,
}

impl Label {
    /// Churned within `h` days, or `None` when the export does not yet cover
    /// `h` days after the snapshot (censored: never a "stayed").
    pub fn churned_within(&self, h: u32) -> Option<bool> {
        if self.observed_days < h as i32 {
            return None;
        }
        Some(self.days_to_churn.is_some_and(|d| d < h as i32))
    }

    pub fn expanded_within(&self, h: u32) -> Option<bool> {
        (self.observed_days >= h as i32).then_some(self.expanded)
    }
}

/// The labels of (account, day) pairs — published scores, alerts — from the
/// labels SQL, with training's censoring. The feature set's views must be
/// registered (the labels read its staging); replaces the engine's
/// `snapshots` view with these pairs.
pub async fn labels_at(engine: &Engine, cfg: &Config, pairs: &[(String, i32)]) -> Result<HashMap<(String, i32), Label>> {
    use std::sync::Arc;
    let schema = Arc::new(arrow::datatypes::Schema::new(vec![
        arrow::datatypes::Field::new("account_id", arrow::datatypes::DataType::Utf8, false),
        arrow::datatypes::Field::new("as_of", arrow::datatypes::DataType::Date32, false),
    ]));
    let ids: Vec<&str> = pairs.iter().map(|(a, _)| a.as_str()).collect();
    let days: Vec<i32> = pairs.iter().map(|(_, d)| *d).collect();
    let batch = arrow::array::RecordBatch::try_new(schema.clone(), vec![Arc::new(arrow::array::StringArray::from(ids)), Arc::new(arrow::array::Date32Array::from(days))])
        .map_err(|e| Error::other("labels", e))?;
    engine.register_batches("labelled_pairs", schema, vec![batch])?;
    engine.define_view("snapshots", "SELECT DISTINCT account_id, as_of, CAST(as_of AS INT) AS as_of_day FROM labelled_pairs", false, "the labelled pairs").await?;
    SqlFolder::load(&cfg.sql_dir, "labels", LABELS_VERSION)?.register(engine, &[]).await?;
    let mut out = HashMap::new();
    for b in engine.query("SELECT account_id, CAST(as_of AS INT) AS as_of, days_to_churn, expanded, observed_days FROM labels").await? {
        let (ids, d, dtc, exp, obs) =
            (columns::strings(&b, "account_id")?, columns::floats(&b, "as_of")?, columns::floats(&b, "days_to_churn")?, columns::floats(&b, "expanded")?, columns::floats(&b, "observed_days")?);
        for i in 0..b.num_rows() {
            let label = Label { days_to_churn: (!dtc[i].is_nan()).then_some(dtc[i] as i32), expanded: exp[i] > 0.5, observed_days: obs[i] as i32 };
            out.insert((ids[i].clone().unwrap_or_default(), d[i] as i32), label);
        }
    }
    Ok(out)
}

/// Default LightGBM parameters; `training.lightgbm` overrides them.
pub fn default_params(cfg: &Config) -> lgbm::Params {
    let t = &cfg.training;
    let mut p: lgbm::Params = [
        ("objective", "binary".to_string()),
        ("metric", "binary_logloss".to_string()),
        ("learning_rate", "0.05".to_string()),
        ("num_leaves", "15".to_string()),
        ("max_depth", "5".to_string()),
        ("min_data_in_leaf", "40".to_string()),
        ("feature_fraction", "0.8".to_string()),
        ("bagging_fraction", "0.8".to_string()),
        ("bagging_freq", "1".to_string()),
        ("lambda_l2", "1.0".to_string()),
        ("num_iterations", "600".to_string()),
        ("early_stopping_round", "50".to_string()),
        ("max_bin", "255".to_string()),
        ("max_cat_to_onehot", "8".to_string()),
        ("seed", t.seed.to_string()),
        ("deterministic", "true".to_string()),
        ("force_row_wise", "true".to_string()),
        ("num_threads", t.num_threads.to_string()),
        ("verbosity", "-1".to_string()),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v))
    .collect();
    for (k, v) in &t.lightgbm {
        p.insert(k.clone(), v.clone());
    }
    p
}

/// Everything training needs, built once: the frame and its labels.
pub struct TrainingData {
    pub fs: FeatureSet,
    /// The features the frame holds: available on this export and not
    /// constant on it.
    pub features: Vec<String>,
    /// Features left out, each with why (the card lists them).
    pub dropped: Vec<String>,
    pub labels_set: SqlFolder,
    pub frame: Frame,
    pub vocab: Vocab,
    pub labels: Vec<Label>,
    pub dates: Vec<NaiveDate>,
}

impl TrainingData {
    /// The frame's features, in its column order.
    pub fn features(&self) -> Vec<&Feature> {
        self.features.iter().map(|n| self.fs.spec.get(n).expect("from the spec")).collect()
    }
}

/// The monthly snapshot dates training may use. Labels are censored at the
/// export's date, so `train` and `backtest` need it stated: the wall clock's
/// today would turn a stale export's recent churners into accounts that stayed.
pub async fn snapshot_dates(engine: &Engine, cfg: &Config) -> Result<Vec<NaiveDate>> {
    if !engine.present("subscriptions") && !engine.present("outcomes") {
        return Err(Error::Usage(
            "neither `subscriptions` nor `outcomes` is in the export: nothing says when an account was a customer or when it churned, \
             so there is nothing to train on — export the billing history (`subscriptions`) or the booked outcomes (`outcomes`)"
                .into(),
        ));
    }
    if cfg.export_date.is_none() {
        return Err(Error::Config(
            "`warehouse.export_date` is required to train: labels are censored at the day the export was taken, \
             and today's date would count a stale export's recent churners as accounts that stayed — set it to that day"
                .into(),
        ));
    }
    let max_h = *cfg.training.horizons.iter().max().unwrap();
    let b = engine.query("SELECT CAST(min(date) AS INT) FROM usage").await?;
    let first_usage = b
        .first()
        .and_then(|b| b.column(0).as_any().downcast_ref::<arrow::array::Int32Array>().filter(|a| !a.is_null(0)).map(|a| a.value(0)))
        .ok_or_else(|| Error::Usage("`usage` has no rows: nothing to train on".into()))?;
    use arrow::array::Array;
    // features look back 60 days at usage
    let from = cfg.training.from.unwrap_or_else(|| date(first_usage + 60));
    let to = cfg.training.to.unwrap_or(engine.export_date - chrono::Days::new(max_h as u64));
    Ok(crate::features::monthly(from, to))
}

pub async fn load(engine: &Engine, cfg: &Config, dates: &[NaiveDate]) -> Result<TrainingData> {
    let fs = FeatureSet::load(&cfg.sql_dir, &cfg.feature_version)?;
    let labels_set = SqlFolder::load(&cfg.sql_dir, "labels", LABELS_VERSION)?;
    let batches = fs.build(engine, dates).await?;
    labels_set.register(engine, &[]).await?;
    let lb = engine.query("SELECT account_id, as_of, days_to_churn, expanded, observed_days FROM labels").await?;
    let mut by_key: HashMap<(String, i32), Label> = HashMap::new();
    for b in &lb {
        let ids = columns::strings(b, "account_id")?;
        let asof = columns::days(b, "as_of")?;
        let dtc = columns::floats(b, "days_to_churn")?;
        let exp = columns::floats(b, "expanded")?;
        let obs = columns::floats(b, "observed_days")?;
        for i in 0..ids.len() {
            by_key.insert(
                (ids[i].clone().unwrap_or_default(), asof[i]),
                Label {
                    days_to_churn: (!dtc[i].is_nan()).then_some(dtc[i] as i32),
                    expanded: exp[i] > 0.5,
                    observed_days: obs[i] as i32,
                },
            );
        }
    }
    let present = engine.present_tables();
    let available = fs.model_inputs(&present);
    let mut dropped: Vec<String> = fs
        .spec
        .features
        .iter()
        .filter(|f| f.model && !available.iter().any(|a| a.name == f.name))
        .map(|f| {
            let missing = f.missing(|r| present.contains(r));
            format!("`{}`: the export has no `{}`", f.name, missing.join("`, `"))
        })
        .collect();
    let (all, mut vocab) = frame::build(&batches, &available, None)?;
    if all.rows() == 0 {
        return Err(Error::Usage(format!(
            "no account is in the population at any of the {} snapshot dates: `subscriptions` (or, without it, `usage` and `outcomes`) place no account in time",
            dates.len()
        )));
    }
    let constant = all.constant_columns();
    for j in &constant {
        let v = (0..all.rows()).map(|i| all.value(i, *j)).find(|v| !v.is_nan());
        dropped.push(match v {
            None => format!("`{}`: null on every row of this export", all.names[*j]),
            Some(v) => format!("`{}`: {v} on every row of this export (check the vocabulary: `validate --profile`)", all.names[*j]),
        });
    }
    let features: Vec<&Feature> = available.iter().enumerate().filter(|(j, _)| !constant.contains(j)).map(|(_, f)| *f).collect();
    // the frame is built once; constant columns are dropped from it, not rebuilt
    let frame = all.without(&constant);
    vocab.retain(|name, _| frame.names.contains(name));
    let labels = (0..frame.rows())
        .map(|i| {
            by_key.get(&(frame.account_id[i].clone(), frame.as_of[i])).copied().ok_or_else(|| {
                Error::other("joining labels", anyhow::anyhow!("no label row for {} at {}", frame.account_id[i], date(frame.as_of[i])))
            })
        })
        .collect::<Result<Vec<_>>>()?;
    let features = features.iter().map(|f| f.name.clone()).collect();
    Ok(TrainingData { fs, features, dropped, labels_set, frame, vocab, labels, dates: dates.to_vec() })
}

/// Snapshot dates split into time-ordered windows.
#[derive(Debug, Clone, PartialEq)]
pub struct Split {
    pub train: Vec<NaiveDate>,
    pub validation: Vec<NaiveDate>,
    /// Empty when the history is too short for a test window.
    pub test: Vec<NaiveDate>,
    /// Why the configured split was not used (the card carries it).
    pub fallback: Option<String>,
}

/// One split with `t` test and `v` validation months and gaps of `gap_days`,
/// or `None` when the dates cannot hold it (`t` may be 0: no test window).
fn try_split(dates: &[NaiveDate], t: usize, v: usize, gap_days: u32) -> Option<Split> {
    let gap = chrono::Days::new(gap_days as u64);
    if dates.len() < t + v + 1 {
        return None;
    }
    let test = dates[dates.len() - t..].to_vec();
    // validation ends a full horizon before the test window (or at the last date)
    let val_end = test.first().map(|d| *d - gap).unwrap_or(dates[dates.len() - 1]);
    let val_candidates: Vec<NaiveDate> = dates.iter().copied().filter(|d| *d <= val_end).collect();
    if val_candidates.len() < v {
        return None;
    }
    let validation = val_candidates[val_candidates.len() - v..].to_vec();
    let train: Vec<NaiveDate> = dates.iter().copied().filter(|d| *d + gap <= validation[0]).collect();
    if train.is_empty() {
        return None;
    }
    Some(Split { train, validation, test, fallback: None })
}

/// Splits snapshot dates into train, validation and test windows with gaps
/// of the longest horizon. When the export is too short for the configured
/// `test_months` + `validation_months`, it falls back, in order, to one test
/// and one validation month, then to no test window (one validation month
/// for early stopping and calibration; the model is "not evaluated out of
/// time"). `None` when not even that fits: the rules score is used.
pub fn split(dates: &[NaiveDate], gap: u32, t: usize, v: usize) -> Option<Split> {
    if let Some(s) = try_split(dates, t, v, gap) {
        return Some(s);
    }
    let span = match (dates.first(), dates.last()) {
        (Some(a), Some(b)) => format!("{} usable monthly snapshot dates, {a} to {b}", dates.len()),
        _ => "no usable snapshot dates".into(),
    };
    let configured = format!("{t} test + {v} validation months with {gap}-day gaps");
    if let Some(mut s) = try_split(dates, 1, 1, gap) {
        s.fallback = Some(format!("short history ({span}): too short for {configured}; used 1 test and 1 validation month"));
        return Some(s);
    }
    if let Some(mut s) = try_split(dates, 0, 1, gap) {
        s.fallback = Some(format!(
            "short history ({span}): too short for a test window; not evaluated out of time — 1 validation month chose the iteration and fitted the calibration"
        ));
        return Some(s);
    }
    None
}

/// Hazard rows of a set of snapshot rows: (matrix, labels, source row).
fn hazard_rows(frame: &Frame, labels: &[Label], rows: &[usize], k_max: u32) -> (Vec<f64>, Vec<f32>, Vec<usize>) {
    let mut x = Vec::new();
    let mut y = Vec::new();
    let mut src = Vec::new();
    let sub = frame.select(rows);
    for k in 0..k_max {
        let m = hazard_matrix(&sub, k, false);
        let w = sub.width() + 1;
        for (r, &i) in rows.iter().enumerate() {
            let l = labels[i];
            let (start, end) = ((k * INTERVAL_DAYS) as i32, ((k + 1) * INTERVAL_DAYS) as i32);
            if l.observed_days < end || l.days_to_churn.is_some_and(|d| d < start) {
                continue;
            }
            x.extend_from_slice(&m[r * w..(r + 1) * w]);
            y.push(if l.days_to_churn.is_some_and(|d| d >= start && d < end) { 1.0 } else { 0.0 });
            src.push(i);
        }
    }
    (x, y, src)
}

/// Distinct accounts among `rows` that churned within `h` days.
pub fn churned_accounts(frame: &Frame, labels: &[Label], rows: &[usize], h: u32) -> usize {
    rows.iter()
        .filter(|i| labels[**i].churned_within(h) == Some(true))
        .map(|i| frame.account_id[*i].as_str())
        .collect::<std::collections::BTreeSet<_>>()
        .len()
}

/// Splits rows into two halves by account (a stable hash of the id), so the
/// rows that choose the early-stopping iteration are not the rows that fit
/// the calibration, and no account sits in both.
pub fn halves_by_account(frame: &Frame, rows: &[usize]) -> (Vec<usize>, Vec<usize>) {
    // FNV-1a: stable across runs and platforms, unlike std's hasher.
    let fnv = |s: &str| s.bytes().fold(0xcbf2_9ce4_8422_2325u64, |h, b| (h ^ b as u64).wrapping_mul(0x100_0000_01b3));
    rows.iter().partition(|i| fnv(&frame.account_id[**i]) % 2 == 0)
}

fn window(frame: &Frame, labels: &[Label], rows: &[usize], dates: &[NaiveDate], cfg: &Config) -> Window {
    let max_h = *cfg.training.horizons.iter().max().unwrap();
    Window {
        churned_accounts: churned_accounts(frame, labels, rows, max_h),
        from: dates.first().map(|d| d.to_string()).unwrap_or_default(),
        to: dates.last().map(|d| d.to_string()).unwrap_or_default(),
        snapshots: dates.len(),
        rows: rows.len(),
        churn_positives: rows.iter().filter(|i| labels[**i].churned_within(max_h) == Some(true)).count(),
        expansion_positives: rows.iter().filter(|i| labels[**i].expanded_within(cfg.training.expansion_horizon) == Some(true)).count(),
    }
}

/// A rules card's probabilities: the rules risk mapped to churn within each
/// horizon, and its healthy end to expansion, by isotonic fits on the
/// validation rows. `None` below `min_validation_churned_accounts`.
fn rules_calibration(frame: &Frame, labels: &[Label], va: &[usize], features: &[&Feature], cfg: &Config) -> Option<Calibration> {
    let max_h = *cfg.training.horizons.iter().max().unwrap();
    if va.is_empty() || churned_accounts(frame, labels, va, max_h) < cfg.training.min_validation_churned_accounts {
        return None;
    }
    let risk: Vec<f64> = rules::score(&frame.select(va), features, &cfg.rule_weights).health.iter().map(|h| 1.0 - h / 100.0).collect();
    let fit = |f: &dyn Fn(&Label) -> Option<bool>, flip: bool| -> Isotonic {
        let (p, y): (Vec<f64>, Vec<bool>) = va.iter().zip(&risk).filter_map(|(i, r)| f(&labels[*i]).map(|y| (if flip { 1.0 - r } else { *r }, y))).unzip();
        Isotonic::fit(&p, &y)
    };
    let eh = cfg.training.expansion_horizon;
    Some(Calibration {
        hazard: Isotonic::identity(),
        expansion: fit(&|l: &Label| l.expanded_within(eh), true),
        rules: cfg.training.horizons.iter().map(|h| fit(&|l: &Label| l.churned_within(*h), false)).collect(),
    })
}

/// Rules-baseline metrics per target on `test`, calibrated on `val`.
fn rules_metrics(
    frame: &Frame,
    labels: &[Label],
    val: &[usize],
    test: &[usize],
    features: &[&Feature],
    cfg: &Config,
) -> BTreeMap<String, Metrics> {
    let risk = |rows: &[usize]| -> Vec<f64> {
        let sub = frame.select(rows);
        rules::score(&sub, features, &cfg.rule_weights).health.iter().map(|h| 1.0 - h / 100.0).collect()
    };
    let (rv, rt) = (risk(val), risk(test));
    let mut out = BTreeMap::new();
    let mut targets: Vec<(String, Box<dyn Fn(&Label) -> Option<bool>>)> = cfg
        .training
        .horizons
        .iter()
        .map(|h| {
            let h = *h;
            (Target::Churn(h).name(), Box::new(move |l: &Label| l.churned_within(h)) as Box<dyn Fn(&Label) -> Option<bool>>)
        })
        .collect();
    let eh = cfg.training.expansion_horizon;
    // For expansion the healthy end of the rules score is the "positive" one.
    targets.push((Target::Expand(eh).name(), Box::new(move |l: &Label| l.expanded_within(eh))));
    for (name, f) in targets {
        let flip = name.starts_with("expand");
        let pick = |rows: &[usize], r: &[f64]| -> (Vec<f64>, Vec<bool>) {
            rows.iter()
                .zip(r)
                .filter_map(|(i, s)| f(&labels[*i]).map(|y| (if flip { 1.0 - s } else { *s }, y)))
                .unzip()
        };
        let (pv, yv) = pick(val, &rv);
        let (pt, yt) = pick(test, &rt);
        let cal = Isotonic::fit(&pv, &yv);
        let p: Vec<f64> = pt.iter().map(|s| cal.apply(*s)).collect();
        out.insert(name, metrics::evaluate(&p, &yt));
    }
    out
}

pub struct Outcome {
    pub card: Card,
    pub promoted: bool,
}

/// A rules card for `version` on this data, with its train, validation and
/// test windows; training fills in the rest.
fn new_card(engine: &Engine, cfg: &Config, data: &TrainingData, features: &[&Feature], version: &str, [train, validation, test]: [Window; 3]) -> Card {
    Card {
        name: cfg.model_name.clone(),
        version: version.to_string(),
        kind: Kind::Rules,
        healthscore_version: env!("CARGO_PKG_VERSION").to_string(),
        trained_at: String::new(),
        export_date: engine.export_date.to_string(),
        feature_set: SqlRef { version: data.fs.version.clone(), hash: data.fs.hash.clone() },
        label_set: SqlRef { version: data.labels_set.version.clone(), hash: data.labels_set.hash.clone() },
        features: data.frame.names.clone(),
        categorical: features.iter().filter(|f| f.categorical).map(|f| f.name.clone()).collect(),
        vocab: data.vocab.clone(),
        horizons: cfg.training.horizons.clone(),
        expansion_horizon: cfg.training.expansion_horizon,
        params: BTreeMap::new(),
        best_iteration: BTreeMap::new(),
        train,
        validation,
        test,
        metrics: BTreeMap::new(),
        importance: vec![],
        warnings: vec![],
        promotion: None,
        tiers: None,
        health: None,
        vocabulary: data.fs.vocabulary(cfg),
        drift: vec![],
    }
}

/// The churn rate within 30 days among snapshot rows whose renewal falls
/// within 30 days (what "at renewal" means to the health score), and how many
/// rows it is measured on. `None` below 30 such rows.
pub fn base_rate_at_renewal(frame: &Frame, labels: &[Label], rows: &[usize]) -> Option<(f64, usize)> {
    let j = frame.col("days_to_renewal")?;
    let at: Vec<bool> = rows
        .iter()
        .filter(|i| (0.0..INTERVAL_DAYS as f64).contains(&frame.value(**i, j)))
        .filter_map(|i| labels[*i].churned_within(INTERVAL_DAYS))
        .collect();
    (at.len() >= 30).then(|| (at.iter().filter(|c| **c).count() as f64 / at.len() as f64, at.len()))
}

/// The model's tier cut-offs: `scoring.tiers` when fixed, else derived from
/// the training window's base rate at renewal, else the fixed defaults.
fn tier_policy(cfg: &Config, frame: &Frame, labels: &[Label], tr: &[usize]) -> TierPolicy {
    if let Some(t) = &cfg.tiers {
        return TierPolicy { cutoffs: t.clone(), base_rate: None, method: "fixed by `scoring.tiers`".into() };
    }
    let (rx, yx) = cfg.tier_multiples;
    match base_rate_at_renewal(frame, labels, tr) {
        Some((b, n)) if b > 0.0 => TierPolicy {
            cutoffs: Tiers::from_base_rate(b, rx, yx),
            base_rate: Some(b),
            method: format!("derived: red where the churn risk at renewal is ≥ {rx}× the training window's rate at renewal ({:.1} % of {n} snapshots), yellow ≥ {yx}×", 100.0 * b),
        },
        _ => TierPolicy {
            cutoffs: FIXED_TIERS,
            base_rate: None,
            method: "fixed defaults: too few renewals in the training window to derive cut-offs from".into(),
        },
    }
}

/// The health score against outcomes on rows `te`: AUC of its risk at the
/// longest horizon and by the next renewal, and the churn rate per tier.
pub fn health_check(health: &[f64], frame: &Frame, labels: &[Label], te: &[usize], tiers: &Tiers, max_h: u32) -> HealthCheck {
    let risk: Vec<f64> = health.iter().map(|h| 100.0 - h).collect();
    let (p, y): (Vec<f64>, Vec<bool>) = te.iter().zip(&risk).filter_map(|(i, r)| labels[*i].churned_within(max_h).map(|y| (*r, y))).unzip();
    let renewal = frame.col("days_to_renewal");
    let (pr, yr): (Vec<f64>, Vec<bool>) = te
        .iter()
        .zip(&risk)
        .filter_map(|(i, r)| {
            let d = frame.value(*i, renewal?);
            if d.is_nan() {
                return None;
            }
            labels[*i].churned_within(d.max(0.0) as u32 + INTERVAL_DAYS).map(|y| (*r, y))
        })
        .unzip();
    let rates = Tier::ALL
        .into_iter()
        .map(|t| {
            let outcomes: Vec<bool> = te
                .iter()
                .zip(health)
                .filter(|(_, h)| tiers.classify(**h) == t)
                .filter_map(|(i, _)| labels[*i].churned_within(max_h))
                .collect();
            let churned = outcomes.iter().filter(|c| **c).count();
            TierRate { tier: t, rows: outcomes.len(), churned, rate: (!outcomes.is_empty()).then(|| churned as f64 / outcomes.len() as f64) }
        })
        .collect();
    HealthCheck { auc_horizon: metrics::auc(&p, &y), auc_by_renewal: metrics::auc(&pr, &yr), rows_by_renewal: yr.len(), tiers: rates }
}

/// The health checks of the rules score and, when given, of a model's
/// scores on the test rows.
fn health_checks(frame: &Frame, labels: &[Label], te: &[usize], features: &[&Feature], cfg: &Config, model: Option<(&Model, &Tiers)>) -> Result<HealthChecks> {
    let max_h = *cfg.training.horizons.iter().max().unwrap();
    let sub = frame.select(te);
    let rules_health = rules::score(&sub, features, &cfg.rule_weights).health;
    let rules_tiers = cfg.tiers.clone().unwrap_or(FIXED_TIERS);
    let model = match model {
        Some((m, tiers)) => Some(health_check(&m.probabilities(&sub, features, &cfg.rule_weights)?.health, frame, labels, te, tiers, max_h)),
        None => None,
    };
    Ok(HealthChecks { model, rules: health_check(&rules_health, frame, labels, te, &rules_tiers, max_h) })
}

pub async fn train(engine: &Engine, cfg: &Config, force: bool, export: Option<&std::path::Path>, progress: &dyn Fn(&str)) -> Result<Outcome> {
    let dates = snapshot_dates(engine, cfg).await?;
    if dates.is_empty() {
        return Err(Error::Usage(format!(
            "the export has no usable monthly snapshot date: features read 60 days of usage and labels a {}-day horizon before `warehouse.export_date` ({}) — export more history",
            cfg.training.horizons.iter().max().unwrap(),
            engine.export_date
        )));
    }
    let t = &cfg.training;
    let split = split(&dates, *t.horizons.iter().max().unwrap(), t.test_months as usize, t.validation_months as usize);
    let (train_d, val_d, test_d) = match &split {
        Some(s) => (s.train.clone(), s.validation.clone(), s.test.clone()),
        None => (dates.clone(), vec![], vec![]),
    };
    progress(&format!("building features and labels for {} snapshot dates", dates.len()));
    let data = load(engine, cfg, &dates).await?;
    let frame = &data.frame;
    let labels = &data.labels;
    let features = data.features();
    let in_dates = |ds: &[NaiveDate]| -> Vec<usize> {
        let set: std::collections::BTreeSet<i32> = ds.iter().map(|d| day(*d)).collect();
        (0..frame.rows()).filter(|i| set.contains(&frame.as_of[*i])).collect()
    };
    let (tr, va, te) = (in_dates(&train_d), in_dates(&val_d), in_dates(&test_d));
    let params = default_params(cfg);
    let registry = Registry::open(&engine.stores, cfg)?;
    let version = registry.next_version().await?;
    let rules_m = rules_metrics(frame, labels, &va, &te, &features, cfg);
    let mut card = new_card(engine, cfg, &data, &features, &version, [window(frame, labels, &tr, &train_d, cfg), window(frame, labels, &va, &val_d, cfg), window(frame, labels, &te, &test_d, cfg)]);
    card.trained_at = chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
    card.drift = super::drift::references(frame, &tr);
    card.params = params;
    card.metrics = rules_m.iter().map(|(k, m)| (k.clone(), TargetMetrics { model: None, rules: m.clone() })).collect();
    if let Some(why) = split.as_ref().and_then(|s| s.fallback.clone()) {
        card.warnings.push(why);
    }
    for d in &data.dropped {
        card.warnings.push(format!("dropped {d}"));
    }

    let cold = match &split {
        None => Some(format!(
            "short history: the {} usable monthly snapshot dates ({} to {}) cannot hold a training month, a {}-day gap and a validation month; scoring uses the rules score",
            dates.len(),
            dates[0],
            dates[dates.len() - 1],
            cfg.training.horizons.iter().max().unwrap()
        )),
        Some(_) if card.train.churned_accounts < cfg.training.min_churned_accounts => Some(format!(
            "cold start: {} accounts churned in the training window, fewer than `training.min_churned_accounts` ({}); scoring uses the rules score",
            card.train.churned_accounts, cfg.training.min_churned_accounts
        )),
        Some(_) => None,
    };
    if let Some(why) = cold {
        card.warnings.push(why);
        if !te.is_empty() {
            card.health = Some(health_checks(frame, labels, &te, &features, cfg, None)?);
        }
        let current = registry.current().await?;
        let current_is_model = match &current {
            Some(v) => registry.load(v).await.map(|s| s.card.kind == Kind::Lightgbm).unwrap_or(false),
            None => false,
        };
        // A rules card never replaces a trained model unless forced.
        let promote = force || !current_is_model;
        card.promotion = Some(Promotion {
            promoted: promote,
            compared_with: current.clone(),
            compared_on: String::new(),
            current_auc: None,
            new_auc: None,
            reason: if promote { "cold start: the rules score is used".into() } else { "cold start, but a trained model is current: kept it".into() },
        });
        let calibration = rules_calibration(frame, labels, &va, &features, cfg);
        match &calibration {
            Some(_) => card.warnings.push(format!(
                "the rules score's probabilities (p_churn_*, p_expand) are calibrated on the validation window ({} churned accounts); model_version says `rules, calibrated`",
                card.validation.churned_accounts
            )),
            None => card.warnings.push(format!(
                "the rules score carries no probabilities: {} accounts churned in the validation window, fewer than `training.min_validation_churned_accounts` ({})",
                card.validation.churned_accounts, cfg.training.min_validation_churned_accounts
            )),
        }
        registry.save(&Stored { card: card.clone(), model: None, expansion: None, calibration }).await?;
        if promote {
            registry.promote(&version).await?;
        }
        return Ok(Outcome { promoted: promote, card });
    }

    let Fitted { churn_text, expansion_text, calibration, best_iteration, importance, calibration_churned_accounts } =
        fit(frame, labels, &tr, &va, cfg, export, progress)?;
    card.best_iteration = best_iteration;
    card.importance = importance;
    card.kind = Kind::Lightgbm;
    let calibrated = !calibration.hazard.is_identity();
    if !calibrated {
        card.warnings.push(format!(
            "uncalibrated: {calibration_churned_accounts} accounts churned in the calibration half of the validation window, fewer than \
             `training.min_validation_churned_accounts` ({}); the probabilities are the model's raw ones and the model is not promoted \
             (export more history, or lower the setting knowing the probabilities are noise)",
            cfg.training.min_validation_churned_accounts
        ));
    }

    // -- the test window
    progress("evaluating on the test window");
    let model = Model::from_stored(
        Stored { card: card.clone(), model: Some(churn_text.clone()), expansion: Some(expansion_text.clone()), calibration: Some(calibration.clone()) },
        cfg.training.num_threads,
    )?;
    let policy = tier_policy(cfg, frame, labels, &tr);
    let evaluated = !te.is_empty();
    if evaluated {
        for (target, m) in evaluate(&model, frame, labels, &te, &features, cfg)? {
            card.metrics.get_mut(&target).unwrap().model = Some(m);
        }
        card.health = Some(health_checks(frame, labels, &te, &features, cfg, Some((&model, &policy.cutoffs)))?);
    }
    card.tiers = Some(policy);
    for (target, m) in &card.metrics {
        if let Some(mm) = &m.model {
            if mm.auc.is_some_and(|a| a > 0.95) || mm.top_decile_lift.is_some_and(|l| l > 8.0) {
                card.warnings.push(format!(
                    "{target}: AUC {:.3}, top-decile lift {:.1} on the test window: check for leakage (a feature that reads the future); \
                     short horizons can also score this high when churn clusters at known renewal dates",
                    mm.auc.unwrap_or(0.0),
                    mm.top_decile_lift.unwrap_or(0.0)
                ));
            }
        }
    }

    // -- the promotion gate: the current model, re-evaluated on this test window
    progress("comparing with the current model");
    let max_h = *cfg.training.horizons.iter().max().unwrap();
    let target = Target::Churn(max_h).name();
    let mut compared_on = format!("{target} AUC");
    let mut new_auc = card.metrics[&target].model.as_ref().and_then(|m| m.auc);
    let current = registry.current().await?;
    let label_of: HashMap<(&str, i32), Label> = (0..frame.rows()).map(|i| ((frame.account_id[i].as_str(), frame.as_of[i]), labels[i])).collect();
    let mut current_is_model = false;
    let (current_auc, why) = match &current {
        None => (None, "no current model".to_string()),
        Some(v) => {
            let cur = registry.load(v).await?;
            current_is_model = cur.card.kind == Kind::Lightgbm;
            if cur.card.kind == Kind::Rules {
                // like with like: the rules score has no timing, so it is
                // compared with the model's health score (timing-blind too),
                // both against churn within the longest horizon
                let health = card.health.as_ref();
                new_auc = health.and_then(|h| h.model.as_ref()).and_then(|m| m.auc_horizon);
                compared_on = format!("health score AUC against churn within {max_h} days");
                (health.and_then(|h| h.rules.auc_horizon), format!("current `{v}` is the rules score (compared on the health score)"))
            } else if !evaluated {
                (None, format!("current `{v}` is a trained model and this one has no test window to compare on"))
            } else {
                match evaluate_current(engine, cfg, cur, &test_d, &label_of, max_h).await? {
                    Ok(auc) => (auc, format!("current `{v}` re-evaluated on this test window")),
                    Err(why) => (None, format!("current `{v}` cannot be evaluated: {why}")),
                }
            }
        }
    };
    let tol = cfg.training.promotion_tolerance;
    let not_worse = match (new_auc, current_auc) {
        _ if !evaluated => !current_is_model,
        (Some(n), Some(c)) => n >= c - tol,
        (Some(_), None) => true,
        (None, _) => false,
    };
    let promoted = force || (not_worse && calibrated);
    card.promotion = Some(Promotion {
        promoted,
        compared_with: current.clone(),
        compared_on,
        current_auc,
        new_auc,
        reason: match (promoted, force && !(not_worse && calibrated)) {
            (true, true) => format!("forced: {why}"),
            (true, false) if !evaluated => format!("not evaluated out of time; promoted: {why}"),
            (true, false) => format!("not worse on {target} AUC: {why}"),
            _ if !evaluated => "not evaluated out of time and a trained model is current: kept it (use --force to replace it)".into(),
            _ if !calibrated => "uncalibrated (too few churned accounts to calibrate on): kept the current one (use --force to replace it)".into(),
            _ => format!("worse on {target} AUC than the current model: {why}; kept the current one (use --force to replace it)"),
        },
    });
    registry
        .save(&Stored { card: card.clone(), model: Some(churn_text), expansion: Some(expansion_text), calibration: Some(calibration) })
        .await?;
    if promoted {
        registry.promote(&version).await?;
    }
    Ok(Outcome { card, promoted })
}

/// The current model's AUC at the longest horizon on the test dates, scored
/// with its own feature set. `Ok(Err(why))` when it can no longer score.
async fn evaluate_current(
    engine: &Engine,
    cfg: &Config,
    cur: Stored,
    test: &[NaiveDate],
    label_of: &HashMap<(&str, i32), Label>,
    max_h: u32,
) -> Result<std::result::Result<Option<f64>, String>> {
    let fs = match FeatureSet::load(&cfg.sql_dir, &cur.card.feature_set.version) {
        Ok(fs) => fs,
        Err(e) => return Ok(Err(e.to_string())),
    };
    if fs.hash != cur.card.feature_set.hash {
        return Ok(Err(format!("its feature set `{}` has changed since it was trained", fs.version)));
    }
    let Some(k) = cur.card.horizons.iter().position(|h| *h == max_h) else {
        return Ok(Err(format!("it has no {max_h}-day horizon")));
    };
    let feats: Vec<&Feature> = match cur.card.features.iter().map(|n| fs.spec.get(n)).collect::<Option<Vec<_>>>() {
        Some(f) if f.iter().all(|f| f.missing(|r| engine.present(r)).is_empty()) => f,
        _ => return Ok(Err("an input table it reads is missing".into())),
    };
    let batches = fs.build(engine, test).await?;
    let (f, _) = frame::build(&batches, &feats, Some(&cur.card.vocab))?;
    let model = Model::from_stored(cur, cfg.training.num_threads)?;
    let s = model.probabilities(&f, &feats, &cfg.rule_weights)?;
    let (p, y): (Vec<f64>, Vec<bool>) = (0..f.rows())
        .filter_map(|i| label_of.get(&(f.account_id[i].as_str(), f.as_of[i])).and_then(|l| l.churned_within(max_h)).map(|y| (s.p_churn[k][i], y)))
        .unzip();
    Ok(Ok(metrics::auc(&p, &y)))
}

/// Writes the churn model's training and validation matrices and parameters
/// (for the benchmark against Python's lightgbm on the same frame).
#[allow(clippy::too_many_arguments)]
fn export_frame(dir: &std::path::Path, names: &[String], params: &lgbm::Params, early: usize, xt: &[f64], yt: &[f32], xv: &[f64], yv: &[f32]) -> Result<()> {
    use arrow::array::{ArrayRef, Float32Array, Float64Array, RecordBatch};
    use arrow::datatypes::{DataType, Field, Schema};
    use std::sync::Arc;
    std::fs::create_dir_all(dir).map_err(|e| Error::other(format!("creating `{}`", dir.display()), e))?;
    let w = names.len();
    let write = |file: &str, x: &[f64], y: &[f32]| -> Result<()> {
        let mut fields: Vec<Field> = names.iter().map(|n| Field::new(n, DataType::Float64, true)).collect();
        fields.push(Field::new("label", DataType::Float32, false));
        let schema = Arc::new(Schema::new(fields));
        let mut cols: Vec<ArrayRef> = (0..w).map(|j| Arc::new(Float64Array::from_iter_values(x.chunks(w).map(|r| r[j]))) as ArrayRef).collect();
        cols.push(Arc::new(Float32Array::from(y.to_vec())));
        let batch = RecordBatch::try_new(schema.clone(), cols).map_err(|e| Error::other("export frame", e))?;
        let bytes = crate::output::parquet::encode(&schema, &[batch])?;
        std::fs::write(dir.join(file), bytes).map_err(|e| Error::other(format!("writing `{file}`"), e))
    };
    write("train.parquet", xt, yt)?;
    write("valid.parquet", xv, yv)?;
    let mut p = params.clone();
    p.insert("early_stopping_round".into(), early.to_string());
    std::fs::write(dir.join("params.json"), serde_json::to_string_pretty(&p).unwrap()).map_err(|e| Error::other("writing params.json", e))
}

/// A fitted pair of models with their calibration.
pub struct Fitted {
    pub churn_text: String,
    pub expansion_text: String,
    pub calibration: Calibration,
    pub best_iteration: BTreeMap<String, usize>,
    pub importance: Vec<(String, f64)>,
    /// Distinct churned accounts the hazard calibration was fitted on.
    pub calibration_churned_accounts: usize,
}

/// Fits the churn hazard and expansion models on `tr`. The validation rows
/// `va` are halved by account: one half chooses the early-stopping
/// iteration, the other fits the calibration, so the calibration is not
/// fitted on the rows the model was tuned on. With fewer than
/// `training.min_validation_churned_accounts` churned accounts in the
/// calibration half, the hazard calibration is the identity ("uncalibrated").
pub fn fit(frame: &Frame, labels: &[Label], tr: &[usize], va: &[usize], cfg: &Config, export: Option<&std::path::Path>, progress: &dyn Fn(&str)) -> Result<Fitted> {
    progress("training the churn model");
    let k_max = *cfg.training.horizons.iter().max().unwrap() / INTERVAL_DAYS;
    let mut names = frame.names.clone();
    names.push(INTERVAL_FEATURE.to_string());
    let mut hp = default_params(cfg);
    let early = hp.remove("early_stopping_round").and_then(|v| v.parse().ok()).unwrap_or(50);
    let cats: Vec<String> = frame.categorical.iter().enumerate().filter(|(_, c)| **c).map(|(j, _)| j.to_string()).collect();
    if !cats.is_empty() {
        hp.insert("categorical_feature".into(), cats.join(","));
    }
    let (va_stop, va_cal) = halves_by_account(frame, va);
    let (xt, yt, _) = hazard_rows(frame, labels, tr, k_max);
    let (xv, yv, _) = hazard_rows(frame, labels, &va_stop, k_max);
    let (xc, yc, _) = hazard_rows(frame, labels, &va_cal, k_max);
    let w = names.len();
    if let Some(dir) = export {
        export_frame(dir, &names, &hp, early, &xt, &yt, &xv, &yv)?;
    }
    let t0 = std::time::Instant::now();
    let churn = lgbm::train(&hp, &names, &lgbm::Data { x: &xt, y: &yt, n_features: w }, Some(&lgbm::Data { x: &xv, y: &yv, n_features: w }), early)?;
    tracing::info!(
        stage = "train.churn",
        secs = t0.elapsed().as_secs_f64(),
        "churn hazard model: {} training rows × {} inputs, {} validation rows, best iteration {}",
        yt.len(),
        w,
        yv.len(),
        churn.best_iteration
    );
    let threads = cfg.training.num_threads;
    let churn_pred = lgbm::Predictor::load(&churn.model_text, threads)?;
    let max_h = *cfg.training.horizons.iter().max().unwrap();
    let calibration_churned_accounts = churned_accounts(frame, labels, &va_cal, max_h);
    let hazard_cal = if calibration_churned_accounts >= cfg.training.min_validation_churned_accounts {
        Isotonic::fit(&churn_pred.predict(&xc)?, &yc.iter().map(|v| *v > 0.5).collect::<Vec<_>>())
    } else {
        Isotonic::identity()
    };

    progress("training the expansion model");
    let eh = cfg.training.expansion_horizon;
    let pick = |rows: &[usize]| -> (Vec<f64>, Vec<f32>) {
        let mut x = Vec::new();
        let mut y = Vec::new();
        for &i in rows {
            if let Some(e) = labels[i].expanded_within(eh) {
                x.extend_from_slice(frame.row(i));
                y.push(if e { 1.0 } else { 0.0 });
            }
        }
        (x, y)
    };
    let (ext, eyt) = pick(tr);
    let (exv, eyv) = pick(&va_stop);
    let (exc, eyc) = pick(&va_cal);
    let ew = frame.width();
    let expansion = lgbm::train(&hp, &frame.names, &lgbm::Data { x: &ext, y: &eyt, n_features: ew }, Some(&lgbm::Data { x: &exv, y: &eyv, n_features: ew }), early)?;
    let exp_pred = lgbm::Predictor::load(&expansion.model_text, threads)?;
    let expansion_cal = if eyc.iter().any(|v| *v > 0.5) {
        Isotonic::fit(&exp_pred.predict(&exc)?, &eyc.iter().map(|v| *v > 0.5).collect::<Vec<_>>())
    } else {
        Isotonic::identity()
    };

    let mut importance: Vec<(String, f64)> = names.iter().cloned().zip(churn_pred.importance_gain()?).collect();
    importance.sort_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0)));
    Ok(Fitted {
        best_iteration: [("churn".to_string(), churn.best_iteration), ("expansion".to_string(), expansion.best_iteration)].into_iter().collect(),
        churn_text: churn.model_text,
        expansion_text: expansion.model_text,
        calibration: Calibration { hazard: hazard_cal, expansion: expansion_cal, rules: vec![] },
        importance,
        calibration_churned_accounts,
    })
}

/// The model's metrics per target (`churn_30d`, …, `expand_90d`) on rows `te`.
pub fn evaluate(model: &Model, frame: &Frame, labels: &[Label], te: &[usize], features: &[&Feature], cfg: &Config) -> Result<BTreeMap<String, Metrics>> {
    let scores = model.probabilities(&frame.select(te), features, &cfg.rule_weights)?;
    let mut out = BTreeMap::new();
    for (k, h) in cfg.training.horizons.iter().enumerate() {
        let (p, y): (Vec<f64>, Vec<bool>) =
            te.iter().enumerate().filter_map(|(r, i)| labels[*i].churned_within(*h).map(|y| (scores.p_churn[k][r], y))).unzip();
        out.insert(Target::Churn(*h).name(), metrics::evaluate(&p, &y));
    }
    let eh = cfg.training.expansion_horizon;
    let (p, y): (Vec<f64>, Vec<bool>) =
        te.iter().enumerate().filter_map(|(r, i)| labels[*i].expanded_within(eh).map(|y| (scores.p_expand[r], y))).unzip();
    out.insert(Target::Expand(eh).name(), metrics::evaluate(&p, &y));
    Ok(out)
}

/// The snapshot dates whose labels were observed by `origin` (the longest
/// horizon before it), split into training dates and the validation months
/// (the newest of them, a full horizon after the last training date).
fn known_split(cfg: &Config, dates: &[NaiveDate], origin: NaiveDate) -> Result<(Vec<NaiveDate>, Vec<NaiveDate>)> {
    let gap = chrono::Days::new(*cfg.training.horizons.iter().max().unwrap() as u64);
    let known: Vec<NaiveDate> = dates.iter().copied().filter(|d| *d + gap <= origin).collect();
    let v = cfg.training.validation_months as usize;
    if known.len() < v + 1 {
        return Err(Error::Usage(format!("origin {origin}: too little history before it to train (need validation months plus a gap of the longest horizon)")));
    }
    let val = known[known.len() - v..].to_vec();
    let train_d: Vec<NaiveDate> = known.iter().copied().filter(|d| *d + gap <= val[0]).collect();
    if train_d.is_empty() {
        return Err(Error::Usage(format!("origin {origin}: no training dates a full horizon before its validation window")));
    }
    Ok((train_d, val))
}

/// The model that could have been trained at `origin`: on the snapshots of
/// `data` whose labels were observed by then, calibrated on the newest of
/// them. Returns it and its training dates.
fn fit_known(engine: &Engine, cfg: &Config, data: &TrainingData, dates: &[NaiveDate], origin: NaiveDate, progress: &dyn Fn(&str)) -> Result<(Model, Vec<NaiveDate>)> {
    let (frame, labels) = (&data.frame, &data.labels);
    let features = data.features();
    let (train_d, val) = known_split(cfg, dates, origin)?;
    let rows_of = |ds: &[NaiveDate]| -> Vec<usize> {
        let set: std::collections::BTreeSet<i32> = ds.iter().map(|d| day(*d)).collect();
        (0..frame.rows()).filter(|i| set.contains(&frame.as_of[*i])).collect()
    };
    progress(&format!("origin {origin}: training on {} → {}", train_d[0], train_d[train_d.len() - 1]));
    let (tr, va, te) = (rows_of(&train_d), rows_of(&val), rows_of(&[origin]));
    let Fitted { churn_text, expansion_text, calibration, best_iteration, .. } = fit(frame, labels, &tr, &va, cfg, None, &|_| ())?;
    let mut card = new_card(engine, cfg, data, &features, &format!("backtest-{origin}"), [window(frame, labels, &tr, &train_d, cfg), window(frame, labels, &va, &val, cfg), window(frame, labels, &te, &[origin], cfg)]);
    card.kind = Kind::Lightgbm;
    card.best_iteration = best_iteration;
    let model = Model::from_stored(Stored { card, model: Some(churn_text), expansion: Some(expansion_text), calibration: Some(calibration) }, cfg.training.num_threads)?;
    Ok((model, train_d))
}

/// The model that could have been trained at `origin` from what was known
/// then (the forecast's backtest scores `origin` with it).
pub async fn model_at(engine: &Engine, cfg: &Config, origin: NaiveDate, progress: &dyn Fn(&str)) -> Result<Model> {
    let dates: Vec<NaiveDate> = snapshot_dates(engine, cfg).await?.into_iter().filter(|d| *d <= origin).collect();
    progress(&format!("building features and labels for {} snapshot dates before {origin}", dates.len()));
    let data = load(engine, cfg, &dates).await?;
    Ok(fit_known(engine, cfg, &data, &dates, origin, progress)?.0)
}

/// Rolling-origin evaluation: for each of the last `origins` monthly dates
/// whose longest horizon is observed, train on what was known then (labels
/// observed before the origin, validation the newest of those) and score the
/// accounts at the origin.
pub async fn backtest(engine: &Engine, cfg: &Config, origins: usize, progress: &dyn Fn(&str)) -> Result<Vec<tables::backtest::Row>> {
    let dates = snapshot_dates(engine, cfg).await?;
    if origins == 0 || dates.len() < origins {
        return Err(Error::Usage(format!("`--origins {origins}`: the export has {} usable monthly snapshot dates", dates.len())));
    }
    progress(&format!("building features and labels for {} snapshot dates", dates.len()));
    let data = load(engine, cfg, &dates).await?;
    let (frame, labels) = (&data.frame, &data.labels);
    let features = data.features();
    let rows_of = |ds: &[NaiveDate]| -> Vec<usize> {
        let set: std::collections::BTreeSet<i32> = ds.iter().map(|d| day(*d)).collect();
        (0..frame.rows()).filter(|i| set.contains(&frame.as_of[*i])).collect()
    };
    let mut out = Vec::new();
    for origin in dates[dates.len() - origins..].iter().copied() {
        let (model, train_d) = fit_known(engine, cfg, &data, &dates, origin, progress)?;
        let te = rows_of(&[origin]);
        let va = rows_of(&known_split(cfg, &dates, origin)?.1);
        let m = evaluate(&model, frame, labels, &te, &features, cfg)?;
        let r = rules_metrics(frame, labels, &va, &te, &features, cfg);
        for (target, mm) in m {
            let rules = &r[&target];
            out.push(tables::backtest::Row {
                origin: origin.to_string(),
                train_from: train_d[0].to_string(),
                train_to: train_d[train_d.len() - 1].to_string(),
                target,
                rows: mm.rows,
                positives: mm.positives,
                auc: mm.auc,
                rules_auc: rules.auc,
                pr_auc: mm.pr_auc,
                rules_pr_auc: rules.pr_auc,
                brier: mm.brier,
                log_loss: mm.log_loss,
                top_decile_lift: mm.top_decile_lift,
                calibration_error: mm.calibration_error,
            });
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hazard_rows_keep_each_interval_while_the_account_is_observed_and_alive() {
        let frame = Frame {
            account_id: vec!["a".into(), "b".into()],
            as_of: vec![0, 0],
            names: vec!["tenure_days".into(), "days_to_renewal".into()],
            categorical: vec![false, false],
            x: vec![400.0, 100.0, 50.0, 200.0],
            segment: vec![],
        };
        // a churns on day 40 and is observed a year; b stays, observed 45 days
        let labels = [Label { days_to_churn: Some(40), expanded: false, observed_days: 365 }, Label { days_to_churn: None, expanded: false, observed_days: 45 }];
        let (x, y, src) = hazard_rows(&frame, &labels, &[0, 1], 3);
        // interval 0: both (neither churned yet); interval 1: a churns in it, b is
        // no longer observed to its end; interval 2: a has already churned
        assert_eq!(src, vec![0, 1, 0]);
        assert_eq!(y, vec![0.0, 0.0, 1.0]);
        let w = frame.width() + 1;
        assert_eq!(x.len(), 3 * w);
        assert_eq!([x[w - 1], x[2 * w - 1], x[3 * w - 1]], [0.0, 0.0, 30.0], "the interval start is the last column");
    }

    fn months(n: usize) -> Vec<NaiveDate> {
        let first = NaiveDate::from_ymd_opt(2025, 1, 1).unwrap();
        (0..n).map(|i| first.checked_add_months(chrono::Months::new(i as u32)).unwrap()).collect()
    }

    #[test]
    fn a_long_history_gets_the_configured_split_with_gaps() {
        let d = months(20);
        let s = split(&d, 90, 3, 3).unwrap();
        assert_eq!(s.fallback, None);
        assert_eq!(s.test, d[17..].to_vec());
        // validation ends a full 90 days before the first test date
        assert!(*s.validation.last().unwrap() + chrono::Days::new(90) <= s.test[0]);
        assert_eq!(s.validation.len(), 3);
        assert!(*s.train.last().unwrap() + chrono::Days::new(90) <= s.validation[0]);
    }

    #[test]
    fn twelve_months_of_export_fall_back_to_one_test_and_one_validation_month() {
        // 12 months of history give 8 usable snapshot dates (60 days of
        // usage before the first, 90 days of outcomes after the last)
        let d = months(8);
        assert!(try_split(&d, 3, 3, 90).is_none());
        let s = split(&d, 90, 3, 3).unwrap();
        assert!(s.fallback.as_deref().unwrap().contains("1 test and 1 validation month"), "{:?}", s.fallback);
        assert_eq!((s.test.len(), s.validation.len()), (1, 1));
        assert!(!s.train.is_empty());
    }

    #[test]
    fn a_shorter_history_trains_without_a_test_window() {
        let d = months(5);
        let s = split(&d, 90, 3, 3).unwrap();
        assert!(s.test.is_empty());
        assert_eq!(s.validation, vec![d[4]]);
        assert_eq!(s.train, d[..1].to_vec(), "a full 90 days before validation");
        assert!(s.fallback.unwrap().contains("not evaluated out of time"));
    }

    #[test]
    fn too_short_for_anything_is_none() {
        assert_eq!(split(&months(3), 90, 3, 3), None);
        assert_eq!(split(&[], 90, 1, 1), None);
    }

    #[test]
    fn halves_by_account_never_split_an_account() {
        let frame = Frame {
            account_id: (0..40).map(|i| format!("acc-{}", i % 10)).collect(),
            as_of: vec![0; 40],
            names: vec![],
            categorical: vec![],
            x: vec![],
            segment: vec![],
        };
        let rows: Vec<usize> = (0..40).collect();
        let (a, b) = halves_by_account(&frame, &rows);
        assert_eq!(a.len() + b.len(), 40);
        assert!(!a.is_empty() && !b.is_empty());
        let ids = |r: &[usize]| r.iter().map(|i| frame.account_id[*i].clone()).collect::<std::collections::BTreeSet<_>>();
        assert!(ids(&a).is_disjoint(&ids(&b)));
    }
}
