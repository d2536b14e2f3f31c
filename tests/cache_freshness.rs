//! Pins how a stored entry is judged as time moves on (`freshness::evaluate`, RFC 9111 §4.2,
//! RFC 5861), the revalidation helpers, and the stored/served header round trip with `Age`.

use catalog_edge::cache::entry::{self, META_HEADER};
use catalog_edge::cache::freshness::{
    client_not_modified, conditional_headers, current_age_secs, evaluate, merge_not_modified,
    ttl_param, Freshness,
};
use catalog_edge::cache::http_date;
use catalog_edge::cache::policy::{
    decide_store, EntryMeta, StoreDecision, StoreInput, DEFAULT_MAX_BODY_BYTES,
};
use catalog_edge::cache::rules::RuleSet;
use catalog_edge::headers;
use catalog_edge::time::UnixMillis;

const NOW: UnixMillis = UnixMillis(1_700_000_000_000);
const TTL: u64 = 300;
const SWR: u64 = 60;
const SIE: u64 = 600;

use catalog_edge::headers::owned as h;

/// `secs` seconds after `NOW`.
fn at(secs: u64) -> UnixMillis {
    NOW.plus_millis(secs * 1000)
}

/// An entry stored at `NOW`, fresh for `TTL` seconds, with the given stale windows.
fn entry_with(swr_secs: u64, sie_secs: u64) -> EntryMeta {
    EntryMeta {
        v: catalog_edge::cache::meta::META_VERSION,
        stored_at_ms: NOW.0,
        fresh_secs: TTL,
        initial_age_secs: 0,
        swr_secs,
        sie_secs,
        must_revalidate: false,
        auth_ok: false,
        status: 200,
        body_bytes: Some(10),
        rule: "test".into(),
        tags: vec![],
        purge_path: "/x".into(),
        vary: Vec::new(),
        withheld: Vec::new(),
    }
}

fn entry() -> EntryMeta {
    entry_with(SWR, SIE)
}

fn stale(stale_secs: u64, swr: bool, sie: bool) -> Freshness {
    Freshness::Stale {
        stale_secs,
        serve_while_revalidating: swr,
        serve_if_error: sie,
    }
}

/// The meta the store decision gives a 200 for `path` arriving at `NOW`.
fn stored(path: &str, headers: &[(String, String)]) -> EntryMeta {
    let rules = RuleSet::marketplace_defaults();
    match decide_store(StoreInput {
        rule: rules.rule_for(path),
        method: &http::Method::GET,
        request_authorized: false,
        request_no_store: false,
        edge_field: None,
        status: http::StatusCode::OK,
        response_headers: headers,
        body_len: Some(2),
        max_body_bytes: DEFAULT_MAX_BODY_BYTES,
        now: NOW,
        purge_path: path,
        language_in_key: false,
    }) {
        StoreDecision::Store(m) => m,
        StoreDecision::Skip(r) => panic!("expected stored, skipped: {}", r.as_str()),
    }
}

// ---- fresh, then stale -----------------------------------------------------------------------

#[test]
fn fresh_at_now_with_the_whole_lifetime_left() {
    assert_eq!(evaluate(&entry(), NOW), Freshness::Fresh { ttl_secs: TTL });
}

#[test]
fn fresh_one_second_before_the_lifetime_ends() {
    assert_eq!(
        evaluate(&entry(), at(TTL - 1)),
        Freshness::Fresh { ttl_secs: 1 }
    );
    // Part of a second of residence does not count as a second.
    assert_eq!(
        evaluate(&entry(), at(TTL - 1).plus_millis(999)),
        Freshness::Fresh { ttl_secs: 1 }
    );
}

#[test]
fn stale_once_the_age_reaches_the_lifetime() {
    // RFC 9111 §4.2: fresh only while freshness_lifetime > current_age.
    assert_eq!(evaluate(&entry(), at(TTL)), stale(0, true, true));
}

#[test]
fn stale_one_second_after_the_lifetime() {
    assert_eq!(evaluate(&entry(), at(TTL + 1)), stale(1, true, true));
}

#[test]
fn stale_while_revalidate_serves_within_its_window_only() {
    let e = entry_with(SWR, 0);
    assert_eq!(evaluate(&e, at(TTL + SWR - 1)), stale(SWR - 1, true, false));
    assert_eq!(
        evaluate(&e, at(TTL + SWR + 1)),
        stale(SWR + 1, false, false)
    );
}

