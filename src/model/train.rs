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
use super::card::{Calibration, Card, INTERVAL_DAYS, INTERVAL_FEATURE, Kind, Promotion, SqlRef, TargetMetrics, Window};
use super::frame::{self, Frame, Vocab};
use super::metrics::{self, Metrics};
use super::registry::{Registry, Stored};
use super::{Model, hazard_matrix, lgbm, rules};
use crate::config::Config;
use crate::engine::Engine;
use crate::error::{Error, Result};
use crate::features::{Feature, FeatureSet, SqlFolder};
use crate::generate::sim::{date, day};

pub const LABELS_VERSION: &str = "v1";

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
    pub labels_set: SqlFolder,
    pub frame: Frame,
    pub vocab: Vocab,
    pub labels: Vec<Label>,
    pub dates: Vec<NaiveDate>,
}

/// The monthly snapshot dates training may use.
pub async fn snapshot_dates(engine: &Engine, cfg: &Config) -> Result<Vec<NaiveDate>> {
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
    labels_set.register(engine).await?;
    let lb = engine.query("SELECT account_id, as_of, days_to_churn, expanded, observed_days FROM labels").await?;
    let mut by_key: HashMap<(String, i32), Label> = HashMap::new();
    for b in &lb {
        let ids = frame::strings(b, "account_id")?;
        let asof = frame::days(b, "as_of")?;
        let dtc = frame::floats(b, "days_to_churn")?;
        let exp = frame::floats(b, "expanded")?;
        let obs = frame::floats(b, "observed_days")?;
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
    let features = fs.available(&engine.present_tables());
    let (frame, vocab) = frame::build(&batches, &features, None)?;
    let labels = (0..frame.rows())
        .map(|i| {
            by_key.get(&(frame.account_id[i].clone(), frame.as_of[i])).copied().ok_or_else(|| {
                Error::other("joining labels", anyhow::anyhow!("no label row for {} at {}", frame.account_id[i], date(frame.as_of[i])))
            })
        })
        .collect::<Result<Vec<_>>>()?;
    Ok(TrainingData { fs, labels_set, frame, vocab, labels, dates: dates.to_vec() })
}

/// Splits snapshot dates into (train, validation, test) with gaps of the longest horizon.
pub fn split(dates: &[NaiveDate], cfg: &Config) -> Result<(Vec<NaiveDate>, Vec<NaiveDate>, Vec<NaiveDate>)> {
    let gap = chrono::Days::new(*cfg.training.horizons.iter().max().unwrap() as u64);
    let t = cfg.training.test_months as usize;
    let v = cfg.training.validation_months as usize;
    let too_short = || {
        Error::Usage(format!(
            "the export gives {} usable monthly snapshot dates ({}); training needs {} test + {} validation months, \
             gaps of the longest horizon between them, and earlier months to train on — export more history or lower `training.test_months`",
            dates.len(),
            match (dates.first(), dates.last()) {
                (Some(a), Some(b)) => format!("{a} to {b}"),
                _ => "none".into(),
            },
            t,
            v
        ))
    };
    if dates.len() < t + v + 1 {
        return Err(too_short());
    }
    let test = dates[dates.len() - t..].to_vec();
    let val_candidates: Vec<NaiveDate> = dates.iter().copied().filter(|d| *d + gap <= test[0]).collect();
    if val_candidates.len() < v {
        return Err(too_short());
    }
    let val = val_candidates[val_candidates.len() - v..].to_vec();
    let train: Vec<NaiveDate> = dates.iter().copied().filter(|d| *d + gap <= val[0]).collect();
    if train.is_empty() {
        return Err(too_short());
    }
    Ok((train, val, test))
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

fn window(labels: &[Label], rows: &[usize], dates: &[NaiveDate], cfg: &Config) -> Window {
    let max_h = *cfg.training.horizons.iter().max().unwrap();
    Window {
        from: dates.first().map(|d| d.to_string()).unwrap_or_default(),
        to: dates.last().map(|d| d.to_string()).unwrap_or_default(),
        snapshots: dates.len(),
        rows: rows.len(),
        churn_positives: rows.iter().filter(|i| labels[**i].churned_within(max_h) == Some(true)).count(),
        expansion_positives: rows.iter().filter(|i| labels[**i].expanded_within(cfg.training.expansion_horizon) == Some(true)).count(),
    }
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
            (format!("churn_{h}d"), Box::new(move |l: &Label| l.churned_within(h)) as Box<dyn Fn(&Label) -> Option<bool>>)
        })
        .collect();
    let eh = cfg.training.expansion_horizon;
    // For expansion the healthy end of the rules score is the "positive" one.
    targets.push((format!("expand_{eh}d"), Box::new(move |l: &Label| l.expanded_within(eh))));
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
    }
}

