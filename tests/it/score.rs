//! Scoring and the results tables: reruns give the same bytes, a crash
//! between staging and publishing leaves readers on the previous partition,
//! reasons find the planted causes, horizons are monotone, overrides expire,
//! and deltas and days in tier follow earlier runs.

use std::sync::Arc;

use arrow::array::{ArrayRef, Float64Array, StringArray, TimestampMicrosecondArray};
use healthscore::columns::{floats, strings};

use crate::common::*;

fn scores(out: &std::path::Path, as_of: &str) -> Vec<arrow::array::RecordBatch> {
    read_parquet(&out.join(format!("account_scores/as_of={as_of}/part-0.parquet")))
}

#[test]
fn a_rerun_with_the_same_as_of_writes_identical_bytes() {
    let c = company();
    let dir = scratch("rerun");
    let cfg = config_for(&dir, &c.data, &c.models, "");
    let path = dir.join(format!("out/account_scores/as_of={EXPORT_DATE}/part-0.parquet"));
    let r = hs(&["run", "-c", cfg.to_str().unwrap()]);
    assert_eq!(r.code, 0, "{}", r.all());
    let first = std::fs::read(&path).unwrap();
    let drivers = std::fs::read(dir.join(format!("out/score_drivers/as_of={EXPORT_DATE}/part-0.parquet"))).unwrap();
    let r = hs(&["run", "-c", cfg.to_str().unwrap()]);
    assert_eq!(r.code, 0, "{}", r.all());
    assert!(first == std::fs::read(&path).unwrap(), "account_scores changed between identical runs");
    assert!(drivers == std::fs::read(dir.join(format!("out/score_drivers/as_of={EXPORT_DATE}/part-0.parquet"))).unwrap());
    // score_drivers is built a slice of accounts at a time: every scored
    // account has one row per feature, none lost or repeated at a seam
    let accounts: Vec<String> = scores(&dir.join("out"), EXPORT_DATE).iter().flat_map(|b| strings(b, "account_id").unwrap()).flatten().collect();
    assert!(accounts.len() > healthscore::output::tables::score_drivers::ACCOUNTS_PER_BATCH, "the company spans more than one slice");
    let mut per_account: std::collections::HashMap<String, usize> = std::collections::HashMap::new();
    for b in read_parquet(&dir.join(format!("out/score_drivers/as_of={EXPORT_DATE}/part-0.parquet"))) {
        for id in strings(&b, "account_id").unwrap() {
            *per_account.entry(id.unwrap()).or_default() += 1;
        }
    }
    assert_eq!(per_account.len(), accounts.len());
    let width = per_account[&accounts[0]];
    assert!(width >= 30 && per_account.values().all(|n| *n == width), "one row per account and feature");
    // one manifest per run, with stages, counts, model and feature hash
    let runs: Vec<_> = std::fs::read_dir(dir.join("out/runs")).unwrap().flatten().collect();
    assert_eq!(runs.len(), 2);
    let m: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(runs[0].path()).unwrap()).unwrap();
    assert_eq!(m["status"], "success");
    assert_eq!(m["as_of"], EXPORT_DATE);
    assert!(m["feature_hash"].as_str().unwrap().len() == 64);
    assert!(m["tables"].as_array().unwrap().iter().any(|t| t["table"] == "account_scores" && t["rows"].as_u64().unwrap() > 1000));
}

