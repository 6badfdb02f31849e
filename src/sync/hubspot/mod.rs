//! HubSpot (CRM objects API, companies by default): what differs from the
//! shared driver — request bodies, reading 200/207/4xx/429 answers, the
//! healthcheck and `--setup` of the property group and custom properties.
//!
//! A record counts as written only when the answer's `results` show it:
//! every 2xx body is read (the dated API `2026-09` reports record errors
//! inside a 200), errors are matched to records by `context.ids` or the
//! `objectWriteTraceId` each input carries, and a record the answer does not
//! mention is never acknowledged.
//!
//! Every property value is sent as a JSON string (a cleared value is `""`,
//! never `null`). Records matched by record id use `batch/update`; by a
//! unique property `batch/update` with `idProperty`, or `batch/upsert` when
//! `create_missing` allows creating records. Paths follow `api_version`:
//! `v3` → `/crm/v3/objects/…`, a dated version such as `2026-03` →
//! `/crm/objects/2026-03/…`.

use std::time::Duration;

use serde_json::{Value as Json, json};

use std::collections::BTreeMap;

use super::{Destination, Outcome, Record, RecordResult, Request, Value};
use crate::output::tables::account_scores::{self, FieldKind};
use crate::output::tables::alerts;

/// HubSpot's half of a destination is its resolved config.
pub use crate::config::destination::HubSpotConfig as HubSpot;

impl HubSpot {
    pub fn objects(&self, base: &str) -> String {
        if self.api_version == "v3" {
            format!("{base}/crm/v3/objects/{}", self.object_type)
        } else {
            format!("{base}/crm/objects/{}/{}", self.api_version, self.object_type)
        }
    }

    /// The batch endpoint associating this object type's records with `to`'s
    /// by the default association: v4 beside `v3`, the dated path otherwise.
    pub fn associations(&self, base: &str, to: &str) -> String {
        if self.api_version == "v3" {
            format!("{base}/crm/v4/associations/{}/{to}/batch/associate/default", self.object_type)
        } else {
            format!("{base}/crm/associations/{}/{}/{to}/batch/associate/default", self.api_version, self.object_type)
        }
    }

    pub fn properties(&self, base: &str) -> String {
        if self.api_version == "v3" {
            format!("{base}/crm/v3/properties/{}", self.object_type)
        } else {
            format!("{base}/crm/properties/{}/{}", self.api_version, self.object_type)
        }
    }
}

/// The property a 400 says does not exist (`PROPERTY_DOESNT_EXIST`, or the
/// message `Property "x" does not exist`): an error about the request.
fn missing_property(v: &Json) -> Option<String> {
    let message = text(v, "message");
    // HubSpot lists the invalid properties as JSON inside the message
    if let Some((_, rest)) = message.split_once(": [") {
        if let Ok(Json::Array(items)) = serde_json::from_str::<Json>(&format!("[{rest}")) {
            if let Some(i) = items.iter().find(|i| text(i, "error") == "PROPERTY_DOESNT_EXIST") {
                return Some(text(i, "name"));
            }
        }
    }
    let after = message.split("Property \"").nth(1)?;
    let (name, rest) = after.split_once('"')?;
    rest.trim_start().starts_with("does not exist").then(|| name.to_string())
}

fn text(v: &Json, k: &str) -> String {
    v.get(k).and_then(|x| x.as_str()).unwrap_or("").to_string()
}

