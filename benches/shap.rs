//! TreeSHAP speed: healthscore's precomputed per-leaf tables against
//! LightGBM's own `predict_contrib` (and plain `predict`) on the same model
//! and rows, with the largest difference between the two.
//!
//!     cargo bench --bench shap -- <model.txt> [rows]
//!
//! Rows are drawn inside each input's training range (`feature_infos` in the
//! model text), with some NaN; the cost of either algorithm depends on the
//! trees, not on where the values fall.

use std::time::Instant;

use healthscore::model::lgbm::Predictor;
use healthscore::model::shap::Ensemble;
use rand::{Rng, SeedableRng};

fn main() {
    let args: Vec<String> = std::env::args().skip(1).filter(|a| a != "--bench").collect();
    let path = args.first().expect("usage: cargo bench --bench shap -- <model.txt> [rows]");
    let rows: usize = args.get(1).and_then(|r| r.parse().ok()).unwrap_or(20_000);
    let text = std::fs::read_to_string(path).expect("reading the model");
    let infos: Vec<(f64, f64)> = text
        .lines()
        .find_map(|l| l.strip_prefix("feature_infos="))
        .expect("feature_infos")
        .split_whitespace()
        .map(|s| match s.strip_prefix('[').and_then(|s| s.strip_suffix(']')).and_then(|s| s.split_once(':')) {
            Some((a, b)) => (a.parse().unwrap_or(0.0), b.parse().unwrap_or(1.0)),
            None => (0.0, s.split(':').count() as f64),
        })
        .collect();
    let w = infos.len();
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(1);
    let x: Vec<f64> = (0..rows * w)
        .map(|i| {
            let (a, b) = infos[i % w];
            if rng.random::<f64>() < 0.05 { f64::NAN } else if b > a { rng.random_range(a..=b) } else { a }
        })
        .collect();
    let ens = Ensemble::parse(&text).expect("parsing the model");
    let lgb = Predictor::load(&text, 2).expect("loading the model");
    let t = Instant::now();
    let ours = ens.contributions(&x);
    let t_ours = t.elapsed().as_secs_f64();
    let t = Instant::now();
    let theirs = lgb.contributions(&x).expect("predict_contrib");
    let t_lgb = t.elapsed().as_secs_f64();
    let t = Instant::now();
    let _ = lgb.predict(&x).expect("predict");
    let t_pred = t.elapsed().as_secs_f64();
    let diff = ours.iter().zip(&theirs).map(|(a, b)| (a - b).abs()).fold(0.0, f64::max);
    println!("model: {} trees, {w} inputs; {rows} rows", ens.trees.len());
    println!("healthscore TreeSHAP      {:>9.0} rows/s ({t_ours:.2}s)", rows as f64 / t_ours);
    println!("LightGBM predict_contrib  {:>9.0} rows/s ({t_lgb:.2}s)", rows as f64 / t_lgb);
    println!("LightGBM predict          {:>9.0} rows/s ({t_pred:.2}s)", rows as f64 / t_pred);
    println!("largest |difference| {diff:.2e}");
}
