//! One account's life, simulated: its contract, its hidden health, and every
//! row the warehouse would hold about it.
//!
//! Each account has a latent baseline health and, in some contract years, a
//! risk episode with one or two planted causes that begins weeks to months
//! before a renewal. The causes shape what the tables show (usage falling,
//! a support spike, a champion leaving, …) and raise the chance of churn at
//! the renewal. Confounders keep it honest: enterprise users log in less and
//! are healthy, API-integrated accounts barely log in and renew, onboarding
//! brings many tickets that mean nothing bad, random departures and late
//! payments happen to healthy accounts too, and some churn has no visible
//! cause at all.

use chrono::{Datelike, Months};
use rand::seq::{IndexedRandom, SliceRandom};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

use super::text::{self, TicketKind};
use crate::dates::{date, day};

pub const DAY_US: i64 = 86_400_000_000;

/// A planted cause of churn risk. `name()` is what `_truth` records.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Cause {
    UsageDecline,
    LowAdoption,
    SeatsUnused,
    SupportSpike,
    CancelIntent,
    LatePayment,
    NpsDrop,
    ChampionLeft,
    SponsorQuiet,
    NoQbr,
}

impl Cause {
    pub const ALL: [Cause; 10] = [
        Cause::UsageDecline,
        Cause::LowAdoption,
        Cause::SeatsUnused,
        Cause::SupportSpike,
        Cause::CancelIntent,
        Cause::LatePayment,
        Cause::NpsDrop,
        Cause::ChampionLeft,
        Cause::SponsorQuiet,
        Cause::NoQbr,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Cause::UsageDecline => "usage_decline",
            Cause::LowAdoption => "low_adoption",
            Cause::SeatsUnused => "seats_unused",
            Cause::SupportSpike => "support_spike",
            Cause::CancelIntent => "cancel_intent",
            Cause::LatePayment => "late_payment",
            Cause::NpsDrop => "nps_drop",
            Cause::ChampionLeft => "champion_left",
            Cause::SponsorQuiet => "sponsor_quiet",
            Cause::NoQbr => "no_qbr",
        }
    }

    fn needs_usage(self) -> bool {
        matches!(self, Cause::UsageDecline | Cause::LowAdoption | Cause::SeatsUnused)
    }
}

#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Segment {
    Smb,
    MidMarket,
    Enterprise,
}

struct SegParams {
    name: &'static str,
    seats: (u32, u32),
    act_prob: f64,
    real_user_share: f64,
    tickets_per_month: f64,
    touches_per_month: f64,
    qbr: bool,
    billing_months: u32,
    p_risk: f64,
    contacts: (u32, u32),
}

impl Segment {
    fn params(self) -> SegParams {
        match self {
            Segment::Smb => SegParams {
                name: "smb",
                seats: (3, 20),
                act_prob: 0.28,
                real_user_share: 0.85,
                tickets_per_month: 0.5,
                touches_per_month: 1.5,
                qbr: false,
                billing_months: 1,
                p_risk: 0.30,
                contacts: (2, 4),
            },
            Segment::MidMarket => SegParams {
                name: "mid_market",
                seats: (15, 70),
                act_prob: 0.16,
                real_user_share: 0.75,
                tickets_per_month: 1.2,
                touches_per_month: 3.0,
                qbr: true,
                billing_months: 3,
                p_risk: 0.26,
                contacts: (3, 6),
            },
            Segment::Enterprise => SegParams {
                name: "enterprise",
                seats: (40, 200),
                act_prob: 0.07,
                real_user_share: 0.65,
                tickets_per_month: 2.5,
                touches_per_month: 5.0,
                qbr: true,
                billing_months: 12,
                p_risk: 0.22,
                contacts: (5, 9),
            },
        }
    }
}

pub const FEATURES: &[&str] = &["dashboards", "reports", "alerts", "integrations", "automation", "sharing"];

fn price(plan: &str) -> f64 {
    match plan {
        "starter" => 30.0,
        "pro" => 55.0,
        _ => 90.0,
    }
}

// ---- rows -----------------------------------------------------------------

pub struct AccountRow {
    pub id: String,
    pub name: String,
    pub segment: &'static str,
    pub industry: &'static str,
    pub plan: &'static str,
    pub seats: i64,
    pub arr: f64,
    pub contract_start: i32,
    pub renewal_date: Option<i32>,
    pub owner_email: String,
    pub crm_id: Option<String>,
}

/// Usage is the big table: kept compact until it is written.
#[derive(Clone, Copy)]
pub struct UsageRow {
    pub account: u32,
    pub user: u16,
    pub date: i32,
    pub feature: u8,
    pub events: u32,
    pub late: bool,
}

