//! End-to-end: purges the way a catalog changes, in the built worker under `wrangler dev` in
//! front of the demo origins: by category tag (derived by the route rules: the demo origin, like
//! the real backend, sends no tags), soft or hard, URL purges covering every query, origin tags,
//! every purge audited. Waits are polls with a bound; no timed assertions.

mod support;

use std::thread::sleep;
use std::time::{Duration, Instant};

use serde_json::{json, Value};
use support::{Req, Resp, Stack};

fn get(stack: &Stack, path: &str) -> Resp {
    let r = Req::get(&stack.worker.at(path)).send();
    assert!(r.status < 500, "{path}: {} {}", r.status, r.body);
    r
}

fn get_as(stack: &Stack, path: &str, headers: &[(&str, &str)]) -> Resp {
    let mut req = Req::get(&stack.worker.at(path));
    for (k, v) in headers {
        req = req.header(k, v);
    }
    req.send()
}

fn x_cache(r: &Resp) -> &str {
    r.header("x-cache").unwrap_or("(none)")
}

fn cache_status(r: &Resp) -> &str {
    r.header("cache-status").unwrap_or("(none)")
}

fn purge(stack: &Stack, body: Value) -> Value {
    let mut body = body;
    body["reason"] = json!("attributes of the category changed");
    let r = stack
        .admin("POST", "/__edge/api/cache/purge")
        .json_body(&body)
        .send();
    assert_eq!(r.status, 200, "{}", r.body);
    r.json()
}

/// Every route of a category, in the forms a client asks for them.
fn category_routes(id: u32) -> Vec<String> {
    vec![
        format!("/api/v2/marketplace/categories/{id}/attributes"),
        format!("/api/v1/marketplace/categories/{id}/attributes"),
        format!("/api/v2/marketplace/categories/{id}/attribute-ranges"),
        format!("/api/v1/unified-attributes/category/{id}"),
        format!("/api/v1/marketplace/search?category_id={id}&q=yugo"),
        format!("/api/v1/marketplace/search?category_id={id}&q=zastava&page=2"),
    ]
}

#[test]
fn a_category_tag_purge_misses_every_route_language_and_variant_of_it_and_no_other() {
    let stack = Stack::start();
    let warm = |id: u32| {
        for path in category_routes(id) {
            for lang in ["sr", "en", "ru"] {
                for variant in ["stable", "canary"] {
                    let h = [("accept-language", lang), ("x-edge-variant", variant)];
                    get_as(&stack, &path, &h);
                    let again = get_as(&stack, &path, &h);
                    assert_eq!(x_cache(&again), "HIT", "{path} {lang} {variant}");
                }
            }
        }
    };
    // The canary takes part only with a canary origin (it has one by default) — overrides
    // make both variants' entries.
    warm(10101);
    warm(10102);

    let r = purge(&stack, json!({"tags": ["category:10101"]}));
    assert_eq!(
        (r["purged"].as_str(), r["mode"].as_str()),
        (Some("tags"), Some("hard"))
    );
    assert_eq!(r["targets"][0]["tag"], "category:10101");

    for path in category_routes(10101) {
        for lang in ["sr", "en", "ru"] {
            for variant in ["stable", "canary"] {
                let h = [("accept-language", lang), ("x-edge-variant", variant)];
                let after = get_as(&stack, &path, &h);
                assert_eq!(
                    x_cache(&after),
                    "MISS",
                    "{path} {lang} {variant}: {}",
                    cache_status(&after)
                );
            }
        }
    }
    for path in category_routes(10102) {
        let h = [("accept-language", "en"), ("x-edge-variant", "stable")];
        assert_eq!(
            x_cache(&get_as(&stack, &path, &h)),
            "HIT",
            "{path}: another category"
        );
    }
    // The tree is tagged `categories`, not the category.
    let tree = "/api/v1/marketplace/category-tree";
    get(&stack, tree);
    assert_eq!(x_cache(&get(&stack, tree)), "HIT");
    purge(&stack, json!({"tags": ["categories"]}));
    assert_eq!(x_cache(&get(&stack, tree)), "MISS");

    // Audited with the operator, the reason, the tags and the mode.
    let audit = stack
        .admin("GET", "/__edge/api/audit?limit=2")
        .send()
        .json();
    let e = &audit["entries"][1];
    assert_eq!(
        (e["action"].as_str(), e["actor"].as_str()),
        (Some("purge"), Some("admin"))
    );
    assert_eq!(e["detail"]["targets"][0]["tag"], "category:10101");
    assert_eq!(e["detail"]["mode"], "hard");
}

