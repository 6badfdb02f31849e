//! The input contract: every class of bad input exits 2 with a message that
//! names the table, the file and the column, and writes nothing.

use std::sync::Arc;

use arrow::array::{ArrayRef, Date32Array, Float64Array, Int64Array, StringArray};

use crate::common::*;

fn tiny(name: &str) -> (std::path::PathBuf, std::path::PathBuf) {
    let dir = scratch(name);
    let data = dir.join("data");
    tiny_export(&data);
    let cfg = config_for(&dir, &data, &dir.join("models"), "");
    (data, cfg)
}

fn validate(cfg: &std::path::Path) -> Run {
    hs(&["validate", "-c", cfg.to_str().unwrap()])
}

fn s(v: &[&str]) -> ArrayRef {
    Arc::new(StringArray::from(v.to_vec()))
}

#[test]
fn a_tiny_valid_export_passes() {
    let (_, cfg) = tiny("valid");
    let r = validate(&cfg);
    assert_eq!(r.code, 0, "{}", r.all());
    // optional tables are absent: a warning names each, the run continues
    assert!(r.stderr.contains("`tickets`") && r.stderr.contains("dropped"), "{}", r.stderr);
}

#[test]
fn missing_required_table_is_named() {
    let (data, cfg) = tiny("no-accounts");
    std::fs::remove_dir_all(data.join("accounts")).unwrap();
    let r = validate(&cfg);
    assert_eq!(r.code, 2, "{}", r.all());
    snapshot("missing-table", &r);
    assert!(r.stderr.contains("`accounts`: required table not found"), "{}", r.stderr);
}

#[test]
fn missing_required_column_names_table_file_and_column() {
    let (data, cfg) = tiny("no-column");
    write_parquet(
        &data.join("usage/part-0.parquet"),
        vec![
            ("account_id", s(&["a1"])),
            ("user_id", s(&["u1"])),
            ("event_date", Arc::new(Date32Array::from(vec![day("2026-10-01")])) as ArrayRef),
            ("feature", s(&["login"])),
        ],
    );
    let r = validate(&cfg);
    assert_eq!(r.code, 2, "{}", r.all());
    snapshot("missing-column", &r);
    assert!(
        r.stderr.contains("`usage` file `usage/part-0.parquet`: missing required column `date`") && r.stderr.contains("did you mean `event_date`"),
        "{}",
        r.stderr
    );
    // mapping the column in the config fixes it
    let dir = cfg.parent().unwrap();
    let cfg2 = config_for(dir, &data, &dir.join("models"), "");
    let text = std::fs::read_to_string(&cfg2).unwrap().replace(
        &format!("export_date: {EXPORT_DATE}\n"),
        &format!("export_date: {EXPORT_DATE}\n  tables:\n    usage: {{ columns: {{ date: event_date }} }}\n"),
    );
    std::fs::write(&cfg2, text).unwrap();
    let r = validate(&cfg2);
    assert_eq!(r.code, 0, "{}", r.all());
}

#[test]
fn wrong_type_names_table_file_and_column() {
    let (data, cfg) = tiny("wrong-type");
    let before = std::fs::read(data.join("accounts/part-0.parquet")).unwrap();
    let mut cols: Vec<(&str, ArrayRef)> = Vec::new();
    for b in read_parquet(&data.join("accounts/part-0.parquet")) {
        for (f, c) in b.schema().fields().iter().zip(b.columns()) {
            let name: &'static str = Box::leak(f.name().clone().into_boxed_str());
            if name == "arr" {
                cols.push((name, s(&["6600", "1800", "lots"])));
            } else {
                cols.push((name, c.clone()));
            }
        }
    }
    write_parquet(&data.join("accounts/part-0.parquet"), cols);
    assert_ne!(before, std::fs::read(data.join("accounts/part-0.parquet")).unwrap());
    let r = validate(&cfg);
    assert_eq!(r.code, 2, "{}", r.all());
    snapshot("wrong-type", &r);
    assert!(r.stderr.contains("`accounts` file `accounts/part-0.parquet`: column `arr` is Utf8, expected a number"), "{}", r.stderr);
}

#[test]
fn null_keys_are_named() {
    let (data, cfg) = tiny("null-key");
    write_parquet(
        &data.join("usage/part-1.parquet"),
        vec![
            ("account_id", Arc::new(StringArray::from(vec![None, Some("a1")])) as ArrayRef),
            ("user_id", s(&["u1", "u2"])),
            ("date", Arc::new(Date32Array::from(vec![day("2026-10-01"), day("2026-10-02")])) as ArrayRef),
            ("feature", s(&["login", "login"])),
            ("events", Arc::new(Int64Array::from(vec![1, 1])) as ArrayRef),
        ],
    );
    let r = validate(&cfg);
    assert_eq!(r.code, 2, "{}", r.all());
    snapshot("null-keys", &r);
    assert!(r.stderr.contains("`usage` (file `usage/part-1.parquet`): column `account_id` has 1 row with null values"), "{}", r.stderr);
}

