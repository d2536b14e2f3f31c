//! Cache keys. Getting a key wrong poisons the cache: one user's response served to another.
//!
//! A key holds scheme, host and path; the query normalised (parameters sorted, tracking
//! parameters dropped); the release of the origin serving it (a tag of the release label, so a
//! canary response never reaches a stable user nor the reverse, and after a promote no entry of
//! the previous stable release is reachable); the purge generation; for rules that say so,
//! the language the origin would choose (and then `lang`/`locale` leave the query, so that
//! `?lang=en` and `Accept-Language: en-US` share an entry); and, in a second level, the request
//! headers the response `Vary`s on. Request headers no key includes (`X-Forwarded-Host`,
//! `X-Original-URL`, …) cannot change what is cached or served.
//!
//! Keys are URLs because the Workers Cache API keys by URL:
//! `https://host/__ce/r<release tag>/g<generation>/<lang or ->/<path>?<query>`.

use std::borrow::Cow;

use crate::web_url::Url;

use super::rules::RouteRule;
use crate::decimal::push_u64;
use crate::hash::{fnv1a64, push_hex64};
use crate::headers::HeaderList;
use crate::lang::{self, Lang};

/// Default tracking parameters dropped from keys (`*` at the end matches a prefix).
pub const DEFAULT_TRACKING_PARAMS: &[&str] = &[
    "utm_*", "fbclid", "gclid", "dclid", "msclkid", "yclid", "mc_cid", "mc_eid", "_ga", "_gl",
];

/// Query parameters that never reach a key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TrackingParams(Vec<String>);

impl Default for TrackingParams {
    fn default() -> Self {
        TrackingParams(
            DEFAULT_TRACKING_PARAMS
                .iter()
                .map(|s| s.to_string())
                .collect(),
        )
    }
}

impl TrackingParams {
    /// From a comma-separated list; `*` at the end of a name matches a prefix.
    pub fn parse(list: &str) -> TrackingParams {
        TrackingParams(
            list.split(',')
                .map(|s| s.trim().to_ascii_lowercase())
                .filter(|s| !s.is_empty())
                .collect(),
        )
    }

    /// True when `name` is a tracking parameter.
    pub fn matches(&self, name: &str) -> bool {
        self.0.iter().any(|p| match p.strip_suffix('*') {
            Some(prefix) => name
                .get(..prefix.len())
                .is_some_and(|head| head.eq_ignore_ascii_case(prefix)),
            None => name.eq_ignore_ascii_case(p),
        })
    }
}

/// The key of one request under one rule.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CacheKey {
    /// The primary key URL.
    pub primary: String,
    /// Path and normalised query without language parameters: what purges match against.
    pub purge_path: String,
    /// The language in the key, for rules that vary on it.
    pub lang: Option<Lang>,
    /// The language the origin would choose for this request, whatever the rule: the value of
    /// the [`LANG_VARY`] pseudo-header when a response has `Content-Language` but the rule does
    /// not key on the language.
    pub request_lang: Lang,
}

/// Inputs of a key besides the request itself.
#[derive(Debug, Clone, Copy)]
pub struct KeyScope<'a> {
    /// The release label of the origin serving the request (see `RolloutConfig::release`).
    pub release: &'a str,
    /// The purge generation.
    pub generation: u64,
    /// Parameters to drop.
    pub tracking: &'a TrackingParams,
}

/// Decoded query pairs, in order; borrowed from the URL unless decoding changed them.
pub fn query_pairs(url: &Url) -> Vec<(Cow<'_, str>, Cow<'_, str>)> {
    url.query_pairs().collect()
}

