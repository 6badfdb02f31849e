//! The input contract: the one place that knows the export's tables and columns.
//!
//! Everything else (config validation, `validate`, registration, the staging
//! SQL) reads this list. A column has a logical kind; the engine casts what
//! the export holds (Utf8 or Utf8View, Date32 or Timestamp with any unit or
//! zone, any integer width) to the kind, so the SQL sees one type per column.

/// How a column is typed once registered.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// Text. Integer ids are accepted and cast to text.
    Str,
    /// Any number, read as Float64.
    Num,
    Bool,
    /// A day (Date32). A timestamp is accepted and truncated to its UTC day.
    Date,
    /// An instant (Timestamp µs, UTC). A date is accepted as its midnight.
    Time,
}

impl Kind {
    pub fn describe(self) -> &'static str {
        match self {
            Kind::Str => "a string",
            Kind::Num => "a number",
            Kind::Bool => "a boolean",
            Kind::Date => "a date or timestamp",
            Kind::Time => "a timestamp or date",
        }
    }
}

#[derive(Debug, Clone, Copy)]
pub struct Column {
    pub name: &'static str,
    pub kind: Kind,
    /// Must be present in the export. Absent optional columns read as null.
    pub required: bool,
    /// Nulls are allowed.
    pub nullable: bool,
    /// An event time: a value after the export day is an error. Renewal,
    /// due, end and expiry dates are future by nature and are not.
    pub event_time: bool,
}

#[derive(Debug)]
pub struct Table {
    pub name: &'static str,
    /// Needed by every run (`accounts`, `usage`).
    pub required: bool,
    /// A column that must be unique and non-null.
    pub key: Option<&'static str>,
    pub columns: &'static [Column],
    pub about: &'static str,
}

impl Table {
    pub fn column(&self, name: &str) -> Option<&Column> {
        self.columns.iter().find(|c| c.name == name)
    }
}

const fn col(name: &'static str, kind: Kind) -> Column {
    Column { name, kind, required: true, nullable: true, event_time: false }
}
const fn key(name: &'static str) -> Column {
    Column { name, kind: Kind::Str, required: true, nullable: false, event_time: false }
}
const fn event(name: &'static str, kind: Kind) -> Column {
    Column { name, kind, required: true, nullable: false, event_time: true }
}
const fn opt(name: &'static str, kind: Kind) -> Column {
    Column { name, kind, required: false, nullable: true, event_time: false }
}

use Kind::*;

pub static TABLES: &[Table] = &[
    Table {
        name: "accounts",
        required: true,
        key: Some("account_id"),
        about: "today's snapshot of every customer account",
        columns: &[
            key("account_id"),
            col("name", Str),
            col("segment", Str),
            col("industry", Str),
            col("plan", Str),
            col("seats_licensed", Num),
            col("arr", Num),
            col("contract_start", Date),
            col("renewal_date", Date),
            opt("owner_email", Str),
            col("crm_id", Str),
        ],
    },
    Table {
        name: "usage",
        required: true,
        key: None,
        about: "daily product usage per user and feature (or raw events)",
        columns: &[
            key("account_id"),
            opt("user_id", Str),
            event("date", Date),
            col("feature", Str),
            // absent in a raw event table: each row then counts as one event
            opt("events", Num),
        ],
    },
    Table {
        name: "tickets",
        required: false,
        key: Some("ticket_id"),
        about: "support tickets",
        columns: &[
            key("ticket_id"),
            key("account_id"),
            event("created_at", Time),
            col("resolved_at", Time),
            col("priority", Str),
            col("status", Str),
            opt("csat", Num),
            opt("subject", Str),
            opt("body", Str),
        ],
    },
    Table {
        name: "invoices",
        required: false,
        key: Some("invoice_id"),
        about: "invoices and their payment",
        columns: &[
            key("invoice_id"),
            key("account_id"),
            event("issued_at", Date),
            col("due_date", Date),
            col("paid_at", Date),
            col("amount", Num),
        ],
    },
    Table {
        name: "nps",
        required: false,
        key: None,
        about: "NPS survey responses",
        columns: &[
            key("account_id"),
            opt("contact_id", Str),
            event("responded_at", Date),
            col("score", Num),
            opt("comment", Str),
        ],
    },
    Table {
        name: "activities",
        required: false,
        key: None,
        about: "CSM touches: emails, calls, meetings, QBRs",
        columns: &[
            key("account_id"),
            opt("contact_id", Str),
            event("occurred_at", Time),
            col("kind", Str),
            opt("direction", Str),
            // what an inbound email or note said (feature set v3 reads it)
            opt("body", Str),
        ],
    },
    Table {
        name: "contacts",
        required: false,
        key: Some("contact_id"),
        about: "people at the customer",
        columns: &[
            key("contact_id"),
            key("account_id"),
            opt("title", Str),
            opt("is_champion", Bool),
            opt("is_exec_sponsor", Bool),
            col("left_at", Date),
        ],
    },
    Table {
        name: "subscriptions",
        required: false,
        key: Some("subscription_id"),
        about: "billing history (point-in-time plan, seats, ARR)",
        columns: &[
            key("subscription_id"),
            key("account_id"),
            col("plan", Str),
            event("start_date", Date),
            col("end_date", Date),
            col("mrr", Num),
            col("seats", Num),
            opt("term_months", Num),
        ],
    },
    Table {
        name: "outcomes",
        required: false,
        key: None,
        about: "renewals, churns, expansions and contractions",
        columns: &[
            key("account_id"),
            event("event_date", Date),
            col("kind", Str),
            col("arr_before", Num),
            col("arr_after", Num),
        ],
    },
    Table {
        name: "account_history",
        required: false,
        key: None,
        about: "account attributes as they changed (segment, industry), for past snapshots",
        columns: &[key("account_id"), event("valid_from", Date), opt("segment", Str), opt("industry", Str)],
    },
    Table {
        name: "overrides",
        required: false,
        key: None,
        about: "CSM overrides of tier or score",
        columns: &[
            key("account_id"),
            opt("tier", Str),
            opt("score", Num),
            col("reason", Str),
            col("author", Str),
            event("created_at", Time),
            col("expires_at", Time),
        ],
    },
    Table {
        name: "external_signals",
        required: false,
        key: None,
        about: "what happened to the customer outside the product (funding, layoffs, a new leader…), from a news or firmographics vendor",
        columns: &[
            key("account_id"),
            event("occurred_at", Date),
            // funding, layoffs, leadership_change, acquisition, bankruptcy, hiring_surge, …
            col("kind", Str),
            // the size: dollars raised, share of staff laid off, …
            opt("magnitude", Num),
            opt("source", Str),
            opt("url", Str),
        ],
    },
    Table {
        name: "alert_feedback",
        required: false,
        key: None,
        about: "what CSMs said of the alerts they got: helpful or not (read by `effectiveness` only)",
        columns: &[key("alert_id"), col("helpful", Bool), opt("comment", Str), opt("author", Str)],
    },
];

/// Tables no scoring step reads (only a report does): their absence is
/// normal and not worth a warning on every run.
pub const REPORT_ONLY: &[&str] = &["alert_feedback"];

/// Outcome kinds the contract allows in `outcomes.kind`.
pub const OUTCOME_KINDS: &[&str] = &["renewed", "churned", "expanded", "contracted"];

pub fn table(name: &str) -> Option<&'static Table> {
    TABLES.iter().find(|t| t.name == name)
}

pub fn table_names() -> Vec<&'static str> {
    TABLES.iter().map(|t| t.name).collect()
}
