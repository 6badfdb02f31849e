//! `playbooks:`: what fires an alert, how alerts are routed, and what holds
//! one back (cooldown, weekly cap, confidence, the control group). Read as
//! written, then resolved with every default applied and every value checked.

use serde::Deserialize;

use crate::domain::Tier;
use crate::error::{Error, Result};

/// What makes a playbook fire, computed from `account_scores` at `as_of`
/// and the run before it — never from the wall clock.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
pub enum Trigger {
    /// The tier changed into this one since the previous run.
    TierEntered(Tier),
    /// The health score fell by at least `points` within `days` (7 or 30).
    ScoreDrop { points: f64, days: u32 },
    /// In `tier` for at least `days` days in a row.
    InTierFor { tier: Tier, days: i64 },
    /// Green with `p_expand` at least this: an expansion opportunity.
    Expansion { p_expand_at_least: f64 },
    /// Yellow or red with the renewal at most `days` away.
    RenewalWithin { days: i64 },
    /// This feature is the account's top risk reason.
    TopRisk { feature: String },
    /// A detractor: the NPS feature (default `nps_latest`) at most `at_most`
    /// (default 6). While health is declining (not green, or down over 30
    /// days) it is a save play on the playbook's route; with health strong it
    /// is routed to `product_feedback` — not a churn alert.
    NpsDetractor {
        #[serde(default = "nps_feature")]
        feature: String,
        #[serde(default = "detractor_at_most")]
        at_most: f64,
    },
}

fn nps_feature() -> String {
    "nps_latest".into()
}

fn detractor_at_most() -> f64 {
    6.0
}

/// Who acts on an alert.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Route {
    Csm,
    Manager,
    Executive,
    /// The account owner (expansion).
    Owner,
    /// A sequence or email without a person: only above the confidence
    /// threshold, and never for large or strategic accounts.
    Automated,
    /// The product team: what a healthy account's detractors say.
    ProductFeedback,
}

impl Route {
    pub fn as_str(self) -> &'static str {
        match self {
            Route::Csm => "csm",
            Route::Manager => "manager",
            Route::Executive => "executive",
            Route::Owner => "owner",
            Route::Automated => "automated",
            Route::ProductFeedback => "product_feedback",
        }
    }

    pub fn parse(s: &str) -> Option<Route> {
        [Route::Csm, Route::Manager, Route::Executive, Route::Owner, Route::Automated, Route::ProductFeedback].into_iter().find(|r| r.as_str() == s)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Severity {
    Low,
    Medium,
    High,
    Critical,
}

impl Severity {
    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Low => "low",
            Severity::Medium => "medium",
            Severity::High => "high",
            Severity::Critical => "critical",
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawPlaybook {
    pub name: String,
    /// `{ tier_entered: red }`: a map of one key, as YAML users write it.
    #[serde(with = "serde_yaml::with::singleton_map")]
    pub trigger: Trigger,
    pub severity: Option<Severity>,
    pub route: Option<Route>,
    /// What to do, shown with the alert.
    pub action: String,
    /// No second alert of this playbook for the same account within this many days (default 14).
    pub cooldown_days: Option<i64>,
}

#[derive(Debug, Clone, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct RawPlaybooks {
    /// Share of eligible alerts held out as a control group (default 0.1).
    pub control_share: Option<f64>,
    /// At most this many alerts per account in 7 days, highest priority kept (default 2).
    pub cap_per_week: Option<usize>,
    /// Automated outreach only at or above this `p_churn_90d` (default 0.7).
    pub automated_min_p_churn: Option<f64>,
    /// Accounts above this ARR go to a person, never to automation (default 100,000).
    pub human_arr_above: Option<f64>,
    /// Segments that always go to a person.
    pub strategic_segments: Option<Vec<String>>,
    /// Shadow mode: alerts are written with `suppressed_by = shadow` and
    /// nothing is delivered. Unset: until the live backtest shows the model
    /// calibrated; `true`: always; `false`: never.
    pub shadow: Option<bool>,
    /// The live backtest's bound: mean |predicted − observed| over deciles
    /// of `p_churn_90d`, in each of the newest matured partitions (default 0.05).
    pub calibration_bound: Option<f64>,
    /// How many monthly scoring partitions with matured outcomes it needs (default 3).
    pub calibration_partitions: Option<usize>,
    #[serde(default)]
    pub rules: Vec<RawPlaybook>,
}

/// When playbooks run in shadow.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Shadow {
    /// Until the live backtest shows the model calibrated.
    UntilCalibrated { bound: f64, partitions: usize },
    Always,
    Never,
}

