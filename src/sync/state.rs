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

use crate::store::Blob;
use crate::error::{Error, Result};

pub type Values = BTreeMap<String, String>;

#[derive(Debug, Default, Serialize, Deserialize)]
pub struct State {
    /// Whom the acknowledgements came from (kind, base URL, object type):
    /// a state recorded for another portal or org is never applied.
    #[serde(default)]
    pub identity: Option<String>,
    pub records: BTreeMap<String, Values>,
    /// A Salesforce Bulk API job uploaded but not yet read back.
    pub bulk_job: Option<BulkJob>,
    /// Records the CRM keeps rejecting: key → the failure, for quarantine.
    #[serde(default)]
    pub failures: BTreeMap<String, Failure>,
    /// Records whose request got no answer in an earlier run, found in its
    /// journal at load (a destination that is not idempotent: never resent).
    #[serde(skip)]
    pub in_doubt: BTreeMap<String, Values>,
}

/// A record's run of rejections with one same code.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Failure {
    pub code: String,
    pub message: String,
    /// Runs in a row that rejected it with `code`.
    pub runs: u32,
    /// The values those runs sent: new values end the quarantine.
    pub values: Values,
}

impl State {
    /// Whether `key` is quarantined for these `values` after `after` runs.
    pub fn quarantined(&self, key: &str, values: &Values, after: u32) -> Option<&Failure> {
        self.failures.get(key).filter(|f| after > 0 && f.runs >= after && f.values == *values)
    }

    /// Counts this run's rejections (a same code extends the run, another
    /// starts one) and forgets the failures of what was acknowledged.
    pub fn note_failures(&mut self, rejected: &[(String, String, String, Values)], acked: &[String]) {
        for (key, code, message, values) in rejected {
            let runs = match self.failures.get(key) {
                Some(f) if f.code == *code => f.runs + 1,
                _ => 1,
            };
            self.failures.insert(key.clone(), Failure { code: code.clone(), message: message.clone(), runs, values: values.clone() });
        }
        for k in acked {
            self.failures.remove(k);
        }
    }
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
    /// A state recorded for another destination `identity` (the base URL or
    /// object type changed) is set aside: the run starts fresh rather than
    /// skip records the new portal never received. A state file that cannot
    /// be read is an error naming it and the way out (`--full-resync`).
    pub async fn load(&self, identity: &str) -> Result<State> {
        let file = self.dir.child("state.json");
        let mut state: State = match file.get().await? {
            Some(b) => serde_json::from_slice(&b).map_err(|e| {
                Error::Usage(format!(
                    "the sync state `{}` is not readable ({e}): it was truncated or edited; run `healthscore sync --full-resync` to send every record again and write a fresh state",
                    file.location
                ))
            })?,
            None => State::default(),
        };
        if let Some(old) = state.identity.as_deref().filter(|old| *old != identity) {
            tracing::warn!("the sync state `{}` was recorded for `{old}`; the destination is now `{identity}`: starting fresh", file.location);
            if let Some(b) = file.get().await? {
                self.dir.child("state.previous.json").put(b).await?;
            }
            self.clear_acks().await?;
            state = State { identity: Some(identity.to_string()), ..State::default() };
            self.save(&state).await?;
        }
        state.identity = Some(identity.to_string());
        let acks = self.fold_acks(&mut state).await?;
        // a journal entry without its ack: sent, never answered
        let pending = self.pending_paths().await?;
        for b in &pending {
            let Some(bytes) = b.get().await? else { continue };
            let sent: BTreeMap<String, Values> = serde_json::from_slice(&bytes).map_err(|e| Error::other(format!("reading `{}`", b.location), e))?;
            for (k, v) in sent {
                if !state.records.contains_key(&k) {
                    state.records.insert(k.clone(), v.clone());
                    state.in_doubt.insert(k, v);
                }
            }
        }
        if !pending.is_empty() {
            // recorded as sent before the journal goes: a kill in between
            // finds the journal again, and the record already known
            self.save(&state).await?;
            for b in &pending {
                b.delete().await?;
            }
        }
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

    async fn pending_paths(&self) -> Result<Vec<Blob>> {
        let dir = self.dir.child("pending/");
        Ok(dir.list().await?.into_iter().map(|(p, _)| dir.at(&p)).collect())
    }

    /// Journals a batch about to be sent to a destination that is not
    /// idempotent; `settle` removes the entry once the answer is recorded.
    /// An entry a later run finds had no answer: its records are in doubt.
    pub async fn pending(&self, batch: &BTreeMap<String, Values>) -> Result<Blob> {
        let n = self.seq.fetch_add(1, Ordering::SeqCst);
        let body = serde_json::to_vec(batch).map_err(|e| Error::other("sync journal", e))?;
        let b = self.dir.child(&format!("pending/{}-{n:06}.json", self.run_id));
        b.put(Bytes::from(body)).await?;
        Ok(b)
    }

    pub async fn settle(&self, entry: &Blob) -> Result<()> {
        entry.delete().await
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

    /// `--full-resync`: forget every acknowledgement (a corrupt state too).
    pub async fn reset(&self) -> Result<()> {
        self.dir.child("state.json").delete().await?;
        self.clear_acks().await
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
