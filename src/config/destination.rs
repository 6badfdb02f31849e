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
}

/// What differs per CRM.
#[derive(Debug, Clone, PartialEq)]
pub enum Crm {
    HubSpot(HubSpotConfig),
    Salesforce(SalesforceConfig),
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
        }
    }

    /// The most records one request may carry.
    pub fn max_batch(&self) -> usize {
        match self {
            Crm::HubSpot(_) => 100,
            Crm::Salesforce(_) => 200,
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
    /// Whom acknowledgements come from (kind, base URL, `object_type` as
    /// written): a state recorded under another identity is not applied
    /// (see `sync::state::Store::load`).
    pub identity: String,
}

impl Destination {
    /// Resolves one `destinations[]` entry; `columns` are `account_scores`'.
    pub fn resolve(d: &RawDestination, columns: &[String]) -> Result<Destination> {
        let err = |msg: String| Error::Config(format!("destination `{}`: {msg}", d.name));
        let crm = match d.kind.as_str() {
            "hubspot" => Crm::HubSpot(hubspot(d).map_err(err)?),
            "salesforce" => Crm::Salesforce(salesforce(d).map_err(err)?),
            other => return Err(err(format!("unknown kind `{other}`; use hubspot or salesforce"))),
        };
        let (default_url, default_rate) = match crm {
            Crm::HubSpot(_) => ("https://api.hubapi.com", (100u32, 10.0)),
            Crm::Salesforce(_) => ("", (25, 1.0)),
        };
        let base_url = d.base_url.clone().unwrap_or_else(|| default_url.to_string());
        if base_url.is_empty() && d.oauth.is_none() {
            return Err(err("`base_url` is required (your instance URL, e.g. https://acme.my.salesforce.com)".into()));
        }
        if !base_url.is_empty() {
            url::Url::parse(&base_url).map_err(|e| err(format!("`base_url` `{base_url}`: {e}")))?;
        }
        if d.fields.is_empty() {
            return Err(err("`fields` maps no column".into()));
        }
        for c in d.fields.keys().chain(std::iter::once(&d.match_.column)) {
            if !columns.contains(c) {
                return Err(err(format!("`{c}` is not a column of account_scores; use one of {}", columns.join(", "))));
            }
        }
        let max_batch = crm.max_batch();
        let batch_size = d.batch_size.unwrap_or(max_batch);
        if batch_size == 0 || batch_size > max_batch {
            return Err(err(format!("`batch_size` must be 1..={max_batch} for {}", crm.kind())));
        }
        let rate = d.rate_limit.as_ref().map(|r| (r.requests, r.per_seconds)).unwrap_or(default_rate);
        if rate.0 == 0 || !(rate.1 > 0.0) {
            return Err(err("`rate_limit` needs requests > 0 and per_seconds > 0".into()));
        }
        let auth = match (&d.token_env, &d.oauth) {
            (Some(env), None) => AuthConfig::Token { env: env.clone() },
            (None, Some(o)) => {
                AuthConfig::ClientCredentials { token_url: o.token_url.clone(), id_env: o.client_id_env.clone(), secret_env: o.client_secret_env.clone() }
            }
            (Some(_), Some(_)) => return Err(err("give `token_env` or `oauth`, not both".into())),
            (None, None) => return Err(err("`token_env` names the environment variable holding the token".into())),
        };
        let fields: Vec<(String, String)> = d.fields.iter().map(|(k, v)| (k.clone(), v.clone())).collect();
        let mut seen = std::collections::BTreeSet::new();
        for (_, p) in &fields {
            if !seen.insert(p) {
                return Err(err(format!("two columns map to the CRM field `{p}`")));
            }
        }
        Ok(Destination {
            name: d.name.clone(),
            base_url: base_url.trim_end_matches('/').to_string(),
            batch_size,
            concurrency: d.concurrency.unwrap_or(4).clamp(1, 32),
            timeout: Duration::from_secs_f64(d.timeout_seconds.unwrap_or(30.0).max(0.1)),
            max_retries: d.max_retries.unwrap_or(8),
            rate,
            fields,
            key_column: d.match_.column.clone(),
            auth,
            quarantine_after: d.quarantine_after.unwrap_or(3),
            daily_reserve: d.daily_reserve.unwrap_or(0),
            identity: format!("{} {} {}", crm.kind(), base_url.trim_end_matches('/'), d.object_type.clone().unwrap_or_default()),
            crm,
        })
    }
}

/// Settings only the other CRM reads are refused rather than ignored.
fn only_for(kind: &str, keys: &[(&str, bool)]) -> std::result::Result<(), String> {
    match keys.iter().find(|(_, set)| *set) {
        Some((key, _)) => Err(format!("`{key}` is not a {kind} setting")),
        None => Ok(()),
    }
}

fn hubspot(d: &RawDestination) -> std::result::Result<HubSpotConfig, String> {
    only_for("HubSpot", &[("bulk_threshold", d.bulk_threshold.is_some()), ("bulk_timeout_seconds", d.bulk_timeout_seconds.is_some()), ("oauth", d.oauth.is_some())])?;
    let RawMatch { by, property, .. } = &d.match_;
    let id_property = match by.as_str() {
        "record_id" => None,
        "unique_property" => Some(property.clone().ok_or("`match.property` names the unique property to match on")?),
        other => return Err(format!("`match.by: {other}`: HubSpot matches by `record_id` or `unique_property`")),
    };
    let upsert = d.create_missing.unwrap_or(false);
    if upsert && id_property.is_none() {
        return Err("`create_missing` needs `match.by: unique_property` (HubSpot creates records by a unique property)".into());
    }
    let api_version = d.api_version.clone().unwrap_or_else(|| "v3".into());
    let dated = api_version.len() == 7 && api_version.as_bytes()[4] == b'-' && api_version[..4].bytes().chain(api_version[5..].bytes()).all(|b| b.is_ascii_digit());
    if api_version != "v3" && !dated {
        return Err(format!("`api_version: {api_version}`: use v3 or a dated version such as 2026-03"));
    }
    Ok(HubSpotConfig {
        object_type: d.object_type.clone().unwrap_or_else(|| "companies".into()),
        api_version,
        id_property,
        upsert,
        group: d.property_group.clone().unwrap_or_else(|| "healthscore".into()),
    })
}

fn salesforce(d: &RawDestination) -> std::result::Result<SalesforceConfig, String> {
    only_for("Salesforce", &[("property_group", d.property_group.is_some())])?;
    let external_id = match d.match_.by.as_str() {
        "record_id" => None,
        "external_id" | "unique_property" => {
            if !d.create_missing.unwrap_or(false) {
                return Err("matching by an external id is an upsert, which creates missing records: set `create_missing: true` to allow it, or match by `record_id`".into());
            }
            Some(d.match_.property.clone().ok_or("`match.property` names the external id field")?)
        }
        other => return Err(format!("`match.by: {other}`: Salesforce matches by `record_id` or `external_id`")),
    };
    let api_version = d.api_version.clone().unwrap_or_else(|| "v61.0".into());
    if !api_version.starts_with('v') || api_version[1..].parse::<f64>().is_err() {
        return Err(format!("`api_version: {api_version}`: use a REST version such as v61.0"));
    }
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
            (HUBSPOT.replace("hubspot", "pipedrive"), "unknown kind `pipedrive`"),
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
}
