//! Release-manager operations on the rollout configuration, as pure functions: each takes the
//! current configuration and a parsed request and gives the new configuration, or a problem that
//! names the field (400 for bad input, 409 for a request the current state refuses). Versions,
//! history and audit are the control plane's (`crate::control`).

use serde_json::{Map, Value};

use super::config::{bp_to_percent, percent_to_bp, RolloutConfig};
use crate::control::record::Versioned;
use crate::decimal::Plain;
use crate::problem::{FieldError, Problem};

/// Longest `reason` accepted.
pub const MAX_REASON_LEN: usize = 500;

fn field(field: &str, message: impl Into<String>) -> FieldError {
    FieldError::new(field, message)
}

/// A write request: who (the operator the admin token names), why, and the other fields.
#[derive(Debug, Clone, PartialEq)]
pub struct WriteRequest {
    /// The operator, from the admin token (never from the body).
    pub actor: String,
    /// Why: free text, required.
    pub reason: String,
    /// The version the client based the change on (`expected_version` in the body), if given.
    pub expected_version: Option<u64>,
    /// Validate only: change nothing (`"dry_run": true`, `PUT /config` only).
    pub dry_run: bool,
    /// The other fields.
    pub fields: Map<String, Value>,
}

/// Takes `key` out of `fields`, by rebuilding the map without it: a B-tree's removal (its node
/// merging and stealing, ~5 KB of Wasm) is then not in the edge, which removes nothing else.
pub fn take_field(fields: &mut Map<String, Value>, key: &str) -> Option<Value> {
    if !fields.contains_key(key) {
        return None;
    }
    let mut taken = None;
    for (k, v) in std::mem::take(fields) {
        if k == key {
            taken = Some(v);
        } else {
            fields.insert(k, v);
        }
    }
    taken
}

/// Parses the `reason` (required) and the `actor` (optional, and then it must be the operator the
/// token names: the audit's actor is never free text) of an admin write body.
pub fn reason_and_actor(
    fields: &mut Map<String, Value>,
    operator: &str,
) -> Result<String, FieldError> {
    match take_field(fields, "actor") {
        None => {}
        Some(Value::String(a)) if a.trim() == operator => {}
        Some(_) => {
            return Err(field(
                "actor",
                format!(
                    "the actor is the operator your admin token names ({operator:?}); leave the \
                     field out"
                ),
            ))
        }
    }
    match take_field(fields, "reason") {
        Some(Value::String(s)) if !s.trim().is_empty() && s.len() <= MAX_REASON_LEN => {
            Ok(s.trim().to_string())
        }
        Some(_) => Err(field(
            "reason",
            format!("must be a non-empty string of at most {MAX_REASON_LEN} characters"),
        )),
        None => Err(field(
            "reason",
            "is required: say why (it goes into the audit log)",
        )),
    }
}

/// A request body as a JSON object (an empty body is `{}`).
pub fn body_object(body: &str) -> Result<Map<String, Value>, FieldError> {
    let v: Value = serde_json::from_str(if body.trim().is_empty() { "{}" } else { body })
        .map_err(|e| field("body", format!("is not valid JSON: {e}")))?;
    match v {
        Value::Object(fields) => Ok(fields),
        _ => Err(field("body", "must be a JSON object")),
    }
}

/// Parses a write request body for `change`, made by `operator`.
pub fn parse_write(body: &str, change: Change, operator: &str) -> Result<WriteRequest, FieldError> {
    let mut fields = body_object(body)?;
    let reason = reason_and_actor(&mut fields, operator)?;
    let expected_version = match fields.remove("expected_version") {
        None | Some(Value::Null) => None,
        Some(v) => Some(v.as_u64().ok_or_else(|| {
            field(
                "expected_version",
                "must be a whole number: the version your change is based on",
            )
        })?),
    };
    let dry_run = match fields.remove("dry_run") {
        None | Some(Value::Bool(false)) => false,
        Some(Value::Bool(true)) if change == Change::Replace => true,
        Some(Value::Bool(true)) => {
            return Err(field(
                "dry_run",
                "is only for PUT /config (validate a configuration without storing it)",
            ))
        }
        Some(_) => return Err(field("dry_run", "must be true or false")),
    };
    if let Some(k) = fields
        .keys()
        .find(|k| !change.fields().contains(&k.as_str()))
    {
        return Err(field(k, "is not a known field"));
    }
    Ok(WriteRequest {
        actor: operator.to_string(),
        reason,
        expected_version,
        dry_run,
        fields,
    })
}

