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

/// Headers never stored or served from storage: per-hop or recomputed on every response. A
/// stored copy is served with these removed and [`served_edits`] added.
pub const NOT_STORED: &[&str] = &[
    "age",
    "cache-control",
    "vary",
    "set-cookie",
    "cf-cache-status",
    "server-timing",
    "cache-status",
    "x-cache",
    super::cache_control::CDN_CACHE_CONTROL,
    META_HEADER,
    VARY_INDEX_HEADER,
];

/// The [`NOT_STORED`] names a stored copy can hold when it is read back: the two
/// [`storage_headers`] writes, and what a runtime may add to its copy (`Age`, `CF-Cache-Status`).
/// A hit removes these, not every [`NOT_STORED`] name (each removal is a call into the runtime).
pub const STRIP_ON_SERVE: &[&str] = &["cache-control", META_HEADER, "age", "cf-cache-status"];

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

/// A vary index: the request headers a primary key's response varies on, and the epoch that
/// its second-level keys carry. A new index (after the old one was invalidated or expired) gets a
/// new epoch, so second-level entries written under an earlier index can never be reached
/// through it again.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VaryIndex {
    /// Part of every second-level key under this index (the time it was first written, in ms).
    pub epoch: u64,
    /// The varied request header names, lowercase and sorted.
    pub names: Vec<String>,
}

/// Headers of a vary index entry, kept as long as the entry it points to.
pub fn vary_index_headers(index: &VaryIndex, retention_secs: u64) -> Vec<(String, String)> {
    vec![
        (
            "cache-control".into(),
            format!("public, max-age={retention_secs}"),
        ),
        (
            VARY_INDEX_HEADER.into(),
            format!("{};{}", index.epoch, index.names.join(",")),
        ),
    ]
}

/// The vary index of a stored response, if it is one.
pub fn vary_index(stored: &HeaderList) -> Option<VaryIndex> {
    headers::get(stored, VARY_INDEX_HEADER).map(parse_vary_index)
}

/// A vary index header's value: `epoch;name,name`. A value without an epoch (written before
/// epochs existed) has epoch 0.
pub fn parse_vary_index(value: &str) -> VaryIndex {
    let (epoch, names) = match value.split_once(';') {
        Some((e, rest)) => (e.trim().parse().unwrap_or(0), rest),
        None => (0, value),
    };
    VaryIndex {
        epoch,
        names: names
            .split(',')
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(str::to_string)
            .collect(),
    }
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
        .filter(|(n, _)| !(n == "content-length" && meta.body_bytes.is_some()))
        .cloned()
        .collect();
    out.extend(served_edits(meta, now));
    out
}

/// What serving adds to a stored copy once the [`NOT_STORED`] names are removed: the origin's
/// withheld `Cache-Control`/`Vary`, `Age`, and `Content-Length` (the runtime does not keep it
/// on a stored copy). The glue applies these to the runtime's own copy of the stored headers,
/// so that a hit never reads every header into Wasm.
pub fn served_edits(meta: &EntryMeta, now: UnixMillis) -> Vec<(String, String)> {
    let mut out = Vec::with_capacity(meta.withheld.len() + 2);
    out.extend(meta.withheld.iter().cloned());
    out.push(("age".into(), current_age_secs(meta, now).to_string()));
    if let Some(len) = meta.body_bytes {
        out.push(("content-length".into(), len.to_string()));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cache::policy::{decide_store, StoreDecision, StoreInput};
    use crate::cache::rules::RuleSet;

    use crate::headers::owned as h;

    /// The meta of a storable 200 for `/echo/x` with these origin headers.
    fn meta_for(origin: &HeaderList, now: UnixMillis) -> EntryMeta {
        let rules = RuleSet::marketplace_defaults();
        let StoreDecision::Store(meta) = decide_store(StoreInput {
            rule: rules.rule_for("/echo/x"),
            method: &http::Method::GET,
            request_authorized: false,
            request_no_store: false,
            edge_field: None,
            status: http::StatusCode::OK,
            response_headers: origin,
            body_len: Some(2),
            max_body_bytes: 10,
            now,
            purge_path: "/echo/x",
            language_in_key: false,
        }) else {
            panic!("storable")
        };
        meta
    }

    #[test]
    fn stored_then_served_restores_origin_headers_and_sets_age() {
        let origin = h(&[
            ("content-type", "application/json"),
            ("cache-control", "max-age=60"),
            ("vary", "X-A"),
            ("etag", "\"v1\""),
            ("age", "3"),
            ("cf-cache-status", "DYNAMIC"),
        ]);
        let now = UnixMillis(1_700_000_000_000);
        let meta = meta_for(&origin, now);
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
    fn removing_not_stored_names_then_adding_edits_is_the_served_form() {
        let origin = h(&[
            ("content-type", "application/json"),
            ("cache-control", "max-age=60, must-revalidate"),
            ("vary", "Accept-Language"),
            ("etag", "\"v1\""),
        ]);
        let now = UnixMillis(1_700_000_000_000);
        let meta = meta_for(&origin, now);
        let mut stored = storage_headers(&origin, &meta);
        // What a runtime may add to its copy.
        stored.push(("cf-cache-status".into(), "HIT".into()));
        let later = now.plus_millis(7_000);
        let mut edited: Vec<(String, String)> = stored
            .iter()
            .filter(|(n, _)| !NOT_STORED.contains(&n.as_str()))
            .cloned()
            .collect();
        edited.extend(served_edits(&meta, later));
        assert_eq!(edited, served_headers(&stored, &meta, later));
        assert_eq!(headers::get(&edited, "age"), Some("7"));
        assert_eq!(headers::get(&edited, "vary"), Some("Accept-Language"));
        assert_eq!(headers::get(&edited, "cf-cache-status"), None);
    }

    #[test]
    fn a_stored_copy_holds_no_unserved_name_beyond_those_stripped_on_serve() {
        // Every unserved name an origin (or an upstream cache) can send, with a storable value;
        // Set-Cookie is left out because such a response is never stored at all.
        let mut origin: Vec<(String, String)> = NOT_STORED
            .iter()
            .filter(|n| **n != "set-cookie")
            .map(|n| {
                let value = match *n {
                    "age" => "3",
                    "cache-control" | "cdn-cache-control" => "max-age=60",
                    "vary" => "X-A",
                    _ => "x",
                };
                (n.to_string(), value.to_string())
            })
            .collect();
        origin.push(("content-type".into(), "application/json".into()));
        let meta = meta_for(&origin, UnixMillis(1_700_000_000_000));
        for (name, _) in storage_headers(&origin, &meta) {
            assert!(
                !NOT_STORED.contains(&name.as_str()) || STRIP_ON_SERVE.contains(&name.as_str()),
                "{name} would be served from a stored copy"
            );
        }
    }

    #[test]
    fn vary_index_round_trips() {
        let index = VaryIndex {
            epoch: 1_700_000_000_123,
            names: vec!["x-a".into(), "x-b".into()],
        };
        let stored = vary_index_headers(&index, 60);
        assert_eq!(vary_index(&stored), Some(index));
        assert_eq!(vary_index(&h(&[("etag", "1")])), None);
        // Written before epochs: epoch 0.
        assert_eq!(
            parse_vary_index("x-a, x-b"),
            VaryIndex {
                epoch: 0,
                names: vec!["x-a".into(), "x-b".into()]
            }
        );
    }
}
