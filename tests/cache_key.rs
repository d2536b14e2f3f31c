//! Pins cache-key normalisation (`key::build`): what splits entries and what must not, the
//! language the origin would choose, variant and generation, `Vary`, and purge paths.

use catalog_edge::cache::key::{
    build, purge_path, vary_key, vary_spec, CacheKey, KeyScope, TrackingParams, VarySpec,
};
use catalog_edge::cache::rules::RuleSet;
use catalog_edge::lang::Lang;
use catalog_edge::web_url::Url;

/// Keyed on language (`override`).
const CATS: &str = "https://edge.rs/api/v1/marketplace/categories";
/// Not keyed on language (`override`).
const RANGES: &str = "https://edge.rs/api/v2/marketplace/categories/7/attribute-ranges";
/// The fallback rule (`origin`), not keyed on language.
const ECHO: &str = "https://edge.rs/echo/x";

use catalog_edge::headers::owned as h;

fn key_in(
    url: &str,
    headers: &[(&str, &str)],
    release: &str,
    generation: u64,
    tracking: &TrackingParams,
) -> CacheKey {
    let rules = RuleSet::marketplace_defaults();
    let url = Url::parse(url).unwrap();
    build(
        &url,
        &h(headers),
        rules.rule_for(url.path()),
        KeyScope {
            release,
            generation,
            tracking,
        },
    )
}

/// The release labels of the two origins in these tests.
const STABLE: &str = "https://api.example.rs/";
const CANARY: &str = "2026.12-canary";

/// The stable, generation-1 key with the default tracking parameters.
fn key(url: &str, headers: &[(&str, &str)]) -> CacheKey {
    key_in(url, headers, STABLE, 1, &TrackingParams::default())
}

// ---- the query -------------------------------------------------------------------------------

#[test]
fn parameter_order_does_not_split_entries() {
    let a = key(&format!("{ECHO}?c=3&a=1&b=2"), &[]);
    let b = key(&format!("{ECHO}?b=2&c=3&a=1"), &[]);
    assert_eq!(a, b);
    assert_eq!(
        a.primary,
        "https://edge.rs/__ce/rb5954c1c73577ce4/g1/-/echo/x?a=1&b=2&c=3"
    );
}

#[test]
fn repeated_parameters_keep_their_relative_order() {
    // Origins read the first (or last) value of a repeated parameter, so `page=2&page=1` and
    // `page=1&page=2` are different requests: sharing an entry serves one the other's response.
    let a = key(
        "https://edge.rs/api/v1/marketplace/search?page=2&page=1",
        &[],
    );
    let b = key(
        "https://edge.rs/api/v1/marketplace/search?page=1&page=2",
        &[],
    );
    assert_ne!(a.primary, b.primary);
    // Different names still sort: only the order among equal names is kept.
    assert_eq!(
        key(&format!("{ECHO}?b=1&a=2&a=1"), &[]).primary,
        key(&format!("{ECHO}?a=2&b=1&a=1"), &[]).primary
    );
}

#[test]
fn tracking_parameters_are_dropped_whatever_their_case() {
    let plain = key(&format!("{ECHO}?id=5"), &[]);
    for tracking in [
        "utm_source=x",
        "utm_medium=y&utm_campaign=z",
        "UTM_Content=q",
        "fbclid=1",
        "gclid=2",
        "GCLID=3",
        "msclkid=4&_ga=5&_gl=6",
    ] {
        assert_eq!(
            key(&format!("{ECHO}?{tracking}&id=5"), &[]),
            plain,
            "{tracking}"
        );
    }
    let only_tracking = key(&format!("{ECHO}?utm_source=x&fbclid=y&gclid=z"), &[]);
    assert_eq!(
        only_tracking.primary,
        "https://edge.rs/__ce/rb5954c1c73577ce4/g1/-/echo/x"
    );
    assert_eq!(only_tracking.purge_path, "/echo/x");
}

#[test]
fn parameters_that_only_resemble_tracking_ones_are_kept() {
    let plain = key(ECHO, &[]);
    for q in ["utm=1", "xfbclid=1", "gclid_x=1", "my_utm_source=1"] {
        assert_ne!(key(&format!("{ECHO}?{q}"), &[]), plain, "{q}");
    }
}

