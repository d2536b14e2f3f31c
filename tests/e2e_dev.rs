//! End-to-end: `npm run dev` as a developer uses it, on a temporary copy of the repository (the
//! checkout is never modified; the copy shares the checkout's `target/` so that only the edited
//! crates compile). One stack is started and kept while: a change in a core module is served
//! without restarting it (same wrangler and origin processes); a compile error is printed while
//! the last good build keeps serving, and fixing it is served; a `www/` change is there on the
//! next load; a killed demo origin is reported and restarted on command while wrangler keeps
//! serving; a `demo-origin/` change rebuilds and restarts the origins. Then SIGINT to the process
//! group (Ctrl-C) stops every process; the next start warns that the stored rollout
//! configuration's origins are not the stack's; `--fresh` starts from the vars. Dev builds never
//! touch build/ (what deploys ship).

mod support;

use std::fs;
use std::io::Write;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::thread;
use std::time::{Duration, Instant};

use support::{free_port, root, try_get, Req, TempDir};

/// A copy of the repository's files as they are in the working tree (tracked and untracked, not
/// ignored), with the checkout's `node_modules` linked in.
fn copy_repo(dest: &Path) {
    let root = root();
    let out = Command::new("git")
        .current_dir(&root)
        .args(["ls-files", "-z", "-c", "-o", "--exclude-standard"])
        .output()
        .expect("git ls-files");
    assert!(out.status.success(), "git ls-files failed");
    for rel in out.stdout.split(|b| *b == 0).filter(|p| !p.is_empty()) {
        let rel = Path::new(std::str::from_utf8(rel).expect("utf-8 path"));
        let from = root.join(rel);
        if !from.is_file() {
            continue; // deleted in the working tree, or a submodule
        }
        let to = dest.join(rel);
        fs::create_dir_all(to.parent().unwrap()).unwrap();
        fs::copy(&from, &to).unwrap_or_else(|e| panic!("copy {}: {e}", rel.display()));
    }
    std::os::unix::fs::symlink(root.join("node_modules"), dest.join("node_modules")).unwrap();
    if root.join(".dev.vars").exists() {
        fs::copy(root.join(".dev.vars"), dest.join(".dev.vars")).unwrap();
    }
}

/// Replaces the one occurrence of `from` in a file of the copy.
fn edit(dir: &Path, file: &str, from: &str, to: &str) {
    let path = dir.join(file);
    let text = fs::read_to_string(&path).unwrap();
    assert_eq!(text.matches(from).count(), 1, "{from:?} in {file}");
    // Written to a temporary file and renamed over the original, as editors save.
    let tmp = path.with_extension("e2e-tmp~");
    fs::write(&tmp, text.replace(from, to)).unwrap();
    fs::rename(&tmp, &path).unwrap();
}

fn is_alive(pid: u32) -> bool {
    Path::new(&format!("/proc/{pid}")).exists()
        && !fs::read_to_string(format!("/proc/{pid}/stat"))
            .unwrap_or_default()
            .contains(") Z ")
}

fn refuses(port: u16) -> bool {
    std::net::TcpStream::connect(("127.0.0.1", port)).is_err()
}

/// The ports of one stack.
#[derive(Clone, Copy)]
struct Ports {
    worker: u16,
    stable: u16,
    canary: u16,
    inspector: u16,
}

impl Ports {
    fn new() -> Ports {
        Ports {
            worker: free_port(),
            stable: free_port(),
            canary: free_port(),
            inspector: free_port(),
        }
    }
}

/// A running `npm run dev` (scripts/dev.sh) in its own process group, output in a log file.
struct Dev {
    child: Option<Child>,
    stdin: Option<ChildStdin>,
    log: PathBuf,
    ports: Ports,
}

