//! Pins the store decision (`policy::decide_store`) and whether a request uses the cache
//! (`lifecycle::on_request`) in `override` mode (a marketplace rule) and `origin` mode (the
//! fallback rule, RFC 9111).

use catalog_edge::cache::http_date;
use catalog_edge::cache::lifecycle::on_request;
use catalog_edge::cache::policy::{
    decide_store, BypassReason, EntryMeta, NoStoreReason, StoreDecision, StoreInput,
    DEFAULT_MAX_BODY_BYTES, MAX_ENTRY_LIFETIME_SECS, MAX_HEURISTIC_SECS, MAX_ORIGIN_FRESH_SECS,
};
use catalog_edge::cache::rules::{CacheMode, RuleSet, DEFAULT_NOT_FOUND_TTL_SECS, MAX_SECS};
use catalog_edge::time::UnixMillis;
use http::{Method, StatusCode};

const NOW: UnixMillis = UnixMillis(1_700_000_000_000);
const HOUR: u64 = 3600;
const DAY: u64 = 24 * HOUR;

/// `override`, 6 h, stale-while-revalidate 600 s, stale-if-error 24 h.
const CATEGORIES: &str = "/api/v1/marketplace/categories";
/// `override`, 60 s, stale-while-revalidate 30 s, stale-if-error 600 s.
const SEARCH: &str = "/api/v1/marketplace/search";
/// No rule matches: the fallback, `origin` mode, no stale windows of its own.
const ECHO: &str = "/echo/x";

use catalog_edge::headers::owned as h;

/// `secs` seconds before `NOW`, as an HTTP-date.
fn ago(secs: u64) -> String {
    http_date::format(NOW.as_secs() - secs)
}

/// `secs` seconds after `NOW`, as an HTTP-date.
fn from_now(secs: u64) -> String {
    http_date::format(NOW.as_secs() + secs)
}

/// A response to a request for `path`, arriving at `NOW`.
struct Response {
    path: &'static str,
    method: &'static str,
    status: u16,
    headers: Vec<(String, String)>,
    body_len: Option<u64>,
    language_in_key: bool,
    authorized: bool,
}

fn response(path: &'static str) -> Response {
    Response {
        path,
        method: "GET",
        status: 200,
        headers: Vec::new(),
        body_len: Some(100),
        language_in_key: false,
        authorized: false,
    }
}

impl Response {
    fn status(mut self, status: u16) -> Self {
        self.status = status;
        self
    }

    fn header(mut self, name: &str, value: &str) -> Self {
        self.headers.push((name.to_string(), value.to_string()));
        self
    }

    fn method(mut self, method: &'static str) -> Self {
        self.method = method;
        self
    }

    fn body_len(mut self, body_len: Option<u64>) -> Self {
        self.body_len = body_len;
        self
    }

    fn authorized(mut self) -> Self {
        self.authorized = true;
        self
    }

    fn language_in_key(mut self) -> Self {
        self.language_in_key = true;
        self
    }

    fn decide(&self) -> StoreDecision {
        let rules = RuleSet::marketplace_defaults();
        decide_store(StoreInput {
            rule: rules.rule_for(self.path),
            method: &Method::from_bytes(self.method.as_bytes()).unwrap(),
            request_authorized: self.authorized,
            request_no_store: false,
            edge_field: Some("catalog-edge-cache-control"),
            status: StatusCode::from_u16(self.status).unwrap(),
            response_headers: &self.headers,
            body_len: self.body_len,
            max_body_bytes: DEFAULT_MAX_BODY_BYTES,
            now: NOW,
            purge_path: self.path,
            language_in_key: self.language_in_key,
        })
    }

    fn stored(&self) -> EntryMeta {
        match self.decide() {
            StoreDecision::Store(m) => m,
            StoreDecision::Skip(r) => panic!(
                "{} {} {:?}: expected to be stored, skipped: {}",
                self.path,
                self.status,
                self.headers,
                r.as_str()
            ),
        }
    }

