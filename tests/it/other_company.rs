//! A company the SQL was not written for: monthly and annual billing mixed,
//! usage without `user_id` and with other feature names, no `tickets`,
//! `contacts`, `nps` or `outcomes` (churn is derived from billing), activity
//! kinds of its own, timestamps with zones, dictionary-encoded strings,
//! accounts without a renewal date and churned accounts deleted from
//! `accounts`. Its words reach the SQL only through a vocabulary file.
//!
//! The planted signal: accounts that will churn lose usage over the 90 days
//! before they go and stop holding executive reviews. Some of them say so in
//! inbound emails (`activities.body`, English and German, in words of its
//! own: feature set v3 reads them), drawn from a random stream of their own
//! so every other table is the same with or without them.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use arrow::array::{ArrayRef, DictionaryArray, Float64Array, Int64Array, StringArray, TimestampMicrosecondArray};
use arrow::datatypes::Int32Type;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

use crate::common::*;

const US_PER_DAY: i64 = 86_400_000_000;

pub struct OtherCompany {
    pub dir: PathBuf,
    pub config: PathBuf,
    /// Accounts with a subscription running on the export day.
    pub live: BTreeSet<String>,
    pub churned: usize,
}

fn strings(v: Vec<String>) -> ArrayRef {
    Arc::new(StringArray::from(v))
}

fn dictionary(v: &[String]) -> ArrayRef {
    Arc::new(v.iter().map(String::as_str).collect::<DictionaryArray<Int32Type>>())
}

fn zoned(days: &[i64], tz: &str) -> ArrayRef {
    Arc::new(TimestampMicrosecondArray::from(days.iter().map(|d| d * US_PER_DAY + 14 * 3_600_000_000).collect::<Vec<_>>()).with_timezone(tz))
}

fn date32(days: &[Option<i32>]) -> ArrayRef {
    Arc::new(arrow::array::Date32Array::from(days.to_vec()))
}

/// What its customers write when they mean to leave — none of it the
/// generator's words, some of it the lexicon's, some not (German negation,
/// "look elsewhere").
pub const OTHER_LEAVING: &[&str] = &[
    "Wir werden den Vertrag zum Laufzeitende kündigen.",
    "Leider müssen wir die Zusammenarbeit beenden, das Budget wurde gestrichen.",
    "Our CFO asked us to look elsewhere before the renewal.",
    "Please treat this email as our notice of termination.",
    "Heads up: we are evaluating other tools for next year.",
    "Bitte schicken Sie uns die Kündigungsbestätigung.",
    "Management froze all software spend, so we will wind down our usage.",
    "Our sponsor Julia is leaving the company at the end of the month.",
];

/// Complaints that are not a goodbye.
pub const OTHER_UNHAPPY: &[&str] = &[
    "The forecasting module has been broken for a week and nobody answers.",
    "Das Dashboard ist seit Tagen extrem langsam.",
    "Honestly this is frustrating: the export failed again.",
    "We are disappointed with how long the last fix took.",
];

/// Everyday mail, including harmless uses of the lexicon's words.
pub const OTHER_ROUTINE: &[&str] = &[
    "Thanks for the session yesterday, the team loved it.",
    "Danke für das Training, das Team ist begeistert.",
    "Could you send the invoice for Q3 to our new address?",
    "We will not cancel, we are planning to add two more teams.",
    "Can we move the review to Thursday?",
    "Wir werden nicht kündigen, im Gegenteil: wir erweitern.",
    "Great work on the new alerts, very useful.",
    "Please cancel the meeting on Friday, we will reschedule.",
];

