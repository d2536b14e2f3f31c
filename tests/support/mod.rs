//! End-to-end test support: starts the demo origins and the built worker in `wrangler dev` on
//! free loopback ports, one isolated stack per test, and always stops them (on drop, also when a
//! test panics).
//!
//! Needs the worker built (`npm run build`) and the demo origin built (`cargo build -p
//! demo-origin`); `npm test` does both first.
#![allow(dead_code)]

use std::collections::BTreeMap;
use std::fs;
use std::io::{BufRead, BufReader, Read};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::thread;
use std::time::{Duration, Instant};

use serde_json::Value;

/// The project root.
pub fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// A free TCP port on 127.0.0.1 for a server that binds it later (wrangler dev). Chosen below
/// Linux's ephemeral range (32768–60999), so that a demo origin another test starts on port 0
/// meanwhile can never be handed the same port by the kernel.
pub fn free_port() -> u16 {
    static N: AtomicU32 = AtomicU32::new(0);
    let seed = std::process::id()
        .wrapping_mul(2_654_435_761)
        .wrapping_add(N.fetch_add(1, Ordering::SeqCst).wrapping_mul(40_503))
        .wrapping_add(
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| d.subsec_nanos()),
        );
    for i in 0..2_000u32 {
        let port = 20_000 + (seed.wrapping_add(i.wrapping_mul(7_919)) % 12_000) as u16;
        if TcpListener::bind(("127.0.0.1", port)).is_ok() {
            return port;
        }
    }
    panic!("no free port in 20000–31999");
}

/// A scratch directory removed on drop.
pub struct TempDir(pub PathBuf);

impl TempDir {
    pub fn new(tag: &str) -> TempDir {
        static N: AtomicU32 = AtomicU32::new(0);
        let dir = std::env::temp_dir().join(format!(
            "catalog-edge-{tag}-{}-{}",
            std::process::id(),
            N.fetch_add(1, Ordering::SeqCst)
        ));
        let _ = fs::remove_dir_all(&dir);
        fs::create_dir_all(&dir).expect("temp dir");
        TempDir(dir)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.0);
    }
}

fn stop_child(child: &mut Child) {
    if let Ok(Some(_)) = child.try_wait() {
        return;
    }
    // SIGTERM first so wrangler can stop its workerd; SIGKILL if it lingers.
    let _ = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status();
    let deadline = Instant::now() + Duration::from_secs(5);
    while Instant::now() < deadline {
        if let Ok(Some(_)) = child.try_wait() {
            return;
        }
        thread::sleep(Duration::from_millis(50));
    }
    let _ = child.kill();
    let _ = child.wait();
}

/// Which flavour of the demo origin.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Flavour {
    Stable,
    Canary,
}

impl Flavour {
    pub fn as_str(self) -> &'static str {
        match self {
            Flavour::Stable => "stable",
            Flavour::Canary => "canary",
        }
    }
}

/// A running demo origin.
pub struct Origin {
    child: Option<Child>,
    pub flavour: Flavour,
    pub port: u16,
    pub url: String,
}

fn demo_origin_bin() -> PathBuf {
    // The test binary lives in target/<profile>/deps; the demo origin in target/<profile>.
    let exe = std::env::current_exe().expect("test exe path");
    let bin = exe
        .parent()
        .and_then(Path::parent)
        .map(|d| d.join("demo-origin"))
        .expect("target dir");
    assert!(
        bin.exists(),
        "{} is missing: run `cargo build -p demo-origin` (npm test does)",
        bin.display()
    );
    bin
}

impl Origin {
    /// Starts a demo origin on `port` (0 = any free port).
    pub fn start(flavour: Flavour, port: u16) -> Origin {
        let mut child = Command::new(demo_origin_bin())
            .args(["--flavour", flavour.as_str(), "--port", &port.to_string()])
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("spawn demo-origin");
        let stdout = child.stdout.take().expect("stdout");
        let mut line = String::new();
        BufReader::new(stdout)
            .read_line(&mut line)
            .expect("demo-origin banner");
        let url = line
            .split_whitespace()
            .find(|w| w.starts_with("http://"))
            .unwrap_or_else(|| panic!("no URL in demo-origin banner {line:?}"))
            .trim_end_matches('/')
            .to_string();
        let port = url.rsplit(':').next().unwrap().parse().expect("port");
        Origin {
            child: Some(child),
            flavour,
            port,
            url,
        }
    }

