//! Reverse ETL: scores to CRM fields, diffed, batched, rate-limited, retried
//! and resumable.
//!
//! As in vector's sinks, a destination holds only what differs per CRM
//! (`Destination`: request building, reading the response per record, the
//! read-only healthcheck, field setup, a bulk path); this module is the one driver that
//! diffs against the acknowledged state, batches, runs batches concurrently
//! under the rate limit, retries with backoff and full jitter, bisects a
//! batch rejected as a whole, stops cleanly on a daily limit, and records
//! acks, rejections (`sync_rejections`) and counts (`sync_log`).
//!
//! ```text
//!  account_scores (newest partition) ─ records ─▶ plan: diff against the acknowledged state
//!    │                                             (new, changed; quarantined and unchanged stay)
//!    ├─ healthcheck (read-only, fails fast on a bad token or URL)
//!    ├─ batches ─▶ exchange_with: rate limit → request → classify ─┬─ Transient: backoff, again
//!    │             (or the destination's bulk path, same calls)     ├─ Reauth: one fresh token
//!    │                                                              └─ per record: Acked / Rejected /
//!    │                                                                 Retry / Unconfirmed; Invalid: bisect
//!    ├─ acks ─▶ _sync/<name>/acks/ (each batch's, at once) ─ fold ─▶ state.json at the end
//!    └─ sync_log (one row per destination), sync_rejections (one per record): published atomically
//! ```
//!
//! A record counts as synced only once the CRM acknowledged it. Values are
//! compared and sent in their canonical text (numbers as the table rounds
//! them), so float noise never resends a record.

pub mod hubspot;
pub mod http;
pub mod salesforce;
pub mod state;
pub mod webhook;

use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use arrow::array::{Array, AsArray, RecordBatch};
use arrow::datatypes::DataType;
use futures::future::BoxFuture;
use futures::StreamExt;
use serde::Serialize;

use crate::config::Config;
use crate::config::destination::{AuthConfig, Crm};
use crate::error::{Error, Result};
use crate::output::tables::{account_scores, alerts, sync_log, sync_rejections};
use crate::output::Output;
use http::{Auth, RateLimit};
use state::Values;

/// A value as it leaves the results table.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    Null,
    Num(f64),
    Text(String),
    Bool(bool),
    /// Days since 1970-01-01.
    Date(i32),
}

impl Value {
    /// The canonical text: what is diffed, and what HubSpot receives.
    pub fn text(&self) -> String {
        match self {
            Value::Null => String::new(),
            Value::Num(v) => {
                if v.fract() == 0.0 && v.abs() < 1e15 { format!("{}", *v as i64) } else { format!("{v}") }
            }
            Value::Text(s) => s.clone(),
            Value::Bool(b) => b.to_string(),
            Value::Date(d) => crate::dates::date(*d).to_string(),
        }
    }
}

/// One CRM record to write.
#[derive(Debug, Clone)]
pub struct Record {
    pub account_id: String,
    /// The record id, or the unique/external id value.
    pub key: String,
    /// CRM property → value.
    pub values: BTreeMap<String, Value>,
    /// The CRM record this one is attached to once written (an alert's
    /// account: a HubSpot task's company).
    pub link: Option<String>,
}

impl Record {
    pub fn texts(&self) -> Values {
        self.values.iter().map(|(k, v)| (k.clone(), v.text())).collect()
    }
}

/// How the CRM answered one record.
#[derive(Debug, Clone)]
pub enum RecordResult {
    Acked,
    /// Written, but to another record: the CRM merged this one into it.
    AckedAs(String),
    Rejected { code: String, message: String, field: Option<String> },
    /// The CRM's answer neither confirms the record as written nor names an
    /// error for it: never acknowledged; counted as not delivered, so the
    /// next run sends it again.
    Unconfirmed(String),
    /// A per-record failure that passes (a row lock): sent again in this run,
    /// with backoff, up to `max_retries`; then not delivered, not rejected.
    Retry { code: String, message: String },
}

/// How the CRM answered a request.
#[derive(Debug)]
pub enum Outcome {
    /// One result per record of the batch, in order.
    PerRecord(Vec<RecordResult>),
    /// The whole batch was refused for what some record holds: bisect.
    Invalid { code: String, message: String },
    /// Try again later (429, 5xx, 423, timeouts).
    Transient { retry_after: Option<Duration>, why: String },
    /// A daily limit: stop, save state, exit 4.
    DailyLimit(String),
    /// The session expired: get a new token and retry.
    Reauth,
    /// The run cannot go on (a bad token, a missing scope, an unknown object).
    Fatal(String),
    /// No answer from a destination that is not idempotent (a timeout, a
    /// dropped connection): it may have acted, so the records are not resent.
    Unanswered(String),
    /// The request itself is wrong, whatever records it carries (a property
    /// that does not exist, a non-unique id property, a bad field name):
    /// splitting it would only multiply refusals. Stop, exit 2.
    RequestError(String),
}

/// A request a destination wants sent.
pub struct Request {
    pub method: reqwest::Method,
    pub url: String,
    pub body: Option<serde_json::Value>,
}

/// Why a destination's bulk path stopped before its end.
#[derive(Debug)]
pub enum Stop {
    /// The CRM's daily API limit: state saved, exit 4.
    Daily(String),
    /// Anything else: exit 1 (a bulk job, if any, stays in the state when it may still finish).
    Failed(String),
}

impl From<Error> for Stop {
    fn from(e: Error) -> Stop {
        Stop::Failed(e.to_string())
    }
}

/// What differs per CRM. The driver never asks which CRM it talks to.
pub trait Destination: Send + Sync + 'static {
    /// The request writing `batch` (base URL from the token exchange, if any).
    fn request(&self, base: &str, batch: &[Record]) -> Request;
    /// Reads the CRM's answer to a request: for `request(batch)`, and (with
    /// an empty batch) for any other call, where only `Transient` and
    /// `Reauth` are acted on — the one definition of what is retried.
    fn classify(&self, status: u16, retry_after: Option<Duration>, body: &str, batch: &[Record]) -> Outcome;
    /// A read-only request that behaves like real traffic (None: the
    /// destination has none, like a webhook).
    fn healthcheck(&self, base: &str) -> Option<Request>;
    /// Whether sending a record twice leaves one copy (an update, an upsert
    /// by a unique id). A destination that is not (a webhook posting a
    /// message) has every batch journalled before it is sent, and a batch
    /// that got no answer is never sent again: it is reported in doubt.
    fn idempotent(&self) -> bool {
        true
    }
    /// A request to make after `batch` was answered with `body` (HubSpot:
    /// associating the tasks written with their companies); its records
    /// count as written only once this one succeeds too. `Err`: the answer
    /// does not give what the follow-up needs (the batch is not written).
    fn follow_up(&self, _base: &str, _batch: &[Record], _body: &str) -> Option<std::result::Result<Request, String>> {
        None
    }
    /// Whether the follow-up's `answer` names every record of `batch` (first
    /// answered with `body`) as done: a success that leaves some out does
    /// not count them written.
    fn followed_up(&self, _batch: &[Record], _body: &str, _answer: &str) -> bool {
        true
    }
    /// An alert as this destination writes it: CRM field → value.
    fn alert(&self, a: &alerts::Delivery, due: i32) -> BTreeMap<String, Value>;
    /// The CRM field an alert's task is assigned by, with the CRM's user
    /// ids for `emails` (the accounts' owners) that it knows.
    fn owners<'a>(&'a self, _shared: &'a Shared, _emails: &'a [String]) -> BoxFuture<'a, Result<Option<(&'static str, HashMap<String, String>)>>> {
        Box::pin(async { Ok(None) })
    }
    /// How records are grouped into requests.
    fn batches(&self, send: Vec<Record>, size: usize) -> Vec<Vec<Record>> {
        send.chunks(size).map(|c| c.to_vec()).collect()
    }
    /// `sync --setup`: creates or checks the CRM fields `fields` maps
    /// (column → field); one line per field.
    fn setup<'a>(&'a self, shared: &'a Shared, fields: &'a [(String, String)]) -> BoxFuture<'a, Result<Vec<String>>>;
    /// Whether `changed` records go through the bulk path rather than batches.
    fn use_bulk(&self, _changed: usize) -> bool {
        false
    }
    /// The bulk path: sends `send`, acknowledging and rejecting through
    /// `shared` like the batch path, keeping resumable state in `st`.
    fn bulk<'a>(&'a self, _shared: &'a Arc<Shared>, _st: &'a mut state::State, _send: Vec<Record>) -> BoxFuture<'a, std::result::Result<(), Stop>> {
        Box::pin(async { Err(Stop::Failed("this destination has no bulk path".into())) })
    }
}

