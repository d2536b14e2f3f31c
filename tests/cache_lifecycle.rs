//! Pins the cache lifecycle phase by phase (`lifecycle::on_lookup`, `on_origin`, `admit_body`),
//! with time moved explicitly: what the glue is told to do for each stored state, request and
//! origin answer. Request `Cache-Control` policy, `Authorization`, `Range` and conditional
//! requests are decided here.

use catalog_edge::cache::body::StoreOutcome;
use catalog_edge::cache::classify::Failure;
use catalog_edge::cache::key::{self, CacheKey, KeyScope, TrackingParams};
use catalog_edge::cache::lifecycle::{
    self, BodyVerdict, Fetch, Form, Found, LookupAction, OriginAction, OriginOutcome, RequestFacts,
    Revalidating, Revalidation, Serve, Stored, Tier,
};
use catalog_edge::cache::lock::Release;
use catalog_edge::cache::meta::{EntryMeta, META_VERSION};
use catalog_edge::cache::policy::NoStoreReason;
use catalog_edge::cache::purge::Purged;
use catalog_edge::cache::range::RangeAnswer;
use catalog_edge::cache::rules::{RouteRule, RuleSet};
use catalog_edge::cache::status::{CacheReport, Outcome, StaleReason};
use catalog_edge::headers::{self, owned as h};
use catalog_edge::time::UnixMillis;
use catalog_edge::web_url::Url;
use http::{Method, StatusCode};

const NOW: UnixMillis = UnixMillis(1_700_000_000_000);
const ECHO: &str = "https://edge.rs/echo/x";
const ETAG: &str = "\"v1\"";
const LM: &str = "Sun, 06 Nov 1994 08:49:37 GMT";

/// `secs` seconds after `NOW`.
fn at(secs: u64) -> UnixMillis {
    NOW.plus_millis(secs * 1000)
}

/// An entry stored at `NOW`: 200, fresh 60 s, stale-while-revalidate 30 s, stale-if-error
/// 600 s, a 10-byte body.
fn entry() -> EntryMeta {
    EntryMeta {
        v: META_VERSION,
        stored_at_ms: NOW.0,
        fresh_secs: 60,
        initial_age_secs: 0,
        swr_secs: 30,
        sie_secs: 600,
        must_revalidate: false,
        auth_ok: false,
        status: 200,
        body_bytes: Some(10),
        rule: "default".into(),
        purge_path: "/echo/x".into(),
        tags: vec![],
        vary: vec![],
        withheld: vec![],
    }
}

fn validators() -> Vec<(String, String)> {
    h(&[("etag", ETAG), ("last-modified", LM)])
}

/// A request and everything the lifecycle needs to judge it.
struct Client {
    method: Method,
    headers: Vec<(String, String)>,
    rule: RouteRule,
    key: CacheKey,
    memory_entry_limit: u64,
}

fn client(headers: &[(&str, &str)]) -> Client {
    let rules = RuleSet::marketplace_defaults();
    let url = Url::parse(ECHO).unwrap();
    let rule = RouteRule::clone(rules.rule_for(url.path()));
    let headers = h(headers);
    let key = key::build(
        &url,
        &headers,
        &rule,
        KeyScope {
            release: "https://api.example.rs/",
            generation: 0,
            tracking: &TrackingParams::default(),
        },
    );
    Client {
        method: Method::GET,
        headers,
        rule,
        key,
        memory_entry_limit: 1 << 20,
    }
}

impl Client {
    fn head(mut self) -> Self {
        self.method = Method::HEAD;
        self
    }