    fn skipped(&self) -> NoStoreReason {
        match self.decide() {
            StoreDecision::Skip(r) => r,
            StoreDecision::Store(m) => panic!(
                "{} {} {:?}: expected to be skipped, stored: {m:?}",
                self.path, self.status, self.headers
            ),
        }
    }
}

// ---- the rules under test ------------------------------------------------------------------

#[test]
fn the_paths_used_here_have_the_modes_these_tests_assume() {
    let rules = RuleSet::marketplace_defaults();
    assert_eq!(rules.rule_for(CATEGORIES).mode, CacheMode::Override);
    assert_eq!(
        rules.rule_for(CATEGORIES).ttl_for_status(200),
        Some(6 * HOUR)
    );
    assert_eq!(rules.rule_for(SEARCH).ttl_for_status(200), Some(60));
    assert_eq!(rules.rule_for(ECHO).mode, CacheMode::Origin);
    assert_eq!(rules.rule_for(ECHO).stale_while_revalidate_secs, 0);
}

// ---- override mode -------------------------------------------------------------------------

#[test]
fn override_mode_stores_ttl_statuses_for_the_rule_ttl() {
    for status in [200, 203, 301, 410] {
        let m = response(CATEGORIES).status(status).stored();
        assert_eq!(m.fresh_secs, 6 * HOUR, "{status}");
        assert_eq!(m.initial_age_secs, 0, "{status}");
        assert_eq!(m.swr_secs, 600, "{status}");
        assert_eq!(m.sie_secs, DAY, "{status}");
        assert!(!m.must_revalidate, "{status}");
        assert_eq!(m.status, status);
        assert_eq!(m.stored_at_ms, NOW.0);
        assert_eq!(m.rule, "categories");
        assert_eq!(m.purge_path, CATEGORIES);
    }
    let search = response(SEARCH).stored();
    assert_eq!(
        (search.fresh_secs, search.swr_secs, search.sie_secs),
        (60, 30, 600)
    );
}

#[test]
fn override_mode_keeps_404_for_the_short_negative_ttl() {
    assert_eq!(DEFAULT_NOT_FOUND_TTL_SECS, 30);
    let cats = response(CATEGORIES).status(404).stored();
    assert_eq!(cats.fresh_secs, DEFAULT_NOT_FOUND_TTL_SECS);
    assert_eq!(cats.status, 404);
    let search = response(SEARCH).status(404).stored();
    assert_eq!(search.fresh_secs, DEFAULT_NOT_FOUND_TTL_SECS);
}

#[test]
fn override_mode_does_not_store_statuses_without_a_ttl() {
    for status in [
        204, 302, 303, 304, 307, 308, 400, 401, 403, 429, 500, 502, 503, 504,
    ] {
        assert_eq!(
            response(CATEGORIES).status(status).skipped(),
            NoStoreReason::Status,
            "{status}"
        );
    }
    // Even when the origin says the error is cacheable.
    assert_eq!(
        response(CATEGORIES)
            .status(500)
            .header("cache-control", "public, max-age=600")
            .skipped(),
        NoStoreReason::Status
    );
}

#[test]
fn override_mode_ignores_the_origins_freshness_headers() {
    let m = response(CATEGORIES)
        .header("cache-control", "public, s-maxage=1, max-age=5")
        .header("expires", &ago(10))
        .header("date", &ago(100))
        .header("age", "50")
        .stored();
    assert_eq!(m.fresh_secs, 6 * HOUR);
    assert_eq!(m.initial_age_secs, 0);

    let zero = response(CATEGORIES)
        .header("cache-control", "max-age=0")
        .stored();
    assert_eq!(zero.fresh_secs, 6 * HOUR);
}

#[test]
fn override_mode_still_refuses_no_store_private_and_set_cookie() {
    let base = || response(CATEGORIES).header("cache-control", "public, max-age=60");
    assert_eq!(
        response(CATEGORIES)
            .header("cache-control", "no-store")
            .skipped(),
        NoStoreReason::NoStore
    );
    assert_eq!(
        response(CATEGORIES)
            .header("cache-control", "private, max-age=60")
            .skipped(),
        NoStoreReason::Private
    );
    assert_eq!(
        base().header("set-cookie", "sid=1").skipped(),
        NoStoreReason::SetCookie
    );
    assert_eq!(
        base().header("vary", "*").skipped(),
        NoStoreReason::VaryStar
    );
    assert_eq!(base().status(206).skipped(), NoStoreReason::Partial);
}