/// A destination ready to sync: the CRM's half and the resolved settings.
pub struct Built {
    pub dest: Arc<dyn Destination>,
    pub settings: Settings,
    pub auth: Auth,
}

/// The settings every destination shares, resolved with the config.
pub type Settings = crate::config::destination::Destination;

/// The one place a CRM kind becomes its implementation.
pub fn build(d: &Settings) -> Built {
    let dest: Arc<dyn Destination> = match &d.crm {
        Crm::HubSpot(h) => Arc::new(h.clone()),
        Crm::Salesforce(s) => Arc::new(s.clone()),
        Crm::Webhook(w) => Arc::new(w.clone()),
    };
    let auth = match &d.auth {
        AuthConfig::Token { env } => Auth::Token { env: env.clone() },
        AuthConfig::UrlFromEnv { env } => Auth::UrlFromEnv { env: env.clone() },
        AuthConfig::None => Auth::None,
        AuthConfig::ClientCredentials { token_url, id_env, secret_env } => {
            Auth::ClientCredentials { token_url: token_url.clone(), id_env: id_env.clone(), secret_env: secret_env.clone(), cached: Default::default() }
        }
    };
    Built { dest, settings: d.clone(), auth }
}

// ---- records from account_scores --------------------------------------------

fn cell(batch: &RecordBatch, col: &str, i: usize) -> Value {
    let Some(a) = batch.column_by_name(col) else { return Value::Null };
    if a.is_null(i) {
        return Value::Null;
    }
    match a.data_type() {
        DataType::Float64 => Value::Num(a.as_primitive::<arrow::datatypes::Float64Type>().value(i)),
        DataType::Int64 => Value::Num(a.as_primitive::<arrow::datatypes::Int64Type>().value(i) as f64),
        DataType::Boolean => Value::Bool(a.as_boolean().value(i)),
        DataType::Date32 => Value::Date(a.as_primitive::<arrow::datatypes::Date32Type>().value(i)),
        DataType::List(_) => {
            let l = a.as_list::<i32>().value(i);
            let s = arrow::compute::cast(&l, &DataType::Utf8).unwrap();
            let s = s.as_string::<i32>();
            Value::Text((0..s.len()).filter(|j| !s.is_null(*j)).map(|j| s.value(j)).collect::<Vec<_>>().join("\n"))
        }
        _ => {
            let s = arrow::compute::cast(&a.slice(i, 1), &DataType::Utf8).unwrap();
            Value::Text(s.as_string::<i32>().value(0).to_string())
        }
    }
}

pub struct Source {
    pub as_of: chrono::NaiveDate,
    pub records: Vec<Record>,
    pub skipped_no_key: usize,
    /// Records sharing a key with an earlier one: (record, the account it clashes with).
    pub duplicate_keys: Vec<(Record, String)>,
}

pub fn records(batches: &[RecordBatch], s: &Settings, as_of: chrono::NaiveDate) -> Source {
    let mut out = Source { as_of, records: vec![], skipped_no_key: 0, duplicate_keys: vec![] };
    let mut seen: HashMap<String, String> = HashMap::new();
    for b in batches {
        for i in 0..b.num_rows() {
            let account_id = cell(b, account_scores::ACCOUNT_ID, i).text();
            let key = cell(b, &s.key_column, i).text();
            if key.trim().is_empty() {
                out.skipped_no_key += 1;
                continue;
            }
            let values = s.fields.iter().map(|(c, p)| (p.clone(), cell(b, c, i))).collect();
            let r = Record { account_id: account_id.clone(), key: key.clone(), values, link: None };
            match seen.get(&key) {
                Some(first) => out.duplicate_keys.push((r, first.clone())),
                None => {
                    seen.insert(key, account_id);
                    out.records.push(r);
                }
            }
        }
    }
    out
}

