//! Release-manager operations on the rollout configuration, as pure functions: each takes the
//! current state and a request body and gives the new state and its audit entry, or an error that
//! names the field. Nothing is stored on error.

use serde::{Deserialize, Serialize};
use serde_json::{json, Map, Value};

use super::config::{bp_to_percent, percent_to_bp, RolloutConfig};
use crate::cache::purge::FieldError;

/// Versions kept in the history.
pub const HISTORY_LEN: usize = 50;
/// Audit entries kept.
pub const AUDIT_LEN: usize = 500;

/// The stored configuration record (KV `config/current`, and each history item).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Versioned {
    /// Rises by one with every change.
    pub version: u64,
    /// When it was written.
    pub updated_at_ms: u64,
    /// Who wrote it.
    pub actor: String,
    /// Why.
    pub reason: String,
    /// The configuration document.
    pub config: Value,
}

/// One audit log entry.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AuditEntry {
    /// When.
    pub at_ms: u64,
    /// Who.
    pub actor: String,
    /// Why.
    pub reason: String,
    /// What: `set_weight`, `advance`, `rollback`, `promote`, `put_config`, `revert`.
    pub action: String,
    /// The version written.
    pub version: u64,
    /// The configuration before.
    pub old: Value,
    /// The configuration after.
    pub new: Value,
}

/// An operation's failure: HTTP status, field path, message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OpError {
    /// 400 for bad input, 409 for a request that conflicts with the current state.
    pub status: u16,
    /// The field.
    pub error: FieldError,
}

impl From<FieldError> for OpError {
    fn from(error: FieldError) -> Self {
        OpError { status: 400, error }
    }
}

fn field(field: &str, message: impl Into<String>) -> FieldError {
    FieldError {
        field: field.to_string(),
        message: message.into(),
    }
}

/// A write request: its JSON object, with the `actor` and `reason` every write must give.
#[derive(Debug, Clone)]
pub struct WriteRequest {
    /// Who.
    pub actor: String,
    /// Why.
    pub reason: String,
    /// The other fields.
    pub fields: Map<String, Value>,
}

/// Parses a write request body; `allowed` are the fields besides `actor` and `reason`.
pub fn parse_write(body: &str, allowed: &[&str]) -> Result<WriteRequest, FieldError> {
    let v: Value = serde_json::from_str(if body.trim().is_empty() { "{}" } else { body })
        .map_err(|e| field("body", format!("is not valid JSON: {e}")))?;
    let Value::Object(mut fields) = v else {
        return Err(field("body", "must be a JSON object"));
    };
    let mut text = |name: &str| -> Result<String, FieldError> {
        match fields.remove(name) {
            Some(Value::String(s)) if !s.trim().is_empty() && s.len() <= 500 => {
                Ok(s.trim().to_string())
            }
            Some(_) => Err(field(
                name,
                "must be a non-empty string of at most 500 characters",
            )),
            None => Err(field(
                name,
                "is required: say who makes this change and why",
            )),
        }
    };
    let actor = text("actor")?;
    let reason = text("reason")?;
    if let Some(k) = fields.keys().find(|k| !allowed.contains(&k.as_str())) {
        return Err(field(k, "is not a known field"));
    }
    Ok(WriteRequest {
        actor,
        reason,
        fields,
    })
}

/// A change to make.
#[derive(Debug, Clone, PartialEq)]
pub enum Change {
    /// `POST /canary {"weight": <percent>}`.
    SetWeight,
    /// `POST /canary/advance`: the next step of the plan.
    Advance,
    /// `POST /canary/rollback`: weight 0 at once.
    Rollback,
    /// `POST /canary/promote`: the canary becomes stable (origins swap, weight 0).
    Promote,
    /// `PUT /config {"config": {...}}`.
    Replace,
    /// `POST /config/revert {"version": N}`.
    Revert,
}

impl Change {
    /// The action word in the audit log.
    pub fn as_str(&self) -> &'static str {
        match self {
            Change::SetWeight => "set_weight",
            Change::Advance => "advance",
            Change::Rollback => "rollback",
            Change::Promote => "promote",
            Change::Replace => "put_config",
            Change::Revert => "revert",
        }
    }

    /// The fields its request may carry besides `actor` and `reason`.
    pub fn fields(&self) -> &'static [&'static str] {
        match self {
            Change::SetWeight => &["weight"],
            Change::Replace => &["config"],
            Change::Revert => &["version"],
            Change::Promote => &["force"],
            _ => &[],
        }
    }
}

