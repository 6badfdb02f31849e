//! healthscore in the tools that start it: backfill, the scheduler's exit
//! code and XCom summary, OpenLineage events checked against the spec's
//! schema, the example DAG run by real Airflow, and the example dbt project
//! built by real dbt-duckdb, scored, and read back through `dbt-sources`.

use std::io::{BufRead, BufReader, Read, Write};
use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::Value;

use super::common::{company, config_for, copy_dir, hs, hs_env, read_parquet_dir, repo, scratch, EXPORT_DATE};

fn json_line(stdout: &str) -> Value {
    let last = stdout.lines().rev().find(|l| !l.trim().is_empty()).expect("a last line");
    serde_json::from_str(last).unwrap_or_else(|e| panic!("the last line is not JSON ({e}): {last}"))
}

fn rows(dir: &Path) -> usize {
    read_parquet_dir(dir).iter().map(|b| b.num_rows()).sum()
}

fn modified(dir: &Path) -> std::time::SystemTime {
    let f = std::fs::read_dir(dir).unwrap().flatten().find(|e| e.path().extension().is_some_and(|x| x == "parquet")).unwrap();
    f.metadata().unwrap().modified().unwrap()
}

#[test]
fn backfill_scores_each_date_once_and_a_rerun_resumes_where_it_stopped() {
    let c = company();
    let dir = scratch("backfill");
    let cfg = config_for(&dir, &c.data, &c.models, "");
    let cfg = cfg.to_str().unwrap();
    let out = dir.join("out");
    let r = hs(&["backfill", "-c", cfg, "--from", "2026-10-20", "--to", "2026-10-22"]);
    assert_eq!(r.code, 0, "{}", r.all());
    let x = json_line(&r.stdout);
    let scored: Vec<&str> = x["scored"].as_array().unwrap().iter().map(|s| s["as_of"].as_str().unwrap()).collect();
    assert_eq!(scored, ["2026-10-20", "2026-10-21", "2026-10-22"]);
    for d in &scored {
        assert!(rows(&out.join(format!("account_scores/as_of={d}"))) > 1000);
        assert!(out.join(format!("renewal_forecast_rollup/as_of={d}")).is_dir());
    }
    // each date is its own run, recorded as a backfill
    let runs: Vec<Value> = std::fs::read_dir(out.join("runs")).unwrap().flatten().map(|e| serde_json::from_str(&std::fs::read_to_string(e.path()).unwrap()).unwrap()).collect();
    assert_eq!(runs.iter().filter(|m| m["command"] == "backfill" && m["status"] == "success").count(), 3);

    // a run cut off between two publishes: one table of the 21st is missing
    std::fs::remove_dir_all(out.join("renewal_forecast_rollup/as_of=2026-10-21")).unwrap();
    let before = modified(&out.join("account_scores/as_of=2026-10-20"));
    let r = hs(&["backfill", "-c", cfg, "--from", "2026-10-20", "--to", "2026-10-22"]);
    assert_eq!(r.code, 0, "{}", r.all());
    let x = json_line(&r.stdout);
    assert_eq!(x["scored"].as_array().unwrap().iter().map(|s| s["as_of"].as_str().unwrap()).collect::<Vec<_>>(), ["2026-10-21"]);
    assert_eq!(x["skipped"], serde_json::json!(["2026-10-20", "2026-10-22"]));
    assert!(out.join("renewal_forecast_rollup/as_of=2026-10-21").is_dir());
    assert_eq!(modified(&out.join("account_scores/as_of=2026-10-20")), before, "a complete date is not rewritten");

    // --force rescores complete dates
    let r = hs(&["backfill", "-c", cfg, "--from", "2026-10-20", "--to", "2026-10-20", "--force"]);
    assert_eq!(json_line(&r.stdout)["scored"].as_array().unwrap().len(), 1, "{}", r.all());
    assert_ne!(modified(&out.join("account_scores/as_of=2026-10-20")), before);

    // weekly up to past the export: the covered dates are scored, then the scheduler's exit code
    let r = hs(&["backfill", "-c", cfg, "--from", "2026-10-18", "--to", "2026-11-08", "--every", "week"]);
    assert_eq!(r.code, 99, "{}", r.all());
    assert!(r.stderr.contains("does not cover 2026-11-08"), "{}", r.stderr);
    for d in ["2026-10-18", "2026-10-25", "2026-11-01"] {
        assert!(out.join(format!("account_scores/as_of={d}")).is_dir(), "{d}");
    }
    assert!(!out.join("account_scores/as_of=2026-11-08").exists());
    let r = hs(&["backfill", "-c", cfg, "--from", "2026-10-22", "--to", "2026-10-20"]);
    assert_eq!(r.code, 2, "{}", r.all());
}

