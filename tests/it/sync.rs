//! Reverse ETL against local servers that behave like HubSpot and
//! Salesforce: after any fault sequence and a rerun, the CRM holds the
//! scored values, and no acknowledged record is sent again.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::path::{Path, PathBuf};


use crate::common::*;
use crate::crm::{self, Fault};

const TOKEN: &str = "pat-na1-7f3c-SECRET-do-not-log-91b2";

struct Setup {
    dir: PathBuf,
    cfg: PathBuf,
    /// crm id → expected property values
    expected: HashMap<String, BTreeMap<String, String>>,
}

fn hubspot_yaml(url: &str, extra: &str) -> String {
    format!(
        "sync: {{ max_score_age_days: 100000, max_tier_change_share: 1.0 }}
destinations:
  - name: hubspot-companies
    kind: hubspot
    base_url: {url}
    token_env: HS_TEST_TOKEN
    object_type: companies
    match: {{ by: record_id, column: crm_id }}
    fields: {{ health_score: health_score, tier: health_tier, p_churn_90d: churn_risk_90d, top_risk_reasons: health_reasons, recommended_action: health_action }}
    timeout_seconds: 1
    max_retries: 6
{extra}"
    )
}

const HS_PROPS: &[&str] = &["health_score", "health_tier", "churn_risk_90d", "health_reasons", "health_action"];

/// Scores the fixture company into a fresh folder and computes what each CRM record should hold.
fn scored(name: &str, dest_yaml: &dyn Fn() -> String) -> Setup {
    let c = company();
    let dir = scratch(name);
    let cfg = config_for(&dir, &c.data, &c.models, &dest_yaml());
    let r = hs(&["score", "-c", cfg.to_str().unwrap()]);
    assert_eq!(r.code, 0, "{}", r.all());
    let batches = read_parquet(&dir.join(format!("out/account_scores/as_of={EXPORT_DATE}/part-0.parquet")));
    let conf = healthscore::config::Config::load(&cfg).unwrap();
    let built = healthscore::sync::build(&conf.destinations[0]);
    let src = healthscore::sync::records(&batches, &built.settings, chrono::NaiveDate::parse_from_str(EXPORT_DATE, "%Y-%m-%d").unwrap());
    let expected = src.records.iter().map(|r| (r.key.clone(), r.texts())).collect();
    Setup { dir, cfg, expected }
}

fn sync(s: &Setup, args: &[&str]) -> Run {
    let mut a = vec!["sync", "-c", s.cfg.to_str().unwrap()];
    a.extend_from_slice(args);
    hs_env(&a, &[("HS_TEST_TOKEN", TOKEN), ("SF_CLIENT_ID", "client-1"), ("SF_CLIENT_SECRET", "SECRET-sf-9f8e7d")])
}

fn ids(s: &Setup) -> Vec<String> {
    let mut v: Vec<String> = s.expected.keys().cloned().collect();
    v.sort();
    v
}

fn assert_crm_holds_scores(server: &crm::Server, s: &Setup, except: &HashSet<String>) {
    let c = server.crm.lock().unwrap();
    for (id, want) in &s.expected {
        if except.contains(id) {
            continue;
        }
        let have = c.records.get(id).unwrap_or_else(|| panic!("record {id} missing"));
        for (k, v) in want {
            let got = have.get(k).unwrap_or_else(|| panic!("{id}: {k} never written"));
            let same = got == v || (got.parse::<f64>().ok().zip(v.parse::<f64>().ok()).is_some_and(|(a, b)| a == b));
            assert!(same, "{id}.{k}: CRM has {got:?}, scores say {v:?}");
        }
    }
}

fn acked_keys(dir: &Path, dest: &str) -> HashSet<String> {
    let mut out = HashSet::new();
    let acks = dir.join(format!("out/_sync/{dest}/acks"));
    if let Ok(rd) = std::fs::read_dir(acks) {
        for f in rd.flatten() {
            let m: HashMap<String, serde_json::Value> = serde_json::from_slice(&std::fs::read(f.path()).unwrap()).unwrap();
            out.extend(m.into_keys());
        }
    }
    out
}

fn sent_ids(server: &crm::Server) -> Vec<String> {
    server.crm.lock().unwrap().log.iter().filter(|(s, _)| *s != 0).flat_map(|(_, ids)| ids.clone()).collect()
}

#[test]
fn hubspot_first_sync_then_only_what_changed() {
    let holder = std::sync::OnceLock::new();
    let s = scored("hs-first", &|| {
        let srv = holder.get_or_init(|| crm::hubspot(TOKEN, &[], HS_PROPS));
        hubspot_yaml(&srv.url, "")
    });
    let server = holder.get().unwrap();
    // the CRM knows every record but three, which it answers 207 OBJECT_NOT_FOUND for
    let all = ids(&s);
    let missing: HashSet<String> = all.iter().take(3).cloned().collect();
    server.crm.lock().unwrap().records = all.iter().filter(|i| !missing.contains(*i)).map(|i| (i.clone(), BTreeMap::new())).collect();
    let r = sync(&s, &[]);
    assert_eq!(r.code, 3, "rejections exit 3: {}", r.all());
    assert_crm_holds_scores(server, &s, &missing);
    {
        let c = server.crm.lock().unwrap();
        assert!(c.max_batch_seen <= 100 && c.max_batch_seen > 50, "{}", c.max_batch_seen);
        assert!(c.log.iter().all(|(st, _)| *st == 200 || *st == 207), "no batch may fail validation: {:?}", c.log.iter().filter(|(s, _)| *s >= 400).count());
        assert!(c.applied.values().all(|n| *n == 1));
    }
    let rej = read_parquet(&std::fs::read_dir(s.dir.join("out/sync_rejections")).unwrap().next().unwrap().unwrap().path().join("part-0.parquet"));
    let keys = healthscore::columns::strings(&rej[0], "record_key").unwrap();
    assert_eq!(keys.iter().flatten().cloned().collect::<HashSet<_>>(), missing);
    // a second run sends only the rejected records again
    server.crm.lock().unwrap().log.clear();
    let r = sync(&s, &[]);
    assert_eq!(r.code, 3, "{}", r.all());
    let again: HashSet<String> = sent_ids(server).into_iter().collect();
    assert_eq!(again, missing, "only the rejected records are retried");
    // once the CRM has them, nothing is sent
    server.crm.lock().unwrap().records.extend(missing.iter().map(|m| (m.clone(), BTreeMap::new())));
    let r = sync(&s, &[]);
    assert_eq!(r.code, 0, "{}", r.all());
    server.crm.lock().unwrap().log.clear();
    let r = sync(&s, &[]);
    assert_eq!(r.code, 0, "{}", r.all());
    assert!(sent_ids(server).is_empty(), "unchanged records must not be sent");
    // sync_log records each run
    let logs = std::fs::read_dir(s.dir.join("out/sync_log")).unwrap().count();
    assert_eq!(logs, 4);
}

