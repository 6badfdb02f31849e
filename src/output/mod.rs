//! Results tables, run manifests and the run lock, under the output location.
//!
//! Writing a partition is two steps, as in delta-rs: the file is first
//! written where readers never look, then published by one atomic step.
//!
//! ```text
//!  stage    <out>/_staging/<run_id>/<table>/<partition>/part-0.parquet   (readers ignore `_` folders)
//!    │      … every table of the run is staged before any is published …
//!  publish  rename → <out>/<table>/<partition>/part-0.parquet            (rename(2) locally; a copy,
//!    │                                                                    atomic per object, on S3/GCS/Azure)
//!  record   <out>/runs/<run_id>.json                                      (one object write)
//! ```
//!
//! A partition is one file, so a reader sees the old file or the new one,
//! never a mix; a crash before publishing leaves every table as it was, and
//! a rerun of the same `as_of` replaces the partition with identical bytes.
//! Leftover staging folders are removed by the next run.

pub mod parquet;

use std::borrow::Borrow;

use arrow::array::RecordBatch;
use arrow::datatypes::SchemaRef;
use bytes::Bytes;
use serde::{Deserialize, Serialize};

use crate::config::Config;
use crate::engine::store::{Blob, Stores};
use crate::error::{Error, Result};

/// Set to `after_stage` to abort the process between staging and publishing
/// (the crash test uses it; nothing else should).
pub const FAULT_ENV: &str = "HEALTHSCORE_FAULT";

pub struct Staged {
    staging: Blob,
    target: Blob,
    pub table: String,
    pub partition: String,
    pub rows: usize,
}

pub struct Output {
    pub root: Blob,
    pub run_id: String,
}

pub fn new_run_id() -> String {
    format!("{}-{:05x}", chrono::Utc::now().format("%Y%m%dT%H%M%S%.3fZ"), std::process::id() & 0xfffff)
}

impl Output {
    pub fn open(stores: &Stores, cfg: &Config, run_id: &str) -> Result<Output> {
        Ok(Output { root: stores.blob(&cfg.output)?, run_id: run_id.to_string() })
    }

    /// Writes `batches` as the one file of `<table>/<partition>/`, staged.
    pub async fn stage<B: Borrow<RecordBatch>>(&self, table: &str, partition: &str, schema: &SchemaRef, batches: impl IntoIterator<Item = B>) -> Result<Staged> {
        let mut rows = 0;
        let bytes = parquet::encode(
            schema,
            batches.into_iter().inspect(|b| rows += b.borrow().num_rows()),
        )?;
        let rel = format!("{table}/{partition}/part-0.parquet");
        let staging = self.root.child(&format!("_staging/{}/{rel}", self.run_id));
        staging.put(bytes).await?;
        Ok(Staged { staging, target: self.root.child(&rel), table: table.to_string(), partition: partition.to_string(), rows })
    }

    /// Publishes staged files, each by one atomic step.
    pub async fn publish(&self, staged: Vec<Staged>) -> Result<()> {
        if std::env::var(FAULT_ENV).as_deref() == Ok("after_stage") {
            eprintln!("{FAULT_ENV}=after_stage: aborting between staging and publishing");
            std::process::abort();
        }
        for s in &staged {
            s.staging.rename_over(&s.target).await?;
        }
        self.clean_staging().await
    }

    /// Removes staging leftovers (this run's, and crashed runs').
    pub async fn clean_staging(&self) -> Result<()> {
        let staging = self.root.child("_staging/");
        for (p, _) in staging.list().await? {
            staging.at(&p).delete().await?;
        }
        if let Some(dir) = staging.location.local_path() {
            let _ = std::fs::remove_dir_all(dir);
        }
        Ok(())
    }

    pub async fn write_manifest(&self, m: &Manifest) -> Result<()> {
        let text = serde_json::to_string_pretty(m).map_err(|e| Error::other("manifest", e))?;
        self.root.child(&format!("runs/{}.json", self.run_id)).put(Bytes::from(text)).await
    }

    /// Reads the partitions of `table` (newest first) — `as_of=…` folder names.
    pub async fn partitions(&self, table: &str) -> Result<Vec<String>> {
        let dir = self.root.child(&format!("{table}/"));
        let mut out: Vec<String> = dir
            .list()
            .await?
            .into_iter()
            .filter_map(|(p, _)| {
                let rel = p.as_ref().strip_prefix(dir.path.as_ref())?.trim_start_matches('/').to_string();
                let (part, file) = rel.split_once('/')?;
                (file == "part-0.parquet").then(|| part.to_string())
            })
            .collect();
        out.sort();
        out.dedup();
        out.reverse();
        Ok(out)
    }