#[test]
fn a_crash_between_staging_and_publishing_leaves_the_previous_partition() {
    let c = company();
    let dir = scratch("crash");
    let data = dir.join("data");
    copy_dir(&c.data, &data);
    let cfg = config_for(&dir, &data, &c.models, "");
    let path = dir.join(format!("out/account_scores/as_of={EXPORT_DATE}/part-0.parquet"));
    let r = hs(&["run", "-c", cfg.to_str().unwrap()]);
    assert_eq!(r.code, 0, "{}", r.all());
    let previous = std::fs::read(&path).unwrap();
    // change the input so that a new run would write different scores
    let ov = data.join("overrides");
    std::fs::remove_dir_all(&ov).unwrap();
    let r = hs_env(&["run", "-c", cfg.to_str().unwrap()], &[("HEALTHSCORE_FAULT", "after_stage")]);
    assert_ne!(r.code, 0, "the injected crash must kill the run: {}", r.all());
    assert!(std::fs::read(&path).unwrap() == previous, "readers must still see the previous, complete partition");
    assert!(read_parquet(&path)[0].num_rows() > 1000);
    assert!(dir.join("out/_staging").exists(), "the staged files were left by the crash");
    // the rerun takes over the dead run's lock, clears the staging and publishes
    let r = hs(&["run", "-c", cfg.to_str().unwrap()]);
    assert_eq!(r.code, 0, "{}", r.all());
    assert!(std::fs::read(&path).unwrap() != previous);
    assert!(!dir.join("out/_staging").exists());
    assert!(!dir.join("out/_lock").exists());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reasons_name_the_planted_cause_for_most_churners() {
    let c = company();
    let cfg = healthscore::config::Config::load(&c.config).unwrap();
    let engine = healthscore::engine::Engine::open(&cfg).await.unwrap();
    let (model, fs) = healthscore::score::current_model(&engine, &cfg).await.unwrap();
    // out of time: 90 days before the export, with a model trained on earlier snapshots
    let as_of = engine.export_date - chrono::Days::new(90);
    assert!(model.card.test.to.as_str() <= as_of.to_string().as_str());
    let scored = healthscore::score::score(&engine, &cfg, &model, &fs, as_of).await.unwrap();
    let f = healthscore::generate::fidelity::check(&engine, &scored, 90).await.unwrap().unwrap();
    assert!(f.judged >= 15, "{f:?}");
    // beside reasons drawn at random from the same features, and beside how
    // often healthy accounts are given a cause's features as their top risk
    let (top1, top3) = (f.rate(f.top1), f.rate(f.top3));
    let (random1, random3) = (f.random_top1 / f.judged as f64, f.random_top3 / f.judged as f64);
    assert!(top3 >= 2.0 * random3 && top3 >= 0.5, "top-3 {top3:.2} vs random {random3:.2}: {f:?}");
    assert!(top1 >= 3.0 * random1, "top-1 {top1:.2} vs random {random1:.2}: {f:?}");
    assert!(f.healthy > 100 && top1 > 3.0 * f.false_alarm, "top-1 {top1:.2} vs false alarms {:.3}: {f:?}", f.false_alarm);
    // horizons are monotone on every scored row
    for r in &scored.rows {
        assert!(r.p_churn.windows(2).all(|w| w[0] <= w[1]), "{} {:?}", r.account_id, r.p_churn);
        assert!((0.0..=100.0).contains(&r.health));
        assert!(r.risk.len() <= 3 && r.positive.len() <= 2);
    }
    // reasons point the way their direction says
    let low_seats: Vec<_> = scored.rows.iter().filter(|r| r.risk.iter().any(|(f, _)| f == "seat_utilization")).collect();
    assert!(!low_seats.is_empty(), "some account's risks name its seat utilisation");
    for r in low_seats {
        assert!(r.risk.iter().any(|(f, t)| f == "seat_utilization" && t.starts_with("Only") && t.contains("of licensed seats")), "{:?}", r.risk);
    }
}

#[test]
fn overrides_apply_until_they_expire() {
    let c = company();
    let dir = scratch("overrides");
    let data = dir.join("data");
    copy_dir(&c.data, &data);
    std::fs::remove_dir_all(data.join("overrides")).unwrap();
    // three accounts that are customers on the export day
    let mut active = Vec::new();
    for f in std::fs::read_dir(data.join("accounts")).unwrap().flatten() {
        for b in read_parquet(&f.path()) {
            let id = strings(&b, "account_id").unwrap();
            let arr = floats(&b, "arr").unwrap();
            active.extend((0..b.num_rows()).filter(|i| arr[*i] > 0.0).map(|i| id[i].clone().unwrap()));
        }
    }
    active.sort();
    let ids: Vec<&str> = active.iter().take(3).map(String::as_str).collect();
    let t = |d: &str| day(d) as i64 * 86_400_000_000;
    write_parquet(
        &data.join("overrides/part-0.parquet"),
        vec![
            ("account_id", Arc::new(StringArray::from(ids.clone())) as ArrayRef),
            ("tier", Arc::new(StringArray::from(vec![Some("red"), Some("red"), None])) as ArrayRef),
            ("score", Arc::new(Float64Array::from(vec![None, None, Some(12.0)])) as ArrayRef),
            ("reason", Arc::new(StringArray::from(vec!["CEO escalation", "old", "manual"])) as ArrayRef),
            ("author", Arc::new(StringArray::from(vec!["ana@v.example"; 3])) as ArrayRef),
            ("created_at", Arc::new(TimestampMicrosecondArray::from(vec![t("2026-10-20"), t("2026-08-01"), t("2026-10-25")]).with_timezone("UTC")) as ArrayRef),
            // the second expired before the scoring date
            ("expires_at", Arc::new(TimestampMicrosecondArray::from(vec![t("2026-12-01"), t("2026-09-01"), t("2026-11-15")]).with_timezone("UTC")) as ArrayRef),
        ],
    );
    let cfg = config_for(&dir, &data, &c.models, "");
    let r = hs(&["score", "-c", cfg.to_str().unwrap()]);
    assert_eq!(r.code, 0, "{}", r.all());
    let b = &scores(&dir.join("out"), EXPORT_DATE)[0];
    let id = strings(b, "account_id").unwrap();
    let tier = strings(b, "tier").unwrap();
    let model_tier = strings(b, "model_tier").unwrap();
    let health = floats(b, "health_score").unwrap();
    let model_health = floats(b, "model_health_score").unwrap();
    let applied = b.column_by_name("override_applied").unwrap().as_any().downcast_ref::<arrow::array::BooleanArray>().unwrap().clone();
    let reason = strings(b, "override_reason").unwrap();
    let row = |a: &str| id.iter().position(|x| x.as_deref() == Some(a)).unwrap();
    let (a, e, s) = (row(ids[0]), row(ids[1]), row(ids[2]));
    assert_eq!(tier[a].as_deref(), Some("red"));
    assert!(applied.value(a));
    assert_eq!(reason[a].as_deref(), Some("CEO escalation"));
    assert!(!applied.value(e), "an expired override must not apply");
    assert_eq!(tier[e], model_tier[e]);
    assert_eq!(health[s], 12.0);
    assert_eq!(tier[s].as_deref(), Some("red"));
    assert_ne!(model_health[s], 12.0, "the model's own score stays in its column");
    assert_eq!(applied.iter().filter(|v| *v == Some(true)).count(), 2);
}

#[test]
fn deltas_and_days_in_tier_follow_three_consecutive_runs() {
    let c = company();
    let dir = scratch("history");
    let cfg = config_for(&dir, &c.data, &c.models, "");
    let out = dir.join("out");
    let dates = ["2026-09-24", "2026-10-01", "2026-10-31"];
    for d in dates {
        let r = hs(&["run", "-c", cfg.to_str().unwrap(), "--as-of", d]);
        assert_eq!(r.code, 0, "{}", r.all());
    }
    let load = |d: &str| {
        let b = &scores(&out, d)[0];
        let ids = strings(b, "account_id").unwrap();
        let h = floats(b, "health_score").unwrap();
        let t = strings(b, "tier").unwrap();
        let d7 = floats(b, "score_delta_7d").unwrap();
        let d30 = floats(b, "score_delta_30d").unwrap();
        let dit = floats(b, "days_in_tier").unwrap();
        ids.into_iter()
            .enumerate()
            .map(|(i, id)| (id.unwrap(), (h[i], t[i].clone().unwrap(), d7[i], d30[i], dit[i])))
            .collect::<std::collections::HashMap<_, _>>()
    };
    let (r1, r2, r3) = (load(dates[0]), load(dates[1]), load(dates[2]));
    let mut same = 0;
    let mut changed = 0;
    let mut compared = 0;
    for (id, (h2, t2, d7, _, dit2)) in &r2 {
        let Some((h1, t1, _, _, dit1)) = r1.get(id) else { continue };
        assert!((d7 - (h2 - h1)).abs() < 0.051, "{id}: delta_7d {d7} vs {h2} - {h1}");
        assert_eq!(*dit1, 0.0, "the first run has no history");
        if t1 == t2 {
            assert_eq!(*dit2, 7.0, "{id}");
            same += 1;
        } else {
            assert_eq!(*dit2, 0.0, "{id}");
        }
    }
    for (id, (h3, t3, d7, d30, dit3)) in &r3 {
        // no run 7–13 days before the third, one exactly 30 days before
        assert!(d7.is_nan(), "{id}");
        if let Some((h2, t2, _, _, dit2)) = r2.get(id) {
            compared += 1;
            assert!((d30 - (h3 - h2)).abs() < 0.051);
            if t2 == t3 {
                assert_eq!(*dit3, dit2 + 30.0);
            } else {
                assert_eq!(*dit3, 0.0);
                changed += 1;
            }
        }
    }
    assert!(same > 500 && changed > 0 && compared > 500, "same {same}, changed {changed}, compared {compared}");
}


#[test]
fn playbooks_fire_from_the_scores_and_hold_back_by_cooldown_and_cap_across_runs() {
    let c = company();
    let dir = scratch("alerts");
    let cfg = config_for(&dir, &c.data, &c.models, &live_playbooks());
    let out = dir.join("out");
    let dates = ["2026-10-01", "2026-10-04", "2026-11-01"];
    for d in dates {
        let r = hs(&["score", "-c", cfg.to_str().unwrap(), "--as-of", d]);
        assert_eq!(r.code, 0, "{}", r.all());
    }
    let alerts = |d: &str| read_parquet(&out.join(format!("alerts/as_of={d}/part-0.parquet")));
    struct A {
        account: String,
        playbook: String,
        suppressed: Option<String>,
        control: bool,
    }
    let load = |d: &str| -> Vec<A> {
        let mut v = Vec::new();
        for b in alerts(d) {
            let (ids, pb, sup) = (strings(&b, "account_id").unwrap(), strings(&b, "playbook").unwrap(), strings(&b, "suppressed_by").unwrap());
            let control = b.column_by_name("control_group").unwrap().as_any().downcast_ref::<arrow::array::BooleanArray>().unwrap().clone();
            for i in 0..b.num_rows() {
                v.push(A { account: ids[i].clone().unwrap(), playbook: pb[i].clone().unwrap(), suppressed: sup[i].clone(), control: control.value(i) });
            }
        }
        v
    };
    let runs: Vec<Vec<A>> = dates.iter().map(|d| load(d)).collect();
    assert!(runs.iter().all(|r| !r.is_empty()), "every run fires some playbook");
    // where what the account uses is the story, the message names the areas it stopped using
    let messages: Vec<String> = dates.iter().flat_map(|d| alerts(d).iter().flat_map(|b| strings(b, "message").unwrap().into_iter().flatten()).collect::<Vec<_>>()).collect();
    let named = messages.iter().filter(|m| m.contains("stopped using ") && m.contains("— offer a training session on")).count();
    assert!(named > 0, "no message names a product area that stopped, of {}", messages.len());
    for r in &runs {
        assert!(r.iter().all(|a| a.control == (a.suppressed.as_deref() == Some("control_group"))));
    }
    // entered-red: red now, not red in the run before
    let tiers = |d: &str| -> std::collections::HashMap<String, String> {
        scores(&out, d).iter().flat_map(|b| strings(b, "account_id").unwrap().into_iter().flatten().zip(strings(b, "tier").unwrap().into_iter().flatten())).collect()
    };
    let entered: Vec<&A> = runs[2].iter().filter(|a| a.playbook == "entered-red").collect();
    assert!(!entered.is_empty(), "a month later some accounts entered red");
    let (before, now) = (tiers(dates[1]), tiers(dates[2]));
    for a in entered {
        assert_eq!(now.get(&a.account).map(String::as_str), Some("red"), "{}", a.account);
        assert_ne!(before.get(&a.account).map(String::as_str), Some("red"), "{} was red the run before", a.account);
        assert!(before.contains_key(&a.account), "{} entered red without a run before (now {:?})", a.account, now.get(&a.account));
    }
    // cooldown: a playbook sent on the 1st is not sent again 3 days later
    let sent = |r: &[A]| -> std::collections::BTreeSet<(String, String)> {
        r.iter().filter(|a| a.suppressed.is_none()).map(|a| (a.account.clone(), a.playbook.clone())).collect()
    };
    let (s1, s2) = (sent(&runs[0]), sent(&runs[1]));
    assert!(s1.intersection(&s2).next().is_none(), "sent twice within the cooldown");
    let cooled = runs[1].iter().filter(|a| a.suppressed.as_deref() == Some("cooldown")).count();
    assert!(cooled > 0, "the second run holds back what the first sent");
    // the cap: at most 2 sent per account over the two runs 3 days apart
    let mut per_account: std::collections::HashMap<&str, usize> = Default::default();
    for (a, _) in s1.iter().chain(s2.iter()) {
        *per_account.entry(a.as_str()).or_default() += 1;
    }
    assert!(per_account.values().all(|n| *n <= 2), "{:?}", per_account.iter().filter(|(_, n)| **n > 2).collect::<Vec<_>>());
    // a rerun writes the same bytes: the same alerts, ids and control group
    let file = out.join(format!("alerts/as_of={}/part-0.parquet", dates[2]));
    let first = std::fs::read(&file).unwrap();
    let r = hs(&["score", "-c", cfg.to_str().unwrap(), "--as-of", dates[2]]);
    assert_eq!(r.code, 0, "{}", r.all());
    assert_eq!(std::fs::read(&file).unwrap(), first);
}

#[test]
fn playbooks_run_in_shadow_until_the_live_backtest_shows_the_model_calibrated() {
    let c = company();
    let dir = scratch("shadow");
    let out = dir.join("out");
    let cfg_with = |extra: &str| config_for(&dir, &c.data, &c.models, &demo_playbooks().replacen("\nplaybooks:\n", &format!("\nplaybooks:\n{extra}"), 1));
    let suppressed = |d: &str| -> Vec<Option<String>> {
        read_parquet(&out.join(format!("alerts/as_of={d}/part-0.parquet"))).iter().flat_map(|b| strings(b, "suppressed_by").unwrap()).collect()
    };
    // no earlier scoring: nothing has matured, every alert that would be sent is written as shadow
    let cfg = cfg_with("");
    let r = hs(&["score", "-c", cfg.to_str().unwrap()]);
    assert_eq!(r.code, 0, "{}", r.all());
    assert!(r.all().contains("0 of the 3 monthly scoring partitions needed have matured 90-day outcomes"), "{}", r.all());
    let s = suppressed(EXPORT_DATE);
    assert!(s.iter().all(|x| x.is_some()), "nothing is to be sent in shadow");
    let shadowed = s.iter().filter(|x| x.as_deref() == Some("shadow")).count();
    assert!(shadowed > 20 && s.iter().any(|x| x.as_deref() == Some("control_group")), "the control group keeps its reason; {shadowed} in shadow");
    // three monthly partitions whose 90 days have passed by the export
    for d in ["2026-06-01", "2026-07-01", "2026-08-01"] {
        let r = hs(&["score", "-c", cfg.to_str().unwrap(), "--as-of", d]);
        assert_eq!(r.code, 0, "{}", r.all());
    }
    // a generous bound: the published probabilities pass, alerts go out
    let r = hs(&["score", "-c", cfg_with("  calibration_bound: 0.5\n").to_str().unwrap()]);
    assert_eq!(r.code, 0, "{}", r.all());
    assert!(r.all().contains("calibrated: mean |predicted − observed| over deciles ≤ 0.5 in the last 3 months (2026-08"), "{}", r.all());
    let s = suppressed(EXPORT_DATE);
    let sent = s.iter().filter(|x| x.is_none()).count();
    assert!(sent > 20 && !s.iter().any(|x| x.as_deref() == Some("shadow")), "{sent} sent");
    // a bound no model meets: back in shadow, saying by how much
    let r = hs(&["score", "-c", cfg_with("  calibration_bound: 0.0001\n").to_str().unwrap()]);
    assert_eq!(r.code, 0, "{}", r.all());
    assert!(r.all().contains("not calibrated: mean |predicted − observed| over deciles above 0.0001 in (2026-08"), "{}", r.all());
    let s = suppressed(EXPORT_DATE);
    assert!(s.iter().all(|x| x.is_some()));
    assert_eq!(s.iter().filter(|x| x.as_deref() == Some("shadow")).count(), sent, "the same alerts, held in shadow");
}

#[test]
fn the_renewal_forecast_reads_the_hazards_up_to_each_renewal() {
    let c = company();
    let dir = scratch("forecast");
    let cfg = config_for(&dir, &c.data, &c.models, "");
    let r = hs(&["score", "-c", cfg.to_str().unwrap()]);
    assert_eq!(r.code, 0, "{}", r.all());
    let s = scores(&dir.join("out"), EXPORT_DATE);
    let p90: std::collections::HashMap<String, f64> =
        s.iter().flat_map(|b| strings(b, "account_id").unwrap().into_iter().flatten().zip(floats(b, "p_churn_90d").unwrap())).collect();
    let f = read_parquet(&dir.join(format!("out/renewal_forecast/as_of={EXPORT_DATE}/part-0.parquet")));
    let f = vec![arrow::compute::concat_batches(&f[0].schema(), &f).unwrap()];
    let (ids, p, arr, exp) = (strings(&f[0], "account_id").unwrap(), floats(&f[0], "p_churn_by_renewal").unwrap(), floats(&f[0], "arr").unwrap(), floats(&f[0], "expected_arr").unwrap());
    let renew = healthscore::columns::days(&f[0], "renewal_date").unwrap();
    let (change, saves, save_pb) = (floats(&f[0], "expected_change").unwrap(), floats(&f[0], "expected_arr_with_saves").unwrap(), strings(&f[0], "save_playbook").unwrap());
    let seg = strings(&f[0], "segment").unwrap();
    let as_of = day(EXPORT_DATE);
    // the moves come from the company's booked renewals: per segment, the move
    // at renewal plus a mid-contract rate for the share of a year until it
    let mut by_seg: std::collections::BTreeMap<String, Vec<(f64, f64)>> = Default::default();
    for i in 0..ids.len() {
        by_seg.entry(seg[i].clone().unwrap()).or_default().push(((renew[i] - day(EXPORT_DATE)) as f64, change[i]));
    }
    for (s, v) in &by_seg {
        let (lo, hi) = (v.iter().min_by(|a, b| a.0.total_cmp(&b.0)).unwrap(), v.iter().max_by(|a, b| a.0.total_cmp(&b.0)).unwrap());
        let slope = (hi.1 - lo.1) / (hi.0 - lo.0);
        assert!(slope >= 0.0 && v.iter().all(|(d, c)| (c - (lo.1 + slope * (d - lo.0))).abs() < 1e-9), "{s}: linear in the days to renewal");
        assert!(lo.1.abs() < 0.5 && hi.1.abs() < 0.5, "{s}: {lo:?} {hi:?}");
    }
    assert!(by_seg.values().flatten().any(|(_, c)| c.abs() > 1e-3), "some segment moves");
    // no effectiveness table yet: the saves scenario is the baseline
    assert!(save_pb.iter().all(|p| p.is_none()) && saves == exp);
    assert!(ids.len() > 500, "{} accounts renew within a year", ids.len());
    let (mut third, mut later) = (0, 0);
    for i in 0..ids.len() {
        let d = renew[i] - as_of;
        assert!((0..=365).contains(&d) && (0.0..=1.0).contains(&p[i]) && (exp[i] - arr[i] * (1.0 - p[i]) * (1.0 + change[i])).abs() < 1e-6);
        let q = p90[ids[i].as_ref().unwrap()];
        if (60..90).contains(&d) {
            // a renewal in the third interval: churn by it is churn within 90 days
            assert!((p[i] - q).abs() < 2e-4, "{:?}: {} vs p_churn_90d {q}", ids[i], p[i]);
            third += 1;
        } else if d >= 90 {
            assert!(p[i] >= q - 2e-4, "{:?}: a later renewal cannot be less likely to see churn", ids[i]);
            later += 1;
        }
    }
    assert!(third > 50 && later > 300, "{third} {later}");
    // the rollup: its SQL's groups add up to the accounts, with a band around the expectation
    let r = read_parquet(&dir.join(format!("out/renewal_forecast_rollup/as_of={EXPORT_DATE}/part-0.parquet")));
    let r = vec![arrow::compute::concat_batches(&r[0].schema(), &r).unwrap()];
    let (month, seg) = (strings(&r[0], "renewal_month").unwrap(), strings(&r[0], "segment").unwrap());
    let (rarr, rexp, p10, p90) = (floats(&r[0], "arr").unwrap(), floats(&r[0], "expected_arr").unwrap(), floats(&r[0], "renewed_p10").unwrap(), floats(&r[0], "renewed_p90").unwrap());
    let total = (0..r[0].num_rows()).find(|i| month[*i].as_deref() == Some("all")).unwrap();
    assert!((rarr[total] - arr.iter().sum::<f64>()).abs() < 1e-3 && (rexp[total] - exp.iter().sum::<f64>()).abs() < 1e-3);
    let by_segment: f64 = (0..r[0].num_rows()).filter(|i| month[*i].as_deref() != Some("all") && seg[*i].as_deref() != Some("all")).map(|i| rarr[i]).sum();
    assert!((by_segment - rarr[total]).abs() < 1e-3, "month × segment adds up");
    for i in 0..r[0].num_rows() {
        assert!(p10[i] <= rexp[i] * 1.02 && rexp[i] <= p90[i] * 1.02 && p10[i] < p90[i], "{:?} {:?}: {} {} {}", month[i], seg[i], p10[i], rexp[i], p90[i]);
    }
    let printed = hs(&["forecast", "-c", cfg.to_str().unwrap()]);
    assert_eq!(printed.code, 0, "{}", printed.all());
    assert_eq!(printed.stdout.lines().filter(|l| l.trim_start().starts_with("20")).count(), 6, "six months:\n{}", printed.stdout);
    assert!(printed.stdout.contains("  total "));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_forecast_made_six_months_before_the_export_is_close_to_what_renewed() {
    let c = company();
    let cfg = healthscore::config::Config::load(&c.config).unwrap();
    let b = healthscore::pipeline::forecast_backtest(&cfg, 6).await.unwrap();
    let text = healthscore::pipeline::summary::forecast_backtest_text(&b);
    assert!(b.months.len() >= 6 && b.total.accounts > 500, "{text}");
    // The target: within 5% of the ARR up for renewal over the six months,
    // moves counted and churn alone, from a model trained at the origin.
    assert!(b.total.error().abs() <= 0.05 && b.total.gross_error().abs() <= 0.05, "{text}");
    assert!(b.months.iter().all(|m| m.band.0 < m.expected && m.expected < m.band.2), "each month's expectation inside its own band: {text}");
}

#[test]
fn the_saves_scenario_applies_a_playbooks_measured_reduction_to_the_accounts_it_alerted() {
    use healthscore::output::tables::effectiveness::{self as eff, Interval};
    let c = company();
    let dir = scratch("forecast-saves");
    let cfg = config_for(&dir, &c.data, &c.models, &demo_playbooks());
    // what `healthscore effectiveness` would have written a month earlier:
    // pre-renewal-risk helped (40% less churn), entered-red had no measurable effect
    let row = |playbook: &str, reduction: f64, high: f64, verdict: &str| eff::Row {
        playbook: playbook.into(),
        from: day("2026-01-01"),
        treated: 400,
        control: 60,
        maturing: 0,
        treated_churned: 60,
        control_churned: 15,
        treated_expanded: 0,
        control_expanded: 0,
        churn_difference: Some(Interval { value: -0.1, low: -0.2, high }),
        churn_reduction: Some(Interval { value: reduction, low: 0.1, high: 0.6 }),
        expansion_difference: None,
        feedback: 0,
        helpful: 0,
        verdict: verdict.into(),
    };
    let rows = [row("pre-renewal-risk", 0.4, -0.02, "helped: 10 points less churn"), row("entered-red", 0.3, 0.05, "no measurable effect on churn")];
    let batch = eff::batch(&rows, day("2026-10-01")).unwrap();
    let bytes = healthscore::output::parquet::encode(&batch.schema(), &[batch]).unwrap();
    let file = dir.join("out/effectiveness/as_of=2026-10-01/part-0.parquet");
    std::fs::create_dir_all(file.parent().unwrap()).unwrap();
    std::fs::write(&file, bytes).unwrap();

    let r = hs(&["score", "-c", cfg.to_str().unwrap()]);
    assert_eq!(r.code, 0, "{}", r.all());
    let alerts = read_parquet(&dir.join(format!("out/alerts/as_of={EXPORT_DATE}/part-0.parquet")));
    let mut reached = std::collections::HashSet::new();
    for b in &alerts {
        let (ids, pb, sup) = (strings(b, "account_id").unwrap(), strings(b, "playbook").unwrap(), strings(b, "suppressed_by").unwrap());
        for i in 0..b.num_rows() {
            if pb[i].as_deref() == Some("pre-renewal-risk") && sup[i].as_deref() != Some("control_group") {
                reached.insert(ids[i].clone().unwrap());
            }
        }
    }
    let f = read_parquet(&dir.join(format!("out/renewal_forecast/as_of={EXPORT_DATE}/part-0.parquet")));
    let (mut saved, mut same) = (0, 0);
    for b in &f {
        let (ids, p, ps, pb, exp, exps) = (
            strings(b, "account_id").unwrap(),
            floats(b, "p_churn_by_renewal").unwrap(),
            floats(b, "p_churn_with_saves").unwrap(),
            strings(b, "save_playbook").unwrap(),
            floats(b, "expected_arr").unwrap(),
            floats(b, "expected_arr_with_saves").unwrap(),
        );
        for i in 0..b.num_rows() {
            if reached.contains(ids[i].as_ref().unwrap()) {
                assert_eq!(pb[i].as_deref(), Some("pre-renewal-risk"));
                assert!((ps[i] - p[i] * 0.6).abs() < 1e-9 && exps[i] >= exp[i], "{:?}: {} → {}", ids[i], p[i], ps[i]);
                saved += 1;
            } else {
                assert!(pb[i].is_none() && ps[i] == p[i] && exps[i] == exp[i], "{:?}: only the playbook that helped saves", ids[i]);
                same += 1;
            }
        }
    }
    assert!(saved > 5 && same > 500, "{saved} saved, {same} as the baseline");
    let printed = hs(&["forecast", "-c", cfg.to_str().unwrap()]);
    assert!(printed.stdout.contains("with saves"), "{}", printed.stdout);
}

#[test]
fn the_forecast_window_is_configurable_and_checked() {
    let c = company();
    let dir = scratch("forecast-window");
    let cfg = config_for(&dir, &c.data, &c.models, "scoring:\n  forecast_window_days: 90\n");
    let r = hs(&["score", "-c", cfg.to_str().unwrap()]);
    assert_eq!(r.code, 0, "{}", r.all());
    let f = read_parquet(&dir.join(format!("out/renewal_forecast/as_of={EXPORT_DATE}/part-0.parquet")));
    let days: Vec<i32> = f.iter().flat_map(|b| healthscore::columns::days(b, "renewal_date").unwrap()).map(|d| d - day(EXPORT_DATE)).collect();
    assert!(days.len() > 100 && days.iter().all(|d| (0..=90).contains(d)), "{} renewals, up to {:?} days", days.len(), days.iter().max());
    assert!(hs(&["forecast", "-c", cfg.to_str().unwrap()]).stdout.contains("renewals within 90 days"));
    let bad = config_for(&dir, &c.data, &c.models, "scoring:\n  forecast_window_days: 0\n");
    let r = hs(&["score", "-c", bad.to_str().unwrap()]);
    assert_eq!(r.code, 2, "{}", r.all());
    assert!(r.stderr.contains("scoring.forecast_window_days"), "{}", r.stderr);
}

#[test]
fn a_logical_date_the_export_does_not_cover_yet_exits_with_the_schedulers_code() {
    let c = company();
    let dir = scratch("not-yet");
    let cfg = config_for(&dir, &c.data, &c.models, "");
    let next = (healthscore::dates::date(day(EXPORT_DATE) + 1)).to_string();
    let r = hs(&["run", "-c", cfg.to_str().unwrap(), "--logical-date", &next]);
    assert_eq!(r.code, 99, "{}", r.all());
    assert!(r.stderr.contains(&format!("not {next} yet")), "{}", r.stderr);
    assert!(!dir.join("out/account_scores").exists(), "nothing scored");
    // the export's own day is there: --logical-date is --as-of
    let r = hs(&["score", "-c", cfg.to_str().unwrap(), "--logical-date", EXPORT_DATE]);
    assert_eq!(r.code, 0, "{}", r.all());
    let custom = config_for(&dir, &c.data, &c.models, "scheduler:\n  inputs_missing_exit_code: 75\n");
    assert_eq!(hs(&["score", "-c", custom.to_str().unwrap(), "--as-of", &next]).code, 75);
    let clash = config_for(&dir, &c.data, &c.models, "scheduler:\n  inputs_missing_exit_code: 3\n");
    let r = hs(&["score", "-c", clash.to_str().unwrap()]);
    assert_eq!(r.code, 2, "{}", r.all());
    assert!(r.stderr.contains("scheduler.inputs_missing_exit_code"), "{}", r.stderr);
}
