//! The HTML report, opened in a real browser (Debian's Chromium, which
//! `make test`'s setup installs): every panel renders with its charts, the
//! page's script runs without an error, and nothing leaves the page.

use std::io::{BufRead, BufReader};
use std::net::TcpListener;
use std::path::Path;
use std::sync::{Arc, Mutex};

use crate::common::*;

/// Hosts Chromium calls by itself (time, accounts, updates) whatever the
/// page: not requests the page made.
const BROWSER_OWN: &[&str] = &["google.com", "googleapis.com", "gstatic.com", "gvt1.com"];

/// Opens `page` headless behind a proxy that records every request: the
/// page's console lines, the DOM after its script ran, and the requests
/// that were not the browser's own.
fn open(page: &Path, screenshot: Option<&Path>) -> (String, Vec<String>, Vec<String>) {
    let chromium = std::env::var("CHROMIUM").unwrap_or_else(|_| "chromium".into());
    let proxy = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = proxy.local_addr().unwrap().port();
    let seen = Arc::new(Mutex::new(Vec::new()));
    let log = seen.clone();
    std::thread::spawn(move || {
        for c in proxy.incoming().flatten() {
            let mut line = String::new();
            let _ = BufReader::new(&c).read_line(&mut line);
            log.lock().unwrap().push(line.trim().to_string());
        }
    });
    let profile = scratch(&format!("chromium-{}", screenshot.is_some()));
    let mut cmd = std::process::Command::new(&chromium);
    cmd.args(["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking", "--disable-component-update", "--disable-sync", "--enable-logging=stderr", "--v=0", "--virtual-time-budget=3000"])
        .arg(format!("--user-data-dir={}", profile.display()))
        .arg(format!("--proxy-server=http://127.0.0.1:{port}"));
    match screenshot {
        Some(p) => cmd.arg("--window-size=1280,2400").arg(format!("--screenshot={}", p.display())),
        None => cmd.arg("--dump-dom"),
    };
    let out = cmd.arg(format!("file://{}", page.display())).output().unwrap_or_else(|e| panic!("cannot start {chromium}: {e} (make test's setup installs Debian's chromium)"));
    let console: Vec<String> = String::from_utf8_lossy(&out.stderr).lines().filter(|l| l.contains(":CONSOLE")).map(str::to_string).collect();
    let requests: Vec<String> = seen.lock().unwrap().iter().filter(|r| !BROWSER_OWN.iter().any(|h| r.split_whitespace().nth(1).is_some_and(|u| u.contains(h)))).cloned().collect();
    (String::from_utf8_lossy(&out.stdout).to_string(), console, requests)
}

/// The text of the element with `id` (its outer HTML up to the next section).
fn section<'a>(dom: &'a str, id: &str) -> &'a str {
    let start = dom.find(&format!("<section id=\"{id}\"")).unwrap_or_else(|| panic!("no panel `{id}`"));
    let end = dom[start + 1..].find("<section").map(|e| start + 1 + e).unwrap_or(dom.len());
    &dom[start..end]
}

#[test]
fn the_report_renders_every_panel_offline_in_a_real_browser() {
    // the probe: a page that errs and fetches is caught, so a clean page means something
    let dir = scratch("report");
    let bad = dir.join("bad.html");
    std::fs::write(&bad, r#"<html><body><img src="http://example.com/x.png"><script>throw new Error("boom")</script></body></html>"#).unwrap();
    let (_, console, requests) = open(&bad, None);
    assert!(console.iter().any(|l| l.contains("Uncaught Error: boom")), "the console is read: {console:?}");
    assert!(requests.iter().any(|r| r.contains("example.com")), "requests are seen: {requests:?}");

    let c = company();
    let cfg = config_for(&dir, &c.data, &c.models, &demo_playbooks());
    let r = hs(&["score", "-c", cfg.to_str().unwrap()]);
    assert_eq!(r.code, 0, "{}", r.all());
    let r = hs(&["report", "-c", cfg.to_str().unwrap()]);
    assert_eq!(r.code, 0, "{}", r.all());
    let page = dir.join(format!("out/report-{EXPORT_DATE}.html"));
    assert!(r.stdout.contains(page.to_str().unwrap()), "{}", r.stdout);

    let (dom, console, requests) = open(&page, None);
    assert!(console.is_empty(), "console: {console:?}");
    assert!(requests.is_empty(), "the page made requests: {requests:?}");
    for id in healthscore::report::PANELS {
        let s = section(&dom, id);
        assert!(s.len() > 300, "panel `{id}` is empty: {s}");
    }
    // charts drawn, not placeholders: each chart panel has an SVG with marks
    for id in ["model", "drivers", "money", "drift"] {
        let s = section(&dom, id);
        let svgs = s.matches("<svg").count();
        assert!(svgs >= 1 && (s.contains("<rect") || s.contains("<polyline") || s.contains("<path")), "panel `{id}`: {svgs} charts");
    }
    assert_eq!(section(&dom, "model").matches("<svg").count(), 3, "calibration, gains, importance");
    // the riskiest accounts: the table is full, every tier written as a word
    let risky = section(&dom, "riskiest");
    assert_eq!(risky.matches("<tr>").count(), healthscore::report::RISKIEST + 1, "a header and the riskiest accounts");
    assert!(["red", "yellow", "green"].iter().all(|t| dom.contains(&format!("tier-{t}\">{t}<"))), "tiers are labelled, not only coloured");
    // what the alerts and the forecast tables hold is on the page
    assert!(section(&dom, "money").contains("pre-renewal-risk") && section(&dom, "money").contains("gross retention"));
    assert!(section(&dom, "drift").contains("Live backtest, as this date") && section(&dom, "drift").contains("test window was 0."), "the live backtest beside the test AUC");
    // a screenshot under the build folder
    let shot = std::path::PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("report.png");
    let _ = std::fs::remove_file(&shot);
    let (_, console, requests) = open(&page, Some(&shot));
    assert!(console.is_empty() && requests.is_empty(), "{console:?} {requests:?}");
    assert!(std::fs::metadata(&shot).map(|m| m.len() > 50_000).unwrap_or(false), "screenshot at {}", shot.display());
}

#[test]
fn run_writes_the_report_when_the_config_asks_for_it() {
    let c = company();
    let dir = scratch("report-run");
    let cfg = config_for(&dir, &c.data, &c.models, "report:\n  out: weekly.html\n");
    let r = hs(&["run", "-c", cfg.to_str().unwrap()]);
    assert_eq!(r.code, 0, "{}", r.all());
    let page = std::fs::read_to_string(dir.join("weekly.html")).expect("the report next to the config");
    assert!(healthscore::report::PANELS.iter().all(|id| page.contains(&format!("<section id=\"{id}\""))));
    // without `report:` it is not written
    let plain = scratch("report-run-plain");
    let cfg = config_for(&plain, &c.data, &c.models, "");
    assert_eq!(hs(&["run", "-c", cfg.to_str().unwrap()]).code, 0);
    assert!(!walk(&plain).iter().any(|p| p.extension().is_some_and(|e| e == "html")));
}