#[test]
fn override_mode_extends_the_rule_stale_windows_from_the_origin_but_never_shortens_them() {
    let longer = response(CATEGORIES)
        .header(
            "cache-control",
            "max-age=60, stale-while-revalidate=1200, stale-if-error=172800",
        )
        .stored();
    assert_eq!((longer.swr_secs, longer.sie_secs), (1200, 2 * DAY));

    let shorter = response(CATEGORIES)
        .header(
            "cache-control",
            "stale-while-revalidate=1, stale-if-error=2",
        )
        .stored();
    assert_eq!((shorter.swr_secs, shorter.sie_secs), (600, DAY));

    let mixed = response(SEARCH)
        .header(
            "cache-control",
            "stale-while-revalidate=45, stale-if-error=5",
        )
        .stored();
    assert_eq!((mixed.swr_secs, mixed.sie_secs), (45, 600));
}

// ---- origin mode: explicit freshness (RFC 9111 §4.2.1) ---------------------------------------

#[test]
fn s_maxage_wins_over_max_age_and_expires() {
    let m = response(ECHO)
        .header("cache-control", "max-age=60, s-maxage=120")
        .header("expires", &from_now(30))
        .stored();
    assert_eq!(m.fresh_secs, 120);
    assert_eq!(m.initial_age_secs, 0);
    assert_eq!(m.rule, "default");

    let shorter = response(ECHO)
        .header("cache-control", "s-maxage=10, max-age=600")
        .stored();
    assert_eq!(shorter.fresh_secs, 10, "s-maxage wins even when shorter");
}

#[test]
fn max_age_wins_over_expires() {
    let m = response(ECHO)
        .header("cache-control", "max-age=60")
        .header("expires", &from_now(3600))
        .stored();
    assert_eq!(m.fresh_secs, 60);

    let past = response(ECHO)
        .header("cache-control", "max-age=60")
        .header("expires", &ago(3600))
        .stored();
    assert_eq!(
        past.fresh_secs, 60,
        "an Expires in the past does not matter"
    );
}

#[test]
fn expires_counts_from_the_origins_date() {
    let date = NOW.as_secs() - 20;
    let m = response(ECHO)
        .header("date", &http_date::format(date))
        .header("expires", &http_date::format(date + 120))
        .stored();
    assert_eq!(m.fresh_secs, 120);
    assert_eq!(m.initial_age_secs, 20);

    let no_date = response(ECHO).header("expires", &from_now(90)).stored();
    assert_eq!(
        no_date.fresh_secs, 90,
        "without Date, from the time of receipt"
    );
}

#[test]
fn an_expires_in_the_past_is_stored_only_with_validators() {
    assert_eq!(
        response(ECHO).header("expires", &ago(60)).skipped(),
        NoStoreReason::NotFresh
    );
    let m = response(ECHO)
        .header("expires", &ago(60))
        .header("etag", "\"v1\"")
        .stored();
    assert_eq!(m.fresh_secs, 0);
}

#[test]
fn initial_age_is_the_larger_of_age_and_the_apparent_age() {
    let by_age = response(ECHO)
        .header("cache-control", "max-age=600")
        .header("date", &ago(10))
        .header("age", "30")
        .stored();
    assert_eq!(by_age.initial_age_secs, 30);
    let by_date = response(ECHO)
        .header("cache-control", "max-age=600")
        .header("date", &ago(40))
        .header("age", "5")
        .stored();
    assert_eq!(by_date.initial_age_secs, 40);
    let future_date = response(ECHO)
        .header("cache-control", "max-age=600")
        .header("date", &from_now(100))
        .stored();
    assert_eq!(
        future_date.initial_age_secs, 0,
        "clock skew is not a negative age"
    );
}

