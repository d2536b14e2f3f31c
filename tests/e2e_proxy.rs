//! End-to-end: the built worker in `wrangler dev` in front of the demo origin, as a proxy
//! (issue: foundation). Each test has its own stack on free ports.

mod support;

use serde_json::json;
use support::{server_timing, Req, Stack, StackOptions};

const CATEGORIES: &str = "/api/v1/marketplace/categories";
const CLIENT_TRACE: &str = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";

fn is_valid_traceparent(v: &str) -> bool {
    let parts: Vec<&str> = v.split('-').collect();
    parts.len() == 4
        && parts[0] == "00"
        && parts[1].len() == 32
        && parts[2].len() == 16
        && parts[3].len() == 2
        && v.chars()
            .all(|c| c == '-' || c.is_ascii_digit() || ('a'..='f').contains(&c))
        && parts[1] != "0".repeat(32)
        && parts[2] != "0".repeat(16)
}

#[test]
fn forwards_catalog_request_with_server_timing_and_a_new_trace() {
    let stack = Stack::start();
    let direct = Req::get(&format!("{}{CATEGORIES}", stack.stable.url)).send();
    let via_edge = Req::get(&stack.worker.at(CATEGORIES)).send();

    assert_eq!(via_edge.status, 200);
    assert_eq!(
        via_edge.json(),
        direct.json(),
        "edge must return the origin's JSON"
    );
    assert_eq!(via_edge.json()["success"], true);

    let st = via_edge.header("server-timing").expect("Server-Timing");
    let metrics = server_timing(st);
    let names: Vec<&str> = metrics.iter().map(|(n, _)| n.as_str()).collect();
    assert!(names.contains(&"edge"), "{st}");
    assert!(names.contains(&"origin"), "{st}");
    for (name, params) in &metrics {
        if name == "edge" || name == "origin" {
            let dur: f64 = params["dur"].parse().expect("dur is a number");
            assert!(dur >= 0.0);
        }
    }
    assert_eq!(via_edge.header("timing-allow-origin"), Some("*"));

    let seen = stack.stable.requests(CATEGORIES);
    let tp = seen[0]["headers"]["traceparent"]
        .as_str()
        .expect("origin saw a traceparent");
    assert!(is_valid_traceparent(tp), "{tp}");
}

#[test]
fn valid_traceparent_keeps_its_trace_id_and_invalid_one_is_replaced() {
    let stack = Stack::start();
    let resp = Req::get(&stack.worker.at("/api/v1/marketplace/category-tree"))
        .header("traceparent", CLIENT_TRACE)
        .header("tracestate", "vendor=abc")
        .header("cf-ray", "client-sent")
        .send();
    // The trace context goes to the origin only (README: Trace context).
    assert_eq!(resp.header("traceparent"), None);
    assert_eq!(resp.header("traceresponse"), None);
    let seen = &stack.stable.requests("/api/v1/marketplace/category-tree")[0]["headers"];
    // The client's cf-* headers are dropped; the runtime adds its own CF-Worker to every
    // subrequest (README: Forwarding).
    assert!(seen.get("cf-ray").is_none(), "{seen}");
    assert!(seen["cf-worker"].is_string(), "{seen}");
    let tp = seen["traceparent"].as_str().unwrap();
    assert!(is_valid_traceparent(tp), "{tp}");
    assert!(
        tp.starts_with("00-4bf92f3577b34da6a3ce929d0e0e4736-"),
        "trace id kept: {tp}"
    );
    assert!(tp.ends_with("-01"), "flags kept: {tp}");
    assert_ne!(tp, CLIENT_TRACE, "the edge's own span becomes the parent");
    assert_eq!(seen["tracestate"], "vendor=abc");

    Req::get(&stack.worker.at("/api/v1/marketplace/popular-categories"))
        .header("traceparent", "00-NOT-A-TRACE")
        .header("tracestate", "vendor=abc")
        .send();
    let seen = &stack
        .stable
        .requests("/api/v1/marketplace/popular-categories")[0]["headers"];
    let tp = seen["traceparent"].as_str().unwrap();
    assert!(is_valid_traceparent(tp), "{tp}");
    assert!(!tp.contains("4bf92f3577b34da6a3ce929d0e0e4736"));
    assert!(
        seen.get("tracestate").is_none(),
        "tracestate of a broken trace is dropped"
    );
}