#[test]
fn duplicate_keys_are_named_with_examples() {
    let (data, cfg) = tiny("dup-key");
    let b = &read_parquet(&data.join("accounts/part-0.parquet"))[0];
    let cols: Vec<(&str, ArrayRef)> = b.schema().fields().iter().map(|f| Box::leak(f.name().clone().into_boxed_str()) as &str).zip(b.columns().iter().cloned()).collect();
    write_parquet(&data.join("accounts/part-1.parquet"), cols.into_iter().map(|(n, c)| (n, c.slice(0, 1))).collect());
    let r = validate(&cfg);
    assert_eq!(r.code, 2, "{}", r.all());
    snapshot("duplicate-keys", &r);
    assert!(r.stderr.contains("`accounts` (file `accounts/part-0.parquet`, `accounts/part-1.parquet`): column `account_id` must be unique"), "{}", r.stderr);
    assert!(r.stderr.contains("`a1`"), "{}", r.stderr);
}

#[test]
fn unparseable_file_is_named() {
    let (data, cfg) = tiny("garbage");
    std::fs::create_dir_all(data.join("tickets")).unwrap();
    std::fs::write(data.join("tickets/part-0.parquet"), b"this is not parquet, it is a CSV: a,b,c\n1,2,3\n").unwrap();
    let r = validate(&cfg);
    assert_eq!(r.code, 2, "{}", r.all());
    snapshot("unparseable-file", &r);
    assert!(r.stderr.contains("`tickets` file `tickets/part-0.parquet`: not readable as Parquet"), "{}", r.stderr);
}

#[test]
fn event_dates_after_the_export_day_are_named_but_renewals_pass() {
    let (data, cfg) = tiny("future");
    write_parquet(
        &data.join("usage/part-1.parquet"),
        vec![
            ("account_id", s(&["a1"])),
            ("user_id", s(&["u1"])),
            ("date", Arc::new(Date32Array::from(vec![day("2026-12-24")])) as ArrayRef),
            ("feature", s(&["login"])),
            ("events", Arc::new(Int64Array::from(vec![1])) as ArrayRef),
        ],
    );
    let r = validate(&cfg);
    assert_eq!(r.code, 2, "{}", r.all());
    assert!(
        r.stderr.contains("`usage` (file `usage/part-1.parquet`): column `date` has 1 row with dates after the export day 2026-11-01"),
        "{}",
        r.stderr
    );
    // renewal dates are in the future by nature (the tiny export has them in 2027) and are not reported
    assert!(!r.stderr.contains("renewal_date"), "{}", r.stderr);
}

#[test]
fn a_failed_validation_writes_nothing() {
    let (data, cfg) = tiny("writes-nothing");
    std::fs::write(data.join("usage/part-0.parquet"), b"broken").unwrap();
    let out = cfg.parent().unwrap().join("out");
    std::fs::create_dir_all(out.join("account_scores/as_of=2026-10-01")).unwrap();
    std::fs::write(out.join("account_scores/as_of=2026-10-01/part-0.parquet"), b"previous").unwrap();
    let r = hs(&["run", "-c", cfg.to_str().unwrap()]);
    assert_eq!(r.code, 2, "{}", r.all());
    assert_eq!(std::fs::read(out.join("account_scores/as_of=2026-10-01/part-0.parquet")).unwrap(), b"previous");
    assert!(!out.join("_lock").exists(), "the lock is released after a failed run");
}

#[test]
fn unknown_config_key_exits_2_naming_it() {
    let (_, cfg) = tiny("bad-config");
    let text = std::fs::read_to_string(&cfg).unwrap() + "scoring:\n  teirs: { red_below: 40, yellow_below: 70 }\n";
    std::fs::write(&cfg, text).unwrap();
    let r = validate(&cfg);
    assert_eq!(r.code, 2, "{}", r.all());
    snapshot("unknown-config-key", &r);
    assert!(r.stderr.contains("unknown field `teirs`"), "{}", r.stderr);
}

#[test]
fn numbers_arrive_as_any_numeric_type() {
    // seats as Float64 and ARR as Int64 are both fine
    let (data, cfg) = tiny("numeric");
    let b = &read_parquet(&data.join("accounts/part-0.parquet"))[0];
    let mut cols: Vec<(&str, ArrayRef)> = Vec::new();
    for (f, c) in b.schema().fields().iter().zip(b.columns()) {
        let name: &'static str = Box::leak(f.name().clone().into_boxed_str());
        cols.push(match name {
            "seats_licensed" => (name, Arc::new(Float64Array::from(vec![10.0, 5.0, 100.0])) as ArrayRef),
            "arr" => (name, Arc::new(Int64Array::from(vec![6600, 1800, 108000])) as ArrayRef),
            _ => (name, c.clone()),
        });
    }
    write_parquet(&data.join("accounts/part-0.parquet"), cols);
    let r = validate(&cfg);
    assert_eq!(r.code, 0, "{}", r.all());
}