    /// Stops the origin; its port then refuses connections.
    pub fn stop(&mut self) {
        if let Some(mut c) = self.child.take() {
            stop_child(&mut c);
        }
    }

    /// Starts it again on the same port.
    pub fn restart(&mut self) {
        self.stop();
        let mut again = Origin::start(self.flavour, self.port);
        self.child = again.child.take();
    }

    /// `GET /__origin/stats`.
    pub fn stats(&self) -> Value {
        get(&format!("{}/__origin/stats", self.url)).json()
    }

    /// How many requests the origin received for `path`.
    pub fn count(&self, path: &str) -> u64 {
        self.stats()["requests"][path].as_u64().unwrap_or(0)
    }

    /// The requests the origin received for `path`, newest first.
    pub fn requests(&self, path: &str) -> Vec<Value> {
        let v = get(&format!("{}/__origin/requests?path={path}", self.url)).json();
        match v {
            Value::Array(items) => items,
            other => other["requests"].as_array().cloned().unwrap_or_default(),
        }
    }

    /// POSTs a control command to `/__origin/<what>`.
    pub fn control(&self, what: &str, body: Value) -> Resp {
        let r = Req::post(&format!("{}/__origin/{what}", self.url))
            .json_body(&body)
            .send();
        assert!(
            r.status < 300,
            "control {what} failed: {} {}",
            r.status,
            r.body
        );
        r
    }
}

impl Drop for Origin {
    fn drop(&mut self) {
        self.stop();
    }
}

/// A running `wrangler dev` with the built worker.
pub struct Worker {
    child: Option<Child>,
    pub port: u16,
    pub url: String,
    log: PathBuf,
}

impl Worker {
    /// Starts `wrangler dev` with extra `--var NAME:VALUE`s, its state kept in `state_dir`.
    pub fn start(vars: &[(String, String)], state_dir: &Path) -> Worker {
        Worker::start_with(vars, state_dir, None, true)
    }

    /// Like [`Worker::start`], with another wrangler configuration file for the edge and,
    /// unless `objects` is false, the objects worker (the Durable Objects, `wrangler.objects.toml`)
    /// beside it in the same `wrangler dev`, as an auxiliary worker the edge's bindings reach by
    /// `script_name`.
    pub fn start_with(
        vars: &[(String, String)],
        state_dir: &Path,
        config: Option<&Path>,
        objects: bool,
    ) -> Worker {
        let root = root();
        for built in ["build/index.js", "build-objects/index.js"] {
            assert!(
                root.join(built).exists(),
                "{built} is missing: run `npm run build` (npm test does)"
            );
        }
        let port = free_port();
        let inspector = free_port();
        let public_url = ("PUBLIC_URL".to_string(), format!("http://127.0.0.1:{port}"));
        let log = state_dir.join("wrangler.log");
        let log_file = fs::File::create(&log).expect("log file");
        let bin_dir = root.join("node_modules/.bin");
        let path = format!(
            "{}:{}",
            bin_dir.display(),
            std::env::var("PATH").unwrap_or_default()
        );
        let mut cmd = Command::new(bin_dir.join("wrangler"));
        cmd.current_dir(&root)
            .env("PATH", path)
            .env("WRANGLER_SEND_METRICS", "false")
            .env("CLOUDFLARE_CF_FETCH_ENABLED", "false")
            .env("WRANGLER_LOG_PATH", state_dir.join("wrangler-logs"))
            .arg("dev");
        // The edge's configuration first (the primary worker, on --port), then the objects'.
        cmd.arg("--config")
            .arg(config.map_or_else(|| root.join("wrangler.toml"), Path::to_path_buf));
        if objects {
            let all: Vec<(String, String)> = vars
                .iter()
                .cloned()
                .chain(std::iter::once(public_url.clone()))
                .collect();
            cmd.arg("--config").arg(objects_config(state_dir, &all));
        }
        cmd.args(["--ip", "127.0.0.1", "--port", &port.to_string()])
            .args(["--inspector-port", &inspector.to_string()])
            .args([
                "--persist-to",
                &state_dir.join("state").display().to_string(),
            ])
            .args(["--show-interactive-dev-session=false", "--log-level", "log"])
            // Exposes /cdn-cgi/handler/scheduled?cron=… so tests can fire the cron trigger.
            .arg("--test-scheduled")
            .args(["--var", &format!("{}:{}", public_url.0, public_url.1)])
            .stdin(Stdio::null())
            .stdout(log_file.try_clone().expect("log"))
            .stderr(log_file);
        for (k, v) in vars {
            cmd.args(["--var", &format!("{k}:{v}")]);
        }
        let child = cmd.spawn().expect("spawn wrangler dev");
        let mut worker = Worker {
            child: Some(child),
            port,
            url: format!("http://127.0.0.1:{port}"),
            log,
        };
        worker.wait_ready();
        worker
    }