#[test]
fn hubspot_faults_then_a_rerun_deliver_everything_once() {
    let holder = std::sync::OnceLock::new();
    let s = scored("hs-faults", &|| {
        let srv = holder.get_or_init(|| crm::hubspot(TOKEN, &[], HS_PROPS));
        hubspot_yaml(&srv.url, "    concurrency: 2\n")
    });
    let server = holder.get().unwrap();
    server.crm.lock().unwrap().records = ids(&s).into_iter().map(|i| (i, BTreeMap::new())).collect();
    server.crm.lock().unwrap().script = [
        Fault::Throttle(Some(0.3)),
        Fault::Throttle(None),
        Fault::Server(500),
        Fault::Server(503),
        Fault::Stall(1.5),
        Fault::Locked,
    ]
    .into_iter()
    .collect();
    let r = sync(&s, &[]);
    assert_eq!(r.code, 0, "{}", r.all());
    assert_crm_holds_scores(server, &s, &HashSet::new());
    let c = server.crm.lock().unwrap();
    assert!(c.script.is_empty(), "every fault was played");
    assert!(c.applied.values().all(|n| *n == 1), "a record was applied twice");
    assert_eq!(c.applied.len(), s.expected.len());
}

#[test]
fn a_daily_limit_stops_cleanly_and_the_next_run_resumes() {
    let holder = std::sync::OnceLock::new();
    let s = scored("hs-daily", &|| {
        let srv = holder.get_or_init(|| crm::hubspot(TOKEN, &[], HS_PROPS));
        // one batch at a time: with two, the 500's retry and the next batch race for the scripted answers
        hubspot_yaml(&srv.url, "    concurrency: 1\n    rate_limit: { requests: 100000, per_seconds: 1 }\n")
    });
    let server = holder.get().unwrap();
    {
        let mut c = server.crm.lock().unwrap();
        c.records = ids(&s).into_iter().map(|i| (i, BTreeMap::new())).collect();
        // two good batches, a 500 retried into the third, then the daily limit
        c.script = vec![Fault::Pass, Fault::Pass, Fault::Server(500), Fault::Pass, Fault::Daily].into_iter().collect();
    }
    let r = sync(&s, &[]);
    assert_eq!(r.code, 4, "a daily limit exits 4: {}", r.all());
    assert!(r.stderr.contains("daily"), "{}", r.stderr);
    let first: HashSet<String> = {
        let c = server.crm.lock().unwrap();
        c.applied.keys().cloned().collect()
    };
    assert_eq!(first.len(), 300, "three batches of 100 landed before the limit");
    let acked = acked_keys(&s.dir, "hubspot-companies");
    let state: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(s.dir.join("out/_sync/hubspot-companies/state.json")).unwrap()).unwrap();
    assert!(acked.is_empty(), "acks were folded into the state at the stop");
    assert_eq!(state["records"].as_object().unwrap().len(), 300);
    server.crm.lock().unwrap().log.clear();
    let r = sync(&s, &[]);
    assert_eq!(r.code, 0, "{}", r.all());
    let resent: HashSet<String> = sent_ids(server).into_iter().collect();
    assert!(resent.is_disjoint(&first), "acknowledged records were sent again");
    assert_crm_holds_scores(server, &s, &HashSet::new());
}

#[test]
fn bad_records_are_bisected_out_and_the_rest_land() {
    let holder = std::sync::OnceLock::new();
    let s = scored("hs-bisect", &|| {
        let srv = holder.get_or_init(|| crm::hubspot(TOKEN, &[], HS_PROPS));
        hubspot_yaml(&srv.url, "")
    });
    let server = holder.get().unwrap();
    let all = ids(&s);
    let poison: HashSet<String> = [all[10].clone(), all[250].clone()].into_iter().collect();
    {
        let mut c = server.crm.lock().unwrap();
        c.records = all.iter().map(|i| (i.clone(), BTreeMap::new())).collect();
        c.poison = poison.clone();
    }
    let r = sync(&s, &[]);
    assert_eq!(r.code, 3, "{}", r.all());
    assert_crm_holds_scores(server, &s, &poison);
    let c = server.crm.lock().unwrap();
    assert!(poison.iter().all(|p| !c.applied.contains_key(p)));
    let rej = read_parquet(&std::fs::read_dir(s.dir.join("out/sync_rejections")).unwrap().next().unwrap().unwrap().path().join("part-0.parquet"));
    let keys: HashSet<String> = healthscore::columns::strings(&rej[0], "record_key").unwrap().into_iter().flatten().collect();
    assert_eq!(keys, poison);
    let msg = healthscore::columns::strings(&rej[0], "message").unwrap();
    assert!(msg.iter().flatten().all(|m| m.contains("invalid option")));
}