impl HubSpot {
    /// What a 2xx body says of each record. A record is acknowledged only
    /// when `results` shows it written; an error is matched to its record by
    /// `context.ids` or `context.objectWriteTraceId`. An error that matches no
    /// record, or fewer listed errors than `numErrors`, leaves the whole
    /// batch unknown (`Invalid`: the driver bisects it; nothing is acked).
    fn per_record(&self, parsed: &Json, batch: &[Record]) -> Outcome {
        let mut results: Vec<Option<RecordResult>> = vec![None; batch.len()];
        let errors = parsed.get("errors").and_then(|e| e.as_array()).cloned().unwrap_or_default();
        let num_errors = parsed.get("numErrors").and_then(|n| n.as_u64()).unwrap_or(errors.len() as u64) as usize;
        if num_errors > errors.len() {
            return Outcome::Invalid {
                code: "UNLISTED_ERRORS".into(),
                message: format!("HubSpot reported {num_errors} errors but listed {}", errors.len()),
            };
        }
        for e in &errors {
            let context = |k: &str| -> Vec<String> {
                e.pointer(&format!("/context/{k}")).and_then(|v| v.as_array()).map(|a| a.iter().filter_map(|x| x.as_str().map(String::from)).collect()).unwrap_or_default()
            };
            let keys: Vec<String> = context("ids").into_iter().chain(context("objectWriteTraceId")).collect();
            let hit: Vec<usize> = batch.iter().enumerate().filter(|(_, r)| keys.contains(&r.key)).map(|(i, _)| i).collect();
            if hit.is_empty() {
                // an error we cannot pin to a record: split the batch to find it
                return Outcome::Invalid { code: text(e, "category"), message: text(e, "message") };
            }
            let field = e.pointer("/context/propertyName/0").and_then(|v| v.as_str()).map(String::from);
            for i in hit {
                results[i] = Some(RecordResult::Rejected { code: text(e, "category"), message: text(e, "message"), field: field.clone() });
            }
        }
        // written: `results[].id` is the record id; matched by a unique
        // property, `results[].properties[idProperty]` is the key
        let written: Vec<&Json> = parsed.get("results").and_then(|r| r.as_array()).map(|a| a.iter().collect()).unwrap_or_default();
        let key_of = |w: &Json| -> Option<String> {
            match &self.id_property {
                Some(p) => w.pointer(&format!("/properties/{p}")).and_then(|v| v.as_str()).map(String::from),
                None => w.get("id").and_then(|v| v.as_str()).map(String::from),
            }
        };
        let written_keys: std::collections::HashSet<String> = written.iter().filter_map(|w| key_of(w)).collect();
        for (i, r) in batch.iter().enumerate() {
            if results[i].is_none() && written_keys.contains(&r.key) {
                results[i] = Some(RecordResult::Acked);
            }
        }
        // a merged record: the write to a merged-away id lands on the record
        // that survived, and `results` carry the survivor's id. Only one such
        // pair can be matched with certainty.
        let open: Vec<usize> = (0..batch.len()).filter(|i| results[*i].is_none()).collect();
        if self.id_property.is_none() && open.len() == 1 {
            let sent: std::collections::HashSet<&str> = batch.iter().map(|r| r.key.as_str()).collect();
            let foreign: Vec<String> = written.iter().filter_map(|w| key_of(w)).filter(|k| !sent.contains(k.as_str())).collect();
            if let [survivor] = foreign.as_slice() {
                results[open[0]] = Some(RecordResult::AckedAs(survivor.clone()));
            }
        }
        // a unique property HubSpot did not echo: only the count can vouch
        // for the rest, and only when it covers every one of them
        let open: Vec<usize> = (0..batch.len()).filter(|i| results[*i].is_none()).collect();
        let unkeyed = written.iter().filter(|w| key_of(w).is_none()).count();
        if self.id_property.is_some() && !open.is_empty() && unkeyed >= open.len() {
            for i in &open {
                results[*i] = Some(RecordResult::Acked);
            }
        }
        Outcome::PerRecord(
            results.into_iter().map(|r| r.unwrap_or_else(|| RecordResult::Unconfirmed("absent from the answer's `results` and `errors`".into()))).collect(),
        )
    }
}

