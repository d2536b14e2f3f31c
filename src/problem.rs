//! JSON error bodies: the one shape every error the edge itself produces takes,
//! `{"error": "<fixed word>", "detail": "<what went wrong>"}`, plus `field` (the offending input's
//! path) for bad input and `current` (the state the request conflicted with) for conflicts. Field
//! errors of configuration and admin input are one type, [`FieldError`], which converts into a
//! problem so that handlers use `?`.

use serde::Serialize;
use serde_json::Value;

/// One problem with one input: a variable, a JSON field path (`canary.weight_bp`,
/// `urls[2]`), a header.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FieldError {
    /// The variable or field path the error is about.
    pub field: String,
    /// What is wrong with it.
    pub message: String,
}

impl FieldError {
    /// An error about `field`.
    pub fn new(field: impl Into<String>, message: impl Into<String>) -> FieldError {
        FieldError {
            field: field.into(),
            message: message.into(),
        }
    }
}

impl std::fmt::Display for FieldError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.field, self.message)
    }
}

impl std::error::Error for FieldError {}

impl From<FieldError> for Problem {
    /// Bad input: 400 `invalid_request`, naming the field.
    fn from(e: FieldError) -> Problem {
        let mut p = Problem::new(400, "invalid_request", e.to_string());
        p.field = Some(e.field);
        p
    }
}

/// An error the edge answers itself, with its HTTP status.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Problem {
    /// HTTP status code of the response.
    #[serde(skip)]
    pub status: u16,
    /// One fixed lowercase word (e.g. `origin_timeout`) for machines, logs and alerts.
    pub error: &'static str,
    /// A sentence for humans saying what went wrong.
    pub detail: String,
    /// The input field at fault, for bad input and conflicts.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub field: Option<String>,
    /// The current state a conflicting request was refused against (409).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub current: Option<Value>,
}

impl Problem {
    /// A problem with the given status, word and detail.
    pub fn new(status: u16, error: &'static str, detail: impl Into<String>) -> Self {
        Problem {
            status,
            error,
            detail: detail.into(),
            field: None,
            current: None,
        }
    }

    /// 409: the request conflicts with the current state (named by `field`).
    pub fn conflict(e: FieldError) -> Self {
        let mut p = Problem::new(409, "conflict", e.to_string());
        p.field = Some(e.field);
        p
    }

    /// The same problem carrying the state it conflicted with.
    pub fn with_current(mut self, current: Value) -> Self {
        self.current = Some(current);
        self
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

    /// 503: the control plane (the Durable Object that owns the rollout and purge state) could
    /// not be reached; nothing was changed, and the edges keep serving the last published state.
    pub fn control_unavailable(why: impl std::fmt::Display) -> Self {
        Problem::new(
            503,
            "control_unavailable",
            format!(
                "the control plane could not be reached ({why}); nothing was changed and every \
                 edge keeps serving the last published state — for an emergency rollback use the \
                 KV-only path in the README"
            ),
        )
    }

    /// 500: an internal failure of the worker itself.
    pub fn internal(detail: impl Into<String>) -> Self {
        Problem::new(500, "internal_error", detail)
    }

    /// The JSON body.
    pub fn to_json(&self) -> String {
        // Serialising strings and JSON values cannot fail; fall back to a fixed body all the same.
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

    #[test]
    fn a_field_error_becomes_a_400_naming_the_field() {
        fn parse(ok: bool) -> Result<u8, Problem> {
            let n = if ok {
                Ok(1)
            } else {
                Err(FieldError::new("weight", "150 is over 100 %"))
            }?;
            Ok(n)
        }
        let p = parse(false).unwrap_err();
        assert_eq!(p.status, 400);
        let v: serde_json::Value = serde_json::from_str(&p.to_json()).unwrap();
        assert_eq!(v["error"], "invalid_request");
        assert_eq!(v["detail"], "weight: 150 is over 100 %");
        assert_eq!(v["field"], "weight");
        assert_eq!(parse(true).unwrap(), 1);
    }

    #[test]
    fn a_conflict_carries_the_current_state() {
        let p = Problem::conflict(FieldError::new("if-match", "version 3 is not 5"))
            .with_current(serde_json::json!({"version": 5}));
        assert_eq!(p.status, 409);
        let v: serde_json::Value = serde_json::from_str(&p.to_json()).unwrap();
        assert_eq!(v["error"], "conflict");
        assert_eq!(v["field"], "if-match");
        assert_eq!(v["current"]["version"], 5);
    }
}