#[test]
fn a_response_as_old_as_its_lifetime_is_stored_only_with_validators() {
    let old = || {
        response(ECHO)
            .header("cache-control", "max-age=60")
            .header("age", "60")
    };
    assert_eq!(old().skipped(), NoStoreReason::NotFresh);
    let m = old().header("last-modified", &ago(DAY)).stored();
    assert_eq!((m.fresh_secs, m.initial_age_secs), (60, 60));
}

// ---- storage prohibitions, both modes ------------------------------------------------------

#[test]
fn no_store_is_never_stored() {
    for path in [CATEGORIES, ECHO] {
        for cc in ["no-store", "public, max-age=60, no-store", "NO-STORE"] {
            assert_eq!(
                response(path).header("cache-control", cc).skipped(),
                NoStoreReason::NoStore,
                "{path} {cc}"
            );
        }
    }
    // Directives from several Cache-Control fields combine.
    assert_eq!(
        response(ECHO)
            .header("cache-control", "max-age=60")
            .header("cache-control", "no-store")
            .skipped(),
        NoStoreReason::NoStore
    );
}

#[test]
fn private_is_never_stored_even_with_field_names() {
    for path in [CATEGORIES, ECHO] {
        for cc in [
            "private",
            "private, max-age=60",
            "public, s-maxage=60, private=\"x-user\"",
        ] {
            assert_eq!(
                response(path).header("cache-control", cc).skipped(),
                NoStoreReason::Private,
                "{path} {cc}"
            );
        }
    }
}

#[test]
fn set_cookie_is_never_stored_even_when_public() {
    for path in [CATEGORIES, ECHO] {
        assert_eq!(
            response(path)
                .header("cache-control", "public, s-maxage=600")
                .header("set-cookie", "session=abc; HttpOnly")
                .skipped(),
            NoStoreReason::SetCookie,
            "{path}"
        );
    }
}

#[test]
fn partial_content_is_never_stored() {
    for path in [CATEGORIES, ECHO] {
        assert_eq!(
            response(path)
                .status(206)
                .header("cache-control", "max-age=60")
                .header("content-range", "bytes 0-9/100")
                .skipped(),
            NoStoreReason::Partial,
            "{path}"
        );
    }
}

#[test]
fn vary_star_is_never_stored() {
    for path in [CATEGORIES, ECHO] {
        for vary in ["*", "Accept-Encoding, *"] {
            assert_eq!(
                response(path)
                    .header("cache-control", "max-age=60")
                    .header("vary", vary)
                    .skipped(),
                NoStoreReason::VaryStar,
                "{path} {vary}"
            );
        }
    }
}

#[test]
fn bodies_over_the_limit_are_not_stored_but_at_the_limit_are() {
    for path in [CATEGORIES, ECHO] {
        let r = |len| {
            response(path)
                .header("cache-control", "max-age=60")
                .body_len(len)
        };
        assert_eq!(
            r(Some(DEFAULT_MAX_BODY_BYTES + 1)).skipped(),
            NoStoreReason::TooLarge,
            "{path}"
        );
        r(Some(DEFAULT_MAX_BODY_BYTES)).stored();
        r(None).stored();
    }
}

#[test]
fn head_responses_are_not_stored() {
    for path in [CATEGORIES, ECHO] {
        assert_eq!(
            response(path)
                .method("HEAD")
                .header("cache-control", "max-age=60")
                .skipped(),
            NoStoreReason::Head
        );
    }
}

#[test]
fn no_store_reasons_have_fixed_words() {
    let words = [
        (NoStoreReason::SetCookie, "set-cookie"),
        (NoStoreReason::Private, "private"),
        (NoStoreReason::NoStore, "no-store"),
        (NoStoreReason::Partial, "partial"),
        (NoStoreReason::VaryStar, "vary-star"),
        (NoStoreReason::TooLarge, "too-large"),
        (NoStoreReason::Status, "status"),
        (NoStoreReason::NotFresh, "not-fresh"),
        (NoStoreReason::Head, "head"),
    ];
    for (reason, word) in words {
        assert_eq!(reason.as_str(), word);
    }
}

// ---- revalidation directives (RFC 9111 §5.2.2) ----------------------------------------------

