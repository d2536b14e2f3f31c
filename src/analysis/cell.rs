//! What the edge counts per (variant, route, 10-second bucket), and how counts merge: in an
//! isolate between flushes, in an aggregator across isolates, and across aggregators for a
//! fleet-wide window. Buckets are 10 s (not a minute) so that an analysis can start right after
//! a rollout starts without counting what came before it.
//!
//! The variant is the one the request was **assigned** — a canary request that failed and was
//! served by stable (the fallback) counts as a canary request with an origin error and a
//! fallback, so a failing canary is visible even when no user saw it fail.

use crate::vec_map::VecMap;

use serde::{Deserialize, Serialize};

use super::histogram::Histogram;
use crate::variant::Variant;

/// The length of a bucket.
pub const BUCKET_MS: u64 = 10_000;
/// Buckets per minute.
pub const BUCKETS_PER_MINUTE: u64 = 60_000 / BUCKET_MS;

/// The bucket of a time: Unix milliseconds / 10 000.
pub fn bucket_of(at_ms: u64) -> u64 {
    at_ms / BUCKET_MS
}

/// Where a cell's counts belong.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct CellKey {
    /// The 10-second bucket.
    pub bucket: u64,
    /// `stable` or `canary` (the assigned variant).
    pub variant: Variant,
    /// The route rule id.
    pub route: String,
}

/// Counts of one (variant, route, minute).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Cell {
    /// Requests.
    pub requests: u64,
    /// Origin failures: 5xx answers, timeouts, unreachable — including the canary's failures a
    /// fallback hid from the user.
    pub errors: u64,
    /// Canary requests answered by stable after the canary failed.
    pub fallbacks: u64,
    /// Cache hits (fresh or stale).
    pub hits: u64,
    /// Cache misses (miss, expired, revalidated: the origin was asked).
    pub misses: u64,
    /// Requests that did not use the cache.
    pub bypass: u64,
    /// Edge total time per request.
    pub total_ms: Histogram,
    /// Time to the origin's response headers, for requests that contacted it.
    pub origin_ms: Histogram,
}

/// One request, as the analysis sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Observation<'a> {
    /// When.
    pub at_ms: u64,
    /// The assigned variant.
    pub variant: Variant,
    /// The route rule id.
    pub route: &'a str,
    /// Whether the (assigned) origin failed.
    pub origin_error: bool,
    /// Whether the canary failed and stable answered.
    pub fallback: bool,
    /// The cache outcome word (`hit`, `miss`, `stale`, …), if the route is cacheable.
    pub outcome: Option<&'a str>,
    /// Edge total time.
    pub total_ms: u64,
    /// Time to the origin's headers, when contacted.
    pub origin_ms: Option<u64>,
}

impl Cell {
    /// Counts one request.
    pub fn record(&mut self, o: &Observation<'_>) {
        self.requests += 1;
        self.errors += u64::from(o.origin_error);
        self.fallbacks += u64::from(o.fallback);
        match o.outcome {
            Some("hit" | "stale") => self.hits += 1,
            Some("miss" | "expired" | "revalidated") => self.misses += 1,
            _ => self.bypass += 1,
        }
        self.total_ms.record(o.total_ms);
        if let Some(ms) = o.origin_ms {
            self.origin_ms.record(ms);
        }
    }

    /// Adds another cell's counts.
    pub fn merge(&mut self, other: &Cell) {
        self.requests = self.requests.saturating_add(other.requests);
        self.errors = self.errors.saturating_add(other.errors);
        self.fallbacks = self.fallbacks.saturating_add(other.fallbacks);
        self.hits = self.hits.saturating_add(other.hits);
        self.misses = self.misses.saturating_add(other.misses);
        self.bypass = self.bypass.saturating_add(other.bypass);
        self.total_ms.merge(&other.total_ms);
        self.origin_ms.merge(&other.origin_ms);
    }
}

/// Cells by key.
pub type Cells = VecMap<CellKey, Cell>;

/// Adds `cells` into `into`.
pub fn merge_into(into: &mut Cells, cells: impl IntoIterator<Item = (CellKey, Cell)>) {
    for (k, c) in cells {
        into.entry_or_default(k).merge(&c);
    }
}

/// One cell as it travels between isolates, aggregators and the control plane.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(from = "FlatWireCell")]
pub struct WireCell {
    /// Where it belongs.
    #[serde(flatten)]
    pub key: CellKey,
    /// Its counts.
    pub cell: Cell,
}

/// The wire form of [`WireCell`] as it is read: the same fields, without `flatten` (which reads
/// through serde's buffered `Content`, ~18 KB of Wasm the edge needs for nothing else).
#[derive(Deserialize)]
struct FlatWireCell {
    bucket: u64,
    variant: Variant,
    route: String,
    cell: Cell,
}

impl From<FlatWireCell> for WireCell {
    fn from(w: FlatWireCell) -> WireCell {
        WireCell {
            key: CellKey {
                bucket: w.bucket,
                variant: w.variant,
                route: w.route,
            },
            cell: w.cell,
        }
    }
}