    fn facts(&self) -> RequestFacts<'_> {
        let mut f = RequestFacts::new(&self.method, &self.headers, &self.rule, &self.key);
        f.memory_entry_limit = self.memory_entry_limit;
        f
    }

    fn lookup(&self, meta: &EntryMeta, tier: Tier, now: UnixMillis) -> LookupAction {
        let v = validators();
        let found = Found::Entry(Stored {
            meta,
            validators: &v,
            tier,
            purged: Purged::No,
        });
        lifecycle::on_lookup(&self.facts(), found, now)
    }

    fn miss(&self) -> LookupAction {
        lifecycle::on_lookup(&self.facts(), Found::Nothing { vary_miss: false }, NOW)
    }

    fn serve(&self, meta: &EntryMeta, now: UnixMillis) -> Serve {
        match self.lookup(meta, Tier::Shared, now) {
            LookupAction::Serve(s) => s,
            other => panic!("expected Serve, got {other:?}"),
        }
    }

    fn fetch(&self, meta: &EntryMeta, now: UnixMillis) -> Fetch {
        match self.lookup(meta, Tier::Shared, now) {
            LookupAction::Fetch(f) => f,
            other => panic!("expected Fetch, got {other:?}"),
        }
    }

    /// `on_origin` for a miss answered `status` with `headers`.
    fn origin(&self, status: u16, headers: &[(&str, &str)], fell_back: bool) -> OriginAction {
        let LookupAction::Fetch(fetch) = self.miss() else {
            panic!("a miss fetches")
        };
        let hs = h(headers);
        let outcome = OriginOutcome::Response {
            status: StatusCode::from_u16(status).unwrap(),
            headers: &hs,
            fell_back,
        };
        lifecycle::on_origin(&self.facts(), &fetch, None, outcome, NOW)
    }

    /// `on_origin` for the revalidation of `entry()` at `now`.
    fn revalidation(&self, outcome: OriginOutcome<'_>, now: UnixMillis) -> OriginAction {
        let meta = entry();
        let fetch = self.fetch(&meta, now);
        let stored = h(&[
            ("etag", ETAG),
            ("content-type", "application/json"),
            ("content-length", "10"),
        ]);
        let stale = Revalidating {
            meta: &meta,
            headers: &stored,
            how: fetch.revalidate.expect("a revalidation"),
        };
        lifecycle::on_origin(&self.facts(), &fetch, Some(stale), outcome, now)
    }
}

fn response<'a>(status: u16, headers: &'a [(String, String)]) -> OriginOutcome<'a> {
    OriginOutcome::Response {
        status: StatusCode::from_u16(status).unwrap(),
        headers,
        fell_back: false,
    }
}

// ---- on_lookup: freshness dispatch ------------------------------------------------------------

#[test]
fn a_fresh_cache_api_hit_is_served_and_read_into_memory_when_the_tier_can_hold_it() {
    let s = client(&[]).serve(&entry(), at(10));
    assert_eq!(s.report.outcome, Outcome::Hit);
    assert_eq!(s.report.ttl_secs, Some(50));
    assert_eq!(s.form, Form::Full);
    assert!(s.fill_memory);
    let mut small_tier = client(&[]);
    small_tier.memory_entry_limit = 10;
    assert!(
        !small_tier.serve(&entry(), at(10)).fill_memory,
        "10 bytes is not below 10"
    );
    let mut unknown = entry();
    unknown.body_bytes = None;
    assert!(!client(&[]).serve(&unknown, at(10)).fill_memory);
}

#[test]
fn a_fresh_memory_hit_is_served_from_memory_and_never_refilled() {
    let LookupAction::Serve(s) = client(&[]).lookup(&entry(), Tier::Memory, at(59)) else {
        panic!("served")
    };
    assert!(s.report.memory && !s.report.coalesced && !s.fill_memory);
    let LookupAction::Serve(s) = client(&[]).lookup(&entry(), Tier::Coalesced, at(1)) else {
        panic!("served")
    };
    assert!(s.report.coalesced);
    assert_eq!(
        s.report.cache_status(),
        "catalog-edge; hit; ttl=59; detail=coalesced"
    );
}

#[test]
fn a_waiter_served_from_the_cache_api_is_coalesced_and_fills_memory_when_the_tier_takes_it() {
    let LookupAction::Serve(s) = client(&[]).lookup(&entry(), Tier::SharedCoalesced, at(1)) else {
        panic!("served")
    };
    assert!(s.report.coalesced && !s.report.memory && s.fill_memory);
    assert_eq!(
        s.report.cache_status(),
        "catalog-edge; hit; ttl=59; detail=coalesced"
    );
    let mut big = entry();
    big.body_bytes = Some(2 << 20);
    let LookupAction::Serve(s) = client(&[]).lookup(&big, Tier::SharedCoalesced, at(1)) else {
        panic!("served")
    };
    assert!(
        s.report.coalesced && !s.fill_memory,
        "2 MiB lives in the Cache API only"
    );
    // Judged as any Cache API entry: a stale one is not served from memory rules.
    assert!(matches!(
        client(&[]).lookup(&entry(), Tier::SharedCoalesced, at(75)),
        LookupAction::ServeStaleAndRefresh(_)
    ));
}

