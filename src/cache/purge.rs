//! Global purges. The Cache API is per data centre, so `cache.delete` alone cannot purge
//! everywhere. Instead a small state document in KV, read by every isolate (memoised briefly),
//! says what is no longer valid:
//!
//! - a **generation** that is part of every key: purging everything bumps it, so every old key
//!   becomes unreachable at once;
//! - **bans** (as in Varnish): "entries for this URL / under this prefix stored before time T are
//!   invalid". A lookup that finds such an entry treats it as a miss and overwrites it.
//!
//! Bans older than the longest retention any rule allows can no longer match a live entry and
//! are dropped; past [`MAX_BANS`] the state falls back to a generation bump.

use serde::{Deserialize, Serialize};
use serde_json::Value;

/// Most bans kept; beyond that a purge bumps the generation instead.
pub const MAX_BANS: usize = 500;

/// The purge state: kept by the control plane, published to KV for every isolate to read.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct PurgeState {
    /// Rises by one with every purge (0: nothing purged yet, or a state from before versions).
    #[serde(default)]
    pub version: u64,
    /// When the last purge was written.
    #[serde(default)]
    pub updated_at_ms: u64,
    /// Part of every cache key.
    pub generation: u64,
    /// Active bans, oldest first.
    #[serde(default)]
    pub bans: Vec<Ban>,
    /// Id of the next ban.
    #[serde(default)]
    pub next_ban_id: u64,
    /// The control plane's seal (see `control::record`); absent on a state written into KV by
    /// hand.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub seal: Option<String>,
}

/// "Entries matching `target` stored at or before `at_ms` are invalid."
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Ban {
    /// Ban id, for reports.
    pub id: u64,
    /// When the purge happened.
    pub at_ms: u64,
    /// What it covers.
    #[serde(flatten)]
    pub target: BanTarget,
}

/// What a ban covers.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum BanTarget {
    /// One URL (every language and variant of it): a purge path as the key module computes it.
    Url {
        /// Path and normalised query.
        purge_path: String,
    },
    /// Every path starting with `prefix`.
    Prefix {
        /// Path prefix.
        prefix: String,
    },
}

impl BanTarget {
    fn matches(&self, purge_path: &str) -> bool {
        match self {
            BanTarget::Url { purge_path: p } => p == purge_path,
            BanTarget::Prefix { prefix } => purge_path.starts_with(prefix.as_str()),
        }
    }
}

/// A purge an operator asked for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PurgeCommand {
    /// These URLs: `(as given, purge path)`.
    Urls(Vec<(String, String)>),
    /// Everything under a path prefix.
    Prefix(String),
    /// Everything.
    Everything,
}

/// What a purge did.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PurgeOutcome {
    /// `urls`, `prefix` or `everything`.
    pub purged: &'static str,
    /// The generation after the purge.
    pub generation: u64,
    /// Ids of the bans added.
    pub ban_ids: Vec<u64>,
    /// Bans dropped because nothing they cover can still be stored.
    pub bans_expired: usize,
}

impl PurgeState {
    /// The state sealed by the control plane.
    pub fn sealed(mut self) -> PurgeState {
        self.seal = None;
        self.seal = Some(crate::control::record::seal_of(&self));
        self
    }

    /// True when the seal matches: the control plane wrote this state.
    pub fn is_sealed(&self) -> bool {
        let unsealed = PurgeState {
            seal: None,
            ..self.clone()
        };
        self.seal.as_deref() == Some(crate::control::record::seal_of(&unsealed).as_str())
    }

    /// True when an entry with this purge path, stored at `stored_at_ms`, has been purged.
    pub fn is_banned(&self, purge_path: &str, stored_at_ms: u64) -> bool {
        self.bans
            .iter()
            .any(|b| b.at_ms >= stored_at_ms && b.target.matches(purge_path))
    }

