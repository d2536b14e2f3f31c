//! End-to-end: canary releases in the built worker (`wrangler dev`, real local KV) in front of
//! the stable and canary demo origins, steered through the admin API and through KV alone.

mod support;

use std::thread::sleep;
use std::time::{Duration, Instant};

use serde_json::{json, Value};
use support::{Req, Resp, Stack};

const CATS: &str = "/api/v1/marketplace/categories";

fn as_client(stack: &Stack, path: &str, client: &str) -> Resp {
    Req::get(&stack.worker.at(path))
        .header("cookie", &format!("edge_id={client}"))
        .send()
}

fn variant(r: &Resp) -> &str {
    r.header("x-edge-variant").unwrap_or("(none)")
}

fn served_by_canary(r: &Resp) -> bool {
    r.json()["flavour"] == "canary"
}

fn write(stack: &Stack, method: &str, path: &str, body: Value) -> Resp {
    let mut body = body;
    body["reason"] = json!("release 2026.11.26");
    stack.admin(method, path).json_body(&body).send()
}

fn set_weight(stack: &Stack, percent: f64) {
    let r = write(
        stack,
        "POST",
        "/__edge/api/canary",
        json!({ "weight": percent }),
    );
    assert_eq!(r.status, 200, "{}", r.body);
}

fn config_version(stack: &Stack) -> u64 {
    stack.admin("GET", "/__edge/api/config").send().json()["version"]
        .as_u64()
        .unwrap()
}

#[test]
fn at_25_percent_2000_clients_split_and_each_sticks_to_its_variant() {
    let stack = Stack::start();
    set_weight(&stack, 25.0);
    let mut canary = 0;
    let mut first = Vec::new();
    for i in 0..2000 {
        let r = as_client(&stack, CATS, &format!("client-{i}"));
        assert_eq!(r.status, 200);
        let v = variant(&r).to_string();
        assert_eq!(
            served_by_canary(&r),
            v == "canary",
            "client-{i}: header says {v}, body disagrees"
        );
        if v == "canary" {
            canary += 1;
        }
        first.push(v);
    }
    let share = canary as f64 / 20.0;
    eprintln!("canary share at 25 %: {share} % of 2000 clients");
    assert!(
        (share - 25.0).abs() <= 2.5,
        "canary share {share} % at 25 %"
    );
    // Every client keeps its variant, request after request.
    for i in (0..2000).step_by(10) {
        let r = as_client(&stack, CATS, &format!("client-{i}"));
        assert_eq!(variant(&r), first[i], "client-{i} moved");
        assert_eq!(served_by_canary(&r), first[i] == "canary");
    }
}

#[test]
fn a_new_client_gets_an_edge_id_cookie_and_keeps_its_variant() {
    let stack = Stack::start();
    set_weight(&stack, 50.0);
    let r = Req::get(&stack.worker.at(CATS)).send();
    let cookie = r
        .header("set-cookie")
        .expect("an edge_id cookie")
        .to_string();
    assert!(cookie.starts_with("edge_id="), "{cookie}");
    for attr in [
        "Secure",
        "HttpOnly",
        "SameSite=Lax",
        "Max-Age=31536000",
        "Path=/",
    ] {
        assert!(cookie.contains(attr), "{attr} in {cookie}");
    }
    let id = cookie
        .split(';')
        .next()
        .unwrap()
        .trim_start_matches("edge_id=");
    for _ in 0..5 {
        let again = as_client(&stack, CATS, id);
        assert_eq!(variant(&again), variant(&r));
        assert!(
            again.header("set-cookie").is_none(),
            "no new id for a known client"
        );
    }
    // At 0 % nobody needs an id.
    set_weight(&stack, 0.0);
    assert!(Req::get(&stack.worker.at(CATS))
        .send()
        .header("set-cookie")
        .is_none());
}

#[test]
fn overrides_header_beats_cookie_beats_weight() {
    let stack = Stack::start();
    let canary_by_header = Req::get(&stack.worker.at(CATS))
        .header("x-edge-variant", "canary")
        .send();
    assert_eq!(variant(&canary_by_header), "canary");
    assert!(served_by_canary(&canary_by_header));
    let canary_by_cookie = Req::get(&stack.worker.at(CATS))
        .header("cookie", "edge_variant=canary")
        .send();
    assert_eq!(variant(&canary_by_cookie), "canary");
    let header_wins = Req::get(&stack.worker.at(CATS))
        .header("cookie", "edge_variant=canary")
        .header("x-edge-variant", "stable")
        .send();
    assert_eq!(variant(&header_wins), "stable");
    assert!(!served_by_canary(&header_wins));
    set_weight(&stack, 100.0);
    let stable_at_100 = Req::get(&stack.worker.at(CATS))
        .header("x-edge-variant", "stable")
        .send();
    assert_eq!(variant(&stable_at_100), "stable");
}

