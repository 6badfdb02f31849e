//! `account_scores`: one row per account and scoring date — the health
//! score, tier, churn and expansion probabilities, reasons, the action, and
//! the override that set the tier, if any. What CRMs are synced from.

use arrow::array::RecordBatch;

use super::{bools, build, col, dates, floats, ints, text_lists, texts, Table, Type};
use crate::domain::Tier;
use crate::error::Result;

pub const ACCOUNT_ID: &str = "account_id";
pub const CRM_ID: &str = "crm_id";
pub const NAME: &str = "name";
pub const SEGMENT: &str = "segment";
pub const AS_OF: &str = "as_of";
pub const HEALTH_SCORE: &str = "health_score";
pub const TIER: &str = "tier";
pub const P_CHURN: &str = "p_churn_{h}d";
pub const P_EXPAND: &str = "p_expand_{e}d";
pub const P_CHURN_AT_RENEWAL: &str = "p_churn_at_renewal";
pub const SEGMENT_PERCENTILE: &str = "segment_percentile";
pub const SCORE_DELTA_7D: &str = "score_delta_7d";
pub const SCORE_DELTA_30D: &str = "score_delta_30d";
pub const DAYS_IN_TIER: &str = "days_in_tier";
pub const TOP_RISK_REASONS: &str = "top_risk_reasons";
pub const TOP_POSITIVE_REASONS: &str = "top_positive_reasons";
pub const RECOMMENDED_ACTION: &str = "recommended_action";
pub const MODEL_VERSION: &str = "model_version";
pub const OVERRIDE_APPLIED: &str = "override_applied";
pub const MODEL_HEALTH_SCORE: &str = "model_health_score";
pub const MODEL_TIER: &str = "model_tier";
pub const OVERRIDE_REASON: &str = "override_reason";
pub const OVERRIDE_AUTHOR: &str = "override_author";
pub const ARR: &str = "arr";
pub const RENEWAL_DATE: &str = "renewal_date";
pub const CARE_SEGMENT: &str = "care_segment";
pub const VIP: &str = "vip";
pub const WIN_BACK: &str = "win_back";
pub const EXPANSION_INTENT: &str = "expansion_intent";

/// What the care columns of one account say (`score::care::classify`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CareColumns {
    pub segment: CareSegment,
    pub vip: bool,
    /// Health fell by `win_back_drop_points` or more over 30 days.
    pub win_back: bool,
    /// Healthy, and near its seat limit or likely to expand.
    pub expansion_intent: bool,
}

/// Health × value, for programmes rather than accounts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CareSegment {
    VipRetention,
    Emergency,
    NurtureForExpansion,
    LowTouch,
}

impl CareSegment {
    pub fn as_str(self) -> &'static str {
        match self {
            CareSegment::VipRetention => "vip_retention",
            CareSegment::Emergency => "emergency",
            CareSegment::NurtureForExpansion => "nurture_for_expansion",
            CareSegment::LowTouch => "low_touch",
        }
    }
}

/// The churn probability column of horizon `h` days: `p_churn_90d`.
pub fn p_churn(h: u32) -> String {
    P_CHURN.replace("{h}", &h.to_string())
}

/// What kind of CRM field a column wants, whichever CRM.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FieldKind {
    /// red, yellow or green: a pick list.
    Tier,
    Flag,
    Day,
    Number,
    /// Sentences: a multi-line text field.
    Sentences,
    Text,
}

/// The CRM field kind for a column of this table (templated ones included).
pub fn field_kind(column: &str) -> FieldKind {
    if [TIER, MODEL_TIER].contains(&column) {
        return FieldKind::Tier;
    }
    if [TOP_RISK_REASONS, TOP_POSITIVE_REASONS, RECOMMENDED_ACTION, OVERRIDE_REASON].contains(&column) {
        return FieldKind::Sentences;
    }
    match TABLE.column(column).map(|c| c.ty) {
        Some(Type::Bool) => FieldKind::Flag,
        Some(Type::Date) => FieldKind::Day,
        Some(Type::Float | Type::Int | Type::Count) => FieldKind::Number,
        _ => FieldKind::Text,
    }
}