#[test]
fn a_killed_sync_resumes_without_resending_acknowledged_records_and_never_logs_the_token() {
    let holder = std::sync::OnceLock::new();
    let s = scored("hs-kill", &|| {
        let srv = holder.get_or_init(|| crm::hubspot(TOKEN, &[], HS_PROPS));
        hubspot_yaml(&srv.url, "    concurrency: 2\n    batch_size: 20\n")
    });
    let server = holder.get().unwrap();
    {
        let mut c = server.crm.lock().unwrap();
        c.records = ids(&s).into_iter().map(|i| (i, BTreeMap::new())).collect();
        c.delay = std::time::Duration::from_millis(40);
    }
    let mut child = std::process::Command::new(bin())
        .args(["sync", "-c", s.cfg.to_str().unwrap(), "--log-format", "json"])
        .env("HS_TEST_TOKEN", TOKEN)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    // let some batches land, then kill the process outright
    let t = std::time::Instant::now();
    while server.crm.lock().unwrap().applied.len() < 200 && t.elapsed().as_secs() < 60 {
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    child.kill().unwrap();
    child.wait().unwrap();
    let applied_before: usize = server.crm.lock().unwrap().applied.len();
    assert!(applied_before >= 200 && applied_before < s.expected.len(), "{applied_before}");
    let acked = acked_keys(&s.dir, "hubspot-companies");
    assert!(!acked.is_empty(), "acks are written as batches finish");
    server.crm.lock().unwrap().log.clear();
    server.crm.lock().unwrap().delay = std::time::Duration::ZERO;
    let r = sync(&s, &[]);
    assert_eq!(r.code, 0, "{}", r.all());
    assert_crm_holds_scores(server, &s, &HashSet::new());
    let resent: HashSet<String> = sent_ids(server).into_iter().collect();
    assert!(resent.is_disjoint(&acked), "{} acknowledged records were sent again", resent.intersection(&acked).count());
    // batches in flight at the kill may be sent twice (same values); nothing else
    let twice = server.crm.lock().unwrap().applied.values().filter(|n| **n > 1).count();
    assert!(twice <= 2 * 20, "{twice} records applied twice");
    // the token appears nowhere: not in output, logs, state, manifests or tables
    assert!(!r.all().contains(TOKEN));
    assert_no_token(&s.dir);
}

fn assert_no_token(dir: &Path) {
    for e in walk(dir) {
        let bytes = std::fs::read(&e).unwrap();
        let hay = String::from_utf8_lossy(&bytes);
        assert!(!hay.contains(TOKEN) && !hay.contains("SECRET-sf"), "a secret leaked into {}", e.display());
    }
}

#[test]
fn a_bad_token_fails_without_showing_it_and_a_dry_run_sends_nothing() {
    let holder = std::sync::OnceLock::new();
    let s = scored("hs-token", &|| {
        let srv = holder.get_or_init(|| crm::hubspot("the-real-token", &[], HS_PROPS));
        hubspot_yaml(&srv.url, "")
    });
    let server = holder.get().unwrap();
    server.crm.lock().unwrap().records = ids(&s).into_iter().map(|i| (i, BTreeMap::new())).collect();
    let r = sync(&s, &["--dry-run", "--output", "json"]);
    assert_eq!(r.code, 0, "{}", r.all());
    let plan: serde_json::Value = serde_json::from_str(&r.stdout).unwrap();
    assert_eq!(plan[0]["new"].as_u64().unwrap() as usize, s.expected.len());
    assert_eq!(plan[0]["unchanged"], 0);
    assert!(sent_ids(server).is_empty(), "a dry run sends nothing");
    let r = sync(&s, &[]);
    assert_eq!(r.code, 2, "{}", r.all());
    assert!(r.stderr.contains("401") && r.stderr.contains("HS_TEST_TOKEN"), "{}", r.stderr);
    assert!(!r.all().contains(TOKEN));
    assert_no_token(&s.dir);
}

#[test]
fn setup_creates_the_fields_once() {
    let holder = std::sync::OnceLock::new();
    let s = scored("hs-setup", &|| {
        let srv = holder.get_or_init(|| crm::hubspot(TOKEN, &[], &[]));
        hubspot_yaml(&srv.url, "")
    });
    let server = holder.get().unwrap();
    // a busy portal: setup meets the same 429s and 5xx as the batches, and waits them out
    server.crm.lock().unwrap().script = [Fault::Throttle(Some(0.2)), Fault::Server(503), Fault::Pass, Fault::Throttle(None)].into_iter().collect();
    let r = sync(&s, &["--setup"]);
    assert_eq!(r.code, 0, "{}", r.all());
    let created = server.crm.lock().unwrap().created_properties.clone();
    assert_eq!(created.len(), 5, "{created:?}");
    assert!(created.contains(&"health_tier:enumeration".to_string()) && created.contains(&"health_score:number".to_string()));
    // what HubSpot's PropertyCreate and OptionInput require
    let defs = server.crm.lock().unwrap().property_defs.clone();
    let types = ["string", "number", "date", "datetime", "enumeration", "bool"];
    let field_types = ["textarea", "text", "date", "file", "number", "select", "radio", "checkbox", "booleancheckbox", "calculation_equation", "html", "phonenumber"];
    for (name, d) in &defs {
        for k in ["name", "label", "groupName", "type", "fieldType"] {
            assert!(d[k].is_string(), "{name}: `{k}` missing: {d}");
        }
        assert!(types.contains(&d["type"].as_str().unwrap()) && field_types.contains(&d["fieldType"].as_str().unwrap()), "{name}: {d}");
        for o in d["options"].as_array().into_iter().flatten() {
            assert!(o["label"].is_string() && o["value"].is_string() && o["hidden"].is_boolean() && o["displayOrder"].is_number(), "{name}: option {o}");
        }
    }
    let tier = &defs["health_tier"];
    assert_eq!((tier["type"].as_str(), tier["fieldType"].as_str()), (Some("enumeration"), Some("select")));
    assert_batch_bodies_follow_hubspots_spec_for_setup(server);
    let values: Vec<&str> = tier["options"].as_array().unwrap().iter().map(|o| o["value"].as_str().unwrap()).collect();
    assert_eq!(values, ["red", "yellow", "green"]);
    let r = sync(&s, &["--setup"]);
    assert_eq!(r.code, 0, "{}", r.all());
    assert_eq!(server.crm.lock().unwrap().created_properties.len(), 5, "setup is idempotent");
    assert!(!r.all().contains("change it in HubSpot"), "{}", r.all());
    // an option someone removed in HubSpot is added back
    server.crm.lock().unwrap().property_defs.get_mut("health_tier").unwrap()["options"].as_array_mut().unwrap().retain(|o| o["value"] != "green");
    let r = sync(&s, &["--setup"]);
    assert_eq!(r.code, 0, "{}", r.all());
    assert!(r.all().contains("added the options green"), "{}", r.all());
    let tier = server.crm.lock().unwrap().property_defs["health_tier"].clone();
    assert_eq!(tier["options"].as_array().unwrap().len(), 3);
}

#[test]
fn stale_scores_and_mass_tier_changes_are_refused() {
    let holder = std::sync::OnceLock::new();
    let s = scored("hs-safety", &|| {
        let srv = holder.get_or_init(|| crm::hubspot(TOKEN, &[], HS_PROPS));
        hubspot_yaml(&srv.url, "").replace("max_score_age_days: 100000, max_tier_change_share: 1.0", "max_score_age_days: 3, max_tier_change_share: 0.2")
    });
    let server = holder.get().unwrap();
    server.crm.lock().unwrap().records = ids(&s).into_iter().map(|i| (i, BTreeMap::new())).collect();
    let r = sync(&s, &[]);
    assert_eq!(r.code, 2, "{}", r.all());
    assert!(r.stderr.contains("days old"), "{}", r.stderr);
    let r = sync(&s, &["--force"]);
    assert_eq!(r.code, 0, "{}", r.all());
    // pretend the CRM last heard a different tier for every record
    let state = s.dir.join("out/_sync/hubspot-companies/state.json");
    let text = std::fs::read_to_string(&state).unwrap().replace("\"health_tier\":\"green\"", "\"health_tier\":\"red\"");
    std::fs::write(&state, text).unwrap();
    let yaml = std::fs::read_to_string(&s.cfg).unwrap().replace("max_score_age_days: 3", "max_score_age_days: 100000");
    std::fs::write(&s.cfg, yaml).unwrap();
    let r = sync(&s, &[]);
    assert_eq!(r.code, 2, "{}", r.all());
    assert!(r.stderr.contains("would change tier at once"), "{}", r.stderr);
}

fn salesforce_yaml(url: &str, extra: &str) -> String {
    format!(
        "sync: {{ max_score_age_days: 100000, max_tier_change_share: 1.0 }}
destinations:
  - name: salesforce-accounts
    kind: salesforce
    base_url: {url}
    oauth: {{ token_url: {url}/services/oauth2/token, client_id_env: SF_CLIENT_ID, client_secret_env: SF_CLIENT_SECRET }}
    object_type: Account
    match: {{ by: record_id, column: crm_id }}
    fields: {{ health_score: Health_Score__c, tier: Health_Tier__c, p_churn_90d: Churn_Risk_90d__c, recommended_action: Health_Action__c }}
    timeout_seconds: 2
{extra}"
    )
}

const SF_PROPS: &[&str] = &["Health_Score__c", "Health_Tier__c", "Churn_Risk_90d__c", "Health_Action__c"];

#[test]
fn salesforce_composite_with_oauth_refresh_partial_failures_and_the_request_limit() {
    let holder = std::sync::OnceLock::new();
    let s = scored("sf", &|| {
        let srv = holder.get_or_init(|| crm::salesforce("client-1", "SECRET-sf-9f8e7d", &[], SF_PROPS));
        salesforce_yaml(&srv.url, "")
    });
    let server = holder.get().unwrap();
    let all = ids(&s);
    let deleted: HashSet<String> = all.iter().take(2).cloned().collect();
    {
        let mut c = server.crm.lock().unwrap();
        c.records = all.iter().filter(|i| !deleted.contains(*i)).map(|i| (i.clone(), BTreeMap::new())).collect();
        c.script = vec![Fault::SessionExpired, Fault::Server(503)].into_iter().collect();
    }
    let r = sync(&s, &[]);
    assert_eq!(r.code, 3, "{}", r.all());
    assert_crm_holds_scores(server, &s, &deleted);
    {
        let c = server.crm.lock().unwrap();
        assert!(c.issued >= 2, "the expired session was refreshed");
        assert!(c.max_batch_seen <= 200 && c.max_batch_seen > 100);
    }
    // the request limit stops the run with exit 4
    let yaml = std::fs::read_to_string(&s.cfg).unwrap();
    std::fs::write(&s.cfg, yaml.replace("recommended_action: Health_Action__c", "recommended_action: Health_Action__c, segment_percentile: Health_Score__c")).unwrap();
    let r = sync(&s, &[]);
    assert_eq!(r.code, 2, "two columns to one field is a config error: {}", r.all());
    std::fs::write(&s.cfg, yaml.clone()).unwrap();
    server.crm.lock().unwrap().records.extend(deleted.iter().map(|d| (d.clone(), BTreeMap::new())));
    server.crm.lock().unwrap().script = vec![Fault::Daily].into_iter().collect();
    let r = sync(&s, &[]);
    assert_eq!(r.code, 4, "{}", r.all());
    let r = sync(&s, &[]);
    assert_eq!(r.code, 0, "{}", r.all());
    assert_crm_holds_scores(server, &s, &HashSet::new());
    assert_no_token(&s.dir);
}

#[test]
fn salesforce_bulk_api_for_large_runs() {
    let holder = std::sync::OnceLock::new();
    let s = scored("sf-bulk", &|| {
        let srv = holder.get_or_init(|| crm::salesforce("client-1", "SECRET-sf-9f8e7d", &[], SF_PROPS));
        salesforce_yaml(&srv.url, "    bulk_threshold: 500\n")
    });
    let server = holder.get().unwrap();
    let all = ids(&s);
    let deleted: HashSet<String> = all.iter().skip(5).take(1).cloned().collect();
    server.crm.lock().unwrap().records = all.iter().filter(|i| !deleted.contains(*i)).map(|i| (i.clone(), BTreeMap::new())).collect();
    let r = sync(&s, &[]);
    assert_eq!(r.code, 3, "{}", r.all());
    assert_crm_holds_scores(server, &s, &deleted);
    let c = server.crm.lock().unwrap();
    assert_eq!(c.jobs.len(), 1);
    assert!(c.log.iter().any(|(_, ids)| ids.iter().any(|i| i.starts_with("bulk:"))));
    drop(c);
    let state: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(s.dir.join("out/_sync/salesforce-accounts/state.json")).unwrap()).unwrap();
    assert!(state["bulk_job"].is_null(), "a finished job is cleared from the state");
    assert_eq!(state["records"].as_object().unwrap().len(), all.len() - 1);
}