#[test]
fn forwards_method_query_body_and_headers_and_sets_forwarded_headers() {
    let stack = Stack::start();
    let path = "/api/v1/marketplace/search";
    let resp = Req::post(&stack.worker.at(&format!("{path}?lang=en&page=1")))
        .header("x-request-id", "abc-123")
        .header("accept-language", "en-US,en;q=0.9")
        .header("x-forwarded-for", "198.51.100.7")
        .header("proxy-authorization", "Basic bXk6cHJveHk=")
        .json_body(&json!({"query": "zastava", "limit": 5}))
        .send();
    assert_eq!(resp.status, 200, "{}", resp.body);
    assert!(resp.json()["meta"]["total"].is_number());

    let seen = &stack.stable.requests(path)[0];
    assert_eq!(seen["method"], "POST");
    assert!(seen["query"].as_str().unwrap().contains("lang=en"));
    let body: serde_json::Value = serde_json::from_str(seen["body"].as_str().unwrap()).unwrap();
    assert_eq!(body["query"], "zastava");
    let h = &seen["headers"];
    assert_eq!(h["x-request-id"], "abc-123");
    assert_eq!(h["accept-language"], "en-US,en;q=0.9");
    let xff = h["x-forwarded-for"].as_str().expect("x-forwarded-for");
    assert!(
        xff.starts_with("198.51.100.7, "),
        "client IP appended: {xff}"
    );
    assert_eq!(h["x-forwarded-proto"], "http");
    assert_eq!(
        h["x-forwarded-host"].as_str(),
        Some(format!("127.0.0.1:{}", stack.worker.port).as_str())
    );
    assert!(
        h.get("proxy-authorization").is_none(),
        "credentials for the proxy never reach the origin"
    );
}

#[test]
fn origin_statuses_headers_and_redirects_pass_through() {
    let stack = Stack::start();
    let r = Req::get(&stack.worker.at(
        "/echo/redirect?status=301&h=Location:/api/v1/marketplace/categories&h=Set-Cookie:a%3D1&h=Set-Cookie:b%3D2",
    ))
    .send();
    assert_eq!(r.status, 301, "redirects are passed back, not followed");
    assert_eq!(r.header("location"), Some("/api/v1/marketplace/categories"));
    let mut cookies = r.header_all("set-cookie");
    cookies.sort();
    assert_eq!(cookies, vec!["a=1", "b=2"]);

    stack.stable.control(
        "fail",
        json!({"mode": "status", "status": 503, "path_prefix": "/api/"}),
    );
    let r = Req::get(&stack.worker.at(CATEGORIES)).send();
    assert_eq!(r.status, 503, "an origin 5xx is passed through as is");
    assert_eq!(r.json()["error"], "injected failure");
    assert!(r.header("server-timing").unwrap().contains("origin;dur="));
}

#[test]
fn stopped_origin_gives_json_502_and_health_still_answers() {
    let mut stack = Stack::start();
    stack.stable.stop();
    let r = Req::get(&stack.worker.at(CATEGORIES)).send();
    assert_eq!(r.status, 502, "{}", r.body);
    let body = r.json();
    assert_eq!(body["error"], "origin_unreachable");
    assert!(body["detail"].as_str().unwrap().len() > 10);
    assert!(r.header("server-timing").unwrap().contains("edge;dur="));

    let h = Req::get(&stack.worker.at("/__edge/health")).send();
    assert_eq!(h.status, 200);
    let h = h.json();
    assert_eq!(h["status"], "ok");
    assert_eq!(h["version"], env!("CARGO_PKG_VERSION"));
    assert_eq!(h["config"]["status"], "valid");

    stack.stable.restart();
    assert_eq!(Req::get(&stack.worker.at(CATEGORIES)).send().status, 200);
}

