//! Local servers that behave like the CRMs, on loopback, for the sync tests:
//! HubSpot's batch update/upsert and properties API, and Salesforce's OAuth
//! token endpoint, sObject Collections and Bulk API 2.0. They enforce batch
//! limits and value types, answer 207 partial failures, and play a script
//! of faults (429 with and without Retry-After, 5xx, 423, stalls, a daily
//! limit) in request order.

use std::collections::{BTreeMap, HashMap, HashSet, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, patch, post, put};
use serde_json::{Value, json};

#[derive(Debug, Clone)]
pub enum Fault {
    /// Answer this request normally.
    Pass,
    /// 429 TEN_SECONDLY_ROLLING, with Retry-After seconds if given.
    Throttle(Option<f64>),
    Daily,
    Server(u16),
    Locked,
    /// Answer nothing for this long (the client's timeout is shorter); nothing is applied.
    Stall(f64),
    /// Salesforce: the session expired.
    SessionExpired,
}

#[derive(Default)]
pub struct Crm {
    pub token: String,
    /// record id → property → value (only known ids can be updated)
    pub records: HashMap<String, BTreeMap<String, String>>,
    /// properties that exist
    pub properties: HashSet<String>,
    /// ids whose presence makes a whole batch fail validation (as HubSpot does)
    pub poison: HashSet<String>,
    pub script: VecDeque<Fault>,
    /// Every write request's record ids, in order, with its status.
    pub log: Vec<(u16, Vec<String>)>,
    /// Times each id's values were applied.
    pub applied: HashMap<String, usize>,
    pub max_batch_seen: usize,
    pub groups: HashSet<String>,
    pub created_properties: Vec<String>,
    pub delay: Duration,
    /// HubSpot: ids applied but left out of the answer's `results`.
    pub omit_from_results: HashSet<String>,
    /// HubSpot: every answer carries an error for an id no input has.
    pub unmatched_error: bool,
    /// HubSpot: the definitions `--setup` created or changed.
    pub property_defs: HashMap<String, Value>,
    /// HubSpot: a rolling limit of (requests, interval) on writes, told in
    /// `X-HubSpot-RateLimit-*` headers and enforced with 429s (no Retry-After).
    pub rolling: Option<(usize, Duration)>,
    pub rolling_starts: VecDeque<std::time::Instant>,
    pub daily_left: Option<u64>,
    /// HubSpot: every batch request body, as sent.
    pub bodies: Vec<Value>,
    pub group_bodies: Vec<Value>,
    /// Salesforce Bulk: jobs stay `InProgress` while this is set.
    pub bulk_stuck: bool,
    /// Salesforce Bulk: creating a job meets the org's daily limit.
    pub bulk_daily_limit: bool,
    /// Salesforce: id → how many more writes answer `UNABLE_TO_LOCK_ROW`.
    pub locked_rows: HashMap<String, usize>,
    /// Salesforce: the next composite write meets the concurrent-long-transaction limit.
    pub long_txn_once: bool,
    /// HubSpot: merged-away id → the record that survived the merge.
    pub merged_into: HashMap<String, String>,
    /// Salesforce: the token endpoint answers 503 this many more times.
    pub token_unavailable: usize,
    // Salesforce
    pub client_id: String,
    pub client_secret: String,
    pub issued: usize,
    pub jobs: HashMap<String, (String, String)>, // id → (state, csv)
    /// HubSpot: (from id, to id) of every association made.
    pub associations: Vec<(String, String)>,
    /// HubSpot: the API version of each association request (`v4` beside v3).
    pub association_versions: Vec<String>,
    /// The CRM's users: email → user id (HubSpot owners, Salesforce users).
    pub users: HashMap<String, String>,
    /// Webhook: every message body received, in order.
    pub messages: Vec<Value>,
    /// Webhook: the request with this index (0-based) is recorded, then never answered.
    pub hang_at: Option<usize>,
}

pub type Shared = Arc<Mutex<Crm>>;

pub struct Server {
    pub url: String,
    pub crm: Shared,
}

fn start(router: Router, crm: Shared) -> Server {
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
        rt.block_on(async move {
            let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
            tx.send(listener.local_addr().unwrap().port()).unwrap();
            axum::serve(listener, router).await.unwrap();
        });
    });
    let port = rx.recv().unwrap();
    Server { url: format!("http://127.0.0.1:{port}"), crm }
}