#[test]
fn the_run_summary_is_the_xcom_return_value_in_the_file_or_the_last_line() {
    let c = company();
    let dir = scratch("xcom");
    let cfg = config_for(&dir, &c.data, &c.models, "");
    let cfg = cfg.to_str().unwrap();
    let xcom = dir.join("airflow-xcom");
    std::fs::create_dir_all(&xcom).unwrap();
    let r = hs_env(&["score", "-c", cfg, "--logical-date", "2026-10-31"], &[("HEALTHSCORE_XCOM_DIR", xcom.to_str().unwrap())]);
    assert_eq!(r.code, 0, "{}", r.all());
    assert!(r.stdout.trim().is_empty(), "with the XCom folder, nothing on stdout: {}", r.stdout);
    let x: Value = serde_json::from_str(&std::fs::read_to_string(xcom.join("return.json")).unwrap()).unwrap();
    assert_eq!(x["as_of"], "2026-10-31");
    assert_eq!(x["command"], "score");
    let accounts = x["accounts"].as_u64().unwrap() as usize;
    assert_eq!(accounts, rows(&dir.join("out/account_scores/as_of=2026-10-31")));
    let tiers: u64 = ["red", "yellow", "green"].iter().map(|t| x["tiers"][t].as_u64().unwrap()).sum();
    assert_eq!(tiers as usize, accounts);
    assert!(Path::new(x["tables"]["account_scores"].as_str().unwrap()).is_dir());
    let run = dir.join("out/runs").join(format!("{}.json", x["run_id"].as_str().unwrap()));
    assert!(run.is_file(), "the summary names the run's manifest: {}", run.display());
    assert!(!xcom.join(".return.json.tmp").exists());

    // no XCom folder: the summary is stdout's last line (a BashOperator's return value)
    let r = hs_env(&["score", "-c", cfg], &[("HEALTHSCORE_XCOM_DIR", dir.join("absent").to_str().unwrap())]);
    assert_eq!(r.code, 0, "{}", r.all());
    let x = json_line(&r.stdout);
    assert_eq!(x["as_of"], EXPORT_DATE);
    assert!(x["model_version"].as_str().unwrap().starts_with("churn/"));
}

/// A collector that records each request's body and headers, answering 200.
fn collector() -> (String, std::sync::mpsc::Receiver<(String, Value)>) {
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}/api/v1/lineage", l.local_addr().unwrap());
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for s in l.incoming().flatten() {
            let mut r = BufReader::new(s.try_clone().unwrap());
            let (mut headers, mut len) = (String::new(), 0usize);
            loop {
                let mut line = String::new();
                if r.read_line(&mut line).unwrap_or(0) == 0 || line == "\r\n" {
                    break;
                }
                if let Some(v) = line.to_ascii_lowercase().strip_prefix("content-length:") {
                    len = v.trim().parse().unwrap_or(0);
                }
                headers.push_str(&line);
            }
            let mut body = vec![0; len];
            r.read_exact(&mut body).unwrap();
            let _ = tx.send((headers, serde_json::from_slice(&body).unwrap_or(Value::Null)));
            let mut s = s;
            let _ = s.write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 0\r\nconnection: close\r\n\r\n");
        }
    });
    (url, rx)
}

fn validate(events: &Path) -> Vec<Value> {
    let python = std::env::var("HEALTHSCORE_PYTHON").unwrap_or_else(|_| "python3".into());
    let out = Command::new(&python).arg(repo().join("tests/stack/validate_events.py")).arg(events).output().expect("running the project venv's python (make test sets HEALTHSCORE_PYTHON)");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    serde_json::from_slice::<Vec<Value>>(&out.stdout).unwrap()
}

