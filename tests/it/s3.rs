//! The export and the results on an S3-compatible object store (moto's
//! server, started by the test on loopback), through the real S3 protocol.

use std::path::Path;
use std::process::{Child, Command, Stdio};

use object_store::{ObjectStore, ObjectStoreExt, PutPayload};

use crate::common::*;

struct Moto(Child);

impl Drop for Moto {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

fn start_moto(port: u16) -> Moto {
    // The project venv's Python (`make test` passes it), else the PATH's.
    let python = std::env::var("HEALTHSCORE_PYTHON").unwrap_or_else(|_| "python3".into());
    let child = Command::new(python)
        .args(["-m", "moto.server", "-H", "127.0.0.1", "-p", &port.to_string()])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("starting moto's S3 server (`make test` installs it into the project venv and sets HEALTHSCORE_PYTHON)");
    let m = Moto(child);
    for _ in 0..200 {
        if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
            return m;
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    panic!("moto's S3 server did not start on port {port}");
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
    let key = format!("healthscore/account_scores/as_of={EXPORT_DATE}/part-0.parquet");
    let first = store.get(&key.as_str().into()).await.unwrap().bytes().await.unwrap();
    let batches = healthscore::output::decode(first.clone()).unwrap();
    assert!(batches[0].num_rows() > 1000);
    // a rerun replaces the partition with the same bytes, and leaves no staging or lock behind
    let r = run(&["run", "-c", cfg]);
    assert_eq!(r.code, 0, "{}", r.all());
    let second = store.get(&key.as_str().into()).await.unwrap().bytes().await.unwrap();
    assert_eq!(first, second);
    let listed: Vec<String> = {
        use futures::TryStreamExt;
        store.list(Some(&"healthscore".into())).map_ok(|m| m.location.to_string()).try_collect().await.unwrap()
    };
    assert!(!listed.iter().any(|p| p.contains("_staging") || p.ends_with("_lock")), "{listed:?}");
    assert_eq!(listed.iter().filter(|p| p.contains("/runs/")).count(), 2);
    // a broken file on S3 is named like a local one
    store.put(&"exports/2026-11-01/nps/part-broken.parquet".into(), PutPayload::from_static(b"not parquet")).await.unwrap();
    let r = run(&["validate", "-c", cfg]);
    assert_eq!(r.code, 2, "{}", r.all());
    assert!(r.stderr.contains("`nps` file `nps/part-broken.parquet`: not readable as Parquet"), "{}", r.stderr);
}