fn authorized(h: &HeaderMap, token: &str) -> bool {
    h.get("authorization").and_then(|v| v.to_str().ok()) == Some(&format!("Bearer {token}"))
}

fn err(status: u16, body: Value) -> Response {
    (StatusCode::from_u16(status).unwrap(), axum::Json(body)).into_response()
}

/// Plays the next scripted fault, if any. `None`: answer normally.
async fn fault(crm: &Shared, salesforce: bool) -> Option<Response> {
    let (f, delay) = {
        let mut c = crm.lock().unwrap();
        (c.script.pop_front(), c.delay)
    };
    if !delay.is_zero() {
        tokio::time::sleep(delay).await;
    }
    let f = f?;
    if matches!(f, Fault::Pass) {
        return None;
    }
    crm.lock().unwrap().log.push((0, vec![format!("{f:?}")]));
    Some(match f {
        Fault::Throttle(ra) => {
            let mut r = err(429, json!({"status": "error", "message": "You have reached your ten_secondly_rolling limit.", "errorType": "RATE_LIMIT", "policyName": "TEN_SECONDLY_ROLLING"}));
            if let Some(s) = ra {
                r.headers_mut().insert("retry-after", s.to_string().parse().unwrap());
            }
            r
        }
        Fault::Daily if salesforce => err(403, json!([{"message": "TotalRequests Limit exceeded.", "errorCode": "REQUEST_LIMIT_EXCEEDED"}])),
        Fault::Daily => err(429, json!({"status": "error", "message": "You have reached your daily limit.", "errorType": "RATE_LIMIT", "policyName": "DAILY"})),
        Fault::Server(s) => err(s, json!({"status": "error", "message": "internal error"})),
        Fault::Locked => err(423, json!({"status": "error", "message": "locked"})),
        Fault::Stall(s) => {
            tokio::time::sleep(Duration::from_secs_f64(s)).await;
            err(504, json!({}))
        }
        Fault::SessionExpired => err(401, json!([{"message": "Session expired or invalid", "errorCode": "INVALID_SESSION_ID"}])),
        Fault::Pass => unreachable!(),
    })
}

// ---- HubSpot ------------------------------------------------------------------

async fn hs_batch(State(crm): State<Shared>, Path((_obj, op)): Path<(String, String)>, h: HeaderMap, body: Bytes) -> Response {
    hs_write(crm, "v3", &op, h, body).await
}

async fn hs_batch_dated(State(crm): State<Shared>, Path((version, _obj, op)): Path<(String, String, String)>, h: HeaderMap, body: Bytes) -> Response {
    hs_write(crm, &version, &op, h, body).await
}

/// `batch/update` and `batch/upsert` as HubSpot answers them: `results`
/// with every record written, partial failures in `errors` with
/// `numErrors` — under 207 for v3 and 2026-03, under 200 for 2026-09 (that
/// version declares no 207).
async fn hs_write(crm: Shared, version: &str, op: &str, h: HeaderMap, body: Bytes) -> Response {
    if !authorized(&h, &crm.lock().unwrap().token) {
        return err(401, json!({"status": "error", "category": "INVALID_AUTHENTICATION", "message": "Authentication credentials not found."}));
    }
    if let Some(r) = fault(&crm, false).await {
        return r;
    }
    let limits = rolling_limit(&crm);
    if let Some((headers, false)) = &limits {
        let mut c = crm.lock().unwrap();
        c.log.push((429, vec![]));
        drop(c);
        let mut r = err(429, json!({"status": "error", "message": "You have reached your ten_secondly_rolling limit.", "errorType": "RATE_LIMIT", "policyName": "TEN_SECONDLY_ROLLING"}));
        r.headers_mut().extend(headers.clone());
        return r;
    }
    let mut r = hs_apply(&crm, version, op, body);
    if let Some((headers, _)) = limits {
        r.headers_mut().extend(headers);
    }
    r
}

