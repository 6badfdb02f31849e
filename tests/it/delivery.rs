//! Alerts delivered through the sync driver to local servers: a webhook,
//! HubSpot tasks and Salesforce Tasks. Each alert to send arrives once, a
//! kill mid-delivery posts nothing twice, control-group and suppressed
//! alerts never leave.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::path::PathBuf;
use std::time::{Duration, Instant};

use crate::common::*;
use crate::crm::{self, Fault};

const TOKEN: &str = "pat-na1-tasks-SECRET-91b2";

struct Scored {
    dir: PathBuf,
    cfg: PathBuf,
    /// alert id → crm id, of the alerts to send
    send: HashMap<String, Option<String>>,
    /// alert ids held back (control group, cooldown, cap …)
    held: HashSet<String>,
    owners: HashMap<String, Option<String>>,
}

/// Scores the fixture company under the demo's playbooks with `dest` as the only destination.
fn scored(name: &str, dest: &str) -> Scored {
    let c = company();
    let dir = scratch(name);
    let extra = format!("sync: {{ max_score_age_days: 100000, max_tier_change_share: 1.0 }}\ndestinations:\n{dest}\n{}", live_playbooks());
    let cfg = config_for(&dir, &c.data, &c.models, &extra);
    let r = hs(&["score", "-c", cfg.to_str().unwrap()]);
    assert_eq!(r.code, 0, "{}", r.all());
    let (mut send, mut held, mut owners) = (HashMap::new(), HashSet::new(), HashMap::new());
    for b in read_parquet(&dir.join(format!("out/alerts/as_of={EXPORT_DATE}/part-0.parquet"))) {
        let (ids, crm, sup, own) = (strings(&b, "alert_id").unwrap(), strings(&b, "crm_id").unwrap(), strings(&b, "suppressed_by").unwrap(), strings(&b, "owner").unwrap());
        for i in 0..b.num_rows() {
            let id = ids[i].clone().unwrap();
            owners.insert(id.clone(), own[i].clone());
            if sup[i].is_none() {
                send.insert(id, crm[i].clone());
            } else {
                held.insert(id);
            }
        }
    }
    assert!(send.len() > 20 && !held.is_empty(), "{} to send, {} held", send.len(), held.len());
    Scored { dir, cfg, send, held, owners }
}

/// The owners of the alerts to send as CRM users (email → id), but one: the
/// users the CRM knows, and the owner it does not.
fn owners_but_one(s: &Scored) -> (HashMap<String, String>, String) {
    let mut emails: Vec<String> = s.send.keys().filter_map(|k| s.owners[k].clone()).collect();
    emails.sort();
    emails.dedup();
    assert!(emails.len() >= 3, "{emails:?}");
    let unknown = emails.pop().unwrap();
    (emails.iter().enumerate().map(|(i, e)| (e.clone(), format!("{}", 7100 + i))).collect(), unknown)
}

fn run_sync(s: &Scored, env: &[(&str, &str)]) -> Run {
    hs_env(&["sync", "-c", s.cfg.to_str().unwrap()], env)
}

fn strings(b: &arrow::array::RecordBatch, c: &str) -> healthscore::Result<Vec<Option<String>>> {
    healthscore::columns::strings(b, c)
}

/// The rows of every `sync_rejections` partition: (record key, code).
fn rejections(s: &Scored) -> Vec<(String, String)> {
    let mut out = Vec::new();
    let Ok(rd) = std::fs::read_dir(s.dir.join("out/sync_rejections")) else { return out };
    for p in rd.flatten() {
        for b in read_parquet(&p.path().join("part-0.parquet")) {
            let (k, c) = (strings(&b, "record_key").unwrap(), strings(&b, "code").unwrap());
            out.extend(k.into_iter().flatten().zip(c.into_iter().flatten()));
        }
    }
    out
}

/// Alert ids a webhook received, in order (the JSON format carries them).
fn received(server: &crm::Server) -> Vec<String> {
    let c = server.crm.lock().unwrap();
    c.messages.iter().flat_map(|m| m["alerts"].as_array().cloned().unwrap_or_default()).map(|a| a["alert_id"].as_str().unwrap().to_string()).collect()
}

