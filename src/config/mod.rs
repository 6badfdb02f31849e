//! The config: read as written (`raw`), then resolved into the values the job
//! uses, with every default applied and every value checked, before any work.
//!
//! Relative paths resolve against the config file's folder, so a scheduler
//! may start the job from anywhere. Secrets are never in the file: only the
//! names of the environment variables that hold them.

pub mod dbt;
pub mod destination;
pub mod playbooks;
pub mod raw;
pub mod secret;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use chrono::NaiveDate;
use serde::{Deserialize, Serialize};

use crate::contract;
use crate::domain::Tier;
use crate::error::{Error, Result};
use crate::location::{normalize, Location};
pub use secret::Secret;

/// One table of the export: where it is and how its columns are named.
#[derive(Debug, Clone)]
pub struct TableSource {
    pub name: &'static str,
    pub location: Location,
    /// Contract column → export column, for every column (identity when unmapped).
    pub columns: BTreeMap<&'static str, String>,
}

/// Health-score cut-offs: red below `red_below`, yellow below `yellow_below`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Tiers {
    pub red_below: f64,
    pub yellow_below: f64,
}

/// The cut-offs for the rules score, and for a model when none are derived.
pub const FIXED_TIERS: Tiers = Tiers { red_below: 40.0, yellow_below: 70.0 };

impl Tiers {
    /// Cut-offs from the training window's churn rate at renewal `base`:
    /// red where the at-renewal risk is at least `red_x` × the base rate,
    /// yellow at least `yellow_x` × (each capped at 90 % risk).
    pub fn from_base_rate(base: f64, red_x: f64, yellow_x: f64) -> Tiers {
        let cut = |k: f64| (100.0 * (1.0 - (k * base).min(0.9))).clamp(1.0, 99.0);
        let (red_below, yellow_below) = (cut(red_x), cut(yellow_x));
        Tiers { red_below: round1(red_below), yellow_below: round1(yellow_below.max(red_below + 0.1)) }
    }

    pub fn classify(&self, score: f64) -> Tier {
        if score < self.red_below {
            Tier::Red
        } else if score < self.yellow_below {
            Tier::Yellow
        } else {
            Tier::Green
        }
    }
}

#[derive(Debug, Clone)]
pub struct Training {
    pub from: Option<NaiveDate>,
    pub to: Option<NaiveDate>,
    pub horizons: Vec<u32>,
    pub expansion_horizon: u32,
    pub validation_months: u32,
    pub test_months: u32,
    pub min_churned_accounts: usize,
    pub min_validation_churned_accounts: usize,
    pub churn_grace_days: u32,
    pub expansion_share: f64,
    pub seed: u64,
    pub num_threads: usize,
    pub promotion_tolerance: f64,
    /// Extra LightGBM parameters, overriding the defaults.
    pub lightgbm: BTreeMap<String, String>,
}

/// An export's words: relation (`usage`, `activity`, `ticket_priority`,
/// `ticket_text`, `external_signal`) → role → the terms that play it.
pub type Vocabulary = BTreeMap<String, BTreeMap<String, Vec<String>>>;

/// The relations a vocabulary may name, with the roles each one's SQL reads.
pub const VOCABULARY_ROLES: &[(&str, &[&str])] = &[
    ("usage", &["login", "api"]),
    ("activity", &["meeting", "business_review"]),
    ("ticket_priority", &["high"]),
    ("ticket_text", &["cancel_intent", "negative"]),
    ("external_signal", &["layoffs", "leadership_change", "funding", "acquisition", "bankruptcy", "hiring_surge"]),
];