impl Default for Shadow {
    fn default() -> Shadow {
        Shadow::UntilCalibrated { bound: 0.05, partitions: 3 }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct Playbook {
    pub name: String,
    pub trigger: Trigger,
    pub severity: Severity,
    pub route: Route,
    pub action: String,
    pub cooldown_days: i64,
}

/// The resolved `playbooks:` section; no rules means no alerts.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Playbooks {
    pub rules: Vec<Playbook>,
    pub control_share: f64,
    pub cap_per_week: usize,
    pub automated_min_p_churn: f64,
    pub human_arr_above: f64,
    pub strategic_segments: Vec<String>,
    pub shadow: Shadow,
}

impl Playbooks {
    pub fn resolve(raw: &RawPlaybooks) -> Result<Playbooks> {
        let err = |m: String| Error::Config(format!("`playbooks`: {m}"));
        let share = raw.control_share.unwrap_or(0.1);
        if !(0.0..0.5).contains(&share) {
            return Err(err(format!("`control_share` {share} must be at least 0 and below 0.5")));
        }
        let p = raw.automated_min_p_churn.unwrap_or(0.7);
        if !(0.0..=1.0).contains(&p) {
            return Err(err(format!("`automated_min_p_churn` {p} must be a probability")));
        }
        let bound = raw.calibration_bound.unwrap_or(0.05);
        if !(bound > 0.0 && bound < 1.0) {
            return Err(err(format!("`calibration_bound` {bound} must be between 0 and 1")));
        }
        let partitions = raw.calibration_partitions.unwrap_or(3);
        if partitions == 0 {
            return Err(err("`calibration_partitions` must be at least 1".into()));
        }
        let shadow = match raw.shadow {
            None => Shadow::UntilCalibrated { bound, partitions },
            Some(true) => Shadow::Always,
            Some(false) => Shadow::Never,
        };
        let mut names = std::collections::BTreeSet::new();
        let mut rules = Vec::new();
        for r in &raw.rules {
            super::check_name("playbooks.rules[].name", &r.name)?;
            if !names.insert(r.name.clone()) {
                return Err(err(format!("the name `{}` is used twice", r.name)));
            }
            let bad = |m: &str| err(format!("`{}`: {m}", r.name));
            match &r.trigger {
                Trigger::ScoreDrop { points, days } if !(*points > 0.0) || ![7, 30].contains(days) => {
                    return Err(bad("`score_drop` needs points > 0 and days 7 or 30 (the score deltas `account_scores` keeps)"));
                }
                Trigger::InTierFor { days, .. } | Trigger::RenewalWithin { days } if *days < 0 => return Err(bad("`days` must be 0 or more")),
                Trigger::Expansion { p_expand_at_least } if !(0.0..=1.0).contains(p_expand_at_least) => {
                    return Err(bad("`p_expand_at_least` must be a probability"));
                }
                _ => {}
            }
            let cooldown_days = r.cooldown_days.unwrap_or(14);
            if cooldown_days < 0 {
                return Err(bad("`cooldown_days` must be 0 or more"));
            }
            let default_route = if matches!(r.trigger, Trigger::Expansion { .. }) { Route::Owner } else { Route::Csm };
            rules.push(Playbook {
                name: r.name.clone(),
                trigger: r.trigger.clone(),
                severity: r.severity.unwrap_or(Severity::Medium),
                route: r.route.unwrap_or(default_route),
                action: r.action.clone(),
                cooldown_days,
            });
        }
        Ok(Playbooks {
            rules,
            control_share: share,
            cap_per_week: raw.cap_per_week.unwrap_or(2).max(1),
            automated_min_p_churn: p,
            human_arr_above: raw.human_arr_above.unwrap_or(100_000.0),
            strategic_segments: raw.strategic_segments.clone().unwrap_or_default(),
            shadow,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn resolve(yaml: &str) -> Result<Playbooks> {
        Playbooks::resolve(&serde_yaml::from_str(yaml).unwrap())
    }

    #[test]
    fn triggers_read_as_written_with_defaults() {
        let p = resolve(
            "rules:\n  - { name: entered-red, trigger: { tier_entered: red }, severity: high, action: Call }\n  - { name: drop, trigger: { score_drop: { points: 10, days: 30 } }, action: Look }\n  - { name: grow, trigger: { expansion: { p_expand_at_least: 0.3 } }, action: Offer }\n",
        )
        .unwrap();
        assert_eq!(p.rules[0].trigger, Trigger::TierEntered(Tier::Red));
        assert_eq!((p.rules[0].severity, p.rules[0].route, p.rules[0].cooldown_days), (Severity::High, Route::Csm, 14));
        assert_eq!(p.rules[1].trigger, Trigger::ScoreDrop { points: 10.0, days: 30 });
        assert_eq!(p.rules[2].route, Route::Owner, "expansion goes to the account owner");
        assert_eq!((p.control_share, p.cap_per_week, p.automated_min_p_churn), (0.1, 2, 0.7));
    }

    #[test]
    fn mistakes_are_named() {
        let e = resolve("rules:\n  - { name: d, trigger: { score_drop: { points: 10, days: 14 } }, action: a }\n").unwrap_err().to_string();
        assert!(e.contains("`d`") && e.contains("days 7 or 30"), "{e}");
        let e = resolve("control_share: 0.6\n").unwrap_err().to_string();
        assert!(e.contains("control_share"), "{e}");
        let e = resolve("rules:\n  - { name: a, trigger: { top_risk: { feature: x } }, action: a }\n  - { name: a, trigger: { top_risk: { feature: y } }, action: b }\n").unwrap_err().to_string();
        assert!(e.contains("used twice"), "{e}");
    }
}