/// The alerts of a partition that `b` delivers, as records keyed by alert
/// id; CRM tasks need the account's record (`crm_id`): alerts without one
/// are skipped like scores without a key.
/// `owners`: the field tasks are assigned by and owner email → CRM user id.
pub fn alert_records(deliveries: &[alerts::Delivery], b: &Built, as_of: chrono::NaiveDate, owners: Option<&(&'static str, HashMap<String, String>)>) -> Source {
    let mut out = Source { as_of, records: vec![], skipped_no_key: 0, duplicate_keys: vec![] };
    let Some(a) = b.settings.alerts() else { return out };
    let needs_record = !matches!(b.settings.crm, Crm::Webhook(_));
    for d in deliveries.iter().filter(|d| a.routes.is_empty() || a.routes.contains(&d.route)) {
        if needs_record && d.crm_id.is_none() {
            out.skipped_no_key += 1;
            continue;
        }
        let mut values = b.dest.alert(d, d.as_of + a.due_in_days as i32);
        if let Some((field, ids)) = owners {
            if let Some(id) = d.owner.as_ref().and_then(|o| ids.get(&o.to_lowercase())) {
                values.insert(field.to_string(), Value::Text(id.clone()));
            }
        }
        out.records.push(Record { account_id: d.account_id.clone(), key: d.alert_id.clone(), values, link: d.crm_id.clone() });
    }
    out
}

/// A task's or message's title: the playbook and the account.
pub fn subject(a: &alerts::Delivery) -> String {
    format!("{}: {}", a.playbook.replace('_', " "), a.account_name.as_deref().unwrap_or(&a.account_id))
}

// ---- the plan ----------------------------------------------------------------

#[derive(Debug, Default, Serialize, Clone)]
pub struct Plan {
    pub destination: String,
    /// What it receives: `scores` or `alerts`.
    pub deliver: String,
    pub as_of: String,
    pub records: usize,
    /// Never acknowledged before.
    pub new: usize,
    pub changed: usize,
    pub unchanged: usize,
    pub skipped_no_key: usize,
    pub duplicate_keys: usize,
    pub tier_changes: usize,
    /// Not sent: quarantined after failing the same way run after run.
    pub quarantined: usize,
    /// A sample of field-level changes: (key, field, old, new).
    pub sample: Vec<(String, String, String, String)>,
}

/// What to send: what is new or changed. With `once` (alerts), what was
/// sent before is never sent again, whatever changed in it since.
pub fn plan(name: &str, src: &Source, state: &state::State, tier_property: Option<&str>, quarantine_after: u32, once: bool) -> (Plan, Vec<Record>) {
    let mut p = Plan {
        destination: name.to_string(),
        deliver: if once { "alerts" } else { "scores" }.to_string(),
        as_of: src.as_of.to_string(),
        records: src.records.len(),
        skipped_no_key: src.skipped_no_key,
        duplicate_keys: src.duplicate_keys.len(),
        ..Default::default()
    };
    let mut send = Vec::new();
    for r in &src.records {
        let new = r.texts();
        if state.quarantined(&r.key, &new, quarantine_after).is_some() {
            p.quarantined += 1;
            continue;
        }
        match state.records.get(&r.key) {
            None => {
                p.new += 1;
                send.push(r.clone());
            }
            Some(old) if *old == new || once => p.unchanged += 1,
            Some(old) => {
                p.changed += 1;
                if let Some(t) = tier_property {
                    if old.get(t).is_some_and(|o| Some(o) != new.get(t)) {
                        p.tier_changes += 1;
                    }
                }
                for (f, v) in &new {
                    let o = old.get(f).cloned().unwrap_or_default();
                    if &o != v && p.sample.len() < 10 {
                        p.sample.push((r.key.clone(), f.clone(), o, v.clone()));
                    }
                }
                send.push(r.clone());
            }
        }
    }
    (p, send)
}

// ---- the driver ----------------------------------------------------------------

pub use sync_log::Counts;

#[derive(Debug, Clone)]
pub struct Rejection {
    pub account_id: String,
    pub key: String,
    pub code: String,
    pub field: Option<String>,
    pub message: String,
    /// Not sent this run: it failed the same way `quarantine_after` runs in a row.
    pub quarantined: bool,
    /// The values sent (for the failure count in the state).
    pub values: Values,
}

pub struct Report {
    pub destination: String,
    pub counts: Counts,
    pub rejections: Vec<Rejection>,
    pub daily_limit: Option<String>,
    pub fatal: Option<String>,
    /// The destination's setup is wrong (exit 2): what to fix.
    pub misconfigured: Option<String>,
    /// Records the CRM had merged: (key sent, id it wrote to).
    pub merged: Vec<(String, String)>,
    pub started_at: String,
    pub finished_at: String,
    pub status: String,
}

pub struct Shared {
    pub(crate) built: Arc<Built>,
    pub(crate) client: reqwest::Client,
    pub(crate) limit: RateLimit,
    pub(crate) store: state::Store,
    pub(crate) stop: AtomicBool,
    pub(crate) daily: std::sync::Mutex<Option<String>>,
    pub(crate) fatal: std::sync::Mutex<Option<String>>,
    pub(crate) misconfigured: std::sync::Mutex<Option<String>>,
    /// Requests the CRM refused as a whole this run, and how many may be
    /// before the run stops (HubSpot asks that errors stay under 5 % of requests).
    pub(crate) refused: AtomicUsize,
    pub(crate) refusal_budget: AtomicUsize,
    /// Batches in a row whose every record was rejected with one same error.
    pub(crate) uniform_rejections: AtomicUsize,
    pub(crate) rejections: std::sync::Mutex<Vec<Rejection>>,
    pub(crate) requests: AtomicUsize,
    pub(crate) retried: AtomicUsize,
    pub(crate) acked: AtomicUsize,
    pub(crate) undelivered: AtomicUsize,
    /// Keys acknowledged this run (their failures are forgotten).
    pub(crate) acked_keys: std::sync::Mutex<Vec<String>>,
    /// (key sent, id the CRM wrote to) for records it had merged.
    pub(crate) merged: std::sync::Mutex<Vec<(String, String)>>,
    /// Records in doubt: sent, never answered for (reported, not resent).
    pub(crate) doubts: std::sync::Mutex<Vec<Rejection>>,
}

/// The report of a record in doubt.
fn doubt(r: &Record, why: &str) -> Rejection {
    Rejection {
        account_id: r.account_id.clone(),
        key: r.key.clone(),
        code: "IN_DOUBT".into(),
        field: None,
        message: format!("{why}: the endpoint may have it, and sending it again could post it twice, so it is not resent — check the channel"),
        quarantined: false,
        values: r.texts(),
    }
}

/// A request body.
#[derive(Clone)]
pub enum Body {
    Json(serde_json::Value),
    Csv(String),
}

/// What one attempt got back: an HTTP answer, or no answer at all.
enum Reply {
    Http { status: u16, retry_after: Option<Duration>, body: String },
    Failed(String),
}

/// How the retry loop ended.
enum Exchanged {
    /// The last answer (or, retries spent, the last failure) and how the destination read it.
    Answered { reply: Reply, outcome: Outcome },
    /// The run stopped before the request was sent.
    Stopped,
    /// No token could be had.
    Fatal(String),
}

impl Shared {
    /// The driver's state for one destination and run: its HTTP client,
    /// rate limit, ack store and counters.
    pub fn new(b: &Arc<Built>, out: &Output) -> Result<Arc<Shared>> {
        let s = &b.settings;
        Ok(Arc::new(Shared {
            built: b.clone(),
            client: client(s.timeout)?,
            limit: RateLimit::new(s.rate.0, s.rate.1),
            store: state::Store::new(out.root.child(&format!("_sync/{}/", s.name)), &out.run_id),
            stop: AtomicBool::new(false),
            daily: Default::default(),
            fatal: Default::default(),
            misconfigured: Default::default(),
            refused: AtomicUsize::new(0),
            refusal_budget: AtomicUsize::new(25),
            uniform_rejections: AtomicUsize::new(0),
            rejections: Default::default(),
            requests: AtomicUsize::new(0),
            retried: AtomicUsize::new(0),
            acked: AtomicUsize::new(0),
            undelivered: AtomicUsize::new(0),
            acked_keys: Default::default(),
            merged: Default::default(),
            doubts: Default::default(),
        }))
    }

    /// One attempt: the current token, the rate limit, the request `build`
    /// makes for the base URL, the response read whole; and the token used.
    async fn attempt(&self, build: &impl Fn(&str) -> (reqwest::Method, String, Option<Body>)) -> Result<(Reply, crate::config::Secret)> {
        let (token, instance) = self.built.auth.token(&self.client, false).await?;
        let base = instance.unwrap_or_else(|| self.built.settings.base_url.clone());
        let (method, url, body) = build(&base);
        self.limit.acquire().await;
        self.requests.fetch_add(1, Ordering::SeqCst);
        let rb = self.client.request(method, &url).bearer_auth(token.expose());
        let rb = match body {
            Some(Body::Json(j)) => rb.json(&j),
            Some(Body::Csv(c)) => rb.header(reqwest::header::CONTENT_TYPE, "text/csv").body(c),
            None => rb,
        };
        let used = token.clone();
        let reply = match rb.send().await {
            Ok(resp) => {
                let status = resp.status().as_u16();
                let retry_after = http::retry_after(resp.headers());
                self.observe(status, retry_after, http::budget(resp.headers()));
                match resp.text().await {
                    Ok(body) => Reply::Http { status, retry_after, body },
                    Err(e) => Reply::Failed(format!("reading the response: {}", e.without_url())),
                }
            }
            Err(e) => Reply::Failed(e.without_url().to_string()),
        };
        Ok((reply, used))
    }

    /// Slows every worker, not only the one that was answered: a 429 holds
    /// all request starts for its `Retry-After`; rate-limit headers that show
    /// the interval nearly spent hold them until it renews; a daily budget
    /// inside `daily_reserve` stops the run cleanly (exit 4).
    fn observe(&self, status: u16, retry_after: Option<Duration>, b: http::Budget) {
        let s = &self.built.settings;
        if status == 429 {
            self.limit.hold(retry_after.unwrap_or(Duration::from_secs(1)));
        }
        if let (Some(left), Some(interval)) = (b.remaining, b.interval) {
            if left <= s.concurrency as u64 {
                self.limit.hold(interval);
            }
        }
        if let Some(left) = b.daily_remaining.filter(|l| s.daily_reserve > 0 && *l <= s.daily_reserve) {
            self.daily.lock().unwrap().get_or_insert(format!(
                "stopped with {left} requests left of the CRM's daily limit, within `daily_reserve` ({})",
                s.daily_reserve
            ));
            self.stop.store(true, Ordering::SeqCst);
        }
    }

    /// The one retry loop: sends what `build` makes for the base URL and
    /// reads the answer with the destination's `classify` (for `batch`);
    /// what it calls transient (and a request that got no answer) is sent
    /// again with backoff up to `max_retries`, an expired session gets one
    /// fresh token. `stoppable` requests are not started once the run stops.
    async fn exchange_with(&self, build: impl Fn(&str) -> (reqwest::Method, String, Option<Body>), batch: &[Record], stoppable: bool) -> Exchanged {
        let mut attempt = 0;
        let mut reauthed = false;
        loop {
            if stoppable && self.stop.load(Ordering::SeqCst) {
                return Exchanged::Stopped;
            }
            let (reply, used) = match self.attempt(&build).await {
                Ok(r) => r,
                Err(e) => return Exchanged::Fatal(e.to_string()),
            };
            let outcome = match &reply {
                Reply::Http { status, retry_after, body } => self.built.dest.classify(*status, *retry_after, body, batch),
                Reply::Failed(why) if !self.built.dest.idempotent() && !batch.is_empty() => Outcome::Unanswered(why.clone()),
                Reply::Failed(why) => Outcome::Transient { retry_after: None, why: why.clone() },
            };
            match outcome {
                Outcome::Transient { retry_after, why } if attempt < self.built.settings.max_retries => {
                    let wait = http::backoff(attempt, retry_after);
                    tracing::debug!(destination = self.built.settings.name, "retrying in {:.1}s: {why}", wait.as_secs_f64());
                    self.retried.fetch_add(1, Ordering::SeqCst);
                    attempt += 1;
                    tokio::time::sleep(wait).await;
                }
                Outcome::Reauth if !reauthed => {
                    reauthed = true;
                    if let Err(e) = self.built.auth.refresh(&self.client, &used).await {
                        return Exchanged::Fatal(e.to_string());
                    }
                }
                Outcome::Reauth => return Exchanged::Fatal("the CRM refused a freshly issued token".into()),
                outcome => return Exchanged::Answered { reply, outcome },
            }
        }
    }

    /// One request outside the batch path (bulk steps, setup): the same rate
    /// limit, token refresh and retries. Returns the final status and body.
    pub async fn call(&self, method: reqwest::Method, url: impl Fn(&str) -> String, body: Option<Body>) -> Result<(u16, String)> {
        match self.exchange_with(|base| (method.clone(), url(base), body.clone()), &[], false).await {
            Exchanged::Answered { reply: Reply::Http { status, body, .. }, .. } => Ok((status, body)),
            Exchanged::Answered { reply: Reply::Failed(why), .. } | Exchanged::Fatal(why) => {
                Err(Error::other(format!("destination `{}`", self.built.settings.name), anyhow::anyhow!(why)))
            }
            Exchanged::Stopped => unreachable!("calls are not stoppable"),
        }
    }

    /// Sends one batch with the shared rate limit and retry policy; the
    /// outcome and the answer's body.
    async fn exchange(&self, batch: &[Record]) -> (Outcome, String) {
        let build = |base: &str| {
            let r = self.built.dest.request(base, batch);
            (r.method, r.url, r.body.map(Body::Json))
        };
        match self.exchange_with(build, batch, true).await {
            Exchanged::Answered { outcome, reply: Reply::Http { body, .. } } => (outcome, body),
            Exchanged::Answered { outcome, .. } => (outcome, String::new()),
            Exchanged::Stopped => (Outcome::Transient { retry_after: None, why: "stopped".into() }, String::new()),
            Exchanged::Fatal(m) => (Outcome::Fatal(m), String::new()),
        }
    }

    /// The destination's follow-up to a written batch, if it has one:
    /// whether it succeeded (the records count as written only then).
    async fn follow_up(&self, written: &[Record], body: &str) -> bool {
        match self.built.dest.follow_up("", written, body) {
            _ if written.is_empty() => return true,
            None => return true,
            Some(Err(why)) => {
                tracing::warn!(destination = self.built.settings.name, "{} records written but not linked ({why}): sent again next run", written.len());
                return false;
            }
            Some(Ok(_)) => {}
        }
        let build = |base: &str| {
            let r = self.built.dest.follow_up(base, written, body).and_then(|r| r.ok()).expect("checked above");
            (r.method, r.url, r.body.map(Body::Json))
        };
        match self.exchange_with(build, &[], true).await {
            Exchanged::Answered { outcome: Outcome::PerRecord(_), reply: Reply::Http { body: answer, .. } } => {
                let all = self.built.dest.followed_up(written, body, &answer);
                if !all {
                    tracing::warn!(destination = self.built.settings.name, "{} records written but the answer does not link them all: sent again next run", written.len());
                }
                all
            }
            Exchanged::Answered { outcome, .. } => {
                tracing::warn!(destination = self.built.settings.name, "{} records written but not linked ({outcome:?}): sent again next run", written.len());
                false
            }
            _ => false,
        }
    }

    /// Records sent to a destination that is not idempotent and never
    /// answered for: kept as sent (never resent) and reported.
    async fn in_doubt(&self, records: &[Record], why: &str) {
        let sent: BTreeMap<String, Values> = records.iter().map(|r| (r.key.clone(), r.texts())).collect();
        if let Err(e) = self.store.ack(&sent).await {
            self.halt_fatal(format!("cannot record what was sent: {e}"));
        }
        let mut d = self.doubts.lock().unwrap();
        for r in records {
            d.push(doubt(r, &format!("the request got no answer ({why})")));
        }
    }

    /// Sends a batch; bisects it when it is refused as a whole. A refusal
    /// that comes back, word for word, for both halves of a split is about
    /// the request, not a record: the run stops instead of bisecting on
    /// (2N − 1 requests per batch, most of a portal's daily quota). So does
    /// a run past its budget of refused requests, and two batches in a row
    /// whose every record is rejected with one same error.
    async fn send(self: Arc<Self>, batch: Vec<Record>) {
        // (records, the split they came from, per-record retries so far);
        // splits: (code, message, halves refused alike)
        let mut work: Vec<(Vec<Record>, Option<usize>, u32)> = vec![(batch, None, 0)];
        let mut splits: Vec<(String, String, usize)> = Vec::new();
        while let Some((b, parent, tries)) = work.pop() {
            if self.stop.load(Ordering::SeqCst) {
                self.undelivered.fetch_add(b.len(), Ordering::SeqCst);
                continue;
            }
            let journal = if self.built.dest.idempotent() {
                None
            } else {
                match self.store.pending(&b.iter().map(|r| (r.key.clone(), r.texts())).collect()).await {
                    Ok(j) => Some(j),
                    Err(e) => {
                        self.undelivered.fetch_add(b.len(), Ordering::SeqCst);
                        self.halt_fatal(format!("cannot journal a batch before sending it: {e}"));
                        continue;
                    }
                }
            };
            let (outcome, body) = self.exchange(&b).await;
            if let Outcome::Unanswered(why) = &outcome {
                self.in_doubt(&b, why).await;
            }
            if let Some(j) = &journal {
                // the answer is recorded below (acks, or rejections that resend nothing twice)
                if let Err(e) = self.store.settle(j).await {
                    tracing::warn!(destination = self.built.settings.name, "could not clear a sync journal entry ({e}): its records will be reported in doubt");
                }
            }
            match outcome {
                Outcome::Unanswered(_) => {}
                Outcome::PerRecord(results) => {
                    let uniform = b.len() > 1
                        && results.iter().all(|r| matches!(r, RecordResult::Rejected { .. }))
                        && results.windows(2).all(|w| match (&w[0], &w[1]) {
                            (RecordResult::Rejected { code: a, message: m, .. }, RecordResult::Rejected { code: c, message: n, .. }) => a == c && m == n,
                            _ => false,
                        });
                    let first = results.first().cloned();
                    let mut acked = BTreeMap::new();
                    let mut again = Vec::new();
                    let mut again_why = String::new();
                    for (r, res) in b.iter().zip(results) {
                        match res {
                            RecordResult::Acked => {
                                acked.insert(r.key.clone(), r.texts());
                            }
                            RecordResult::AckedAs(survivor) => {
                                acked.insert(r.key.clone(), r.texts());
                                self.merged.lock().unwrap().push((r.key.clone(), survivor));
                            }
                            RecordResult::Rejected { code, message, field } => self.reject(r, code, message, field),
                            RecordResult::Unconfirmed(why) => {
                                tracing::warn!(destination = self.built.settings.name, "record `{}` not confirmed by the CRM ({why}): not acknowledged", r.key);
                                self.undelivered.fetch_add(1, Ordering::SeqCst);
                            }
                            RecordResult::Retry { code, message } => {
                                again_why = format!("{code}: {message}");
                                again.push(r.clone());
                            }
                        }
                    }
                    if !again.is_empty() {
                        if tries < self.built.settings.max_retries {
                            self.retried.fetch_add(1, Ordering::SeqCst);
                            tokio::time::sleep(http::backoff(tries, None)).await;
                            work.push((again, None, tries + 1));
                        } else {
                            tracing::warn!(destination = self.built.settings.name, "{} records not delivered after retries: {again_why}", again.len());
                            self.undelivered.fetch_add(again.len(), Ordering::SeqCst);
                        }
                    }
                    if uniform {
                        if self.uniform_rejections.fetch_add(1, Ordering::SeqCst) + 1 >= 2 {
                            if let Some(RecordResult::Rejected { code, message, .. }) = first {
                                self.halt_misconfigured(format!(
                                    "the CRM rejected every record of two batches in a row with the same error ({code}: {message}): it is about the request, not the records — check the destination's `fields` and `match`"
                                ));
                            }
                        }
                    } else if !acked.is_empty() {
                        self.uniform_rejections.store(0, Ordering::SeqCst);
                    }
                    let written: Vec<Record> = b.iter().filter(|r| acked.contains_key(&r.key)).cloned().collect();
                    if !self.follow_up(&written, &body).await {
                        self.undelivered.fetch_add(acked.len(), Ordering::SeqCst);
                        acked.clear();
                    }
                    let n = acked.len();
                    match self.store.ack(&acked).await {
                        Ok(()) => {
                            self.acked.fetch_add(n, Ordering::SeqCst);
                            self.acked_keys.lock().unwrap().extend(acked.into_keys());
                        }
                        Err(e) => {
                            self.undelivered.fetch_add(n, Ordering::SeqCst);
                            self.halt_fatal(format!("cannot record acknowledgements: {e}"));
                        }
                    }
                }
                Outcome::Invalid { code, message } => {
                    if self.refused.fetch_add(1, Ordering::SeqCst) + 1 > self.refusal_budget.load(Ordering::SeqCst) {
                        self.undelivered.fetch_add(b.len(), Ordering::SeqCst);
                        self.halt_fatal(format!(
                            "the CRM refused more than {} requests in this run (last: {code}: {message}); stopped before spending the portal's quota on errors — state is saved",
                            self.refusal_budget.load(Ordering::SeqCst)
                        ));
                        continue;
                    }
                    if let Some(p) = parent.filter(|p| splits[*p].0 == code && splits[*p].1 == message) {
                        splits[p].2 += 1;
                        if splits[p].2 == 2 {
                            self.undelivered.fetch_add(b.len(), Ordering::SeqCst);
                            self.halt_misconfigured(format!(
                                "the CRM refused both halves of a batch with the same error ({code}: {message}): it is about the request, not a record — check the destination's `fields` (`healthscore sync --setup` creates HubSpot's properties)"
                            ));
                            continue;
                        }
                    }
                    if b.len() == 1 {
                        self.reject(&b[0], code, message, None);
                        continue;
                    }
                    splits.push((code, message, 0));
                    let id = splits.len() - 1;
                    let mut left = b;
                    let right = left.split_off(left.len() / 2);
                    work.push((right, Some(id), tries));
                    work.push((left, Some(id), tries));
                }
                Outcome::Transient { why, .. } => {
                    if !self.stop.load(Ordering::SeqCst) {
                        tracing::warn!(destination = self.built.settings.name, "{} records not delivered after retries: {why}", b.len());
                    }
                    self.undelivered.fetch_add(b.len(), Ordering::SeqCst);
                }
                Outcome::DailyLimit(m) => {
                    self.undelivered.fetch_add(b.len(), Ordering::SeqCst);
                    self.daily.lock().unwrap().get_or_insert(m);
                    self.stop.store(true, Ordering::SeqCst);
                }
                Outcome::Fatal(m) => {
                    self.undelivered.fetch_add(b.len(), Ordering::SeqCst);
                    self.halt_fatal(m);
                }
                Outcome::RequestError(m) => {
                    self.undelivered.fetch_add(b.len(), Ordering::SeqCst);
                    self.halt_misconfigured(m);
                }
                Outcome::Reauth => unreachable!("exchange handles reauth"),
            }
        }
    }

    fn halt_misconfigured(&self, m: String) {
        self.misconfigured.lock().unwrap().get_or_insert(m);
        self.stop.store(true, Ordering::SeqCst);
    }

    pub(crate) fn reject(&self, r: &Record, code: String, message: String, field: Option<String>) {
        self.rejections.lock().unwrap().push(Rejection { account_id: r.account_id.clone(), key: r.key.clone(), code, field, message, quarantined: false, values: r.texts() });
    }

    fn halt_fatal(&self, m: String) {
        self.fatal.lock().unwrap().get_or_insert(m);
        self.stop.store(true, Ordering::SeqCst);
    }
}

pub fn client(timeout: Duration) -> Result<reqwest::Client> {
    reqwest::Client::builder()
        .timeout(timeout)
        .connect_timeout(Duration::from_secs(10))
        .user_agent(concat!("healthscore/", env!("CARGO_PKG_VERSION")))
        .build()
        .map_err(|e| Error::other("building the HTTP client", e))
}

/// Syncs `send` (the changed records) to one destination; `earlier_doubts`
/// are the records an interrupted run left in doubt (found when the state loaded).
pub async fn deliver(b: &Arc<Built>, out: &Output, src: &Source, send: Vec<Record>, unchanged: usize, earlier_doubts: &BTreeMap<String, Values>) -> Result<Report> {
    let started_at = chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true);
    let s = &b.settings;
    let shared = Shared::new(b, out)?;
    for (r, first) in &src.duplicate_keys {
        shared.reject(r, "DUPLICATE_KEY".into(), format!("`{}` {} is also the key of account {first}; only the first is sent", s.key_column, r.key), None);
    }
    let n_send = send.len();
    let mut st = shared.store.load(&b.settings.identity).await?;
    let accounts: HashMap<&str, &str> = src.records.iter().map(|r| (r.key.as_str(), r.account_id.as_str())).collect();
    for (key, values) in earlier_doubts.iter().chain(st.in_doubt.iter()) {
        let r = Record { account_id: accounts.get(key.as_str()).unwrap_or(&"").to_string(), key: key.clone(), values: BTreeMap::new(), link: None };
        let mut d = doubt(&r, "an earlier run stopped while its request was in flight");
        d.values = values.clone();
        shared.doubts.lock().unwrap().push(d);
    }
    let mut quarantined = Vec::new();
    for r in &src.records {
        let values = r.texts();
        if let Some(f) = st.quarantined(&r.key, &values, s.quarantine_after) {
            quarantined.push(Rejection {
                account_id: r.account_id.clone(),
                key: r.key.clone(),
                code: f.code.clone(),
                field: None,
                message: format!(
                    "quarantined: rejected with `{}` in {} runs in a row ({}); not sent again until its values change or `sync --full-resync`",
                    f.code, f.runs, f.message
                ),
                quarantined: true,
                values,
            });
        }
    }
    if b.dest.use_bulk(n_send) {
        // inside the driver: a stop still gets its sync_log row and the state folded
        let before = shared.acked.load(Ordering::SeqCst) + shared.rejections.lock().unwrap().len() + shared.undelivered.load(Ordering::SeqCst);
        if let Err(stop) = b.dest.bulk(&shared, &mut st, send).await {
            let settled = shared.acked.load(Ordering::SeqCst) + shared.rejections.lock().unwrap().len() + shared.undelivered.load(Ordering::SeqCst) - before;
            shared.undelivered.fetch_add(n_send.saturating_sub(settled), Ordering::SeqCst);
            match stop {
                Stop::Daily(m) => {
                    shared.daily.lock().unwrap().get_or_insert(m);
                }
                Stop::Failed(m) => shared.halt_fatal(m),
            }
        }
    } else {
        let batches = b.dest.batches(send, s.batch_size);
        shared.refusal_budget.store((batches.len() / 20).max(25), Ordering::SeqCst);
        futures::stream::iter(batches.into_iter().map(|batch| shared.clone().send(batch)))
            .buffer_unordered(s.concurrency)
            .collect::<Vec<()>>()
            .await;
    }
    // the state keeps only accounts still scored (every alert ever sent stays: never twice)
    let live: std::collections::HashSet<&str> = src.records.iter().map(|r| r.key.as_str()).collect();
    if b.settings.alerts().is_none() {
        st.records.retain(|k, _| live.contains(k.as_str()));
    }
    st.failures.retain(|k, _| live.contains(k.as_str()));
    let mut rejections = std::mem::take(&mut *shared.rejections.lock().unwrap());
    let failed: Vec<(String, String, String, Values)> = rejections.iter().map(|r| (r.key.clone(), r.code.clone(), r.message.clone(), r.values.clone())).collect();
    st.note_failures(&failed, &shared.acked_keys.lock().unwrap());
    shared.store.finish(&mut st).await?;
    let n_quarantined = quarantined.len();
    rejections.extend(quarantined);
    let doubts = std::mem::take(&mut *shared.doubts.lock().unwrap());
    let n_doubts = doubts.len();
    rejections.extend(doubts);
    let daily = shared.daily.lock().unwrap().clone();
    let fatal = shared.fatal.lock().unwrap().clone();
    let misconfigured = shared.misconfigured.lock().unwrap().clone();
    let counts = Counts {
        records: src.records.len() + src.duplicate_keys.len(),
        unchanged,
        sent: n_send,
        acknowledged: shared.acked.load(Ordering::SeqCst),
        rejected: rejections.len() - n_quarantined - n_doubts,
        retried: shared.retried.load(Ordering::SeqCst),
        requests: shared.requests.load(Ordering::SeqCst),
        not_delivered: shared.undelivered.load(Ordering::SeqCst),
        skipped_no_key: src.skipped_no_key,
        quarantined: n_quarantined,
        merged: shared.merged.lock().unwrap().len(),
        in_doubt: n_doubts,
    };
    let status = if misconfigured.is_some() {
        "misconfigured"
    } else if fatal.is_some() {
        "failed"
    } else if daily.is_some() {
        "daily_limit"
    } else if counts.not_delivered > 0 {
        "incomplete"
    } else if counts.rejected > 0 {
        "rejections"
    } else if counts.in_doubt > 0 {
        "alerts_in_doubt"
    } else {
        "ok"
    };
    Ok(Report {
        destination: s.name.clone(),
        counts,
        rejections,
        daily_limit: daily,
        fatal,
        misconfigured,
        merged: std::mem::take(&mut *shared.merged.lock().unwrap()),
        started_at,
        finished_at: chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
        status: status.to_string(),
    })
}

