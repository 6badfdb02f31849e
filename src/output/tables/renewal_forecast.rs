//! `renewal_forecast`: for finance, one row per account whose renewal falls
//! within the forecast window after `as_of` — its ARR up for renewal, the
//! chance it churns by then and what is expected to renew.

use arrow::array::RecordBatch;

use super::{build, col, dates, floats, texts, Table, Type};
use crate::error::Result;

pub const AS_OF: &str = "as_of";
pub const ACCOUNT_ID: &str = "account_id";
pub const CRM_ID: &str = "crm_id";
pub const SEGMENT: &str = "segment";
pub const OWNER: &str = "owner";
pub const RENEWAL_DATE: &str = "renewal_date";
pub const RENEWAL_MONTH: &str = "renewal_month";
pub const ARR: &str = "arr";
pub const P_CHURN_BY_RENEWAL: &str = "p_churn_by_renewal";
pub const P_EXPAND_BY_RENEWAL: &str = "p_expand_by_renewal";
pub const EXPECTED_CHANGE: &str = "expected_change";
pub const EXPECTED_ARR: &str = "expected_arr";
pub const ARR_AT_RISK: &str = "arr_at_risk";
pub const SAVE_PLAYBOOK: &str = "save_playbook";
pub const P_CHURN_WITH_SAVES: &str = "p_churn_with_saves";
pub const EXPECTED_ARR_WITH_SAVES: &str = "expected_arr_with_saves";
pub const HEALTH_SCORE: &str = "health_score";
pub const TIER: &str = "tier";
pub const TOP_RISK_REASON: &str = "top_risk_reason";

pub const TABLE: Table = Table {
    name: "renewal_forecast",
    partition: AS_OF,
    doc: "One row per account renewing within the forecast window: ARR up for renewal, the chance of churning by the renewal, and the ARR expected to renew.",
    columns: &[
        col(AS_OF, Type::Date, false, "The scoring date the forecast was made at."),
        col(ACCOUNT_ID, Type::Text, false, "The account's id in the export."),
        col(CRM_ID, Type::Text, true, "The account's CRM record id."),
        col(SEGMENT, Type::Text, false, "The account's segment at `as_of`."),
        col(OWNER, Type::Text, true, "The account owner (`accounts.owner_email`)."),
        col(RENEWAL_DATE, Type::Date, false, "The renewal date known at `as_of`."),
        col(RENEWAL_MONTH, Type::Text, false, "Its month, YYYY-MM."),
        col(ARR, Type::Float, false, "ARR up for renewal."),
        col(P_CHURN_BY_RENEWAL, Type::Float, false, "The churn probability from `as_of` through the renewal: 1 − Π(1 − h_k) over the 30-day intervals up to the one holding it."),
        col(P_EXPAND_BY_RENEWAL, Type::Float, true, "The expansion probability by the renewal: the expansion model's chance within its horizon, extended at the same rate (1 − (1 − p)^(days / horizon)); null for the rules score uncalibrated."),
        col(EXPECTED_CHANGE, Type::Float, false, "The ARR change expected when the account renews, as a share: Σ after / Σ before − 1 over the non-churn ARR moves (renewals, expansions, contractions) booked in the segment in the year before `as_of` (all segments when the segment has fewer than 30)."),
        col(EXPECTED_ARR, Type::Float, false, "ARR × (1 − p_churn_by_renewal) × (1 + expected_change): what is expected to renew, expansion and contraction counted."),
        col(ARR_AT_RISK, Type::Float, false, "ARR × p_churn_by_renewal."),
        col(SAVE_PLAYBOOK, Type::Text, true, "The scenario \"save plays succeed at the measured rate\": the playbook that alerted the account at `as_of` whose `effectiveness` says it helped (its largest measured reduction); null when none."),
        col(P_CHURN_WITH_SAVES, Type::Float, false, "p_churn_by_renewal × (1 − that playbook's measured churn reduction); the baseline when none."),
        col(EXPECTED_ARR_WITH_SAVES, Type::Float, false, "expected_arr under the saves scenario."),
        col(HEALTH_SCORE, Type::Float, false, "The account's health score at `as_of`."),
        col(TIER, Type::Text, false, "Its tier at `as_of`."),
        col(TOP_RISK_REASON, Type::Text, true, "Its strongest risk reason."),
    ],
};

