//! Commands: raw arguments become a validated config and options before any
//! work, each command returns `Result`, and `main` maps the error to an exit
//! code and prints it once.

use std::path::PathBuf;
use std::process::ExitCode;

use chrono::NaiveDate;
use clap::{Args, Parser, Subcommand};

use crate::config::Config;
use crate::location::Location;
use crate::engine::Engine;
use crate::error::{Error, Result};
use crate::features::FeatureSet;
use crate::log::{self, LogFormat, Stage};

#[derive(Parser, Debug)]
#[command(name = "healthscore", version, about = "Customer health scores, churn and expansion models with reasons, from warehouse exports")]
pub struct Cli {
    #[command(subcommand)]
    pub cmd: Cmd,
    /// Log as plain lines (terminal default) or JSON lines (default otherwise).
    #[arg(long, global = true, value_enum)]
    pub log_format: Option<LogFormat>,
}

#[derive(Args, Debug, Clone)]
pub struct Common {
    /// The config file.
    #[arg(long, short, default_value = "config/healthscore.yaml")]
    pub config: PathBuf,
}

#[derive(Subcommand, Debug)]
pub enum Cmd {
    /// Write a synthetic SaaS company as a warehouse export.
    Generate(GenerateArgs),
    /// Check the export against the input contract.
    Validate(ValidateArgs),
    /// Build the feature table for one date, or the training frame for many.
    Features(FeaturesArgs),
    /// Train churn and expansion models, evaluate them, register the better one.
    Train(TrainArgs),
    /// Score every account at one date and write the results tables.
    Score(ScoreArgs),
    /// The scheduled job: validate → features → score → write → sync.
    Run(ScoreArgs),
    /// Generate a sample company (if absent), train, score and summarise.
    Demo(Common),
    /// Send changed scores to the configured CRM destinations.
    Sync(SyncArgs),
    /// Rolling-origin evaluation: retrain as of each of the last K months, score the next.
    Backtest(BacktestArgs),
}

#[derive(Args, Debug)]
pub struct ValidateArgs {
    #[command(flatten)]
    pub common: Common,
    /// Also print the export's vocabulary (usage features, activity kinds,
    /// ticket priorities, with counts), the role each word plays, and which
    /// features the export cannot feed.
    #[arg(long)]
    pub profile: bool,
}

#[derive(Args, Debug)]
pub struct BacktestArgs {
    #[command(flatten)]
    pub common: Common,
    /// How many monthly origins (the newest whose longest horizon is observed).
    #[arg(long, default_value_t = 3)]
    pub origins: usize,
}

#[derive(Args, Debug)]
pub struct SyncArgs {
    #[command(flatten)]
    pub common: Common,
    /// The scores partition to send (default: the newest).
    #[arg(long)]
    pub as_of: Option<NaiveDate>,
    /// Print the plan and a sample of field changes; send nothing.
    #[arg(long)]
    pub dry_run: bool,
    /// Create the custom fields (HubSpot) or check them (Salesforce); send nothing.
    #[arg(long)]
    pub setup: bool,
    /// Ignore the acknowledged state: send every record.
    #[arg(long)]
    pub full_resync: bool,
    /// Send even stale scores or a suspicious share of tier changes.
    #[arg(long)]
    pub force: bool,
    /// Only this destination.
    #[arg(long)]
    pub destination: Option<String>,
    /// `json` prints the dry-run plan as JSON (for CI gating).
    #[arg(long, value_enum, default_value_t = PlanFormat::Text)]
    pub output: PlanFormat,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum PlanFormat {
    Text,
    Json,
}

#[derive(Args, Debug)]
pub struct ScoreArgs {
    #[command(flatten)]
    pub common: Common,
    /// The scoring date: features use data strictly before it (default: the export date).
    #[arg(long)]
    pub as_of: Option<NaiveDate>,
}

#[derive(Args, Debug)]
pub struct TrainArgs {
    #[command(flatten)]
    pub common: Common,
    /// Make the new model current even if it is worse than the current one.
    #[arg(long)]
    pub force: bool,
    /// Also write the churn model's training matrices and parameters here
    /// (for benchmarking against Python's lightgbm).
    #[arg(long)]
    pub export_frame: Option<PathBuf>,
}

#[derive(Args, Debug)]
pub struct GenerateArgs {
    /// Folder or URL to write the export to.
    #[arg(long, default_value = "data/demo")]
    pub out: String,
    #[arg(long, default_value_t = 7)]
    pub seed: u64,
    #[arg(long, default_value_t = 2000)]
    pub accounts: usize,
    #[arg(long, default_value_t = 24)]
    pub months: u32,
    /// The export day: the last day of data is the day before.
    #[arg(long)]
    pub export_date: Option<NaiveDate>,
}

#[derive(Args, Debug)]
pub struct FeaturesArgs {
    #[command(flatten)]
    pub common: Common,
    /// One snapshot date (default: the export date).
    #[arg(long)]
    pub as_of: Option<NaiveDate>,
    /// Build many snapshots in one plan: `monthly`.
    #[arg(long)]
    pub snapshots: Option<String>,
    #[arg(long)]
    pub from: Option<NaiveDate>,
    #[arg(long)]
    pub to: Option<NaiveDate>,
    /// Print the executed plan with its metrics (EXPLAIN ANALYZE) instead of rows.
    #[arg(long)]
    pub explain: bool,
}

pub fn main() -> ExitCode {
    let cli = Cli::parse();
    log::init(cli.log_format);
    let rt = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return ExitCode::from(1);
        }
    };
    match rt.block_on(run(cli.cmd)) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {}", render_error(&e));
            ExitCode::from(e.exit_code())
        }
    }
}

