//! The admin API's routing and authentication. Endpoints live under `/__edge/api/` and need
//! `Authorization: Bearer <ADMIN_TOKEN>`; the token is compared in constant time and never
//! logged.

/// The admin endpoints.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AdminEndpoint {
    /// `POST /__edge/api/cache/purge`.
    CachePurge,
    /// `POST /__edge/api/cache/warmup`.
    CacheWarmup,
    /// `GET /__edge/api/cache/stats`.
    CacheStats,
    /// `GET /__edge/api/config`.
    ConfigGet,
    /// `PUT /__edge/api/config`.
    ConfigPut,
    /// `GET /__edge/api/config/history`.
    ConfigHistory,
    /// `POST /__edge/api/config/revert`.
    ConfigRevert,
    /// `POST /__edge/api/canary`.
    CanaryWeight,
    /// `POST /__edge/api/canary/advance`.
    CanaryAdvance,
    /// `POST /__edge/api/canary/rollback`.
    CanaryRollback,
    /// `POST /__edge/api/canary/promote`.
    CanaryPromote,
    /// `GET /__edge/api/audit`.
    Audit,
    /// `GET /__edge/api/origins`: whether the stable and canary origins answer `/health/ready`.
    Origins,
}

/// Prefix of the admin API.
pub const ADMIN_PREFIX: &str = "/__edge/api/";

/// Every endpoint with its path and method.
const ENDPOINTS: &[(&str, &str, AdminEndpoint)] = &[
    ("/__edge/api/cache/purge", "POST", AdminEndpoint::CachePurge),
    (
        "/__edge/api/cache/warmup",
        "POST",
        AdminEndpoint::CacheWarmup,
    ),
    ("/__edge/api/cache/stats", "GET", AdminEndpoint::CacheStats),
    ("/__edge/api/config", "GET", AdminEndpoint::ConfigGet),
    ("/__edge/api/config", "PUT", AdminEndpoint::ConfigPut),
    (
        "/__edge/api/config/history",
        "GET",
        AdminEndpoint::ConfigHistory,
    ),
    (
        "/__edge/api/config/revert",
        "POST",
        AdminEndpoint::ConfigRevert,
    ),
    ("/__edge/api/canary", "POST", AdminEndpoint::CanaryWeight),
    (
        "/__edge/api/canary/advance",
        "POST",
        AdminEndpoint::CanaryAdvance,
    ),
    (
        "/__edge/api/canary/rollback",
        "POST",
        AdminEndpoint::CanaryRollback,
    ),
    (
        "/__edge/api/canary/promote",
        "POST",
        AdminEndpoint::CanaryPromote,
    ),
    ("/__edge/api/audit", "GET", AdminEndpoint::Audit),
    ("/__edge/api/origins", "GET", AdminEndpoint::Origins),
];

/// What an admin path resolves to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AdminRoute {
    /// A known endpoint.
    Endpoint(AdminEndpoint),
    /// A known path with another method; `allow` lists the methods it takes.
    MethodNotAllowed {
        /// The `Allow` header value.
        allow: String,
    },
    /// No such endpoint.
    NotFound,
}

/// Resolves an admin path (one under [`ADMIN_PREFIX`]).
pub fn resolve(method: &str, path: &str) -> AdminRoute {
    let path = path.trim_end_matches('/');
    let mut allow: Vec<&str> = Vec::new();
    for (p, m, endpoint) in ENDPOINTS {
        if *p == path {
            if *m == method || (*m == "GET" && method == "HEAD") {
                return AdminRoute::Endpoint(*endpoint);
            }
            allow.push(m);
        }
    }
    if allow.is_empty() {
        AdminRoute::NotFound
    } else {
        AdminRoute::MethodNotAllowed {
            allow: allow.join(", "),
        }
    }
}

