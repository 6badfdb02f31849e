//! OpenLineage run events (spec 2-0-2): START when a command takes the
//! output, COMPLETE or FAIL when it ends, to an HTTP endpoint (Marquez, a
//! catalog's collector) or appended to a file as JSON lines.
//!
//! - job: `<namespace>` / `healthscore.<command>`, with a `jobType` facet;
//! - run: a fresh UUID; `parent` from Airflow (`OPENLINEAGE_PARENT_ID`,
//!   which the OpenLineage provider's `lineage_parent_id` macro fills, or
//!   the task's `AIRFLOW_CTX_*` variables); `nominalTime` at the scoring
//!   date; `errorMessage` on FAIL; `healthscore` with our own run id, which
//!   names `runs/<run_id>.json`;
//! - inputs: the export's tables read, named by their location (`file` +
//!   path, `s3://bucket` + key, …), with their columns (`schema`);
//! - outputs: the results tables published, with their documented columns
//!   and the rows written (`outputStatistics`).
//!
//! Lineage is observability: a collector that is down is a warning, never
//! a failed job.

use chrono::NaiveDate;
use serde_json::{json, Value};
use sha2::{Digest, Sha256};

use crate::config::{Lineage, LineageTarget};
use crate::location::Location;

const SPEC: &str = "https://openlineage.io/spec/2-0-2/OpenLineage.json#/$defs/RunEvent";
const PRODUCER: &str = concat!("https://github.com/healthscore/healthscore/tree/v", env!("CARGO_PKG_VERSION"));

fn facet(schema: &str, def: &str, body: Value) -> Value {
    let mut v = json!({ "_producer": PRODUCER, "_schemaURL": format!("https://openlineage.io/spec/facets/{schema}.json#/$defs/{def}") });
    if let (Some(m), Value::Object(b)) = (v.as_object_mut(), body) {
        m.extend(b);
    }
    v
}

/// A table read or written: where it is and its columns (name, type, description).
#[derive(Debug, Clone)]
pub struct Dataset {
    pub namespace: String,
    pub name: String,
    pub fields: Vec<(String, String, Option<String>)>,
    /// Rows written (outputs).
    pub rows: Option<usize>,
}

impl Dataset {
    /// OpenLineage's naming: `file` + the absolute path, or
    /// `<scheme>://<bucket>` + the key.
    pub fn at(loc: &Location, fields: Vec<(String, String, Option<String>)>) -> Dataset {
        let url = &loc.0;
        let path = url.path().trim_end_matches('/');
        let (namespace, name) = match url.scheme() {
            "file" => ("file".to_string(), loc.local_path().map(|p| p.to_string_lossy().trim_end_matches('/').to_string()).unwrap_or_else(|| path.to_string())),
            s => (format!("{s}://{}", url.host_str().unwrap_or_default()), path.trim_start_matches('/').to_string()),
        };
        Dataset { namespace, name, fields, rows: None }
    }

    fn json(&self, output: bool) -> Value {
        let fields: Vec<Value> = self
            .fields
            .iter()
            .map(|(n, t, d)| {
                let mut f = json!({ "name": n, "type": t });
                if let Some(d) = d {
                    f["description"] = json!(d);
                }
                f
            })
            .collect();
        let mut v = json!({
            "namespace": self.namespace,
            "name": self.name,
            "facets": { "schema": facet("1-2-0/SchemaDatasetFacet", "SchemaDatasetFacet", json!({ "fields": fields })) },
        });
        if let (true, Some(rows)) = (output, self.rows) {
            v["outputFacets"] = json!({ "outputStatistics": facet("1-0-2/OutputStatisticsOutputDatasetFacet", "OutputStatisticsOutputDatasetFacet", json!({ "rowCount": rows })) });
        }
        v
    }
}

/// The run's identity, the same in its START and its end event.
#[derive(Debug, Clone)]
pub struct Run {
    pub id: String,
    pub job: String,
    namespace: String,
    parent: Option<Value>,
}

/// `namespace/name/runId` (the `lineage_parent_id` macro's form).
fn split_parent(s: &str) -> Option<(String, String, String)> {
    let (ns, rest) = s.split_once('/')?;
    let (name, run) = rest.rsplit_once('/')?;
    (uuid::Uuid::parse_str(run).is_ok() && !ns.is_empty() && !name.is_empty()).then(|| (ns.to_string(), name.to_string(), run.to_string()))
}