/// Known relations and roles only, lowercase non-empty terms, and no term
/// playing two roles of one relation (a usage row would count twice).
pub fn check_vocabulary(v: &Vocabulary) -> std::result::Result<(), String> {
    for (relation, roles) in v {
        let known = VOCABULARY_ROLES.iter().find(|(r, _)| r == relation).map(|(_, roles)| *roles).ok_or_else(|| {
            format!("unknown relation `{relation}`; use {}", VOCABULARY_ROLES.iter().map(|(r, _)| format!("`{r}`")).collect::<Vec<_>>().join(", "))
        })?;
        let mut seen = std::collections::BTreeMap::new();
        for (role, terms) in roles {
            if !known.contains(&role.as_str()) {
                return Err(format!("`{relation}`: unknown role `{role}`; use {}", known.iter().map(|r| format!("`{r}`")).collect::<Vec<_>>().join(", ")));
            }
            for t in terms {
                if t.trim().is_empty() || *t != t.to_lowercase() {
                    return Err(format!("`{relation}.{role}`: term `{t}` must be non-empty and lowercase (matching is on lowercased text)"));
                }
                if let Some(other) = seen.insert(t.clone(), role.clone()) {
                    return Err(format!("`{relation}`: the term `{t}` plays both `{other}` and `{role}`"));
                }
            }
        }
    }
    Ok(())
}

fn round1(v: f64) -> f64 {
    (v * 10.0).round() / 10.0
}

/// The memory this process may use, in MB: the smaller of the machine's
/// memory and the cgroup's limit (containers, Kubernetes pods), when known.
pub fn machine_memory_mb() -> Option<usize> {
    let read = |p: &str| std::fs::read_to_string(p).ok();
    let meminfo = read("/proc/meminfo").and_then(|m| {
        m.lines().find(|l| l.starts_with("MemTotal:")).and_then(|l| l.split_whitespace().nth(1)?.parse::<usize>().ok()).map(|kb| kb / 1024)
    });
    let cgroup = read("/sys/fs/cgroup/memory.max")
        .or_else(|| read("/sys/fs/cgroup/memory/memory.limit_in_bytes"))
        .and_then(|v| v.trim().parse::<u64>().ok())
        .map(|b| (b >> 20) as usize);
    match (meminfo, cgroup) {
        (Some(m), Some(c)) => Some(m.min(c)),
        (m, c) => m.or(c),
    }
}

/// Where `engine.kind` runs the feature SQL: `None` on this machine, else
/// the Ballista scheduler's gRPC address.
fn engine_scheduler(e: &raw::RawEngine) -> Result<Option<String>> {
    match (e.kind.as_deref().unwrap_or("local"), e.scheduler.as_deref()) {
        ("local", None) => Ok(None),
        ("local", Some(_)) => Err(Error::Config("`engine.scheduler` is set but `engine.kind` is not `ballista`".into())),
        ("ballista", None) => Err(Error::Config("`engine.kind: ballista` needs `engine.scheduler: df://host:50050`".into())),
        #[cfg(feature = "ballista")]
        ("ballista", Some(s)) => scheduler_url(s).map(Some).map_err(|e| Error::Config(format!("`engine.scheduler`: {e}"))),
        #[cfg(not(feature = "ballista"))]
        ("ballista", Some(_)) => Err(Error::Config("`engine.kind: ballista`: this healthscore was built without the `ballista` feature".into())),
        (other, _) => Err(Error::Config(format!("`engine.kind`: `{other}` is not `local` or `ballista`"))),
    }
}

/// `df://host[:port]` (Ballista's scheme; port 50050 when left out) as the
/// scheduler's gRPC address.
#[cfg_attr(not(feature = "ballista"), allow(dead_code))]
fn scheduler_url(s: &str) -> std::result::Result<String, String> {
    let url = url::Url::parse(s).map_err(|e| format!("`{s}` is not a URL ({e}): write `df://host:50050`"))?;
    if url.scheme() != "df" {
        return Err(format!("`{s}`: the scheduler's address is `df://host:port`"));
    }
    let host = url.host_str().filter(|h| !h.is_empty()).ok_or_else(|| format!("`{s}` names no host"))?;
    Ok(format!("http://{host}:{}", url.port().unwrap_or(50050)))
}

/// `engine.snapshots_per_pass` when unset.
pub const DEFAULT_SNAPSHOTS_PER_PASS: usize = 12;

/// `engine.memory_limit_mb` when unset: 60 % of what the process may use
/// (the rest is LightGBM's matrices, the frame and the Parquet writers), at
/// least 512 MB.
pub fn default_memory_limit_mb() -> usize {
    machine_memory_mb().map(|m| m * 6 / 10).unwrap_or(512).max(512)
}

