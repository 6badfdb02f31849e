//! Feature SQL: point-in-time correctness (dated rows, mutable dates and
//! today's `accounts` row), the frozen v1 hash, the training frame in one plan.

use std::path::Path;
use std::sync::Arc;

use arrow::array::{Array, ArrayRef, AsArray, BooleanArray, Date32Array, Float64Array, Int64Array, RecordBatch, StringArray, TimestampMicrosecondArray};
use arrow::datatypes::{Date32Type, TimestampMicrosecondType};
use chrono::NaiveDate;
use healthscore::config::Config;
use healthscore::engine::Engine;
use healthscore::features::FeatureSet;

use crate::common::*;

/// sha256 of `sql/features/v1`. A released feature set is frozen: a change
/// belongs in a new folder (v2), because models record the hash they were
/// trained on and scoring refuses a mismatch. (Changed once before the first
/// release: `int_engagement` counts contacts without COUNT(DISTINCT), same
/// values, a tenth of the memory.)
const V1_HASH: &str = "69f589ec8171b320fa90948a49b7fd0b3656f0b651ad8b2807fd8446205f3c8a";

/// sha256 of the releases since: v2 (the default), v3 (text and outside
/// signals, 2026-12-02) and v4 (v2 over cached usage rollups, 2026-12-06).
const RELEASED: &[(&str, &str)] = &[
    ("v2", "913ac347e34a28bf395786c3a9d10a3df25bf349582a52481cdfc9e44b0eedfa"),
    ("v3", "251ecdaaf6f7a9c32a79c5781b3d3030a1a199fc0c66ead6445a7295207db728"),
    ("v4", "18740d1b7a0b856189b4059eb2e6e0973bfabe043475ddbffc3db6d44dff146e"),
];

#[test]
fn released_feature_sets_are_frozen() {
    for (version, hash) in RELEASED {
        let fs = FeatureSet::load(&repo().join("sql"), version).unwrap();
        assert_eq!(fs.hash, *hash, "sql/features/{version} changed: put the change in a new folder and leave {version} as released");
    }
}

#[test]
fn feature_set_v1_is_frozen() {
    let fs = FeatureSet::load(&repo().join("sql"), "v1").unwrap();
    assert_eq!(fs.hash, V1_HASH, "sql/features/v1 changed: put the change in sql/features/v2 and leave v1 as released");
    assert!(fs.spec.features.len() >= 30, "{} features", fs.spec.features.len());
    // run order follows references: every view comes after the views it reads
    let names: Vec<&str> = fs.sql.views.iter().map(|v| v.name.as_str()).collect();
    let mut between_views = 0;
    for (i, v) in fs.sql.views.iter().enumerate() {
        // a reference to an export table or a provided relation has no order
        for r in &v.refs {
            if let Some(j) = names.iter().position(|n| n == r) {
                assert!(j < i, "{} runs before {r}", v.name);
                between_views += 1;
            }
        }
    }
    assert!(between_views > 5, "views read views: {between_views}");
    assert_eq!(names.last(), Some(&"account_features"));
}

async fn features_at(cfg: &Config, dates: &[NaiveDate]) -> String {
    let engine = Engine::open(cfg).await.unwrap();
    let fs = FeatureSet::load(&cfg.sql_dir, &cfg.feature_version).unwrap();
    let b = fs.build(&engine, dates).await.unwrap();
    arrow::util::pretty::pretty_format_batches(&b).unwrap().to_string()
}

fn rewrite(dir: &Path, f: impl Fn(&RecordBatch) -> RecordBatch) {
    for e in std::fs::read_dir(dir).unwrap().flatten() {
        let p = e.path();
        let batches: Vec<RecordBatch> = read_parquet(&p).iter().map(&f).collect();
        let schema = batches[0].schema();
        std::fs::write(&p, healthscore::output::parquet::encode(&schema, &batches).unwrap()).unwrap();
    }
}

