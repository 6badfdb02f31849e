//! The run lock: `<out>/_lock`, taken with put-if-absent by every command
//! that writes under the output location, so two jobs never interleave
//! their staging, publishing or sync state.

use bytes::Bytes;
use serde::{Deserialize, Serialize};

use crate::config::Config;
use crate::store::{Blob, Stores};
use crate::error::{Error, Result};


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