/// Writes the company under `dir` (`accounts` counts the accounts ever seen).
pub fn build(dir: &Path, accounts: usize, seed: u64) -> OtherCompany {
    let data = dir.join("data");
    let export = day(EXPORT_DATE) as i64;
    let history = export - 720;
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let (mut a_id, mut a_seg, mut a_plan, mut a_seats, mut a_arr, mut a_start, mut a_renew, mut a_crm) =
        (vec![], vec![], vec![], vec![], vec![], vec![], vec![], vec![]);
    let (mut s_id, mut s_acc, mut s_plan, mut s_start, mut s_end, mut s_mrr, mut s_seats, mut s_term) =
        (vec![], vec![], vec![], vec![], vec![], vec![], vec![], vec![]);
    let (mut u_acc, mut u_day, mut u_feat, mut u_events) = (vec![], vec![], vec![], vec![]);
    let (mut v_acc, mut v_contact, mut v_at, mut v_kind, mut v_dir, mut v_body) = (vec![], vec![], vec![], vec![], vec![], vec![]);
    let mut mail = ChaCha8Rng::seed_from_u64(seed ^ 0x6d61_696c);
    let (mut i_id, mut i_acc, mut i_issued, mut i_due, mut i_paid, mut i_amount) = (vec![], vec![], vec![], vec![], vec![], vec![]);
    let mut live = BTreeSet::new();
    let mut churned = 0;
    for i in 0..accounts {
        let id = format!("CUST-{:04}", 1000 + i);
        let monthly = i % 3 == 0;
        let term = if monthly { 30 } else { 365 };
        let start = if rng.random::<f64>() < 0.6 { history - rng.random_range(0..365) } else { history + rng.random_range(0..300) };
        let healthy = rng.random::<f64>() > 0.3;
        let seats = rng.random_range(5..120) as i64;
        let mrr = seats as f64 * if monthly { 30.0 } else { 25.0 };
        // churn at a renewal: the unhealthy often, the healthy rarely
        let mut churn_day = None;
        let mut r = start + term;
        while r < export {
            let p = match (monthly, healthy) {
                (true, false) => 0.06,
                (true, true) => 0.004,
                (false, false) => 0.45,
                (false, true) => 0.04,
            };
            if r > history + 60 && rng.random::<f64>() < p {
                churn_day = Some(r);
                break;
            }
            r += term;
        }
        let end = churn_day.unwrap_or(export);
        s_id.push(format!("SUB-{i}"));
        s_acc.push(id.clone());
        s_plan.push(if seats > 60 { "Scale".to_string() } else { "Team".to_string() });
        s_start.push(Some(start as i32));
        s_end.push(churn_day.map(|d| d as i32));
        s_mrr.push(mrr);
        s_seats.push(seats);
        s_term.push(if monthly { 1 } else { 12 });
        if churn_day.is_some() {
            churned += 1;
        } else {
            live.insert(id.clone());
        }
        // today's accounts row: churned accounts are deleted half the time;
        // monthly accounts have no renewal date
        if churn_day.is_none() || i % 2 == 1 {
            a_id.push(id.clone());
            a_seg.push(["SMB", "Mid-Market", "Enterprise"][(seats / 40).min(2) as usize].to_string());
            a_plan.push(s_plan.last().unwrap().clone());
            a_seats.push(seats);
            a_arr.push(if churn_day.is_some() { 0.0 } else { mrr * 12.0 });
            a_start.push(start);
            a_renew.push(if monthly { None } else { Some((start + ((export - start) / 365 + 1) * 365) as i32) });
            a_crm.push(format!("{}", 800_000 + i));
        }
        // usage every 3 days, no user ids. Most churners fade over the 90
        // days before they go, some leave without warning, and some healthy
        // accounts dip for two months and recover: a signal, not a giveaway
        let base = seats as f64 * if healthy { 3.0 } else { 1.8 };
        let warns = rng.random::<f64>() < 0.65;
        let dip = (rng.random::<f64>() < 0.15).then(|| history + rng.random_range(0..660));
        let mut d = start.max(history);
        while d < end {
            let fade = match (churn_day, dip) {
                (Some(c), _) if warns && c - d < 90 => 0.15 + 0.85 * (c - d) as f64 / 90.0,
                (_, Some(p)) if d >= p && d < p + 60 => 0.45,
                _ => 1.0,
            };
            // product areas: the healthy use more of them, and a fading account drops them
            let areas = [("sign_in", 0.5, 1.0), ("dashboards", 1.0, 0.95), ("report_export", 0.3, 0.7), ("alerts", 0.4, 0.5), ("forecasting", 0.6, 0.35), ("webhook_call", 2.0, 0.8)];
            for (f, share, reach) in areas {
                let used = rng.random::<f64>() < reach * fade * if healthy { 1.0 } else { 0.7 };
                let n = (base * share * fade * rng.random_range(0.7..1.3)).round() as i64;
                if used && n > 0 {
                    u_acc.push(id.clone());
                    u_day.push(Some(d as i32));
                    u_feat.push(f.to_string());
                    u_events.push(n);
                }
            }
            d += 3;
        }
        // activities: check-ins, and executive reviews while things go well
        let mut d = start.max(history) + rng.random_range(0..20);
        while d < end {
            let near_churn = warns && churn_day.is_some_and(|c| c - d < 150);
            let kind = if d % 90 < 20 && !near_churn { "exec_review" } else if rng.random::<f64>() < 0.5 { "check_in" } else { "email" };
            v_acc.push(id.clone());
            v_contact.push(format!("{id}-p{}", rng.random_range(0..4)));
            v_at.push(d);
            v_kind.push(kind.to_string());
            v_dir.push("outbound".to_string());
            v_body.push(None);
            d += rng.random_range(10..30);
        }
        // what the customer writes back, every six weeks or so
        let mut d = start.max(history) + mail.random_range(0..45);
        while d < end {
            let leaving = warns && churn_day.is_some_and(|c| c - d < 100) && mail.random::<f64>() < 0.6;
            let pool = if leaving {
                OTHER_LEAVING
            } else if !healthy && mail.random::<f64>() < 0.3 {
                OTHER_UNHAPPY
            } else {
                OTHER_ROUTINE
            };
            v_acc.push(id.clone());
            v_contact.push(format!("{id}-p{}", mail.random_range(0..4)));
            v_at.push(d);
            v_kind.push("email".to_string());
            v_dir.push("inbound".to_string());
            v_body.push(Some(pool[mail.random_range(0..pool.len())].to_string()));
            d += mail.random_range(30..60);
        }
        // invoices per term; the unhealthy pay late
        let mut d = start.max(history - 365);
        let mut k = 0;
        while d < end.min(export - 1) {
            let late = if healthy { rng.random_range(0..10) } else { rng.random_range(10..60) };
            i_id.push(format!("INV-{i}-{k}"));
            i_acc.push(id.clone());
            i_issued.push(Some(d as i32));
            i_due.push(Some(d as i32 + 30));
            i_paid.push((d + 30 + late < export).then_some((d + 30 + late) as i32));
            i_amount.push(mrr * if monthly { 1.0 } else { 12.0 });
            d += term;
            k += 1;
        }
    }
    write_parquet(
        &data.join("accounts.parquet"),
        vec![
            ("account_id", strings(a_id.clone())),
            ("name", strings(a_id.iter().map(|i| format!("{i} GmbH")).collect())),
            ("segment", dictionary(&a_seg)),
            ("industry", dictionary(&vec!["Logistics".to_string(); a_id.len()])),
            ("plan", dictionary(&a_plan)),
            ("seats_licensed", Arc::new(Int64Array::from(a_seats)) as ArrayRef),
            ("arr", Arc::new(Float64Array::from(a_arr)) as ArrayRef),
            ("contract_start", zoned(&a_start, "Europe/Berlin")),
            ("renewal_date", date32(&a_renew)),
            ("crm_id", strings(a_crm)),
        ],
    );
    write_parquet(
        &data.join("subscriptions.parquet"),
        vec![
            ("subscription_id", strings(s_id)),
            ("account_id", strings(s_acc)),
            ("plan", dictionary(&s_plan)),
            ("start_date", date32(&s_start)),
            ("end_date", date32(&s_end)),
            ("mrr", Arc::new(Float64Array::from(s_mrr)) as ArrayRef),
            ("seats", Arc::new(Int64Array::from(s_seats)) as ArrayRef),
            ("term_months", Arc::new(Int64Array::from(s_term)) as ArrayRef),
        ],
    );
    write_parquet(
        &data.join("usage/part-0.parquet"),
        vec![
            ("account_id", strings(u_acc)),
            ("date", date32(&u_day)),
            ("feature", dictionary(&u_feat)),
            ("events", Arc::new(Int64Array::from(u_events)) as ArrayRef),
        ],
    );
    write_parquet(
        &data.join("activities.parquet"),
        vec![
            ("account_id", strings(v_acc)),
            ("contact_id", strings(v_contact)),
            ("occurred_at", zoned(&v_at, "America/New_York")),
            ("kind", dictionary(&v_kind)),
            ("direction", strings(v_dir)),
            ("body", Arc::new(StringArray::from(v_body)) as ArrayRef),
        ],
    );
    write_parquet(
        &data.join("invoices.parquet"),
        vec![
            ("invoice_id", strings(i_id)),
            ("account_id", strings(i_acc)),
            ("issued_at", date32(&i_issued)),
            ("due_date", date32(&i_due)),
            ("paid_at", date32(&i_paid)),
            ("amount", Arc::new(Float64Array::from(i_amount)) as ArrayRef),
        ],
    );
    std::fs::write(
        dir.join("vocabulary.yaml"),
        "usage:\n  login: [sign_in]\n  api: [webhook_call]\nactivity:\n  meeting: [check_in]\n  business_review: [exec_review]\n",
    )
    .unwrap();
    let config = config_for(dir, &data, &dir.join("models"), "");
    let yaml = std::fs::read_to_string(&config).unwrap().replace("  version: v2\n", "  version: v2\n  vocabulary_file: vocabulary.yaml\n");
    std::fs::write(&config, yaml).unwrap();
    OtherCompany { dir: dir.to_path_buf(), config, live, churned }
}

