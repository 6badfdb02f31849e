//! `alerts`: one row per account and playbook that fired at `as_of` — sent,
//! held out as a control, or suppressed, and then always saying why.

use arrow::array::RecordBatch;

use super::{bools, build, col, dates, floats, texts, Table, Type};
use crate::error::Result;

pub const ALERT_ID: &str = "alert_id";
pub const ACCOUNT_ID: &str = "account_id";
pub const CRM_ID: &str = "crm_id";
pub const ACCOUNT_NAME: &str = "account_name";
pub const OWNER: &str = "owner";
pub const AS_OF: &str = "as_of";
pub const PLAYBOOK: &str = "playbook";
pub const TRIGGER: &str = "trigger";
pub const SEVERITY: &str = "severity";
pub const ROUTE: &str = "route";
pub const PRIORITY: &str = "priority";
pub const MESSAGE: &str = "message";
pub const ACTION: &str = "action";
pub const ARR: &str = "arr";
pub const ARR_AT_RISK: &str = "arr_at_risk";
pub const P_CHURN_90D: &str = "p_churn_90d";
pub const CONTROL_GROUP: &str = "control_group";
pub const COHORT: &str = "cohort";
pub const SUPPRESSED_BY: &str = "suppressed_by";

pub const TABLE: Table = Table {
    name: "alerts",
    partition: AS_OF,
    doc: "One row per account and playbook that fired at `as_of`, with its route, priority and message, and why it was not sent when it was not.",
    columns: &[
        col(ALERT_ID, Type::Text, false, "Stable id of the alert: the same account, playbook and date give the same id on a rerun."),
        col(ACCOUNT_ID, Type::Text, false, "The account's id in the export."),
        col(CRM_ID, Type::Text, true, "The account's CRM record id: the record a task is attached to."),
        col(ACCOUNT_NAME, Type::Text, true, "The account's name."),
        col(OWNER, Type::Text, true, "The account owner (`accounts.owner_email`), when the export has one: whom a digest goes to."),
        col(AS_OF, Type::Date, false, "The scoring date the playbook fired at."),
        col(PLAYBOOK, Type::Text, false, "The playbook's name in the config."),
        col(TRIGGER, Type::Text, false, "What fired it, in words, with the account's values."),
        col(SEVERITY, Type::Text, false, "low, medium, high or critical, from the playbook."),
        col(ROUTE, Type::Text, false, "Who acts: csm, manager, executive, owner, automated (never above `human_arr_above` or in a strategic segment) or product_feedback (a healthy account's detractors)."),
        col(PRIORITY, Type::Float, false, "Revenue-weighted: ARR at risk for churn plays, ARR × p_expand for expansion."),
        col(MESSAGE, Type::Text, false, "The alert in the account's own terms: its reasons, values and renewal."),
        col(ACTION, Type::Text, false, "What to do, from the playbook."),
        col(ARR, Type::Float, true, "The account's ARR."),
        col(ARR_AT_RISK, Type::Float, true, "ARR × p_churn_90d."),
        col(P_CHURN_90D, Type::Float, true, "The churn probability within 90 days (the longest horizon when 90 is not modelled)."),
        col(CONTROL_GROUP, Type::Bool, false, "Held out to measure the playbook: never delivered."),
        col(COHORT, Type::Date, false, "The day the control group was drawn for: the account's next renewal within a year (held out until it), else `as_of`. `effectiveness` counts one unit per account, playbook and cohort."),
        col(SUPPRESSED_BY, Type::Text, true, "Why it is not sent: override, cooldown, below_confidence, control_group, cap or shadow; null when sent."),
    ],
};

/// Why an alert is not sent.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Suppression {
    /// An active CSM override: a person already owns the account's story.
    Override,
    /// The same playbook alerted this account within its cooldown.
    Cooldown,
    /// Automated outreach below the confidence threshold.
    BelowConfidence,
    /// Held out to measure the playbook.
    ControlGroup,
    /// More alerts for the account in 7 days than `cap_per_week`.
    Cap,
    /// Playbooks run in shadow until the live backtest shows the model
    /// calibrated: written, never delivered.
    Shadow,
}

