//! Whether a request may use the cache, and whether (and for how long) a response is stored.
//! Plain functions of their inputs and an explicit `now`; reasons are enums whose `as_str` words
//! appear in `Cache-Status`, logs and stats.

use serde::{Deserialize, Serialize};

use super::cache_control::{pragma_no_cache, CacheControl};
use super::http_date;
use super::key::{vary_spec, VarySpec};
use super::rules::{CacheMode, RouteRule, MAX_SECS};
use crate::headers::{self, HeaderList};
use crate::time::UnixMillis;

/// Default largest body stored: 5 MiB. Larger responses stream through untouched.
pub const DEFAULT_MAX_BODY_BYTES: u64 = 5 * 1024 * 1024;
/// Cap on heuristic freshness (RFC 9111 §4.2.2 leaves the bound to the cache).
pub const MAX_HEURISTIC_SECS: u64 = 24 * 3600;
/// Statuses RFC 9110 §15.1 makes heuristically cacheable.
const HEURISTIC_STATUSES: [u16; 11] = [200, 203, 204, 300, 301, 308, 404, 405, 410, 414, 501];
/// Statuses this cache understands well enough to store with explicit freshness (RFC 9111 §3).
const UNDERSTOOD_STATUSES: [u16; 15] = [
    200, 203, 204, 300, 301, 302, 303, 307, 308, 404, 405, 410, 414, 451, 501,
];
/// RFC 9111 §1.2.2: delta-seconds too large to represent are taken as 2^31.
pub const DELTA_SECONDS_CAP: u64 = 1 << 31;
/// How long an entry whose freshness ran out is kept for revalidation when it has validators.
const REVALIDATION_KEEP_SECS: u64 = 3600;
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
    /// The request carries `Authorization` (RFC 9111 §3.5: a shared cache must not reuse it).
    Authorization,
    /// A `Range` request: the cache stores whole responses only.
    Range,
}

impl BypassReason {
    /// One fixed word.
    pub fn as_str(self) -> &'static str {
        match self {
            BypassReason::Rule => "rule",
            BypassReason::Method => "method",
            BypassReason::Authorization => "authorization",
            BypassReason::Range => "range",
        }
    }
}

/// Decides whether a request is looked up in the cache.
pub fn plan_request(
    rule: &RouteRule,
    method: &str,
    request_headers: &HeaderList,
) -> Option<BypassReason> {
    if rule.mode == CacheMode::Bypass {
        Some(BypassReason::Rule)
    } else if method != "GET" && method != "HEAD" {
        Some(BypassReason::Method)
    } else if headers::has(request_headers, "authorization") {
        Some(BypassReason::Authorization)
    } else if headers::has(request_headers, "range") {
        Some(BypassReason::Range)
    } else {
        None
    }
}

/// RFC 9111 §4.4: a cache must invalidate the stored responses of a URL when an unsafe request
/// (POST, PUT, PATCH, DELETE) to it gets a non-error response.
pub fn invalidates(method: &str, status: u16) -> bool {
    matches!(method, "POST" | "PUT" | "PATCH" | "DELETE") && status < 400
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
        }
    }
}

/// What is kept with a stored response, so that freshness and stale windows can be judged
/// later (the Cache API implements none of that).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EntryMeta {
    /// When the edge stored (or last revalidated) the response.
    pub stored_at_ms: u64,
    /// Freshness lifetime (RFC 9111 §4.2.1), counted from the response's origin, not from
    /// `stored_at_ms`: fresh while `initial_age + resident < fresh_secs`.
    pub fresh_secs: u64,
    /// The response's age when stored (RFC 9111 §4.2.3 `corrected_initial_age`).
    pub initial_age_secs: u64,
    /// Stale-while-revalidate window after freshness.
    pub swr_secs: u64,
    /// Stale-if-error window after freshness.
    pub sie_secs: u64,
    /// `must-revalidate`/`proxy-revalidate`/`no-cache` in `origin` mode: never served stale.
    pub must_revalidate: bool,
    /// The status stored.
    pub status: u16,
    /// The rule that stored it.
    pub rule: String,
    /// Path and normalised query, for purges.
    pub purge_path: String,
    /// Request headers of the second-level key, when the response varies.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub vary: Vec<String>,
    /// The origin's own `Cache-Control` and `Vary`, withheld from the Cache API's copy (which
    /// carries the edge's retention instead) and restored when serving.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub withheld: Vec<(String, String)>,
}

impl EntryMeta {
    /// Serialises for the stored response's meta header.
    pub fn to_header(&self) -> String {
        serde_json::to_string(self).unwrap_or_default()
    }

    /// Parses a meta header; `None` (treated as a miss) for anything unreadable.
    pub fn from_header(value: &str) -> Option<EntryMeta> {
        serde_json::from_str(value).ok()
    }

    /// How long the Cache API should keep the stored copy: remaining freshness plus the longer
    /// stale window, plus time for revalidation when the response has validators.
    pub fn retention_secs(&self, has_validators: bool) -> u64 {
        let fresh_left = self.fresh_secs.saturating_sub(self.initial_age_secs);
        let keep = if has_validators {
            REVALIDATION_KEEP_SECS
        } else {
            0
        };
        (fresh_left + self.swr_secs.max(self.sie_secs) + keep).max(1)
    }
}

