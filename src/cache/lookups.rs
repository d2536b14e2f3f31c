//! Cache API lookups that failed: the runtime rejected `caches.default.match` (or it threw). Each
//! such request is served as a miss — the origin answers, nobody sees an error — so the failure
//! is counted here and shown in metrics, health (`cache_api`), the cache stats and the dashboard,
//! not only logged.

use serde_json::Value;

use crate::time::UnixMillis;

/// How long after a failed lookup health reports the Cache API as failing.
pub const FAILING_FOR_MS: u64 = 60_000;

/// This isolate's failed lookups.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LookupFailures {
    /// Lookups that failed since the isolate started.
    pub failed: u64,
    /// The runtime's message for the latest one.
    pub last_error: Option<String>,
    /// When the latest one failed.
    pub last_at_ms: Option<u64>,
}

/// The longest error message kept (a runtime message is short; this bounds a strange one).
const MAX_MESSAGE_BYTES: usize = 200;

impl LookupFailures {
    /// Counts a failed lookup and keeps its message.
    pub fn record(&mut self, error: &str, now: UnixMillis) {
        self.failed += 1;
        let mut end = error.len().min(MAX_MESSAGE_BYTES);
        while !error.is_char_boundary(end) {
            end -= 1;
        }
        self.last_error = Some(error[..end].to_string());
        self.last_at_ms = Some(now.0);
    }

    /// True while the latest failure is recent ([`FAILING_FOR_MS`]).
    pub fn failing(&self, now: UnixMillis) -> bool {
        self.last_at_ms
            .is_some_and(|at| now.0.saturating_sub(at) < FAILING_FOR_MS)
    }

    /// `{"status": "ok" | "failing", "lookup_failures": n, "last_error": …, "last_at_ms": …}`:
    /// health's `cache_api` and the cache stats' `lookup`.
    pub fn to_json(&self, now: UnixMillis) -> Value {
        object! {
            "status": if self.failing(now) { "failing" } else { "ok" },
            "lookup_failures": self.failed,
            "last_error": self.last_error.as_deref(),
            "last_at_ms": self.last_at_ms,
        }
    }

    /// The Prometheus exposition: `catalog_edge_cache_lookup_failures_total`.
    pub fn exposition(&self) -> String {
        format!(
            "# HELP catalog_edge_cache_lookup_failures_total Cache API lookups that failed (each served as a miss). {}\n# TYPE catalog_edge_cache_lookup_failures_total counter\ncatalog_edge_cache_lookup_failures_total {}\n",
            crate::metrics::SCOPE,
            self.failed
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_failure_is_counted_shown_and_fails_health_for_a_minute() {
        let mut f = LookupFailures::default();
        let t0 = UnixMillis(1_000_000);
        assert!(!f.failing(t0));
        assert_eq!(f.to_json(t0)["status"], "ok");
        assert!(f
            .exposition()
            .contains("catalog_edge_cache_lookup_failures_total 0\n"));
        f.record("Cache API unavailable", t0);
        f.record("Cache API unavailable again", UnixMillis(t0.0 + 10));
        assert_eq!(f.failed, 2);
        let j = f.to_json(UnixMillis(t0.0 + 20));
        assert_eq!(j["status"], "failing");
        assert_eq!(j["lookup_failures"], 2);
        assert_eq!(j["last_error"], "Cache API unavailable again");
        assert_eq!(j["last_at_ms"], t0.0 + 10);
        assert!(f.failing(UnixMillis(t0.0 + 10 + FAILING_FOR_MS - 1)));
        assert!(!f.failing(UnixMillis(t0.0 + 10 + FAILING_FOR_MS)));
        assert!(f
            .exposition()
            .contains("catalog_edge_cache_lookup_failures_total 2\n"));
    }

    #[test]
    fn a_long_message_is_cut_on_a_character_boundary() {
        let mut f = LookupFailures::default();
        f.record(&"ž".repeat(300), UnixMillis(0));
        let kept = f.last_error.unwrap();
        assert!(kept.len() <= MAX_MESSAGE_BYTES && kept.chars().all(|c| c == 'ž'));
    }
}