#[test]
fn a_company_shaped_otherwise_trains_and_scores_every_live_account() {
    let dir = scratch("other-company");
    let o = build(&dir, 400, 3);
    assert!(o.churned > 60 && o.live.len() > 150, "{} churned, {} live", o.churned, o.live.len());
    let cfg = o.config.to_str().unwrap();
    let r = hs(&["validate", "-c", cfg]);
    assert_eq!(r.code, 0, "{}", r.all());
    let r = hs(&["train", "-c", cfg]);
    assert_eq!(r.code, 0, "{}", r.all());
    let card = current_card(&o.dir);
    // what the export lacks is dropped and named
    for f in ["active_users_30d", "tickets_90d", "nps_latest", "champion_left_90d"] {
        assert!(card.warnings.iter().any(|w| w.starts_with(&format!("dropped `{f}`"))), "{f} not reported as dropped: {:?}", card.warnings);
        assert!(!card.features.contains(&f.to_string()));
    }
    // the vocabulary made the company's own words count
    for f in ["logins_30d", "api_share_30d", "qbr_last_120d", "feature_breadth_30d", "days_to_renewal"] {
        assert!(card.features.contains(&f.to_string()), "{f} missing: {:?} / {:?}", card.features, card.warnings);
    }
    assert!(card.vocabulary["usage"]["login"] == vec!["sign_in".to_string()]);
    let h = card.health.as_ref().expect("the health score is checked");
    let auc = h.model.as_ref().map(|m| m.auc_horizon).unwrap_or(h.rules.auc_horizon).unwrap();
    assert!(auc > 0.65, "health-score AUC {auc} on the other company");

    let r = hs(&["score", "-c", cfg]);
    assert_eq!(r.code, 0, "{}", r.all());
    let t = read_parquet(&o.dir.join(format!("out/account_scores/as_of={EXPORT_DATE}/part-0.parquet")));
    let ids: BTreeSet<String> = t.iter().flat_map(|b| healthscore::columns::strings(b, "account_id").unwrap()).flatten().collect();
    assert_eq!(ids, o.live, "scores must exist for every live account, and only for them");

    // the demo's playbooks on this company: what its export cannot feed never fires
    let text = std::fs::read_to_string(repo().join("config/healthscore.yaml")).unwrap();
    let yaml = std::fs::read_to_string(&o.config).unwrap() + &text[text.find("\nplaybooks:").unwrap()..];
    std::fs::write(&o.config, yaml).unwrap();
    let r = hs(&["score", "-c", cfg]);
    assert_eq!(r.code, 0, "{}", r.all());
    let a = read_parquet(&o.dir.join(format!("out/alerts/as_of={EXPORT_DATE}/part-0.parquet")));
    let col = |name: &str| a.iter().flat_map(|b| healthscore::columns::strings(b, name).unwrap()).flatten().collect::<Vec<_>>();
    let (playbooks, accounts, messages) = (col("playbook"), col("account_id"), col("message"));
    assert!(!playbooks.is_empty(), "some playbook fires on this company too");
    assert!(!playbooks.iter().any(|p| p == "nps-detractor" || p == "champion-left"), "it has no NPS and no contacts: {playbooks:?}");
    assert!(accounts.iter().all(|a| o.live.contains(a)), "alerts only for live accounts");
    assert!(messages.iter().all(|m| m.ends_with('.') && m.len() > 30), "{messages:?}");

    // the renewal forecast without `outcomes`: moves and churn derived from
    // the billing, accounts without a renewal date left out and counted
    let f = read_parquet(&o.dir.join(format!("out/renewal_forecast/as_of={EXPORT_DATE}/part-0.parquet")));
    let forecast: BTreeSet<String> = f.iter().flat_map(|b| healthscore::columns::strings(b, "account_id").unwrap()).flatten().collect();
    assert!(!forecast.is_empty() && forecast.is_subset(&o.live), "only live accounts renew");
    let m = std::fs::read_dir(o.dir.join("out/runs")).unwrap().flatten().map(|e| std::fs::read_to_string(e.path()).unwrap()).find(|t| t.contains("\"forecast\"")).unwrap();
    assert!(m.contains("without a renewal date") && !m.contains(" 0 without a renewal date"), "the accounts without a renewal date are counted: {m}");
    let b = hs(&["forecast", "--backtest", "-c", cfg]);
    assert_eq!(b.code, 0, "{}", b.all());
    println!("{}", b.stdout);
    let total = b.stdout.lines().find(|l| l.trim_start().starts_with("total")).expect("a total line");
    let error: f64 = total.split_whitespace().nth(5).unwrap().trim_end_matches('%').parse().unwrap();
    assert!(error.abs() <= 15.0, "the forecast backtest on this company: {total}");
}