/// Rewrites the tiny export's `accounts` with `f` applied to each column.
fn rewrite_accounts(data: &std::path::Path, f: impl Fn(&str, &ArrayRef) -> ArrayRef) {
    let b = &read_parquet(&data.join("accounts/part-0.parquet"))[0];
    let cols: Vec<(&str, ArrayRef)> = b
        .schema()
        .fields()
        .iter()
        .zip(b.columns())
        .map(|(fl, c)| {
            let name: &'static str = Box::leak(fl.name().clone().into_boxed_str());
            (name, f(name, c))
        })
        .collect();
    write_parquet(&data.join("accounts/part-0.parquet"), cols);
}

#[test]
fn an_accounts_table_with_no_rows_is_named_not_a_panic() {
    let (data, cfg) = tiny("empty-accounts");
    rewrite_accounts(&data, |_, c| c.slice(0, 0));
    let r = validate(&cfg);
    assert_eq!(r.code, 2, "{}", r.all());
    snapshot("empty-accounts", &r);
    assert!(r.stderr.contains("`accounts`: its file holds no rows"), "{}", r.stderr);
    assert!(!r.stderr.contains("panicked"), "{}", r.stderr);
}

#[test]
fn dictionary_encoded_strings_are_strings() {
    // what pandas and polars `category` columns write
    let (data, cfg) = tiny("dictionary");
    rewrite_accounts(&data, |name, c| match name {
        "segment" | "plan" => {
            let v = arrow::compute::cast(c, &arrow::datatypes::DataType::Utf8).unwrap();
            arrow::compute::cast(&v, &arrow::datatypes::DataType::Dictionary(Box::new(arrow::datatypes::DataType::Int32), Box::new(arrow::datatypes::DataType::Utf8))).unwrap()
        }
        _ => c.clone(),
    });
    let r = validate(&cfg);
    assert_eq!(r.code, 0, "{}", r.all());
}

#[test]
fn negative_arr_and_usage_of_unknown_accounts_are_warned_by_name() {
    let (data, cfg) = tiny("negative-arr");
    rewrite_accounts(&data, |name, c| if name == "arr" { Arc::new(Float64Array::from(vec![-6600.0, 1800.0, 108000.0])) as ArrayRef } else { c.clone() });
    write_parquet(
        &data.join("usage/part-1.parquet"),
        vec![
            ("account_id", s(&["ghost"])),
            ("user_id", s(&["u9"])),
            ("date", Arc::new(Date32Array::from(vec![day("2026-10-05")])) as ArrayRef),
            ("feature", s(&["login"])),
            ("events", Arc::new(Int64Array::from(vec![1])) as ArrayRef),
        ],
    );
    let r = validate(&cfg);
    assert_eq!(r.code, 0, "{}", r.all());
    assert!(r.stderr.contains("`accounts`: 1 rows have a negative `arr`"), "{}", r.stderr);
    assert!(r.stderr.contains("`usage`: 1 account ids are not in `accounts`"), "{}", r.stderr);
}

#[test]
fn every_writing_command_waits_for_a_running_job_and_leaves_its_staging_alone() {
    let (_, cfg) = tiny("locked");
    let out = cfg.parent().unwrap().join("out");
    // a job of another process that is alive (pid 1) holds the lock and is staging
    let host = std::fs::read_to_string("/etc/hostname").map(|s| s.trim().to_string()).unwrap_or_else(|_| "unknown".into());
    std::fs::create_dir_all(out.join("_staging/other-run/account_scores")).unwrap();
    std::fs::write(out.join("_staging/other-run/account_scores/part-0.parquet"), b"half written").unwrap();
    let lock = format!(r#"{{"run_id":"other-run","command":"run","host":"{host}","pid":1,"started_at":"2026-12-01T00:00:00Z"}}"#);
    std::fs::write(out.join("_lock"), &lock).unwrap();
    let c = cfg.to_str().unwrap();
    for args in [vec!["features", "-c", c], vec!["train", "-c", c], vec!["score", "-c", c], vec!["backtest", "-c", c], vec!["sync", "-c", c]] {
        let r = hs(&args);
        assert_eq!(r.code, 2, "{args:?}: {}", r.all());
        assert!(r.stderr.contains("another run holds") && r.stderr.contains("other-run"), "{args:?}: {}", r.stderr);
    }
    assert!(out.join("_staging/other-run/account_scores/part-0.parquet").exists(), "the running job's staging is untouched");
    assert_eq!(std::fs::read_to_string(out.join("_lock")).unwrap(), lock, "and so is its lock");
    assert!(!out.join("runs").exists(), "a refused command records no run");
}