/// The error and its chain of causes, one per line.
pub fn render_error(e: &Error) -> String {
    let mut s = e.to_string();
    if let Error::Other { source, .. } = e {
        for cause in source.chain().skip(1) {
            s.push_str(&format!("\n  caused by: {cause}"));
        }
    }
    s
}

pub async fn run(cmd: Cmd) -> Result<ExitCode> {
    match cmd {
        Cmd::Generate(a) => generate(a).await,
        Cmd::Validate(a) => {
            let cfg = Config::load(&a.common.config)?;
            let engine = validate(&cfg, true).await?;
            if a.profile {
                let fs = FeatureSet::load(&cfg.sql_dir, &cfg.feature_version)?;
                print!("{}", crate::features::profile(&engine, &fs).await?);
            }
            Ok(ExitCode::SUCCESS)
        }
        Cmd::Features(a) => features(a).await,
        Cmd::Score(a) => {
            let cfg = Config::load(&a.common.config)?;
            run_job(&cfg, a.as_of, "score").await.map(|_| ExitCode::SUCCESS)
        }
        Cmd::Run(a) => {
            let cfg = Config::load(&a.common.config)?;
            run_job(&cfg, a.as_of, "run").await.map(|_| ExitCode::SUCCESS)
        }
        Cmd::Demo(c) => demo(&c).await,
        Cmd::Sync(a) => sync(a).await,
        Cmd::Backtest(a) => backtest(a).await,
        Cmd::Train(a) => {
            let cfg = Config::load(&a.common.config)?;
            let engine = validate(&cfg, true).await?;
            train(&engine, &cfg, a.force, a.export_frame.as_deref()).await.map(|_| ExitCode::SUCCESS)
        }
    }
}

async fn generate(a: GenerateArgs) -> Result<ExitCode> {
    let cwd = std::env::current_dir().map_err(|e| Error::other("current folder", e))?;
    let out = Location::parse(&a.out, &cwd, "--out")?;
    let opts = crate::generate::Options {
        seed: a.seed,
        accounts: a.accounts,
        months: a.months,
        export_date: a.export_date.unwrap_or_else(crate::generate::default_export_date),
    };
    let stage = Stage::start("generate");
    let stores = crate::engine::store::Stores::new(Default::default());
    let bar = log::bar(opts.accounts as u64, "accounts");
    let s = crate::generate::generate(&stores, &out, &opts, &|n| bar.set_position(n as u64)).await?;
    bar.finish_and_clear();
    let rows: Vec<String> = s.rows.iter().map(|(t, n)| format!("{t} {n}")).collect();
    stage.done(&format!("wrote {} accounts × {} months to {out} ({} files): {}", s.accounts, opts.months, s.files, rows.join(", ")));
    Ok(ExitCode::SUCCESS)
}

/// Opens the export and runs the contract checks; prints warnings. The
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

