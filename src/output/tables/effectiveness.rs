//! `effectiveness`: per playbook, whether its alerts helped — the accounts
//! reached against the control group held out, by churn and expansion in
//! the 90 days after the first alert, with 95 % confidence intervals.

use arrow::array::RecordBatch;

use super::{build, col, counts, dates, floats, texts, Table, Type};
use crate::error::Result;

pub const AS_OF: &str = "as_of";
pub const PLAYBOOK: &str = "playbook";
pub const FROM: &str = "from_date";
pub const TREATED: &str = "treated";
pub const CONTROL: &str = "control";
pub const MATURING: &str = "maturing";
pub const TREATED_CHURNED: &str = "treated_churned";
pub const CONTROL_CHURNED: &str = "control_churned";
pub const CHURN_RATE_TREATED: &str = "churn_rate_treated";
pub const CHURN_RATE_CONTROL: &str = "churn_rate_control";
pub const CHURN_DIFFERENCE: &str = "churn_difference";
pub const CHURN_DIFFERENCE_LOW: &str = "churn_difference_low";
pub const CHURN_DIFFERENCE_HIGH: &str = "churn_difference_high";
pub const CHURN_REDUCTION: &str = "churn_reduction";
pub const CHURN_REDUCTION_LOW: &str = "churn_reduction_low";
pub const CHURN_REDUCTION_HIGH: &str = "churn_reduction_high";
pub const EXPANSION_RATE_TREATED: &str = "expansion_rate_treated";
pub const EXPANSION_RATE_CONTROL: &str = "expansion_rate_control";
pub const EXPANSION_DIFFERENCE: &str = "expansion_difference";
pub const EXPANSION_DIFFERENCE_LOW: &str = "expansion_difference_low";
pub const EXPANSION_DIFFERENCE_HIGH: &str = "expansion_difference_high";
pub const FEEDBACK: &str = "feedback";
pub const HELPFUL_SHARE: &str = "helpful_share";
pub const VERDICT: &str = "verdict";

pub const TABLE: Table = Table {
    name: "effectiveness",
    partition: AS_OF,
    doc: "One row per playbook: accounts its alerts reached against the control group held out, churn and expansion within 90 days, with 95% intervals.",
    columns: &[
        col(AS_OF, Type::Date, false, "The newest alert date counted (`--to`)."),
        col(PLAYBOOK, Type::Text, false, "The playbook."),
        col(FROM, Type::Date, false, "The oldest alert date counted (`--from`)."),
        col(TREATED, Type::Count, false, "Units (account × playbook × cohort) with an alert sent whose 90 days have passed."),
        col(CONTROL, Type::Count, false, "Units held out as the control group whose 90 days have passed."),
        col(MATURING, Type::Count, false, "Units whose 90 days have not passed by the export: not counted yet."),
        col(TREATED_CHURNED, Type::Count, false, "Treated units whose account churned within 90 days of the first alert."),
        col(CONTROL_CHURNED, Type::Count, false, "Control units whose account churned within 90 days."),
        col(CHURN_RATE_TREATED, Type::Float, true, "Churn rate of the treated units."),
        col(CHURN_RATE_CONTROL, Type::Float, true, "Churn rate of the control units."),
        col(CHURN_DIFFERENCE, Type::Float, true, "Treated minus control churn rate: negative means fewer churned."),
        col(CHURN_DIFFERENCE_LOW, Type::Float, true, "95% interval of the difference, low end (Newcombe's hybrid score interval)."),
        col(CHURN_DIFFERENCE_HIGH, Type::Float, true, "95% interval of the difference, high end."),
        col(CHURN_REDUCTION, Type::Float, true, "1 − treated / control churn rate: the share of churn the playbook prevented."),
        col(CHURN_REDUCTION_LOW, Type::Float, true, "95% interval of the reduction, low end (from the log risk ratio)."),
        col(CHURN_REDUCTION_HIGH, Type::Float, true, "95% interval of the reduction, high end."),
        col(EXPANSION_RATE_TREATED, Type::Float, true, "Expansion rate of the treated units within the expansion horizon."),
        col(EXPANSION_RATE_CONTROL, Type::Float, true, "Expansion rate of the control units."),
        col(EXPANSION_DIFFERENCE, Type::Float, true, "Treated minus control expansion rate."),
        col(EXPANSION_DIFFERENCE_LOW, Type::Float, true, "95% interval of the expansion difference, low end."),
        col(EXPANSION_DIFFERENCE_HIGH, Type::Float, true, "95% interval of the expansion difference, high end."),
        col(FEEDBACK, Type::Count, false, "Rows of `alert_feedback` about this playbook's alerts."),
        col(HELPFUL_SHARE, Type::Float, true, "Of them, the share marked helpful."),
        col(VERDICT, Type::Text, false, "In words: helped, harmed, no measurable effect, or not enough data yet."),
    ],
};

