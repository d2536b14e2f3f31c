//! The body of `GET /__edge/health`: the worker's own view of itself, without the origin.

use serde::Serialize;

use crate::config::ConfigError;

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
}

/// The rollout configuration in force and any problem with the stored one.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct RolloutStatus {
    /// `valid`, or `invalid` when the stored configuration was refused (the last good one serves).
    pub status: &'static str,
    /// `kv` or `vars`.
    pub source: &'static str,
    /// Version in force.
    pub version: u64,
    /// Canary weight in basis points.
    pub weight_bp: u16,
    /// Why the stored configuration is not in force.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub problem: Option<String>,
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
    fn valid_config_is_ok() {
        let (status, report) = HealthReport::new(Some("http://o.rs/"), &[]);
        assert_eq!(status, 200);
        assert_eq!(report.version, crate::VERSION);
        assert_eq!(report.config.origin.as_deref(), Some("http://o.rs/"));
    }
}
