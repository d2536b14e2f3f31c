//! The in-memory tier (L1): a byte-bounded LRU of recently served entries, per isolate, in front
//! of the Cache API (L2). A hit here costs no Cache API call.
//!
//! Why it cannot serve anything the Cache API path would not:
//! - keys are the same full cache keys (purge generation, variant, language, second-level vary);
//! - an entry is served only while fresh by its own [`EntryMeta`], and the caller checks the
//!   purge bans against it exactly as for an L2 entry;
//! - an entry lives at most `max_age_ms` (the purge state's refresh period), so an
//!   invalidation this isolate cannot see (a KV-only purge edit, another isolate's unsafe
//!   request) is visible here no later than it would be through the purge state memo.
//!
//! Generic over the stored value so that the policy is tested natively; the Workers glue keeps
//! JavaScript objects (the body's `ArrayBuffer`) as values, outside the Wasm heap.

use std::collections::{HashMap, VecDeque};

use crate::cache::entry::VaryIndex;
use crate::time::UnixMillis;

/// Bytes counted for an entry beyond its body and headers (key, bookkeeping).
pub const ENTRY_OVERHEAD_BYTES: usize = 256;

/// The largest entry a tier of `capacity_bytes` takes: an eighth, so that one response cannot
/// flush the others.
pub fn max_entry_bytes(capacity_bytes: usize) -> usize {
    capacity_bytes / 8
}

/// What the tier holds under a key.
#[derive(Debug, Clone, PartialEq)]
pub enum Slot<V> {
    /// The response varies: the vary index its second-level keys are built from.
    VaryIndex(VaryIndex),
    /// A stored response.
    Entry(V),
}

struct Node<V> {
    slot: Slot<V>,
    bytes: usize,
    inserted_at: UnixMillis,
    tick: u64,
}

/// A byte-bounded LRU with a maximum entry age.
pub struct MemoryCache<V> {
    capacity_bytes: usize,
    max_entry_bytes: usize,
    max_age_ms: u64,
    used_bytes: usize,
    tick: u64,
    nodes: HashMap<String, Node<V>>,
    /// Recency: `(tick, key)` in tick order, oldest first. A use appends a new pair and leaves
    /// the old one behind; a pair is current while its key's node has its tick, and stale pairs
    /// are skipped when evicting and swept when they outnumber the nodes (so the queue stays
    /// under twice the entries). Same order as a map by tick, amortised O(1) a use, and one
    /// small queue in the Wasm instead of a B-tree.
    order: VecDeque<(u64, String)>,
    /// Primary keys invalidated by an unsafe request, and when: an entry stored before that is
    /// never held again, even when a lookup racing the invalidation reads it back.
    invalidated: HashMap<String, UnixMillis>,
    hits: u64,
    misses: u64,
    evictions: u64,
}

/// Counters of the tier, for stats and metrics.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize)]
pub struct MemoryStats {
    /// Entries held (vary indexes included).
    pub entries: usize,
    /// Bytes counted against the capacity.
    pub used_bytes: usize,
    /// The capacity in bytes (0: the tier is off).
    pub capacity_bytes: usize,
    /// Lookups answered.
    pub hits: u64,
    /// Lookups not answered (absent or too old).
    pub misses: u64,
    /// Entries dropped to make room.
    pub evictions: u64,
}

impl MemoryStats {
    /// The stats endpoint's form: what `serde_json::to_value` makes of it (a test pins it),
    /// built without serde_json's `Value` serializer.
    pub fn to_json(&self) -> serde_json::Value {
        object! {
            "entries": self.entries,
            "used_bytes": self.used_bytes,
            "capacity_bytes": self.capacity_bytes,
            "hits": self.hits,
            "misses": self.misses,
            "evictions": self.evictions,
        }
    }
}

impl<V> MemoryCache<V> {
    /// A tier of `capacity_bytes` (0 turns it off) whose entries live at most `max_age_ms`.
    /// No entry may take more than an eighth of the capacity, so one response cannot flush
    /// the others.
    pub fn new(capacity_bytes: usize, max_age_ms: u64) -> MemoryCache<V> {
        MemoryCache {
            capacity_bytes,
            max_entry_bytes: max_entry_bytes(capacity_bytes),
            max_age_ms,
            used_bytes: 0,
            tick: 0,
            nodes: HashMap::new(),
            order: VecDeque::new(),
            invalidated: HashMap::new(),
            hits: 0,
            misses: 0,
            evictions: 0,
        }
    }