impl Suppression {
    pub fn as_str(self) -> &'static str {
        match self {
            Suppression::Override => "override",
            Suppression::Cooldown => "cooldown",
            Suppression::BelowConfidence => "below_confidence",
            Suppression::ControlGroup => "control_group",
            Suppression::Cap => "cap",
            Suppression::Shadow => "shadow",
        }
    }

    pub fn parse(s: &str) -> Option<Suppression> {
        [Suppression::Override, Suppression::Cooldown, Suppression::BelowConfidence, Suppression::ControlGroup, Suppression::Cap, Suppression::Shadow].into_iter().find(|x| x.as_str() == s)
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct Row {
    pub alert_id: String,
    pub account_id: String,
    pub crm_id: Option<String>,
    pub account_name: Option<String>,
    pub owner: Option<String>,
    pub playbook: String,
    pub trigger: String,
    pub severity: &'static str,
    pub route: &'static str,
    /// Finite (0 when ARR or the probability is unknown): the column is not nullable.
    pub priority: f64,
    pub message: String,
    pub action: String,
    pub arr: f64,
    pub arr_at_risk: f64,
    pub p_churn_90d: f64,
    /// Days since 1970-01-01.
    pub cohort: i32,
    pub suppressed_by: Option<Suppression>,
}

impl Row {
    pub fn control_group(&self) -> bool {
        self.suppressed_by == Some(Suppression::ControlGroup)
    }
}

pub fn batch(rows: &[Row], as_of: i32) -> Result<RecordBatch> {
    build(&TABLE, &[], 0, |c, _| {
        Some(match c {
            ALERT_ID => texts(rows, |r| Some(r.alert_id.clone())),
            ACCOUNT_ID => texts(rows, |r| Some(r.account_id.clone())),
            CRM_ID => texts(rows, |r| r.crm_id.clone()),
            ACCOUNT_NAME => texts(rows, |r| r.account_name.clone()),
            OWNER => texts(rows, |r| r.owner.clone()),
            AS_OF => dates(rows, |_| Some(as_of)),
            PLAYBOOK => texts(rows, |r| Some(r.playbook.clone())),
            TRIGGER => texts(rows, |r| Some(r.trigger.clone())),
            SEVERITY => texts(rows, |r| Some(r.severity.to_string())),
            ROUTE => texts(rows, |r| Some(r.route.to_string())),
            PRIORITY => floats(rows, |r| Some(r.priority)),
            MESSAGE => texts(rows, |r| Some(r.message.clone())),
            ACTION => texts(rows, |r| Some(r.action.clone())),
            ARR => floats(rows, |r| Some(r.arr)),
            ARR_AT_RISK => floats(rows, |r| Some(r.arr_at_risk)),
            P_CHURN_90D => floats(rows, |r| Some(r.p_churn_90d)),
            CONTROL_GROUP => bools(rows, |r| r.control_group()),
            COHORT => dates(rows, |r| Some(r.cohort)),
            SUPPRESSED_BY => texts(rows, |r| r.suppressed_by.map(|s| s.as_str().to_string())),
            _ => return None,
        })
    })
}

/// An alert of an earlier run, as cooldown, the cap and `effectiveness` read it.
#[derive(Debug, Clone, PartialEq)]
pub struct Earlier {
    pub alert_id: String,
    pub account_id: String,
    pub playbook: String,
    /// Days since 1970-01-01.
    pub as_of: i32,
    pub cohort: i32,
    pub suppressed_by: Option<Suppression>,
}

pub fn read_earlier(batches: &[RecordBatch]) -> Result<Vec<Earlier>> {
    let mut out = Vec::new();
    for b in batches {
        let ids = crate::columns::strings(b, ACCOUNT_ID)?;
        let pb = crate::columns::strings(b, PLAYBOOK)?;
        let d = crate::columns::days(b, AS_OF)?;
        let s = crate::columns::strings(b, SUPPRESSED_BY)?;
        let alert = crate::columns::strings(b, ALERT_ID)?;
        // partitions written before the cohort was kept drew by month
        let cohort = if b.column_by_name(COHORT).is_some() { crate::columns::days(b, COHORT)? } else { d.clone() };
        for i in 0..b.num_rows() {
            out.push(Earlier {
                alert_id: alert[i].clone().unwrap_or_default(),
                account_id: ids[i].clone().unwrap_or_default(),
                playbook: pb[i].clone().unwrap_or_default(),
                as_of: d[i],
                cohort: cohort[i],
                suppressed_by: s[i].as_deref().and_then(Suppression::parse),
            });
        }
    }
    Ok(out)
}

/// An alert to deliver, as a destination reads it.
#[derive(Debug, Clone, PartialEq)]
pub struct Delivery {
    pub alert_id: String,
    pub account_id: String,
    pub crm_id: Option<String>,
    pub account_name: Option<String>,
    pub owner: Option<String>,
    /// Days since 1970-01-01.
    pub as_of: i32,
    pub playbook: String,
    pub severity: String,
    pub route: String,
    pub priority: f64,
    pub message: String,
    pub action: String,
    pub arr: f64,
}

/// The alerts of a partition that are to be sent (`suppressed_by` null:
/// never a control, a shadow or a suppressed one), highest priority first.
pub fn read_deliveries(batches: &[RecordBatch]) -> Result<Vec<Delivery>> {
    use crate::columns::{days, floats, strings};
    let mut out = Vec::new();
    for b in batches {
        let (id, acc, crm, name, owner) = (strings(b, ALERT_ID)?, strings(b, ACCOUNT_ID)?, strings(b, CRM_ID)?, strings(b, ACCOUNT_NAME)?, strings(b, OWNER)?);
        let (d, pb, sev, route) = (days(b, AS_OF)?, strings(b, PLAYBOOK)?, strings(b, SEVERITY)?, strings(b, ROUTE)?);
        let (prio, msg, action, arr, sup) = (floats(b, PRIORITY)?, strings(b, MESSAGE)?, strings(b, ACTION)?, floats(b, ARR)?, strings(b, SUPPRESSED_BY)?);
        for i in 0..b.num_rows() {
            if sup[i].is_some() {
                continue;
            }
            let s = |v: &[Option<String>]| v[i].clone().unwrap_or_default();
            out.push(Delivery {
                alert_id: s(&id),
                account_id: s(&acc),
                crm_id: crm[i].clone().filter(|c| !c.trim().is_empty()),
                account_name: name[i].clone(),
                owner: owner[i].clone().filter(|o| !o.trim().is_empty()),
                as_of: d[i],
                playbook: s(&pb),
                severity: s(&sev),
                route: s(&route),
                priority: prio[i],
                message: s(&msg),
                action: s(&action),
                arr: arr[i],
            });
        }
    }
    out.sort_by(|a, b| b.priority.total_cmp(&a.priority).then(a.alert_id.cmp(&b.alert_id)));
    Ok(out)
}
