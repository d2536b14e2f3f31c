//! Judging a stored entry at lookup time, revalidation headers, and merging a 304 into the stored
//! headers. RFC 9111 §4.2 (freshness), §4.3 (validation), RFC 5861 (stale windows).

use super::http_date;
use super::policy::EntryMeta;
use crate::headers::{self, HeaderList};
use crate::time::UnixMillis;

/// How a stored entry stands at `now`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Freshness {
    /// Fresh: serve it; `ttl_secs` of freshness left.
    Fresh {
        /// Seconds of freshness left.
        ttl_secs: u64,
    },
    /// Stale by `stale_secs`.
    Stale {
        /// Seconds past freshness.
        stale_secs: u64,
        /// Within stale-while-revalidate: serve now, refresh in the background.
        serve_while_revalidating: bool,
        /// Within stale-if-error: may be served if the origin fails.
        serve_if_error: bool,
    },
}

/// The entry's current age in seconds (RFC 9111 §4.2.3 `current_age`).
pub fn current_age_secs(meta: &EntryMeta, now: UnixMillis) -> u64 {
    meta.initial_age_secs
        .saturating_add(now.since(UnixMillis(meta.stored_at_ms)) / 1000)
}

/// Judges an entry at `now`.
pub fn evaluate(meta: &EntryMeta, now: UnixMillis) -> Freshness {
    let age = current_age_secs(meta, now);
    if age < meta.fresh_secs {
        return Freshness::Fresh {
            ttl_secs: meta.fresh_secs - age,
        };
    }
    let stale_secs = age - meta.fresh_secs;
    Freshness::Stale {
        stale_secs,
        serve_while_revalidating: !meta.must_revalidate && stale_secs < meta.swr_secs,
        serve_if_error: !meta.must_revalidate && stale_secs < meta.sie_secs,
    }
}

/// The `ttl` of `Cache-Status` (RFC 9211 §2.5): freshness left, negative when stale.
pub fn ttl_param(meta: &EntryMeta, now: UnixMillis) -> i64 {
    let clamp = |v: u64| i64::try_from(v).unwrap_or(i64::MAX);
    clamp(meta.fresh_secs).saturating_sub(clamp(current_age_secs(meta, now)))
}

/// Headers that make a revalidation request conditional on the stored response's validators.
pub fn conditional_headers(stored: &HeaderList) -> Vec<(String, String)> {
    let mut out = Vec::new();
    if let Some(etag) = headers::get(stored, "etag") {
        out.push(("if-none-match".to_string(), etag.to_string()));
    }
    if super::policy::last_modified(stored).is_some() {
        if let Some(lm) = headers::get(stored, "last-modified") {
            out.push(("if-modified-since".to_string(), lm.to_string()));
        }
    }
    out
}

/// Headers a 304 must not overwrite in the stored response (RFC 9111 §3.2 and §4.3.4).
const KEEP_ON_304: &[&str] = &[
    "content-length",
    "content-encoding",
    "transfer-encoding",
    "content-range",
    "content-type",
];

/// The stored headers updated with those of a 304 (RFC 9111 §4.3.4): each header field the 304
/// carries replaces the stored one of that name.
pub fn merge_not_modified(stored: &HeaderList, not_modified: &HeaderList) -> Vec<(String, String)> {
    let replaced: Vec<&str> = not_modified
        .iter()
        .map(|(n, _)| n.as_str())
        .filter(|n| !KEEP_ON_304.contains(n))
        .collect();
    let mut out: Vec<(String, String)> = stored
        .iter()
        .filter(|(n, _)| !replaced.contains(&n.as_str()))
        .cloned()
        .collect();
    out.extend(
        not_modified
            .iter()
            .filter(|(n, _)| !KEEP_ON_304.contains(&n.as_str()))
            .cloned(),
    );
    out
}

/// The stored fields a client's conditional or range request is compared with (`Date` stands in
/// for a missing `Last-Modified`).
pub const VALIDATOR_FIELDS: &[&str] = &["etag", "last-modified", "date"];

/// Whether a request is conditional: it asks for a 304 when its validators match.
pub fn is_conditional(request: &HeaderList) -> bool {
    headers::has(request, "if-none-match") || headers::has(request, "if-modified-since")
}

/// The [`VALIDATOR_FIELDS`] of a stored response, read by name with `get` (from pairs, or from
/// a runtime's headers without copying the rest).
pub fn validators(get: impl Fn(&str) -> Option<String>) -> Vec<(String, String)> {
    VALIDATOR_FIELDS
        .iter()
        .filter_map(|n| get(n).map(|v| (n.to_string(), v)))
        .collect()
}

