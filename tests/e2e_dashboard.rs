//! End-to-end: the release-manager dashboard (`/__edge/`) in Debian's Chromium, driven by
//! `tests/browser/dashboard.test.mjs` (playwright-core under Node 22) against a fresh stack:
//! sign-in as a named operator, canary weight and rollback with the audit log, another operator's
//! change polled in and a stale change refused (409), a rollout schedule stepping a healthy
//! canary up and rolling a failing one back by itself (the analysis panel's table, charts and
//! timeline), purge, warmup, the live probe's chart, health, and no CSP violations. Screenshots go to `tests/screenshots/` (git-ignored).

mod support;

use std::process::Command;

use support::{root, Stack, StackOptions};

#[test]
fn dashboard_drives_canary_cache_probe_and_health_in_chromium() {
    let root = root();
    let node = root.join("node_modules/.bin/node");
    assert!(
        node.exists(),
        "{} is missing: run `bash scripts/setup.sh` (npm test does)",
        node.display()
    );
    let chromium = std::env::var("CHROMIUM").unwrap_or_else(|_| "/usr/bin/chromium".into());
    assert!(
        std::path::Path::new(&chromium).exists(),
        "{chromium} is missing: run `bash scripts/setup.sh` (it installs Debian's chromium)"
    );

    // Two named operators: the page signs in as ana.petrovic, a second tab as marko.
    let ana = format!("ana-dashboard-token-{}", std::process::id());
    let marko = format!("marko-dashboard-token-{}", std::process::id());
    let tokens = serde_json::json!({"ana.petrovic": ana, "marko": marko});
    let stack = Stack::with(
        StackOptions::default()
            .without_admin_token()
            .var("ADMIN_TOKENS", &tokens.to_string())
            .var("METRICS_FLUSH_MS", "200"),
    );
    let bin_dir = root.join("node_modules/.bin");
    let path = format!(
        "{}:{}",
        bin_dir.display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let status = Command::new(&node)
        .current_dir(&root)
        .arg("tests/browser/dashboard.test.mjs")
        .env("BASE_URL", &stack.worker.url)
        .env("ADMIN_TOKEN", &ana)
        .env("OTHER_TOKEN", &marko)
        .env("CANARY_URL", &stack.canary.url)
        .env("SCREENSHOT_DIR", root.join("tests/screenshots"))
        .env("CHROMIUM", &chromium)
        .env("PATH", path)
        .status()
        .expect("run node tests/browser/dashboard.test.mjs");
    if !status.success() {
        let log = stack.worker.log_text();
        let lines: Vec<&str> = log.lines().collect();
        let tail = lines[lines.len().saturating_sub(60)..].join("\n");
        panic!("the dashboard browser tests failed ({status}); wrangler log (tail):\n{tail}");
    }
}
