//! The per-request core decision on the cache-hit path, in nanoseconds: route match, canary
//! variant, cache key, `Cache-Status` and `Server-Timing` formatting. Run by `npm run bench`
//! (`cargo bench --bench core_decision`); the figure goes into `bench/RESULTS.md`.
//!
//! The inputs are a browser-like request for a category's attributes, with a 10 % canary rollout
//! and a returning client (an `edge_id` cookie, in the canary bucket), so every branch the hit path takes is exercised:
//! the rule list is walked to its sixth entry, the bucket hash runs, the language comes from
//! `Accept-Language`, tracking parameters are dropped and the query is sorted.
//!
//! The work per iteration is the glue's: `ServerTiming` formats each metric as it is added and
//! hands its buffer over with `into_header` (the glue in `handler::finish` does the same, and its
//! error path reads the header back from the reply instead of formatting it again). Nothing the
//! decision computes is prepared outside the loop: the rule list, rollout and tracking list are
//! the parsed configuration the glue holds, as before.

use std::hint::black_box;
use std::time::Duration;

use catalog_edge::cache::entry;
use catalog_edge::cache::key::{self, KeyScope, TrackingParams};
use catalog_edge::cache::policy::{decide_store, EntryMeta, StoreDecision, StoreInput};
use catalog_edge::cache::rules::RuleSet;
use catalog_edge::cache::status::{CacheReport, Outcome};
use catalog_edge::canary::{self, config::RolloutConfig};
use catalog_edge::headers;
use catalog_edge::time::UnixMillis;
use catalog_edge::timing::{names, ServerTiming};
use catalog_edge::web_url::Url;
use criterion::{criterion_group, criterion_main, Criterion};

const URL: &str =
    "https://edge.example.rs/api/v2/marketplace/categories/10101/attributes?page=2&utm_source=news&b=1";

fn request_headers() -> Vec<(String, String)> {
    [
        ("host", "edge.example.rs"),
        (
            "user-agent",
            "Mozilla/5.0 (X11; Linux x86_64) Firefox/133.0",
        ),
        ("accept", "application/json"),
        ("accept-encoding", "gzip, br"),
        ("accept-language", "en-US,en;q=0.9,sr;q=0.8"),
        (
            "cookie",
            "session=abc; edge_id=3f2a9c41d8e07b65; theme=dark",
        ),
        ("cf-connecting-ip", "203.0.113.7"),
    ]
    .iter()
    .map(|(n, v)| (n.to_string(), v.to_string()))
    .collect()
}

fn rollout() -> RolloutConfig {
    let mut cfg = RolloutConfig::stable_only(Url::parse("http://127.0.0.1:9001").unwrap());
    cfg.canary_origin = Some(Url::parse("http://127.0.0.1:9002").unwrap());
    cfg.weight_bp = 1000;
    cfg
}

/// One decision: what `handler::proxy` and `handler::finish` compute for a fresh hit.
fn decide(
    rules: &RuleSet,
    rollout: &RolloutConfig,
    tracking: &TrackingParams,
    url: &Url,
    headers: &[(String, String)],
) -> (String, String, String) {
    let rule = rules.rule_for(url.path());
    let assignment = canary::assign(rollout, url.path(), headers, false, || "id".to_string());
    let key = key::build(
        url,
        headers,
        rule,
        KeyScope {
            release: rollout.release(assignment.variant),
            generation: 0,
            tracking,
        },
    );
    let mut report = CacheReport::new(Outcome::Hit);
    report.ttl_secs = Some(43_123);
    let mut timing = ServerTiming::new();
    timing
        .dur(names::EDGE, 0.4)
        .desc(names::CACHE, Some(1.0), report.outcome.as_str())
        .dur(names::TOTAL, 1.4);
    (key.primary, report.cache_status(), timing.into_header())
}