#[test]
fn canary_and_stable_responses_never_share_a_cache_entry() {
    let stack = Stack::start();
    let get = |v: &str| {
        Req::get(&stack.worker.at(CATS))
            .header("x-edge-variant", v)
            .send()
    };
    let s1 = get("stable");
    let s2 = get("stable");
    assert_eq!(s2.header("x-cache"), Some("HIT"));
    let c1 = get("canary");
    assert_eq!(
        c1.header("x-cache"),
        Some("MISS"),
        "the stable entry is not the canary's"
    );
    assert!(served_by_canary(&c1));
    let c2 = get("canary");
    assert_eq!(c2.header("x-cache"), Some("HIT"));
    assert!(served_by_canary(&c2));
    let s3 = get("stable");
    assert_eq!(s3.header("x-cache"), Some("HIT"));
    assert!(
        !served_by_canary(&s3),
        "a stable user never gets the canary's body"
    );
    assert_eq!(s3.body, s1.body);
    assert_eq!(stack.stable.count(CATS), 1);
    assert_eq!(stack.canary.count(CATS), 1);
}

#[test]
fn rollback_takes_effect_at_once_through_the_api_and_within_5_s_through_kv() {
    let stack = Stack::start();
    set_weight(&stack, 100.0);
    assert_eq!(variant(&as_client(&stack, CATS, "c1")), "canary");
    let r = write(&stack, "POST", "/__edge/api/canary/rollback", json!({}));
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.json()["summary"]["weight_bp"], 0);
    assert_eq!(variant(&as_client(&stack, CATS, "c1")), "stable", "at once");

    // The KV-only path: a release manager without the dashboard edits config/current.
    set_weight(&stack, 100.0);
    assert_eq!(variant(&as_client(&stack, CATS, "c1")), "canary");
    let stored: Value = serde_json::from_str(&stack.kv(&["get", "config/current"])).unwrap();
    let mut rolled_back = stored.clone();
    rolled_back["config"]["canary"]["weight_bp"] = json!(0);
    // As the README says: bump the version (edges take only a newer one).
    rolled_back["version"] = json!(stored["version"].as_u64().unwrap() + 1);
    let file = std::env::temp_dir().join(format!("rollback-{}.json", stack.worker.port));
    std::fs::write(&file, rolled_back.to_string()).unwrap();
    // Make sure this isolate has just re-read KV, so the measurement covers a full memo period.
    assert_eq!(variant(&as_client(&stack, CATS, "c1")), "canary");
    stack.kv(&["put", "config/current", "--path", file.to_str().unwrap()]);
    let written = Instant::now();
    let mut took = None;
    while written.elapsed() < Duration::from_secs(15) {
        if variant(&as_client(&stack, CATS, "c1")) == "stable" {
            took = Some(written.elapsed());
            break;
        }
        sleep(Duration::from_millis(100));
    }
    let _ = std::fs::remove_file(&file);
    let took = took.expect("the KV rollback took effect");
    eprintln!("KV-only rollback took effect after {took:?}");
    assert!(took <= Duration::from_millis(5_500), "took {took:?}");
}

