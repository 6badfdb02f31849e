//! `healthscore generate`: a synthetic SaaS company written as the warehouse
//! export of the input contract (every table, Parquet, zstd), plus `_truth`.
//!
//! Accounts are simulated independently from `(seed, account index)`, so the
//! output is the same for a seed however it is chunked or threaded. Accounts
//! are processed in chunks of `CHUNK` and each chunk is written as one part
//! file per table, so 100,000 accounts stream to disk in bounded memory.
//! Usage rows in a part are sorted by date, which lets a reader skip row
//! groups outside a snapshot's window.

pub mod fidelity;
pub mod sim;
pub mod text;

use std::sync::Arc;

use arrow::array::{
    ArrayRef, BooleanBuilder, Date32Builder, Float64Builder, Int64Builder, RecordBatch, StringBuilder,
    TimestampMicrosecondBuilder,
};
use arrow::datatypes::{DataType, Field, Schema, TimeUnit};
use chrono::NaiveDate;
use rayon::prelude::*;

use crate::location::Location;
use crate::store::{Blob, Stores};
use crate::error::{Error, Result};
use crate::output::parquet::encode;
pub use sim::Cause;

pub const CHUNK: usize = 1000;

#[derive(Debug, Clone)]
pub struct Options {
    pub seed: u64,
    pub accounts: usize,
    pub months: u32,
    pub export_date: NaiveDate,
    /// The planted effect of the save play (`sim::PLANTED_PLAYBOOK`): the
    /// share of an at-risk account's chance of churning at its renewal that
    /// the CS team's outreach removes, unless the account is in that
    /// playbook's control group for the renewal. 0 plants none.
    pub intervention_effect: f64,
}

impl Default for Options {
    fn default() -> Self {
        Options { seed: 7, accounts: 2000, months: 24, export_date: default_export_date(), intervention_effect: sim::PLANTED_EFFECT }
    }
}

/// Fixed so that a seed always gives the same company, whatever today is.
pub fn default_export_date() -> NaiveDate {
    NaiveDate::from_ymd_opt(2026, 11, 1).unwrap()
}

#[derive(Debug, Default, Clone)]
pub struct Summary {
    pub accounts: usize,
    pub rows: Vec<(&'static str, usize)>,
    pub files: usize,
}

/// The 1–3 features that measure each planted cause (feature sets v1 and
/// v2 name them alike). v3 reads what customers write as intents, so its
/// features stand in for v2's: an account writing about leaving writes about
/// cancelling, a competitor, downgrading, its budget or the price (one of
/// them per message, `generate::text::LEAVING`); never both sets in one model. Reason fidelity asks whether one of them is an
/// account's top risk reason; few features per cause keep that honest (a
/// cause accepting most features would pass with any reasons at all).
pub fn cause_features(cause: &str) -> &'static [&'static str] {
    match cause {
        "usage_decline" => &["active_users_trend", "logins_trend", "events_trend"],
        "low_adoption" => &["feature_breadth_30d", "feature_breadth_trend", "areas_stopped_30d"],
        "seats_unused" => &["seat_utilization", "active_users_30d"],
        "support_spike" => &["tickets_90d", "ticket_spike_ratio", "high_priority_share_90d"],
        "cancel_intent" => &["cancel_intent_90d", "intent_cancel_90d", "intent_competitor_90d", "intent_downgrade_90d", "intent_budget_cut_90d", "intent_price_90d"],
        "late_payment" => &["late_invoices_180d", "days_overdue_max", "overdue_amount_share"],
        "nps_drop" => &["nps_latest", "nps_change", "nps_detractors_180d"],
        "champion_left" => &["champion_left_90d", "has_active_champion", "intent_champion_leaving_90d"],
        "sponsor_quiet" => &["exec_sponsor_touches_90d", "days_since_csm_touch"],
        "no_qbr" => &["qbr_last_120d", "days_since_qbr"],
        _ => &[],
    }
}

/// Every cause `cause_features` knows.
pub const CAUSES: &[&str] =
    &["usage_decline", "low_adoption", "seats_unused", "support_spike", "cancel_intent", "late_payment", "nps_drop", "champion_left", "sponsor_quiet", "no_qbr"];