#[test]
fn a_stale_or_purged_memory_copy_is_dropped_and_the_cache_api_decides() {
    let c = client(&[]);
    assert_eq!(
        c.lookup(&entry(), Tier::Memory, at(60)),
        LookupAction::LookDeeper { drop: true }
    );
    let v = validators();
    let banned = Found::Entry(Stored {
        meta: &entry(),
        validators: &v,
        tier: Tier::Memory,
        purged: Purged::Hard,
    });
    assert_eq!(
        lifecycle::on_lookup(&c.facts(), banned, NOW),
        LookupAction::LookDeeper { drop: true }
    );
}

#[test]
fn a_purged_cache_api_entry_is_a_miss() {
    let c = client(&[]);
    let v = validators();
    let banned = Found::Entry(Stored {
        meta: &entry(),
        validators: &v,
        tier: Tier::Shared,
        purged: Purged::Hard,
    });
    let LookupAction::Fetch(f) = lifecycle::on_lookup(&c.facts(), banned, NOW) else {
        panic!("fetch")
    };
    assert_eq!((f.report.outcome, f.revalidate), (Outcome::Miss, None));
}

#[test]
fn a_soft_purged_entry_is_served_stale_once_while_it_is_refreshed() {
    let c = client(&[]);
    let v = validators();
    let soft = |meta: &EntryMeta, tier| {
        lifecycle::on_lookup(
            &c.facts(),
            Found::Entry(Stored {
                meta,
                validators: &v,
                tier,
                purged: Purged::Soft { at_ms: NOW.0 },
            }),
            at(10),
        )
    };
    // Fresh by its own clock, but a soft purge made it stale 10 s ago.
    let LookupAction::ServeStaleAndRefresh(s) = soft(&entry(), Tier::Shared) else {
        panic!("served stale and refreshed")
    };
    assert_eq!(s.report.outcome, Outcome::Stale(StaleReason::SoftPurge));
    assert_eq!(s.report.ttl_secs, Some(-10));
    assert!(
        s.report
            .cache_status()
            .ends_with("; hit; ttl=-10; detail=soft-purge"),
        "{}",
        s.report.cache_status()
    );
    assert_eq!(
        soft(&entry(), Tier::Memory),
        LookupAction::LookDeeper { drop: true },
        "the memory copy leaves; the Cache API copy is served stale"
    );
    // A response that may never be served stale is revalidated first instead.
    let strict = EntryMeta {
        must_revalidate: true,
        ..entry()
    };
    let LookupAction::Fetch(f) = soft(&strict, Tier::Shared) else {
        panic!("revalidated first")
    };
    assert_eq!(f.report.outcome, Outcome::Expired);
    assert!(f
        .revalidate
        .is_some_and(|r| r.conditional && !r.serve_if_error));
}

#[test]
fn within_stale_while_revalidate_the_entry_is_served_and_refreshed() {
    let LookupAction::ServeStaleAndRefresh(s) = client(&[]).lookup(&entry(), Tier::Shared, at(75))
    else {
        panic!("stale-while-revalidate")
    };
    assert_eq!(
        s.report.outcome,
        Outcome::Stale(StaleReason::WhileRevalidate)
    );
    assert_eq!(s.report.ttl_secs, Some(-15));
    assert!(!s.fill_memory, "stale entries never enter memory");
}

#[test]
fn past_stale_while_revalidate_the_entry_is_revalidated_conditionally() {
    let f = client(&[]).fetch(&entry(), at(95));
    assert_eq!(f.report.outcome, Outcome::Expired);
    assert_eq!(
        f.revalidate,
        Some(Revalidation {
            conditional: true,
            serve_if_error: true
        })
    );
    assert!(!f.coalesce);
    assert_eq!(f.method(), Method::GET);
    let past_sie = client(&[]).fetch(&entry(), at(60 + 600));
    assert!(!past_sie.revalidate.unwrap().serve_if_error);
}

#[test]
fn an_entry_without_validators_is_revalidated_unconditionally() {
    let c = client(&[]);
    let none: Vec<(String, String)> = h(&[("date", LM)]);
    let found = Found::Entry(Stored {
        meta: &entry(),
        validators: &none,
        tier: Tier::Shared,
        purged: Purged::No,
    });
    let LookupAction::Fetch(f) = lifecycle::on_lookup(&c.facts(), found, at(100)) else {
        panic!("fetch")
    };
    assert!(!f.revalidate.unwrap().conditional);
}

