//! `validate`: the data checks of the input contract, run as SQL once the
//! tables are registered (file and type checks happened in `Engine::open`).
//!
//! Each table gets one scan that counts null keys and event dates after the
//! export day, and one group-by for duplicate keys. Only when a check fails
//! are the table's files queried one by one, to name the files at fault.

use arrow::array::{Array, AsArray};
use arrow::datatypes::Int64Type;

use crate::contract::{self, Kind};
use super::{Engine, InputFile};
use crate::error::{Error, Result};

#[derive(Debug, Default)]
pub struct Report {
    pub problems: Vec<String>,
    pub warnings: Vec<String>,
    /// (table, rows, files) for every present table.
    pub tables: Vec<(&'static str, u64, usize)>,
}

struct Check {
    column: &'static str,
    predicate: String,
    what: String,
    /// Footer statistics that prove the check passes without a scan.
    proof: Proof,
}

#[derive(Clone, Copy)]
enum Proof {
    NoNulls,
    MaxAtMost(f64),
    MinAtLeast(f64),
    None,
}

/// Whether every file's footer shows `c` passes on `column` (mapped name).
fn proven(files: &[super::InputFile], column: &str, proof: Proof) -> bool {
    !files.is_empty()
        && files.iter().all(|f| {
            let Some(s) = f.stats.get(column) else { return false };
            match proof {
                Proof::NoNulls => s.nulls == 0,
                Proof::MaxAtMost(m) => s.max.is_some_and(|x| x <= m),
                Proof::MinAtLeast(m) => s.min.is_some_and(|x| x >= m),
                Proof::None => false,
            }
        })
}

fn checks(spec: &contract::Table, export: chrono::NaiveDate) -> Vec<Check> {
    let next = export.succ_opt().unwrap();
    let mut out = Vec::new();
    for c in spec.columns {
        let q = format!("\"{}\"", c.name);
        if !c.nullable {
            out.push(Check { column: c.name, predicate: format!("{q} IS NULL"), what: "null values".into(), proof: Proof::NoNulls });
        }
        if c.event_time {
            let p = match c.kind {
                Kind::Time => format!("{q} >= TIMESTAMP '{next} 00:00:00'"),
                _ => format!("{q} > DATE '{export}'"),
            };
            let last = crate::dates::day(export) as f64;
            out.push(Check { column: c.name, predicate: p, what: format!("dates after the export day {export}"), proof: Proof::MaxAtMost(last) });
        }
    }
    match spec.name {
        "outcomes" => out.push(Check {
            column: "kind",
            predicate: format!(
                "lower(kind) NOT IN ({})",
                contract::OUTCOME_KINDS.iter().map(|k| format!("'{k}'")).collect::<Vec<_>>().join(", ")
            ),
            what: format!("values other than {}", contract::OUTCOME_KINDS.join(", ")),
            proof: Proof::None,
        }),
        "nps" => out.push(Check { column: "score", predicate: "score < 0 OR score > 10".into(), what: "scores outside 0–10".into(), proof: Proof::None }),
        "subscriptions" => out.push(Check {
            column: "end_date",
            predicate: "end_date < start_date".into(),
            what: "an end before its start".into(),
            proof: Proof::None,
        }),
        "usage" => out.push(Check { column: "events", predicate: "events < 0".into(), what: "negative event counts".into(), proof: Proof::MinAtLeast(0.0) }),
        _ => {}
    }
    out
}

fn count(batches: &[arrow::array::RecordBatch], col: usize) -> i64 {
    batches
        .iter()
        .map(|b| {
            let a = b.column(col).as_primitive::<Int64Type>();
            if a.is_null(0) { 0 } else { a.value(0) }
        })
        .sum()
}

/// Runs every data check; problems fail the run, warnings are printed.
pub async fn check(engine: &Engine, cross: bool) -> Result<Report> {
    let mut report = Report { warnings: engine.warnings.clone(), ..Default::default() };
    let export = engine.export_date;
    for (name, t) in &engine.tables {
        if !t.present() {
            continue;
        }
        let spec = t.spec;
        // checks the footers already prove need no scan
        let cs: Vec<Check> = checks(spec, export).into_iter().filter(|c| !proven(&t.files, &t.source.columns[c.column], c.proof)).collect();
        let mut select = vec!["count(*)".to_string()];
        select.extend(cs.iter().map(|c| format!("count(*) FILTER (WHERE {})", c.predicate)));
        let sql = format!("SELECT {} FROM {name}", select.join(", "));
        let b = engine.query(&sql).await.map_err(|e| annotate(e, name))?;
        let rows = count(&b, 0);
        report.tables.push((spec.name, rows as u64, t.files.len()));
        if rows == 0 && spec.required {
            report.problems.push(format!(
                "`{name}`: {} no rows; the export has no {}",
                if t.files.len() == 1 { "its file holds".to_string() } else { format!("its {} files hold", t.files.len()) },
                if name == &"accounts" { "accounts to score" } else { "product usage" }
            ));
        }
        for (i, c) in cs.iter().enumerate() {
            let bad = count(&b, i + 1);
            if bad > 0 {
                let files = files_with(engine, name, &t.files, &c.predicate).await?;
                report.problems.push(format!(
                    "`{name}` {}: column `{}` has {bad} row{} with {}",
                    files,
                    mapped(t, c.column),
                    if bad == 1 { "" } else { "s" },
                    c.what
                ));
            }
        }
        if let Some(key) = spec.key {
            let sql = format!(
                "SELECT \"{key}\", count(*) AS n FROM {name} WHERE \"{key}\" IS NOT NULL GROUP BY \"{key}\" HAVING count(*) > 1 ORDER BY n DESC, \"{key}\" LIMIT 1000"
            );
            let b = engine.query(&sql).await?;
            let n: usize = b.iter().map(|b| b.num_rows()).sum();
            if n > 0 {
                let examples: Vec<String> = b
                    .iter()
                    .flat_map(|b| {
                        let a = arrow::compute::cast(b.column(0), &arrow::datatypes::DataType::Utf8).unwrap();
                        let s = a.as_string::<i32>().clone();
                        (0..s.len()).map(move |i| s.value(i).to_string()).collect::<Vec<_>>()
                    })
                    .take(3)
                    .collect();
                let files = files_with(engine, name, &t.files, &format!("\"{key}\" IN ({})", examples.iter().map(|e| format!("'{}'", e.replace('\'', "''"))).collect::<Vec<_>>().join(", "))).await?;
                report.problems.push(format!(
                    "`{name}` {files}: column `{}` must be unique; {}{n} value{} repeat, e.g. {}",
                    mapped(t, key),
                    if n >= 1000 { "at least " } else { "" },
                    if n == 1 { "" } else { "s" },
                    examples.iter().map(|e| format!("`{e}`")).collect::<Vec<_>>().join(", ")
                ));
            }
        }
    }
    if cross {
        cross_checks(engine, &mut report).await?;
    }
    Ok(report)
}

fn mapped(t: &super::InputTable, column: &str) -> String {
    let m = &t.source.columns[column];
    if m == column { column.to_string() } else { format!("{m}` (mapped to `{column}`") }
}

fn annotate(e: Error, table: &str) -> Error {
    match e {
        Error::Other { context, source } => Error::Other { context: format!("`{table}`: {context}"), source },
        other => other,
    }
}

/// "(file `a`, `b`)" — the files holding rows that match `predicate`.
async fn files_with(engine: &Engine, table: &str, files: &[InputFile], predicate: &str) -> Result<String> {
    if files.len() == 1 {
        return Ok(format!("(file `{}`)", files[0].display));
    }
    let mut hits = Vec::new();
    for f in files.iter().take(200) {
        let df = engine.typed_frame(table, std::slice::from_ref(f), "__file_check").await?;
        engine.ctx.register_table("__file_check_typed", df.into_view()).map_err(|e| Error::other("check", e))?;
        let b = engine.query(&format!("SELECT count(*) FROM __file_check_typed WHERE {predicate}")).await?;
        let _ = engine.ctx.deregister_table("__file_check_typed");
        let _ = engine.ctx.deregister_table("__file_check");
        if count(&b, 0) > 0 {
            hits.push(format!("`{}`", f.display));
            if hits.len() == 3 {
                break;
            }
        }
    }
    Ok(if hits.is_empty() { format!("({} files)", files.len()) } else { format!("(file {})", hits.join(", ")) })
}

async fn scalar(engine: &Engine, sql: &str) -> Result<i64> {
    Ok(count(&engine.query(sql).await?, 0))
}

/// Checks across tables: they warn, they don't fail.
async fn cross_checks(engine: &Engine, report: &mut Report) -> Result<()> {
    let unknown = scalar(engine, "SELECT count(DISTINCT account_id) FROM usage WHERE account_id NOT IN (SELECT account_id FROM accounts)").await?;
    if unknown > 0 {
        report.warnings.push(format!(
            "`usage`: {unknown} account ids are not in `accounts` (deleted after churning, or a broken export): they count in the snapshots \
             history places them in, with no segment, name or CRM id"
        ));
    }
    let negative = scalar(engine, "SELECT count(*) FROM accounts WHERE arr < 0").await?;
    if negative > 0 {
        report.warnings.push(format!("`accounts`: {negative} rows have a negative `arr`; scores show it as it is"));
    }
    if engine.present("subscriptions") {
        let negative = scalar(engine, "SELECT count(*) FROM subscriptions WHERE mrr < 0").await?;
        if negative > 0 {
            report.warnings.push(format!("`subscriptions`: {negative} rows have a negative `mrr`; ARR features and derived outcomes read them as they are"));
        }
    }
    if !engine.present("subscriptions") {
        report.warnings.push(
            "`subscriptions` is absent: plan, seats and ARR at past snapshots are unknown (today's `accounts` row would leak the future), \
             so those features are dropped; the population comes from `usage` and `outcomes`, renewal timing from booked renewals. \
             Export the billing history as `subscriptions`."
                .into(),
        );
        if !engine.present("outcomes") {
            report.warnings.push("neither `outcomes` nor `subscriptions` is present: nothing places accounts in time, so `train` refuses; scoring needs a trained model".into());
        }
    }
    if engine.present("subscriptions") && engine.present("outcomes") {
        // Accounts the two tables disagree on: churned per `outcomes` but with a
        // subscription running after it, or with every subscription ended and no churn recorded.
        let export = engine.export_date;
        let sql = format!(
            "WITH o AS (SELECT account_id, max(event_date) AS churned FROM outcomes WHERE lower(kind) = 'churned' GROUP BY account_id), \
             s AS (SELECT account_id, max(coalesce(end_date, DATE '{export}' + INTERVAL '10000 days')) AS last_end FROM subscriptions GROUP BY account_id) \
             SELECT count(*) FROM s LEFT JOIN o USING (account_id) \
             WHERE (o.churned IS NOT NULL AND s.last_end > o.churned + INTERVAL '{grace} days') \
                OR (o.churned IS NULL AND s.last_end < DATE '{export}')",
            grace = engine.cfg.training.churn_grace_days
        );
        let n = scalar(engine, &sql).await?;
        if n > 0 {
            report.warnings.push(format!(
                "`outcomes` and `subscriptions` disagree on {n} accounts (churn recorded while a subscription runs on, or subscriptions ended with no churn); `outcomes` decides the labels"
            ));
        }
    }
    Ok(())
}