pub async fn train(engine: &Engine, cfg: &Config, force: bool, export: Option<&std::path::Path>, progress: &dyn Fn(&str)) -> Result<Outcome> {
    let dates = snapshot_dates(engine, cfg).await?;
    let (train_d, val_d, test_d) = split(&dates, cfg)?;
    progress(&format!("building features and labels for {} snapshot dates", dates.len()));
    let data = load(engine, cfg, &dates).await?;
    let frame = &data.frame;
    let labels = &data.labels;
    let features = data.fs.available(&engine.present_tables());
    let in_dates = |ds: &[NaiveDate]| -> Vec<usize> {
        let set: std::collections::BTreeSet<i32> = ds.iter().map(|d| day(*d)).collect();
        (0..frame.rows()).filter(|i| set.contains(&frame.as_of[*i])).collect()
    };
    let (tr, va, te) = (in_dates(&train_d), in_dates(&val_d), in_dates(&test_d));
    let params = default_params(cfg);
    let registry = Registry::open(&engine.stores, cfg)?;
    let version = registry.next_version().await?;
    let rules_m = rules_metrics(frame, labels, &va, &te, &features, cfg);
    let mut card = new_card(engine, cfg, &data, &features, &version, [window(labels, &tr, &train_d, cfg), window(labels, &va, &val_d, cfg), window(labels, &te, &test_d, cfg)]);
    card.trained_at = chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
    card.params = params;
    card.metrics = rules_m.iter().map(|(k, m)| (k.clone(), TargetMetrics { model: None, rules: m.clone() })).collect();

    if card.train.churn_positives < cfg.training.min_churn_examples {
        card.warnings.push(format!(
            "cold start: {} churn examples in the training window, fewer than `training.min_churn_examples` ({}); scoring uses the rules score",
            card.train.churn_positives, cfg.training.min_churn_examples
        ));
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
            current_auc_90d: None,
            new_auc_90d: None,
            reason: if promote { "cold start: the rules score is used".into() } else { "cold start, but a trained model is current: kept it".into() },
        });
        registry.save(&Stored { card: card.clone(), model: None, expansion: None, calibration: None }).await?;
        if promote {
            registry.promote(&version).await?;
        }
        return Ok(Outcome { promoted: promote, card });
    }

    let Fitted { churn_text, expansion_text, calibration, best_iteration, importance } = fit(frame, labels, &tr, &va, cfg, export, progress)?;
    card.best_iteration = best_iteration;
    card.importance = importance;
    card.kind = Kind::Lightgbm;

    // -- the test window
    progress("evaluating on the test window");
    let model = Model::from_stored(
        Stored { card: card.clone(), model: Some(churn_text.clone()), expansion: Some(expansion_text.clone()), calibration: Some(calibration.clone()) },
        cfg.training.num_threads,
    )?;
    for (target, m) in evaluate(&model, frame, labels, &te, &features, cfg)? {
        card.metrics.get_mut(&target).unwrap().model = Some(m);
    }
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
    let target = format!("churn_{max_h}d");
    let new_auc = card.metrics[&target].model.as_ref().and_then(|m| m.auc);
    let current = registry.current().await?;
    let label_of: HashMap<(&str, i32), Label> = (0..frame.rows()).map(|i| ((frame.account_id[i].as_str(), frame.as_of[i]), labels[i])).collect();
    let (current_auc, why) = match &current {
        None => (None, "no current model".to_string()),
        Some(v) => {
            let cur = registry.load(v).await?;
            if cur.card.kind == Kind::Rules {
                (card.metrics[&target].rules.auc, format!("current `{v}` is the rules score"))
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
        (Some(n), Some(c)) => n >= c - tol,
        (Some(_), None) => true,
        (None, _) => false,
    };
    let promoted = force || not_worse;
    card.promotion = Some(Promotion {
        promoted,
        compared_with: current.clone(),
        current_auc_90d: current_auc,
        new_auc_90d: new_auc,
        reason: match (promoted, force && !not_worse) {
            (true, true) => format!("forced: {why}"),
            (true, false) => format!("not worse on {target} AUC: {why}"),
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
        Some(f) if f.iter().all(|f| f.requires.iter().all(|r| engine.present(r))) => f,
        _ => return Ok(Err("an input table it reads is missing".into())),
    };
    let batches = fs.build(engine, test).await?;
    let (f, _) = frame::build(&batches, &feats, Some(&cur.card.vocab))?;
    let model = Model::from_stored(cur, cfg.training.num_threads)?;
    let s = model.predict(&f, &feats, &cfg.rule_weights)?;
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
}

/// Fits the churn hazard and expansion models on `tr`, early-stopped and
/// calibrated on `va`.
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
    let (xt, yt, _) = hazard_rows(frame, labels, tr, k_max);
    let (xv, yv, _) = hazard_rows(frame, labels, va, k_max);
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
    let hazard_cal = Isotonic::fit(&churn_pred.predict(&xv)?, &yv.iter().map(|v| *v > 0.5).collect::<Vec<_>>());

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
    let (exv, eyv) = pick(va);
    let ew = frame.width();
    let expansion = lgbm::train(&hp, &frame.names, &lgbm::Data { x: &ext, y: &eyt, n_features: ew }, Some(&lgbm::Data { x: &exv, y: &eyv, n_features: ew }), early)?;
    let exp_pred = lgbm::Predictor::load(&expansion.model_text, threads)?;
    let expansion_cal = Isotonic::fit(&exp_pred.predict(&exv)?, &eyv.iter().map(|v| *v > 0.5).collect::<Vec<_>>());

    let mut importance: Vec<(String, f64)> = names.iter().cloned().zip(churn_pred.importance_gain()?).collect();
    importance.sort_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0)));
    Ok(Fitted {
        best_iteration: [("churn".to_string(), churn.best_iteration), ("expansion".to_string(), expansion.best_iteration)].into_iter().collect(),
        churn_text: churn.model_text,
        expansion_text: expansion.model_text,
        calibration: Calibration { hazard: hazard_cal, expansion: expansion_cal },
        importance,
    })
}

