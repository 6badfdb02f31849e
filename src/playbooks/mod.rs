//! Playbooks: which accounts need someone to act at `as_of`, who, how
//! urgently, and what to say — and, for every alert not sent, why.
//!
//! ```text
//!  account_scores rows (+ the previous run's tier) ─▶ each playbook's trigger ─▶ candidates
//!    route: automated → a person above `human_arr_above` or in a strategic segment
//!    held back, in this order:  override · cooldown (earlier alerts) · below_confidence
//!                               · cap (per account, 7 days) · control_group (deterministic
//!                               share of what would be sent, per account, playbook and cohort)
//!  ─▶ the `alerts` rows, sorted by (account_id, playbook)
//! ```
//!
//! Everything is a function of the scores, the earlier alerts and the
//! config: a rerun of the same `as_of` gives the same alerts, the same
//! control group and the same ids.

pub mod effectiveness;

use std::collections::BTreeMap;

use crate::config::playbooks::{Playbook, Playbooks, Route, Trigger};
use crate::dates::date;
use crate::domain::Tier;
use crate::features::{render, Unit};
use crate::output::tables::account_scores;
use crate::output::tables::alerts::{self, Earlier, Suppression};

/// FNV-1a with splitmix64's finaliser: a hash that never changes between
/// versions or machines, whose every bit depends on every byte (FNV alone
/// leaves the high bits nearly blind to the last bytes).
fn fnv(s: &str) -> u64 {
    let mut h = s.bytes().fold(0xcbf2_9ce4_8422_2325u64, |h, b| (h ^ b as u64).wrapping_mul(0x0100_0000_01b3));
    h ^= h >> 30;
    h = h.wrapping_mul(0xbf58_476d_1ce4_e5b9);
    h ^= h >> 27;
    h = h.wrapping_mul(0x94d0_49bb_1331_11eb);
    h ^ (h >> 31)
}

/// Whether (account, playbook) is held out for the cohort of `cohort_day`
/// (the month of the account's next renewal, see `cohort`): the same answer
/// on every run until that renewal, a fresh draw for the next one.
pub fn in_control_group(account_id: &str, playbook: &str, cohort_day: i32, share: f64) -> bool {
    let month = date(cohort_day).format("%Y-%m");
    let h = fnv(&format!("{account_id}|{playbook}|{month}"));
    ((h >> 11) as f64 / (1u64 << 53) as f64) < share
}

fn money(v: f64) -> String {
    render(Unit::Currency, v)
}

/// The day an alert's control group is drawn for: the account's next
/// renewal when it is within a year (an account held out stays held out
/// through the months before its renewal, so its outcome there measures the
/// playbook), else `as_of` (a fresh draw each month).
pub fn cohort(r: &account_scores::Row, as_of: i32) -> i32 {
    r.renewal_date.filter(|d| *d >= as_of && *d - as_of <= 366).unwrap_or(as_of)
}

/// A feature's value for an account at `as_of` (None when missing).
pub type Values<'a> = &'a dyn Fn(&str) -> Option<f64>;

/// Declining: not green, or the score fell over the last 30 days.
fn declining(r: &account_scores::Row) -> bool {
    r.tier != Tier::Green || r.delta_30d.is_some_and(|d| d < 0.0)
}

/// The trigger's words for this account, when it fires; `value` reads the
/// account's feature values.
pub fn fires(t: &Trigger, r: &account_scores::Row, value: Values, as_of: i32, expansion_horizon: u32) -> Option<String> {
    let h = r.health;
    match t {
        Trigger::TierEntered(tier) => {
            let prev = r.previous_tier.filter(|p| p != tier && r.tier == *tier)?;
            Some(format!("tier went {prev} → {tier} (health {h:.1})"))
        }
        Trigger::ScoreDrop { points, days } => {
            let delta = if *days <= 7 { r.delta_7d } else { r.delta_30d }?;
            (delta <= -points).then(|| format!("health fell {:.1} points in {days} days, to {h:.1}", -delta))
        }
        Trigger::InTierFor { tier, days } => {
            let n = r.days_in_tier.filter(|n| r.tier == *tier && n >= days)?;
            Some(format!("{tier} for {n} days (health {h:.1})"))
        }
        Trigger::Expansion { p_expand_at_least } => (r.tier == Tier::Green && r.p_expand >= *p_expand_at_least)
            .then(|| format!("healthy (health {h:.1}) with a {:.0}% chance of expanding within {expansion_horizon} days", 100.0 * r.p_expand)),
        Trigger::RenewalWithin { days } => {
            let left = r.renewal_date.map(|d| (d - as_of) as i64).filter(|n| (0..=*days).contains(n) && r.tier != Tier::Green)?;
            Some(format!("{} with the renewal in {left} days (health {h:.1})", r.tier))
        }
        Trigger::TopRisk { feature } => r.risk.first().filter(|(f, _)| f == feature).map(|(_, why)| format!("top risk: {why}")),
        Trigger::NpsDetractor { feature, at_most } => {
            let v = value(feature).filter(|v| v <= at_most)?;
            Some(if declining(r) {
                format!("NPS {v:.1} of 10 while health declines ({} at {h:.1})", r.tier)
            } else {
                format!("NPS {v:.1} of 10 from a healthy account (health {h:.1}): product feedback, not churn risk")
            })
        }
    }
}