#[test]
fn origin_that_resets_the_connection_gives_json_502() {
    let stack = Stack::start();
    stack
        .stable
        .control("fail", json!({"mode": "reset", "path_prefix": "/api/"}));
    let r = Req::get(&stack.worker.at(CATEGORIES)).send();
    assert_eq!(r.status, 502, "{}", r.body);
    assert_eq!(r.json()["error"], "origin_unreachable");
}

#[test]
fn slow_origin_gives_json_504_at_the_timeout() {
    let stack = Stack::with(StackOptions::default().var("ORIGIN_TIMEOUT_MS", "1000"));
    stack
        .stable
        .control("slow", json!({"delay_ms": 15000, "path_prefix": "/api/"}));
    let r = Req::get(&stack.worker.at(CATEGORIES)).send();
    assert_eq!(r.status, 504, "{}", r.body);
    let body = r.json();
    assert_eq!(body["error"], "origin_timeout");
    assert!(body["detail"].as_str().unwrap().contains("1000 ms"));
    // Behaviour, not performance: the edge gives up at its timeout, long before the origin.
    assert!(
        r.elapsed.as_secs() < 10,
        "the 504 came after {:?}, the origin's delay is 15 s",
        r.elapsed
    );
}

#[test]
fn edge_paths_and_blocked_prefixes_never_reach_the_origin() {
    let stack = Stack::start();
    let r = Req::get(&stack.worker.at("/__edge/nope")).send();
    assert_eq!(r.status, 404);
    assert_eq!(r.json()["error"], "not_found");

    let r = Req::get(&stack.worker.at("/__origin/stats")).send();
    assert_eq!(r.status, 404);
    assert_eq!(r.json()["error"], "not_found");
    assert_eq!(
        stack.stable.stats()["total"],
        0,
        "nothing reached the origin"
    );
}

#[test]
fn invalid_config_is_reported_by_health_and_refuses_to_proxy() {
    let stack = Stack::with(
        StackOptions::default()
            .var("ORIGIN_URL", "ftp://nowhere")
            .var("ORIGIN_TIMEOUT_MS", "soon"),
    );
    let h = Req::get(&stack.worker.at("/__edge/health")).send();
    assert_eq!(h.status, 503);
    let body = h.json();
    assert_eq!(body["config"]["status"], "invalid");
    let errors = body["config"]["errors"].to_string();
    assert!(errors.contains("ORIGIN_URL"), "{errors}");
    assert!(errors.contains("ORIGIN_TIMEOUT_MS"), "{errors}");

    let r = Req::get(&stack.worker.at(CATEGORIES)).send();
    assert_eq!(r.status, 503);
    assert_eq!(r.json()["error"], "config_invalid");
}