/// The resolved config: everything the job needs, checked.
#[derive(Debug, Clone)]
pub struct Config {
    /// The config file's folder; relative paths were resolved against it.
    pub base_dir: PathBuf,
    pub warehouse: Location,
    pub export_date: Option<NaiveDate>,
    pub tables: Vec<TableSource>,
    pub output: Location,
    pub stale_lock_hours: f64,
    pub storage: BTreeMap<String, String>,
    pub memory_limit_mb: usize,
    pub threads: Option<usize>,
    pub spill_dir: Option<PathBuf>,
    /// The scheduler's gRPC address when the feature SQL runs on a Ballista
    /// cluster (`engine.kind: ballista`); `None`: on this machine.
    pub scheduler: Option<String>,
    /// `engine.snapshots_per_pass`: how many snapshot dates one query of the
    /// feature SQL builds; more are built that many at a time.
    pub snapshots_per_pass: usize,
    pub models_dir: Location,
    pub model_name: String,
    pub sql_dir: PathBuf,
    pub feature_version: String,
    /// `features.vocabulary_file`, read and checked: relation → role → terms.
    pub vocabulary: Option<Vocabulary>,
    pub training: Training,
    /// `scoring.tiers` when given: fixed cut-offs for every model.
    pub tiers: Option<Tiers>,
    /// Multiples of the base rate for derived cut-offs (red, yellow).
    pub tier_multiples: (f64, f64),
    pub risk_reasons: usize,
    pub positive_reasons: usize,
    /// `scoring.care`: the thresholds of care segments and audiences.
    pub care: Care,
    /// `scoring.drift`: the PSI lines of `feature_drift`.
    pub drift: Drift,
    /// `scoring.forecast_window_days`: renewals within it are forecast.
    pub forecast_window_days: i32,
    pub rule_weights: BTreeMap<String, f64>,
    pub max_score_age_days: i64,
    pub max_tier_change_share: f64,
    pub destinations: Vec<destination::Destination>,
    /// `playbooks:`; no rules, no alerts.
    pub playbooks: playbooks::Playbooks,
    /// `report:`: `run` writes the HTML report, to this file when given.
    pub report: Option<Option<PathBuf>>,
    /// `scheduler.inputs_missing_exit_code`: the exit code when the export
    /// does not cover the date asked for yet.
    pub inputs_missing_exit_code: u8,
    /// `scheduler.max_export_lag_days`: how far the newest usage may trail
    /// the day before the scoring date.
    pub max_export_lag_days: u32,
    /// `lineage:`: where OpenLineage run events go.
    pub lineage: Option<Lineage>,
}

/// `lineage:`, checked: one target, a namespace, the API key's variable.
#[derive(Debug, Clone)]
pub struct Lineage {
    pub target: LineageTarget,
    pub namespace: String,
    /// The environment variable holding the bearer token (read when sending).
    pub api_key_env: Option<String>,
}

#[derive(Debug, Clone, PartialEq)]
pub enum LineageTarget {
    Http(url::Url),
    /// One JSON line per event, appended.
    File(PathBuf),
}

impl Lineage {
    fn resolve(raw: &raw::RawLineage, base: &Path) -> Result<Lineage> {
        let target = match (&raw.url, &raw.file) {
            (Some(u), None) => {
                let url = url::Url::parse(u).map_err(|e| Error::Config(format!("`lineage.url`: `{u}` is not a URL: {e}")))?;
                if !matches!(url.scheme(), "http" | "https") {
                    return Err(Error::Config(format!("`lineage.url`: `{u}` must be http:// or https://")));
                }
                LineageTarget::Http(url)
            }
            (None, Some(f)) => LineageTarget::File(normalize(&base.join(f))),
            _ => return Err(Error::Config("`lineage`: give exactly one of `url` (an OpenLineage endpoint) and `file`".into())),
        };
        let namespace = raw.namespace.clone().or_else(|| std::env::var("OPENLINEAGE_NAMESPACE").ok().filter(|n| !n.is_empty())).unwrap_or_else(|| "healthscore".into());
        Ok(Lineage { target, namespace, api_key_env: raw.api_key_env.clone() })
    }
}