impl Dev {
    fn start(dir: &Path, ports: Ports, args: &[&str], log_name: &str) -> Dev {
        let root = root();
        let log = dir.join(log_name);
        let file = fs::File::create(&log).unwrap();
        let path = format!(
            "{}:{}",
            root.join("node_modules/.bin").display(),
            std::env::var("PATH").unwrap_or_default()
        );
        let mut cmd = Command::new("bash");
        cmd.current_dir(dir)
            .arg("scripts/dev.sh")
            .args(args)
            .env("PATH", path)
            .env("PORT", ports.worker.to_string())
            .env("STABLE_PORT", ports.stable.to_string())
            .env("CANARY_PORT", ports.canary.to_string())
            .env("INSPECTOR_PORT", ports.inspector.to_string())
            // Only the crates the test edits compile: everything else is the checkout's.
            .env("CARGO_TARGET_DIR", root.join("target"))
            .stdin(Stdio::piped())
            .stdout(file.try_clone().unwrap())
            .stderr(file)
            // Its own process group, as a terminal gives `npm run dev`: SIGINT to the group is
            // what Ctrl-C sends.
            .process_group(0);
        let mut child = cmd.spawn().expect("spawn scripts/dev.sh");
        let stdin = child.stdin.take();
        let dev = Dev {
            child: Some(child),
            stdin,
            log,
            ports,
        };
        // The first start compiles the copy's crates (and, on a machine where nothing was built
        // with the dev-worker profile yet, its dependencies).
        dev.wait_log("dev: ready", 0, Duration::from_secs(900));
        dev
    }

    fn log_text(&self) -> String {
        fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// Waits for a line containing `needle` after byte `from` of the log; returns the line.
    fn wait_log(&self, needle: &str, from: usize, timeout: Duration) -> String {
        let deadline = Instant::now() + timeout;
        loop {
            let text = self.log_text();
            if let Some(line) = text
                .get(from..)
                .unwrap_or("")
                .lines()
                .find(|l| l.contains(needle))
            {
                return line.to_string();
            }
            if Instant::now() > deadline {
                panic!(
                    "no {needle:?} in {} s; dev log:\n{}",
                    timeout.as_secs(),
                    tail(&text)
                );
            }
            thread::sleep(Duration::from_millis(200));
        }
    }

    fn mark(&self) -> usize {
        self.log_text().len()
    }

    /// The last `dev: pids wrangler=… stable=… canary=…` line, as (wrangler, stable, canary).
    fn pids(&self) -> (u32, u32, u32) {
        let text = self.log_text();
        let line = text
            .lines()
            .rev()
            .find(|l| l.starts_with("dev: pids "))
            .expect("a pids line");
        let pid = |name: &str| -> u32 {
            line.split_whitespace()
                .find_map(|w| w.strip_prefix(&format!("{name}=")))
                .and_then(|v| v.parse().ok())
                .unwrap_or_else(|| panic!("{name} pid in {line:?}"))
        };
        (pid("wrangler"), pid("stable"), pid("canary"))
    }

    fn type_command(&mut self, line: &str) {
        let stdin = self.stdin.as_mut().expect("stdin");
        writeln!(stdin, "{line}").unwrap();
        stdin.flush().unwrap();
    }

    fn url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{path}", self.ports.worker)
    }

    /// Waits until GET `path` on the worker answers with a body containing `needle`.
    fn wait_served(&self, path: &str, needle: &str, timeout: Duration) {
        let deadline = Instant::now() + timeout;
        loop {
            if try_get(&self.url(path)).is_some_and(|r| r.body.contains(needle)) {
                return;
            }
            if Instant::now() > deadline {
                panic!(
                    "{path} never served {needle:?}; dev log:\n{}",
                    tail(&self.log_text())
                );
            }
            thread::sleep(Duration::from_millis(200));
        }
    }

    /// Ctrl-C: SIGINT to the process group; waits for the stack to exit.
    fn interrupt(&mut self) {
        let Some(mut child) = self.child.take() else {
            return;
        };
        let _ = Command::new("kill")
            .args(["-INT", "--", &format!("-{}", child.id())])
            .status();
        let deadline = Instant::now() + Duration::from_secs(30);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = child.try_wait() {
                return;
            }
            thread::sleep(Duration::from_millis(100));
        }
        let _ = Command::new("kill")
            .args(["-KILL", "--", &format!("-{}", child.id())])
            .status();
        let _ = child.wait();
        panic!(
            "the dev stack did not stop within 30 s of SIGINT:\n{}",
            tail(&self.log_text())
        );
    }
}