    fn wait_ready(&mut self) {
        let deadline = Instant::now() + Duration::from_secs(90);
        while Instant::now() < deadline {
            if let Some(Ok(Some(status))) = self.child.as_mut().map(Child::try_wait) {
                panic!("wrangler dev exited ({status}):\n{}", self.log_text());
            }
            // Only this worker's own health answer counts: anything else on the port is not it.
            if let Some(r) = try_get(&format!("{}/__edge/health", self.url)) {
                if r.body.contains("\"service\":\"catalog-edge\"") {
                    return;
                }
                panic!(
                    "port {} answers, but not as this worker ({} {}):\n{}",
                    self.port,
                    r.status,
                    r.body,
                    self.log_text()
                );
            }
            thread::sleep(Duration::from_millis(200));
        }
        panic!("wrangler dev not ready in 90 s:\n{}", self.log_text());
    }

    /// What wrangler printed so far.
    pub fn log_text(&self) -> String {
        let mut s = String::new();
        if let Ok(mut f) = fs::File::open(&self.log) {
            let _ = f.read_to_string(&mut s);
        }
        s
    }

    /// An absolute URL on the worker.
    pub fn at(&self, path: &str) -> String {
        format!("{}{path}", self.url)
    }
}

impl Drop for Worker {
    fn drop(&mut self) {
        if let Some(mut c) = self.child.take() {
            stop_child(&mut c);
        }
    }
}

/// Demo origins (stable and canary) and the worker in front of the stable one.
pub struct Stack {
    // Field order is drop order: the worker first, then the origins, then the state dir.
    pub worker: Worker,
    pub stable: Origin,
    pub canary: Origin,
    /// The admin token the worker was started with.
    pub token: String,
    _dir: TempDir,
}

/// Options for a stack.
#[derive(Default)]
pub struct StackOptions {
    /// Extra wrangler vars (override wrangler.toml).
    pub vars: Vec<(String, String)>,
    /// Run without the control plane's Durable Object binding (as if it were unavailable).
    pub no_control_plane: bool,
    /// Leave `ADMIN_TOKEN` unset (e.g. to configure `ADMIN_TOKENS` alone).
    pub no_admin_token: bool,
    /// Point `ROLLOUT_WEBHOOK_URL` at the stable demo origin's `/echo/webhook` (it records what
    /// it receives).
    pub webhook_to_stable: bool,
}

impl StackOptions {
    pub fn var(mut self, k: &str, v: &str) -> Self {
        self.vars.push((k.to_string(), v.to_string()));
        self
    }

    pub fn without_control_plane(mut self) -> Self {
        self.no_control_plane = true;
        self
    }

    pub fn without_admin_token(mut self) -> Self {
        self.no_admin_token = true;
        self
    }

    pub fn webhook_to_stable(mut self) -> Self {
        self.webhook_to_stable = true;
        self
    }
}

/// A copy of wrangler.objects.toml with `main` made absolute and `vars` on top of its own
/// `[vars]`, written into `dir`: wrangler dev hands `--var`s to its first worker only, and the
/// objects read the same configuration as the edge.
pub fn objects_config(dir: &Path, vars: &[(String, String)]) -> PathBuf {
    let root = root();
    let original =
        fs::read_to_string(root.join("wrangler.objects.toml")).expect("wrangler.objects.toml");
    let mut out = String::new();
    let mut in_vars = false;
    let mut own: Vec<(String, String)> = Vec::new();
    for line in original.lines() {
        let trimmed = line.trim();
        if trimmed.starts_with('[') {
            in_vars = trimmed == "[vars]";
            if in_vars {
                continue;
            }
        }
        if in_vars {
            if let Some((k, v)) = trimmed.split_once('=') {
                own.push((k.trim().to_string(), v.trim().trim_matches('"').to_string()));
            }
            continue;
        }
        match trimmed.split_once('=') {
            Some((k, v)) if k.trim() == "main" => {
                let rel = v.trim().trim_matches('"');
                out.push_str(&format!("main = \"{}\"\n", root.join(rel).display()));
            }
            _ => {
                out.push_str(line);
                out.push('\n');
            }
        }
    }
    let mut merged: BTreeMap<String, String> = own.into_iter().collect();
    // Secrets stay with the edge (the objects authenticate nobody; in production the objects
    // worker holds no secret): a var in this file would also be printed by wrangler at startup.
    merged.extend(
        vars.iter()
            .filter(|(k, _)| !matches!(k.as_str(), "ADMIN_TOKEN" | "ADMIN_TOKENS"))
            .cloned(),
    );
    out.push_str("\n[vars]\n");
    for (k, v) in merged {
        // A JSON string is a TOML basic string.
        out.push_str(&format!("{k} = {}\n", serde_json::to_string(&v).unwrap()));
    }
    let path = dir.join("wrangler-objects.toml");
    fs::write(&path, out).expect("write the objects config");
    path
}