/// A rate difference and its 95 % interval.
#[derive(Debug, Clone, Copy, PartialEq, Default, serde::Serialize)]
pub struct Interval {
    pub value: f64,
    pub low: f64,
    pub high: f64,
}

#[derive(Debug, Clone, PartialEq, Default, serde::Serialize)]
pub struct Row {
    pub playbook: String,
    /// Days since 1970-01-01.
    pub from: i32,
    pub treated: usize,
    pub control: usize,
    pub maturing: usize,
    pub treated_churned: usize,
    pub control_churned: usize,
    pub treated_expanded: usize,
    pub control_expanded: usize,
    pub churn_difference: Option<Interval>,
    pub churn_reduction: Option<Interval>,
    pub expansion_difference: Option<Interval>,
    pub feedback: usize,
    pub helpful: usize,
    pub verdict: String,
}

fn rate(k: usize, n: usize) -> Option<f64> {
    (n > 0).then(|| k as f64 / n as f64)
}

pub fn batch(rows: &[Row], as_of: i32) -> Result<RecordBatch> {
    let part = |i: Option<Interval>, f: fn(Interval) -> f64| i.map(f);
    build(&TABLE, &[], 0, |c, _| {
        Some(match c {
            AS_OF => dates(rows, |_| Some(as_of)),
            PLAYBOOK => texts(rows, |r| Some(r.playbook.clone())),
            FROM => dates(rows, |r| Some(r.from)),
            TREATED => counts(rows, |r| r.treated),
            CONTROL => counts(rows, |r| r.control),
            MATURING => counts(rows, |r| r.maturing),
            TREATED_CHURNED => counts(rows, |r| r.treated_churned),
            CONTROL_CHURNED => counts(rows, |r| r.control_churned),
            CHURN_RATE_TREATED => floats(rows, |r| rate(r.treated_churned, r.treated)),
            CHURN_RATE_CONTROL => floats(rows, |r| rate(r.control_churned, r.control)),
            CHURN_DIFFERENCE => floats(rows, |r| part(r.churn_difference, |i| i.value)),
            CHURN_DIFFERENCE_LOW => floats(rows, |r| part(r.churn_difference, |i| i.low)),
            CHURN_DIFFERENCE_HIGH => floats(rows, |r| part(r.churn_difference, |i| i.high)),
            CHURN_REDUCTION => floats(rows, |r| part(r.churn_reduction, |i| i.value)),
            CHURN_REDUCTION_LOW => floats(rows, |r| part(r.churn_reduction, |i| i.low)),
            CHURN_REDUCTION_HIGH => floats(rows, |r| part(r.churn_reduction, |i| i.high)),
            EXPANSION_RATE_TREATED => floats(rows, |r| rate(r.treated_expanded, r.treated)),
            EXPANSION_RATE_CONTROL => floats(rows, |r| rate(r.control_expanded, r.control)),
            EXPANSION_DIFFERENCE => floats(rows, |r| part(r.expansion_difference, |i| i.value)),
            EXPANSION_DIFFERENCE_LOW => floats(rows, |r| part(r.expansion_difference, |i| i.low)),
            EXPANSION_DIFFERENCE_HIGH => floats(rows, |r| part(r.expansion_difference, |i| i.high)),
            FEEDBACK => counts(rows, |r| r.feedback),
            HELPFUL_SHARE => floats(rows, |r| rate(r.helpful, r.feedback)),
            VERDICT => texts(rows, |r| Some(r.verdict.clone())),
            _ => return None,
        })
    })
}

/// A playbook's measured churn reduction when its alerts helped (the
/// difference's interval below zero), for the forecast's saves scenario.
pub fn read_helped(batches: &[RecordBatch]) -> Result<std::collections::BTreeMap<String, f64>> {
    use crate::columns::{floats, strings};
    let mut out = std::collections::BTreeMap::new();
    for b in batches {
        let (p, red, high, v) = (strings(b, PLAYBOOK)?, floats(b, CHURN_REDUCTION)?, floats(b, CHURN_DIFFERENCE_HIGH)?, strings(b, VERDICT)?);
        for i in 0..b.num_rows() {
            let helped = high[i] < 0.0 && v[i].as_deref().is_some_and(|v| v.starts_with("helped"));
            if helped && red[i].is_finite() && red[i] > 0.0 {
                out.insert(p[i].clone().unwrap_or_default(), red[i].min(1.0));
            }
        }
    }
    Ok(out)
}
