//! A CRM destination as the job uses it: `kind: hubspot | salesforce`
//! resolved into one typed value per CRM, every default applied and every
//! value checked (fields against `account_scores`' columns, the match, the
//! auth, the limits) when the config loads, before any work — so `run`
//! never publishes scores and then finds its destination misconfigured.

use std::time::Duration;

use super::raw::{RawDestination, RawMatch};
use crate::error::{Error, Result};

/// How the job authenticates to a destination: the names of the
/// environment variables holding the secrets, never the secrets.
#[derive(Debug, Clone, PartialEq)]
pub enum AuthConfig {
    /// A bearer token (a HubSpot private-app token, a Salesforce session).
    Token { env: String },
    /// OAuth 2.0 client credentials (Salesforce).
    ClientCredentials { token_url: String, id_env: String, secret_env: String },
    /// No credential but the URL itself, read from the environment (a webhook).
    UrlFromEnv { env: String },
    /// None at all (a webhook at a `base_url`).
    None,
}

/// What differs per CRM (or endpoint).
#[derive(Debug, Clone, PartialEq)]
pub enum Crm {
    HubSpot(HubSpotConfig),
    Salesforce(SalesforceConfig),
    /// A Slack-compatible incoming webhook or any HTTP endpoint (alerts only).
    Webhook(WebhookConfig),
}

#[derive(Debug, Clone, PartialEq)]
pub struct WebhookConfig {
    /// `{"text": …}` (Slack, Teams' and Mattermost's incoming webhooks) or
    /// the alerts' fields as JSON.
    pub slack: bool,
    /// One message per owner listing their alerts.
    pub digest: bool,
}

/// What a destination receives.
#[derive(Debug, Clone, PartialEq)]
pub enum Deliver {
    /// `account_scores` columns to CRM fields, diffed and resent on change.
    Scores,
    /// The playbooks' alerts that are to be sent, each at most once.
    Alerts(AlertDelivery),
}

#[derive(Debug, Clone, PartialEq)]
pub struct AlertDelivery {
    /// Only these routes; empty: all.
    pub routes: Vec<String>,
    /// A task is due this many days after `as_of`.
    pub due_in_days: u32,
}

#[derive(Debug, Clone, PartialEq)]
pub struct HubSpotConfig {
    pub object_type: String,
    /// `v3`, or a dated version such as `2026-03`.
    pub api_version: String,
    /// The unique property records are matched by (else by record id).
    pub id_property: Option<String>,
    /// Create missing records (`batch/upsert`).
    pub upsert: bool,
    /// The property group `--setup` creates properties in.
    pub group: String,
    /// Alerts: the object type each task is associated with (the account's
    /// record, `crm_id`), after it is written.
    pub associate: Option<String>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct SalesforceConfig {
    pub object: String,
    /// A REST version such as `v61.0`.
    pub api_version: String,
    /// The external id field records are upserted by (else by record id).
    pub external_id: Option<String>,
    /// Above this many changed records, Bulk API 2.0 instead of Composite.
    pub bulk_threshold: Option<usize>,
    /// How long to poll a Bulk job before leaving it for the next run.
    pub bulk_timeout: Duration,
}

impl Crm {
    pub fn kind(&self) -> &'static str {
        match self {
            Crm::HubSpot(_) => "hubspot",
            Crm::Salesforce(_) => "salesforce",
            Crm::Webhook(_) => "webhook",
        }
    }

    /// The most records one request may carry.
    pub fn max_batch(&self) -> usize {
        match self {
            Crm::HubSpot(_) => 100,
            Crm::Salesforce(_) => 200,
            // one message per alert; a digest is one per owner, whatever its size
            Crm::Webhook(w) => if w.digest { 100 } else { 1 },
        }
    }
}

