//! Salesforce (REST): what differs from the shared driver. Records are
//! written with the sObject Collections API, `PATCH
//! /services/data/vXX.X/composite/sobjects` (by record id) or
//! `…/composite/sobjects/<Object>/<ExternalIdField>` (upsert by external id),
//! up to 200 records, `allOrNone: false`, one result per record. Values keep
//! their JSON types (numbers as numbers, a cleared field as null). Larger runs
//! go through Bulk API 2.0 (`bulk`). Auth is a bearer token from the
//! environment or OAuth 2.0 client credentials, refreshed on
//! `INVALID_SESSION_ID`; `REQUEST_LIMIT_EXCEEDED` stops the run like a daily
//! limit.

pub mod bulk;

use std::time::Duration;

use serde_json::{Value as Json, json};

use std::collections::BTreeMap;

use super::{Destination, Outcome, Record, RecordResult, Request, Value};
use crate::output::tables::account_scores::{self, FieldKind};
use crate::output::tables::alerts;

/// Salesforce's half of a destination is its resolved config.
pub use crate::config::destination::SalesforceConfig as Salesforce;

impl Salesforce {
    pub fn data(&self, base: &str) -> String {
        format!("{base}/services/data/{}", self.api_version)
    }

    pub fn key_field(&self) -> &str {
        self.external_id.as_deref().unwrap_or("Id")
    }
}

pub fn typed(v: &Value) -> Json {
    match v {
        Value::Null => Json::Null,
        Value::Num(n) => json!(n),
        Value::Bool(b) => json!(b),
        other => Json::String(other.text()),
    }
}

fn first_error(v: &Json) -> (String, String, Option<String>) {
    let e = v.get("errors").and_then(|e| e.get(0)).cloned().unwrap_or(Json::Null);
    let code = e.get("statusCode").and_then(|c| c.as_str()).unwrap_or("ERROR").to_string();
    let msg = e.get("message").and_then(|c| c.as_str()).unwrap_or("").to_string();
    let field = e.pointer("/fields/0").and_then(|f| f.as_str()).map(String::from);
    (code, msg, field)
}

/// `[{"errorCode": …, "message": …}]`, Salesforce's request-level error.
pub fn error_code(body: &str) -> (String, String) {
    let v: Json = serde_json::from_str(body).unwrap_or(Json::Null);
    let e = v.get(0).cloned().unwrap_or(v);
    (
        e.get("errorCode").and_then(|c| c.as_str()).unwrap_or("").to_string(),
        e.get("message").and_then(|c| c.as_str()).unwrap_or("").to_string(),
    )
}

impl Destination for Salesforce {
    fn request(&self, base: &str, batch: &[Record]) -> Request {
        let records: Vec<Json> = batch
            .iter()
            .map(|r| {
                let mut m = serde_json::Map::new();
                m.insert("attributes".into(), json!({ "type": self.object }));
                m.insert(if self.external_id.is_some() { self.key_field().to_string() } else { "id".into() }, Json::String(r.key.clone()));
                for (k, v) in &r.values {
                    m.insert(k.clone(), typed(v));
                }
                Json::Object(m)
            })
            .collect();
        let url = match &self.external_id {
            Some(f) => format!("{}/composite/sobjects/{}/{f}", self.data(base), self.object),
            None => format!("{}/composite/sobjects", self.data(base)),
        };
        Request { method: reqwest::Method::PATCH, url, body: Some(json!({ "allOrNone": false, "records": records })) }
    }

    fn classify(&self, status: u16, retry_after: Option<Duration>, body: &str, batch: &[Record]) -> Outcome {
        /// Per-record failures that pass: retried in the run, never rejections.
        const TRANSIENT_RECORD_CODES: &[&str] = &["UNABLE_TO_LOCK_ROW", "SERVER_UNAVAILABLE", "REQUEST_RUNNING_TOO_LONG"];
        match status {
            200 | 201 => {
                let v: Json = serde_json::from_str(body).unwrap_or(Json::Null);
                let Some(arr) = v.as_array().filter(|a| a.len() == batch.len()) else {
                    return Outcome::Invalid { code: "UNEXPECTED_RESPONSE".into(), message: "the result list does not match the records sent".into() };
                };
                Outcome::PerRecord(
                    arr.iter()
                        .map(|r| {
                            if r.get("success").and_then(|s| s.as_bool()) == Some(true) {
                                RecordResult::Acked
                            } else {
                                let (code, message, field) = first_error(r);
                                if TRANSIENT_RECORD_CODES.contains(&code.as_str()) {
                                    RecordResult::Retry { code, message }
                                } else {
                                    RecordResult::Rejected { code, message, field }
                                }
                            }
                        })
                        .collect(),
                )
            }
            401 => match error_code(body) {
                (c, _) if c == "INVALID_SESSION_ID" => Outcome::Reauth,
                (c, m) => Outcome::Fatal(format!("Salesforce refused the token (401 {c}): {m}")),
            },
            403 => match error_code(body) {
                // too many concurrent long requests passes; the daily limit is for tomorrow
                (c, m) if c == "REQUEST_LIMIT_EXCEEDED" && m.contains("ConcurrentPerOrgLongTxn") => {
                    Outcome::Transient { retry_after: retry_after.or(Some(Duration::from_secs(2))), why: format!("{c}: {m}") }
                }
                (c, m) if c == "REQUEST_LIMIT_EXCEEDED" => Outcome::DailyLimit(format!("Salesforce's API request limit is reached: {m}")),
                (c, m) => Outcome::Fatal(format!("Salesforce refused the request (403 {c}): {m}")),
            },
            404 => Outcome::Fatal(format!("Salesforce has no `{}` here (404): check `object_type`, `api_version` and `base_url`", self.object)),
            429 => Outcome::Transient { retry_after, why: "429".into() },
            s if s >= 500 => Outcome::Transient { retry_after, why: format!("HTTP {s}") },
            _ => {
                let (code, message) = error_code(body);
                Outcome::Invalid { code: if code.is_empty() { format!("HTTP_{status}") } else { code }, message }
            }
        }
    }

