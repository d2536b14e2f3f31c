//! Whether a request may use the cache, and whether (and for how long) a response is stored.
//! Plain functions of their inputs and an explicit `now`; reasons are enums whose `as_str` words
//! appear in `Cache-Status`, logs and stats.

use http::{Method, StatusCode};

use super::cache_control::{delta_seconds, pragma_no_cache, CacheControl, DELTA_SECONDS_CAP};
use super::http_date;
use super::key::{vary_spec, VarySpec};
pub use super::meta::EntryMeta;
use super::meta::{META_VERSION, REVALIDATION_KEEP_SECS};
use super::rules::{CacheMode, RouteRule, MAX_SECS};
use crate::headers::{self, HeaderList};
use crate::time::UnixMillis;

/// Default largest body stored: 5 MiB. Larger responses stream through untouched.
pub const DEFAULT_MAX_BODY_BYTES: u64 = 5 * 1024 * 1024;
/// Cap on heuristic freshness (RFC 9111 §4.2.2 leaves the bound to the cache).
pub const MAX_HEURISTIC_SECS: u64 = 24 * 3600;
/// Statuses RFC 9110 §15.1 makes heuristically cacheable.
const HEURISTIC_STATUSES: [u16; 11] = [200, 203, 204, 300, 301, 308, 404, 405, 410, 414, 501];
/// Statuses this cache understands (RFC 9111 §5.2.2.3 `must-understand`): it knows their
/// caching semantics.
const UNDERSTOOD_STATUSES: [u16; 15] = [
    200, 203, 204, 300, 301, 302, 303, 307, 308, 404, 405, 410, 414, 451, 501,
];
/// Longest freshness the edge gives a response in `origin` mode, whatever the origin says.
pub const MAX_ORIGIN_FRESH_SECS: u64 = super::rules::MAX_SECS;
/// Longest an entry can be useful: capped freshness, the longest stale window, and the
/// revalidation keep. Purge bans older than this can no longer match anything.
pub const MAX_ENTRY_LIFETIME_SECS: u64 = 2 * super::rules::MAX_SECS + REVALIDATION_KEEP_SECS;

/// Why a request does not use the cache at all.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BypassReason {
    /// The route rule says `bypass`.
    Rule,
    /// Not GET or HEAD.
    Method,
}

impl BypassReason {
    /// One fixed word.
    pub fn as_str(self) -> &'static str {
        match self {
            BypassReason::Rule => "rule",
            BypassReason::Method => "method",
        }
    }
}

/// RFC 9111 §4.4: a cache must invalidate the stored responses of a URL when an unsafe request
/// (POST, PUT, PATCH, DELETE) to it gets a non-error response.
pub fn invalidates(method: &Method, status: StatusCode) -> bool {
    matches!(
        *method,
        Method::POST | Method::PUT | Method::PATCH | Method::DELETE
    ) && status.as_u16() < 400
}

/// Why a response is not stored.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NoStoreReason {
    /// `Set-Cookie`: per-user state must never reach another user.
    SetCookie,
    /// `Cache-Control: private`.
    Private,
    /// `Cache-Control: no-store`.
    NoStore,
    /// 206 Partial Content.
    Partial,
    /// `Vary: *`.
    VaryStar,
    /// Body over the configured limit.
    TooLarge,
    /// A status the rule (or RFC 9111) does not store.
    Status,
    /// No freshness and no validators: storing would be useless (`origin` mode).
    NotFresh,
    /// HEAD responses have no body to store.
    Head,
    /// A stable answer to a canary request (the canary failed): never stored as the canary's.
    Fallback,
    /// The request carried `Authorization` and the response did not say `public`, `s-maxage`
    /// or `must-revalidate` (RFC 9111 §3.5).
    Authorization,
    /// The request said `Cache-Control: no-store` (RFC 9111 §5.2.1.5).
    RequestNoStore,
    /// The isolate's budget of bytes held for storing (`STORE_BUFFER_BYTES`) had no room.
    Budget,
    /// The body broke off, or the Cache API refused it, before it was stored.
    Broken,
}

