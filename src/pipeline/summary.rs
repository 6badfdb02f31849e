//! What the commands report, as values with renderers: `text()` for the
//! terminal, `json()` where a machine reads it. The report issue adds an
//! HTML renderer here without touching the commands.

use chrono::NaiveDate;
use serde::Serialize;

use crate::config::Config;
use crate::domain::{Target, Tier};
use crate::generate::fidelity::{Fidelity, VISIBLE_AFTER_DAYS};
use crate::model::card::{Card, HealthCheck};
use crate::output::tables::{self, account_scores, backtest::Row};
use crate::score::Scored;

/// `writeln!` into a String (which cannot fail).
macro_rules! out {
    ($o:expr) => {
        $o.push('\n')
    };
    ($o:expr, $($t:tt)*) => {{
        $o.push_str(&format!($($t)*));
        $o.push('\n');
    }};
}


fn fmt(v: Option<f64>, digits: usize) -> String {
    v.map(|v| format!("{v:.digits$}")).unwrap_or_else(|| "–".into())
}

/// The model card as `train` and `demo` print it.
pub fn card_text(card: &Card) -> String {
    let mut o = String::new();
    out!(
            o,
        "model {}/{} ({:?}) on feature set {} ({}…)",
        card.name,
        card.version,
        card.kind,
        card.feature_set.version,
        &card.feature_set.hash[..12]
    );
    for (label, w) in [("train", &card.train), ("validation", &card.validation), ("test", &card.test)] {
        out!(
            o,
            "  {label:<10} {} → {}  {:>6} snapshot rows, {:>4} churned within the longest horizon ({} accounts), {:>4} expanded",
            w.from, w.to, w.rows, w.churn_positives, w.churned_accounts, w.expansion_positives
        );
    }
    out!(o, "  test window        AUC  (rules)   PR-AUC (rules)   Brier   lift@10%  calib.err");
    for (t, m) in &card.metrics {
        let r = &m.rules;
        match &m.model {
            Some(mm) => out!(
            o,
                "  {t:<14} {:>7} ({:>5})   {:>6} ({:>5})   {:>6}   {:>7}   {:>8}",
                fmt(mm.auc, 3),
                fmt(r.auc, 3),
                fmt(mm.pr_auc, 3),
                fmt(r.pr_auc, 3),
                fmt(mm.brier, 4),
                fmt(mm.top_decile_lift, 2),
                fmt(mm.calibration_error, 3)
            ),
            None => out!(o, "  {t:<14}   rules {:>5}            {:>5}", fmt(r.auc, 3), fmt(r.pr_auc, 3)),
        }
    }
    if let Some(t) = &card.tiers {
        out!(o, "  tiers: red below {:.1}, yellow below {:.1} ({})", t.cutoffs.red_below, t.cutoffs.yellow_below, t.method);
    }
    if let Some(h) = &card.health {
        let max_h = card.horizons.iter().max().copied().unwrap_or(90);
        let rates = |c: &HealthCheck| -> String {
            c.tiers
                .iter()
                .map(|t| match t.rate {
                    Some(r) => format!("{} {:.1} % of {}", t.tier, 100.0 * r, t.rows),
                    None => format!("{} (none)", t.tier),
                })
                .collect::<Vec<_>>()
                .join(", ")
        };
        out!(o, "  health score on the test window   AUC {max_h} d   AUC by renewal   churned within {max_h} d, per tier");
        if let Some(m) = &h.model {
            out!(o, "    model   {:>17}   {:>14}   {}", fmt(m.auc_horizon, 3), fmt(m.auc_by_renewal, 3), rates(m));
        }
        out!(o, "    rules   {:>17}   {:>14}   {}", fmt(h.rules.auc_horizon, 3), fmt(h.rules.auc_by_renewal, 3), rates(&h.rules));
    }
    if !card.importance.is_empty() {
        let top: Vec<String> = card.importance.iter().take(8).map(|(f, _)| f.clone()).collect();
        out!(o, "  top features by gain: {}", top.join(", "));
    }
    for w in &card.warnings {
        out!(o, "  warning: {w}");
    }
    o
}