/// Cells as a list for the wire.
pub fn to_wire(cells: &Cells) -> Vec<WireCell> {
    cells
        .iter()
        .map(|(key, cell)| WireCell {
            key: key.clone(),
            cell: cell.clone(),
        })
        .collect()
}

/// A list from the wire, merged by key.
pub fn from_wire(list: Vec<WireCell>) -> Cells {
    let mut cells = Cells::new();
    merge_into(&mut cells, list.into_iter().map(|w| (w.key, w.cell)));
    cells
}

/// An isolate's counts waiting to be flushed to an aggregator, bounded: when flushes keep
/// failing, the oldest minutes are dropped — and counted.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Pending {
    /// The counts.
    pub cells: Cells,
    /// When they were last handed out for a flush.
    pub last_flush_ms: u64,
    /// Requests whose counts were dropped (a flush failed and the backlog was over its bound).
    pub lost_requests: u64,
    /// Flushes that failed.
    pub failed_flushes: u64,
    /// Flushes that succeeded.
    pub flushes: u64,
}

/// Most buckets back an isolate keeps counts waiting for a flush: 10 minutes.
pub const MAX_PENDING_BUCKETS: u64 = 60;

impl Pending {
    /// Counts one request.
    pub fn record(&mut self, o: &Observation<'_>) {
        let bucket = bucket_of(o.at_ms);
        // The request path: the current bucket's cells are the last ones (the key orders by
        // bucket first), a few per route and variant; found without allocating the route.
        let current = self
            .cells
            .iter_mut()
            .rev()
            .take_while(|(k, _)| k.bucket >= bucket)
            .find(|(k, _)| k.bucket == bucket && k.variant == o.variant && k.route == o.route);
        if let Some((_, cell)) = current {
            cell.record(o);
            return;
        }
        let key = CellKey {
            bucket,
            variant: o.variant,
            route: o.route.to_string(),
        };
        self.cells.entry_or_default(key).record(o);
    }

    /// The cells to flush now, if it is time (`flush_ms` since the last flush) and there is
    /// anything; they leave the pending set.
    pub fn take_due(&mut self, now_ms: u64, flush_ms: u64) -> Option<Cells> {
        if self.cells.is_empty() || now_ms.saturating_sub(self.last_flush_ms) < flush_ms {
            return None;
        }
        self.last_flush_ms = now_ms;
        Some(std::mem::take(&mut self.cells))
    }

    /// A flush failed: its cells come back, and buckets older than the bound are dropped and
    /// counted as lost.
    pub fn flush_failed(&mut self, cells: Cells, now_ms: u64) {
        self.failed_flushes += 1;
        merge_into(&mut self.cells, cells);
        let oldest = bucket_of(now_ms).saturating_sub(MAX_PENDING_BUCKETS);
        let before = std::mem::take(&mut self.cells);
        for (k, c) in before {
            if k.bucket < oldest {
                self.lost_requests += c.requests;
            } else {
                self.cells.insert(k, c);
            }
        }
    }
}

/// What an aggregator answers for a window: the counts per (variant, route) summed over the
/// window (keyed by its first bucket), and per (variant, minute) summed over routes (route `*`)
/// for charts. Small whatever the window: the sums happen where the rows are.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Summary {
    /// Per (variant, route), over the window.
    pub routes: Cells,
    /// Per (variant, minute), over routes.
    pub series: Cells,
}

/// The route name of series cells.
pub const ALL_ROUTES: &str = "*";

impl Summary {
    /// Sums the cells of buckets from `since_bucket` on.
    pub fn of(cells: &Cells, since_bucket: u64) -> Summary {
        let mut out = Summary::default();
        for (k, c) in cells.iter().filter(|(k, _)| k.bucket >= since_bucket) {
            let by_route = CellKey {
                bucket: since_bucket,
                variant: k.variant,
                route: k.route.clone(),
            };
            out.routes.entry_or_default(by_route).merge(c);
            let by_minute = CellKey {
                bucket: k.bucket - k.bucket % BUCKETS_PER_MINUTE,
                variant: k.variant,
                route: ALL_ROUTES.to_string(),
            };
            out.series.entry_or_default(by_minute).merge(c);
        }
        out
    }

    /// Adds another aggregator's summary.
    pub fn merge(&mut self, other: Summary) {
        merge_into(&mut self.routes, other.routes);
        merge_into(&mut self.series, other.series);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;

    fn obs(at_ms: u64, variant: Variant, error: bool, fallback: bool) -> Observation<'static> {
        Observation {
            at_ms,
            variant,
            route: "search",
            origin_error: error,
            fallback,
            outcome: Some("miss"),
            total_ms: 12,
            origin_ms: Some(10),
        }
    }

    #[test]
    fn a_fallback_counts_as_a_canary_error() {
        let mut p = Pending::default();
        p.record(&obs(60_000, Variant::Canary, true, true));
        p.record(&obs(60_001, Variant::Canary, false, false));
        p.record(&obs(60_002, Variant::Stable, false, false));
        let canary = &p.cells[&CellKey {
            bucket: 6,
            variant: Variant::Canary,
            route: "search".into(),
        }];
        assert_eq!(
            (canary.requests, canary.errors, canary.fallbacks),
            (2, 1, 1)
        );
        assert_eq!(p.cells.len(), 2);
    }