/// Thresholds of the care segments and audiences in `account_scores`.
#[derive(Debug, Clone, PartialEq)]
pub struct Care {
    pub vip_arr_at_least: f64,
    pub expansion_p_at_least: f64,
    pub win_back_drop_points: f64,
    pub seat_limit_utilization: f64,
}

impl Care {
    fn resolve(r: &raw::RawCare) -> Result<Care> {
        let c = Care {
            vip_arr_at_least: r.vip_arr_at_least.unwrap_or(100_000.0),
            expansion_p_at_least: r.expansion_p_at_least.unwrap_or(0.15),
            win_back_drop_points: r.win_back_drop_points.unwrap_or(10.0),
            seat_limit_utilization: r.seat_limit_utilization.unwrap_or(0.9),
        };
        if !(0.0..=1.0).contains(&c.expansion_p_at_least) || !(c.seat_limit_utilization > 0.0) || !(c.win_back_drop_points > 0.0) || !(c.vip_arr_at_least >= 0.0) {
            return Err(Error::Config("`scoring.care`: expansion_p_at_least is a probability; seat_limit_utilization and win_back_drop_points are above 0; vip_arr_at_least is at least 0".into()));
        }
        Ok(c)
    }
}

/// `scoring.forecast_window_days` when unset: renewals within a year.
pub const FORECAST_WINDOW_DAYS: i32 = 365;

/// The population-stability lines a model input is flagged at.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Drift {
    pub watch: f64,
    pub act: f64,
}

impl Drift {
    fn resolve(r: &raw::RawDrift) -> Result<Drift> {
        let d = Drift { watch: r.watch.unwrap_or(0.1), act: r.act.unwrap_or(0.25) };
        if !(d.watch > 0.0 && d.act >= d.watch && d.act.is_finite()) {
            return Err(Error::Config(format!("`scoring.drift`: watch ({}) must be above 0 and act ({}) at least watch", d.watch, d.act)));
        }
        Ok(d)
    }

    pub fn status(&self, psi: f64) -> &'static str {
        if psi >= self.act {
            "act"
        } else if psi >= self.watch {
            "watch"
        } else {
            "ok"
        }
    }
}

/// Rules signal groups a feature may belong to; `rules.weights` names them.
pub const RULE_GROUPS: &[&str] = &["usage", "adoption", "support", "payment", "engagement"];

impl Config {
    pub fn load(path: &Path) -> Result<Config> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| Error::Config(format!("cannot read `{}`: {e}", path.display())))?;
        let base = path
            .canonicalize()
            .ok()
            .and_then(|p| p.parent().map(Path::to_path_buf))
            .unwrap_or_else(|| PathBuf::from("."));
        Self::from_yaml(&text, &base).map_err(|e| match e {
            Error::Config(m) => Error::Config(format!("{}: {m}", path.display())),
            other => other,
        })
    }

    pub fn from_yaml(text: &str, base: &Path) -> Result<Config> {
        let raw: raw::RawConfig = serde_yaml::from_str(text).map_err(|e| Error::Config(yaml_message(&e)))?;
        resolve(raw, base)
    }

    pub fn table(&self, name: &str) -> Option<&TableSource> {
        self.tables.iter().find(|t| t.name == name)
    }

    /// Where a table is written under the output location.
    pub fn output_table(&self, table: &str) -> Location {
        self.output.join(&format!("{table}/"))
    }
}

/// serde_yaml says "unknown field `x`, expected one of …" with a location;
/// keep that, and drop its internal type names.
fn yaml_message(e: &serde_yaml::Error) -> String {
    let msg = e.to_string();
    match e.location() {
        Some(loc) if !msg.contains("line") => format!("{msg} (line {}, column {})", loc.line(), loc.column()),
        _ => msg,
    }
}

