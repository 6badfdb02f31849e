//! `healthscore report`: one self-contained HTML file a CS leader opens
//! instead of a dashboard — who is at risk and why, how good the model is,
//! what pushes the portfolio down, the money, and whether the model still
//! holds. Read only: it reads the published tables and the model card.
//!
//! The page needs nothing at open: charts are SVG drawn by plotters and
//! inlined, styles and the few lines of script (sorting and filtering the
//! accounts table) are inline, fonts are the system's. Every tier is
//! written as a word beside its colour, and the page prints.

pub mod charts;

use std::collections::{BTreeMap, HashMap};

use arrow::array::{Array, AsArray, RecordBatch};
use chrono::NaiveDate;
use serde_json::{Value, json};

use crate::columns::{floats, strings};
use crate::error::{Error, Result};
use crate::features::{Unit, render};
use crate::model::card::Card;
use crate::output::Output;
use crate::output::tables::{account_scores as s, alerts, feature_drift, renewal_forecast, renewal_forecast_rollup, score_drivers};

/// The page's panels, by element id, in order.
pub const PANELS: &[&str] = &["headline", "riskiest", "model", "drivers", "money", "drift"];

/// Accounts listed in the riskiest panel.
pub const RISKIEST: usize = 50;

/// Earlier scorings a sparkline draws.
pub const TREND_POINTS: usize = 6;

const TEMPLATE: &str = include_str!("report.html");

fn money(v: f64) -> String {
    render(Unit::Currency, v)
}

fn pct(v: f64) -> String {
    format!("{:.1}%", 100.0 * v)
}

fn text_lists(b: &RecordBatch, name: &str) -> Result<Vec<Vec<String>>> {
    let a = b.column_by_name(name).ok_or_else(|| Error::other("reading results", anyhow::anyhow!("no column `{name}`")))?;
    let l = a.as_list::<i32>();
    Ok((0..l.len())
        .map(|i| {
            if l.is_null(i) {
                return vec![];
            }
            let v = l.value(i);
            let s = v.as_string::<i32>();
            (0..s.len()).filter(|j| !s.is_null(*j)).map(|j| s.value(j).to_string()).collect()
        })
        .collect())
}

/// One account as the report shows it.
#[derive(Debug, Clone)]
struct Account {
    id: String,
    name: String,
    segment: String,
    health: f64,
    tier: String,
    p90: f64,
    arr: f64,
    renewal: Option<i32>,
    reasons: Vec<String>,
    action: String,
}

fn accounts(batches: &[RecordBatch], churn: &str) -> Result<Vec<Account>> {
    let mut out = Vec::new();
    for b in batches {
        let (id, name, seg, tier, action) = (strings(b, s::ACCOUNT_ID)?, strings(b, s::NAME)?, strings(b, s::SEGMENT)?, strings(b, s::TIER)?, strings(b, s::RECOMMENDED_ACTION)?);
        let (health, p, arr) = (floats(b, s::HEALTH_SCORE)?, floats(b, churn)?, floats(b, s::ARR)?);
        let renewal: Option<Vec<Option<i32>>> = b.column_by_name(s::RENEWAL_DATE).and_then(|c| arrow::compute::cast(c, &arrow::datatypes::DataType::Date32).ok()).map(|c| {
            let d = c.as_primitive::<arrow::datatypes::Date32Type>().clone();
            (0..d.len()).map(|i| (!d.is_null(i)).then(|| d.value(i))).collect()
        });
        let reasons = text_lists(b, s::TOP_RISK_REASONS)?;
        for i in 0..b.num_rows() {
            let id = id[i].clone().unwrap_or_default();
            out.push(Account {
                name: name[i].clone().unwrap_or_else(|| id.clone()),
                id,
                segment: seg[i].clone().unwrap_or_default(),
                health: health[i],
                tier: tier[i].clone().unwrap_or_default(),
                p90: p[i],
                arr: arr[i],
                renewal: renewal.as_ref().and_then(|r| r[i]),
                reasons: reasons[i].clone(),
                action: action[i].clone().unwrap_or_default(),
            });
        }
    }
    Ok(out)
}

/// What the report reads: the scoring at `as_of` and what it can find beside it.
pub struct Inputs {
    pub as_of: NaiveDate,
    scores: Vec<Account>,
    previous: Option<(NaiveDate, HashMap<String, (f64, String)>)>,
    trend: HashMap<String, Vec<f64>>,
    owners: HashMap<String, String>,
    drivers: Vec<(String, String, f64)>,
    rollup: Vec<renewal_forecast_rollup::Row>,
    alerts: Vec<(String, String)>,
    drift: Vec<(String, f64, String)>,
    card: Option<Card>,
    groups: HashMap<String, String>,
    /// The live backtest's verdict, as the scoring run recorded it.
    pub live: Option<String>,
}