/// The read-only healthcheck: fails fast on a bad token or URL.
pub async fn healthcheck(b: &Built) -> Result<()> {
    let c = client(b.settings.timeout)?;
    let (token, instance) = b.auth.token(&c, false).await?;
    let base = instance.unwrap_or_else(|| b.settings.base_url.clone());
    let Some(req) = b.dest.healthcheck(&base) else { return Ok(()) };
    let resp = c
        .request(req.method, &req.url)
        .bearer_auth(token.expose())
        .send()
        .await
        .map_err(|e| Error::other(format!("destination `{}`: healthcheck", b.settings.name), e.without_url()))?;
    let status = resp.status();
    if status.is_success() {
        return Ok(());
    }
    let hint = match status.as_u16() {
        401 => format!("the token was refused: check the variable `{}`", auth_env(&b.auth)),
        403 => "the token lacks a permission (scope) this needs".into(),
        404 => format!("nothing at that URL: check `base_url`, `api_version` and `object_type` of `{}`", b.settings.name),
        _ => "the CRM is not answering normally".into(),
    };
    Err(Error::Usage(format!("destination `{}`: healthcheck returned {status}: {hint}", b.settings.name)))
}

fn auth_env(a: &Auth) -> String {
    match a {
        Auth::Token { env } => env.clone(),
        Auth::ClientCredentials { id_env, secret_env, .. } => format!("{id_env}` / `{secret_env}"),
        Auth::UrlFromEnv { env } => env.clone(),
        Auth::None => String::new(),
    }
}