fn webhook_yaml(extra: &str) -> String {
    format!("  - name: cs-channel\n    kind: webhook\n    deliver: alerts\n    url_env: HS_TEST_HOOK\n    format: json\n    rate_limit: {{ requests: 200, per_seconds: 1 }}\n    timeout_seconds: 5\n{extra}")
}

#[test]
fn a_webhook_gets_each_alert_once_even_when_the_run_is_killed_mid_delivery() {
    let server = crm::webhook();
    let s = scored("hook-kill", &webhook_yaml(""));
    let env = [("HS_TEST_HOOK", server.url.as_str())];
    // the fourth message is posted, and its answer never comes: kill the run there
    server.crm.lock().unwrap().hang_at = Some(3);
    let mut child = std::process::Command::new(bin())
        .args(["sync", "-c", s.cfg.to_str().unwrap()])
        .env("HS_TEST_HOOK", &server.url)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let t = Instant::now();
    while server.crm.lock().unwrap().messages.len() < 4 && t.elapsed() < Duration::from_secs(60) {
        std::thread::sleep(Duration::from_millis(20));
    }
    std::thread::sleep(Duration::from_millis(200));
    child.kill().unwrap();
    child.wait().unwrap();
    let first = received(&server);
    assert_eq!(first.len(), 4, "one message per alert, the run stopped at the hung one");
    // the rerun meets a 429 with Retry-After and a 503 on the way: waited out, nothing posted twice
    {
        let mut c = server.crm.lock().unwrap();
        c.hang_at = None;
        c.script = [Fault::Throttle(Some(1.0)), Fault::Pass, Fault::Server(503)].into_iter().collect();
    }
    let r = run_sync(&s, &env);
    assert_eq!(r.code, 0, "{}", r.all());
    let all = received(&server);
    let unique: HashSet<&String> = all.iter().collect();
    assert_eq!(unique.len(), all.len(), "an alert was posted twice");
    assert_eq!(unique.into_iter().cloned().collect::<HashSet<_>>(), s.send.keys().cloned().collect::<HashSet<_>>(), "every alert to send, and only those");
    assert!(all.iter().all(|a| !s.held.contains(a)), "a held-back alert was delivered");
    // the hung one is reported in doubt, not resent
    let doubt: Vec<String> = rejections(&s).into_iter().filter(|(_, c)| c == "IN_DOUBT").map(|(k, _)| k).collect();
    assert_eq!(doubt, vec![first[3].clone()], "{}", r.all());
    // a third run sends nothing
    let before = server.crm.lock().unwrap().messages.len();
    let r = run_sync(&s, &env);
    assert_eq!(r.code, 0, "{}", r.all());
    assert_eq!(server.crm.lock().unwrap().messages.len(), before, "nothing is sent twice");
    // the webhook's URL is its secret: it appears in no file the job wrote
    for f in walk(&s.dir) {
        let text = String::from_utf8_lossy(&std::fs::read(&f).unwrap()).to_string();
        assert!(!text.contains("SECRET-hook"), "the webhook URL leaked into {}", f.display());
    }
    assert!(!r.all().contains("SECRET-hook"));
}

#[test]
fn a_digest_is_one_slack_message_per_owner() {
    let server = crm::webhook();
    let s = scored("hook-digest", &webhook_yaml("    digest: true\n").replace("format: json", "format: slack"));
    let r = run_sync(&s, &[("HS_TEST_HOOK", server.url.as_str())]);
    assert_eq!(r.code, 0, "{}", r.all());
    let owners: HashSet<Option<String>> = s.send.keys().map(|k| s.owners[k].clone()).collect();
    let c = server.crm.lock().unwrap();
    assert_eq!(c.messages.len(), owners.len(), "one message per owner");
    let listed: usize = c
        .messages
        .iter()
        .map(|m| {
            let t = m["text"].as_str().unwrap();
            match t.split_once(" alerts for ") {
                Some((n, _)) if !t.starts_with('*') => n.parse::<usize>().unwrap(),
                _ => 1,
            }
        })
        .sum();
    assert_eq!(listed, s.send.len(), "every alert is in its owner's digest");
    assert!(c.messages.iter().all(|m| m["text"].as_str().unwrap().contains("Next step: ")));
}