fn core_decision(c: &mut Criterion) {
    let rules = RuleSet::marketplace_defaults();
    let rollout = rollout();
    let tracking = TrackingParams::default();
    let url = Url::parse(URL).unwrap();
    let headers = request_headers();

    // The answer the benchmark measures, checked once so that a change in the core cannot make
    // the benchmark measure a different (cheaper) path without anyone noticing.
    let (primary, status, timing) = decide(&rules, &rollout, &tracking, &url, &headers);
    assert_eq!(
        primary,
        "https://edge.example.rs/__ce/r83e4834d5f1a48da/g0/en/api/v2/marketplace/categories/10101/attributes?b=1&page=2"
    );
    assert_eq!(status, "catalog-edge; hit; ttl=43123");
    assert_eq!(timing, "edge;dur=0.4, cache;dur=1;desc=hit, total;dur=1.4");

    c.bench_function("core_decision/hit", |b| {
        b.iter(|| {
            decide(
                black_box(&rules),
                black_box(&rollout),
                black_box(&tracking),
                black_box(&url),
                black_box(&headers),
            )
        })
    });
    // The same with the URL parse the glue does first (`Request::url()`), for context.
    c.bench_function("core_decision/hit_with_url_parse", |b| {
        b.iter(|| {
            let url = Url::parse(black_box(URL)).unwrap();
            decide(&rules, &rollout, &tracking, &url, black_box(&headers))
        })
    });
}

/// Each step of the decision alone, to show where the time goes.
fn core_decision_parts(c: &mut Criterion) {
    let rules = RuleSet::marketplace_defaults();
    let rollout = rollout();
    let tracking = TrackingParams::default();
    let url = Url::parse(URL).unwrap();
    let headers = request_headers();
    let rule = rules.rule_for(url.path());
    let variant =
        canary::assign(&rollout, url.path(), &headers, false, || "id".to_string()).variant;

    let mut group = c.benchmark_group("core_decision_parts");
    group.warm_up_time(Duration::from_millis(500));
    group.measurement_time(Duration::from_secs(2));
    group.bench_function("rule_for", |b| {
        b.iter(|| black_box(&rules).rule_for(black_box(url.path())).id.len())
    });
    group.bench_function("canary_assign", |b| {
        b.iter(|| {
            canary::assign(
                black_box(&rollout),
                black_box(url.path()),
                black_box(&headers),
                false,
                || "id".to_string(),
            )
        })
    });
    group.bench_function("key_build", |b| {
        b.iter(|| {
            key::build(
                black_box(&url),
                black_box(&headers),
                rule,
                KeyScope {
                    release: rollout.release(variant),
                    generation: 0,
                    tracking: &tracking,
                },
            )
        })
    });
    group.bench_function("cache_status", |b| {
        b.iter(|| {
            let mut report = CacheReport::new(black_box(Outcome::Hit));
            report.ttl_secs = Some(black_box(43_123));
            report.cache_status()
        })
    });
    group.bench_function("server_timing", |b| {
        b.iter(|| {
            let mut timing = ServerTiming::new();
            timing
                .dur(names::EDGE, black_box(0.4))
                .desc(names::CACHE, Some(1.0), black_box("hit"))
                .dur(names::TOTAL, black_box(1.4));
            timing.into_header()
        })
    });
    // Not part of the decision, but on every hit: the stored entry's meta (JSON in a header,
    // read with serde) and the served headers (stored headers filtered, `Age` added).
    let stored = stored_headers();
    let meta_json = headers::get(&stored, entry::META_HEADER)
        .unwrap()
        .to_string();
    let meta = EntryMeta::from_header(&meta_json).unwrap();
    group.bench_function("hit_meta_parse", |b| {
        b.iter(|| EntryMeta::from_header(black_box(&meta_json)))
    });
    group.bench_function("hit_served_headers", |b| {
        b.iter(|| {
            entry::served_headers(black_box(&stored), &meta, UnixMillis(STORED_AT_MS + 60_000))
        })
    });
    group.finish();
}

const STORED_AT_MS: u64 = 1_795_700_000_000;

/// The headers of a stored entry as the Cache API returns them: the demo origin's headers plus
/// the edge's retention and meta, as `storage_headers` writes them.
fn stored_headers() -> Vec<(String, String)> {
    let rules = RuleSet::marketplace_defaults();
    let origin: Vec<(String, String)> = [
        ("content-type", "application/json; charset=utf-8"),
        ("x-origin-flavour", "stable"),
        ("content-language", "en"),
        ("etag", "\"427e468413fe6c4e\""),
        ("content-length", "9248"),
        ("date", "Thu, 26 Nov 2026 15:28:54 GMT"),
    ]
    .iter()
    .map(|(n, v)| (n.to_string(), v.to_string()))
    .collect();
    let purge_path = "/api/v2/marketplace/categories/10101/attributes";
    let StoreDecision::Store(meta) = decide_store(StoreInput {
        rule: rules.rule_for(purge_path),
        method: &http::Method::GET,
        request_authorized: false,
        request_no_store: false,
        edge_field: None,
        status: http::StatusCode::OK,
        response_headers: &origin,
        body_len: Some(9248),
        max_body_bytes: 5 << 20,
        now: UnixMillis(STORED_AT_MS),
        purge_path,
        language_in_key: true,
    }) else {
        panic!("the demo origin's response is storable")
    };
    entry::storage_headers(&origin, &meta)
}

