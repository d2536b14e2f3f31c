//! Pins how malformed response headers degrade: never a panic, always the safe RFC 9111 answer.
//! "Not fresh" means lifetime 0: stored only when the response has a usable validator (for
//! revalidation), otherwise skipped as `NotFresh`.

use catalog_edge::cache::cache_control::CacheControl;
use catalog_edge::cache::entry;
use catalog_edge::cache::freshness::{self, Freshness};
use catalog_edge::cache::http_date;
use catalog_edge::cache::policy::{
    decide_store, EntryMeta, NoStoreReason, StoreDecision, StoreInput, DEFAULT_MAX_BODY_BYTES,
    MAX_ENTRY_LIFETIME_SECS, MAX_ORIGIN_FRESH_SECS,
};
use catalog_edge::cache::rules::RuleSet;
use catalog_edge::headers;
use catalog_edge::time::UnixMillis;

const NOW: UnixMillis = UnixMillis(1_700_000_000_000);
const HOUR: u64 = 3600;
const DAY: u64 = 24 * HOUR;

/// `override`, 6 h.
const CATEGORIES: &str = "/api/v1/marketplace/categories";
/// The fallback rule: `origin` mode.
const ECHO: &str = "/echo/x";

use catalog_edge::headers::owned as h;

fn ago(secs: u64) -> String {
    http_date::format(NOW.as_secs() - secs)
}

fn from_now(secs: u64) -> String {
    http_date::format(NOW.as_secs() + secs)
}

/// `secs` seconds after `NOW`.
fn at(secs: u64) -> UnixMillis {
    NOW.plus_millis(secs * 1000)
}

fn decide_with(path: &str, status: u16, headers: &[(String, String)]) -> StoreDecision {
    let rules = RuleSet::marketplace_defaults();
    decide_store(StoreInput {
        rule: rules.rule_for(path),
        method: &http::Method::GET,
        request_authorized: false,
        request_no_store: false,
        edge_field: None,
        status: http::StatusCode::from_u16(status).unwrap(),
        response_headers: headers,
        body_len: Some(100),
        max_body_bytes: DEFAULT_MAX_BODY_BYTES,
        now: NOW,
        purge_path: path,
        language_in_key: false,
    })
}

/// A 200 for `path` with these headers, arriving at `NOW`.
fn decide(path: &str, headers: &[(&str, &str)]) -> StoreDecision {
    decide_with(path, 200, &h(headers))
}

fn stored(path: &str, headers: &[(&str, &str)]) -> EntryMeta {
    match decide(path, headers) {
        StoreDecision::Store(m) => m,
        StoreDecision::Skip(r) => panic!("{headers:?}: expected stored, skipped: {}", r.as_str()),
    }
}

fn skipped(path: &str, headers: &[(&str, &str)]) -> NoStoreReason {
    match decide(path, headers) {
        StoreDecision::Skip(r) => r,
        StoreDecision::Store(m) => panic!("{headers:?}: expected skipped, stored: {m:?}"),
    }
}

/// Asserts a response is "not fresh" (RFC 9111 §4.2.1: invalid freshness information means
/// stale): skipped without a validator, stored with lifetime 0 with one.
fn assert_not_fresh(extra: &[(&str, &str)]) {
    assert_eq!(skipped(ECHO, extra), NoStoreReason::NotFresh, "{extra:?}");
    let mut with_etag = extra.to_vec();
    with_etag.push(("etag", "\"v1\""));
    let m = stored(ECHO, &with_etag);
    assert_eq!(m.fresh_secs, 0, "{extra:?}");
    assert!(
        matches!(freshness::evaluate(&m, NOW), Freshness::Stale { .. }),
        "{extra:?}"
    );
}

// ---- Cache-Control ---------------------------------------------------------------------------