/// Writes the company under `out`; returns what was written.
pub async fn generate(stores: &Stores, out: &Location, opts: &Options, progress: &dyn Fn(usize)) -> Result<Summary> {
    if opts.accounts == 0 || opts.accounts > 10_000_000 {
        return Err(Error::Usage("`--accounts` must be between 1 and 10,000,000".into()));
    }
    if !(3..=120).contains(&opts.months) {
        return Err(Error::Usage("`--months` must be between 3 and 120".into()));
    }
    let root = stores.blob(out)?;
    let export = crate::dates::day(opts.export_date);
    let history_start = crate::dates::day(opts.export_date.checked_sub_months(chrono::Months::new(opts.months)).unwrap());
    let mut summary = Summary { accounts: opts.accounts, ..Default::default() };
    let mut totals: std::collections::BTreeMap<&'static str, usize> = Default::default();
    let n_chunks = opts.accounts.div_ceil(CHUNK);
    for c in 0..n_chunks {
        let lo = c * CHUNK;
        let hi = ((c + 1) * CHUNK).min(opts.accounts);
        let parts: Vec<sim::Chunk> = (lo..hi)
            .into_par_iter()
            .map(|i| {
                let mut ch = sim::Chunk::default();
                sim::simulate(i, opts.seed, history_start, export, opts.intervention_effect, &mut ch);
                ch
            })
            .collect();
        let mut chunk = sim::Chunk::default();
        for p in parts {
            merge(&mut chunk, p);
        }
        let files = write_chunk(&root, c, chunk, &mut totals).await?;
        summary.files += files;
        progress(hi);
    }
    summary.rows = totals.into_iter().collect();
    Ok(summary)
}

fn merge(into: &mut sim::Chunk, from: sim::Chunk) {
    into.accounts.extend(from.accounts);
    into.usage.extend(from.usage);
    into.tickets.extend(from.tickets);
    into.invoices.extend(from.invoices);
    into.nps.extend(from.nps);
    into.activities.extend(from.activities);
    into.contacts.extend(from.contacts);
    into.subscriptions.extend(from.subscriptions);
    into.outcomes.extend(from.outcomes);
    into.overrides.extend(from.overrides);
    into.signals.extend(from.signals);
    into.truth.extend(from.truth);
}

fn f(name: &str, dt: DataType, nullable: bool) -> Field {
    Field::new(name, dt, nullable)
}
fn utf8() -> DataType {
    DataType::Utf8
}
fn ts() -> DataType {
    DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into()))
}

async fn write_table(
    root: &Blob,
    name: &'static str,
    part: String,
    fields: Vec<Field>,
    cols: Vec<ArrayRef>,
    totals: &mut std::collections::BTreeMap<&'static str, usize>,
) -> Result<usize> {
    let rows = cols.first().map(|c| c.len()).unwrap_or(0);
    *totals.entry(name).or_default() += rows;
    if rows == 0 {
        return Ok(0);
    }
    let schema = Arc::new(Schema::new(fields));
    let batch = RecordBatch::try_new(schema.clone(), cols).map_err(|e| Error::other(format!("building `{name}`"), e))?;
    let bytes = encode(&schema, &[batch])?;
    root.child(&format!("{name}/{part}.parquet")).put(bytes).await?;
    Ok(1)
}

macro_rules! strings {
    ($rows:expr, |$r:ident| $e:expr) => {{
        let mut b = StringBuilder::new();
        for $r in $rows.iter() {
            b.append_option($e);
        }
        Arc::new(b.finish()) as ArrayRef
    }};
}
macro_rules! column {
    ($builder:ty, $rows:expr, |$r:ident| $e:expr) => {{
        let mut b = <$builder>::new();
        for $r in $rows.iter() {
            b.append_option($e);
        }
        Arc::new(b.finish()) as ArrayRef
    }};
}
macro_rules! timestamps {
    ($rows:expr, |$r:ident| $e:expr) => {{
        let mut b = TimestampMicrosecondBuilder::new().with_timezone("UTC");
        for $r in $rows.iter() {
            b.append_option($e);
        }
        Arc::new(b.finish()) as ArrayRef
    }};
}