impl NoStoreReason {
    /// One fixed word.
    pub fn as_str(self) -> &'static str {
        match self {
            NoStoreReason::SetCookie => "set-cookie",
            NoStoreReason::Private => "private",
            NoStoreReason::NoStore => "no-store",
            NoStoreReason::Partial => "partial",
            NoStoreReason::VaryStar => "vary-star",
            NoStoreReason::TooLarge => "too-large",
            NoStoreReason::Status => "status",
            NoStoreReason::NotFresh => "not-fresh",
            NoStoreReason::Head => "head",
            NoStoreReason::Fallback => "fallback",
            NoStoreReason::Authorization => "authorization",
            NoStoreReason::RequestNoStore => "request-no-store",
            NoStoreReason::Budget => "store-budget",
            NoStoreReason::Broken => "body-broken",
        }
    }

    /// Whether `Cache-Status` reports it: not for statuses the route never stores, nor for a
    /// canary fallback (reported as `canary-fallback` already).
    pub fn is_reported(self) -> bool {
        !matches!(self, NoStoreReason::Status | NoStoreReason::Fallback)
    }
}

/// The response's `Last-Modified` when it is a usable validator: a valid HTTP-date no later
/// than its `Date` (RFC 9110 §8.8.2.1: a later one is wrong, and taking it would make a 0 s
/// heuristic entry that is re-stored on every request).
pub fn last_modified(h: &HeaderList) -> Option<u64> {
    let lm = headers::get(h, "last-modified").and_then(http_date::parse)?;
    match headers::get(h, "date").and_then(http_date::parse) {
        Some(date) if lm > date => None,
        _ => Some(lm),
    }
}

/// True when a response carries a validator a conditional request can use: a non-empty `ETag`,
/// or a usable [`last_modified`] (an origin must ignore an invalid `If-Modified-Since`, RFC
/// 9110 §13.1.3, so a broken one can never earn a 304).
pub fn has_validators(h: &HeaderList) -> bool {
    headers::get(h, "etag").is_some_and(|e| !e.trim().is_empty()) || last_modified(h).is_some()
}

/// Inputs of the store decision.
#[derive(Debug, Clone, Copy)]
pub struct StoreInput<'a> {
    /// The rule of the request's path.
    pub rule: &'a RouteRule,
    /// Request method.
    pub method: &'a Method,
    /// Whether the request carried `Authorization` (one the edge did not consume itself).
    pub request_authorized: bool,
    /// Whether the request said `Cache-Control: no-store`.
    pub request_no_store: bool,
    /// Response status.
    pub status: StatusCode,
    /// Response headers (lowercase names).
    pub response_headers: &'a HeaderList,
    /// Body length when known (`Content-Length`).
    pub body_len: Option<u64>,
    /// Largest body stored.
    pub max_body_bytes: u64,
    /// When the response arrived.
    pub now: UnixMillis,
    /// The key's purge path.
    pub purge_path: &'a str,
    /// Whether the key already holds the language.
    pub language_in_key: bool,
    /// The edge's own targeted cache-control field (lowercase), if configured.
    pub edge_field: Option<&'a str>,
}

/// Whether to store a response, and with what meta.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StoreDecision {
    /// Store with this meta.
    Store(EntryMeta),
    /// Pass through unstored, for this reason.
    Skip(NoStoreReason),
}

