//! One failure classifier for origin answers (as tower-http's `classify`): canary fallback,
//! stale-if-error and the error counters all ask it, so "the origin failed" means one thing.

use http::StatusCode;

/// How an origin failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Failure {
    /// A 5xx answer (RFC 5861 §4: "an error is any situation that would result in a 500, 502,
    /// 503, or 504 HTTP response status code being returned"; every 5xx counts here).
    Status(StatusCode),
    /// No response headers within the origin timeout.
    Timeout,
    /// The connection failed or broke before a response.
    Unreachable,
}

impl Failure {
    /// One fixed word, for logs and `Cache-Status`.
    pub fn as_str(self) -> &'static str {
        match self {
            Failure::Status(_) => "status",
            Failure::Timeout => "timeout",
            Failure::Unreachable => "unreachable",
        }
    }

    /// The status the origin answered, when it answered.
    pub fn status(self) -> Option<StatusCode> {
        match self {
            Failure::Status(s) => Some(s),
            _ => None,
        }
    }
}

/// Classifies an origin answer by its status: `Some` when it is a failure.
pub fn classify_status(status: StatusCode) -> Option<Failure> {
    status.is_server_error().then_some(Failure::Status(status))
}

/// True when a status (as a number, from the runtime) is an origin failure; a number that is not
/// a status counts as a failure.
pub fn is_failure(status: u16) -> bool {
    StatusCode::from_u16(status).map_or(true, |s| classify_status(s).is_some())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn server_errors_fail_and_everything_else_does_not() {
        for s in [500, 502, 503, 504, 599] {
            assert!(is_failure(s), "{s}");
        }
        for s in [200, 204, 304, 404, 429, 499] {
            assert!(!is_failure(s), "{s}");
        }
        assert!(is_failure(1000), "not a status");
        assert_eq!(
            classify_status(StatusCode::BAD_GATEWAY),
            Some(Failure::Status(StatusCode::BAD_GATEWAY))
        );
        assert_eq!(Failure::Timeout.status(), None);
    }
}
