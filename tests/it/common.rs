//! Shared fixtures: one generated company and one trained model per build of
//! the tests, made once and reused by every test (and test process), guarded
//! by a file lock; small hand-made exports for the bad-input tests; and a
//! runner for the real binary.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::{Arc, OnceLock};

use arrow::array::{ArrayRef, RecordBatch};
use arrow::datatypes::{Field, Schema};

pub const EXPORT_DATE: &str = "2026-11-01";

pub fn bin() -> &'static str {
    env!("CARGO_BIN_EXE_healthscore")
}

pub fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

pub struct Run {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

impl Run {
    pub fn all(&self) -> String {
        format!("{}\n{}", self.stdout, self.stderr)
    }
}

/// Runs the binary with JSON logs.
pub fn hs(args: &[&str]) -> Run {
    hs_env(args, &[])
}

pub fn hs_env(args: &[&str], env: &[(&str, &str)]) -> Run {
    let mut cmd = Command::new(bin());
    cmd.args(args).arg("--log-format").arg("json").env_remove("HEALTHSCORE_FAULT");
    for (k, v) in env {
        cmd.env(k, v);
    }
    let out = cmd.output().expect("running healthscore");
    Run {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

pub struct Company {
    pub dir: PathBuf,
    pub data: PathBuf,
    pub models: PathBuf,
    pub config: PathBuf,
}

/// A config for a test: the fixture's (or `data`'s) export, its own output
/// folder, the fixture's models unless `models` is given, and `extra` YAML.
pub fn config_for(dir: &Path, data: &Path, models: &Path, extra: &str) -> PathBuf {
    std::fs::create_dir_all(dir).unwrap();
    let text = format!(
        "warehouse:\n  base_uri: {}\n  export_date: {EXPORT_DATE}\noutput:\n  uri: {}\nmodels:\n  dir: {}\n  name: churn\nfeatures:\n  sql_dir: {}\n  version: v2\n{extra}",
        data.display(),
        dir.join("out").display(),
        models.display(),
        repo().join("sql").display()
    );
    let p = dir.join("healthscore.yaml");
    std::fs::write(&p, text).unwrap();
    p
}

fn fixture_key() -> String {
    let exe = std::env::current_exe().unwrap();
    let meta = std::fs::metadata(&exe).unwrap();
    let mtime = meta.modified().unwrap().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs();
    format!("{mtime}-{}", meta.len())
}

/// The default generated company (2,000 accounts × 24 months, seed 7) with a
/// trained model, built once per test build.
pub fn company() -> &'static Company {
    static C: OnceLock<Company> = OnceLock::new();
    C.get_or_init(|| {
        let base = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("hs-fixture");
        std::fs::create_dir_all(&base).unwrap();
        let lock = std::fs::File::create(base.join(".lock")).unwrap();
        lock.lock().unwrap();
        let key = fixture_key();
        let dir = base.join(&key);
        let c = Company { data: dir.join("data"), models: dir.join("models"), config: dir.join("healthscore.yaml"), dir: dir.clone() };
        if !dir.join("ready").exists() {
            for old in std::fs::read_dir(&base).unwrap().flatten() {
                if old.file_type().unwrap().is_dir() {
                    let _ = std::fs::remove_dir_all(old.path());
                }
            }
            let r = hs(&["generate", "--out", c.data.to_str().unwrap(), "--seed", "7", "--accounts", "2000", "--months", "24", "--export-date", EXPORT_DATE]);
            assert_eq!(r.code, 0, "generate failed: {}", r.all());
            config_for(&dir, &c.data, &c.models, "");
            let r = hs(&["train", "-c", c.config.to_str().unwrap()]);
            assert_eq!(r.code, 0, "train failed: {}", r.all());
            std::fs::write(dir.join("ready"), "").unwrap();
        }
        lock.unlock().unwrap();
        c
    })
}

/// A fresh folder under the target's temp dir, unique per test.
pub fn scratch(name: &str) -> PathBuf {
    let p = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("hs-tests").join(format!("{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&p);
    std::fs::create_dir_all(&p).unwrap();
    p
}

pub fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap().flatten() {
        let t = to.join(e.file_name());
        if e.file_type().unwrap().is_dir() {
            copy_dir(&e.path(), &t);
        } else {
            std::fs::copy(e.path(), t).unwrap();
        }
    }
}

pub fn write_parquet(path: &Path, cols: Vec<(&str, ArrayRef)>) {
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    let schema = Arc::new(Schema::new(cols.iter().map(|(n, a)| Field::new(*n, a.data_type().clone(), true)).collect::<Vec<_>>()));
    let batch = RecordBatch::try_new(schema.clone(), cols.into_iter().map(|c| c.1).collect()).unwrap();
    let bytes = healthscore::output::parquet::encode(&schema, &[batch]).unwrap();
    std::fs::write(path, bytes).unwrap();
}

pub fn read_parquet(path: &Path) -> Vec<RecordBatch> {
    healthscore::output::decode(bytes::Bytes::from(std::fs::read(path).unwrap())).unwrap()
}

/// Every batch of a dataset folder (or of `<dir>.parquet`).
pub fn read_parquet_dir(dir: &Path) -> Vec<RecordBatch> {
    if !dir.is_dir() {
        return read_parquet(&dir.with_extension("parquet"));
    }
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir).unwrap().flatten().map(|e| e.path()).filter(|p| p.extension().is_some_and(|e| e == "parquet")).collect();
    files.sort();
    files.iter().flat_map(|p| read_parquet(p)).collect()
}

pub fn day(s: &str) -> i32 {
    healthscore::dates::day(chrono::NaiveDate::parse_from_str(s, "%Y-%m-%d").unwrap())
}

/// A tiny valid export: three accounts and a little usage.
pub fn tiny_export(dir: &Path) {
    use arrow::array::{Date32Array, Float64Array, Int64Array, StringArray};
    let s = |v: &[&str]| Arc::new(StringArray::from(v.to_vec())) as ArrayRef;
    write_parquet(
        &dir.join("accounts/part-0.parquet"),
        vec![
            ("account_id", s(&["a1", "a2", "a3"])),
            ("name", s(&["A", "B", "C"])),
            ("segment", s(&["smb", "smb", "enterprise"])),
            ("industry", s(&["retail", "media", "finance"])),
            ("plan", s(&["pro", "starter", "enterprise"])),
            ("seats_licensed", Arc::new(Int64Array::from(vec![10, 5, 100])) as ArrayRef),
            ("arr", Arc::new(Float64Array::from(vec![6600.0, 1800.0, 108000.0])) as ArrayRef),
            ("contract_start", Arc::new(Date32Array::from(vec![day("2025-01-10"), day("2025-03-01"), day("2024-06-01")])) as ArrayRef),
            ("renewal_date", Arc::new(Date32Array::from(vec![day("2027-01-10"), day("2027-03-01"), day("2027-06-01")])) as ArrayRef),
            ("owner_email", s(&["x@v.example", "y@v.example", "z@v.example"])),
            ("crm_id", s(&["101", "102", "103"])),
        ],
    );
    write_parquet(
        &dir.join("usage/part-0.parquet"),
        vec![
            ("account_id", s(&["a1", "a1", "a2", "a3"])),
            ("user_id", s(&["u1", "u2", "u3", "u4"])),
            ("date", Arc::new(Date32Array::from(vec![day("2026-10-01"), day("2026-10-02"), day("2026-10-03"), day("2026-10-04")])) as ArrayRef),
            ("feature", s(&["login", "reports", "login", "login"])),
            ("events", Arc::new(Int64Array::from(vec![1, 5, 2, 3])) as ArrayRef),
        ],
    );
}

/// Compares what a failed command told the user (from its `error:` line on,
/// the scratch folder written `<dir>`) with `tests/snapshots/<name>.txt`.
/// A missing snapshot is written and the test fails, to be reviewed and
/// committed; `UPDATE_SNAPSHOTS=1` rewrites them all.
pub fn snapshot(name: &str, r: &Run) {
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("hs-tests");
    let at = r.stderr.find("error: ").unwrap_or_else(|| panic!("{name}: no error was printed:\n{}", r.all()));
    let text = r.stderr[at..].replace(&dir.display().to_string(), "<dir>");
    // the scratch folder's per-process suffix
    let text = regex_lite_pid(&text);
    let file = repo().join("tests/snapshots").join(format!("{name}.txt"));
    let want = std::fs::read_to_string(&file).ok();
    if want.is_none() || std::env::var("UPDATE_SNAPSHOTS").is_ok() {
        std::fs::create_dir_all(file.parent().unwrap()).unwrap();
        std::fs::write(&file, &text).unwrap();
        assert!(want.is_some(), "{name}: new snapshot written to {}; review it and commit it", file.display());
        return;
    }
    assert_eq!(text, want.unwrap(), "{name}: the message changed (UPDATE_SNAPSHOTS=1 rewrites {})", file.display());
}

/// `<dir>/name-12345/` → `<dir>/name-<pid>/`.
fn regex_lite_pid(s: &str) -> String {
    let mut out = String::new();
    let mut rest = s;
    while let Some(i) = rest.find("<dir>/") {
        let (head, tail) = rest.split_at(i + "<dir>/".len());
        out.push_str(head);
        let seg_end = tail.find('/').unwrap_or(tail.len());
        let seg = &tail[..seg_end];
        match seg.rsplit_once('-') {
            Some((base, pid)) if !pid.is_empty() && pid.bytes().all(|b| b.is_ascii_digit()) => out.push_str(&format!("{base}-<pid>")),
            _ => out.push_str(seg),
        }
        rest = &tail[seg_end..];
    }
    out.push_str(rest);
    out
}

/// The demo config's `playbooks:` section, as a user would copy it.
pub fn demo_playbooks() -> String {
    let text = std::fs::read_to_string(repo().join("config/healthscore.yaml")).unwrap();
    text[text.find("\nplaybooks:").expect("the demo config has playbooks")..].to_string()
}

/// Every file under `dir`.
pub fn walk(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).unwrap().flatten() {
        if e.file_type().unwrap().is_dir() {
            out.extend(walk(&e.path()));
        } else {
            out.push(e.path());
        }
    }
    out
}

/// The demo's playbooks delivering at once (`shadow: false`): what a test of
/// alerts sent reads, without first building the live backtest's history.
pub fn live_playbooks() -> String {
    demo_playbooks().replacen("\nplaybooks:\n", "\nplaybooks:\n  shadow: false\n", 1)
}