/// One destination, resolved.
#[derive(Debug, Clone, PartialEq)]
pub struct Destination {
    pub name: String,
    /// The API's base URL; empty for Salesforce with OAuth (the token
    /// exchange names the instance).
    pub base_url: String,
    pub batch_size: usize,
    pub concurrency: usize,
    pub timeout: Duration,
    pub max_retries: u32,
    /// (requests, per seconds)
    pub rate: (u32, f64),
    /// `account_scores` column → CRM field, sorted by column.
    pub fields: Vec<(String, String)>,
    /// The `account_scores` column holding the match key.
    pub key_column: String,
    pub auth: AuthConfig,
    /// Runs in a row with one same rejection before a record is quarantined.
    pub quarantine_after: u32,
    /// Requests left today below which the run stops (exit 4).
    pub daily_reserve: u64,
    pub crm: Crm,
    pub deliver: Deliver,
    /// Whom acknowledgements come from (kind, base URL, `object_type` as
    /// written): a state recorded under another identity is not applied
    /// (see `sync::state::Store::load`).
    pub identity: String,
}

impl Destination {
    /// Resolves one `destinations[]` entry; `columns` are `account_scores`'.
    pub fn resolve(d: &RawDestination, columns: &[String]) -> Result<Destination> {
        let err = |msg: String| Error::Config(format!("destination `{}`: {msg}", d.name));
        let deliver = match d.deliver.as_deref().unwrap_or("scores") {
            "scores" => {
                only_for("scores", &[("routes", d.routes.is_some()), ("alert_id_property", d.alert_id_property.is_some()), ("due_in_days", d.due_in_days.is_some())])
                    .map_err(|e| err(format!("{e} (it is one for `deliver: alerts`)")))?;
                Deliver::Scores
            }
            "alerts" => {
                let routes = d.routes.clone().unwrap_or_default();
                if let Some(r) = routes.iter().find(|r| crate::config::playbooks::Route::parse(r).is_none()) {
                    return Err(err(format!("`routes`: unknown route `{r}`; use csm, manager, executive, owner, automated or product_feedback")));
                }
                if !d.fields.is_empty() || d.match_.is_some() {
                    return Err(err("`fields` and `match` are for `deliver: scores`: an alert is written as the destination's task or message, matched by its alert id".into()));
                }
                Deliver::Alerts(AlertDelivery { routes, due_in_days: d.due_in_days.unwrap_or(3) })
            }
            other => return Err(err(format!("`deliver: {other}`: use scores or alerts"))),
        };
        let alerts = matches!(deliver, Deliver::Alerts(_));
        let crm = match d.kind.as_str() {
            "hubspot" => Crm::HubSpot(hubspot(d, alerts).map_err(err)?),
            "salesforce" => Crm::Salesforce(salesforce(d, alerts).map_err(err)?),
            "webhook" => Crm::Webhook(webhook(d, alerts).map_err(err)?),
            other => return Err(err(format!("unknown kind `{other}`; use hubspot, salesforce or webhook"))),
        };
        if !matches!(crm, Crm::Webhook(_)) {
            only_for(crm.kind(), &[("url_env", d.url_env.is_some()), ("format", d.format.is_some()), ("digest", d.digest.is_some())]).map_err(err)?;
        }
        let (default_url, default_rate) = match crm {
            Crm::HubSpot(_) => ("https://api.hubapi.com", (100u32, 10.0)),
            Crm::Salesforce(_) => ("", (25, 1.0)),
            // Slack allows about one message per second per webhook
            Crm::Webhook(_) => ("", (1, 1.0)),
        };
        let base_url = d.base_url.clone().unwrap_or_else(|| default_url.to_string());
        if base_url.is_empty() && d.oauth.is_none() && d.url_env.is_none() {
            return Err(err(match crm {
                Crm::Webhook(_) => "`url_env` names the environment variable holding the webhook's URL (or give `base_url`)".into(),
                _ => "`base_url` is required (your instance URL, e.g. https://acme.my.salesforce.com)".into(),
            }));
        }
        if !base_url.is_empty() {
            url::Url::parse(&base_url).map_err(|e| err(format!("`base_url` `{base_url}`: {e}")))?;
        }
        let (key_column, fields) = if alerts {
            (crate::output::tables::alerts::ALERT_ID.to_string(), vec![])
        } else {
            let m = d.match_.as_ref().ok_or_else(|| err("`match` says how records are found: `{ by: record_id, column: crm_id }`".into()))?;
            if d.fields.is_empty() {
                return Err(err("`fields` maps no column".into()));
            }
            for c in d.fields.keys().chain(std::iter::once(&m.column)) {
                if !columns.contains(c) {
                    return Err(err(format!("`{c}` is not a column of account_scores; use one of {}", columns.join(", "))));
                }
            }
            let fields: Vec<(String, String)> = d.fields.iter().map(|(k, v)| (k.clone(), v.clone())).collect();
            let mut seen = std::collections::BTreeSet::new();
            for (_, p) in &fields {
                if !seen.insert(p) {
                    return Err(err(format!("two columns map to the CRM field `{p}`")));
                }
            }
            (m.column.clone(), fields)
        };
        let max_batch = crm.max_batch();
        let batch_size = d.batch_size.unwrap_or(max_batch);
        if batch_size == 0 || batch_size > max_batch {
            return Err(err(format!("`batch_size` must be 1..={max_batch} for {}", crm.kind())));
        }
        let rate = d.rate_limit.as_ref().map(|r| (r.requests, r.per_seconds)).unwrap_or(default_rate);
        if rate.0 == 0 || !(rate.1 > 0.0) {
            return Err(err("`rate_limit` needs requests > 0 and per_seconds > 0".into()));
        }
        let auth = match (&d.token_env, &d.oauth, &d.url_env) {
            (None, None, Some(env)) => AuthConfig::UrlFromEnv { env: env.clone() },
            (None, None, None) if matches!(crm, Crm::Webhook(_)) => AuthConfig::None,
            (Some(env), None, None) => AuthConfig::Token { env: env.clone() },
            (None, Some(o), None) => {
                AuthConfig::ClientCredentials { token_url: o.token_url.clone(), id_env: o.client_id_env.clone(), secret_env: o.client_secret_env.clone() }
            }
            (None, None, None) => return Err(err("`token_env` names the environment variable holding the token".into())),
            _ => return Err(err("give one of `token_env`, `oauth` or `url_env`".into())),
        };
        let identity = format!("{} {} {}", crm.kind(), base_url.trim_end_matches('/'), d.object_type.clone().unwrap_or_default());
        Ok(Destination {
            name: d.name.clone(),
            base_url: base_url.trim_end_matches('/').to_string(),
            batch_size,
            concurrency: d.concurrency.unwrap_or(if matches!(crm, Crm::Webhook(_)) { 1 } else { 4 }).clamp(1, 32),
            timeout: Duration::from_secs_f64(d.timeout_seconds.unwrap_or(30.0).max(0.1)),
            max_retries: d.max_retries.unwrap_or(8),
            rate,
            fields,
            key_column,
            auth,
            quarantine_after: d.quarantine_after.unwrap_or(3),
            daily_reserve: d.daily_reserve.unwrap_or(0),
            // an alert destination's state is its own, even at one same URL
            identity: if alerts { format!("{identity} alerts") } else { identity },
            crm,
            deliver,
        })
    }