#[test]
fn an_invalid_max_age_means_not_fresh() {
    // RFC 9111 §1.2.2 delta-seconds is 1*DIGIT; §4.2.1: invalid freshness information → stale.
    for cc in [
        "max-age=abc",
        "max-age=-5",
        "max-age=",
        "max-age",
        "max-age=1.5",
        "max-age=60s",
        "max-age= 6 0",
    ] {
        assert_not_fresh(&[("cache-control", cc)]);
    }
}

#[test]
fn an_invalid_max_age_is_not_replaced_by_expires() {
    // max-age is present, so Expires is not consulted (§5.3: max-age takes precedence).
    assert_not_fresh(&[
        ("cache-control", "max-age=abc"),
        ("expires", &from_now(600)),
    ]);
}

#[test]
fn an_invalid_s_maxage_is_not_replaced_by_max_age() {
    assert_not_fresh(&[("cache-control", "s-maxage=x, max-age=600")]);
}

#[test]
fn quoted_max_age_is_read() {
    // RFC 9111 §5.2: senders should use the token form, recipients accept the quoted one.
    assert_eq!(
        stored(ECHO, &[("cache-control", "max-age=\"60\"")]).fresh_secs,
        60
    );
}

#[test]
fn directive_names_are_case_insensitive() {
    assert_eq!(
        stored(ECHO, &[("cache-control", "Max-Age=60, PUBLIC")]).fresh_secs,
        60
    );
    assert_eq!(
        skipped(ECHO, &[("cache-control", "Private")]),
        NoStoreReason::Private
    );
}

#[test]
fn duplicate_max_age_uses_the_first_or_none() {
    // §4.2.1: with several values for one directive, use the first or consider it stale.
    let fresh = stored(
        ECHO,
        &[
            ("cache-control", "max-age=60, max-age=6000"),
            ("etag", "\"v\""),
        ],
    )
    .fresh_secs;
    assert!(fresh == 60 || fresh == 0, "got {fresh}");
}

#[test]
fn huge_max_age_is_capped_instead_of_failing() {
    // §1.2.2: too large saturates; the edge then caps origin freshness at its own maximum.
    let m = stored(
        ECHO,
        &[("cache-control", "max-age=99999999999999999999999")],
    );
    assert_eq!(m.fresh_secs, MAX_ORIGIN_FRESH_SECS);
    assert!(matches!(
        freshness::evaluate(&m, at(MAX_ORIGIN_FRESH_SECS - 1)),
        Freshness::Fresh { ttl_secs: 1 }
    ));
    assert!(matches!(
        freshness::evaluate(&m, at(MAX_ORIGIN_FRESH_SECS + 1)),
        Freshness::Stale { .. }
    ));
}

#[test]
fn empty_and_comma_only_cache_control_is_no_cache_control() {
    for cc in ["", ",,,", " , ,", "="] {
        // Origin mode: no explicit freshness, no Last-Modified → no heuristic → not fresh.
        assert_eq!(
            skipped(ECHO, &[("cache-control", cc)]),
            NoStoreReason::NotFresh,
            "{cc:?}"
        );
        // Override mode: the rule's TTL.
        assert_eq!(
            stored(CATEGORIES, &[("cache-control", cc)]).fresh_secs,
            6 * HOUR,
            "{cc:?}"
        );
    }
    assert_eq!(
        stored(ECHO, &[("cache-control", ",,max-age=30,,")]).fresh_secs,
        30
    );
}

#[test]
fn non_ascii_cache_control_degrades_to_unknown_directives() {
    // Full-width digits are not DIGIT: invalid → not fresh.
    assert_not_fresh(&[("cache-control", "max-age=６０")]);
    // An unknown (non-ASCII) directive is ignored; the known ones still apply.
    assert_eq!(
        stored(ECHO, &[("cache-control", "ñandú, max-age=60, 日本")]).fresh_secs,
        60
    );
    assert_eq!(
        skipped(ECHO, &[("cache-control", "ü=ö, no-store")]),
        NoStoreReason::NoStore
    );
    assert_eq!(
        skipped(CATEGORIES, &[("cache-control", "é, private")]),
        NoStoreReason::Private
    );
}

