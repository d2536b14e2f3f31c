//! Planning a write to the rollout state, as the control plane's only writer does it: check the
//! version the client based its change on, recover from an unreadable stored record when the change
//! needs nothing from it (a rollback must always work), apply the change, and give the next
//! sealed record with its audit entries. The object stores the plan in one transaction; nothing
//! here does I/O.

use serde_json::{json, Value};

use super::record::{AuditEntry, Versioned};
use crate::canary::config::RolloutConfig;
use crate::canary::ops::{self, Change, WriteRequest};
use crate::problem::{FieldError, Problem};

/// The rollout state the control plane holds, as read from its storage.
// Built once per request and never stored in bulk: the size difference costs nothing.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Clone, PartialEq)]
pub enum Current {
    /// Nothing stored yet: the wrangler vars' defaults are in force (version 0).
    Defaults,
    /// The stored record, readable and valid.
    Valid {
        /// The record.
        record: Versioned,
        /// Its configuration, validated.
        config: RolloutConfig,
    },
    /// The stored record cannot be read or no longer validates.
    Unreadable {
        /// Its version (kept apart from the record, so it is known even then).
        version: u64,
        /// Why it cannot be used.
        why: String,
    },
}

impl Current {
    /// Classifies what storage holds: `unreadable` is a marker the import leaves when the record
    /// it found could not be read; `newest` is the newest stored record's version and text.
    pub fn from_storage(
        unreadable: Option<(u64, String)>,
        newest: Option<(u64, &str)>,
        self_hosts: &[String],
    ) -> Current {
        if let Some((version, why)) = unreadable {
            return Current::Unreadable { version, why };
        }
        let Some((version, text)) = newest else {
            return Current::Defaults;
        };
        let record = match Versioned::from_json(text) {
            Ok(r) => r,
            Err(e) => {
                return Current::Unreadable {
                    version,
                    why: format!("version {version} is not a rollout record ({e})"),
                }
            }
        };
        match RolloutConfig::from_json(&record.config, self_hosts) {
            Ok(config) => Current::Valid { record, config },
            Err(e) => Current::Unreadable {
                version,
                why: format!("version {version} no longer validates ({e})"),
            },
        }
    }

    /// The version in force (0 for the defaults).
    pub fn version(&self) -> u64 {
        match self {
            Current::Defaults => 0,
            Current::Valid { record, .. } => record.version,
            Current::Unreadable { version, .. } => *version,
        }
    }

    /// The state as the API shows it (`GET /config`, and with a 409): version, who wrote it, why,
    /// the configuration and its summary.
    pub fn to_json(&self, defaults: &RolloutConfig) -> Value {
        match self {
            Current::Defaults => json!({
                "version": 0,
                "updated_at_ms": 0,
                "actor": "wrangler vars",
                "reason": "defaults (no configuration stored yet)",
                "config": defaults.to_json(),
                "summary": ops::summary(defaults),
                "readable": true,
            }),
            Current::Valid { record, config } => json!({
                "version": record.version,
                "updated_at_ms": record.updated_at_ms,
                "actor": record.actor,
                "reason": record.reason,
                "config": record.config,
                "summary": ops::summary(config),
                "readable": true,
            }),
            Current::Unreadable { version, why } => json!({
                "version": version,
                "readable": false,
                "problem": why,
            }),
        }
    }
}

/// What a write needs besides the current state and the request.
#[derive(Debug, Clone, Copy)]
pub struct WriteContext<'a> {
    /// The time of the write.
    pub now_ms: u64,
    /// The worker's own `host[:port]`s (an origin there would loop).
    pub self_hosts: &'a [String],
    /// The wrangler vars' rollout, for recovery when nothing good is stored.
    pub defaults: &'a RolloutConfig,
    /// The stored history, newest first (revert, and the last good record for recovery).
    pub history: &'a [Versioned],
}

/// A planned write: the next record, its configuration and the audit entries, in the order
/// they happened.
#[derive(Debug, Clone, PartialEq)]
pub struct Commit {
    /// The next record, sealed.
    pub record: Versioned,
    /// Its configuration.
    pub config: RolloutConfig,
    /// What to append to the audit log.
    pub audit: Vec<AuditEntry>,
}