/// The store decision (RFC 9111 §3 plus the edge's own rules).
pub fn decide_store(input: StoreInput<'_>) -> StoreDecision {
    use NoStoreReason as R;
    let h = input.response_headers;
    let status = input.status.as_u16();
    let (cc, targeted) = CacheControl::for_edge(h, input.edge_field);
    if input.method == Method::HEAD {
        return StoreDecision::Skip(R::Head);
    }
    if status == 206 {
        return StoreDecision::Skip(R::Partial);
    }
    if status == 304 || input.status.is_informational() {
        return StoreDecision::Skip(R::Status);
    }
    if headers::has(h, "set-cookie") {
        return StoreDecision::Skip(R::SetCookie);
    }
    if input.request_no_store {
        return StoreDecision::Skip(R::RequestNoStore);
    }
    // §5.2.2.3: `must-understand` stores a response only with a status this cache understands,
    // and then overrides `no-store`.
    let must_understand = cc.has("must-understand");
    if must_understand && !UNDERSTOOD_STATUSES.contains(&status) {
        return StoreDecision::Skip(R::Status);
    }
    if cc.has("no-store") && !must_understand {
        return StoreDecision::Skip(R::NoStore);
    }
    // `private` with field names (`private="x"`) still makes the whole response private here:
    // this cache does not strip fields (RFC 9111 §5.2.2.7 allows the stricter reading).
    if cc.has("private") {
        return StoreDecision::Skip(R::Private);
    }
    // §3.5: a response to a request with Authorization only with an explicit permission; the
    // same permission lets the entry answer such requests later.
    let auth_ok = cc.has("public") || cc.has("s-maxage") || cc.has("must-revalidate");
    if input.request_authorized && !auth_ok {
        return StoreDecision::Skip(R::Authorization);
    }
    let vary = match vary_spec(h, input.language_in_key) {
        VarySpec::Star => return StoreDecision::Skip(R::VaryStar),
        VarySpec::None => Vec::new(),
        VarySpec::Headers(names) => names,
    };
    if input.body_len.is_some_and(|n| n > input.max_body_bytes) {
        return StoreDecision::Skip(R::TooLarge);
    }

    let now_secs = input.now.as_secs();
    let rfc5861 = |name| cc.seconds(name).flatten().unwrap_or(0).min(MAX_SECS);
    // In `override` mode the rule's TTL stands in for the freshness the backend never sends;
    // a targeted field with explicit freshness is the origin steering this edge, and wins.
    let steered = targeted && (cc.has("max-age") || cc.has("s-maxage") || cc.has("no-cache"));
    let freshness = match input.rule.mode {
        CacheMode::Override if !steered => match input.rule.ttl_for_status(status) {
            Some(ttl) => Some((ttl, 0, false)),
            None => return StoreDecision::Skip(R::Status),
        },
        _ => origin_freshness(status, h, &cc, targeted, now_secs),
    };
    let Some((fresh_secs, initial_age_secs, must_revalidate)) = freshness else {
        return StoreDecision::Skip(R::Status);
    };
    if fresh_secs <= initial_age_secs && !has_validators(h) {
        return StoreDecision::Skip(R::NotFresh);
    }
    let (swr_secs, sie_secs) = if must_revalidate {
        (0, 0)
    } else {
        (
            input
                .rule
                .stale_while_revalidate_secs
                .max(rfc5861("stale-while-revalidate")),
            input
                .rule
                .stale_if_error_secs
                .max(rfc5861("stale-if-error")),
        )
    };
    StoreDecision::Store(EntryMeta {
        v: META_VERSION,
        stored_at_ms: input.now.0,
        fresh_secs,
        initial_age_secs,
        swr_secs,
        sie_secs,
        must_revalidate,
        auth_ok,
        status,
        body_bytes: input.body_len,
        rule: input.rule.id.clone(),
        purge_path: input.purge_path.to_string(),
        tags: super::tags::for_entry(
            &input.rule.pattern,
            &input.rule.tags,
            input.purge_path,
            input.response_headers,
        ),
        vary,
        withheld: h
            .iter()
            .filter(|(n, _)| n == "cache-control" || n == "vary")
            .cloned()
            .collect(),
    })
}