#[test]
fn control_characters_in_cache_control_do_not_panic() {
    for cc in [
        "\u{0}",
        "max-age=\u{7f}",
        "\t\r\n",
        "max-age=60\u{0}",
        "\\",
        "\"\\",
    ] {
        // No usable freshness anywhere: not fresh in origin mode, the rule's TTL in override.
        assert_eq!(
            skipped(ECHO, &[("cache-control", cc)]),
            NoStoreReason::NotFresh,
            "{cc:?}"
        );
        assert_eq!(
            stored(CATEGORIES, &[("cache-control", cc)]).fresh_secs,
            6 * HOUR,
            "{cc:?}"
        );
    }
}

#[test]
fn unbalanced_quotes_do_not_panic() {
    for cc in [
        "\"",
        "max-age=\"",
        "max-age=\"60",
        "max-age=60\"",
        "no-cache=\"a, b",
        "\"\"\"",
        "a=\"\\",
    ] {
        // Lenient reading: at most the 60 s the sender meant, never more.
        if let StoreDecision::Store(m) = decide(ECHO, &[("cache-control", cc)]) {
            assert!(m.fresh_secs <= 60, "{cc:?}: {}", m.fresh_secs);
            assert!(matches!(
                freshness::evaluate(&m, at(61)),
                Freshness::Stale { .. }
            ));
        }
        // No prohibition among them: override mode stores for the rule's TTL.
        assert_eq!(
            stored(CATEGORIES, &[("cache-control", cc)]).fresh_secs,
            6 * HOUR,
            "{cc:?}"
        );
    }
}

#[test]
fn a_prohibition_after_an_unbalanced_quote_still_prevents_storing() {
    // An unterminated quoted-string must not swallow a later `private` or `no-store`: treating
    // the rest of the field as one argument would store (and serve to everyone) a response the
    // origin marked private. The safe reading either honours the directive or stores nothing.
    for cc in [
        "public, x-ext=\"unterminated, private",
        "no-cache=\"set-cookie, no-store",
        "max-age=\"60, private",
    ] {
        for path in [CATEGORIES, ECHO] {
            let d = decide(path, &[("cache-control", cc), ("etag", "\"v1\"")]);
            assert!(
                matches!(d, StoreDecision::Skip(_)),
                "{path} with Cache-Control: {cc} was stored: {d:?}"
            );
        }
    }
}

// ---- Expires ---------------------------------------------------------------------------------

#[test]
fn expires_zero_means_already_expired() {
    // RFC 9111 §5.3: an invalid date, especially "0", represents a time in the past.
    assert_not_fresh(&[("expires", "0")]);
}

#[test]
fn garbage_expires_means_already_expired() {
    for e in [
        "garbage",
        "-1",
        "",
        "Sun, 06 Nov 1994 08:49:37 PST",
        "tomorrow",
    ] {
        assert_not_fresh(&[("expires", e)]);
    }
}

#[test]
fn garbage_expires_turns_heuristics_off() {
    // A present (even invalid) Expires is explicit expiration: no heuristic (§4.2.2), so an old
    // Last-Modified gives no freshness; it still serves as a validator.
    let m = stored(
        ECHO,
        &[("expires", "0"), ("last-modified", &ago(100 * DAY))],
    );
    assert_eq!(m.fresh_secs, 0);
}

#[test]
fn expires_is_ignored_in_override_mode() {
    assert_eq!(stored(CATEGORIES, &[("expires", "0")]).fresh_secs, 6 * HOUR);
}

// ---- Age -------------------------------------------------------------------------------------

#[test]
fn a_non_numeric_age_is_ignored() {
    // RFC 9111 §5.1: an invalid Age is ignored.
    for age in ["abc", "-5", "", "1.5", "5s"] {
        let m = stored(ECHO, &[("cache-control", "max-age=60"), ("age", age)]);
        assert_eq!(m.initial_age_secs, 0, "{age:?}");
        assert_eq!(m.fresh_secs, 60, "{age:?}");
    }
}