async fn features(a: FeaturesArgs) -> Result<ExitCode> {
    let cfg = Config::load(&a.common.config)?;
    let engine = validate(&cfg, false).await?;
    let fs = FeatureSet::load(&cfg.sql_dir, &cfg.feature_version)?;
    let dates = match a.snapshots.as_deref() {
        None => vec![a.as_of.unwrap_or(engine.export_date)],
        Some("monthly") => {
            let to = a.to.unwrap_or(engine.export_date);
            let from = a.from.ok_or_else(|| Error::Usage("`--snapshots monthly` needs `--from`".into()))?;
            crate::features::monthly(from, to)
        }
        Some(other) => return Err(Error::Usage(format!("`--snapshots {other}`: only `monthly` is supported"))),
    };
    if dates.is_empty() {
        return Err(Error::Usage("no snapshot dates between `--from` and `--to`".into()));
    }
    if a.explain {
        fs.register(&engine, &dates).await?;
        let b = engine.query(&format!("EXPLAIN ANALYZE SELECT * FROM {}", fs.spec.output)).await?;
        for batch in &b {
            let plan = crate::model::frame::strings(batch, "plan")?;
            for p in plan.into_iter().flatten() {
                println!("{p}");
            }
        }
        return Ok(ExitCode::SUCCESS);
    }
    let stage = Stage::start("features");
    let batches = fs.build(&engine, &dates).await?;
    let rows: usize = batches.iter().map(|b| b.num_rows()).sum();
    let cols = batches.first().map(|b| b.num_columns() - 2).unwrap_or(0);
    stage.done(&format!(
        "feature set {} ({}…): {rows} rows × {cols} features over {} snapshot date(s)",
        fs.version,
        fs.short_hash(),
        dates.len()
    ));
    // the feature table: one partition per snapshot date, published atomically
    let out = crate::output::Output::open(&engine.stores, &cfg, &crate::output::new_run_id())?;
    let mut staged = Vec::new();
    if let Some(first) = batches.first() {
        let schema = first.schema();
        for d in &dates {
            let day = crate::dates::day(*d);
            let part: Vec<arrow::array::RecordBatch> = batches
                .iter()
                .map(|b| {
                    let asof = crate::model::frame::days(b, "as_of")?;
                    let keep: arrow::array::BooleanArray = asof.iter().map(|v| Some(*v == day)).collect();
                    arrow::compute::filter_record_batch(b, &keep).map_err(|e| Error::other("splitting features by date", e))
                })
                .collect::<Result<_>>()?;
            staged.push(out.stage("features", &format!("as_of={d}"), &schema, &part).await?);
        }
    }
    out.publish(staged).await?;
    if rows > 0 {
        let show = arrow::util::pretty::pretty_format_batches(&[batches[0].slice(0, batches[0].num_rows().min(5))])
            .map_err(|e| Error::other("printing", e))?;
        println!("{show}");
    }
    println!("feature table: {}as_of=…/", cfg.output_table("features"));
    Ok(ExitCode::SUCCESS)
}

/// Trains, prints the card's summary and writes `model_metrics`.
pub async fn train(engine: &Engine, cfg: &Config, force: bool, export: Option<&std::path::Path>) -> Result<crate::model::card::Card> {
    let stage = Stage::start("train");
    let spin = log::spinner("training");
    let outcome = crate::model::train::train(engine, cfg, force, export, &|m| {
        spin.set_message(m.to_string());
        tracing::debug!("{m}");
    })
    .await?;
    spin.finish_and_clear();
    let card = outcome.card;
    let out = crate::output::Output::open(&engine.stores, cfg, &crate::output::new_run_id())?;
    let (schema, batch) = card.metrics_batch()?;
    let staged = out.stage("model_metrics", &format!("model_version={}", card.version), &schema, &[batch]).await?;
    out.publish(vec![staged]).await?;
    print_card(&card);
    let p = card.promotion.as_ref().map(|p| p.reason.clone()).unwrap_or_default();
    stage.done(&format!(
        "model `{}` {} ({:?}): {}",
        card.version,
        if outcome.promoted { "is now current" } else { "was registered but not promoted" },
        card.kind,
        p
    ));
    Ok(card)
}

fn fmt(v: Option<f64>, digits: usize) -> String {
    v.map(|v| format!("{v:.digits$}")).unwrap_or_else(|| "–".into())
}

