//! Cache counters by route and variant. They live in one isolate's memory: each isolate counts
//! only the requests it served, and a restart (or a panic) resets them.

use crate::vec_map::VecMap;

use serde::Serialize;

use super::status::Outcome;
use crate::variant::Variant;

/// Counters for one route and variant.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct Counters {
    /// Fresh hits.
    pub hit: u64,
    /// Misses.
    pub miss: u64,
    /// Stale responses served (while revalidating or on error).
    pub stale: u64,
    /// Stale entries confirmed by a 304.
    pub revalidated: u64,
    /// Stale entries replaced by a new origin response.
    pub expired: u64,
    /// Requests that did not use the cache.
    pub bypass: u64,
    /// Origin failures (5xx, timeout, unreachable), whatever was served.
    pub errors: u64,
    /// Canary requests retried against stable because the canary failed.
    pub fallbacks: u64,
}

impl Counters {
    /// Responses served from the cache over all cacheable lookups; `None` before any lookup.
    pub fn hit_rate(&self) -> Option<f64> {
        let served = self.hit + self.stale + self.revalidated;
        let lookups = served + self.miss + self.expired;
        (lookups > 0).then(|| served as f64 / lookups as f64)
    }

    fn add(&mut self, other: &Counters) {
        self.hit += other.hit;
        self.miss += other.miss;
        self.stale += other.stale;
        self.revalidated += other.revalidated;
        self.expired += other.expired;
        self.bypass += other.bypass;
        self.errors += other.errors;
        self.fallbacks += other.fallbacks;
    }
}

/// Counters of one isolate.
#[derive(Debug, Clone, Default)]
pub struct CacheStats {
    since_ms: u64,
    rows: VecMap<(String, Variant), Counters>,
}

/// One row of the stats report.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct StatsRow {
    /// Route rule id.
    pub route: String,
    /// `stable` or `canary`.
    pub variant: &'static str,
    /// The counters.
    #[serde(flatten)]
    pub counters: Counters,
    /// Share of lookups served from the cache, 0–1, or null before any lookup.
    pub hit_rate: Option<f64>,
}

/// The stats report.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct StatsReport {
    /// Always `isolate`: what these counters cover.
    pub scope: &'static str,
    /// A sentence saying so.
    pub note: &'static str,
    /// When this isolate started counting.
    pub since_ms: u64,
    /// Sum over all rows.
    pub total: StatsRow,
    /// One row per route and variant.
    pub routes: Vec<StatsRow>,
}

impl StatsRow {
    /// The API's form: what `serde_json::to_value` makes of the row (a test pins it), built
    /// without serde_json's `Value` serializer (`json!`).
    pub fn to_json(&self) -> serde_json::Value {
        let c = &self.counters;
        object! {
            "route": self.route.as_str(),
            "variant": self.variant,
            "hit": c.hit,
            "miss": c.miss,
            "stale": c.stale,
            "revalidated": c.revalidated,
            "expired": c.expired,
            "bypass": c.bypass,
            "errors": c.errors,
            "fallbacks": c.fallbacks,
            "hit_rate": self.hit_rate,
        }
    }
}

impl StatsReport {
    /// The API's form: what `serde_json::to_value` makes of the report (a test pins it).
    pub fn to_json(&self) -> serde_json::Value {
        object! {
            "scope": self.scope,
            "note": self.note,
            "since_ms": self.since_ms,
            "total": self.total.to_json(),
            "routes": self.routes.iter().map(StatsRow::to_json).collect::<Vec<_>>(),
        }
    }
}

impl CacheStats {
    /// Empty counters, counting from `now_ms`.
    pub fn new(now_ms: u64) -> CacheStats {
        CacheStats {
            since_ms: now_ms,
            rows: VecMap::new(),
        }
    }

    /// Counts one response.
    pub fn record(&mut self, route: &str, variant: Variant, outcome: Outcome, origin_error: bool) {
        let c = self.rows.entry_or_default((route.to_string(), variant));
        match outcome {
            Outcome::Hit => c.hit += 1,
            Outcome::Miss => c.miss += 1,
            Outcome::Stale(_) => c.stale += 1,
            Outcome::Revalidated => c.revalidated += 1,
            Outcome::Expired => c.expired += 1,
            Outcome::Bypass(_) => c.bypass += 1,
        }
        if origin_error {
            c.errors += 1;
        }
    }

    /// Counts a canary request that fell back to stable.
    pub fn record_fallback(&mut self, route: &str, variant: Variant) {
        self.rows
            .entry_or_default((route.to_string(), variant))
            .fallbacks += 1;
    }

    /// The counters for one route and variant.
    pub fn get(&self, route: &str, variant: Variant) -> Counters {
        self.rows
            .get(&(route.to_string(), variant))
            .copied()
            .unwrap_or_default()
    }

    /// The report.
    pub fn report(&self) -> StatsReport {
        let mut total = Counters::default();
        let routes = self
            .rows
            .iter()
            .map(|((route, variant), c)| {
                total.add(c);
                StatsRow {
                    route: route.clone(),
                    variant: variant.as_str(),
                    counters: *c,
                    hit_rate: c.hit_rate(),
                }
            })
            .collect();
        StatsReport {
            scope: "isolate",
            note: "counters are per isolate: each Workers isolate counts only the requests it served, and a restart resets them",
            since_ms: self.since_ms,
            total: StatsRow {
                route: "*".into(),
                variant: "*",
                counters: total,
                hit_rate: total.hit_rate(),
            },
            routes,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cache::policy::BypassReason;
    use crate::cache::status::StaleReason;

    #[test]
    fn counts_by_route_and_variant_with_hit_rate() {
        let mut s = CacheStats::new(5);
        s.record("categories", Variant::Stable, Outcome::Miss, false);
        s.record("categories", Variant::Stable, Outcome::Hit, false);
        s.record("categories", Variant::Stable, Outcome::Hit, false);
        s.record(
            "categories",
            Variant::Stable,
            Outcome::Stale(StaleReason::IfError),
            true,
        );
        s.record("categories", Variant::Canary, Outcome::Miss, false);
        s.record(
            "health",
            Variant::Stable,
            Outcome::Bypass(BypassReason::Rule),
            false,
        );
        let c = s.get("categories", Variant::Stable);
        assert_eq!((c.hit, c.miss, c.stale, c.errors), (2, 1, 1, 1));
        assert_eq!(c.hit_rate(), Some(0.75));
        let r = s.report();
        assert_eq!(r.scope, "isolate");
        assert_eq!(r.routes.len(), 3);
        assert_eq!(r.total.counters.miss, 2);
        assert_eq!(r.routes[2].hit_rate, None, "bypass only: no lookups");
        let json = serde_json::to_value(&r).unwrap();
        assert_eq!(json["routes"][1]["variant"], "canary");
        assert_eq!(json["routes"][1]["miss"], 1);
        s.record_fallback("categories", Variant::Canary);
        let r = s.report();
        assert_eq!(r.to_json(), serde_json::to_value(&r).unwrap());
        assert_eq!(
            r.to_json().to_string(),
            serde_json::to_value(&r).unwrap().to_string()
        );
    }
}