#[test]
fn must_revalidate_and_proxy_revalidate_disable_every_stale_window() {
    for directive in ["must-revalidate", "proxy-revalidate"] {
        let m = response(ECHO)
            .header(
                "cache-control",
                &format!("max-age=60, {directive}, stale-while-revalidate=30, stale-if-error=600"),
            )
            .stored();
        assert!(m.must_revalidate, "{directive}");
        assert_eq!(m.fresh_secs, 60, "{directive} keeps the lifetime");
        assert_eq!((m.swr_secs, m.sie_secs), (0, 0), "{directive}");
    }
}

#[test]
fn no_cache_means_zero_lifetime_must_revalidate_and_no_stale_windows() {
    let m = response(ECHO)
        .header("cache-control", "no-cache, max-age=600, stale-if-error=600")
        .header("etag", "\"v1\"")
        .stored();
    assert_eq!(m.fresh_secs, 0);
    assert!(m.must_revalidate);
    assert_eq!((m.swr_secs, m.sie_secs), (0, 0));

    assert_eq!(
        response(ECHO)
            .header("cache-control", "no-cache, max-age=600")
            .skipped(),
        NoStoreReason::NotFresh,
        "nothing to revalidate with"
    );
}

#[test]
fn pragma_no_cache_counts_only_without_cache_control() {
    let pragma_only = response(ECHO)
        .header("pragma", "no-cache")
        .header("expires", &from_now(600))
        .header("etag", "\"v1\"")
        .stored();
    assert_eq!(pragma_only.fresh_secs, 0);
    assert!(pragma_only.must_revalidate);

    let with_cc = response(ECHO)
        .header("pragma", "no-cache")
        .header("cache-control", "max-age=600")
        .stored();
    assert_eq!(with_cc.fresh_secs, 600);
    assert!(!with_cc.must_revalidate);
}

// ---- origin mode: statuses and heuristics (RFC 9111 §3, §4.2.2) ------------------------------

#[test]
fn origin_mode_stores_understood_statuses_with_explicit_freshness() {
    for status in [
        200, 203, 204, 300, 301, 302, 303, 307, 308, 404, 405, 410, 414, 451, 501,
    ] {
        let m = response(ECHO)
            .status(status)
            .header("cache-control", "max-age=60")
            .stored();
        assert_eq!(m.fresh_secs, 60, "{status}");
        assert_eq!(m.status, status);
    }
    assert_eq!(
        response(ECHO)
            .status(304)
            .header("cache-control", "max-age=60")
            .skipped(),
        NoStoreReason::Status,
        "a 304 is not a response to store"
    );
}

#[test]
fn heuristic_freshness_is_a_tenth_of_the_time_since_last_modified() {
    let m = response(ECHO)
        .header("date", &ago(0))
        .header("last-modified", &ago(5 * DAY))
        .stored();
    assert_eq!(m.fresh_secs, 5 * DAY / 10);
    assert!(!m.must_revalidate);

    // Counted from the origin's Date, not from receipt.
    let dated = response(ECHO)
        .header("date", &ago(1000))
        .header("last-modified", &ago(11_000))
        .stored();
    assert_eq!(dated.fresh_secs, 1000);
    assert_eq!(dated.initial_age_secs, 1000);
}

#[test]
fn heuristic_freshness_is_capped_at_a_day() {
    assert_eq!(MAX_HEURISTIC_SECS, DAY);
    let m = response(ECHO)
        .header("last-modified", &ago(100 * DAY))
        .stored();
    assert_eq!(m.fresh_secs, MAX_HEURISTIC_SECS);
}

#[test]
fn heuristics_apply_to_heuristically_cacheable_statuses_only() {
    for status in [200, 203, 204, 300, 301, 308, 404, 405, 410, 414, 501] {
        let m = response(ECHO)
            .status(status)
            .header("last-modified", &ago(1000))
            .stored();
        assert_eq!(m.fresh_secs, 100, "{status}");
    }
    for status in [302, 303, 307, 451] {
        assert_eq!(
            response(ECHO)
                .status(status)
                .header("last-modified", &ago(1000))
                .skipped(),
            NoStoreReason::Status,
            "{status}: no explicit freshness, not heuristically cacheable"
        );
    }
}