#[test]
fn alerts_become_hubspot_tasks_on_their_companies_and_a_killed_run_makes_no_duplicate() {
    let server = crm::hubspot(TOKEN, &[], &["hs_task_subject", "hs_task_body", "hs_timestamp", "hs_task_priority", "hs_task_status", "hs_task_type", "hubspot_owner_id"]);
    let dest = format!(
        "  - name: hubspot-tasks\n    kind: hubspot\n    deliver: alerts\n    routes: [csm, manager, executive, owner]\n    base_url: {}\n    token_env: HS_TEST_TOKEN\n    batch_size: 10\n    concurrency: 1\n    timeout_seconds: 5\n",
        server.url
    );
    let s = scored("hs-tasks", &dest);
    let env = [("HS_TEST_TOKEN", TOKEN)];
    // every owner but one is a HubSpot user
    let (known, unknown) = owners_but_one(&s);
    server.crm.lock().unwrap().users = known.clone();
    // `--setup` creates the unique alert-id property the upsert matches on
    let r = hs_env(&["sync", "-c", s.cfg.to_str().unwrap(), "--setup"], &env);
    assert_eq!(r.code, 0, "{}", r.all());
    assert_eq!(server.crm.lock().unwrap().property_defs.get("healthscore_alert_id").and_then(|d| d["hasUniqueValue"].as_bool()), Some(true), "{}", r.all());
    // which alerts go: the routes asked for, with a CRM record
    let routes: HashMap<String, String> = read_parquet(&s.dir.join(format!("out/alerts/as_of={EXPORT_DATE}/part-0.parquet")))
        .iter()
        .flat_map(|b| strings(b, "alert_id").unwrap().into_iter().flatten().zip(strings(b, "route").unwrap().into_iter().flatten()))
        .collect();
    let want: HashMap<String, String> = s
        .send
        .iter()
        .filter(|(k, crm)| crm.is_some() && ["csm", "manager", "executive", "owner"].contains(&routes[*k].as_str()))
        .map(|(k, crm)| (k.clone(), crm.clone().unwrap()))
        .collect();
    assert!(want.len() > 10, "{}", want.len());
    // kill the run once a few batches are written
    server.crm.lock().unwrap().delay = Duration::from_millis(150);
    let mut child = std::process::Command::new(bin())
        .args(["sync", "-c", s.cfg.to_str().unwrap()])
        .env("HS_TEST_TOKEN", TOKEN)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let t = Instant::now();
    while server.crm.lock().unwrap().records.len() < 10 && t.elapsed() < Duration::from_secs(60) {
        std::thread::sleep(Duration::from_millis(10));
    }
    child.kill().unwrap();
    child.wait().unwrap();
    assert!(server.crm.lock().unwrap().records.len() < want.len(), "killed before the end");
    server.crm.lock().unwrap().delay = Duration::ZERO;
    let r = run_sync(&s, &env);
    assert_eq!(r.code, 0, "{}", r.all());
    let c = server.crm.lock().unwrap();
    // one task per alert (a resend upserts the same task), on the alert's company
    assert_eq!(c.records.keys().cloned().collect::<HashSet<_>>(), want.keys().cloned().collect::<HashSet<_>>());
    let linked: HashMap<&str, &str> = c.associations.iter().map(|(f, t)| (f.as_str(), t.as_str())).collect();
    for (alert, company) in &want {
        assert_eq!(linked.get(alert.as_str()), Some(&company.as_str()), "task {alert} is not on company {company}");
        let task = &c.records[alert];
        assert_eq!(task["hs_task_status"], "NOT_STARTED");
        assert!(task["hs_task_body"].contains("Next step: "), "{task:?}");
        assert!(task["hs_timestamp"].ends_with("T09:00:00Z"));
        // assigned to the account owner's HubSpot user, unassigned when the owner is none
        let owner = s.owners[alert].clone().unwrap();
        assert_eq!(task.get("hubspot_owner_id"), known.get(&owner), "{alert}: owner {owner}");
        assert_eq!(owner == unknown, task.get("hubspot_owner_id").is_none());
    }
    assert!(c.association_versions.iter().all(|v| v == "v4"), "v3 links through v4: {:?}", c.association_versions);
    // each input named its alert id as the unique property it is matched on
    assert!(c.bodies.iter().flat_map(|b| b["inputs"].as_array().unwrap().clone()).all(|i| i["idProperty"] == "healthscore_alert_id"));
}

