//! Test controls under `/__origin/`: request counters and log, injected latency and failures,
//! the ETag switch, echo programs and reset.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::sync::{Mutex, MutexGuard};

use hyper::{Method, StatusCode};
use serde::Serialize;
use serde_json::{json, Value};

use crate::config::Flavour;
use crate::echo::EchoProgram;
use crate::listings::Overrides;
use crate::query::Query;

/// The path prefix of the control API (never forwarded by the edge).
pub const PREFIX: &str = "/__origin";

/// How many requests the log keeps.
pub const LOG_CAPACITY: usize = 500;

/// Longest injectable delay (10 minutes).
pub const MAX_DELAY_MS: u64 = 600_000;

/// One received request, as listed by `GET /__origin/requests`.
#[derive(Debug, Clone, Serialize)]
pub struct LoggedRequest {
    /// HTTP method.
    pub method: String,
    /// Path without the query.
    pub path: String,
    /// Raw query string (empty when absent).
    pub query: String,
    /// Lowercase header name → values joined with `", "`.
    pub headers: BTreeMap<String, String>,
    /// Body as lossy UTF-8.
    pub body: String,
}

/// An injected failure.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FailAction {
    /// Answer this status with `{"error":"injected failure"}`.
    Status(StatusCode),
    /// Close the connection without a response.
    Reset,
}

#[derive(Debug, Default)]
struct State {
    counts: BTreeMap<String, u64>,
    total: u64,
    log: VecDeque<LoggedRequest>,
    slow: BTreeMap<String, u64>,
    fail: BTreeMap<String, FailAction>,
    etag_enabled: bool,
    echo: HashMap<String, EchoProgram>,
    overrides: Overrides,
}

/// Shared mutable state of the test controls.
#[derive(Debug)]
pub struct Controls {
    state: Mutex<State>,
    etag_default: bool,
}

/// A control endpoint's answer: status and JSON body.
pub type ControlReply = (StatusCode, Value);

/// The rule whose prefix is the longest one matching `path` (`""` matches everything).
fn longest_match<'a, T>(rules: &'a BTreeMap<String, T>, path: &str) -> Option<&'a T> {
    rules
        .iter()
        .filter(|(prefix, _)| path.starts_with(prefix.as_str()))
        .max_by_key(|(prefix, _)| prefix.len())
        .map(|(_, rule)| rule)
}

fn bad_request(error: &str, detail: impl Into<String>) -> ControlReply {
    (
        StatusCode::BAD_REQUEST,
        json!({"error": error, "detail": detail.into()}),
    )
}

fn parse_json(body: &[u8]) -> Result<Value, ControlReply> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Ok(json!({}));
    }
    serde_json::from_slice(body).map_err(|e| bad_request("invalid JSON", e.to_string()))
}

fn has_prefix(v: &Value) -> bool {
    v.get("path_prefix").is_some_and(|p| !p.is_null())
}

fn prefix_of(v: &Value) -> Result<String, ControlReply> {
    match v.get("path_prefix") {
        None | Some(Value::Null) => Ok(String::new()),
        Some(Value::String(s)) => Ok(s.clone()),
        Some(_) => Err(bad_request(
            "invalid request",
            "path_prefix must be a string",
        )),
    }
}