fn money(v: f64) -> String {
    crate::features::render(crate::features::Unit::Currency, v)
}

// ---- demo

/// One tier's share of the scored accounts.
#[derive(Debug, Clone, Serialize)]
pub struct TierLine {
    pub tier: Tier,
    pub accounts: usize,
    pub arr: f64,
}

/// One of the riskiest accounts by ARR at risk.
#[derive(Debug, Clone, Serialize)]
pub struct Risky {
    pub account_id: String,
    pub name: Option<String>,
    pub segment: String,
    pub health: f64,
    pub tier: Tier,
    pub arr: f64,
    pub p_churn: f64,
    pub reasons: Vec<String>,
    pub action: String,
}

/// Whether the playbooks ran in shadow (alerts written, none delivered), and why.
#[derive(Debug, Clone, Serialize)]
pub struct ShadowState {
    pub shadow: bool,
    pub why: String,
}

/// The alerts of a run, counted.
#[derive(Debug, Clone, Serialize, Default)]
pub struct AlertCounts {
    /// playbook → (to send, to send by route, held back by reason)
    pub by_playbook: Vec<(String, usize, Vec<(String, usize)>, Vec<(String, usize)>)>,
    /// The highest-priority alerts to send: (account, playbook, route, priority, message).
    pub top: Vec<(String, String, String, f64, String)>,
    /// No earlier run to compare with: triggers on a change (tier entered,
    /// score drop, days in a tier) fire from the next run on.
    pub first_run: bool,
    pub shadow: Option<ShadowState>,
}

impl AlertCounts {
    pub fn new(alerts: &[tables::alerts::Row], first_run: bool, shadow: Option<ShadowState>) -> AlertCounts {
        type Counts<'a> = std::collections::BTreeMap<&'a str, usize>;
        let mut by: std::collections::BTreeMap<&str, (usize, Counts, Counts)> = Default::default();
        for a in alerts {
            let e = by.entry(a.playbook.as_str()).or_default();
            match a.suppressed_by {
                None => {
                    e.0 += 1;
                    *e.1.entry(a.route).or_default() += 1;
                }
                Some(s) => *e.2.entry(s.as_str()).or_default() += 1,
            }
        }
        let list = |c: Counts| c.into_iter().map(|(k, n)| (k.to_string(), n)).collect::<Vec<_>>();
        // in shadow: the alerts that would be sent
        let sendable = |a: &&tables::alerts::Row| matches!(a.suppressed_by, None | Some(tables::alerts::Suppression::Shadow));
        let mut top: Vec<&tables::alerts::Row> = alerts.iter().filter(sendable).collect();
        top.sort_by(|a, b| b.priority.total_cmp(&a.priority).then(a.alert_id.cmp(&b.alert_id)));
        AlertCounts {
            by_playbook: by.into_iter().map(|(p, (n, routes, held))| (p.to_string(), n, list(routes), list(held))).collect(),
            top: top.iter().take(3).map(|a| (a.account_id.clone(), a.playbook.clone(), a.route.to_string(), a.priority, a.message.clone())).collect(),
            first_run,
            shadow,
        }
    }

    pub fn text(&self) -> String {
        let mut o = String::new();
        if self.by_playbook.is_empty() {
            return o;
        }
        out!(o);
        out!(o, "Alerts by playbook (to send; held back, and why):");
        match &self.shadow {
            Some(s) if s.shadow => out!(o, "  In shadow — alerts are written, nothing is delivered — until the live backtest shows the model calibrated: {}. `playbooks.shadow: false` delivers anyway.", s.why),
            Some(s) => out!(o, "  Live: {}.", s.why),
            None => {}
        }
        if self.first_run {
            out!(o, "  (the first scoring run: playbooks that compare with an earlier run — a tier entered, a score drop, days in a tier — fire from the next run on)");
        }
        for (p, n, routes, held) in &self.by_playbook {
            let to = if routes.len() > 1 { format!(" ({})", routes.iter().map(|(r, k)| format!("{k} {r}")).collect::<Vec<_>>().join(", ")) } else { String::new() };
            let held: Vec<String> = held.iter().map(|(s, k)| format!("{k} {s}")).collect();
            out!(o, "  {p:<22} {n:>5} to send{to}{}", if held.is_empty() { String::new() } else { format!("; held back: {}", held.join(", ")) });
        }
        if !self.top.is_empty() {
            out!(o, "{}", if self.shadow.as_ref().is_some_and(|s| s.shadow) { "The highest-priority alerts (that would be sent):" } else { "The highest-priority alerts:" });
            for (account, playbook, route, priority, message) in &self.top {
                out!(o, "  {account} · {playbook} → {route} (priority {}): {message}", money(*priority));
            }
        }
        o
    }
}