#[test]
fn alerts_become_salesforce_tasks_upserted_by_the_alert_id() {
    let server = crm::salesforce("client-1", "SECRET-sf-1", &[], &[]);
    let dest = format!(
        "  - name: sf-tasks\n    kind: salesforce\n    deliver: alerts\n    base_url: {}\n    oauth: {{ token_url: '{}/services/oauth2/token', client_id_env: SF_CLIENT_ID, client_secret_env: SF_CLIENT_SECRET }}\n    due_in_days: 5\n",
        server.url, server.url
    );
    let s = scored("sf-tasks", &dest);
    let env = [("SF_CLIENT_ID", "client-1"), ("SF_CLIENT_SECRET", "SECRET-sf-1")];
    let (known, _) = owners_but_one(&s);
    server.crm.lock().unwrap().users = known.clone();
    let r = run_sync(&s, &env);
    assert_eq!(r.code, 0, "{}", r.all());
    let r = run_sync(&s, &env);
    assert_eq!(r.code, 0, "{}", r.all());
    let c = server.crm.lock().unwrap();
    let want: BTreeMap<&String, &String> = s.send.iter().filter_map(|(k, v)| v.as_ref().map(|v| (k, v))).collect();
    assert_eq!(c.records.len(), want.len());
    assert!(c.applied.values().all(|n| *n == 1), "the second run sent nothing");
    let due = (chrono::NaiveDate::parse_from_str(EXPORT_DATE, "%Y-%m-%d").unwrap() + chrono::Duration::days(5)).to_string();
    for (alert, account) in want {
        let t = &c.records[alert];
        assert_eq!((&t["WhatId"], t["ActivityDate"].as_str(), t["Status"].as_str()), (account, due.as_str(), "Not Started"), "{t:?}");
        assert!(["High", "Normal", "Low"].contains(&t["Priority"].as_str()));
        assert_eq!(t.get("OwnerId"), known.get(s.owners[alert].as_ref().unwrap()), "the owner's user");
    }
}

#[test]
fn tasks_on_a_dated_hubspot_api_are_linked_through_its_own_associations_path() {
    let server = crm::hubspot(TOKEN, &[], &["hs_task_subject", "hs_task_body", "hs_timestamp", "hs_task_priority", "hs_task_status", "hs_task_type", "hubspot_owner_id", "healthscore_alert_id"]);
    let dest = format!("  - name: hubspot-tasks\n    kind: hubspot\n    deliver: alerts\n    api_version: '2026-09'\n    base_url: {}\n    token_env: HS_TEST_TOKEN\n", server.url);
    let s = scored("hs-tasks-dated", &dest);
    let r = run_sync(&s, &[("HS_TEST_TOKEN", TOKEN)]);
    assert_eq!(r.code, 0, "{}", r.all());
    let c = server.crm.lock().unwrap();
    let want: HashSet<&String> = s.send.iter().filter(|(_, crm)| crm.is_some()).map(|(k, _)| k).collect();
    assert_eq!(c.records.keys().collect::<HashSet<_>>(), want);
    assert_eq!(c.associations.iter().map(|(f, _)| f).collect::<HashSet<_>>(), want, "every task linked");
    assert!(!c.association_versions.is_empty() && c.association_versions.iter().all(|v| v == "2026-09"), "{:?}", c.association_versions);
}