#[test]
fn a_list_valued_age_uses_the_first_member() {
    // RFC 9111 §5.1: a list-valued Age uses its first member.
    let m = stored(ECHO, &[("cache-control", "max-age=60"), ("age", "5, 10")]);
    assert_eq!(m.initial_age_secs, 5);
    assert_eq!(
        freshness::evaluate(&m, NOW),
        Freshness::Fresh { ttl_secs: 55 }
    );
}

#[test]
fn an_age_too_large_to_represent_counts_as_2_pow_31() {
    // RFC 9111 §1.2.2: a delta-seconds value larger than the cache can represent MUST be taken
    // as 2^31 (or the greatest integer it can represent), not ignored: the response is old.
    assert_eq!(
        skipped(
            ECHO,
            &[
                ("cache-control", "max-age=600"),
                ("age", "99999999999999999999999")
            ]
        ),
        NoStoreReason::NotFresh
    );
}

#[test]
fn an_age_near_u64_max_never_overflows_later() {
    // A huge (but parseable) Age stored with a validator: judging the entry a second later must
    // neither panic nor wrap round to "fresh".
    let m = stored(
        ECHO,
        &[
            ("cache-control", "max-age=600"),
            ("age", "18446744073709551615"),
            ("etag", "\"v1\""),
        ],
    );
    for t in [NOW, at(1), at(DAY)] {
        assert!(
            matches!(freshness::evaluate(&m, t), Freshness::Stale { .. }),
            "{t:?}: {:?}",
            freshness::evaluate(&m, t)
        );
    }
    for t in [NOW, at(1), at(DAY)] {
        let ttl = freshness::ttl_param(&m, t);
        assert!(ttl < 0, "{t:?}: Cache-Status ttl={ttl} for a stale entry");
    }
}

// ---- Date and Last-Modified ------------------------------------------------------------------

#[test]
fn a_bad_date_is_the_time_of_receipt() {
    // RFC 9110 §6.6.1: a recipient with a clock replaces an invalid Date with the time of receipt.
    for date in ["garbage", "0", "", "Sun, 32 Nov 2023 08:49:37 GMT"] {
        let m = stored(ECHO, &[("cache-control", "max-age=60"), ("date", date)]);
        assert_eq!(m.initial_age_secs, 0, "{date:?}");
        let e = stored(ECHO, &[("expires", &from_now(90)), ("date", date)]);
        assert_eq!(e.fresh_secs, 90, "Expires counts from receipt: {date:?}");
    }
}

#[test]
fn a_bad_last_modified_gives_no_heuristic_freshness() {
    for lm in ["garbage", "0", "Sun, 06 Nov 1994 25:49:37 GMT"] {
        let m = stored(ECHO, &[("last-modified", lm), ("etag", "\"v1\"")]);
        assert_eq!(m.fresh_secs, 0, "{lm:?}");
    }
}

#[test]
fn a_bad_last_modified_is_not_a_validator() {
    // RFC 9110 §13.1.3: an If-Modified-Since that is not a valid HTTP-date is ignored, so a
    // garbage Last-Modified can never revalidate: without freshness, storing it is useless.
    for lm in ["garbage", "0"] {
        assert_eq!(
            skipped(ECHO, &[("last-modified", lm)]),
            NoStoreReason::NotFresh,
            "{lm:?}"
        );
    }
}

#[test]
fn a_last_modified_in_the_future_gives_no_heuristic_freshness() {
    let m = stored(ECHO, &[("last-modified", &from_now(DAY))]);
    assert_eq!(m.fresh_secs, 0);
}

// ---- pseudo-random garbage -------------------------------------------------------------------

/// A tiny deterministic LCG (Knuth's MMIX constants): no dependencies, same sequence every run.
struct Lcg(u64);

impl Lcg {
    fn next(&mut self) -> u64 {
        self.0 = self
            .0
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        self.0 >> 33
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }

