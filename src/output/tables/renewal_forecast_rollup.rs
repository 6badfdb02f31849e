//! `renewal_forecast_rollup`: `renewal_forecast` by renewal month × segment,
//! per month and in total (the SQL is `sql/outputs/v1/renewal_forecast_rollup.sql`),
//! with the P10/P50/P90 of the ARR that renews.

use arrow::array::RecordBatch;

use super::{build, col, counts, dates, floats, texts, Table, Type};
use crate::error::Result;

pub const AS_OF: &str = "as_of";
pub const RENEWAL_MONTH: &str = "renewal_month";
pub const SEGMENT: &str = "segment";
pub const ACCOUNTS: &str = "accounts";
pub const ARR: &str = "arr";
pub const EXPECTED_ARR: &str = "expected_arr";
pub const ARR_AT_RISK: &str = "arr_at_risk";
pub const GROSS_RETENTION: &str = "gross_retention";
pub const NET_RETENTION: &str = "net_retention";
pub const EXPECTED_ARR_WITH_SAVES: &str = "expected_arr_with_saves";
pub const RENEWED_P10: &str = "renewed_p10";
pub const RENEWED_P50: &str = "renewed_p50";
pub const RENEWED_P90: &str = "renewed_p90";

pub const TABLE: Table = Table {
    name: "renewal_forecast_rollup",
    partition: AS_OF,
    doc: "Renewals by month and segment (and `all`): ARR up for renewal, expected to renew, at risk, and the P10–P90 band of what renews.",
    columns: &[
        col(AS_OF, Type::Date, false, "The scoring date the forecast was made at."),
        col(RENEWAL_MONTH, Type::Text, false, "The renewal month, YYYY-MM, or `all`."),
        col(SEGMENT, Type::Text, false, "The segment, or `all`."),
        col(ACCOUNTS, Type::Count, false, "Accounts renewing."),
        col(ARR, Type::Float, false, "ARR up for renewal."),
        col(EXPECTED_ARR, Type::Float, false, "ARR expected to renew: the sum of the accounts' expected ARR (expansion and contraction counted)."),
        col(ARR_AT_RISK, Type::Float, false, "ARR expected to churn by the renewals."),
        col(GROSS_RETENTION, Type::Float, false, "Expected gross revenue retention: 1 − ARR at risk over ARR up for renewal (churn only)."),
        col(NET_RETENTION, Type::Float, false, "Expected net revenue retention: expected ARR over ARR up for renewal (churn, expansion and contraction)."),
        col(EXPECTED_ARR_WITH_SAVES, Type::Float, false, "Expected ARR in the scenario where the playbooks that helped save at their measured rate."),
        col(RENEWED_P10, Type::Float, false, "Renewed ARR exceeded in 90% of outcomes (each account renewing independently with a move drawn from its segment's history; 10,000 seeded draws)."),
        col(RENEWED_P50, Type::Float, false, "The median renewed ARR."),
        col(RENEWED_P90, Type::Float, false, "Renewed ARR exceeded in 10% of outcomes."),
    ],
};

#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct Row {
    pub renewal_month: String,
    pub segment: String,
    pub accounts: usize,
    pub arr: f64,
    pub expected_arr: f64,
    pub arr_at_risk: f64,
    pub gross_retention: f64,
    pub net_retention: f64,
    pub expected_arr_with_saves: f64,
    pub band: (f64, f64, f64),
}

pub fn batch(rows: &[Row], as_of: i32) -> Result<RecordBatch> {
    build(&TABLE, &[], 0, |c, _| {
        Some(match c {
            AS_OF => dates(rows, |_| Some(as_of)),
            RENEWAL_MONTH => texts(rows, |r| Some(r.renewal_month.clone())),
            SEGMENT => texts(rows, |r| Some(r.segment.clone())),
            ACCOUNTS => counts(rows, |r| r.accounts),
            ARR => floats(rows, |r| Some(r.arr)),
            EXPECTED_ARR => floats(rows, |r| Some(r.expected_arr)),
            ARR_AT_RISK => floats(rows, |r| Some(r.arr_at_risk)),
            GROSS_RETENTION => floats(rows, |r| Some(r.gross_retention)),
            NET_RETENTION => floats(rows, |r| Some(r.net_retention)),
            EXPECTED_ARR_WITH_SAVES => floats(rows, |r| Some(r.expected_arr_with_saves)),
            RENEWED_P10 => floats(rows, |r| Some(r.band.0)),
            RENEWED_P50 => floats(rows, |r| Some(r.band.1)),
            RENEWED_P90 => floats(rows, |r| Some(r.band.2)),
            _ => return None,
        })
    })
}

/// Reads rows back — a published partition, or the rollup SQL's own result,
/// which has no band yet (it is then NaN until the job draws it).
pub fn read(batches: &[RecordBatch]) -> Result<Vec<Row>> {
    use crate::columns::{floats, strings};
    let mut out = Vec::new();
    for b in batches {
        let (m, s) = (strings(b, RENEWAL_MONTH)?, strings(b, SEGMENT)?);
        let f = |c: &str| floats(b, c);
        let band = |c: &str| if b.column_by_name(c).is_some() { f(c) } else { Ok(vec![f64::NAN; b.num_rows()]) };
        let (n, arr, exp, risk, grr, p10, p50, p90) = (f(ACCOUNTS)?, f(ARR)?, f(EXPECTED_ARR)?, f(ARR_AT_RISK)?, f(GROSS_RETENTION)?, band(RENEWED_P10)?, band(RENEWED_P50)?, band(RENEWED_P90)?);
        let (nrr, saves) = (f(NET_RETENTION)?, f(EXPECTED_ARR_WITH_SAVES)?);
        for i in 0..b.num_rows() {
            out.push(Row {
                renewal_month: m[i].clone().unwrap_or_default(),
                segment: s[i].clone().unwrap_or_default(),
                accounts: n[i] as usize,
                arr: arr[i],
                expected_arr: exp[i],
                arr_at_risk: risk[i],
                gross_retention: grr[i],
                net_retention: nrr[i],
                expected_arr_with_saves: saves[i],
                band: (p10[i], p50[i], p90[i]),
            });
        }
    }
    Ok(out)
}
