//! The application: each command as a job of stages under the run lock,
//! recorded in a manifest. `cli` parses arguments and renders what these
//! functions return; nothing here prints to stdout.
//!
//! ```text
//!  Job::start        take <out>/_lock (put-if-absent) · clean leftover staging
//!    │  stage …      timed into the manifest (validate, train, score, write, sync)
//!    │  publish      each table's partition by one atomic step (output)
//!  Job::finish       write runs/<run_id>.json · release the lock — both, whatever failed
//! ```
//!
//! `score`, `run` and `demo` score; `run` then syncs; `train`, `features` and
//! `backtest` write their own tables; `sync` sends the newest scores. Each
//! holds the lock while it writes, so no command can clear another's staging
//! folder; a dry run reads only and takes none.

pub mod lock;
pub mod manifest;
pub mod summary;

use chrono::NaiveDate;

use crate::config::Config;
use crate::store::Stores;
use crate::engine::Engine;
use crate::error::{Error, Result};
use crate::features::FeatureSet;
use crate::log::{self, Stage};
use crate::output::tables;
use crate::output::Output;
use lock::Lock;
use manifest::{Manifest, StageRecord};

/// The commands that write under the output location.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Command {
    Features,
    Train,
    Score,
    Run,
    Demo,
    Sync,
    Backtest,
    Effectiveness,
    Backfill,
}

impl Command {
    pub fn as_str(self) -> &'static str {
        match self {
            Command::Features => "features",
            Command::Train => "train",
            Command::Score => "score",
            Command::Run => "run",
            Command::Demo => "demo",
            Command::Sync => "sync",
            Command::Backtest => "backtest",
            Command::Effectiveness => "effectiveness",
            Command::Backfill => "backfill",
        }
    }
}

/// One command's run: its id, the output it writes, the lock it holds and
/// the manifest it records.
pub struct Job {
    pub out: Output,
    pub stores: Stores,
    pub manifest: Manifest,
    lock: Lock,
    /// The job finished its work but must end in an error (a sync's
    /// rejections): recorded as the manifest's status and error.
    failed: Option<String>,
    /// OpenLineage, when `lineage:` is configured.
    lineage: Option<Lineage>,
}

/// The OpenLineage run of a job: its identity, the export's tables it read,
/// and what names the results tables it writes.
struct Lineage {
    cfg: crate::config::Lineage,
    run: crate::stack::lineage::Run,
    inputs: Vec<crate::stack::lineage::Dataset>,
    output: crate::location::Location,
    horizons: Vec<u32>,
    expansion: u32,
}

impl Lineage {
    /// The published tables, with their documented columns and the rows written.
    fn outputs(&self, published: &[crate::output::Published]) -> Vec<crate::stack::lineage::Dataset> {
        let mut out: Vec<crate::stack::lineage::Dataset> = Vec::new();
        for p in published {
            if let Some(d) = out.iter_mut().find(|d| d.name.ends_with(&format!("/{}", p.table))) {
                d.rows = Some(d.rows.unwrap_or(0) + p.rows);
                continue;
            }
            let fields = tables::ALL.iter().find(|t| t.name == p.table).map(|t| {
                t.expanded(&self.horizons, self.expansion).into_iter().map(|(n, c)| (n, c.ty.data_type().to_string(), Some(c.doc.to_string()))).collect()
            });
            let mut d = crate::stack::lineage::Dataset::at(&self.output.join(&format!("{}/", p.table)), fields.unwrap_or_default());
            d.rows = Some(p.rows);
            out.push(d);
        }
        out
    }
}

fn now() -> String {
    chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}

impl Job {
    /// Takes the lock and clears what crashed runs left in staging.
    pub async fn start(cfg: &Config, command: Command) -> Result<Job> {
        let run_id = crate::output::new_run_id();
        let stores = Stores::new(cfg.storage.clone());
        let lock = Lock::acquire(&stores, cfg, &run_id, command.as_str()).await?;
        let out = Output::open(&stores, &cfg.output, &run_id)?;
        let manifest = Manifest {
            run_id,
            command: command.as_str().into(),
            args: std::env::args().skip(1).collect(),
            started_at: now(),
            ..Default::default()
        };
        let lineage = cfg.lineage.as_ref().map(|l| Lineage {
            cfg: l.clone(),
            run: crate::stack::lineage::Run::new(l, command.as_str()),
            inputs: Vec::new(),
            output: cfg.output.clone(),
            horizons: cfg.training.horizons.clone(),
            expansion: cfg.training.expansion_horizon,
        });
        if let Some(l) = &lineage {
            crate::stack::lineage::send(&l.cfg, &l.run.event("START", &manifest.run_id, None, &[], &[], None)).await;
        }
        let job = Job { out, stores, manifest, lock, failed: None, lineage };
        if let Err(e) = job.out.clean_staging().await {
            return job.finish(Err(e)).await;
        }
        Ok(job)
    }

    /// Records how the job ended and releases the lock, whether or not the
    /// manifest could be written; the job's own error comes first.
    pub async fn finish<T>(mut self, result: Result<T>) -> Result<T> {
        self.manifest.finished_at = now();
        match &result {
            Ok(_) if self.failed.is_some() => {
                self.manifest.status = "error".into();
                self.manifest.error = self.failed.take();
            }
            Ok(_) => self.manifest.status = "success".into(),
            Err(e) => {
                self.manifest.status = "error".into();
                self.manifest.error = Some(e.to_string());
            }
        }
        let written = match serde_json::to_string_pretty(&self.manifest) {
            Ok(json) => self.out.write_run_record(json).await,
            Err(e) => Err(Error::other("manifest", e)),
        };
        let released = self.lock.release().await;
        if let Some(l) = &self.lineage {
            let m = &self.manifest;
            let as_of = m.as_of.as_deref().and_then(|d| NaiveDate::parse_from_str(d, "%Y-%m-%d").ok());
            let (kind, error) = if m.status == "success" { ("COMPLETE", None) } else { ("FAIL", m.error.as_deref()) };
            crate::stack::lineage::send(&l.cfg, &l.run.event(kind, &m.run_id, as_of, &l.inputs, &l.outputs(&m.tables), error)).await;
        }
        let v = result?;
        written?;
        released?;
        Ok(v)
    }
}