/// Reads the published tables for the report at `as_of` (default: the newest scoring).
pub async fn inputs(out: &Output, as_of: Option<NaiveDate>, card: Option<Card>, groups: HashMap<String, String>) -> Result<Inputs> {
    let t = &s::TABLE;
    let dates: Vec<NaiveDate> = out.partitions(t.name).await?.iter().filter_map(|p| t.partition_date(p)).collect();
    let as_of = match as_of {
        Some(d) if dates.contains(&d) => d,
        Some(d) => return Err(Error::Usage(format!("no `account_scores` partition at {d}: score that date first"))),
        None => *dates.iter().max().ok_or_else(|| Error::Usage("no scores yet: run `healthscore score` (or `run`) first".into()))?,
    };
    let read = |name: &'static str, d: NaiveDate| {
        let table = crate::output::tables::ALL.iter().find(|x| x.name == name).copied().unwrap();
        async move { out.read_partition(name, &table.partition(d)).await.map(|b| b.unwrap_or_default()) }
    };
    let horizon = card.as_ref().and_then(|c| c.horizons.iter().max().copied()).unwrap_or(90);
    let churn = s::P_CHURN.replace("{h}", &horizon.to_string());
    let scores = accounts(&read(t.name, as_of).await?, &churn)?;
    let earlier: Vec<NaiveDate> = {
        let mut e: Vec<NaiveDate> = dates.iter().copied().filter(|d| *d < as_of).collect();
        e.sort();
        e
    };
    let mut trend: HashMap<String, Vec<f64>> = HashMap::new();
    let mut previous = None;
    for d in earlier.iter().rev().take(TREND_POINTS - 1).rev() {
        let a = accounts(&read(t.name, *d).await?, &churn)?;
        if Some(d) == earlier.last() {
            previous = Some((*d, a.iter().map(|x| (x.id.clone(), (x.health, x.tier.clone()))).collect()));
        }
        for x in a {
            trend.entry(x.id).or_default().push(x.health);
        }
    }
    for x in &scores {
        trend.entry(x.id.clone()).or_default().push(x.health);
    }
    let mut owners = HashMap::new();
    for b in read(renewal_forecast::TABLE.name, as_of).await? {
        let (id, o) = (strings(&b, renewal_forecast::ACCOUNT_ID)?, strings(&b, renewal_forecast::OWNER)?);
        for i in 0..b.num_rows() {
            if let (Some(id), Some(o)) = (&id[i], &o[i]) {
                owners.insert(id.clone(), o.clone());
            }
        }
    }
    let segment: HashMap<&str, &str> = scores.iter().map(|a| (a.id.as_str(), a.segment.as_str())).collect();
    let mut drivers = Vec::new();
    for b in read(score_drivers::TABLE.name, as_of).await? {
        let (id, f, c) = (strings(&b, score_drivers::ACCOUNT_ID)?, strings(&b, score_drivers::FEATURE)?, floats(&b, score_drivers::CONTRIBUTION)?);
        for i in 0..b.num_rows() {
            if let (Some(id), Some(f)) = (&id[i], &f[i]) {
                if c[i].is_finite() {
                    drivers.push((segment.get(id.as_str()).unwrap_or(&"").to_string(), f.clone(), c[i]));
                }
            }
        }
    }
    let rollup = renewal_forecast_rollup::read(&read(renewal_forecast_rollup::TABLE.name, as_of).await?)?;
    let mut alert_rows = Vec::new();
    for b in read(alerts::TABLE.name, as_of).await? {
        let (p, sup) = (strings(&b, alerts::PLAYBOOK)?, strings(&b, alerts::SUPPRESSED_BY)?);
        for i in 0..b.num_rows() {
            alert_rows.push((p[i].clone().unwrap_or_default(), sup[i].clone().unwrap_or_else(|| "sent".into())));
        }
    }
    let mut drift = Vec::new();
    for b in read(feature_drift::TABLE.name, as_of).await? {
        let (f, p, st) = (strings(&b, feature_drift::FEATURE)?, floats(&b, feature_drift::PSI)?, strings(&b, feature_drift::STATUS)?);
        for i in 0..b.num_rows() {
            drift.push((f[i].clone().unwrap_or_default(), p[i], st[i].clone().unwrap_or_default()));
        }
    }
    Ok(Inputs { as_of, scores, previous, trend, owners, drivers, rollup, alerts: alert_rows, drift, card, groups, live: None })
}