/// The version a client based its change on: `If-Match: "<version>"` (a weak `W/"7"` or a bare
/// `7` too; `*` means any) or `expected_version` in the body. Both given and different is an
/// error.
pub fn expected_version(
    if_match: Option<&str>,
    in_body: Option<u64>,
) -> Result<Option<u64>, FieldError> {
    let from_header = match if_match.map(str::trim).filter(|v| !v.is_empty()) {
        None | Some("*") => None,
        Some(v) => {
            let bare = v.strip_prefix("W/").unwrap_or(v).trim_matches('"');
            Some(bare.parse::<u64>().map_err(|_| {
                FieldError::new(
                    "if-match",
                    format!("{v:?} is not one version: send If-Match: \"<version>\""),
                )
            })?)
        }
    };
    match (from_header, in_body) {
        (Some(h), Some(b)) if h != b => Err(FieldError::new(
            "expected_version",
            format!("{b} disagrees with If-Match {h}"),
        )),
        (h, b) => Ok(h.or(b)),
    }
}

/// The newest history record that still validates, with a sentence saying which it is.
fn last_good(history: &[Versioned], self_hosts: &[String]) -> Option<(RolloutConfig, String)> {
    history.iter().find_map(|h| {
        RolloutConfig::from_json(&h.config, self_hosts)
            .ok()
            .map(|c| (c, format!("version {}", h.version)))
    })
}

/// Plans a change. `Err` is the problem to answer (400 bad input, 409 conflict); nothing is
/// stored then.
pub fn plan_write(
    current: &Current,
    change: Change,
    req: &WriteRequest,
    ctx: &WriteContext<'_>,
) -> Result<Commit, Problem> {
    if let Some(expected) = req.expected_version {
        if expected != current.version() {
            let detail = match current {
                Current::Valid { record, .. } => format!(
                    "the rollout changed: it is at version {} (by {}: {:?}), not {expected}; \
                     nothing was changed — review the current state and try again",
                    record.version, record.actor, record.reason
                ),
                _ => format!(
                    "the rollout is at version {}, not {expected}; nothing was changed",
                    current.version()
                ),
            };
            return Err(Problem::conflict(FieldError::new("if-match", detail))
                .with_current(current.to_json(ctx.defaults)));
        }
    }
    let (base, old, recovered) = match current {
        Current::Defaults => (ctx.defaults.clone(), ctx.defaults.to_json(), None),
        Current::Valid { record, config } => (config.clone(), record.config.clone(), None),
        Current::Unreadable { version, why } => {
            if !change.needs_no_current(req) {
                return Err(Problem::conflict(FieldError::new(
                    "state",
                    format!(
                        "the stored rollout record is unreadable ({why}); {} needs it — roll \
                         back, revert to a kept version or PUT a configuration first",
                        change.as_str()
                    ),
                ))
                .with_current(current.to_json(ctx.defaults)));
            }
            let (config, source) = last_good(ctx.history, ctx.self_hosts)
                .unwrap_or_else(|| (ctx.defaults.clone(), "the wrangler vars".to_string()));
            let detail = json!({"unreadable_version": version, "why": why, "from": source});
            (config, json!({"unreadable": why}), Some(detail))
        }
    };
    let next = ops::apply(change, &base, req, ctx.history, ctx.self_hosts)?;
    let version = current.version() + 1;
    let record = Versioned {
        version,
        updated_at_ms: ctx.now_ms,
        actor: req.actor.clone(),
        reason: req.reason.clone(),
        config: next.to_json(),
        seal: None,
    }
    .sealed();
    let mut audit = Vec::new();
    if let Some(detail) = recovered {
        audit.push(AuditEntry::event(
            ctx.now_ms,
            &req.actor,
            "recovered from unreadable state",
            "recovered",
            version,
            detail,
        ));
    }
    audit.push(AuditEntry {
        id: 0,
        at_ms: ctx.now_ms,
        actor: req.actor.clone(),
        reason: req.reason.clone(),
        action: change.as_str().to_string(),
        version,
        old,
        new: record.config.clone(),
        detail: Value::Null,
    });
    Ok(Commit {
        record,
        config: next,
        audit,
    })
}

/// The actor of records adopted from a KV-only edit.
pub const EXTERNAL_ACTOR: &str = "kv (external)";