pub fn print_card(card: &crate::model::card::Card) {
    println!(
        "model {}/{} ({:?}) on feature set {} ({}…)",
        card.name,
        card.version,
        card.kind,
        card.feature_set.version,
        &card.feature_set.hash[..12]
    );
    for (label, w) in [("train", &card.train), ("validation", &card.validation), ("test", &card.test)] {
        println!(
            "  {label:<10} {} → {}  {:>6} snapshot rows, {:>4} churned within the longest horizon ({} accounts), {:>4} expanded",
            w.from, w.to, w.rows, w.churn_positives, w.churned_accounts, w.expansion_positives
        );
    }
    println!("  test window        AUC  (rules)   PR-AUC (rules)   Brier   lift@10%  calib.err");
    for (t, m) in &card.metrics {
        let r = &m.rules;
        match &m.model {
            Some(mm) => println!(
                "  {t:<14} {:>7} ({:>5})   {:>6} ({:>5})   {:>6}   {:>7}   {:>8}",
                fmt(mm.auc, 3),
                fmt(r.auc, 3),
                fmt(mm.pr_auc, 3),
                fmt(r.pr_auc, 3),
                fmt(mm.brier, 4),
                fmt(mm.top_decile_lift, 2),
                fmt(mm.calibration_error, 3)
            ),
            None => println!("  {t:<14}   rules {:>5}            {:>5}", fmt(r.auc, 3), fmt(r.pr_auc, 3)),
        }
    }
    if let Some(t) = &card.tiers {
        println!("  tiers: red below {:.1}, yellow below {:.1} ({})", t.cutoffs.red_below, t.cutoffs.yellow_below, t.method);
    }
    if let Some(h) = &card.health {
        let max_h = card.horizons.iter().max().copied().unwrap_or(90);
        let rates = |c: &crate::model::card::HealthCheck| -> String {
            c.tiers
                .iter()
                .map(|t| match t.rate {
                    Some(r) => format!("{} {:.1} % of {}", t.tier, 100.0 * r, t.rows),
                    None => format!("{} (none)", t.tier),
                })
                .collect::<Vec<_>>()
                .join(", ")
        };
        println!("  health score on the test window   AUC {max_h} d   AUC by renewal   churned within {max_h} d, per tier");
        if let Some(m) = &h.model {
            println!("    model   {:>17}   {:>14}   {}", fmt(m.auc_horizon, 3), fmt(m.auc_by_renewal, 3), rates(m));
        }
        println!("    rules   {:>17}   {:>14}   {}", fmt(h.rules.auc_horizon, 3), fmt(h.rules.auc_by_renewal, 3), rates(&h.rules));
    }
    if !card.importance.is_empty() {
        let top: Vec<String> = card.importance.iter().take(8).map(|(f, _)| f.clone()).collect();
        println!("  top features by gain: {}", top.join(", "));
    }
    for w in &card.warnings {
        println!("  warning: {w}");
    }
}

/// Times a stage into the manifest and logs its summary line.
async fn timed<T, F: std::future::Future<Output = Result<T>>>(
    manifest: &mut crate::output::Manifest,
    name: &'static str,
    f: F,
    detail: impl FnOnce(&T) -> String,
) -> Result<T> {
    let stage = Stage::start(name);
    match f.await {
        Ok(v) => {
            let d = detail(&v);
            let secs = stage.done(&d).as_secs_f64();
            manifest.stages.push(crate::output::StageRecord { name: name.into(), status: "success".into(), seconds: secs, detail: d });
            Ok(v)
        }
        Err(e) => {
            manifest.stages.push(crate::output::StageRecord {
                name: name.into(),
                status: "error".into(),
                seconds: stage.elapsed().as_secs_f64(),
                detail: e.to_string(),
            });
            Err(e)
        }
    }
}

/// `score` and `run`: under the output lock, validate, score, write the
/// tables atomically and record the run; `run` then syncs.
pub async fn run_job(cfg: &Config, as_of: Option<NaiveDate>, command: &str) -> Result<crate::score::Scored> {
    let do_sync = command == "run" && !cfg.destinations.is_empty();
    let run_id = crate::output::new_run_id();
    let stores = crate::engine::store::Stores::new(cfg.storage.clone());
    let lock = crate::output::Lock::acquire(&stores, cfg, &run_id, command).await?;
    let out = crate::output::Output::open(&stores, cfg, &run_id)?;
    let mut manifest = crate::output::Manifest {
        run_id: run_id.clone(),
        command: command.into(),
        args: std::env::args().skip(1).collect(),
        started_at: chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
        ..Default::default()
    };
    let mut result = job_stages(cfg, as_of, &out, &mut manifest).await;
    if do_sync && let Ok(scored) = &result {
        let opts = crate::sync::Options::default();
        let synced = timed(&mut manifest, "sync", crate::sync::sync(cfg, &out, Some(scored.as_of), &opts), |d| match d {
            crate::sync::Done::Synced(r) => r.iter().map(|r| format!("{} {}", r.destination, r.status)).collect::<Vec<_>>().join(", "),
            _ => String::new(),
        })
        .await;
        let verdict = synced.and_then(|d| match d {
            crate::sync::Done::Synced(r) => {
                print_sync(&r);
                crate::sync::verdict(&r)
            }
            _ => Ok(()),
        });
        if let Err(e) = verdict {
            result = Err(e);
        }
    }
    manifest.finished_at = chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true);
    match &result {
        Ok(_) => manifest.status = "success".into(),
        Err(e) => {
            manifest.status = "error".into();
            manifest.error = Some(e.to_string());
        }
    }
    out.write_manifest(&manifest).await?;
    lock.release().await?;
    result
}

