//! healthscore: customer health scores from warehouse exports.
//!
//! The rooms, top to bottom (each imports only from rooms below it): `cli`
//! (arguments, printing) → `pipeline` (each command as a job of stages under
//! the run lock, its manifest, its summary) → `sync` (reverse ETL to CRMs),
//! `score` (health, tier, reasons), `model` (LightGBM churn and expansion
//! models, calibration, registry, TreeSHAP), `features` (versioned feature
//! SQL), `generate` (the synthetic company and its fidelity check) →
//! `engine` (DataFusion over the export, `validate`) → `config` → `output`
//! (atomic results partitions; `output::tables`, one file per table) →
//! leaves: `contract`, `store`, `location`, `columns`, `dates`, `domain`,
//! `error`, `log`.

pub mod cli;
pub mod columns;
pub mod config;
pub mod contract;
pub mod domain;
pub mod dates;
pub mod engine;
pub mod error;
pub mod features;
pub mod forecast;
pub mod generate;
pub mod location;
pub mod log;
pub mod model;
pub mod output;
pub mod pipeline;
pub mod report;
pub mod playbooks;
pub mod score;
pub mod stack;
pub mod store;
pub mod sync;

pub use error::{Error, Result};