// ---- the command ---------------------------------------------------------------

#[derive(Debug, Clone, Default)]
pub struct Options {
    pub dry_run: bool,
    pub setup: bool,
    pub full_resync: bool,
    pub force: bool,
    pub destination: Option<String>,
}

pub enum Done {
    Plans(Vec<Plan>),
    Setup(Vec<(String, Vec<String>)>),
    Synced(Vec<Report>),
}

/// The newest `account_scores` partition (or `as_of`'s) as batches.
pub async fn latest_scores(out: &Output, as_of: Option<chrono::NaiveDate>) -> Result<(chrono::NaiveDate, Vec<RecordBatch>)> {
    let t = &account_scores::TABLE;
    let parts = out.partitions(t.name).await?;
    let part = match as_of {
        Some(d) => t.partition(d),
        None => parts.first().cloned().ok_or_else(|| Error::Usage("no `account_scores` yet: run `healthscore run` (or `score`) before `sync`".into()))?,
    };
    let date = chrono::NaiveDate::parse_from_str(t.partition_value(&part).unwrap_or_default(), "%Y-%m-%d").map_err(|e| Error::other("partition name", e))?;
    let batches = out.read_partition(t.name, &part).await?.ok_or_else(|| Error::Usage(format!("no `account_scores` partition `{part}`")))?;
    Ok((date, batches))
}

