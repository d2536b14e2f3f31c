//! The in-memory tier (L1) of this isolate: the core's [`MemoryCache`] holding the bodies as
//! JavaScript `ArrayBuffer`s (outside the Wasm heap) and the served headers as a ready
//! `Headers` object, so that a hit copies them in the runtime, not through Wasm. Also what else
//! the isolate keeps on purpose: its claims on keys and its budget of bytes held for storing.

use std::cell::RefCell;
use std::rc::Rc;

use js_sys::ArrayBuffer;
use worker::web_sys;

use super::convert;
use super::reply::BaseHeaders;
use crate::cache::body::StoreBudget;
use crate::cache::entry::{self, VaryIndex};
use crate::cache::freshness;
use crate::cache::key;
use crate::cache::lock::Locks;
use crate::cache::memory::{MemoryCache, MemoryStats, Slot};
use crate::cache::policy::EntryMeta;
use crate::config::EdgeConfig;
use crate::headers::{self, HeaderList};
use crate::lang::Lang;
use crate::time::UnixMillis;

/// A response held in memory (shared: a hit borrows it, never copies the meta).
pub struct Held {
    /// The body.
    pub body: ArrayBuffer,
    /// The stored headers without [`entry::NOT_STORED`] (what serving starts from).
    pub headers: web_sys::Headers,
    /// The entry's meta.
    pub meta: EntryMeta,
    /// `ETag`, `Last-Modified` and `Date`, for answering conditional and range requests.
    pub validators: Vec<(String, String)>,
}

/// What the isolate holds in memory on purpose: the tier's size, the longest an entry may live
/// in it, and the budget of bytes held for storing.
#[derive(Clone, Copy, Debug)]
pub struct Limits {
    /// Capacity in bytes (0: off).
    pub bytes: u64,
    /// Longest life of an entry, in milliseconds (the purge state's refresh period).
    pub max_age_ms: u64,
    /// The budget of bytes held for bodies being stored (`STORE_BUFFER_BYTES`).
    pub store_bytes: u64,
}

/// The limits from the configuration: entries live at most the purge state's refresh period.
pub fn limits(config: &EdgeConfig) -> Limits {
    Limits {
        bytes: config.memory_cache_bytes,
        max_age_ms: config.state_refresh_ms,
        store_bytes: config.store_buffer_bytes,
    }
}

impl Limits {
    /// This isolate's budget of bytes held for storing.
    pub fn budget(&self) -> StoreBudget {
        store_budget(self.store_bytes)
    }

    /// Whether the tier is on.
    pub fn on(&self) -> bool {
        self.bytes > 0 && self.max_age_ms > 0
    }

    /// The largest body the tier holds (0 when it is off).
    pub fn entry_limit(&self) -> u64 {
        if !self.on() {
            return 0;
        }
        let max = crate::cache::memory::max_entry_bytes(
            usize::try_from(self.bytes).unwrap_or(usize::MAX),
        );
        u64::try_from(max).unwrap_or(u64::MAX)
    }
}

thread_local! {
    static TIER: RefCell<Option<MemoryCache<Rc<Held>>>> = const { RefCell::new(None) };
    static MISSES: Locks = Locks::default();
    static REFRESHES: Locks = Locks::default();
    static BUDGET: RefCell<Option<StoreBudget>> = const { RefCell::new(None) };
}

/// This isolate's budget of bytes held for storing (`STORE_BUFFER_BYTES`, fixed for the life of
/// the isolate like every var).
pub fn store_budget(capacity_bytes: u64) -> StoreBudget {
    BUDGET.with(|b| {
        b.borrow_mut()
            .get_or_insert_with(|| StoreBudget::new(capacity_bytes))
            .clone()
    })
}

/// This isolate's claims on misses in flight (request coalescing).
pub fn misses() -> Locks {
    MISSES.with(Locks::clone)
}

/// This isolate's claims on background refreshes (one stale-while-revalidate refresh per key).
pub fn refreshes() -> Locks {
    REFRESHES.with(Locks::clone)
}

fn with<T>(limits: Limits, f: impl FnOnce(&mut MemoryCache<Rc<Held>>) -> T) -> T {
    TIER.with(|t| {
        let mut t = t.borrow_mut();
        f(t.get_or_insert_with(|| {
            MemoryCache::new(
                usize::try_from(limits.bytes).unwrap_or(usize::MAX),
                limits.max_age_ms,
            )
        }))
    })
}

/// The held response for a request's primary key, following a vary index.
pub fn lookup(
    limits: Limits,
    primary: &str,
    request_headers: &HeaderList,
    request_lang: Lang,
    now: UnixMillis,
) -> Option<(String, Rc<Held>)> {
    if !limits.on() {
        return None;
    }
    with(limits, |tier| match tier.get(primary, now)? {
        Slot::Entry(held) => Some((primary.to_string(), held.clone())),
        Slot::VaryIndex(index) => {
            let second = key::vary_key(
                primary,
                index.epoch,
                &index.names,
                request_headers,
                request_lang,
            );
            match tier.get(&second, now)? {
                Slot::Entry(held) => Some((second, held.clone())),
                Slot::VaryIndex(_) => None,
            }
        }
    })
}

