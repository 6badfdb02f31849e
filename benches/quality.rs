//! Model and reason quality on three generated companies (seeds 7, 8, 9),
//! each trained with the default config and judged out of time at two
//! scoring dates (90 and 120 days before the export, so every 90-day
//! outcome is observed): the health score's AUC and churn per tier beside
//! the rules score's (the card's test window), and reason fidelity — top-1
//! and top-3 hit rates of the planted cause, with 95 % Wilson intervals,
//! beside reasons drawn at random, the rules score's reasons and the false
//! alarms on healthy accounts.
//!
//!     cargo bench --bench quality [-- ACCOUNTS [FEATURE_SET]]   (default 2000 × 24 months, v2)
//!
//! Companies and models are kept under `target/quality/` between runs.

use std::path::PathBuf;

use healthscore::config::Config;
use healthscore::engine::Engine;
use healthscore::model::card::HealthCheck;
use healthscore::generate::fidelity::Fidelity;

/// A 95 % Wilson interval for `hits` of `n`, as "p (lo–hi)".
fn wilson(hits: usize, n: usize) -> String {
    if n == 0 {
        return "–".into();
    }
    let (z, n, p) = (1.96f64, n as f64, hits as f64 / n as f64);
    let centre = (p + z * z / (2.0 * n)) / (1.0 + z * z / n);
    let half = z * (p * (1.0 - p) / n + z * z / (4.0 * n * n)).sqrt() / (1.0 + z * z / n);
    format!("{:.0}% ({:.0}–{:.0})", 100.0 * p, 100.0 * (centre - half).max(0.0), 100.0 * (centre + half).min(1.0))
}

fn tiers(h: &HealthCheck) -> String {
    h.tiers.iter().map(|t| format!("{} {}", t.tier, t.rate.map(|r| format!("{:.1}%", 100.0 * r)).unwrap_or("–".into()))).collect::<Vec<_>>().join(" / ")
}

fn fid_line(label: &str, f: &Fidelity) -> String {
    format!(
        "    {label:<6} judged {:>3}  top-1 {:<16} top-3 {:<16} random top-1 {:>3.0}% top-3 {:>3.0}%  false alarms {:.1}% of {} healthy",
        f.judged,
        wilson(f.top1, f.judged),
        wilson(f.top3, f.judged),
        100.0 * f.random_top1 / f.judged.max(1) as f64,
        100.0 * f.random_top3 / f.judged.max(1) as f64,
        100.0 * f.false_alarm,
        f.healthy
    )
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let args: Vec<String> = std::env::args().skip(1).filter(|a| a != "--bench").collect();
    let accounts: usize = args.first().and_then(|a| a.parse().ok()).unwrap_or(2000);
    // the feature set to measure (default: the config's default); one company per seed, shared
    let version = args.get(1).cloned().unwrap_or_else(|| "v2".into());
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let target = std::env::var("CARGO_TARGET_DIR").map(PathBuf::from).unwrap_or_else(|_| root.join("target"));
    let (mut pooled_model, mut pooled_rules) = (Fidelity::default(), Fidelity::default());
    for seed in [7u64, 8, 9] {
        let dir = target.join("quality").join(format!("seed-{seed}-{accounts}")).join(&version);
        std::fs::create_dir_all(&dir).unwrap();
        let yaml = format!(
            "warehouse: {{ base_uri: ../data, export_date: 2026-11-01 }}\noutput: {{ uri: out }}\nmodels: {{ dir: models, name: churn }}\nfeatures: {{ sql_dir: {}, version: {version} }}\ntraining: {{ num_threads: 2 }}\n",
            root.join("sql").display()
        );
        std::fs::write(dir.join("healthscore.yaml"), yaml).unwrap();
        let cfg = Config::load(&dir.join("healthscore.yaml")).unwrap();
        let stores = healthscore::store::Stores::new(cfg.storage.clone());
        if !dir.join("../data/accounts").exists() {
            let opts = healthscore::generate::Options { seed, accounts, ..Default::default() };
            healthscore::generate::generate(&stores, &cfg.warehouse, &opts, &|_| ()).await.unwrap();
        }
        let engine = Engine::open(&cfg).await.unwrap();
        if !dir.join("models/churn/current").exists() {
            healthscore::model::train::train(&engine, &cfg, false, None, &|_| ()).await.unwrap();
        }
        let (model, fs) = healthscore::score::current_model(&engine, &cfg).await.unwrap();
        let card = &model.card;
        println!("seed {seed}: model {} ({:?}), {} accounts × 24 months, feature set {version}", card.version, card.kind, accounts);
        if let Some(h) = &card.health {
            if let Some(m) = &h.model {
                println!("  health score, test window {} → {}: AUC 90 d {:.3} (rules {:.3}); churn within 90 d by tier: {} (rules: {})",
                    card.test.from, card.test.to, m.auc_horizon.unwrap_or(f64::NAN), h.rules.auc_horizon.unwrap_or(f64::NAN), tiers(m), tiers(&h.rules));
            }
        }
        if let Some(t) = &card.tiers {
            println!("  tiers: red below {:.1}, yellow below {:.1} ({})", t.cutoffs.red_below, t.cutoffs.yellow_below, t.method);
        }
        let rules = model.rules_twin();
        for back in [90u64, 120] {
            let as_of = engine.export_date - chrono::Days::new(back);
            println!("  reasons scored at {as_of} (export − {back} d), churn within the next 90 days:");
            for (label, m, pool) in [("model", &model, &mut pooled_model), ("rules", &rules, &mut pooled_rules)] {
                let scored = healthscore::score::score(&engine, &cfg, m, &fs, as_of).await.unwrap();
                let f = healthscore::generate::fidelity::check(&engine, &scored, 90).await.unwrap().unwrap();
                println!("{}", fid_line(label, &f));
                pool.judged += f.judged;
                pool.top1 += f.top1;
                pool.top3 += f.top3;
                pool.random_top1 += f.random_top1;
                pool.random_top3 += f.random_top3;
                pool.false_alarm += f.false_alarm * f.healthy as f64;
                pool.healthy += f.healthy;
            }
        }
    }
    for p in [&mut pooled_model, &mut pooled_rules] {
        p.false_alarm /= p.healthy.max(1) as f64;
    }
    println!("pooled over 3 seeds × 2 dates:");
    println!("{}", fid_line("model", &pooled_model));
    println!("{}", fid_line("rules", &pooled_rules));
}
