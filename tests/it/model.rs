//! Training: quality on the default company, parity with Python LightGBM,
//! censoring, monotone horizons, determinism, the promotion gate, the
//! feature-hash refusal and the cold start.

use healthscore::model::card::{Card, Kind};
use healthscore::model::lgbm;
use healthscore::model::shap::Ensemble;
use healthscore::model::train::Label;

use crate::common::*;

fn card(models: &std::path::Path, version: &str) -> Card {
    serde_json::from_str(&std::fs::read_to_string(models.join("churn").join(version).join("card.json")).unwrap()).unwrap()
}

fn current(models: &std::path::Path) -> String {
    std::fs::read_to_string(models.join("churn/current")).unwrap().trim().to_string()
}

#[test]
fn the_model_beats_the_rules_baseline_and_is_calibrated() {
    let c = company();
    let card = card(&c.models, &current(&c.models));
    assert_eq!(card.kind, Kind::Lightgbm);
    let m = &card.metrics["churn_90d"];
    let model = m.model.as_ref().unwrap();
    // like with like: the health score (timing-blind, as the rules score is)
    let h = card.health.as_ref().unwrap();
    let (auc, rules) = (h.model.as_ref().unwrap().auc_horizon.unwrap(), h.rules.auc_horizon.unwrap());
    assert!(auc >= rules + 0.05, "health-score AUC {auc:.3} vs rules {rules:.3}");
    assert!(model.auc.unwrap() > auc, "the timing-aware 90-day probability ranks better than the timing-blind score");
    let cal = model.calibration_error.unwrap();
    assert!(cal <= 0.03, "calibration error {cal:.4}");
    assert_eq!(model.calibration.len(), 10);
    // the card records what a data team needs to trust it
    assert_eq!(card.feature_set.version, "v2");
    assert_eq!(card.feature_set.hash.len(), 64);
    assert!(card.train.rows > 0 && card.validation.rows > 0 && card.test.rows > 0);
    assert!(card.train.to < card.validation.from && card.validation.to < card.test.from);
    assert!(!card.importance.is_empty());
    // model_metrics is written by train, partitioned by model version
    let mm = c.dir.join("out/model_metrics").join(format!("model_version={}", card.version)).join("part-0.parquet");
    let rows: usize = read_parquet(&mm).iter().map(|b| b.num_rows()).sum();
    assert!(rows > 40, "{rows}");
}

fn read_csv(path: &std::path::Path) -> Vec<Vec<f64>> {
    std::fs::read_to_string(path)
        .unwrap()
        .lines()
        .map(|l| l.split(',').map(|v| if v.is_empty() { f64::NAN } else { v.parse().unwrap() }).collect())
        .collect()
}

fn trees(model: &str) -> String {
    let start = model.find("Tree=0").unwrap();
    let end = model.find("end of trees").unwrap();
    model[start..end].to_string()
}

#[test]
fn lightgbm_parity_with_python() {
    let dir = repo().join("tests/fixtures/parity");
    let params: lgbm::Params = serde_json::from_str(&std::fs::read_to_string(dir.join("params.json")).unwrap()).unwrap();
    let train = read_csv(&dir.join("train.csv"));
    let x: Vec<f64> = train.iter().flat_map(|r| r[..6].to_vec()).collect();
    let y: Vec<f32> = train.iter().map(|r| r[6] as f32).collect();
    let names: Vec<String> = (0..6).map(|i| format!("f{i}")).collect();
    let trained = lgbm::train(&params, &names, &lgbm::Data { x: &x, y: &y, n_features: 6 }, None, 0).unwrap();
    // trees first: the same splits, thresholds and leaf values as Python's
    let python = std::fs::read_to_string(dir.join("model.txt")).unwrap();
    assert_eq!(trees(&trained.model_text), trees(&python), "trees differ from Python lightgbm 4.7");
    let test: Vec<f64> = read_csv(&dir.join("test.csv")).into_iter().flatten().collect();
    let expected: Vec<f64> = std::fs::read_to_string(dir.join("expected.csv")).unwrap().lines().map(|l| l.parse().unwrap()).collect();
    let p = lgbm::Predictor::load(&trained.model_text, 1).unwrap().predict(&test).unwrap();
    assert_eq!(p.len(), expected.len());
    for (i, (a, b)) in p.iter().zip(&expected).enumerate() {
        assert!((a - b).abs() <= 1e-6, "row {i}: {a} vs python {b}");
    }
}