/// Applies a change to the current configuration. `history` is needed for `Revert`.
pub fn apply(
    change: &Change,
    current: &RolloutConfig,
    req: &WriteRequest,
    history: &[Versioned],
    self_hosts: &[String],
) -> Result<RolloutConfig, OpError> {
    let mut next = current.clone();
    match change {
        Change::SetWeight => {
            let w = req
                .fields
                .get("weight")
                .ok_or_else(|| field("weight", "is required (a percentage, e.g. 25)"))?;
            next.weight_bp = percent_to_bp(w, "weight")?;
            if next.weight_bp > 0 && next.canary_origin.is_none() {
                return Err(field("weight", "no canary_origin is configured").into());
            }
        }
        Change::Advance => {
            if next.canary_origin.is_none() {
                return Err(OpError {
                    status: 409,
                    error: field("canary_origin", "no canary_origin is configured"),
                });
            }
            next.weight_bp = *current
                .plan_bp
                .iter()
                .find(|step| **step > current.weight_bp)
                .ok_or_else(|| OpError {
                    status: 409,
                    error: field(
                        "canary.weight_bp",
                        format!(
                            "already at {} %, the last step of the plan; promote or roll back",
                            bp_to_percent(current.weight_bp)
                        ),
                    ),
                })?;
        }
        Change::Rollback => next.weight_bp = 0,
        Change::Promote => {
            let canary = current.canary_origin.clone().ok_or_else(|| OpError {
                status: 409,
                error: field("canary_origin", "there is no canary to promote"),
            })?;
            // Promoting below 100 % moves every stable user at once: only on purpose.
            let forced = req.fields.get("force") == Some(&Value::Bool(true));
            if current.weight_bp < 10_000 && !forced {
                return Err(OpError {
                    status: 409,
                    error: field(
                        "canary.weight_bp",
                        format!(
                            "the canary serves {} %, not 100 %; advance first or send \"force\": true",
                            bp_to_percent(current.weight_bp)
                        ),
                    ),
                });
            }
            next.canary_origin = Some(current.stable_origin.clone());
            next.stable_origin = canary;
            next.weight_bp = 0;
        }
        Change::Replace => {
            let doc = req
                .fields
                .get("config")
                .ok_or_else(|| field("config", "is required"))?;
            next = RolloutConfig::from_json(doc, self_hosts).map_err(|e| FieldError {
                field: format!("config.{}", e.field).replace("config.config", "config"),
                message: e.message,
            })?;
        }
        Change::Revert => {
            let version = req
                .fields
                .get("version")
                .and_then(Value::as_u64)
                .ok_or_else(|| field("version", "is required (a version from the history)"))?;
            let found = history
                .iter()
                .find(|h| h.version == version)
                .ok_or_else(|| {
                    let kept = match (history.last(), history.first()) {
                        (Some(old), Some(new)) => format!("{}..={}", old.version, new.version),
                        _ => "none".into(),
                    };
                    field(
                        "version",
                        format!("{version} is not in the history (kept: {kept})"),
                    )
                })?;
            next = RolloutConfig::from_json(&found.config, self_hosts).map_err(|e| FieldError {
                field: "version".into(),
                message: format!("version {version} is no longer valid: {e}"),
            })?;
        }
    }
    Ok(next)
}

/// The record, history and audit entry of a change: what the glue writes to KV.
pub fn record(
    change: &Change,
    current: &Versioned,
    next: &RolloutConfig,
    req: &WriteRequest,
    history: &[Versioned],
    audit: &[AuditEntry],
    now_ms: u64,
) -> (Versioned, Vec<Versioned>, Vec<AuditEntry>) {
    let versioned = Versioned {
        version: current.version + 1,
        updated_at_ms: now_ms,
        actor: req.actor.clone(),
        reason: req.reason.clone(),
        config: next.to_json(),
    };
    let mut new_history = vec![versioned.clone()];
    new_history.extend(history.iter().take(HISTORY_LEN - 1).cloned());
    let mut new_audit = vec![AuditEntry {
        at_ms: now_ms,
        actor: req.actor.clone(),
        reason: req.reason.clone(),
        action: change.as_str().to_string(),
        version: versioned.version,
        old: current.config.clone(),
        new: versioned.config.clone(),
    }];
    new_audit.extend(audit.iter().take(AUDIT_LEN - 1).cloned());
    (versioned, new_history, new_audit)
}