/// What `demo` shows: the scored population by tier, the riskiest
/// accounts, the model against the rules baseline, and how well the
/// reasons name the planted causes.
#[derive(Debug, Clone, Serialize)]
pub struct Demo {
    pub as_of: NaiveDate,
    pub model_version: String,
    pub accounts: usize,
    pub tiers: Vec<TierLine>,
    pub overridden: usize,
    /// The churn horizon ARR at risk is computed with.
    pub horizon: u32,
    pub horizons: Vec<u32>,
    pub riskiest: Vec<Risky>,
    pub card: Card,
    pub alerts: AlertCounts,
    pub fidelity: Option<Fidelity>,
    pub rules_fidelity: Option<Fidelity>,
    /// The date the fidelity check scored at.
    pub fidelity_as_of: NaiveDate,
    pub output: String,
    pub tables: Vec<String>,
    pub models: String,
    /// The renewal forecast's rollup at `as_of`.
    pub forecast: Vec<tables::renewal_forecast_rollup::Row>,
    pub forecast_window_days: i32,
    /// The HTML report the demo wrote.
    pub report: Option<std::path::PathBuf>,
}

impl Demo {
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        cfg: &Config,
        card: Card,
        s: &Scored,
        alerts: &[tables::alerts::Row],
        shadow: Option<ShadowState>,
        fidelity: Option<Fidelity>,
        rules_fidelity: Option<Fidelity>,
        back: NaiveDate,
    ) -> Demo {
        let tiers = Tier::ALL
            .into_iter()
            .map(|t| {
                let of = || s.rows.iter().filter(move |r| r.tier == t);
                TierLine { tier: t, accounts: of().count(), arr: of().map(|r| r.arr).filter(|v| v.is_finite()).sum::<f64>() }
            })
            .collect();
        let k = s.horizons.iter().position(|h| *h == 90).unwrap_or(s.horizons.len() - 1);
        let mut risky: Vec<&account_scores::Row> = s.rows.iter().filter(|r| r.arr.is_finite()).collect();
        risky.sort_by(|a, b| (b.arr * b.p_churn[k]).total_cmp(&(a.arr * a.p_churn[k])).then(a.account_id.cmp(&b.account_id)));
        let riskiest = risky
            .iter()
            .take(10)
            .map(|r| Risky {
                account_id: r.account_id.clone(),
                name: r.name.clone(),
                segment: r.segment.clone(),
                health: r.health,
                tier: r.tier,
                arr: r.arr,
                p_churn: r.p_churn[k],
                reasons: r.risk.iter().map(|(_, why)| why.clone()).collect(),
                action: r.action.clone(),
            })
            .collect();
        Demo {
            as_of: s.as_of,
            model_version: s.model_version.clone(),
            accounts: s.rows.len(),
            tiers,
            overridden: s.rows.iter().filter(|r| r.override_applied).count(),
            horizon: s.horizons[k],
            horizons: s.horizons.clone(),
            riskiest,
            card,
            alerts: AlertCounts::new(alerts, s.rows.iter().all(|r| r.previous_tier.is_none()), shadow),
            fidelity,
            rules_fidelity,
            fidelity_as_of: back,
            output: cfg.output.to_string(),
            tables: [tables::account_scores::TABLE.name, tables::score_drivers::TABLE.name, tables::model_metrics::TABLE.name, tables::renewal_forecast::TABLE.name, tables::renewal_forecast_rollup::TABLE.name, tables::feature_drift::TABLE.name]
                .iter()
                .chain((!alerts.is_empty()).then_some(&tables::alerts::TABLE.name))
                .map(|t| cfg.output_table(t).to_string())
                .collect(),
            models: cfg.models_dir.join(&format!("{}/", cfg.model_name)).to_string(),
            forecast: vec![],
            forecast_window_days: cfg.forecast_window_days,
            report: None,
        }
    }

    /// The summary as JSON (for a notebook or a CI check).
    pub fn json(&self) -> String {
        serde_json::to_string_pretty(self).expect("the summary serialises")
    }

    /// The summary as the terminal shows it.
    pub fn text(&self) -> String {
        let mut o = String::new();
        let n = self.accounts;
        out!(o);
        out!(o, "healthscore demo — {} accounts scored at {} with model {}", n, self.as_of, self.model_version);
        out!(o);
        for t in &self.tiers {
            out!(o, "  {:<7} {:>6} accounts ({:>4.1}%)   ARR {:>14}", t.tier.as_str(), t.accounts, 100.0 * t.accounts as f64 / n.max(1) as f64, money(t.arr));
        }
        if self.overridden > 0 {
            out!(o, "  ({} tiers set by a CSM override; the model's own tier is kept in `model_tier`)", self.overridden);
        }
        out!(o);
        out!(o, "The 10 riskiest accounts by ARR at risk (ARR × {}):", account_scores::p_churn(self.horizon));
        for r in &self.riskiest {
            out!(
                o,
                "  {:<11} {:<28} {:<11} health {:>5.1} {:<6} ARR {:>10}  p90 {:>5.1}%  at risk {:>9}",
                r.account_id,
                r.name.clone().unwrap_or_default().chars().take(28).collect::<String>(),
                r.segment,
                r.health,
                r.tier.as_str(),
                money(r.arr),
                100.0 * r.p_churn,
                money(r.arr * r.p_churn)
            );
            for why in &r.reasons {
                out!(o, "      - {why}");
            }
            out!(o, "      → {}", r.action);
        }
        let card = &self.card;
        let h = Target::Churn(self.horizon).name();
        if let Some(m) = card.metrics.get(&h) {
            out!(o);
            match &m.model {
                Some(mm) => out!(
                    o,
                    "Model {} on its test window ({} → {}): {h} AUC {} vs the rules baseline {} (PR-AUC {} vs {}), calibration error {}",
                    card.version,
                    card.test.from,
                    card.test.to,
                    fmt(mm.auc, 3),
                    fmt(m.rules.auc, 3),
                    fmt(mm.pr_auc, 3),
                    fmt(m.rules.pr_auc, 3),
                    fmt(mm.calibration_error, 3)
                ),
                None => out!(o, "Cold start: scoring uses the rules score ({h} AUC on the test window {})", fmt(m.rules.auc, 3)),
            }
        }
        if let Some(hc) = &card.health {
            let rates = |c: &HealthCheck| {
                c.tiers.iter().map(|t| format!("{} {}", t.tier, t.rate.map(|r| format!("{:.0}%", 100.0 * r)).unwrap_or_else(|| "(none)".into()))).collect::<Vec<_>>().join(", ")
            };
            if let Some(m) = &hc.model {
                out!(
                    o,
                    "Health score on the test window: AUC {} against churn within {} days (rules score {}); churned by tier: {} (rules score: {})",
                    fmt(m.auc_horizon, 3),
                    self.horizons.iter().max().unwrap_or(&90),
                    fmt(hc.rules.auc_horizon, 3),
                    rates(m),
                    rates(&hc.rules)
                );
            }
        }
        if let Some(t) = &card.tiers {
            out!(o, "Tiers: red below {:.1}, yellow below {:.1} — {}", t.cutoffs.red_below, t.cutoffs.yellow_below, t.method);
        }
        if let Some(f) = &self.fidelity {
            let pct = |v: f64| format!("{:.0}%", 100.0 * v);
            out!(
                o,
                "Reason fidelity, scored at {} (out of time): of {} accounts that churned within the next 90 days with a visible planted cause, \
                 the cause's own features were the top risk reason for {} and among the top 3 for {} (reasons drawn at random: {} and {}); \
                 healthy accounts given a cause as their top risk: {} per cause. Not judged: {} whose cause began less than {} days before, {} with no visible cause",
                self.fidelity_as_of,
                f.judged,
                pct(f.rate(f.top1)),
                pct(f.rate(f.top3)),
                pct(f.random_top1 / f.judged.max(1) as f64),
                pct(f.random_top3 / f.judged.max(1) as f64),
                pct(f.false_alarm),
                f.not_yet,
                VISIBLE_AFTER_DAYS,
                f.churners - f.judged - f.not_yet
            );
            if let Some(r) = &self.rules_fidelity {
                out!(o, "  the rules score's reasons on the same accounts: top reason {}, top 3 {}, false alarms {} per cause", pct(r.rate(r.top1)), pct(r.rate(r.top3)), pct(r.false_alarm));
            }
        }
        o.push_str(&self.alerts.text());
        if !self.forecast.is_empty() {
            out!(o);
            o.push_str(&forecast_text(self.as_of, &self.forecast, 6, self.forecast_window_days));
        }
        out!(o);
        out!(o, "Tables under {}:", self.output);
        for t in &self.tables {
            out!(o, "  {t}");
        }
        out!(o, "  runs/ (one JSON manifest per run)   models: {}", self.models);
        if let Some(r) = &self.report {
            out!(o, "Report: {} (one self-contained page: open it in a browser, offline; `healthscore report` writes it again)", r.display());
        }
        o
    }
}