    fn pick<'a>(&mut self, items: &[&'a str]) -> &'a str {
        items[self.below(items.len())]
    }

    /// A garbage header value built from fragments that matter to the parsers.
    fn value(&mut self) -> String {
        const FRAGMENTS: &[&str] = &[
            "max-age",
            "s-maxage",
            "no-store",
            "no-cache",
            "private",
            "public",
            "must-revalidate",
            "stale-while-revalidate",
            "stale-if-error",
            "=",
            "==",
            ",",
            ";",
            "\"",
            "\\",
            " ",
            "\t",
            "-",
            "0",
            "1",
            "60",
            "-5",
            "abc",
            "99999999999999999999",
            "4294967296",
            "1.5",
            "GMT",
            "Sun,",
            "06",
            "Nov",
            "1994",
            "08:49:37",
            "Sunday,",
            "06-Nov-94",
            "ñ",
            "日本",
            "\u{0}",
            "\u{7f}",
            "*",
            "W/",
            "\"v1\"",
            "Thu, 01 Jan 1970",
            "Fri, 31 Dec 9999 23:59:59 GMT",
        ];
        let n = self.below(8);
        let mut s = String::new();
        for _ in 0..n {
            s.push_str(self.pick(FRAGMENTS));
        }
        s
    }
}

#[test]
fn pseudo_random_garbage_headers_never_panic_and_never_store_what_is_forbidden() {
    const NAMES: &[&str] = &[
        "cache-control",
        "expires",
        "age",
        "date",
        "last-modified",
        "etag",
        "vary",
        "pragma",
        "content-type",
        "set-cookie",
        "cdn-cache-control",
    ];
    let mut rng = Lcg(0x5eed);
    let mut decided = 0;
    let mut stored_count = 0;
    let mut refused_for_set_cookie = 0;
    for _ in 0..600 {
        let headers: Vec<(String, String)> = (0..1 + rng.below(5))
            .map(|_| (rng.pick(NAMES).to_string(), rng.value()))
            .collect();
        let status = [200, 203, 204, 301, 302, 404, 410, 500][rng.below(8)];
        for path in [ECHO, CATEGORIES] {
            decided += 1;
            let meta = match decide_with(path, status, &headers) {
                StoreDecision::Store(meta) => meta,
                StoreDecision::Skip(NoStoreReason::SetCookie) => {
                    refused_for_set_cookie += 1;
                    continue;
                }
                StoreDecision::Skip(_) => continue,
            };
            stored_count += 1;
            assert!(
                meta.retention_secs(true) <= MAX_ENTRY_LIFETIME_SECS,
                "kept longer than purge bans last: {headers:?} {meta:?}"
            );
            let (cc, _) = CacheControl::for_edge(&headers, None);
            assert!(
                !cc.has("no-store") && !cc.has("private"),
                "stored despite a prohibition: {headers:?}"
            );
            assert!(!headers::has(&headers, "set-cookie"));

            let mut was_stale = false;
            for t in [NOW, at(1), at(60), at(DAY), at(400 * DAY)] {
                match freshness::evaluate(&meta, t) {
                    Freshness::Fresh { ttl_secs } => {
                        assert!(!was_stale, "stale then fresh again: {headers:?}");
                        assert!(ttl_secs <= meta.fresh_secs, "{headers:?}");
                    }
                    Freshness::Stale { .. } => was_stale = true,
                }
                let _ = freshness::ttl_param(&meta, t);
                let kept = entry::storage_headers(&headers, &meta);
                assert_eq!(entry::stored_meta(&kept).as_ref(), Some(&meta));
                let _ = entry::served_headers(&kept, &meta, t);
            }
            let _ = freshness::conditional_headers(&headers);
            let _ = freshness::client_not_modified(&headers, &headers);
            let _ = freshness::merge_not_modified(&headers, &headers);
        }
    }
    assert_eq!(decided, 1200);
    assert!(
        stored_count > 0,
        "the generator never produced a storable response"
    );
    assert!(
        refused_for_set_cookie > 0,
        "the generator never produced a Set-Cookie response, so the check above proved nothing"
    );
}