    pub fn alerts(&self) -> Option<&AlertDelivery> {
        match &self.deliver {
            Deliver::Alerts(a) => Some(a),
            Deliver::Scores => None,
        }
    }
}

/// Settings only the other CRM reads are refused rather than ignored.
fn only_for(kind: &str, keys: &[(&str, bool)]) -> std::result::Result<(), String> {
    match keys.iter().find(|(_, set)| *set) {
        Some((key, _)) => Err(format!("`{key}` is not a {kind} setting")),
        None => Ok(()),
    }
}

fn hubspot(d: &RawDestination, alerts: bool) -> std::result::Result<HubSpotConfig, String> {
    only_for("HubSpot", &[("bulk_threshold", d.bulk_threshold.is_some()), ("bulk_timeout_seconds", d.bulk_timeout_seconds.is_some()), ("oauth", d.oauth.is_some())])?;
    if alerts {
        // tasks upserted by a unique alert-id property: a resend updates the task it made
        let object_type = d.object_type.clone().unwrap_or_else(|| "tasks".into());
        if object_type != "tasks" {
            return Err(format!("`deliver: alerts` writes HubSpot `tasks`, not `{object_type}`"));
        }
        return Ok(HubSpotConfig {
            object_type,
            api_version: api_version(d)?,
            id_property: Some(d.alert_id_property.clone().unwrap_or_else(|| "healthscore_alert_id".into())),
            upsert: true,
            group: d.property_group.clone().unwrap_or_else(|| "healthscore".into()),
            associate: Some("companies".into()),
        });
    }
    let m = d.match_.as_ref().ok_or("`match` says how records are found: `{ by: record_id, column: crm_id }`")?;
    let RawMatch { by, property, .. } = m;
    let id_property = match by.as_str() {
        "record_id" => None,
        "unique_property" => Some(property.clone().ok_or("`match.property` names the unique property to match on")?),
        other => return Err(format!("`match.by: {other}`: HubSpot matches by `record_id` or `unique_property`")),
    };
    let upsert = d.create_missing.unwrap_or(false);
    if upsert && id_property.is_none() {
        return Err("`create_missing` needs `match.by: unique_property` (HubSpot creates records by a unique property)".into());
    }
    Ok(HubSpotConfig {
        object_type: d.object_type.clone().unwrap_or_else(|| "companies".into()),
        api_version: api_version(d)?,
        id_property,
        upsert,
        group: d.property_group.clone().unwrap_or_else(|| "healthscore".into()),
        associate: None,
    })
}