// ---- sync

/// One paragraph per destination synced.
pub fn sync_text(reports: &[crate::sync::Report]) -> String {
    let mut o = String::new();
    for r in reports {
        let c = &r.counts;
        out!(
            o,
            "sync {}: {} — {} records: {} unchanged, {} sent, {} acknowledged, {} rejected, {} not delivered; {} requests, {} retried",
            r.destination, r.status, c.records, c.unchanged, c.sent, c.acknowledged, c.rejected, c.not_delivered, c.requests, c.retried
        );
        if c.in_doubt > 0 {
            out!(o, "  {} alerts in doubt: their request got no answer, so they may have been posted; not resent (code IN_DOUBT in `sync_rejections`)", c.in_doubt);
        }
        if !r.merged.is_empty() {
            let pairs: Vec<String> = r.merged.iter().take(5).map(|(a, b)| format!("{a} → {b}")).collect();
            out!(o, "  {} records were merged in the CRM: the write landed on the surviving record ({}); update the key upstream", r.merged.len(), pairs.join(", "));
        }
        for x in r.rejections.iter().filter(|x| x.code != "IN_DOUBT").take(5) {
            out!(o, "  rejected {} ({}): {} {}", x.key, x.account_id, x.code, x.message);
        }
    }
    o
}

/// The dry-run plans.
pub fn plans_text(plans: &[crate::sync::Plan]) -> String {
    let mut o = String::new();
    for p in plans {
        out!(
            o,
            "dry run {} ({} of {}): {} records → {} new, {} changed, {} unchanged; {} tier changes; {} without a key, {} duplicate keys",
            p.destination, p.deliver, p.as_of, p.records, p.new, p.changed, p.unchanged, p.tier_changes, p.skipped_no_key, p.duplicate_keys
        );
        for (k, f, old, new) in &p.sample {
            out!(o, "  {k}  {f}: {:?} → {:?}", old, new);
        }
    }
    o
}