/// The rolling limit's headers for this request, and whether it may pass.
fn rolling_limit(crm: &Shared) -> Option<(axum::http::HeaderMap, bool)> {
    let mut c = crm.lock().unwrap();
    let (max, interval) = c.rolling?;
    let now = std::time::Instant::now();
    while c.rolling_starts.front().is_some_and(|t| now.duration_since(*t) >= interval) {
        c.rolling_starts.pop_front();
    }
    let pass = c.rolling_starts.len() < max;
    if pass {
        c.rolling_starts.push_back(now);
        if let Some(d) = c.daily_left.as_mut() {
            *d = d.saturating_sub(1);
        }
    }
    let mut h = axum::http::HeaderMap::new();
    h.insert("x-hubspot-ratelimit-max", max.to_string().parse().unwrap());
    h.insert("x-hubspot-ratelimit-remaining", (max - c.rolling_starts.len()).to_string().parse().unwrap());
    h.insert("x-hubspot-ratelimit-interval-milliseconds", interval.as_millis().to_string().parse().unwrap());
    if let Some(d) = c.daily_left {
        h.insert("x-hubspot-ratelimit-daily-remaining", d.to_string().parse().unwrap());
    }
    Some((h, pass))
}

fn hs_apply(crm: &Shared, version: &str, op: &str, body: Bytes) -> Response {
    let v: Value = match serde_json::from_slice(&body) {
        Ok(v) => v,
        Err(e) => return err(400, json!({"status": "error", "category": "VALIDATION_ERROR", "message": format!("invalid JSON: {e}")})),
    };
    let inputs = v["inputs"].as_array().cloned().unwrap_or_default();
    let mut c = crm.lock().unwrap();
    c.bodies.push(v.clone());
    let ids: Vec<String> = inputs.iter().map(|i| i["id"].as_str().unwrap_or("").to_string()).collect();
    c.max_batch_seen = c.max_batch_seen.max(inputs.len());
    let bad = |c: &mut Crm, ids: Vec<String>, msg: String| {
        c.log.push((400, ids));
        err(400, json!({"status": "error", "category": "VALIDATION_ERROR", "message": msg}))
    };
    if inputs.len() > 100 {
        return bad(&mut c, ids, format!("Batch input size {} exceeds the limit of 100", inputs.len()));
    }
    let unique: HashSet<&String> = ids.iter().collect();
    if unique.len() != ids.len() {
        return bad(&mut c, ids, "Duplicate IDs found in batch input".into());
    }
    for i in &inputs {
        for (k, val) in i["properties"].as_object().cloned().unwrap_or_default() {
            if !val.is_string() {
                return bad(&mut c, ids, format!("Property values were not valid: {k} must be sent as a string"));
            }
            if !c.properties.contains(&k) {
                // HubSpot's own shape: the list of invalid properties inside the message
                let detail = json!([{"isValid": false, "message": format!("Property \"{k}\" does not exist"), "error": "PROPERTY_DOESNT_EXIST", "name": k, "localizedErrorMessage": format!("Property \"{k}\" does not exist")}]);
                return bad(&mut c, ids, format!("Property values were not valid: {detail}"));
            }
        }
    }
    if let Some(p) = ids.iter().find(|id| c.poison.contains(*id)) {
        return bad(&mut c, ids.clone(), format!("Property values were not valid: record {p} has an invalid option"));
    }
    let mut errors = Vec::new();
    let mut results = Vec::new();
    for (i, sent) in inputs.iter().zip(&ids) {
        // a write to a merged-away id lands on the survivor, which `results` name
        let id = &c.merged_into.get(sent).cloned().unwrap_or_else(|| sent.clone());
        let known = c.records.contains_key(id);
        if !known && op != "upsert" {
            errors.push(json!({"status": "error", "category": "OBJECT_NOT_FOUND", "message": format!("Could not get some COMPANY objects, they may be deleted or not exist. Check that ids are valid."), "context": {"ids": [id]}}));
            continue;
        }
        let mut props: BTreeMap<String, String> = i["properties"].as_object().unwrap().iter().map(|(k, v)| (k.clone(), v.as_str().unwrap().to_string())).collect();
        c.records.entry(id.clone()).or_default().extend(props.clone());
        *c.applied.entry(id.clone()).or_default() += 1;
        if c.omit_from_results.contains(id) {
            continue;
        }
        if let Some(p) = i["idProperty"].as_str() {
            props.insert(p.to_string(), id.clone());
        }
        props.insert("hs_object_id".into(), id.clone());
        results.push(json!({"id": id, "properties": props, "createdAt": "2026-01-05T10:00:00Z", "updatedAt": "2026-11-01T06:00:00Z", "archived": false}));
    }
    if c.unmatched_error {
        errors.push(json!({"status": "error", "category": "VALIDATION_ERROR", "message": "something about record 999", "context": {"ids": ["999"]}}));
    }
    let partial = if version >= "2026-09" { 200 } else { 207 };
    let status = if errors.is_empty() { 200 } else { partial };
    c.log.push((status, ids));
    let mut answer = json!({"status": "COMPLETE", "results": results, "startedAt": "2026-11-01T06:00:00Z", "completedAt": "2026-11-01T06:00:01Z"});
    if !errors.is_empty() {
        answer["numErrors"] = json!(errors.len());
        answer["errors"] = json!(errors);
    }
    err(status, answer)
}