/// The CRM users the owners of `deliveries` are, when the destination
/// assigns tasks; the owners it does not know are named in a warning (their
/// tasks are written unassigned).
async fn alert_owners(b: &Arc<Built>, out: &Output, deliveries: &[alerts::Delivery]) -> Result<Option<(&'static str, HashMap<String, String>)>> {
    let mut emails: Vec<String> = deliveries.iter().filter_map(|d| d.owner.as_ref().map(|o| o.to_lowercase())).collect();
    emails.sort();
    emails.dedup();
    if emails.is_empty() {
        return Ok(None);
    }
    let shared = Shared::new(b, out)?;
    let found = b.dest.owners(&shared, &emails).await?;
    if let Some((_, ids)) = &found {
        let unknown: Vec<&str> = emails.iter().filter(|e| !ids.contains_key(*e)).map(String::as_str).collect();
        if !unknown.is_empty() {
            tracing::warn!(destination = b.settings.name, "{} account owners have no user in the CRM; their tasks are written unassigned: {}", unknown.len(), unknown.join(", "));
        }
    }
    Ok(found)
}

/// The alerts to send of the `alerts` partition of `as_of` (none without one).
pub async fn latest_alerts(out: &Output, as_of: chrono::NaiveDate) -> Result<Vec<alerts::Delivery>> {
    let t = &alerts::TABLE;
    let Some(batches) = out.read_partition(t.name, &t.partition(as_of)).await? else {
        tracing::warn!("no `alerts` partition for {as_of}: no alert to deliver (are `playbooks:` configured?)");
        return Ok(vec![]);
    };
    let mut shadow = 0;
    for b in &batches {
        shadow += crate::columns::strings(b, alerts::SUPPRESSED_BY)?.iter().filter(|s| s.as_deref() == Some(alerts::Suppression::Shadow.as_str())).count();
    }
    if shadow > 0 {
        tracing::warn!(
            "{shadow} alerts of {as_of} are in shadow and not delivered: the live backtest has not yet shown the model calibrated (see the run's manifest); `playbooks.shadow: false` delivers them"
        );
    }
    alerts::read_deliveries(&batches)
}