#[test]
fn an_invalid_config_is_refused_and_the_previous_one_keeps_serving() {
    let stack = Stack::start();
    set_weight(&stack, 100.0);
    let version = config_version(&stack);
    let mut doc = stack.admin("GET", "/__edge/api/config").send().json()["config"].clone();
    doc["canary"]["weight_bp"] = json!(15000);
    let r = write(
        &stack,
        "PUT",
        "/__edge/api/config",
        json!({ "config": doc }),
    );
    assert_eq!(r.status, 400);
    assert_eq!(r.json()["field"], "config.canary.weight_bp");
    assert_eq!(config_version(&stack), version, "nothing stored");
    assert_eq!(variant(&as_client(&stack, CATS, "x")), "canary");

    // Garbage written straight into KV: the last good configuration keeps serving, and health
    // says why.
    stack.kv(&["put", "config/current", r#"{"version":99,"updated_at_ms":0,"actor":"x","reason":"y","config":{"stable_origin":"ftp://nope"}}"#]);
    let mut reported = None;
    for _ in 0..80 {
        let h = Req::get(&stack.worker.at("/__edge/health")).send().json();
        if h["rollout"]["status"] == "invalid" {
            reported = Some(h);
            break;
        }
        sleep(Duration::from_millis(100));
    }
    let h = reported.expect("health reports the refused configuration");
    assert_eq!(h["status"], "degraded");
    assert!(h["rollout"]["problem"]
        .as_str()
        .unwrap()
        .contains("stable_origin"));
    assert_eq!(
        h["rollout"]["version"], version,
        "the last good version serves"
    );
    let r = as_client(&stack, CATS, "x");
    assert_eq!(r.status, 200);
    assert_eq!(variant(&r), "canary");
}

#[test]
fn a_failing_canary_falls_back_to_stable() {
    let mut stack = Stack::start();
    set_weight(&stack, 100.0);
    stack.canary.control(
        "fail",
        json!({"mode": "status", "status": 503, "path_prefix": "/api/"}),
    );
    let r = as_client(&stack, CATS, "c");
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(variant(&r), "stable", "served by stable");
    assert!(!served_by_canary(&r));
    assert!(r
        .header("cache-status")
        .unwrap()
        .contains("canary-fallback"));
    assert!(r
        .header("server-timing")
        .unwrap()
        .contains("fallback;desc=canary-failed"));
    assert_eq!(stack.canary.count(CATS), 1);
    assert_eq!(stack.stable.count(CATS), 1);

    // Not stored under the canary's key: once the canary recovers, it serves its own body.
    stack.canary.control("fail", json!({"mode": "off"}));
    let r = as_client(&stack, CATS, "c");
    assert_eq!(variant(&r), "canary");
    assert!(served_by_canary(&r));

    // An unreachable canary falls back too.
    stack.canary.stop();
    let r = as_client(&stack, "/api/v1/marketplace/category-tree", "c");
    assert_eq!(r.status, 200);
    assert_eq!(variant(&r), "stable");

    let stats = stack.admin("GET", "/__edge/api/cache/stats").send().json();
    assert_eq!(stats["total"]["fallbacks"], 2);
}

#[test]
fn a_canary_entry_revalidated_while_the_canary_fails_keeps_the_canary_body() {
    // Entries live 1 s and may not be served stale: each request after that revalidates. The
    // canary sends no validators, so the revalidation is unconditional and may fall back.
    let rules = r#"[{"id":"categories","pattern":"/api/v1/marketplace/categories","mode":"override",
        "ttl_secs":1,"stale_while_revalidate_secs":0,"stale_if_error_secs":0,"vary_language":true}]"#;
    let stack = Stack::with(support::StackOptions::default().var("CACHE_RULES", rules));
    set_weight(&stack, 100.0);
    stack.canary.control("etag", json!({"enabled": false}));
    let first = as_client(&stack, CATS, "c");
    assert!(served_by_canary(&first), "{}", first.body);
    assert!(first.header("cache-status").unwrap().contains("stored"));

    sleep(Duration::from_millis(2_200));
    stack.canary.control(
        "fail",
        json!({"mode": "status", "status": 503, "path_prefix": "/api/"}),
    );
    let during = as_client(&stack, CATS, "c");
    assert_eq!(during.status, 200, "{}", during.body);
    assert!(
        !served_by_canary(&during),
        "stable answered the failing canary"
    );
    let cs = during.header("cache-status").unwrap().to_string();
    assert!(cs.contains("canary-fallback"), "{cs}");
    assert!(!cs.contains("stored"), "{cs}");

    // Not stored under the canary's key (nor held in memory): the next canary request goes
    // to the canary again and gets its own body.
    stack.canary.control("fail", json!({"mode": "off"}));
    let after = as_client(&stack, CATS, "c");
    assert!(served_by_canary(&after), "{}", after.body);
    assert_ne!(
        after.header("x-cache"),
        Some("HIT"),
        "{:?}",
        after.header("cache-status")
    );
}

