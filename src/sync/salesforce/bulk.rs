//! Salesforce Bulk API 2.0 ingest, for runs above `bulk_threshold` records:
//! create a job → upload the CSV → `UploadComplete` → poll → read the
//! successful, failed and unprocessed results.
//!
//! The job id and the values uploaded are saved in the sync state before the
//! upload, so a run that dies after uploading polls its job on the next run
//! instead of uploading again. A job still `Open` (the upload may not have
//! finished) is aborted and the records are sent in a new one.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use serde_json::json;

use super::super::state::{BulkJob, State};
use super::super::{Body, Record, Shared};
use super::Salesforce;
use crate::config::raw::RawDestination;
use crate::error::{Error, Result};

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

fn check(step: &str, (status, body): (u16, String)) -> Result<String> {
    if (200..300).contains(&status) {
        Ok(body)
    } else {
        Err(Error::Usage(format!("Salesforce Bulk API: {step} returned {status}: {}", body.chars().take(300).collect::<String>())))
    }
}

pub(crate) async fn run(shared: &Arc<Shared>, raw: &RawDestination, st: &mut State, mut send: Vec<Record>) -> Result<()> {
    let sf = Salesforce::new(raw).map_err(Error::Config)?;
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
            let acked = finish(shared, &sf, &job).await?;
            // don't resend what that job delivered with the same values
            send.retain(|r| acked.get(&r.key) != Some(&r.texts()));
        }
        st.bulk_job = None;
        shared.store.save(st).await?;
    }
    if send.is_empty() {
        return Ok(());
    }
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
    check("uploading the CSV", shared.call(reqwest::Method::PUT, |b| format!("{}/jobs/ingest/{id}/batches", data(b)), Some(Body::Csv(csv(&sf, &send)))).await?)?;
    check(
        "closing the upload",
        shared.call(reqwest::Method::PATCH, |b| format!("{}/jobs/ingest/{id}", data(b)), Some(Body::Json(json!({ "state": "UploadComplete" })))).await?,
    )?;
    finish(shared, &sf, &job).await?;
    st.bulk_job = None;
    shared.store.save(st).await
}

/// Polls `job` to its end and records what it delivered and rejected.
async fn finish(shared: &Arc<Shared>, sf: &Salesforce, job: &BulkJob) -> Result<BTreeMap<String, super::super::state::Values>> {
    let data = |base: &str| sf.data(base);
    let id = &job.id;
    let mut wait = Duration::from_millis(200);
    loop {
        let body = check("polling the job", shared.call(reqwest::Method::GET, |b| format!("{}/jobs/ingest/{id}", data(b)), None).await?)?;
        let v: serde_json::Value = serde_json::from_str(&body).unwrap_or_default();
        match v["state"].as_str().unwrap_or("") {
            "JobComplete" | "Failed" | "Aborted" => break,
            _ => {
                tokio::time::sleep(wait).await;
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
        let r = Record { account_id: job.accounts.get(&k).cloned().unwrap_or_default(), key: k, values: Default::default() };
        shared.reject(&r, code, message, None);
    }
    let unprocessed = check("reading unprocessed records", shared.call(reqwest::Method::GET, |b| format!("{}/jobs/ingest/{id}/unprocessedrecords", data(b)), None).await?)?;
    let left = results(&unprocessed, key).len();
    shared.undelivered.fetch_add(left, std::sync::atomic::Ordering::SeqCst);
    shared.acked.fetch_add(acked.len(), std::sync::atomic::Ordering::SeqCst);
    shared.store.ack(&acked).await?;
    Ok(acked)
}