/// The card of the company's current model.
fn current_card(dir: &Path) -> healthscore::model::card::Card {
    let version = std::fs::read_to_string(dir.join("models/churn/current")).unwrap().trim().to_string();
    serde_json::from_str(&std::fs::read_to_string(dir.join("models/churn").join(&version).join("card.json")).unwrap()).unwrap()
}

/// The health score's AUC on the card's test window.
fn health_auc(dir: &Path) -> f64 {
    let card = current_card(dir);
    let h = card.health.as_ref().expect("the health score is checked");
    h.model.as_ref().map(|m| m.auc_horizon).unwrap_or(h.rules.auc_horizon).unwrap()
}

#[test]
fn feature_set_v3_reads_what_the_other_companys_customers_wrote() {
    let v2 = build(&scratch("other-company-v2"), 400, 3);
    let o = build(&scratch("other-company-v3"), 400, 3);
    let yaml = std::fs::read_to_string(&o.config).unwrap().replace("  version: v2\n", "  version: v3\n");
    std::fs::write(&o.config, yaml).unwrap();
    let cfg = o.config.to_str().unwrap();
    for c in [v2.config.to_str().unwrap(), cfg] {
        let r = hs(&["train", "-c", c]);
        assert_eq!(r.code, 0, "{}", r.all());
    }
    let card = current_card(&o.dir);
    // no tickets and no NPS, but inbound email bodies: the text features stand on them
    for f in ["sentiment_30d", "negative_share_90d", "intent_cancel_90d", "intent_competitor_90d"] {
        assert!(card.features.contains(&f.to_string()), "{f} missing: {:?}", card.warnings);
    }
    assert!(card.warnings.iter().any(|w| w.starts_with("dropped `layoffs_180d`") && w.contains("external_signals")), "{:?}", card.warnings);
    let (auc2, auc3) = (health_auc(&v2.dir), health_auc(&o.dir));
    println!("other company, health-score AUC: v2 {auc2:.3}, v3 {auc3:.3}");
    assert!(auc3 > 0.65, "v3 health-score AUC {auc3} on the other company");

    // the intents against what the customers meant, over a year of monthly
    // dates: (account, date) pairs with a goodbye written in the 90 days
    // before, and those the lexicon flags, among the accounts scored that day
    let mut mails = Vec::new();
    for b in read_parquet(&o.dir.join("data/activities.parquet")) {
        let (acc, body) = (healthscore::columns::strings(&b, "account_id").unwrap(), healthscore::columns::strings(&b, "body").unwrap());
        let at = b.column_by_name("occurred_at").unwrap().as_any().downcast_ref::<TimestampMicrosecondArray>().unwrap();
        for i in 0..b.num_rows() {
            if body[i].as_deref().is_some_and(|t| OTHER_LEAVING.contains(&t)) {
                mails.push((acc[i].clone().unwrap(), at.value(i).div_euclid(US_PER_DAY) as i32));
            }
        }
    }
    let (mut meant, mut flagged) = (BTreeSet::new(), BTreeSet::new());
    let mut said = Vec::new();
    for m in 0..12 {
        let as_of = format!("{}-{:02}-01", 2025 + (m + 10) / 12, (m + 10) % 12 + 1);
        let r = hs(&["features", "-c", cfg, "--as-of", &as_of]);
        assert_eq!(r.code, 0, "{}", r.all());
        let d = day(&as_of);
        for b in read_parquet_dir(&o.dir.join(format!("out/features/as_of={as_of}"))) {
            let ids = healthscore::columns::strings(&b, "account_id").unwrap();
            let leaving: Vec<Vec<f64>> = ["intent_cancel_90d", "intent_competitor_90d", "intent_budget_cut_90d", "intent_champion_leaving_90d"]
                .iter()
                .map(|f| healthscore::columns::floats(&b, f).unwrap())
                .collect();
            said.extend(healthscore::columns::strings(&b, "intent_cancel_last").unwrap().into_iter().flatten());
            for i in 0..b.num_rows() {
                let id = ids[i].clone().unwrap();
                if mails.iter().any(|(a, at)| *a == id && *at >= d - 90 && *at < d) {
                    meant.insert((id.clone(), d));
                }
                if leaving.iter().any(|c| c[i] > 0.0) {
                    flagged.insert((id, d));
                }
            }
        }
    }
    let hit = meant.intersection(&flagged).count() as f64;
    let (precision, recall) = (hit / flagged.len() as f64, hit / meant.len() as f64);
    println!(
        "other company, leaving intents over 12 monthly dates: precision {precision:.2}, recall {recall:.2} ({} meant, {} flagged)",
        meant.len(),
        flagged.len()
    );
    assert!(meant.len() >= 20, "the company plants goodbyes: {}", meant.len());
    assert!(recall >= 0.7 && precision >= 0.5, "precision {precision:.2}, recall {recall:.2}");
    assert!(said.iter().all(|s| s.starts_with("A customer email or note on 202")), "{said:?}");

    // scored on the date most accounts wrote a goodbye before: reasons say
    // which email on which day, and every placeholder is filled
    let busiest = (0..12)
        .map(|m| day(&format!("{}-{:02}-01", 2025 + (m + 10) / 12, (m + 10) % 12 + 1)))
        .max_by_key(|d| flagged.iter().filter(|(_, f)| f == d).count())
        .unwrap();
    let as_of = healthscore::dates::date(busiest).to_string();
    let r = hs(&["score", "-c", cfg, "--as-of", &as_of]);
    assert_eq!(r.code, 0, "{}", r.all());
    let t = read_parquet(&o.dir.join(format!("out/account_scores/as_of={as_of}/part-0.parquet")));
    let reasons: Vec<String> = t
        .iter()
        .flat_map(|b| {
            let l = b.column_by_name("top_risk_reasons").unwrap().as_any().downcast_ref::<arrow::array::ListArray>().unwrap().values().clone();
            let v = l.as_any().downcast_ref::<StringArray>().unwrap().clone();
            (0..arrow::array::Array::len(&v)).map(move |i| v.value(i).to_string())
        })
        .collect();
    assert!(!reasons.is_empty() && reasons.iter().all(|r| !r.contains('{')), "an unfilled template");
    assert!(reasons.iter().any(|r| r.starts_with("A customer email or note on 202") && r.contains("mentions")), "no dated intent reason: {reasons:?}");
}
