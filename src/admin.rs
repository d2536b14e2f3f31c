//! The admin API's routing and authentication. Endpoints live under `/__edge/api/` and need
//! `Authorization: Bearer <token>` of one of the operators (`ADMIN_TOKENS`, and `ADMIN_TOKEN` as
//! the operator `admin`); tokens are compared in constant time and never logged, and the
//! operator a token names is the actor of every change it makes.

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
    /// `GET /__edge/api/quarantine`: unreadable documents the control plane kept aside.
    Quarantine,
    /// `GET /__edge/api/analysis?window=<secs>`: fleet-wide stable-vs-canary numbers.
    Analysis,
    /// `GET /__edge/api/rollout`: the rollout schedule's state.
    RolloutGet,
    /// `PUT /__edge/api/rollout`: starts a rollout.
    RolloutStart,
    /// `POST /__edge/api/rollout/pause`.
    RolloutPause,
    /// `POST /__edge/api/rollout/resume`.
    RolloutResume,
    /// `POST /__edge/api/rollout/abort`.
    RolloutAbort,
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
    ("/__edge/api/quarantine", "GET", AdminEndpoint::Quarantine),
    ("/__edge/api/analysis", "GET", AdminEndpoint::Analysis),
    ("/__edge/api/rollout", "GET", AdminEndpoint::RolloutGet),
    ("/__edge/api/rollout", "PUT", AdminEndpoint::RolloutStart),
    (
        "/__edge/api/rollout/pause",
        "POST",
        AdminEndpoint::RolloutPause,
    ),
    (
        "/__edge/api/rollout/resume",
        "POST",
        AdminEndpoint::RolloutResume,
    ),
    (
        "/__edge/api/rollout/abort",
        "POST",
        AdminEndpoint::RolloutAbort,
    ),
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

/// A secret value whose `Debug` never shows it.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    /// Wraps a secret.
    pub fn new(value: impl Into<String>) -> Secret {
        Secret(value.into())
    }

    /// The secret itself; only for comparing.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Secret([redacted])")
    }
}

/// The operator `ADMIN_TOKEN` names.
pub const DEFAULT_OPERATOR: &str = "admin";
/// Actors the edge itself writes into the audit log; no operator may take these names.
pub const SYSTEM_ACTORS: &[&str] = &["analysis", "cron", "control", "kv"];
/// Shortest token accepted in `ADMIN_TOKENS`.
pub const MIN_TOKEN_LEN: usize = 16;

/// The operators of the admin API, each a name (the audit log's actor) and a token.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Operators(Vec<(String, Secret)>);

impl Operators {
    /// From `ADMIN_TOKEN` (one operator named `admin`) and `ADMIN_TOKENS` (a JSON object
    /// `{"name": "token", …}`). Errors name the variable; a token is never part of a message.
    pub fn parse(
        admin_token: Option<&str>,
        admin_tokens: Option<&str>,
    ) -> Result<Operators, crate::problem::FieldError> {
        use crate::problem::FieldError;
        const VAR: &str = "ADMIN_TOKENS";
        let mut ops: Vec<(String, Secret)> = Vec::new();
        if let Some(json) = admin_tokens {
            // Read as a `Value` (the one deserializer the edge keeps for untyped JSON), not as a
            // `Map`, which brings a typed deserializer of its own: the same objects either way.
            let map = match serde_json::from_str(json) {
                Ok(serde_json::Value::Object(map)) => map,
                _ => {
                    return Err(FieldError::new(
                        VAR,
                        "is not a JSON object of operator names to tokens",
                    ))
                }
            };
            for (name, token) in map {
                let valid_name = !name.is_empty()
                    && name.len() <= 64
                    && name
                        .bytes()
                        .all(|b| b.is_ascii_alphanumeric() || b"._-@".contains(&b));
                if !valid_name {
                    return Err(FieldError::new(
                        VAR,
                        format!("{name:?} is not an operator name (1–64 letters, digits, . _ - @)"),
                    ));
                }
                if SYSTEM_ACTORS.contains(&name.as_str()) {
                    return Err(FieldError::new(
                        VAR,
                        format!("{name:?} is the edge's own actor name; choose another"),
                    ));
                }
                let Some(token) = token.as_str().filter(|t| t.len() >= MIN_TOKEN_LEN) else {
                    return Err(FieldError::new(
                        VAR,
                        format!("the token of {name:?} must be a string of at least {MIN_TOKEN_LEN} characters"),
                    ));
                };
                ops.push((name, Secret::new(token)));
            }
        }
        if let Some(token) = admin_token.filter(|t| !t.is_empty()) {
            if ops.iter().any(|(n, _)| n == DEFAULT_OPERATOR) {
                return Err(FieldError::new(
                    VAR,
                    format!("names {DEFAULT_OPERATOR:?}, which ADMIN_TOKEN already is; remove one"),
                ));
            }
            ops.push((DEFAULT_OPERATOR.to_string(), Secret::new(token)));
        }
        for (i, (name, token)) in ops.iter().enumerate() {
            if let Some((other, _)) = ops[..i].iter().find(|(_, t)| t == token) {
                return Err(FieldError::new(
                    VAR,
                    format!("{other:?} and {name:?} share a token: each operator needs their own"),
                ));
            }
        }
        Ok(Operators(ops))
    }