/// A purge state with `n` tag bans (distinct categories) plus a few URL and prefix bans, as the
/// control plane keeps it, read back from its JSON as an isolate reads it from KV.
fn purge_state(n: usize) -> catalog_edge::cache::purge::PurgeState {
    use catalog_edge::cache::purge::{Ban, BanTarget, PurgeState};
    let mut bans: Vec<Ban> = (0..n)
        .map(|i| Ban {
            id: i as u64,
            at_ms: 1_700_000_000_000 + i as u64,
            soft: i % 2 == 0,
            target: BanTarget::Tag {
                tag: format!("category:{}", 20_000 + i),
            },
        })
        .collect();
    for (i, prefix) in ["/api/v1/unified-attributes/x", "/echo/"]
        .iter()
        .enumerate()
    {
        bans.push(Ban {
            id: (n + i) as u64,
            at_ms: 1_700_000_000_000,
            soft: false,
            target: BanTarget::Prefix {
                prefix: prefix.to_string(),
            },
        });
    }
    let state = PurgeState {
        version: 1,
        bans,
        ..Default::default()
    };
    serde_json::from_str(&serde_json::to_string(&state).unwrap()).unwrap()
}

/// The purge check every lookup makes, against 0, 100, 2,000 (the most the control plane keeps)
/// and 10,000 active bans; and the size of the state after 10,000 tag purges of 1,000 categories.
fn purge_lookup(c: &mut Criterion) {
    use catalog_edge::cache::purge::{parse_command, PurgeState, MAX_BANS};
    let tags = vec!["category:10101".to_string(), "attributes".to_string()];
    let path = "/api/v2/marketplace/categories/10101/attributes";
    let mut group = c.benchmark_group("purge_lookup");
    group.warm_up_time(Duration::from_millis(500));
    group.measurement_time(Duration::from_secs(2));
    for n in [0usize, 100, MAX_BANS, 10_000] {
        let state = purge_state(n);
        state.check(path, &tags, 1_700_000_000_000); // builds the index once, as the first lookup does
        group.bench_function(format!("bans_{n}"), |b| {
            b.iter(|| state.check(black_box(path), black_box(&tags), 1_700_000_000_000))
        });
    }
    // What an isolate pays every STATE_REFRESH_MS to read the state from KV.
    for n in [1_000usize, MAX_BANS] {
        let json = serde_json::to_string(&purge_state(n)).unwrap();
        group.bench_function(format!("parse_state_{n}_bans"), |b| {
            b.iter(|| serde_json::from_str::<PurgeState>(black_box(&json)).unwrap())
        });
    }
    group.finish();

    // 10,000 purges of 1,000 categories over a day: each ban replaces its category's older one.
    let mut state = PurgeState::default();
    for i in 0..10_000u64 {
        let body = format!(r#"{{"tags":["category:{}"]}}"#, 10_000 + i % 1_000);
        let obj = serde_json::from_str(&body).unwrap();
        let cmd = parse_command(&obj, |_| None).unwrap();
        state.apply(&cmd, 1_700_000_000_000 + i * 8_640, 15 * 86_400_000);
    }
    let json = serde_json::to_string(&state).unwrap();
    eprintln!(
        "purge state after 10,000 tag purges of 1,000 categories: {} bans, {} bytes of JSON, generation {}",
        state.bans.len(),
        json.len(),
        state.generation
    );
    let full = serde_json::to_string(&purge_state(MAX_BANS)).unwrap();
    eprintln!(
        "purge state at the bound ({MAX_BANS} bans): {} bytes of JSON",
        full.len()
    );
}

criterion_group!(benches, core_decision, core_decision_parts, purge_lookup);
criterion_main!(benches);