#[test]
fn configured_tracking_parameters_replace_the_defaults() {
    let t = TrackingParams::parse(" ref , SRC_* ,");
    assert!(t.matches("ref"));
    assert!(t.matches("src_campaign"));
    assert!(!t.matches("utm_source"));
    let k = |q: &str| key_in(&format!("{ECHO}?{q}"), &[], STABLE, 1, &t).primary;
    assert_eq!(k("a=1&ref=x&src_x=2"), k("a=1"));
    assert_ne!(k("a=1&utm_source=x"), k("a=1"));
}

#[test]
fn equivalent_encodings_share_an_entry() {
    for (a, b) in [
        ("q=a%20b", "q=a+b"),
        ("q=%7E", "q=~"),
        ("q=a%2Cb", "q=a,b"),
        ("%61=1", "a=1"),
        ("q=%C5%A1", "q=š"),
    ] {
        assert_eq!(
            key(&format!("{ECHO}?{a}"), &[]).primary,
            key(&format!("{ECHO}?{b}"), &[]).primary,
            "{a} vs {b}"
        );
    }
}

#[test]
fn encoded_delimiters_stay_distinct_from_real_ones() {
    let encoded = key(&format!("{ECHO}?q=a%26b%3D1"), &[]);
    let split = key(&format!("{ECHO}?q=a&b=1"), &[]);
    assert_ne!(encoded.primary, split.primary);
    assert_ne!(encoded.purge_path, split.purge_path);
}

// ---- language --------------------------------------------------------------------------------

#[test]
fn every_way_of_asking_for_english_shares_one_entry() {
    let ways = [
        key(CATS, &[("accept-language", "en-US,en;q=0.9")]),
        key(&format!("{CATS}?lang=en"), &[]),
        key(&format!("{CATS}?locale=en"), &[]),
        key(CATS, &[("cookie", "locale=en")]),
        key(&format!("{CATS}?lang=EN"), &[("accept-language", "ru")]),
    ];
    for k in &ways {
        assert_eq!(k, &ways[0]);
    }
    assert_eq!(ways[0].lang, Some(Lang::En));
    assert_eq!(
        ways[0].primary,
        "https://edge.rs/__ce/rb5954c1c73577ce4/g1/en/api/v1/marketplace/categories"
    );
    assert_eq!(ways[0].purge_path, "/api/v1/marketplace/categories");
}

#[test]
fn different_languages_get_different_entries() {
    let ru = key(&format!("{CATS}?lang=ru"), &[]);
    let sr = key(CATS, &[("accept-language", "sr")]);
    let en = key(CATS, &[("accept-language", "en")]);
    assert_ne!(ru.primary, sr.primary);
    assert_ne!(ru.primary, en.primary);
    assert_ne!(sr.primary, en.primary);
    assert_eq!(ru.lang, Some(Lang::Ru));
    assert_eq!(sr.lang, Some(Lang::Sr));
    // One URL purges every language.
    assert_eq!(ru.purge_path, sr.purge_path);
}

#[test]
fn unsupported_language_values_fall_through_to_the_next_source() {
    let default = key(CATS, &[]);
    assert_eq!(default.lang, Some(Lang::Sr));
    for (q, headers) in [
        ("lang=de", vec![]),
        ("lang=en-US", vec![]),
        ("locale=fr", vec![("accept-language", "*")]),
        ("", vec![("accept-language", "de-DE,en;q=0.9")]),
        ("", vec![("cookie", "locale=xx")]),
    ] {
        let k = key(&format!("{CATS}?{q}"), &headers);
        assert_eq!(k, default, "{q} {headers:?}");
    }
    let ru = key(&format!("{CATS}?lang=de"), &[("cookie", "locale=ru")]);
    assert_eq!(ru.lang, Some(Lang::Ru));
}