/// The backtest table as a text table.
pub fn backtest_text(rows: &[Row]) -> String {
    let mut o = String::new();
    out!(o, "origin      trained on                target       rows  pos   AUC (rules)    PR-AUC (rules)  Brier   calib.err");
    for r in rows {
        out!(
            o,
            "{}  {} → {}  {:<11} {:>5} {:>4}  {:>5} ({:>5})  {:>6} ({:>5})   {:>6}  {:>6}",
            r.origin,
            r.train_from,
            r.train_to,
            r.target,
            r.rows,
            r.positives,
            fmt(r.auc, 3),
            fmt(r.rules_auc, 3),
            fmt(r.pr_auc, 3),
            fmt(r.rules_pr_auc, 3),
            fmt(r.brier, 4),
            fmt(r.calibration_error, 3)
        );
    }
    o
}

/// The effectiveness table as a person reads it.
pub fn effectiveness_text(rows: &[tables::effectiveness::Row]) -> String {
    let mut o = String::new();
    let pct = |k: usize, n: usize| if n == 0 { "    –".to_string() } else { format!("{:>5.1}%", 100.0 * k as f64 / n as f64) };
    out!(o, "playbook               treated control maturing  churn treated  control   reduction (95%)        verdict");
    for r in rows {
        let red = match r.churn_reduction {
            Some(i) => format!("{:>4.0}% ({:.0}% to {:.0}%)", 100.0 * i.value, 100.0 * i.low, 100.0 * i.high),
            None => "–".into(),
        };
        out!(
            o,
            "{:<22} {:>7} {:>7} {:>8}  {:>13} {:>8}   {:<22} {}",
            r.playbook,
            r.treated,
            r.control,
            r.maturing,
            pct(r.treated_churned, r.treated),
            pct(r.control_churned, r.control),
            red,
            r.verdict
        );
        if r.feedback > 0 {
            out!(o, "  {} feedback rows, {:.0}% helpful", r.feedback, 100.0 * r.helpful as f64 / r.feedback as f64);
        }
    }
    o
}