async fn hs_list(State(crm): State<Shared>, h: HeaderMap) -> Response {
    if !authorized(&h, &crm.lock().unwrap().token) {
        return err(401, json!({"status": "error"}));
    }
    err(200, json!({"results": []}))
}

async fn hs_group_get(State(crm): State<Shared>, Path((_o, g)): Path<(String, String)>) -> Response {
    if let Some(r) = fault(&crm, false).await {
        return r;
    }
    if crm.lock().unwrap().groups.contains(&g) { err(200, json!({"name": g})) } else { err(404, json!({"status": "error"})) }
}

async fn hs_group_post(State(crm): State<Shared>, Path(_o): Path<String>, axum::Json(v): axum::Json<Value>) -> Response {
    if let Some(r) = fault(&crm, false).await {
        return r;
    }
    let mut c = crm.lock().unwrap();
    c.groups.insert(v["name"].as_str().unwrap().to_string());
    c.group_bodies.push(v.clone());
    err(201, v)
}

async fn hs_prop_get(State(crm): State<Shared>, Path((_o, p)): Path<(String, String)>) -> Response {
    if let Some(r) = fault(&crm, false).await {
        return r;
    }
    let c = crm.lock().unwrap();
    match (c.properties.contains(&p), c.property_defs.get(&p)) {
        (true, Some(def)) => err(200, def.clone()),
        (true, None) => err(200, json!({"name": p, "type": "string", "fieldType": "text"})),
        _ => err(404, json!({"status": "error", "category": "OBJECT_NOT_FOUND"})),
    }
}

async fn hs_prop_patch(State(crm): State<Shared>, Path((_o, p)): Path<(String, String)>, axum::Json(v): axum::Json<Value>) -> Response {
    if let Some(r) = fault(&crm, false).await {
        return r;
    }
    let mut c = crm.lock().unwrap();
    let Some(def) = c.property_defs.get_mut(&p) else { return err(404, json!({"status": "error"})) };
    for (k, val) in v.as_object().cloned().unwrap_or_default() {
        def[k] = val;
    }
    let def = def.clone();
    err(200, def)
}

async fn hs_prop_post(State(crm): State<Shared>, Path(_o): Path<String>, axum::Json(v): axum::Json<Value>) -> Response {
    if let Some(r) = fault(&crm, false).await {
        return r;
    }
    let mut c = crm.lock().unwrap();
    c.property_defs.insert(v["name"].as_str().unwrap_or("").to_string(), v.clone());
    let name = v["name"].as_str().unwrap().to_string();
    if !c.groups.contains(v["groupName"].as_str().unwrap_or("")) {
        return err(400, json!({"message": "group does not exist"}));
    }
    c.properties.insert(name.clone());
    c.created_properties.push(format!("{}:{}", name, v["type"].as_str().unwrap_or("")));
    err(201, v)
}