#[test]
fn a_miss_is_coalesced_whether_or_not_the_memory_tier_could_hold_it() {
    let LookupAction::Fetch(f) = client(&[]).miss() else {
        panic!("fetch")
    };
    assert!(f.coalesce);
    assert_eq!(f.report.outcome, Outcome::Miss);
    let mut off = client(&[]);
    off.memory_entry_limit = 0;
    let LookupAction::Fetch(f) = off.miss() else {
        panic!("fetch")
    };
    assert!(
        f.coalesce,
        "waiters read the Cache API when memory cannot hand it over"
    );
    let vary = lifecycle::on_lookup(&off.facts(), Found::Nothing { vary_miss: true }, NOW);
    let LookupAction::Fetch(f) = vary else {
        panic!("fetch")
    };
    assert!(f.report.cache_status().contains("fwd=vary-miss"));
}

// ---- request Cache-Control ----------------------------------------------------------------

#[test]
fn client_no_cache_max_age_and_min_fresh_cannot_force_an_origin_request() {
    for cc in [
        "no-cache",
        "max-age=0",
        "min-fresh=3600",
        "no-cache, max-age=0",
    ] {
        let c = client(&[("cache-control", cc), ("pragma", "no-cache")]);
        assert_eq!(
            c.serve(&entry(), at(10)).report.outcome,
            Outcome::Hit,
            "{cc}"
        );
    }
}

#[test]
fn client_max_stale_cannot_widen_the_stale_windows() {
    let c = client(&[("cache-control", "max-stale=86400")]);
    assert_eq!(c.fetch(&entry(), at(95)).report.outcome, Outcome::Expired);
}

#[test]
fn only_if_cached_answers_from_the_cache_or_504_never_from_the_origin() {
    let c = client(&[("cache-control", "only-if-cached")]);
    assert_eq!(c.serve(&entry(), at(10)).report.outcome, Outcome::Hit);
    assert!(matches!(
        c.lookup(&entry(), Tier::Shared, at(75)),
        LookupAction::ServeStaleAndRefresh(_)
    ));
    for action in [c.lookup(&entry(), Tier::Shared, at(95)), c.miss()] {
        let LookupAction::Unavailable(report) = action else {
            panic!("504 expected, got {action:?}")
        };
        assert_eq!(
            report.cache_status(),
            "catalog-edge; fwd=miss; detail=only-if-cached"
        );
    }
}

#[test]
fn a_request_with_no_store_is_answered_but_its_response_is_not_stored() {
    let c = client(&[("cache-control", "no-store")]);
    assert_eq!(c.serve(&entry(), at(1)).report.outcome, Outcome::Hit);
    let LookupAction::Fetch(f) = c.miss() else {
        panic!("fetch")
    };
    assert!(!f.coalesce, "its response will not be stored for waiters");
    let OriginAction::Pass { report, .. } =
        c.origin(200, &[("cache-control", "max-age=60")], false)
    else {
        panic!("pass")
    };
    assert_eq!(report.not_stored, Some(NoStoreReason::RequestNoStore));
}

// ---- Authorization (RFC 9111 §3.5) ----------------------------------------------------------

#[test]
fn an_authorized_request_is_served_only_entries_that_allow_it() {
    let c = client(&[("authorization", "Bearer user")]);
    let f = c.fetch(&entry(), at(1));
    assert_eq!((f.report.outcome, f.coalesce), (Outcome::Miss, false));
    let mut public = entry();
    public.auth_ok = true;
    assert_eq!(c.serve(&public, at(1)).report.outcome, Outcome::Hit);
    assert_eq!(
        c.lookup(&entry(), Tier::Memory, at(1)),
        LookupAction::LookDeeper { drop: false },
        "the copy stays for other requests"
    );
    assert!(matches!(
        c.origin(200, &[("cache-control", "max-age=60")], false),
        OriginAction::Pass { .. }
    ));
    assert!(matches!(
        c.origin(200, &[("cache-control", "public, max-age=60")], false),
        OriginAction::StoreAndServe { .. }
    ));
}

// ---- forms: 304, HEAD, Range ----------------------------------------------------------------

#[test]
fn a_matching_conditional_request_gets_a_304_before_any_range() {
    for hs in [
        vec![("if-none-match", "W/\"v1\"")],
        vec![("if-modified-since", LM), ("range", "bytes=0-1")],
    ] {
        assert_eq!(client(&hs).serve(&entry(), at(1)).form, Form::NotModified);
    }
    assert_eq!(
        client(&[("if-none-match", "\"v2\"")])
            .serve(&entry(), at(1))
            .form,
        Form::Full
    );
}

#[test]
fn head_is_answered_with_headers_only() {
    assert_eq!(client(&[]).head().serve(&entry(), at(1)).form, Form::Head);
}