/// Cumulative gains from a decile calibration table (riskiest decile last).
fn gains_curve(bins: &[crate::model::metrics::CalibrationBin]) -> Vec<(f64, f64)> {
    let total_rows: f64 = bins.iter().map(|b| b.rows as f64).sum();
    let total_pos: f64 = bins.iter().map(|b| b.rows as f64 * b.observed).sum();
    if total_rows <= 0.0 || total_pos <= 0.0 {
        return vec![];
    }
    let mut pts = vec![(0.0, 0.0)];
    let (mut r, mut p) = (0.0, 0.0);
    for b in bins.iter().rev() {
        r += b.rows as f64;
        p += b.rows as f64 * b.observed;
        pts.push((r / total_rows, p / total_pos));
    }
    pts
}

/// The page.
pub fn render_html(i: &Inputs) -> Result<String> {
    let tiers = ["red", "yellow", "green"];
    // headline
    let mut by_segment: BTreeMap<String, [usize; 3]> = BTreeMap::new();
    let mut arr_by_tier = [0.0; 3];
    for a in &i.scores {
        let k = tiers.iter().position(|t| *t == a.tier).unwrap_or(2);
        by_segment.entry(a.segment.clone()).or_default()[k] += 1;
        if a.arr.is_finite() {
            arr_by_tier[k] += a.arr;
        }
    }
    let segments: Vec<Value> = by_segment.iter().map(|(s, n)| json!({"segment": s, "red": n[0], "yellow": n[1], "green": n[2]})).collect();
    let (moved, drops, previous_date) = match &i.previous {
        Some((d, prev)) => {
            let moved = i.scores.iter().filter(|a| prev.get(&a.id).is_some_and(|p| p.1 != a.tier)).count();
            let mut drops: Vec<(f64, &Account)> = i.scores.iter().filter_map(|a| prev.get(&a.id).map(|p| (a.health - p.0, a))).filter(|(d, _)| *d < 0.0).collect();
            drops.sort_by(|x, y| x.0.total_cmp(&y.0));
            let drops: Vec<Value> = drops.iter().take(5).map(|(d, a)| json!({"name": a.name, "id": a.id, "drop": format!("{d:.1}"), "tier": a.tier})).collect();
            (Some(moved), drops, Some(d.to_string()))
        }
        None => (None, vec![], None),
    };
    // riskiest
    let mut risky: Vec<&Account> = i.scores.iter().filter(|a| a.arr.is_finite() && a.p90.is_finite()).collect();
    risky.sort_by(|x, y| (y.arr * y.p90).total_cmp(&(x.arr * x.p90)).then(x.id.cmp(&y.id)));
    let mut rows = Vec::new();
    for a in risky.iter().take(RISKIEST) {
        let trend = i.trend.get(&a.id).cloned().unwrap_or_default();
        rows.push(json!({
            "id": a.id, "name": a.name, "segment": a.segment, "health": format!("{:.1}", a.health), "tier": a.tier,
            "p90": pct(a.p90), "risk": money(a.arr * a.p90), "risk_value": a.arr * a.p90, "arr": money(a.arr),
            "renewal": a.renewal.map(|d| crate::dates::date(d).to_string()).unwrap_or_default(),
            "owner": i.owners.get(&a.id).cloned().unwrap_or_default(), "reasons": a.reasons, "action": a.action,
            "sparkline": charts::sparkline(&trend)?, "trend": trend.iter().map(|v| format!("{v:.0}")).collect::<Vec<_>>().join(" → "),
        }));
    }
    // model
    let mut model = json!(null);
    if let Some(c) = &i.card {
        let target = format!("churn_{}d", c.horizons.iter().max().copied().unwrap_or(90));
        let tm = c.metrics.get(&target);
        let curve = |m: Option<&crate::model::metrics::Metrics>| m.map(|m| m.calibration.iter().map(|b| (b.predicted, b.observed)).collect::<Vec<_>>()).unwrap_or_default();
        let (mm, rm) = (tm.and_then(|t| t.model.as_ref()), tm.map(|t| &t.rules));
        let num = |v: Option<f64>| v.map(|x| format!("{x:.3}")).unwrap_or_else(|| "—".into());
        let metric_rows: Vec<Value> = [("AUC", mm.and_then(|m| m.auc), rm.and_then(|m| m.auc)), ("PR-AUC", mm.and_then(|m| m.pr_auc), rm.and_then(|m| m.pr_auc)), ("Brier", mm.and_then(|m| m.brier), rm.and_then(|m| m.brier))]
            .iter()
            .map(|(n, a, b)| json!({"name": n, "model": num(*a), "rules": num(*b)}))
            .collect();
        let importance: Vec<(String, f64)> = c.importance.iter().take(12).cloned().collect();
        let health: Vec<Value> = c
            .health
            .as_ref()
            .and_then(|h| h.model.as_ref().or(Some(&h.rules)))
            .map(|h| h.tiers.iter().map(|t| json!({"tier": t.tier.as_str(), "rows": t.rows, "rate": t.rate.map(pct).unwrap_or_else(|| "—".into())})).collect())
            .unwrap_or_default();
        model = json!({
            "test_auc": mm.and_then(|m| m.auc).map(|a| format!("{a:.3}")),
            "version": format!("{}/{}", c.name, c.version), "kind": format!("{:?}", c.kind).to_lowercase(), "target": target,
            "test": format!("{} → {}", c.test.from, c.test.to), "metrics": metric_rows, "health": health,
            "calibration": charts::calibration(&curve(mm), &curve(rm))?,
            "gains": charts::gains(&mm.map(|m| gains_curve(&m.calibration)).unwrap_or_default(), &rm.map(|m| gains_curve(&m.calibration)).unwrap_or_default())?,
            "importance": charts::bars("What the churn model leans on (total gain)", &importance, &|v| format!("{v:.0}"))?,
        });
    }
    // drivers: SHAP summed by feature group, portfolio and per segment
    let mut by_group: BTreeMap<String, f64> = BTreeMap::new();
    let mut by_seg_group: BTreeMap<(String, String), f64> = BTreeMap::new();
    for (seg, f, c) in &i.drivers {
        let Some(g) = i.groups.get(f).cloned() else { continue };
        *by_group.entry(g.clone()).or_default() += c;
        *by_seg_group.entry((seg.clone(), g)).or_default() += c;
    }
    let mut groups: Vec<(String, f64)> = by_group.into_iter().collect();
    groups.sort_by(|a, b| b.1.total_cmp(&a.1));
    let seg_rows: Vec<Value> = {
        let mut m: BTreeMap<String, Vec<(String, f64)>> = BTreeMap::new();
        for ((s, g), v) in by_seg_group {
            m.entry(s).or_default().push((g, v));
        }
        m.into_iter()
            .map(|(s, mut v)| {
                v.sort_by(|a, b| b.1.total_cmp(&a.1));
                json!({"segment": s, "down": v.iter().filter(|x| x.1 > 0.0).take(3).map(|(g, x)| format!("{g} (+{x:.1})")).collect::<Vec<_>>().join(", ")})
            })
            .collect()
    };
    let drivers_chart = if groups.is_empty() { String::new() } else { charts::bars("Signals pushing churn risk up (+) or down (−), summed over accounts (log-odds)", &groups, &|v| format!("{v:+.1}"))? };
    // money
    let months: Vec<(String, f64)> = i.rollup.iter().filter(|r| r.segment == "all" && r.renewal_month != "all").map(|r| (r.renewal_month.clone(), r.arr_at_risk)).collect();
    let money_chart = if months.is_empty() { String::new() } else { charts::bars("ARR at risk by renewal month", &months, &|v| money(v))? };
    let total = i.rollup.iter().find(|r| r.segment == "all" && r.renewal_month == "all");
    let mut alert_counts: BTreeMap<(String, String), usize> = BTreeMap::new();
    for (p, s) in &i.alerts {
        *alert_counts.entry((p.clone(), s.clone())).or_default() += 1;
    }
    let alert_rows: Vec<Value> = alert_counts.iter().map(|((p, s), n)| json!({"playbook": p, "status": s, "count": n})).collect();
    // drift
    let drift_rows: Vec<Value> = i.drift.iter().map(|(f, p, s)| json!({"feature": f, "psi": format!("{p:.3}"), "status": s})).collect();
    let flagged: Vec<(String, f64)> = i.drift.iter().filter(|d| d.2 != "ok").map(|d| (d.0.clone(), d.1)).collect();
    let drift_chart = if flagged.is_empty() { String::new() } else { charts::bars("Inputs past the watch line (PSI)", &flagged, &|v| format!("{v:.2}"))? };

    let ctx = json!({
        "as_of": i.as_of.to_string(),
        "accounts": i.scores.len(),
        "segments": segments,
        "arr_by_tier": tiers.iter().zip(arr_by_tier).map(|(t, v)| json!({"tier": t, "arr": money(v)})).collect::<Vec<_>>(),
        "previous": previous_date, "moved": moved, "drops": drops,
        "riskiest": rows, "riskiest_n": RISKIEST,
        "model": model,
        "drivers_chart": drivers_chart, "drivers_segments": seg_rows,
        "money_chart": money_chart,
        "forecast_total": total.map(|t| json!({"accounts": t.accounts, "arr": money(t.arr), "expected": money(t.expected_arr), "at_risk": money(t.arr_at_risk), "grr": pct(t.gross_retention), "nrr": pct(t.net_retention), "p10": money(t.band.0), "p90": money(t.band.2)})),
        "alerts": alert_rows,
        "drift": drift_rows, "drift_chart": drift_chart,
        "live": i.live,
    });
    let mut env = minijinja::Environment::new();
    env.add_template("report.html", TEMPLATE).map_err(|e| Error::other("the report template", e))?;
    env.get_template("report.html").and_then(|t| t.render(ctx)).map_err(|e| Error::other("rendering the report", e))
}