/// A copy of wrangler.toml without the Durable Object bindings, with paths made absolute,
/// written into `dir` (the stack then starts no objects worker).
fn config_without_control_plane(dir: &Path) -> PathBuf {
    let root = root();
    let original = fs::read_to_string(root.join("wrangler.toml")).expect("wrangler.toml");
    let mut out = String::new();
    let mut skipping = false;
    for line in original.lines() {
        let trimmed = line.trim();
        if trimmed.starts_with('[') {
            skipping = trimmed == "[[durable_objects.bindings]]" || trimmed == "[[migrations]]";
        }
        if skipping {
            continue;
        }
        let line = match trimmed.split_once('=') {
            Some((k, v)) if k.trim() == "main" || k.trim() == "directory" => {
                let rel = v.trim().trim_matches('"');
                format!("{} = \"{}\"", k.trim(), root.join(rel).display())
            }
            _ => line.to_string(),
        };
        out.push_str(&line);
        out.push('\n');
    }
    let path = dir.join("wrangler-no-control.toml");
    fs::write(&path, out).expect("write the config copy");
    path
}

impl Stack {
    /// A stack with the default configuration.
    pub fn start() -> Stack {
        Stack::with(StackOptions::default())
    }

    /// A stack with options.
    pub fn with(opts: StackOptions) -> Stack {
        let dir = TempDir::new("e2e");
        let stable = Origin::start(Flavour::Stable, 0);
        let canary = Origin::start(Flavour::Canary, 0);
        let token = format!("e2e-token-{}-{}", std::process::id(), stable.port);
        let mut vars = vec![
            ("ORIGIN_URL".to_string(), stable.url.clone()),
            ("CANARY_ORIGIN_URL".to_string(), canary.url.clone()),
        ];
        // Set even when "unset": an empty value, or wrangler would take .dev.vars' token.
        let admin_token = if opts.no_admin_token { "" } else { &token };
        vars.push(("ADMIN_TOKEN".to_string(), admin_token.to_string()));
        if opts.webhook_to_stable {
            vars.push((
                "ROLLOUT_WEBHOOK_URL".to_string(),
                format!("{}/echo/webhook", stable.url),
            ));
        }
        vars.extend(opts.vars);
        let config = opts
            .no_control_plane
            .then(|| config_without_control_plane(&dir.0));
        let worker = Worker::start_with(&vars, &dir.0, config.as_deref(), !opts.no_control_plane);
        Stack {
            worker,
            stable,
            canary,
            token,
            _dir: dir,
        }
    }