    #[test]
    fn counts_land_in_their_bucket_variant_and_route_whatever_the_order() {
        // The request path finds the current bucket's cell without allocating: the counts must
        // be those of a map built the plain way, for interleaved routes, variants and buckets
        // (including a late request for an earlier bucket).
        let routes = ["search", "categories", "a", "zz"];
        let mut p = Pending::default();
        let mut model: BTreeMap<CellKey, u64> = BTreeMap::new();
        let mut seed = 7u64;
        for i in 0..2_000u64 {
            seed = seed.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1);
            let at_ms = (100_000 + i * 37 + (seed >> 60) * 1_000).saturating_sub(if i % 97 == 0 {
                25_000
            } else {
                0
            });
            let variant = if seed >> 63 == 1 {
                Variant::Canary
            } else {
                Variant::Stable
            };
            let route = routes[(seed >> 40) as usize % routes.len()];
            let mut o = obs(at_ms.max(1), variant, false, false);
            o.route = route;
            p.record(&o);
            *model
                .entry(CellKey {
                    bucket: bucket_of(at_ms.max(1)),
                    variant,
                    route: route.into(),
                })
                .or_default() += 1;
        }
        let got: BTreeMap<CellKey, u64> = p
            .cells
            .iter()
            .map(|(k, c)| (k.clone(), c.requests))
            .collect();
        assert_eq!(got, model);
    }

    #[test]
    fn flushes_come_at_most_every_flush_period_and_only_with_data() {
        let mut p = Pending::default();
        assert_eq!(p.take_due(100_000, 10_000), None, "nothing to flush");
        p.record(&obs(100_000, Variant::Stable, false, false));
        let batch = p.take_due(100_000, 10_000).expect("due: never flushed");
        assert_eq!(batch.len(), 1);
        p.record(&obs(105_000, Variant::Stable, false, false));
        assert_eq!(p.take_due(105_000, 10_000), None, "too soon");
        assert!(p.take_due(110_000, 10_000).is_some());
    }

    #[test]
    fn a_summary_sums_routes_over_the_window_and_minutes_over_routes() {
        let mut p = Pending::default();
        for (at, route) in [
            (60_000, "search"),
            (75_000, "categories"),
            (130_000, "search"),
        ] {
            p.record(&Observation {
                route,
                ..obs(at, Variant::Canary, false, false)
            });
        }
        p.record(&obs(50_000, Variant::Canary, true, false)); // before the window
        let s = Summary::of(&p.cells, bucket_of(60_000));
        assert_eq!(s.routes.len(), 2);
        let search = s
            .routes
            .iter()
            .find(|(k, _)| k.route == "search")
            .unwrap()
            .1;
        assert_eq!((search.requests, search.errors), (2, 0));
        let minutes: Vec<(u64, u64)> = s
            .series
            .iter()
            .map(|(k, c)| (k.bucket, c.requests))
            .collect();
        assert_eq!(
            minutes,
            [(6, 2), (12, 1)],
            "minute 1 holds two routes' requests"
        );
        let mut merged = s.clone();
        merged.merge(s);
        assert_eq!(merged.series.values().map(|c| c.requests).sum::<u64>(), 6);
    }

    #[test]
    fn a_failed_flush_keeps_recent_minutes_and_counts_what_it_drops() {
        let mut p = Pending::default();
        p.record(&obs(0, Variant::Stable, false, false));
        p.record(&obs(0, Variant::Stable, false, false));
        let old = p.take_due(10_000, 10_000).unwrap();
        p.record(&obs(20 * 60_000, Variant::Canary, false, false));
        p.flush_failed(old, 20 * 60_000);
        assert_eq!(p.lost_requests, 2, "second 0 is past the 10-minute bound");
        assert_eq!(p.cells.len(), 1);
        assert_eq!(p.failed_flushes, 1);
        let recent = p.take_due(20 * 60_000 + 10_000, 10_000).unwrap();
        p.flush_failed(recent, 20 * 60_000 + 10_000);
        assert_eq!(p.lost_requests, 2, "recent minutes come back");
        assert_eq!(p.cells.len(), 1);
    }

    #[test]
    fn cells_merge_across_the_wire() {
        let mut a = Cells::new();
        let mut p = Pending::default();
        p.record(&obs(0, Variant::Canary, true, false));
        merge_into(&mut a, p.cells.clone());
        let wire = serde_json::to_string(&to_wire(&p.cells)).unwrap();
        assert!(wire.contains("\"variant\":\"canary\""), "{wire}");
        let back = from_wire(serde_json::from_str(&wire).unwrap());
        merge_into(&mut a, back);
        let c = a.values().next().unwrap();
        assert_eq!((c.requests, c.errors, c.origin_ms.count()), (2, 2, 2));
    }
}