/// Times a stage into the manifest and logs its summary line.
pub async fn timed<T, F: std::future::Future<Output = Result<T>>>(manifest: &mut Manifest, name: &'static str, f: F, detail: impl FnOnce(&T) -> String) -> Result<T> {
    let stage = Stage::start(name);
    match f.await {
        Ok(v) => {
            let d = detail(&v);
            let secs = stage.done(&d).as_secs_f64();
            manifest.stages.push(StageRecord { name: name.into(), status: "success".into(), seconds: secs, detail: d });
            Ok(v)
        }
        Err(e) => {
            manifest.stages.push(StageRecord { name: name.into(), status: "error".into(), seconds: stage.elapsed().as_secs_f64(), detail: e.to_string() });
            Err(e)
        }
    }
}

/// Opens the export and runs the contract checks; logs warnings. The
/// cross-table checks (warnings only, one full scan of `usage`) run for
/// `validate`, `train`, `backtest` and `demo`, not on every scoring run.
pub async fn validate(cfg: &Config, cross: bool) -> Result<Engine> {
    let stage = Stage::start("validate");
    let engine = Engine::open(cfg).await?;
    let report = crate::engine::validate::check(&engine, cross).await?;
    for w in &report.warnings {
        tracing::warn!("{w}");
    }
    if !report.problems.is_empty() {
        return Err(Error::Input(report.problems));
    }
    let tables: Vec<String> = report.tables.iter().map(|(t, rows, files)| format!("{t} {rows} rows/{files} files")).collect();
    stage.done(&format!("export of {} is valid: {}", engine.export_date, tables.join(", ")));
    Ok(engine)
}

/// `validate` inside a job: recorded as the job's first stage.
async fn validate_stage(job: &mut Job, cfg: &Config, cross: bool) -> Result<Engine> {
    let t = std::time::Instant::now();
    let engine = validate(cfg, cross).await;
    if let (Some(l), Ok(e)) = (job.lineage.as_mut(), &engine) {
        l.inputs = lineage_inputs(e);
    }
    job.manifest.stages.push(StageRecord {
        name: "validate".into(),
        status: if engine.is_ok() { "success" } else { "error" }.into(),
        seconds: t.elapsed().as_secs_f64(),
        detail: engine.as_ref().err().map(|e| e.to_string()).unwrap_or_default(),
    });
    engine
}

/// The export's tables present, as OpenLineage inputs with their columns.
fn lineage_inputs(engine: &Engine) -> Vec<crate::stack::lineage::Dataset> {
    engine
        .tables
        .values()
        .filter(|t| t.present())
        .map(|t| {
            let fields = t.schema.as_ref().map(|s| s.fields().iter().map(|f| (f.name().clone(), f.data_type().to_string(), None)).collect()).unwrap_or_default();
            crate::stack::lineage::Dataset::at(&t.source.location, fields)
        })
        .collect()
}

// ---- generate -----------------------------------------------------------------

/// Writes a synthetic company to `out` (a folder or URL; not under the
/// output location, so no lock).
pub async fn generate(out: &crate::location::Location, opts: &crate::generate::Options) -> Result<crate::generate::Summary> {
    let stage = Stage::start("generate");
    let stores = Stores::new(Default::default());
    let bar = log::bar(opts.accounts as u64, "accounts");
    let s = crate::generate::generate(&stores, out, opts, &|n| bar.set_position(n as u64)).await?;
    bar.finish_and_clear();
    let rows: Vec<String> = s.rows.iter().map(|(t, n)| format!("{t} {n}")).collect();
    stage.done(&format!("wrote {} accounts × {} months to {out} ({} files): {}", s.accounts, opts.months, s.files, rows.join(", ")));
    Ok(s)
}

// ---- features -------------------------------------------------------------------

/// What `features` should build.
pub enum Snapshots {
    One(Option<NaiveDate>),
    Monthly { from: NaiveDate, to: Option<NaiveDate> },
}

pub struct FeatureTable {
    pub batches: Vec<arrow::array::RecordBatch>,
    pub dates: Vec<NaiveDate>,
    pub location: crate::location::Location,
}

fn snapshot_dates(engine: &Engine, s: &Snapshots) -> Result<Vec<NaiveDate>> {
    let dates = match s {
        Snapshots::One(d) => vec![d.unwrap_or(engine.export_date)],
        Snapshots::Monthly { from, to } => crate::features::monthly(*from, to.unwrap_or(engine.export_date)),
    };
    if dates.is_empty() {
        return Err(Error::Usage("no snapshot dates between `--from` and `--to`".into()));
    }
    Ok(dates)
}

/// The executed plan of the feature query, with its metrics (writes no
/// table; a `cached` view's rollups are built and kept as in any run).
pub async fn explain_features(cfg: &Config, s: &Snapshots) -> Result<Vec<String>> {
    let engine = validate(cfg, false).await?;
    let fs = FeatureSet::load(&cfg.sql_dir, &cfg.feature_version)?;
    let dates = snapshot_dates(&engine, s)?;
    fs.register(&engine, &dates).await?;
    let mut lines = Vec::new();
    for b in &engine.query(&format!("EXPLAIN ANALYZE SELECT * FROM {}", fs.spec.output)).await? {
        lines.extend(crate::columns::strings(b, "plan")?.into_iter().flatten());
    }
    Ok(lines)
}

