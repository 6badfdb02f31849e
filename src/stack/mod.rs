//! The tools a data team already runs: what healthscore hands them.
//!
//! - `xcom`: the run's summary where Airflow reads a task's return value
//!   (`/airflow/xcom/return.json` in a KubernetesPodOperator pod, else the
//!   last line of stdout, which a BashOperator pushes).
//! - `lineage`: OpenLineage run events — START, then COMPLETE or FAIL —
//!   with the export's tables as inputs and the results tables as outputs,
//!   each with its schema, under the Airflow task that started the run.
//! - `dbt`: `sources.yml` declaring the results tables for a dbt project
//!   (the export's tables are found through a dbt manifest in `config::dbt`).

pub mod dbt;
pub mod lineage;
pub mod xcom;