/// The result of checking a request's credentials.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Auth {
    /// The token matches.
    Granted,
    /// No `Authorization: Bearer` header.
    Missing,
    /// A token that does not match.
    Wrong,
    /// No `ADMIN_TOKEN` is configured: the admin API is closed.
    NotConfigured,
}

/// Checks an `Authorization` header against the configured token.
pub fn authorize(authorization: Option<&str>, token: Option<&str>) -> Auth {
    let Some(token) = token.filter(|t| !t.is_empty()) else {
        return Auth::NotConfigured;
    };
    let Some(given) = authorization.and_then(bearer) else {
        return Auth::Missing;
    };
    if constant_time_eq(given.as_bytes(), token.as_bytes()) {
        Auth::Granted
    } else {
        Auth::Wrong
    }
}

/// The token of a `Bearer` credential (scheme case-insensitive, RFC 6750 §2.1).
fn bearer(value: &str) -> Option<&str> {
    let (scheme, token) = value.trim().split_once(' ')?;
    scheme
        .eq_ignore_ascii_case("bearer")
        .then(|| token.trim())
        .filter(|t| !t.is_empty())
}

/// Compares two byte strings in time that depends only on their lengths, not on where they
/// differ, so that response timing cannot reveal how much of a guess was right.
pub fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    let len = a.len().max(b.len());
    let mut diff = (a.len() ^ b.len()) as u64;
    for i in 0..len {
        let x = a.get(i).copied().unwrap_or(0);
        let y = b.get(i).copied().unwrap_or(0);
        diff |= u64::from(x ^ y);
    }
    diff == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resolves_endpoints_and_methods() {
        assert_eq!(
            resolve("POST", "/__edge/api/cache/purge"),
            AdminRoute::Endpoint(AdminEndpoint::CachePurge)
        );
        assert_eq!(
            resolve("GET", "/__edge/api/cache/stats/"),
            AdminRoute::Endpoint(AdminEndpoint::CacheStats)
        );
        assert_eq!(
            resolve("GET", "/__edge/api/cache/purge"),
            AdminRoute::MethodNotAllowed {
                allow: "POST".into()
            }
        );
        assert_eq!(
            resolve("DELETE", "/__edge/api/config"),
            AdminRoute::MethodNotAllowed {
                allow: "GET, PUT".into()
            }
        );
        assert_eq!(
            resolve("POST", "/__edge/api/canary/rollback"),
            AdminRoute::Endpoint(AdminEndpoint::CanaryRollback)
        );
        assert_eq!(resolve("GET", "/__edge/api/nope"), AdminRoute::NotFound);
    }

    #[test]
    fn authorization_outcomes() {
        assert_eq!(
            authorize(Some("Bearer s3cret"), Some("s3cret")),
            Auth::Granted
        );
        assert_eq!(
            authorize(Some("bearer  s3cret "), Some("s3cret")),
            Auth::Granted
        );
        assert_eq!(authorize(Some("Bearer s3cre"), Some("s3cret")), Auth::Wrong);
        assert_eq!(
            authorize(Some("Bearer s3cretx"), Some("s3cret")),
            Auth::Wrong
        );
        assert_eq!(
            authorize(Some("Basic s3cret"), Some("s3cret")),
            Auth::Missing
        );
        assert_eq!(authorize(Some("Bearer "), Some("s3cret")), Auth::Missing);
        assert_eq!(authorize(None, Some("s3cret")), Auth::Missing);
        assert_eq!(authorize(Some("Bearer x"), None), Auth::NotConfigured);
        assert_eq!(authorize(Some("Bearer "), Some("")), Auth::NotConfigured);
    }

    #[test]
    fn constant_time_eq_is_equality() {
        assert!(constant_time_eq(b"", b""));
        assert!(constant_time_eq(b"abc", b"abc"));
        assert!(!constant_time_eq(b"abc", b"abd"));
        assert!(!constant_time_eq(b"abc", b"ab"));
        assert!(!constant_time_eq(b"ab\0", b"ab"));
    }
}