async fn write_chunk(
    root: &Blob,
    c: usize,
    mut ch: sim::Chunk,
    totals: &mut std::collections::BTreeMap<&'static str, usize>,
) -> Result<usize> {
    let part = format!("part-{c:05}");
    let mut files = 0;
    let a = &ch.accounts;
    files += write_table(
        root,
        "accounts",
        part.clone(),
        vec![
            f("account_id", utf8(), false),
            f("name", utf8(), false),
            f("segment", utf8(), false),
            f("industry", utf8(), false),
            f("plan", utf8(), false),
            f("seats_licensed", DataType::Int64, false),
            f("arr", DataType::Float64, false),
            f("contract_start", DataType::Date32, false),
            f("renewal_date", DataType::Date32, true),
            f("owner_email", utf8(), true),
            f("crm_id", utf8(), true),
        ],
        vec![
            strings!(a, |r| Some(&r.id)),
            strings!(a, |r| Some(&r.name)),
            strings!(a, |r| Some(r.segment)),
            strings!(a, |r| Some(r.industry)),
            strings!(a, |r| Some(r.plan)),
            column!(Int64Builder, a, |r| Some(r.seats)),
            column!(Float64Builder, a, |r| Some(r.arr)),
            column!(Date32Builder, a, |r| Some(r.contract_start)),
            column!(Date32Builder, a, |r| r.renewal_date),
            strings!(a, |r| Some(&r.owner_email)),
            strings!(a, |r| r.crm_id.as_deref()),
        ],
        totals,
    )
    .await?;

    // Usage: sorted by date so row groups cover narrow date ranges; a few
    // rows arrive late, in their own file, out of order.
    ch.usage.sort_unstable_by_key(|u| (u.date, u.account, u.user, u.feature));
    let (late, on_time): (Vec<&sim::UsageRow>, Vec<&sim::UsageRow>) = ch.usage.iter().partition(|u| u.late);
    for (rows, suffix) in [(on_time, ""), (late, "-late")] {
        let user = |u: &sim::UsageRow| {
            if u.user == u16::MAX { format!("u_{:06}_api", u.account) } else { format!("u_{:06}_{:03}", u.account, u.user) }
        };
        files += write_table(
            root,
            "usage",
            format!("{part}{suffix}"),
            vec![
                f("account_id", utf8(), false),
                f("user_id", utf8(), false),
                f("date", DataType::Date32, false),
                f("feature", utf8(), false),
                f("events", DataType::Int64, false),
            ],
            vec![
                strings!(rows, |r| Some(sim::account_id(r.account as usize))),
                strings!(rows, |r| Some(user(r))),
                column!(Date32Builder, rows, |r| Some(r.date)),
                strings!(rows, |r| Some(sim::usage_feature_name(r.feature))),
                column!(Int64Builder, rows, |r| Some(r.events as i64)),
            ],
            totals,
        )
        .await?;
    }

    let t = &ch.tickets;
    files += write_table(
        root,
        "tickets",
        part.clone(),
        vec![
            f("ticket_id", utf8(), false),
            f("account_id", utf8(), false),
            f("created_at", ts(), false),
            f("resolved_at", ts(), true),
            f("priority", utf8(), false),
            f("status", utf8(), false),
            f("csat", DataType::Int64, true),
            f("subject", utf8(), true),
            f("body", utf8(), true),
        ],
        vec![
            strings!(t, |r| Some(&r.id)),
            strings!(t, |r| Some(&r.account)),
            timestamps!(t, |r| Some(r.created_at)),
            timestamps!(t, |r| r.resolved_at),
            strings!(t, |r| Some(r.priority)),
            strings!(t, |r| Some(r.status)),
            column!(Int64Builder, t, |r| r.csat),
            strings!(t, |r| r.subject),
            strings!(t, |r| Some(r.body)),
        ],
        totals,
    )
    .await?;

    let i = &ch.invoices;
    files += write_table(
        root,
        "invoices",
        part.clone(),
        vec![
            f("invoice_id", utf8(), false),
            f("account_id", utf8(), false),
            f("issued_at", DataType::Date32, false),
            f("due_date", DataType::Date32, false),
            f("paid_at", DataType::Date32, true),
            f("amount", DataType::Float64, false),
        ],
        vec![
            strings!(i, |r| Some(&r.id)),
            strings!(i, |r| Some(&r.account)),
            column!(Date32Builder, i, |r| Some(r.issued_at)),
            column!(Date32Builder, i, |r| Some(r.due_date)),
            column!(Date32Builder, i, |r| r.paid_at),
            column!(Float64Builder, i, |r| Some(r.amount)),
        ],
        totals,
    )
    .await?;

    let n = &ch.nps;
    files += write_table(
        root,
        "nps",
        part.clone(),
        vec![
            f("account_id", utf8(), false),
            f("contact_id", utf8(), true),
            f("responded_at", DataType::Date32, false),
            f("score", DataType::Int64, false),
            f("comment", utf8(), true),
        ],
        vec![
            strings!(n, |r| Some(&r.account)),
            strings!(n, |r| Some(&r.contact)),
            column!(Date32Builder, n, |r| Some(r.responded_at)),
            column!(Int64Builder, n, |r| Some(r.score)),
            strings!(n, |r| r.comment),
        ],
        totals,
    )
    .await?;

    let v = &ch.activities;
    files += write_table(
        root,
        "activities",
        part.clone(),
        vec![
            f("account_id", utf8(), false),
            f("contact_id", utf8(), true),
            f("occurred_at", ts(), false),
            f("kind", utf8(), false),
            f("direction", utf8(), true),
            f("body", utf8(), true),
        ],
        vec![
            strings!(v, |r| Some(&r.account)),
            strings!(v, |r| r.contact.as_deref()),
            timestamps!(v, |r| Some(r.occurred_at)),
            strings!(v, |r| Some(r.kind)),
            strings!(v, |r| Some(r.direction)),
            strings!(v, |r| r.body),
        ],
        totals,
    )
    .await?;

    let k = &ch.contacts;
    files += write_table(
        root,
        "contacts",
        part.clone(),
        vec![
            f("contact_id", utf8(), false),
            f("account_id", utf8(), false),
            f("title", utf8(), true),
            f("is_champion", DataType::Boolean, false),
            f("is_exec_sponsor", DataType::Boolean, false),
            f("left_at", DataType::Date32, true),
        ],
        vec![
            strings!(k, |r| Some(&r.id)),
            strings!(k, |r| Some(&r.account)),
            strings!(k, |r| r.title),
            column!(BooleanBuilder, k, |r| Some(r.is_champion)),
            column!(BooleanBuilder, k, |r| Some(r.is_exec_sponsor)),
            column!(Date32Builder, k, |r| r.left_at),
        ],
        totals,
    )
    .await?;

    let s = &ch.subscriptions;
    files += write_table(
        root,
        "subscriptions",
        part.clone(),
        vec![
            f("subscription_id", utf8(), false),
            f("account_id", utf8(), false),
            f("plan", utf8(), false),
            f("start_date", DataType::Date32, false),
            f("end_date", DataType::Date32, true),
            f("mrr", DataType::Float64, false),
            f("seats", DataType::Int64, false),
        ],
        vec![
            strings!(s, |r| Some(&r.id)),
            strings!(s, |r| Some(&r.account)),
            strings!(s, |r| Some(r.plan)),
            column!(Date32Builder, s, |r| Some(r.start)),
            column!(Date32Builder, s, |r| r.end),
            column!(Float64Builder, s, |r| Some(r.mrr)),
            column!(Int64Builder, s, |r| Some(r.seats)),
        ],
        totals,
    )
    .await?;

    let o = &ch.outcomes;
    files += write_table(
        root,
        "outcomes",
        part.clone(),
        vec![
            f("account_id", utf8(), false),
            f("event_date", DataType::Date32, false),
            f("kind", utf8(), false),
            f("arr_before", DataType::Float64, false),
            f("arr_after", DataType::Float64, false),
        ],
        vec![
            strings!(o, |r| Some(&r.account)),
            column!(Date32Builder, o, |r| Some(r.date)),
            strings!(o, |r| Some(r.kind)),
            column!(Float64Builder, o, |r| Some(r.arr_before)),
            column!(Float64Builder, o, |r| Some(r.arr_after)),
        ],
        totals,
    )
    .await?;

    let w = &ch.overrides;
    files += write_table(
        root,
        "overrides",
        part.clone(),
        vec![
            f("account_id", utf8(), false),
            f("tier", utf8(), true),
            f("score", DataType::Float64, true),
            f("reason", utf8(), false),
            f("author", utf8(), false),
            f("created_at", ts(), false),
            f("expires_at", ts(), false),
        ],
        vec![
            strings!(w, |r| Some(&r.account)),
            strings!(w, |r| r.tier),
            column!(Float64Builder, w, |r| r.score),
            strings!(w, |r| Some(r.reason)),
            strings!(w, |r| Some(&r.author)),
            timestamps!(w, |r| Some(r.created_at)),
            timestamps!(w, |r| Some(r.expires_at)),
        ],
        totals,
    )
    .await?;

    let g = &ch.signals;
    files += write_table(
        root,
        "external_signals",
        part.clone(),
        vec![
            f("account_id", utf8(), false),
            f("occurred_at", DataType::Date32, false),
            f("kind", utf8(), false),
            f("magnitude", DataType::Float64, true),
            f("source", utf8(), true),
            f("url", utf8(), true),
        ],
        vec![
            strings!(g, |r| Some(&r.account)),
            column!(Date32Builder, g, |r| Some(r.date)),
            strings!(g, |r| Some(r.kind)),
            column!(Float64Builder, g, |r| r.magnitude),
            strings!(g, |r| Some(r.source)),
            strings!(g, |_r| None::<&str>),
        ],
        totals,
    )
    .await?;

    let x = &ch.truth;
    files += write_table(
        root,
        "_truth",
        part.clone(),
        vec![
            f("account_id", utf8(), false),
            f("causes", utf8(), false),
            f("onset", DataType::Date32, true),
            f("resolved", DataType::Date32, true),
            f("outcome", utf8(), false),
            f("latent_health", DataType::Float64, false),
        ],
        vec![
            strings!(x, |r| Some(&r.account)),
            strings!(x, |r| Some(&r.causes)),
            column!(Date32Builder, x, |r| r.onset),
            column!(Date32Builder, x, |r| r.resolved),
            strings!(x, |r| Some(r.outcome)),
            column!(Float64Builder, x, |r| Some(r.latent_health)),
        ],
        totals,
    )
    .await?;
    Ok(files)
}