/// Risk reasons about what the account uses: with them, the message names
/// the product areas that stopped.
const AREA_REASONS: &[&str] = &["areas_stopped_30d", "feature_breadth_30d", "feature_breadth_trend", "events_trend"];

/// The alert in the account's own terms.
fn message(p: &Playbook, r: &account_scores::Row, trigger: &str) -> String {
    let mut m = format!("{}{}", trigger[..1].to_uppercase(), &trigger[1..]);
    let expansion = matches!(p.trigger, Trigger::Expansion { .. });
    let (label, reasons) = if expansion { ("Talking points", &r.positive) } else { ("Why", &r.risk) };
    // the first reason about what the account uses names the areas that stopped
    let areas = r.areas_stopped.as_deref().filter(|a| !a.is_empty() && !expansion);
    let at = areas.and(reasons.iter().position(|(f, _)| AREA_REASONS.contains(&f.as_str())));
    let reasons: Vec<String> = reasons
        .iter()
        .enumerate()
        .map(|(i, (f, t))| match (areas, Some(i) == at) {
            (Some(a), true) => {
                let it = if a.contains(',') { "them" } else { "it" };
                if f == "areas_stopped_30d" {
                    format!("Stopped using {a} in the last 30 days — offer a training session on {it}")
                } else {
                    format!("{t}: stopped using {a} — offer a training session on {it}")
                }
            }
            _ => t.clone(),
        })
        .filter(|t| !trigger.contains(t.as_str()))
        .collect();
    if !reasons.is_empty() {
        m.push_str(&format!(". {label}: {}", reasons.join("; ")));
    }
    match (r.renewal_date, r.arr.is_finite()) {
        (Some(d), true) => m.push_str(&format!(". Renews on {} ({} ARR)", date(d), money(r.arr))),
        (None, true) => m.push_str(&format!(". {} ARR", money(r.arr))),
        _ => {}
    }
    m.push('.');
    m
}