/// The renewal forecast as a finance analyst reads it: the next `months`
/// renewal months across segments, and the window's total; the saves
/// scenario beside the baseline when a playbook's effect was measured.
pub fn forecast_text(as_of: NaiveDate, rows: &[tables::renewal_forecast_rollup::Row], months: usize, window: i32) -> String {
    let mut o = String::new();
    let m = |v: f64| money(v);
    let all: Vec<&tables::renewal_forecast_rollup::Row> = rows.iter().filter(|r| r.segment == "all").collect();
    let saves = all.iter().any(|r| (r.expected_arr_with_saves - r.expected_arr).abs() > 0.5);
    out!(o, "Renewal forecast made at {as_of} (renewals within {window} days; each account renews independently with its churn chance by its renewal, and moves as its segment's renewals did in the year before):");
    let head = if saves { format!(" {:>14}", "with saves") } else { String::new() };
    out!(o, "  {:<8} {:>8} {:>14} {:>14} {:>12} {:>6} {:>6}{head}   {}", "month", "accounts", "ARR up", "expected", "at risk", "GRR", "NRR", "renewed ARR, P10 – P90");
    for r in all.iter().filter(|r| r.renewal_month != "all").take(months).chain(all.iter().filter(|r| r.renewal_month == "all")) {
        let with = if saves { format!(" {:>14}", m(r.expected_arr_with_saves)) } else { String::new() };
        out!(
            o,
            "  {:<8} {:>8} {:>14} {:>14} {:>12} {:>5.1}% {:>5.1}%{with}   {} – {}",
            if r.renewal_month == "all" { "total" } else { r.renewal_month.as_str() },
            r.accounts,
            m(r.arr),
            m(r.expected_arr),
            m(r.arr_at_risk),
            100.0 * r.gross_retention,
            100.0 * r.net_retention,
            m(r.band.0),
            m(r.band.2)
        );
    }
    if saves {
        out!(o, "  with saves: the playbooks `effectiveness` says helped save at their measured rate (see `renewal_forecast.save_playbook`)");
    } else {
        out!(o, "  no saves scenario: no playbook's effect has been measured as helping yet (`healthscore effectiveness`)");
    }
    o
}

/// A forecast against what renewed, per month and in total.
pub fn forecast_backtest_text(b: &crate::forecast::Backtest) -> String {
    let mut o = String::new();
    out!(o, "Renewal forecast made at {} against what renewed by the export:", b.origin);
    out!(o, "  {:<8} {:>8} {:>14} {:>14} {:>14} {:>7} {:>7}   {:<32} {}", "month", "accounts", "ARR up", "expected", "renewed", "error", "churn", "P10 – P90", "inside");
    for c in b.months.iter().chain(std::iter::once(&b.total)) {
        out!(
            o,
            "  {:<8} {:>8} {:>14} {:>14} {:>14} {:>+6.1}% {:>+6.1}%   {:<32} {}",
            c.month,
            c.accounts,
            money(c.arr),
            money(c.expected),
            money(c.actual),
            100.0 * c.error(),
            100.0 * c.gross_error(),
            format!("{} – {}", money(c.band.0), money(c.band.2)),
            if c.inside() { "yes" } else { "no" }
        );
    }
    let inside = b.months.iter().filter(|c| c.inside()).count();
    out!(o, "  error: expected − renewed over ARR up (moves counted); churn: the same for churn alone (ARR × (1 − p) against the ARR that stayed)");
    out!(o, "  the renewed ARR fell inside the P10–P90 band in {inside} of {} months; {} accounts whose renewal the export does not cover were left out", b.months.len(), b.unobserved);
    o
}