/// Builds the feature table and publishes one partition per snapshot date.
pub async fn features(cfg: &Config, s: &Snapshots) -> Result<FeatureTable> {
    let mut job = Job::start(cfg, Command::Features).await?;
    let r = features_stages(&mut job, cfg, s).await;
    job.finish(r).await
}

async fn features_stages(job: &mut Job, cfg: &Config, s: &Snapshots) -> Result<FeatureTable> {
    let engine = validate_stage(job, cfg, false).await?;
    let fs = FeatureSet::load(&cfg.sql_dir, &cfg.feature_version)?;
    let dates = snapshot_dates(&engine, s)?;
    let batches = timed(&mut job.manifest, "features", fs.build(&engine, &dates), |b| {
        let rows: usize = b.iter().map(|b| b.num_rows()).sum();
        let cols = b.first().map(|b| b.num_columns() - 2).unwrap_or(0);
        format!("feature set {} ({}…): {rows} rows × {cols} features over {} snapshot date(s)", fs.version, fs.short_hash(), dates.len())
    })
    .await?;
    let t = &tables::features::TABLE;
    let mut staged = Vec::new();
    if let Some(first) = batches.first() {
        let schema = first.schema();
        for d in &dates {
            let part = tables::features::on_day(&batches, crate::dates::day(*d))?;
            staged.push(job.out.stage(t.name, &t.partition(d), &schema, &part).await?);
        }
    }
    job.manifest.tables = job.out.publish(staged).await?;
    Ok(FeatureTable { batches, dates, location: cfg.output_table(t.name) })
}

// ---- train ------------------------------------------------------------------------

/// Trains, registers the model (current if it is better) and writes `model_metrics`.
pub async fn train(cfg: &Config, force: bool, export: Option<&std::path::Path>) -> Result<crate::model::card::Card> {
    let mut job = Job::start(cfg, Command::Train).await?;
    let r = async {
        let engine = validate_stage(&mut job, cfg, true).await?;
        train_stage(&mut job, &engine, cfg, force, export).await
    }
    .await;
    job.finish(r).await
}

async fn train_stage(job: &mut Job, engine: &Engine, cfg: &Config, force: bool, export: Option<&std::path::Path>) -> Result<crate::model::card::Card> {
    let spin = log::spinner("training");
    let outcome = timed(
        &mut job.manifest,
        "train",
        crate::model::train::train(engine, cfg, force, export, &|m| {
            spin.set_message(m.to_string());
            tracing::debug!("{m}");
        }),
        |o| {
            let p = o.card.promotion.as_ref().map(|p| p.reason.clone()).unwrap_or_default();
            format!(
                "model `{}` {} ({:?}): {}",
                o.card.version,
                if o.promoted { "is now current" } else { "was registered but not promoted" },
                o.card.kind,
                p
            )
        },
    )
    .await;
    spin.finish_and_clear();
    let card = outcome?.card;
    job.manifest.model_version = Some(format!("{}/{}", card.name, card.version));
    job.manifest.feature_set = Some(card.feature_set.version.clone());
    job.manifest.feature_hash = Some(card.feature_set.hash.clone());
    let t = &tables::model_metrics::TABLE;
    let batch = tables::model_metrics::batch(&card.version, &card.metrics_rows())?;
    let staged = job.out.stage(t.name, &t.partition(&card.version), &t.schema(), &[batch]).await?;
    job.manifest.tables.extend(job.out.publish(vec![staged]).await?);
    Ok(card)
}

// ---- score and run ------------------------------------------------------------------

/// What `score` and `run` did: the scores, the alerts (when playbooks are
/// configured) and, for `run`, the sync.
pub struct Scoring {
    pub scored: crate::score::Scored,
    pub alerts: Vec<tables::alerts::Row>,
    pub shadow: Option<summary::ShadowState>,
    pub synced: Vec<crate::sync::Report>,
    /// The run's id (`runs/<run_id>.json`) and the partitions it published.
    pub run_id: String,
    pub tables: Vec<crate::output::Published>,
}

/// `score` and `run`: validate, score, write the tables atomically and
/// record the run; `run` then syncs every destination.
pub async fn score(cfg: &Config, as_of: Option<NaiveDate>, command: Command) -> Result<Scoring> {
    let mut job = Job::start(cfg, command).await?;
    let r = score_and_sync(&mut job, cfg, as_of, command == Command::Run).await;
    if let Ok(s) = &r {
        job.failed = crate::sync::verdict(&s.synced).err().map(|e| e.to_string());
    }
    job.finish(r).await
}

async fn score_and_sync(job: &mut Job, cfg: &Config, as_of: Option<NaiveDate>, sync: bool) -> Result<Scoring> {
    let engine = validate_stage(job, cfg, false).await;
    let engine = not_delivered(&job.stores, cfg, engine).await?;
    let (scored, alerts, shadow, _) = score_stages(job, &engine, cfg, as_of).await?;
    let mut synced = Vec::new();
    if sync && !cfg.destinations.is_empty() {
        let opts = crate::sync::Options::default();
        let done = timed(&mut job.manifest, "sync", crate::sync::sync(cfg, &job.out, Some(scored.as_of), &opts), |d| match d {
            crate::sync::Done::Synced(r) => r.iter().map(|r| format!("{} {}", r.destination, r.status)).collect::<Vec<_>>().join(", "),
            _ => String::new(),
        })
        .await?;
        if let crate::sync::Done::Synced(r) = done {
            synced = r;
        }
    }
    if let Some(out) = cfg.report.as_ref().filter(|_| sync) {
        let as_of = scored.as_of;
        timed(&mut job.manifest, "report", report(cfg, Some(as_of), out.clone()), |p| format!("the report is at {}", p.display())).await?;
    }
    Ok(Scoring { scored, alerts, shadow, synced, run_id: job.manifest.run_id.clone(), tables: job.manifest.tables.clone() })
}