fn state_keys(s: &Setup) -> HashSet<String> {
    let p = s.dir.join("out/_sync/hubspot-companies/state.json");
    let state: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(p).unwrap()).unwrap();
    state["records"].as_object().unwrap().keys().cloned().collect()
}

/// HubSpot's dated API 2026-09 declares no 207: record errors arrive inside
/// a 200 with `errors` and `numErrors`. None of those records may count as
/// delivered; they are rejections, and the next run sends them again.
#[test]
fn hubspot_2026_09_errors_inside_a_200_are_rejections_never_acknowledged() {
    let holder = std::sync::OnceLock::new();
    let s = scored("hs-2026-09", &|| {
        let srv = holder.get_or_init(|| crm::hubspot(TOKEN, &[], HS_PROPS));
        hubspot_yaml(&srv.url, "    api_version: \"2026-09\"\n")
    });
    let server = holder.get().unwrap();
    let all = ids(&s);
    let missing: HashSet<String> = all.iter().skip(5).take(4).cloned().collect();
    server.crm.lock().unwrap().records = all.iter().filter(|i| !missing.contains(*i)).map(|i| (i.clone(), BTreeMap::new())).collect();
    let r = sync(&s, &[]);
    assert_eq!(r.code, 3, "rejections exit 3: {}", r.all());
    {
        let c = server.crm.lock().unwrap();
        assert!(c.log.iter().all(|(st, _)| *st == 200), "2026-09 answers every batch 200");
    }
    assert_crm_holds_scores(server, &s, &missing);
    assert_batch_bodies_follow_hubspots_spec(server, false);
    let acked = state_keys(&s);
    assert!(acked.is_disjoint(&missing), "a record HubSpot reported an error for was acknowledged");
    assert_eq!(acked.len(), all.len() - missing.len());
    let rej = read_parquet(&std::fs::read_dir(s.dir.join("out/sync_rejections")).unwrap().next().unwrap().unwrap().path().join("part-0.parquet"));
    let keys: HashSet<String> = healthscore::columns::strings(&rej[0], "record_key").unwrap().into_iter().flatten().collect();
    assert_eq!(keys, missing);
    // the next run sends exactly those again
    server.crm.lock().unwrap().log.clear();
    let r = sync(&s, &[]);
    assert_eq!(r.code, 3, "{}", r.all());
    assert_eq!(sent_ids(server).into_iter().collect::<HashSet<_>>(), missing);
}

