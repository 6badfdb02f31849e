//! Salesforce Bulk API 2.0 ingest, for runs above `bulk_threshold` records:
//! create a job → upload the CSV → `UploadComplete` → poll → read the
//! successful, failed and unprocessed results.
//!
//! The job id and the values uploaded are saved in the sync state before the
//! upload, so a run that dies after uploading polls its job on the next run
//! instead of uploading again. A job still `Open` (the upload may not have
//! finished) is aborted and the records are sent in a new one.
//!
//! Runs inside the shared driver: a failed step ends the destination's run
//! with a `sync_log` row and the state folded (`REQUEST_LIMIT_EXCEEDED` for
//! the day → exit 4; anything else → exit 1 with the job's `errorMessage`);
//! polling backs off up to 10 s and gives up at `bulk_timeout_seconds`
//! (default 3600), keeping the job in the state for the next run to read;
//! uploads above 100 MB of CSV are split into several jobs.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use serde_json::json;

use super::super::state::{BulkJob, State};
use super::super::{Body, Record, Shared, Stop};
use super::Salesforce;
use crate::error::Error;

fn csv_field(s: &str) -> String {
    if s.contains([',', '"', '\n', '\r']) { format!("\"{}\"", s.replace('"', "\"\"")) } else { s.to_string() }
}

fn csv(sf: &Salesforce, records: &[Record]) -> String {
    let props: Vec<String> = records.first().map(|r| r.values.keys().cloned().collect()).unwrap_or_default();
    let mut out = std::iter::once(sf.key_field().to_string()).chain(props.iter().cloned()).map(|h| csv_field(&h)).collect::<Vec<_>>().join(",");
    out.push('\n');
    for r in records {
        let mut row = vec![csv_field(&r.key)];
        for p in &props {
            // an empty cell leaves the field unchanged; #N/A clears it
            row.push(match r.values.get(p) {
                Some(super::super::Value::Null) | None => "#N/A".into(),
                Some(v) => csv_field(&v.text()),
            });
        }
        out.push_str(&row.join(","));
        out.push('\n');
    }
    out
}

/// Reads a results CSV into (key, sf__Error) rows.
fn results(text: &str, key_field: &str) -> Vec<(String, Option<String>)> {
    let mut rdr = csv::ReaderBuilder::new().has_headers(true).from_reader(text.as_bytes());
    let headers = rdr.headers().cloned().unwrap_or_default();
    let key = headers.iter().position(|h| h.eq_ignore_ascii_case(key_field));
    let err = headers.iter().position(|h| h == "sf__Error");
    rdr.records()
        .flatten()
        .filter_map(|r| Some((r.get(key?)?.to_string(), err.and_then(|e| r.get(e)).map(String::from))))
        .collect()
}

/// Salesforce's upload limit per job is 150 MB of base64; 100 MB of CSV stays under it.
const MAX_UPLOAD_BYTES: usize = 100 << 20;

fn check(step: &str, (status, body): (u16, String)) -> std::result::Result<String, Stop> {
    if (200..300).contains(&status) {
        return Ok(body);
    }
    let text: String = body.chars().take(300).collect();
    // the daily limit, not the concurrent-long-transaction one, is for tomorrow
    if body.contains("REQUEST_LIMIT_EXCEEDED") && !body.contains("ConcurrentPerOrgLongTxn") {
        return Err(Stop::Daily(format!("Salesforce's daily API limit is reached ({step}): {text}")));
    }
    Err(Stop::Failed(format!("Salesforce Bulk API: {step} returned {status}: {text}")))
}

pub(crate) async fn run(sf: &Salesforce, shared: &Arc<Shared>, st: &mut State, mut send: Vec<Record>) -> std::result::Result<(), Stop> {
    let deadline = sf.bulk_timeout;
    let data = |base: &str| sf.data(base);
    // A job from an interrupted run: read it back instead of uploading again.
    if let Some(job) = st.bulk_job.clone() {
        let body = check("reading the earlier job", shared.call(reqwest::Method::GET, |b| format!("{}/jobs/ingest/{}", data(b), job.id), None).await?)?;
        let state = serde_json::from_str::<serde_json::Value>(&body).unwrap_or_default()["state"].as_str().unwrap_or("").to_string();
        if state == "Open" {
            tracing::warn!("aborting Bulk API job {} left open by an interrupted run; its records are sent again", job.id);
            let _ = shared.call(reqwest::Method::PATCH, |b| format!("{}/jobs/ingest/{}", data(b), job.id), Some(Body::Json(json!({ "state": "Aborted" })))).await;
        } else {
            tracing::info!("reading Bulk API job {} from an interrupted run", job.id);
            let acked = finish(shared, sf, &job, deadline).await?;
            // don't resend what that job delivered with the same values
            send.retain(|r| acked.get(&r.key) != Some(&r.texts()));
        }
        st.bulk_job = None;
        shared.store.save(st).await?;
    }
    // jobs of at most MAX_UPLOAD_BYTES of CSV each, one after another
    let mut chunks: Vec<Vec<Record>> = Vec::new();
    let (mut chunk, mut bytes) = (Vec::new(), 0usize);
    for r in send {
        let b = csv(sf, std::slice::from_ref(&r)).len();
        if !chunk.is_empty() && bytes + b > MAX_UPLOAD_BYTES {
            chunks.push(std::mem::take(&mut chunk));
            bytes = 0;
        }
        bytes += b;
        chunk.push(r);
    }
    if !chunk.is_empty() {
        chunks.push(chunk);
    }
    for send in chunks {
        one_job(shared, sf, st, send, deadline).await?;
    }
    Ok(())
}