#[test]
fn public_makes_any_understood_status_heuristically_cacheable() {
    let m = response(ECHO)
        .status(302)
        .header("cache-control", "public")
        .header("last-modified", &ago(1000))
        .stored();
    assert_eq!(m.fresh_secs, 100);
}

#[test]
fn no_heuristic_freshness_without_last_modified() {
    assert_eq!(response(ECHO).skipped(), NoStoreReason::NotFresh);
    let m = response(ECHO).header("etag", "\"v1\"").stored();
    assert_eq!(m.fresh_secs, 0, "kept for revalidation only");
}

#[test]
fn explicit_freshness_turns_heuristics_off() {
    let m = response(ECHO)
        .header("cache-control", "max-age=10")
        .header("last-modified", &ago(100 * DAY))
        .stored();
    assert_eq!(m.fresh_secs, 10);
    let expired = response(ECHO)
        .header("expires", &ago(1))
        .header("last-modified", &ago(100 * DAY))
        .stored();
    assert_eq!(expired.fresh_secs, 0);
}

// ---- stale windows in origin mode (RFC 5861) -----------------------------------------------

#[test]
fn origin_stale_directives_give_the_fallback_its_windows() {
    let m = response(ECHO)
        .header(
            "cache-control",
            "max-age=60, stale-while-revalidate=30, stale-if-error=300",
        )
        .stored();
    assert_eq!((m.swr_secs, m.sie_secs), (30, 300));

    let none = response(ECHO)
        .header("cache-control", "max-age=60")
        .stored();
    assert_eq!((none.swr_secs, none.sie_secs), (0, 0));

    let invalid = response(ECHO)
        .header(
            "cache-control",
            "max-age=60, stale-while-revalidate=abc, stale-if-error",
        )
        .stored();
    assert_eq!((invalid.swr_secs, invalid.sie_secs), (0, 0));
}

#[test]
fn origin_freshness_and_stale_windows_are_capped() {
    let year = "31536000";
    let m = response(ECHO)
        .header(
            "cache-control",
            &format!("max-age={year}, stale-while-revalidate={year}, stale-if-error={year}"),
        )
        .header("etag", "\"v1\"")
        .stored();
    assert_eq!(m.fresh_secs, MAX_ORIGIN_FRESH_SECS);
    assert_eq!((m.swr_secs, m.sie_secs), (MAX_SECS, MAX_SECS));
    assert!(m.retention_secs(true) <= MAX_ENTRY_LIFETIME_SECS);

    let far = response(ECHO)
        .header("expires", &from_now(365 * DAY))
        .stored();
    assert_eq!(
        far.fresh_secs, MAX_ORIGIN_FRESH_SECS,
        "Expires is capped too"
    );

    let windows = response(CATEGORIES)
        .header("cache-control", &format!("stale-if-error={year}"))
        .stored();
    assert_eq!(
        windows.sie_secs, MAX_SECS,
        "override mode caps the origin's windows"
    );
    assert!(windows.retention_secs(true) <= MAX_ENTRY_LIFETIME_SECS);
}

// ---- what the meta carries -------------------------------------------------------------------

#[test]
fn varied_headers_become_the_second_level_key() {
    let m = response(ECHO)
        .header("cache-control", "max-age=60")
        .header("vary", "X-B, Accept-Encoding")
        .header("vary", "accept-language, x-a")
        .stored();
    assert_eq!(m.vary, vec!["accept-language", "x-a", "x-b"]);

    let keyed = response(CATEGORIES)
        .header("vary", "Accept-Language, Accept-Encoding")
        .language_in_key()
        .stored();
    assert!(keyed.vary.is_empty(), "the key already holds the language");
}

#[test]
fn the_origins_cache_control_and_vary_are_withheld_for_serving() {
    let m = response(ECHO)
        .header("content-type", "application/json")
        .header("cache-control", "max-age=60")
        .header("vary", "X-A")
        .stored();
    assert_eq!(
        m.withheld,
        h(&[("cache-control", "max-age=60"), ("vary", "X-A")])
    );
    assert!(response(CATEGORIES).stored().withheld.is_empty());
}