/// True when a response carries a validator a conditional request can use: a non-empty `ETag`,
/// or a `Last-Modified` that is a valid HTTP-date (an origin must ignore an invalid
/// `If-Modified-Since`, RFC 9110 §13.1.3, so a broken one can never earn a 304).
pub fn has_validators(h: &HeaderList) -> bool {
    headers::get(h, "etag").is_some_and(|e| !e.trim().is_empty())
        || headers::get(h, "last-modified")
            .and_then(http_date::parse)
            .is_some()
}

/// Inputs of the store decision.
#[derive(Debug, Clone, Copy)]
pub struct StoreInput<'a> {
    /// The rule of the request's path.
    pub rule: &'a RouteRule,
    /// Request method.
    pub method: &'a str,
    /// Response status.
    pub status: u16,
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
    let cc = CacheControl::from_headers(h);
    if input.method == "HEAD" {
        return StoreDecision::Skip(R::Head);
    }
    if input.status == 206 {
        return StoreDecision::Skip(R::Partial);
    }
    if headers::has(h, "set-cookie") {
        return StoreDecision::Skip(R::SetCookie);
    }
    if cc.has("no-store") {
        return StoreDecision::Skip(R::NoStore);
    }
    // `private` with field names (`private="x"`) still makes the whole response private here:
    // this cache does not strip fields (RFC 9111 §5.2.2.7 allows the stricter reading).
    if cc.has("private") {
        return StoreDecision::Skip(R::Private);
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
    let (fresh_secs, initial_age_secs, must_revalidate) = match input.rule.mode {
        CacheMode::Override => match input.rule.ttl_for_status(input.status) {
            Some(ttl) => (ttl, 0, false),
            None => return StoreDecision::Skip(R::Status),
        },
        CacheMode::Origin | CacheMode::Bypass => {
            match origin_freshness(input.status, h, &cc, now_secs) {
                Some(f) => f,
                None => return StoreDecision::Skip(R::Status),
            }
        }
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
        stored_at_ms: input.now.0,
        fresh_secs,
        initial_age_secs,
        swr_secs,
        sie_secs,
        must_revalidate,
        status: input.status,
        rule: input.rule.id.clone(),
        purge_path: input.purge_path.to_string(),
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
fn origin_freshness(
    status: u16,
    h: &HeaderList,
    cc: &CacheControl,
    now_secs: u64,
) -> Option<(u64, u64, bool)> {
    if !UNDERSTOOD_STATUSES.contains(&status) {
        return None;
    }
    // A Date that cannot be parsed is replaced by the time of receipt (RFC 9110 §6.6.1).
    let date = headers::get(h, "date")
        .and_then(http_date::parse)
        .unwrap_or(now_secs);
    // §5.1: the first member of a list-valued Age is used; an invalid Age is ignored; §1.2.2:
    // a delta-seconds too large to represent counts as 2^31.
    let age_value = headers::get(h, "age")
        .and_then(|v| v.split(',').next())
        .map(str::trim)
        .filter(|v| !v.is_empty() && v.bytes().all(|b| b.is_ascii_digit()))
        .map(|v| {
            v.parse::<u64>()
                .unwrap_or(DELTA_SECONDS_CAP)
                .min(DELTA_SECONDS_CAP)
        })
        .unwrap_or(0);
    let apparent_age = now_secs.saturating_sub(date);
    let initial_age = age_value.max(apparent_age);

    let no_cache = cc.has("no-cache") || pragma_no_cache(h);
    let must_revalidate = no_cache || cc.has("must-revalidate") || cc.has("proxy-revalidate");

    // s-maxage before max-age before Expires (§4.2.1); a present-but-invalid value means stale.
    let explicit = if let Some(s) = cc.seconds("s-maxage") {
        Some(s.unwrap_or(0))
    } else if let Some(m) = cc.seconds("max-age") {
        Some(m.unwrap_or(0))
    } else {
        // §5.3: an invalid Expires (e.g. "0") is a time in the past.
        headers::get(h, "expires").map(|expires| {
            http_date::parse(expires)
                .map(|e| e.saturating_sub(date))
                .unwrap_or(0)
        })
    };
    let lifetime = match explicit {
        Some(l) => l,
        None if cc.has("public") || HEURISTIC_STATUSES.contains(&status) => {
            // §4.2.2: heuristic freshness only without explicit expiration, and only for
            // heuristically cacheable statuses (or `public`): 10 % of the time since
            // Last-Modified, capped. Without Last-Modified, no heuristic: lifetime 0.
            headers::get(h, "last-modified")
                .and_then(http_date::parse)
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
            rule: rules.rule_for(path),
            method: "GET",
            status,
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
        assert!(invalidates("POST", 200));
        assert!(invalidates("DELETE", 204));
        assert!(invalidates("PUT", 302));
        assert!(!invalidates("POST", 404));
        assert!(!invalidates("POST", 500));
        assert!(!invalidates("GET", 200));
        assert!(!invalidates("OPTIONS", 200));
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
