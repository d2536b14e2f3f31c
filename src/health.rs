//! The body of `GET /__edge/health`: the worker's own view of itself, without the origin.

use serde::Serialize;

use crate::cache::purge::PurgeState;
use crate::config::{ConfigError, EdgeConfig};
use crate::control::edge::InForce;
use crate::request_log::{LogCounts, RequestLog};

/// The health report.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct HealthReport {
    /// `ok` when the worker can serve, `degraded` when its configuration is invalid.
    pub status: &'static str,
    /// Always `catalog-edge`.
    pub service: &'static str,
    /// The worker's version.
    pub version: &'static str,
    /// Configuration status.
    pub config: ConfigStatus,
    /// The rollout configuration in force (when the worker's own configuration is valid).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rollout: Option<RolloutStatus>,
    /// The purge state in use.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub purge: Option<PurgeStatus>,
    /// Whether the admin API is open.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub admin: Option<AdminStatus>,
    /// This isolate's canary over the last minute.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub canary: Option<CanaryStatus>,
    /// Which requests this isolate logs, and how many lines it wrote and left out.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub request_log: Option<RequestLogStatus>,
    /// This isolate's Cache API lookups: failed ones are served as misses, so they show here
    /// (`cache::lookups::LookupFailures::to_json`, the form the cache stats' `lookup` has too).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cache_api: Option<serde_json::Value>,
}

/// `REQUEST_LOG` in force and this isolate's counts (a left-out line is a choice, not a
/// failure: it never degrades health; metrics count every request either way).
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct RequestLogStatus {
    /// `all`, `errors`, `1/N` or `none`.
    pub setting: String,
    /// Lines written by this isolate.
    pub written: u64,
    /// Lines left out by the setting.
    pub skipped: u64,
}

impl RequestLogStatus {
    pub fn of(setting: RequestLog, counts: &LogCounts) -> RequestLogStatus {
        RequestLogStatus {
            setting: setting.text(),
            written: counts.written,
            skipped: counts.skipped,
        }
    }
}

/// This isolate's canary traffic over the last minute (health is per isolate; the fleet-wide
/// numbers are `/__edge/api/analysis`).
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct CanaryStatus {
    /// `ok` or `failing`.
    pub status: &'static str,
    /// Canary requests.
    pub requests: u64,
    /// Canary origin failures, including those a fallback hid.
    pub errors: u64,
    /// Canary requests answered by stable.
    pub fallbacks: u64,
    /// Why it counts as failing.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub problem: Option<String>,
}

/// The purge state in use and any problem with the stored one.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct PurgeStatus {
    /// Its version.
    pub version: u64,
    /// The generation in every key.
    pub generation: u64,
    /// Active bans.
    pub bans: usize,
    /// Why the stored purge state is not the one in use.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub problem: Option<String>,
}

impl PurgeStatus {
    /// The status of a purge state, with the problem of the last read.
    pub fn of(state: &PurgeState, problem: Option<String>) -> PurgeStatus {
        PurgeStatus {
            version: state.version,
            generation: state.generation,
            bans: state.bans.len(),
            problem,
        }
    }
}

/// Whether the admin API is open: how many operators it has (never who), or why it is closed.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct AdminStatus {
    /// `open` or `closed`.
    pub status: &'static str,
    /// How many operators have a token.
    pub operators: usize,
    /// Why it is closed, when `ADMIN_TOKENS` was refused.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub problem: Option<String>,
}

impl AdminStatus {
    /// The admin API's status under a configuration.
    pub fn of(config: &EdgeConfig) -> AdminStatus {
        AdminStatus {
            status: if config.operators.is_empty() {
                "closed"
            } else {
                "open"
            },
            operators: config.operators.len(),
            problem: config.operators_problem.clone(),
        }
    }
}

/// The rollout configuration in force and any problem with the stored one.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct RolloutStatus {
    /// `valid`, or `invalid` when the stored configuration was refused (the last good one serves).
    pub status: &'static str,
    /// `kv`, `control` (this isolate's own write) or `vars`.
    pub source: &'static str,
    /// Version in force.
    pub version: u64,
    /// Canary weight in basis points.
    pub weight_bp: u16,
    /// Why the stored configuration is not in force.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub problem: Option<String>,
}

impl RolloutStatus {
    /// The status of the rollout in force.
    pub fn of(r: &InForce) -> RolloutStatus {
        RolloutStatus {
            status: if r.problem.is_some() {
                "invalid"
            } else {
                "valid"
            },
            source: r.source.as_str(),
            version: r.version,
            weight_bp: r.config.weight_bp,
            problem: r.problem.clone(),
        }
    }
}

/// Whether the configuration is valid, and why not.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct ConfigStatus {
    /// `valid` or `invalid`.
    pub status: &'static str,
    /// The origin the worker forwards to, when configured.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub origin: Option<String>,
    /// Each problem as `FIELD: message`.
    pub errors: Vec<String>,
}