// ---- on_request ------------------------------------------------------------------------------

fn plan(path: &str, method: &str) -> Option<BypassReason> {
    let rules = RuleSet::marketplace_defaults();
    on_request(
        &Method::from_bytes(method.as_bytes()).unwrap(),
        rules.rule_for(path),
    )
}

#[test]
fn get_and_head_use_the_cache() {
    for path in [CATEGORIES, SEARCH, ECHO] {
        assert_eq!(plan(path, "GET"), None, "{path}");
        assert_eq!(plan(path, "HEAD"), None, "{path}");
    }
}

#[test]
fn other_methods_bypass() {
    for path in [CATEGORIES, ECHO] {
        for method in ["POST", "PUT", "PATCH", "DELETE", "OPTIONS", "get"] {
            assert_eq!(
                plan(path, method),
                Some(BypassReason::Method),
                "{path} {method}"
            );
        }
    }
}

#[test]
fn bypass_rules_bypass_whatever_the_request() {
    for path in [
        "/health/ready",
        "/api/v1/admin/purge",
        "/api/v2/admin/x/y",
        "/api/v1/%61dmin/users",
        "//api/v1/admin/users",
        "/API/V1/ADMIN/users/",
    ] {
        assert_eq!(plan(path, "GET"), Some(BypassReason::Rule), "{path}");
        assert_eq!(plan(path, "POST"), Some(BypassReason::Rule), "{path}");
    }
}

#[test]
fn a_trailing_slash_does_not_escape_its_rule() {
    let rules = RuleSet::marketplace_defaults();
    assert_eq!(
        rules.rule_for("/api/v1/marketplace/categories/").id,
        "categories"
    );
    assert_eq!(
        rules.rule_for("/api/v1/marketplace//categories").id,
        "categories"
    );
    assert_eq!(
        rules.rule_for("/api/v1/marketplace/categories;x").id,
        "categories"
    );
}

#[test]
fn bypass_reasons_have_fixed_words() {
    assert_eq!(BypassReason::Rule.as_str(), "rule");
    assert_eq!(BypassReason::Method.as_str(), "method");
}

// ---- Authorization (RFC 9111 §3.5) ------------------------------------------------------------

#[test]
fn a_response_to_an_authorized_request_is_stored_only_when_it_allows_it() {
    assert_eq!(
        response(ECHO)
            .authorized()
            .header("cache-control", "max-age=60")
            .skipped(),
        NoStoreReason::Authorization
    );
    assert_eq!(
        response(CATEGORIES).authorized().skipped(),
        NoStoreReason::Authorization,
        "override mode too"
    );
    for allowed in [
        "public, max-age=60",
        "s-maxage=60",
        "max-age=60, must-revalidate",
    ] {
        let m = response(ECHO)
            .authorized()
            .header("cache-control", allowed)
            .stored();
        assert!(m.auth_ok, "{allowed}");
    }
    assert!(
        !response(ECHO)
            .header("cache-control", "max-age=60")
            .stored()
            .auth_ok
    );
}

// ---- statuses, must-understand --------------------------------------------------------------

#[test]
fn any_final_status_with_explicit_freshness_is_stored_in_origin_mode() {
    for status in [500, 502, 418, 302, 201, 202, 429] {
        let m = response(ECHO)
            .status(status)
            .header("cache-control", "max-age=30")
            .stored();
        assert_eq!((m.status, m.fresh_secs), (status, 30), "{status}");
    }
    assert_eq!(
        response(ECHO).status(500).skipped(),
        NoStoreReason::Status,
        "no heuristics for a 500"
    );
    assert_eq!(
        response(ECHO)
            .status(304)
            .header("cache-control", "max-age=30")
            .skipped(),
        NoStoreReason::Status
    );
}