fn api_version(d: &RawDestination) -> std::result::Result<String, String> {
    let api_version = d.api_version.clone().unwrap_or_else(|| "v3".into());
    let dated = api_version.len() == 7 && api_version.as_bytes()[4] == b'-' && api_version[..4].bytes().chain(api_version[5..].bytes()).all(|b| b.is_ascii_digit());
    if api_version != "v3" && !dated {
        return Err(format!("`api_version: {api_version}`: use v3 or a dated version such as 2026-03"));
    }
    Ok(api_version)
}

fn webhook(d: &RawDestination, alerts: bool) -> std::result::Result<WebhookConfig, String> {
    if !alerts {
        return Err("a webhook receives alerts: set `deliver: alerts`".into());
    }
    only_for("webhook", &[("token_env", d.token_env.is_some()), ("oauth", d.oauth.is_some()), ("api_version", d.api_version.is_some()), ("object_type", d.object_type.is_some())])?;
    let slack = match d.format.as_deref().unwrap_or("slack") {
        "slack" => true,
        "json" => false,
        other => return Err(format!("`format: {other}`: use slack or json")),
    };
    Ok(WebhookConfig { slack, digest: d.digest.unwrap_or(false) })
}

fn salesforce(d: &RawDestination, alerts: bool) -> std::result::Result<SalesforceConfig, String> {
    only_for("Salesforce", &[("property_group", d.property_group.is_some())])?;
    let api_version = d.api_version.clone().unwrap_or_else(|| "v61.0".into());
    if !api_version.starts_with('v') || api_version[1..].parse::<f64>().is_err() {
        return Err(format!("`api_version: {api_version}`: use a REST version such as v61.0"));
    }
    if alerts {
        // Tasks upserted by an external-id field holding the alert id: a resend updates the Task it made
        let object = d.object_type.clone().unwrap_or_else(|| "Task".into());
        if object != "Task" {
            return Err(format!("`deliver: alerts` writes Salesforce `Task`s, not `{object}`"));
        }
        return Ok(SalesforceConfig {
            object,
            api_version,
            external_id: Some(d.alert_id_property.clone().unwrap_or_else(|| "Healthscore_Alert_Id__c".into())),
            bulk_threshold: None,
            bulk_timeout: Duration::from_secs(3600),
        });
    }
    let m = d.match_.as_ref().ok_or("`match` says how records are found: `{ by: record_id, column: crm_id }`")?;
    let external_id = match m.by.as_str() {
        "record_id" => None,
        "external_id" | "unique_property" => {
            if !d.create_missing.unwrap_or(false) {
                return Err("matching by an external id is an upsert, which creates missing records: set `create_missing: true` to allow it, or match by `record_id`".into());
            }
            Some(m.property.clone().ok_or("`match.property` names the external id field")?)
        }
        other => return Err(format!("`match.by: {other}`: Salesforce matches by `record_id` or `external_id`")),
    };
    Ok(SalesforceConfig {
        object: d.object_type.clone().unwrap_or_else(|| "Account".into()),
        api_version,
        external_id,
        bulk_threshold: d.bulk_threshold,
        bulk_timeout: Duration::from_secs_f64(d.bulk_timeout_seconds.unwrap_or(3600.0).max(0.1)),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn raw(yaml: &str) -> RawDestination {
        serde_yaml::from_str(yaml).unwrap()
    }

    fn columns() -> Vec<String> {
        ["account_id", "crm_id", "health_score", "tier"].iter().map(|s| s.to_string()).collect()
    }

    const HUBSPOT: &str = "{ name: hs, kind: hubspot, token_env: T, match: { by: record_id, column: crm_id }, fields: { health_score: hs_health, tier: hs_tier } }";

    #[test]
    fn a_hubspot_destination_gets_its_defaults() {
        let d = Destination::resolve(&raw(HUBSPOT), &columns()).unwrap();
        assert_eq!(d.base_url, "https://api.hubapi.com");
        assert_eq!((d.batch_size, d.rate, d.concurrency), (100, (100, 10.0), 4));
        assert_eq!(d.identity, "hubspot https://api.hubapi.com ", "as earlier versions recorded it");
        let Crm::HubSpot(h) = &d.crm else { panic!("{:?}", d.crm) };
        assert_eq!((h.api_version.as_str(), h.id_property.as_deref(), h.upsert), ("v3", None, false));
    }

    #[test]
    fn mistakes_are_named_before_any_work() {
        let cases = [
            (HUBSPOT.replace("hubspot", "pipedrive"), "unknown kind `pipedrive`; use hubspot, salesforce or webhook"),
            (HUBSPOT.replace("tier: hs_tier", "tiers: hs_tier"), "`tiers` is not a column of account_scores"),
            (HUBSPOT.replace("hs_tier", "hs_health"), "two columns map to the CRM field `hs_health`"),
            (HUBSPOT.replace("token_env: T, ", ""), "`token_env` names the environment variable"),
            (HUBSPOT.replace("by: record_id", "by: external_id"), "HubSpot matches by `record_id` or `unique_property`"),
            (HUBSPOT.replace("name: hs,", "name: hs, api_version: '2026-3x',"), "`api_version: 2026-3x`"),
            (HUBSPOT.replace("name: hs,", "name: hs, batch_size: 101,"), "`batch_size` must be 1..=100 for hubspot"),
            (HUBSPOT.replace("name: hs,", "name: hs, bulk_threshold: 5,"), "`bulk_threshold` is not a HubSpot setting"),
            (HUBSPOT.replace("kind: hubspot", "kind: salesforce"), "`base_url` is required"),
            (
                HUBSPOT.replace("kind: hubspot", "kind: salesforce, base_url: 'https://x.my.salesforce.com'").replace("by: record_id", "by: external_id, property: Ext__c"),
                "set `create_missing: true`",
            ),
        ];
        for (yaml, want) in cases {
            let e = Destination::resolve(&raw(&yaml), &columns()).unwrap_err().to_string();
            assert!(e.starts_with("config: destination `hs`: ") && e.contains(want), "{yaml}\n→ {e}");
        }
    }

    #[test]
    fn a_salesforce_destination_with_bulk_and_oauth() {
        let yaml = "{ name: sf, kind: salesforce, oauth: { token_url: 'https://login.salesforce.com/services/oauth2/token', client_id_env: I, client_secret_env: S }, \
                    bulk_threshold: 500, match: { by: record_id, column: crm_id }, fields: { tier: Tier__c } }";
        let d = Destination::resolve(&raw(yaml), &columns()).unwrap();
        assert_eq!((d.base_url.as_str(), d.batch_size, d.rate), ("", 200, (25, 1.0)));
        assert!(matches!(d.auth, AuthConfig::ClientCredentials { .. }));
        let Crm::Salesforce(s) = &d.crm else { panic!() };
        assert_eq!((s.object.as_str(), s.bulk_threshold, s.bulk_timeout), ("Account", Some(500), Duration::from_secs(3600)));
    }

    #[test]
    fn alert_deliveries_resolve_to_tasks_and_webhooks() {
        let hs = "{ name: t, kind: hubspot, deliver: alerts, token_env: T, routes: [csm, owner] }";
        let d = Destination::resolve(&raw(hs), &columns()).unwrap();
        let Crm::HubSpot(h) = &d.crm else { panic!() };
        assert_eq!((h.object_type.as_str(), h.id_property.as_deref(), h.upsert, h.associate.as_deref()), ("tasks", Some("healthscore_alert_id"), true, Some("companies")));
        assert_eq!((d.key_column.as_str(), d.fields.len()), ("alert_id", 0));
        assert_eq!(d.alerts().map(|a| (a.routes.len(), a.due_in_days)), Some((2, 3)));
        assert!(d.identity.ends_with(" alerts"), "its own state: {}", d.identity);
        let sf = "{ name: t, kind: salesforce, deliver: alerts, base_url: 'https://x.my.salesforce.com', token_env: T }";
        let Crm::Salesforce(s) = Destination::resolve(&raw(sf), &columns()).unwrap().crm else { panic!() };
        assert_eq!((s.object.as_str(), s.external_id.as_deref()), ("Task", Some("Healthscore_Alert_Id__c")));
        let hook = "{ name: t, kind: webhook, deliver: alerts, url_env: HOOK, digest: true }";
        let d = Destination::resolve(&raw(hook), &columns()).unwrap();
        assert_eq!((&d.auth, d.rate, d.batch_size, d.concurrency), (&AuthConfig::UrlFromEnv { env: "HOOK".into() }, (1, 1.0), 100, 1));
        for (yaml, want) in [
            (hook.replace("deliver: alerts, ", ""), "a webhook receives alerts: set `deliver: alerts`"),
            (hook.replace("url_env: HOOK", "token_env: T"), "`token_env` is not a webhook setting"),
            (hook.replace("digest: true", "format: xml"), "`format: xml`: use slack or json"),
            (hs.replace("routes: [csm, owner]", "routes: [cmo]"), "unknown route `cmo`"),
            (hs.replace("routes: [csm, owner]", "fields: { tier: t }"), "`fields` and `match` are for `deliver: scores`"),
            (hs.replace(" deliver: alerts,", " object_type: companies, deliver: alerts,"), "writes HubSpot `tasks`, not `companies`"),
            (HUBSPOT.replace("name: hs,", "name: t, routes: [csm],"), "`routes` is not a scores setting"),
            (HUBSPOT.replace("name: hs,", "name: t, url_env: U,"), "`url_env` is not a hubspot setting"),
        ] {
            let e = Destination::resolve(&raw(&yaml), &columns()).unwrap_err().to_string();
            assert!(e.contains(want), "{yaml}\n→ {e}");
        }
    }
}