/// True when a client's conditional request is satisfied by the stored response, so the edge
/// can answer 304 itself (RFC 9110 §13.1.2: `If-None-Match` with weak comparison; `If-Modified-
/// Since` only without `If-None-Match`, compared with `Last-Modified`, or with `Date` when the
/// response has none, RFC 9110 §13.1.3).
pub fn client_not_modified(request: &HeaderList, stored: &HeaderList) -> bool {
    if headers::has(request, "if-none-match") {
        let Some(etag) = headers::get(stored, "etag") else {
            return false;
        };
        let weak = |t: &str| t.trim().trim_start_matches("W/").to_string();
        let stored_tag = weak(etag);
        return headers::comma_values(request, "if-none-match")
            .any(|t| t == "*" || weak(t) == stored_tag);
    }
    let changed_at = headers::get(stored, "last-modified")
        .or_else(|| headers::get(stored, "date"))
        .and_then(http_date::parse);
    match (
        headers::get(request, "if-modified-since").and_then(http_date::parse),
        changed_at,
    ) {
        (Some(since), Some(lm)) => lm <= since,
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    use crate::headers::owned as h;

    #[test]
    fn conditional_requests_and_validators_are_read_by_name() {
        assert!(is_conditional(&h(&[("if-none-match", "\"a\"")])));
        assert!(is_conditional(&h(&[("if-modified-since", "x")])));
        assert!(!is_conditional(&h(&[("if-match", "\"a\"")])));
        let stored = h(&[
            ("etag", "\"a\""),
            ("content-type", "x"),
            ("last-modified", "d"),
        ]);
        let read = validators(|n| headers::get(&stored, n).map(str::to_string));
        assert_eq!(read, h(&[("etag", "\"a\""), ("last-modified", "d")]));
    }

    #[test]
    fn if_modified_since_uses_date_when_there_is_no_last_modified() {
        let since = |date: &str| h(&[("if-modified-since", date)]);
        let stored = h(&[("date", "Sun, 06 Nov 1994 08:49:37 GMT")]);
        let (same, earlier) = (
            "Sun, 06 Nov 1994 08:49:37 GMT",
            "Sat, 05 Nov 1994 08:49:37 GMT",
        );
        assert!(client_not_modified(&since(same), &stored));
        assert!(!client_not_modified(&since(earlier), &stored));
        assert!(!client_not_modified(&since(same), &[]), "neither date");
    }

    #[test]
    fn merge_replaces_named_fields_and_keeps_body_framing() {
        let stored = h(&[
            ("content-type", "application/json"),
            ("etag", "\"a\""),
            ("x-a", "1"),
            ("content-length", "10"),
        ]);
        let nm = h(&[("etag", "\"b\""), ("x-b", "2"), ("content-length", "0")]);
        let merged = merge_not_modified(&stored, &nm);
        assert_eq!(headers::get(&merged, "etag"), Some("\"b\""));
        assert_eq!(headers::get(&merged, "x-a"), Some("1"));
        assert_eq!(headers::get(&merged, "x-b"), Some("2"));
        assert_eq!(headers::get(&merged, "content-length"), Some("10"));
        assert_eq!(
            headers::get(&merged, "content-type"),
            Some("application/json")
        );
    }

    #[test]
    fn client_conditionals() {
        let stored = h(&[
            ("etag", "W/\"v1\""),
            ("last-modified", "Sun, 06 Nov 1994 08:49:37 GMT"),
        ]);
        assert!(client_not_modified(
            &h(&[("if-none-match", "\"x\", \"v1\"")]),
            &stored
        ));
        assert!(client_not_modified(&h(&[("if-none-match", "*")]), &stored));
        assert!(!client_not_modified(
            &h(&[("if-none-match", "\"v2\"")]),
            &stored
        ));
        assert!(client_not_modified(
            &h(&[("if-modified-since", "Sun, 06 Nov 1994 08:49:37 GMT")]),
            &stored
        ));
        assert!(!client_not_modified(
            &h(&[("if-modified-since", "Sat, 05 Nov 1994 08:49:37 GMT")]),
            &stored
        ));
        assert!(!client_not_modified(
            &h(&[("if-modified-since", "garbage")]),
            &stored
        ));
        assert!(!client_not_modified(&[], &stored));
    }
}