/// Appends the normalised query to `out`, after a `?`, when any parameter is left: tracking
/// parameters dropped, `lang`/`locale` dropped when `drop_lang`, pairs sorted, re-encoded
/// canonically. Sorts `pairs` in place (the caller's copy, no other allocation).
fn push_normalized_query(
    out: &mut String,
    pairs: &mut Vec<(Cow<'_, str>, Cow<'_, str>)>,
    tracking: &TrackingParams,
    drop_lang: bool,
) {
    pairs.retain(|(k, _)| !tracking.matches(k) && !(drop_lang && (k == "lang" || k == "locale")));
    if pairs.is_empty() {
        return;
    }
    // Stable sort by name only: `b=2&a=1` and `a=1&b=2` are one entry, while repeated names keep
    // their order (`page=2&page=1` is not `page=1&page=2`: origins take the first or the last).
    sort_by_name(pairs, &mut Vec::new());
    out.push('?');
    let start = out.len();
    let mut ser = form_urlencoded::Serializer::for_suffix(out, start);
    for (k, v) in pairs.iter() {
        ser.append_pair(k, v);
    }
    ser.finish();
}

/// A query's pairs: names, values.
type Pairs<'n, 'v> = [(Cow<'n, str>, Cow<'v, str>)];

/// Sorts `pairs` by name, stably (what `sort_by` on the names does): a merge sort through
/// `scratch`, O(n log n) whatever the query. The standard library's stable sort is one more
/// instantiation of its driftsort (~5 KB of Wasm) in the edge for this one call.
fn sort_by_name<'n, 'v>(
    pairs: &mut Pairs<'n, 'v>,
    scratch: &mut Vec<(Cow<'n, str>, Cow<'v, str>)>,
) {
    let n = pairs.len();
    if n < 2 {
        return;
    }
    let (left, right) = pairs.split_at_mut(n / 2);
    sort_by_name(left, scratch);
    sort_by_name(right, scratch);
    if left[left.len() - 1].0 <= right[0].0 {
        return;
    }
    scratch.clear();
    let (mut i, mut j) = (0, 0);
    while i < left.len() && j < right.len() {
        // On equal names the left one first: stable.
        if right[j].0 < left[i].0 {
            scratch.push(std::mem::take(&mut right[j]));
            j += 1;
        } else {
            scratch.push(std::mem::take(&mut left[i]));
            i += 1;
        }
    }
    scratch.extend(left[i..].iter_mut().map(std::mem::take));
    scratch.extend(right[j..].iter_mut().map(std::mem::take));
    for (slot, pair) in pairs.iter_mut().zip(scratch.drain(..)) {
        *slot = pair;
    }
}

/// The key for a request URL and its headers under `rule`: the primary key built into one
/// pre-sized string, and the purge path copied from its tail.
pub fn build(url: &Url, headers: &HeaderList, rule: &RouteRule, scope: KeyScope<'_>) -> CacheKey {
    let mut pairs = query_pairs(url);
    let request_lang = lang::choose(&pairs, headers);
    let lang = rule.vary_language.then_some(request_lang);
    let path = url.path();
    let host = url.host_str().unwrap_or("");
    let query_len = url.query().map_or(0, str::len);
    // scheme://host:port/__ce/r<16 hex>/g<generation>/<lang>: at most 64 bytes besides the
    // scheme and host; the re-encoded query is about as long as the raw one.
    let mut primary =
        String::with_capacity(64 + url.scheme().len() + host.len() + path.len() + query_len);
    primary.push_str(url.scheme());
    primary.push_str("://");
    primary.push_str(host);
    if let Some(p) = url.port() {
        primary.push(':');
        push_u64(&mut primary, u64::from(p));
    }
    primary.push_str("/__ce/r");
    push_hex64(&mut primary, fnv1a64(&[scope.release.as_bytes()]));
    primary.push_str("/g");
    push_u64(&mut primary, scope.generation);
    primary.push('/');
    primary.push_str(lang.map_or("-", Lang::as_str));
    primary.push_str(path);
    let query_at = primary.len();
    push_normalized_query(&mut primary, &mut pairs, scope.tracking, rule.vary_language);
    let query = &primary[query_at..];
    let mut purge_path = String::with_capacity(path.len() + query.len());
    purge_path.push_str(path);
    purge_path.push_str(query);
    CacheKey {
        primary,
        purge_path,
        lang,
        request_lang,
    }
}