async fn job_stages(
    cfg: &Config,
    as_of: Option<NaiveDate>,
    out: &crate::output::Output,
    manifest: &mut crate::output::Manifest,
) -> Result<crate::score::Scored> {
    out.clean_staging().await?;
    let t = std::time::Instant::now();
    let engine = validate(cfg, false).await;
    manifest.stages.push(crate::output::StageRecord {
        name: "validate".into(),
        status: if engine.is_ok() { "success" } else { "error" }.into(),
        seconds: t.elapsed().as_secs_f64(),
        detail: engine.as_ref().err().map(|e| e.to_string()).unwrap_or_default(),
    });
    let engine = engine?;
    let as_of = as_of.unwrap_or(engine.export_date);
    manifest.as_of = Some(as_of.to_string());
    let (model, fs) = crate::score::current_model(&engine, cfg).await?;
    manifest.model_version = Some(format!("{}/{}", model.card.name, model.card.version));
    manifest.feature_set = Some(fs.version.clone());
    manifest.feature_hash = Some(fs.hash.clone());
    let mut scored = timed(manifest, "score", crate::score::score(&engine, cfg, &model, &fs, as_of), |s| {
        format!("{} accounts scored at {as_of} with {}", s.rows.len(), s.model_version)
    })
    .await?;
    crate::score::add_history(out, &mut scored).await?;
    let staged = timed(
        manifest,
        "write",
        async {
            let part = format!("as_of={as_of}");
            let (s1, b1) = crate::score::account_scores(&scored)?;
            let (s2, b2) = crate::score::score_drivers(&scored);
            let staged = vec![out.stage("account_scores", &part, &s1, &[b1]).await?, out.stage("score_drivers", &part, &s2, b2).await?];
            let records: Vec<crate::output::TableRecord> =
                staged.iter().map(|s| crate::output::TableRecord { table: s.table.clone(), partition: s.partition.clone(), rows: s.rows }).collect();
            out.publish(staged).await?;
            Ok(records)
        },
        |r| r.iter().map(|t| format!("{} {} rows", t.table, t.rows)).collect::<Vec<_>>().join(", "),
    )
    .await?;
    manifest.tables = staged;
    Ok(scored)
}

async fn demo(c: &Common) -> Result<ExitCode> {
    let cfg = Config::load(&c.config)?;
    let stores = crate::engine::store::Stores::new(cfg.storage.clone());
    let base = stores.blob(&cfg.warehouse)?;
    if base.child("accounts/").list().await?.is_empty() {
        let opts = crate::generate::Options { export_date: cfg.export_date.unwrap_or_else(crate::generate::default_export_date), ..Default::default() };
        let stage = Stage::start("generate");
        let bar = log::bar(opts.accounts as u64, "accounts");
        let s = crate::generate::generate(&stores, &cfg.warehouse, &opts, &|n| bar.set_position(n as u64)).await?;
        bar.finish_and_clear();
        stage.done(&format!("generated a sample company: {} accounts × {} months at {}", s.accounts, opts.months, cfg.warehouse));
    }
    let engine = validate(&cfg, true).await?;
    let card = train(&engine, &cfg, false, None).await?;
    let scored = run_job(&cfg, None, "demo").await?;
    // Reasons are only honest out of time: score 90 days before the export
    // with the same model (trained on earlier snapshots) and check the
    // planted causes of the accounts that then churned.
    let back = engine.export_date - chrono::Days::new(90);
    let (model, fs) = crate::score::current_model(&engine, &cfg).await?;
    let past = crate::score::score(&engine, &cfg, &model, &fs, back).await?;
    let fid = crate::generate::fidelity::check(&engine, &past, 90).await?;
    // the rules score's reasons on the same accounts, for comparison
    let rules_fid = if model.is_rules() {
        None
    } else {
        let rules = model.rules_twin();
        let past = crate::score::score(&engine, &cfg, &rules, &fs, back).await?;
        crate::generate::fidelity::check(&engine, &past, 90).await?
    };
    print_demo_summary(&cfg, &card, &scored, fid.as_ref(), rules_fid.as_ref(), back);
    Ok(ExitCode::SUCCESS)
}

