//! Feature set v3's text and outside signals on a generated company: what
//! customers wrote (sentiment, intents) and what happened to them
//! (`external_signals`), point in time — a message or a signal dated on or
//! after `as_of` changes nothing, one the day before does.

use std::path::Path;
use std::sync::Arc;

use arrow::array::{ArrayRef, Date32Array, Float64Array, RecordBatch, StringArray, TimestampMicrosecondArray};

use super::common::{config_for, copy_dir, day, hs, read_parquet_dir, scratch, write_parquet, EXPORT_DATE};

const AS_OF: &str = "2026-09-01";

/// The feature rows of `as_of` by account, as text (for exact comparison).
fn features(cfg: &Path, out: &Path) -> std::collections::BTreeMap<String, Vec<String>> {
    let r = hs(&["features", "-c", cfg.to_str().unwrap(), "--as-of", AS_OF]);
    assert_eq!(r.code, 0, "{}", r.all());
    let mut rows = std::collections::BTreeMap::new();
    for b in read_parquet_dir(&out.join(format!("features/as_of={AS_OF}"))) {
        let ids = b.column_by_name("account_id").unwrap().as_any().downcast_ref::<StringArray>().unwrap().clone();
        for i in 0..b.num_rows() {
            let cells: Vec<String> = b.schema().fields().iter().map(|f| format!("{}={}", f.name(), arrow::util::display::array_value_to_string(b.column_by_name(f.name()).unwrap(), i).unwrap())).collect();
            rows.insert(ids.value(i).to_string(), cells);
        }
    }
    rows
}

fn value(rows: &std::collections::BTreeMap<String, Vec<String>>, account: &str, feature: &str) -> String {
    rows[account].iter().find_map(|c| c.strip_prefix(&format!("{feature}="))).unwrap().to_string()
}

/// One ticket, one inbound email, one NPS comment and one layoff for
/// `account` on `on`, in files beside the export's own.
fn write_late(data: &Path, account: &str, on: &str, tag: &str) {
    let text = "We will cancel at renewal and move to another vendor; this is unacceptable and we are furious.";
    let at = day(on) as i64 * 86_400_000_000 + 10 * 3_600_000_000;
    let s = |v: &str| Arc::new(StringArray::from(vec![v])) as ArrayRef;
    let t = Arc::new(TimestampMicrosecondArray::from(vec![at]).with_timezone("UTC")) as ArrayRef;
    // the schemas the generator writes, read from its own files
    let like = |table: &str| read_parquet_dir(&data.join(table)).into_iter().next().unwrap().schema();
    let write = |table: &str, cols: Vec<(&str, ArrayRef)>| {
        let schema = like(table);
        let arrays: Vec<ArrayRef> = schema
            .fields()
            .iter()
            .map(|f| cols.iter().find(|(n, _)| n == f.name()).map(|(_, a)| arrow::compute::cast(a, f.data_type()).unwrap()).unwrap_or_else(|| arrow::array::new_null_array(f.data_type(), 1)))
            .collect();
        let batch = RecordBatch::try_new(schema.clone(), arrays).unwrap();
        let bytes = healthscore::output::parquet::encode(&schema, &[batch]).unwrap();
        std::fs::write(data.join(table).join(format!("late-{tag}.parquet")), bytes).unwrap();
    };
    write("tickets", vec![("ticket_id", s(&format!("late-{tag}"))), ("account_id", s(account)), ("created_at", t.clone()), ("priority", s("high")), ("status", s("open")), ("subject", s("Renewal")), ("body", s(text))]);
    write("activities", vec![("account_id", s(account)), ("occurred_at", t.clone()), ("kind", s("email")), ("direction", s("inbound")), ("body", s(text))]);
    write("nps", vec![("account_id", s(account)), ("contact_id", s("late-contact")), ("responded_at", Arc::new(Date32Array::from(vec![day(on)])) as ArrayRef), ("score", Arc::new(Float64Array::from(vec![0.0])) as ArrayRef), ("comment", s(text))]);
    write("external_signals", vec![("account_id", s(account)), ("occurred_at", Arc::new(Date32Array::from(vec![day(on)])) as ArrayRef), ("kind", s("layoffs")), ("magnitude", Arc::new(Float64Array::from(vec![0.2])) as ArrayRef)]);
}

