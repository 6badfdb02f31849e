//! What each CRM has acknowledged, kept under `<out>/_sync/<destination>/`.
//!
//! `state.json` maps each record key to the values the CRM last
//! acknowledged. During a run every acknowledged batch is written as its own
//! object under `acks/` the moment the CRM answers (batches finish out of
//! order); the acks are folded into `state.json` at the end of the run and at
//! the start of the next one, so a run killed half-way resumes without
//! resending what was acknowledged. A batch in flight at the kill has no ack
//! and is sent again (at-least-once, same values).

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};

use bytes::Bytes;
use serde::{Deserialize, Serialize};

use crate::engine::store::Blob;
use crate::error::{Error, Result};

pub type Values = BTreeMap<String, String>;

#[derive(Debug, Default, Serialize, Deserialize)]
pub struct State {
    pub records: BTreeMap<String, Values>,
    /// A Salesforce Bulk API job uploaded but not yet read back.
    pub bulk_job: Option<BulkJob>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct BulkJob {
    pub id: String,
    /// The values uploaded, per key, to fold in when the job reports success.
    pub records: BTreeMap<String, Values>,
    /// Key → account id, for rejections.
    #[serde(default)]
    pub accounts: BTreeMap<String, String>,
}

pub struct Store {
    dir: Blob,
    run_id: String,
    seq: AtomicU64,
}

impl Store {
    pub fn new(dir: Blob, run_id: &str) -> Store {
        Store { dir, run_id: run_id.to_string(), seq: AtomicU64::new(0) }
    }

    /// Loads `state.json` with every leftover ack folded in, and saves that.
    pub async fn load(&self) -> Result<State> {
        let mut state: State = match self.dir.child("state.json").get().await? {
            Some(b) => serde_json::from_slice(&b).map_err(|e| Error::other(format!("reading `{}/state.json`", self.dir.location), e))?,
            None => State::default(),
        };
        let acks = self.fold_acks(&mut state).await?;
        if acks > 0 {
            tracing::info!("folded {acks} acknowledged batches left by an interrupted run into the sync state");
            self.save(&state).await?;
            self.clear_acks().await?;
        }
        Ok(state)
    }

    async fn ack_paths(&self) -> Result<Vec<Blob>> {
        let acks = self.dir.child("acks/");
        Ok(acks.list().await?.into_iter().map(|(p, _)| acks.at(&p)).collect())
    }

    async fn fold_acks(&self, state: &mut State) -> Result<usize> {
        let paths = self.ack_paths().await?;
        for b in &paths {
            let Some(bytes) = b.get().await? else { continue };
            let acked: BTreeMap<String, Values> =
                serde_json::from_slice(&bytes).map_err(|e| Error::other(format!("reading `{}`", b.location), e))?;
            state.records.extend(acked);
        }
        Ok(paths.len())
    }

    async fn clear_acks(&self) -> Result<()> {
        for b in self.ack_paths().await? {
            b.delete().await?;
        }
        Ok(())
    }

    /// Records one acknowledged batch, durably, before anything else happens.
    pub async fn ack(&self, acked: &BTreeMap<String, Values>) -> Result<()> {
        if acked.is_empty() {
            return Ok(());
        }
        let n = self.seq.fetch_add(1, Ordering::SeqCst);
        let body = serde_json::to_vec(acked).map_err(|e| Error::other("ack", e))?;
        self.dir.child(&format!("acks/{}-{n:06}.json", self.run_id)).put(Bytes::from(body)).await
    }

    pub async fn save(&self, state: &State) -> Result<()> {
        let body = serde_json::to_vec(state).map_err(|e| Error::other("sync state", e))?;
        self.dir.child("state.json").put(Bytes::from(body)).await
    }

    /// Folds this run's acks into the state and saves it.
    pub async fn finish(&self, state: &mut State) -> Result<()> {
        self.fold_acks(state).await?;
        self.save(state).await?;
        self.clear_acks().await
    }
}