#[test]
fn stale_if_error_serves_within_its_window_only() {
    let e = entry_with(0, SIE);
    assert_eq!(evaluate(&e, at(TTL + 1)), stale(1, false, true));
    assert_eq!(evaluate(&e, at(TTL + SIE - 1)), stale(SIE - 1, false, true));
    assert_eq!(
        evaluate(&e, at(TTL + SIE + 1)),
        stale(SIE + 1, false, false)
    );
}

#[test]
fn the_two_stale_windows_are_independent() {
    // Past stale-while-revalidate but within stale-if-error: only an origin failure may use it.
    assert_eq!(
        evaluate(&entry(), at(TTL + 2 * SWR)),
        stale(2 * SWR, false, true)
    );
}

#[test]
fn without_stale_windows_an_expired_entry_is_never_served_stale() {
    assert_eq!(evaluate(&entry_with(0, 0), at(TTL)), stale(0, false, false));
}

#[test]
fn must_revalidate_disables_both_stale_windows() {
    let e = EntryMeta {
        must_revalidate: true,
        ..entry()
    };
    assert_eq!(evaluate(&e, at(TTL - 1)), Freshness::Fresh { ttl_secs: 1 });
    assert_eq!(evaluate(&e, at(TTL + 1)), stale(1, false, false));
    assert_eq!(
        evaluate(&e, at(TTL + SWR - 1)),
        stale(SWR - 1, false, false)
    );
}

#[test]
fn a_clock_stepping_back_does_not_age_or_break_an_entry() {
    let back = UnixMillis(NOW.0 - 10_000);
    assert_eq!(current_age_secs(&entry(), back), 0);
    assert_eq!(evaluate(&entry(), back), Freshness::Fresh { ttl_secs: TTL });
}

// ---- initial age -----------------------------------------------------------------------------

#[test]
fn initial_age_shortens_freshness() {
    let e = EntryMeta {
        initial_age_secs: 100,
        ..entry()
    };
    assert_eq!(current_age_secs(&e, NOW), 100);
    assert_eq!(current_age_secs(&e, at(50)), 150);
    assert_eq!(
        evaluate(&e, NOW),
        Freshness::Fresh {
            ttl_secs: TTL - 100
        }
    );
    assert_eq!(
        evaluate(&e, at(TTL - 101)),
        Freshness::Fresh { ttl_secs: 1 }
    );
    assert_eq!(evaluate(&e, at(TTL - 100)), stale(0, true, true));
}

#[test]
fn the_origins_age_header_shortens_freshness() {
    let m = stored(
        "/echo/x",
        &h(&[("cache-control", "max-age=300"), ("age", "100")]),
    );
    assert_eq!(evaluate(&m, NOW), Freshness::Fresh { ttl_secs: 200 });
    assert_eq!(evaluate(&m, at(199)), Freshness::Fresh { ttl_secs: 1 });
    assert!(matches!(
        evaluate(&m, at(201)),
        Freshness::Stale { stale_secs: 1, .. }
    ));
}

#[test]
fn the_origins_date_shortens_freshness() {
    let date = http_date::format(NOW.as_secs() - 120);
    let m = stored(
        "/echo/x",
        &h(&[("cache-control", "max-age=300"), ("date", &date)]),
    );
    assert_eq!(evaluate(&m, NOW), Freshness::Fresh { ttl_secs: 180 });
    assert!(matches!(evaluate(&m, at(181)), Freshness::Stale { .. }));
}

#[test]
fn an_entry_stored_already_old_is_stale_at_once() {
    let m = stored(
        "/echo/x",
        &h(&[
            ("cache-control", "max-age=60"),
            ("age", "90"),
            ("etag", "\"v1\""),
        ]),
    );
    assert_eq!(evaluate(&m, NOW), stale(30, false, false));
}

// ---- ttl_param -------------------------------------------------------------------------------

#[test]
fn ttl_param_counts_down_and_goes_negative_when_stale() {
    let e = entry();
    assert_eq!(ttl_param(&e, NOW), TTL as i64);
    assert_eq!(ttl_param(&e, at(TTL - 1)), 1);
    assert_eq!(ttl_param(&e, at(TTL)), 0);
    assert_eq!(ttl_param(&e, at(TTL + 5)), -5);
    let aged = EntryMeta {
        initial_age_secs: 400,
        ..entry()
    };
    assert_eq!(ttl_param(&aged, NOW), -100);
}

// ---- revalidation ----------------------------------------------------------------------------