#[derive(Debug, Clone, PartialEq)]
pub struct Row {
    pub account_id: String,
    pub crm_id: Option<String>,
    pub segment: String,
    pub owner: Option<String>,
    /// Days since 1970-01-01.
    pub renewal_date: i32,
    pub arr: f64,
    pub p_churn_by_renewal: f64,
    pub p_expand_by_renewal: Option<f64>,
    /// The ARR change share expected at a renewal (from the segment's moves).
    pub expected_change: f64,
    /// The saves scenario: the playbook and its measured churn reduction.
    pub save: Option<(String, f64)>,
    pub health_score: f64,
    pub tier: &'static str,
    pub top_risk_reason: Option<String>,
}

impl Row {
    pub fn renewal_month(&self) -> String {
        crate::dates::date(self.renewal_date).format("%Y-%m").to_string()
    }

    /// What is expected to renew: churn, then the expected move.
    pub fn expected_arr(&self) -> f64 {
        self.arr * (1.0 - self.p_churn_by_renewal) * (1.0 + self.expected_change)
    }

    /// ARR expected to renew before any move (gross retention's numerator).
    pub fn retained_arr(&self) -> f64 {
        self.arr * (1.0 - self.p_churn_by_renewal)
    }

    pub fn p_churn_with_saves(&self) -> f64 {
        self.p_churn_by_renewal * (1.0 - self.save.as_ref().map_or(0.0, |s| s.1))
    }

    pub fn expected_arr_with_saves(&self) -> f64 {
        self.arr * (1.0 - self.p_churn_with_saves()) * (1.0 + self.expected_change)
    }
}

pub fn batch(rows: &[Row], as_of: i32) -> Result<RecordBatch> {
    build(&TABLE, &[], 0, |c, _| {
        Some(match c {
            AS_OF => dates(rows, |_| Some(as_of)),
            ACCOUNT_ID => texts(rows, |r| Some(r.account_id.clone())),
            CRM_ID => texts(rows, |r| r.crm_id.clone()),
            SEGMENT => texts(rows, |r| Some(r.segment.clone())),
            OWNER => texts(rows, |r| r.owner.clone()),
            RENEWAL_DATE => dates(rows, |r| Some(r.renewal_date)),
            RENEWAL_MONTH => texts(rows, |r| Some(r.renewal_month())),
            ARR => floats(rows, |r| Some(r.arr)),
            P_CHURN_BY_RENEWAL => floats(rows, |r| Some(r.p_churn_by_renewal)),
            P_EXPAND_BY_RENEWAL => floats(rows, |r| r.p_expand_by_renewal),
            EXPECTED_CHANGE => floats(rows, |r| Some(r.expected_change)),
            EXPECTED_ARR => floats(rows, |r| Some(r.expected_arr())),
            ARR_AT_RISK => floats(rows, |r| Some(r.arr * r.p_churn_by_renewal)),
            SAVE_PLAYBOOK => texts(rows, |r| r.save.as_ref().map(|s| s.0.clone())),
            P_CHURN_WITH_SAVES => floats(rows, |r| Some(r.p_churn_with_saves())),
            EXPECTED_ARR_WITH_SAVES => floats(rows, |r| Some(r.expected_arr_with_saves())),
            HEALTH_SCORE => floats(rows, |r| Some(r.health_score)),
            TIER => texts(rows, |r| Some(r.tier.to_string())),
            TOP_RISK_REASON => texts(rows, |r| r.top_risk_reason.clone()),
            _ => return None,
        })
    })
}
