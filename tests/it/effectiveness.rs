//! `effectiveness` on the default company, whose generator plants a known
//! effect: its CS team's outreach removes half of an at-risk account's
//! chance of churning at the renewal, for accounts not held out of the
//! `pre-renewal-risk` playbook's control group — and nothing for any other
//! playbook.

use std::sync::Arc;

use arrow::array::{ArrayRef, BooleanArray, StringArray};
use healthscore::columns::{floats, strings};

use crate::common::*;

#[test]
fn effectiveness_recovers_the_planted_effect_and_finds_none_where_none_was_planted() {
    let c = company();
    let dir = scratch("effectiveness");
    let cfg = config_for(&dir, &c.data, &c.models, &live_playbooks());
    // a year and a half of monthly scoring, then the export's day (whose 90 days are still to come)
    let mut dates: Vec<String> = (0..19).map(|m| (chrono::NaiveDate::from_ymd_opt(2025, 2, 1).unwrap() + chrono::Months::new(m)).to_string()).collect();
    dates.push(EXPORT_DATE.to_string());
    for d in &dates {
        let r = hs(&["score", "-c", cfg.to_str().unwrap(), "--as-of", d]);
        assert_eq!(r.code, 0, "{d}: {}", r.all());
    }
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
    let (pb, verdict) = (strings(b, "playbook").unwrap(), strings(b, "verdict").unwrap());
    let f = |c: &str| floats(b, c).unwrap();
    let count = |c: &str, i: usize| b.column_by_name(c).unwrap().as_any().downcast_ref::<arrow::array::UInt64Array>().unwrap().value(i) as usize;
    let (lo, hi, red_lo, red_hi) = (f("churn_difference_low"), f("churn_difference_high"), f("churn_reduction_low"), f("churn_reduction_high"));
    let mut judged = 0;
    for i in 0..b.num_rows() {
        let name = pb[i].clone().unwrap();
        let enough = count("treated", i) >= 30 && count("control", i) >= 30;
        if name == "pre-renewal-risk" {
            assert!(enough, "{:?}", verdict[i]);
            assert!(hi[i] < 0.0, "the sign: fewer treated accounts churn ({} to {})", lo[i], hi[i]);
            assert!(red_lo[i] < 0.5 && 0.5 < red_hi[i], "the planted half lies in the reduction's interval ({} to {})", red_lo[i], red_hi[i]);
            assert!(verdict[i].as_deref().unwrap().starts_with("helped: "));
            assert_eq!((count("feedback", i), f("helpful_share")[i]), (10, 0.7));
            assert!(count("maturing", i) > 0, "the export day's alerts have not matured");
        } else if enough {
            judged += 1;
            assert!(lo[i] < 0.0 && 0.0 < hi[i], "{name}: no effect was planted, yet {:?}", verdict[i]);
        } else {
            assert!(verdict[i].as_deref().unwrap().starts_with("not enough data yet"), "{:?}", verdict[i]);
        }
    }
    assert!(judged >= 3, "other playbooks were measured too: {judged}");
}