fn money(v: f64) -> String {
    crate::features::render(crate::features::Unit::Currency, v)
}

fn print_demo_summary(
    cfg: &Config,
    card: &crate::model::card::Card,
    s: &crate::score::Scored,
    fid: Option<&crate::generate::fidelity::Fidelity>,
    rules_fid: Option<&crate::generate::fidelity::Fidelity>,
    back: NaiveDate,
) {
    let n = s.rows.len();
    let count = |t: &str| s.rows.iter().filter(|r| r.tier == t).count();
    let arr = |t: &str| s.rows.iter().filter(|r| r.tier == t).map(|r| r.arr).filter(|v| v.is_finite()).sum::<f64>();
    println!();
    println!("healthscore demo — {} accounts scored at {} with model {}", n, s.as_of, s.model_version);
    println!();
    for t in ["red", "yellow", "green"] {
        let c = count(t);
        println!("  {t:<7} {c:>6} accounts ({:>4.1}%)   ARR {:>14}", 100.0 * c as f64 / n.max(1) as f64, money(arr(t)));
    }
    let overridden = s.rows.iter().filter(|r| r.override_applied).count();
    if overridden > 0 {
        println!("  ({overridden} tiers set by a CSM override; the model's own tier is kept in `model_tier`)");
    }
    let k = s.horizons.iter().position(|h| *h == 90).unwrap_or(s.horizons.len() - 1);
    let mut risky: Vec<&crate::score::AccountScore> = s.rows.iter().filter(|r| r.arr.is_finite()).collect();
    risky.sort_by(|a, b| (b.arr * b.p_churn[k]).total_cmp(&(a.arr * a.p_churn[k])).then(a.account_id.cmp(&b.account_id)));
    println!();
    println!("The 10 riskiest accounts by ARR at risk (ARR × p_churn_{}d):", s.horizons[k]);
    for r in risky.iter().take(10) {
        println!(
            "  {:<11} {:<28} {:<11} health {:>5.1} {:<6} ARR {:>10}  p90 {:>5.1}%  at risk {:>9}",
            r.account_id,
            r.name.clone().unwrap_or_default().chars().take(28).collect::<String>(),
            r.segment,
            r.health,
            r.tier,
            money(r.arr),
            100.0 * r.p_churn[k],
            money(r.arr * r.p_churn[k])
        );
        for (_, why) in &r.risk {
            println!("      - {why}");
        }
        println!("      → {}", r.action);
    }
    let h = format!("churn_{}d", s.horizons[k]);
    if let Some(m) = card.metrics.get(&h) {
        println!();
        match &m.model {
            Some(mm) => println!(
                "Model {} on its test window ({} → {}): {h} AUC {} vs the rules baseline {} (PR-AUC {} vs {}), calibration error {}",
                card.version,
                card.test.from,
                card.test.to,
                fmt(mm.auc, 3),
                fmt(m.rules.auc, 3),
                fmt(mm.pr_auc, 3),
                fmt(m.rules.pr_auc, 3),
                fmt(mm.calibration_error, 3)
            ),
            None => println!("Cold start: scoring uses the rules score ({h} AUC on the test window {})", fmt(m.rules.auc, 3)),
        }
    }
    if let Some(hc) = &card.health {
        let rates = |c: &crate::model::card::HealthCheck| {
            c.tiers.iter().map(|t| format!("{} {}", t.tier, t.rate.map(|r| format!("{:.0}%", 100.0 * r)).unwrap_or_else(|| "(none)".into()))).collect::<Vec<_>>().join(", ")
        };
        if let Some(m) = &hc.model {
            println!(
                "Health score on the test window: AUC {} against churn within {} days (rules score {}); churned by tier: {} (rules score: {})",
                fmt(m.auc_horizon, 3),
                s.horizons.iter().max().unwrap_or(&90),
                fmt(hc.rules.auc_horizon, 3),
                rates(m),
                rates(&hc.rules)
            );
        }
    }
    if let Some(t) = &card.tiers {
        println!("Tiers: red below {:.1}, yellow below {:.1} — {}", t.cutoffs.red_below, t.cutoffs.yellow_below, t.method);
    }
    if let Some(f) = fid {
        let pct = |v: f64| format!("{:.0}%", 100.0 * v);
        println!(
            "Reason fidelity, scored at {back} (out of time): of {} accounts that churned within the next 90 days with a visible planted cause, \
             the cause's own features were the top risk reason for {} and among the top 3 for {} (reasons drawn at random: {} and {}); \
             healthy accounts given a cause as their top risk: {} per cause. Not judged: {} whose cause began less than {} days before, {} with no visible cause",
            f.judged,
            pct(f.rate(f.top1)),
            pct(f.rate(f.top3)),
            pct(f.random_top1 / f.judged.max(1) as f64),
            pct(f.random_top3 / f.judged.max(1) as f64),
            pct(f.false_alarm),
            f.not_yet,
            crate::generate::fidelity::VISIBLE_AFTER_DAYS,
            f.churners - f.judged - f.not_yet
        );
        if let Some(r) = rules_fid {
            println!(
                "  the rules score's reasons on the same accounts: top reason {}, top 3 {}, false alarms {} per cause",
                pct(r.rate(r.top1)),
                pct(r.rate(r.top3)),
                pct(r.false_alarm)
            );
        }
    }
    println!();
    println!("Tables under {}:", cfg.output);
    for t in ["account_scores", "score_drivers", "model_metrics"] {
        println!("  {}", cfg.output_table(t));
    }
    println!("  runs/ (one JSON manifest per run)   models: {}", cfg.models_dir.join(&format!("{}/", cfg.model_name)));
}