/// An error that names no record of the batch leaves the whole batch
/// unknown: nothing of it is acknowledged until a split batch is confirmed.
#[test]
fn an_error_matching_no_record_acknowledges_nothing_of_its_batch() {
    let holder = std::sync::OnceLock::new();
    let s = scored("hs-unmatched", &|| {
        let srv = holder.get_or_init(|| crm::hubspot(TOKEN, &[], HS_PROPS));
        hubspot_yaml(&srv.url, "    concurrency: 2\n    rate_limit: { requests: 100000, per_seconds: 1 }\n")
    });
    let server = holder.get().unwrap();
    server.crm.lock().unwrap().records = ids(&s).into_iter().map(|i| (i, BTreeMap::new())).collect();
    server.crm.lock().unwrap().unmatched_error = true;
    // every answer carries the phantom error: the batch is split, both
    // halves come back with the same error, so it is about the request and
    // the run stops (exit 2) — and nothing of any batch is acknowledged
    let r = sync(&s, &[]);
    assert_eq!(r.code, 2, "{}", r.all());
    assert!(r.stderr.contains("both halves"), "{}", r.stderr);
    // a storm would be 2N − 1 requests for each of the 15 batches (about 3,000)
    assert!(server.crm.lock().unwrap().log.len() <= 20, "bisection must stop early: {} requests", server.crm.lock().unwrap().log.len());
    let state = s.dir.join("out/_sync/hubspot-companies/state.json");
    let acked: usize = std::fs::read_to_string(&state).ok().map(|t| serde_json::from_str::<serde_json::Value>(&t).unwrap()["records"].as_object().unwrap().len()).unwrap_or(0);
    assert_eq!(acked, 0, "records acknowledged although HubSpot's answer named an error it could not be matched to");
    // once the CRM answers cleanly, everything lands and is acknowledged
    server.crm.lock().unwrap().unmatched_error = false;
    let r = sync(&s, &[]);
    assert_eq!(r.code, 0, "{}", r.all());
    assert_eq!(state_keys(&s).len(), ids(&s).len());
}

/// A record the answer leaves out of `results` (and of `errors`) was not
/// shown written: it is not acknowledged, the run says it was not
/// delivered, and the next run sends it again.
#[test]
fn a_record_absent_from_results_is_not_acknowledged() {
    let holder = std::sync::OnceLock::new();
    let s = scored("hs-absent", &|| {
        let srv = holder.get_or_init(|| crm::hubspot(TOKEN, &[], HS_PROPS));
        hubspot_yaml(&srv.url, "    api_version: \"2026-03\"\n")
    });
    let server = holder.get().unwrap();
    let all = ids(&s);
    server.crm.lock().unwrap().records = all.iter().map(|i| (i.clone(), BTreeMap::new())).collect();
    let left_out: HashSet<String> = all.iter().take(2).cloned().collect();
    server.crm.lock().unwrap().omit_from_results = left_out.clone();
    let r = sync(&s, &[]);
    assert_eq!(r.code, 1, "not delivered: {}", r.all());
    assert!(r.all().contains("2 not delivered") || r.all().contains("2 records were not delivered"), "{}", r.all());
    assert!(state_keys(&s).is_disjoint(&left_out));
    server.crm.lock().unwrap().omit_from_results.clear();
    server.crm.lock().unwrap().log.clear();
    let r = sync(&s, &[]);
    assert_eq!(r.code, 0, "{}", r.all());
    assert_eq!(sent_ids(server).into_iter().collect::<HashSet<_>>(), left_out);
}

/// A property that does not exist fails every record: one refused request
/// per batch in flight, then the run stops with exit 2 naming the property
/// and the fix — no bisection into a storm of 400s.
#[test]
fn a_missing_property_stops_the_run_instead_of_bisecting_it() {
    let holder = std::sync::OnceLock::new();
    let s = scored("hs-no-property", &|| {
        let srv = holder.get_or_init(|| crm::hubspot(TOKEN, &[], &HS_PROPS[..4]));
        hubspot_yaml(&srv.url, "    concurrency: 4\n")
    });
    let server = holder.get().unwrap();
    server.crm.lock().unwrap().records = ids(&s).into_iter().map(|i| (i, BTreeMap::new())).collect();
    let r = sync(&s, &[]);
    assert_eq!(r.code, 2, "{}", r.all());
    assert!(r.stderr.contains("`health_action`") && r.stderr.contains("sync --setup"), "{}", r.stderr);
    let c = server.crm.lock().unwrap();
    assert!(c.log.len() <= 4, "{} requests: at most one per batch in flight", c.log.len());
    assert!(c.log.iter().all(|(st, _)| *st == 400));
    drop(c);
    assert!(!s.dir.join("out/_sync/hubspot-companies/state.json").exists() || state_keys(&s).is_empty());
}

