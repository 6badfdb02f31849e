//! The export and the results on object stores, through their real
//! protocols, against servers the tests start on loopback: S3 (moto's
//! server) and Azure Blob (Azurite).

use std::path::Path;
use std::process::{Child, Command, Stdio};

use object_store::{ObjectStore, ObjectStoreExt, PutPayload};

use crate::common::*;

/// A server the test started, stopped when dropped.
struct Server(Child);

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

/// The project venv's Python (`make test` passes it), else the PATH's.
fn python() -> String {
    std::env::var("HEALTHSCORE_PYTHON").unwrap_or_else(|_| "python3".into())
}

/// Starts `command` and waits until it listens on `port`.
fn start(mut command: Command, port: u16, what: &str) -> Server {
    let child = command.stdout(Stdio::null()).stderr(Stdio::null()).spawn().unwrap_or_else(|e| panic!("starting {what} (`make test` installs it): {e}"));
    let s = Server(child);
    for _ in 0..400 {
        if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
            return s;
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    panic!("{what} did not start on port {port}");
}

fn start_moto(port: u16) -> Server {
    let mut c = Command::new(python());
    c.args(["-m", "moto.server", "-H", "127.0.0.1", "-p", &port.to_string()]);
    start(c, port, "moto's S3 server")
}

/// A partition as our own readers see it: through the newest commit.
async fn published(stores: &healthscore::store::Stores, root: &str, table: &str) -> Vec<arrow::array::RecordBatch> {
    let root = healthscore::location::Location(url::Url::parse(root).unwrap());
    let out = healthscore::output::Output::open(stores, &root, "test-reader").unwrap();
    out.read_partition(table, &format!("as_of={EXPORT_DATE}")).await.unwrap().unwrap_or_else(|| panic!("no {table} partition under {root}"))
}

async fn list_all(store: &dyn ObjectStore, prefix: &str) -> Vec<String> {
    use futures::TryStreamExt;
    store.list(Some(&prefix.into())).map_ok(|m| m.location.to_string()).try_collect().await.unwrap()
}

/// The newest commit under `prefix`, as written.
async fn newest_commit(store: &dyn ObjectStore, prefix: &str) -> serde_json::Value {
    let mut commits = list_all(store, &format!("{prefix}/_commits")).await;
    commits.sort();
    let last = commits.last().expect("a commit");
    serde_json::from_slice(&store.get(&last.as_str().into()).await.unwrap().bytes().await.unwrap()).unwrap()
}

async fn upload(store: &dyn ObjectStore, dir: &Path, prefix: &str) {
    for e in std::fs::read_dir(dir).unwrap().flatten() {
        let name = format!("{prefix}/{}", e.file_name().to_string_lossy());
        if e.file_type().unwrap().is_dir() {
            Box::pin(upload(store, &e.path(), &name)).await;
        } else {
            store.put(&name.as_str().into(), PutPayload::from(std::fs::read(e.path()).unwrap())).await.unwrap();
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_job_reads_and_writes_s3() {
    let c = company();
    let port = free_port();
    let _moto = start_moto(port);
    let endpoint = format!("http://127.0.0.1:{port}");
    reqwest::Client::new().put(format!("{endpoint}/warehouse")).send().await.unwrap().error_for_status().unwrap();
    let env = [("AWS_ACCESS_KEY_ID", "test"), ("AWS_SECRET_ACCESS_KEY", "test"), ("AWS_REGION", "us-east-1")];
    let store = object_store::aws::AmazonS3Builder::new()
        .with_bucket_name("warehouse")
        .with_endpoint(&endpoint)
        .with_allow_http(true)
        .with_region("us-east-1")
        .with_access_key_id("test")
        .with_secret_access_key("test")
        .build()
        .unwrap();
    upload(&store, &c.data, "exports/2026-11-01").await;

    let dir = scratch("s3");
    let cfg = config_for(&dir, &c.data, &c.models, &format!("storage: {{ aws_endpoint: '{endpoint}', aws_allow_http: 'true', aws_region: us-east-1 }}\n"));
    let yaml = std::fs::read_to_string(&cfg)
        .unwrap()
        .replace(&format!("base_uri: {}", c.data.display()), "base_uri: s3://warehouse/exports/2026-11-01/")
        .replace(&format!("uri: {}", dir.join("out").display()), "uri: s3://warehouse/healthscore/");
    std::fs::write(&cfg, yaml).unwrap();
    let cfg = cfg.to_str().unwrap();

    let run = |args: &[&str]| hs_env(args, &env);
    let r = run(&["validate", "-c", cfg]);
    assert_eq!(r.code, 0, "{}", r.all());
    let r = run(&["run", "-c", cfg]);
    assert_eq!(r.code, 0, "{}", r.all());
    let reader = healthscore::store::Stores::new(
        [("aws_endpoint", endpoint.as_str()), ("aws_allow_http", "true"), ("aws_region", "us-east-1"), ("aws_access_key_id", "test"), ("aws_secret_access_key", "test")]
            .into_iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect(),
    );
    let root = "s3://warehouse/healthscore/";
    let first = published(&reader, root, "account_scores").await;
    assert!(first.iter().map(|b| b.num_rows()).sum::<usize>() > 1000);
    let committed = newest_commit(&store, "healthscore").await;
    let key = format!("account_scores/as_of={EXPORT_DATE}");
    let first_file = committed["partitions"][&key]["file"].as_str().unwrap().to_string();

    // killed between staging and the commit: the files are on the store, but
    // readers stay on the previous run's partitions, every table of it
    let r = hs_env(&["run", "-c", cfg], &[env[0], env[1], env[2], ("HEALTHSCORE_FAULT", "after_stage")]);
    assert_ne!(r.code, 0, "the fault aborts the run: {}", r.all());
    let staged: Vec<String> = list_all(&store, "healthscore").await.into_iter().filter(|p| p.contains(&format!("{key}/part-")) && !p.ends_with(&first_file)).collect();
    assert_eq!(staged.len(), 1, "the killed run staged its own account_scores file: {staged:?}");
    assert_eq!(newest_commit(&store, "healthscore").await, committed, "no commit was made");
    assert_eq!(published(&reader, root, "account_scores").await, first);

    // the rerun takes over the dead run's lock, clears its files, and commits
    let r = run(&["run", "-c", cfg]);
    assert_eq!(r.code, 0, "{}", r.all());
    assert_eq!(published(&reader, root, "account_scores").await, first, "a rerun of the same as_of gives the same rows");
    let recommitted = newest_commit(&store, "healthscore").await;
    assert_ne!(recommitted["partitions"][&key]["file"], committed["partitions"][&key]["file"]);
    let listed = list_all(&store, "healthscore").await;
    assert!(!listed.iter().any(|p| p.contains("_staging") || p.ends_with("_lock")), "{listed:?}");
    let partitions = recommitted["partitions"].as_object().unwrap();
    let files: Vec<&String> = listed.iter().filter(|p| p.ends_with(".parquet") && !p.contains("/_cache/")).collect();
    assert_eq!(files.len(), partitions.len(), "one file per committed partition, the dead run's gone: {files:?}");
    for part in partitions.values() {
        let file = format!("healthscore/{}", part["file"].as_str().unwrap());
        assert!(files.contains(&&file), "{file} is committed but not on the store");
    }
    assert_eq!(listed.iter().filter(|p| p.contains("/runs/")).count(), 2, "the two runs that finished have their manifests: {listed:?}");
    // a broken file on S3 is named like a local one
    store.put(&"exports/2026-11-01/nps/part-broken.parquet".into(), PutPayload::from_static(b"not parquet")).await.unwrap();
    let r = run(&["validate", "-c", cfg]);
    assert_eq!(r.code, 2, "{}", r.all());
    assert!(r.stderr.contains("`nps` file `nps/part-broken.parquet`: not readable as Parquet"), "{}", r.stderr);
}

/// Azurite's well-known development account (public, in Microsoft's docs).
const AZURITE_ACCOUNT: &str = "devstoreaccount1";
const AZURITE_KEY: &str = "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw==";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_job_reads_and_writes_azure_blob_storage() {
    let port = free_port();
    let dir = scratch("azure");
    let mut c = Command::new(std::env::var("AZURITE").unwrap_or_else(|_| "azurite-blob".into()));
    c.args(["--blobHost", "127.0.0.1", "--blobPort", &port.to_string(), "--location", dir.join("azurite").to_str().unwrap(), "--silent", "--skipApiVersionCheck"]);
    let _azurite = start(c, port, "Azurite");
    let endpoint = format!("http://127.0.0.1:{port}/{AZURITE_ACCOUNT}");
    // a container, made the way an Azure user would: the SDK
    let made = Command::new(python())
        .args(["-c", &format!("from azure.storage.blob import BlobServiceClient as C; C.from_connection_string('DefaultEndpointsProtocol=http;AccountName={AZURITE_ACCOUNT};AccountKey={AZURITE_KEY};BlobEndpoint={endpoint};').create_container('warehouse')")])
        .status()
        .unwrap();
    assert!(made.success(), "creating the container");
    let store = object_store::azure::MicrosoftAzureBuilder::new()
        .with_account(AZURITE_ACCOUNT)
        .with_access_key(AZURITE_KEY)
        .with_endpoint(endpoint.clone())
        .with_allow_http(true)
        .with_container_name("warehouse")
        .build()
        .unwrap();

    // the key comes from the environment; the config holds only where to go
    let env = [("AZURE_STORAGE_ACCOUNT_KEY", AZURITE_KEY)];
    let storage = format!("storage: {{ azure_endpoint: '{endpoint}', azure_storage_account_name: {AZURITE_ACCOUNT}, azure_allow_http: 'true' }}\n");
    let cfg = dir.join("healthscore.yaml");
    std::fs::write(
        &cfg,
        format!(
            "warehouse: {{ base_uri: 'az://warehouse/exports/', export_date: {EXPORT_DATE} }}\noutput: {{ uri: 'az://warehouse/healthscore/' }}\nmodels: {{ dir: {}, name: churn }}\nfeatures: {{ sql_dir: {} }}\ntraining: {{ num_threads: 2 }}\n{storage}",
            dir.join("models").display(),
            repo().join("sql").display()
        ),
    )
    .unwrap();
    let cfg = cfg.to_str().unwrap();
    let data = dir.join("data");
    let r = hs(&["generate", "--out", data.to_str().unwrap(), "--accounts", "300", "--months", "14", "--export-date", EXPORT_DATE]);
    assert_eq!(r.code, 0, "{}", r.all());
    upload(&store, &data, "exports").await;

    let run = |args: &[&str]| hs_env(args, &env);
    for step in ["validate", "train", "run"] {
        let r = run(&[step, "-c", cfg]);
        assert_eq!(r.code, 0, "{step}: {}", r.all());
    }
    let reader = healthscore::store::Stores::new(
        [("azure_endpoint", endpoint.as_str()), ("azure_storage_account_name", AZURITE_ACCOUNT), ("azure_allow_http", "true"), ("azure_storage_account_key", AZURITE_KEY)]
            .into_iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect(),
    );
    let root = "az://warehouse/healthscore/";
    let first = published(&reader, root, "account_scores").await;
    assert!(first.iter().map(|b| b.num_rows()).sum::<usize>() > 100);
    // a rerun commits the same rows (its lock and its commit conditional
    // puts on the container) and leaves no staging or lock behind
    let before = newest_commit(&store, "healthscore").await["seq"].as_u64().unwrap();
    let r = run(&["run", "-c", cfg]);
    assert_eq!(r.code, 0, "{}", r.all());
    assert_eq!(first, published(&reader, root, "account_scores").await);
    assert!(newest_commit(&store, "healthscore").await["seq"].as_u64().unwrap() > before, "the rerun committed");
    let listed: Vec<String> = {
        use futures::TryStreamExt;
        store.list(Some(&"healthscore".into())).map_ok(|m| m.location.to_string()).try_collect().await.unwrap()
    };
    assert!(!listed.iter().any(|p| p.contains("_staging") || p.ends_with("_lock")), "{listed:?}");
    assert_eq!(listed.iter().filter(|p| p.contains("/runs/")).count(), 3, "train and both runs have their manifests on the store: {listed:?}");

    // a wrong key and a missing container: exit 2, the URI named, no secret
    let wrong = "c2VjcmV0LWtleS10aGF0LWlzLXdyb25nLWJ1dC1iYXNlNjQ=";
    let r = hs_env(&["validate", "-c", cfg], &[("AZURE_STORAGE_ACCOUNT_KEY", wrong)]);
    assert_eq!(r.code, 2, "{}", r.all());
    assert!(r.stderr.contains("az://warehouse/exports/") && r.stderr.contains("refused the credentials"), "{}", r.stderr);
    assert!(!r.all().contains(wrong) && !r.all().contains(AZURITE_KEY), "a key reached the output");
    let missing = std::fs::read_to_string(cfg).unwrap().replace("az://warehouse/exports/", "az://no-such-container/exports/");
    std::fs::write(dir.join("missing.yaml"), missing).unwrap();
    let r = run(&["validate", "-c", dir.join("missing.yaml").to_str().unwrap()]);
    assert_eq!(r.code, 2, "{}", r.all());
    assert!(r.stderr.contains("az://no-such-container/exports/") && r.stderr.contains("does not exist"), "{}", r.stderr);
}