    /// The one file of a published partition, if it exists.
    pub async fn read_partition(&self, table: &str, partition: &str) -> Result<Option<Vec<RecordBatch>>> {
        let Some(bytes) = self.root.child(&format!("{table}/{partition}/part-0.parquet")).get().await? else {
            return Ok(None);
        };
        Ok(Some(decode(bytes)?))
    }
}

pub fn decode(bytes: Bytes) -> Result<Vec<RecordBatch>> {
    let reader = ::parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder::try_new(bytes)
        .map_err(|e| Error::other("reading a results file", e))?
        .build()
        .map_err(|e| Error::other("reading a results file", e))?;
    reader.collect::<std::result::Result<Vec<_>, _>>().map_err(|e| Error::other("reading a results file", e))
}

/// `runs/<run_id>.json`, like dbt's run_results.json.
#[derive(Debug, Clone, Serialize, Deserialize, Default)]
pub struct Manifest {
    pub run_id: String,
    pub command: String,
    pub args: Vec<String>,
    pub as_of: Option<String>,
    pub started_at: String,
    pub finished_at: String,
    pub status: String,
    pub model_version: Option<String>,
    pub feature_set: Option<String>,
    pub feature_hash: Option<String>,
    pub stages: Vec<StageRecord>,
    pub tables: Vec<TableRecord>,
    pub error: Option<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct StageRecord {
    pub name: String,
    pub status: String,
    pub seconds: f64,
    pub detail: String,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct TableRecord {
    pub table: String,
    pub partition: String,
    pub rows: usize,
}

// ---- the run lock -----------------------------------------------------------

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct LockInfo {
    pub run_id: String,
    pub command: String,
    pub host: String,
    pub pid: u32,
    pub started_at: String,
}

pub struct Lock {
    blob: Blob,
    held: bool,
}

fn host() -> String {
    std::fs::read_to_string("/etc/hostname").map(|s| s.trim().to_string()).unwrap_or_else(|_| "unknown".into())
}

impl Lock {
    /// Takes `<out>/_lock` (put-if-absent). A lock left by a process that no
    /// longer runs on this host is taken over; any other is an error naming
    /// its owner and age.
    pub async fn acquire(stores: &Stores, cfg: &Config, run_id: &str, command: &str) -> Result<Lock> {
        let blob = stores.blob(&cfg.output)?.child("_lock");
        let me = LockInfo {
            run_id: run_id.to_string(),
            command: command.to_string(),
            host: host(),
            pid: std::process::id(),
            started_at: chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
        };
        let body = Bytes::from(serde_json::to_string(&me).unwrap());
        for _ in 0..2 {
            if blob.put_if_absent(body.clone()).await? {
                return Ok(Lock { blob, held: true });
            }
            let Some(existing) = blob.get().await? else { continue };
            let other: Option<LockInfo> = serde_json::from_slice(&existing).ok();
            let Some(other) = other else {
                return Err(Error::Usage(format!("`{}` exists but is not a healthscore lock; remove it if no run is active", blob.location)));
            };
            let dead = other.host == me.host && other.pid != me.pid && !std::path::Path::new(&format!("/proc/{}", other.pid)).exists();
            if dead {
                tracing::warn!("taking over the lock of run {} (pid {} on {} is gone)", other.run_id, other.pid, other.host);
                blob.delete().await?;
                continue;
            }
            let age = chrono::DateTime::parse_from_rfc3339(&other.started_at)
                .map(|t| (chrono::Utc::now() - t.with_timezone(&chrono::Utc)).num_minutes())
                .unwrap_or(0);
            let stale = age as f64 / 60.0 > cfg.stale_lock_hours;
            return Err(Error::Usage(format!(
                "another run holds `{}`: `{}` run {} (pid {} on {}) started {} ({} min ago){}",
                blob.location,
                other.command,
                other.run_id,
                other.pid,
                other.host,
                other.started_at,
                age,
                if stale {
                    format!("; it is older than `output.stale_lock_hours` ({}) and looks stale: if that run is dead, delete the lock file and rerun", cfg.stale_lock_hours)
                } else {
                    "; wait for it to finish".to_string()
                }
            )));
        }
        Err(Error::Usage(format!("could not take `{}`", blob.location)))
    }

    pub async fn release(mut self) -> Result<()> {
        self.held = false;
        self.blob.delete().await
    }
}

impl Drop for Lock {
    fn drop(&mut self) {
        if self.held {
            // Best effort on an error path; a process that dies leaves the
            // lock, which the next run on this host takes over.
            if let Some(p) = self.blob.location.local_path() {
                let _ = std::fs::remove_file(p.to_string_lossy().trim_end_matches('/'));
            }
        }
    }
}