    /// True when no operator is configured: the admin API is closed.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// How many operators there are.
    pub fn len(&self) -> usize {
        self.0.len()
    }
}

/// The result of checking a request's credentials.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Auth {
    /// The token of this operator.
    Granted(String),
    /// No `Authorization: Bearer` header.
    Missing,
    /// A token that matches no operator.
    Wrong,
    /// No operator is configured: the admin API is closed.
    NotConfigured,
}

/// Checks an `Authorization` header against every operator's token. Every token is compared,
/// each in constant time, so the time taken says nothing about which token (or how much of one)
/// was right.
pub fn authorize(authorization: Option<&str>, operators: &Operators) -> Auth {
    if operators.is_empty() {
        return Auth::NotConfigured;
    }
    let Some(given) = authorization.and_then(bearer) else {
        return Auth::Missing;
    };
    let mut found = None;
    for (name, token) in &operators.0 {
        if constant_time_eq(given.as_bytes(), token.expose().as_bytes()) {
            found = Some(name);
        }
    }
    match found {
        Some(name) => Auth::Granted(name.clone()),
        None => Auth::Wrong,
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

    fn one(token: &str) -> Operators {
        Operators::parse(Some(token), None).unwrap()
    }

    #[test]
    fn authorization_outcomes() {
        let admin = || Auth::Granted("admin".into());
        assert_eq!(authorize(Some("Bearer s3cret"), &one("s3cret")), admin());
        assert_eq!(authorize(Some("bearer  s3cret "), &one("s3cret")), admin());
        assert_eq!(authorize(Some("Bearer s3cre"), &one("s3cret")), Auth::Wrong);
        assert_eq!(
            authorize(Some("Bearer s3cretx"), &one("s3cret")),
            Auth::Wrong
        );
        assert_eq!(
            authorize(Some("Basic s3cret"), &one("s3cret")),
            Auth::Missing
        );
        assert_eq!(authorize(Some("Bearer "), &one("s3cret")), Auth::Missing);
        assert_eq!(authorize(None, &one("s3cret")), Auth::Missing);
        let none = Operators::default();
        assert_eq!(authorize(Some("Bearer x"), &none), Auth::NotConfigured);
        assert_eq!(
            authorize(Some("Bearer "), &Operators::parse(Some(""), None).unwrap()),
            Auth::NotConfigured
        );
    }

    #[test]
    fn each_operator_is_named_by_their_own_token() {
        let ops = Operators::parse(
            Some("the-old-shared-token"),
            Some(r#"{"ana": "ana-token-0123456789", "marko": "marko-token-0123456789"}"#),
        )
        .unwrap();
        assert_eq!(ops.len(), 3);
        assert_eq!(
            authorize(Some("Bearer ana-token-0123456789"), &ops),
            Auth::Granted("ana".into())
        );
        assert_eq!(
            authorize(Some("Bearer marko-token-0123456789"), &ops),
            Auth::Granted("marko".into())
        );
        assert_eq!(
            authorize(Some("Bearer the-old-shared-token"), &ops),
            Auth::Granted("admin".into())
        );
        assert_eq!(
            authorize(Some("Bearer ana-token-012345678"), &ops),
            Auth::Wrong
        );
    }

    #[test]
    fn bad_admin_tokens_name_the_variable_and_never_show_a_token() {
        let long = "a-long-enough-token-1";
        for (json, admin, says) in [
            ("[1]", None, "JSON object"),
            ("{", None, "JSON object"),
            (r#"{"ana": "short"}"#, None, "at least 16"),
            (r#"{"ana": 5}"#, None, "at least 16"),
            (r#"{"a b": "a-long-enough-token-1"}"#, None, "operator name"),
            (r#"{"cron": "a-long-enough-token-1"}"#, None, "edge's own"),
            (
                r#"{"ana": "a-long-enough-token-1", "bo": "a-long-enough-token-1"}"#,
                None,
                "share a token",
            ),
            (
                r#"{"admin": "a-long-enough-token-2"}"#,
                Some(long),
                "ADMIN_TOKEN",
            ),
            (
                r#"{"ana": "a-long-enough-token-1"}"#,
                Some(long),
                "share a token",
            ),
        ] {
            let e = Operators::parse(admin, Some(json)).unwrap_err();
            assert_eq!(e.field, "ADMIN_TOKENS", "{json}");
            assert!(e.message.contains(says), "{json}: {}", e.message);
            assert!(
                !e.message.contains("a-long-enough-token"),
                "token leaked: {}",
                e.message
            );
        }
        let debug = format!("{:?}", one("s3cret-s3cret-s3cret"));
        assert!(!debug.contains("s3cret"), "{debug}");
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