#[test]
fn a_single_range_of_a_stored_200_is_answered_206_or_416() {
    let form = |range: &str| client(&[("range", range)]).serve(&entry(), at(1)).form;
    let partial = |start, end| {
        Form::Range(RangeAnswer::Partial {
            start,
            end,
            total: 10,
        })
    };
    assert_eq!(form("bytes=0-3"), partial(0, 3));
    assert_eq!(form("bytes=-4"), partial(6, 9));
    assert_eq!(form("bytes=8-"), partial(8, 9));
    assert_eq!(
        form("bytes=10-"),
        Form::Range(RangeAnswer::NotSatisfiable { total: 10 })
    );
    assert_eq!(
        form("bytes=0-1,4-5"),
        Form::Full,
        "several ranges: the whole body"
    );
    let mut not_ok = entry();
    not_ok.status = 404;
    let c = client(&[("range", "bytes=0-3")]);
    assert_eq!(
        c.serve(&not_ok, at(1)).form,
        Form::Full,
        "only a 200 is ranged"
    );
}

#[test]
fn if_range_sends_the_whole_body_when_the_entry_changed() {
    let c = client(&[("range", "bytes=0-3"), ("if-range", "\"v0\"")]);
    assert_eq!(c.serve(&entry(), at(1)).form, Form::Full);
    let c = client(&[("range", "bytes=0-3"), ("if-range", ETAG)]);
    assert!(matches!(c.serve(&entry(), at(1)).form, Form::Range(_)));
}

#[test]
fn a_range_miss_fetches_the_whole_response_stores_it_and_answers_the_range() {
    let c = client(&[("range", "bytes=0-1")]);
    let OriginAction::StoreAndServe { form, meta, .. } = c.origin(
        200,
        &[("cache-control", "max-age=60"), ("content-length", "10")],
        false,
    ) else {
        panic!("stored")
    };
    assert_eq!(meta.body_bytes, Some(10));
    assert_eq!(
        form,
        Form::Range(RangeAnswer::Partial {
            start: 0,
            end: 1,
            total: 10
        })
    );
    assert!(lifecycle::ORIGIN_DROPS.contains(&"range"));
    assert!(lifecycle::ORIGIN_DROPS.contains(&"if-none-match"));
}

// ---- on_origin --------------------------------------------------------------------------------

#[test]
fn a_storable_answer_is_stored_and_served() {
    let OriginAction::StoreAndServe { meta, report, form } =
        client(&[]).origin(200, &[("cache-control", "max-age=60")], false)
    else {
        panic!("stored")
    };
    assert_eq!(meta.fresh_secs, 60);
    assert_eq!(form, Form::Full);
    assert_eq!(
        report.cache_status(),
        "catalog-edge; fwd=miss; fwd-status=200; ttl=60; stored"
    );
}

#[test]
fn a_head_miss_is_stored_as_the_get_entry_and_answered_without_a_body() {
    let c = client(&[]).head();
    let OriginAction::StoreAndServe { form, .. } =
        c.origin(200, &[("cache-control", "max-age=60")], false)
    else {
        panic!("stored")
    };
    assert_eq!(form, Form::Head);
    let OriginAction::Pass { form, .. } = c.origin(200, &[("cache-control", "private")], false)
    else {
        panic!("passed")
    };
    assert_eq!(form, Form::Head);
}

#[test]
fn a_canary_fallback_is_never_stored_whatever_its_headers_say() {
    let OriginAction::Pass { report, form } =
        client(&[]).origin(200, &[("cache-control", "max-age=60")], true)
    else {
        panic!("passed")
    };
    assert_eq!(form, Form::Full);
    assert!(report.fallback);
    assert_eq!(
        report.not_stored, None,
        "reported as canary-fallback instead"
    );
    assert_eq!(
        report.cache_status(),
        "catalog-edge; fwd=miss; fwd-status=200; detail=canary-fallback"
    );
}

#[test]
fn an_unstorable_answer_passes_and_says_why() {
    let OriginAction::Pass { report, .. } = client(&[]).origin(
        200,
        &[("cache-control", "max-age=60"), ("set-cookie", "a=b")],
        false,
    ) else {
        panic!("passed")
    };
    assert_eq!(report.not_stored, Some(NoStoreReason::SetCookie));
    let OriginAction::Pass { report, .. } = client(&[]).origin(500, &[], false) else {
        panic!("passed")
    };
    assert_eq!(
        report.not_stored, None,
        "a status the route never stores is not news"
    );
}