/// A change to make.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Change {
    /// `POST /canary {"weight": <percent>}`.
    SetWeight,
    /// `POST /canary/advance`: the next step of the plan.
    Advance,
    /// `POST /canary/rollback`: weight 0 at once.
    Rollback,
    /// `POST /canary/promote`: the canary becomes stable; the canary is cleared.
    Promote,
    /// `PUT /config {"config": {...}}`.
    Replace,
    /// `POST /config/revert {"version": N}`.
    Revert,
}

impl Change {
    /// Every change.
    pub const ALL: [Change; 6] = [
        Change::SetWeight,
        Change::Advance,
        Change::Rollback,
        Change::Promote,
        Change::Replace,
        Change::Revert,
    ];

    /// The action word in the audit log.
    pub fn as_str(self) -> &'static str {
        match self {
            Change::SetWeight => "set_weight",
            Change::Advance => "advance",
            Change::Rollback => "rollback",
            Change::Promote => "promote",
            Change::Replace => "put_config",
            Change::Revert => "revert",
        }
    }

    /// The change an action word names.
    pub fn parse(word: &str) -> Option<Change> {
        Change::ALL.into_iter().find(|c| c.as_str() == word)
    }

    /// The fields its request may carry besides `reason`, `actor`, `expected_version` and
    /// `dry_run`.
    pub fn fields(self) -> &'static [&'static str] {
        match self {
            Change::SetWeight => &["weight"],
            Change::Replace => &["config"],
            Change::Revert => &["version"],
            Change::Promote => &["force"],
            _ => &[],
        }
    }

    /// True when the change needs nothing from the current configuration: it can be made even
    /// when the stored record is unreadable (a rollback must always work).
    pub fn needs_no_current(self, req: &WriteRequest) -> bool {
        match self {
            Change::Rollback | Change::Replace | Change::Revert => true,
            Change::SetWeight => req.fields.get("weight").and_then(Value::as_f64) == Some(0.0),
            Change::Advance | Change::Promote => false,
        }
    }
}

fn no_canary(what: &str) -> Problem {
    Problem::conflict(field(
        "canary_origin",
        format!("there is no canary to {what}: PUT a configuration with a canary_origin first"),
    ))
}