/// Syncs every configured destination (or one). The caller holds the lock.
pub async fn sync(cfg: &Config, out: &Output, as_of: Option<chrono::NaiveDate>, opts: &Options) -> Result<Done> {
    if cfg.destinations.is_empty() {
        return Err(Error::Usage("no `destinations` in the config: nothing to sync".into()));
    }
    let (as_of, batches) = latest_scores(out, as_of).await?;
    let columns: Vec<String> = batches.first().map(|b| b.schema().fields().iter().map(|f| f.name().clone()).collect()).unwrap_or_default();
    let age = (chrono::Utc::now().date_naive() - as_of).num_days();
    if age > cfg.max_score_age_days && !opts.force && !opts.dry_run && !opts.setup {
        return Err(Error::Usage(format!(
            "the newest scores are from {as_of}, {age} days old (limit `sync.max_score_age_days`: {}): refusing to send stale scores; run the job first, or pass --force",
            cfg.max_score_age_days
        )));
    }
    let mut built = Vec::new();
    for d in &cfg.destinations {
        if opts.destination.as_ref().is_some_and(|n| n != &d.name) {
            continue;
        }
        // the partition may predate a change of horizons: never send a missing column as nulls
        if let Some(c) = d.fields.iter().map(|(c, _)| c).find(|c| !columns.contains(c)) {
            return Err(Error::Usage(format!(
                "destination `{}`: the `account_scores` partition of {as_of} has no column `{c}` (it was written with other settings); rerun `healthscore score`",
                d.name
            )));
        }
        built.push(Arc::new(build(d)));
    }
    if built.is_empty() {
        return Err(Error::Usage(format!("no destination named `{}`", opts.destination.clone().unwrap_or_default())));
    }
    if opts.setup {
        let mut reports = Vec::new();
        for b in &built {
            let lines = b.dest.setup(&*Shared::new(b, out)?, &b.settings.fields).await?;
            reports.push((b.settings.name.clone(), lines));
        }
        return Ok(Done::Setup(reports));
    }
    let deliveries = if built.iter().any(|b| b.settings.alerts().is_some()) { latest_alerts(out, as_of).await? } else { vec![] };
    let mut plans = Vec::new();
    let mut work = Vec::new();
    for b in &built {
        let src = if b.settings.alerts().is_some() {
            // tasks go to the account owner: the CRM's user for the owner's email
            let owners = if opts.dry_run { None } else { alert_owners(b, out, &deliveries).await? };
            alert_records(&deliveries, b, as_of, owners.as_ref())
        } else {
            records(&batches, &b.settings, as_of)
        };
        let store = state::Store::new(out.root.child(&format!("_sync/{}/", b.settings.name)), &out.run_id);
        if opts.full_resync && !opts.dry_run && b.settings.alerts().is_none() {
            store.reset().await?;
        }
        let mut st = if opts.dry_run { peek_state(out, &b.settings.name).await? } else { store.load(&b.settings.identity).await? };
        let doubts = std::mem::take(&mut st.in_doubt);
        let empty = state::State::default();
        let tier_property = b.settings.fields.iter().find(|(c, _)| c == account_scores::TIER).map(|(_, p)| p.clone());
        let once = b.settings.alerts().is_some();
        // a full resync never resends an alert: that would post it twice
        let full = opts.full_resync && !once;
        let (plan, send) = plan(&b.settings.name, &src, if full { &empty } else { &st }, tier_property.as_deref(), b.settings.quarantine_after, once);
        let known = src.records.iter().filter(|r| st.records.contains_key(&r.key)).count();
        if !opts.force && !opts.dry_run && known > 0 {
            let share = plan.tier_changes as f64 / known as f64;
            if share > cfg.max_tier_change_share {
                return Err(Error::Usage(format!(
                    "destination `{}`: {} of {known} records ({:.0}%) would change tier at once (limit `sync.max_tier_change_share`: {:.0}%): \
                     that looks like a broken upstream export, not a changed customer base; check the scores, then pass --force to send",
                    b.settings.name,
                    plan.tier_changes,
                    100.0 * share,
                    100.0 * cfg.max_tier_change_share
                )));
            }
        }
        plans.push(plan.clone());
        work.push((b.clone(), src, send, plan.unchanged, doubts));
    }
    if opts.dry_run {
        return Ok(Done::Plans(plans));
    }
    let mut reports = Vec::new();
    for (b, src, send, unchanged, doubts) in work {
        healthcheck(&b).await?;
        let stage = crate::log::Stage::start("sync");
        let r = deliver(&b, out, &src, send, unchanged, &doubts).await?;
        stage.done(&format!(
            "{}: {} records, {} unchanged, {} sent, {} acknowledged, {} rejected, {} requests ({} retried){}",
            r.destination,
            r.counts.records,
            r.counts.unchanged,
            r.counts.sent,
            r.counts.acknowledged,
            r.counts.rejected,
            r.counts.requests,
            r.counts.retried,
            if r.counts.not_delivered > 0 { format!(", {} not delivered", r.counts.not_delivered) } else { String::new() }
        ));
        let stop = r.daily_limit.is_some() || r.fatal.is_some() || r.misconfigured.is_some();
        reports.push(r);
        if stop {
            break;
        }
    }
    write_tables(out, as_of, &reports).await?;
    Ok(Done::Synced(reports))
}