#[test]
fn lineage_events_follow_the_openlineage_schema_under_the_airflow_task() {
    let c = company();
    let dir = scratch("lineage");
    let file = dir.join("lineage.jsonl");
    let cfg = config_for(&dir, &c.data, &c.models, &format!("lineage: {{ file: {} }}\n", file.display()));
    let cfg = cfg.to_str().unwrap();
    let airflow = [
        ("AIRFLOW_CTX_DAG_ID", "healthscore_daily"),
        ("AIRFLOW_CTX_TASK_ID", "score"),
        ("AIRFLOW_CTX_DAG_RUN_ID", "scheduled__2026-10-31T00:00:00+00:00"),
        ("AIRFLOW_CTX_TRY_NUMBER", "1"),
        ("HEALTHSCORE_XCOM_DIR", "/nonexistent"),
    ];
    let r = hs_env(&["score", "-c", cfg, "--as-of", "2026-10-31"], &airflow);
    assert_eq!(r.code, 0, "{}", r.all());
    let r = hs_env(&["score", "-c", cfg, "--as-of", "2026-11-20"], &airflow);
    assert_eq!(r.code, 99, "{}", r.all());

    let checked = validate(&file);
    assert_eq!(checked.len(), 4);
    for c in &checked {
        assert_eq!(c["errors"], serde_json::json!([]), "{c}");
    }
    let events: Vec<Value> = std::fs::read_to_string(&file).unwrap().lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    let kinds: Vec<&str> = events.iter().map(|e| e["eventType"].as_str().unwrap()).collect();
    assert_eq!(kinds, ["START", "COMPLETE", "START", "FAIL"]);
    assert_eq!(events[0]["run"]["runId"], events[1]["run"]["runId"], "START and COMPLETE are one run");
    assert_ne!(events[1]["run"]["runId"], events[2]["run"]["runId"]);
    let done = &events[1];
    assert_eq!(done["job"]["name"], "healthscore.score");
    assert_eq!(done["run"]["facets"]["nominalTime"]["nominalStartTime"], "2026-10-31T00:00:00Z");
    let parent = &done["run"]["facets"]["parent"];
    assert_eq!(parent["job"]["name"], "healthscore_daily.score");
    assert_eq!(parent["run"]["runId"], events[3]["run"]["facets"]["parent"]["run"]["runId"], "the same Airflow task try is the same parent");
    // the export's tables in, with their columns
    let accounts = done["inputs"].as_array().unwrap().iter().find(|d| d["name"].as_str().unwrap().ends_with("/accounts")).expect("accounts is an input");
    assert_eq!(accounts["namespace"], "file");
    let fields: Vec<&str> = accounts["facets"]["schema"]["fields"].as_array().unwrap().iter().map(|f| f["name"].as_str().unwrap()).collect();
    assert!(fields.contains(&"account_id") && fields.contains(&"renewal_date"), "{fields:?}");
    // the results tables out, with their documented columns and the rows written
    let scores = done["outputs"].as_array().unwrap().iter().find(|d| d["name"].as_str().unwrap().ends_with("/account_scores")).expect("account_scores is an output");
    assert_eq!(scores["outputFacets"]["outputStatistics"]["rowCount"].as_u64().unwrap() as usize, rows(&dir.join("out/account_scores/as_of=2026-10-31")));
    let health = scores["facets"]["schema"]["fields"].as_array().unwrap().iter().find(|f| f["name"] == "health_score").unwrap();
    assert!(health["description"].as_str().unwrap().contains("0–100"), "{health}");
    // FAIL says why, and wrote nothing
    assert!(events[3]["run"]["facets"]["errorMessage"]["message"].as_str().unwrap().contains("2026-11-20"));
    assert_eq!(events[3]["outputs"], serde_json::json!([]));

    // over HTTP, with the API key as a bearer token that no log shows
    let (url, rx) = collector();
    let dir = scratch("lineage-http");
    let cfg = config_for(&dir, &c.data, &c.models, &format!("lineage: {{ url: '{url}', api_key_env: TEST_OL_KEY, namespace: cs-health }}\n"));
    let r = hs_env(&["score", "-c", cfg.to_str().unwrap()], &[("TEST_OL_KEY", "ol-secret-4242"), ("HEALTHSCORE_XCOM_DIR", "/nonexistent")]);
    assert_eq!(r.code, 0, "{}", r.all());
    let got: Vec<(String, Value)> = rx.try_iter().collect();
    assert_eq!(got.iter().map(|(_, e)| e["eventType"].as_str().unwrap()).collect::<Vec<_>>(), ["START", "COMPLETE"]);
    assert!(got.iter().all(|(h, e)| h.to_ascii_lowercase().contains("authorization: bearer ol-secret-4242") && e["job"]["namespace"] == "cs-health"));
    assert!(!r.all().contains("ol-secret-4242"));

    // a collector that is down is a warning, not a failed job
    let down = format!("http://{}/api/v1/lineage", std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap());
    let dir = scratch("lineage-down");
    let cfg = config_for(&dir, &c.data, &c.models, &format!("lineage: {{ url: '{down}', api_key_env: TEST_OL_KEY }}\n"));
    let r = hs_env(&["score", "-c", cfg.to_str().unwrap()], &[("TEST_OL_KEY", "ol-secret-4242"), ("HEALTHSCORE_XCOM_DIR", "/nonexistent")]);
    assert_eq!(r.code, 0, "{}", r.all());
    assert!(r.stderr.contains("OpenLineage START event not delivered"), "{}", r.stderr);
    assert!(!r.all().contains("ol-secret-4242"));
    let r = hs(&["validate", "-c", config_for(&dir, &c.data, &c.models, "lineage: { url: 'ftp://x' }\n").to_str().unwrap()]);
    assert_eq!(r.code, 2, "{}", r.all());
    assert!(r.stderr.contains("lineage.url"), "{}", r.stderr);
}