/// A contract error when nothing at all is where the export lands is "not
/// delivered yet" (the scheduler's exit code), not "broken".
async fn not_delivered(stores: &Stores, cfg: &Config, opened: Result<Engine>) -> Result<Engine> {
    match opened {
        Err(Error::Input(_)) if stores.blob(&cfg.warehouse)?.list().await.is_ok_and(|l| l.is_empty()) => Err(Error::NotYet {
            message: format!(
                "nothing is at `{}` yet: the export is not delivered; nothing was scored (exit {}; if that is the wrong place, fix `warehouse.base_uri`)",
                cfg.warehouse, cfg.inputs_missing_exit_code
            ),
            code: cfg.inputs_missing_exit_code,
        }),
        r => r,
    }
}

/// The newest day the export's `usage` has, from the files' footers when
/// every file has statistics, else by a query.
async fn newest_usage(engine: &Engine) -> Result<Option<NaiveDate>> {
    let Some(t) = engine.tables.get("usage").filter(|t| t.present()) else { return Ok(None) };
    let column = t.source.columns.get("date").map(String::as_str).unwrap_or("date");
    let footers: Option<Vec<f64>> = t.files.iter().map(|f| f.stats.get(column).and_then(|s| s.max)).collect();
    let day = match footers.and_then(|v| v.into_iter().reduce(f64::max)) {
        Some(d) => Some(d.floor() as i32),
        None => {
            let b = engine.query("SELECT CAST(MAX(date) AS DATE) AS newest FROM usage WHERE date IS NOT NULL").await?;
            match b.first().filter(|b| b.num_rows() > 0 && b.column(0).is_valid(0)) {
                Some(b) => crate::columns::days(b, "newest")?.first().copied(),
                None => None,
            }
        }
    };
    Ok(day.map(crate::dates::date))
}

/// Refuses a scoring date the export does not cover yet, with the
/// scheduler's exit code: after `warehouse.export_date`, or — whatever the
/// configured date — past the day after the newest usage by more than
/// `scheduler.max_export_lag_days` (a stale export would score every account as silent).
async fn not_yet(engine: &Engine, cfg: &Config, as_of: NaiveDate) -> Result<()> {
    let code = cfg.inputs_missing_exit_code;
    if as_of > engine.export_date {
        return Err(Error::NotYet {
            message: format!(
                "the export covers days before {} (`warehouse.export_date`), not {as_of} yet: nothing was scored; rerun when it is delivered (exit {code})",
                engine.export_date
            ),
            code,
        });
    }
    if let Some(newest) = newest_usage(engine).await? {
        let lag = (as_of - newest).num_days() - 1;
        if lag > cfg.max_export_lag_days as i64 {
            return Err(Error::NotYet {
                message: format!(
                    "the export's newest usage is from {newest}, {lag} days short of the day before {as_of} (`scheduler.max_export_lag_days` {}): it is not delivered yet, or its usage feed stopped; nothing was scored (exit {code})",
                    cfg.max_export_lag_days
                ),
                code,
            });
        }
    }
    Ok(())
}

/// The scores, the alerts, whether the playbooks ran in shadow, and the renewal forecast's rollup.
type Scores = (crate::score::Scored, Vec<tables::alerts::Row>, Option<summary::ShadowState>, Vec<tables::renewal_forecast_rollup::Row>);