fn resolve(raw: raw::RawConfig, base: &Path) -> Result<Config> {
    let dbt = match &raw.warehouse.dbt {
        Some(d) => Some(dbt::Project::load(&normalize(&base.join(&d.manifest)), d.external_root.as_deref())?),
        None => None,
    };
    let warehouse = match (&raw.warehouse.base_uri, &dbt) {
        (Some(uri), _) => Location::parse(uri, base, "warehouse.base_uri")?,
        (None, Some(p)) => Location::parse(&p.dir.to_string_lossy(), base, "warehouse.dbt.manifest")?,
        (None, None) => return Err(Error::Config("`warehouse.base_uri` is missing: give the export's folder or URL (or `warehouse.dbt.manifest`)".into())),
    };
    for (k, _) in raw.storage.iter() {
        let lk = k.to_ascii_lowercase();
        if ["secret", "password", "token", "access_key", "sas"].iter().any(|s| lk.contains(s)) {
            return Err(Error::Config(format!(
                "`storage.{k}` looks like a credential; set it in the environment instead (e.g. AWS_SECRET_ACCESS_KEY), never in the file"
            )));
        }
    }

    let mut tables = Vec::new();
    for (name, _) in raw.warehouse.tables.iter() {
        if contract::table(name).is_none() {
            return Err(Error::Config(format!(
                "`warehouse.tables.{name}`: unknown table; the contract's tables are {}",
                contract::table_names().join(", ")
            )));
        }
    }
    for spec in contract::TABLES {
        let rt = raw.warehouse.tables.get(spec.name);
        let mut columns = BTreeMap::new();
        if let Some(rt) = rt {
            for (c, _) in rt.columns.iter() {
                if spec.column(c).is_none() {
                    let names: Vec<_> = spec.columns.iter().map(|c| c.name).collect();
                    return Err(Error::Config(format!(
                        "`warehouse.tables.{}.columns.{c}`: `{}` has no column `{c}`; its columns are {}",
                        spec.name,
                        spec.name,
                        names.join(", ")
                    )));
                }
            }
        }
        for c in spec.columns {
            let mapped = rt.and_then(|t| t.columns.get(c.name)).cloned().unwrap_or_else(|| c.name.to_string());
            columns.insert(c.name, mapped);
        }
        let path = rt.and_then(|t| t.path.clone()).unwrap_or_else(|| spec.name.to_string());
        let model = rt.and_then(|t| t.model.clone());
        if model.is_some() && dbt.is_none() {
            return Err(Error::Config(format!("`warehouse.tables.{}.model` names a dbt model, but there is no `warehouse.dbt.manifest`", spec.name)));
        }
        let from_dbt = match (&dbt, rt.and_then(|t| t.path.as_ref())) {
            (Some(p), None) => {
                let name = model.as_deref().unwrap_or(spec.name);
                let found = p.location(spec.name, name)?;
                if found.is_none() && (spec.required || model.is_some()) {
                    return Err(Error::Config(format!(
                        "`warehouse.tables.{}`: the dbt manifest `{}` has no model `{name}`; name the model that builds it with `warehouse.tables.{}.model` (its models: {})",
                        spec.name,
                        p.manifest().display(),
                        spec.name,
                        p.model_names().join(", ")
                    )));
                }
                found
            }
            _ => None,
        };
        let location = if let Some(l) = from_dbt {
            l
        } else if path.contains("://") {
            Location::parse(&path, base, &format!("warehouse.tables.{}.path", spec.name))?
        } else {
            Location(warehouse.0.join(path.trim_start_matches("./")).map_err(|e| {
                Error::Config(format!("`warehouse.tables.{}.path`: `{path}`: {e}", spec.name))
            })?)
        };
        tables.push(TableSource { name: spec.name, location, columns });
    }

    let output = Location::parse(&raw.output.uri, base, "output.uri")?;
    let stale_lock_hours = raw.output.stale_lock_hours.unwrap_or(6.0);
    positive("output.stale_lock_hours", stale_lock_hours)?;

    let models_dir = Location::parse(raw.models.dir.as_deref().unwrap_or("models"), base, "models.dir")?;
    let model_name = raw.models.name.unwrap_or_else(|| "churn".to_string());
    check_name("models.name", &model_name)?;

    let sql_dir = {
        let s = raw.features.sql_dir.unwrap_or_else(|| "sql".to_string());
        let p = Path::new(&s);
        normalize(&if p.is_absolute() { p.to_path_buf() } else { base.join(p) })
    };
    let feature_version = raw.features.version.unwrap_or_else(|| "v2".to_string());
    check_name("features.version", &feature_version)?;
    let vocabulary = match &raw.features.vocabulary_file {
        None => None,
        Some(f) => {
            let path = normalize(&base.join(f));
            let text = std::fs::read_to_string(&path)
                .map_err(|e| Error::Config(format!("`features.vocabulary_file`: cannot read `{}`: {e}", path.display())))?;
            let v: Vocabulary = serde_yaml::from_str(&text)
                .map_err(|e| Error::Config(format!("`features.vocabulary_file` `{}`: {e}", path.display())))?;
            check_vocabulary(&v).map_err(|e| Error::Config(format!("`features.vocabulary_file` `{}`: {e}", path.display())))?;
            Some(v)
        }
    };

    let t = raw.training;
    let horizons = t.horizons.unwrap_or_else(|| vec![30, 60, 90]);
    if horizons.is_empty() || horizons.iter().any(|h| *h == 0 || h % 30 != 0 || *h > 360) {
        return Err(Error::Config(format!(
            "`training.horizons`: {horizons:?}; give multiples of 30 days up to 360 (churn is modelled per 30-day interval)"
        )));
    }
    let mut sorted = horizons.clone();
    sorted.sort_unstable();
    sorted.dedup();
    let expansion_horizon = t.expansion_horizon.unwrap_or(90);
    if expansion_horizon == 0 || expansion_horizon > 360 {
        return Err(Error::Config("`training.expansion_horizon` must be 1..=360 days".into()));
    }
    let expansion_share = t.expansion_share.unwrap_or(0.1);
    if !(0.0..1.0).contains(&expansion_share) || expansion_share == 0.0 {
        return Err(Error::Config(format!("`training.expansion_share`: {expansion_share}; give a share between 0 and 1, e.g. 0.1")));
    }
    let promotion_tolerance = t.promotion_tolerance.unwrap_or(0.0);
    if !(0.0..=0.2).contains(&promotion_tolerance) {
        return Err(Error::Config("`training.promotion_tolerance` must be between 0 and 0.2 (AUC points)".into()));
    }
    let num_threads = t.num_threads.unwrap_or(2);
    if num_threads == 0 {
        return Err(Error::Config("`training.num_threads` must be at least 1".into()));
    }
    let mut lightgbm = BTreeMap::new();
    for (k, v) in t.lightgbm {
        let v = match v {
            serde_yaml::Value::Number(n) => n.to_string(),
            serde_yaml::Value::Bool(b) => b.to_string(),
            serde_yaml::Value::String(s) => s,
            other => {
                return Err(Error::Config(format!("`training.lightgbm.{k}`: {other:?} is not a number, bool or string")));
            }
        };
        if v.contains(char::is_whitespace) || v.contains('=') {
            return Err(Error::Config(format!("`training.lightgbm.{k}`: `{v}` may not contain spaces or `=`")));
        }
        lightgbm.insert(k, v);
    }
    if let (Some(a), Some(b)) = (t.from, t.to) {
        if a >= b {
            return Err(Error::Config(format!("`training.from` ({a}) must be before `training.to` ({b})")));
        }
    }
    let training = Training {
        from: t.from,
        to: t.to,
        horizons: sorted,
        expansion_horizon,
        validation_months: t.validation_months.unwrap_or(3).max(1),
        test_months: t.test_months.unwrap_or(3).max(1),
        min_churned_accounts: t.min_churned_accounts.unwrap_or(20),
        min_validation_churned_accounts: t.min_validation_churned_accounts.unwrap_or(5),
        churn_grace_days: t.churn_grace_days.unwrap_or(30),
        expansion_share,
        seed: t.seed.unwrap_or(42),
        num_threads,
        promotion_tolerance,
        lightgbm,
    };

    let tiers = raw.scoring.tiers.map(|t| Tiers { red_below: t.red_below, yellow_below: t.yellow_below });
    if let Some(tiers) = &tiers {
        if !(0.0 < tiers.red_below && tiers.red_below < tiers.yellow_below && tiers.yellow_below <= 100.0) {
            return Err(Error::Config(format!(
                "`scoring.tiers`: need 0 < red_below ({}) < yellow_below ({}) <= 100",
                tiers.red_below, tiers.yellow_below
            )));
        }
    }
    let tier_multiples = match raw.scoring.tier_base_rate_multiples {
        None => (2.0, 1.0),
        Some(m) if m.len() == 2 && m[0] > m[1] && m[1] > 0.0 => (m[0], m[1]),
        Some(m) => {
            return Err(Error::Config(format!(
                "`scoring.tier_base_rate_multiples`: give [red, yellow] with red > yellow > 0 (got {m:?})"
            )));
        }
    };
    let risk_reasons = raw.scoring.risk_reasons.unwrap_or(3);
    let positive_reasons = raw.scoring.positive_reasons.unwrap_or(2);
    if risk_reasons > 10 || positive_reasons > 10 {
        return Err(Error::Config("`scoring.risk_reasons` and `scoring.positive_reasons` must be at most 10".into()));
    }

    let rule_weights = raw.rules.weights.unwrap_or_else(|| {
        [("usage", 30.0), ("adoption", 20.0), ("support", 20.0), ("payment", 15.0), ("engagement", 15.0)]
            .into_iter()
            .map(|(k, v)| (k.to_string(), v))
            .collect()
    });
    for (k, w) in &rule_weights {
        if !RULE_GROUPS.contains(&k.as_str()) {
            return Err(Error::Config(format!(
                "`rules.weights.{k}`: unknown signal group; use {}",
                RULE_GROUPS.join(", ")
            )));
        }
        if !w.is_finite() || *w < 0.0 {
            return Err(Error::Config(format!("`rules.weights.{k}`: {w} must be a non-negative number")));
        }
    }
    if rule_weights.values().sum::<f64>() <= 0.0 {
        return Err(Error::Config("`rules.weights`: at least one weight must be above 0".into()));
    }

    let max_score_age_days = raw.sync.max_score_age_days.unwrap_or(3);
    let max_tier_change_share = raw.sync.max_tier_change_share.unwrap_or(0.25);
    if !(0.0..=1.0).contains(&max_tier_change_share) {
        return Err(Error::Config("`sync.max_tier_change_share` must be between 0 and 1".into()));
    }
    let mut names = std::collections::BTreeSet::new();
    let mut destinations = Vec::new();
    for d in &raw.destinations {
        check_name("destinations[].name", &d.name)?;
        if !names.insert(d.name.clone()) {
            return Err(Error::Config(format!("`destinations`: the name `{}` is used twice", d.name)));
        }
        let columns = crate::output::tables::account_scores::TABLE.column_names(&training.horizons, training.expansion_horizon);
        destinations.push(destination::Destination::resolve(d, &columns)?);
    }

    let memory_limit_mb = raw.engine.memory_limit_mb.unwrap_or_else(default_memory_limit_mb);
    if memory_limit_mb == 0 {
        return Err(Error::Config("`engine.memory_limit_mb` must be at least 1".into()));
    }
    if raw.engine.threads == Some(0) {
        return Err(Error::Config("`engine.threads` must be at least 1".into()));
    }
    let spill_dir = raw.engine.spill_dir.as_deref().map(|d| normalize(&base.join(d)));
    let scheduler = engine_scheduler(&raw.engine)?;
    let snapshots_per_pass = raw.engine.snapshots_per_pass.unwrap_or(DEFAULT_SNAPSHOTS_PER_PASS);
    if snapshots_per_pass == 0 {
        return Err(Error::Config("`engine.snapshots_per_pass` must be at least 1".into()));
    }
    Ok(Config {
        memory_limit_mb,
        threads: raw.engine.threads,
        spill_dir,
        scheduler,
        snapshots_per_pass,
        base_dir: base.to_path_buf(),
        warehouse,
        export_date: raw.warehouse.export_date,
        tables,
        output,
        stale_lock_hours,
        storage: raw.storage,
        models_dir,
        model_name,
        sql_dir,
        feature_version,
        vocabulary,
        training,
        tiers,
        tier_multiples,
        risk_reasons,
        care: Care::resolve(&raw.scoring.care)?,
        drift: Drift::resolve(&raw.scoring.drift)?,
        forecast_window_days: match raw.scoring.forecast_window_days.unwrap_or(FORECAST_WINDOW_DAYS as i64) {
            d @ 1..=1096 => d as i32,
            d => return Err(Error::Config(format!("`scoring.forecast_window_days` is {d}: give 1 to 1096 days (three years)"))),
        },
        positive_reasons,
        rule_weights,
        max_score_age_days,
        max_tier_change_share,
        destinations,
        playbooks: playbooks::Playbooks::resolve(&raw.playbooks)?,
        report: raw.report.as_ref().map(|r| r.out.as_ref().map(|p| base.join(p))),
        inputs_missing_exit_code: match raw.scheduler.inputs_missing_exit_code.unwrap_or(99) {
            c @ (0..=4) => return Err(Error::Config(format!("`scheduler.inputs_missing_exit_code` is {c}: 0 to 4 already mean something (see the README's exit codes); pick another, e.g. 99"))),
            c => c,
        },
        max_export_lag_days: raw.scheduler.max_export_lag_days.unwrap_or(3),
        lineage: raw.lineage.as_ref().map(|l| Lineage::resolve(l, base)).transpose()?,
    })
}