pub fn hubspot(token: &str, ids: &[String], properties: &[&str]) -> Server {
    let crm: Shared = Arc::new(Mutex::new(Crm {
        token: token.to_string(),
        records: ids.iter().map(|i| (i.clone(), BTreeMap::new())).collect(),
        properties: properties.iter().map(|p| p.to_string()).collect(),
        ..Default::default()
    }));
    let app = Router::new()
        .route("/crm/v3/objects/{obj}/batch/{op}", post(hs_batch))
        .route("/crm/objects/{version}/{obj}/batch/{op}", post(hs_batch_dated))
        .route("/crm/objects/{version}/{obj}", get(hs_list))
        .route("/crm/v3/objects/{obj}", get(hs_list))
        .route("/crm/v3/properties/{obj}/groups/{g}", get(hs_group_get))
        .route("/crm/v3/properties/{obj}/groups", post(hs_group_post))
        .route("/crm/v3/properties/{obj}/{p}", get(hs_prop_get).patch(hs_prop_patch))
        .route("/crm/v3/properties/{obj}", post(hs_prop_post))
        .route("/crm/v4/associations/{from}/{to}/batch/associate/default", post(hs_associate_v4))
        .route("/crm/associations/{version}/{from}/{to}/batch/associate/default", post(hs_associate_dated))
        .route("/crm/v3/owners", get(hs_owners))
        .with_state(crm.clone());
    start(app, crm)
}

/// `GET /crm/v3/owners?email=`: the owner with that email, if any.
async fn hs_owners(State(crm): State<Shared>, h: HeaderMap, axum::extract::Query(q): axum::extract::Query<HashMap<String, String>>) -> Response {
    let c = crm.lock().unwrap();
    if !authorized(&h, &c.token) {
        return err(401, json!({"status": "error"}));
    }
    let email = q.get("email").cloned().unwrap_or_default();
    let results: Vec<Value> = c.users.get(&email).map(|id| json!({"id": id, "email": email, "type": "PERSON"})).into_iter().collect();
    err(200, json!({"results": results}))
}

async fn hs_associate_v4(State(crm): State<Shared>, h: HeaderMap, axum::Json(v): axum::Json<Value>) -> Response {
    crm.lock().unwrap().association_versions.push("v4".into());
    hs_associate(crm, h, v).await
}

async fn hs_associate_dated(State(crm): State<Shared>, Path((version, _f, _t)): Path<(String, String, String)>, h: HeaderMap, axum::Json(v): axum::Json<Value>) -> Response {
    crm.lock().unwrap().association_versions.push(version);
    hs_associate(crm, h, v).await
}

/// Default associations: every `from` must be a record written before.
async fn hs_associate(crm: Shared, h: HeaderMap, v: Value) -> Response {
    if !authorized(&h, &crm.lock().unwrap().token) {
        return err(401, json!({"status": "error"}));
    }
    if let Some(r) = fault(&crm, false).await {
        return r;
    }
    let mut c = crm.lock().unwrap();
    let inputs = v["inputs"].as_array().cloned().unwrap_or_default();
    let mut results = Vec::new();
    for i in &inputs {
        let (from, to) = (i["from"]["id"].as_str().unwrap_or("").to_string(), i["to"]["id"].as_str().unwrap_or("").to_string());
        if !c.records.contains_key(&from) || to.is_empty() {
            return err(400, json!({"status": "error", "category": "VALIDATION_ERROR", "message": format!("no object {from}")}));
        }
        c.associations.push((from.clone(), to.clone()));
        results.push(json!({"fromObjectTypeId": "0-27", "fromObjectId": from, "toObjectTypeId": "0-2", "toObjectId": to, "labels": []}));
    }
    err(200, json!({"status": "COMPLETE", "results": results}))
}

// ---- a webhook ------------------------------------------------------------------

async fn webhook_post(State(crm): State<Shared>, axum::Json(v): axum::Json<Value>) -> Response {
    if let Some(r) = fault(&crm, false).await {
        return r;
    }
    let hang = {
        let mut c = crm.lock().unwrap();
        let n = c.messages.len();
        c.messages.push(v);
        c.hang_at == Some(n)
    };
    if hang {
        // posted, and the answer never comes
        tokio::time::sleep(Duration::from_secs(3600)).await;
    }
    (StatusCode::OK, "ok").into_response()
}

/// An incoming webhook at `/hooks/T000/B000/SECRET-hook`: records each body, answers `ok`.
pub fn webhook() -> Server {
    let crm: Shared = Arc::new(Mutex::new(Crm::default()));
    let app = Router::new().route("/hooks/T000/B000/SECRET-hook", post(webhook_post)).with_state(crm.clone());
    let mut s = start(app, crm);
    s.url = format!("{}/hooks/T000/B000/SECRET-hook", s.url);
    s
}

