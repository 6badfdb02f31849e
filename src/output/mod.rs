//! Results tables under the output location: staged, then published
//! atomically. What each table holds is in `tables/`, one file per table;
//! the run lock and the manifest are the pipeline's.
//!
//! Writing a partition is two steps, as in delta-rs: the file is first
//! written where readers never look, then published by one atomic step.
//! The step depends on the store. On a local disk it is a rename:
//!
//! ```text
//!  stage    <out>/_staging/<run_id>/<table>/<partition>/part-0.parquet   (readers ignore `_` folders)
//!    │      … every table of the run is staged before any is published …
//!  publish  rename(2) → <out>/<table>/<partition>/part-0.parquet
//!  record   <out>/runs/<run_id>.json                                      (one object write)
//! ```
//!
//! A partition is one file, so a reader sees the old file or the new one,
//! never a mix; a crash before publishing leaves every table as it was, and
//! a rerun of the same `as_of` replaces the partition with identical bytes.
//! Leftover staging folders are removed by the next run.
//!
//! S3, GCS and Azure have no rename (object_store's is a copy and a delete,
//! so a crash between two tables' copies would leave a run half published).
//! There the files are written under new names and one conditional put of
//! a commit publishes the whole run: see `commits`.

pub mod commits;
pub mod parquet;
pub mod tables;

use std::borrow::Borrow;

use arrow::array::RecordBatch;
use arrow::datatypes::SchemaRef;
use bytes::Bytes;
use serde::{Deserialize, Serialize};

use crate::location::Location;
use crate::store::{Blob, Stores};
use crate::error::{Error, Result};

/// Set to `after_stage` to abort the process between staging and publishing
/// (the crash test uses it; nothing else should).
pub const FAULT_ENV: &str = "HEALTHSCORE_FAULT";

pub struct Staged {
    /// Where the file was written.
    staging: Blob,
    /// Where a rename publishes it (on a local disk).
    target: Blob,
    pub table: String,
    pub partition: String,
    pub rows: usize,
}

/// A partition as published (the run manifest lists them).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Published {
    pub table: String,
    pub partition: String,
    pub rows: usize,
}

pub struct Output {
    pub root: Blob,
    pub run_id: String,
    /// The commit log, on stores without rename; `None` on a local disk.
    log: Option<commits::Log>,
    /// Files staged so far by this run, so each has a name of its own.
    staged: std::sync::atomic::AtomicUsize,
}

pub fn new_run_id() -> String {
    format!("{}-{:05x}", chrono::Utc::now().format("%Y%m%dT%H%M%S%.3fZ"), std::process::id() & 0xfffff)
}

impl Output {
    pub fn open(stores: &Stores, root: &Location, run_id: &str) -> Result<Output> {
        let root = stores.blob(root)?;
        let log = (!root.location.is_local()).then(|| commits::Log::new(&root));
        Ok(Output { root, run_id: run_id.to_string(), log, staged: Default::default() })
    }

    /// Writes `batches` as the one file of `<table>/<partition>/`, staged.
    pub async fn stage<B: Borrow<RecordBatch>>(&self, table: &str, partition: &str, schema: &SchemaRef, batches: impl IntoIterator<Item = B>) -> Result<Staged> {
        let mut rows = 0;
        let bytes = parquet::encode(
            schema,
            batches.into_iter().inspect(|b| rows += b.borrow().num_rows()),
        )?;
        let rel = format!("{table}/{partition}/part-0.parquet");
        let staging = match self.log {
            None => self.root.child(&format!("_staging/{}/{rel}", self.run_id)),
            Some(_) => {
                let n = self.staged.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                self.root.child(&format!("{table}/{partition}/part-{}-{n}.parquet", self.run_id))
            }
        };
        staging.put(bytes).await?;
        Ok(Staged { staging, target: self.root.child(&rel), table: table.to_string(), partition: partition.to_string(), rows })
    }

    /// Publishes staged files, each by one atomic step; says what it published.
    pub async fn publish(&self, staged: Vec<Staged>) -> Result<Vec<Published>> {
        if std::env::var(FAULT_ENV).as_deref() == Ok("after_stage") {
            eprintln!("{FAULT_ENV}=after_stage: aborting between staging and publishing");
            std::process::abort();
        }
        match &self.log {
            None => {
                for s in &staged {
                    s.staging.rename_over(&s.target).await?;
                }
            }
            Some(log) => {
                let prefix = self.root.path.as_ref();
                let parts = staged
                    .iter()
                    .map(|s| {
                        let file = s.staging.path.as_ref().strip_prefix(prefix).unwrap_or(s.staging.path.as_ref()).trim_start_matches('/').to_string();
                        (format!("{}/{}", s.table, s.partition), commits::Part { file, rows: s.rows })
                    })
                    .collect();
                log.commit(&self.run_id, parts).await?;
            }
        }
        self.clean_staging().await?;
        Ok(staged.into_iter().map(|s| Published { table: s.table, partition: s.partition, rows: s.rows }).collect())
    }

    /// Removes staging leftovers (this run's, and crashed runs'): on an
    /// object store, every partition file the newest commit does not name.
    /// Call it holding the run lock.
    pub async fn clean_staging(&self) -> Result<()> {
        if let Some(log) = &self.log {
            log.clean(&self.run_id).await?;
        }
        let staging = self.root.child("_staging/");
        for (p, _) in staging.list().await? {
            staging.at(&p).delete().await?;
        }
        if let Some(dir) = staging.location.local_path() {
            let _ = std::fs::remove_dir_all(dir);
        }
        Ok(())
    }

    /// Writes `runs/<run_id>.json` (one object write).
    pub async fn write_run_record(&self, json: String) -> Result<()> {
        self.root.child(&format!("runs/{}.json", self.run_id)).put(Bytes::from(json)).await
    }

    /// Every run record under `runs/`, as written.
    pub async fn run_records(&self) -> Result<Vec<String>> {
        let mut out = Vec::new();
        for (p, _) in self.root.child("runs/").list().await? {
            if p.as_ref().ends_with(".json") {
                let name = p.as_ref().rsplit('/').next().unwrap_or_default().to_string();
                if let Some(b) = self.root.child(&format!("runs/{name}")).get().await? {
                    out.push(String::from_utf8_lossy(&b).to_string());
                }
            }
        }
        Ok(out)
    }

    /// Reads the partitions of `table` (newest first) — `as_of=…` folder names.
    pub async fn partitions(&self, table: &str) -> Result<Vec<String>> {
        if let Some(log) = &self.log {
            let mut out: Vec<String> = log.current().await?.partitions_of(table).map(str::to_string).collect();
            out.reverse();
            return Ok(out);
        }
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
        if let Some(log) = &self.log {
            let key = format!("{table}/{partition}");
            // a later run's clean-up may have replaced the file this
            // process's commit names: then read the newest commit, once
            for fresh in [false, true] {
                let commit = if fresh { log.load().await? } else { log.current().await? };
                let Some(part) = commit.partitions.get(&key) else { return Ok(None) };
                if let Some(bytes) = self.root.child(&part.file).get().await? {
                    return Ok(Some(decode(bytes)?));
                }
            }
            return Ok(None);
        }
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
