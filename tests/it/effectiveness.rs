//! `effectiveness` on the default company, whose generator plants a known
//! effect — its CS team's outreach removes 30 % of an at-risk account's
//! chance of churning at the renewal, for accounts not held out of the
//! `pre-renewal-risk` playbook's control group, and nothing for any other
//! playbook — and on the same company generated without it.

use std::sync::Arc;

use arrow::array::{ArrayRef, BooleanArray, StringArray};
use healthscore::columns::{floats, strings};

use crate::common::*;

/// Scores the first of each month for a year and a half, then the export's
/// day (whose 90 days are still to come), under the demo's playbooks.
fn score_monthly(cfg: &std::path::Path) {
    let mut dates: Vec<String> = (0..19).map(|m| (chrono::NaiveDate::from_ymd_opt(2025, 2, 1).unwrap() + chrono::Months::new(m)).to_string()).collect();
    dates.push(EXPORT_DATE.to_string());
    for d in &dates {
        let r = hs(&["score", "-c", cfg.to_str().unwrap(), "--as-of", d]);
        assert_eq!(r.code, 0, "{d}: {}", r.all());
    }
}

/// The `effectiveness` table: playbook → (treated, control, churn difference low/high, reduction low/high, verdict).
fn table(dir: &std::path::Path) -> Vec<(String, usize, usize, f64, f64, f64, f64, String)> {
    let rows = read_parquet(&dir.join(format!("out/effectiveness/as_of={EXPORT_DATE}/part-0.parquet")));
    let b = &rows[0];
    let (pb, verdict) = (strings(b, "playbook").unwrap(), strings(b, "verdict").unwrap());
    let f = |c: &str| floats(b, c).unwrap();
    let count = |c: &str, i: usize| b.column_by_name(c).unwrap().as_any().downcast_ref::<arrow::array::UInt64Array>().unwrap().value(i) as usize;
    let (lo, hi, red_lo, red_hi) = (f("churn_difference_low"), f("churn_difference_high"), f("churn_reduction_low"), f("churn_reduction_high"));
    (0..b.num_rows()).map(|i| (pb[i].clone().unwrap(), count("treated", i), count("control", i), lo[i], hi[i], red_lo[i], red_hi[i], verdict[i].clone().unwrap())).collect()
}

#[test]
fn effectiveness_recovers_the_planted_effect_and_finds_none_where_none_was_planted() {
    let c = company();
    let dir = scratch("effectiveness");
    let cfg = config_for(&dir, &c.data, &c.models, &live_playbooks());
    score_monthly(&cfg);
    // CSMs said whether ten of the save play's alerts helped
    let sent: Vec<String> = read_parquet(&dir.join("out/alerts/as_of=2026-06-01/part-0.parquet"))
        .iter()
        .flat_map(|b| {
            let (id, pb, s) = (strings(b, "alert_id").unwrap(), strings(b, "playbook").unwrap(), strings(b, "suppressed_by").unwrap());
            (0..b.num_rows()).filter(move |i| pb[*i].as_deref() == Some("pre-renewal-risk") && s[*i].is_none()).map(move |i| id[i].clone().unwrap()).collect::<Vec<_>>()
        })
        .take(10)
        .collect();
    assert_eq!(sent.len(), 10);
    let feedback = dir.join("feedback/alert_feedback.parquet");
    std::fs::create_dir_all(feedback.parent().unwrap()).unwrap();
    write_parquet(
        &feedback,
        vec![
            ("alert_id", Arc::new(StringArray::from(sent.clone())) as ArrayRef),
            ("helpful", Arc::new(BooleanArray::from((0..10).map(|i| i < 7).collect::<Vec<_>>())) as ArrayRef),
            ("comment", Arc::new(StringArray::from(vec![Some("called them"); 10])) as ArrayRef),
        ],
    );
    let text = std::fs::read_to_string(&cfg).unwrap().replacen("warehouse:\n", &format!("warehouse:\n  tables:\n    alert_feedback: {{ path: 'file://{}' }}\n", feedback.display()), 1);
    std::fs::write(&cfg, text).unwrap();
    let r = hs(&["effectiveness", "-c", cfg.to_str().unwrap()]);
    assert_eq!(r.code, 0, "{}", r.all());
    assert!(r.stdout.contains("pre-renewal-risk") && r.stdout.contains("helped: "), "{}", r.stdout);
    let rows = read_parquet(&dir.join(format!("out/effectiveness/as_of={EXPORT_DATE}/part-0.parquet")));
    let b = &rows[0];
    let pb = strings(b, "playbook").unwrap();
    let count = |c: &str, i: usize| b.column_by_name(c).unwrap().as_any().downcast_ref::<arrow::array::UInt64Array>().unwrap().value(i) as usize;
    let i = pb.iter().position(|p| p.as_deref() == Some("pre-renewal-risk")).unwrap();
    assert_eq!((count("feedback", i), floats(b, "helpful_share").unwrap()[i]), (10, 0.7));
    assert!(count("maturing", i) > 0, "the export day's alerts have not matured");
    let planted = 0.3;
    let mut chance = Vec::new();
    for (name, treated, control, lo, hi, red_lo, red_hi, verdict) in table(&dir) {
        let enough = treated >= 30 && control >= 30;
        if name == "pre-renewal-risk" {
            assert!(enough, "{verdict}");
            assert!(hi < 0.0, "the sign: fewer treated accounts churn ({lo} to {hi})");
            assert!(red_lo < planted && planted < red_hi, "the planted 30% lies in the reduction's interval ({red_lo} to {red_hi})");
            assert!(verdict.starts_with("helped: "), "{verdict}");
        } else if !enough {
            assert!(verdict.starts_with("not enough data yet"), "{verdict}");
        } else if !(lo < 0.0 && 0.0 < hi) {
            chance.push(name);
        }
    }
    // no effect was planted for the others: at 95% one in twenty crosses by chance
    assert!(chance.len() <= 1, "playbooks with no planted effect measured as effective: {chance:?}");
    // the same company without the plant: the save play shows no effect
    let plain = scratch("effectiveness-none");
    let r = hs(&["generate", "--out", plain.join("data").to_str().unwrap(), "--export-date", EXPORT_DATE, "--intervention-effect", "0"]);
    assert_eq!(r.code, 0, "{}", r.all());
    let cfg = config_for(&plain, &plain.join("data"), &plain.join("models"), &live_playbooks());
    let r = hs(&["train", "-c", cfg.to_str().unwrap()]);
    assert_eq!(r.code, 0, "{}", r.all());
    score_monthly(&cfg);
    let r = hs(&["effectiveness", "-c", cfg.to_str().unwrap()]);
    assert_eq!(r.code, 0, "{}", r.all());
    let (_, treated, control, lo, hi, _, _, verdict) = table(&plain).into_iter().find(|r| r.0 == "pre-renewal-risk").unwrap();
    assert!(treated >= 30 && control >= 30 && lo < 0.0 && 0.0 < hi, "none planted, yet {verdict}");
}
