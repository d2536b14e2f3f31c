//! End-to-end: the control plane (one Durable Object, the only writer of the rollout, purge
//! state and audit log) in the built worker under `wrangler dev`, with real local KV and
//! Durable Object storage: serialised writes, conflicts, recovery from whatever KV holds,
//! promote as a release change in every cache tier, named operators, emergency KV edits, and
//! the object out of reach.

mod support;

use std::thread;
use std::thread::sleep;
use std::time::{Duration, Instant};

use serde_json::{json, Value};
use support::{Req, Resp, Stack, StackOptions};

const CATS: &str = "/api/v1/marketplace/categories";
const ATTRS: &str = "/api/v2/marketplace/categories/10101/attributes";

fn write(stack: &Stack, method: &str, path: &str, body: Value) -> Resp {
    let mut body = body;
    if body.get("reason").is_none() {
        body["reason"] = json!("e2e");
    }
    stack.admin(method, path).json_body(&body).send()
}

fn set_weight(stack: &Stack, percent: f64) -> Resp {
    let r = write(
        stack,
        "POST",
        "/__edge/api/canary",
        json!({ "weight": percent }),
    );
    assert_eq!(r.status, 200, "{}", r.body);
    r
}

fn config(stack: &Stack) -> Value {
    let r = stack.admin("GET", "/__edge/api/config").send();
    assert_eq!(r.status, 200, "{}", r.body);
    r.json()
}

fn audit(stack: &Stack, limit: usize) -> Vec<Value> {
    let a = stack
        .admin("GET", &format!("/__edge/api/audit?limit={limit}"))
        .send()
        .json();
    a["entries"].as_array().cloned().unwrap_or_default()
}

fn audit_count(stack: &Stack) -> u64 {
    stack
        .admin("GET", "/__edge/api/audit?limit=1")
        .send()
        .json()["count"]
        .as_u64()
        .unwrap()
}

fn as_client(stack: &Stack, path: &str, client: &str) -> Resp {
    Req::get(&stack.worker.at(path))
        .header("cookie", &format!("edge_id={client}"))
        .send()
}

fn flavour(r: &Resp) -> String {
    r.json()["flavour"].as_str().unwrap_or("stable").to_string()
}