fn replace(b: &RecordBatch, name: &str, col: ArrayRef) -> RecordBatch {
    let idx = b.schema().index_of(name).unwrap();
    let mut cols = b.columns().to_vec();
    let mut fields: Vec<arrow::datatypes::Field> = b.schema().fields().iter().map(|f| f.as_ref().clone()).collect();
    fields[idx] = fields[idx].clone().with_data_type(col.data_type().clone());
    cols[idx] = col;
    RecordBatch::try_new(Arc::new(arrow::datatypes::Schema::new(fields)), cols).unwrap()
}

const US: i64 = 86_400_000_000;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn appending_future_rows_and_moving_mutable_dates_past_as_of_changes_no_feature() {
    let c = company();
    let dir = scratch("pit");
    let data = dir.join("data");
    copy_dir(&c.data, &data);
    let cfg = Config::load(&config_for(&dir, &data, &c.models, "")).unwrap();
    let as_of = NaiveDate::from_ymd_opt(2026, 3, 1).unwrap();
    let later = NaiveDate::from_ymd_opt(2026, 6, 1).unwrap();
    let a = day("2026-03-01");
    let before = features_at(&cfg, &[as_of]).await;
    let later_before = features_at(&cfg, &[later]).await;

    // 1. rows dated on or after as_of, in every table the features read
    let ids: Vec<String> = (0..300).map(|i| format!("acc_{i:06}")).collect();
    let n = ids.len();
    let sv = |v: Vec<String>| Arc::new(StringArray::from(v)) as ArrayRef;
    let days = |k: i32| Arc::new(Date32Array::from((0..n as i32).map(|i| a + (i % k)).collect::<Vec<_>>())) as ArrayRef;
    let ts = |k: i32| Arc::new(TimestampMicrosecondArray::from((0..n as i64).map(|i| (a as i64 + i % k as i64) * US).collect::<Vec<_>>()).with_timezone("UTC")) as ArrayRef;
    write_parquet(
        &data.join("usage/part-future.parquet"),
        vec![
            ("account_id", sv(ids.clone())),
            ("user_id", sv(ids.iter().map(|i| format!("{i}_new")).collect())),
            ("date", days(20)),
            ("feature", sv(vec!["reports".into(); n])),
            ("events", Arc::new(Int64Array::from(vec![500; n])) as ArrayRef),
        ],
    );
    write_parquet(
        &data.join("tickets/part-future.parquet"),
        vec![
            ("ticket_id", sv(ids.iter().map(|i| format!("t_{i}_future")).collect())),
            ("account_id", sv(ids.clone())),
            ("created_at", ts(30)),
            ("resolved_at", Arc::new(TimestampMicrosecondArray::from(vec![None; n]).with_timezone("UTC")) as ArrayRef),
            ("priority", sv(vec!["urgent".into(); n])),
            ("status", sv(vec!["open".into(); n])),
            ("csat", Arc::new(Int64Array::from(vec![None; n])) as ArrayRef),
            ("subject", sv(vec!["Cancel".into(); n])),
            ("body", sv(vec!["We will cancel and export our data".into(); n])),
        ],
    );
    write_parquet(
        &data.join("invoices/part-future.parquet"),
        vec![
            ("invoice_id", sv(ids.iter().map(|i| format!("i_{i}_future")).collect())),
            ("account_id", sv(ids.clone())),
            ("issued_at", days(10)),
            ("due_date", days(10)),
            ("paid_at", Arc::new(Date32Array::from(vec![None; n])) as ArrayRef),
            ("amount", Arc::new(Float64Array::from(vec![1e6; n])) as ArrayRef),
        ],
    );
    write_parquet(
        &data.join("nps/part-future.parquet"),
        vec![
            ("account_id", sv(ids.clone())),
            ("contact_id", sv(ids.iter().map(|i| format!("c_{i}")).collect())),
            ("responded_at", days(5)),
            ("score", Arc::new(Int64Array::from(vec![0; n])) as ArrayRef),
            ("comment", sv(vec!["awful".into(); n])),
        ],
    );
    write_parquet(
        &data.join("activities/part-future.parquet"),
        vec![
            ("account_id", sv(ids.clone())),
            ("contact_id", sv(ids.iter().map(|i| format!("c_{i}")).collect())),
            ("occurred_at", ts(3)),
            ("kind", sv(vec!["qbr".into(); n])),
            ("direction", sv(vec!["outbound".into(); n])),
        ],
    );
    write_parquet(
        &data.join("subscriptions/part-future.parquet"),
        vec![
            ("subscription_id", sv(ids.iter().map(|i| format!("s_{i}_future")).collect())),
            ("account_id", sv(ids.clone())),
            ("plan", sv(vec!["enterprise".into(); n])),
            ("start_date", days(1)),
            ("end_date", Arc::new(Date32Array::from(vec![None; n])) as ArrayRef),
            ("mrr", Arc::new(Float64Array::from(vec![99999.0; n])) as ArrayRef),
            ("seats", Arc::new(Int64Array::from(vec![999; n])) as ArrayRef),
        ],
    );

    // 2. mutable dates on or after as_of move further into the future (or to as_of itself)
    let push = |v: Option<i64>, cut: i64, to: i64| v.map(|x| if x >= cut { to.max(x) + 7 * US } else { x });
    rewrite(&data.join("tickets"), |b| {
        let r = b.column_by_name("resolved_at").unwrap().as_primitive::<TimestampMicrosecondType>();
        let moved: TimestampMicrosecondArray = r.iter().map(|v| push(v, a as i64 * US, a as i64 * US)).collect();
        replace(b, "resolved_at", Arc::new(moved.with_timezone("UTC")))
    });
    rewrite(&data.join("invoices"), |b| {
        let p = b.column_by_name("paid_at").unwrap().as_primitive::<Date32Type>();
        let moved: Date32Array = p.iter().map(|v| v.and_then(|x| if x >= a { None } else { Some(x) })).collect();
        replace(b, "paid_at", Arc::new(moved))
    });
    rewrite(&data.join("contacts"), |b| {
        let l = b.column_by_name("left_at").unwrap().as_primitive::<Date32Type>();
        // everyone still there at as_of "leaves" on as_of: unknown then
        let moved: Date32Array = l.iter().map(|v| Some(match v { Some(x) if x < a => x, _ => a })).collect();
        let champ = b.column_by_name("is_champion").unwrap().as_boolean().clone();
        replace(&replace(b, "left_at", Arc::new(moved)), "is_champion", Arc::new(BooleanArray::from(champ.iter().collect::<Vec<_>>())))
    });
    rewrite(&data.join("subscriptions"), |b| {
        let e = b.column_by_name("end_date").unwrap().as_primitive::<Date32Type>();
        let moved: Date32Array = e.iter().map(|v| v.map(|x| if x >= a { x.max(a) + 3 } else { x })).collect();
        replace(b, "end_date", Arc::new(moved))
    });

    let after = features_at(&cfg, &[as_of]).await;
    assert!(before.lines().count() > 1000, "the snapshot should hold the company's accounts");
    assert_eq!(before, after, "a feature at {as_of} read data dated on or after it");
    // the same changes do move features at a later date, so this test can fail
    let later_after = features_at(&cfg, &[later]).await;
    assert_ne!(later_before, later_after);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_training_frame_is_one_plan_over_many_dates_and_matches_single_dates() {
    let c = company();
    let cfg = Config::load(&c.config).unwrap();
    let engine = Engine::open(&cfg).await.unwrap();
    let fs = FeatureSet::load(&cfg.sql_dir, &cfg.feature_version).unwrap();
    let dates = healthscore::features::monthly(NaiveDate::from_ymd_opt(2026, 1, 1).unwrap(), NaiveDate::from_ymd_opt(2026, 4, 1).unwrap());
    let many = fs.build(&engine, &dates).await.unwrap();
    let one = fs.build(&engine, &dates[2..3]).await.unwrap();
    let many_rows: Vec<RecordBatch> = many.iter().map(|b| {
        let d = b.column_by_name("as_of").unwrap().as_primitive::<Date32Type>();
        let keep: arrow::array::BooleanArray = d.iter().map(|v| Some(v == Some(day("2026-03-01")))).collect();
        arrow::compute::filter_record_batch(b, &keep).unwrap()
    }).collect();
    let a = arrow::util::pretty::pretty_format_batches(&many_rows).unwrap().to_string();
    let b = arrow::util::pretty::pretty_format_batches(&one).unwrap().to_string();
    assert_eq!(a, b, "a date's features must not depend on which other dates are built with it");
    let total: usize = many.iter().map(|b| b.num_rows()).sum();
    assert!(total > 4 * 1000, "{total}");
    let cols = many[0].num_columns();
    assert!(cols >= 32, "{cols} columns");
    let _ = many[0].column(0).len();
}

/// Every account that churned, from the export's `outcomes`.
fn churned_accounts(data: &Path) -> std::collections::BTreeSet<String> {
    let mut out = std::collections::BTreeSet::new();
    for b in read_parquet_dir(&data.join("outcomes")) {
        let ids = healthscore::columns::strings(&b, "account_id").unwrap();
        let kinds = healthscore::columns::strings(&b, "kind").unwrap();
        out.extend(ids.into_iter().zip(kinds).filter(|(_, k)| k.as_deref() == Some("churned")).filter_map(|(i, _)| i));
    }
    out
}

/// The training frame and labels over every usable snapshot date, as text.
async fn frame_and_labels(cfg: &Config) -> (Vec<String>, Vec<String>) {
    let engine = Engine::open(cfg).await.unwrap();
    let dates = healthscore::model::train::snapshot_dates(&engine, cfg).await.unwrap();
    let data = healthscore::model::train::load(&engine, cfg, &dates).await.unwrap();
    let f = &data.frame;
    let rows = (0..f.rows())
        .map(|i| format!("{} {} {:?}", f.account_id[i], f.as_of[i], f.row(i).iter().map(|v| if v.is_nan() { "null".into() } else { format!("{v}") }).collect::<Vec<_>>()))
        .collect();
    let labels = data.labels.iter().map(|l| format!("{l:?}")).collect();
    (rows, labels)
}

fn rewrite_accounts(data: &Path, f: impl Fn(&RecordBatch) -> RecordBatch) {
    let dir = data.join("accounts");
    if dir.is_dir() {
        rewrite(&dir, f);
    } else {
        let p = data.join("accounts.parquet");
        let batches: Vec<RecordBatch> = read_parquet(&p).iter().map(&f).collect();
        std::fs::write(&p, healthscore::output::parquet::encode(&batches[0].schema(), &batches).unwrap()).unwrap();
    }
}

/// The leak test: today's `accounts` row of a churned account (its renewal
/// date set to the termination day, ARR zeroed, plan and seats changed, as
/// CRMs do) must change no training feature and no label, at any snapshot.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rewriting_churned_accounts_rows_changes_no_training_feature_or_label() {
    let c = company();
    let churned = churned_accounts(&c.data);
    assert!(churned.len() > 50, "{} churned accounts", churned.len());
    let dir = scratch("leak");
    let data = dir.join("data");
    copy_dir(&c.data, &data);
    let cfg = Config::load(&config_for(&dir, &data, &c.models, "")).unwrap();
    let (rows_before, labels_before) = frame_and_labels(&cfg).await;

    rewrite_accounts(&data, |b| {
        let ids = healthscore::columns::strings(b, "account_id").unwrap();
        let hit: Vec<bool> = ids.iter().map(|i| i.as_ref().is_some_and(|i| churned.contains(i))).collect();
        let n = b.num_rows();
        let renewal = b.column_by_name("renewal_date").unwrap().as_primitive::<Date32Type>();
        let renewal: Date32Array = (0..n).map(|i| if hit[i] { Some(day("2025-01-15") + i as i32 % 300) } else { renewal.value(i).into() }).collect();
        let arr = b.column_by_name("arr").unwrap();
        let arr = arrow::compute::cast(arr, &arrow::datatypes::DataType::Float64).unwrap();
        let arr: Float64Array = arr.as_primitive::<arrow::datatypes::Float64Type>().iter().zip(&hit).map(|(v, h)| if *h { Some(0.0) } else { v }).collect();
        let plan = healthscore::columns::strings(b, "plan").unwrap();
        let plan: StringArray = plan.iter().zip(&hit).map(|(p, h)| if *h { Some("churned".to_string()) } else { p.clone() }).collect();
        let seats = arrow::compute::cast(b.column_by_name("seats_licensed").unwrap(), &arrow::datatypes::DataType::Int64).unwrap();
        let seats: Int64Array = seats.as_primitive::<arrow::datatypes::Int64Type>().iter().zip(&hit).map(|(v, h)| if *h { Some(0) } else { v }).collect();
        let b = replace(b, "renewal_date", Arc::new(renewal));
        let b = replace(&b, "arr", Arc::new(arr));
        let b = replace(&b, "plan", Arc::new(plan));
        replace(&b, "seats_licensed", Arc::new(seats))
    });
    let (rows_after, labels_after) = frame_and_labels(&cfg).await;
    assert_eq!(rows_before.len(), rows_after.len(), "the population changed");
    assert_eq!(labels_before, labels_after, "a label read today's `accounts` row");
    let changed: Vec<_> = rows_before.iter().zip(&rows_after).filter(|(a, b)| a != b).take(3).collect();
    assert!(changed.is_empty(), "training features read today's `accounts` row: {changed:?}");

    // deleting the churned accounts' rows keeps them in the past snapshots
    rewrite_accounts(&data, |b| {
        let ids = healthscore::columns::strings(b, "account_id").unwrap();
        let keep: BooleanArray = ids.iter().map(|i| Some(!i.as_ref().is_some_and(|i| churned.contains(i)))).collect();
        arrow::compute::filter_record_batch(b, &keep).unwrap()
    });
    let (rows_deleted, labels_deleted) = frame_and_labels(&cfg).await;
    assert_eq!(labels_before, labels_deleted, "deleted accounts must keep their snapshots and labels");
    assert_eq!(rows_before.len(), rows_deleted.len());
}