#[test]
fn language_parameters_leave_the_query_only_on_language_keyed_routes() {
    let cats = key(&format!("{CATS}?b=1&lang=en&locale=ru&a=2"), &[]);
    assert_eq!(
        cats.primary,
        "https://edge.rs/__ce/rb5954c1c73577ce4/g1/en/api/v1/marketplace/categories?a=2&b=1"
    );
    let ranges = key(&format!("{RANGES}?lang=en"), &[("accept-language", "ru")]);
    assert_eq!(ranges.lang, None);
    assert_eq!(
        ranges.primary,
        "https://edge.rs/__ce/rb5954c1c73577ce4/g1/-/api/v2/marketplace/categories/7/attribute-ranges?lang=en"
    );
    assert_ne!(ranges.primary, key(RANGES, &[]).primary);
    assert_eq!(
        key(RANGES, &[("accept-language", "ru")]).primary,
        key(RANGES, &[("accept-language", "en")]).primary,
        "Accept-Language is not keyed here (Vary would handle it)"
    );
}

// ---- release, generation, host ---------------------------------------------------------------

#[test]
fn release_and_generation_are_path_segments_of_the_key() {
    let t = TrackingParams::default();
    let canary = key_in(&format!("{CATS}?lang=en"), &[], CANARY, 7, &t);
    assert_eq!(
        canary.primary,
        format!(
            "https://edge.rs/__ce/r{:016x}/g7/en/api/v1/marketplace/categories",
            catalog_edge::hash::fnv1a64(&[CANARY.as_bytes()])
        )
    );
    let stable = key_in(&format!("{CATS}?lang=en"), &[], STABLE, 7, &t);
    let next = key_in(&format!("{CATS}?lang=en"), &[], STABLE, 8, &t);
    assert_ne!(canary.primary, stable.primary);
    assert_ne!(stable.primary, next.primary);
    assert_eq!(
        canary.purge_path, next.purge_path,
        "purges cover every release"
    );
}

#[test]
fn scheme_host_and_port_are_in_the_key() {
    let base = key(ECHO, &[]).primary;
    for other in [
        "http://edge.rs/echo/x",
        "https://other.rs/echo/x",
        "https://edge.rs:8443/echo/x",
    ] {
        assert_ne!(key(other, &[]).primary, base, "{other}");
    }
    assert_eq!(
        key("https://edge.rs:8443/echo/x", &[]).primary,
        "https://edge.rs:8443/__ce/rb5954c1c73577ce4/g1/-/echo/x"
    );
    assert_eq!(key("https://edge.rs:443/echo/x", &[]).primary, base);
}

#[test]
fn unkeyed_request_headers_never_change_the_key() {
    let noise = [
        ("x-forwarded-host", "evil.example"),
        ("x-original-url", "/api/v1/admin/purge"),
        ("x-rewrite-url", "/x"),
        ("x-forwarded-proto", "http"),
        ("x-forwarded-scheme", "http"),
        ("x-host", "evil.example"),
        ("forwarded", "host=evil.example;proto=http"),
        ("x-http-method-override", "POST"),
        ("user-agent", "curl/8"),
        ("cf-connecting-ip", "203.0.113.1"),
        ("cookie", "session=abc"),
    ];
    for url in [
        CATS.to_string(),
        format!("{CATS}?lang=ru&a=1"),
        RANGES.to_string(),
        format!("{ECHO}?q=1"),
    ] {
        assert_eq!(key(&url, &noise), key(&url, &[]), "{url}");
    }
}

// ---- Vary ------------------------------------------------------------------------------------

#[test]
fn vary_fields_combine_case_insensitively() {
    let spec = vary_spec(
        &h(&[
            ("vary", "X-Device"),
            ("vary", "accept-encoding, x-device, X-Tier"),
        ]),
        false,
    );
    assert_eq!(
        spec,
        VarySpec::Headers(vec!["x-device".into(), "x-tier".into()])
    );
    assert_eq!(
        vary_spec(&h(&[("content-type", "a/b")]), false),
        VarySpec::None
    );
    assert_eq!(vary_spec(&h(&[("vary", "")]), false), VarySpec::None);
    assert_eq!(vary_spec(&h(&[("vary", " , ")]), false), VarySpec::None);
    assert_eq!(
        vary_spec(&h(&[("vary", "Accept-Language")]), false),
        VarySpec::Headers(vec!["accept-language".into()]),
        "not keyed by language: a second-level key"
    );
    assert_eq!(
        vary_spec(&h(&[("vary", "x-a"), ("vary", "*")]), true),
        VarySpec::Star
    );
}