    /// Applies a purge at `now_ms`. `max_retention_ms` is the longest any entry can live.
    pub fn apply(
        &mut self,
        cmd: &PurgeCommand,
        now_ms: u64,
        max_retention_ms: u64,
    ) -> PurgeOutcome {
        let before = self.bans.len();
        self.bans
            .retain(|b| b.at_ms.saturating_add(max_retention_ms) >= now_ms);
        let bans_expired = before - self.bans.len();
        let mut ban_ids = Vec::new();
        let targets: Vec<BanTarget> = match cmd {
            PurgeCommand::Everything => Vec::new(),
            PurgeCommand::Prefix(prefix) => vec![BanTarget::Prefix {
                prefix: prefix.clone(),
            }],
            PurgeCommand::Urls(urls) => urls
                .iter()
                .map(|(_, p)| BanTarget::Url {
                    purge_path: p.clone(),
                })
                .collect(),
        };
        let overflow = self.bans.len() + targets.len() > MAX_BANS;
        let purged = match cmd {
            PurgeCommand::Everything => "everything",
            PurgeCommand::Prefix(_) => "prefix",
            PurgeCommand::Urls(_) => "urls",
        };
        if matches!(cmd, PurgeCommand::Everything) || overflow {
            // A new generation invalidates every key, and with it every ban.
            self.generation += 1;
            self.bans.clear();
        } else {
            for target in targets {
                self.next_ban_id += 1;
                ban_ids.push(self.next_ban_id);
                self.bans.push(Ban {
                    id: self.next_ban_id,
                    at_ms: now_ms,
                    target,
                });
            }
        }
        PurgeOutcome {
            purged,
            generation: self.generation,
            ban_ids,
            bans_expired,
        }
    }
}

pub use crate::problem::FieldError;

fn field_error(field: impl Into<String>, message: impl Into<String>) -> FieldError {
    FieldError::new(field, message)
}