#[test]
fn a_url_purge_without_a_query_covers_every_query_of_the_path() {
    let stack = Stack::start();
    let searches = ["?q=tel", "?q=auto&page=2", ""];
    for q in searches {
        let p = format!("/api/v1/marketplace/search{q}");
        get(&stack, &p);
        assert_eq!(x_cache(&get(&stack, &p)), "HIT", "{p}");
    }
    let r = purge(&stack, json!({"urls": ["/api/v1/marketplace/search"]}));
    assert_eq!(r["targets"][0]["query_variants"], true);
    for q in searches {
        let p = format!("/api/v1/marketplace/search{q}");
        assert_eq!(x_cache(&get(&stack, &p)), "MISS", "{p}");
    }
    // A URL with a query is that URL only (unless include_query_variants says otherwise).
    for q in searches {
        get(&stack, &format!("/api/v1/marketplace/search{q}"));
    }
    purge(
        &stack,
        json!({"urls": ["/api/v1/marketplace/search?q=tel"]}),
    );
    assert_eq!(
        x_cache(&get(&stack, "/api/v1/marketplace/search?q=tel")),
        "MISS"
    );
    assert_eq!(
        x_cache(&get(&stack, "/api/v1/marketplace/search?q=auto&page=2")),
        "HIT"
    );
}

/// Polls until the origin saw `n` requests for `path` (at most 15 s).
fn wait_for_origin(stack: &Stack, path: &str, n: u64) -> u64 {
    let started = Instant::now();
    let mut seen = stack.stable.count(path);
    while seen < n && started.elapsed() < Duration::from_secs(15) {
        sleep(Duration::from_millis(100));
        seen = stack.stable.count(path);
    }
    seen
}

#[test]
fn a_soft_purge_serves_the_stale_copy_once_while_one_refresh_fetches_the_new_one() {
    let stack = Stack::start();
    let path = "/api/v2/marketplace/categories/10101/attributes";
    get(&stack, path);
    assert_eq!(x_cache(&get(&stack, path)), "HIT");
    assert_eq!(stack.stable.count(path), 1);

    let r = purge(&stack, json!({"tags": ["category:10101"], "mode": "soft"}));
    assert_eq!(r["mode"], "soft");
    // The next requests are served the stale copy at once, saying so; one background
    // revalidation goes to the origin.
    let stale = get(&stack, path);
    assert_eq!(stale.status, 200);
    assert!(
        cache_status(&stale).contains("detail=soft-purge"),
        "{}",
        cache_status(&stale)
    );
    assert_eq!(wait_for_origin(&stack, path, 2), 2, "one refresh");
    // Then fresh again: a hit of the refreshed entry, no further origin request.
    let mut fresh = get(&stack, path);
    for _ in 0..50 {
        if !cache_status(&fresh).contains("soft-purge") {
            break;
        }
        sleep(Duration::from_millis(100));
        fresh = get(&stack, path);
    }
    assert_eq!(x_cache(&fresh), "HIT", "{}", cache_status(&fresh));
    assert!(!cache_status(&fresh).contains("soft-purge"));
    assert_eq!(
        stack.stable.count(path),
        2,
        "a burst of stale hits made one origin request"
    );
}

#[test]
fn a_soft_purge_with_the_origin_down_still_serves_the_stale_copy() {
    let mut stack = Stack::start();
    let path = "/api/v1/marketplace/category-tree";
    let first = get(&stack, path);
    assert_eq!(x_cache(&get(&stack, path)), "HIT");
    purge(&stack, json!({"tags": ["categories"], "mode": "soft"}));
    stack.stable.stop();
    for _ in 0..3 {
        let r = get(&stack, path);
        assert_eq!(r.status, 200, "served stale while the origin is down");
        assert_eq!(r.body, first.body);
        assert!(
            cache_status(&r).contains("soft-purge"),
            "{}",
            cache_status(&r)
        );
    }
    // A hard purge now would leave nothing to serve: 502, as for any miss with the origin down.
    purge(&stack, json!({"tags": ["categories"]}));
    assert_eq!(Req::get(&stack.worker.at(path)).send().status, 502);
}

#[test]
fn tags_the_origin_sends_are_purgeable_and_never_reach_the_client() {
    let stack = Stack::start();
    stack.stable.control(
        "echo/tagged",
        json!({"status": 200, "headers": {"cache-control": "max-age=600",
               "cache-tag": "campaign-12, promo", "surrogate-key": "banner"},
               "body": "v1"}),
    );
    let r = get(&stack, "/echo/tagged");
    assert_eq!(
        r.header("cache-tag"),
        None,
        "Cache-Tag is the edge's, not the client's"
    );
    assert_eq!(r.header("surrogate-key"), None);
    assert_eq!(x_cache(&get(&stack, "/echo/tagged")), "HIT");
    purge(&stack, json!({"tags": ["banner"]}));
    assert_eq!(x_cache(&get(&stack, "/echo/tagged")), "MISS");
}
