//! The command line: clap's arguments, dispatch to `pipeline`, and printing
//! what it returns. Raw arguments become a validated config and options
//! before any work; `main` maps an error to its exit code and prints it once.

use std::path::PathBuf;
use std::process::ExitCode;

use chrono::NaiveDate;
use clap::{Args, Parser, Subcommand};

use crate::config::Config;
use crate::location::Location;
use crate::error::{Error, Result};
use crate::features::FeatureSet;
use crate::pipeline::{self, summary, Command, Snapshots};
use crate::log::{self, LogFormat};

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
    /// Whether each playbook's alerts helped: the accounts reached against the control group.
    Effectiveness(EffectivenessArgs),
    /// The renewal forecast for finance: the next six renewal months and the year's total.
    Forecast(ForecastArgs),
    /// One self-contained HTML page of the newest (or `--as-of`'s) scoring: who is at risk and why, the model, the money, drift.
    Report(ReportArgs),
    /// Score each date of a range (a history for a new install, or the days a
    /// scheduler missed); complete dates are skipped, so a rerun resumes.
    Backfill(BackfillArgs),
    /// Write a dbt `sources.yml` declaring the results tables, their columns and what each means.
    DbtSources(DbtSourcesArgs),
    /// Run a Ballista scheduler and its executors on this machine, in this
    /// process, until stopped: a cluster to try `engine.kind: ballista` on
    /// (a real one runs Ballista's own scheduler and executor binaries).
    #[cfg(feature = "ballista")]
    Cluster(ClusterArgs),
}

#[cfg(feature = "ballista")]
#[derive(Args, Debug)]
pub struct ClusterArgs {
    /// Executors to start.
    #[arg(long, default_value_t = 2)]
    pub executors: usize,
    /// Task slots per executor.
    #[arg(long, default_value_t = 1)]
    pub vcores: usize,
}

#[derive(Args, Debug)]
pub struct BackfillArgs {
    #[command(flatten)]
    pub common: Common,
    /// The first scoring date.
    #[arg(long)]
    pub from: NaiveDate,
    /// The last scoring date (default: the export date).
    #[arg(long)]
    pub to: Option<NaiveDate>,
    /// One scoring per day, week (from `--from`) or month (each 1st).
    #[arg(long, value_enum, default_value_t = pipeline::Every::Day)]
    pub every: pipeline::Every,
    /// Rescore dates that are already complete.
    #[arg(long)]
    pub force: bool,
}

#[derive(Args, Debug)]
pub struct DbtSourcesArgs {
    #[command(flatten)]
    pub common: Common,
    /// Where to write it (default: stdout), e.g. `models/sources/healthscore.yml`.
    #[arg(long)]
    pub out: Option<PathBuf>,
}

#[derive(Args, Debug)]
pub struct ReportArgs {
    #[command(flatten)]
    pub common: Common,
    /// The scoring date to report (default: the newest).
    #[arg(long)]
    pub as_of: Option<NaiveDate>,
    /// Where to write the page (default: `report-<as_of>.html` under a local `output.uri`).
    #[arg(long)]
    pub out: Option<std::path::PathBuf>,
}

#[derive(Args, Debug)]
pub struct ForecastArgs {
    #[command(flatten)]
    pub common: Common,
    /// The forecast made at this scoring date (default: the newest).
    #[arg(long)]
    pub as_of: Option<NaiveDate>,
    /// How many renewal months to print (with `--backtest`: how many months
    /// before the export the forecast is made).
    #[arg(long, default_value_t = 6)]
    pub months: usize,
    /// Make the forecast `--months` before the export with the current model
    /// and compare it with what renewed since.
    #[arg(long)]
    pub backtest: bool,
}