#[test]
fn metrics_need_the_token_and_every_request_is_logged_without_secrets() {
    let stack = Stack::start();
    Req::get(&stack.worker.at(CATEGORIES)).send();
    Req::get(&stack.worker.at(CATEGORIES)).send();
    Req::get(
        &stack
            .worker
            .at(&format!("{CATEGORIES}?email=ana%40example.rs")),
    )
    .header("cookie", "session=s3cr3t")
    .send();
    let denied = Req::get(&stack.worker.at("/__edge/metrics")).send();
    assert_eq!(denied.status, 401);
    let m = stack.admin("GET", "/__edge/metrics").send();
    assert_eq!(m.status, 200);
    assert!(m
        .header("content-type")
        .unwrap()
        .starts_with("text/plain; version=0.0.4"));
    assert!(m.body.contains("# HELP catalog_edge_requests_total"));
    assert!(m.body.contains("Per isolate"));
    assert!(
        m.body.contains(r#"catalog_edge_requests_total{route="categories",variant="stable",outcome="hit",status="2xx"} 1"#),
        "{}",
        m.body
    );
    assert!(m
        .body
        .contains("catalog_edge_request_duration_seconds_bucket{"));
    // The second request was a hit from the in-memory tier, and the tier reports itself.
    assert!(
        m.body
            .contains("\ncatalog_edge_memory_cache_hits_total 1\n"),
        "{}",
        m.body
    );
    assert!(m
        .body
        .contains("\ncatalog_edge_memory_cache_capacity_bytes 8388608\n"));

    // One JSON line per request in the worker's log; never the token, cookies or queries.
    let mut lines = Vec::new();
    for _ in 0..30 {
        let log = stack.worker.log_text();
        lines = log
            .lines()
            .filter_map(|l| l.find(r#"{"event":"request""#).map(|i| l[i..].to_string()))
            .collect();
        if lines.len() >= 5 {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    let parsed: Vec<serde_json::Value> = lines
        .iter()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}")))
        .collect();
    let cats: Vec<&serde_json::Value> = parsed
        .iter()
        .filter(|v| v["route"] == "categories")
        .collect();
    assert_eq!(cats.len(), 3, "{lines:?}");
    assert_eq!(cats[0]["outcome"], "miss");
    assert_eq!(cats[0]["variant"], "stable");
    assert!(cats[0]["origin_ms"].is_number());
    assert!(cats[0]["trace_id"].as_str().unwrap().len() == 32);
    let log = stack.worker.log_text();
    assert!(
        !log.contains(&stack.token),
        "the admin token is never logged"
    );
    assert!(!log.contains("s3cr3t"), "cookies are never logged");
    assert!(!log.contains("ana%40example"), "queries are never logged");
}

#[test]
fn request_log_errors_writes_only_failures_and_counts_what_it_left_out() {
    let stack = Stack::with(StackOptions::default().var("REQUEST_LOG", "errors"));
    // A miss and a hit: no lines.
    for _ in 0..2 {
        assert_eq!(Req::get(&stack.worker.at(CATEGORIES)).send().status, 200);
    }
    // A failure: its line is written.
    stack.stable.control(
        "fail",
        json!({"mode": "status", "status": 503, "path_prefix": "/api/v1/marketplace/search"}),
    );
    let failed = Req::get(&stack.worker.at("/api/v1/marketplace/search?q=golf")).send();
    assert_eq!(failed.status, 503, "{}", failed.body);

    let request_lines = || -> Vec<serde_json::Value> {
        stack
            .worker
            .log_text()
            .lines()
            .filter_map(|l| l.find(r#"{"event":"request""#).map(|i| l[i..].to_string()))
            .map(|l| serde_json::from_str(&l).unwrap_or_else(|e| panic!("{e}: {l}")))
            .collect()
    };
    let mut lines = request_lines();
    for _ in 0..30 {
        if !lines.is_empty() {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
        lines = request_lines();
    }
    assert_eq!(lines.len(), 1, "only the failure is logged: {lines:?}");
    assert_eq!(lines[0]["status"], 503);
    assert_eq!(lines[0]["route"], "search");
    assert_eq!(lines[0]["origin_error"], true);

    // What was left out is counted, and the metrics still count every request.
    let m = stack.admin("GET", "/__edge/metrics").send();
    assert!(
        m.body
            .contains("catalog_edge_request_log_lines_total{line=\"written\"} 1\n"),
        "{}",
        m.body
    );
    // Skipped: the two catalog requests, and the stack's own health checks before them.
    let skipped: u64 = m
        .body
        .lines()
        .find_map(|l| l.strip_prefix("catalog_edge_request_log_lines_total{line=\"skipped\"} "))
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("{}", m.body));
    assert!(skipped >= 2, "{skipped}");
    assert!(m
        .body
        .contains("catalog_edge_request_log_setting{setting=\"errors\"} 1\n"));
    assert!(m.body.contains(
        r#"catalog_edge_requests_total{route="categories",variant="stable",outcome="hit",status="2xx"} 1"#
    ));
    let h = Req::get(&stack.worker.at("/__edge/health")).send().json();
    assert_eq!(h["status"], "ok");
    assert_eq!(h["request_log"]["setting"], "errors");
    assert_eq!(h["request_log"]["written"], 1);
    // The real Cache API answered every lookup: none failed, and metrics say so too.
    assert_eq!(h["cache_api"]["status"], "ok");
    assert_eq!(h["cache_api"]["lookup_failures"], 0);
    assert!(m
        .body
        .contains("catalog_edge_cache_lookup_failures_total 0\n"));
    // Plus the metrics request (each request is counted after its own answer is made).
    assert_eq!(h["request_log"]["skipped"], skipped + 1);
}
