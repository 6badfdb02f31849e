//! `runs/<run_id>.json`: what one command did — its stages with their
//! timings, the tables it published, the model and feature set it used, and
//! how it ended. Like dbt's `run_results.json`; written by every command that
//! writes, on success and on failure.

use serde::{Deserialize, Serialize};

use crate::output::Published;

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
    pub tables: Vec<Published>,
    pub error: Option<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct StageRecord {
    pub name: String,
    pub status: String,
    pub seconds: f64,
    pub detail: String,
}