/// Holds an entry about to be stored (or just read from the Cache API) under `target`:
/// `origin_headers` are the origin's (or the stored copy's) headers; `index` is the vary index
/// held at `primary` when the response varies.
#[allow(clippy::too_many_arguments)]
pub fn hold(
    limits: Limits,
    primary: &str,
    target: &str,
    index: Option<&VaryIndex>,
    meta: &EntryMeta,
    origin_headers: &HeaderList,
    origin_base: Option<&BaseHeaders>,
    body: &ArrayBuffer,
    now: UnixMillis,
) {
    if !limits.on() {
        return;
    }
    let base: Vec<(String, String)> = origin_headers
        .iter()
        .filter(|(n, _)| !entry::NOT_STORED.contains(&n.as_str()))
        .cloned()
        .collect();
    let header_bytes: usize = base.iter().map(|(n, v)| n.len() + v.len()).sum();
    let bytes = body.byte_length() as usize + header_bytes;
    let validators = freshness::validators(|n| headers::get(&base, n).map(str::to_string));
    let held = Rc::new(Held {
        body: body.clone(),
        headers: origin_base
            .and_then(|b| convert::headers_over(b, &base))
            .unwrap_or_else(|| convert::to_headers(&base).0),
        meta: meta.clone(),
        validators,
    });
    // An entry too large is refused, and an older copy under its key dropped with it.
    with(limits, |tier| {
        if tier.invalidated_since(primary, UnixMillis(meta.stored_at_ms), now) {
            return;
        }
        if let Some(index) = index {
            let names_bytes = index.names.iter().map(String::len).sum();
            tier.insert(
                primary.to_string(),
                Slot::VaryIndex(index.clone()),
                names_bytes,
                now,
            );
        }
        tier.insert(target.to_string(), Slot::Entry(held), bytes, now);
    });
}

/// Drops a key (a stale or purged entry found in memory).
pub fn drop_key(limits: Limits, key: &str) {
    if limits.on() {
        with(limits, |tier| tier.remove(key));
    }
}

/// Drops a primary key and its second-level keys, and refuses older copies of them for a while
/// (RFC 9111 §4.4 invalidation; see [`MemoryCache::invalidate`]).
pub fn invalidate(limits: Limits, key: &str, now: UnixMillis) {
    if limits.on() {
        with(limits, |tier| tier.invalidate(key, now));
    }
}

/// Drops everything (a purge of everything).
pub fn clear() {
    TIER.with(|t| {
        if let Some(tier) = t.borrow_mut().as_mut() {
            tier.clear();
        }
    });
}

/// The tier's counters (all zero until this isolate first uses it).
pub fn stats(capacity_bytes: u64) -> MemoryStats {
    TIER.with(|t| match t.borrow().as_ref() {
        Some(tier) => tier.stats(),
        None => MemoryStats {
            capacity_bytes: usize::try_from(capacity_bytes).unwrap_or(usize::MAX),
            ..MemoryStats::default()
        },
    })
}

#[cfg(all(test, target_arch = "wasm32"))]
mod tests {
    use super::*;
    use wasm_bindgen_test::wasm_bindgen_test;

    use crate::headers::owned as h;
    use crate::lang::Lang;

    /// One set of limits for every test: the tier is created once per isolate, by its first use.
    const LIMITS: Limits = Limits {
        bytes: 1 << 20,
        max_age_ms: 5_000,
        store_bytes: 24 << 20,
    };
    const T0: UnixMillis = UnixMillis(1_795_700_000_000);

    fn meta(stored_at_ms: u64) -> EntryMeta {
        EntryMeta {
            v: crate::cache::meta::META_VERSION,
            stored_at_ms,
            fresh_secs: 600,
            initial_age_secs: 0,
            swr_secs: 0,
            sie_secs: 0,
            must_revalidate: false,
            auth_ok: false,
            status: 200,
            body_bytes: None,
            rule: "categories".into(),
            purge_path: "/api".into(),
            tags: vec![],
            vary: vec![],
            withheld: vec![],
        }
    }

    fn body(text: &str) -> ArrayBuffer {
        js_sys::Uint8Array::from(text.as_bytes()).buffer()
    }

    fn text(buf: &ArrayBuffer) -> String {
        String::from_utf8(js_sys::Uint8Array::new(buf).to_vec()).unwrap()
    }