/// The alerts of one run: `rows` scored at `as_of` (days since 1970-01-01)
/// with churn `horizons`, against the `earlier` alerts of recent runs.
/// `value(i, feature)` reads row `i`'s feature values.
pub fn evaluate(
    pb: &Playbooks,
    rows: &[account_scores::Row],
    value: &dyn Fn(usize, &str) -> Option<f64>,
    horizons: &[u32],
    expansion_horizon: u32,
    as_of: i32,
    earlier: &[Earlier],
) -> Vec<alerts::Row> {
    let k = horizons.iter().position(|h| *h == 90).unwrap_or(horizons.len().saturating_sub(1));
    let mut out = Vec::new();
    for (i, r) in rows.iter().enumerate() {
        let p90 = r.p_churn.get(k).copied().unwrap_or(f64::NAN);
        let values = |f: &str| value(i, f);
        for p in &pb.rules {
            let Some(trigger) = fires(&p.trigger, r, &values, as_of, expansion_horizon) else { continue };
            let expansion = matches!(p.trigger, Trigger::Expansion { .. });
            let feedback = matches!(p.trigger, Trigger::NpsDetractor { .. }) && !declining(r);
            let human = (r.arr.is_finite() && r.arr > pb.human_arr_above) || pb.strategic_segments.contains(&r.segment);
            let route = match p.route {
                _ if feedback => Route::ProductFeedback,
                Route::Automated if human => Route::Csm,
                route => route,
            };
            let arr_at_risk = r.arr * p90;
            let priority = if expansion { r.arr * r.p_expand } else if feedback { 0.0 } else { arr_at_risk };
            let cooled = earlier.iter().any(|e| {
                e.account_id == r.account_id
                    && e.playbook == p.name
                    && e.as_of < as_of
                    && ((as_of - e.as_of) as i64) < p.cooldown_days
                    && matches!(e.suppressed_by, None | Some(Suppression::ControlGroup))
            });
            let cohort_day = cohort(r, as_of);
            let suppressed_by = if r.override_applied {
                Some(Suppression::Override)
            } else if cooled {
                Some(Suppression::Cooldown)
            } else if route == Route::Automated && !(p90 >= pb.automated_min_p_churn) {
                Some(Suppression::BelowConfidence)
            } else {
                None
            };
            out.push(alerts::Row {
                alert_id: format!("{:016x}", fnv(&format!("{}|{}|{}", r.account_id, p.name, date(as_of)))),
                account_id: r.account_id.clone(),
                crm_id: r.crm_id.clone(),
                account_name: r.name.clone(),
                owner: r.owner.clone(),
                playbook: p.name.clone(),
                message: message(p, r, &trigger),
                trigger,
                severity: p.severity.as_str(),
                route: route.as_str(),
                priority: if priority.is_finite() { (priority * 100.0).round() / 100.0 } else { 0.0 },
                action: p.action.clone(),
                arr: r.arr,
                arr_at_risk,
                p_churn_90d: p90,
                cohort: cohort_day,
                suppressed_by,
            });
        }
    }
    cap(&mut out, pb.cap_per_week, as_of, earlier);
    // the control group is drawn among what would be sent, after the cap:
    // drawn before it, the cap would drop treated alerts of the accounts
    // with the most alerts (the riskiest) and never their held-out twins,
    // and the groups would no longer be alike
    for a in out.iter_mut().filter(|a| a.suppressed_by.is_none()) {
        if in_control_group(&a.account_id, &a.playbook, a.cohort, pb.control_share) {
            a.suppressed_by = Some(Suppression::ControlGroup);
        }
    }
    out.sort_by(|a, b| (&a.account_id, &a.playbook).cmp(&(&b.account_id, &b.playbook)));
    out
}

/// Shadow mode: every alert that would be sent is written as `shadow`
/// instead; control-group and other held-back alerts keep their reason.
pub fn shadow(rows: &mut [alerts::Row]) {
    for r in rows.iter_mut().filter(|r| r.suppressed_by.is_none()) {
        r.suppressed_by = Some(Suppression::Shadow);
    }
}