#[test]
fn every_write_shows_up_in_the_audit_log_and_history_can_be_reverted() {
    let stack = Stack::start();
    set_weight(&stack, 10.0);
    let r = write(&stack, "POST", "/__edge/api/canary/advance", json!({}));
    assert_eq!(r.json()["summary"]["weight_percent"], 25.0);
    write(&stack, "POST", "/__edge/api/canary/advance", json!({}));
    write(&stack, "POST", "/__edge/api/canary/rollback", json!({}));
    let early = write(&stack, "POST", "/__edge/api/canary/promote", json!({}));
    assert_eq!(
        early.status, 409,
        "promoting a canary below 100 % needs force"
    );
    assert_eq!(early.json()["error"], "conflict");
    set_weight(&stack, 100.0);
    let last = write(&stack, "POST", "/__edge/api/canary/advance", json!({}));
    assert_eq!(last.status, 409, "100 % is the last step");
    let promote = write(&stack, "POST", "/__edge/api/canary/promote", json!({}));
    assert_eq!(promote.status, 200);
    assert_eq!(
        promote.json()["summary"]["stable_origin"],
        format!("{}/", stack.canary.url),
        "the canary became stable"
    );

    let audit = stack.admin("GET", "/__edge/api/audit").send().json();
    let actions: Vec<&str> = audit["entries"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["action"].as_str().unwrap())
        .collect();
    assert_eq!(
        actions,
        [
            "promote",
            "set_weight",
            "rollback",
            "advance",
            "advance",
            "set_weight",
            "imported"
        ]
    );
    let newest = &audit["entries"][0];
    assert_eq!(newest["actor"], "admin", "the operator the token names");
    assert_eq!(newest["reason"], "release 2026.11.26");
    assert!(newest["at_ms"].as_u64().unwrap() > 1_700_000_000_000);
    let advance = &audit["entries"][3];
    assert_eq!(advance["old"]["canary"]["weight_bp"], 2500);
    assert_eq!(advance["new"]["canary"]["weight_bp"], 5000);

    let history = stack
        .admin("GET", "/__edge/api/config/history")
        .send()
        .json();
    assert_eq!(history["versions"][0]["version"], 6);
    let revert = write(
        &stack,
        "POST",
        "/__edge/api/config/revert",
        json!({"version": 2}),
    );
    assert_eq!(revert.status, 200, "{}", revert.body);
    assert_eq!(revert.json()["summary"]["weight_bp"], 2500);
    assert_eq!(revert.json()["version"], 7);
    let stale = write(
        &stack,
        "POST",
        "/__edge/api/config/revert",
        json!({"version": 99}),
    );
    assert_eq!(stale.status, 400);
    assert_eq!(stale.json()["field"], "version");
    assert_eq!(config_version(&stack), 7, "nothing stored");
    let audit = stack
        .admin("GET", "/__edge/api/audit?limit=2")
        .send()
        .json();
    assert_eq!(audit["entries"][0]["action"], "revert");
    assert_eq!(audit["entries"].as_array().unwrap().len(), 2, "limit");
    assert_eq!(audit["count"], 8, "the import, six changes and the revert");
}

#[test]
fn bad_input_is_refused_with_the_field_and_nothing_is_stored() {
    let stack = Stack::start();
    set_weight(&stack, 10.0);
    let version = config_version(&stack);
    let weight = |w: Value| write(&stack, "POST", "/__edge/api/canary", json!({ "weight": w }));
    for (w, detail) in [
        (json!(-1), "below 0"),
        (json!(150), "over 100 %"),
        (json!("25"), "not a number"),
        (json!("NaN"), "not a number"),
        (json!(12.345), "two decimals"),
        (json!(null), "not a number"),
    ] {
        let r = weight(w.clone());
        assert_eq!(r.status, 400, "{w}");
        assert_eq!(r.json()["field"], "weight", "{w}");
        assert!(
            r.json()["detail"].as_str().unwrap().contains(detail),
            "{w}: {}",
            r.body
        );
    }
    let no_reason = stack
        .admin("POST", "/__edge/api/canary")
        .json_body(&json!({"weight": 20}))
        .send();
    assert_eq!(
        (no_reason.status, no_reason.json()["field"].clone()),
        (400, json!("reason"))
    );
    let someone_else = stack
        .admin("POST", "/__edge/api/canary")
        .json_body(&json!({"weight": 20, "reason": "x", "actor": "marko"}))
        .send();
    assert_eq!(
        (someone_else.status, someone_else.json()["field"].clone()),
        (400, json!("actor")),
        "the actor is the token's operator, never free text"
    );
    let unknown = write(
        &stack,
        "POST",
        "/__edge/api/canary",
        json!({"weight": 20, "force": true}),
    );
    assert_eq!(unknown.json()["field"], "force");

    let mut doc = stack.admin("GET", "/__edge/api/config").send().json()["config"].clone();
    let put = |d: Value| write(&stack, "PUT", "/__edge/api/config", json!({ "config": d }));
    type Edit = Box<dyn Fn(&mut Value)>;
    let cases: Vec<(Edit, &str)> = vec![
        (
            Box::new(|d| d["canary"]["plan_bp"] = json!([])),
            "config.canary.plan_bp",
        ),
        (
            Box::new(|d| {
                d.as_object_mut().unwrap().remove("stable_origin");
            }),
            "config.stable_origin",
        ),
        (
            Box::new(|d| d["canary_origin"] = json!("gopher://x")),
            "config.canary_origin",
        ),
        (Box::new(|d| d["colour"] = json!("blue")), "config.colour"),
    ];
    for (edit, field) in cases {
        let mut d = doc.clone();
        edit(&mut d);
        let r = put(d);
        assert_eq!(r.status, 400, "{field}: {}", r.body);
        assert_eq!(r.json()["field"], field);
    }
    doc["canary_origin"] = json!(stack.worker.url.clone());
    let r = put(doc);
    assert_eq!(r.json()["field"], "config.canary_origin");
    assert!(r.json()["detail"]
        .as_str()
        .unwrap()
        .contains("worker itself"));
    assert_eq!(config_version(&stack), version, "nothing stored");
    let audit = stack.admin("GET", "/__edge/api/audit").send().json();
    assert_eq!(
        audit["count"], 2,
        "the import and the one write: refused writes are not audited changes"
    );
}
