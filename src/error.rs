//! One error tree for the whole crate; the variant decides the exit code.
//!
//! Modules return `Error` (or convert into it with `?`). Messages are written
//! for the person running the job: lowercase, the table, file, column or
//! key in backticks, and what to do next. Secrets never enter a message:
//! the types that hold them redact themselves.

use std::fmt;

/// Every failure healthscore can report.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The config file is missing, unreadable, or has a bad or unknown key.
    #[error("config: {0}")]
    Config(String),
    /// The warehouse export breaks the input contract. Each entry is one line.
    #[error("{}", Problems(.0))]
    Input(Vec<String>),
    /// A user-facing refusal that is the input's or the setup's fault
    /// (a model built on another feature set, no trained model, …).
    #[error("{0}")]
    Usage(String),
    /// A CRM stopped us for the day; state is saved and a rerun resumes.
    #[error("{0}")]
    DailyLimit(String),
    /// The sync finished, but some records were rejected by the CRM.
    #[error("{0}")]
    Rejected(String),
    /// The export for the date asked for is not there yet (a scheduler's
    /// sensor or `skip_on_exit_code` acts on `code`, `scheduler.inputs_missing_exit_code`).
    #[error("{message}")]
    NotYet { message: String, code: u8 },
    /// Anything else: I/O, a query that failed, a library error.
    #[error("{context}: {source}")]
    Other {
        context: String,
        #[source]
        source: anyhow::Error,
    },
}

struct Problems<'a>(&'a [String]);

impl fmt::Display for Problems<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let n = self.0.len();
        write!(f, "the input has {n} problem{}:", if n == 1 { "" } else { "s" })?;
        for p in self.0 {
            write!(f, "\n  - {p}")?;
        }
        Ok(())
    }
}

impl Error {
    /// Exit codes are part of the command line's contract (see README).
    pub fn exit_code(&self) -> u8 {
        match self {
            Error::Config(_) | Error::Input(_) | Error::Usage(_) => 2,
            Error::Rejected(_) => 3,
            Error::DailyLimit(_) => 4,
            Error::NotYet { code, .. } => *code,
            Error::Other { .. } => 1,
        }
    }

    pub fn other(context: impl Into<String>, source: impl Into<anyhow::Error>) -> Self {
        Error::Other { context: context.into(), source: source.into() }
    }
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Attach a context naming what was being done to any library error.
pub trait Context<T> {
    fn context(self, what: impl Into<String>) -> Result<T>;
    fn with_context<S: Into<String>>(self, what: impl FnOnce() -> S) -> Result<T>;
}

impl<T, E: Into<anyhow::Error>> Context<T> for std::result::Result<T, E> {
    fn context(self, what: impl Into<String>) -> Result<T> {
        self.map_err(|e| Error::other(what, e))
    }
    fn with_context<S: Into<String>>(self, what: impl FnOnce() -> S) -> Result<T> {
        self.map_err(|e| Error::other(what(), e))
    }
}