// ---- Salesforce -----------------------------------------------------------------

async fn sf_token(State(crm): State<Shared>, body: Bytes) -> Response {
    let form: HashMap<String, String> = url::form_urlencoded::parse(&body).into_owned().collect();
    let mut c = crm.lock().unwrap();
    if c.token_unavailable > 0 {
        c.token_unavailable -= 1;
        return err(503, json!({"error": "unavailable"}));
    }
    if form.get("client_id") != Some(&c.client_id) || form.get("client_secret") != Some(&c.client_secret) {
        return err(400, json!({"error": "invalid_client", "error_description": "invalid client credentials"}));
    }
    c.issued += 1;
    c.token = format!("sf-session-{}", c.issued);
    err(200, json!({"access_token": c.token, "instance_url": "", "token_type": "Bearer"}))
}

fn sf_auth(crm: &Shared, h: &HeaderMap) -> Option<Response> {
    let c = crm.lock().unwrap();
    (!authorized(h, &c.token)).then(|| err(401, json!([{"message": "Session expired or invalid", "errorCode": "INVALID_SESSION_ID"}])))
}

async fn sf_composite(State(crm): State<Shared>, h: HeaderMap, body: Bytes) -> Response {
    if let Some(r) = sf_auth(&crm, &h) {
        return r;
    }
    if let Some(r) = fault(&crm, true).await {
        if matches!(r.status().as_u16(), 401) {
            // the session expires: the old token stops working
            crm.lock().unwrap().token = "expired".into();
        }
        return r;
    }
    let v: Value = serde_json::from_slice(&body).unwrap();
    let recs = v["records"].as_array().cloned().unwrap_or_default();
    let mut c = crm.lock().unwrap();
    if std::mem::take(&mut c.long_txn_once) {
        c.log.push((403, vec![]));
        return err(403, json!([{"message": "ConcurrentPerOrgLongTxn Limit exceeded.", "errorCode": "REQUEST_LIMIT_EXCEEDED"}]));
    }
    let ids: Vec<String> = recs.iter().map(|r| r["id"].as_str().unwrap_or("").to_string()).collect();
    c.max_batch_seen = c.max_batch_seen.max(recs.len());
    if recs.len() > 200 {
        c.log.push((400, ids));
        return err(400, json!([{"message": "max 200 records", "errorCode": "EXCEEDED_ID_LIMIT"}]));
    }
    let mut results = Vec::new();
    for (r, id) in recs.iter().zip(&ids) {
        if !c.records.contains_key(id) {
            results.push(json!({"id": id, "success": false, "errors": [{"statusCode": "ENTITY_IS_DELETED", "message": "entity is deleted", "fields": []}]}));
            continue;
        }
        if let Some(n) = c.locked_rows.get_mut(id).filter(|n| **n > 0) {
            *n -= 1;
            results.push(json!({"id": id, "success": false, "errors": [{"statusCode": "UNABLE_TO_LOCK_ROW", "message": "unable to obtain exclusive access to this record or 1 records", "fields": []}]}));
            continue;
        }
        let mut props = BTreeMap::new();
        let mut bad = None;
        for (k, val) in r.as_object().unwrap() {
            if k == "attributes" || k == "id" {
                continue;
            }
            if !c.properties.contains(k) {
                bad = Some(k.clone());
            }
            let s = match val {
                Value::Number(n) => n.as_f64().unwrap().to_string(),
                Value::String(s) => s.clone(),
                Value::Null => String::new(),
                other => other.to_string(),
            };
            props.insert(k.clone(), s);
        }
        if let Some(f) = bad {
            results.push(json!({"id": id, "success": false, "errors": [{"statusCode": "INVALID_FIELD", "message": format!("No such column '{f}' on sobject of type Account"), "fields": [f]}]}));
            continue;
        }
        c.records.get_mut(id).unwrap().extend(props);
        *c.applied.entry(id.clone()).or_default() += 1;
        results.push(json!({"id": id, "success": true, "errors": []}));
    }
    c.log.push((200, ids));
    err(200, Value::Array(results))
}