    /// Whether the tier holds anything at all.
    pub fn enabled(&self) -> bool {
        self.capacity_bytes > 0 && self.max_age_ms > 0
    }

    /// The largest entry (body + headers) the tier takes.
    pub fn max_entry_bytes(&self) -> usize {
        self.max_entry_bytes
    }

    /// The slot under `key` if it is younger than the maximum age; marks it recently used.
    /// An entry too old is dropped.
    pub fn get(&mut self, key: &str, now: UnixMillis) -> Option<&Slot<V>> {
        let expired = match self.nodes.get(key) {
            None => {
                self.misses += 1;
                return None;
            }
            Some(node) => now.since(node.inserted_at) >= self.max_age_ms,
        };
        if expired {
            self.remove(key);
            self.misses += 1;
            return None;
        }
        self.sweep_order();
        self.tick += 1;
        let tick = self.tick;
        let node = self.nodes.get_mut(key)?;
        node.tick = tick;
        self.order.push_back((tick, key.to_string()));
        self.hits += 1;
        Some(&node.slot)
    }

    /// Holds `slot` under `key` (replacing what was there), counting `bytes` of payload.
    /// Returns false, holding nothing, when the tier is off or the entry is too large.
    pub fn insert(&mut self, key: String, slot: Slot<V>, bytes: usize, now: UnixMillis) -> bool {
        let bytes = bytes.saturating_add(key.len() + ENTRY_OVERHEAD_BYTES);
        self.remove(&key);
        if !self.enabled() || bytes > self.max_entry_bytes {
            return false;
        }
        self.sweep_order();
        while self.used_bytes + bytes > self.capacity_bytes {
            let Some((tick, oldest)) = self.order.pop_front() else {
                break;
            };
            if self.nodes.get(&oldest).is_some_and(|n| n.tick == tick) {
                if let Some(node) = self.nodes.remove(&oldest) {
                    self.used_bytes -= node.bytes;
                    self.evictions += 1;
                }
            }
        }
        self.tick += 1;
        self.order.push_back((self.tick, key.clone()));
        self.used_bytes += bytes;
        self.nodes.insert(
            key,
            Node {
                slot,
                bytes,
                inserted_at: now,
                tick: self.tick,
            },
        );
        true
    }

    /// Drops the stale pairs of `order` once they outnumber the nodes (plus a few, so that a
    /// small tier is not swept on every use): amortised O(1) a use. Called before a pair is
    /// added, so the queue holds at most twice the nodes plus 33.
    fn sweep_order(&mut self) {
        if self.order.len() > 2 * self.nodes.len() + 32 {
            let nodes = &self.nodes;
            self.order
                .retain(|(tick, key)| nodes.get(key).is_some_and(|n| n.tick == *tick));
        }
    }

    /// Drops the slot under `key`; true when there was one.
    pub fn remove(&mut self, key: &str) -> bool {
        match self.nodes.remove(key) {
            Some(node) => {
                // Its pair in `order` is stale from now on.
                self.used_bytes -= node.bytes;
                true
            }
            None => false,
        }
    }

    /// Drops `key` and every second-level key under it (`key?~vary~…`, `key&~vary~…`); returns
    /// how many slots went.
    pub fn remove_with_variants(&mut self, key: &str) -> usize {
        let doomed: Vec<String> = self
            .nodes
            .keys()
            .filter(|k| {
                k.as_str() == key
                    || k.strip_prefix(key).is_some_and(|rest| {
                        rest.strip_prefix(['?', '&'])
                            .is_some_and(|r| r.starts_with(crate::cache::key::VARY_MARKER))
                    })
            })
            .cloned()
            .collect();
        for k in &doomed {
            self.remove(k);
        }
        doomed.len()
    }