/// `feature` index into this list; `login` and `api` first.
pub fn usage_feature_name(i: u8) -> &'static str {
    match i {
        0 => "login",
        1 => "api",
        n => FEATURES[(n - 2) as usize],
    }
}

pub struct TicketRow {
    pub id: String,
    pub account: String,
    pub created_at: i64,
    pub resolved_at: Option<i64>,
    pub priority: &'static str,
    pub status: &'static str,
    pub csat: Option<i64>,
    pub subject: Option<&'static str>,
    pub body: &'static str,
}

pub struct InvoiceRow {
    pub id: String,
    pub account: String,
    pub issued_at: i32,
    pub due_date: i32,
    pub paid_at: Option<i32>,
    pub amount: f64,
}

pub struct NpsRow {
    pub account: String,
    pub contact: String,
    pub responded_at: i32,
    pub score: i64,
    pub comment: Option<&'static str>,
}

pub struct ActivityRow {
    pub account: String,
    pub contact: Option<String>,
    pub occurred_at: i64,
    pub kind: &'static str,
    pub direction: &'static str,
    /// What an inbound email said.
    pub body: Option<&'static str>,
}

pub struct ContactRow {
    pub id: String,
    pub account: String,
    pub title: Option<&'static str>,
    pub is_champion: bool,
    pub is_exec_sponsor: bool,
    pub left_at: Option<i32>,
}

pub struct SubRow {
    pub id: String,
    pub account: String,
    pub plan: &'static str,
    pub start: i32,
    pub end: Option<i32>,
    pub mrr: f64,
    pub seats: i64,
}

pub struct OutcomeRow {
    pub account: String,
    pub date: i32,
    pub kind: &'static str,
    pub arr_before: f64,
    pub arr_after: f64,
}

pub struct OverrideRow {
    pub account: String,
    pub tier: Option<&'static str>,
    pub score: Option<f64>,
    pub reason: &'static str,
    pub author: String,
    pub created_at: i64,
    pub expires_at: i64,
}

pub struct TruthRow {
    pub account: String,
    pub causes: String,
    pub onset: Option<i32>,
    pub resolved: Option<i32>,
    pub outcome: &'static str,
    pub latent_health: f64,
}

#[derive(Default)]
pub struct Chunk {
    pub accounts: Vec<AccountRow>,
    pub usage: Vec<UsageRow>,
    pub tickets: Vec<TicketRow>,
    pub invoices: Vec<InvoiceRow>,
    pub nps: Vec<NpsRow>,
    pub activities: Vec<ActivityRow>,
    pub contacts: Vec<ContactRow>,
    pub subscriptions: Vec<SubRow>,
    pub outcomes: Vec<OutcomeRow>,
    pub overrides: Vec<OverrideRow>,
    pub signals: Vec<SignalRow>,
    pub truth: Vec<TruthRow>,
}

/// An outside event, as a news or firmographics vendor reports it.
pub struct SignalRow {
    pub account: String,
    pub date: i32,
    pub kind: &'static str,
    pub magnitude: Option<f64>,
    pub source: &'static str,
}

// ---- the simulation --------------------------------------------------------

struct Episode {
    causes: Vec<Cause>,
    onset: i32,
    end: i32,
}

impl Episode {
    fn has(&self, c: Cause, d: i32) -> bool {
        d >= self.onset && d < self.end && self.causes.contains(&c)
    }
    fn progress(&self, d: i32) -> f64 {
        ((d - self.onset) as f64 / (self.end - self.onset).max(1) as f64).clamp(0.0, 1.0)
    }
}

fn add_years(d: i32, years: u32) -> i32 {
    day(date(d).checked_add_months(Months::new(12 * years)).unwrap())
}

pub fn account_id(idx: usize) -> String {
    format!("acc_{idx:06}")
}

/// The playbook whose effect the generator plants: the demo's save play
/// before a renewal, with the demo's control share.
pub const PLANTED_PLAYBOOK: &str = "pre-renewal-risk";
pub const PLANTED_CONTROL_SHARE: f64 = 0.1;
/// The default planted effect: outreach removes 30 % of an at-risk
/// account's chance of churning at its renewal.
pub const PLANTED_EFFECT: f64 = 0.3;