/// SOQL, only the user lookup: `… FROM User WHERE … Email IN ('a', 'b')`.
async fn sf_query(State(crm): State<Shared>, h: HeaderMap, axum::extract::Query(q): axum::extract::Query<HashMap<String, String>>) -> Response {
    if let Some(r) = sf_auth(&crm, &h) {
        return r;
    }
    let soql = q.get("q").cloned().unwrap_or_default();
    if !soql.contains("FROM User") {
        return err(400, json!([{"message": "unsupported query", "errorCode": "MALFORMED_QUERY"}]));
    }
    let c = crm.lock().unwrap();
    let list = soql.split_once("IN (").map(|(_, r)| r.trim_end_matches(')')).unwrap_or("");
    let records: Vec<Value> = list
        .split(',')
        .map(|e| e.trim().trim_matches('\'').to_string())
        .filter_map(|e| c.users.get(&e).map(|id| json!({"attributes": {"type": "User"}, "Id": id, "Email": e})))
        .collect();
    err(200, json!({"totalSize": records.len(), "done": true, "records": records}))
}

/// sObject Collections upsert by an external id field: creates what is
/// missing (`created: true`), updates what exists; keyed by the field's value.
async fn sf_upsert(State(crm): State<Shared>, Path((_v, _obj, field)): Path<(String, String, String)>, h: HeaderMap, body: Bytes) -> Response {
    if let Some(r) = sf_auth(&crm, &h) {
        return r;
    }
    if let Some(r) = fault(&crm, true).await {
        return r;
    }
    let v: Value = serde_json::from_slice(&body).unwrap();
    let recs = v["records"].as_array().cloned().unwrap_or_default();
    let mut c = crm.lock().unwrap();
    let keys: Vec<String> = recs.iter().map(|r| r[&field].as_str().unwrap_or("").to_string()).collect();
    let mut results = Vec::new();
    for (r, key) in recs.iter().zip(&keys) {
        let what = r["WhatId"].as_str().unwrap_or("");
        if what.is_empty() {
            results.push(json!({"success": false, "errors": [{"statusCode": "REQUIRED_FIELD_MISSING", "message": "Required fields are missing: [WhatId]", "fields": ["WhatId"]}]}));
            continue;
        }
        let created = !c.records.contains_key(key);
        let props: BTreeMap<String, String> = r.as_object().unwrap().iter().filter(|(k, _)| *k != "attributes").map(|(k, v)| (k.clone(), v.as_str().map(String::from).unwrap_or_else(|| v.to_string()))).collect();
        c.records.entry(key.clone()).or_default().extend(props);
        *c.applied.entry(key.clone()).or_default() += 1;
        results.push(json!({"id": format!("00T{key}"), "success": true, "created": created, "errors": []}));
    }
    c.log.push((200, keys));
    err(200, Value::Array(results))
}

async fn sf_limits(State(crm): State<Shared>, h: HeaderMap) -> Response {
    if let Some(r) = sf_auth(&crm, &h) {
        return r;
    }
    err(200, json!({"DailyApiRequests": {"Max": 15000, "Remaining": 14000}}))
}

async fn sf_job_create(State(crm): State<Shared>, h: HeaderMap, axum::Json(v): axum::Json<Value>) -> Response {
    if let Some(r) = sf_auth(&crm, &h) {
        return r;
    }
    let mut c = crm.lock().unwrap();
    if c.bulk_daily_limit {
        return err(403, json!([{"message": "TotalRequests Limit exceeded.", "errorCode": "REQUEST_LIMIT_EXCEEDED"}]));
    }
    let id = format!("750job{}", c.jobs.len() + 1);
    c.jobs.insert(id.clone(), ("Open".into(), String::new()));
    err(200, json!({"id": id, "state": "Open", "object": v["object"], "operation": v["operation"]}))
}

async fn sf_job_upload(State(crm): State<Shared>, Path((_v, id)): Path<(String, String)>, body: Bytes) -> Response {
    let mut c = crm.lock().unwrap();
    c.jobs.get_mut(&id).unwrap().1 = String::from_utf8(body.to_vec()).unwrap();
    StatusCode::CREATED.into_response()
}

