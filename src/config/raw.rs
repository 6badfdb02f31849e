//! The config file exactly as written: serde types, no validation.
//!
//! Every struct denies unknown keys so that a typo is an error naming the
//! key, not a silently ignored setting. Defaults live in `resolve`, not here,
//! so that this file reads as the list of what a user may write.

use std::collections::BTreeMap;
use std::path::PathBuf;

use chrono::NaiveDate;
use serde::Deserialize;

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawConfig {
    /// Where the warehouse export is and how its tables are named.
    pub warehouse: RawWarehouse,
    /// Where results tables, run manifests and sync state are written.
    pub output: RawOutput,
    /// Object-store options (endpoint, region, allow_http, …) applied to every
    /// `s3://`, `gs://` and `az://` location. Credentials come from the
    /// environment (AWS_ACCESS_KEY_ID, …), never from this file.
    #[serde(default)]
    pub storage: BTreeMap<String, String>,
    /// Query engine limits.
    #[serde(default)]
    pub engine: RawEngine,
    #[serde(default)]
    pub models: RawModels,
    #[serde(default)]
    pub features: RawFeatures,
    #[serde(default)]
    pub training: RawTraining,
    #[serde(default)]
    pub scoring: RawScoring,
    #[serde(default)]
    pub rules: RawRules,
    #[serde(default)]
    pub sync: RawSync,
    #[serde(default)]
    pub destinations: Vec<RawDestination>,
    #[serde(default)]
    pub playbooks: super::playbooks::RawPlaybooks,
    /// `run` writes the HTML report when this is given (`report: {}` for the default file).
    pub report: Option<RawReport>,
    /// How the job talks to the scheduler that starts it.
    #[serde(default)]
    pub scheduler: RawScheduler,
    /// OpenLineage run events (START, COMPLETE, FAIL) to an HTTP endpoint or a file.
    pub lineage: Option<RawLineage>,
}

#[derive(Debug, Clone, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct RawLineage {
    /// An OpenLineage HTTP endpoint (Marquez: `http://host:5000/api/v1/lineage`).
    pub url: Option<String>,
    /// Or a file each event is appended to as one JSON line (relative to this config's folder).
    pub file: Option<PathBuf>,
    /// The environment variable holding the endpoint's API key (sent as a bearer token).
    pub api_key_env: Option<String>,
    /// The job namespace (default `healthscore`; `OPENLINEAGE_NAMESPACE` when set).
    pub namespace: Option<String>,
}

#[derive(Debug, Clone, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct RawScheduler {
    /// Exit code when the export does not cover the date asked for yet (default 99).
    pub inputs_missing_exit_code: Option<u8>,
    /// Days the export's newest usage may lag the day before the scoring
    /// date before the export counts as not delivered yet (default 3).
    pub max_export_lag_days: Option<u32>,
}

#[derive(Debug, Clone, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct RawReport {
    /// The file to write (relative to this config's folder); default
    /// `report-<as_of>.html` under a local `output.uri`.
    pub out: Option<PathBuf>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawWarehouse {
    /// Folder or URL holding one dataset per table (default with `dbt:` the
    /// dbt project's folder).
    pub base_uri: Option<String>,
    /// Find the tables through a dbt project's `target/manifest.json`.
    pub dbt: Option<RawDbt>,
    /// The day the export was taken. Event dates after it are errors, and
    /// training labels count as observed only up to it. Default: today.
    pub export_date: Option<NaiveDate>,
    /// Per-table location (relative to `base_uri`) and column names.
    #[serde(default)]
    pub tables: BTreeMap<String, RawTable>,
}

