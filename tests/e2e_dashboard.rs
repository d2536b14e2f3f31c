//! End-to-end: the release-manager dashboard (`/__edge/`) in Debian's Chromium, driven by
//! `tests/browser/dashboard.test.mjs` (playwright-core under Node 22) against a fresh stack:
//! sign-in, canary weight and rollback with the audit log, purge, warmup, the live probe's chart,
//! health, and no CSP violations. Screenshots go to `tests/screenshots/` (git-ignored).

mod support;

use std::process::Command;

use support::{root, Stack};

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

    let stack = Stack::start();
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
        .env("ADMIN_TOKEN", &stack.token)
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