/// Every primary key a URL can have in one generation: each release serving traffic, and each
/// language when the rule keys on it. Used to delete a URL's entries from the local cache
/// (unsafe-method invalidation, RFC 9111 §4.4).
pub fn all_primary_keys(
    url: &Url,
    rule: &RouteRule,
    releases: &[&str],
    generation: u64,
    tracking: &TrackingParams,
) -> Vec<String> {
    let mut keys = Vec::new();
    // Language parameters in the URL would pin the language; the key drops them anyway.
    for release in releases {
        let scope = KeyScope {
            release,
            generation,
            tracking,
        };
        if rule.vary_language {
            for lang in Lang::ALL {
                let headers = [("accept-language".to_string(), lang.as_str().to_string())];
                let mut u = url.clone();
                let kept: Vec<(Cow<'_, str>, Cow<'_, str>)> = query_pairs(url)
                    .into_iter()
                    .filter(|(k, _)| k != "lang" && k != "locale")
                    .collect();
                if kept.is_empty() {
                    u.set_query(None);
                } else {
                    let mut query = form_urlencoded::Serializer::new(String::new());
                    query.extend_pairs(kept);
                    u.set_query(Some(&query.finish()));
                }
                keys.push(build(&u, &headers, rule, scope).primary);
            }
        } else {
            keys.push(build(url, &[], rule, scope).primary);
        }
    }
    keys
}

/// The purge path of a URL given by an operator (absolute or a path), as [`build`] computes it.
pub fn purge_path(
    url_or_path: &str,
    rule_for: impl Fn(&str) -> bool,
    tracking: &TrackingParams,
) -> Option<String> {
    let url = if url_or_path.starts_with('/') {
        Url::parse(&format!("http://purge.invalid{url_or_path}")).ok()?
    } else {
        Url::parse(url_or_path).ok()?
    };
    let drop_lang = rule_for(url.path());
    let mut out = url.path().to_string();
    push_normalized_query(&mut out, &mut query_pairs(&url), tracking, drop_lang);
    Some(out)
}

/// What a response's `Vary` means for storing it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum VarySpec {
    /// No `Vary` (or only on headers the edge normalises away): one entry per primary key.
    None,
    /// A second-level key on these request headers (lowercase, sorted, deduplicated).
    Headers(Vec<String>),
    /// `Vary: *`: never stored.
    Star,
}

/// The pseudo-header a second-level key holds the origin's language under, when a response says
/// `Content-Language` on a route whose key does not hold the language: the origin chose it from
/// `?lang`, `Accept-Language` or the `locale` cookie without saying `Vary`, so one entry per
/// language. `@` is not a header-name character, so no real `Vary` can name it.
pub const LANG_VARY: &str = "@lang";

/// Reads a response's `Vary`. `Accept-Encoding` is dropped: the runtime decodes origin bodies
/// and encodes for each client itself. `Accept-Language` is dropped when the key already holds
/// the language the origin chose from it; otherwise a `Content-Language` adds [`LANG_VARY`].
pub fn vary_spec(response_headers: &HeaderList, language_in_key: bool) -> VarySpec {
    let mut names: Vec<String> = Vec::new();
    if !language_in_key && crate::headers::has(response_headers, "content-language") {
        names.push(LANG_VARY.to_string());
    }
    for v in crate::headers::comma_values(response_headers, "vary") {
        if v == "*" {
            return VarySpec::Star;
        }
        let n = v.to_ascii_lowercase();
        if n == "accept-encoding" || (language_in_key && n == "accept-language") {
            continue;
        }
        // Kept sorted and distinct as they come (no sort routine of its own in the Wasm).
        if let Err(at) = names.binary_search(&n) {
            names.insert(at, n);
        }
    }
    if names.is_empty() {
        VarySpec::None
    } else {
        VarySpec::Headers(names)
    }
}

