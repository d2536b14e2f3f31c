//! The stored form of a response and the served form of a stored one. The Cache API keeps a
//! response with the edge's own retention in `Cache-Control` and the [`EntryMeta`] in a header;
//! serving restores the origin's headers and sets `Age`.

use super::freshness::current_age_secs;
use super::policy::{has_validators, EntryMeta};
use crate::headers::{self, HeaderList};
use crate::time::UnixMillis;

/// Header carrying the entry's meta in the Cache API copy.
pub const META_HEADER: &str = "x-edge-meta";
/// Header of a vary index: a small entry at the primary key naming the varied request headers.
pub const VARY_INDEX_HEADER: &str = "x-edge-vary-index";

/// Headers never stored or served from storage: per-hop or recomputed on every response.
const NOT_STORED: &[&str] = &[
    "age",
    "cache-control",
    "vary",
    "set-cookie",
    "cf-cache-status",
    "server-timing",
    "cache-status",
    "x-cache",
    META_HEADER,
    VARY_INDEX_HEADER,
];

/// Headers for the Cache API copy of a response.
pub fn storage_headers(origin: &HeaderList, meta: &EntryMeta) -> Vec<(String, String)> {
    let has_validators = has_validators(origin);
    let mut out: Vec<(String, String)> = origin
        .iter()
        .filter(|(n, _)| !NOT_STORED.contains(&n.as_str()))
        .cloned()
        .collect();
    out.push((
        "cache-control".into(),
        format!("public, max-age={}", meta.retention_secs(has_validators)),
    ));
    out.push((META_HEADER.into(), meta.to_header()));
    out
}

/// Headers of a vary index entry, kept as long as the entry it points to.
pub fn vary_index_headers(names: &[String], retention_secs: u64) -> Vec<(String, String)> {
    vec![
        (
            "cache-control".into(),
            format!("public, max-age={retention_secs}"),
        ),
        (VARY_INDEX_HEADER.into(), names.join(",")),
    ]
}

/// The varied header names of a vary index entry, if the stored response is one.
pub fn vary_index_names(stored: &HeaderList) -> Option<Vec<String>> {
    headers::get(stored, VARY_INDEX_HEADER).map(|v| {
        v.split(',')
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(str::to_string)
            .collect()
    })
}

/// Reads a stored response's meta; `None` when it has none or it is unreadable (a miss).
pub fn stored_meta(stored: &HeaderList) -> Option<EntryMeta> {
    headers::get(stored, META_HEADER).and_then(EntryMeta::from_header)
}

/// The headers a client gets for a stored response at `now`: the origin's headers as stored,
/// its `Cache-Control`/`Vary` restored, and `Age` (RFC 9111 §5.1) set.
pub fn served_headers(
    stored: &HeaderList,
    meta: &EntryMeta,
    now: UnixMillis,
) -> Vec<(String, String)> {
    let mut out: Vec<(String, String)> = stored
        .iter()
        .filter(|(n, _)| !NOT_STORED.contains(&n.as_str()))
        .cloned()
        .collect();
    out.extend(meta.withheld.iter().cloned());
    out.push(("age".into(), current_age_secs(meta, now).to_string()));
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cache::policy::{decide_store, StoreDecision, StoreInput};
    use crate::cache::rules::RuleSet;

    use crate::headers::owned as h;

    #[test]
    fn stored_then_served_restores_origin_headers_and_sets_age() {
        let rules = RuleSet::marketplace_defaults();
        let origin = h(&[
            ("content-type", "application/json"),
            ("cache-control", "max-age=60"),
            ("vary", "X-A"),
            ("etag", "\"v1\""),
            ("age", "3"),
            ("cf-cache-status", "DYNAMIC"),
        ]);
        let now = UnixMillis(1_700_000_000_000);
        let StoreDecision::Store(meta) = decide_store(StoreInput {
            rule: rules.rule_for("/echo/x"),
            method: "GET",
            status: 200,
            response_headers: &origin,
            body_len: Some(2),
            max_body_bytes: 10,
            now,
            purge_path: "/echo/x",
            language_in_key: false,
        }) else {
            panic!("storable")
        };
        let stored = storage_headers(&origin, &meta);
        assert_eq!(
            headers::get(&stored, "cache-control"),
            Some("public, max-age=3657")
        );
        assert_eq!(
            headers::get(&stored, "vary"),
            None,
            "the Cache API copy does not vary"
        );
        assert_eq!(headers::get(&stored, "age"), None);
        assert_eq!(stored_meta(&stored), Some(meta.clone()));

        let served = served_headers(&stored, &meta, now.plus_millis(10_000));
        assert_eq!(headers::get(&served, "cache-control"), Some("max-age=60"));
        assert_eq!(headers::get(&served, "vary"), Some("X-A"));
        assert_eq!(headers::get(&served, "age"), Some("13"));
        assert_eq!(headers::get(&served, "etag"), Some("\"v1\""));
        assert_eq!(headers::get(&served, META_HEADER), None);
        assert_eq!(headers::get(&served, "cf-cache-status"), None);
    }

    #[test]
    fn vary_index_round_trips() {
        let idx = vary_index_headers(&["x-a".into(), "x-b".into()], 60);
        assert_eq!(
            vary_index_names(&idx),
            Some(vec!["x-a".to_string(), "x-b".to_string()])
        );
        assert_eq!(vary_index_names(&h(&[("etag", "1")])), None);
    }
}