/// The model's metrics per target (`churn_30d`, …, `expand_90d`) on rows `te`.
pub fn evaluate(model: &Model, frame: &Frame, labels: &[Label], te: &[usize], features: &[&Feature], cfg: &Config) -> Result<BTreeMap<String, Metrics>> {
    let scores = model.predict(&frame.select(te), features, &cfg.rule_weights)?;
    let mut out = BTreeMap::new();
    for (k, h) in cfg.training.horizons.iter().enumerate() {
        let (p, y): (Vec<f64>, Vec<bool>) =
            te.iter().enumerate().filter_map(|(r, i)| labels[*i].churned_within(*h).map(|y| (scores.p_churn[k][r], y))).unzip();
        out.insert(format!("churn_{h}d"), metrics::evaluate(&p, &y));
    }
    let eh = cfg.training.expansion_horizon;
    let (p, y): (Vec<f64>, Vec<bool>) =
        te.iter().enumerate().filter_map(|(r, i)| labels[*i].expanded_within(eh).map(|y| (scores.p_expand[r], y))).unzip();
    out.insert(format!("expand_{eh}d"), metrics::evaluate(&p, &y));
    Ok(out)
}

/// One row of a backtest: a model trained as of `origin`, scored at it.
#[derive(Debug, Clone, serde::Serialize)]
pub struct BacktestRow {
    pub origin: String,
    pub train_from: String,
    pub train_to: String,
    pub target: String,
    pub model: Metrics,
    pub rules: Metrics,
}

/// Rolling-origin evaluation: for each of the last `origins` monthly dates
/// whose longest horizon is observed, train on what was known then (labels
/// observed before the origin, validation the newest of those) and score the
/// accounts at the origin.
pub async fn backtest(engine: &Engine, cfg: &Config, origins: usize, progress: &dyn Fn(&str)) -> Result<Vec<BacktestRow>> {
    let dates = snapshot_dates(engine, cfg).await?;
    if origins == 0 || dates.len() < origins {
        return Err(Error::Usage(format!("`--origins {origins}`: the export has {} usable monthly snapshot dates", dates.len())));
    }
    progress(&format!("building features and labels for {} snapshot dates", dates.len()));
    let data = load(engine, cfg, &dates).await?;
    let (frame, labels) = (&data.frame, &data.labels);
    let features = data.fs.available(&engine.present_tables());
    let gap = chrono::Days::new(*cfg.training.horizons.iter().max().unwrap() as u64);
    let rows_of = |ds: &[NaiveDate]| -> Vec<usize> {
        let set: std::collections::BTreeSet<i32> = ds.iter().map(|d| day(*d)).collect();
        (0..frame.rows()).filter(|i| set.contains(&frame.as_of[*i])).collect()
    };
    let mut out = Vec::new();
    for origin in dates[dates.len() - origins..].iter().copied() {
        // labels of the training window must be observed by the origin
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
        progress(&format!("origin {origin}: training on {} → {}", train_d[0], train_d[train_d.len() - 1]));
        let (tr, va, te) = (rows_of(&train_d), rows_of(&val), rows_of(&[origin]));
        let Fitted { churn_text, expansion_text, calibration, best_iteration, .. } = fit(frame, labels, &tr, &va, cfg, None, &|_| ())?;
        let mut card = new_card(engine, cfg, &data, &features, &format!("backtest-{origin}"), [window(labels, &tr, &train_d, cfg), window(labels, &va, &val, cfg), window(labels, &te, &[origin], cfg)]);
        card.kind = Kind::Lightgbm;
        card.best_iteration = best_iteration;
        let model = Model::from_stored(
            Stored { card, model: Some(churn_text), expansion: Some(expansion_text), calibration: Some(calibration) },
            cfg.training.num_threads,
        )?;
        let m = evaluate(&model, frame, labels, &te, &features, cfg)?;
        let r = rules_metrics(frame, labels, &va, &te, &features, cfg);
        for (target, mm) in m {
            out.push(BacktestRow {
                origin: origin.to_string(),
                train_from: train_d[0].to_string(),
                train_to: train_d[train_d.len() - 1].to_string(),
                rules: r[&target].clone(),
                target,
                model: mm,
            });
        }
    }
    Ok(out)
}
