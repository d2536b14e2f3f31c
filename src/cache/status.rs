//! Cache outcomes and the headers that report them: `Cache-Status` (RFC 9211), `X-Cache` for
//! older tooling, and the word `Server-Timing`'s `cache;desc=` and the logs use.

use super::policy::{BypassReason, NoStoreReason};
use crate::decimal::{push_i64, push_u64};

/// What the cache did for one request. Each has one word, used everywhere.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// Served fresh from the cache.
    Hit,
    /// Not in the cache; fetched from the origin.
    Miss,
    /// Served stale: within stale-while-revalidate (refreshed in the background), or within
    /// stale-if-error because the origin failed.
    Stale(StaleReason),
    /// Stale entry confirmed by a 304 from a conditional request, and served.
    Revalidated,
    /// Stale entry replaced by a new response from the origin.
    Expired,
    /// The cache was not used.
    Bypass(BypassReason),
}

/// Why a stale response was served.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StaleReason {
    /// RFC 5861 stale-while-revalidate.
    WhileRevalidate,
    /// RFC 5861 stale-if-error.
    IfError,
    /// A soft purge made the entry stale; it is served while a background revalidation runs.
    SoftPurge,
}

impl Outcome {
    /// The outcome word: `hit`, `miss`, `stale`, `revalidated`, `expired`, `bypass`.
    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Hit => "hit",
            Outcome::Miss => "miss",
            Outcome::Stale(_) => "stale",
            Outcome::Revalidated => "revalidated",
            Outcome::Expired => "expired",
            Outcome::Bypass(_) => "bypass",
        }
    }

    /// The `X-Cache` value: the word in capitals.
    pub fn x_cache(self) -> &'static str {
        match self {
            Outcome::Hit => "HIT",
            Outcome::Miss => "MISS",
            Outcome::Stale(_) => "STALE",
            Outcome::Revalidated => "REVALIDATED",
            Outcome::Expired => "EXPIRED",
            Outcome::Bypass(_) => "BYPASS",
        }
    }

    /// True when the response came from the cache (fully or after a 304).
    pub fn is_served_from_cache(self) -> bool {
        matches!(
            self,
            Outcome::Hit | Outcome::Stale(_) | Outcome::Revalidated
        )
    }
}

/// The name this cache uses in `Cache-Status`.
pub const CACHE_NAME: &str = "catalog-edge";

/// Everything `Cache-Status` reports for one response.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CacheReport {
    /// The outcome.
    pub outcome: Outcome,
    /// Freshness left (negative when stale), when an entry was involved.
    pub ttl_secs: Option<i64>,
    /// Status the origin answered, when it was contacted.
    pub fwd_status: Option<u16>,
    /// Whether the response was stored.
    pub stored: bool,
    /// Why it was not stored, when it could have been.
    pub not_stored: Option<NoStoreReason>,
    /// Whether a first-level entry existed but the varied headers differed.
    pub vary_miss: bool,
    /// Whether a failing canary was retried against stable.
    pub fallback: bool,
    /// Whether a hit came from the in-memory tier (no Cache API call).
    pub memory: bool,
    /// Whether the request waited for a concurrent miss of its key and was served what that one
    /// stored (request coalescing).
    pub coalesced: bool,
    /// `only-if-cached` found nothing servable: answered 504 without the origin.
    pub unavailable: bool,
    /// The body's length was unknown when the headers left: whether it is stored is decided as
    /// it streams (`cache::body::BodyPlan::Count`), and counted in the stats.
    pub store_pending: bool,
}

impl CacheReport {
    /// A report for an outcome with nothing else known yet.
    pub fn new(outcome: Outcome) -> CacheReport {
        CacheReport {
            outcome,
            ttl_secs: None,
            fwd_status: None,
            stored: false,
            not_stored: None,
            vary_miss: false,
            fallback: false,
            memory: false,
            coalesced: false,
            unavailable: false,
            store_pending: false,
        }
    }