impl Controls {
    /// New controls; `etag_default` is the ETag switch's state at start and after reset.
    pub fn new(etag_default: bool) -> Controls {
        Controls {
            state: Mutex::new(State {
                etag_enabled: etag_default,
                ..State::default()
            }),
            etag_default,
        }
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        // A panic while holding the lock cannot leave the state inconsistent in a way that
        // matters for a test server, so recover from poisoning.
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Counts and logs a received (non-control) request.
    pub fn record(&self, request: LoggedRequest) {
        let mut s = self.lock();
        *s.counts.entry(request.path.clone()).or_default() += 1;
        s.total += 1;
        if s.log.len() == LOG_CAPACITY {
            s.log.pop_back();
        }
        s.log.push_front(request);
    }

    /// The injected delay for `path` in milliseconds (0 = none).
    pub fn delay_for(&self, path: &str) -> u64 {
        longest_match(&self.lock().slow, path).copied().unwrap_or(0)
    }

    /// The injected failure for `path`, if any.
    pub fn failure_for(&self, path: &str) -> Option<FailAction> {
        longest_match(&self.lock().fail, path).copied()
    }

    /// Whether automatic ETags are on.
    pub fn etag_enabled(&self) -> bool {
        self.lock().etag_enabled
    }

    /// The program of echo endpoint `name`, if one was set.
    pub fn echo_program(&self, name: &str) -> Option<EchoProgram> {
        self.lock().echo.get(name).cloned()
    }

    /// Runs `f` on the written listing attributes.
    pub fn with_overrides<R>(&self, f: impl FnOnce(&mut Overrides) -> R) -> R {
        f(&mut self.lock().overrides)
    }

    /// Handles a request to `/__origin/<sub>`.
    pub fn handle(
        &self,
        flavour: Flavour,
        method: &Method,
        sub: &str,
        query: &Query,
        body: &[u8],
    ) -> ControlReply {
        let get = method == Method::GET || method == Method::HEAD;
        let post = method == Method::POST || method == Method::PUT;
        let result = match sub {
            "" => Ok(self.index(flavour)),
            "stats" if get => Ok(self.stats(flavour)),
            "requests" if get => self.requests(query),
            "slow" if get => Ok(self.slow_rules()),
            "slow" if post => parse_json(body).and_then(|v| self.set_slow(&v)),
            "fail" if get => Ok(self.fail_rules()),
            "fail" if post => parse_json(body).and_then(|v| self.set_fail(&v)),
            "etag" if get => Ok((StatusCode::OK, json!({"enabled": self.etag_enabled()}))),
            "etag" if post => parse_json(body).and_then(|v| self.set_etag(&v)),
            "reset" if post => Ok(self.reset()),
            "echo" if get => Ok(self.echo_list()),
            _ => match sub.strip_prefix("echo/").filter(|n| !n.is_empty()) {
                Some(name) if post => parse_json(body).and_then(|v| self.set_echo(name, &v)),
                Some(name) if get => Ok(self.get_echo(name)),
                Some(name) if method == Method::DELETE => Ok(self.delete_echo(name)),
                Some(_) => Err(method_not_allowed(method)),
                None if known(sub) => Err(method_not_allowed(method)),
                None => Err((
                    StatusCode::NOT_FOUND,
                    json!({"error": "not found", "detail": format!("no control endpoint {PREFIX}/{sub}")}),
                )),
            },
        };
        result.unwrap_or_else(|e| e)
    }

    fn index(&self, flavour: Flavour) -> ControlReply {
        (
            StatusCode::OK,
            json!({
                "flavour": flavour.as_str(),
                "endpoints": [
                    "GET /__origin/stats",
                    "GET /__origin/requests?path=&limit=",
                    "GET|POST /__origin/slow {\"delay_ms\":N,\"path_prefix\":\"/api/\"}",
                    "GET|POST /__origin/fail {\"mode\":\"status|reset|off\",\"status\":503,\"path_prefix\":\"/api/\"}",
                    "GET|POST /__origin/etag {\"enabled\":bool}",
                    "GET /__origin/echo",
                    "GET|POST|DELETE /__origin/echo/{name} {\"status\":200,\"headers\":[[\"Name\",\"Value\"]],\"body\":\"text\"} or {…,\"bytes\":N,\"chunked\":true}",
                    "POST /__origin/reset",
                ],
            }),
        )
    }

    fn stats(&self, flavour: Flavour) -> ControlReply {
        let s = self.lock();
        (
            StatusCode::OK,
            json!({"flavour": flavour.as_str(), "total": s.total, "requests": s.counts}),
        )
    }

    fn requests(&self, query: &Query) -> Result<ControlReply, ControlReply> {
        let limit = match query.get("limit").filter(|v| !v.is_empty()) {
            Some(v) => v
                .parse::<usize>()
                .map_err(|_| bad_request("invalid request", "limit must be a number"))?,
            None => 100,
        }
        .min(LOG_CAPACITY);
        let path = query.get("path").filter(|p| !p.is_empty());
        let path_prefix = query.get("path_prefix").filter(|p| !p.is_empty());
        let s = self.lock();
        let list: Vec<&LoggedRequest> = s
            .log
            .iter()
            .filter(|r| path.is_none_or(|p| r.path == p))
            .filter(|r| path_prefix.is_none_or(|p| r.path.starts_with(p)))
            .take(limit)
            .collect();
        Ok((
            StatusCode::OK,
            json!({"count": list.len(), "requests": list}),
        ))
    }

    fn slow_rules(&self) -> ControlReply {
        let s = self.lock();
        let rules: Vec<Value> = s
            .slow
            .iter()
            .map(|(p, d)| json!({"path_prefix": p, "delay_ms": d}))
            .collect();
        (StatusCode::OK, json!({"slow": rules}))
    }

    fn set_slow(&self, v: &Value) -> Result<ControlReply, ControlReply> {
        let delay = v.get("delay_ms").and_then(Value::as_u64).ok_or_else(|| {
            bad_request("invalid request", "delay_ms must be a non-negative integer")
        })?;
        if delay > MAX_DELAY_MS {
            return Err(bad_request(
                "invalid request",
                format!("delay_ms must be at most {MAX_DELAY_MS}"),
            ));
        }
        let prefix = prefix_of(v)?;
        {
            let mut s = self.lock();
            match (delay, !has_prefix(v)) {
                // delay 0 without a prefix clears every rule
                (0, true) => s.slow.clear(),
                (0, false) => {
                    s.slow.remove(&prefix);
                }
                (d, _) => {
                    s.slow.insert(prefix, d);
                }
            }
        }
        Ok(self.slow_rules())
    }

    fn fail_rules(&self) -> ControlReply {
        let s = self.lock();
        let rules: Vec<Value> = s
            .fail
            .iter()
            .map(|(p, a)| match a {
                FailAction::Status(code) => {
                    json!({"path_prefix": p, "mode": "status", "status": code.as_u16()})
                }
                FailAction::Reset => json!({"path_prefix": p, "mode": "reset"}),
            })
            .collect();
        (StatusCode::OK, json!({"fail": rules}))
    }

    fn set_fail(&self, v: &Value) -> Result<ControlReply, ControlReply> {
        let mode = v.get("mode").and_then(Value::as_str).ok_or_else(|| {
            bad_request(
                "invalid request",
                "mode must be \"status\", \"reset\" or \"off\"",
            )
        })?;
        let prefix = prefix_of(v)?;
        let action = match mode {
            "status" => {
                let code = match v.get("status") {
                    None | Some(Value::Null) => 503,
                    Some(s) => s.as_u64().unwrap_or(0),
                };
                let status = u16::try_from(code)
                    .ok()
                    .filter(|c| (200..=599).contains(c))
                    .and_then(|c| StatusCode::from_u16(c).ok())
                    .ok_or_else(|| bad_request("invalid request", "status must be 200-599"))?;
                Some(FailAction::Status(status))
            }
            "reset" => Some(FailAction::Reset),
            "off" => None,
            other => {
                return Err(bad_request(
                    "invalid request",
                    format!("unknown mode {other:?}: use status, reset or off"),
                ))
            }
        };
        {
            let mut s = self.lock();
            match action {
                Some(a) => {
                    s.fail.insert(prefix, a);
                }
                // "off" without a prefix clears every rule
                None if !has_prefix(v) => s.fail.clear(),
                None => {
                    s.fail.remove(&prefix);
                }
            }
        }
        Ok(self.fail_rules())
    }

    fn set_etag(&self, v: &Value) -> Result<ControlReply, ControlReply> {
        let enabled = v
            .get("enabled")
            .and_then(Value::as_bool)
            .ok_or_else(|| bad_request("invalid request", "enabled must be true or false"))?;
        self.lock().etag_enabled = enabled;
        Ok((StatusCode::OK, json!({"enabled": enabled})))
    }

    fn reset(&self) -> ControlReply {
        let mut s = self.lock();
        *s = State {
            etag_enabled: self.etag_default,
            ..State::default()
        };
        (
            StatusCode::OK,
            json!({"ok": true, "etag_enabled": self.etag_default}),
        )
    }

    fn echo_list(&self) -> ControlReply {
        let s = self.lock();
        let programs: BTreeMap<&String, Value> =
            s.echo.iter().map(|(n, p)| (n, p.describe())).collect();
        (StatusCode::OK, json!({"echo": programs}))
    }

    fn set_echo(&self, name: &str, v: &Value) -> Result<ControlReply, ControlReply> {
        let program = EchoProgram::from_json(v).map_err(|e| bad_request("invalid request", e))?;
        let described = program.describe();
        self.lock().echo.insert(name.to_string(), program);
        Ok((
            StatusCode::OK,
            json!({"name": name, "path": format!("/echo/{name}"), "program": described}),
        ))
    }

    fn get_echo(&self, name: &str) -> ControlReply {
        match self.echo_program(name) {
            Some(p) => (
                StatusCode::OK,
                json!({"name": name, "program": p.describe()}),
            ),
            None => (
                StatusCode::NOT_FOUND,
                json!({"error": "not found", "detail": format!("no echo program {name:?}")}),
            ),
        }
    }

    fn delete_echo(&self, name: &str) -> ControlReply {
        let removed = self.lock().echo.remove(name).is_some();
        (StatusCode::OK, json!({"name": name, "removed": removed}))
    }
}

fn known(sub: &str) -> bool {
    matches!(
        sub,
        "stats" | "requests" | "slow" | "fail" | "etag" | "reset" | "echo"
    )
}

fn method_not_allowed(method: &Method) -> ControlReply {
    (
        StatusCode::METHOD_NOT_ALLOWED,
        json!({"error": "method not allowed", "detail": format!("{method} is not supported here")}),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn logged(path: &str) -> LoggedRequest {
        LoggedRequest {
            method: "GET".into(),
            path: path.into(),
            query: String::new(),
            headers: BTreeMap::new(),
            body: String::new(),
        }
    }

    fn post(c: &Controls, sub: &str, body: &str) -> ControlReply {
        c.handle(
            Flavour::Stable,
            &Method::POST,
            sub,
            &Query::default(),
            body.as_bytes(),
        )
    }

    #[test]
    fn counts_and_log_capacity() {
        let c = Controls::new(true);
        for i in 0..(LOG_CAPACITY + 10) {
            c.record(logged(if i % 2 == 0 { "/a" } else { "/b" }));
        }
        let (_, stats) = c.handle(
            Flavour::Stable,
            &Method::GET,
            "stats",
            &Query::default(),
            b"",
        );
        assert_eq!(stats["total"], LOG_CAPACITY + 10);
        assert_eq!(stats["requests"]["/a"], (LOG_CAPACITY + 10) / 2);
        let (_, all) = c.handle(
            Flavour::Stable,
            &Method::GET,
            "requests",
            &Query::parse("limit=1000"),
            b"",
        );
        assert_eq!(all["count"], LOG_CAPACITY);
        let (_, only_b) = c.handle(
            Flavour::Stable,
            &Method::GET,
            "requests",
            &Query::parse("path=/b&limit=3"),
            b"",
        );
        assert_eq!(only_b["count"], 3);
    }

    #[test]
    fn rules_by_longest_prefix() {
        let c = Controls::new(true);
        assert_eq!(post(&c, "slow", r#"{"delay_ms": 100}"#).0, StatusCode::OK);
        post(&c, "slow", r#"{"delay_ms": 5, "path_prefix": "/api/"}"#);
        assert_eq!(c.delay_for("/api/v1/x"), 5);
        assert_eq!(c.delay_for("/health/live"), 100);
        post(&c, "slow", r#"{"delay_ms": 0, "path_prefix": "/api/"}"#);
        assert_eq!(c.delay_for("/api/v1/x"), 100);
        post(&c, "slow", r#"{"delay_ms": 0}"#);
        assert_eq!(c.delay_for("/api/v1/x"), 0);

        post(
            &c,
            "fail",
            r#"{"mode": "status", "status": 502, "path_prefix": "/api/"}"#,
        );
        post(
            &c,
            "fail",
            r#"{"mode": "reset", "path_prefix": "/api/v2/"}"#,
        );
        assert_eq!(c.failure_for("/api/v2/x"), Some(FailAction::Reset));
        assert_eq!(
            c.failure_for("/api/v1/x"),
            Some(FailAction::Status(StatusCode::BAD_GATEWAY))
        );
        assert_eq!(c.failure_for("/health/live"), None);
        post(&c, "fail", r#"{"mode": "off", "path_prefix": "/api/v2/"}"#);
        assert_eq!(
            c.failure_for("/api/v2/x"),
            Some(FailAction::Status(StatusCode::BAD_GATEWAY))
        );
        post(&c, "fail", r#"{"mode": "off"}"#);
        assert_eq!(c.failure_for("/api/v1/x"), None);
    }

    #[test]
    fn bad_input_and_reset() {
        let c = Controls::new(false);
        let (status, body) = post(&c, "slow", "{nope");
        assert_eq!(status, StatusCode::BAD_REQUEST);
        assert_eq!(body["error"], "invalid JSON");
        assert!(body["detail"].is_string());
        assert_eq!(
            post(&c, "fail", r#"{"mode": "explode"}"#).0,
            StatusCode::BAD_REQUEST
        );
        assert_eq!(
            post(&c, "fail", r#"{"mode": "status", "status": 42}"#).0,
            StatusCode::BAD_REQUEST
        );
        assert_eq!(
            post(&c, "etag", r#"{"enabled": "yes"}"#).0,
            StatusCode::BAD_REQUEST
        );
        post(&c, "etag", r#"{"enabled": true}"#);
        assert!(c.etag_enabled());
        post(&c, "echo/x", r#"{"status": 201}"#);
        assert!(c.echo_program("x").is_some());
        c.record(logged("/a"));
        post(&c, "reset", "");
        assert!(!c.etag_enabled(), "reset restores the start-up setting");
        assert!(c.echo_program("x").is_none());
        let (_, stats) = c.handle(
            Flavour::Stable,
            &Method::GET,
            "stats",
            &Query::default(),
            b"",
        );
        assert_eq!(stats["total"], 0);
        let unknown = c.handle(
            Flavour::Stable,
            &Method::GET,
            "nope",
            &Query::default(),
            b"",
        );
        assert_eq!(unknown.0, StatusCode::NOT_FOUND);
        let wrong = c.handle(
            Flavour::Stable,
            &Method::GET,
            "reset",
            &Query::default(),
            b"",
        );
        assert_eq!(wrong.0, StatusCode::METHOD_NOT_ALLOWED);
    }
}