/// Marks where a second-level key's varied header values start. `~` is never left raw in a
/// normalised query (the serializer percent-encodes it), so no client URL's primary key can
/// contain the marker in its query, and no client query can imitate a second-level key.
pub const VARY_MARKER: &str = "~vary~";

/// The second-level key: the primary key, [`VARY_MARKER`], the vary index's epoch, then the
/// normalised values of the varied headers (see [`normalize_varied`]; missing and empty are the
/// same; [`LANG_VARY`] is the request's language). Values are kept readable, not hashed, so two
/// different requests can never collide onto one entry.
pub fn vary_key(
    primary: &str,
    epoch: u64,
    names: &[String],
    request_headers: &HeaderList,
    request_lang: Lang,
) -> String {
    let mut ser = form_urlencoded::Serializer::new(String::new());
    for name in names {
        if name == LANG_VARY {
            ser.append_pair(name, request_lang.as_str());
            continue;
        }
        let values: Vec<&str> = request_headers
            .iter()
            .filter(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
            .collect();
        ser.append_pair(name, &normalize_varied(name, &values));
    }
    let sep = if primary.contains('?') { '&' } else { '?' };
    format!("{primary}{sep}{VARY_MARKER}{epoch}~{}", ser.finish())
}

/// The value of a varied request header as the second-level key holds it: every field of the
/// name joined as one list, members trimmed, inner whitespace collapsed; `Accept-Language` also
/// with [`normalize_accept_language`]. Requests that differ only in such spelling share an
/// entry.
pub fn normalize_varied(name: &str, values: &[&str]) -> String {
    let joined = values.join(",");
    if name == "accept-language" {
        return normalize_accept_language(&joined);
    }
    joined
        .split(',')
        .map(|m| m.split_whitespace().collect::<Vec<_>>().join(" "))
        .filter(|m| !m.is_empty())
        .collect::<Vec<_>>()
        .join(", ")
}

/// `Accept-Language` normalised (RFC 9110 §12.5.4): tags lowercased, whitespace dropped, weights
/// read as thousandths (an invalid weight counts as 1, a weight over 1 as 1), members sorted by
/// weight, highest first, and tags of equal weight by name; a tag listed twice keeps its first
/// weight. `en-US, sr;q=0.5` and `sr;q=0.50 ,EN-us` are one value.
pub fn normalize_accept_language(value: &str) -> String {
    let mut tags: Vec<(u16, String)> = Vec::new();
    for member in value.split(',') {
        let mut parts = member.split(';');
        let tag: String = parts
            .next()
            .unwrap_or("")
            .chars()
            .filter(|c| !c.is_whitespace())
            .collect::<String>()
            .to_ascii_lowercase();
        if tag.is_empty() || tags.iter().any(|(_, t)| *t == tag) {
            continue;
        }
        let weight = parts
            .find_map(|p| {
                let (k, v) = p.split_once('=')?;
                k.trim().eq_ignore_ascii_case("q").then(|| qvalue(v.trim()))
            })
            .unwrap_or(1000);
        // Kept in order as they come (a handful of tags; no sort code in the Wasm).
        let at = tags
            .iter()
            .position(|(w, t)| *w < weight || (*w == weight && *t > tag))
            .unwrap_or(tags.len());
        tags.insert(at, (weight, tag));
    }
    tags.iter()
        .map(|(w, t)| match w {
            1000 => t.clone(),
            w => format!("{t};q={}", format!("0.{w:03}").trim_end_matches('0')),
        })
        .map(|m| {
            if m.ends_with("q=0.") {
                format!("{m}0")
            } else {
                m
            }
        })
        .collect::<Vec<_>>()
        .join(",")
}

/// A weight (RFC 9110 §12.4.2) in thousandths; anything unreadable is 1000.
fn qvalue(v: &str) -> u16 {
    let (int, frac) = v.split_once('.').unwrap_or((v, ""));
    if frac.len() > 3 || !frac.bytes().all(|b| b.is_ascii_digit()) {
        return 1000;
    }
    match int {
        "0" => {
            let digits = format!("{frac:0<3}");
            digits.parse().unwrap_or(1000)
        }
        _ => 1000,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cache::rules::RuleSet;

    #[test]
    fn query_pairs_sort_by_name_as_a_stable_sort_does() {
        // Names from a small alphabet (many repeats), values numbering the pairs, from a fixed LCG.
        let mut x: u64 = 7;
        for len in 0..200 {
            let mut pairs: Vec<(Cow<'_, str>, Cow<'_, str>)> = (0..len)
                .map(|i| {
                    x = x
                        .wrapping_mul(6_364_136_223_846_793_005)
                        .wrapping_add(1_442_695_040_888_963_407);
                    let name = ["a", "b", "page", "q", "z", "aa", ""][(x >> 33) as usize % 7];
                    (Cow::Borrowed(name), Cow::Owned(i.to_string()))
                })
                .collect();
            let mut expected = pairs.clone();
            expected.sort_by(|a, b| a.0.cmp(&b.0));
            sort_by_name(&mut pairs, &mut Vec::new());
            assert_eq!(pairs, expected, "{len} pairs");
        }
    }

    use crate::headers::owned as h;

    fn key(url: &str, headers: &[(&str, &str)]) -> CacheKey {
        let rules = RuleSet::marketplace_defaults();
        let url = Url::parse(url).unwrap();
        let tracking = TrackingParams::default();
        build(
            &url,
            &h(headers),
            rules.rule_for(url.path()),
            KeyScope {
                release: "http://s.rs/",
                generation: 3,
                tracking: &tracking,
            },
        )
    }

    const CATS: &str = "https://edge.rs/api/v1/marketplace/categories";

    #[test]
    fn query_order_and_tracking_parameters_do_not_split_entries() {
        let a = key(
            &format!("{CATS}?b=2&a=1&utm_source=x&fbclid=y&gclid=z"),
            &[],
        );
        let b = key(&format!("{CATS}?a=1&b=2"), &[]);
        assert_eq!(a, b);
        assert_eq!(
            a.primary,
            "https://edge.rs/__ce/rba8ef3d2d75631d2/g3/sr/api/v1/marketplace/categories?a=1&b=2"
        );
        assert_eq!(a.purge_path, "/api/v1/marketplace/categories?a=1&b=2");
    }

    #[test]
    fn encoding_is_canonical() {
        assert_eq!(
            key(&format!("{CATS}?q=a%20b"), &[]).primary,
            key(&format!("{CATS}?q=a+b"), &[]).primary
        );
    }

    #[test]
    fn language_sources_that_agree_share_an_entry() {
        let by_header = key(CATS, &[("accept-language", "en-US,en;q=0.9")]);
        let by_query = key(&format!("{CATS}?lang=en"), &[]);
        let by_locale = key(&format!("{CATS}?locale=EN"), &[("cookie", "locale=ru")]);
        assert_eq!(by_header, by_query);
        assert_eq!(by_header, by_locale);
        assert_eq!(by_header.lang, Some(Lang::En));
    }

    #[test]
    fn different_languages_never_share_an_entry() {
        let ru = key(&format!("{CATS}?lang=ru"), &[]);
        let sr = key(CATS, &[("accept-language", "sr")]);
        let default = key(CATS, &[]);
        assert_ne!(ru.primary, sr.primary);
        assert_eq!(sr.primary, default.primary, "sr is the default");
        let cookie_ru = key(CATS, &[("cookie", "edge_id=1; locale=ru")]);
        assert_eq!(cookie_ru.primary, ru.primary);
    }

    #[test]
    fn release_and_generation_are_in_the_key() {
        let rules = RuleSet::marketplace_defaults();
        let url = Url::parse(CATS).unwrap();
        let t = TrackingParams::default();
        let rule = rules.rule_for(url.path());
        let k = |release, generation| {
            build(
                &url,
                &[],
                rule,
                KeyScope {
                    release,
                    generation,
                    tracking: &t,
                },
            )
            .primary
        };
        assert_ne!(k("2026.11", 1), k("2026.12", 1));
        assert_ne!(k("2026.11", 1), k("2026.11", 2));
        assert_eq!(k("2026.11", 1), k("2026.11", 1));
        assert!(
            k("2026.11", 1).starts_with(&format!(
                "https://edge.rs/__ce/r{:016x}/g1/",
                fnv1a64(&[b"2026.11"])
            )),
            "{}",
            k("2026.11", 1)
        );
    }

    #[test]
    fn unkeyed_headers_do_not_change_the_key() {
        let plain = key(CATS, &[]);
        let noisy = key(
            CATS,
            &[
                ("x-forwarded-host", "evil.example"),
                ("x-original-url", "/admin"),
                ("x-forwarded-proto", "http"),
                ("x-rewrite-url", "/x"),
                ("authorization", "Bearer x"),
            ],
        );
        assert_eq!(plain, noisy);
    }

    #[test]
    fn routes_without_language_keep_lang_in_the_query() {
        let a = key(
            "https://edge.rs/echo/x?lang=en",
            &[("accept-language", "ru")],
        );
        assert_eq!(a.lang, None);
        assert_eq!(
            a.primary,
            "https://edge.rs/__ce/rba8ef3d2d75631d2/g3/-/echo/x?lang=en"
        );
    }

    #[test]
    fn vary_spec_drops_encoding_and_keyed_language() {
        let v = |s: &str, lang| vary_spec(&h(&[("vary", s)]), lang);
        assert_eq!(v("Accept-Encoding", false), VarySpec::None);
        assert_eq!(v("*", false), VarySpec::Star);
        assert_eq!(v("accept-encoding, *", false), VarySpec::Star);
        assert_eq!(
            v("X-B, Accept-Language, x-a, X-B", false),
            VarySpec::Headers(vec!["accept-language".into(), "x-a".into(), "x-b".into()])
        );
        assert_eq!(
            v("Accept-Language", true),
            VarySpec::None,
            "already keyed by language"
        );
    }

    #[test]
    fn vary_key_normalises_whitespace_and_never_collides() {
        let names = vec!["x-a".to_string()];
        let a = vary_key("https://e/k", 7, &names, &h(&[("x-a", "1  2")]), Lang::Sr);
        let b = vary_key("https://e/k", 7, &names, &h(&[("x-a", " 1 2 ")]), Lang::Sr);
        assert_eq!(a, b);
        let c = vary_key(
            "https://e/k?q=1",
            7,
            &names,
            &h(&[("x-a", "1&x-a=2")]),
            Lang::Sr,
        );
        let d = vary_key("https://e/k?q=1", 7, &names, &h(&[("x-a", "1")]), Lang::Sr);
        assert_ne!(c, d);
        assert!(c.starts_with("https://e/k?q=1&~vary~7~x-a="));
        assert_ne!(
            d,
            vary_key("https://e/k?q=1", 8, &names, &h(&[("x-a", "1")]), Lang::Sr),
            "epochs separate"
        );
    }

    #[test]
    fn accept_language_spellings_of_one_preference_share_a_value() {
        let n = normalize_accept_language;
        assert_eq!(n("en-US, sr;q=0.5"), "en-us,sr;q=0.5");
        assert_eq!(n(" sr;q=0.50 ,EN-us"), "en-us,sr;q=0.5");
        assert_eq!(n("sr, en"), n("en,sr"), "equal weights sort by tag");
        assert_eq!(n("ru;q=0.8, en;q=0.9, sr"), "sr,en;q=0.9,ru;q=0.8");
        assert_eq!(n("en;q=1.0, sr;q=0"), "en,sr;q=0.0");
        assert_eq!(n("en;q=abc"), "en", "an unreadable weight counts as 1");
        assert_eq!(n("en, en;q=0.1"), "en", "the first weight of a tag wins");
        assert_ne!(n("en;q=0.9, sr"), n("en, sr;q=0.9"));
    }

    #[test]
    fn the_language_pseudo_header_separates_languages_when_the_response_says_content_language() {
        let origin = h(&[("content-language", "ru")]);
        assert_eq!(
            vary_spec(&origin, false),
            VarySpec::Headers(vec![LANG_VARY.into()])
        );
        assert_eq!(vary_spec(&origin, true), VarySpec::None);
        let names = vec![LANG_VARY.to_string()];
        let ru = vary_key("https://e/k", 1, &names, &[], Lang::Ru);
        let sr = vary_key("https://e/k", 1, &names, &[], Lang::Sr);
        assert_ne!(ru, sr);
        assert_eq!(
            key("https://e.rs/x", &[("cookie", "a=1, locale=ru")]).request_lang,
            Lang::Ru
        );
    }

    #[test]
    fn a_client_query_cannot_imitate_a_second_level_key() {
        // `/k` varies on X-A and X-B; a client asks for `/k` with a query that spells the first
        // varied value, and an X-B header, hoping to land on another client's entry.
        let names = vec!["x-a".to_string(), "x-b".to_string()];
        let victim = key("https://e.rs/echo/k", &[]);
        let victim_key = vary_key(
            &victim.primary,
            0,
            &names,
            &h(&[("x-a", "1"), ("x-b", "2")]),
            Lang::Sr,
        );
        for query in ["~vary~x-a=1", "%7Evary%7Ex-a=1", "__vary.x-a=1"] {
            let attacker = key(&format!("https://e.rs/echo/k?{query}"), &[]);
            assert!(
                !attacker.primary.contains(VARY_MARKER),
                "{}",
                attacker.primary
            );
            let attacker_key = vary_key(
                &attacker.primary,
                0,
                &names[1..],
                &h(&[("x-b", "2")]),
                Lang::Sr,
            );
            assert_ne!(attacker_key, victim_key, "{query}");
        }
    }

    #[test]
    fn all_primary_keys_cover_every_release_and_language() {
        let rules = RuleSet::marketplace_defaults();
        let t = TrackingParams::default();
        let url = Url::parse(&format!("{CATS}?lang=ru&b=1")).unwrap();
        let releases = ["2026.11", "2026.12"];
        let keys = all_primary_keys(&url, rules.rule_for(url.path()), &releases, 3, &t);
        assert_eq!(keys.len(), 6);
        for headers in [
            vec![],
            vec![("accept-language", "en")],
            vec![("cookie", "locale=ru")],
        ] {
            for release in releases {
                let k = build(
                    &Url::parse(&format!("{CATS}?b=1")).unwrap(),
                    &h(&headers),
                    rules.rule_for(url.path()),
                    KeyScope {
                        release,
                        generation: 3,
                        tracking: &t,
                    },
                );
                assert!(keys.contains(&k.primary), "{}", k.primary);
            }
        }
        let echo = Url::parse("https://edge.rs/echo/a").unwrap();
        assert_eq!(
            all_primary_keys(&echo, rules.rule_for("/echo/a"), &releases, 0, &t).len(),
            2
        );
    }

    #[test]
    fn purge_paths_match_keys() {
        let rules = RuleSet::marketplace_defaults();
        let t = TrackingParams::default();
        let vary = |p: &str| rules.rule_for(p).vary_language;
        assert_eq!(
            purge_path("/api/v1/marketplace/categories?lang=en&utm_x=1", vary, &t).unwrap(),
            key(&format!("{CATS}?lang=ru"), &[]).purge_path
        );
        assert_eq!(
            purge_path("https://edge.rs/echo/x?b=1&a=2", vary, &t).unwrap(),
            "/echo/x?a=2&b=1"
        );
        assert_eq!(purge_path("not a url", vary, &t), None);
    }

    /// The key as the straightforward code builds it (owned pairs, a filtered copy, `format!`),
    /// which the one-buffer [`build`] must reproduce exactly: `(primary, purge_path)`.
    #[cfg(not(target_arch = "wasm32"))]
    fn plain_key(
        url: &Url,
        headers: &HeaderList,
        rule: &RouteRule,
        scope: KeyScope<'_>,
    ) -> (String, String) {
        let pairs: Vec<(String, String)> = url.query_pairs().into_owned().collect();
        let lang = rule
            .vary_language
            .then(|| lang::choose(&pairs, headers).as_str());
        let mut kept: Vec<&(String, String)> = pairs
            .iter()
            .filter(|(k, _)| !scope.tracking.matches(k))
            .filter(|(k, _)| !(rule.vary_language && (k == "lang" || k == "locale")))
            .collect();
        kept.sort_by(|a, b| a.0.cmp(&b.0));
        let query = form_urlencoded::Serializer::new(String::new())
            .extend_pairs(kept)
            .finish();
        let query = if query.is_empty() {
            query
        } else {
            format!("?{query}")
        };
        let port = url.port().map(|p| format!(":{p}")).unwrap_or_default();
        let primary = format!(
            "{}://{}{port}/__ce/r{:016x}/g{}/{}{}{query}",
            url.scheme(),
            url.host_str().unwrap_or(""),
            fnv1a64(&[scope.release.as_bytes()]),
            scope.generation,
            lang.unwrap_or("-"),
            url.path(),
        );
        (primary, format!("{}{query}", url.path()))
    }

    #[cfg(not(target_arch = "wasm32"))]
    proptest::proptest! {
        /// `build` (one pre-sized buffer, the query serialised into it, the purge path copied
        /// from its tail) agrees with the plain construction for any query, port, release,
        /// generation and rule.
        #[test]
        fn the_one_buffer_key_agrees_with_the_plain_construction(
            pairs in proptest::collection::vec(
                (
                    "(a|b|B|lang|locale|utm_x|fbclid|page|~|é|q)",
                    "[a-z0-9 +%~&=é]{0,4}",
                ),
                0..6,
            ),
            port in proptest::option::of(1u16..),
            release in "[a-z0-9.:/]{0,12}",
            generation in proptest::prelude::any::<u64>(),
            path in "(/api/v1/marketplace/categories|/echo/x|/A%20b)",
            accept_language in "(en-US|ru|de|sr;q=0.5|)",
        ) {
            let rules = RuleSet::marketplace_defaults();
            let tracking = TrackingParams::default();
            let mut raw = format!("https://edge.example.rs{}{path}", port.map_or(String::new(), |p| format!(":{p}")));
            if !pairs.is_empty() {
                let mut query = form_urlencoded::Serializer::new(String::new());
                query.extend_pairs(&pairs);
                raw = format!("{raw}?{}", query.finish());
            }
            let url = Url::parse(&raw).unwrap();
            let headers = h(&[("accept-language", &accept_language)]);
            let rule = rules.rule_for(url.path());
            let scope = KeyScope { release: &release, generation, tracking: &tracking };
            let key = build(&url, &headers, rule, scope);
            let (primary, purge) = plain_key(&url, &headers, rule, scope);
            proptest::prop_assert_eq!(&key.primary, &primary);
            proptest::prop_assert_eq!(&key.purge_path, &purge);
            let by_purge = purge_path(url.as_str(), |p| rules.rule_for(p).vary_language, &tracking);
            proptest::prop_assert_eq!(by_purge, Some(purge));
        }
    }
}
