//! What is stored with a response (the `x-edge-meta` header of the Cache API copy), versioned
//! like pingora-cache's `InternalMeta`: the freshness bookkeeping the Cache API lacks.
//!
//! Version policy: only [`META_VERSION`] is read; an entry of another version (including the
//! unversioned entries written before versions existed) is refused, which makes it a miss that
//! is fetched and overwritten. Entries live at most `MAX_ENTRY_LIFETIME_SECS` and a refused one
//! costs one origin request per key after a deploy, so reading old versions is not worth a
//! second code path that could misread them (an old entry has no body length and no
//! `Authorization` verdict, and guessing either would be unsafe).

#[cfg(test)]
use serde::{Deserialize, Serialize};

use crate::json_text::{ObjectWriter, Reader};

/// The version written today. 1 was the unversioned meta; 2 added the version, the body length
/// and the `Authorization` verdict.
pub const META_VERSION: u32 = 2;

/// How long an entry whose freshness ran out is kept for revalidation when it has validators.
pub const REVALIDATION_KEEP_SECS: u64 = 3600;

/// What is kept with a stored response, so that freshness and stale windows can be judged
/// later (the Cache API implements none of that).
///
/// Written and read by hand (`to_header`, `from_header`: every Cache API hit reads one); the
/// serde attributes, compiled for tests only, are the format's definition that property tests
/// hold the hand-written code to.
#[derive(Debug, Clone, PartialEq, Eq)]
#[cfg_attr(test, derive(Serialize, Deserialize))]
pub struct EntryMeta {
    /// The meta format ([`META_VERSION`]); absent in unversioned entries (read as 0).
    #[cfg_attr(test, serde(default))]
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
    #[cfg_attr(test, serde(default))]
    pub auth_ok: bool,
    /// The status stored.
    pub status: u16,
    /// The body's length in bytes, when known (served as `Content-Length`; ranges need it).
    #[cfg_attr(test, serde(default, skip_serializing_if = "Option::is_none"))]
    pub body_bytes: Option<u64>,
    /// The rule that stored it.
    pub rule: String,
    /// Path and normalised query, for purges.
    pub purge_path: String,
    /// Its tags (derived by its rule, and the origin's), for purges by tag.
    #[cfg_attr(test, serde(default, skip_serializing_if = "Vec::is_empty"))]
    pub tags: Vec<String>,
    /// Request headers of the second-level key, when the response varies (see `key::vary_key`;
    /// `key::LANG_VARY` stands for the language the origin chose).
    #[cfg_attr(test, serde(default, skip_serializing_if = "Vec::is_empty"))]
    pub vary: Vec<String>,
    /// The origin's own `Cache-Control` and `Vary`, withheld from the Cache API's copy (which
    /// carries the edge's retention instead) and restored when serving.
    #[cfg_attr(test, serde(default, skip_serializing_if = "Vec::is_empty"))]
    pub withheld: Vec<(String, String)>,
}

impl EntryMeta {
    /// Serialises for the stored response's meta header: the JSON serde writes for the struct
    /// (fields in order, the optional and empty ones left out).
    pub fn to_header(&self) -> String {
        let mut out = String::with_capacity(256);
        let mut o = ObjectWriter::new(&mut out);
        o.u64("v", u64::from(self.v))
            .u64("stored_at_ms", self.stored_at_ms)
            .u64("fresh_secs", self.fresh_secs)
            .u64("initial_age_secs", self.initial_age_secs)
            .u64("swr_secs", self.swr_secs)
            .u64("sie_secs", self.sie_secs)
            .bool("must_revalidate", self.must_revalidate)
            .bool("auth_ok", self.auth_ok)
            .u64("status", u64::from(self.status));
        if let Some(bytes) = self.body_bytes {
            o.u64("body_bytes", bytes);
        }
        o.str("rule", &self.rule)
            .str("purge_path", &self.purge_path);
        if !self.tags.is_empty() {
            o.strs("tags", &self.tags);
        }
        if !self.vary.is_empty() {
            o.strs("vary", &self.vary);
        }
        if !self.withheld.is_empty() {
            o.pairs("withheld", &self.withheld);
        }
        o.end();
        out
    }

