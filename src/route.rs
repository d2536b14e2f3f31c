//! Which part of the edge answers a request. Paths under [`EDGE_PREFIX`] belong to the edge
//! itself and never reach the origin.

use crate::admin::{self, AdminRoute, ADMIN_PREFIX};
use crate::config::EdgeConfig;

/// The path prefix of the edge's own endpoints.
pub const EDGE_PREFIX: &str = "/__edge/";

/// Who answers a request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Route {
    /// `GET /__edge/health`: the worker's own health, without the origin.
    Health,
    /// `GET /__edge/metrics`: Prometheus metrics of the isolate (admin token).
    Metrics,
    /// The admin API under `/__edge/api/`.
    Admin(AdminRoute),
    /// `GET /__edge/…` (not the API): the release-manager dashboard, from the `www/` assets. The
    /// string is the asset path (`/` for the index).
    Dashboard(String),
    /// `/__edge` without the slash: a redirect to the dashboard.
    DashboardRedirect,
    /// Any other path under `/__edge/` (other methods): 404 from the edge.
    EdgeNotFound,
    /// A path the configuration never forwards (e.g. the demo origin's test controls).
    Blocked,
    /// Everything else goes to the origin.
    Proxy,
}

impl Route {
    /// One fixed word per route, for logs and metrics.
    pub fn as_str(&self) -> &'static str {
        match self {
            Route::Health => "health",
            Route::Metrics => "metrics",
            Route::Admin(_) => "admin",
            Route::Dashboard(_) | Route::DashboardRedirect => "dashboard",
            Route::EdgeNotFound => "edge_not_found",
            Route::Blocked => "blocked",
            Route::Proxy => "proxy",
        }
    }
}

/// Classifies a request by method and path. `config` is `None` when the configuration is
/// invalid: the edge's own endpoints still answer. The edge's paths and the blocked prefixes
/// are matched on the normalised path (`crate::path::normalize`), so no spelling of them
/// reaches the origin; the edge's endpoints themselves answer only their plain spelling.
pub fn classify(method: &str, path: &str, config: Option<&EdgeConfig>) -> Route {
    if path.starts_with(ADMIN_PREFIX) {
        return Route::Admin(admin::resolve(method, path));
    }
    let normalized = crate::path::normalize(path);
    if crate::path::has_prefix(&normalized, EDGE_PREFIX)
        && !(path == "/__edge" || path.starts_with(EDGE_PREFIX))
    {
        return Route::EdgeNotFound;
    }
    if path == "/__edge" || path.starts_with(EDGE_PREFIX) {
        return match (method, path) {
            ("GET" | "HEAD", "/__edge/health") => Route::Health,
            ("GET" | "HEAD", "/__edge/metrics") => Route::Metrics,
            ("GET" | "HEAD", "/__edge") => Route::DashboardRedirect,
            ("GET" | "HEAD", p) => Route::Dashboard(p["/__edge".len()..].to_string()),
            _ => Route::EdgeNotFound,
        };
    }
    if let Some(cfg) = config {
        if cfg
            .blocked_path_prefixes
            .iter()
            .any(|p| crate::path::has_prefix(&normalized, p))
        {
            return Route::Blocked;
        }
    }
    Route::Proxy
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cfg() -> EdgeConfig {
        EdgeConfig::from_vars(|k| (k == "ORIGIN_URL").then(|| "http://o.rs".to_string())).unwrap()
    }

    #[test]
    fn edge_paths_never_proxy() {
        let c = cfg();
        assert_eq!(classify("GET", "/__edge/health", Some(&c)), Route::Health);
        assert_eq!(classify("HEAD", "/__edge/health", Some(&c)), Route::Health);
        assert_eq!(
            classify("POST", "/__edge/health", Some(&c)),
            Route::EdgeNotFound
        );
        assert_eq!(
            classify("POST", "/__edge/nope", Some(&c)),
            Route::EdgeNotFound
        );
        assert_eq!(
            classify("GET", "/__edge/app.js", Some(&c)),
            Route::Dashboard("/app.js".into())
        );
        assert_eq!(
            classify("GET", "/__edge/", None),
            Route::Dashboard("/".into())
        );
        assert_eq!(classify("GET", "/__edge", None), Route::DashboardRedirect);
        assert_eq!(
            classify("GET", "/__edge/api/x", None),
            Route::Admin(AdminRoute::NotFound)
        );
    }

    #[test]
    fn blocked_prefixes_are_not_forwarded() {
        let c = cfg();
        assert_eq!(classify("GET", "/__origin/stats", Some(&c)), Route::Blocked);
        assert_eq!(classify("GET", "/__origin", Some(&c)), Route::Blocked);
        assert_eq!(classify("GET", "/__originals", Some(&c)), Route::Proxy);
    }

    #[test]
    fn no_spelling_of_a_blocked_or_edge_path_is_proxied() {
        let c = cfg();
        for p in [
            "/%5f_origin/stats",
            "//__origin/stats",
            "/__ORIGIN/stats",
            "/__origin%2fstats",
            "/__origin;/stats",
            "/__origin/",
        ] {
            assert_eq!(classify("GET", p, Some(&c)), Route::Blocked, "{p}");
        }
        for p in [
            "/%5f_edge/health",
            "//__edge/health",
            "/__EDGE/api/cache/stats",
        ] {
            assert_eq!(classify("GET", p, Some(&c)), Route::EdgeNotFound, "{p}");
        }
    }

    #[test]
    fn catalog_paths_proxy() {
        let c = cfg();
        assert_eq!(
            classify("GET", "/api/v1/marketplace/categories", Some(&c)),
            Route::Proxy
        );
        assert_eq!(
            classify("POST", "/api/v1/marketplace/search", None),
            Route::Proxy
        );
    }
}