    /// Holds `text` under its own primary key (no vary), stored at `stored_at_ms`, at `now_ms`.
    fn hold_plain(key: &str, stored_at_ms: u64, text: &str, now_ms: u64) {
        let at = UnixMillis(now_ms);
        hold(
            LIMITS,
            key,
            key,
            None,
            &meta(stored_at_ms),
            &[],
            None,
            &body(text),
            at,
        );
    }

    #[wasm_bindgen_test]
    fn a_held_response_is_served_from_memory_until_its_max_age() {
        let origin = h(&[
            ("content-type", "application/json"),
            ("etag", "\"v1\""),
            ("set-cookie", "never=held"),
            ("cache-control", "max-age=60"),
        ]);
        hold(
            LIMITS,
            "k:held",
            "k:held",
            None,
            &meta(T0.0),
            &origin,
            None,
            &body("{}"),
            T0,
        );
        let (key, held) =
            lookup(LIMITS, "k:held", &[], Lang::Sr, UnixMillis(T0.0 + 4_999)).unwrap();
        assert_eq!(key, "k:held");
        assert_eq!(text(&held.body), "{}");
        assert_eq!(held.meta.stored_at_ms, T0.0);
        // What is not stored (NOT_STORED) is not held either; validators are kept apart.
        let served = convert::header_pairs(&worker::Headers(held.headers.clone()));
        assert_eq!(
            served,
            h(&[("content-type", "application/json"), ("etag", "\"v1\"")])
        );
        assert_eq!(held.validators, h(&[("etag", "\"v1\"")]));
        assert!(lookup(LIMITS, "k:held", &[], Lang::Sr, UnixMillis(T0.0 + 5_000)).is_none());
    }

    #[wasm_bindgen_test]
    fn a_varying_response_is_found_through_its_vary_index() {
        let index = VaryIndex {
            epoch: 42,
            names: vec!["accept".into()],
        };
        let json = h(&[("accept", "application/json")]);
        let second = key::vary_key("k:vary", 42, &index.names, &json, Lang::Sr);
        hold(
            LIMITS,
            "k:vary",
            &second,
            Some(&index),
            &meta(T0.0),
            &[],
            None,
            &body("json"),
            T0,
        );
        let (key, held) = lookup(LIMITS, "k:vary", &json, Lang::Sr, T0).unwrap();
        assert_eq!((key, text(&held.body)), (second, "json".to_string()));
        assert!(lookup(
            LIMITS,
            "k:vary",
            &h(&[("accept", "text/html")]),
            Lang::Sr,
            T0
        )
        .is_none());
    }

    #[wasm_bindgen_test]
    fn an_invalidated_key_refuses_older_copies_and_keeps_newer_ones() {
        hold_plain("k:inv", T0.0, "old", T0.0);
        invalidate(LIMITS, "k:inv", UnixMillis(T0.0 + 10));
        assert!(lookup(LIMITS, "k:inv", &[], Lang::Sr, UnixMillis(T0.0 + 11)).is_none());
        // A racing read of a copy stored before the invalidation is not held again …
        hold_plain("k:inv", T0.0, "old", T0.0 + 12);
        assert!(lookup(LIMITS, "k:inv", &[], Lang::Sr, UnixMillis(T0.0 + 13)).is_none());
        // … a response stored after it is.
        hold_plain("k:inv", T0.0 + 20, "new", T0.0 + 20);
        let (_, held) = lookup(LIMITS, "k:inv", &[], Lang::Sr, UnixMillis(T0.0 + 21)).unwrap();
        assert_eq!(text(&held.body), "new");
        drop_key(LIMITS, "k:inv");
        assert!(lookup(LIMITS, "k:inv", &[], Lang::Sr, UnixMillis(T0.0 + 22)).is_none());
    }

    #[wasm_bindgen_test]
    fn the_tier_is_off_at_zero_bytes_and_counts_what_it_holds() {
        let off = Limits {
            bytes: 0,
            max_age_ms: 5_000,
            store_bytes: 24 << 20,
        };
        assert!(!off.on() && off.entry_limit() == 0);
        hold(
            off,
            "k:off",
            "k:off",
            None,
            &meta(T0.0),
            &[],
            None,
            &body("x"),
            T0,
        );
        assert!(lookup(off, "k:off", &[], Lang::Sr, T0).is_none());
        // An eighth of the capacity is the largest body held.
        let limit = LIMITS.entry_limit();
        assert!(1000 < limit && LIMITS.bytes / 8 >= limit);

        hold(
            LIMITS,
            "k:count",
            "k:count",
            None,
            &meta(T0.0),
            &[],
            None,
            &body("12345"),
            T0,
        );
        let before = stats(LIMITS.bytes);
        assert!(before.entries >= 1 && before.used_bytes >= 5, "{before:?}");
        clear();
        let after = stats(LIMITS.bytes);
        assert_eq!((after.entries, after.used_bytes), (0, 0));
        assert_eq!(after.capacity_bytes, LIMITS.bytes as usize);
    }
}
