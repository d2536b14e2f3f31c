//! The requests an edge sends the control plane object (one JSON body per request, `op` naming
//! it). The object answers with the HTTP status and JSON body the admin API relays to its client.
//! The object trusts `operator`: only the worker can reach it (a binding, no public URL), and the
//! worker sets it from the admin token it checked.

use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::MAX_LIST_LIMIT;
use crate::problem::FieldError;

/// One request to the control plane.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "snake_case")]
pub enum ControlRequest {
    /// The rollout state, the purge state and who wrote them.
    State {
        /// The worker's own `host[:port]`s for validation.
        self_hosts: Vec<String>,
    },
    /// A rollout change (`Change::as_str`), with the client's body and `If-Match`.
    Write {
        /// The change's action word.
        change: String,
        /// The operator the admin token names.
        operator: String,
        /// The client's JSON body.
        body: String,
        /// The client's `If-Match` header.
        if_match: Option<String>,
        /// The worker's own `host[:port]`s for validation.
        self_hosts: Vec<String>,
    },
    /// A purge, with the client's body.
    Purge {
        /// The operator the admin token names.
        operator: String,
        /// The client's JSON body.
        body: String,
    },
    /// Something the edge did that the audit log must show (a warmup).
    Event {
        /// Who.
        operator: String,
        /// What (`warmup`).
        action: String,
        /// Why.
        reason: String,
        /// The numbers.
        detail: Value,
    },
    /// The rollout schedule's state.
    Rollout,
    /// Starts a rollout with the client's body (`steps`, `auto_promote`, `analysis`, `reason`).
    RolloutStart {
        /// The operator the admin token names.
        operator: String,
        /// The client's JSON body.
        body: String,
    },
    /// Pauses, resumes or aborts the rollout.
    RolloutControl {
        /// `pause`, `resume` or `abort`.
        action: String,
        /// The operator the admin token names.
        operator: String,
        /// The client's JSON body (`reason`).
        body: String,
    },
    /// The canary analysis API's answer (`GET /analysis`): the object reads every aggregator
    /// and merges; the edge sends what only it knows (its time, shards, weight, counters).
    Analysis(AnalysisQuery),
    /// A stored list, newest first.
    List {
        /// Which.
        list: ListName,
        /// At most this many items.
        limit: usize,
    },
}

/// What the analysis API's answer is of (`ControlRequest::Analysis`, `verdict::api_answer`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct AnalysisQuery {
    /// The window, seconds (`verdict::window_secs`).
    pub window_secs: u64,
    /// The asking edge's clock.
    pub now_ms: u64,
    /// Aggregators to read (the edge's `METRICS_SHARDS`).
    pub shards: u32,
    /// The canary weight in force in the asking isolate.
    pub weight_bp: u16,
    /// The asking isolate's flush counters, shown as they are.
    pub this_isolate: IsolateCounters,
}

/// An isolate's own counters of its flushes to the aggregators (the analysis API's
/// `this_isolate`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct IsolateCounters {
    /// Flushes made.
    pub flushes: u64,
    /// Flushes that failed.
    pub failed_flushes: u64,
    /// Requests whose counts were dropped.
    pub lost_requests: u64,
    /// Requests counted and not yet flushed.
    pub pending_requests: u64,
    /// The flush interval, ms.
    pub flush_ms: u64,
}

impl IsolateCounters {
    /// The analysis API's `this_isolate`: what `serde_json::to_value` makes of it (a test pins
    /// it), built without serde_json's `Value` serializer.
    pub fn to_json(&self) -> Value {
        object! {
            "flushes": self.flushes,
            "failed_flushes": self.failed_flushes,
            "lost_requests": self.lost_requests,
            "pending_requests": self.pending_requests,
            "flush_ms": self.flush_ms,
        }
    }
}

/// The lists the control plane keeps.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ListName {
    /// Rollout versions.
    History,
    /// Audit entries.
    Audit,
    /// Unreadable documents kept aside.
    Quarantine,
}

/// Items a list answers with when the client gives no `?limit=`.
pub const DEFAULT_LIST_LIMIT: usize = 50;

/// The `limit` query parameter of a list request: 1–500, 50 when absent.
pub fn list_limit(raw: Option<&str>) -> Result<usize, FieldError> {
    match raw {
        None => Ok(DEFAULT_LIST_LIMIT),
        Some(v) => match v.trim().parse::<usize>() {
            Ok(n) if (1..=MAX_LIST_LIMIT).contains(&n) => Ok(n),
            _ => Err(FieldError::new(
                "limit",
                format!("{v:?} is not a whole number from 1 to {MAX_LIST_LIMIT}"),
            )),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn requests_round_trip_as_json_with_their_op() {
        let r = ControlRequest::Write {
            change: "rollback".into(),
            operator: "ana".into(),
            body: "{\"reason\":\"x\"}".into(),
            if_match: Some("\"3\"".into()),
            self_hosts: vec!["edge.rs".into()],
        };
        let text = serde_json::to_string(&r).unwrap();
        assert!(text.contains("\"op\":\"write\""), "{text}");
        assert_eq!(serde_json::from_str::<ControlRequest>(&text).unwrap(), r);
        let l: ControlRequest =
            serde_json::from_str(r#"{"op":"list","list":"audit","limit":5}"#).unwrap();
        assert_eq!(
            l,
            ControlRequest::List {
                list: ListName::Audit,
                limit: 5
            }
        );
        assert!(serde_json::from_str::<ControlRequest>(r#"{"op":"drop_tables"}"#).is_err());
    }

    #[test]
    fn an_analysis_request_carries_the_isolates_counters_under_the_apis_names() {
        let counters = IsolateCounters {
            flushes: 3,
            failed_flushes: 1,
            lost_requests: 2,
            pending_requests: 4,
            flush_ms: 10_000,
        };
        let r = ControlRequest::Analysis(AnalysisQuery {
            window_secs: 300,
            now_ms: 1_700_000_000_000,
            shards: 4,
            weight_bp: 500,
            this_isolate: counters,
        });
        let text = serde_json::to_string(&r).unwrap();
        assert!(text.contains("\"op\":\"analysis\""), "{text}");
        assert!(text.contains("\"window_secs\":300"), "{text}");
        assert_eq!(serde_json::from_str::<ControlRequest>(&text).unwrap(), r);
        // The analysis API's `this_isolate`, as the dashboard and the e2e tests read it.
        assert_eq!(counters.to_json(), serde_json::to_value(counters).unwrap());
        assert_eq!(
            serde_json::to_value(counters).unwrap(),
            serde_json::json!({"flushes": 3, "failed_flushes": 1, "lost_requests": 2,
                "pending_requests": 4, "flush_ms": 10_000})
        );
    }

    #[test]
    fn list_limits_are_bounded() {
        assert_eq!(list_limit(None), Ok(50));
        assert_eq!(list_limit(Some("20")), Ok(20));
        assert_eq!(list_limit(Some("500")), Ok(500));
        for bad in ["0", "501", "-1", "ten", ""] {
            assert_eq!(list_limit(Some(bad)).unwrap_err().field, "limit", "{bad}");
        }
    }
}