impl Destination for HubSpot {
    fn request(&self, base: &str, batch: &[Record]) -> Request {
        let inputs: Vec<Json> = batch
            .iter()
            .map(|r| {
                let props: serde_json::Map<String, Json> = r.values.iter().map(|(k, v)| (k.clone(), Json::String(v.text()))).collect();
                // the trace id maps an error back to its input exactly
                let mut input = json!({ "id": r.key, "properties": props, "objectWriteTraceId": r.key });
                if let Some(p) = &self.id_property {
                    input["idProperty"] = Json::String(p.clone());
                }
                input
            })
            .collect();
        let op = if self.upsert { "upsert" } else { "update" };
        Request { method: reqwest::Method::POST, url: format!("{}/batch/{op}", self.objects(base)), body: Some(json!({ "inputs": inputs })) }
    }

    fn classify(&self, status: u16, retry_after: Option<Duration>, body: &str, batch: &[Record]) -> Outcome {
        let parsed: Json = serde_json::from_str(body).unwrap_or(Json::Null);
        match status {
            // v3 and 2026-03 answer partial failures with 207; 2026-09 with a
            // 200 that carries `errors` and `numErrors`: read the body of
            // every 2xx the same way
            200 | 201 | 207 => self.per_record(&parsed, batch),
            401 => Outcome::Fatal("HubSpot refused the token (401 Unauthorized)".into()),
            403 => Outcome::Fatal(format!("HubSpot refused the request (403): {}", text(&parsed, "message"))),
            404 => Outcome::Fatal(format!("HubSpot has no `{}` objects here (404): check `object_type` and `api_version`", self.object_type)),
            423 => Outcome::Transient { retry_after: Some(retry_after.unwrap_or_default().max(Duration::from_secs(2))), why: "423 Locked".into() },
            429 if text(&parsed, "policyName").eq_ignore_ascii_case("DAILY") => {
                Outcome::DailyLimit(format!("HubSpot's daily API limit is reached: {}", text(&parsed, "message")))
            }
            429 => Outcome::Transient { retry_after, why: format!("429 {}", text(&parsed, "policyName")) },
            s if s >= 500 => Outcome::Transient { retry_after, why: format!("HTTP {s}") },
            400 if missing_property(&parsed).is_some() => {
                let p = missing_property(&parsed).unwrap_or_default();
                Outcome::RequestError(format!(
                    "HubSpot has no property `{p}` on {}: every record would be refused — run `healthscore sync --setup` to create it, or fix `fields`",
                    self.object_type
                ))
            }
            _ => Outcome::Invalid {
                code: if text(&parsed, "category").is_empty() { format!("HTTP_{status}") } else { text(&parsed, "category") },
                message: if text(&parsed, "message").is_empty() { body.chars().take(300).collect() } else { text(&parsed, "message") },
            },
        }
    }

    fn healthcheck(&self, base: &str) -> Option<Request> {
        Some(Request { method: reqwest::Method::GET, url: format!("{}?limit=1", self.objects(base)), body: None })
    }

