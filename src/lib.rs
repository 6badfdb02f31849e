//! healthscore: customer health scores from warehouse exports.
//!
//! The stages, each a module: `engine` (DataFusion over the export, the input
//! contract, `validate`), `features` (versioned feature SQL over snapshots),
//! `model` (LightGBM churn and expansion models, calibration, registry,
//! TreeSHAP), `score` (health score, reasons, overrides), `output` (atomic
//! results tables, run manifests, the run lock) and `sync` (reverse ETL to
//! CRMs). `cli` wires them into commands.

pub mod cli;
pub mod columns;
pub mod config;
pub mod contract;
pub mod domain;
pub mod dates;
pub mod engine;
pub mod error;
pub mod features;
pub mod generate;
pub mod location;
pub mod log;
pub mod model;
pub mod output;
pub mod pipeline;
pub mod score;
pub mod store;
pub mod sync;

pub use error::{Error, Result};