impl HealthReport {
    /// The report for a configuration parse result; the HTTP status is 200 when valid, else 503.
    pub fn new(origin: Option<&str>, errors: &[ConfigError]) -> (u16, HealthReport) {
        let valid = errors.is_empty();
        let report = HealthReport {
            status: if valid { "ok" } else { "degraded" },
            service: "catalog-edge",
            version: crate::VERSION,
            config: ConfigStatus {
                status: if valid { "valid" } else { "invalid" },
                origin: origin.map(str::to_string),
                errors: errors.iter().map(ToString::to_string).collect(),
            },
            rollout: None,
            purge: None,
            admin: None,
            canary: None,
            request_log: None,
            cache_api: None,
        };
        (if valid { 200 } else { 503 }, report)
    }

    /// Adds the rollout status; a refused stored configuration makes the worker `degraded`
    /// (it still serves, with the last good configuration).
    pub fn with_rollout(mut self, rollout: RolloutStatus) -> HealthReport {
        if rollout.problem.is_some() {
            self.status = "degraded";
        }
        self.rollout = Some(rollout);
        self
    }

    /// Adds the purge status; a stored purge state that could not be used makes the worker
    /// `degraded` (the last one read stays in use).
    pub fn with_purge(mut self, purge: PurgeStatus) -> HealthReport {
        if purge.problem.is_some() {
            self.status = "degraded";
        }
        self.purge = Some(purge);
        self
    }

    /// Adds this isolate's canary status; a failing canary makes the worker `degraded` (users
    /// still get answers — the fallback — but the release is broken).
    pub fn with_canary(mut self, canary: CanaryStatus) -> HealthReport {
        if canary.problem.is_some() {
            self.status = "degraded";
        }
        self.canary = Some(canary);
        self
    }

    /// Adds the Cache API's status; failing lookups make the worker `degraded` (it serves every
    /// request from the origin meanwhile).
    pub fn with_cache_api(
        mut self,
        lookups: &crate::cache::lookups::LookupFailures,
        now: crate::time::UnixMillis,
    ) -> HealthReport {
        if lookups.failing(now) {
            self.status = "degraded";
        }
        self.cache_api = Some(lookups.to_json(now));
        self
    }

    /// Adds the request log's setting and counts (never degrades).
    pub fn with_request_log(mut self, log: RequestLogStatus) -> HealthReport {
        self.request_log = Some(log);
        self
    }

    /// Adds the admin API's status; a refused `ADMIN_TOKENS` makes the worker `degraded`
    /// (serving goes on; the admin API is closed).
    pub fn with_admin(mut self, admin: AdminStatus) -> HealthReport {
        if admin.problem.is_some() {
            self.status = "degraded";
        }
        self.admin = Some(admin);
        self
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn invalid_config_is_degraded_with_reasons() {
        let errors = vec![ConfigError {
            field: "ORIGIN_URL".into(),
            message: "is required".into(),
        }];
        let (status, report) = HealthReport::new(None, &errors);
        assert_eq!(status, 503);
        let v = serde_json::to_value(&report).unwrap();
        assert_eq!(v["status"], "degraded");
        assert_eq!(v["config"]["status"], "invalid");
        assert_eq!(v["config"]["errors"][0], "ORIGIN_URL: is required");
        assert!(v["config"].get("origin").is_none());
    }

    #[test]
    fn a_refused_admin_tokens_or_purge_state_degrades_without_failing() {
        let (status, report) = HealthReport::new(Some("http://o.rs/"), &[]);
        let admin = AdminStatus {
            status: "closed",
            operators: 0,
            problem: Some("ADMIN_TOKENS: is not a JSON object".into()),
        };
        let degraded = report.clone().with_admin(admin);
        assert_eq!((status, degraded.status), (200, "degraded"));
        let purge = PurgeStatus::of(&PurgeState::default(), Some("unreadable".into()));
        assert_eq!(report.clone().with_purge(purge).status, "degraded");
        let fine = PurgeStatus::of(&PurgeState::default(), None);
        assert_eq!(report.with_purge(fine).status, "ok");
    }

    #[test]
    fn failing_cache_lookups_degrade_for_a_minute() {
        use crate::cache::lookups::{LookupFailures, FAILING_FOR_MS};
        use crate::time::UnixMillis;
        let (status, report) = HealthReport::new(Some("http://o.rs/"), &[]);
        let mut f = LookupFailures::default();
        let ok = report.clone().with_cache_api(&f, UnixMillis(5));
        assert_eq!((status, ok.status), (200, "ok"));
        f.record("cache unavailable", UnixMillis(1_000));
        let now = UnixMillis(1_000 + FAILING_FOR_MS - 1);
        let degraded = report.clone().with_cache_api(&f, now);
        assert_eq!(degraded.status, "degraded");
        let v = serde_json::to_value(&degraded).unwrap();
        assert_eq!(v["cache_api"]["status"], "failing");
        assert_eq!(v["cache_api"]["lookup_failures"], 1);
        assert_eq!(v["cache_api"]["last_error"], "cache unavailable");
        let later = UnixMillis(1_000 + FAILING_FOR_MS);
        let recovered = report.with_cache_api(&f, later);
        assert_eq!(recovered.status, "ok");
        assert_eq!(recovered.cache_api.unwrap()["lookup_failures"], 1);
    }

    #[test]
    fn valid_config_is_ok() {
        let (status, report) = HealthReport::new(Some("http://o.rs/"), &[]);
        assert_eq!(status, 200);
        assert_eq!(report.version, crate::VERSION);
        assert_eq!(report.config.origin.as_deref(), Some("http://o.rs/"));
    }
}
