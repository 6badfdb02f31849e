//! Logs and progress: progress bars and plain lines on a terminal, one JSON
//! object per line otherwise (or with `--log-format json`), so a scheduler's
//! log collector gets structured records and a person gets something readable.
//!
//! Every stage ends with one summary line (`stage`, `secs` and its counts).

use std::io::IsTerminal;
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use indicatif::{ProgressBar, ProgressStyle};
use tracing_subscriber::EnvFilter;

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum LogFormat {
    /// Plain lines and progress bars (the default on a terminal).
    Human,
    /// One JSON object per line (the default otherwise).
    Json,
}

static FORMAT: OnceLock<LogFormat> = OnceLock::new();

pub fn format() -> LogFormat {
    *FORMAT.get().unwrap_or(&LogFormat::Json)
}

/// Installs the subscriber once; later calls are no-ops (tests call it often).
pub fn init(requested: Option<LogFormat>) {
    let fmt = requested.unwrap_or(if std::io::stderr().is_terminal() { LogFormat::Human } else { LogFormat::Json });
    if FORMAT.set(fmt).is_err() {
        return;
    }
    let filter = EnvFilter::try_from_env("HEALTHSCORE_LOG").unwrap_or_else(|_| EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr);
    let _ = match fmt {
        LogFormat::Json => builder.json().flatten_event(true).with_current_span(false).try_init(),
        LogFormat::Human => builder.without_time().with_target(false).compact().try_init(),
    };
}

/// A timed stage: `done` logs its summary line.
pub struct Stage {
    name: &'static str,
    start: Instant,
}

impl Stage {
    pub fn start(name: &'static str) -> Stage {
        tracing::debug!(stage = name, "started");
        Stage { name, start: Instant::now() }
    }

    pub fn elapsed(&self) -> Duration {
        self.start.elapsed()
    }

    pub fn done(&self, summary: &str) -> Duration {
        let secs = self.start.elapsed().as_secs_f64();
        tracing::info!(stage = self.name, secs = (secs * 1000.0).round() / 1000.0, "{summary}");
        self.start.elapsed()
    }
}

/// A progress bar on a terminal, nothing otherwise.
pub fn bar(len: u64, what: &str) -> ProgressBar {
    if format() == LogFormat::Human && std::io::stderr().is_terminal() {
        let pb = ProgressBar::new(len);
        pb.set_style(
            ProgressStyle::with_template("{spinner} {msg:12} [{bar:30}] {pos}/{len} ({eta})")
                .unwrap()
                .progress_chars("=> "),
        );
        pb.set_message(what.to_string());
        pb
    } else {
        ProgressBar::hidden()
    }
}

/// A spinner for a stage of unknown length, on a terminal.
pub fn spinner(what: &str) -> ProgressBar {
    if format() == LogFormat::Human && std::io::stderr().is_terminal() {
        let pb = ProgressBar::new_spinner();
        pb.set_message(what.to_string());
        pb.enable_steady_tick(Duration::from_millis(120));
        pb
    } else {
        ProgressBar::hidden()
    }
}