async fn sf_job_patch(State(crm): State<Shared>, Path((_v, id)): Path<(String, String)>, axum::Json(v): axum::Json<Value>) -> Response {
    let mut c = crm.lock().unwrap();
    let state = v["state"].as_str().unwrap().to_string();
    if state == "UploadComplete" {
        // process the CSV: apply known ids
        let csv = c.jobs[&id].1.clone();
        let mut lines = csv.lines();
        let header: Vec<String> = lines.next().unwrap_or("").split(',').map(String::from).collect();
        let mut ok = vec![format!("\"sf__Id\",\"sf__Created\",{}", header.join(","))];
        let mut failed = vec![format!("\"sf__Id\",\"sf__Error\",{}", header.join(","))];
        let rows: Vec<String> = lines.map(String::from).collect();
        let mut rdr = csv_rows(&csv);
        rdr.remove(0);
        for (line, fields) in rows.iter().zip(rdr) {
            let id = fields[0].clone();
            if c.records.contains_key(&id) {
                let props: BTreeMap<String, String> = header.iter().skip(1).cloned().zip(fields.iter().skip(1).cloned()).collect();
                c.records.get_mut(&id).unwrap().extend(props);
                *c.applied.entry(id.clone()).or_default() += 1;
                ok.push(format!("\"{id}\",\"false\",{line}"));
            } else {
                failed.push(format!("\"\",\"ENTITY_IS_DELETED:entity is deleted:--\",{line}"));
            }
        }
        c.log.push((200, vec![format!("bulk:{id}")]));
        let state = if c.bulk_stuck { "InProgress" } else { "JobComplete" };
        c.jobs.insert(id.clone(), (state.into(), format!("{}\n@@{}", ok.join("\n"), failed.join("\n"))));
    } else {
        c.jobs.get_mut(&id).unwrap().0 = state;
    }
    err(200, json!({"id": id}))
}

fn csv_rows(text: &str) -> Vec<Vec<String>> {
    let mut r = csv::ReaderBuilder::new().has_headers(false).from_reader(text.as_bytes());
    r.records().flatten().map(|x| x.iter().map(String::from).collect()).collect()
}

async fn sf_job_get(State(crm): State<Shared>, Path((_v, id)): Path<(String, String)>) -> Response {
    let mut c = crm.lock().unwrap();
    let stuck = c.bulk_stuck;
    let job = c.jobs.get_mut(&id).unwrap();
    if job.0 == "InProgress" && !stuck {
        job.0 = "JobComplete".into();
    }
    err(200, json!({"id": id, "state": job.0}))
}

async fn sf_job_results(State(crm): State<Shared>, Path((_v, id, kind)): Path<(String, String, String)>) -> Response {
    let c = crm.lock().unwrap();
    let stored = &c.jobs[&id].1;
    let (ok, failed) = stored.split_once("\n@@").unwrap_or(("", ""));
    let body = match kind.as_str() {
        "successfulResults" => ok.to_string(),
        "failedResults" => failed.to_string(),
        _ => "\n".to_string(),
    };
    (StatusCode::OK, body).into_response()
}

pub fn salesforce(client_id: &str, client_secret: &str, ids: &[String], properties: &[&str]) -> Server {
    let crm: Shared = Arc::new(Mutex::new(Crm {
        client_id: client_id.into(),
        client_secret: client_secret.into(),
        token: "none-issued".into(),
        records: ids.iter().map(|i| (i.clone(), BTreeMap::new())).collect(),
        properties: properties.iter().map(|p| p.to_string()).collect(),
        ..Default::default()
    }));
    let app = Router::new()
        .route("/services/oauth2/token", post(sf_token))
        .route("/services/data/{v}/composite/sobjects", patch(sf_composite))
        .route("/services/data/{v}/composite/sobjects/{obj}/{field}", patch(sf_upsert))
        .route("/services/data/{v}/query", get(sf_query))
        .route("/services/data/{v}/limits", get(sf_limits))
        .route("/services/data/{v}/sobjects/{obj}", get(sf_limits))
        .route("/services/data/{v}/jobs/ingest", post(sf_job_create))
        .route("/services/data/{v}/jobs/ingest/{id}/batches", put(sf_job_upload))
        .route("/services/data/{v}/jobs/ingest/{id}", patch(sf_job_patch).get(sf_job_get))
        .route("/services/data/{v}/jobs/ingest/{id}/{kind}", get(sf_job_results))
        .with_state(crm.clone());
    start(app, crm)
}