pub const TABLE: Table = Table {
    name: "account_scores",
    partition: AS_OF,
    doc: "One row per account scored at `as_of`: health, tier, churn and expansion probabilities, reasons and the recommended action.",
    columns: &[
        col(ACCOUNT_ID, Type::Text, false, "The account's id in the export."),
        col(CRM_ID, Type::Text, true, "The account's record id in the CRM, from `accounts.crm_id`."),
        col(NAME, Type::Text, true, "The account's name."),
        col(SEGMENT, Type::Text, true, "The account's segment, from `accounts.segment`."),
        col(AS_OF, Type::Date, false, "The scoring date: features read only data from before it."),
        col(HEALTH_SCORE, Type::Float, true, "0–100, higher is healthier: 100 × (1 − the churn risk were the renewal due now); a CSM override's score when one applies."),
        col(TIER, Type::Text, false, "red, yellow or green: the health score against the tier cut-offs, or a CSM override's tier."),
        col(P_CHURN, Type::Float, true, "Calibrated probability that the account churns within that many days of `as_of`."),
        col(P_EXPAND, Type::Float, true, "Calibrated probability that the account expands within that many days of `as_of`."),
        col(P_CHURN_AT_RENEWAL, Type::Float, true, "Calibrated churn probability were the renewal due mid-way through the next 30 days (null for the rules score)."),
        col(SEGMENT_PERCENTILE, Type::Float, true, "The percentile of the model's health score among accounts of the same segment."),
        col(SCORE_DELTA_7D, Type::Float, true, "Health score change since the newest published run 7–14 days earlier."),
        col(SCORE_DELTA_30D, Type::Float, true, "Health score change since the newest published run 30–60 days earlier."),
        col(DAYS_IN_TIER, Type::Int, true, "Days the account has been in its current tier, from earlier runs (0 when it just changed)."),
        col(TOP_RISK_REASONS, Type::TextList, false, "The features that raise the churn risk most, as sentences with the account's value and its segment's median."),
        col(TOP_POSITIVE_REASONS, Type::TextList, false, "The features that lower the churn risk most, as sentences."),
        col(RECOMMENDED_ACTION, Type::Text, false, "What the CSM should do next, from the top risk reason (or the expansion signal)."),
        col(MODEL_VERSION, Type::Text, false, "The model that scored the row: `<name>/<version>`, marked `(rules)` in a cold start."),
        col(OVERRIDE_APPLIED, Type::Bool, false, "Whether an unexpired CSM override set the tier or score."),
        col(MODEL_HEALTH_SCORE, Type::Float, true, "The model's own health score, before any override."),
        col(MODEL_TIER, Type::Text, false, "The model's own tier, before any override."),
        col(OVERRIDE_REASON, Type::Text, true, "The override's reason, when one applies."),
        col(OVERRIDE_AUTHOR, Type::Text, true, "Who wrote the override, when one applies."),
        col(ARR, Type::Float, true, "The account's annual recurring revenue: `accounts.arr` at the export's date; at an earlier `as_of`, the subscriptions running then (the `arr` feature)."),
        col(RENEWAL_DATE, Type::Date, true, "The account's next renewal date: `accounts.renewal_date` at the export's date; at an earlier `as_of`, from the subscription running then (`days_to_renewal`)."),
        col(CARE_SEGMENT, Type::Text, false, "vip_retention (a VIP not green), emergency (red), nurture_for_expansion (green and expanding) or low_touch; thresholds in `scoring.care`."),
        col(VIP, Type::Bool, false, "An audience: ARR at least `scoring.care.vip_arr_at_least`."),
        col(WIN_BACK, Type::Bool, false, "An audience: health fell at least `scoring.care.win_back_drop_points` over 30 days."),
        col(EXPANSION_INTENT, Type::Bool, false, "An audience: green, and near the seat limit or with p_expand at least `scoring.care.expansion_p_at_least`."),
    ],
};