#[derive(Debug, Clone, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct RawTable {
    /// A Parquet file or a folder of them, relative to `base_uri`.
    pub path: Option<String>,
    /// With `warehouse.dbt`: the dbt model that builds this table (default: the table's name).
    pub model: Option<String>,
    /// Contract column name → the export's column name.
    #[serde(default)]
    pub columns: BTreeMap<String, String>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawDbt {
    /// `target/manifest.json` of a dbt project whose models write the export
    /// as Parquet (dbt-duckdb's `external` materialization).
    pub manifest: PathBuf,
    /// The profile's `external_root`, relative to the dbt project folder
    /// (default `.`, dbt-duckdb's): where a model without `location` writes.
    pub external_root: Option<String>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawOutput {
    pub uri: String,
    /// A lock older than this is reported as stale (with its owner and age).
    pub stale_lock_hours: Option<f64>,
}

#[derive(Debug, Clone, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct RawEngine {
    /// Memory DataFusion's joins, aggregates and sorts may hold before they
    /// spill to disk (hash joins cannot spill: past it they fail). Default:
    /// 60 % of the machine's memory (or of the cgroup's limit), at least 512.
    pub memory_limit_mb: Option<usize>,
    /// Threads for queries (default: the machine's cores).
    pub threads: Option<usize>,
    /// Where spills go (default: the system's temp folder).
    pub spill_dir: Option<String>,
    /// `local` (default) or `ballista`: the feature SQL on a Ballista cluster.
    pub kind: Option<String>,
    /// The Ballista scheduler, `df://host:50050` (with `kind: ballista`).
    pub scheduler: Option<String>,
    /// Snapshot dates one query of the feature SQL builds; more dates are
    /// built that many at a time (less memory, the usage read once per pass).
    pub snapshots_per_pass: Option<usize>,
}

#[derive(Debug, Clone, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct RawModels {
    pub dir: Option<String>,
    pub name: Option<String>,
}

#[derive(Debug, Clone, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct RawFeatures {
    /// Folder holding `features/<version>/` and `labels/<version>/`.
    pub sql_dir: Option<String>,
    /// Default `v2`.
    pub version: Option<String>,
    /// A YAML file naming the export's words by relation and role (the
    /// shape of `vocabulary:` in `features.yaml`); each relation it names
    /// replaces the feature set's default for that relation.
    pub vocabulary_file: Option<String>,
}

#[derive(Debug, Clone, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct RawTraining {
    /// First and last snapshot dates; default: as far back as the export
    /// allows, up to the last date whose longest horizon is observed.
    pub from: Option<NaiveDate>,
    pub to: Option<NaiveDate>,
    /// Churn horizons in days, multiples of 30 (the hazard interval).
    pub horizons: Option<Vec<u32>>,
    pub expansion_horizon: Option<u32>,
    /// Months of snapshots in the validation and the test windows.
    pub validation_months: Option<u32>,
    pub test_months: Option<u32>,
    /// Below this many distinct churned accounts in the training window,
    /// scoring uses the rules score (cold start).
    pub min_churned_accounts: Option<usize>,
    /// Below this many distinct churned accounts in the calibration half of
    /// the validation window, the model is uncalibrated and not promoted.
    pub min_validation_churned_accounts: Option<usize>,
    /// Days after the last subscription ends within which a new one counts as
    /// a renewal, when churn is derived from `subscriptions`.
    pub churn_grace_days: Option<u32>,
    /// Share by which MRR must rise (fall) to count as expansion (contraction).
    pub expansion_share: Option<f64>,
    pub seed: Option<u64>,
    pub num_threads: Option<usize>,
    /// A new model must reach the current one's test AUC minus this to replace it.
    pub promotion_tolerance: Option<f64>,
    #[serde(default)]
    pub lightgbm: BTreeMap<String, serde_yaml::Value>,
}

#[derive(Debug, Clone, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct RawScoring {
    /// Fixed cut-offs; default: derived per model from the training window's
    /// churn rate at renewal (see `tier_base_rate_multiples`).
    pub tiers: Option<RawTiers>,
    /// [red, yellow]: red where the at-renewal churn risk is at least this
    /// many times the training window's base rate. Default [2, 1].
    pub tier_base_rate_multiples: Option<Vec<f64>>,
    pub risk_reasons: Option<usize>,
    pub positive_reasons: Option<usize>,
    /// Care segments and campaign audiences (health × value).
    #[serde(default)]
    pub care: RawCare,
    /// Feature drift lines (population stability index).
    #[serde(default)]
    pub drift: RawDrift,
    /// Renewals within this many days of `as_of` are forecast (default 365).
    pub forecast_window_days: Option<i64>,
}

#[derive(Debug, Clone, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct RawDrift {
    /// PSI from which an input is flagged `watch` (default 0.1).
    pub watch: Option<f64>,
    /// PSI from which it is flagged `act`: retrain or look at the export (default 0.25).
    pub act: Option<f64>,
}

