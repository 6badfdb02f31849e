//! Publishing on object stores, which have no rename: a commit log, as in
//! Delta Lake. A partition's file is written under a name no earlier run
//! used, and becomes part of its table only when one conditional put of the
//! next commit names it.
//!
//! ```text
//!  stage   <out>/<table>/<partition>/part-<run_id>.parquet  (a new object; no commit names it yet)
//!  commit  <out>/_commits/<seq>.json                        (put-if-absent: the one atomic step,
//!    │                                                        for every table of the run at once)
//!  clean   files no commit names, commits older than KEEP   (after the commit, and at the next
//!                                                             run's start after a crash)
//! ```
//!
//! Each commit is the whole state: every partition of every table and the
//! file that holds it. Readers of our own tables read the newest commit and
//! follow it, so they see all of a run's tables or none of them; a crash
//! before the commit leaves them on the previous partitions. Tables written
//! before the log existed (`part-0.parquet`, published by copy) are the state
//! until the first commit, which takes them over.

use std::collections::BTreeMap;
use std::sync::Mutex;

use bytes::Bytes;
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::output::tables;
use crate::store::Blob;

/// Commits kept besides the newest (older ones are deleted after a commit).
const KEEP: usize = 10;

/// The file holding one partition, relative to the output root.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Part {
    pub file: String,
    pub rows: usize,
}

/// One commit: the state of every table after it.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Commit {
    /// 0 for the state before the first commit.
    pub seq: u64,
    pub run_id: String,
    /// `<table>/<partition>` → its file.
    pub partitions: BTreeMap<String, Part>,
}

impl Commit {
    /// The partitions of `table`, as folder names (`as_of=2026-11-01`).
    pub fn partitions_of<'a>(&'a self, table: &str) -> impl Iterator<Item = &'a str> + 'a {
        let prefix = format!("{table}/");
        self.partitions.keys().filter_map(move |k| k.strip_prefix(prefix.as_str()))
    }
}

pub struct Log {
    root: Blob,
    dir: Blob,
    /// The commit this process reads from, once loaded: a reader sees one
    /// state for its whole run, and a writer's own commits replace it.
    current: Mutex<Option<Commit>>,
}

fn commit_name(seq: u64) -> String {
    format!("{seq:020}.json")
}

impl Log {
    pub fn new(root: &Blob) -> Log {
        Log { root: root.clone(), dir: root.child("_commits/"), current: Mutex::new(None) }
    }

    /// The sequence numbers of the commits on the store, oldest first.
    async fn seqs(&self) -> Result<Vec<u64>> {
        let mut out: Vec<u64> = self
            .dir
            .list()
            .await?
            .into_iter()
            .filter_map(|(p, _)| p.filename()?.strip_suffix(".json")?.parse().ok())
            .collect();
        out.sort_unstable();
        Ok(out)
    }

    /// The newest commit on the store, or the tables as written before the
    /// log (their `part-0.parquet` files) when there is none.
    pub async fn load(&self) -> Result<Commit> {
        let commit = match self.seqs().await?.last() {
            Some(&seq) => {
                let blob = self.dir.child(&commit_name(seq));
                let bytes = blob.get().await?.ok_or_else(|| Error::Usage(format!("`{}` vanished while being read: is another job cleaning this output?", blob.location)))?;
                serde_json::from_slice(&bytes).map_err(|e| Error::Usage(format!("`{}` is not a healthscore commit: {e}", blob.location)))?
            }
            None => self.before_the_log().await?,
        };
        *self.current.lock().unwrap() = Some(commit.clone());
        Ok(commit)
    }

    /// The commit this process reads from (loaded on first use).
    pub async fn current(&self) -> Result<Commit> {
        if let Some(c) = self.current.lock().unwrap().clone() {
            return Ok(c);
        }
        self.load().await
    }