/// Plans the adoption of a valid record someone wrote straight into KV (the emergency path). Its
/// version is at least one above the current one — and never below the edited record's own, which
/// edges may already use.
pub fn plan_adoption(
    current: &Current,
    external: &Versioned,
    config: RolloutConfig,
    now_ms: u64,
) -> Commit {
    let version = (current.version() + 1).max(external.version);
    let old = match current {
        Current::Valid { record, .. } => record.config.clone(),
        _ => Value::Null,
    };
    let record = Versioned {
        version,
        updated_at_ms: now_ms,
        actor: EXTERNAL_ACTOR.to_string(),
        reason: external.reason.clone(),
        config: config.to_json(),
        seal: None,
    }
    .sealed();
    let entry = AuditEntry {
        id: 0,
        at_ms: now_ms,
        actor: EXTERNAL_ACTOR.to_string(),
        reason: external.reason.clone(),
        action: "external_change".into(),
        version,
        old,
        new: record.config.clone(),
        detail: json!({
            "claimed_actor": external.actor,
            "kv_version": external.version,
            "note": "written straight into KV (not through the admin API); adopted by the control plane",
        }),
    };
    Commit {
        record,
        config,
        audit: vec![entry],
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::web_url::Url;

    fn cfg(weight_bp: u16) -> RolloutConfig {
        RolloutConfig::for_tests(weight_bp)
    }

    fn record(version: u64, weight_bp: u16) -> Versioned {
        Versioned {
            version,
            updated_at_ms: 1,
            actor: "ana".into(),
            reason: "r".into(),
            config: cfg(weight_bp).to_json(),
            seal: None,
        }
        .sealed()
    }

    fn valid(version: u64, weight_bp: u16) -> Current {
        Current::Valid {
            record: record(version, weight_bp),
            config: cfg(weight_bp),
        }
    }

    fn req(change: Change, body: &str) -> WriteRequest {
        ops::parse_write(body, change, "ana").unwrap()
    }

    fn plan(
        current: &Current,
        change: Change,
        body: &str,
        history: &[Versioned],
    ) -> Result<Commit, Problem> {
        let defaults = RolloutConfig::stable_only(Url::parse("http://vars.rs").unwrap());
        let ctx = WriteContext {
            now_ms: 99,
            self_hosts: &[],
            defaults: &defaults,
            history,
        };
        plan_write(current, change, &req(change, body), &ctx)
    }

    #[test]
    fn a_write_makes_the_next_sealed_version_with_one_audit_entry() {
        let c = plan(
            &valid(4, 1000),
            Change::Advance,
            r#"{"reason":"10 % clean"}"#,
            &[],
        )
        .unwrap();
        assert_eq!(c.record.version, 5);
        assert!(c.record.is_sealed());
        assert_eq!(c.config.weight_bp, 2500);
        assert_eq!(c.audit.len(), 1);
        let a = &c.audit[0];
        assert_eq!(
            (a.action.as_str(), a.actor.as_str(), a.version),
            ("advance", "ana", 5)
        );
        assert_eq!(a.old["canary"]["weight_bp"], 1000);
        assert_eq!(a.new["canary"]["weight_bp"], 2500);
        let first = plan(
            &Current::Defaults,
            Change::Rollback,
            r#"{"reason":"x"}"#,
            &[],
        )
        .unwrap();
        assert_eq!(first.record.version, 1);
    }

    #[test]
    fn a_stale_expected_version_is_a_409_with_the_current_state() {
        let body = r#"{"reason":"r","expected_version":3}"#;
        let e = plan(&valid(4, 1000), Change::Advance, body, &[]).unwrap_err();
        assert_eq!((e.status, e.field.as_deref()), (409, Some("if-match")));
        assert!(e.detail.contains("version 4 (by ana"), "{}", e.detail);
        let current = e.current.expect("current state");
        assert_eq!(current["version"], 4);
        assert_eq!(current["summary"]["weight_bp"], 1000);
        let ok = plan(
            &valid(4, 1000),
            Change::Advance,
            r#"{"reason":"r","expected_version":4}"#,
            &[],
        );
        assert_eq!(ok.unwrap().record.version, 5);
    }

    #[test]
    fn if_match_takes_one_version_in_any_usual_spelling() {
        assert_eq!(expected_version(Some("\"7\""), None), Ok(Some(7)));
        assert_eq!(expected_version(Some("W/\"7\""), None), Ok(Some(7)));
        assert_eq!(expected_version(Some(" 7 "), None), Ok(Some(7)));
        assert_eq!(expected_version(Some("*"), Some(3)), Ok(Some(3)));
        assert_eq!(expected_version(None, Some(3)), Ok(Some(3)));
        assert_eq!(expected_version(Some("\"7\""), Some(7)), Ok(Some(7)));
        assert_eq!(expected_version(None, None), Ok(None));
        assert_eq!(
            expected_version(Some("\"6\", \"7\""), None)
                .unwrap_err()
                .field,
            "if-match"
        );
        assert_eq!(
            expected_version(Some("\"x\""), None).unwrap_err().field,
            "if-match"
        );
        assert_eq!(
            expected_version(Some("\"7\""), Some(8)).unwrap_err().field,
            "expected_version"
        );
    }

    #[test]
    fn rollback_recovers_an_unreadable_record_from_the_last_good_version() {
        let broken = Current::from_storage(None, Some((9, "{\"version\":\"x\"")), &[]);
        assert!(
            matches!(broken, Current::Unreadable { version: 9, .. }),
            "{broken:?}"
        );
        let history = [record(8, 5000), record(7, 2500)];
        let c = plan(
            &broken,
            Change::Rollback,
            r#"{"reason":"5xx on search"}"#,
            &history,
        )
        .unwrap();
        assert_eq!(c.record.version, 10);
        assert_eq!(c.config.weight_bp, 0);
        assert_eq!(
            c.config.canary_origin.as_ref().map(Url::as_str),
            Some("http://c.rs/"),
            "the rest of the last good configuration is kept"
        );
        let actions: Vec<&str> = c.audit.iter().map(|a| a.action.as_str()).collect();
        assert_eq!(actions, ["recovered", "rollback"]);
        assert_eq!(c.audit[0].reason, "recovered from unreadable state");
        assert_eq!(c.audit[0].detail["from"], "version 8");
        assert_eq!(c.audit[0].detail["unreadable_version"], 9);
    }

    #[test]
    fn weight_zero_recovers_from_the_vars_when_no_history_is_good() {
        let broken = Current::Unreadable {
            version: 3,
            why: "truncated".into(),
        };
        let bad_history = [Versioned {
            config: json!({"stable_origin": "ftp://nope"}),
            ..record(2, 0)
        }];
        let c = plan(
            &broken,
            Change::SetWeight,
            r#"{"reason":"r","weight":0}"#,
            &bad_history,
        );
        let c = c.unwrap();
        assert_eq!(c.config.stable_origin.as_str(), "http://vars.rs/");
        assert_eq!(c.audit[0].detail["from"], "the wrangler vars");
    }

    #[test]
    fn changes_that_need_the_current_record_are_refused_while_it_is_unreadable() {
        let broken = Current::Unreadable {
            version: 3,
            why: "truncated".into(),
        };
        for (change, body) in [
            (Change::Advance, r#"{"reason":"r"}"#),
            (Change::Promote, r#"{"reason":"r"}"#),
            (Change::SetWeight, r#"{"reason":"r","weight":25}"#),
        ] {
            let e = plan(&broken, change, body, &[]).unwrap_err();
            assert_eq!(
                (e.status, e.field.as_deref()),
                (409, Some("state")),
                "{change:?}"
            );
            assert!(e.detail.contains("truncated"));
        }
        let put = r#"{"reason":"r","config":{"stable_origin":"http://new.rs"}}"#;
        assert_eq!(
            plan(&broken, Change::Replace, put, &[])
                .unwrap()
                .record
                .version,
            4
        );
    }

    #[test]
    fn stored_records_are_classified() {
        let good = serde_json::to_string(&record(5, 0)).unwrap();
        assert!(matches!(
            Current::from_storage(None, Some((5, &good)), &[]),
            Current::Valid { .. }
        ));
        assert_eq!(Current::from_storage(None, None, &[]), Current::Defaults);
        let marked = Current::from_storage(Some((5, "import".into())), Some((5, &good)), &[]);
        assert!(matches!(marked, Current::Unreadable { version: 5, .. }));
        let invalid = serde_json::to_string(&Versioned {
            config: json!({"stable_origin": "http://edge.rs"}),
            ..record(6, 0)
        })
        .unwrap();
        let loops = Current::from_storage(None, Some((6, &invalid)), &["edge.rs".to_string()]);
        assert!(
            matches!(loops, Current::Unreadable { version: 6, .. }),
            "{loops:?}"
        );
        for text in ["", "{", "null", "[]"] {
            let c = Current::from_storage(None, Some((2, text)), &[]);
            assert!(
                matches!(c, Current::Unreadable { version: 2, .. }),
                "{text:?}"
            );
        }
    }

    #[test]
    fn an_external_edit_is_adopted_above_both_versions() {
        let mut edited = record(4, 0);
        edited.seal = None;
        edited.actor = "someone".into();
        edited.reason = "emergency".into();
        let c = plan_adoption(&valid(6, 2500), &edited, cfg(0), 50);
        assert_eq!(c.record.version, 7);
        assert!(c.record.is_sealed());
        assert_eq!(c.record.actor, EXTERNAL_ACTOR);
        assert_eq!(c.audit[0].action, "external_change");
        assert_eq!(c.audit[0].detail["claimed_actor"], "someone");
        assert_eq!(c.audit[0].old["canary"]["weight_bp"], 2500);
        edited.version = 40;
        assert_eq!(
            plan_adoption(&valid(6, 2500), &edited, cfg(0), 50)
                .record
                .version,
            40
        );
    }
}