/// One job: create → save its id → upload → close → poll → results.
async fn one_job(shared: &Arc<Shared>, sf: &Salesforce, st: &mut State, send: Vec<Record>, deadline: Duration) -> std::result::Result<(), Stop> {
    let data = |base: &str| sf.data(base);
    let mut job = json!({ "object": sf.object, "contentType": "CSV", "lineEnding": "LF", "operation": if sf.external_id.is_some() { "upsert" } else { "update" } });
    if let Some(f) = &sf.external_id {
        job["externalIdFieldName"] = json!(f);
    }
    let created = check("creating the job", shared.call(reqwest::Method::POST, |b| format!("{}/jobs/ingest", data(b)), Some(Body::Json(job))).await?)?;
    let id = serde_json::from_str::<serde_json::Value>(&created).unwrap_or_default()["id"].as_str().map(String::from).ok_or_else(|| {
        Error::Usage("Salesforce Bulk API: the created job has no id".into())
    })?;
    let job = BulkJob {
        id: id.clone(),
        records: send.iter().map(|r| (r.key.clone(), r.texts())).collect(),
        accounts: send.iter().map(|r| (r.key.clone(), r.account_id.clone())).collect(),
    };
    st.bulk_job = Some(job.clone());
    shared.store.save(st).await?;
    check("uploading the CSV", shared.call(reqwest::Method::PUT, |b| format!("{}/jobs/ingest/{id}/batches", data(b)), Some(Body::Csv(csv(sf, &send)))).await?)?;
    check(
        "closing the upload",
        shared.call(reqwest::Method::PATCH, |b| format!("{}/jobs/ingest/{id}", data(b)), Some(Body::Json(json!({ "state": "UploadComplete" })))).await?,
    )?;
    if std::env::var(crate::output::FAULT_ENV).as_deref() == Ok("after_bulk_upload") {
        // tests: die between the upload and the poll, as a killed run would
        std::process::exit(137);
    }
    finish(shared, sf, &job, deadline).await?;
    st.bulk_job = None;
    shared.store.save(st).await?;
    Ok(())
}

/// Polls `job` to its end and records what it delivered and rejected.
async fn finish(shared: &Arc<Shared>, sf: &Salesforce, job: &BulkJob, deadline: Duration) -> std::result::Result<BTreeMap<String, super::super::state::Values>, Stop> {
    let data = |base: &str| sf.data(base);
    let id = &job.id;
    let mut wait = Duration::from_millis(200);
    let started = std::time::Instant::now();
    let mut failure = None;
    loop {
        let body = check("polling the job", shared.call(reqwest::Method::GET, |b| format!("{}/jobs/ingest/{id}", data(b)), None).await?)?;
        let v: serde_json::Value = serde_json::from_str(&body).unwrap_or_default();
        match v["state"].as_str().unwrap_or("") {
            "JobComplete" => break,
            s @ ("Failed" | "Aborted") => {
                failure = Some(format!("Salesforce Bulk API job {id} ended `{s}`: {}", v["errorMessage"].as_str().unwrap_or("no errorMessage")));
                break;
            }
            s => {
                if started.elapsed() >= deadline {
                    return Err(Stop::Failed(format!(
                        "Salesforce Bulk API job {id} is still `{s}` after {:.0} s (`bulk_timeout_seconds`): the state keeps it, the next run reads its results",
                        deadline.as_secs_f64()
                    )));
                }
                tokio::time::sleep(wait.min(deadline.saturating_sub(started.elapsed())).max(Duration::from_millis(10))).await;
                wait = (wait * 2).min(Duration::from_secs(10));
            }
        }
    }
    let key = sf.key_field();
    let ok = check("reading successful results", shared.call(reqwest::Method::GET, |b| format!("{}/jobs/ingest/{id}/successfulResults", data(b)), None).await?)?;
    let mut acked = BTreeMap::new();
    for (k, _) in results(&ok, key) {
        if let Some(v) = job.records.get(&k) {
            acked.insert(k, v.clone());
        }
    }
    let failed = check("reading failed results", shared.call(reqwest::Method::GET, |b| format!("{}/jobs/ingest/{id}/failedResults", data(b)), None).await?)?;
    for (k, err) in results(&failed, key) {
        let e = err.unwrap_or_default();
        let (code, message) = e.split_once(':').map(|(c, m)| (c.trim().to_string(), m.trim().to_string())).unwrap_or(("ERROR".into(), e.clone()));
        let r = Record { account_id: job.accounts.get(&k).cloned().unwrap_or_default(), key: k, values: Default::default(), link: None };
        shared.reject(&r, code, message, None);
    }
    let unprocessed = check("reading unprocessed records", shared.call(reqwest::Method::GET, |b| format!("{}/jobs/ingest/{id}/unprocessedrecords", data(b)), None).await?)?;
    let left = results(&unprocessed, key).len();
    shared.undelivered.fetch_add(left, std::sync::atomic::Ordering::SeqCst);
    shared.acked.fetch_add(acked.len(), std::sync::atomic::Ordering::SeqCst);
    shared.acked_keys.lock().unwrap().extend(acked.keys().cloned());
    shared.store.ack(&acked).await?;
    if let Some(f) = failure {
        // what a failed job did process is recorded above; the rest waits for the next run
        return Err(Stop::Failed(f));
    }
    Ok(acked)
}