/// `origin` mode freshness: `(lifetime, initial age, must_revalidate)`, or `None` when the
/// status may not be stored. RFC 9111 §4.2.1 (lifetime), §4.2.2 (heuristics), §4.2.3 (age).
/// `targeted`: `cc` came from a targeted field, which replaces `Expires` and `Pragma` too.
fn origin_freshness(
    status: u16,
    h: &HeaderList,
    cc: &CacheControl,
    targeted: bool,
    now_secs: u64,
) -> Option<(u64, u64, bool)> {
    // A Date that cannot be parsed is replaced by the time of receipt (RFC 9110 §6.6.1).
    let date = headers::get(h, "date")
        .and_then(http_date::parse)
        .unwrap_or(now_secs);
    // §5.1: the first member of a list-valued Age is used; an invalid Age is ignored; §1.2.2:
    // a delta-seconds too large to represent counts as 2^31.
    let age_value = headers::get(h, "age")
        .and_then(|v| v.split(',').next())
        .and_then(|v| delta_seconds(v.trim()))
        .unwrap_or(0);
    let apparent_age = now_secs.saturating_sub(date);
    let initial_age = age_value.max(apparent_age).min(DELTA_SECONDS_CAP);

    let no_cache = cc.has("no-cache") || (!targeted && pragma_no_cache(h));
    // §5.2.2.2, §5.2.2.8, §5.2.2.10: must-revalidate, proxy-revalidate and s-maxage all forbid
    // a shared cache to serve the response stale.
    let must_revalidate =
        no_cache || cc.has("must-revalidate") || cc.has("proxy-revalidate") || cc.has("s-maxage");

    // s-maxage before max-age before Expires (§4.2.1); a present-but-invalid value means stale.
    let explicit = if let Some(s) = cc.seconds("s-maxage") {
        Some(s.unwrap_or(0))
    } else if let Some(m) = cc.seconds("max-age") {
        Some(m.unwrap_or(0))
    } else if targeted {
        None
    } else {
        // §5.3: an invalid Expires (e.g. "0") is a time in the past.
        headers::get(h, "expires").map(|expires| {
            http_date::parse(expires)
                .map(|e| e.saturating_sub(date))
                .unwrap_or(0)
        })
    };
    let lifetime = match explicit {
        // §3: any final status may be stored with explicit freshness.
        Some(l) => l,
        None if cc.has("public") || HEURISTIC_STATUSES.contains(&status) => {
            // §4.2.2: heuristic freshness only without explicit expiration, and only for
            // heuristically cacheable statuses (or `public`): 10 % of the time since
            // Last-Modified, capped. Without a usable Last-Modified, no heuristic: lifetime 0.
            last_modified(h)
                .map(|lm| (date.saturating_sub(lm) / 10).min(MAX_HEURISTIC_SECS))
                .unwrap_or(0)
        }
        None => return None,
    };
    let lifetime = if no_cache {
        0
    } else {
        lifetime.min(MAX_ORIGIN_FRESH_SECS)
    };
    Some((lifetime, initial_age, must_revalidate))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cache::rules::RuleSet;

    use crate::headers::owned as h;

    const NOW: UnixMillis = UnixMillis(1_700_000_000_000);

    fn decide(path: &str, status: u16, headers: &[(&str, &str)]) -> StoreDecision {
        let rules = RuleSet::marketplace_defaults();
        let headers = h(headers);
        decide_store(StoreInput {
            rule: rules.rule_for(path.split('?').next().unwrap_or(path)),
            method: &Method::GET,
            request_authorized: false,
            request_no_store: false,
            edge_field: None,
            status: StatusCode::from_u16(status).unwrap(),
            response_headers: &headers,
            body_len: Some(100),
            max_body_bytes: DEFAULT_MAX_BODY_BYTES,
            now: NOW,
            purge_path: path,
            language_in_key: false,
        })
    }

    fn meta(d: StoreDecision) -> EntryMeta {
        match d {
            StoreDecision::Store(m) => m,
            StoreDecision::Skip(r) => panic!("not stored: {}", r.as_str()),
        }
    }

    #[test]
    fn only_successful_unsafe_requests_invalidate() {
        let s = |n| StatusCode::from_u16(n).unwrap();
        assert!(invalidates(&Method::POST, s(200)));
        assert!(invalidates(&Method::DELETE, s(204)));
        assert!(invalidates(&Method::PUT, s(302)));
        assert!(!invalidates(&Method::POST, s(404)));
        assert!(!invalidates(&Method::POST, s(500)));
        assert!(!invalidates(&Method::GET, s(200)));
        assert!(!invalidates(&Method::OPTIONS, s(200)));
    }

    #[test]
    fn stored_entries_carry_their_rules_tags_and_the_origins() {
        let m = meta(decide(
            "/api/v2/marketplace/categories/10101/attributes",
            200,
            &[("cache-tag", "release-2026-12, attributes")],
        ));
        assert_eq!(m.tags, ["category:10101", "attributes", "release-2026-12"]);
        let search = meta(decide(
            "/api/v1/marketplace/search?category_id=10102&q=yugo",
            200,
            &[],
        ));
        assert_eq!(search.tags, ["search", "category:10102"]);
        let untagged = meta(decide("/echo/a", 200, &[("cache-control", "max-age=60")]));
        assert!(untagged.tags.is_empty());
    }

    #[test]
    fn meta_round_trips_through_its_header() {
        let m = meta(decide(
            "/echo/a",
            200,
            &[("cache-control", "max-age=60"), ("vary", "X-A")],
        ));
        assert_eq!(EntryMeta::from_header(&m.to_header()), Some(m));
        assert_eq!(EntryMeta::from_header("{garbage"), None);
    }
}