/// Simulates account `idx` and appends its rows to `out`. An at-risk
/// account (one in a risk episode ending at its renewal) that is not in the
/// planted playbook's control group for that renewal is reached by the CS
/// team: its chance of churning there falls by `effect` (a share of it).
pub fn simulate(idx: usize, seed: u64, history_start: i32, export: i32, effect: f64, out: &mut Chunk) {
    let mut rng = ChaCha8Rng::seed_from_u64(seed ^ (idx as u64 + 1).wrapping_mul(0x9E37_79B9_7F4A_7C15));
    let id = account_id(idx);
    let seg = match rng.random::<f64>() {
        x if x < 0.55 => Segment::Smb,
        x if x < 0.85 => Segment::MidMarket,
        _ => Segment::Enterprise,
    };
    let sp = seg.params();
    let industry = *text::INDUSTRIES.choose(&mut rng).unwrap();
    let api = rng.random::<f64>() < if seg == Segment::Smb { 0.03 } else { 0.12 };
    let no_usage = !api && rng.random::<f64>() < 0.02;
    let h0: f64 = 0.45 + 0.5 * rng.random::<f64>().powf(0.7);
    let mut plan: &'static str = match seg {
        Segment::Smb => {
            if rng.random::<f64>() < 0.6 {
                "starter"
            } else {
                "pro"
            }
        }
        Segment::MidMarket => {
            if rng.random::<f64>() < 0.7 {
                "pro"
            } else {
                "enterprise"
            }
        }
        Segment::Enterprise => "enterprise",
    };
    let contract_start = if rng.random::<f64>() < 0.55 {
        history_start - rng.random_range(1..1000)
    } else {
        rng.random_range(history_start..export - 45)
    };
    // Avoid 29 February so anniversaries stay on the same day every year.
    let contract_start = if date(contract_start).month() == 2 && date(contract_start).day() == 29 {
        contract_start + 1
    } else {
        contract_start
    };
    let mut seats = rng.random_range(sp.seats.0..=sp.seats.1) as i64;
    let owner = format!("{}@vendor.example", text::CSMS.choose(&mut rng).unwrap());

    // -- the contract timeline
    let mut sub_n = 0;
    let mut sub_start = contract_start;
    let mut episodes: Vec<Episode> = Vec::new();
    let mut truth_rows: Vec<TruthRow> = Vec::new();
    let mut churned_at: Option<i32> = None;
    let mut seat_changes: Vec<(i32, i64)> = vec![(contract_start, seats)];
    let mut cycle = 0u32;
    let mut cycle_start = contract_start;
    let mut allowed: Vec<Cause> = Cause::ALL
        .iter()
        .copied()
        .filter(|c| !(no_usage && c.needs_usage()))
        .filter(|c| sp.qbr || !matches!(c, Cause::NoQbr | Cause::SponsorQuiet))
        // an annual invoice may fall outside the episode: late payment would not show
        .filter(|c| sp.billing_months < 12 || *c != Cause::LatePayment)
        .collect();
    allowed.shuffle(&mut rng);
    let mrr = |plan: &str, seats: i64| price(plan) * seats as f64;
    let acct = id.clone();
    let close_sub = |out: &mut Chunk, start: i32, end: Option<i32>, plan: &'static str, seats: i64, n: &mut u32| {
        out.subscriptions.push(SubRow {
            id: format!("sub_{idx:06}_{n}"),
            account: acct.clone(),
            plan,
            start,
            end,
            mrr: mrr(plan, seats),
            seats,
        });
        *n += 1;
    };
    let mut renewal;
    loop {
        cycle += 1;
        renewal = add_years(contract_start, cycle);
        let mut p_risk = sp.p_risk * (1.45 - h0);
        if api {
            p_risk *= 0.4;
        }
        if no_usage {
            p_risk *= 1.8;
        }
        let mut episode = None;
        if rng.random::<f64>() < p_risk {
            let n = if rng.random::<f64>() < 0.7 { 1 } else { 2 };
            let causes: Vec<Cause> = allowed.choose_multiple(&mut rng, n).copied().collect();
            let onset = (renewal - rng.random_range(50..160)).max(cycle_start + 20);
            if onset < renewal - 20 {
                episode = Some(Episode { causes, onset, end: renewal });
            }
        }
        // Some at-risk accounts don't wait for the renewal: they terminate
        // early (a notice period, a non-payment, a switch).
        if let Some(e) = episode.as_ref().filter(|e| {
            e.causes.iter().any(|c| matches!(c, Cause::CancelIntent | Cause::LatePayment | Cause::SupportSpike))
        }) {
            let end = e.onset + rng.random_range(30..90);
            if rng.random::<f64>() < 0.3 && end < renewal - 10 && end < export {
                let before = mrr(plan, seats) * 12.0;
                close_sub(out, sub_start, Some(end), plan, seats, &mut sub_n);
                out.outcomes.push(OutcomeRow { account: id.clone(), date: end, kind: "churned", arr_before: before, arr_after: 0.0 });
                truth_rows.push(TruthRow {
                    account: id.clone(),
                    causes: names(&e.causes),
                    onset: Some(e.onset),
                    resolved: Some(end),
                    outcome: "churned",
                    latent_health: h0,
                });
                episodes.push(Episode { causes: e.causes.clone(), onset: e.onset, end });
                churned_at = Some(end);
                break;
            }
        }
        // Rare: a mid-contract churn after payments stop.
        if episode.is_none() && sp.billing_months < 12 && rng.random::<f64>() < 0.015 {
            let onset = cycle_start + rng.random_range(60..200);
            let end = onset + rng.random_range(60..100);
            if end < renewal && end < export {
                let before = mrr(plan, seats) * 12.0;
                close_sub(out, sub_start, Some(end), plan, seats, &mut sub_n);
                out.outcomes.push(OutcomeRow { account: id.clone(), date: end, kind: "churned", arr_before: before, arr_after: 0.0 });
                truth_rows.push(TruthRow {
                    account: id.clone(),
                    causes: Cause::LatePayment.name().into(),
                    onset: Some(onset),
                    resolved: Some(end),
                    outcome: "churned",
                    latent_health: h0,
                });
                episodes.push(Episode { causes: vec![Cause::LatePayment], onset, end });
                churned_at = Some(end);
                break;
            }
        }
        // A healthy account may buy seats mid-contract.
        if episode.is_none() && h0 > 0.6 && rng.random::<f64>() < 0.15 {
            let at = cycle_start + rng.random_range(60..300);
            if at < renewal - 30 && at < export {
                let before = mrr(plan, seats) * 12.0;
                close_sub(out, sub_start, Some(at), plan, seats, &mut sub_n);
                seats = (seats as f64 * rng.random_range(1.2..1.5)).round() as i64;
                sub_start = at;
                seat_changes.push((at, seats));
                out.outcomes.push(OutcomeRow {
                    account: id.clone(),
                    date: at,
                    kind: "expanded",
                    arr_before: before,
                    arr_after: mrr(plan, seats) * 12.0,
                });
            }
        }
        if renewal >= export {
            if let Some(e) = episode {
                if e.onset < export {
                    truth_rows.push(TruthRow {
                        account: id.clone(),
                        causes: names(&e.causes),
                        onset: Some(e.onset),
                        resolved: None,
                        outcome: "open",
                        latent_health: h0,
                    });
                    episodes.push(e);
                }
            }
            break;
        }
        let before = mrr(plan, seats) * 12.0;
        let mut p_churn = match &episode {
            Some(e) => 0.5 + 0.1 * (e.causes.len() as f64 - 1.0) + 0.3 * (0.65 - h0),
            None => 0.045 + 0.1 * (0.6 - h0).max(0.0),
        };
        if seg == Segment::Enterprise {
            p_churn *= 0.8;
        }
        if api {
            p_churn *= 0.5;
        }
        // The save play: the CS team reaches every at-risk account before its
        // renewal but those held out (the playbooks randomise per renewal, so
        // a held-out account stays held out until it). What the data shows is
        // a company whose CS team acts, so the at-risk churn seen on average
        // stays what it was without the plant; the held-out accounts churn
        // more, the reached ones `effect` less than the held out.
        if episode.is_some() {
            p_churn /= 1.0 - (1.0 - PLANTED_CONTROL_SHARE) * effect;
            if !crate::playbooks::in_control_group(&id, PLANTED_PLAYBOOK, renewal, PLANTED_CONTROL_SHARE) {
                p_churn *= 1.0 - effect;
            }
        }
        let churn = rng.random::<f64>() < p_churn.clamp(0.0, 0.95);
        let outcome: &'static str;
        if churn {
            close_sub(out, sub_start, Some(renewal), plan, seats, &mut sub_n);
            out.outcomes.push(OutcomeRow { account: id.clone(), date: renewal, kind: "churned", arr_before: before, arr_after: 0.0 });
            churned_at = Some(renewal);
            outcome = "churned";
        } else if episode.is_some() && rng.random::<f64>() < 0.45 {
            close_sub(out, sub_start, Some(renewal), plan, seats, &mut sub_n);
            seats = ((seats as f64) * rng.random_range(0.6..0.85)).round().max(1.0) as i64;
            sub_start = renewal;
            seat_changes.push((renewal, seats));
            out.outcomes.push(OutcomeRow {
                account: id.clone(),
                date: renewal,
                kind: "contracted",
                arr_before: before,
                arr_after: mrr(plan, seats) * 12.0,
            });
            outcome = "contracted";
        } else if episode.is_none() && rng.random::<f64>() < 0.28 * h0 {
            close_sub(out, sub_start, Some(renewal), plan, seats, &mut sub_n);
            seats = (seats as f64 * rng.random_range(1.15..1.5)).round() as i64;
            if plan == "starter" && rng.random::<f64>() < 0.3 {
                plan = "pro";
            }
            sub_start = renewal;
            seat_changes.push((renewal, seats));
            out.outcomes.push(OutcomeRow {
                account: id.clone(),
                date: renewal,
                kind: "expanded",
                arr_before: before,
                arr_after: mrr(plan, seats) * 12.0,
            });
            outcome = "expanded";
        } else {
            out.outcomes.push(OutcomeRow { account: id.clone(), date: renewal, kind: "renewed", arr_before: before, arr_after: before });
            outcome = "renewed";
        }
        match episode {
            Some(e) => {
                truth_rows.push(TruthRow {
                    account: id.clone(),
                    causes: names(&e.causes),
                    onset: Some(e.onset),
                    resolved: Some(renewal),
                    outcome,
                    latent_health: h0,
                });
                episodes.push(e);
            }
            None if churn => truth_rows.push(TruthRow {
                account: id.clone(),
                causes: "budget_cut".into(),
                onset: Some(renewal),
                resolved: Some(renewal),
                outcome,
                latent_health: h0,
            }),
            None => {}
        }
        if churn {
            break;
        }
        cycle_start = renewal;
    }
    if churned_at.is_none() {
        close_sub(out, sub_start, None, plan, seats, &mut sub_n);
    }
    if truth_rows.is_empty() {
        truth_rows.push(TruthRow { account: id.clone(), causes: "none".into(), onset: None, resolved: None, outcome: "healthy", latent_health: h0 });
    }
    out.truth.extend(truth_rows);

    let end = churned_at.unwrap_or(export).min(export);
    let first = contract_start.max(history_start);
    let ep_at = |d: i32| episodes.iter().find(|e| d >= e.onset && d < e.end);
    let has = |c: Cause, d: i32| ep_at(d).is_some_and(|e| e.has(c, d));

    // -- contacts
    let n_contacts = rng.random_range(sp.contacts.0..=sp.contacts.1);
    let has_sponsor = seg != Segment::Smb || rng.random::<f64>() < 0.5;
    let mut contacts: Vec<ContactRow> = Vec::new();
    for c in 0..n_contacts {
        let is_champion = c == 0;
        let is_exec_sponsor = c == 1 && has_sponsor;
        let mut left_at = None;
        if is_champion {
            if let Some(e) = episodes.iter().find(|e| e.causes.contains(&Cause::ChampionLeft)) {
                left_at = Some(e.onset + rng.random_range(0..10));
            } else if rng.random::<f64>() < 0.06 {
                // Champions leave healthy accounts too.
                left_at = Some(rng.random_range(first..end.max(first + 1)));
            }
        } else if !is_exec_sponsor && rng.random::<f64>() < 0.08 {
            left_at = Some(rng.random_range(first..end.max(first + 1)));
        }
        let left_at = left_at.filter(|d| *d < export);
        contacts.push(ContactRow {
            id: format!("con_{idx:06}_{c}"),
            account: id.clone(),
            title: if rng.random::<f64>() < 0.9 {
                Some(if is_exec_sponsor { "VP Operations" } else { text::TITLES.choose(&mut rng).unwrap() })
            } else {
                None
            },
            is_champion,
            is_exec_sponsor,
            left_at,
        });
    }
    let contact_present = |c: &ContactRow, d: i32| c.left_at.is_none_or(|l| d < l);

    // -- usage
    if !no_usage {
        let max_seats = seat_changes.iter().map(|s| s.1).max().unwrap_or(seats) as usize;
        let n_features = rng.random_range(2..=FEATURES.len());
        let mut adopted: Vec<u8> = (0..FEATURES.len() as u8).map(|f| f + 2).collect();
        adopted.shuffle(&mut rng);
        adopted.truncate(n_features);
        struct User {
            from: i32,
            real: bool,
            prop: f64,
            sticky: bool,
        }
        let mut users = Vec::with_capacity(max_seats);
        for u in 0..max_seats {
            // Seats added later get their users when they are bought.
            let bought = seat_changes.iter().find(|(_, s)| (*s as usize) > u).map(|c| c.0).unwrap_or(contract_start);
            users.push(User {
                from: bought + rng.random_range(0..30),
                real: rng.random::<f64>() < sp.real_user_share,
                prop: 0.4 + 1.2 * rng.random::<f64>(),
                sticky: rng.random::<f64>() < 0.4,
            });
        }
        let login_factor = if api { 0.25 } else { 1.0 };
        let base_health = 0.55 + 0.6 * h0;
        for d in first..end {
            let wd = (d + 3).rem_euclid(7);
            let weekday = if wd >= 5 { 0.12 } else { 1.0 };
            let month = date(d).month();
            let season = if month == 12 || month == 8 { 0.8 } else { 1.0 };
            let ep = ep_at(d);
            let mut health = base_health * season;
            let mut adoption_cut = 0.0;
            if let Some(e) = ep {
                let p = e.progress(d);
                if e.has(Cause::UsageDecline, d) {
                    health *= 1.0 - 0.8 * p;
                }
                if e.has(Cause::LowAdoption, d) {
                    adoption_cut = 0.2 + 0.8 * p;
                }
                if !e.causes.iter().any(|c| c.needs_usage()) {
                    health *= 0.95;
                }
            }
            let seats_unused = has(Cause::SeatsUnused, d);
            for (ui, u) in users.iter().enumerate() {
                if !u.real || d < u.from {
                    continue;
                }
                if seats_unused && !u.sticky {
                    continue;
                }
                let p = sp.act_prob * u.prop * weekday * health * login_factor;
                if rng.random::<f64>() >= p {
                    continue;
                }
                let late = rng.random::<f64>() < 0.003;
                out.usage.push(UsageRow { account: idx as u32, user: ui as u16, date: d, feature: 0, events: rng.random_range(1..4), late });
                // low adoption: the team abandons whole product areas, the
                // last adopted first, more of them as the episode goes on
                let abandoned = ((adopted.len() - 1) as f64 * adoption_cut).round() as usize;
                for (k, f) in adopted.iter().enumerate() {
                    let keep = if k == 0 {
                        0.9
                    } else if k >= adopted.len() - abandoned {
                        0.0
                    } else {
                        0.55
                    };
                    if rng.random::<f64>() < keep {
                        out.usage.push(UsageRow {
                            account: idx as u32,
                            user: ui as u16,
                            date: d,
                            feature: *f,
                            events: rng.random_range(1..20),
                            late,
                        });
                    }
                }
            }
            if api && wd < 5 {
                let scale = if has(Cause::UsageDecline, d) { 1.0 - 0.8 * ep.map(|e| e.progress(d)).unwrap_or(0.0) } else { 1.0 };
                let events = (rng.random_range(200.0..3000.0) * scale) as u32;
                if events > 0 {
                    out.usage.push(UsageRow { account: idx as u32, user: u16::MAX, date: d, feature: 1, events, late: false });
                }
            }
        }
    }

    // -- tickets (incidents: short spikes that healthy accounts have too)
    let incidents: Vec<(i32, i32)> = (0..((end - first).max(0) / 365 + 1))
        .filter_map(|_| {
            (rng.random::<f64>() < 0.1 && end > first + 30).then(|| {
                let s = rng.random_range(first..end - 20);
                (s, s + 21)
            })
        })
        .collect();
    let mut tn = 0;
    let mut ticket = |rng: &mut ChaCha8Rng, out: &mut Chunk, d: i32, kind: TicketKind, high_share: f64, csat_shift: f64, slow: f64| {
        let created = d as i64 * DAY_US + rng.random_range(7..19) as i64 * 3_600_000_000 + rng.random_range(0..3_600_000_000);
        let high = rng.random::<f64>() < high_share;
        let priority = if high {
            if rng.random::<f64>() < 0.3 { "urgent" } else { "high" }
        } else if rng.random::<f64>() < 0.5 {
            "normal"
        } else {
            "low"
        };
        let hours = (rng.random_range(1.0f64..4.5).exp() * if high { 0.5 } else { 1.0 } * slow).max(0.2);
        let mut resolved = Some(created + (hours * 3_600_000_000.0) as i64);
        if rng.random::<f64>() < 0.03 {
            resolved = None;
        }
        let resolved = resolved.filter(|r| *r < export as i64 * DAY_US);
        let csat = if resolved.is_some() && rng.random::<f64>() < 0.55 {
            let base: f64 = 4.3 + csat_shift + rng.random_range(-1.2..0.8);
            Some(base.round().clamp(1.0, 5.0) as i64)
        } else {
            None
        };
        let (subject, body) = text::ticket_text(rng, kind);
        out.tickets.push(TicketRow {
            id: format!("tkt_{idx:06}_{tn}"),
            account: id.clone(),
            created_at: created,
            resolved_at: resolved,
            priority,
            status: if resolved.is_some() { "solved" } else if rng.random::<f64>() < 0.5 { "open" } else { "pending" },
            csat,
            subject: if rng.random::<f64>() < 0.97 { Some(subject) } else { None },
            body,
        });
        tn += 1;
    };
    let mut cancel_left: Vec<(i32, i32)> = episodes
        .iter()
        .filter(|e| e.causes.contains(&Cause::CancelIntent))
        .map(|e| (e.onset, rng.random_range(1..=3)))
        .collect();
    for d in first..end {
        let tenure = d - contract_start;
        let mut rate = sp.tickets_per_month / 30.0 * (0.7 + 0.6 * (1.0 - h0));
        let spike = has(Cause::SupportSpike, d) || incidents.iter().any(|(a, b)| d >= *a && d < *b);
        if spike {
            rate *= 5.0;
        }
        if rng.random::<f64>() < rate {
            let kind = if spike && rng.random::<f64>() < 0.4 { TicketKind::Negative } else { TicketKind::Routine };
            let shift = if spike { -1.6 } else if ep_at(d).is_some() { -0.4 } else { 0.0 };
            ticket(&mut rng, out, d, kind, if spike { 0.45 } else { 0.1 }, shift, if spike { 2.5 } else { 1.0 });
        }
        if (0..60).contains(&tenure) && rng.random::<f64>() < 2.5 / 30.0 {
            ticket(&mut rng, out, d, TicketKind::Onboarding, 0.05, 0.2, 1.0);
        }
        if let Some(e) = ep_at(d) {
            if e.has(Cause::CancelIntent, d) {
                for c in cancel_left.iter_mut() {
                    if c.0 == e.onset && c.1 > 0 && rng.random::<f64>() < 0.05 {
                        c.1 -= 1;
                        ticket(&mut rng, out, d, TicketKind::Cancel, 0.3, -1.0, 1.0);
                    }
                }
            }
        }
    }

    // -- invoices: billed in advance from the contract start
    let mut issued = contract_start;
    let mut inv_n = 0;
    while issued < end {
        let period = sp.billing_months;
        let seats_then = seat_changes.iter().rev().find(|(d, _)| *d <= issued).map(|c| c.1).unwrap_or(seats);
        let amount = mrr(plan, seats_then) * period as f64;
        let due = issued + 30;
        // Trouble paying hits every invoice that falls due once it starts.
        let paid = if has(Cause::LatePayment, due) || has(Cause::LatePayment, issued) {
            if rng.random::<f64>() < 0.25 { None } else { Some(due + rng.random_range(35..100)) }
        } else if rng.random::<f64>() < 0.08 {
            Some(due + rng.random_range(1..20))
        } else {
            Some(due - rng.random_range(0..25))
        };
        if issued >= history_start - 400 {
            out.invoices.push(InvoiceRow {
                id: format!("inv_{idx:06}_{inv_n}"),
                account: id.clone(),
                issued_at: issued,
                due_date: due,
                paid_at: paid.filter(|p| *p < export),
                amount,
            });
        }
        inv_n += 1;
        issued = day(date(issued).checked_add_months(Months::new(period)).unwrap());
    }

    // -- NPS surveys every quarter per contact; unhappy people answer more
    for c in &contacts {
        let mut d = first + rng.random_range(0..90);
        while d < end {
            let rate = if has(Cause::NpsDrop, d) { 0.7 } else { 0.3 };
            if contact_present(c, d) && rng.random::<f64>() < rate {
                let mut s = 6.0 + 4.0 * h0 + rng.random_range(-2.0..1.5);
                if has(Cause::NpsDrop, d) {
                    s = rng.random_range(0.0..5.5);
                } else if ep_at(d).is_some() {
                    s -= 1.0;
                }
                let score = s.round().clamp(0.0, 10.0) as i64;
                let comment = if rng.random::<f64>() < 0.4 {
                    Some(*if score >= 7 { text::NPS_GOOD } else { text::NPS_BAD }.choose(&mut rng).unwrap())
                } else {
                    None
                };
                out.nps.push(NpsRow { account: id.clone(), contact: c.id.clone(), responded_at: d, score, comment });
            }
            d += 90;
        }
    }

    // -- CSM activities
    let sponsor = contacts.iter().find(|c| c.is_exec_sponsor).map(|c| c.id.clone());
    let mut next_qbr = first + rng.random_range(0..90);
    for d in first..end {
        let quiet = has(Cause::SponsorQuiet, d);
        let mut rate = sp.touches_per_month / 30.0;
        if quiet {
            rate *= 0.5;
        }
        if rng.random::<f64>() < rate {
            let kind = *["email", "email", "call", "meeting"].choose(&mut rng).unwrap();
            let present: Vec<&ContactRow> = contacts.iter().filter(|c| contact_present(c, d)).collect();
            let mut contact = present.choose(&mut rng).map(|c| c.id.clone());
            if quiet && contact == sponsor {
                contact = None;
            }
            // Sponsors take part in a share of meetings while engaged.
            if kind == "meeting" && !quiet && rng.random::<f64>() < 0.5 {
                contact = sponsor.clone().or(contact);
            }
            // the draws in the order they always were: contact, time, direction
            let contact = if rng.random::<f64>() < 0.1 { None } else { contact };
            let occurred_at = d as i64 * DAY_US + rng.random_range(8..18) as i64 * 3_600_000_000;
            let direction = if kind == "email" && rng.random::<f64>() < 0.4 { "inbound" } else { "outbound" };
            // what the customer wrote, picked without a draw
            let body = (direction == "inbound").then(|| {
                let champion_leaving = contacts.iter().any(|c| c.is_champion && Some(&c.id) == contact.as_ref() && c.left_at.is_some_and(|l| d >= l - 21 && d < l));
                let leaving = ep_at(d).is_some_and(|e| e.has(Cause::CancelIntent, d));
                text::email_text(idx * 7 + d.unsigned_abs() as usize, leaving, champion_leaving)
            });
            out.activities.push(ActivityRow { account: id.clone(), contact, occurred_at, kind, direction, body });
        }
        if sp.qbr && d >= next_qbr {
            if !has(Cause::NoQbr, d) {
                let with = if has(Cause::SponsorQuiet, d) { None } else { sponsor.clone() };
                out.activities.push(ActivityRow {
                    account: id.clone(),
                    contact: with,
                    occurred_at: d as i64 * DAY_US + 15 * 3_600_000_000,
                    kind: "qbr",
                    direction: "outbound",
                    body: None,
                });
            }
            next_qbr = d + rng.random_range(80..100);
        }
    }

    // -- overrides: a few CSMs overrule the score on accounts they know
    if churned_at.is_none() && rng.random::<f64>() < 0.03 {
        let created = export - rng.random_range(1..60);
        let (tier, score, reason) = match rng.random_range(0..3) {
            0 => (Some("green"), None, "Exec sponsor confirmed the renewal on a call"),
            1 => (Some("red"), None, "Customer escalated a known outage to their CEO"),
            _ => (None, Some(55.0), "New team onboarding; usage will pick up next month"),
        };
        out.overrides.push(OverrideRow {
            account: id.clone(),
            tier,
            score,
            reason,
            author: owner.clone(),
            created_at: created as i64 * DAY_US + 10 * 3_600_000_000,
            expires_at: (created + rng.random_range(14..120)) as i64 * DAY_US,
        });
    }

    // -- outside signals, from a stream of their own (the rest of the company
    // stays as it was): trouble shows up as layoffs, a new leader or worse
    // before an episode of risk; healthy accounts raise money and hire.
    {
        let mut srng = ChaCha8Rng::seed_from_u64(seed ^ 0x5157_4E41_4C53 ^ (idx as u64 + 1).wrapping_mul(0xD1B5_4A32_D192_ED03));
        let mut push = |date: i32, kind: &'static str, magnitude: Option<f64>, source: &'static str| {
            if date >= first && date < export {
                out.signals.push(SignalRow { account: id.clone(), date, kind, magnitude, source });
            }
        };
        for e in &episodes {
            let lead = srng.random_range(5..60);
            if srng.random::<f64>() < 0.35 {
                push(e.onset - lead, "layoffs", Some((srng.random_range(0.05f64..0.35) * 100.0).round() / 100.0), "newswire");
            }
            if e.causes.contains(&Cause::ChampionLeft) || srng.random::<f64>() < 0.15 {
                push(e.onset - srng.random_range(0..30), "leadership_change", None, "firmographics");
            }
            if srng.random::<f64>() < 0.03 {
                push(e.onset + srng.random_range(0..30), "bankruptcy", None, "courts");
            }
        }
        // and the ordinary news of any company
        let months = ((end - first) / 30).max(1);
        for _ in 0..months {
            let d = srng.random_range(first..end.max(first + 1));
            match srng.random_range(0..100) {
                0..=2 => push(d, "funding", Some((srng.random_range(2.0f64..80.0)).round() * 1e6), "newswire"),
                3..=4 => push(d, "hiring_surge", Some(srng.random_range(10.0f64..60.0).round()), "job boards"),
                5 => push(d, "leadership_change", None, "firmographics"),
                6 => push(d, "layoffs", Some((srng.random_range(0.03f64..0.15) * 100.0).round() / 100.0), "newswire"),
                7 if srng.random::<f64>() < 0.2 => push(d, "acquisition", None, "newswire"),
                _ => {}
            }
        }
    }

    out.contacts.extend(contacts);

    // -- today's snapshot of the account
    // A churned account's renewal date is what CRMs leave behind: nulled,
    // kept at the renewal it never reached, or set to the termination day —
    // so no feature may read it at a past snapshot (the leak test).
    let next_renewal = match churned_at {
        None => Some(renewal),
        Some(at) => match idx % 3 {
            0 => None,
            1 => Some(renewal),
            _ => Some(at),
        },
    };
    out.accounts.push(AccountRow {
        id: id.clone(),
        name: text::company_name(&mut rng),
        segment: sp.name,
        industry,
        plan,
        seats,
        arr: if churned_at.is_some() { 0.0 } else { mrr(plan, seats) * 12.0 },
        contract_start,
        renewal_date: next_renewal,
        owner_email: owner,
        crm_id: if rng.random::<f64>() < 0.95 { Some(format!("{}", 9_000_000_000u64 + idx as u64 * 7919)) } else { None },
    });
}

fn names(c: &[Cause]) -> String {
    c.iter().map(|c| c.name()).collect::<Vec<_>>().join(",")
}
