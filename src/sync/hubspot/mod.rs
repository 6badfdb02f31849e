//! HubSpot (CRM objects API, companies by default): what differs from the
//! shared driver — request bodies, reading 200/207/4xx/429 answers, the
//! healthcheck and `--setup` of the property group and custom properties.
//!
//! Every property value is sent as a JSON string (a cleared value is `""`,
//! never `null`). Records matched by record id use `batch/update`; by a
//! unique property `batch/update` with `idProperty`, or `batch/upsert` when
//! `create_missing` allows creating records. Paths follow `api_version`:
//! `v3` → `/crm/v3/objects/…`, a dated version such as `2026-03` →
//! `/crm/objects/2026-03/…`.

use std::time::Duration;

use serde_json::{Value as Json, json};

use super::{Destination, Outcome, Record, RecordResult, Request};
use crate::config::raw::RawDestination;

pub struct HubSpot {
    object_type: String,
    api_version: String,
    id_property: Option<String>,
    upsert: bool,
    pub group: String,
}

impl HubSpot {
    pub fn new(d: &RawDestination) -> Result<HubSpot, String> {
        let id_property = match d.match_.by.as_str() {
            "record_id" => None,
            "unique_property" => Some(d.match_.property.clone().ok_or("`match.property` names the unique property to match on")?),
            other => return Err(format!("`match.by: {other}`: HubSpot matches by `record_id` or `unique_property`")),
        };
        let upsert = d.create_missing.unwrap_or(false);
        if upsert && id_property.is_none() {
            return Err("`create_missing` needs `match.by: unique_property` (HubSpot creates records by a unique property)".into());
        }
        let api_version = d.api_version.clone().unwrap_or_else(|| "v3".into());
        let dated = api_version.len() == 7 && api_version.as_bytes()[4] == b'-';
        if api_version != "v3" && !dated {
            return Err(format!("`api_version: {api_version}`: use v3 or a dated version such as 2026-03"));
        }
        Ok(HubSpot {
            object_type: d.object_type.clone().unwrap_or_else(|| "companies".into()),
            api_version,
            id_property,
            upsert,
            group: d.property_group.clone().unwrap_or_else(|| "healthscore".into()),
        })
    }