/// Applies a change to the current configuration. `history` (newest first) is needed for
/// `Revert`.
pub fn apply(
    change: Change,
    current: &RolloutConfig,
    req: &WriteRequest,
    history: &[Versioned],
    self_hosts: &[String],
) -> Result<RolloutConfig, Problem> {
    let mut next = current.clone();
    match change {
        Change::SetWeight => {
            let w = req
                .fields
                .get("weight")
                .ok_or_else(|| field("weight", "is required (a percentage, e.g. 25)"))?;
            next.weight_bp = percent_to_bp(w, "weight")?;
            if next.weight_bp > 0 && next.canary_origin.is_none() {
                return Err(no_canary("send traffic to"));
            }
        }
        Change::Advance => {
            if next.canary_origin.is_none() {
                return Err(no_canary("advance"));
            }
            next.weight_bp = *current
                .plan_bp
                .iter()
                .find(|step| **step > current.weight_bp)
                .ok_or_else(|| {
                    Problem::conflict(field(
                        "canary.weight_bp",
                        format!(
                            "already at {} %, the last step of the plan; promote or roll back",
                            Plain(bp_to_percent(current.weight_bp))
                        ),
                    ))
                })?;
        }
        Change::Rollback => next.weight_bp = 0,
        Change::Promote => {
            let canary = current
                .canary_origin
                .clone()
                .ok_or_else(|| no_canary("promote"))?;
            // Promoting below 100 % moves every stable user at once: only on purpose.
            let forced = req.fields.get("force") == Some(&Value::Bool(true));
            if current.weight_bp < 10_000 && !forced {
                return Err(Problem::conflict(field(
                    "canary.weight_bp",
                    format!(
                        "the canary serves {} %, not 100 %; advance first or send \"force\": true",
                        Plain(bp_to_percent(current.weight_bp))
                    ),
                )));
            }
            // The canary's release becomes the stable one; the canary is cleared, so that no
            // override, advance or cache entry can bring the previous release back.
            next.stable_origin = canary;
            next.stable_release = current.canary_release.clone();
            next.canary_origin = None;
            next.canary_release = None;
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

/// A short summary of a configuration for API answers.
pub fn summary(cfg: &RolloutConfig) -> Value {
    use crate::variant::Variant;
    let step = cfg.plan_bp.iter().position(|s| *s == cfg.weight_bp);
    object! {
        "weight_bp": cfg.weight_bp,
        "weight_percent": bp_to_percent(cfg.weight_bp),
        "plan_percent": cfg.plan_bp.iter().map(|b| bp_to_percent(*b)).collect::<Vec<_>>(),
        "plan_step": step,
        "stable_origin": cfg.stable_origin.as_str(),
        "canary_origin": cfg.canary_origin.as_ref().map(|u| u.as_str()),
        "stable_release": cfg.release(Variant::Stable),
        "canary_release": cfg.canary_origin.as_ref().map(|_| cfg.release(Variant::Canary)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn taking_a_field_leaves_the_others_as_they_were() {
        let mut fields = body_object(r#"{"b": [1], "reason": "x", "a": {"c": 2}}"#).unwrap();
        assert_eq!(take_field(&mut fields, "reason"), Some(json!("x")));
        assert_eq!(
            Value::Object(fields.clone()),
            json!({"a": {"c": 2}, "b": [1]})
        );
        assert_eq!(take_field(&mut fields, "reason"), None);
        assert_eq!(fields.len(), 2);
    }

    fn cfg(weight_bp: u16) -> RolloutConfig {
        RolloutConfig::for_tests(weight_bp)
    }

    fn req(body: &str, change: Change) -> WriteRequest {
        parse_write(body, change, "ana").unwrap()
    }

    const W: &str = r#""reason":"step""#;

    #[test]
    fn writes_need_a_reason_and_known_fields_and_take_the_actor_from_the_token() {
        let e = |body: &str| parse_write(body, Change::SetWeight, "ana").unwrap_err();
        assert_eq!(e("{}").field, "reason");
        assert_eq!(e(r#"{"reason":"  "}"#).field, "reason");
        assert_eq!(e(r#"{"reason":"x","wieght":5}"#).field, "wieght");
        assert_eq!(e("[").field, "body");
        assert_eq!(e("[1]").field, "body");
        assert_eq!(e(r#"{"reason":"x","actor":"marko"}"#).field, "actor");
        assert_eq!(
            e(r#"{"reason":"x","expected_version":"3"}"#).field,
            "expected_version"
        );
        assert_eq!(e(r#"{"reason":"x","dry_run":true}"#).field, "dry_run");
        let ok = parse_write(
            r#"{"reason":" why ","actor":"ana","weight":5,"expected_version":7}"#,
            Change::SetWeight,
            "ana",
        )
        .unwrap();
        assert_eq!(
            (ok.actor.as_str(), ok.reason.as_str(), ok.expected_version),
            ("ana", "why", Some(7))
        );
        assert!(!ok.fields.contains_key("actor"));
        let dry = parse_write(
            r#"{"reason":"x","dry_run":true,"config":{}}"#,
            Change::Replace,
            "a",
        );
        assert!(dry.unwrap().dry_run);
    }

    #[test]
    fn set_weight_advance_rollback_promote() {
        let c = Change::SetWeight;
        let next = apply(
            c,
            &cfg(0),
            &req(&format!("{{{W},\"weight\":25}}"), c),
            &[],
            &[],
        )
        .unwrap();
        assert_eq!(next.weight_bp, 2500);
        let bad = apply(
            c,
            &cfg(0),
            &req(&format!("{{{W},\"weight\":100.5}}"), c),
            &[],
            &[],
        )
        .unwrap_err();
        assert_eq!((bad.status, bad.field.as_deref()), (400, Some("weight")));

        let a = Change::Advance;
        let adv = |from: u16| apply(a, &cfg(from), &req(&format!("{{{W}}}"), a), &[], &[]);
        assert_eq!(adv(0).unwrap().weight_bp, 1000);
        assert_eq!(adv(1000).unwrap().weight_bp, 2500);
        assert_eq!(adv(3000).unwrap().weight_bp, 5000);
        assert_eq!(adv(10_000).unwrap_err().status, 409);

        let r = Change::Rollback;
        let back = apply(r, &cfg(5000), &req(&format!("{{{W}}}"), r), &[], &[]).unwrap();
        assert_eq!(back.weight_bp, 0);

        let p = Change::Promote;
        let early = apply(p, &cfg(2500), &req(&format!("{{{W}}}"), p), &[], &[]).unwrap_err();
        assert_eq!(
            (early.status, early.field.as_deref()),
            (409, Some("canary.weight_bp"))
        );
        let forced = apply(
            p,
            &cfg(2500),
            &req(&format!("{{{W},\"force\":true}}"), p),
            &[],
            &[],
        );
        assert_eq!(forced.unwrap().weight_bp, 0);
    }

    #[test]
    fn promote_makes_the_canary_release_stable_and_clears_the_canary() {
        let p = Change::Promote;
        let mut at_full = cfg(10_000);
        at_full.stable_release = Some("2026.11".into());
        at_full.canary_release = Some("2026.12".into());
        let promoted = apply(p, &at_full, &req(&format!("{{{W}}}"), p), &[], &[]).unwrap();
        assert_eq!(promoted.stable_origin.as_str(), "http://c.rs/");
        assert_eq!(promoted.stable_release.as_deref(), Some("2026.12"));
        assert_eq!(
            (promoted.canary_origin, promoted.canary_release),
            (None, None)
        );
        assert_eq!(promoted.weight_bp, 0);

        // Without labels the release is the origin URL: stable's entries become the ones the
        // canary stored.
        let plain = apply(p, &cfg(10_000), &req(&format!("{{{W}}}"), p), &[], &[]).unwrap();
        assert_eq!(
            plain.release(crate::variant::Variant::Stable),
            cfg(10_000).release(crate::variant::Variant::Canary)
        );

        for change in [Change::Advance, Change::Promote] {
            let e = apply(change, &plain, &req(&format!("{{{W}}}"), change), &[], &[]).unwrap_err();
            assert_eq!(
                (e.status, e.field.as_deref()),
                (409, Some("canary_origin")),
                "{change:?}"
            );
        }
        let c = Change::SetWeight;
        let e = apply(
            c,
            &plain,
            &req(&format!("{{{W},\"weight\":10}}"), c),
            &[],
            &[],
        )
        .unwrap_err();
        assert_eq!(e.status, 409);
    }

    #[test]
    fn replace_names_nested_fields() {
        let c = Change::Replace;
        let body = format!(
            r#"{{{W},"config":{{"stable_origin":"http://s.rs","canary":{{"weight_bp":"x"}}}}}}"#
        );
        let e = apply(c, &cfg(0), &req(&body, c), &[], &[]).unwrap_err();
        assert_eq!(e.field.as_deref(), Some("config.canary.weight_bp"));
    }

    #[test]
    fn revert_to_a_kept_version_or_refuse() {
        let current = Versioned {
            version: 2,
            updated_at_ms: 0,
            actor: "a".into(),
            reason: "r".into(),
            config: cfg(2500).to_json(),
            seal: None,
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
            c,
            &cfg(2500),
            &req(&format!("{{{W},\"version\":1}}"), c),
            &history,
            &[],
        );
        assert_eq!(ok.unwrap().weight_bp, 1000);
        let e = apply(
            c,
            &cfg(2500),
            &req(&format!("{{{W},\"version\":7}}"), c),
            &history,
            &[],
        )
        .unwrap_err();
        assert_eq!(e.detail, "version: 7 is not in the history (kept: 1..=2)");
    }

    #[test]
    fn only_rollback_replace_revert_and_weight_zero_need_no_current_state() {
        let needs_none = |c: Change, body: &str| c.needs_no_current(&req(body, c));
        assert!(needs_none(Change::Rollback, r#"{"reason":"x"}"#));
        assert!(needs_none(
            Change::SetWeight,
            r#"{"reason":"x","weight":0}"#
        ));
        assert!(!needs_none(
            Change::SetWeight,
            r#"{"reason":"x","weight":5}"#
        ));
        assert!(!needs_none(Change::Advance, r#"{"reason":"x"}"#));
        assert!(needs_none(Change::Revert, r#"{"reason":"x","version":1}"#));
        for c in Change::ALL {
            assert_eq!(Change::parse(c.as_str()), Some(c));
        }
        assert_eq!(Change::parse("nope"), None);
    }
}