    /// The object's basic information: what an integration user without
    /// "View Setup" (which `/limits` needs) can read, and what the sync needs.
    fn healthcheck(&self, base: &str) -> Option<Request> {
        Some(Request { method: reqwest::Method::GET, url: format!("{}/sobjects/{}", self.data(base), self.object), body: None })
    }

    /// Owners by email: one SOQL query for the active users with those emails.
    fn owners<'a>(&'a self, shared: &'a super::Shared, emails: &'a [String]) -> futures::future::BoxFuture<'a, crate::Result<Option<(&'static str, std::collections::HashMap<String, String>)>>> {
        Box::pin(async move {
            if self.object != "Task" {
                return Ok(None);
            }
            let list: Vec<String> = emails.iter().map(|e| format!("'{}'", e.replace('\\', "\\\\").replace('\'', "\\'"))).collect();
            let soql = format!("SELECT Id, Email FROM User WHERE IsActive = true AND Email IN ({})", list.join(", "));
            let q: String = url::form_urlencoded::byte_serialize(soql.as_bytes()).collect();
            let (st, body) = shared.call(reqwest::Method::GET, |b| format!("{}/query?q={q}", self.data(b)), None).await?;
            let mut ids = std::collections::HashMap::new();
            if !(200..300).contains(&st) {
                tracing::warn!("Salesforce user lookup returned HTTP {st}: Tasks are written with the integration user as owner");
                return Ok(Some(("OwnerId", ids)));
            }
            let v: Json = serde_json::from_str(&body).unwrap_or(Json::Null);
            for r in v.get("records").and_then(|r| r.as_array()).into_iter().flatten() {
                if let (Some(id), Some(email)) = (r.get("Id").and_then(|x| x.as_str()), r.get("Email").and_then(|x| x.as_str())) {
                    ids.insert(email.to_lowercase(), id.to_string());
                }
            }
            Ok(Some(("OwnerId", ids)))
        })
    }

    /// A Task on the account (`WhatId`), upserted by the alert id.
    fn alert(&self, a: &alerts::Delivery, due: i32) -> BTreeMap<String, Value> {
        let priority = match a.severity.as_str() {
            "critical" | "high" => "High",
            "medium" => "Normal",
            _ => "Low",
        };
        [
            ("Subject", Value::Text(super::subject(a))),
            ("Description", Value::Text(format!("{}\n\nNext step: {}", a.message, a.action))),
            ("ActivityDate", Value::Date(due)),
            ("Priority", Value::Text(priority.into())),
            ("Status", Value::Text("Not Started".into())),
            ("WhatId", Value::Text(a.crm_id.clone().unwrap_or_default())),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v))
        .collect()
    }

    fn setup<'a>(&'a self, shared: &'a super::Shared, fields: &'a [(String, String)]) -> futures::future::BoxFuture<'a, crate::Result<Vec<String>>> {
        Box::pin(setup(self, shared, fields))
    }

    fn use_bulk(&self, changed: usize) -> bool {
        self.bulk_threshold.is_some_and(|t| changed > t)
    }

    fn bulk<'a>(&'a self, shared: &'a std::sync::Arc<super::Shared>, st: &'a mut super::state::State, send: Vec<Record>) -> futures::future::BoxFuture<'a, Result<(), super::Stop>> {
        Box::pin(bulk::run(self, shared, st, send))
    }
}

/// The Salesforce field type to create for a result column.
pub fn field_type(column: &str) -> &'static str {
    match account_scores::field_kind(column) {
        FieldKind::Number => "Number(18, 4)",
        FieldKind::Day => "Date",
        FieldKind::Flag => "Checkbox",
        FieldKind::Tier => "Picklist (red, yellow, green)",
        FieldKind::Sentences => "Long Text Area(32768)",
        FieldKind::Text => "Text(255)",
    }
}