/// At most `per_week` alerts sent per account in any 7 days: what earlier
/// runs sent in the 6 days before counts; today's highest priority are kept.
fn cap(rows: &mut [alerts::Row], per_week: usize, as_of: i32, earlier: &[Earlier]) {
    let mut sent_before: BTreeMap<&str, usize> = BTreeMap::new();
    // held-out alerts count as sent: the cap treats both groups alike
    for e in earlier.iter().filter(|e| matches!(e.suppressed_by, None | Some(Suppression::ControlGroup)) && e.as_of < as_of && as_of - e.as_of < 7) {
        *sent_before.entry(e.account_id.as_str()).or_default() += 1;
    }
    let mut by_account: BTreeMap<String, Vec<usize>> = BTreeMap::new();
    for (i, r) in rows.iter().enumerate().filter(|(_, r)| r.suppressed_by.is_none()) {
        by_account.entry(r.account_id.clone()).or_default().push(i);
    }
    for (account, mut idx) in by_account {
        let room = per_week.saturating_sub(sent_before.get(account.as_str()).copied().unwrap_or(0));
        idx.sort_by(|a, b| rows[*b].priority.total_cmp(&rows[*a].priority).then(rows[*a].playbook.cmp(&rows[*b].playbook)));
        for i in idx.into_iter().skip(room) {
            rows[i].suppressed_by = Some(Suppression::Cap);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::playbooks::{RawPlaybooks, Severity};

    const AS_OF: i32 = 20_758; // 2026-11-01

    fn row(id: &str, tier: Tier, health: f64) -> account_scores::Row {
        account_scores::Row {
            account_id: id.into(),
            crm_id: None,
            name: None,
            segment: "smb".into(),
            arr: 50_000.0,
            renewal_date: Some(AS_OF + 200),
            health,
            tier,
            model_health: health,
            model_tier: tier,
            p_churn: vec![0.1, 0.2, 0.3],
            p_expand: 0.05,
            p_churn_at_renewal: None,
            segment_percentile: 50.0,
            delta_7d: None,
            delta_30d: None,
            days_in_tier: Some(0),
            risk: vec![("logins_30d".into(), "Only 3 logins in 30 days (segment median 40)".into())],
            positive: vec![("nps_avg".into(), "NPS averages 9".into())],
            action: "Call".into(),
            override_applied: false,
            override_reason: None,
            override_author: None,
            hazards: vec![],
            previous_tier: None,
            owner: None,
            areas_stopped: None,
            seat_utilization: None,
            care: None,
        }
    }

    fn books(yaml: &str) -> Playbooks {
        Playbooks::resolve(&serde_yaml::from_str::<RawPlaybooks>(yaml).unwrap()).unwrap()
    }

    fn one(t: Trigger, r: &account_scores::Row) -> Option<String> {
        fires(&t, r, &|_| None, AS_OF, 90)
    }

    fn none(_: usize, _: &str) -> Option<f64> {
        None
    }

    #[test]
    fn each_trigger_fires_on_its_own_condition_only() {
        let mut r = row("a", Tier::Red, 30.0);
        assert_eq!(one(Trigger::TierEntered(Tier::Red), &r), None, "no previous run: not an entry");
        r.previous_tier = Some(Tier::Yellow);
        assert_eq!(one(Trigger::TierEntered(Tier::Red), &r).as_deref(), Some("tier went yellow → red (health 30.0)"));
        r.previous_tier = Some(Tier::Red);
        assert_eq!(one(Trigger::TierEntered(Tier::Red), &r), None, "already red");

        r.delta_30d = Some(-12.0);
        assert!(one(Trigger::ScoreDrop { points: 10.0, days: 30 }, &r).is_some());
        assert!(one(Trigger::ScoreDrop { points: 15.0, days: 30 }, &r).is_none());
        assert!(one(Trigger::ScoreDrop { points: 10.0, days: 7 }, &r).is_none(), "no 7-day delta");

        r.days_in_tier = Some(31);
        assert!(one(Trigger::InTierFor { tier: Tier::Red, days: 30 }, &r).is_some());
        assert!(one(Trigger::InTierFor { tier: Tier::Red, days: 45 }, &r).is_none());
        assert!(one(Trigger::InTierFor { tier: Tier::Yellow, days: 30 }, &r).is_none());

        r.renewal_date = Some(AS_OF + 45);
        assert!(one(Trigger::RenewalWithin { days: 60 }, &r).is_some());
        assert!(one(Trigger::RenewalWithin { days: 30 }, &r).is_none());
        r.renewal_date = Some(AS_OF - 1);
        assert!(one(Trigger::RenewalWithin { days: 60 }, &r).is_none(), "a renewal already past");

        assert!(one(Trigger::TopRisk { feature: "logins_30d".into() }, &r).is_some());
        assert!(one(Trigger::TopRisk { feature: "champion_left_90d".into() }, &r).is_none());

        let mut g = row("b", Tier::Green, 92.0);
        g.p_expand = 0.4;
        assert!(one(Trigger::Expansion { p_expand_at_least: 0.3 }, &g).is_some());
        g.renewal_date = Some(AS_OF + 10);
        assert!(one(Trigger::RenewalWithin { days: 60 }, &g).is_none(), "green renewals are not at risk");
        r.p_expand = 0.4;
        assert!(one(Trigger::Expansion { p_expand_at_least: 0.3 }, &r).is_none(), "only healthy accounts expand");
    }

    #[test]
    fn the_message_is_the_accounts_own() {
        let pb = books("control_share: 0\nrules:\n  - { name: red, trigger: { in_tier_for: { tier: red, days: 0 } }, action: Call the champion }\n");
        let a = evaluate(&pb, &[row("a", Tier::Red, 30.0)], &none, &[30, 60, 90], 90, AS_OF, &[]);
        assert_eq!(a[0].message, "Red for 0 days (health 30.0). Why: Only 3 logins in 30 days (segment median 40). Renews on 2027-05-20 ($50,000 ARR).");
        assert_eq!((a[0].priority, a[0].p_churn_90d, a[0].route, a[0].severity), (15_000.0, 0.3, "csm", Severity::Medium.as_str()));
        let again = evaluate(&pb, &[row("a", Tier::Red, 30.0)], &none, &[30, 60, 90], 90, AS_OF, &[]);
        assert_eq!(a, again, "a rerun gives the same alerts and ids");
    }

    #[test]
    fn the_message_names_the_product_areas_that_stopped_when_use_is_the_reason() {
        let pb = books("control_share: 0\nrules:\n  - { name: red, trigger: { in_tier_for: { tier: red, days: 0 } }, action: Call }\n");
        let mut r = row("a", Tier::Red, 30.0);
        r.areas_stopped = Some("exports, reports".into());
        // a usage reason: the areas are named in it
        r.risk = vec![("feature_breadth_trend".into(), "Features in use down 40% vs the prior 30 days".into()), ("nps_latest".into(), "NPS 4".into())];
        let m = &evaluate(&pb, std::slice::from_ref(&r), &none, &[90], 90, AS_OF, &[])[0].message;
        assert!(m.contains("Why: Features in use down 40% vs the prior 30 days: stopped using exports, reports — offer a training session on them; NPS 4."), "{m}");
        // the count itself as the reason: one sentence naming them
        r.risk = vec![("areas_stopped_30d".into(), "Product areas used the month before but not in the last 30 days: 1".into())];
        r.areas_stopped = Some("reports".into());
        let m = &evaluate(&pb, std::slice::from_ref(&r), &none, &[90], 90, AS_OF, &[])[0].message;
        assert!(m.contains("Why: Stopped using reports in the last 30 days — offer a training session on it."), "{m}");
        // no usage reason: the areas are not the story
        r.risk = vec![("nps_latest".into(), "NPS 4".into())];
        let m = &evaluate(&pb, std::slice::from_ref(&r), &none, &[90], 90, AS_OF, &[])[0].message;
        assert!(!m.contains("reports"), "{m}");
    }

    #[test]
    fn cooldown_holds_an_alert_back_and_lets_it_fire_after() {
        let pb = books("control_share: 0\nrules:\n  - { name: red, trigger: { in_tier_for: { tier: red, days: 0 } }, action: a, cooldown_days: 7 }\n");
        let rows = [row("a", Tier::Red, 30.0)];
        let mut earlier: Vec<Earlier> = Vec::new();
        let mut seen = Vec::new();
        for day in [0, 3, 8] {
            let a = evaluate(&pb, &rows, &none, &[90], 90, AS_OF + day, &earlier);
            seen.push(a[0].suppressed_by);
            earlier.push(Earlier { alert_id: a[0].alert_id.clone(), account_id: "a".into(), playbook: "red".into(), as_of: AS_OF + day, cohort: AS_OF + day, suppressed_by: a[0].suppressed_by });
        }
        assert_eq!(seen, vec![None, Some(Suppression::Cooldown), None]);
    }

    #[test]
    fn the_cap_keeps_the_highest_priority_and_counts_the_week_before() {
        let pb = books(
            "control_share: 0\ncap_per_week: 2\nrules:\n  - { name: p1, trigger: { in_tier_for: { tier: red, days: 0 } }, action: a }\n  - { name: p2, trigger: { top_risk: { feature: logins_30d } }, action: b }\n  - { name: p3, trigger: { renewal_within: { days: 365 } }, action: c }\n",
        );
        let a = evaluate(&pb, &[row("a", Tier::Red, 30.0)], &none, &[90], 90, AS_OF, &[]);
        let sent: Vec<_> = a.iter().filter(|r| r.suppressed_by.is_none()).map(|r| r.playbook.as_str()).collect();
        assert_eq!(sent.len(), 2);
        assert_eq!(a.iter().filter(|r| r.suppressed_by == Some(Suppression::Cap)).count(), 1);
        // one sent 3 days before leaves room for one today; one 7 days before does not count
        let before = |d: i32| Earlier { alert_id: format!("x{d}"), account_id: "a".into(), playbook: "other".into(), as_of: AS_OF - d, cohort: AS_OF - d, suppressed_by: None };
        let a = evaluate(&pb, &[row("a", Tier::Red, 30.0)], &none, &[90], 90, AS_OF, &[before(3)]);
        assert_eq!(a.iter().filter(|r| r.suppressed_by.is_none()).count(), 1);
        let a = evaluate(&pb, &[row("a", Tier::Red, 30.0)], &none, &[90], 90, AS_OF, &[before(7)]);
        assert_eq!(a.iter().filter(|r| r.suppressed_by.is_none()).count(), 2);
    }

    #[test]
    fn overrides_confidence_and_large_accounts_route_and_suppress() {
        let pb = books("control_share: 0\nhuman_arr_above: 100000\nrules:\n  - { name: auto, trigger: { in_tier_for: { tier: red, days: 0 } }, route: automated, action: a }\n");
        let mut r = row("a", Tier::Red, 30.0);
        let a = evaluate(&pb, std::slice::from_ref(&r), &none, &[90], 90, AS_OF, &[]);
        assert_eq!((a[0].route, a[0].suppressed_by), ("automated", Some(Suppression::BelowConfidence)), "p 0.3 < 0.7");
        r.p_churn = vec![0.8];
        let a = evaluate(&pb, std::slice::from_ref(&r), &none, &[90], 90, AS_OF, &[]);
        assert_eq!((a[0].route, a[0].suppressed_by), ("automated", None));
        r.arr = 250_000.0;
        let a = evaluate(&pb, std::slice::from_ref(&r), &none, &[90], 90, AS_OF, &[]);
        assert_eq!(a[0].route, "csm", "a large account goes to a person, never to automation");
        r.override_applied = true;
        let a = evaluate(&pb, std::slice::from_ref(&r), &none, &[90], 90, AS_OF, &[]);
        assert_eq!(a[0].suppressed_by, Some(Suppression::Override));
    }

    #[test]
    fn a_detractor_is_a_save_play_while_health_declines_and_product_feedback_while_it_is_strong() {
        let pb = books("control_share: 0\nrules:\n  - { name: detractor, trigger: { nps_detractor: {} }, severity: high, action: Call them }\n");
        let nps = |v: f64| move |_: usize, f: &str| (f == "nps_latest").then_some(v);
        let mut strong = row("a", Tier::Green, 92.0);
        strong.delta_30d = Some(1.0);
        let a = evaluate(&pb, std::slice::from_ref(&strong), &nps(4.0), &[90], 90, AS_OF, &[]);
        assert_eq!((a[0].route, a[0].priority), ("product_feedback", 0.0), "{}", a[0].trigger);
        assert!(a[0].trigger.contains("product feedback, not churn risk"));
        let mut slipping = strong.clone();
        slipping.delta_30d = Some(-4.0);
        let a = evaluate(&pb, std::slice::from_ref(&slipping), &nps(4.0), &[90], 90, AS_OF, &[]);
        assert_eq!(a[0].route, "csm", "a detractor whose health falls is a save play");
        assert!(a[0].priority > 0.0);
        let a = evaluate(&pb, std::slice::from_ref(&row("b", Tier::Yellow, 70.0)), &nps(8.0), &[90], 90, AS_OF, &[]);
        assert!(a.is_empty(), "a passive is no detractor");
        assert!(evaluate(&pb, std::slice::from_ref(&slipping), &none, &[90], 90, AS_OF, &[]).is_empty(), "no NPS, no trigger");
    }

    #[test]
    fn the_control_group_holds_out_its_share_the_same_way_on_every_rerun() {
        let n = 10_000;
        let held = (0..n).filter(|i| in_control_group(&format!("acc_{i:06}"), "red", AS_OF, 0.1)).count();
        let share = held as f64 / n as f64;
        assert!((share - 0.1).abs() <= 0.02, "{share}");
        let again = (0..n).filter(|i| in_control_group(&format!("acc_{i:06}"), "red", AS_OF + 5, 0.1)).count();
        assert_eq!(held, again, "the same month: the same accounts");
        let next_month = (0..n).filter(|i| in_control_group(&format!("acc_{i:06}"), "red", AS_OF + 31, 0.1) != in_control_group(&format!("acc_{i:06}"), "red", AS_OF, 0.1)).count();
        assert!(next_month > 0, "a fresh draw each month");
        assert_eq!((0..n).filter(|i| in_control_group(&format!("acc_{i}"), "red", AS_OF, 0.0)).count(), 0);
    }
}
