//! Feature drift: a company whose product usage falls after a date is
//! flagged on its usage inputs, and on nothing else; the same company
//! unshifted is not.

use std::sync::Arc;

use arrow::array::{Array, AsArray, Int64Array, RecordBatch};
use arrow::datatypes::{Date32Type, Int64Type};
use healthscore::columns::{floats, strings};

use crate::common::*;

/// Every usage row dated on or after `from` keeps `share` of its events.
fn shift_usage(data: &std::path::Path, from: i32, share: f64) -> usize {
    let mut shifted = 0;
    for f in walk(&data.join("usage")).into_iter().filter(|p| p.extension().is_some_and(|e| e == "parquet")) {
        let batches = read_parquet(&f);
        let schema = batches[0].schema();
        let mut out = Vec::new();
        for b in &batches {
            let (d, e) = (b.column_by_name("date").unwrap().as_primitive::<Date32Type>(), b.column_by_name("events").unwrap().as_primitive::<Int64Type>());
            let events: Int64Array = (0..b.num_rows())
                .map(|i| {
                    (!e.is_null(i)).then(|| {
                        if d.value(i) >= from {
                            shifted += 1;
                            ((e.value(i) as f64 * share).round() as i64).max(1)
                        } else {
                            e.value(i)
                        }
                    })
                })
                .collect();
            let cols = schema.fields().iter().map(|fl| if fl.name() == "events" { Arc::new(events.clone()) as _ } else { b.column_by_name(fl.name()).unwrap().clone() }).collect();
            out.push(RecordBatch::try_new(schema.clone(), cols).unwrap());
        }
        std::fs::write(&f, healthscore::output::parquet::encode(&schema, &out).unwrap()).unwrap();
    }
    shifted
}

fn drift(out: &std::path::Path) -> Vec<(String, f64, String)> {
    let t = read_parquet(&out.join(format!("feature_drift/as_of={EXPORT_DATE}/part-0.parquet")));
    t.iter()
        .flat_map(|b| {
            let (f, p, s) = (strings(b, "feature").unwrap(), floats(b, "psi").unwrap(), strings(b, "status").unwrap());
            (0..b.num_rows()).map(move |i| (f[i].clone().unwrap(), p[i], s[i].clone().unwrap())).collect::<Vec<_>>()
        })
        .collect()
}

#[test]
fn usage_that_falls_after_a_date_is_flagged_and_nothing_else_is() {
    let dir = scratch("drift");
    let data = dir.join("data");
    let r = hs(&["generate", "--out", data.to_str().unwrap(), "--seed", "11", "--accounts", "800", "--months", "20", "--export-date", EXPORT_DATE]);
    assert_eq!(r.code, 0, "{}", r.all());
    let shifted_data = dir.join("shifted");
    copy_dir(&data, &shifted_data);
    // the last 45 days before the export: a third of the events
    assert!(shift_usage(&shifted_data, day(EXPORT_DATE) - 45, 0.3) > 10_000);

    let models = dir.join("models");
    let plain = config_for(&dir.join("plain"), &data, &models, "");
    let r = hs(&["train", "-c", plain.to_str().unwrap()]);
    assert_eq!(r.code, 0, "{}", r.all());
    let r = hs(&["score", "-c", plain.to_str().unwrap()]);
    assert_eq!(r.code, 0, "{}", r.all());
    let before = drift(&dir.join("plain/out"));
    // the same model scores the shifted export
    let shifted = config_for(&dir.join("shifted-run"), &shifted_data, &models, "");
    let r = hs(&["score", "-c", shifted.to_str().unwrap()]);
    assert_eq!(r.code, 0, "{}", r.all());
    let after = drift(&dir.join("shifted-run/out"));
    assert!(r.all().contains("feature drift since training") && r.all().contains("past the act line"), "a warning line: {}", r.all());

    let card_inputs = before.len();
    assert!(card_inputs > 20 && after.len() == card_inputs, "one row per model input: {} / {}", before.len(), after.len());
    let status = |rows: &[(String, f64, String)], f: &str| rows.iter().find(|r| r.0 == f).map(|r| (r.1, r.2.clone())).unwrap_or_else(|| panic!("{f} not measured: {rows:?}"));
    // what reads event counts moved; what does not read usage did not
    let usage_counts = ["logins_30d", "events_per_active_user_30d"];
    let moved: Vec<&str> = usage_counts.iter().copied().filter(|f| before.iter().any(|r| r.0 == *f)).collect();
    assert!(!moved.is_empty(), "the set measures some usage count: {before:?}");
    for f in &moved {
        let (p0, s0) = status(&before, f);
        let (p1, s1) = status(&after, f);
        assert!(s0 == "ok" && s1 == "act" && p1 > 0.25 && p1 > 5.0 * p0.max(0.01), "{f}: {p0} {s0} → {p1} {s1}");
    }
    let set = healthscore::features::FeatureSet::load(&repo().join("sql"), "v2").unwrap();
    let usage_reading = |f: &str| set.spec.features.iter().any(|x| x.name == f && x.requires.iter().any(|t| t == "usage"));
    for (f, p1, s1) in &after {
        let (p0, _) = status(&before, f);
        if (p1 - p0).abs() > 1e-9 {
            // only inputs that read usage change between the two exports
            assert!(usage_reading(f), "{f} changed ({p0} → {p1}, {s1}) but reads no usage");
        }
    }
    // nothing that reads no usage is flagged by the shift: its status is the
    // unshifted run's (which has drift of its own: the book ages)
    println!("unshifted: {:?}", before.iter().filter(|r| r.2 != "ok").collect::<Vec<_>>());
    let worse: Vec<&String> = after.iter().filter(|(f, _, s)| status(&before, f).1 != *s).map(|r| &r.0).collect();
    assert!(worse.iter().all(|f| usage_reading(f)) && worse.len() >= moved.len(), "flagged by the shift: {worse:?}");
}