#[test]
fn no_store_with_must_understand_is_stored_for_an_understood_status_only() {
    let m = response(ECHO)
        .header("cache-control", "no-store, must-understand, max-age=60")
        .stored();
    assert_eq!(m.fresh_secs, 60);
    assert_eq!(
        response(ECHO)
            .status(418)
            .header("cache-control", "no-store, must-understand, max-age=60")
            .skipped(),
        NoStoreReason::Status
    );
}

// ---- targeted cache control (RFC 9213) -----------------------------------------------------

#[test]
fn cdn_cache_control_replaces_cache_control_and_expires() {
    let m = response(ECHO)
        .header("cache-control", "no-store")
        .header("expires", &ago(10))
        .header("cdn-cache-control", "max-age=120")
        .stored();
    assert_eq!(m.fresh_secs, 120);
    assert_eq!(
        response(ECHO)
            .header("cache-control", "max-age=600")
            .header("cdn-cache-control", "no-store")
            .skipped(),
        NoStoreReason::NoStore
    );
    assert_eq!(
        response(ECHO)
            .header("cache-control", "max-age=600")
            .header("cdn-cache-control", "private")
            .skipped(),
        NoStoreReason::Private
    );
    // Expires does not count once a targeted field applies: no freshness, no validators.
    assert_eq!(
        response(ECHO)
            .header("expires", &from_now(600))
            .header("cdn-cache-control", "stale-if-error=60")
            .skipped(),
        NoStoreReason::NotFresh
    );
}

#[test]
fn the_edge_field_comes_before_cdn_cache_control() {
    let m = response(ECHO)
        .header("cdn-cache-control", "max-age=120")
        .header("catalog-edge-cache-control", "max-age=5, must-revalidate")
        .stored();
    assert_eq!((m.fresh_secs, m.must_revalidate), (5, true));
}

#[test]
fn a_targeted_field_steers_an_override_rule_but_the_rule_ttl_stays_without_one() {
    assert_eq!(response(CATEGORIES).stored().fresh_secs, 6 * HOUR);
    let steered = response(CATEGORIES)
        .header("cdn-cache-control", "max-age=90")
        .stored();
    assert_eq!(steered.fresh_secs, 90);
    assert_eq!(
        response(CATEGORIES)
            .header("cache-control", "max-age=90")
            .stored()
            .fresh_secs,
        6 * HOUR,
        "plain Cache-Control does not steer an override rule"
    );
    assert_eq!(
        response(CATEGORIES)
            .header("catalog-edge-cache-control", "no-store")
            .skipped(),
        NoStoreReason::NoStore
    );
}

#[test]
fn an_invalid_targeted_field_is_ignored() {
    let m = response(ECHO)
        .header("cache-control", "max-age=30")
        .header("cdn-cache-control", "max age=120")
        .stored();
    assert_eq!(m.fresh_secs, 30);
}

// ---- stale rules ---------------------------------------------------------------------------

#[test]
fn s_maxage_and_proxy_revalidate_forbid_serving_stale() {
    for cc in [
        "s-maxage=60, stale-while-revalidate=600, stale-if-error=600",
        "max-age=60, proxy-revalidate, stale-while-revalidate=600",
        "max-age=60, must-revalidate, stale-if-error=600",
    ] {
        let m = response(ECHO).header("cache-control", cc).stored();
        assert!(m.must_revalidate, "{cc}");
        assert_eq!((m.swr_secs, m.sie_secs), (0, 0), "{cc}");
    }
}

// ---- a Last-Modified in the future ------------------------------------------------------------

#[test]
fn a_last_modified_after_date_is_no_validator_so_nothing_is_stored() {
    assert_eq!(
        response(ECHO)
            .header("date", &ago(0))
            .header("last-modified", &from_now(3600))
            .skipped(),
        NoStoreReason::NotFresh
    );
}

#[test]
fn a_content_language_on_a_route_without_language_in_the_key_varies_on_the_language() {
    let m = response("/api/v2/marketplace/categories/1/attribute-ranges")
        .header("content-language", "ru")
        .stored();
    assert_eq!(m.vary, vec!["@lang".to_string()]);
    let keyed = response(CATEGORIES)
        .language_in_key()
        .header("content-language", "ru")
        .stored();
    assert!(keyed.vary.is_empty());
}