    /// The `Cache-Status` value (RFC 9211): `catalog-edge; hit; ttl=431`,
    /// `catalog-edge; fwd=miss; fwd-status=200; stored`, …
    pub fn cache_status(&self) -> String {
        // Long enough for every hit and most misses without growing.
        let mut s = String::with_capacity(64);
        s.push_str(CACHE_NAME);
        let fwd = match self.outcome {
            Outcome::Hit => None,
            Outcome::Stale(StaleReason::WhileRevalidate | StaleReason::SoftPurge) => None,
            Outcome::Stale(StaleReason::IfError) => Some("stale"),
            Outcome::Revalidated | Outcome::Expired => Some("stale"),
            Outcome::Miss if self.vary_miss => Some("vary-miss"),
            Outcome::Miss => Some("miss"),
            Outcome::Bypass(_) => Some("bypass"),
        };
        match fwd {
            None => s.push_str("; hit"),
            Some(f) => {
                s.push_str("; fwd=");
                s.push_str(f);
            }
        }
        if let Some(st) = self.fwd_status {
            s.push_str("; fwd-status=");
            push_u64(&mut s, u64::from(st));
        }
        if let Some(ttl) = self.ttl_secs {
            s.push_str("; ttl=");
            push_i64(&mut s, ttl);
        }
        if self.stored {
            s.push_str("; stored");
        }
        let detail = match (self.outcome, self.not_stored) {
            (Outcome::Stale(StaleReason::WhileRevalidate), _) => Some("stale-while-revalidate"),
            (Outcome::Stale(StaleReason::IfError), _) => Some("stale-if-error"),
            (Outcome::Stale(StaleReason::SoftPurge), _) => Some("soft-purge"),
            (Outcome::Bypass(r), _) => Some(r.as_str()),
            (Outcome::Hit, _) if self.coalesced => Some("coalesced"),
            (Outcome::Hit, _) if self.memory => Some("memory"),
            (_, _) if self.unavailable => Some("only-if-cached"),
            (_, Some(r)) => Some(r.as_str()),
            _ if self.store_pending => Some("store-pending"),
            _ => None,
        };
        match (detail, self.fallback) {
            (Some(d), true) => {
                s.push_str("; detail=\"");
                s.push_str(d);
                s.push_str(" canary-fallback\"");
            }
            (Some(d), false) => {
                s.push_str("; detail=");
                s.push_str(d);
            }
            (None, true) => s.push_str("; detail=canary-fallback"),
            (None, false) => {}
        }
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_each_outcome() {
        let mut r = CacheReport::new(Outcome::Hit);
        r.ttl_secs = Some(431);
        assert_eq!(r.cache_status(), "catalog-edge; hit; ttl=431");
        r.memory = true;
        assert_eq!(
            r.cache_status(),
            "catalog-edge; hit; ttl=431; detail=memory"
        );
        r.coalesced = true;
        assert_eq!(
            r.cache_status(),
            "catalog-edge; hit; ttl=431; detail=coalesced"
        );

        let mut r = CacheReport::new(Outcome::Miss);
        r.fwd_status = Some(200);
        r.stored = true;
        assert_eq!(
            r.cache_status(),
            "catalog-edge; fwd=miss; fwd-status=200; stored"
        );

        let mut r = CacheReport::new(Outcome::Miss);
        r.fwd_status = Some(200);
        r.ttl_secs = Some(600);
        r.store_pending = true;
        assert_eq!(
            r.cache_status(),
            "catalog-edge; fwd=miss; fwd-status=200; ttl=600; detail=store-pending"
        );

        let mut r = CacheReport::new(Outcome::Miss);
        r.fwd_status = Some(200);
        r.not_stored = Some(NoStoreReason::Budget);
        assert_eq!(
            r.cache_status(),
            "catalog-edge; fwd=miss; fwd-status=200; detail=store-budget"
        );

        let mut r = CacheReport::new(Outcome::Miss);
        r.fwd_status = Some(200);
        r.not_stored = Some(NoStoreReason::SetCookie);
        assert_eq!(
            r.cache_status(),
            "catalog-edge; fwd=miss; fwd-status=200; detail=set-cookie"
        );

        let mut r = CacheReport::new(Outcome::Stale(StaleReason::WhileRevalidate));
        r.ttl_secs = Some(-5);
        assert_eq!(
            r.cache_status(),
            "catalog-edge; hit; ttl=-5; detail=stale-while-revalidate"
        );

        let mut r = CacheReport::new(Outcome::Stale(StaleReason::IfError));
        r.fwd_status = Some(503);
        r.ttl_secs = Some(-50);
        assert_eq!(
            r.cache_status(),
            "catalog-edge; fwd=stale; fwd-status=503; ttl=-50; detail=stale-if-error"
        );

        let mut r = CacheReport::new(Outcome::Revalidated);
        r.fwd_status = Some(304);
        r.ttl_secs = Some(60);
        r.stored = true;
        assert_eq!(
            r.cache_status(),
            "catalog-edge; fwd=stale; fwd-status=304; ttl=60; stored"
        );

        let r = CacheReport::new(Outcome::Bypass(BypassReason::Method));
        assert_eq!(r.cache_status(), "catalog-edge; fwd=bypass; detail=method");
        assert_eq!(r.outcome.x_cache(), "BYPASS");
    }
}