    /// Runs `wrangler kv key …` against this stack's local KV (the release manager's KV-only
    /// path), returning stdout.
    pub fn kv(&self, args: &[&str]) -> String {
        let root = root();
        let bin_dir = root.join("node_modules/.bin");
        let path = format!(
            "{}:{}",
            bin_dir.display(),
            std::env::var("PATH").unwrap_or_default()
        );
        let out = Command::new(bin_dir.join("wrangler"))
            .current_dir(&root)
            .env("PATH", path)
            .env("WRANGLER_SEND_METRICS", "false")
            .env("CLOUDFLARE_CF_FETCH_ENABLED", "false")
            .env("WRANGLER_LOG_PATH", self._dir.0.join("wrangler-logs"))
            .args(["kv", "key"])
            .args(args)
            .args(["--binding", "EDGE_CONFIG", "--local", "--persist-to"])
            .arg(self._dir.0.join("state"))
            .stdin(Stdio::null())
            .output()
            .expect("run wrangler kv");
        assert!(
            out.status.success(),
            "wrangler kv {args:?} failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// A request to the worker's admin API with the token.
    pub fn admin(&self, method: &str, path: &str) -> Req {
        Req::new(method, &self.worker.at(path))
            .header("authorization", &format!("Bearer {}", self.token))
    }
}

/// A response, whatever its status.
#[derive(Debug)]
pub struct Resp {
    pub status: u16,
    pub headers: BTreeMap<String, Vec<String>>,
    pub body: String,
    pub elapsed: Duration,
}

impl Resp {
    /// The first value of a header (name case-insensitive).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .get(&name.to_ascii_lowercase())
            .and_then(|v| v.first())
            .map(String::as_str)
    }

    /// Every value of a header.
    pub fn header_all(&self, name: &str) -> Vec<String> {
        self.headers
            .get(&name.to_ascii_lowercase())
            .cloned()
            .unwrap_or_default()
    }

    /// The body as JSON; panics with the body when it is not JSON.
    pub fn json(&self) -> Value {
        serde_json::from_str(&self.body).unwrap_or_else(|e| {
            panic!(
                "not JSON ({e}): status {} body {:?}",
                self.status, self.body
            )
        })
    }
}

/// A request builder over ureq that returns any status as a [`Resp`].
pub struct Req {
    method: String,
    url: String,
    headers: Vec<(String, String)>,
    body: Option<String>,
}

impl Req {
    pub fn new(method: &str, url: &str) -> Req {
        Req {
            method: method.to_string(),
            url: url.to_string(),
            headers: Vec::new(),
            body: None,
        }
    }
    pub fn get(url: &str) -> Req {
        Req::new("GET", url)
    }
    pub fn post(url: &str) -> Req {
        Req::new("POST", url)
    }
    pub fn header(mut self, k: &str, v: &str) -> Req {
        self.headers.push((k.to_string(), v.to_string()));
        self
    }
    pub fn body(mut self, body: &str) -> Req {
        self.body = Some(body.to_string());
        self
    }
    pub fn method(&self) -> &str {
        &self.method
    }
    pub fn json_body(self, v: &Value) -> Req {
        self.header("content-type", "application/json")
            .body(&v.to_string())
    }

    /// Sends; panics only on transport errors.
    pub fn send(self) -> Resp {
        self.try_send()
            .unwrap_or_else(|e| panic!("{} {}: {e}", self.method, self.url))
    }

    /// Sends; `Err` on transport errors.
    pub fn try_send(&self) -> Result<Resp, String> {
        let agent = ureq::AgentBuilder::new()
            .timeout(Duration::from_secs(60))
            .redirects(0)
            .build();
        let mut req = agent.request(&self.method, &self.url);
        for (k, v) in &self.headers {
            req = req.set(k, v);
        }
        let started = Instant::now();
        let result = match &self.body {
            Some(b) => req.send_string(b),
            None => req.call(),
        };
        let resp = match result {
            Ok(r) => r,
            Err(ureq::Error::Status(_, r)) => r,
            Err(e) => return Err(e.to_string()),
        };
        let status = resp.status();
        let mut headers: BTreeMap<String, Vec<String>> = BTreeMap::new();
        for name in resp.headers_names() {
            let values = resp.all(&name).into_iter().map(str::to_string).collect();
            headers.insert(name.to_ascii_lowercase(), values);
        }
        let body = resp.into_string().map_err(|e| e.to_string())?;
        Ok(Resp {
            status,
            headers,
            body,
            elapsed: started.elapsed(),
        })
    }
}

/// `GET url`.
pub fn get(url: &str) -> Resp {
    Req::get(url).send()
}

/// `GET url`, `None` on a transport error.
pub fn try_get(url: &str) -> Option<Resp> {
    Req::get(url).try_send().ok()
}

/// Parses a `Server-Timing` header into `(name, params)` pairs.
pub fn server_timing(value: &str) -> Vec<(String, BTreeMap<String, String>)> {
    value
        .split(',')
        .filter_map(|metric| {
            let mut parts = metric.split(';').map(str::trim);
            let name = parts.next()?.to_string();
            if name.is_empty() {
                return None;
            }
            let params = parts
                .filter_map(|p| {
                    let (k, v) = p.split_once('=')?;
                    Some((k.trim().to_string(), v.trim().trim_matches('"').to_string()))
                })
                .collect();
            Some((name, params))
        })
        .collect()
}