async fn score_stages(job: &mut Job, engine: &Engine, cfg: &Config, as_of: Option<NaiveDate>) -> Result<Scores> {
    let as_of = as_of.unwrap_or(engine.export_date);
    not_yet(engine, cfg, as_of).await?;
    job.manifest.as_of = Some(as_of.to_string());
    let (model, fs) = crate::score::current_model(engine, cfg).await?;
    job.manifest.model_version = Some(format!("{}/{}", model.card.name, model.card.version));
    job.manifest.feature_set = Some(fs.version.clone());
    job.manifest.feature_hash = Some(fs.hash.clone());
    let mut scored = timed(&mut job.manifest, "score", crate::score::score(engine, cfg, &model, &fs, as_of), |s| {
        format!("{} accounts scored at {as_of} with {}", s.rows.len(), s.model_version)
    })
    .await?;
    crate::score::add_history(&job.out, &mut scored, &cfg.care).await?;
    let moves = crate::forecast::moves(engine, cfg, &scored).await?;
    let mut forecast = timed(&mut job.manifest, "forecast", async { crate::forecast::accounts(&model, &scored, &moves, cfg.forecast_window_days) }, |f| {
        let (arr, expected): (f64, f64) = f.rows.iter().fold((0.0, 0.0), |(a, e), r| (a + r.arr, e + r.expected_arr()));
        format!(
            "{} accounts renew within {} days: {} up for renewal, {} expected to renew (moves from the {} renewals of the year before); {} without a renewal date, {} without ARR{} (left out)",
            f.rows.len(),
            cfg.forecast_window_days,
            crate::features::render(crate::features::Unit::Currency, arr),
            crate::features::render(crate::features::Unit::Currency, expected),
            moves.len(),
            f.without_renewal,
            f.without_arr,
            if f.without_probability > 0 { format!(", {} without a churn chance (the rules score of a cold start carries none)", f.without_probability) } else { String::new() }
        )
    })
    .await?;
    let shadow = if cfg.playbooks.rules.is_empty() { None } else { Some(shadow_state(job, engine, cfg, as_of, &scored.horizons).await?) };
    let alerts = if cfg.playbooks.rules.is_empty() {
        None
    } else {
        let earlier = earlier_alerts(&job.out, cfg, as_of).await?;
        let shadowed = shadow.as_ref().is_some_and(|s| s.shadow);
        let day = crate::dates::day(as_of);
        Some(timed(
            &mut job.manifest,
            "alerts",
            async {
                let f = &scored.frame;
                let value = |i: usize, name: &str| f.col(name).map(|j| f.value(i, j)).filter(|v| v.is_finite());
                let mut a = crate::playbooks::evaluate(&cfg.playbooks, &scored.rows, &value, &scored.horizons, scored.expansion_horizon, day, &earlier);
                if shadowed {
                    crate::playbooks::shadow(&mut a);
                }
                Ok(a)
            },
            |a| {
                let sent = a.iter().filter(|r| r.suppressed_by.is_none()).count();
                let mode = if shadowed { " (in shadow: written, not delivered)" } else { "" };
                format!("{} alerts from {} playbooks: {sent} to send, {} held back{mode}", a.len(), cfg.playbooks.rules.len(), a.len() - sent)
            },
        )
        .await?)
    };
    let drift = timed(&mut job.manifest, "drift", async { Ok(crate::model::drift::measure(&model.card, &scored.frame, cfg.drift)) }, |d| {
        let flagged = d.iter().filter(|r| r.status != "ok").count();
        format!("{} inputs against the training window: {flagged} past the watch line", d.len())
    })
    .await?;
    if let Some(w) = crate::model::drift::warning(&drift, cfg.drift) {
        tracing::warn!("{w}");
    }
    let helped = helped_playbooks(&job.out, as_of).await?;
    crate::forecast::apply_saves(&mut forecast.rows, alerts.as_deref().unwrap_or_default(), &helped);
    let rollup = crate::forecast::rollup(engine, cfg, &forecast.rows, &moves, crate::dates::day(as_of)).await?;
    let out = &job.out;
    let published = timed(
        &mut job.manifest,
        "write",
        async {
            let (a, d) = (&tables::account_scores::TABLE, &tables::score_drivers::TABLE);
            let batch = crate::score::account_scores(&scored)?;
            let mut staged = vec![
                out.stage(a.name, &a.partition(as_of), &batch.schema(), &[batch]).await?,
                out.stage(d.name, &d.partition(as_of), &d.schema(), crate::score::score_drivers(&scored)).await?,
            ];
            let (f, fr) = (&tables::renewal_forecast::TABLE, &tables::renewal_forecast_rollup::TABLE);
            let fb = tables::renewal_forecast::batch(&forecast.rows, crate::dates::day(as_of))?;
            staged.push(out.stage(f.name, &f.partition(as_of), &f.schema(), &[fb]).await?);
            let rb = tables::renewal_forecast_rollup::batch(&rollup, crate::dates::day(as_of))?;
            staged.push(out.stage(fr.name, &fr.partition(as_of), &fr.schema(), &[rb]).await?);
            if !drift.is_empty() {
                let (t, c) = (&tables::feature_drift::TABLE, &model.card);
                let b = tables::feature_drift::batch(&drift, crate::dates::day(as_of), (&c.train.from, &c.train.to), &format!("{}/{}", c.name, c.version))?;
                staged.push(out.stage(t.name, &t.partition(as_of), &t.schema(), &[b]).await?);
            }
            if let Some(rows) = &alerts {
                let t = &tables::alerts::TABLE;
                let batch = tables::alerts::batch(rows, crate::dates::day(as_of))?;
                staged.push(out.stage(t.name, &t.partition(as_of), &t.schema(), &[batch]).await?);
            }
            out.publish(staged).await
        },
        |r| r.iter().map(|t| format!("{} {} rows", t.table, t.rows)).collect::<Vec<_>>().join(", "),
    )
    .await?;
    job.manifest.tables.extend(published);
    Ok((scored, alerts.unwrap_or_default(), shadow, rollup))
}

/// The playbooks the newest `effectiveness` partition on or before `as_of`
/// says helped, with their measured churn reduction (none without one).
async fn helped_playbooks(out: &Output, as_of: NaiveDate) -> Result<std::collections::BTreeMap<String, f64>> {
    let t = &tables::effectiveness::TABLE;
    let newest = out.partitions(t.name).await?.into_iter().filter(|p| t.partition_date(p).is_some_and(|d| d <= as_of)).max();
    match newest {
        Some(p) => tables::effectiveness::read_helped(&out.read_partition(t.name, &p).await?.unwrap_or_default()),
        None => Ok(Default::default()),
    }
}

/// Whether the playbooks run in shadow, and why: by the config, or by the
/// live backtest of the partitions scored before `as_of`.
async fn shadow_state(job: &mut Job, engine: &Engine, cfg: &Config, as_of: NaiveDate, horizons: &[u32]) -> Result<summary::ShadowState> {
    use crate::config::playbooks::Shadow;
    Ok(match cfg.playbooks.shadow {
        Shadow::Never => summary::ShadowState { shadow: false, why: "`playbooks.shadow: false`: alerts are delivered without waiting for the live backtest".into() },
        Shadow::Always => summary::ShadowState { shadow: true, why: "`playbooks.shadow: true`".into() },
        Shadow::UntilCalibrated { bound, partitions } => {
            let live = timed(&mut job.manifest, "live backtest", crate::score::live::live(engine, cfg, &job.out, as_of, horizons, partitions, bound), |l| l.verdict()).await?;
            summary::ShadowState { shadow: !live.calibrated(), why: live.verdict() }
        }
    })
}

/// The alerts of published runs within the longest cooldown (or the cap's
/// week) before `as_of`.
async fn earlier_alerts(out: &Output, cfg: &Config, as_of: NaiveDate) -> Result<Vec<tables::alerts::Earlier>> {
    let t = &tables::alerts::TABLE;
    let window = cfg.playbooks.rules.iter().map(|p| p.cooldown_days).max().unwrap_or(0).max(7);
    let mut earlier = Vec::new();
    for p in out.partitions(t.name).await? {
        let Some(d) = t.partition_date(&p) else { continue };
        if d < as_of && (as_of - d).num_days() < window {
            let batches = out.read_partition(t.name, &p).await?.unwrap_or_default();
            earlier.extend(tables::alerts::read_earlier(&batches)?);
        }
    }
    Ok(earlier)
}