/// State you cannot lose or misapply: a truncated state file is a clear
/// error naming it and `--full-resync`, which recovers; a destination pointed
/// at another portal starts fresh instead of sending nothing.
#[test]
fn a_truncated_state_is_named_and_a_changed_base_url_starts_fresh() {
    let holder = std::sync::OnceLock::new();
    let s = scored("hs-state", &|| {
        let srv = holder.get_or_init(|| crm::hubspot(TOKEN, &[], HS_PROPS));
        hubspot_yaml(&srv.url, "")
    });
    let server = holder.get().unwrap();
    server.crm.lock().unwrap().records = ids(&s).into_iter().map(|i| (i, BTreeMap::new())).collect();
    assert_eq!(sync(&s, &[]).code, 0);
    let state = s.dir.join("out/_sync/hubspot-companies/state.json");
    let text = std::fs::read(&state).unwrap();
    std::fs::write(&state, &text[..text.len() / 2]).unwrap();
    let r = sync(&s, &[]);
    assert_eq!(r.code, 2, "{}", r.all());
    assert!(r.stderr.contains("state.json") && r.stderr.contains("--full-resync") && !r.stderr.contains("panicked"), "{}", r.stderr);
    let r = sync(&s, &["--full-resync"]);
    assert_eq!(r.code, 0, "{}", r.all());
    assert_eq!(state_keys(&s).len(), ids(&s).len());

    // the same destination name, another portal: everything goes to the new one
    let other = crm::hubspot(TOKEN, &ids(&s), HS_PROPS);
    let yaml = std::fs::read_to_string(&s.cfg).unwrap().replace(&server.url, &other.url);
    std::fs::write(&s.cfg, yaml).unwrap();
    let r = sync(&s, &[]);
    assert_eq!(r.code, 0, "{}", r.all());
    assert_eq!(sent_ids(&other).len(), ids(&s).len(), "a state recorded for another portal must not be applied");
    assert_crm_holds_scores(&other, &s, &HashSet::new());
    assert!(s.dir.join("out/_sync/hubspot-companies/state.previous.json").exists());

    // the state keeps only accounts still scored
    let state = s.dir.join("out/_sync/hubspot-companies/state.json");
    let mut v: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(&state).unwrap()).unwrap();
    v["records"]["no-longer-scored"] = serde_json::json!({"health_score": "1"});
    std::fs::write(&state, v.to_string()).unwrap();
    let r = sync(&s, &[]);
    assert_eq!(r.code, 0, "{}", r.all());
    assert!(!state_keys(&s).contains("no-longer-scored"), "the state is pruned of accounts no longer scored");
}

/// A record the CRM deleted fails every run: after `quarantine_after` runs
/// with the same code it is set aside — not sent, reported with
/// `quarantined = true` — and a run whose only rejections are quarantined
/// exits 0. New values for it end the quarantine.
#[test]
fn a_deleted_record_is_quarantined_after_three_failing_runs() {
    let holder = std::sync::OnceLock::new();
    let s = scored("hs-quarantine", &|| {
        let srv = holder.get_or_init(|| crm::hubspot(TOKEN, &[], HS_PROPS));
        hubspot_yaml(&srv.url, "")
    });
    let server = holder.get().unwrap();
    let all = ids(&s);
    let deleted: HashSet<String> = all.iter().take(2).cloned().collect();
    server.crm.lock().unwrap().records = all.iter().filter(|i| !deleted.contains(*i)).map(|i| (i.clone(), BTreeMap::new())).collect();
    for run in 1..=3 {
        let r = sync(&s, &[]);
        assert_eq!(r.code, 3, "run {run}: {}", r.all());
    }
    server.crm.lock().unwrap().log.clear();
    let r = sync(&s, &[]);
    assert_eq!(r.code, 0, "only quarantined rejections: {}", r.all());
    assert!(sent_ids(server).is_empty(), "quarantined records are not sent");
    let newest = std::fs::read_dir(s.dir.join("out/sync_rejections")).unwrap().flatten().map(|e| e.path()).max().unwrap();
    let rej = read_parquet(&newest.join("part-0.parquet"));
    let keys: HashSet<String> = healthscore::columns::strings(&rej[0], "record_key").unwrap().into_iter().flatten().collect();
    assert_eq!(keys, deleted);
    let q = rej[0].column_by_name("quarantined").unwrap().as_any().downcast_ref::<arrow::array::BooleanArray>().unwrap().clone();
    assert!((0..q.len()).all(|i| q.value(i)));
    let codes = healthscore::columns::strings(&rej[0], "code").unwrap();
    assert!(codes.iter().all(|c| c.as_deref() == Some("OBJECT_NOT_FOUND")), "{codes:?}");
    // --full-resync tries them again
    let r = sync(&s, &["--full-resync"]);
    assert_eq!(r.code, 3, "{}", r.all());
}