/// The state as stored, without folding or writing (a dry run changes nothing).
async fn peek_state(out: &Output, name: &str) -> Result<state::State> {
    let dir = out.root.child(&format!("_sync/{name}/"));
    let mut st: state::State = match dir.child("state.json").get().await? {
        Some(b) => serde_json::from_slice(&b).map_err(|e| Error::other("sync state", e))?,
        None => state::State::default(),
    };
    let acks = dir.child("acks/");
    for (p, _) in acks.list().await? {
        if let Some(b) = acks.at(&p).get().await? {
            let acked: BTreeMap<String, Values> = serde_json::from_slice(&b).map_err(|e| Error::other("sync ack", e))?;
            st.records.extend(acked);
        }
    }
    Ok(st)
}

/// `sync_log` (one row per destination) and `sync_rejections` (one per record), partitioned by run.
async fn write_tables(out: &Output, as_of: chrono::NaiveDate, reports: &[Report]) -> Result<()> {
    let d = crate::dates::day(as_of);
    let drift = |r: &Report| -> Option<String> {
        (!r.merged.is_empty()).then(|| {
            let pairs: Vec<String> = r.merged.iter().take(20).map(|(a, b)| format!("{a} → {b}")).collect();
            format!("{} records were merged in the CRM; their key now names another record (update the key upstream): {}", r.merged.len(), pairs.join(", "))
        })
    };
    let log: Vec<sync_log::Row> = reports
        .iter()
        .map(|r| sync_log::Row {
            destination: r.destination.clone(),
            started_at: r.started_at.clone(),
            finished_at: r.finished_at.clone(),
            status: r.status.clone(),
            counts: r.counts.clone(),
            message: r.misconfigured.clone().or(r.daily_limit.clone()).or(r.fatal.clone()).or(drift(r)),
        })
        .collect();
    let (lt, rt) = (&sync_log::TABLE, &sync_rejections::TABLE);
    let mut staged = vec![out.stage(lt.name, &lt.partition(&out.run_id), &lt.schema(), &[sync_log::batch(&out.run_id, d, &log)?]).await?];
    let rej: Vec<sync_rejections::Row> = reports
        .iter()
        .flat_map(|r| {
            r.rejections.iter().map(move |x| sync_rejections::Row {
                destination: r.destination.clone(),
                account_id: x.account_id.clone(),
                record_key: x.key.clone(),
                code: x.code.clone(),
                field: x.field.clone(),
                message: x.message.clone(),
                quarantined: x.quarantined,
            })
        })
        .collect();
    if !rej.is_empty() {
        staged.push(out.stage(rt.name, &rt.partition(&out.run_id), &rt.schema(), &[sync_rejections::batch(&out.run_id, d, &rej)?]).await?);
    }
    out.publish(staged).await.map(|_| ())
}

/// The exit an outcome deserves: a wrong setup 2, daily limit 4, undelivered
/// or fatal 1, rejections 3.
pub fn verdict(reports: &[Report]) -> Result<()> {
    if let Some(r) = reports.iter().find(|r| r.misconfigured.is_some()) {
        return Err(Error::Usage(format!("destination `{}`: {}; state is saved", r.destination, r.misconfigured.clone().unwrap_or_default())));
    }
    if let Some(r) = reports.iter().find(|r| r.daily_limit.is_some()) {
        return Err(Error::DailyLimit(format!(
            "destination `{}`: {}; state is saved, {} records wait for the next run",
            r.destination,
            r.daily_limit.clone().unwrap_or_default(),
            r.counts.not_delivered
        )));
    }
    if let Some(r) = reports.iter().find(|r| r.fatal.is_some()) {
        return Err(Error::other(format!("destination `{}`", r.destination), anyhow::anyhow!(r.fatal.clone().unwrap_or_default())));
    }
    if let Some(r) = reports.iter().find(|r| r.counts.not_delivered > 0) {
        return Err(Error::other(
            format!("destination `{}`", r.destination),
            anyhow::anyhow!("{} records were not delivered after retries; state is saved, rerun to resume", r.counts.not_delivered),
        ));
    }
    let rejected: usize = reports.iter().map(|r| r.counts.rejected).sum();
    if rejected > 0 {
        return Err(Error::Rejected(format!("{rejected} records were rejected by the CRM; see the `sync_rejections` table (they are retried next run)")));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(key: &str, tier: &str, health: f64) -> Record {
        let values = [("hs_tier".to_string(), Value::Text(tier.into())), ("hs_health".to_string(), Value::Num(health))].into();
        Record { account_id: format!("acc_{key}"), key: key.into(), values, link: None }
    }

    fn source(records: Vec<Record>) -> Source {
        Source { as_of: chrono::NaiveDate::from_ymd_opt(2026, 11, 1).unwrap(), records, skipped_no_key: 2, duplicate_keys: vec![] }
    }

    #[test]
    fn the_plan_sends_what_is_new_or_changed_and_counts_tier_changes() {
        let mut st = state::State::default();
        st.records.insert("1".into(), record("1", "green", 80.0).texts());
        st.records.insert("2".into(), record("2", "green", 80.0).texts());
        st.records.insert("3".into(), record("3", "red", 30.0).texts());
        let src = source(vec![record("1", "green", 80.0), record("2", "red", 35.5), record("3", "red", 31.0), record("4", "yellow", 60.0)]);
        let (p, send) = plan("hs", &src, &st, Some("hs_tier"), 3, false);
        assert_eq!((p.records, p.new, p.changed, p.unchanged, p.tier_changes, p.skipped_no_key), (4, 1, 2, 1, 1, 2));
        assert_eq!(send.iter().map(|r| r.key.as_str()).collect::<Vec<_>>(), vec!["2", "3", "4"]);
        assert!(p.sample.contains(&("2".into(), "hs_health".into(), "80".into(), "35.5".into())), "{:?}", p.sample);
    }

    #[test]
    fn a_quarantined_record_is_not_sent_until_its_values_change() {
        let mut st = state::State::default();
        let r = record("1", "red", 20.0);
        st.failures.insert("1".into(), state::Failure { code: "OBJECT_NOT_FOUND".into(), message: "gone".into(), runs: 3, values: r.texts() });
        let (p, send) = plan("hs", &source(vec![r]), &st, None, 3, false);
        assert_eq!((p.quarantined, send.len()), (1, 0));
        let (p, send) = plan("hs", &source(vec![record("1", "red", 21.0)]), &st, None, 3, false);
        assert_eq!((p.quarantined, p.new, send.len()), (0, 1, 1), "new values end the quarantine");
        let (_, send) = plan("hs", &source(vec![record("1", "red", 20.0)]), &st, None, 4, false);
        assert_eq!(send.len(), 1, "below `quarantine_after` it is still sent");
    }

    #[test]
    fn values_are_compared_in_their_canonical_text() {
        assert_eq!(Value::Num(80.0).text(), "80");
        assert_eq!(Value::Num(0.12345).text(), "0.12345");
        assert_eq!(Value::Date(20_758).text(), "2026-11-01");
        assert_eq!(Value::Null.text(), "");
        assert_eq!(Value::Bool(true).text(), "true");
    }
}