fn positive(key: &str, v: f64) -> Result<()> {
    if v.is_finite() && v > 0.0 { Ok(()) } else { Err(Error::Config(format!("`{key}` must be above 0, not {v}"))) }
}

/// Names become folder names and partition values: keep them plain.
pub fn check_name(key: &str, v: &str) -> Result<()> {
    let ok = !v.is_empty() && v.len() <= 64 && v.chars().all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c)) && !v.starts_with('.');
    if ok {
        Ok(())
    } else {
        Err(Error::Config(format!("`{key}`: `{v}` must be 1–64 letters, digits, `-`, `_` or `.`")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_scheduler_is_named_by_a_df_url() {
        assert_eq!(scheduler_url("df://sched.internal:50051").unwrap(), "http://sched.internal:50051");
        assert_eq!(scheduler_url("df://localhost").unwrap(), "http://localhost:50050");
        assert!(scheduler_url("http://localhost:50050").unwrap_err().contains("df://host:port"));
        assert!(scheduler_url("localhost:50050").is_err());
    }

    fn cfg(yaml: &str) -> Result<Config> {
        Config::from_yaml(yaml, Path::new("/etc/hs"))
    }

    #[test]
    fn relative_paths_resolve_against_the_config_folder() {
        let c = cfg("warehouse: { base_uri: ../data }\noutput: { uri: out }\n").unwrap();
        assert_eq!(c.warehouse.0.as_str(), "file:///etc/data/");
        assert_eq!(c.output.0.as_str(), "file:///etc/hs/out/");
        assert_eq!(c.table("usage").unwrap().location.0.as_str(), "file:///etc/data/usage");
    }

    #[test]
    fn unknown_key_is_named() {
        let e = cfg("warehouse: { base_uri: d, bse: 1 }\noutput: { uri: o }\n").unwrap_err();
        assert_eq!(e.exit_code(), 2);
        assert!(e.to_string().contains("unknown field `bse`"), "{e}");
    }

    #[test]
    fn column_mapping_must_name_a_contract_column() {
        let e = cfg("warehouse: { base_uri: d, tables: { usage: { columns: { day: event_date } } } }\noutput: { uri: o }\n")
            .unwrap_err();
        assert!(e.to_string().contains("warehouse.tables.usage.columns.day"), "{e}");
    }

    #[test]
    fn credentials_in_the_file_are_refused() {
        let e = cfg("warehouse: { base_uri: d }\noutput: { uri: o }\nstorage: { aws_secret_access_key: x }\n").unwrap_err();
        assert!(e.to_string().contains("environment"), "{e}");
    }

    #[test]
    fn object_store_urls_are_kept() {
        let c = cfg("warehouse: { base_uri: 's3://bucket/exports' }\noutput: { uri: 's3://bucket/out/' }\n").unwrap();
        assert_eq!(c.table("accounts").unwrap().location.0.as_str(), "s3://bucket/exports/accounts");
        assert!(!c.output.is_local());
    }

    #[test]
    fn bad_tiers_are_refused() {
        let e = cfg("warehouse: { base_uri: d }\noutput: { uri: o }\nscoring: { tiers: { red_below: 80, yellow_below: 70 } }\n")
            .unwrap_err();
        assert!(e.to_string().contains("scoring.tiers"), "{e}");
    }
}