#[test]
fn conditional_headers_carry_both_validators() {
    let stored = h(&[
        ("content-type", "application/json"),
        ("etag", "W/\"v1\""),
        ("last-modified", "Sun, 06 Nov 1994 08:49:37 GMT"),
    ]);
    let cond = conditional_headers(&stored);
    assert_eq!(headers::get(&cond, "if-none-match"), Some("W/\"v1\""));
    assert_eq!(
        headers::get(&cond, "if-modified-since"),
        Some("Sun, 06 Nov 1994 08:49:37 GMT")
    );
    assert_eq!(cond.len(), 2);
}

#[test]
fn conditional_headers_carry_only_the_validators_there_are() {
    assert_eq!(
        conditional_headers(&h(&[("etag", "\"a\"")])),
        h(&[("if-none-match", "\"a\"")])
    );
    assert_eq!(
        conditional_headers(&h(&[("last-modified", "Sun, 06 Nov 1994 08:49:37 GMT")])),
        h(&[("if-modified-since", "Sun, 06 Nov 1994 08:49:37 GMT")])
    );
    assert!(conditional_headers(&h(&[("content-type", "text/plain")])).is_empty());
}

#[test]
fn a_304_replaces_every_stored_value_of_the_fields_it_carries() {
    let stored = h(&[
        ("content-type", "application/json"),
        ("link", "<a>"),
        ("link", "<b>"),
        ("cache-control", "max-age=60"),
        ("x-kept", "1"),
    ]);
    let not_modified = h(&[("link", "<c>"), ("cache-control", "max-age=120")]);
    let merged = merge_not_modified(&stored, &not_modified);
    let links: Vec<&str> = merged
        .iter()
        .filter(|(n, _)| n == "link")
        .map(|(_, v)| v.as_str())
        .collect();
    assert_eq!(links, vec!["<c>"]);
    assert_eq!(headers::get(&merged, "cache-control"), Some("max-age=120"));
    assert_eq!(headers::get(&merged, "x-kept"), Some("1"));
}

#[test]
fn a_304_never_changes_the_stored_body_framing() {
    let stored = h(&[
        ("content-type", "application/json"),
        ("content-encoding", "gzip"),
        ("content-length", "123"),
        ("etag", "\"v1\""),
    ]);
    let not_modified = h(&[
        ("content-type", "text/html"),
        ("content-encoding", "br"),
        ("content-length", "0"),
        ("transfer-encoding", "chunked"),
        ("content-range", "bytes 0-0/1"),
        ("etag", "\"v1\""),
    ]);
    let merged = merge_not_modified(&stored, &not_modified);
    assert_eq!(
        headers::get(&merged, "content-type"),
        Some("application/json")
    );
    assert_eq!(headers::get(&merged, "content-encoding"), Some("gzip"));
    assert_eq!(headers::get(&merged, "content-length"), Some("123"));
    assert!(!headers::has(&merged, "transfer-encoding"));
    assert!(!headers::has(&merged, "content-range"));
    assert_eq!(merged.iter().filter(|(n, _)| n == "etag").count(), 1);
}

#[test]
fn if_none_match_takes_precedence_over_if_modified_since() {
    // RFC 9110 §13.1.3: If-Modified-Since is ignored when If-None-Match is present.
    let stored = h(&[
        ("etag", "\"v2\""),
        ("last-modified", "Sun, 06 Nov 1994 08:49:37 GMT"),
    ]);
    let request = h(&[
        ("if-none-match", "\"v1\""),
        ("if-modified-since", "Sun, 06 Nov 1994 08:49:37 GMT"),
    ]);
    assert!(!client_not_modified(&request, &stored));

    let no_etag = h(&[("last-modified", "Sun, 06 Nov 1994 08:49:37 GMT")]);
    assert!(
        !client_not_modified(&request, &no_etag),
        "If-None-Match without a stored ETag never matches"
    );
}

#[test]
fn if_none_match_uses_the_weak_comparison_both_ways() {
    let strong = h(&[("etag", "\"v1\"")]);
    let weak = h(&[("etag", "W/\"v1\"")]);
    assert!(client_not_modified(
        &h(&[("if-none-match", "W/\"v1\"")]),
        &strong
    ));
    assert!(client_not_modified(
        &h(&[("if-none-match", "\"v1\"")]),
        &weak
    ));
    assert!(client_not_modified(
        &h(&[("if-none-match", "\"a\",W/\"v1\" , \"b\"")]),
        &strong
    ));
    assert!(!client_not_modified(
        &h(&[("if-none-match", "\"v10\"")]),
        &strong
    ));
}