    async fn before_the_log(&self) -> Result<Commit> {
        let mut partitions = BTreeMap::new();
        for t in tables::ALL {
            let dir = self.root.child(&format!("{}/", t.name));
            for (p, _) in dir.list().await? {
                let Some(rel) = p.as_ref().strip_prefix(self.root.path.as_ref()).map(|r| r.trim_start_matches('/')) else { continue };
                if let Some(key) = rel.strip_suffix("/part-0.parquet") {
                    partitions.insert(key.to_string(), Part { file: rel.to_string(), rows: 0 });
                }
            }
        }
        Ok(Commit { seq: 0, run_id: String::new(), partitions })
    }

    /// Commits `parts` on top of the newest commit with one put-if-absent of
    /// the next sequence number. Should another writer have taken that number
    /// first (the run lock makes this rare), its commit is read and ours is
    /// made on top of it.
    pub async fn commit(&self, run_id: &str, parts: Vec<(String, Part)>) -> Result<Commit> {
        for _ in 0..8 {
            let mut next = self.load().await?;
            next.seq += 1;
            next.run_id = run_id.to_string();
            next.partitions.extend(parts.iter().cloned());
            let body = Bytes::from(serde_json::to_string_pretty(&next).expect("a commit serializes"));
            if self.dir.child(&commit_name(next.seq)).put_if_absent(body).await? {
                *self.current.lock().unwrap() = Some(next.clone());
                return Ok(next);
            }
            tracing::warn!("commit {} was taken by another writer; committing on top of it", next.seq);
        }
        Err(Error::Usage(format!("could not commit to `{}`: other writers kept committing first", self.dir.location)))
    }

