//! A webhook (alerts only): a Slack-compatible incoming webhook
//! (`{"text": …}`, which Mattermost and Teams' workflows take too) or any
//! HTTP endpoint given the alerts' fields as JSON; one message per alert, or
//! with `digest` one per owner listing their alerts.
//!
//! Posting a message twice posts it twice: a webhook is not idempotent. Every
//! request is journalled before it is sent and never sent again once it went
//! unanswered (a timeout, a killed run): its alerts are reported `IN_DOUBT`
//! instead of risking a duplicate. An answer — 2xx, or an error such as
//! 429 or 5xx, which did not post — settles the journal. Each JSON message
//! carries the alert ids, and each request an `Idempotency-Key`-style id in
//! the body, so an endpoint that deduplicates can.

use std::collections::BTreeMap;
use std::time::Duration;

use serde_json::{Value as Json, json};

use super::{Destination, Outcome, Record, RecordResult, Request, Value};
use crate::output::tables::alerts;

/// The webhook's half of a destination is its resolved config.
pub use crate::config::destination::WebhookConfig as Webhook;

fn text(r: &Record, k: &str) -> String {
    r.values.get(k).map(|v| v.text()).unwrap_or_default()
}

/// One alert as a line a person reads in a channel.
fn line(r: &Record) -> String {
    format!("*{}* ({}, {} ARR) — {}\nNext step: {}", text(r, "subject"), text(r, "severity"), text(r, "arr"), text(r, "message"), text(r, "action"))
}

impl Destination for Webhook {
    fn request(&self, base: &str, batch: &[Record]) -> Request {
        let body = if self.slack {
            let text = match batch {
                [one] => line(one),
                many => {
                    let owner = text(&many[0], "owner");
                    let who = if owner.is_empty() { "accounts without an owner".to_string() } else { owner };
                    let mut t = format!("{} alerts for {who}:", many.len());
                    for r in many {
                        t.push_str("\n\n");
                        t.push_str(&line(r));
                    }
                    t
                }
            };
            json!({ "text": text })
        } else {
            let items: Vec<Json> = batch
                .iter()
                .map(|r| {
                    let mut m: serde_json::Map<String, Json> = r.values.iter().map(|(k, v)| (k.clone(), Json::String(v.text()))).collect();
                    m.insert(alerts::ALERT_ID.into(), Json::String(r.key.clone()));
                    Json::Object(m)
                })
                .collect();
            let id = batch.iter().map(|r| r.key.as_str()).collect::<Vec<_>>().join(",");
            json!({ "id": id, "alerts": items })
        };
        Request { method: reqwest::Method::POST, url: base.to_string(), body: Some(body) }
    }

    fn classify(&self, status: u16, retry_after: Option<Duration>, body: &str, batch: &[Record]) -> Outcome {
        let said: String = body.chars().take(200).collect();
        match status {
            200..=299 => Outcome::PerRecord(batch.iter().map(|_| RecordResult::Acked).collect()),
            429 => Outcome::Transient { retry_after, why: "429".into() },
            s if s >= 500 => Outcome::Transient { retry_after, why: format!("HTTP {s}") },
            // Slack: 403 invalid_token / action_prohibited, 404 no_service, 410 channel_is_archived
            401 | 403 | 404 | 410 => Outcome::Fatal(format!("the webhook refused the message (HTTP {status}: {said}): check the URL in its environment variable")),
            _ => Outcome::Invalid { code: format!("HTTP_{status}"), message: said },
        }
    }

    fn healthcheck(&self, _base: &str) -> Option<Request> {
        // a webhook has no read-only call: posting is its only verb
        None
    }

    fn setup<'a>(&'a self, _shared: &'a super::Shared, _fields: &'a [(String, String)]) -> futures::future::BoxFuture<'a, crate::Result<Vec<String>>> {
        Box::pin(async { Ok(vec!["a webhook needs no setup".to_string()]) })
    }

    fn idempotent(&self) -> bool {
        false
    }

    fn alert(&self, a: &alerts::Delivery, _due: i32) -> BTreeMap<String, Value> {
        let text = |s: &str| Value::Text(s.to_string());
        [
            ("subject", text(&super::subject(a))),
            ("account_id", text(&a.account_id)),
            ("playbook", text(&a.playbook)),
            ("severity", text(&a.severity)),
            ("route", text(&a.route)),
            ("owner", a.owner.as_deref().map(text).unwrap_or(Value::Null)),
            ("arr", text(&crate::features::render(crate::features::Unit::Currency, a.arr))),
            ("message", text(&a.message)),
            ("action", text(&a.action)),
            ("as_of", Value::Date(a.as_of)),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v))
        .collect()
    }

    /// A digest is one request per owner (split when it exceeds the batch
    /// size); otherwise one per alert.
    fn batches(&self, send: Vec<Record>, size: usize) -> Vec<Vec<Record>> {
        if !self.digest {
            return send.into_iter().map(|r| vec![r]).collect();
        }
        let mut by_owner: BTreeMap<String, Vec<Record>> = BTreeMap::new();
        for r in send {
            by_owner.entry(text(&r, "owner")).or_default().push(r);
        }
        by_owner.into_values().flat_map(|v| v.chunks(size).map(|c| c.to_vec()).collect::<Vec<_>>()).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rec(key: &str, owner: &str) -> Record {
        let values = [("owner".to_string(), Value::Text(owner.into())), ("subject".to_string(), Value::Text(format!("save play: {key}")))].into();
        Record { account_id: format!("acc_{key}"), key: key.into(), values, link: None }
    }

    #[test]
    fn a_digest_is_one_message_per_owner() {
        let w = Webhook { slack: true, digest: true };
        let b = w.batches(vec![rec("1", "ana@x"), rec("2", "bo@x"), rec("3", "ana@x")], 100);
        let keys: Vec<Vec<&str>> = b.iter().map(|v| v.iter().map(|r| r.key.as_str()).collect()).collect();
        assert_eq!(keys, vec![vec!["1", "3"], vec!["2"]]);
        let body = w.request("http://h", &b[0]).body.unwrap();
        assert!(body["text"].as_str().unwrap().starts_with("2 alerts for ana@x:"), "{body}");
        let single = Webhook { slack: true, digest: false };
        assert_eq!(single.batches(vec![rec("1", "a"), rec("2", "a")], 100).len(), 2);
    }

    #[test]
    fn errors_that_did_not_post_are_retried_and_a_revoked_url_stops() {
        let w = Webhook { slack: true, digest: false };
        assert!(matches!(w.classify(429, Some(Duration::from_secs(1)), "", &[]), Outcome::Transient { .. }));
        assert!(matches!(w.classify(503, None, "", &[]), Outcome::Transient { .. }));
        assert!(matches!(w.classify(404, None, "no_service", &[]), Outcome::Fatal(_)));
        assert!(matches!(w.classify(400, None, "invalid_payload", &[rec("1", "a")]), Outcome::Invalid { .. }));
        assert!(matches!(w.classify(200, None, "ok", &[rec("1", "a")]), Outcome::PerRecord(r) if r.len() == 1));
    }
}