/// `sync --setup`: lists the mapped fields the object lacks, with the type to create.
/// Every request goes through the driver's rate limit and retries.
async fn setup(s: &Salesforce, shared: &super::Shared, fields: &[(String, String)]) -> crate::Result<Vec<String>> {
    use crate::error::Error;
    let (status, body) = shared.call(reqwest::Method::GET, |base| format!("{}/sobjects/{}/describe", s.data(base), s.object), None).await?;
    if !(200..300).contains(&status) {
        return Err(Error::Usage(format!("Salesforce setup: describing `{}` returned HTTP {status}: {}", s.object, body.chars().take(300).collect::<String>())));
    }
    let v: Json = serde_json::from_str(&body).map_err(|e| Error::other("Salesforce setup: the describe answer", e))?;
    let have: Vec<String> = v["fields"].as_array().cloned().unwrap_or_default().iter().filter_map(|f| f["name"].as_str().map(|n| n.to_ascii_lowercase())).collect();
    let mut report = Vec::new();
    let mut missing = Vec::new();
    for (column, field) in fields.iter().map(|(c, f)| (c.as_str(), f.as_str())).chain(s.external_id.as_deref().map(|f| (account_scores::ACCOUNT_ID, f))) {
        if have.contains(&field.to_ascii_lowercase()) {
            report.push(format!("field `{}.{field}` exists", s.object));
        } else {
            missing.push(format!("create custom field `{}.{field}` of type {} (for `{column}`)", s.object, field_type(column)));
        }
    }
    if !missing.is_empty() {
        return Err(Error::Usage(format!("Salesforce setup: {} field(s) missing:\n  - {}", missing.len(), missing.join("\n  - "))));
    }
    Ok(report)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn salesforce() -> Salesforce {
        Salesforce { object: "Account".into(), api_version: "v61.0".into(), external_id: None, bulk_threshold: Some(1000), bulk_timeout: Duration::from_secs(60) }
    }

    fn records(keys: &[&str]) -> Vec<Record> {
        keys.iter().map(|k| Record { account_id: format!("acc_{k}"), key: k.to_string(), values: Default::default(), link: None }).collect()
    }

    #[test]
    fn composite_results_are_read_per_record_and_row_locks_are_retried() {
        let batch = records(&["001A", "001B", "001C"]);
        let body = json!([
            {"id": "001A", "success": true, "errors": []},
            {"success": false, "errors": [{"statusCode": "FIELD_CUSTOM_VALIDATION_EXCEPTION", "message": "no", "fields": ["Tier__c"]}]},
            {"success": false, "errors": [{"statusCode": "UNABLE_TO_LOCK_ROW", "message": "locked"}]}
        ]);
        let Outcome::PerRecord(r) = salesforce().classify(200, None, &body.to_string(), &batch) else { panic!() };
        assert!(matches!(r[0], RecordResult::Acked));
        assert!(matches!(&r[1], RecordResult::Rejected { field: Some(f), .. } if f == "Tier__c"));
        assert!(matches!(&r[2], RecordResult::Retry { code, .. } if code == "UNABLE_TO_LOCK_ROW"));
        // a result list that does not match the records sent confirms nothing
        assert!(matches!(salesforce().classify(200, None, "[]", &batch), Outcome::Invalid { .. }));
    }

    #[test]
    fn an_expired_session_reauthenticates_and_the_daily_limit_is_told_from_the_concurrent_one() {
        let sf = salesforce();
        assert!(matches!(sf.classify(401, None, r#"[{"errorCode":"INVALID_SESSION_ID","message":"expired"}]"#, &[]), Outcome::Reauth));
        assert!(matches!(sf.classify(401, None, r#"[{"errorCode":"INVALID_AUTH_HEADER","message":"x"}]"#, &[]), Outcome::Fatal(_)));
        let daily = r#"[{"errorCode":"REQUEST_LIMIT_EXCEEDED","message":"TotalRequests Limit exceeded."}]"#;
        assert!(matches!(sf.classify(403, None, daily, &[]), Outcome::DailyLimit(_)));
        let busy = r#"[{"errorCode":"REQUEST_LIMIT_EXCEEDED","message":"ConcurrentPerOrgLongTxn Limit exceeded."}]"#;
        assert!(matches!(sf.classify(403, None, busy, &[]), Outcome::Transient { .. }));
        assert!(matches!(sf.classify(503, None, "", &[]), Outcome::Transient { .. }));
    }

    #[test]
    fn bulk_is_used_above_the_threshold_only() {
        let sf = salesforce();
        assert!(!sf.use_bulk(1000) && sf.use_bulk(1001));
        assert!(!Salesforce { bulk_threshold: None, ..salesforce() }.use_bulk(1_000_000));
    }
}