#[test]
fn an_origin_failure_within_stale_if_error_serves_the_stale_entry() {
    let c = client(&[]);
    let empty = h(&[]);
    let OriginAction::ServeStale { report, form } = c.revalidation(response(503, &empty), at(100))
    else {
        panic!("stale-if-error")
    };
    assert_eq!(form, Form::Full);
    assert_eq!(
        report.cache_status(),
        "catalog-edge; fwd=stale; fwd-status=503; ttl=-40; detail=stale-if-error"
    );
    let timeout = OriginOutcome::Failed {
        failure: Failure::Timeout,
        fell_back: false,
    };
    let OriginAction::ServeStale { report, .. } = c.revalidation(timeout, at(100)) else {
        panic!("stale-if-error")
    };
    assert_eq!(report.fwd_status, None);
}

#[test]
fn past_stale_if_error_a_failure_is_passed_or_fails() {
    let c = client(&[]);
    let empty = h(&[]);
    let late = at(60 + 600 + 1);
    assert!(matches!(
        c.revalidation(response(503, &empty), late),
        OriginAction::Pass { .. }
    ));
    let unreachable = OriginOutcome::Failed {
        failure: Failure::Unreachable,
        fell_back: false,
    };
    let OriginAction::Fail { report } = c.revalidation(unreachable, late) else {
        panic!("fail")
    };
    assert_eq!(report.outcome, Outcome::Expired);
}

#[test]
fn a_304_renews_the_entry_and_never_its_content_length() {
    let c = client(&[]);
    let nm = h(&[
        ("cache-control", "max-age=120"),
        ("etag", ETAG),
        ("content-length", "0"),
    ]);
    let OriginAction::Revalidated {
        meta: Some(meta),
        headers: merged,
        report,
        form,
    } = c.revalidation(response(304, &nm), at(100))
    else {
        panic!("revalidated")
    };
    assert_eq!(meta.fresh_secs, 120);
    assert_eq!(meta.body_bytes, Some(10));
    assert_eq!(headers::get(&merged, "content-length"), Some("10"));
    assert_eq!(form, Form::Full);
    assert_eq!(
        report.cache_status(),
        "catalog-edge; fwd=stale; fwd-status=304; ttl=120; stored"
    );
}

#[test]
fn a_304_that_forbids_storing_serves_the_entry_once_more_unstored() {
    let nm = h(&[("cache-control", "no-store")]);
    let OriginAction::Revalidated { meta, report, .. } =
        client(&[]).revalidation(response(304, &nm), at(100))
    else {
        panic!("revalidated")
    };
    assert_eq!(meta, None);
    assert!(!report.stored);
}

#[test]
fn a_200_to_a_revalidation_replaces_the_entry() {
    let fresh = h(&[("cache-control", "max-age=30")]);
    let OriginAction::StoreAndServe { report, .. } =
        client(&[]).revalidation(response(200, &fresh), at(100))
    else {
        panic!("stored")
    };
    assert_eq!(report.outcome, Outcome::Expired);
}

// ---- the body ---------------------------------------------------------------------------------

#[test]
fn a_body_over_the_limit_is_served_unstored_whatever_content_length_said() {
    assert_eq!(lifecycle::admit_body(10, 10), BodyVerdict::Store);
    assert_eq!(lifecycle::admit_body(11, 10), BodyVerdict::TooLarge);
    let mut report = CacheReport::new(Outcome::Miss);
    report.stored = true;
    report.ttl_secs = Some(60);
    let kept = lifecycle::with_body(&entry(), &mut report, 7, 10).expect("stored");
    assert_eq!(kept.body_bytes, Some(7), "the real length");
    assert!(lifecycle::with_body(&entry(), &mut report, 11, 10).is_none());
    assert_eq!(
        (report.stored, report.ttl_secs, report.not_stored),
        (false, None, Some(NoStoreReason::TooLarge))
    );
    assert_eq!(
        StoreOutcome::NotStored(NoStoreReason::TooLarge).release(),
        Release::Unfilled,
        "its waiters ask the origin themselves"
    );
}

// ---- Age --------------------------------------------------------------------------------------

#[test]
fn age_zero_is_added_to_every_answer_of_the_cache_that_has_none_bypasses_excepted() {
    for outcome in [Outcome::Miss, Outcome::Expired] {
        assert_eq!(lifecycle::age_to_add(outcome, &[]), Some("0"));
    }
    assert_eq!(
        lifecycle::age_to_add(Outcome::Miss, &h(&[("age", "3")])),
        None
    );
}