impl Drop for Dev {
    fn drop(&mut self) {
        if let Some(child) = self.child.take() {
            let pgid = format!("-{}", child.id());
            let _ = Command::new("kill").args(["-INT", "--", &pgid]).status();
            thread::sleep(Duration::from_secs(3));
            let _ = Command::new("kill").args(["-KILL", "--", &pgid]).status();
        }
    }
}

/// The copy's demo origin is built into the checkout's target/debug/demo-origin, which the other
/// end-to-end tests use: when this test ends, that binary is the checkout's again.
struct RestoreDemoOrigin;

impl Drop for RestoreDemoOrigin {
    fn drop(&mut self) {
        let _ = Command::new("cargo")
            .current_dir(root())
            .args(["build", "-q", "-p", "demo-origin"])
            .status();
    }
}

fn tail(text: &str) -> String {
    let lines: Vec<&str> = text
        .lines()
        .filter(|l| !l.starts_with("{\"event\"") && !l.contains("[wrangler:info]"))
        .collect();
    lines[lines.len().saturating_sub(60)..].join("\n")
}

#[test]
fn npm_run_dev_rebuilds_reloads_survives_and_stops_on_a_copy_of_the_repo() {
    let _restore = RestoreDemoOrigin;
    let tmp = TempDir::new("dev");
    let dir = tmp.0.join("repo");
    copy_repo(&dir);
    let token = fs::read_to_string(dir.join(".dev.vars"))
        .ok()
        .and_then(|t| {
            t.lines()
                .find_map(|l| l.strip_prefix("ADMIN_TOKEN=").map(str::to_string))
        });

    let first = Ports::new();
    let mut dev = Dev::start(&dir, first, &[], "dev-1.log");
    let (wrangler, stable, canary) = dev.pids();
    let health = support::get(&dev.url("/__edge/health")).json();
    assert_eq!(health["service"], "catalog-edge");

    // A one-line change in a core module is served by the same stack.
    let at = dev.mark();
    edit(
        &dir,
        "src/health.rs",
        r#"service: "catalog-edge","#,
        r#"service: "catalog-edge-e2e","#,
    );
    dev.wait_served(
        "/__edge/health",
        "catalog-edge-e2e",
        Duration::from_secs(300),
    );
    let served = dev.wait_log("dev: new build served", at, Duration::from_secs(30));
    println!("{served}");
    assert!(is_alive(wrangler) && is_alive(stable) && is_alive(canary));
    assert_eq!(dev.pids(), (wrangler, stable, canary), "nothing restarted");

    // A compile error is printed; the last good build keeps serving; fixing it is served.
    let at = dev.mark();
    edit(
        &dir,
        "src/health.rs",
        r#"service: "catalog-edge-e2e","#,
        r#"service: "catalog-edge-e2e" oops,"#,
    );
    let failed = dev.wait_log("the worker build failed", at, Duration::from_secs(300));
    assert!(
        failed.contains("the last good build keeps serving"),
        "{failed}"
    );
    let log = dev.log_text()[at..].to_string();
    assert!(
        log.contains("src/health.rs") && log.contains("error"),
        "{}",
        tail(&log)
    );
    assert!(
        !log.contains("Stack backtrace"),
        "worker-build's backtrace is noise"
    );
    let still = support::get(&dev.url("/__edge/health"));
    assert_eq!(still.status, 200);
    assert!(still.body.contains("catalog-edge-e2e"), "{}", still.body);
    edit(
        &dir,
        "src/health.rs",
        r#"service: "catalog-edge-e2e" oops,"#,
        r#"service: "catalog-edge-fixed","#,
    );
    dev.wait_served(
        "/__edge/health",
        "catalog-edge-fixed",
        Duration::from_secs(300),
    );

    // www/ is served as it is.
    edit(&dir, "www/index.html", "<title>", "<title>e2e-dev · ");
    dev.wait_served("/__edge/", "e2e-dev · ", Duration::from_secs(10));

    // A killed origin is reported; wrangler keeps serving; `restart stable` brings it back.
    let at = dev.mark();
    let _ = Command::new("kill")
        .args(["-KILL", &stable.to_string()])
        .status();
    let died = dev.wait_log("the stable demo origin", at, Duration::from_secs(10));
    assert!(
        died.contains(&format!("pid {stable}")) && died.contains("exited"),
        "{died}"
    );
    dev.wait_log("restart stable", at, Duration::from_secs(5));
    assert_eq!(support::get(&dev.url("/__edge/health")).status, 200);
    assert!(is_alive(wrangler));
    let down = support::get(&dev.url("/api/v1/marketplace/search?q=down"));
    assert_eq!(down.status, 502, "{}", down.body);
    let at = dev.mark();
    dev.type_command("restart stable");
    dev.wait_log("dev: pids", at, Duration::from_secs(30));
    let (_, new_stable, _) = dev.pids();
    assert_ne!(new_stable, stable);
    let up = support::get(&dev.url("/api/v1/marketplace/search?q=up"));
    assert_eq!(up.status, 200, "{}", up.body);

    // A demo-origin change rebuilds and restarts the origins; reverted, the same again.
    let live = "/health/live";
    let (ok, ok_e2e) = (
        "            status: \"ok\",\n            timestamp",
        "            status: \"ok-e2e\",\n            timestamp",
    );
    let at = dev.mark();
    edit(&dir, "demo-origin/src/server.rs", ok, ok_e2e);
    dev.wait_log("demo origins restarted", at, Duration::from_secs(300));
    dev.wait_served(live, "ok-e2e", Duration::from_secs(10));
    let (_, s2, c2) = dev.pids();
    assert!(s2 != new_stable && c2 != canary && is_alive(wrangler));
    let at = dev.mark();
    edit(&dir, "demo-origin/src/server.rs", ok_e2e, ok);
    dev.wait_log("demo origins restarted", at, Duration::from_secs(300));
    dev.wait_served(live, "\"status\":\"ok\"", Duration::from_secs(10));

    // A rollout write stores a configuration with this stack's origins.
    let token = token.expect("ADMIN_TOKEN in .dev.vars");
    let set = Req::post(&dev.url("/__edge/api/canary"))
        .header("authorization", &format!("Bearer {token}"))
        .body(r#"{"weight":10,"reason":"dev stack test"}"#)
        .send();
    assert_eq!(set.status, 200, "{}", set.body);

    // Ctrl-C stops every process of the stack.
    let (wrangler, s3, c3) = dev.pids();
    dev.interrupt();
    assert!(dev.log_text().contains("dev: stopped"));
    for pid in [wrangler, s3, c3] {
        assert!(!is_alive(pid), "pid {pid} still runs after Ctrl-C");
    }
    for port in [first.worker, first.stable, first.canary] {
        assert!(refuses(port), "port {port} still open after Ctrl-C");
    }

    // Started again with other origin ports, the stored configuration is reported.
    let second = Ports::new();
    let mut dev = Dev::start(&dir, second, &[], "dev-2.log");
    let log = dev.log_text();
    assert!(
        log.contains("holds rollout configuration version 1 (admin"),
        "{}",
        tail(&log)
    );
    assert!(
        log.contains(&format!("http://127.0.0.1:{}/", first.stable)),
        "{}",
        tail(&log)
    );
    assert!(log.contains("npm run dev -- --fresh"), "{}", tail(&log));
    dev.interrupt();

    // --fresh starts from the vars: no warning, no stored version.
    let mut dev = Dev::start(&dir, second, &["--fresh"], "dev-3.log");
    let log = dev.log_text();
    assert!(
        log.contains("--fresh: deleted .wrangler/state"),
        "{}",
        tail(&log)
    );
    assert!(
        !log.contains("holds rollout configuration"),
        "{}",
        tail(&log)
    );
    let health = support::get(&dev.url("/__edge/health")).json();
    assert_eq!(health["rollout"]["source"], "vars", "{health}");
    assert_eq!(
        health["config"]["origin"],
        format!("http://127.0.0.1:{}/", second.stable)
    );
    dev.interrupt();

    // Dev builds went to build-dev/: build/ is only ever the release build that deploys ship.
    assert!(dir.join("build-dev/index_bg.wasm").exists());
    assert!(!dir.join("build").exists(), "a dev build wrote build/");
}