#[test]
fn tree_shap_matches_lightgbm_predict_contrib_on_every_row() {
    // the parity model has NaN, zeros and a categorical with unseen values
    let dir = repo().join("tests/fixtures/parity");
    let model = std::fs::read_to_string(dir.join("model.txt")).unwrap();
    let test: Vec<f64> = read_csv(&dir.join("test.csv")).into_iter().flatten().collect();
    check_shap(&model, &test, 6);
    // and the trained churn model, on the company's rows plus edge rows
    let c = company();
    let v = current(&c.models);
    let m = std::fs::read_to_string(c.models.join("churn").join(&v).join("model.txt")).unwrap();
    let ens = Ensemble::parse(&m).unwrap();
    let w = ens.n_features;
    let mut x = Vec::new();
    for i in 0..400 {
        for j in 0..w {
            x.push(match (i % 4, j % 5) {
                (0, 0) => f64::NAN,
                (1, _) if j % 3 == 0 => 0.0,
                (2, 1) => -1.0,
                _ => ((i * 31 + j * 17) % 97) as f64 / 7.0,
            });
        }
    }
    // unseen categories (large codes) in the categorical columns
    let card = card(&c.models, &v);
    for name in &card.categorical {
        let j = card.features.iter().position(|f| f == name).unwrap();
        for i in 0..400 {
            if i % 3 == 0 {
                x[i * w + j] = 57.0;
            }
        }
    }
    check_shap(&m, &x, w);
}

fn check_shap(model: &str, x: &[f64], w: usize) {
    let ens = Ensemble::parse(model).unwrap();
    assert_eq!(ens.n_features, w);
    let ours = ens.contributions(x);
    let reference = ens.contributions_recursive(x);
    let lgb = lgbm::Predictor::load(model, 2).unwrap().contributions(x).unwrap();
    assert_eq!(ours.len(), lgb.len());
    for (i, ((a, b), r)) in ours.iter().zip(&lgb).zip(&reference).enumerate() {
        assert!((a - b).abs() <= 1e-6, "value {i} (row {}, column {}): ours {a} vs LightGBM {b}", i / (w + 1), i % (w + 1));
        assert!((a - r).abs() <= 1e-9, "value {i}: table {a} vs recursive {r}");
    }
    // contributions sum to the raw score
    for (row, phi) in x.chunks(w).zip(ours.chunks(w + 1)) {
        let s: f64 = phi.iter().sum();
        assert!((s - ens.raw(row)).abs() < 1e-9);
    }
}