    /// A task for the account's record: subject, body (the message and the
    /// action), due date, priority by severity, to do.
    fn alert(&self, a: &alerts::Delivery, due: i32) -> BTreeMap<String, Value> {
        let priority = match a.severity.as_str() {
            "critical" | "high" => "HIGH",
            "medium" => "MEDIUM",
            _ => "LOW",
        };
        [
            ("hs_task_subject", Value::Text(super::subject(a))),
            ("hs_task_body", Value::Text(format!("{}\n\nNext step: {}", a.message, a.action))),
            ("hs_timestamp", Value::Text(format!("{}T09:00:00Z", crate::dates::date(due)))),
            ("hs_task_priority", Value::Text(priority.into())),
            ("hs_task_status", Value::Text("NOT_STARTED".into())),
            ("hs_task_type", Value::Text("TODO".into())),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v))
        .collect()
    }

    /// Owners by email, one `GET /crm/v3/owners?email=` each (a portal has few).
    fn owners<'a>(&'a self, shared: &'a super::Shared, emails: &'a [String]) -> futures::future::BoxFuture<'a, crate::Result<Option<(&'static str, std::collections::HashMap<String, String>)>>> {
        Box::pin(async move {
            if self.associate.is_none() {
                return Ok(None);
            }
            let mut ids = std::collections::HashMap::new();
            for e in emails {
                let q: String = url::form_urlencoded::byte_serialize(e.as_bytes()).collect();
                let (st, body) = shared.call(reqwest::Method::GET, |b| format!("{b}/crm/v3/owners?email={q}&limit=1"), None).await?;
                if !(200..300).contains(&st) {
                    tracing::warn!("HubSpot owners lookup returned HTTP {st}: tasks are written unassigned");
                    return Ok(Some(("hubspot_owner_id", ids)));
                }
                let v: Json = serde_json::from_str(&body).unwrap_or(Json::Null);
                if let Some(id) = v.pointer("/results/0/id").and_then(|i| i.as_str()) {
                    ids.insert(e.clone(), id.to_string());
                }
            }
            Ok(Some(("hubspot_owner_id", ids)))
        })
    }

    /// Tasks are upserted, then associated with their companies (v4's
    /// default association, which is idempotent): the task ids come from
    /// the upsert's `results`, matched back by the alert-id property.
    fn follow_up(&self, base: &str, batch: &[Record], body: &str) -> Option<std::result::Result<Request, String>> {
        let to = self.associate.as_ref()?;
        let p = self.id_property.as_ref()?;
        let ids = task_ids(body, p);
        let inputs: Option<Vec<Json>> = batch.iter().map(|r| Some(json!({ "from": { "id": ids.get(&r.key)? }, "to": { "id": r.link.as_ref()? } }))).collect();
        // a task whose id the answer does not give cannot be linked: not written yet
        let Some(inputs) = inputs else { return Some(Err(format!("the answer gives no task id for some of the {} alerts", batch.len()))) };
        Some(Ok(Request { method: reqwest::Method::POST, url: self.associations(base, to), body: Some(json!({ "inputs": inputs })) }))
    }

    fn followed_up(&self, batch: &[Record], body: &str, answer: &str) -> bool {
        let Some(p) = self.id_property.as_ref().filter(|_| self.associate.is_some()) else { return true };
        let ids = task_ids(body, p);
        let a: Json = serde_json::from_str(answer).unwrap_or(Json::Null);
        // v4 and the dated versions answer `fromObjectId` (a number or a string)
        let linked: std::collections::HashSet<String> = a
            .get("results")
            .and_then(|r| r.as_array())
            .map(|r| r.iter().filter_map(|x| x.get("fromObjectId")).map(|v| v.as_str().map(str::to_string).unwrap_or_else(|| v.to_string())).collect())
            .unwrap_or_default();
        batch.iter().all(|r| ids.get(&r.key).is_some_and(|id| linked.contains(id)))
    }

    fn setup<'a>(&'a self, shared: &'a super::Shared, fields: &'a [(String, String)]) -> futures::future::BoxFuture<'a, crate::Result<Vec<String>>> {
        Box::pin(setup(self, shared, fields))
    }
}

/// The task ids an upsert's answer gives, by the unique alert id property `p`.
fn task_ids(body: &str, p: &str) -> std::collections::HashMap<String, String> {
    let parsed: Json = serde_json::from_str(body).unwrap_or(Json::Null);
    parsed
        .get("results")
        .and_then(|r| r.as_array())
        .map(|a| a.iter().filter_map(|w| Some((w.pointer(&format!("/properties/{p}"))?.as_str()?.to_string(), w.get("id")?.as_str()?.to_string()))).collect())
        .unwrap_or_default()
}

/// HubSpot's property type (type, field type, options) for an
/// `account_scores` column.
pub fn property_type(column: &str) -> (&'static str, &'static str, Vec<&'static str>) {
    match account_scores::field_kind(column) {
        FieldKind::Tier => ("enumeration", "select", crate::domain::Tier::ALL.iter().map(|t| t.as_str()).collect()),
        // HubSpot's boolean properties are `bool` / `booleancheckbox`
        FieldKind::Flag => ("bool", "booleancheckbox", vec!["true", "false"]),
        FieldKind::Day => ("date", "date", vec![]),
        FieldKind::Number => ("number", "number", vec![]),
        FieldKind::Sentences => ("string", "textarea", vec![]),
        FieldKind::Text => ("string", "text", vec![]),
    }
}