    /// Deletes every partition file the newest commit does not name (a
    /// crashed run's, and the ones its commit replaced) but those `run_id`
    /// staged and may still commit, and all but the newest KEEP + 1 commits.
    /// Call it holding the run lock.
    pub async fn clean(&self, run_id: &str) -> Result<()> {
        let mine = format!("/part-{run_id}-");
        let newest = self.load().await?;
        let named: std::collections::BTreeSet<&str> = newest.partitions.values().map(|p| p.file.as_str()).collect();
        for t in tables::ALL {
            let dir = self.root.child(&format!("{}/", t.name));
            for (p, _) in dir.list().await? {
                let Some(rel) = p.as_ref().strip_prefix(self.root.path.as_ref()).map(|r| r.trim_start_matches('/')) else { continue };
                if rel.ends_with(".parquet") && !named.contains(rel) && !rel.contains(&mine) {
                    dir.at(&p).delete().await?;
                }
            }
        }
        let seqs = self.seqs().await?;
        for seq in seqs.iter().take(seqs.len().saturating_sub(KEEP + 1)) {
            self.dir.child(&commit_name(*seq)).delete().await?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use arrow::array::{Int64Array, RecordBatch};
    use arrow::datatypes::{DataType, Field, Schema, SchemaRef};

    use crate::location::Location;
    use crate::output::Output;
    use crate::store::Stores;

    fn batch(v: i64) -> (SchemaRef, RecordBatch) {
        let schema: SchemaRef = Arc::new(Schema::new(vec![Field::new("v", DataType::Int64, false)]));
        let b = RecordBatch::try_new(schema.clone(), vec![Arc::new(Int64Array::from(vec![v]))]).unwrap();
        (schema, b)
    }

    async fn value(out: &Output, table: &str, part: &str) -> Option<i64> {
        let b = out.read_partition(table, part).await.unwrap()?;
        Some(b[0].column(0).as_any().downcast_ref::<Int64Array>().unwrap().value(0))
    }

    async fn objects(stores: &Stores, root: &Location) -> Vec<String> {
        let blob = stores.blob(root).unwrap();
        blob.list().await.unwrap().into_iter().map(|(p, _)| p.to_string()).collect()
    }

    /// A run that stages and publishes `tables` at value `v`.
    async fn run(stores: &Stores, root: &Location, id: &str, v: i64, publish: bool) {
        let out = Output::open(stores, root, id).unwrap();
        out.clean_staging().await.unwrap();
        let (schema, b) = batch(v);
        let mut staged = Vec::new();
        for t in ["account_scores", "score_drivers"] {
            staged.push(out.stage(t, "as_of=2026-11-01", &schema, [&b]).await.unwrap());
        }
        if publish {
            out.publish(staged).await.unwrap();
        }
    }

    #[tokio::test]
    async fn a_run_is_published_by_one_commit_and_a_crash_before_it_leaves_readers_on_the_previous_run() {
        let stores = Stores::new(Default::default());
        let root = Location(url::Url::parse("memory://bucket/out/").unwrap());
        let before_the_log = stores.blob(&root).unwrap().child("feature_drift/as_of=2026-10-01/part-0.parquet");
        before_the_log.put(crate::output::parquet::encode(&batch(7).0, [batch(7).1]).unwrap()).await.unwrap();

        run(&stores, &root, "r1", 1, true).await;
        let reader = Output::open(&stores, &root, "reader").unwrap();
        assert_eq!(value(&reader, "account_scores", "as_of=2026-11-01").await, Some(1));
        assert_eq!(value(&reader, "score_drivers", "as_of=2026-11-01").await, Some(1));
        // a table written before the log is taken over by the first commit
        assert_eq!(value(&reader, "feature_drift", "as_of=2026-10-01").await, Some(7));
        assert_eq!(reader.partitions("account_scores").await.unwrap(), vec!["as_of=2026-11-01"]);

        // a run that dies after staging: its files are there, no commit names them
        run(&stores, &root, "r2", 2, false).await;
        let listed = objects(&stores, &root).await;
        assert!(listed.iter().any(|p| p.ends_with("account_scores/as_of=2026-11-01/part-r2-0.parquet")), "{listed:?}");
        let fresh = Output::open(&stores, &root, "reader2").unwrap();
        assert_eq!(value(&fresh, "account_scores", "as_of=2026-11-01").await, Some(1));
        assert_eq!(value(&fresh, "score_drivers", "as_of=2026-11-01").await, Some(1));

        // the next run clears the dead run's files, publishes, and leaves one file per partition
        run(&stores, &root, "r3", 3, true).await;
        let fresh = Output::open(&stores, &root, "reader3").unwrap();
        assert_eq!(value(&fresh, "account_scores", "as_of=2026-11-01").await, Some(3));
        assert_eq!(value(&fresh, "score_drivers", "as_of=2026-11-01").await, Some(3));
        assert_eq!(value(&fresh, "feature_drift", "as_of=2026-10-01").await, Some(7));
        let listed = objects(&stores, &root).await;
        let files: Vec<&String> = listed.iter().filter(|p| p.ends_with(".parquet")).collect();
        assert_eq!(files.len(), 3, "{listed:?}");
        assert!(files.iter().all(|p| p.contains("part-r3-") || p.contains("feature_drift")), "{listed:?}");
        assert_eq!(listed.iter().filter(|p| p.contains("/_commits/")).count(), 2, "{listed:?}");

        // a reader that loaded its commit before r3 follows the newest one when its file is gone
        assert_eq!(value(&reader, "account_scores", "as_of=2026-11-01").await, Some(3));
    }

    #[tokio::test]
    async fn a_commit_whose_number_was_taken_is_made_on_top_of_the_other_one() {
        let stores = Stores::new(Default::default());
        let root = Location(url::Url::parse("memory://bucket/out/").unwrap());
        let blob = stores.blob(&root).unwrap();
        let a = super::Log::new(&blob);
        let b = super::Log::new(&blob);
        a.load().await.unwrap();
        let part = |f: &str| super::Part { file: f.into(), rows: 1 };
        // b commits while a still holds the empty state
        b.commit("b", vec![("alerts/as_of=2026-11-01".into(), part("alerts/x.parquet"))]).await.unwrap();
        let c = a.commit("a", vec![("account_scores/as_of=2026-11-01".into(), part("account_scores/y.parquet"))]).await.unwrap();
        assert_eq!(c.seq, 2);
        assert_eq!(c.partitions.len(), 2, "a's commit keeps b's partition: {c:?}");
        // many commits: only the newest KEEP + 1 stay
        for i in 0..15 {
            a.commit(&format!("r{i}"), vec![]).await.unwrap();
        }
        a.clean("none").await.unwrap();
        assert_eq!(a.seqs().await.unwrap().len(), super::KEEP + 1);
        assert_eq!(a.load().await.unwrap().partitions.len(), 2);
    }
}
