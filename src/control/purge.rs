//! Planning a purge, as the control plane's only writer does it: parse the request (a reason is
//! required; the actor is the operator the token names), apply it to the purge state, and give
//! the next sealed state, what it did and its audit entry.

use serde_json::{json, Value};

use super::record::AuditEntry;
use crate::cache::purge::{BanTarget, PurgeCommand, PurgeOutcome, PurgeState};
use crate::canary::ops;
use crate::problem::Problem;

/// A planned purge.
#[derive(Debug, Clone, PartialEq)]
pub struct PurgeCommit {
    /// The next purge state, sealed.
    pub state: PurgeState,
    /// What the purge did.
    pub outcome: PurgeOutcome,
    /// Its audit entry.
    pub audit: AuditEntry,
    /// The targets as given (for the reply): URLs with their purge paths, or the prefix.
    pub targets: Value,
}

/// What a purge needs besides the state and the request.
pub struct PurgeContext<'a> {
    /// The time of the purge.
    pub now_ms: u64,
    /// The longest any entry can live (bans older than that are dropped).
    pub max_retention_ms: u64,
    /// The rollout version at the time (for the audit entry).
    pub rollout_version: u64,
    /// The operator the admin token names.
    pub operator: &'a str,
}

/// Plans a purge request body.
pub fn plan_purge(
    state: &PurgeState,
    body: &str,
    purge_path: impl Fn(&str) -> Option<String>,
    ctx: &PurgeContext<'_>,
) -> Result<PurgeCommit, Problem> {
    let mut obj = ops::body_object(body)?;
    let reason = ops::reason_and_actor(&mut obj, ctx.operator)?;
    let cmd = crate::cache::purge::parse_command(&obj, purge_path)?;
    let mut next = state.clone();
    let outcome = next.apply(&cmd, ctx.now_ms, ctx.max_retention_ms);
    next.version = state.version + 1;
    next.updated_at_ms = ctx.now_ms;
    let targets = match &cmd {
        PurgeCommand::Targets { targets, .. } => Value::Array(
            targets
                .iter()
                .map(|(given, target)| match target {
                    BanTarget::Url { purge_path } => {
                        json!({"url": given, "purge_path": purge_path})
                    }
                    BanTarget::Path { path } => {
                        json!({"url": given, "path": path, "query_variants": true})
                    }
                    BanTarget::Prefix { prefix } => json!({ "prefix": prefix }),
                    BanTarget::Tag { tag } => json!({ "tag": tag }),
                })
                .collect(),
        ),
        PurgeCommand::Everything => json!([{ "everything": true }]),
    };
    let audit = AuditEntry::event(
        ctx.now_ms,
        ctx.operator,
        &reason,
        "purge",
        ctx.rollout_version,
        json!({
            "purged": outcome.purged,
            "mode": outcome.mode,
            "targets": targets,
            "generation": outcome.generation,
            "ban_ids": outcome.ban_ids,
            "purge_version": next.version,
        }),
    );
    Ok(PurgeCommit {
        state: next.sealed(),
        outcome,
        audit,
        targets,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn path(s: &str) -> Option<String> {
        s.starts_with('/').then(|| s.to_string())
    }

    fn ctx() -> PurgeContext<'static> {
        PurgeContext {
            now_ms: 1_000,
            max_retention_ms: 86_400_000,
            rollout_version: 4,
            operator: "ana",
        }
    }

    #[test]
    fn a_purge_is_versioned_sealed_and_audited_with_its_targets() {
        let body = r#"{"urls":["/a?b=1"],"reason":"attribute fix"}"#;
        // (a URL with a query is that URL only)
        let c = plan_purge(&PurgeState::default(), body, path, &ctx()).unwrap();
        assert_eq!(c.state.version, 1);
        assert!(c.state.is_sealed());
        assert!(c.state.is_banned("/a?b=1", 999));
        assert_eq!(c.audit.action, "purge");
        assert_eq!(
            (c.audit.actor.as_str(), c.audit.reason.as_str()),
            ("ana", "attribute fix")
        );
        assert_eq!(c.audit.detail["targets"][0]["purge_path"], "/a?b=1");
        assert_eq!(c.audit.version, 4);
        let again = plan_purge(
            &c.state,
            r#"{"everything":true,"reason":"x"}"#,
            path,
            &ctx(),
        );
        let again = again.unwrap();
        assert_eq!((again.state.version, again.state.generation), (2, 1));
    }

    #[test]
    fn a_purge_needs_a_reason_and_refuses_another_actor() {
        let e = |body: &str| plan_purge(&PurgeState::default(), body, path, &ctx()).unwrap_err();
        assert_eq!(e(r#"{"everything":true}"#).field.as_deref(), Some("reason"));
        let other = e(r#"{"everything":true,"reason":"x","actor":"marko"}"#);
        assert_eq!((other.status, other.field.as_deref()), (400, Some("actor")));
        assert_eq!(e(r#"{"reason":"x"}"#).field.as_deref(), Some("body"));
        assert_eq!(e("nope").field.as_deref(), Some("body"));
    }
}