    pub fn objects(&self, base: &str) -> String {
        if self.api_version == "v3" {
            format!("{base}/crm/v3/objects/{}", self.object_type)
        } else {
            format!("{base}/crm/objects/{}/{}", self.api_version, self.object_type)
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

fn text(v: &Json, k: &str) -> String {
    v.get(k).and_then(|x| x.as_str()).unwrap_or("").to_string()
}

impl Destination for HubSpot {
    fn max_batch(&self) -> usize {
        100
    }

    fn request(&self, base: &str, batch: &[Record]) -> Request {
        let inputs: Vec<Json> = batch
            .iter()
            .map(|r| {
                let props: serde_json::Map<String, Json> = r.values.iter().map(|(k, v)| (k.clone(), Json::String(v.text()))).collect();
                let mut input = json!({ "id": r.key, "properties": props });
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
            200 | 201 => Outcome::PerRecord(vec![RecordResult::Acked; batch.len()]),
            207 => {
                let mut results = vec![RecordResult::Acked; batch.len()];
                for e in parsed.get("errors").and_then(|e| e.as_array()).cloned().unwrap_or_default() {
                    let ids: Vec<String> = e
                        .pointer("/context/ids")
                        .and_then(|v| v.as_array())
                        .map(|a| a.iter().filter_map(|x| x.as_str().map(String::from)).collect())
                        .unwrap_or_default();
                    if ids.is_empty() {
                        // an error we cannot pin to a record: split the batch to find it
                        return Outcome::Invalid { code: text(&e, "category"), message: text(&e, "message") };
                    }
                    let field = e.pointer("/context/propertyName/0").and_then(|v| v.as_str()).map(String::from);
                    for (i, r) in batch.iter().enumerate() {
                        if ids.contains(&r.key) {
                            results[i] = RecordResult::Rejected { code: text(&e, "category"), message: text(&e, "message"), field: field.clone() };
                        }
                    }
                }
                Outcome::PerRecord(results)
            }
            401 => Outcome::Fatal("HubSpot refused the token (401 Unauthorized)".into()),
            403 => Outcome::Fatal(format!("HubSpot refused the request (403): {}", text(&parsed, "message"))),
            404 => Outcome::Fatal(format!("HubSpot has no `{}` objects here (404): check `object_type` and `api_version`", self.object_type)),
            423 => Outcome::Transient { retry_after: Some(retry_after.unwrap_or_default().max(Duration::from_secs(2))), why: "423 Locked".into() },
            429 if text(&parsed, "policyName").eq_ignore_ascii_case("DAILY") => {
                Outcome::DailyLimit(format!("HubSpot's daily API limit is reached: {}", text(&parsed, "message")))
            }
            429 => Outcome::Transient { retry_after, why: format!("429 {}", text(&parsed, "policyName")) },
            s if s >= 500 => Outcome::Transient { retry_after, why: format!("HTTP {s}") },
            _ => Outcome::Invalid {
                code: if text(&parsed, "category").is_empty() { format!("HTTP_{status}") } else { text(&parsed, "category") },
                message: if text(&parsed, "message").is_empty() { body.chars().take(300).collect() } else { text(&parsed, "message") },
            },
        }
    }

    fn healthcheck(&self, base: &str) -> Request {
        Request { method: reqwest::Method::GET, url: format!("{}?limit=1", self.objects(base)), body: None }
    }
}

/// HubSpot's property type for a result column.
pub fn property_type(column: &str) -> (&'static str, &'static str, Vec<&'static str>) {
    match column {
        "tier" | "model_tier" => ("enumeration", "select", vec!["red", "yellow", "green"]),
        "override_applied" => ("enumeration", "booleancheckbox", vec!["true", "false"]),
        "as_of" | "renewal_date" => ("date", "date", vec![]),
        "top_risk_reasons" | "top_positive_reasons" | "recommended_action" | "override_reason" => ("string", "textarea", vec![]),
        c if c.starts_with("p_") || c.starts_with("score_delta") || ["health_score", "model_health_score", "segment_percentile", "days_in_tier", "arr"].contains(&c) => {
            ("number", "number", vec![])
        }
        _ => ("string", "text", vec![]),
    }
}

fn label(property: &str) -> String {
    let s = property.replace('_', " ");
    let mut c = s.chars();
    c.next().map(|f| f.to_uppercase().collect::<String>() + c.as_str()).unwrap_or_default()
}

/// `sync --setup`: creates the property group and any missing property. Idempotent.
pub async fn setup(h: &HubSpot, client: &reqwest::Client, token: &str, base: &str, fields: &[(String, String)]) -> crate::Result<Vec<String>> {
    use crate::error::Error;
    let props = h.properties(base);
    let mut report = Vec::new();
    let get = |url: String| client.get(url).bearer_auth(token).send();
    let fail = |what: &str, s: reqwest::StatusCode, body: String| {
        Error::Usage(format!("HubSpot setup: {what} returned {s}: {}", body.chars().take(300).collect::<String>()))
    };
    let r = get(format!("{props}/groups/{}", h.group)).await.map_err(|e| Error::other("HubSpot setup", e.without_url()))?;
    if r.status().as_u16() == 404 {
        let r = client
            .post(format!("{props}/groups"))
            .bearer_auth(token)
            .json(&json!({ "name": h.group, "label": "Health score", "displayOrder": -1 }))
            .send()
            .await
            .map_err(|e| Error::other("HubSpot setup", e.without_url()))?;
        if !r.status().is_success() {
            let s = r.status();
            return Err(fail("creating the property group", s, r.text().await.unwrap_or_default()));
        }
        report.push(format!("created property group `{}`", h.group));
    } else if !r.status().is_success() {
        let s = r.status();
        return Err(fail("reading the property group", s, r.text().await.unwrap_or_default()));
    }
    for (column, property) in fields {
        let r = get(format!("{props}/{property}")).await.map_err(|e| Error::other("HubSpot setup", e.without_url()))?;
        let (ty, field_type, options) = property_type(column);
        match r.status().as_u16() {
            200 => {
                let existing: Json = r.json().await.unwrap_or_default();
                let have = text(&existing, "type");
                if !have.is_empty() && have != ty {
                    report.push(format!("property `{property}` exists with type `{have}`, but `{column}` needs `{ty}`: change it in HubSpot"));
                } else {
                    report.push(format!("property `{property}` exists"));
                }
            }
            404 => {
                let opts: Vec<Json> = options.iter().enumerate().map(|(i, o)| json!({ "label": label(o), "value": o, "displayOrder": i })).collect();
                let mut body = json!({ "name": property, "label": label(property), "groupName": h.group, "type": ty, "fieldType": field_type });
                if !opts.is_empty() {
                    body["options"] = Json::Array(opts);
                }
                let r = client.post(&props).bearer_auth(token).json(&body).send().await.map_err(|e| Error::other("HubSpot setup", e.without_url()))?;
                if !r.status().is_success() {
                    let s = r.status();
                    return Err(fail(&format!("creating property `{property}`"), s, r.text().await.unwrap_or_default()));
                }
                report.push(format!("created property `{property}` ({ty}/{field_type})"));
            }
            _ => {
                let s = r.status();
                return Err(fail(&format!("reading property `{property}`"), s, r.text().await.unwrap_or_default()));
            }
        }
    }
    Ok(report)
}