// ---- demo -----------------------------------------------------------------------------

/// Generates a sample company (if the export location is empty), trains,
/// scores, and checks the reasons out of time against the planted causes.
pub async fn demo(cfg: &Config) -> Result<summary::Demo> {
    let mut job = Job::start(cfg, Command::Demo).await?;
    let r = demo_stages(&mut job, cfg).await;
    let mut demo = job.finish(r).await?;
    if cfg.output.local_path().is_some() {
        demo.report = Some(report(cfg, Some(demo.as_of), None).await?);
    }
    Ok(demo)
}

async fn demo_stages(job: &mut Job, cfg: &Config) -> Result<summary::Demo> {
    let base = job.stores.blob(&cfg.warehouse)?;
    if base.child("accounts/").list().await?.is_empty() {
        let opts = crate::generate::Options { export_date: cfg.export_date.unwrap_or_else(crate::generate::default_export_date), ..Default::default() };
        let bar = log::bar(opts.accounts as u64, "accounts");
        let stores = job.stores.clone();
        timed(&mut job.manifest, "generate", crate::generate::generate(&stores, &cfg.warehouse, &opts, &|n| bar.set_position(n as u64)), |s| {
            format!("generated a sample company: {} accounts × {} months at {}", s.accounts, opts.months, cfg.warehouse)
        })
        .await?;
        bar.finish_and_clear();
    }
    let engine = validate_stage(job, cfg, true).await?;
    let card = train_stage(job, &engine, cfg, false, None).await?;
    let (scored, alerts, shadow, forecast) = score_stages(job, &engine, cfg, None).await?;
    // Reasons are only honest out of time: score 90 days before the export
    // with the same model (trained on earlier snapshots) and check the
    // planted causes of the accounts that then churned.
    let back = engine.export_date - chrono::Days::new(90);
    let (model, fs) = crate::score::current_model(&engine, cfg).await?;
    let past = crate::score::score(&engine, cfg, &model, &fs, back).await?;
    let fidelity = crate::generate::fidelity::check(&engine, &past, 90).await?;
    // the rules score's reasons on the same accounts, for comparison
    let rules_fidelity = if model.is_rules() {
        None
    } else {
        let rules = model.rules_twin();
        let past = crate::score::score(&engine, cfg, &rules, &fs, back).await?;
        crate::generate::fidelity::check(&engine, &past, 90).await?
    };
    let mut demo = summary::Demo::new(cfg, card, &scored, &alerts, shadow, fidelity, rules_fidelity, back);
    demo.forecast = forecast;
    Ok(demo)
}

// ---- backfill ---------------------------------------------------------------------------

/// How far apart `backfill`'s scoring dates are.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Every {
    Day,
    Week,
    /// The first of each month.
    Month,
}

impl Every {
    pub fn dates(self, from: NaiveDate, to: NaiveDate) -> Vec<NaiveDate> {
        match self {
            Every::Month => crate::features::monthly(from, to),
            Every::Day | Every::Week => {
                let step = if self == Every::Day { 1 } else { 7 };
                from.iter_days().step_by(step).take_while(|d| *d <= to).collect()
            }
        }
    }
}

/// What `backfill` did: the dates it scored (with their run ids) and the
/// ones already complete.
#[derive(Debug, Default)]
pub struct Backfill {
    pub scored: Vec<(NaiveDate, String, usize)>,
    pub skipped: Vec<NaiveDate>,
}

/// The tables a scoring publishes for its date; a date is complete when
/// each has that date's partition (a run cut off between two publishes is not).
fn scoring_tables(cfg: &Config) -> Vec<&'static tables::Table> {
    let mut t = vec![&tables::account_scores::TABLE, &tables::score_drivers::TABLE, &tables::renewal_forecast::TABLE, &tables::renewal_forecast_rollup::TABLE];
    if !cfg.playbooks.rules.is_empty() {
        t.push(&tables::alerts::TABLE);
    }
    t
}

/// `backfill`: one scoring per date of `from..=to` (every day, week or
/// month), oldest first — each its own run, so a history reads as if it
/// had been scheduled — skipping dates whose partitions are all published
/// unless `force`. A rerun after a crash or a kill picks up where it stopped.
/// Dates the export does not cover yet end it with the scheduler's exit code,
/// after the others are scored. Nothing is synced: a CRM holds today's scores.
pub async fn backfill(cfg: &Config, from: NaiveDate, to: Option<NaiveDate>, every: Every, force: bool) -> Result<Backfill> {
    let stores = Stores::new(cfg.storage.clone());
    let export = not_delivered(&stores, cfg, validate(cfg, false).await).await?.export_date;
    let to = to.unwrap_or(export);
    if from > to {
        return Err(Error::Usage(format!("`--from` {from} is after `--to` {to}")));
    }
    let (dates, later): (Vec<NaiveDate>, Vec<NaiveDate>) = every.dates(from, to).into_iter().partition(|d| *d <= export);
    let out = Output::open(&stores, &cfg.output, &crate::output::new_run_id())?;
    let mut have: Vec<std::collections::BTreeSet<NaiveDate>> = Vec::new();
    for t in scoring_tables(cfg) {
        have.push(out.partitions(t.name).await?.iter().filter_map(|p| t.partition_date(p)).collect());
    }
    let mut done = Backfill::default();
    let bar = log::bar(dates.len() as u64, "dates");
    for (i, d) in dates.iter().enumerate() {
        if !force && have.iter().all(|h| h.contains(d)) {
            done.skipped.push(*d);
        } else {
            let s = score(cfg, Some(*d), Command::Backfill).await?;
            done.scored.push((*d, s.run_id, s.scored.rows.len()));
        }
        bar.set_position(i as u64 + 1);
    }
    bar.finish_and_clear();
    if let (Some(first), Some(last)) = (later.first(), later.last()) {
        return Err(Error::NotYet {
            message: format!(
                "scored {} and skipped {} complete date(s) up to {export}; the export does not cover {first}{} yet (`warehouse.export_date` {export}): rerun when it is delivered (exit {})",
                done.scored.len(),
                done.skipped.len(),
                if first == last { String::new() } else { format!(" to {last}") },
                cfg.inputs_missing_exit_code
            ),
            code: cfg.inputs_missing_exit_code,
        });
    }
    Ok(done)
}