/// Parses a purge request: exactly one of `{"urls": [..]}`, `{"prefix": "/.."}`,
/// `{"everything": true}` (the `reason` and `actor` are taken out before, by the control plane).
/// `purge_path` turns a URL or path into the purge path of its entries (`None` when it is not a
/// URL or path).
pub fn parse_command(
    obj: &serde_json::Map<String, Value>,
    purge_path: impl Fn(&str) -> Option<String>,
) -> Result<PurgeCommand, FieldError> {
    for k in obj.keys() {
        if !["urls", "prefix", "everything"].contains(&k.as_str()) {
            return Err(field_error(
                k.clone(),
                "is not a purge field (use urls, prefix or everything)",
            ));
        }
    }
    let given: Vec<&str> = ["urls", "prefix", "everything"]
        .into_iter()
        .filter(|k| obj.contains_key(*k))
        .collect();
    if given.len() != 1 {
        return Err(field_error(
            "body",
            "give exactly one of urls, prefix or everything",
        ));
    }
    match given[0] {
        "urls" => {
            let list = obj["urls"]
                .as_array()
                .ok_or_else(|| field_error("urls", "must be an array of URLs or paths"))?;
            if list.is_empty() || list.len() > 100 {
                return Err(field_error("urls", "must hold 1 to 100 URLs"));
            }
            let mut urls = Vec::new();
            for (i, u) in list.iter().enumerate() {
                let s = u
                    .as_str()
                    .ok_or_else(|| field_error(format!("urls[{i}]"), "must be a string"))?;
                let p = purge_path(s).ok_or_else(|| {
                    field_error(
                        format!("urls[{i}]"),
                        format!("{s:?} is not a URL or a path"),
                    )
                })?;
                urls.push((s.to_string(), p));
            }
            Ok(PurgeCommand::Urls(urls))
        }
        "prefix" => {
            let p = obj["prefix"]
                .as_str()
                .ok_or_else(|| field_error("prefix", "must be a string"))?;
            if !p.starts_with('/') {
                return Err(field_error("prefix", format!("{p:?} must start with '/'")));
            }
            Ok(PurgeCommand::Prefix(p.to_string()))
        }
        _ => match obj["everything"] {
            Value::Bool(true) => Ok(PurgeCommand::Everything),
            _ => Err(field_error("everything", "must be true")),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const DAY: u64 = 86_400_000;

    fn path(s: &str) -> Option<String> {
        s.starts_with('/').then(|| s.to_string())
    }

    fn parse(body: &str) -> Result<PurgeCommand, FieldError> {
        let obj = crate::canary::ops::body_object(body)?;
        parse_command(&obj, path)
    }

    #[test]
    fn url_ban_invalidates_older_entries_only() {
        let mut st = PurgeState::default();
        let cmd = parse(r#"{"urls":["/a?x=1"]}"#).unwrap();
        let out = st.apply(&cmd, 1_000, DAY);
        assert_eq!(out.purged, "urls");
        assert_eq!(out.ban_ids, vec![1]);
        assert!(st.is_banned("/a?x=1", 999));
        assert!(st.is_banned("/a?x=1", 1_000));
        assert!(!st.is_banned("/a?x=1", 1_001), "stored after the purge");
        assert!(!st.is_banned("/a", 999), "another URL");
    }

    #[test]
    fn prefix_ban_covers_paths_below() {
        let mut st = PurgeState::default();
        st.apply(&PurgeCommand::Prefix("/api/v1/".into()), 5_000, DAY);
        assert!(st.is_banned("/api/v1/marketplace/categories", 4_000));
        assert!(!st.is_banned("/api/v2/x", 4_000));
    }

    #[test]
    fn everything_bumps_the_generation_and_clears_bans() {
        let mut st = PurgeState::default();
        st.apply(&PurgeCommand::Prefix("/a".into()), 1, DAY);
        let out = st.apply(&PurgeCommand::Everything, 2, DAY);
        assert_eq!(out.generation, 1);
        assert!(st.bans.is_empty());
    }

    #[test]
    fn old_bans_expire_and_overflow_bumps_the_generation() {
        let mut st = PurgeState::default();
        st.apply(&PurgeCommand::Prefix("/a".into()), 0, DAY);
        let out = st.apply(&PurgeCommand::Prefix("/b".into()), 2 * DAY, DAY);
        assert_eq!(out.bans_expired, 1);
        assert_eq!(st.bans.len(), 1);
        for i in 0..MAX_BANS {
            st.apply(&PurgeCommand::Prefix(format!("/p{i}")), 2 * DAY, DAY);
        }
        assert!(st.generation >= 1);
        assert!(st.bans.len() <= MAX_BANS);
    }

    #[test]
    fn a_sealed_state_is_recognised_and_an_edited_one_is_not() {
        let mut st = PurgeState::default();
        st.apply(&PurgeCommand::Prefix("/a".into()), 7, DAY);
        let sealed = st.clone().sealed();
        assert!(sealed.is_sealed());
        let text = serde_json::to_string(&sealed).unwrap();
        assert!(serde_json::from_str::<PurgeState>(&text)
            .unwrap()
            .is_sealed());
        let mut edited = sealed.clone();
        edited.generation += 1;
        assert!(!edited.is_sealed());
        assert!(!st.is_sealed(), "never sealed");
        let old: PurgeState = serde_json::from_str(r#"{"generation":2,"bans":[]}"#).unwrap();
        assert_eq!((old.version, old.generation, old.seal), (0, 2, None));
    }

    #[test]
    fn state_round_trips_as_json() {
        let mut st = PurgeState::default();
        st.apply(&PurgeCommand::Prefix("/a".into()), 7, DAY);
        st.apply(
            &PurgeCommand::Urls(vec![("/b".into(), "/b".into())]),
            8,
            DAY,
        );
        let json = serde_json::to_string(&st).unwrap();
        assert_eq!(serde_json::from_str::<PurgeState>(&json).unwrap(), st);
    }

    #[test]
    fn malformed_requests_name_the_field() {
        let cases = [
            ("nope", "body"),
            ("[]", "body"),
            ("{}", "body"),
            (r#"{"urls":["/a"],"prefix":"/b"}"#, "body"),
            (r#"{"urls":"/a"}"#, "urls"),
            (r#"{"urls":[]}"#, "urls"),
            (r#"{"urls":["/a", 5]}"#, "urls[1]"),
            (r#"{"urls":["/a", "ftp:x"]}"#, "urls[1]"),
            (r#"{"prefix":"api"}"#, "prefix"),
            (r#"{"prefix":3}"#, "prefix"),
            (r#"{"everything":"yes"}"#, "everything"),
            (r#"{"everything":true,"force":1}"#, "force"),
        ];
        for (body, field) in cases {
            assert_eq!(parse(body).unwrap_err().field, field, "{body}");
        }
        assert_eq!(
            parse(r#"{"everything":true}"#).unwrap(),
            PurgeCommand::Everything
        );
    }
}