/// One account's scores at `as_of`.
#[derive(Debug, Clone)]
pub struct Row {
    pub account_id: String,
    pub crm_id: Option<String>,
    pub name: Option<String>,
    pub segment: String,
    pub arr: f64,
    pub renewal_date: Option<i32>,
    pub health: f64,
    pub tier: Tier,
    pub model_health: f64,
    pub model_tier: Tier,
    /// One per churn horizon, in the card's order.
    pub p_churn: Vec<f64>,
    pub p_expand: f64,
    pub p_churn_at_renewal: Option<f64>,
    pub segment_percentile: f64,
    pub delta_7d: Option<f64>,
    pub delta_30d: Option<f64>,
    pub days_in_tier: Option<i64>,
    /// (feature, sentence), strongest first.
    pub risk: Vec<(String, String)>,
    pub positive: Vec<(String, String)>,
    pub action: String,
    pub override_applied: bool,
    pub override_reason: Option<String>,
    pub override_author: Option<String>,
    /// Calibrated churn hazard per 30-day interval (empty for rules; not stored).
    pub hazards: Vec<f64>,
    /// The tier of the previous published run, when there is one (not stored).
    pub previous_tier: Option<Tier>,
    /// The account owner's email from `accounts`, when the export has one (not stored).
    pub owner: Option<String>,
    /// The product areas used the month before and not in the last 30 days,
    /// as the export names them (not stored: the alert messages quote them).
    pub areas_stopped: Option<String>,
    /// Share of licensed seats in use, when the feature set has it (not stored).
    pub seat_utilization: Option<f64>,
    /// Set with the history (they read `score_delta_30d`).
    pub care: Option<CareColumns>,
}

/// The rows of one run as a batch: `as_of` (days since 1970-01-01), the
/// churn `horizons` of the `p_churn` values and the expansion horizon.
pub fn batch(rows: &[Row], as_of: i32, horizons: &[u32], expansion: u32, model_version: &str) -> Result<RecordBatch> {
    build(&TABLE, horizons, expansion, |c, name| {
        Some(match c {
            ACCOUNT_ID => texts(rows, |r| Some(r.account_id.clone())),
            CRM_ID => texts(rows, |r| r.crm_id.clone()),
            NAME => texts(rows, |r| r.name.clone()),
            SEGMENT => texts(rows, |r| Some(r.segment.clone())),
            AS_OF => dates(rows, |_| Some(as_of)),
            HEALTH_SCORE => floats(rows, |r| Some(r.health)),
            TIER => texts(rows, |r| Some(r.tier.to_string())),
            P_CHURN => {
                let k = horizons.iter().position(|h| name == p_churn(*h))?;
                floats(rows, |r| Some(r.p_churn[k]))
            }
            P_EXPAND => floats(rows, |r| Some(r.p_expand)),
            P_CHURN_AT_RENEWAL => floats(rows, |r| r.p_churn_at_renewal),
            SEGMENT_PERCENTILE => floats(rows, |r| Some(r.segment_percentile)),
            SCORE_DELTA_7D => floats(rows, |r| r.delta_7d),
            SCORE_DELTA_30D => floats(rows, |r| r.delta_30d),
            DAYS_IN_TIER => ints(rows, |r| r.days_in_tier),
            TOP_RISK_REASONS => text_lists(rows, |r| r.risk.iter().map(|(_, t)| t.as_str()).collect()),
            TOP_POSITIVE_REASONS => text_lists(rows, |r| r.positive.iter().map(|(_, t)| t.as_str()).collect()),
            RECOMMENDED_ACTION => texts(rows, |r| Some(r.action.clone())),
            MODEL_VERSION => texts(rows, |_| Some(model_version.to_string())),
            OVERRIDE_APPLIED => bools(rows, |r| r.override_applied),
            MODEL_HEALTH_SCORE => floats(rows, |r| Some(r.model_health)),
            MODEL_TIER => texts(rows, |r| Some(r.model_tier.to_string())),
            OVERRIDE_REASON => texts(rows, |r| r.override_reason.clone()),
            OVERRIDE_AUTHOR => texts(rows, |r| r.override_author.clone()),
            ARR => floats(rows, |r| Some(r.arr)),
            RENEWAL_DATE => dates(rows, |r| r.renewal_date),
            CARE_SEGMENT => texts(rows, |r| r.care.map(|c| c.segment.as_str().to_string())),
            VIP => bools(rows, |r| r.care.is_some_and(|c| c.vip)),
            WIN_BACK => bools(rows, |r| r.care.is_some_and(|c| c.win_back)),
            EXPANSION_INTENT => bools(rows, |r| r.care.is_some_and(|c| c.expansion_intent)),
            _ => return None,
        })
    })
}