/// A short summary of a configuration for API answers.
pub fn summary(cfg: &RolloutConfig) -> Value {
    let step = cfg.plan_bp.iter().position(|s| *s == cfg.weight_bp);
    json!({
        "weight_bp": cfg.weight_bp,
        "weight_percent": bp_to_percent(cfg.weight_bp),
        "plan_percent": cfg.plan_bp.iter().map(|b| bp_to_percent(*b)).collect::<Vec<_>>(),
        "plan_step": step,
        "stable_origin": cfg.stable_origin.as_str(),
        "canary_origin": cfg.canary_origin.as_ref().map(|u| u.as_str()),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use url::Url;

    fn cfg(weight_bp: u16) -> RolloutConfig {
        let mut c = RolloutConfig::stable_only(Url::parse("http://s.rs").unwrap());
        c.canary_origin = Some(Url::parse("http://c.rs").unwrap());
        c.weight_bp = weight_bp;
        c
    }

    fn req(body: &str, change: &Change) -> WriteRequest {
        parse_write(body, change.fields()).unwrap()
    }

    const W: &str = r#""actor":"ana","reason":"step""#;

    #[test]
    fn writes_need_actor_and_reason_and_known_fields() {
        assert_eq!(parse_write("{}", &[]).unwrap_err().field, "actor");
        assert_eq!(
            parse_write(r#"{"actor":"a"}"#, &[]).unwrap_err().field,
            "reason"
        );
        assert_eq!(
            parse_write(r#"{"actor":"","reason":"x"}"#, &[])
                .unwrap_err()
                .field,
            "actor"
        );
        assert_eq!(
            parse_write(r#"{"actor":"a","reason":"b","wieght":5}"#, &["weight"])
                .unwrap_err()
                .field,
            "wieght"
        );
        assert_eq!(parse_write("[", &[]).unwrap_err().field, "body");
    }

    #[test]
    fn set_weight_advance_rollback_promote() {
        let c = Change::SetWeight;
        let next = apply(
            &c,
            &cfg(0),
            &req(&format!("{{{W},\"weight\":25}}"), &c),
            &[],
            &[],
        )
        .unwrap();
        assert_eq!(next.weight_bp, 2500);
        let bad = apply(
            &c,
            &cfg(0),
            &req(&format!("{{{W},\"weight\":100.5}}"), &c),
            &[],
            &[],
        )
        .unwrap_err();
        assert_eq!((bad.status, bad.error.field.as_str()), (400, "weight"));

        let a = Change::Advance;
        assert_eq!(
            apply(&a, &cfg(0), &req(&format!("{{{W}}}"), &a), &[], &[])
                .unwrap()
                .weight_bp,
            1000
        );
        assert_eq!(
            apply(&a, &cfg(1000), &req(&format!("{{{W}}}"), &a), &[], &[])
                .unwrap()
                .weight_bp,
            2500
        );
        assert_eq!(
            apply(&a, &cfg(3000), &req(&format!("{{{W}}}"), &a), &[], &[])
                .unwrap()
                .weight_bp,
            5000
        );
        assert_eq!(
            apply(&a, &cfg(10_000), &req(&format!("{{{W}}}"), &a), &[], &[])
                .unwrap_err()
                .status,
            409
        );

        let r = Change::Rollback;
        assert_eq!(
            apply(&r, &cfg(5000), &req(&format!("{{{W}}}"), &r), &[], &[])
                .unwrap()
                .weight_bp,
            0
        );

        let p = Change::Promote;
        let early = apply(&p, &cfg(2500), &req(&format!("{{{W}}}"), &p), &[], &[]).unwrap_err();
        assert_eq!(
            (early.status, early.error.field.as_str()),
            (409, "canary.weight_bp")
        );
        let forced = apply(
            &p,
            &cfg(2500),
            &req(&format!("{{{W},\"force\":true}}"), &p),
            &[],
            &[],
        );
        assert_eq!(forced.unwrap().weight_bp, 0);
        let promoted = apply(&p, &cfg(10_000), &req(&format!("{{{W}}}"), &p), &[], &[]).unwrap();
        assert_eq!(promoted.stable_origin.as_str(), "http://c.rs/");
        assert_eq!(promoted.canary_origin.unwrap().as_str(), "http://s.rs/");
        assert_eq!(promoted.weight_bp, 0);
    }

    #[test]
    fn replace_names_nested_fields() {
        let c = Change::Replace;
        let body = format!(
            r#"{{{W},"config":{{"stable_origin":"http://s.rs","canary":{{"weight_bp":"x"}}}}}}"#
        );
        let e = apply(&c, &cfg(0), &req(&body, &c), &[], &[]).unwrap_err();
        assert_eq!(e.error.field, "config.canary.weight_bp");
    }

    #[test]
    fn revert_to_a_kept_version_or_refuse() {
        let current = Versioned {
            version: 2,
            updated_at_ms: 0,
            actor: "a".into(),
            reason: "r".into(),
            config: cfg(2500).to_json(),
        };
        let history = vec![
            current.clone(),
            Versioned {
                version: 1,
                config: cfg(1000).to_json(),
                ..current.clone()
            },
        ];
        let c = Change::Revert;
        let ok = apply(
            &c,
            &cfg(2500),
            &req(&format!("{{{W},\"version\":1}}"), &c),
            &history,
            &[],
        )
        .unwrap();
        assert_eq!(ok.weight_bp, 1000);
        let e = apply(
            &c,
            &cfg(2500),
            &req(&format!("{{{W},\"version\":7}}"), &c),
            &history,
            &[],
        )
        .unwrap_err();
        assert_eq!(
            e.error.to_string(),
            "version: 7 is not in the history (kept: 1..=2)"
        );

        let (v, h, a) = record(
            &c,
            &current,
            &ok,
            &req(&format!("{{{W},\"version\":1}}"), &c),
            &history,
            &[],
            99,
        );
        assert_eq!(v.version, 3);
        assert_eq!(h[0].version, 3);
        assert_eq!(h.len(), 3);
        assert_eq!(a[0].action, "revert");
        assert_eq!(a[0].old["canary"]["weight_bp"], 2500);
        assert_eq!(a[0].new["canary"]["weight_bp"], 1000);
    }
}