/// With four workers and no client-side limit worth the name, HubSpot's
/// rate-limit headers slow every worker before the interval runs out: fewer
/// than 5 % of requests meet a 429, and everything lands. A daily budget
/// inside `daily_reserve` stops the run cleanly, exit 4.
#[test]
fn rate_limit_headers_keep_429s_under_five_percent() {
    let holder = std::sync::OnceLock::new();
    let s = scored("hs-headers", &|| {
        let srv = holder.get_or_init(|| crm::hubspot(TOKEN, &[], HS_PROPS));
        hubspot_yaml(&srv.url, "    concurrency: 4\n    batch_size: 20\n    rate_limit: { requests: 1000, per_seconds: 1 }\n")
    });
    let server = holder.get().unwrap();
    {
        let mut c = server.crm.lock().unwrap();
        c.records = ids(&s).into_iter().map(|i| (i, BTreeMap::new())).collect();
        c.rolling = Some((12, std::time::Duration::from_millis(300)));
    }
    let r = sync(&s, &[]);
    assert_eq!(r.code, 0, "{}", r.all());
    assert_crm_holds_scores(server, &s, &HashSet::new());
    let c = server.crm.lock().unwrap();
    let throttled = c.log.iter().filter(|(st, _)| *st == 429).count();
    let total = c.log.len();
    assert!(total > 50, "{total} requests");
    assert!((throttled as f64) < 0.05 * total as f64, "{throttled} of {total} requests met a 429");
    drop(c);

    // the daily reserve: stop before the portal's quota is spent
    let yaml = std::fs::read_to_string(&s.cfg).unwrap().replace("    concurrency: 4\n", "    concurrency: 4\n    daily_reserve: 1000\n");
    std::fs::write(&s.cfg, yaml).unwrap();
    {
        let mut c = server.crm.lock().unwrap();
        c.daily_left = Some(1010);
        c.log.clear();
    }
    let r = sync(&s, &["--full-resync"]);
    assert_eq!(r.code, 4, "{}", r.all());
    assert!(r.stderr.contains("daily_reserve"), "{}", r.stderr);
    let sent = server.crm.lock().unwrap().log.len();
    assert!(sent <= 10 + 4, "{sent} requests sent past the reserve");
}

/// What HubSpot's published OpenAPI documents (v3, 2026-03, 2026-09) require
/// of `BatchInputSimplePublicObjectBatchInput` and its `SimplePublicObjectBatchInput`
/// items (and of the `…Upsert` variants, which have the same shape): `inputs`,
/// each with `id` and `properties` (string values), and, when given, string
/// `idProperty` and `objectWriteTraceId`; no other keys.
fn assert_batch_bodies_follow_hubspots_spec(server: &crm::Server, id_property: bool) {
    let c = server.crm.lock().unwrap();
    assert!(!c.bodies.is_empty());
    for b in &c.bodies {
        let obj = b.as_object().unwrap();
        assert_eq!(obj.keys().collect::<Vec<_>>(), ["inputs"], "{b}");
        let mut traces = HashSet::new();
        for i in b["inputs"].as_array().unwrap() {
            for k in i.as_object().unwrap().keys() {
                assert!(["id", "idProperty", "objectWriteTraceId", "properties"].contains(&k.as_str()), "unknown input key `{k}`: {i}");
            }
            assert!(i["id"].is_string() && i["properties"].is_object(), "{i}");
            assert!(i["properties"].as_object().unwrap().values().all(|v| v.is_string()), "{i}");
            assert!(i["objectWriteTraceId"].is_string(), "{i}");
            assert!(traces.insert(i["objectWriteTraceId"].as_str().unwrap().to_string()), "trace ids must be unique in a batch");
            assert_eq!(i.get("idProperty").is_some(), id_property, "{i}");
        }
    }
    for g in &c.group_bodies {
        assert!(g["name"].is_string() && g["label"].is_string(), "PropertyGroupCreate needs name and label: {g}");
    }
}

fn assert_batch_bodies_follow_hubspots_spec_for_setup(server: &crm::Server) {
    let c = server.crm.lock().unwrap();
    assert_eq!(c.group_bodies.len(), 1);
    let g = &c.group_bodies[0];
    assert!(g["name"].is_string() && g["label"].is_string() && g["displayOrder"].is_i64(), "PropertyGroupCreate: {g}");
}

/// Matched by a unique property with `create_missing`: `batch/upsert`, each
/// input with `idProperty`, and a record is acknowledged when the answer's
/// `results` carry its key in that property.
#[test]
fn upsert_by_a_unique_property_acknowledges_what_results_show() {
    let holder = std::sync::OnceLock::new();
    let s = scored("hs-upsert", &|| {
        let srv = holder.get_or_init(|| crm::hubspot(TOKEN, &[], &["healthscore_id", "health_score", "health_tier", "churn_risk_90d", "health_reasons", "health_action"]));
        hubspot_yaml(&srv.url, "    create_missing: true\n").replace(
            "match: { by: record_id, column: crm_id }",
            "match: { by: unique_property, property: healthscore_id, column: account_id }",
        )
    });
    let server = holder.get().unwrap();
    // --setup checks the matching property is unique
    let r = sync(&s, &["--setup"]);
    assert!(r.all().contains("`healthscore_id` exists but is not unique"), "{}", r.all());
    let r = sync(&s, &[]);
    assert_eq!(r.code, 0, "{}", r.all());
    assert_eq!(server.crm.lock().unwrap().records.len(), s.expected.len(), "every record created");
    assert_eq!(state_keys(&s).len(), s.expected.len());
    assert_batch_bodies_follow_hubspots_spec(server, true);
}

fn sf_state(s: &Setup) -> serde_json::Value {
    serde_json::from_str(&std::fs::read_to_string(s.dir.join("out/_sync/salesforce-accounts/state.json")).unwrap()).unwrap()
}

fn newest_sync_log_status(s: &Setup) -> String {
    let newest = std::fs::read_dir(s.dir.join("out/sync_log")).unwrap().flatten().map(|e| e.path()).max().unwrap();
    let b = read_parquet(&newest.join("part-0.parquet"));
    healthscore::columns::strings(&b[0], "status").unwrap()[0].clone().unwrap()
}