    /// Parses a meta header; `None` (treated as a miss) for anything unreadable and for every
    /// version but [`META_VERSION`] (see the module documentation). Reads what serde's derived
    /// `Deserialize` reads: any field order and whitespace, unknown fields passed over, a
    /// field given twice or a required one missing refused, `body_bytes` may be `null`.
    pub fn from_header(value: &str) -> Option<EntryMeta> {
        let mut m = EntryMeta {
            v: 0,
            stored_at_ms: 0,
            fresh_secs: 0,
            initial_age_secs: 0,
            swr_secs: 0,
            sie_secs: 0,
            must_revalidate: false,
            auth_ok: false,
            status: 0,
            body_bytes: None,
            rule: String::new(),
            purge_path: String::new(),
            tags: Vec::new(),
            vary: Vec::new(),
            withheld: Vec::new(),
        };
        // One bit per field, in declaration order: seen (duplicates refused) and required.
        const REQUIRED: u16 = 0b0000_1101_0111_1110;
        let mut seen = 0u16;
        let mut r = Reader::new(value);
        r.object(|key, r| {
            let bit = match key {
                "v" => 0,
                "stored_at_ms" => 1,
                "fresh_secs" => 2,
                "initial_age_secs" => 3,
                "swr_secs" => 4,
                "sie_secs" => 5,
                "must_revalidate" => 6,
                "auth_ok" => 7,
                "status" => 8,
                "body_bytes" => 9,
                "rule" => 10,
                "purge_path" => 11,
                "tags" => 12,
                "vary" => 13,
                "withheld" => 14,
                _ => return r.skip(),
            };
            if seen & (1 << bit) != 0 {
                return None;
            }
            seen |= 1 << bit;
            match bit {
                0 => m.v = u32::try_from(r.u64()?).ok()?,
                1 => m.stored_at_ms = r.u64()?,
                2 => m.fresh_secs = r.u64()?,
                3 => m.initial_age_secs = r.u64()?,
                4 => m.swr_secs = r.u64()?,
                5 => m.sie_secs = r.u64()?,
                6 => m.must_revalidate = r.bool()?,
                7 => m.auth_ok = r.bool()?,
                8 => m.status = u16::try_from(r.u64()?).ok()?,
                9 => m.body_bytes = if r.null() { None } else { Some(r.u64()?) },
                10 => m.rule = r.string()?.into_owned(),
                11 => m.purge_path = r.string()?.into_owned(),
                12 => m.tags = strings(r)?,
                13 => m.vary = strings(r)?,
                _ => {
                    r.array(|r| {
                        let mut pair = Vec::with_capacity(2);
                        r.array(|r| {
                            pair.push(r.string()?.into_owned());
                            (pair.len() <= 2).then_some(())
                        })?;
                        let b = pair.pop()?;
                        let a = pair.pop()?;
                        m.withheld.push((a, b));
                        Some(())
                    })?;
                }
            }
            Some(())
        })?;
        r.end()?;
        (seen & REQUIRED == REQUIRED && m.v == META_VERSION).then_some(m)
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

fn strings(r: &mut Reader<'_>) -> Option<Vec<String>> {
    let mut out = Vec::new();
    r.array(|r| {
        out.push(r.string()?.into_owned());
        Some(())
    })?;
    Some(out)
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

    /// The hand-written reader and writer against serde's derives (native only: proptest).
    #[cfg(not(target_arch = "wasm32"))]
    mod by_hand {
        use super::*;
        use proptest::prelude::*;

        fn serde_read(value: &str) -> Option<EntryMeta> {
            serde_json::from_str::<EntryMeta>(value)
                .ok()
                .filter(|m| m.v == META_VERSION)
        }

        fn any_meta() -> impl Strategy<Value = EntryMeta> {
            let text = || prop_oneof!["[a-z:/?=&_0-9-]{0,20}", any::<String>()];
            (
                (
                    prop_oneof![Just(META_VERSION), any::<u32>()],
                    any::<u64>(),
                    any::<u64>(),
                    any::<u64>(),
                    any::<u64>(),
                    any::<u64>(),
                    any::<bool>(),
                    any::<bool>(),
                    any::<u16>(),
                    any::<Option<u64>>(),
                ),
                (
                    text(),
                    text(),
                    prop::collection::vec(text(), 0..4),
                    prop::collection::vec(text(), 0..3),
                    prop::collection::vec((text(), text()), 0..3),
                ),
            )
                .prop_map(
                    |(
                        (v, st, fr, ia, swr, sie, mr, ao, status, bb),
                        (rule, pp, tags, vary, wh),
                    )| {
                        EntryMeta {
                            v,
                            stored_at_ms: st,
                            fresh_secs: fr,
                            initial_age_secs: ia,
                            swr_secs: swr,
                            sie_secs: sie,
                            must_revalidate: mr,
                            auth_ok: ao,
                            status,
                            body_bytes: bb,
                            rule,
                            purge_path: pp,
                            tags,
                            vary,
                            withheld: wh,
                        }
                    },
                )
        }

        proptest! {
            #[test]
            fn written_as_serde_writes_it_and_read_back(m in any_meta()) {
                let text = m.to_header();
                prop_assert_eq!(&text, &serde_json::to_string(&m).unwrap());
                let read = EntryMeta::from_header(&text);
                prop_assert_eq!(read.clone(), serde_read(&text));
                prop_assert_eq!(read.is_some(), m.v == META_VERSION);
            }

            #[test]
            fn read_as_serde_reads_it_in_any_layout(m in any_meta(), pretty in any::<bool>(), rotate in 0usize..16, extra in any::<bool>()) {
                // Fields in another order, whitespace, an unknown field, a null body length.
                let mut value = serde_json::to_value(&m).unwrap();
                let map = value.as_object_mut().unwrap();
                if extra {
                    map.insert("later".into(), serde_json::json!({"x": [1, 2.5, null, "s"]}));
                    if map.get("body_bytes").is_none() {
                        map.insert("body_bytes".into(), serde_json::Value::Null);
                    }
                }
                let mut fields: Vec<_> = map.clone().into_iter().collect();
                let n = fields.len();
                fields.rotate_left(rotate % n);
                let body: Vec<String> = fields
                    .iter()
                    .map(|(k, v)| format!("{}:{}", serde_json::to_string(k).unwrap(),
                        if pretty { serde_json::to_string_pretty(v).unwrap() } else { v.to_string() }))
                    .collect();
                let text = if pretty { format!("{{\n  {}\n}}\n", body.join(",\n  ")) } else { format!("{{{}}}", body.join(",")) };
                prop_assert_eq!(EntryMeta::from_header(&text), serde_read(&text), "{}", text);
            }

            #[test]
            fn a_damaged_header_is_refused_as_serde_refuses_it(m in any_meta(), cut in 0usize..400, byte in 0u8..128, dup in any::<bool>()) {
                let mut m = m;
                m.v = META_VERSION;
                let text = m.to_header();
                let mut candidates = crate::json_text::testing::damaged(&text, cut, byte);
                if dup {
                    // A field given twice, or one left out.
                    candidates.push(text.replacen("{", "{\"status\":200,", 1));
                    candidates.push(text.replacen("\"sie_secs\":", "\"sie_secz\":", 1));
                }
                for text in candidates {
                    prop_assert_eq!(EntryMeta::from_header(&text), serde_read(&text), "{:?}", text);
                }
            }
        }
    }
}