/// A UUID that is the same for the same text (the same Airflow task try).
fn name_uuid(text: &str) -> String {
    let h = Sha256::digest(text.as_bytes());
    let mut b = [0u8; 16];
    b.copy_from_slice(&h[..16]);
    uuid::Builder::from_custom_bytes(b).into_uuid().to_string()
}

/// The parent run facet from the environment Airflow gives the task.
pub fn parent_from(env: &dyn Fn(&str) -> Option<String>) -> Option<Value> {
    let get = |k: &str| env(k).filter(|v| !v.is_empty());
    let node = |(ns, name, run): (String, String, String)| json!({ "run": { "runId": run }, "job": { "namespace": ns, "name": name } });
    let (parent, root) = if let Some(p) = get("OPENLINEAGE_PARENT_ID").and_then(|p| split_parent(&p)) {
        (p, get("OPENLINEAGE_ROOT_PARENT_ID").and_then(|p| split_parent(&p)))
    } else {
        let (dag, task, dag_run) = (get("AIRFLOW_CTX_DAG_ID")?, get("AIRFLOW_CTX_TASK_ID")?, get("AIRFLOW_CTX_DAG_RUN_ID")?);
        let ns = get("OPENLINEAGE_NAMESPACE").unwrap_or_else(|| "default".into());
        let attempt = get("AIRFLOW_CTX_TRY_NUMBER").unwrap_or_else(|| "1".into());
        let task_run = name_uuid(&format!("{dag}/{task}/{dag_run}/{attempt}"));
        ((ns.clone(), format!("{dag}.{task}"), task_run), Some((ns, dag.clone(), name_uuid(&format!("{dag}/{dag_run}")))))
    };
    let mut v = node(parent);
    if let Some(r) = root {
        v["root"] = node(r);
    }
    Some(facet("1-2-0/ParentRunFacet", "ParentRunFacet", v))
}

impl Run {
    pub fn new(cfg: &Lineage, command: &str) -> Run {
        let env = |k: &str| std::env::var(k).ok();
        Run { id: uuid::Uuid::new_v4().to_string(), job: format!("healthscore.{command}"), namespace: cfg.namespace.clone(), parent: parent_from(&env) }
    }

    /// One event: `START`, `COMPLETE` or `FAIL` (with `error`).
    pub fn event(&self, kind: &str, run_id: &str, as_of: Option<NaiveDate>, inputs: &[Dataset], outputs: &[Dataset], error: Option<&str>) -> Value {
        let mut facets = serde_json::Map::new();
        if let Some(p) = &self.parent {
            facets.insert("parent".into(), p.clone());
        }
        if let Some(d) = as_of {
            facets.insert("nominalTime".into(), facet("1-0-1/NominalTimeRunFacet", "NominalTimeRunFacet", json!({ "nominalStartTime": format!("{d}T00:00:00Z") })));
        }
        if let Some(e) = error {
            facets.insert("errorMessage".into(), facet("1-0-1/ErrorMessageRunFacet", "ErrorMessageRunFacet", json!({ "message": e, "programmingLanguage": "Rust" })));
        }
        let mut ours = json!({ "_producer": PRODUCER, "_schemaURL": "https://github.com/healthscore/healthscore/blob/main/README.md#openlineage", "runId": run_id });
        if let Some(d) = as_of {
            ours["asOf"] = json!(d.to_string());
        }
        facets.insert("healthscore".into(), ours);
        json!({
            "eventType": kind,
            "eventTime": chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
            "producer": PRODUCER,
            "schemaURL": SPEC,
            "run": { "runId": self.id, "facets": facets },
            "job": {
                "namespace": self.namespace,
                "name": self.job,
                "facets": { "jobType": facet("2-0-4/JobTypeJobFacet", "JobTypeJobFacet", json!({ "processingType": "BATCH", "integration": "HEALTHSCORE", "jobType": "JOB" })) },
            },
            "inputs": inputs.iter().map(|d| d.json(false)).collect::<Vec<_>>(),
            "outputs": outputs.iter().map(|d| d.json(true)).collect::<Vec<_>>(),
        })
    }
}