/// The Bulk path runs inside the driver: the org's daily limit at any step
/// is exit 4 with a `sync_log` row; a job stuck `InProgress` past
/// `bulk_timeout_seconds` stops the run (exit 1, logged) and the next run
/// reads that same job instead of uploading again.
#[test]
fn bulk_jobs_meet_the_daily_limit_and_a_deadline_inside_the_driver() {
    let holder = std::sync::OnceLock::new();
    let s = scored("sf-bulk-limits", &|| {
        let srv = holder.get_or_init(|| crm::salesforce("client-1", "SECRET-sf-9f8e7d", &[], SF_PROPS));
        salesforce_yaml(&srv.url, "    bulk_threshold: 500\n    bulk_timeout_seconds: 1\n")
    });
    let server = holder.get().unwrap();
    server.crm.lock().unwrap().records = ids(&s).into_iter().map(|i| (i, BTreeMap::new())).collect();
    server.crm.lock().unwrap().bulk_daily_limit = true;
    let r = sync(&s, &[]);
    assert_eq!(r.code, 4, "{}", r.all());
    assert_eq!(newest_sync_log_status(&s), "daily_limit");

    server.crm.lock().unwrap().bulk_daily_limit = false;
    server.crm.lock().unwrap().bulk_stuck = true;
    let r = sync(&s, &[]);
    assert_eq!(r.code, 1, "{}", r.all());
    assert!(r.stderr.contains("still `InProgress`") && r.stderr.contains("bulk_timeout_seconds"), "{}", r.stderr);
    assert_eq!(newest_sync_log_status(&s), "failed");
    assert!(sf_state(&s)["bulk_job"]["id"].is_string(), "the job stays in the state");

    server.crm.lock().unwrap().bulk_stuck = false;
    let r = sync(&s, &[]);
    assert_eq!(r.code, 0, "{}", r.all());
    let c = server.crm.lock().unwrap();
    assert_eq!(c.jobs.len(), 1, "the next run read the same job");
    assert!(c.applied.values().all(|n| *n == 1));
    drop(c);
    assert!(sf_state(&s)["bulk_job"].is_null());
    assert_eq!(sf_state(&s)["records"].as_object().unwrap().len(), ids(&s).len());
}

/// Killed between the upload and the poll: the rerun polls the same job
/// and sends nothing twice.
#[test]
fn a_bulk_sync_killed_after_the_upload_resumes_by_polling_its_job() {
    let holder = std::sync::OnceLock::new();
    let s = scored("sf-bulk-kill", &|| {
        let srv = holder.get_or_init(|| crm::salesforce("client-1", "SECRET-sf-9f8e7d", &[], SF_PROPS));
        salesforce_yaml(&srv.url, "    bulk_threshold: 500\n")
    });
    let server = holder.get().unwrap();
    server.crm.lock().unwrap().records = ids(&s).into_iter().map(|i| (i, BTreeMap::new())).collect();
    let mut a = vec!["sync", "-c", s.cfg.to_str().unwrap()];
    a.push("--log-format");
    a.push("json");
    let killed = std::process::Command::new(bin())
        .args(&a)
        .env("SF_CLIENT_ID", "client-1")
        .env("SF_CLIENT_SECRET", "SECRET-sf-9f8e7d")
        .env("HEALTHSCORE_FAULT", "after_bulk_upload")
        .output()
        .unwrap();
    assert_eq!(killed.status.code(), Some(137));
    assert!(sf_state(&s)["bulk_job"]["id"].is_string(), "the job id was saved before the upload");
    let r = sync(&s, &[]);
    assert_eq!(r.code, 0, "{}", r.all());
    let c = server.crm.lock().unwrap();
    assert_eq!(c.jobs.len(), 1, "no second job: the rerun polled the first");
    assert!(c.applied.values().all(|n| *n == 1), "nothing was sent twice");
    drop(c);
    assert_eq!(sf_state(&s)["records"].as_object().unwrap().len(), ids(&s).len());
}

/// Salesforce's passing failures are retried in the run, not rejected: a
/// row lock on some records, and the concurrent-long-transaction flavour of
/// `REQUEST_LIMIT_EXCEEDED` (the daily one is exit 4, tested above).
#[test]
fn salesforce_row_locks_and_long_transactions_are_retried_not_rejected() {
    let holder = std::sync::OnceLock::new();
    let s = scored("sf-locks", &|| {
        let srv = holder.get_or_init(|| crm::salesforce("client-1", "SECRET-sf-9f8e7d", &[], SF_PROPS));
        salesforce_yaml(&srv.url, "")
    });
    let server = holder.get().unwrap();
    let all = ids(&s);
    {
        let mut c = server.crm.lock().unwrap();
        c.records = all.iter().map(|i| (i.clone(), BTreeMap::new())).collect();
        c.locked_rows = all.iter().take(3).map(|i| (i.clone(), 2)).collect();
        c.long_txn_once = true;
        // the token endpoint's 5xx are retried like the API's
        c.token_unavailable = 2;
    }
    let r = sync(&s, &[]);
    assert_eq!(r.code, 0, "{}", r.all());
    assert_crm_holds_scores(server, &s, &HashSet::new());
    let c = server.crm.lock().unwrap();
    assert!(c.applied.values().all(|n| *n == 1));
    assert!(c.locked_rows.values().all(|n| *n == 0), "the locked rows were tried until the lock passed");
    assert!(c.log.iter().any(|(st, _)| *st == 403));
    drop(c);
    assert!(!s.dir.join("out/sync_rejections").exists(), "no rejection for a passing failure");
}

/// HubSpot merged two companies: the write to the merged-away id lands on
/// the survivor and `results` carry the survivor's id. It is acknowledged,
/// and the drift is reported (run output and `sync_log.merged`).
#[test]
fn a_write_to_a_merged_record_is_acknowledged_and_the_drift_reported() {
    let holder = std::sync::OnceLock::new();
    let s = scored("hs-merged", &|| {
        let srv = holder.get_or_init(|| crm::hubspot(TOKEN, &[], HS_PROPS));
        hubspot_yaml(&srv.url, "")
    });
    let server = holder.get().unwrap();
    let all = ids(&s);
    let (gone, survivor) = (all[0].clone(), "777000111".to_string());
    {
        let mut c = server.crm.lock().unwrap();
        c.records = all.iter().skip(1).map(|i| (i.clone(), BTreeMap::new())).collect();
        c.records.insert(survivor.clone(), BTreeMap::new());
        c.merged_into.insert(gone.clone(), survivor.clone());
    }
    let r = sync(&s, &[]);
    assert_eq!(r.code, 0, "{}", r.all());
    assert!(r.stdout.contains(&format!("{gone} → {survivor}")), "{}", r.stdout);
    assert!(state_keys(&s).contains(&gone));
    let newest = std::fs::read_dir(s.dir.join("out/sync_log")).unwrap().flatten().map(|e| e.path()).max().unwrap();
    let b = read_parquet(&newest.join("part-0.parquet"));
    let merged = healthscore::columns::floats(&b[0], "merged").unwrap();
    assert_eq!(merged, vec![1.0]);
    assert_eq!(server.crm.lock().unwrap().records[&survivor].get("health_score"), s.expected[&gone].get("health_score"));
}