fn label(property: &str) -> String {
    let s = property.replace('_', " ");
    let mut c = s.chars();
    c.next().map(|f| f.to_uppercase().collect::<String>() + c.as_str()).unwrap_or_default()
}

/// `sync --setup`: the property group and one property per mapped column,
/// created when missing and checked when present (type, field type and, for
/// an enumeration, its options: a missing option is added). Every request
/// goes through the driver's rate limit and retry policy, so a busy portal's
/// 429s and 5xx are waited out like the batches' are.
async fn setup(h: &HubSpot, shared: &super::Shared, fields: &[(String, String)]) -> crate::Result<Vec<String>> {
    use super::Body;
    use crate::error::Error;
    use reqwest::Method;
    let mut report = Vec::new();
    let fail = |what: &str, status: u16, body: &str| Error::Usage(format!("HubSpot setup: {what} returned HTTP {status}: {}", body.chars().take(300).collect::<String>()));
    let ok = |s: u16| (200..300).contains(&s);
    let (st, body) = shared.call(Method::GET, |b| format!("{}/groups/{}", h.properties(b), h.group), None).await?;
    if st == 404 {
        let group = json!({ "name": h.group, "label": "Health score", "displayOrder": -1 });
        let (st, body) = shared.call(Method::POST, |b| format!("{}/groups", h.properties(b)), Some(Body::Json(group))).await?;
        if !ok(st) {
            return Err(fail("creating the property group", st, &body));
        }
        report.push(format!("created property group `{}`", h.group));
    } else if !ok(st) {
        return Err(fail("reading the property group", st, &body));
    }
    // the property records are matched by is set up (and checked) too
    let mut wanted: Vec<(String, String)> = fields.to_vec();
    if let Some(p) = h.id_property.as_ref().filter(|p| !fields.iter().any(|(_, q)| q == *p)) {
        wanted.push(("account_id".into(), p.clone()));
    }
    for (column, property) in &wanted {
        let (ty, field_type, options) = property_type(column);
        let option = |i: usize, o: &str| json!({ "label": label(o), "value": o, "displayOrder": i, "hidden": false });
        let (st, body) = shared.call(Method::GET, |b| format!("{}/{property}", h.properties(b)), None).await?;
        match st {
            200 => {
                let existing: Json = serde_json::from_str(&body).unwrap_or_default();
                let (have, have_field) = (text(&existing, "type"), text(&existing, "fieldType"));
                if (!have.is_empty() && have != ty) || (!have_field.is_empty() && have_field != field_type) {
                    report.push(format!("property `{property}` exists as `{have}`/`{have_field}`, but `{column}` needs `{ty}`/`{field_type}`: change it in HubSpot"));
                    continue;
                }
                if h.id_property.as_deref() == Some(property.as_str()) && existing.get("hasUniqueValue").and_then(|v| v.as_bool()) != Some(true) {
                    report.push(format!(
                        "property `{property}` exists but is not unique (`hasUniqueValue`): records cannot be matched by it — create a unique property in HubSpot and point `match.property` at it"
                    ));
                    continue;
                }
                let present: Vec<String> = existing.get("options").and_then(|o| o.as_array()).map(|a| a.iter().map(|o| text(o, "value")).collect()).unwrap_or_default();
                let missing: Vec<&str> = options.iter().copied().filter(|o| !present.iter().any(|p| p == o)).collect();
                if missing.is_empty() {
                    report.push(format!("property `{property}` exists"));
                    continue;
                }
                let mut all: Vec<Json> = existing.get("options").and_then(|o| o.as_array()).cloned().unwrap_or_default();
                all.extend(missing.iter().enumerate().map(|(i, o)| option(present.len() + i, o)));
                let (st, body) = shared.call(Method::PATCH, |b| format!("{}/{property}", h.properties(b)), Some(Body::Json(json!({ "options": all })))).await?;
                if !ok(st) {
                    return Err(fail(&format!("adding options to `{property}`"), st, &body));
                }
                report.push(format!("property `{property}` exists; added the options {}", missing.join(", ")));
            }
            404 => {
                let mut create = json!({ "name": property, "label": label(property), "groupName": h.group, "type": ty, "fieldType": field_type });
                if !options.is_empty() {
                    create["options"] = Json::Array(options.iter().enumerate().map(|(i, o)| option(i, o)).collect());
                }
                if h.id_property.as_deref() == Some(property.as_str()) {
                    create["hasUniqueValue"] = Json::Bool(true);
                }
                let (st, body) = shared.call(Method::POST, |b| h.properties(b), Some(Body::Json(create))).await?;
                if !ok(st) {
                    return Err(fail(&format!("creating property `{property}`"), st, &body));
                }
                report.push(format!("created property `{property}` ({ty}/{field_type})"));
            }
            _ => return Err(fail(&format!("reading property `{property}`"), st, &body)),
        }
    }
    Ok(report)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_missing_property_is_read_from_hubspots_nested_message() {
        let body = json!({"status": "error", "category": "VALIDATION_ERROR", "message": "Property values were not valid: [{\"isValid\":false,\"message\":\"Property \\\"health_tier\\\" does not exist\",\"error\":\"PROPERTY_DOESNT_EXIST\",\"name\":\"health_tier\"}]"});
        assert_eq!(missing_property(&body).as_deref(), Some("health_tier"));
        let plain = json!({"message": "Property \"churn_risk\" does not exist"});
        assert_eq!(missing_property(&plain).as_deref(), Some("churn_risk"));
        // a bad value is about a record, not the request
        let value = json!({"message": "Property values were not valid: [{\"isValid\":false,\"message\":\"1.5 is not a valid option\",\"error\":\"INVALID_OPTION\",\"name\":\"health_tier\"}]"});
        assert_eq!(missing_property(&value), None);
    }

    fn hubspot() -> HubSpot {
        HubSpot { object_type: "companies".into(), api_version: "2026-09".into(), id_property: None, upsert: false, group: "healthscore".into(), associate: None }
    }

    fn records(keys: &[&str]) -> Vec<Record> {
        keys.iter().map(|k| Record { account_id: format!("acc_{k}"), key: k.to_string(), values: Default::default(), link: None }).collect()
    }

    #[test]
    fn a_200_with_errors_rejects_those_records_and_acknowledges_only_what_results_show() {
        let batch = records(&["1", "2", "3"]);
        let body = json!({
            "status": "COMPLETE",
            "results": [{"id": "1", "properties": {}}],
            "numErrors": 1,
            "errors": [{"category": "VALIDATION_ERROR", "message": "bad value", "context": {"ids": ["2"], "propertyName": ["hs_tier"]}}]
        });
        let Outcome::PerRecord(r) = hubspot().classify(200, None, &body.to_string(), &batch) else { panic!() };
        assert!(matches!(r[0], RecordResult::Acked));
        assert!(matches!(&r[1], RecordResult::Rejected { code, field: Some(f), .. } if code == "VALIDATION_ERROR" && f == "hs_tier"));
        assert!(matches!(r[2], RecordResult::Unconfirmed(_)), "absent from the answer: never acknowledged");
    }

    #[test]
    fn unlisted_errors_and_errors_naming_no_record_leave_the_batch_unknown() {
        let batch = records(&["1", "2"]);
        let more = json!({"results": [{"id": "1"}], "numErrors": 2, "errors": [{"category": "X", "message": "m", "context": {"ids": ["2"]}}]});
        assert!(matches!(hubspot().classify(207, None, &more.to_string(), &batch), Outcome::Invalid { code, .. } if code == "UNLISTED_ERRORS"));
        let stray = json!({"results": [], "errors": [{"category": "X", "message": "m", "context": {"ids": ["9"]}}]});
        assert!(matches!(hubspot().classify(207, None, &stray.to_string(), &batch), Outcome::Invalid { .. }));
    }

    #[test]
    fn limits_and_outages_are_transient_but_the_daily_limit_stops() {
        let h = hubspot();
        let wait = Some(Duration::from_secs(3));
        assert!(matches!(h.classify(429, wait, r#"{"policyName":"SECONDLY"}"#, &[]), Outcome::Transient { retry_after, .. } if retry_after == wait));
        assert!(matches!(h.classify(429, None, r#"{"policyName":"DAILY","message":"m"}"#, &[]), Outcome::DailyLimit(_)));
        assert!(matches!(h.classify(502, None, "", &[]), Outcome::Transient { .. }));
        assert!(matches!(h.classify(423, None, "", &[]), Outcome::Transient { retry_after: Some(d), .. } if d >= Duration::from_secs(2)));
        assert!(matches!(h.classify(401, None, "", &[]), Outcome::Fatal(_)));
    }

    #[test]
    fn tasks_are_linked_on_the_path_of_their_api_version_and_only_with_every_task_id() {
        let mut h = HubSpot { object_type: "tasks".into(), api_version: "v3".into(), id_property: Some("healthscore_alert_id".into()), upsert: true, group: "g".into(), associate: Some("companies".into()) };
        assert_eq!(h.associations("B", "companies"), "B/crm/v4/associations/tasks/companies/batch/associate/default");
        h.api_version = "2026-09".into();
        assert_eq!(h.associations("B", "companies"), "B/crm/associations/2026-09/tasks/companies/batch/associate/default");
        let mut batch = records(&["a1", "a2"]);
        for r in &mut batch {
            r.link = Some(format!("co-{}", r.key));
        }
        let both = json!({"results": [{"id": "91", "properties": {"healthscore_alert_id": "a1"}}, {"id": "92", "properties": {"healthscore_alert_id": "a2"}}]});
        let Some(Ok(req)) = h.follow_up("B", &batch, &both.to_string()) else { panic!() };
        assert_eq!(req.body.unwrap()["inputs"][1], json!({"from": {"id": "92"}, "to": {"id": "co-a2"}}));
        let one = json!({"results": [{"id": "91", "properties": {"healthscore_alert_id": "a1"}}, {"id": "92", "properties": {}}]});
        assert!(matches!(h.follow_up("B", &batch, &one.to_string()), Some(Err(_))), "a task without its id cannot be linked");
    }

    #[test]
    fn tasks_count_linked_only_when_the_association_answer_names_each() {
        let mut h = hubspot();
        h.id_property = Some("healthscore_alert_id".into());
        h.associate = Some("companies".into());
        let rec = |k: &str| crate::sync::Record { account_id: "a".into(), key: k.into(), values: Default::default(), link: Some("c1".into()) };
        let batch = [rec("al-1"), rec("al-2")];
        let upsert = r#"{"results":[{"id":"11","properties":{"healthscore_alert_id":"al-1"}},{"id":"12","properties":{"healthscore_alert_id":"al-2"}}]}"#;
        // numbers (the published v4 shape) and strings both name a task
        assert!(h.followed_up(&batch, upsert, r#"{"status":"COMPLETE","results":[{"fromObjectId":11,"toObjectId":1},{"fromObjectId":"12","toObjectId":"1"}]}"#));
        // a 2xx that links one of the two: neither is counted written
        assert!(!h.followed_up(&batch, upsert, r#"{"status":"COMPLETE","results":[{"fromObjectId":11,"toObjectId":1}],"numErrors":1,"errors":[{"status":"error"}]}"#));
        assert!(!h.followed_up(&batch, upsert, "not json"));
    }
}