#[test]
fn an_unobserved_horizon_is_never_a_negative_label() {
    let l = Label { days_to_churn: None, expanded: false, observed_days: 45 };
    assert_eq!(l.churned_within(30), Some(false));
    assert_eq!(l.churned_within(60), None);
    assert_eq!(l.churned_within(90), None);
    let churned = Label { days_to_churn: Some(20), expanded: false, observed_days: 45 };
    assert_eq!(churned.churned_within(30), Some(true));
    // a churn seen early does not make a censored horizon positive either
    assert_eq!(churned.churned_within(90), None);
    assert_eq!(Label { days_to_churn: None, expanded: true, observed_days: 80 }.expanded_within(90), None);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn labels_near_the_export_day_are_censored_in_the_real_frame() {
    let c = company();
    let cfg = healthscore::config::Config::load(&c.config).unwrap();
    let engine = healthscore::engine::Engine::open(&cfg).await.unwrap();
    let dates = vec![chrono::NaiveDate::from_ymd_opt(2026, 9, 15).unwrap(), chrono::NaiveDate::from_ymd_opt(2026, 5, 1).unwrap()];
    let data = healthscore::model::train::load(&engine, &cfg, &dates).await.unwrap();
    let mut late = 0;
    for (i, l) in data.labels.iter().enumerate() {
        if data.frame.as_of[i] == day("2026-09-15") {
            late += 1;
            assert_eq!(l.observed_days, 47);
            assert_eq!(l.churned_within(90), None);
            assert_eq!(l.churned_within(60), None);
            assert!(l.churned_within(30).is_some());
        } else {
            assert!(l.churned_within(90).is_some());
        }
    }
    assert!(late > 1000);
    assert!(data.labels.iter().any(|l| l.churned_within(90) == Some(true)));
}

#[test]
fn training_is_deterministic_for_a_seed() {
    let c = company();
    let dir = scratch("determinism");
    let models = dir.join("models");
    let cfg = config_for(&dir, &c.data, &models, "");
    for _ in 0..2 {
        let r = hs(&["train", "-c", cfg.to_str().unwrap(), "--force"]);
        assert_eq!(r.code, 0, "{}", r.all());
    }
    let a = std::fs::read(models.join("churn/v1/model.txt")).unwrap();
    let b = std::fs::read(models.join("churn/v2/model.txt")).unwrap();
    assert!(a == b, "same data and seed gave different models");
    let a = std::fs::read(models.join("churn/v1/expansion.txt")).unwrap();
    let b = std::fs::read(models.join("churn/v2/expansion.txt")).unwrap();
    assert!(a == b);
}

#[test]
fn a_worse_model_is_not_promoted_unless_forced() {
    let c = company();
    let dir = scratch("promotion");
    let models = dir.join("models");
    copy_dir(&c.models, &models);
    let before = current(&models);
    let cfg = config_for(&dir, &c.data, &models, "training:\n  lightgbm: { num_iterations: 3, num_leaves: 2, learning_rate: 0.01 }\n");
    let r = hs(&["train", "-c", cfg.to_str().unwrap()]);
    assert_eq!(r.code, 0, "{}", r.all());
    let versions = healthscore_versions(&models);
    let new = versions.last().unwrap().clone();
    assert_ne!(new, before);
    let card = card(&models, &new);
    let p = card.promotion.unwrap();
    assert!(!p.promoted, "{p:?}");
    assert!(p.current_auc.unwrap() > p.new_auc.unwrap());
    assert!(p.compared_on.starts_with("churn_"), "{}", p.compared_on);
    assert_eq!(current(&models), before, "the current model must stay");
    let r = hs(&["train", "-c", cfg.to_str().unwrap(), "--force"]);
    assert_eq!(r.code, 0, "{}", r.all());
    assert_ne!(current(&models), before);
}

fn healthscore_versions(models: &std::path::Path) -> Vec<String> {
    let mut v: Vec<u32> = std::fs::read_dir(models.join("churn"))
        .unwrap()
        .flatten()
        .filter_map(|e| e.file_name().to_str()?.strip_prefix('v')?.parse().ok())
        .collect();
    v.sort();
    v.into_iter().map(|n| format!("v{n}")).collect()
}

#[test]
fn scoring_with_a_model_built_on_another_feature_hash_is_refused() {
    let c = company();
    let dir = scratch("hash");
    let sql = dir.join("sql");
    copy_dir(&repo().join("sql"), &sql);
    let f = sql.join("features/v2/int_billing.sql");
    let text = std::fs::read_to_string(&f).unwrap() + "\n-- an edit to a released feature set\n";
    std::fs::write(&f, text).unwrap();
    let cfg = config_for(&dir, &c.data, &c.models, "");
    let yaml = std::fs::read_to_string(&cfg).unwrap().replace(&repo().join("sql").display().to_string(), &sql.display().to_string());
    std::fs::write(&cfg, yaml).unwrap();
    let r = hs(&["score", "-c", cfg.to_str().unwrap()]);
    assert_eq!(r.code, 2, "{}", r.all());
    assert!(r.stderr.contains("was trained on feature set `v2` with hash") && r.stderr.contains("frozen"), "{}", r.stderr);
    assert!(!dir.join("out/account_scores").exists());
}

#[test]
fn too_few_churns_fall_back_to_the_rules_score_with_the_same_schema() {
    let c = company();
    let dir = scratch("cold-start");
    let models = dir.join("models");
    let cfg = config_for(&dir, &c.data, &models, "training:\n  min_churned_accounts: 100000\n");
    let r = hs(&["train", "-c", cfg.to_str().unwrap()]);
    assert_eq!(r.code, 0, "{}", r.all());
    assert!(r.stdout.contains("cold start"), "{}", r.stdout);
    let card = card(&models, "v1");
    assert_eq!(card.kind, Kind::Rules);
    assert!(card.metrics["churn_90d"].model.is_none());
    let r = hs(&["score", "-c", cfg.to_str().unwrap()]);
    assert_eq!(r.code, 0, "{}", r.all());
    let rules = read_parquet(&dir.join(format!("out/account_scores/as_of={EXPORT_DATE}/part-0.parquet")));
    // the fixture's model-based table has the same schema
    let dir2 = scratch("cold-start-model");
    let cfg2 = config_for(&dir2, &c.data, &c.models, "");
    let r = hs(&["score", "-c", cfg2.to_str().unwrap()]);
    assert_eq!(r.code, 0, "{}", r.all());
    let model = read_parquet(&dir2.join(format!("out/account_scores/as_of={EXPORT_DATE}/part-0.parquet")));
    assert_eq!(rules[0].schema(), model[0].schema());
    let mv = healthscore::columns::strings(&rules[0], "model_version").unwrap();
    assert!(mv[0].as_deref().unwrap().ends_with("(rules, calibrated)"), "{mv:?}");
    // a cold start still gives probabilities: the rules score calibrated on the validation window
    let p: Vec<Vec<f64>> = ["p_churn_30d", "p_churn_60d", "p_churn_90d"].iter().map(|c| healthscore::columns::floats(&rules[0], c).unwrap()).collect();
    for i in 0..p[0].len() {
        assert!(p.iter().all(|v| v[i].is_finite() && (0.0..=1.0).contains(&v[i])), "row {i}");
        assert!(p[0][i] <= p[1][i] && p[1][i] <= p[2][i], "row {i}: {} {} {}", p[0][i], p[1][i], p[2][i]);
    }
    let mean90 = p[2].iter().sum::<f64>() / p[2].len() as f64;
    assert!(mean90 > 0.005 && mean90 < 0.3, "mean 90-day churn {mean90}");
    let h = healthscore::columns::floats(&rules[0], "health_score").unwrap();
    assert!(h.iter().all(|v| (0.0..=100.0).contains(v)));
    let reasons = healthscore::columns::strings(&rules[0], "recommended_action").unwrap();
    assert!(reasons.iter().all(|r| r.is_some()));
}

#[test]
fn backtest_retrains_as_of_each_origin_without_seeing_its_future() {
    let c = company();
    let dir = scratch("backtest");
    let cfg = config_for(&dir, &c.data, &c.models, "");
    let r = hs(&["backtest", "-c", cfg.to_str().unwrap(), "--origins", "2"]);
    assert_eq!(r.code, 0, "{}", r.all());
    let part = std::fs::read_dir(dir.join("out/backtest")).unwrap().next().unwrap().unwrap().path();
    let b = &read_parquet(&part.join("part-0.parquet"))[0];
    assert_eq!(b.num_rows(), 2 * 4, "2 origins × (3 churn horizons + expansion)");
    let origin = healthscore::columns::strings(b, "origin").unwrap();
    let train_to = healthscore::columns::strings(b, "train_to").unwrap();
    let auc = healthscore::columns::floats(b, "auc").unwrap();
    let rules = healthscore::columns::floats(b, "rules_auc").unwrap();
    let target = healthscore::columns::strings(b, "target").unwrap();
    for i in 0..b.num_rows() {
        let o = day(origin[i].as_deref().unwrap());
        let t = day(train_to[i].as_deref().unwrap());
        // the training window's labels (and the validation window after it) end before the origin
        assert!(t + 2 * 90 <= o, "trained up to {:?} for origin {:?}", train_to[i], origin[i]);
        if target[i].as_deref() == Some("churn_90d") {
            assert!(auc[i] > rules[i], "origin {:?}: model {} vs rules {}", origin[i], auc[i], rules[i]);
        }
    }
}

#[test]
fn the_card_measures_the_health_score_and_tiers_from_the_base_rate() {
    let c = company();
    let card = card(&c.models, &current(&c.models));
    let policy = card.tiers.as_ref().expect("a trained card carries its tier cut-offs");
    assert!(policy.method.starts_with("derived"), "{}", policy.method);
    let b = policy.base_rate.unwrap();
    assert!(b > 0.0 && b < 1.0, "{b}");
    // red where the at-renewal risk is at least twice the base rate
    assert!((policy.cutoffs.red_below - (100.0 * (1.0 - (2.0 * b).min(0.9)))).abs() < 0.1, "{policy:?}");
    let h = card.health.as_ref().expect("the health score is checked on the test window");
    let model = h.model.as_ref().unwrap();
    let auc = model.auc_horizon.unwrap();
    assert!(auc > 0.65, "health-score AUC {auc}");
    assert!(model.auc_by_renewal.is_some() && model.rows_by_renewal > 0);
    let rate = |c: &healthscore::model::card::HealthCheck, t: &str| c.tiers.iter().find(|r| r.tier.as_str() == t).and_then(|r| r.rate);
    let (red, green) = (rate(model, "red").unwrap(), rate(model, "green").unwrap());
    assert!(red > 3.0 * green, "red accounts churned at {red:.3}, green at {green:.3}");
    // the rules score is measured on the same rows
    let rows = |c: &healthscore::model::card::HealthCheck| c.tiers.iter().map(|r| r.rows).sum::<usize>();
    assert_eq!(rows(model), rows(&h.rules));
    assert!(h.rules.auc_horizon.is_some());
}

#[test]
fn fixed_tiers_in_the_config_override_the_derived_ones() {
    let c = company();
    let dir = scratch("fixed-tiers");
    let cfg = config_for(&dir, &c.data, &c.models, "scoring:\n  tiers: { red_below: 99.9, yellow_below: 99.95 }\n");
    let r = hs(&["score", "-c", cfg.to_str().unwrap()]);
    assert_eq!(r.code, 0, "{}", r.all());
    let t = read_parquet(&dir.join(format!("out/account_scores/as_of={EXPORT_DATE}/part-0.parquet")));
    let h = healthscore::columns::floats(&t[0], "health_score").unwrap();
    let tiers = healthscore::columns::strings(&t[0], "tier").unwrap();
    let overridden = t[0].column_by_name("override_applied").unwrap().as_any().downcast_ref::<arrow::array::BooleanArray>().unwrap().clone();
    for (i, (h, tier)) in h.iter().zip(&tiers).enumerate() {
        if *h < 99.9 && !overridden.value(i) {
            assert_eq!(tier.as_deref(), Some("red"), "health {h}");
        }
    }
}

#[test]
fn a_memory_limit_too_small_is_one_sentence_and_exit_2() {
    let c = company();
    let dir = scratch("tiny-memory");
    let models = dir.join("models");
    let cfg = config_for(&dir, &c.data, &models, "engine:\n  memory_limit_mb: 1\n");
    let r = hs(&["train", "-c", cfg.to_str().unwrap()]);
    assert_eq!(r.code, 2, "{}", r.all());
    assert!(r.stderr.contains("raise `engine.memory_limit_mb`") && r.stderr.contains("(1 MB)"), "{}", r.stderr);
    assert!(!r.stderr.contains("Resources exhausted") && !r.stderr.contains("DataFusion"), "DataFusion's dump leaked: {}", r.stderr);
    assert!(!models.join("churn").exists(), "nothing is registered");
}

#[test]
fn train_refuses_without_an_export_date() {
    let c = company();
    let dir = scratch("no-export-date");
    let cfg = config_for(&dir, &c.data, &dir.join("models"), "");
    let yaml = std::fs::read_to_string(&cfg).unwrap().replace(&format!("  export_date: {EXPORT_DATE}\n"), "");
    std::fs::write(&cfg, yaml).unwrap();
    let r = hs(&["train", "-c", cfg.to_str().unwrap()]);
    assert_eq!(r.code, 2, "{}", r.all());
    assert!(r.stderr.contains("`warehouse.export_date` is required"), "{}", r.stderr);
}

/// 12 months of history is too short for 3 test + 3 validation months with
/// 90-day gaps: training falls back to one of each and says so.
#[test]
fn a_twelve_month_export_trains_with_the_default_config() {
    let dir = scratch("twelve-months");
    let data = dir.join("data");
    let r = hs(&["generate", "--out", data.to_str().unwrap(), "--seed", "11", "--accounts", "3000", "--months", "12", "--export-date", EXPORT_DATE]);
    assert_eq!(r.code, 0, "{}", r.all());
    let models = dir.join("models");
    let cfg = config_for(&dir, &data, &models, "");
    let r = hs(&["train", "-c", cfg.to_str().unwrap()]);
    assert_eq!(r.code, 0, "{}", r.all());
    let card = card(&models, "v1");
    assert!(card.warnings.iter().any(|w| w.starts_with("short history") && w.contains("1 test and 1 validation month")), "{:?}", card.warnings);
    assert_eq!((card.test.snapshots, card.validation.snapshots), (1, 1));
    assert_eq!(card.kind, Kind::Lightgbm, "{:?}", card.warnings);
    let r = hs(&["score", "-c", cfg.to_str().unwrap()]);
    assert_eq!(r.code, 0, "{}", r.all());
}

#[test]
fn a_trained_model_refuses_to_score_when_a_table_it_reads_is_missing() {
    let c = company();
    let dir = scratch("missing-table");
    let data = dir.join("data");
    copy_dir(&c.data, &data);
    let _ = std::fs::remove_dir_all(data.join("nps"));
    let _ = std::fs::remove_file(data.join("nps.parquet"));
    let cfg = config_for(&dir, &data, &c.models, "");
    let r = hs(&["score", "-c", cfg.to_str().unwrap()]);
    assert_eq!(r.code, 2, "{}", r.all());
    assert!(r.stderr.contains("needs table `nps`") && r.stderr.contains("retrain without it"), "{}", r.stderr);
    assert!(!dir.join("out/account_scores").exists(), "nothing is written");
}

/// Outcomes booked late, or churn derived from billing that the grace
/// period cannot confirm yet: labels are observed only as far as the data
/// proves, never up to a date in the config.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn labels_are_observed_only_as_far_as_the_outcome_source_reaches() {
    use arrow::array::AsArray;
    let c = company();
    let dir = scratch("coverage");
    let data = dir.join("data");
    copy_dir(&c.data, &data);
    // the outcome feed stops on 2026-10-01 (a month before the export)
    let cut = day("2026-10-01");
    let out_dir = data.join("outcomes");
    for e in std::fs::read_dir(&out_dir).unwrap().flatten() {
        let batches: Vec<arrow::array::RecordBatch> = read_parquet(&e.path())
            .iter()
            .map(|b| {
                let d = arrow::compute::cast(b.column_by_name("event_date").unwrap(), &arrow::datatypes::DataType::Date32).unwrap();
                let d = d.as_primitive::<arrow::datatypes::Date32Type>();
                let keep: arrow::array::BooleanArray = (0..d.len()).map(|i| Some(d.value(i) < cut)).collect();
                arrow::compute::filter_record_batch(b, &keep).unwrap()
            })
            .collect();
        std::fs::write(e.path(), healthscore::output::parquet::encode(&batches[0].schema(), &batches).unwrap()).unwrap();
    }
    let newest = read_parquet_dir(&out_dir)
        .iter()
        .flat_map(|b| {
            let d = arrow::compute::cast(b.column_by_name("event_date").unwrap(), &arrow::datatypes::DataType::Date32).unwrap();
            d.as_primitive::<arrow::datatypes::Date32Type>().values().to_vec()
        })
        .max()
        .unwrap();
    assert!(newest < cut);
    let as_of = chrono::NaiveDate::from_ymd_opt(2026, 9, 1).unwrap();
    let observed = |cfg: &std::path::Path| {
        let cfg = healthscore::config::Config::load(cfg).unwrap();
        async move {
            let engine = healthscore::engine::Engine::open(&cfg).await.unwrap();
            let data = healthscore::model::train::load(&engine, &cfg, &[as_of]).await.unwrap();
            data.labels.iter().map(|l| l.observed_days).collect::<std::collections::BTreeSet<_>>()
        }
    };
    let cfg = config_for(&dir, &data, &c.models, "");
    assert_eq!(observed(&cfg).await, [newest + 1 - day("2026-09-01")].into(), "observed up to the newest booked outcome");
    // without `outcomes`, churn is derived from billing: the last 30 days (grace) are not confirmed
    std::fs::remove_dir_all(&out_dir).unwrap();
    assert_eq!(observed(&cfg).await, [day(EXPORT_DATE) - 30 - day("2026-09-01")].into(), "observed up to the export less the grace period");
}