#[test]
fn text_and_outside_signals_are_point_in_time() {
    let dir = scratch("signals-pit");
    let data = dir.join("data");
    let r = hs(&["generate", "--out", data.to_str().unwrap(), "--accounts", "150", "--months", "12", "--export-date", EXPORT_DATE]);
    assert_eq!(r.code, 0, "{}", r.all());
    let cfg = config_for(&dir, &data, &dir.join("models"), "");
    let text = std::fs::read_to_string(&cfg).unwrap().replace("version: v2", "version: v3");
    std::fs::write(&cfg, &text).unwrap();
    let before = features(&cfg, &dir.join("out"));
    let account = before.keys().next().unwrap().clone();
    for f in ["sentiment_30d", "intent_cancel_90d", "intent_competitor_90d", "layoffs_180d"] {
        assert!(before[&account].iter().any(|c| c.starts_with(&format!("{f}="))), "{f} is a v3 feature");
    }

    // written on and after as_of: nothing moves
    let late = dir.join("late");
    copy_dir(&data, &late);
    write_late(&late, &account, AS_OF, "on");
    write_late(&late, &account, "2026-09-20", "after");
    let cfg_late = config_for(&dir.join("late-cfg"), &late, &dir.join("models"), "");
    std::fs::write(&cfg_late, std::fs::read_to_string(&cfg_late).unwrap().replace("version: v2", "version: v3")).unwrap();
    let after = features(&cfg_late, &dir.join("late-cfg/out"));
    assert_eq!(before, after, "messages and signals dated on or after as_of changed a feature");

    // the day before: the account's text and signal features move, and only its
    write_late(&late, &account, "2026-08-31", "before");
    let moved = features(&cfg_late, &dir.join("late-cfg/out"));
    let num = |rows: &std::collections::BTreeMap<String, Vec<String>>, f: &str| value(rows, &account, f).parse::<f64>().unwrap_or(f64::NAN);
    assert!(num(&moved, "intent_cancel_90d") >= num(&before, "intent_cancel_90d") + 3.0, "three messages about cancelling");
    assert!(num(&moved, "intent_competitor_90d") > num(&before, "intent_competitor_90d"));
    assert_eq!(num(&moved, "layoffs_180d"), num(&before, "layoffs_180d") + 1.0);
    assert_eq!(num(&moved, "days_since_very_negative"), 1.0, "the furious message was yesterday");
    // the reason's context names the latest such message and its day, never its words
    for f in ["intent_cancel_last", "intent_competitor_last"] {
        let said = value(&moved, &account, f);
        assert!(said.ends_with(" on 2026-08-31") && !said.contains("cancel"), "{f}: {said}");
    }
    let others: Vec<&String> = before.keys().filter(|a| **a != account).collect();
    let changed: Vec<String> = others.iter().flat_map(|a| before[*a].iter().zip(&moved[*a]).filter(|(x, y)| x != y).map(move |(x, y)| format!("{a}: {x} → {y}"))).collect();
    assert!(changed.is_empty(), "another account's features moved: {changed:?}");
}

#[test]
fn a_bad_external_signals_table_is_named_and_exit_2() {
    let dir = scratch("signals-bad");
    super::common::tiny_export(&dir.join("data"));
    let s = |v: &[&str]| Arc::new(StringArray::from(v.to_vec())) as ArrayRef;
    write_parquet(&dir.join("data/external_signals/part-0.parquet"), vec![("account_id", s(&["a1"])), ("occurred_at", s(&["last tuesday"])), ("kind", s(&["layoffs"]))]);
    let cfg = config_for(&dir, &dir.join("data"), &dir.join("models"), "");
    let r = hs(&["validate", "-c", cfg.to_str().unwrap()]);
    assert_eq!(r.code, 2, "{}", r.all());
    assert!(r.stderr.contains("external_signals") && r.stderr.contains("occurred_at"), "{}", r.stderr);
}

#[test]
fn a_four_megabyte_ticket_is_scored_on_its_first_characters_and_counted() {
    let dir = scratch("signals-huge");
    let data = dir.join("data");
    let r = hs(&["generate", "--out", data.to_str().unwrap(), "--accounts", "30", "--months", "4", "--export-date", EXPORT_DATE]);
    assert_eq!(r.code, 0, "{}", r.all());
    let tickets = read_parquet_dir(&data.join("tickets"));
    let schema = tickets[0].schema();
    let account = tickets[0].column_by_name("account_id").unwrap().as_any().downcast_ref::<StringArray>().unwrap().value(0).to_string();
    let body = "Everything is broken and support is useless. ".repeat(4 * 1024 * 1024 / 46);
    let cols: Vec<ArrayRef> = schema
        .fields()
        .iter()
        .map(|f| match f.name().as_str() {
            "ticket_id" => Arc::new(StringArray::from(vec!["huge-1"])) as ArrayRef,
            "account_id" => Arc::new(StringArray::from(vec![account.as_str()])) as ArrayRef,
            "body" => Arc::new(StringArray::from(vec![body.as_str()])) as ArrayRef,
            _ => tickets[0].column_by_name(f.name()).unwrap().slice(0, 1),
        })
        .collect();
    let batch = RecordBatch::try_new(schema.clone(), cols).unwrap();
    std::fs::write(data.join("tickets/huge.parquet"), healthscore::output::parquet::encode(&schema, &[batch]).unwrap()).unwrap();
    let cfg = config_for(&dir, &data, &dir.join("models"), "");
    std::fs::write(&cfg, std::fs::read_to_string(&cfg).unwrap().replace("version: v2", "version: v3")).unwrap();
    let r = hs(&["features", "-c", cfg.to_str().unwrap(), "--as-of", EXPORT_DATE]);
    assert_eq!(r.code, 0, "{}", r.all());
    assert!(r.stderr.contains("read only the first 20000 characters"), "{}", r.stderr);
}
