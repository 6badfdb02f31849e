//! Commands: raw arguments become a validated config and options before any
//! work, each command returns `Result`, and `main` maps the error to an exit
//! code and prints it once.

use std::path::PathBuf;
use std::process::ExitCode;

use chrono::NaiveDate;
use clap::{Args, Parser, Subcommand};

use crate::config::{Config, Location};
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
    Validate(Common),
    /// Build the feature table for one date, or the training frame for many.
    Features(FeaturesArgs),
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
        Cmd::Validate(c) => {
            let cfg = Config::load(&c.config)?;
            validate(&cfg).await.map(|_| ExitCode::SUCCESS)
        }
        Cmd::Features(a) => features(a).await,
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

/// Opens the export and runs every contract check; prints warnings.
pub async fn validate(cfg: &Config) -> Result<Engine> {
    let stage = Stage::start("validate");
    let engine = Engine::open(cfg).await?;
    let report = crate::engine::validate::check(&engine).await?;
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
    let engine = validate(&cfg).await?;
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
    if rows > 0 {
        let show = arrow::util::pretty::pretty_format_batches(&[batches[0].slice(0, batches[0].num_rows().min(5))])
            .map_err(|e| Error::other("printing", e))?;
        println!("{show}");
    }
    Ok(ExitCode::SUCCESS)
}