#[derive(Debug, Clone, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct RawCare {
    /// VIP: ARR at least this (default 100,000).
    pub vip_arr_at_least: Option<f64>,
    /// An expansion signal: p_expand at least this (default 0.15).
    pub expansion_p_at_least: Option<f64>,
    /// Win back: the health score fell at least this many points in 30 days (default 10).
    pub win_back_drop_points: Option<f64>,
    /// Near the seat limit: seat utilisation at least this (default 0.9).
    pub seat_limit_utilization: Option<f64>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawTiers {
    pub red_below: f64,
    pub yellow_below: f64,
}

#[derive(Debug, Clone, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct RawRules {
    pub weights: Option<BTreeMap<String, f64>>,
}

#[derive(Debug, Clone, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct RawSync {
    /// Refuse to send scores older than this many days.
    pub max_score_age_days: Option<i64>,
    /// Refuse (unless `--force`) when more than this share of records would
    /// change tier at once.
    pub max_tier_change_share: Option<f64>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawDestination {
    pub name: String,
    pub kind: String,
    pub base_url: Option<String>,
    /// Name of the environment variable holding the access token.
    pub token_env: Option<String>,
    /// HubSpot: `v3` (path `/crm/v3/objects/…`) or a dated version such as
    /// `2026-03` (path `/crm/objects/2026-03/…`). Salesforce: `v61.0`.
    pub api_version: Option<String>,
    pub object_type: Option<String>,
    /// How records are matched; alert deliveries match by the alert id.
    #[serde(rename = "match")]
    pub match_: Option<RawMatch>,
    /// Result column → CRM property (scores only: an alert's fields are the
    /// destination's task or message).
    #[serde(default)]
    pub fields: BTreeMap<String, String>,
    /// What is delivered: `scores` (default: `account_scores` to CRM fields)
    /// or `alerts` (the playbooks' alerts as HubSpot tasks, Salesforce Tasks
    /// or webhook messages; control-group and suppressed alerts never).
    pub deliver: Option<String>,
    /// Alerts: only these routes (csm, manager, executive, owner, automated,
    /// product_feedback). Default: every route.
    pub routes: Option<Vec<String>>,
    /// Alerts: the unique task property (HubSpot) or external id field
    /// (Salesforce) holding the alert id, which makes a resend update the
    /// same task. Default `healthscore_alert_id` / `Healthscore_Alert_Id__c`.
    pub alert_id_property: Option<String>,
    /// Alerts: a task is due this many days after `as_of`. Default 3.
    pub due_in_days: Option<u32>,
    /// Webhook: the environment variable holding the URL (a Slack incoming
    /// webhook's URL is its credential).
    pub url_env: Option<String>,
    /// Webhook: `slack` (`{"text": …}`, default) or `json` (the alerts' fields).
    pub format: Option<String>,
    /// Webhook: one message per owner listing their alerts, instead of one per alert.
    pub digest: Option<bool>,
    pub batch_size: Option<usize>,
    pub rate_limit: Option<RawRateLimit>,
    pub concurrency: Option<usize>,
    pub timeout_seconds: Option<f64>,
    pub max_retries: Option<u32>,
    /// Create CRM records that don't exist (upsert). Off by default.
    pub create_missing: Option<bool>,
    /// Salesforce: use Bulk API 2.0 above this many changed records.
    pub bulk_threshold: Option<usize>,
    /// Salesforce OAuth client-credentials flow (instead of `token_env`).
    pub oauth: Option<RawOAuth>,
    /// HubSpot property group created by `--setup`.
    pub property_group: Option<String>,
    /// After this many runs in a row failing with the same code, a record is
    /// quarantined: not sent again until its values change (or
    /// `--full-resync`), reported with `quarantined = true`. Default 3.
    pub quarantine_after: Option<u32>,
    /// Stop cleanly (state saved, exit 4) once the CRM says fewer requests
    /// than this are left today, leaving them to the portal's other
    /// integrations. Default 0.
    pub daily_reserve: Option<u64>,
    /// Salesforce Bulk API: how long to poll a job before leaving it for the
    /// next run (seconds, default 3600).
    pub bulk_timeout_seconds: Option<f64>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawMatch {
    /// `record_id` or `unique_property` (Salesforce: `external_id`).
    pub by: String,
    /// Result column holding the id or the unique value.
    pub column: String,
    /// The CRM property matched on, for `unique_property` / `external_id`.
    pub property: Option<String>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawRateLimit {
    pub requests: u32,
    pub per_seconds: f64,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawOAuth {
    pub token_url: String,
    pub client_id_env: String,
    pub client_secret_env: String,
}