#[test]
fn too_few_churns_to_calibrate_leave_the_model_uncalibrated_and_unpromoted() {
    let c = company();
    let dir = scratch("uncalibrated");
    let models = dir.join("models");
    copy_dir(&c.models, &models);
    let before = current(&models);
    let cfg = config_for(&dir, &c.data, &models, "training:\n  min_validation_churned_accounts: 100000\n");
    let r = hs(&["train", "-c", cfg.to_str().unwrap()]);
    assert_eq!(r.code, 0, "{}", r.all());
    let new = healthscore_versions(&models).last().unwrap().clone();
    let card = card(&models, &new);
    assert!(card.warnings.iter().any(|w| w.starts_with("uncalibrated")), "{:?}", card.warnings);
    let p = card.promotion.unwrap();
    assert!(!p.promoted && p.reason.contains("uncalibrated"), "{p:?}");
    assert_eq!(current(&models), before);
    // the map is the identity, not "every account scores 100"
    let cal: healthscore::model::card::Calibration =
        serde_json::from_str(&std::fs::read_to_string(models.join("churn").join(&new).join("calibration.json")).unwrap()).unwrap();
    assert!(cal.hazard.is_identity());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn probabilities_without_reasons_equal_the_explained_scores() {
    use healthscore::features::FeatureSet;
    use healthscore::model::{frame, registry::Registry, Model};
    let c = company();
    let cfg = healthscore::config::Config::load(&c.config).unwrap();
    let engine = healthscore::engine::Engine::open(&cfg).await.unwrap();
    let registry = Registry::open(&engine.stores, &cfg).unwrap();
    let stored = registry.load(&registry.current().await.unwrap().unwrap()).await.unwrap();
    let fs = FeatureSet::load(&cfg.sql_dir, &stored.card.feature_set.version).unwrap();
    let feats: Vec<_> = stored.card.features.iter().map(|n| fs.spec.get(n).unwrap()).collect();
    let batches = fs.build(&engine, &[chrono::NaiveDate::from_ymd_opt(2026, 5, 1).unwrap()]).await.unwrap();
    let (f, _) = frame::build(&batches, &feats, Some(&stored.card.vocab)).unwrap();
    let model = Model::from_stored(stored, 1).unwrap();
    assert!(!model.is_rules());
    let explained = model.predict(&f, &feats, &cfg.rule_weights).unwrap();
    let plain = model.probabilities(&f, &feats, &cfg.rule_weights).unwrap();
    assert!(f.rows() > 1000, "{}", f.rows());
    assert_eq!(explained.contributions.len(), f.rows() * f.width());
    assert!(plain.contributions.is_empty(), "no TreeSHAP pass");
    assert_eq!(plain.p_churn, explained.p_churn);
    assert_eq!(plain.p_expand, explained.p_expand);
    // LightGBM's prediction and TreeSHAP's sum agree to rounding, so the
    // health score (and every tier and AUC the card reports) is the same
    let most = explained.health.iter().zip(&plain.health).map(|(a, b)| (a - b).abs()).fold(0.0, f64::max);
    assert!(most < 1e-6, "health differs by {most}");
    let (lo, hi) = explained.health.iter().fold((f64::MAX, f64::MIN), |(l, h), v| (l.min(*v), h.max(*v)));
    assert!(hi - lo > 10.0, "the scores spread: {lo}..{hi}");
}
