//! JSON error bodies: the one shape every error the edge itself produces takes,
//! `{"error": "<fixed word>", "detail": "<what went wrong>"}`.

use serde::Serialize;

/// An error the edge answers itself, with its HTTP status.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Problem {
    /// HTTP status code of the response.
    #[serde(skip)]
    pub status: u16,
    /// One fixed lowercase word (e.g. `origin_timeout`) for machines, logs and alerts.
    pub error: &'static str,
    /// A sentence for humans saying what went wrong.
    pub detail: String,
}

impl Problem {
    /// A problem with the given status, word and detail.
    pub fn new(status: u16, error: &'static str, detail: impl Into<String>) -> Self {
        Problem {
            status,
            error,
            detail: detail.into(),
        }
    }

    /// 504: the origin did not send response headers in time.
    pub fn origin_timeout(timeout_ms: u64) -> Self {
        Problem::new(
            504,
            "origin_timeout",
            format!("the origin did not answer within {timeout_ms} ms"),
        )
    }

    /// 502: the origin could not be reached or broke the connection.
    pub fn origin_unreachable(reason: &str) -> Self {
        Problem::new(
            502,
            "origin_unreachable",
            format!("the origin could not be reached: {reason}"),
        )
    }

    /// 404 for paths under the edge's own prefix that name nothing.
    pub fn not_found(path: &str) -> Self {
        Problem::new(404, "not_found", format!("no such edge endpoint: {path}"))
    }

    /// 503: the worker's configuration is invalid, so it cannot route.
    pub fn config_invalid(errors: &[String]) -> Self {
        Problem::new(
            503,
            "config_invalid",
            format!("the edge configuration is invalid: {}", errors.join("; ")),
        )
    }

    /// 500: an internal failure of the worker itself.
    pub fn internal(detail: impl Into<String>) -> Self {
        Problem::new(500, "internal_error", detail)
    }

    /// The JSON body.
    pub fn to_json(&self) -> String {
        // Serialising a struct of strings cannot fail; fall back to a fixed body all the same.
        serde_json::to_string(self)
            .unwrap_or_else(|_| r#"{"error":"internal_error","detail":""}"#.to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn body_has_error_and_detail_only() {
        let p = Problem::origin_timeout(10_000);
        let v: serde_json::Value = serde_json::from_str(&p.to_json()).unwrap();
        assert_eq!(v["error"], "origin_timeout");
        assert_eq!(v["detail"], "the origin did not answer within 10000 ms");
        assert_eq!(v.as_object().unwrap().len(), 2);
        assert_eq!(p.status, 504);
    }

    #[test]
    fn detail_is_json_escaped() {
        let p = Problem::origin_unreachable("bad \"quote\"\n");
        let v: serde_json::Value = serde_json::from_str(&p.to_json()).unwrap();
        assert!(v["detail"].as_str().unwrap().contains("\"quote\""));
    }
}
