//! The run's summary as Airflow's XCom return value: written to
//! `<dir>/return.json` when the folder exists (the KubernetesPodOperator's
//! sidecar reads it from `/airflow/xcom`), else printed by the caller as
//! stdout's last line (what a BashOperator pushes).

use std::path::PathBuf;

use crate::error::{Error, Result};

/// The folder a KubernetesPodOperator pod shares with its XCom sidecar.
pub const DIR: &str = "/airflow/xcom";
/// Overrides [`DIR`] (another mount, or a test's folder).
pub const DIR_ENV: &str = "HEALTHSCORE_XCOM_DIR";

/// Where the summary went.
#[derive(Debug, PartialEq)]
pub enum Pushed {
    /// Written to this `return.json`.
    File(PathBuf),
    /// For stdout's last line: one line of JSON.
    Line(String),
}

/// Writes `summary` to `return.json` under the XCom folder when it exists
/// (a temporary file renamed into place: the sidecar never reads half of
/// it), else returns it as one line for the caller to print last.
pub fn push(summary: &impl serde::Serialize) -> Result<Pushed> {
    let line = serde_json::to_string(summary).map_err(|e| Error::other("the XCom summary", e))?;
    let dir = std::env::var_os(DIR_ENV).map(PathBuf::from).unwrap_or_else(|| PathBuf::from(DIR));
    if !dir.is_dir() {
        return Ok(Pushed::Line(line));
    }
    let (tmp, path) = (dir.join(".return.json.tmp"), dir.join("return.json"));
    std::fs::write(&tmp, &line)
        .and_then(|_| std::fs::rename(&tmp, &path))
        .map_err(|e| Error::Usage(format!("cannot write Airflow's XCom file `{}`: {e}", path.display())))?;
    Ok(Pushed::File(path))
}