    /// RFC 9111 §4.4 invalidation of a primary key at `now`: drops it with its second-level keys,
    /// and for the tier's maximum age refuses to hold any entry under it stored at or before
    /// `now` (a lookup that started before the Cache API copy was deleted may read it back).
    pub fn invalidate(&mut self, key: &str, now: UnixMillis) -> usize {
        let max_age = self.max_age_ms;
        self.invalidated.retain(|_, at| now.since(*at) < max_age);
        if self.enabled() {
            self.invalidated.insert(key.to_string(), now);
        }
        self.remove_with_variants(key)
    }

    /// Whether an entry under `primary` stored at `stored_at` was invalidated since.
    pub fn invalidated_since(&self, primary: &str, stored_at: UnixMillis, now: UnixMillis) -> bool {
        self.invalidated
            .get(primary)
            .is_some_and(|at| stored_at <= *at && now.since(*at) < self.max_age_ms)
    }

    /// Drops everything (a purge of everything already changes every key; this frees the memory
    /// at once).
    pub fn clear(&mut self) {
        self.nodes.clear();
        self.order.clear();
        self.used_bytes = 0;
    }

    /// The tier's counters.
    pub fn stats(&self) -> MemoryStats {
        MemoryStats {
            entries: self.nodes.len(),
            used_bytes: self.used_bytes,
            capacity_bytes: self.capacity_bytes,
            hits: self.hits,
            misses: self.misses,
            evictions: self.evictions,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stats_read_as_their_serde_form() {
        let stats = MemoryStats {
            entries: 1,
            used_bytes: 2,
            capacity_bytes: 3,
            hits: 4,
            misses: 5,
            evictions: 6,
        };
        assert_eq!(stats.to_json(), serde_json::to_value(stats).unwrap());
    }

    const T0: UnixMillis = UnixMillis(1_700_000_000_000);

    fn entry(c: &mut MemoryCache<&'static str>, key: &str, bytes: usize) -> bool {
        c.insert(key.to_string(), Slot::Entry("v"), bytes, T0)
    }

    #[test]
    fn recency_queue_stays_under_twice_the_entries_and_evicts_the_least_recently_used() {
        let mut c = MemoryCache::new(10 * (300 + 1 + ENTRY_OVERHEAD_BYTES), 60_000);
        for k in ["a", "b", "c"] {
            assert!(entry(&mut c, k, 300));
        }
        for i in 0..10_000 {
            let k = ["a", "c"][i % 2];
            assert!(c.get(k, T0).is_some());
            if i % 7 == 0 {
                assert!(entry(&mut c, "c", 300), "re-inserted");
            }
            assert!(c.order.len() <= 2 * c.nodes.len() + 33, "{}", c.order.len());
        }
        // Fill up: "b", untouched since it was stored, goes first.
        for k in ["d", "e", "f", "g", "h", "i", "j"] {
            assert!(entry(&mut c, k, 300));
        }
        assert!(entry(&mut c, "k", 300));
        assert!(
            c.get("b", T0).is_none(),
            "the least recently used went first"
        );
        assert!(c.get("a", T0).is_some() && c.get("c", T0).is_some());
        assert_eq!(c.stats().evictions, 1);
    }

    #[test]
    fn serves_until_the_maximum_age_then_drops() {
        let mut c = MemoryCache::new(1 << 20, 5_000);
        assert!(entry(&mut c, "k", 100));
        assert_eq!(c.get("k", T0.plus_millis(4_999)), Some(&Slot::Entry("v")));
        assert_eq!(c.get("k", T0.plus_millis(5_000)), None);
        assert_eq!(c.stats().entries, 0, "an entry too old is dropped");
        assert_eq!(c.stats().used_bytes, 0);
        assert_eq!((c.stats().hits, c.stats().misses), (1, 1));
    }

    #[test]
    fn evicts_least_recently_used_first_and_keeps_within_capacity() {
        // 8 KiB: entries up to 1 KiB, each counted with key + overhead.
        let mut c = MemoryCache::new(8 * 1024, 60_000);
        for i in 0..7 {
            assert!(entry(&mut c, &format!("k{i}"), 700));
        }
        // Touch k0 so that k1 is the oldest.
        assert!(c.get("k0", T0).is_some());
        assert!(entry(&mut c, "k7", 700));
        assert!(entry(&mut c, "k8", 700));
        assert!(c.stats().used_bytes <= 8 * 1024);
        assert!(c.get("k0", T0).is_some(), "recently used entry kept");
        assert!(
            c.get("k1", T0).is_none(),
            "least recently used entry evicted"
        );
        assert!(c.stats().evictions >= 1);
    }

    #[test]
    fn refuses_entries_over_an_eighth_of_capacity_and_when_off() {
        let mut c = MemoryCache::new(8 * 1024, 60_000);
        assert!(!entry(&mut c, "big", 1024));
        assert_eq!(c.stats().entries, 0);
        let mut off: MemoryCache<&str> = MemoryCache::new(0, 60_000);
        assert!(!off.enabled());
        assert!(!entry(&mut off, "k", 1));
        let mut no_age: MemoryCache<&str> = MemoryCache::new(1 << 20, 0);
        assert!(!entry(&mut no_age, "k", 1));
    }

    #[test]
    fn replacing_a_key_does_not_count_it_twice() {
        let mut c = MemoryCache::new(1 << 20, 60_000);
        entry(&mut c, "k", 100);
        let once = c.stats().used_bytes;
        entry(&mut c, "k", 100);
        assert_eq!(c.stats().used_bytes, once);
        assert_eq!(c.stats().entries, 1);
    }

    #[test]
    fn a_refused_replacement_drops_the_old_value() {
        // Never serve an older body after a newer one could not be held.
        let mut c = MemoryCache::new(8 * 1024, 60_000);
        entry(&mut c, "k", 100);
        assert!(!entry(&mut c, "k", 4096));
        assert!(c.get("k", T0).is_none());
    }

    #[test]
    fn remove_with_variants_drops_second_level_keys_only_of_that_key() {
        let mut c = MemoryCache::new(1 << 20, 60_000);
        c.insert(
            "https://h/p".into(),
            Slot::VaryIndex(VaryIndex {
                epoch: 1,
                names: vec!["x-a".into()],
            }),
            10,
            T0,
        );
        entry(&mut c, "https://h/p?~vary~1~x-a=1", 10);
        entry(&mut c, "https://h/p?q=1&~vary~1~x-a=1", 10);
        entry(&mut c, "https://h/p2", 10);
        entry(&mut c, "https://h/p?q=1", 10);
        assert_eq!(c.remove_with_variants("https://h/p"), 2);
        assert!(c.get("https://h/p2", T0).is_some());
        assert!(c.get("https://h/p?q=1", T0).is_some());
        assert_eq!(c.remove_with_variants("https://h/p?q=1"), 2);
        assert_eq!(c.stats().entries, 1);
    }

    #[test]
    fn an_invalidated_key_refuses_older_entries_for_the_maximum_age() {
        let mut c: MemoryCache<&str> = MemoryCache::new(1 << 20, 5_000);
        entry(&mut c, "https://h/p", 10);
        let post = T0.plus_millis(1_000);
        assert_eq!(c.invalidate("https://h/p", post), 1);
        assert!(c.get("https://h/p", post).is_none());
        // A copy stored before the invalidation (read back from the Cache API by a racing
        // lookup) is refused; one stored after it is not.
        assert!(c.invalidated_since("https://h/p", T0, post.plus_millis(10)));
        assert!(c.invalidated_since("https://h/p", post, post.plus_millis(10)));
        assert!(!c.invalidated_since("https://h/p", post.plus_millis(1), post.plus_millis(10)));
        assert!(!c.invalidated_since("https://h/other", T0, post));
        // After the maximum age the Cache API copy is long deleted: the record goes.
        assert!(!c.invalidated_since("https://h/p", T0, post.plus_millis(5_000)));
        c.invalidate("https://h/q", post.plus_millis(6_000));
        assert_eq!(c.invalidated.len(), 1, "old records are pruned");
    }

    #[test]
    fn clear_frees_everything() {
        let mut c = MemoryCache::new(1 << 20, 60_000);
        entry(&mut c, "a", 10);
        entry(&mut c, "b", 10);
        c.clear();
        assert_eq!(c.stats().entries, 0);
        assert_eq!(c.stats().used_bytes, 0);
    }
}