#[test]
fn if_modified_since_needs_a_stored_last_modified_no_later() {
    let lm = "Sun, 06 Nov 1994 08:49:37 GMT";
    let stored = h(&[("last-modified", lm)]);
    assert!(client_not_modified(
        &h(&[("if-modified-since", "Mon, 07 Nov 1994 08:49:37 GMT")]),
        &stored
    ));
    assert!(!client_not_modified(
        &h(&[("if-modified-since", lm)]),
        &h(&[("etag", "\"v1\"")])
    ));
    assert!(!client_not_modified(
        &h(&[("if-modified-since", lm)]),
        &h(&[("last-modified", "garbage")])
    ));
}

// ---- stored and served headers ---------------------------------------------------------------

#[test]
fn served_age_grows_with_time_in_origin_mode() {
    let origin = h(&[
        ("content-type", "application/json"),
        ("cache-control", "max-age=600"),
        ("etag", "\"v1\""),
        ("age", "20"),
        ("x-cache", "HIT"),
        ("server-timing", "db;dur=3"),
    ]);
    let meta = stored("/echo/x", &origin);
    let kept = entry::storage_headers(&origin, &meta);
    // Remaining freshness (600 - 20), no stale windows, an hour kept for revalidation.
    assert_eq!(
        headers::get(&kept, "cache-control"),
        Some("public, max-age=4180")
    );
    assert_eq!(entry::stored_meta(&kept), Some(meta.clone()));
    for n in ["age", "x-cache", "server-timing"] {
        assert!(!headers::has(&kept, n), "{n} is not stored");
    }

    for (t, age) in [
        (NOW, "20"),
        (at(1), "21"),
        (at(100), "120"),
        (at(3600), "3620"),
    ] {
        let served = entry::served_headers(&kept, &meta, t);
        assert_eq!(headers::get(&served, "age"), Some(age), "{t:?}");
        assert_eq!(served.iter().filter(|(n, _)| n == "age").count(), 1);
        assert_eq!(headers::get(&served, "cache-control"), Some("max-age=600"));
        assert_eq!(headers::get(&served, "etag"), Some("\"v1\""));
        assert!(!headers::has(&served, META_HEADER));
    }
}

#[test]
fn served_age_grows_with_time_in_override_mode() {
    let origin = h(&[
        ("content-type", "application/json"),
        ("vary", "Accept-Encoding"),
    ]);
    let meta = stored("/api/v1/marketplace/categories", &origin);
    let kept = entry::storage_headers(&origin, &meta);
    // 6 h fresh + the longer window (24 h stale-if-error), no validators.
    assert_eq!(
        headers::get(&kept, "cache-control"),
        Some("public, max-age=108000")
    );
    assert!(
        !headers::has(&kept, "vary"),
        "the Cache API copy does not vary"
    );

    let ages: Vec<String> = [NOW, at(59), at(6 * 3600), at(6 * 3600 + 1)]
        .iter()
        .map(|t| {
            let served = entry::served_headers(&kept, &meta, *t);
            assert_eq!(headers::get(&served, "vary"), Some("Accept-Encoding"));
            assert_eq!(headers::get(&served, "cache-control"), None);
            headers::get(&served, "age").unwrap().to_string()
        })
        .collect();
    assert_eq!(ages, vec!["0", "59", "21600", "21601"]);
    assert!(matches!(
        evaluate(&meta, at(6 * 3600 + 1)),
        Freshness::Stale { .. }
    ));
}

#[test]
fn a_served_copy_served_again_does_not_accumulate_headers() {
    let origin = h(&[
        ("content-type", "text/plain"),
        ("cache-control", "max-age=60"),
    ]);
    let meta = stored("/echo/x", &origin);
    let kept = entry::storage_headers(&origin, &meta);
    let first = entry::served_headers(&kept, &meta, at(5));
    // Storing what was served (a refresh) and serving it again keeps one of each.
    let again = entry::served_headers(&entry::storage_headers(&first, &meta), &meta, at(10));
    assert_eq!(
        again.iter().filter(|(n, _)| n == "cache-control").count(),
        1
    );
    assert_eq!(again.iter().filter(|(n, _)| n == "age").count(), 1);
    assert_eq!(headers::get(&again, "age"), Some("10"));
}