fn tool(env: &str, name: &str) -> PathBuf {
    let dir = std::env::var(env).map(PathBuf::from).unwrap_or_else(|_| PathBuf::from(std::env::var("HOME").unwrap()).join(".cache/healthscore").join(name).join("bin"));
    assert!(dir.join("python").exists(), "no {name} venv at {} (`make test` makes it: scripts/setup.sh --stack, which prints {env}=)", dir.display());
    dir
}

fn run(cmd: &mut Command, what: &str) -> String {
    let out = cmd.output().unwrap_or_else(|e| panic!("{what}: {e}"));
    let text = format!("{}\n{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    assert!(out.status.success(), "{what} failed:\n{text}");
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[test]
fn the_example_dags_import_and_run_in_airflow() {
    let bin = tool("AIRFLOW_BIN", "airflow");
    let c = company();
    let dir = scratch("airflow");
    let cfg = config_for(&dir, &c.data, &c.models, "");
    let home = dir.join("airflow-home");
    std::fs::create_dir_all(&home).unwrap();
    let airflow = |args: &[&str]| {
        let mut cmd = Command::new(bin.join("airflow"));
        cmd.args(args)
            .env("AIRFLOW_HOME", &home)
            .env("AIRFLOW__CORE__DAGS_FOLDER", repo().join("examples/airflow"))
            .env("AIRFLOW__CORE__LOAD_EXAMPLES", "False")
            .env("HEALTHSCORE_BIN", super::common::bin())
            .env("HEALTHSCORE_CONFIG", &cfg)
            .env("HEALTHSCORE_XCOM_DIR", dir.join("no-xcom-folder"));
        cmd
    };
    let check = |mode: &str, arg: &Path| -> Value {
        let out = run(Command::new(bin.join("python")).arg(repo().join("tests/stack/check_dags.py")).arg(mode).arg(arg).env("AIRFLOW_HOME", &home), "check_dags.py");
        serde_json::from_str(out.lines().last().unwrap()).unwrap()
    };
    run(&mut airflow(&["db", "migrate"]), "airflow db migrate");

    let bag = check("dagbag", &repo().join("examples/airflow"));
    assert_eq!(bag["import_errors"], serde_json::json!({}), "{bag}");
    let bash = &bag["dags"]["healthscore_daily"]["tasks"]["score"];
    assert_eq!(bash["type"], "BashOperator");
    assert!(bash["command"].as_str().unwrap().contains("--logical-date {{ ds }}"), "{bash}");
    assert_eq!(bash["skip_on_exit_code"], serde_json::json!([99]));
    assert_eq!(bash["do_xcom_push"], true);
    assert_eq!(bash["downstream"], serde_json::json!(["report"]));
    let pod = &bag["dags"]["healthscore_daily_k8s"]["tasks"]["score"];
    assert_eq!(pod["type"], "KubernetesPodOperator");
    assert!(pod["command"].as_str().unwrap().contains("--logical-date {{ ds }}"), "{pod}");
    assert_eq!(pod["skip_on_exit_code"], serde_json::json!([99]));
    assert_eq!(pod["do_xcom_push"], true);

    // the BashOperator DAG for real: a covered date succeeds and pushes the summary
    run(&mut airflow(&["dags", "test", "healthscore_daily", "2026-10-31"]), "airflow dags test (covered date)");
    // a date the export does not cover yet: exit 99, the task and its report skipped
    run(&mut airflow(&["dags", "test", "healthscore_daily", "2026-11-05"]), "airflow dags test (date not covered)");
    let runs = check("runs", &home.join("airflow.db"));
    let runs = runs["runs"].as_array().unwrap();
    let scored: Vec<&Value> = runs.iter().filter(|r| r["task"] == "score").collect();
    assert_eq!(scored.len(), 2, "{runs:?}");
    let done = scored.iter().find(|r| r["state"] == "success").expect("the covered date's task succeeded");
    let x: Value = serde_json::from_str(done["xcom"].as_str().expect("an XCom return value")).unwrap();
    assert_eq!(x["as_of"], "2026-10-31");
    assert!(x["accounts"].as_u64().unwrap() > 1000);
    let skipped = scored.iter().find(|r| r["run_id"] != done["run_id"]).unwrap();
    assert_eq!(skipped["state"], "skipped", "{skipped}");
    let report = runs.iter().find(|r| r["task"] == "report" && r["run_id"] == skipped["run_id"]).unwrap();
    assert_eq!(report["state"], "skipped");
    assert!(runs.iter().any(|r| r["task"] == "report" && r["run_id"] == done["run_id"] && r["state"] == "success"));
    assert!(dir.join("out/account_scores/as_of=2026-10-31").is_dir());
    assert!(!dir.join("out/account_scores/as_of=2026-11-05").exists());
}

#[test]
fn dbt_builds_the_export_healthscore_scores_it_and_dbt_reads_the_results_back() {
    let bin = tool("DBT_BIN", "dbt");
    let dir = scratch("dbt");
    let project = dir.join("project");
    copy_dir(&repo().join("examples/dbt"), &project);
    for leftover in ["target", "out", "models_registry", "models/sources"] {
        let _ = std::fs::remove_dir_all(project.join(leftover));
    }
    // a company in the raw systems' words, as the project's seeds
    let raw = dir.join("raw");
    let r = hs(&["generate", "--out", raw.to_str().unwrap(), "--accounts", "60", "--months", "8", "--export-date", EXPORT_DATE]);
    assert_eq!(r.code, 0, "{}", r.all());
    run(Command::new(bin.join("python")).arg(project.join("seeds_from_export.py")).arg(&raw).arg(project.join("seeds")), "seeds_from_export.py");
    let dbt = |args: &[&str]| {
        let mut cmd = Command::new(bin.join("dbt"));
        cmd.args(args).args(["--profiles-dir", "."]).current_dir(&project).env("DBT_SEND_ANONYMOUS_USAGE_STATS", "false");
        cmd
    };
    run(&mut dbt(&["build"]), "dbt build");
    let manifest: Value = serde_json::from_str(&std::fs::read_to_string(project.join("target/manifest.json")).unwrap()).unwrap();
    assert!(manifest["exposures"].as_object().unwrap().keys().any(|k| k.ends_with(".healthscore")), "healthscore is declared as an exposure");

    // the example's config, with the repo's SQL
    let text = std::fs::read_to_string(project.join("healthscore.yaml")).unwrap().replace("../../sql", repo().join("sql").to_str().unwrap());
    let cfg = project.join("healthscore.yaml");
    std::fs::write(&cfg, text).unwrap();
    let cfg = cfg.to_str().unwrap();
    let r = hs(&["validate", "-c", cfg]);
    assert_eq!(r.code, 0, "{}", r.all());
    assert!(r.stderr.contains("accounts 60 rows/1 files") && r.stderr.contains("usage"), "{}", r.stderr);
    let r = hs(&["train", "-c", cfg]);
    assert_eq!(r.code, 0, "{}", r.all());
    let r = hs_env(&["run", "-c", cfg], &[("HEALTHSCORE_XCOM_DIR", "/nonexistent")]);
    assert_eq!(r.code, 0, "{}", r.all());
    let red = json_line(&r.stdout)["tiers"]["red"].as_u64().unwrap();

    // the results as a dbt source, its generated tests passing, a model reading it
    std::fs::create_dir_all(project.join("models/sources")).unwrap();
    let r = hs(&["dbt-sources", "-c", cfg, "--out", project.join("models/sources/healthscore.yml").to_str().unwrap()]);
    assert_eq!(r.code, 0, "{}", r.all());
    run(&mut dbt(&["build", "--select", "source:healthscore.account_scores", "at_risk_accounts", "--vars", "{healthscore_scored: true}"]), "dbt build of the results");
    let count = run(
        Command::new(bin.join("python")).arg("-c").arg("import duckdb; print(duckdb.connect('target/warehouse.duckdb').execute(\"select count(*) from at_risk_accounts where tier = 'red'\").fetchone()[0])").current_dir(&project),
        "reading at_risk_accounts",
    );
    assert_eq!(count.trim().parse::<u64>().unwrap(), red, "the dbt model sees the red accounts the run wrote");

    // a model named in the config that the manifest lacks is an error naming it
    let bad = project.join("bad.yaml");
    std::fs::write(&bad, std::fs::read_to_string(cfg).unwrap().replace("warehouse:\n", "warehouse:\n  tables: { usage: { model: fct_usage } }\n")).unwrap();
    let r = hs(&["validate", "-c", bad.to_str().unwrap()]);
    assert_eq!(r.code, 2, "{}", r.all());
    assert!(r.stderr.contains("no model `fct_usage`") && r.stderr.contains("warehouse.tables.usage.model"), "{}", r.stderr);
}

#[test]
fn a_stale_or_absent_export_exits_with_the_schedulers_code_and_writes_nothing() {
    let dir = scratch("not-yet");
    let data = dir.join("data");
    let r = hs(&["generate", "--out", data.to_str().unwrap(), "--accounts", "40", "--months", "3", "--export-date", EXPORT_DATE]);
    assert_eq!(r.code, 0, "{}", r.all());
    // the config says a later export date, but the usage stops the day before 2026-11-01
    let cfg = config_for(&dir, &data, &dir.join("models"), "").to_str().unwrap().to_string();
    let text = std::fs::read_to_string(&cfg).unwrap().replace(&format!("export_date: {EXPORT_DATE}"), "export_date: 2026-11-30");
    std::fs::write(&cfg, text).unwrap();
    let r = hs(&["score", "-c", &cfg, "--logical-date", "2026-11-15"]);
    assert_eq!(r.code, 99, "{}", r.all());
    assert!(r.stderr.contains("newest usage is from 2026-10-31") && r.stderr.contains("max_export_lag_days"), "{}", r.stderr);
    assert!(!dir.join("out/account_scores").exists());
    // a later run the lag allows gets past the check (to the missing model)
    let r = hs(&["score", "-c", &cfg, "--logical-date", "2026-11-04"]);
    assert_eq!(r.code, 2, "{}", r.all());
    assert!(!r.stderr.contains("newest usage"), "{}", r.stderr);

    // nothing delivered at all: not yet for the scheduled commands, still a contract error for `validate`
    let empty = dir.join("landing");
    std::fs::create_dir_all(&empty).unwrap();
    let cfg = config_for(&dir.join("empty"), &empty, &dir.join("models"), "");
    let r = hs(&["run", "-c", cfg.to_str().unwrap()]);
    assert_eq!(r.code, 99, "{}", r.all());
    assert!(r.stderr.contains("nothing is at") && r.stderr.contains("warehouse.base_uri"), "{}", r.stderr);
    let r = hs(&["backfill", "-c", cfg.to_str().unwrap(), "--from", "2026-10-01"]);
    assert_eq!(r.code, 99, "{}", r.all());
    let r = hs(&["validate", "-c", cfg.to_str().unwrap()]);
    assert_eq!(r.code, 2, "{}", r.all());
}