#[test]
fn twenty_parallel_writes_get_twenty_versions_and_twenty_audit_entries() {
    let stack = Stack::start();
    set_weight(&stack, 1.0);
    let before = audit_count(&stack);
    let v0 = config(&stack)["version"].as_u64().unwrap();
    let statuses_and_versions: Vec<(u16, Option<u64>)> = thread::scope(|s| {
        let handles: Vec<_> = (1..=20)
            .map(|w| {
                let stack = &stack;
                s.spawn(move || {
                    let r = write(stack, "POST", "/__edge/api/canary", json!({"weight": w}));
                    (r.status, r.json()["version"].as_u64())
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    let ok: Vec<u64> = statuses_and_versions
        .iter()
        .filter(|(s, _)| *s == 200)
        .filter_map(|(_, v)| *v)
        .collect();
    assert_eq!(ok.len(), 20, "{statuses_and_versions:?}");
    let mut distinct = ok.clone();
    distinct.sort_unstable();
    distinct.dedup();
    assert_eq!(distinct.len(), 20, "every 200 has its own version: {ok:?}");
    assert_eq!(distinct, ((v0 + 1)..=(v0 + 20)).collect::<Vec<_>>());
    assert_eq!(audit_count(&stack), before + 20, "one audit entry per 200");
    let history = stack
        .admin("GET", "/__edge/api/config/history?limit=500")
        .send()
        .json();
    assert_eq!(history["versions"][0]["version"], v0 + 20);

    // A rollback racing a weight change is never lost: both land, in some order, each with
    // its own version, and the newest version is what is in force.
    for trial in 0..5 {
        set_weight(&stack, 10.0);
        let (rollback, fifty) = thread::scope(|s| {
            let a = s.spawn(|| write(&stack, "POST", "/__edge/api/canary/rollback", json!({})));
            let b = s.spawn(|| write(&stack, "POST", "/__edge/api/canary", json!({"weight": 50})));
            (a.join().unwrap(), b.join().unwrap())
        });
        assert_eq!((rollback.status, fifty.status), (200, 200), "trial {trial}");
        let (rv, fv) = (
            rollback.json()["version"].as_u64().unwrap(),
            fifty.json()["version"].as_u64().unwrap(),
        );
        assert_ne!(rv, fv, "trial {trial}");
        let expected = if rv > fv { 0 } else { 5000 };
        assert_eq!(
            config(&stack)["summary"]["weight_bp"],
            expected,
            "trial {trial}"
        );
        let last_two: Vec<String> = audit(&stack, 2)
            .iter()
            .map(|e| e["action"].as_str().unwrap().to_string())
            .collect();
        assert!(
            last_two.contains(&"rollback".to_string()),
            "trial {trial}: {last_two:?}"
        );
    }
}

#[test]
fn a_write_based_on_an_old_version_is_refused_with_the_current_state() {
    let stack = Stack::start();
    set_weight(&stack, 10.0);
    let got = stack.admin("GET", "/__edge/api/config").send();
    let seen = got.json()["version"].as_u64().unwrap();
    assert_eq!(got.header("etag"), Some(format!("\"{seen}\"").as_str()));

    // Another operator moves the rollout on.
    set_weight(&stack, 25.0);

    // The first one's Advance, based on what they saw, is refused; nothing changes.
    let stale = stack
        .admin("POST", "/__edge/api/canary/advance")
        .header("if-match", &format!("\"{seen}\""))
        .json_body(&json!({"reason": "10 % looked fine"}))
        .send();
    assert_eq!(stale.status, 409, "{}", stale.body);
    let body = stale.json();
    assert_eq!(body["error"], "conflict");
    assert_eq!(body["field"], "if-match");
    assert_eq!(body["current"]["version"], seen + 1);
    assert_eq!(body["current"]["summary"]["weight_bp"], 2500);
    assert!(body["detail"]
        .as_str()
        .unwrap()
        .contains("nothing was changed"));
    assert_eq!(config(&stack)["summary"]["weight_bp"], 2500);

    // The same in the body, for clients that cannot set headers.
    let stale_body = write(
        &stack,
        "POST",
        "/__edge/api/canary/advance",
        json!({"expected_version": seen}),
    );
    assert_eq!(stale_body.status, 409);

    // Based on the current version, it goes through.
    let fresh = stack
        .admin("POST", "/__edge/api/canary/advance")
        .header("if-match", &format!("\"{}\"", seen + 1))
        .json_body(&json!({"reason": "25 % clean"}))
        .send();
    assert_eq!(fresh.status, 200, "{}", fresh.body);
    assert_eq!(fresh.json()["summary"]["weight_bp"], 5000);
    assert_eq!(
        fresh.header("etag"),
        Some(format!("\"{}\"", seen + 2).as_str())
    );

    // A dry run validates, asks both proposed origins whether they are ready, stores nothing.
    let before = config(&stack)["version"].clone();
    let proposed = json!({"stable_origin": format!("{}/", stack.stable.url),
        "canary_origin": "http://127.0.0.1:9/", "canary_release": "2026.12"});
    let dry = write(
        &stack,
        "PUT",
        "/__edge/api/config",
        json!({"config": proposed, "dry_run": true}),
    );
    assert_eq!(dry.status, 200, "{}", dry.body);
    let dry = dry.json();
    assert_eq!(
        (dry["dry_run"].clone(), dry["valid"].clone()),
        (json!(true), json!(true))
    );
    assert_eq!(dry["origins"]["stable"]["ready"], true);
    assert_eq!(
        dry["origins"]["canary"]["reachable"], false,
        "nothing listens on port 9"
    );
    assert_eq!(
        config(&stack)["version"],
        before,
        "a dry run stores nothing"
    );
    let bad_dry = write(
        &stack,
        "PUT",
        "/__edge/api/config",
        json!({"config": {"stable_origin": "ftp://x"}, "dry_run": true}),
    );
    assert_eq!(
        (bad_dry.status, bad_dry.json()["field"].clone()),
        (400, json!("config.stable_origin"))
    );

    let garbage = stack
        .admin("POST", "/__edge/api/canary/rollback")
        .header("if-match", "\"seven\"")
        .json_body(&json!({"reason": "x"}))
        .send();
    assert_eq!(
        (garbage.status, garbage.json()["field"].clone()),
        (400, json!("if-match"))
    );
}

/// Polls `f` every 100 ms for up to 15 s; the first `Some` it gives.
fn poll<T>(mut f: impl FnMut() -> Option<T>) -> Option<T> {
    let started = Instant::now();
    while started.elapsed() < Duration::from_secs(15) {
        if let Some(v) = f() {
            return Some(v);
        }
        sleep(Duration::from_millis(100));
    }
    None
}

#[test]
fn rollback_works_whatever_kv_holds_and_the_garbage_is_kept_aside() {
    let stack = Stack::start();
    set_weight(&stack, 100.0);
    for (case, garbage) in [
        ("truncated", r#"{"version":7,"updated_at_ms":17000000"#),
        ("empty", ""),
        (
            "version x",
            r#"{"version":"x","updated_at_ms":0,"actor":"a","reason":"r","config":{}}"#,
        ),
    ] {
        set_weight(&stack, 100.0);
        assert_eq!(flavour(&as_client(&stack, CATS, "c1")), "canary", "{case}");
        // Through a file: wrangler refuses an empty value on the command line.
        let file = std::env::temp_dir().join(format!("garbage-{}.json", stack.worker.port));
        std::fs::write(&file, garbage).unwrap();
        stack.kv(&["put", "config/current", "--path", file.to_str().unwrap()]);
        let _ = std::fs::remove_file(&file);
        let r = write(
            &stack,
            "POST",
            "/__edge/api/canary/rollback",
            json!({"reason": case}),
        );
        assert_eq!(r.status, 200, "{case}: {}", r.body);
        assert_eq!(r.json()["summary"]["weight_bp"], 0, "{case}");
        assert_eq!(
            flavour(&as_client(&stack, CATS, "c1")),
            "stable",
            "{case}: at once"
        );
        // The garbage is in the quarantine and the audit log; KV holds a good record again.
        let q = stack
            .admin("GET", "/__edge/api/quarantine?limit=1")
            .send()
            .json();
        assert_eq!(q["items"][0]["raw"], garbage, "{case}");
        assert_eq!(q["items"][0]["source"], "kv config/current");
        let entries = audit(&stack, 2);
        assert_eq!(entries[0]["action"], "rollback", "{case}");
        assert_eq!(entries[1]["action"], "quarantined", "{case}");
        let stored: Value = serde_json::from_str(&stack.kv(&["get", "config/current"]))
            .unwrap_or_else(|e| panic!("{case}: KV not repaired: {e}"));
        assert_eq!(stored["config"]["canary"]["weight_bp"], 0, "{case}");
        assert!(
            stored["seal"].is_string(),
            "{case}: sealed by the control plane"
        );
    }
    let q = stack.admin("GET", "/__edge/api/quarantine").send().json();
    assert_eq!(q["count"], 3, "each garbage kept once");
}

#[test]
fn the_first_contact_imports_kv_and_a_rollback_recovers_an_unreadable_record() {
    // State as the KV-based admin API of earlier releases left it, then damaged: the current
    // record truncated, one history item and the audit log unreadable.
    let stack = Stack::start();
    let good = json!({"version": 4, "updated_at_ms": 1_700_000_000_000_u64, "actor": "ana",
        "reason": "step 2", "config": {"stable_origin": format!("{}/", stack.stable.url),
        "canary_origin": format!("{}/", stack.canary.url), "canary": {"weight_bp": 2500}}});
    stack.kv(&[
        "put",
        "config/history",
        &json!([good, {"version": "bad"}]).to_string(),
    ]);
    stack.kv(&["put", "audit/log", "[{\"at_ms\": 1, \"actor\""]);
    stack.kv(&["put", "config/current", "{\"version\":5,\"updated_at"]);

    // Changes that need the current record are refused, and say how to get out.
    let advance = write(&stack, "POST", "/__edge/api/canary/advance", json!({}));
    assert_eq!(advance.status, 409, "{}", advance.body);
    assert_eq!(advance.json()["field"], "state");
    assert!(advance.json()["detail"]
        .as_str()
        .unwrap()
        .contains("roll back"));

    // Rollback needs nothing from it: a fresh record from the last good one, weight 0.
    let r = write(
        &stack,
        "POST",
        "/__edge/api/canary/rollback",
        json!({"reason": "5xx"}),
    );
    assert_eq!(r.status, 200, "{}", r.body);
    let body = r.json();
    assert_eq!(body["recovered"], true);
    assert_eq!(body["summary"]["weight_bp"], 0);
    assert_eq!(
        body["summary"]["canary_origin"],
        format!("{}/", stack.canary.url)
    );
    assert_eq!(body["version"], 5, "above every version seen");

    let entries = audit(&stack, 10);
    let actions: Vec<&str> = entries
        .iter()
        .map(|e| e["action"].as_str().unwrap())
        .collect();
    assert_eq!(
        &actions[..5],
        [
            "rollback",
            "recovered",
            "quarantined",
            "quarantined",
            "quarantined"
        ],
        "{actions:?}"
    );
    assert_eq!(entries[1]["reason"], "recovered from unreadable state");
    assert_eq!(entries[1]["detail"]["from"], "version 4");
    assert!(actions.contains(&"imported"));
    let q = stack.admin("GET", "/__edge/api/quarantine").send().json();
    let sources: Vec<&str> = q["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["source"].as_str().unwrap())
        .collect();
    assert_eq!(q["count"], 3, "{sources:?}");
    for s in ["config/current", "config/history", "audit/log"] {
        assert!(sources.contains(&s), "{s} kept aside: {sources:?}");
    }
    let history = stack
        .admin("GET", "/__edge/api/config/history")
        .send()
        .json();
    let versions: Vec<u64> = history["versions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v["version"].as_u64().unwrap())
        .collect();
    assert_eq!(versions, [5, 4], "the good history item was kept");
}

#[test]
fn after_promote_no_tier_serves_the_previous_release() {
    for memory in ["8388608", "0"] {
        let stack = Stack::with(StackOptions::default().var("MEMORY_CACHE_BYTES", memory));
        // Labelled releases; the stable release's entries are warm in every language.
        let cfg = json!({"stable_origin": format!("{}/", stack.stable.url),
            "canary_origin": format!("{}/", stack.canary.url),
            "stable_release": "2026.11", "canary_release": "2026.12",
            "canary": {"weight_bp": 0}});
        let r = write(&stack, "PUT", "/__edge/api/config", json!({"config": cfg}));
        assert_eq!(r.status, 200, "{}", r.body);
        for path in [CATS, ATTRS] {
            assert_eq!(flavour(&as_client(&stack, path, "u1")), "stable");
            let hit = as_client(&stack, path, "u1");
            assert_eq!(hit.header("x-cache"), Some("HIT"), "{memory} {path}");
        }
        // The canary goes to 100 %, but only CATS is requested through it.
        set_weight(&stack, 100.0);
        assert_eq!(flavour(&as_client(&stack, CATS, "u1")), "canary");
        let r = write(
            &stack,
            "POST",
            "/__edge/api/canary/promote",
            json!({"reason": "100 % for an hour"}),
        );
        assert_eq!(r.status, 200, "{}", r.body);
        let summary = &r.json()["summary"];
        assert_eq!(summary["stable_release"], "2026.12");
        assert_eq!(
            summary["canary_origin"],
            Value::Null,
            "the canary is cleared"
        );

        // A path the canary never served is a miss (fetched from the new stable origin), never
        // a hit of the old release; one it served is a hit of the new release's entry.
        let first = as_client(&stack, ATTRS, "u1");
        assert_eq!(
            first.header("x-cache"),
            Some("MISS"),
            "{memory}: {:?}",
            first.header("cache-status")
        );
        assert_eq!(flavour(&first), "canary", "{memory}");
        let cats = as_client(&stack, CATS, "u1");
        assert_eq!(flavour(&cats), "canary", "{memory}");
        // Every client, every path, every language: the new release.
        for client in ["u1", "u2", "u3"] {
            for path in [CATS, ATTRS] {
                let resp = as_client(&stack, path, client);
                assert_eq!(flavour(&resp), "canary", "{memory} {client} {path}");
                assert_eq!(resp.header("x-edge-variant"), Some("stable"));
            }
        }
        for lang in ["en", "ru"] {
            let r = Req::get(&stack.worker.at(&format!("{CATS}?lang={lang}"))).send();
            assert_eq!(flavour(&r), "canary", "{memory} {lang}");
        }
        // Overrides and steps have nothing to bring the old release back with.
        let forced = Req::get(&stack.worker.at(CATS))
            .header("x-edge-variant", "canary")
            .send();
        assert_eq!(flavour(&forced), "canary");
        assert_eq!(forced.header("x-edge-variant"), Some("stable"));
        let advance = write(&stack, "POST", "/__edge/api/canary/advance", json!({}));
        assert_eq!(
            (advance.status, advance.json()["field"].clone()),
            (409, json!("canary_origin"))
        );
        let promote = write(&stack, "POST", "/__edge/api/canary/promote", json!({}));
        assert_eq!(promote.status, 409);
    }
}

#[test]
fn each_operator_is_named_by_their_token_in_the_audit_log() {
    let tokens = json!({"ana": "ana-token-0123456789", "marko": "marko-token-0123456789"});
    let stack = Stack::with(
        StackOptions::default()
            .without_admin_token()
            .var("ADMIN_TOKENS", &tokens.to_string()),
    );
    let as_op = |token: &str, path: &str, body: Value| {
        Req::post(&stack.worker.at(path))
            .header("authorization", &format!("Bearer {token}"))
            .json_body(&body)
            .send()
    };
    let r = as_op(
        "ana-token-0123456789",
        "/__edge/api/canary",
        json!({"weight": 10, "reason": "start"}),
    );
    assert_eq!(r.status, 200, "{}", r.body);
    let r = as_op(
        "marko-token-0123456789",
        "/__edge/api/canary/advance",
        json!({"reason": "clean"}),
    );
    assert_eq!(r.status, 200, "{}", r.body);
    let r = as_op(
        "marko-token-0123456789",
        "/__edge/api/cache/purge",
        json!({"prefix": "/api/", "reason": "attributes changed"}),
    );
    assert_eq!(r.status, 200, "{}", r.body);
    let pretend = as_op(
        "ana-token-0123456789",
        "/__edge/api/canary/rollback",
        json!({"reason": "x", "actor": "marko"}),
    );
    assert_eq!(
        (pretend.status, pretend.json()["field"].clone()),
        (400, json!("actor"))
    );
    let wrong = as_op(
        "ana-token-012345678",
        "/__edge/api/canary/rollback",
        json!({"reason": "x"}),
    );
    assert_eq!(wrong.status, 401);

    let a = Req::get(&stack.worker.at("/__edge/api/audit?limit=3"))
        .header("authorization", "Bearer ana-token-0123456789")
        .send()
        .json();
    let who: Vec<(&str, &str)> = a["entries"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| (e["action"].as_str().unwrap(), e["actor"].as_str().unwrap()))
        .collect();
    assert_eq!(
        who,
        [
            ("purge", "marko"),
            ("advance", "marko"),
            ("set_weight", "ana")
        ]
    );
    let me = Req::get(&stack.worker.at("/__edge/api/config"))
        .header("authorization", "Bearer marko-token-0123456789")
        .send()
        .json();
    assert_eq!(me["operator"], "marko");
    let h = Req::get(&stack.worker.at("/__edge/health")).send().json();
    assert_eq!(h["admin"]["operators"], 2);
    assert!(!h.to_string().contains("marko"), "health names no operator");
}

#[test]
fn a_refused_admin_tokens_closes_the_admin_api_but_never_serving() {
    let stack = Stack::with(
        StackOptions::default()
            .without_admin_token()
            .var("ADMIN_TOKENS", r#"{"ana": "short"}"#),
    );
    let h = Req::get(&stack.worker.at("/__edge/health")).send();
    assert_eq!(h.status, 200);
    let h = h.json();
    assert_eq!(h["status"], "degraded");
    assert_eq!(h["admin"]["status"], "closed");
    assert!(h["admin"]["problem"]
        .as_str()
        .unwrap()
        .contains("ADMIN_TOKENS"));
    let r = Req::get(&stack.worker.at("/__edge/api/config"))
        .header("authorization", "Bearer short")
        .send();
    assert_eq!(r.status, 503);
    assert_eq!(r.json()["error"], "admin_disabled");
    assert!(r.json()["detail"].as_str().unwrap().contains("at least 16"));
    assert_eq!(
        Req::get(&stack.worker.at(CATS)).send().status,
        200,
        "serving goes on"
    );
}

#[test]
fn an_emergency_kv_edit_is_used_by_edges_and_adopted_and_audited_by_the_control_plane() {
    let stack = Stack::start();
    set_weight(&stack, 100.0);
    assert_eq!(flavour(&as_client(&stack, CATS, "c1")), "canary");
    // The README's KV-only path: get, edit the weight, bump the version, put.
    let mut doc: Value = serde_json::from_str(&stack.kv(&["get", "config/current"])).unwrap();
    let version = doc["version"].as_u64().unwrap();
    doc["config"]["canary"]["weight_bp"] = json!(0);
    doc["version"] = json!(version + 1);
    doc["actor"] = json!("ana (phone)");
    doc["reason"] = json!("admin API unreachable, rolling back by hand");
    stack.kv(&["put", "config/current", &doc.to_string()]);
    let served = poll(|| (flavour(&as_client(&stack, CATS, "c1")) == "stable").then_some(()));
    assert!(
        served.is_some(),
        "edges use the edit within the refresh period"
    );

    // The next contact with the control plane adopts it, audited as an external change.
    let c = config(&stack);
    assert_eq!(c["summary"]["weight_bp"], 0);
    assert_eq!(c["version"], version + 1);
    assert_eq!(c["actor"], "kv (external)");
    let e = &audit(&stack, 1)[0];
    assert_eq!(e["action"], "external_change");
    assert_eq!(e["detail"]["claimed_actor"], "ana (phone)");
    assert_eq!(e["reason"], "admin API unreachable, rolling back by hand");
    // Adopted once, not at every contact.
    config(&stack);
    assert_eq!(audit(&stack, 1)[0]["action"], "external_change");
    let n = audit_count(&stack);
    config(&stack);
    assert_eq!(audit_count(&stack), n);
    let stored: Value = serde_json::from_str(&stack.kv(&["get", "config/current"])).unwrap();
    assert!(stored["seal"].is_string(), "republished, sealed");
}

#[test]
fn without_the_control_plane_writes_answer_503_and_edges_keep_serving_what_kv_holds() {
    let stack = Stack::with(StackOptions::default().without_control_plane());
    // What the control plane last published: the canary at 100 %.
    let doc = json!({"version": 3, "updated_at_ms": 1, "actor": "ana", "reason": "r",
        "config": {"stable_origin": format!("{}/", stack.stable.url),
                   "canary_origin": format!("{}/", stack.canary.url),
                   "canary": {"weight_bp": 10000}}});
    stack.kv(&["put", "config/current", &doc.to_string()]);
    let served = poll(|| (flavour(&as_client(&stack, CATS, "c1")) == "canary").then_some(()));
    assert!(served.is_some());

    let r = write(&stack, "POST", "/__edge/api/canary/rollback", json!({}));
    assert_eq!(r.status, 503, "{}", r.body);
    assert_eq!(r.json()["error"], "control_unavailable");
    let detail = r.json()["detail"].as_str().unwrap().to_string();
    assert!(detail.contains("nothing was changed"), "{detail}");
    assert!(detail.contains("KV-only path"), "{detail}");
    let purge = write(
        &stack,
        "POST",
        "/__edge/api/cache/purge",
        json!({"everything": true}),
    );
    assert_eq!(purge.status, 503);

    // Reads say what this isolate serves, and that the control plane is out of reach.
    let c = config(&stack);
    assert_eq!(c["control"]["available"], false);
    assert_eq!(c["in_force"]["version"], 3);
    assert_eq!(
        flavour(&as_client(&stack, CATS, "c2")),
        "canary",
        "still serving"
    );
    let h = Req::get(&stack.worker.at("/__edge/health")).send().json();
    assert_eq!(h["rollout"]["version"], 3);

    // Without the aggregators either, the canary analysis says what it could not do: its
    // counts could not be flushed (kept for a retry, counted) and no shard could be read.
    let a = stack
        .admin("GET", "/__edge/api/analysis?window=60")
        .send()
        .json();
    assert_eq!(a["aggregators"]["complete"], false);
    assert!(!a["aggregators"]["unreadable"]
        .as_array()
        .unwrap()
        .is_empty());
    assert!(
        a["this_isolate"]["failed_flushes"].as_u64().unwrap() >= 1,
        "{a}"
    );
}