fn print_sync(reports: &[crate::sync::Report]) {
    for r in reports {
        let c = &r.counts;
        println!(
            "sync {}: {} — {} records: {} unchanged, {} sent, {} acknowledged, {} rejected, {} not delivered; {} requests, {} retried",
            r.destination, r.status, c.records, c.unchanged, c.sent, c.acknowledged, c.rejected, c.not_delivered, c.requests, c.retried
        );
        if !r.merged.is_empty() {
            let pairs: Vec<String> = r.merged.iter().take(5).map(|(a, b)| format!("{a} → {b}")).collect();
            println!("  {} records were merged in the CRM: the write landed on the surviving record ({}); update the key upstream", r.merged.len(), pairs.join(", "));
        }
        for x in r.rejections.iter().take(5) {
            println!("  rejected {} ({}): {} {}", x.key, x.account_id, x.code, x.message);
        }
    }
}

async fn sync(a: SyncArgs) -> Result<ExitCode> {
    let cfg = Config::load(&a.common.config)?;
    let run_id = crate::output::new_run_id();
    let stores = crate::engine::store::Stores::new(cfg.storage.clone());
    let opts = crate::sync::Options { dry_run: a.dry_run, setup: a.setup, full_resync: a.full_resync, force: a.force, destination: a.destination.clone() };
    let out = crate::output::Output::open(&stores, &cfg, &run_id)?;
    // a dry run reads only; everything else holds the run lock
    let lock = if a.dry_run { None } else { Some(crate::output::Lock::acquire(&stores, &cfg, &run_id, "sync").await?) };
    let done = crate::sync::sync(&cfg, &out, a.as_of, &opts).await;
    if let Some(l) = lock {
        l.release().await?;
    }
    match done? {
        crate::sync::Done::Plans(plans) => {
            if a.output == PlanFormat::Json {
                println!("{}", serde_json::to_string_pretty(&plans).map_err(|e| Error::other("plan", e))?);
            } else {
                for p in &plans {
                    println!(
                        "dry run {} (scores of {}): {} records → {} new, {} changed, {} unchanged; {} tier changes; {} without a key, {} duplicate keys",
                        p.destination, p.as_of, p.records, p.new, p.changed, p.unchanged, p.tier_changes, p.skipped_no_key, p.duplicate_keys
                    );
                    for (k, f, o, n) in &p.sample {
                        println!("  {k}  {f}: {:?} → {:?}", o, n);
                    }
                }
            }
            Ok(ExitCode::SUCCESS)
        }
        crate::sync::Done::Setup(reports) => {
            for (d, lines) in reports {
                for l in lines {
                    println!("{d}: {l}");
                }
            }
            Ok(ExitCode::SUCCESS)
        }
        crate::sync::Done::Synced(reports) => {
            print_sync(&reports);
            crate::sync::verdict(&reports)?;
            Ok(ExitCode::SUCCESS)
        }
    }
}