/// What an earlier run said about one account (for deltas and days in tier).
#[derive(Debug, Clone, PartialEq)]
pub struct Earlier {
    pub health: f64,
    pub tier: Option<Tier>,
    pub days_in_tier: Option<i64>,
}

/// Reads a published partition back: account → what it said.
pub fn read_earlier(batches: &[RecordBatch]) -> Result<std::collections::HashMap<String, Earlier>> {
    let mut m = std::collections::HashMap::new();
    for b in batches {
        let ids = crate::columns::strings(b, ACCOUNT_ID)?;
        let h = crate::columns::floats(b, HEALTH_SCORE)?;
        let t = crate::columns::strings(b, TIER)?;
        let dit = crate::columns::floats(b, DAYS_IN_TIER)?;
        for i in 0..b.num_rows() {
            m.insert(
                ids[i].clone().unwrap_or_default(),
                Earlier { health: h[i], tier: t[i].as_deref().and_then(Tier::parse), days_in_tier: (!dit[i].is_nan()).then_some(dit[i] as i64) },
            );
        }
    }
    Ok(m)
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    pub(crate) fn row(id: &str) -> Row {
        Row {
            account_id: id.into(),
            crm_id: Some("c1".into()),
            name: None,
            segment: "smb".into(),
            arr: f64::NAN,
            renewal_date: Some(20_000),
            health: 61.5,
            tier: Tier::Yellow,
            model_health: 55.0,
            model_tier: Tier::Red,
            p_churn: vec![0.1, 0.2],
            p_expand: 0.05,
            p_churn_at_renewal: None,
            segment_percentile: 40.0,
            delta_7d: None,
            delta_30d: Some(-3.0),
            days_in_tier: Some(4),
            risk: vec![("logins_30d".into(), "Few logins".into())],
            positive: vec![],
            action: "Call".into(),
            override_applied: true,
            override_reason: Some("exec call".into()),
            override_author: Some("ana".into()),
            hazards: vec![],
            previous_tier: None,
            owner: None,
            areas_stopped: None,
            seat_utilization: None,
            care: Some(CareColumns { segment: CareSegment::LowTouch, vip: false, win_back: false, expansion_intent: false }),
        }
    }

    #[test]
    fn field_kinds_follow_the_column_types() {
        assert_eq!(field_kind(TIER), FieldKind::Tier);
        assert_eq!(field_kind("p_churn_60d"), FieldKind::Number);
        assert_eq!(field_kind(DAYS_IN_TIER), FieldKind::Number);
        assert_eq!(field_kind(OVERRIDE_APPLIED), FieldKind::Flag);
        assert_eq!(field_kind(RENEWAL_DATE), FieldKind::Day);
        assert_eq!(field_kind(TOP_RISK_REASONS), FieldKind::Sentences);
        assert_eq!(field_kind(CRM_ID), FieldKind::Text);
    }

    #[test]
    fn a_batch_follows_the_schema_and_round_trips_earlier_values() {
        let b = batch(&[row("a"), row("b")], 20_758, &[30, 90], 90, "churn/v2").unwrap();
        assert_eq!(b.schema(), TABLE.schema_for(&[30, 90], 90));
        assert_eq!(b.num_rows(), 2);
        let p90 = crate::columns::floats(&b, "p_churn_90d").unwrap();
        assert_eq!(p90[0], 0.2);
        // NaN ARR is stored as null, not as NaN
        assert!(b.column_by_name(ARR).unwrap().is_null(0));
        let earlier = read_earlier(&[b]).unwrap();
        assert_eq!(earlier["a"], Earlier { health: 61.5, tier: Some(Tier::Yellow), days_in_tier: Some(4) });
    }
}