/// Segment at a past snapshot: the newest `account_history` row before it,
/// never a later one.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn account_history_gives_the_segment_as_it_was() {
    let c = company();
    let dir = scratch("history");
    let data = dir.join("data");
    copy_dir(&c.data, &data);
    let ids: Vec<String> = (0..200).map(|i| format!("acc_{i:06}")).collect();
    let n = ids.len();
    write_parquet(
        &data.join("account_history.parquet"),
        vec![
            ("account_id", Arc::new(StringArray::from(ids.clone())) as ArrayRef),
            ("valid_from", Arc::new(Date32Array::from(vec![day("2026-05-15"); n])) as ArrayRef),
            ("segment", Arc::new(StringArray::from(vec!["Strategic"; n])) as ArrayRef),
        ],
    );
    let cfg = Config::load(&config_for(&dir, &data, &c.models, "")).unwrap();
    let engine = Engine::open(&cfg).await.unwrap();
    let fs = FeatureSet::load(&cfg.sql_dir, &cfg.feature_version).unwrap();
    let segments = |b: &[RecordBatch]| -> std::collections::BTreeMap<String, String> {
        b.iter()
            .flat_map(|b| {
                let ids = healthscore::columns::strings(b, "account_id").unwrap();
                let seg = healthscore::columns::strings(b, "segment").unwrap();
                ids.into_iter().zip(seg).map(|(i, s)| (i.unwrap(), s.unwrap_or_default())).collect::<Vec<_>>()
            })
            .collect()
    };
    let before = segments(&fs.build(&engine, &[NaiveDate::from_ymd_opt(2026, 5, 1).unwrap()]).await.unwrap());
    let after = segments(&fs.build(&engine, &[NaiveDate::from_ymd_opt(2026, 6, 1).unwrap()]).await.unwrap());
    let changed: Vec<&String> = ids.iter().filter(|i| after.get(*i).is_some_and(|s| s == "strategic")).collect();
    assert!(changed.len() > 100, "{} accounts show the new segment after it began", changed.len());
    assert!(ids.iter().all(|i| before.get(i).is_none_or(|s| s != "strategic")), "a segment was read before it began");
    assert!(after.iter().filter(|(i, _)| !ids.contains(i)).all(|(_, s)| s != "strategic"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_product_areas_that_stopped_are_named_as_the_export_names_them() {
    let dir = scratch("areas");
    let data = dir.join("data");
    tiny_export(&data);
    // a1 used reports and exports 31–60 days before, only exports since; a2 kept dashboards
    let as_of = "2026-11-01";
    let rows: &[(&str, &str, &str)] = &[
        ("a1", "2026-08-01", "login"),
        ("a1", "2026-09-10", "reports"),
        ("a1", "2026-09-12", "exports"),
        ("a1", "2026-10-20", "exports"),
        ("a2", "2026-08-01", "login"),
        ("a2", "2026-09-15", "dashboards"),
        ("a2", "2026-10-25", "dashboards"),
        ("a3", "2026-10-28", "reports"),
    ];
    let s = |k: usize| Arc::new(StringArray::from(rows.iter().map(|r| [r.0, r.1, r.2][k]).collect::<Vec<_>>())) as ArrayRef;
    write_parquet(
        &data.join("usage/part-0.parquet"),
        vec![
            ("account_id", s(0)),
            ("user_id", Arc::new(StringArray::from(vec!["u1"; rows.len()])) as ArrayRef),
            ("date", Arc::new(Date32Array::from(rows.iter().map(|r| day(r.1)).collect::<Vec<_>>())) as ArrayRef),
            ("feature", s(2)),
            ("events", Arc::new(Int64Array::from(vec![3; rows.len()])) as ArrayRef),
        ],
    );
    let cfg = Config::load(&config_for(&dir, &data, &dir.join("models"), "")).unwrap();
    let engine = Engine::open(&cfg).await.unwrap();
    let fs = FeatureSet::load(&cfg.sql_dir, &cfg.feature_version).unwrap();
    let b = fs.build(&engine, &[NaiveDate::parse_from_str(as_of, "%Y-%m-%d").unwrap()]).await.unwrap();
    let mut got = std::collections::BTreeMap::new();
    for b in &b {
        let (ids, names, n) = (healthscore::columns::strings(b, "account_id").unwrap(), healthscore::columns::strings(b, "areas_stopped").unwrap(), healthscore::columns::floats(b, "areas_stopped_30d").unwrap());
        for i in 0..b.num_rows() {
            got.insert(ids[i].clone().unwrap(), (names[i].clone(), n[i]));
        }
    }
    assert_eq!(got["a1"], (Some("reports".to_string()), 1.0));
    assert_eq!(got["a2"], (None, 0.0));
    // younger than 60 days: no prior month to compare with
    assert!(got.get("a3").is_none_or(|(a, n)| a.is_none() && n.is_nan()), "{:?}", got.get("a3"));
    // and the model never trains on the names
    assert!(!fs.model_inputs(&engine.present_tables()).iter().any(|f| f.name == "areas_stopped"));
}

/// The rollup files under an output's cache for one view, with their modification times.
fn rollups(out: &Path, view: &str) -> std::collections::BTreeMap<String, std::time::SystemTime> {
    let dir = out.join("_cache/features/v4").join(view);
    std::fs::read_dir(&dir)
        .map(|d| d.flatten().map(|e| (e.file_name().to_string_lossy().to_string(), e.metadata().unwrap().modified().unwrap())).collect())
        .unwrap_or_default()
}

/// The frame of `cfg`'s export under feature set `version`, as text (every value, every row).
async fn frame_as(cfg: &Config, version: &str, dates: &[NaiveDate]) -> String {
    let mut cfg = cfg.clone();
    cfg.feature_version = version.to_string();
    features_at(&cfg, dates).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_cached_usage_rollups_give_v2s_frame_on_both_companies_and_a_new_file_builds_only_its_own() {
    let dates = healthscore::features::monthly(NaiveDate::from_ymd_opt(2025, 12, 1).unwrap(), NaiveDate::from_ymd_opt(2026, 5, 1).unwrap());
    // the generator's company, on a copy, so a file can be added
    let dir = scratch("rollup-cache");
    copy_dir(&company().data, &dir.join("data"));
    let cfg = Config::load(&config_for(&dir, &dir.join("data"), &company().models, "")).unwrap();
    let usage_files = std::fs::read_dir(dir.join("data/usage")).unwrap().count();
    assert!(usage_files >= 3, "{usage_files} usage files");
    let raw = frame_as(&cfg, "v2", &dates).await;
    assert!(raw.lines().count() > 6 * 1000, "{} lines", raw.lines().count());
    assert_eq!(frame_as(&cfg, "v4", &dates).await, raw, "the frame from the rollups differs from the frame from the raw rows");
    let out = dir.join("out");
    let first = rollups(&out, "stg_usage_days");
    assert_eq!(first.len(), usage_files, "one rollup per usage file: {first:?}");
    assert_eq!(rollups(&out, "stg_usage_feature_days").len(), usage_files);

    // a second run reads every rollup from the cache and rewrites none
    assert_eq!(frame_as(&cfg, "v4", &dates).await, raw);
    assert_eq!(rollups(&out, "stg_usage_days"), first, "a second run rebuilt a rollup");

    // a new export file (late rows for February) builds its own rollup only,
    // and the frame counts its rows as the raw tables do
    let schema = read_parquet(&dir.join("data/usage").join(std::fs::read_dir(dir.join("data/usage")).unwrap().flatten().next().unwrap().file_name()))[0].schema();
    let n = 40;
    let accounts: Vec<String> = (0..n).map(|i| format!("acc_{:06}", i * 7)).collect();
    let cols: Vec<ArrayRef> = schema
        .fields()
        .iter()
        .map(|f| -> ArrayRef {
            match f.name().as_str() {
                "account_id" => Arc::new(StringArray::from(accounts.clone())),
                "user_id" => Arc::new(StringArray::from(accounts.iter().map(|a| format!("{a}_late")).collect::<Vec<_>>())),
                "date" => Arc::new(Date32Array::from(vec![day("2026-02-20"); n])),
                "feature" => Arc::new(StringArray::from(vec!["reports"; n])),
                "events" => Arc::new(Int64Array::from(vec![5i64; n])),
                other => panic!("usage column {other}"),
            }
        })
        .collect();
    let cols: Vec<ArrayRef> = cols.into_iter().zip(schema.fields()).map(|(c, f)| arrow::compute::cast(&c, f.data_type()).unwrap()).collect();
    let batch = RecordBatch::try_new(schema.clone(), cols).unwrap();
    std::fs::write(dir.join("data/usage/zz-added.parquet"), healthscore::output::parquet::encode(&schema, [&batch]).unwrap()).unwrap();
    let raw_added = frame_as(&cfg, "v2", &dates).await;
    assert_ne!(raw_added, raw, "the added rows change the frame");
    assert_eq!(frame_as(&cfg, "v4", &dates).await, raw_added);
    let after = rollups(&out, "stg_usage_days");
    assert_eq!(after.len(), usage_files + 1);
    let kept: Vec<_> = first.iter().filter(|(k, t)| after.get(*k) == Some(t)).collect();
    assert_eq!(kept.len(), usage_files, "the files seen before were rebuilt: {first:?} → {after:?}");

    // removing the file drops its rollup
    std::fs::remove_file(dir.join("data/usage/zz-added.parquet")).unwrap();
    assert_eq!(frame_as(&cfg, "v4", &dates).await, raw);
    assert_eq!(rollups(&out, "stg_usage_days").keys().collect::<Vec<_>>(), first.keys().collect::<Vec<_>>());

    // the company shaped otherwise: no user ids, its own feature names through a vocabulary file
    let odir = scratch("rollup-cache-other");
    let o = crate::other_company::build(&odir, 300, 5);
    let ocfg = Config::load(&o.config).unwrap();
    let odates = healthscore::features::monthly(NaiveDate::from_ymd_opt(2025, 9, 1).unwrap(), NaiveDate::from_ymd_opt(2026, 6, 1).unwrap());
    let oraw = frame_as(&ocfg, "v2", &odates).await;
    assert!(oraw.lines().count() > 10 * 100, "{} lines", oraw.lines().count());
    assert_eq!(frame_as(&ocfg, "v4", &odates).await, oraw, "the other company's frame from the rollups differs");
    assert_eq!(rollups(&odir.join("out"), "stg_usage_days").len(), 1);
}

/// The frame of `cfg`'s export under `version` built `per_pass` dates at a
/// time, as text, with the snapshot dates the labels then see.
async fn frame_in_passes(cfg: &Config, version: &str, dates: &[NaiveDate], per_pass: usize) -> (String, usize) {
    let mut cfg = cfg.clone();
    cfg.feature_version = version.to_string();
    cfg.snapshots_per_pass = per_pass;
    let engine = Engine::open(&cfg).await.unwrap();
    let fs = FeatureSet::load(&cfg.sql_dir, &cfg.feature_version).unwrap();
    let b = fs.build(&engine, dates).await.unwrap();
    healthscore::features::SqlFolder::load(&cfg.sql_dir, "labels", healthscore::model::train::LABELS_VERSION).unwrap().register(&engine, &[]).await.unwrap();
    let l = engine.query("SELECT count(DISTINCT as_of) AS n FROM labels").await.unwrap();
    let n = l[0].column(0).as_primitive::<arrow::datatypes::Int64Type>().value(0) as usize;
    (arrow::util::pretty::pretty_format_batches(&b).unwrap().to_string(), n)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_frame_built_a_few_dates_per_pass_equals_the_frame_in_one_pass_on_both_companies() {
    let c = company();
    let cfg = Config::load(&c.config).unwrap();
    let odir = scratch("passes-other");
    let o = crate::other_company::build(&odir, 300, 5);
    let ocfg = Config::load(&o.config).unwrap();
    // five dates in passes of two (2 + 2 + 1), given out of order
    let mut dates = healthscore::features::monthly(NaiveDate::from_ymd_opt(2025, 12, 1).unwrap(), NaiveDate::from_ymd_opt(2026, 4, 1).unwrap());
    dates.reverse();
    for (company, cfg) in [("the generator's", &cfg), ("the other", &ocfg)] {
        for version in ["v1", "v2", "v3", "v4"] {
            let (one, n1) = frame_in_passes(cfg, version, &dates, 12).await;
            let (passes, n) = frame_in_passes(cfg, version, &dates, 2).await;
            assert!(one.lines().count() > 5 * 100, "{company} company, {version}: {} lines", one.lines().count());
            assert_eq!(passes, one, "{company} company, {version}: the frame in passes of two differs from the frame in one pass");
            assert_eq!((n1, n), (5, 5), "{company} company, {version}: the labels after the build see every date");
        }
    }
}