#[test]
fn vary_key_separates_different_values_and_joins_equal_ones() {
    let names = vec!["x-device".to_string(), "x-tier".to_string()];
    let primary = key(&format!("{ECHO}?q=1"), &[]).primary;
    let k = |headers: &[(&str, &str)]| vary_key(&primary, 1, &names, &h(headers), Lang::Sr);

    let phone = k(&[("x-device", "phone"), ("x-tier", "gold")]);
    assert!(phone.starts_with(&format!("{primary}&")));
    assert_ne!(phone, k(&[("x-device", "desktop"), ("x-tier", "gold")]));
    assert_ne!(phone, k(&[("x-device", "phone")]));
    assert_eq!(
        phone,
        k(&[("x-tier", "gold"), ("x-device", "phone"), ("x-other", "1")]),
        "request header order and unvaried headers do not matter"
    );
    assert_eq!(
        k(&[]),
        k(&[("x-device", ""), ("x-tier", "")]),
        "missing = empty"
    );
    assert_ne!(
        k(&[("x-device", "a"), ("x-device", "b")]),
        k(&[("x-device", "a")]),
        "every line of a repeated header counts"
    );
    let bare = vary_key(
        "https://edge.rs/__ce/rb5954c1c73577ce4/g1/-/echo/x",
        1,
        &names,
        &[],
        Lang::Sr,
    );
    assert!(bare.starts_with("https://edge.rs/__ce/rb5954c1c73577ce4/g1/-/echo/x?"));
    assert_eq!(
        k(&[("x-device", " phone ,  big  screen"), ("x-tier", "gold")]),
        k(&[("x-device", "phone, big screen"), ("x-tier", "gold")]),
        "whitespace is normalised"
    );
}

#[test]
fn accept_language_spellings_share_a_second_level_entry() {
    let names = vec!["accept-language".to_string()];
    let k = |v: &str| {
        vary_key(
            "https://e/k",
            1,
            &names,
            &h(&[("accept-language", v)]),
            Lang::Sr,
        )
    };
    assert_eq!(k("en-US, sr;q=0.5"), k("SR;q=0.50,en-us"));
    assert_eq!(k("de, en"), k("en,de"));
    assert_ne!(k("en"), k("sr"));
    assert_ne!(k("en;q=0.9, sr"), k("en, sr;q=0.9"));
}

// ---- purge paths -----------------------------------------------------------------------------

#[test]
fn purge_path_matches_the_purge_path_of_build() {
    let rules = RuleSet::marketplace_defaults();
    let t = TrackingParams::default();
    let vary = |p: &str| rules.rule_for(p).vary_language;
    for url in [
        CATS.to_string(),
        format!("{CATS}?lang=en"),
        format!("{CATS}?b=2&a=1&utm_source=x&locale=ru"),
        format!("{RANGES}?lang=en&z=1"),
        format!("{ECHO}?q=a%20b&fbclid=1"),
        "https://edge.rs:8443/echo/x?a=1".to_string(),
        "https://edge.rs/api/v1/unified-attributes/category/12?x=%C5%A1".to_string(),
    ] {
        let built = key(&url, &[("accept-language", "ru")]).purge_path;
        assert_eq!(
            purge_path(&url, vary, &t).as_deref(),
            Some(built.as_str()),
            "{url}"
        );
        // A path given without scheme and host purges the same entries.
        let path_only = &url[url.find("/api").or_else(|| url.find("/echo")).unwrap()..];
        assert_eq!(
            purge_path(path_only, vary, &t).as_deref(),
            Some(built.as_str()),
            "{path_only}"
        );
    }
}

#[test]
fn purge_path_refuses_what_is_not_a_url_or_a_path() {
    let rules = RuleSet::marketplace_defaults();
    let t = TrackingParams::default();
    let vary = |p: &str| rules.rule_for(p).vary_language;
    for bad in ["", "api/v1/marketplace/categories", "not a url", "http://"] {
        assert_eq!(purge_path(bad, vary, &t), None, "{bad:?}");
    }
}