#[derive(Args, Debug)]
pub struct EffectivenessArgs {
    #[command(flatten)]
    pub common: Common,
    /// The oldest alert date to count (default: the oldest published).
    #[arg(long)]
    pub from: Option<NaiveDate>,
    /// The newest alert date to count (default: the newest published).
    #[arg(long)]
    pub to: Option<NaiveDate>,
    /// Matured units needed in each group before an effect is reported.
    #[arg(long, default_value_t = 30)]
    pub min_units: usize,
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
    /// The scoring date: features use data strictly before it (default: the
    /// export date). `--logical-date` is the same, for Airflow's `{{ ds }}`.
    #[arg(long, visible_alias = "logical-date")]
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
    /// The planted effect of the `pre-renewal-risk` save play: the share of
    /// an at-risk account's churn chance its outreach removes (0: none).
    #[arg(long, default_value_t = crate::generate::sim::PLANTED_EFFECT)]
    pub intervention_effect: f64,
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
        Cmd::Generate(a) => generate(a).await?,
        Cmd::Validate(a) => {
            let cfg = Config::load(&a.common.config)?;
            let engine = pipeline::validate(&cfg, true).await?;
            if a.profile {
                let fs = FeatureSet::load(&cfg.sql_dir, &cfg.feature_version)?;
                print!("{}", crate::features::profile(&engine, &fs).await?);
            }
        }
        Cmd::Features(a) => features(a).await?,
        #[cfg(feature = "ballista")]
        Cmd::Cluster(a) => {
            let addr = crate::engine::ballista::start_local(a.executors, a.vcores).await?;
            // the one line a script reads to find the scheduler
            println!("scheduler df://localhost:{} with {} executors of {} task slots", addr.port(), a.executors.max(1), a.vcores.max(1));
            tokio::signal::ctrl_c().await.map_err(|e| Error::other("waiting for Ctrl-C", e))?;
        }
        Cmd::Score(a) => {
            let cfg = Config::load(&a.common.config)?;
            let done = pipeline::score(&cfg, a.as_of, Command::Score).await?;
            xcom(&summary::xcom_scoring("score", &cfg, &done))?;
        }
        Cmd::Run(a) => {
            let cfg = Config::load(&a.common.config)?;
            let done = pipeline::score(&cfg, a.as_of, Command::Run).await?;
            print!("{}", summary::sync_text(&done.synced));
            xcom(&summary::xcom_scoring("run", &cfg, &done))?;
            crate::sync::verdict(&done.synced)?;
        }
        Cmd::Backfill(a) => {
            let cfg = Config::load(&a.common.config)?;
            let done = pipeline::backfill(&cfg, a.from, a.to, a.every, a.force).await?;
            print!("{}", summary::backfill_text(&done));
            xcom(&summary::xcom_backfill(&done))?;
        }
        Cmd::DbtSources(a) => {
            let cfg = Config::load(&a.common.config)?;
            let yml = crate::stack::dbt::sources_yml(&cfg)?;
            match &a.out {
                Some(p) => {
                    std::fs::write(p, yml).map_err(|e| Error::Usage(format!("cannot write `{}`: {e}", p.display())))?;
                    println!("sources written to {}", p.display());
                }
                None => print!("{yml}"),
            }
        }
        Cmd::Demo(c) => {
            let cfg = Config::load(&c.config)?;
            let demo = pipeline::demo(&cfg).await?;
            print!("{}", summary::card_text(&demo.card));
            print!("{}", demo.text());
        }
        Cmd::Sync(a) => sync(a).await?,
        Cmd::Backtest(a) => {
            let cfg = Config::load(&a.common.config)?;
            let rows = pipeline::backtest(&cfg, a.origins).await?;
            print!("{}", summary::backtest_text(&rows));
        }
        Cmd::Forecast(a) if a.backtest => {
            let cfg = Config::load(&a.common.config)?;
            let b = pipeline::forecast_backtest(&cfg, a.months.clamp(1, 24) as u32).await?;
            print!("{}", summary::forecast_backtest_text(&b));
        }
        Cmd::Forecast(a) => {
            let cfg = Config::load(&a.common.config)?;
            let (as_of, rows) = pipeline::forecast(&cfg, a.as_of).await?;
            print!("{}", summary::forecast_text(as_of, &rows, a.months, cfg.forecast_window_days));
        }
        Cmd::Report(a) => {
            let cfg = Config::load(&a.common.config)?;
            let path = pipeline::report(&cfg, a.as_of, a.out.clone()).await?;
            println!("report written to {}", path.display());
        }
        Cmd::Effectiveness(a) => {
            let cfg = Config::load(&a.common.config)?;
            let rows = pipeline::effectiveness(&cfg, a.from, a.to, a.min_units.max(1)).await?;
            print!("{}", summary::effectiveness_text(&rows));
        }
        Cmd::Train(a) => {
            let cfg = Config::load(&a.common.config)?;
            let card = pipeline::train(&cfg, a.force, a.export_frame.as_deref()).await?;
            print!("{}", summary::card_text(&card));
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// The summary for Airflow: `return.json` in the XCom folder when there is
/// one, else stdout's last line.
fn xcom(summary: &impl serde::Serialize) -> Result<()> {
    match crate::stack::xcom::push(summary)? {
        crate::stack::xcom::Pushed::Line(l) => println!("{l}"),
        crate::stack::xcom::Pushed::File(p) => tracing::info!("the run's summary is in {} (Airflow's XCom)", p.display()),
    }
    Ok(())
}

async fn generate(a: GenerateArgs) -> Result<()> {
    let cwd = std::env::current_dir().map_err(|e| Error::other("current folder", e))?;
    let out = Location::parse(&a.out, &cwd, "--out")?;
    let opts = crate::generate::Options {
        seed: a.seed,
        accounts: a.accounts,
        months: a.months,
        export_date: a.export_date.unwrap_or_else(crate::generate::default_export_date),
        intervention_effect: a.intervention_effect,
    };
    if !(0.0..=1.0).contains(&opts.intervention_effect) {
        return Err(Error::Usage(format!("`--intervention-effect` {} must be between 0 and 1", opts.intervention_effect)));
    }
    pipeline::generate(&out, &opts).await.map(|_| ())
}

async fn features(a: FeaturesArgs) -> Result<()> {
    let cfg = Config::load(&a.common.config)?;
    let snapshots = match a.snapshots.as_deref() {
        None => Snapshots::One(a.as_of),
        Some("monthly") => Snapshots::Monthly { from: a.from.ok_or_else(|| Error::Usage("`--snapshots monthly` needs `--from`".into()))?, to: a.to },
        Some(other) => return Err(Error::Usage(format!("`--snapshots {other}`: only `monthly` is supported"))),
    };
    if a.explain {
        for line in pipeline::explain_features(&cfg, &snapshots).await? {
            println!("{line}");
        }
        return Ok(());
    }
    let t = pipeline::features(&cfg, &snapshots).await?;
    if let Some(first) = t.batches.first().filter(|b| b.num_rows() > 0) {
        let show = arrow::util::pretty::pretty_format_batches(&[first.slice(0, first.num_rows().min(5))]).map_err(|e| Error::other("printing", e))?;
        println!("{show}");
    }
    println!("feature table: {}as_of=…/", t.location);
    Ok(())
}

async fn sync(a: SyncArgs) -> Result<()> {
    let cfg = Config::load(&a.common.config)?;
    let opts = crate::sync::Options { dry_run: a.dry_run, setup: a.setup, full_resync: a.full_resync, force: a.force, destination: a.destination.clone() };
    match pipeline::sync(&cfg, a.as_of, &opts).await? {
        crate::sync::Done::Plans(plans) => {
            if a.output == PlanFormat::Json {
                println!("{}", serde_json::to_string_pretty(&plans).map_err(|e| Error::other("plan", e))?);
            } else {
                print!("{}", summary::plans_text(&plans));
            }
        }
        crate::sync::Done::Setup(reports) => {
            for (d, lines) in reports {
                for l in lines {
                    println!("{d}: {l}");
                }
            }
        }
        crate::sync::Done::Synced(reports) => {
            print!("{}", summary::sync_text(&reports));
            crate::sync::verdict(&reports)?;
        }
    }
    Ok(())
}
