//! What is stored with a response (the `x-edge-meta` header of the Cache API copy), versioned
//! like pingora-cache's `InternalMeta`: the freshness bookkeeping the Cache API lacks.
//!
//! Version policy: only [`META_VERSION`] is read; an entry of another version (including the
//! unversioned entries written before versions existed) is refused, which makes it a miss that
//! is fetched and overwritten. Entries live at most `MAX_ENTRY_LIFETIME_SECS` and a refused one
//! costs one origin request per key after a deploy, so reading old versions is not worth a
//! second code path that could misread them (an old entry has no body length and no
//! `Authorization` verdict, and guessing either would be unsafe).

use serde::{Deserialize, Serialize};

/// The version written today. 1 was the unversioned meta; 2 added the version, the body length
/// and the `Authorization` verdict.
pub const META_VERSION: u32 = 2;

/// How long an entry whose freshness ran out is kept for revalidation when it has validators.
pub const REVALIDATION_KEEP_SECS: u64 = 3600;

/// What is kept with a stored response, so that freshness and stale windows can be judged
/// later (the Cache API implements none of that).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EntryMeta {
    /// The meta format ([`META_VERSION`]); absent in unversioned entries (read as 0).
    #[serde(default)]
    pub v: u32,
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
    /// Never served stale (`must-revalidate`, `proxy-revalidate`, `s-maxage`, `no-cache` in
    /// `origin` mode; RFC 9111 §5.2.2.2, §5.2.2.8, §5.2.2.10).
    pub must_revalidate: bool,
    /// May be served to a request that carries `Authorization` (the response said `public`,
    /// `s-maxage` or `must-revalidate`, RFC 9111 §3.5).
    #[serde(default)]
    pub auth_ok: bool,
    /// The status stored.
    pub status: u16,
    /// The body's length in bytes, when known (served as `Content-Length`; ranges need it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub body_bytes: Option<u64>,
    /// The rule that stored it.
    pub rule: String,
    /// Path and normalised query, for purges.
    pub purge_path: String,
    /// Its tags (derived by its rule, and the origin's), for purges by tag.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tags: Vec<String>,
    /// Request headers of the second-level key, when the response varies (see `key::vary_key`;
    /// `key::LANG_VARY` stands for the language the origin chose).
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

    /// Parses a meta header; `None` (treated as a miss) for anything unreadable and for every
    /// version but [`META_VERSION`] (see the module documentation).
    pub fn from_header(value: &str) -> Option<EntryMeta> {
        serde_json::from_str::<EntryMeta>(value)
            .ok()
            .filter(|m| m.v == META_VERSION)
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

#[cfg(test)]
mod tests {
    use super::*;

    fn meta() -> EntryMeta {
        EntryMeta {
            v: META_VERSION,
            stored_at_ms: 1_700_000_000_000,
            fresh_secs: 60,
            initial_age_secs: 0,
            swr_secs: 0,
            sie_secs: 0,
            must_revalidate: false,
            auth_ok: false,
            status: 200,
            body_bytes: Some(10),
            rule: "default".into(),
            purge_path: "/x".into(),
            tags: vec!["category:1".into()],
            vary: vec![],
            withheld: vec![],
        }
    }

    #[test]
    fn the_current_version_round_trips() {
        let m = meta();
        assert_eq!(EntryMeta::from_header(&m.to_header()), Some(m));
    }

    #[test]
    fn other_versions_and_unversioned_entries_are_refused() {
        let mut old = meta();
        old.v = 1;
        assert_eq!(EntryMeta::from_header(&old.to_header()), None);
        old.v = META_VERSION + 1;
        assert_eq!(EntryMeta::from_header(&old.to_header()), None);
        // What version 1 wrote: no "v", no body length.
        let unversioned = r#"{"stored_at_ms":1,"fresh_secs":60,"initial_age_secs":0,"swr_secs":0,"sie_secs":0,"must_revalidate":false,"status":200,"rule":"default","purge_path":"/x"}"#;
        assert_eq!(EntryMeta::from_header(unversioned), None);
        assert_eq!(EntryMeta::from_header("{garbage"), None);
    }
}