// ---- backtest ---------------------------------------------------------------------------

/// Rolling-origin evaluation, written to the `backtest` table.
pub async fn backtest(cfg: &Config, origins: usize) -> Result<Vec<tables::backtest::Row>> {
    let mut job = Job::start(cfg, Command::Backtest).await?;
    let r = async {
        let engine = validate_stage(&mut job, cfg, true).await?;
        let spin = log::spinner("backtest");
        let rows = timed(&mut job.manifest, "backtest", crate::model::train::backtest(&engine, cfg, origins, &|m| spin.set_message(m.to_string())), |rows| {
            format!("{origins} origins × {} targets written to {}", rows.len() / origins.max(1), cfg.output_table(tables::backtest::TABLE.name))
        })
        .await;
        spin.finish_and_clear();
        let rows = rows?;
        let t = &tables::backtest::TABLE;
        let batch = tables::backtest::batch(&rows)?;
        let staged = job.out.stage(t.name, &t.partition(&job.out.run_id), &t.schema(), &[batch]).await?;
        job.manifest.tables = job.out.publish(vec![staged]).await?;
        Ok(rows)
    }
    .await;
    job.finish(r).await
}

// ---- forecast ---------------------------------------------------------------------------

/// `forecast`: the newest `renewal_forecast_rollup` partition (or `as_of`'s), read only.
pub async fn forecast(cfg: &Config, as_of: Option<NaiveDate>) -> Result<(NaiveDate, Vec<tables::renewal_forecast_rollup::Row>)> {
    let stores = Stores::new(cfg.storage.clone());
    let out = Output::open(&stores, &cfg.output, &crate::output::new_run_id())?;
    let t = &tables::renewal_forecast_rollup::TABLE;
    let part = match as_of {
        Some(d) => t.partition(d),
        None => out.partitions(t.name).await?.first().cloned().ok_or_else(|| Error::Usage("no renewal forecast yet: run `healthscore score` (or `run`) first".into()))?,
    };
    let date = t.partition_date(&part).ok_or_else(|| Error::Usage(format!("no partition `{part}`")))?;
    let batches = out.read_partition(t.name, &part).await?.ok_or_else(|| Error::Usage(format!("no renewal forecast at {date}: score that date first")))?;
    Ok((date, tables::renewal_forecast_rollup::read(&batches)?))
}

/// `forecast --backtest`: the forecast made `months` before the export
/// from what was known then — a model trained on the labels observed by
/// then (not the current model, whose training saw what followed), the
/// accounts scored then, the moves booked before — against the renewals the
/// export has seen since.
pub async fn forecast_backtest(cfg: &Config, months: u32) -> Result<crate::forecast::Backtest> {
    let engine = validate(cfg, false).await?;
    let origin = engine.export_date - chrono::Months::new(months);
    let spin = crate::log::spinner("forecast backtest");
    let model = crate::model::train::model_at(&engine, cfg, origin, &|m| spin.set_message(m.to_string())).await?;
    spin.set_message(format!("scoring {origin}"));
    let fs = crate::features::FeatureSet::load(&cfg.sql_dir, &cfg.feature_version)?;
    let scored = crate::score::score(&engine, cfg, &model, &fs, origin).await?;
    spin.finish_and_clear();
    let moves = crate::forecast::moves(&engine, cfg, &scored).await?;
    // renewals the export has seen: before its day
    let window = (engine.export_date - origin).num_days() as i32 - 1;
    let f = crate::forecast::accounts(&model, &scored, &moves, window)?;
    let day = crate::dates::day(origin);
    let renewed = crate::forecast::renewed_arr(&engine, &f.rows, day).await?;
    let pairs: Vec<(String, i32)> = f.rows.iter().map(|r| (r.account_id.clone(), day)).collect();
    let labels = crate::model::train::labels_at(&engine, cfg, &pairs).await?;
    Ok(crate::forecast::backtest(&f.rows, &labels, &renewed, &moves, day))
}

// ---- report -----------------------------------------------------------------------------

/// `report`: the page for the newest (or `as_of`'s) scoring, read only;
/// written to `out` (default `report-<as_of>.html` under a local output).
pub async fn report(cfg: &Config, as_of: Option<NaiveDate>, out: Option<std::path::PathBuf>) -> Result<std::path::PathBuf> {
    let stores = Stores::new(cfg.storage.clone());
    let output = Output::open(&stores, &cfg.output, &crate::output::new_run_id())?;
    let registry = crate::model::registry::Registry::open(&stores, cfg)?;
    let card = match registry.current().await? {
        Some(v) => Some(registry.load(&v).await?.card),
        None => None,
    };
    let groups = match crate::features::FeatureSet::load(&cfg.sql_dir, card.as_ref().map_or(cfg.feature_version.as_str(), |c| c.feature_set.version.as_str())) {
        // the signals a CSM can act on: not the context inputs (tenure, renewal timing)
        Ok(fs) => fs.spec.features.iter().filter(|f| f.explain).map(|f| (f.name.clone(), f.group.clone())).collect(),
        Err(_) => Default::default(),
    };
    let mut inputs = crate::report::inputs(&output, as_of, card, groups).await?;
    // the live backtest as the newest scoring of that date recorded it
    let day = inputs.as_of.to_string();
    let mut runs: Vec<manifest::Manifest> = output.run_records().await?.iter().filter_map(|t| serde_json::from_str(t).ok()).collect();
    runs.retain(|m| m.as_of.as_deref() == Some(day.as_str()));
    runs.sort_by(|a, b| a.finished_at.cmp(&b.finished_at));
    inputs.live = runs.iter().rev().find_map(|m| m.stages.iter().find(|s| s.name == "live backtest").map(|s| s.detail.clone()));
    let path = match out {
        Some(p) => p,
        None => cfg.output.local_path().map(|d| d.join(format!("report-{}.html", inputs.as_of))).ok_or_else(|| {
            Error::Usage(format!("`output.uri` ({}) is not a local folder: give `--out FILE` for the report", cfg.output))
        })?,
    };
    let html = crate::report::render_html(&inputs)?;
    std::fs::write(&path, html).map_err(|e| Error::Usage(format!("cannot write the report to `{}`: {e}", path.display())))?;
    Ok(path)
}