/// Sends one event; a failure is logged, never returned.
pub async fn send(cfg: &Lineage, event: &Value) {
    let kind = event["eventType"].as_str().unwrap_or("event").to_string();
    let r: std::result::Result<(), String> = match &cfg.target {
        LineageTarget::File(path) => {
            use std::io::Write;
            let line = format!("{event}\n");
            std::fs::OpenOptions::new().create(true).append(true).open(path).and_then(|mut f| f.write_all(line.as_bytes())).map_err(|e| format!("{}: {e}", path.display()))
        }
        LineageTarget::Http(url) => {
            let client = reqwest::Client::builder().timeout(std::time::Duration::from_secs(10)).build();
            match client {
                Err(e) => Err(e.to_string()),
                Ok(c) => {
                    let mut req = c.post(url.clone()).json(event);
                    if let Some(key) = cfg.api_key_env.as_deref().and_then(crate::config::secret::Secret::from_env) {
                        req = req.bearer_auth(key.expose());
                    }
                    match req.send().await {
                        Ok(r) if r.status().is_success() => Ok(()),
                        Ok(r) => Err(format!("{url} answered {}", r.status())),
                        // reqwest's error text names the URL, never the header
                        Err(e) => Err(format!("{url}: {}", e.without_url())),
                    }
                }
            }
        }
    };
    if let Err(e) = r {
        tracing::warn!("OpenLineage {kind} event not delivered ({e}); the job goes on");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_parent_comes_from_the_macro_else_from_airflows_task_variables() {
        let macro_env = |k: &str| match k {
            "OPENLINEAGE_PARENT_ID" => Some("airflow/healthscore_daily.score/0191e5f1-8a2b-7c3d-9e4f-000000000001".to_string()),
            "AIRFLOW_CTX_DAG_ID" => Some("ignored".to_string()),
            _ => None,
        };
        let p = parent_from(&macro_env).unwrap();
        assert_eq!(p["job"]["namespace"], "airflow");
        assert_eq!(p["job"]["name"], "healthscore_daily.score");
        assert_eq!(p["run"]["runId"], "0191e5f1-8a2b-7c3d-9e4f-000000000001");
        assert!(p.get("root").is_none());

        let ctx = |try_number: &'static str| {
            move |k: &str| match k {
                "AIRFLOW_CTX_DAG_ID" => Some("hs".to_string()),
                "AIRFLOW_CTX_TASK_ID" => Some("score".to_string()),
                "AIRFLOW_CTX_DAG_RUN_ID" => Some("scheduled__2026-11-30T00:00:00+00:00".to_string()),
                "AIRFLOW_CTX_TRY_NUMBER" => Some(try_number.to_string()),
                _ => None,
            }
        };
        let (a, b, again) = (parent_from(&ctx("1")).unwrap(), parent_from(&ctx("2")).unwrap(), parent_from(&ctx("1")).unwrap());
        assert_eq!(a["job"]["name"], "hs.score");
        assert_eq!(a["job"]["namespace"], "default");
        assert_eq!(a["run"]["runId"], again["run"]["runId"], "the same try is the same parent run");
        assert_ne!(a["run"]["runId"], b["run"]["runId"], "a retry is another run");
        assert_eq!(a["root"]["run"]["runId"], b["root"]["run"]["runId"], "one DAG run is the root of both");
        assert!(uuid::Uuid::parse_str(a["run"]["runId"].as_str().unwrap()).is_ok());
        // a malformed macro value is ignored, not sent
        assert!(parent_from(&|k: &str| (k == "OPENLINEAGE_PARENT_ID").then(|| "no-slashes".to_string())).is_none());
    }

    #[test]
    fn datasets_are_named_by_where_they_are() {
        let s3 = Dataset::at(&Location(url::Url::parse("s3://lake/exports/accounts/").unwrap()), vec![]);
        assert_eq!((s3.namespace.as_str(), s3.name.as_str()), ("s3://lake", "exports/accounts"));
        let f = Dataset::at(&Location(url::Url::parse("file:///data/out/account_scores/").unwrap()), vec![]);
        assert_eq!((f.namespace.as_str(), f.name.as_str()), ("file", "/data/out/account_scores"));
    }
}