async fn backtest(a: BacktestArgs) -> Result<ExitCode> {
    use arrow::array::{ArrayRef, Float64Array, RecordBatch, StringArray, UInt64Array};
    use arrow::datatypes::{DataType, Field, Schema};
    use std::sync::Arc;
    let cfg = Config::load(&a.common.config)?;
    let engine = validate(&cfg, true).await?;
    let stage = Stage::start("backtest");
    let spin = log::spinner("backtest");
    let rows = crate::model::train::backtest(&engine, &cfg, a.origins, &|m| spin.set_message(m.to_string())).await?;
    spin.finish_and_clear();
    println!("origin      trained on                target       rows  pos   AUC (rules)    PR-AUC (rules)  Brier   calib.err");
    for r in &rows {
        println!(
            "{}  {} → {}  {:<11} {:>5} {:>4}  {:>5} ({:>5})  {:>6} ({:>5})   {:>6}  {:>6}",
            r.origin,
            r.train_from,
            r.train_to,
            r.target,
            r.model.rows,
            r.model.positives,
            fmt(r.model.auc, 3),
            fmt(r.rules.auc, 3),
            fmt(r.model.pr_auc, 3),
            fmt(r.rules.pr_auc, 3),
            fmt(r.model.brier, 4),
            fmt(r.model.calibration_error, 3)
        );
    }
    let s = |f: &dyn Fn(&crate::model::train::BacktestRow) -> String| Arc::new(StringArray::from(rows.iter().map(f).collect::<Vec<_>>())) as ArrayRef;
    let n = |f: &dyn Fn(&crate::model::train::BacktestRow) -> Option<f64>| Arc::new(Float64Array::from(rows.iter().map(f).collect::<Vec<_>>())) as ArrayRef;
    let u = |f: &dyn Fn(&crate::model::train::BacktestRow) -> usize| Arc::new(UInt64Array::from(rows.iter().map(|r| f(r) as u64).collect::<Vec<_>>())) as ArrayRef;
    let schema = Arc::new(Schema::new(vec![
        Field::new("origin", DataType::Utf8, false),
        Field::new("train_from", DataType::Utf8, false),
        Field::new("train_to", DataType::Utf8, false),
        Field::new("target", DataType::Utf8, false),
        Field::new("rows", DataType::UInt64, false),
        Field::new("positives", DataType::UInt64, false),
        Field::new("auc", DataType::Float64, true),
        Field::new("rules_auc", DataType::Float64, true),
        Field::new("pr_auc", DataType::Float64, true),
        Field::new("rules_pr_auc", DataType::Float64, true),
        Field::new("brier", DataType::Float64, true),
        Field::new("log_loss", DataType::Float64, true),
        Field::new("top_decile_lift", DataType::Float64, true),
        Field::new("calibration_error", DataType::Float64, true),
    ]));
    let batch = RecordBatch::try_new(
        schema.clone(),
        vec![
            s(&|r| r.origin.clone()),
            s(&|r| r.train_from.clone()),
            s(&|r| r.train_to.clone()),
            s(&|r| r.target.clone()),
            u(&|r| r.model.rows),
            u(&|r| r.model.positives),
            n(&|r| r.model.auc),
            n(&|r| r.rules.auc),
            n(&|r| r.model.pr_auc),
            n(&|r| r.rules.pr_auc),
            n(&|r| r.model.brier),
            n(&|r| r.model.log_loss),
            n(&|r| r.model.top_decile_lift),
            n(&|r| r.model.calibration_error),
        ],
    )
    .map_err(|e| Error::other("backtest table", e))?;
    let out = crate::output::Output::open(&engine.stores, &cfg, &crate::output::new_run_id())?;
    let staged = out.stage("backtest", &format!("run_id={}", out.run_id), &schema, &[batch]).await?;
    out.publish(vec![staged]).await?;
    stage.done(&format!("{} origins × {} targets written to {}", a.origins, rows.len() / a.origins.max(1), cfg.output_table("backtest")));
    Ok(ExitCode::SUCCESS)
}