// ---- effectiveness ----------------------------------------------------------------------

/// `effectiveness`: the alerts of `from..=to` (default: every published
/// partition) against the outcomes since, per playbook, written to the
/// `effectiveness` table partitioned by `to`.
pub async fn effectiveness(cfg: &Config, from: Option<NaiveDate>, to: Option<NaiveDate>, min_units: usize) -> Result<Vec<tables::effectiveness::Row>> {
    let mut job = Job::start(cfg, Command::Effectiveness).await?;
    let r = async {
        let engine = validate_stage(&mut job, cfg, false).await?;
        let t = &tables::alerts::TABLE;
        let mut dates: Vec<NaiveDate> = job.out.partitions(t.name).await?.iter().filter_map(|p| t.partition_date(p)).collect();
        dates.retain(|d| from.is_none_or(|f| *d >= f) && to.is_none_or(|t| *d <= t));
        dates.sort();
        let (Some(first), Some(last)) = (dates.first().copied(), dates.last().copied()) else {
            return Err(Error::Usage("no `alerts` partition in that range: run `healthscore score` with `playbooks:` configured first".into()));
        };
        let mut alerts = Vec::new();
        for d in &dates {
            alerts.extend(tables::alerts::read_earlier(&job.out.read_partition(t.name, &t.partition(*d)).await?.unwrap_or_default())?);
        }
        let rows = timed(
            &mut job.manifest,
            "effectiveness",
            async {
                let units = crate::playbooks::effectiveness::units(&alerts);
                // the labels read the feature set's staging views
                crate::features::FeatureSet::load(&cfg.sql_dir, &cfg.feature_version)?.register(&engine, &[]).await?;
                let pairs: Vec<(String, i32)> = units.iter().map(|u| (u.account_id.clone(), u.first)).collect();
                let labels = crate::model::train::labels_at(&engine, cfg, &pairs).await?;
                let feedback = alert_feedback(&engine).await?;
                Ok(crate::playbooks::effectiveness::measure(&units, &labels, cfg.training.expansion_horizon, &feedback, min_units, crate::dates::day(first)))
            },
            |rows| format!("{} playbooks, alerts of {first} to {last}", rows.len()),
        )
        .await?;
        let e = &tables::effectiveness::TABLE;
        let batch = tables::effectiveness::batch(&rows, crate::dates::day(last))?;
        let staged = job.out.stage(e.name, &e.partition(last), &e.schema(), &[batch]).await?;
        job.manifest.tables = job.out.publish(vec![staged]).await?;
        Ok(rows)
    }
    .await;
    job.finish(r).await
}

/// `alert_feedback` when the export has it: alert id → helpful.
async fn alert_feedback(engine: &Engine) -> Result<std::collections::HashMap<String, bool>> {
    let mut out = std::collections::HashMap::new();
    if !engine.present("alert_feedback") {
        return Ok(out);
    }
    for b in engine.query("SELECT alert_id, CAST(helpful AS DOUBLE) AS helpful FROM alert_feedback WHERE helpful IS NOT NULL").await? {
        let (ids, h) = (crate::columns::strings(&b, "alert_id")?, crate::columns::floats(&b, "helpful")?);
        for i in 0..b.num_rows() {
            out.insert(ids[i].clone().unwrap_or_default(), h[i] > 0.5);
        }
    }
    Ok(out)
}

// ---- sync -------------------------------------------------------------------------------

/// `sync`: a dry run reads only; anything else holds the lock.
pub async fn sync(cfg: &Config, as_of: Option<NaiveDate>, opts: &crate::sync::Options) -> Result<crate::sync::Done> {
    if opts.dry_run {
        let stores = Stores::new(cfg.storage.clone());
        let out = Output::open(&stores, &cfg.output, &crate::output::new_run_id())?;
        return crate::sync::sync(cfg, &out, as_of, opts).await;
    }
    let mut job = Job::start(cfg, Command::Sync).await?;
    job.manifest.as_of = as_of.map(|d| d.to_string());
    let r = timed(&mut job.manifest, "sync", crate::sync::sync(cfg, &job.out, as_of, opts), |d| match d {
        crate::sync::Done::Synced(r) => r.iter().map(|r| format!("{} {}", r.destination, r.status)).collect::<Vec<_>>().join(", "),
        crate::sync::Done::Setup(r) => format!("set up {}", r.iter().map(|(d, _)| d.as_str()).collect::<Vec<_>>().join(", ")),
        crate::sync::Done::Plans(_) => String::new(),
    })
    .await;
    if let Ok(crate::sync::Done::Synced(reports)) = &r {
        job.failed = crate::sync::verdict(reports).err().map(|e| e.to_string());
    }
    job.finish(r).await
}