// ---- the scheduler's summary (Airflow's XCom) --------------------------------

/// What a scheduled `score` or `run` did, as one JSON object: the date,
/// the run, the model, tiers, alerts, the partitions written and each
/// destination's sync — what a downstream task branches on.
#[derive(Serialize)]
pub struct XcomScoring {
    command: String,
    as_of: String,
    run_id: String,
    model_version: String,
    accounts: usize,
    tiers: std::collections::BTreeMap<&'static str, usize>,
    arr_in_red: f64,
    alerts: usize,
    alerts_in_shadow: bool,
    tables: std::collections::BTreeMap<String, String>,
    synced: Vec<XcomSynced>,
}

#[derive(Serialize)]
struct XcomSynced {
    destination: String,
    status: String,
    sent: usize,
    acknowledged: usize,
    rejected: usize,
}

pub fn xcom_scoring(command: &str, cfg: &Config, s: &super::Scoring) -> XcomScoring {
    let rows = &s.scored.rows;
    let arr_red: f64 = rows.iter().filter(|r| r.tier == Tier::Red).map(|r| r.arr).sum();
    XcomScoring {
        command: command.to_string(),
        as_of: s.scored.as_of.to_string(),
        run_id: s.run_id.clone(),
        model_version: s.scored.model_version.clone(),
        accounts: rows.len(),
        tiers: Tier::ALL.iter().map(|t| (t.as_str(), rows.iter().filter(|r| r.tier == *t).count())).collect(),
        arr_in_red: (arr_red * 100.0).round() / 100.0,
        alerts: s.alerts.iter().filter(|a| a.suppressed_by.is_none()).count(),
        alerts_in_shadow: s.shadow.as_ref().is_some_and(|x| x.shadow),
        tables: s.tables.iter().map(|p| (p.table.clone(), cfg.output_table(&p.table).join(&format!("{}/", p.partition)).to_string())).collect(),
        synced: s
            .synced
            .iter()
            .map(|r| XcomSynced { destination: r.destination.clone(), status: r.status.clone(), sent: r.counts.sent, acknowledged: r.counts.acknowledged, rejected: r.counts.rejected })
            .collect(),
    }
}

/// `backfill`'s summary: the dates scored (with their runs) and those already complete.
#[derive(Serialize)]
pub struct XcomBackfill {
    command: &'static str,
    scored: Vec<XcomDate>,
    skipped: Vec<String>,
}

#[derive(Serialize)]
struct XcomDate {
    as_of: String,
    run_id: String,
    accounts: usize,
}

pub fn xcom_backfill(b: &super::Backfill) -> XcomBackfill {
    XcomBackfill {
        command: "backfill",
        scored: b.scored.iter().map(|(d, run, n)| XcomDate { as_of: d.to_string(), run_id: run.clone(), accounts: *n }).collect(),
        skipped: b.skipped.iter().map(|d| d.to_string()).collect(),
    }
}

pub fn backfill_text(b: &super::Backfill) -> String {
    let span = |v: &[NaiveDate]| match (v.first(), v.last()) {
        (Some(a), Some(z)) if a != z => format!("{a} to {z}"),
        (Some(a), _) => a.to_string(),
        _ => "none".into(),
    };
    let dates: Vec<NaiveDate> = b.scored.iter().map(|(d, _, _)| *d).collect();
    format!(
        "backfill: {} date(s) scored ({}), {} already complete and skipped ({}; `--force` rescores them)\n",
        dates.len(),
        span(&dates),
        b.skipped.len(),
        span(&b.skipped)
    )
}
