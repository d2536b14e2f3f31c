//! Global purges. The Cache API is per data centre, so `cache.delete` alone cannot purge
//! everywhere. Instead a small state document — kept by the control plane, published to KV, read
//! by every isolate (memoised briefly) — says what is no longer valid:
//!
//! - a **generation** that is part of every key: purging everything (hard) bumps it, so every old
//!   key becomes unreachable at once;
//! - **bans** (as in Varnish): "entries for this URL / with this path / under this prefix / with
//!   this tag, stored before time T, are invalid". A **hard** ban makes such an entry a miss; a
//!   **soft** one makes it stale: it is served stale while one background revalidation per key
//!   refreshes it (and stale-if-error still serves it while the origin is down), so a purge of a
//!   hot path does not send the whole fleet to the origin at once.
//!
//! A new ban replaces older ones of the same target (a hard ban replaces soft ones too), and bans
//! older than the longest time an entry can live are dropped; past [`MAX_BANS`] a hard purge
//! falls back to a generation bump. Lookups go through an index built once per state, so their
//! cost does not grow with the number of bans (see `benches/core_decision.rs`).

use std::cell::OnceCell;
use std::collections::HashMap;

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::json;

pub use crate::problem::FieldError;

/// Most bans kept; beyond that a purge bumps the generation instead — hard even when the purge
/// was soft: dropping a ban would bring back what it purged, so the safe way out is purging
/// everything.
pub const MAX_BANS: usize = 2_000;
/// Most targets one purge request may name.
pub const MAX_TARGETS: usize = 100;
/// Longest tag accepted.
pub const MAX_TAG_LEN: usize = 128;

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
    /// The lookup index, built on first use (not part of equality or of the document).
    #[serde(skip)]
    pub index: IndexCell,
}

/// "Entries matching `target` stored at or before `at_ms` are invalid" (hard) or "stale" (soft).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "FlatBan")]
pub struct Ban {
    /// Ban id, for reports.
    pub id: u64,
    /// When the purge happened.
    pub at_ms: u64,
    /// Soft: stale, not gone.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub soft: bool,
    /// What it covers.
    #[serde(flatten)]
    pub target: BanTarget,
}

/// What a ban covers.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum BanTarget {
    /// One URL (every language and variant of it): a purge path as the key module computes it.
    Url {
        /// Path and normalised query.
        purge_path: String,
    },
    /// A path with every query of it.
    Path {
        /// The path, without query.
        path: String,
    },
    /// Every path starting with `prefix`.
    Prefix {
        /// Path prefix.
        prefix: String,
    },
    /// Every entry carrying the tag (derived by its route rule, or sent by the origin).
    Tag {
        /// The tag.
        tag: String,
    },
}

/// The stored form of [`Ban`] as it is read: its fields and its target's, side by side, without
/// `flatten` and an internally tagged enum (which read through serde's buffered `Content`, ~18 KB
/// of Wasm the edge needs for nothing else); the same documents are accepted and refused.
#[derive(Deserialize)]
struct FlatBan {
    id: u64,
    at_ms: u64,
    #[serde(default)]
    soft: bool,
    kind: BanKind,
    purge_path: Option<String>,
    path: Option<String>,
    prefix: Option<String>,
    tag: Option<String>,
}

/// [`BanTarget`]'s `kind`.
#[derive(Deserialize)]
#[serde(rename_all = "snake_case")]
enum BanKind {
    Url,
    Path,
    Prefix,
    Tag,
}

impl Ban {
    /// A ban as [`FlatBan`] reads it, field by field ([`PurgeState::from_value`]). Its `kind`
    /// as serde_json reads a unit variant: a string, or the map form (`{"url": null}`, never
    /// written); anything else is refused in its words (`expected value`).
    fn from_value(value: &Value) -> Result<Ban, String> {
        let f = json::Fields::of(value, "FlatBan")?;
        let variant = |name: &str| match name {
            "url" => Ok(BanKind::Url),
            "path" => Ok(BanKind::Path),
            "prefix" => Ok(BanKind::Prefix),
            "tag" => Ok(BanKind::Tag),
            other => Err(format!(
                "unknown variant `{other}`, expected one of `url`, `path`, `prefix`, `tag`"
            )),
        };
        let kind = match f.get("kind") {
            None => None,
            Some(Value::String(name)) => Some(variant(name)?),
            Some(Value::Object(map)) => match map.iter().next() {
                Some((name, unit)) => {
                    let kind = variant(name)?;
                    if !unit.is_null() {
                        return Err(json::invalid_type(unit, "unit"));
                    }
                    if map.len() > 1 {
                        return Err("expected value".to_string());
                    }
                    Some(kind)
                }
                None => return Err("expected value".to_string()),
            },
            Some(_) => return Err("expected value".to_string()),
        };
        Ban::try_from(FlatBan {
            id: json::required(f.u64("id")?, "id")?,
            at_ms: json::required(f.u64("at_ms")?, "at_ms")?,
            soft: f.bool("soft")?.unwrap_or(false),
            kind: json::required(kind, "kind")?,
            purge_path: f.opt_string("purge_path")?,
            path: f.opt_string("path")?,
            prefix: f.opt_string("prefix")?,
            tag: f.opt_string("tag")?,
        })
    }
}

impl TryFrom<FlatBan> for Ban {
    type Error = String;

    fn try_from(b: FlatBan) -> Result<Ban, String> {
        let need =
            |v: Option<String>, field: &str| v.ok_or_else(|| format!("missing field `{field}`"));
        let target = match b.kind {
            BanKind::Url => BanTarget::Url {
                purge_path: need(b.purge_path, "purge_path")?,
            },
            BanKind::Path => BanTarget::Path {
                path: need(b.path, "path")?,
            },
            BanKind::Prefix => BanTarget::Prefix {
                prefix: need(b.prefix, "prefix")?,
            },
            BanKind::Tag => BanTarget::Tag {
                tag: need(b.tag, "tag")?,
            },
        };
        Ok(Ban {
            id: b.id,
            at_ms: b.at_ms,
            soft: b.soft,
            target,
        })
    }
}

/// Whether a purge covers an entry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Purged {
    /// No.
    No,
    /// A soft purge at `at_ms`: the entry is stale since then.
    Soft {
        /// When.
        at_ms: u64,
    },
    /// A hard purge: the entry is gone.
    Hard,
}

/// The newest hard and soft ban time per key of one kind.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
struct Times {
    hard: Option<u64>,
    soft: Option<u64>,
}

impl Times {
    fn add(&mut self, ban: &Ban) {
        let slot = if ban.soft {
            &mut self.soft
        } else {
            &mut self.hard
        };
        *slot = Some(slot.map_or(ban.at_ms, |t| t.max(ban.at_ms)));
    }
}

/// The bans by what they match, for lookups whose cost does not grow with the number of bans.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
struct Index {
    urls: HashMap<String, Times>,
    paths: HashMap<String, Times>,
    tags: HashMap<String, Times>,
    prefixes: Vec<(String, Times)>,
}

/// A lazily built index of the bans; never part of equality or serialisation.
#[derive(Debug, Clone, Default)]
pub struct IndexCell(OnceCell<Index>);

impl PartialEq for IndexCell {
    fn eq(&self, _: &Self) -> bool {
        true
    }
}

impl Eq for IndexCell {}

/// A purge an operator asked for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PurgeCommand {
    /// These targets: `(as given, target)`, hard or soft.
    Targets {
        /// What to ban.
        targets: Vec<(String, BanTarget)>,
        /// Soft: stale, not gone.
        soft: bool,
        /// `urls`, `prefix`, `tags` (or `everything`, soft).
        kind: &'static str,
    },
    /// Everything, hard: a new generation.
    Everything,
}

/// What a purge did.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PurgeOutcome {
    /// `urls`, `prefix`, `tags` or `everything`.
    pub purged: &'static str,
    /// `hard` or `soft`.
    pub mode: &'static str,
    /// The generation after the purge.
    pub generation: u64,
    /// Ids of the bans added.
    pub ban_ids: Vec<u64>,
    /// Bans dropped because nothing they cover can still be stored.
    pub bans_expired: usize,
    /// Bans replaced by this purge's (same target).
    pub bans_replaced: usize,
}

impl PurgeState {
    /// The state from its stored text (KV `cache/purge`, the control plane's storage): the
    /// documents and values `serde_json::from_str` read, field by field ([`json::Fields`]: no
    /// deserializer of its own in the Wasm).
    pub fn from_json(text: &str) -> Result<PurgeState, String> {
        let value: Value = serde_json::from_str(text).map_err(|e| e.to_string())?;
        PurgeState::from_value(&value)
    }

    /// [`PurgeState::from_json`] of a parsed document.
    pub fn from_value(value: &Value) -> Result<PurgeState, String> {
        let f = json::Fields::of(value, "PurgeState")?;
        let bans = match f.get("bans") {
            None => Vec::new(),
            Some(v) => json::as_array(v)?
                .iter()
                .map(Ban::from_value)
                .collect::<Result<_, _>>()?,
        };
        Ok(PurgeState {
            version: f.u64("version")?.unwrap_or(0),
            updated_at_ms: f.u64("updated_at_ms")?.unwrap_or(0),
            generation: json::required(f.u64("generation")?, "generation")?,
            bans,
            next_ban_id: f.u64("next_ban_id")?.unwrap_or(0),
            seal: f.opt_string("seal")?,
            index: IndexCell::default(),
        })
    }

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

    fn index(&self) -> &Index {
        self.index.0.get_or_init(|| {
            let mut index = Index::default();
            for ban in &self.bans {
                match &ban.target {
                    BanTarget::Url { purge_path } => {
                        index.urls.entry(purge_path.clone()).or_default().add(ban)
                    }
                    BanTarget::Path { path } => {
                        index.paths.entry(path.clone()).or_default().add(ban)
                    }
                    BanTarget::Tag { tag } => index.tags.entry(tag.clone()).or_default().add(ban),
                    BanTarget::Prefix { prefix } => {
                        match index.prefixes.iter_mut().find(|(p, _)| p == prefix) {
                            Some((_, t)) => t.add(ban),
                            None => {
                                let mut t = Times::default();
                                t.add(ban);
                                index.prefixes.push((prefix.clone(), t));
                            }
                        }
                    }
                }
            }
            index
        })
    }

    /// Whether a purge covers an entry with this purge path and these tags, stored at
    /// `stored_at_ms` (its request's time: a fetch in flight during a purge is covered). A hard
    /// ban beats a soft one.
    pub fn check(&self, purge_path: &str, tags: &[String], stored_at_ms: u64) -> Purged {
        if self.bans.is_empty() {
            return Purged::No;
        }
        let index = self.index();
        let path = purge_path.split('?').next().unwrap_or(purge_path);
        let mut soft: Option<u64> = None;
        let mut hard = false;
        let mut see = |t: &Times| {
            if t.hard.is_some_and(|at| at >= stored_at_ms) {
                hard = true;
            }
            if let Some(at) = t.soft.filter(|at| *at >= stored_at_ms) {
                soft = Some(soft.map_or(at, |s| s.max(at)));
            }
        };
        if let Some(t) = index.urls.get(purge_path) {
            see(t);
        }
        if let Some(t) = index.paths.get(path) {
            see(t);
        }
        for tag in tags {
            if let Some(t) = index.tags.get(tag) {
                see(t);
            }
        }
        for (prefix, t) in &index.prefixes {
            if purge_path.starts_with(prefix.as_str()) {
                see(t);
            }
        }
        match (hard, soft) {
            (true, _) => Purged::Hard,
            (false, Some(at_ms)) => Purged::Soft { at_ms },
            (false, None) => Purged::No,
        }
    }

    /// True when a hard or soft purge covers the entry (tags aside).
    pub fn is_banned(&self, purge_path: &str, stored_at_ms: u64) -> bool {
        self.check(purge_path, &[], stored_at_ms) != Purged::No
    }

    /// Applies a purge at `now_ms`. `max_retention_ms` is the longest any entry can live.
    pub fn apply(
        &mut self,
        cmd: &PurgeCommand,
        now_ms: u64,
        max_retention_ms: u64,
    ) -> PurgeOutcome {
        self.index = IndexCell::default();
        let before = self.bans.len();
        self.bans
            .retain(|b| b.at_ms.saturating_add(max_retention_ms) >= now_ms);
        let bans_expired = before - self.bans.len();
        let (purged, soft, targets) = match cmd {
            PurgeCommand::Everything => ("everything", false, Vec::new()),
            PurgeCommand::Targets {
                targets,
                soft,
                kind,
            } => (
                *kind,
                *soft,
                targets.iter().map(|(_, t)| t.clone()).collect(),
            ),
        };
        // A new ban replaces older ones of its target: a soft one the older soft ones, a hard one
        // every older one (what it covers is gone, so "stale" no longer applies).
        let before = self.bans.len();
        self.bans
            .retain(|b| !targets.contains(&b.target) || (b.soft != soft && soft));
        let bans_replaced = before - self.bans.len();
        let mode = if soft { "soft" } else { "hard" };
        let mut ban_ids = Vec::new();
        let overflow = self.bans.len() + targets.len() > MAX_BANS;
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
                    soft,
                    target,
                });
            }
        }
        PurgeOutcome {
            purged,
            mode,
            generation: self.generation,
            ban_ids,
            bans_expired,
            bans_replaced,
        }
    }
}

fn field_error(field: impl Into<String>, message: impl Into<String>) -> FieldError {
    FieldError::new(field, message)
}

/// True for a valid tag: 1–128 visible ASCII characters, no comma.
pub fn is_valid_tag(tag: &str) -> bool {
    !tag.is_empty()
        && tag.len() <= MAX_TAG_LEN
        && tag.bytes().all(|b| b.is_ascii_graphic() && b != b',')
}

fn strings<'a>(v: &'a Value, field: &str) -> Result<Vec<&'a str>, FieldError> {
    let list = v
        .as_array()
        .ok_or_else(|| field_error(field, "must be an array of strings"))?;
    if list.is_empty() || list.len() > MAX_TARGETS {
        return Err(field_error(
            field,
            format!("must hold 1 to {MAX_TARGETS} items"),
        ));
    }
    list.iter()
        .enumerate()
        .map(|(i, s)| {
            s.as_str()
                .ok_or_else(|| field_error(format!("{field}[{i}]"), "must be a string"))
        })
        .collect()
}

/// Parses a purge request: exactly one of `{"urls": [..]}`, `{"prefix": "/.."}`,
/// `{"tags": [..]}`, `{"everything": true}`; `"mode": "hard"|"soft"` (hard by default); with
/// `urls`, `"include_query_variants"` (default: true for a URL without a query, so that
/// `/search` covers every search; false for one with a query). The `reason` and `actor` are
/// taken out before, by the control plane. `purge_path` turns a URL or path into the purge path
/// of its entries (`None` when it is not a URL or path).
pub fn parse_command(
    obj: &Map<String, Value>,
    purge_path: impl Fn(&str) -> Option<String>,
) -> Result<PurgeCommand, FieldError> {
    const KINDS: [&str; 4] = ["urls", "prefix", "tags", "everything"];
    for k in obj.keys() {
        if !KINDS.contains(&k.as_str()) && k != "mode" && k != "include_query_variants" {
            return Err(field_error(
                k.clone(),
                "is not a purge field (use urls, prefix, tags or everything, with mode)",
            ));
        }
    }
    let given: Vec<&str> = KINDS.into_iter().filter(|k| obj.contains_key(*k)).collect();
    if given.len() != 1 {
        return Err(field_error(
            "body",
            "give exactly one of urls, prefix, tags or everything",
        ));
    }
    let soft = match obj.get("mode") {
        None | Some(Value::Null) => false,
        Some(Value::String(m)) if m == "hard" => false,
        Some(Value::String(m)) if m == "soft" => true,
        Some(_) => return Err(field_error("mode", "must be \"hard\" or \"soft\"")),
    };
    let variants = match obj.get("include_query_variants") {
        None | Some(Value::Null) => None,
        Some(Value::Bool(b)) if given[0] == "urls" => Some(*b),
        Some(Value::Bool(_)) => {
            return Err(field_error("include_query_variants", "goes with urls only"))
        }
        Some(_) => {
            return Err(field_error(
                "include_query_variants",
                "must be true or false",
            ))
        }
    };
    let targets = |kind: &'static str, targets: Vec<(String, BanTarget)>| PurgeCommand::Targets {
        targets,
        soft,
        kind,
    };
    match given[0] {
        "urls" => {
            let mut out = Vec::new();
            for (i, s) in strings(&obj["urls"], "urls")?.into_iter().enumerate() {
                let p = purge_path(s).ok_or_else(|| {
                    field_error(
                        format!("urls[{i}]"),
                        format!("{s:?} is not a URL or a path"),
                    )
                })?;
                let (path, query) = p
                    .split_once('?')
                    .map_or((p.as_str(), None), |(a, q)| (a, Some(q)));
                let all_queries = variants.unwrap_or(query.is_none());
                let target = if all_queries {
                    BanTarget::Path {
                        path: path.to_string(),
                    }
                } else {
                    BanTarget::Url {
                        purge_path: p.clone(),
                    }
                };
                out.push((s.to_string(), target));
            }
            Ok(targets("urls", out))
        }
        "prefix" => {
            let p = obj["prefix"]
                .as_str()
                .ok_or_else(|| field_error("prefix", "must be a string"))?;
            if !p.starts_with('/') {
                return Err(field_error("prefix", format!("{p:?} must start with '/'")));
            }
            let target = BanTarget::Prefix {
                prefix: p.to_string(),
            };
            Ok(targets("prefix", vec![(p.to_string(), target)]))
        }
        "tags" => {
            let mut out = Vec::new();
            for (i, t) in strings(&obj["tags"], "tags")?.into_iter().enumerate() {
                let t = t.trim();
                if !is_valid_tag(t) {
                    return Err(field_error(
                        format!("tags[{i}]"),
                        format!("{t:?} is not a tag: 1–{MAX_TAG_LEN} visible characters, no comma"),
                    ));
                }
                out.push((t.to_string(), BanTarget::Tag { tag: t.to_string() }));
            }
            Ok(targets("tags", out))
        }
        _ => match (&obj["everything"], soft) {
            (Value::Bool(true), false) => Ok(PurgeCommand::Everything),
            // Soft everything: every entry stale, none gone.
            (Value::Bool(true), true) => Ok(targets(
                "everything",
                vec![("/".into(), BanTarget::Prefix { prefix: "/".into() })],
            )),
            _ => Err(field_error("everything", "must be true")),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const DAY: u64 = 86_400_000;

    #[cfg(not(target_arch = "wasm32"))]
    mod read_by_hand {
        use super::*;
        use crate::json::testing::{any_json, assert_reads_as_serde, change};
        use proptest::prelude::*;
        use serde_json::json;

        fn ban() -> impl Strategy<Value = Value> {
            let target = prop_oneof![
                "[a-z/?=]{0,8}".prop_map(|p| ("url", "purge_path", p)),
                "[a-z/]{0,8}".prop_map(|p| ("path", "path", p)),
                "[a-z/]{0,8}".prop_map(|p| ("prefix", "prefix", p)),
                "[a-z:0-9]{0,8}".prop_map(|p| ("tag", "tag", p)),
            ];
            (any::<u64>(), any::<u64>(), any::<Option<bool>>(), target).prop_map(
                |(id, at_ms, soft, (kind, field, target))| {
                    let mut b = json!({"id": id, "at_ms": at_ms, "kind": kind, field: target});
                    if let Some(soft) = soft {
                        b["soft"] = json!(soft);
                    }
                    b
                },
            )
        }

        fn state() -> impl Strategy<Value = Value> {
            (
                any::<[u64; 4]>(),
                prop::collection::vec(ban(), 0..3),
                any::<Option<String>>(),
            )
                .prop_map(|([version, updated, generation, next], bans, seal)| {
                    json!({"version": version, "updated_at_ms": updated, "generation": generation,
                        "bans": bans, "next_ban_id": next, "seal": seal})
                })
        }

        const STATE: &[&str] = &[
            "version",
            "updated_at_ms",
            "generation",
            "bans",
            "next_ban_id",
            "seal",
        ];
        const BAN: &[&str] = &[
            "id",
            "at_ms",
            "soft",
            "kind",
            "purge_path",
            "path",
            "prefix",
            "tag",
        ];

        proptest! {
            /// One change to a valid state (a field of it or of its first ban removed or given
            /// any value, or a field added): read as serde's derive read it, in the same words.
            #[test]
            fn a_state_with_one_change_reads_as_the_derive_read_it(
                mut doc in state(),
                in_ban in any::<bool>(),
                which in 0usize..9,
                how in 0u8..2,
                junk in any_json(),
            ) {
                let first_ban = doc["bans"].as_array_mut().and_then(|b| b.first_mut());
                match (in_ban, first_ban) {
                    (true, Some(Value::Object(ban))) => change(ban, BAN, which, how, junk),
                    _ => change(doc.as_object_mut().unwrap(), STATE, which, how, junk),
                }
                assert_reads_as_serde(&doc.to_string(), PurgeState::from_json, true)?;
            }

            /// Any JSON at all, and states with many changes: accepted and refused alike.
            #[test]
            fn any_document_is_accepted_or_refused_as_by_the_derive(
                mut doc in state(),
                changes in prop::collection::vec((0usize..7, 0u8..2, any_json()), 0..4),
                other in any_json(),
            ) {
                for (which, how, junk) in changes {
                    change(doc.as_object_mut().unwrap(), STATE, which, how, junk);
                }
                assert_reads_as_serde(&doc.to_string(), PurgeState::from_json, false)?;
                assert_reads_as_serde(&other.to_string(), PurgeState::from_json, true)?;
            }
        }

        #[test]
        fn stored_states_read_by_hand_as_by_the_derive() {
            for text in [
                r#"{"generation":2,"bans":[]}"#,
                r#"{"generation":0}"#,
                r#"{"version":3,"updated_at_ms":9,"generation":2,"next_ban_id":2,"bans":[{"id":1,"at_ms":5,"kind":"tag","tag":"category:7"},{"id":2,"at_ms":6,"soft":true,"kind":"prefix","prefix":"/api/"}],"seal":"fnv1a64:0"}"#,
                r#"{"generation":2,"bans":[{"id":1,"at_ms":5,"kind":"url"}]}"#,
                r#"{"generation":2,"bans":[{"id":1,"at_ms":5,"kind":"everything"}]}"#,
                r#"{"generation":2,"bans":[{"id":1,"at_ms":5,"kind":7}]}"#,
                r#"{"generation":-1}"#,
                r#"{"generation":1.5}"#,
                r#"{"generation":"2"}"#,
                r#"{"generation":null}"#,
                r#"{"generation":2,"bans":{}}"#,
                "[]",
                "7",
                "",
                "{",
            ] {
                assert_reads_as_serde(text, PurgeState::from_json, text != "[]").unwrap();
            }
            // A state written as an array, which the derive read, is refused.
            assert!(serde_json::from_str::<PurgeState>("[0,0,2]").is_ok());
            assert!(PurgeState::from_json("[0,0,2]").is_err());
        }
    }

    /// `Ban` as it was derived before `FlatBan`: `flatten` over the internally tagged target.
    #[derive(Debug, PartialEq, Deserialize)]
    struct DerivedBan {
        id: u64,
        at_ms: u64,
        #[serde(default)]
        soft: bool,
        #[serde(flatten)]
        target: BanTarget,
    }

    #[test]
    fn bans_read_as_the_flattened_tagged_derive_read_them() {
        for doc in [
            r#"{"id":1,"at_ms":2,"kind":"url","purge_path":"/a?b=1"}"#,
            r#"{"id":1,"at_ms":2,"soft":true,"kind":"path","path":"/a"}"#,
            r#"{"kind":"prefix","prefix":"/p","id":3,"at_ms":4,"extra":[1,{"x":2}]}"#,
            r#"{"id":1,"at_ms":2,"soft":false,"kind":"tag","tag":"t","path":"/ignored"}"#,
            r#"{"id":1,"at_ms":2,"kind":"url","path":"/a"}"#,
            r#"{"id":1,"at_ms":2,"kind":"nope","tag":"t"}"#,
            r#"{"id":1,"at_ms":2,"tag":"t"}"#,
            r#"{"id":1,"kind":"tag","tag":"t"}"#,
            r#"{"id":"1","at_ms":2,"kind":"tag","tag":"t"}"#,
            r#"{"id":1,"at_ms":2,"kind":"tag","tag":7}"#,
            r#"[1,2]"#,
        ] {
            let new = serde_json::from_str::<Ban>(doc);
            let old = serde_json::from_str::<DerivedBan>(doc);
            match (&new, &old) {
                (Ok(n), Ok(o)) => {
                    assert_eq!(
                        (n.id, n.at_ms, n.soft, &n.target),
                        (o.id, o.at_ms, o.soft, &o.target)
                    )
                }
                (Err(_), Err(_)) => {}
                _ => panic!("{doc}: {new:?} vs {old:?}"),
            }
        }
        let e = serde_json::from_str::<Ban>(r#"{"id":1,"at_ms":2,"kind":"url"}"#).unwrap_err();
        assert!(
            e.to_string().starts_with("missing field `purge_path`"),
            "{e}"
        );
    }

    fn path(s: &str) -> Option<String> {
        s.starts_with('/').then(|| s.to_string())
    }

    fn parse(body: &str) -> Result<PurgeCommand, FieldError> {
        let obj = crate::canary::ops::body_object(body)?;
        parse_command(&obj, path)
    }

    fn tags(t: &[&str]) -> Vec<String> {
        t.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn url_ban_invalidates_older_entries_only() {
        let mut st = PurgeState::default();
        let cmd = parse(r#"{"urls":["/a?x=1"]}"#).unwrap();
        let out = st.apply(&cmd, 1_000, DAY);
        assert_eq!((out.purged, out.mode), ("urls", "hard"));
        assert_eq!(out.ban_ids, vec![1]);
        assert!(st.is_banned("/a?x=1", 999));
        assert!(st.is_banned("/a?x=1", 1_000));
        assert!(!st.is_banned("/a?x=1", 1_001), "stored after the purge");
        assert!(!st.is_banned("/a", 999), "another URL");
        assert!(
            !st.is_banned("/a?x=2", 999),
            "a URL with a query is that query only"
        );
    }

    #[test]
    fn a_url_without_query_covers_every_query_unless_told_otherwise() {
        let mut st = PurgeState::default();
        st.apply(&parse(r#"{"urls":["/search"]}"#).unwrap(), 1_000, DAY);
        assert!(st.is_banned("/search?q=tel", 999));
        assert!(st.is_banned("/search", 999));
        assert!(
            !st.is_banned("/searching?q=tel", 999),
            "a path, not a prefix"
        );
        let mut exact = PurgeState::default();
        let cmd = parse(r#"{"urls":["/search"],"include_query_variants":false}"#).unwrap();
        exact.apply(&cmd, 1_000, DAY);
        assert!(exact.is_banned("/search", 999));
        assert!(!exact.is_banned("/search?q=tel", 999));
        let mut all = PurgeState::default();
        let cmd = parse(r#"{"urls":["/search?q=a"],"include_query_variants":true}"#).unwrap();
        all.apply(&cmd, 1_000, DAY);
        assert!(all.is_banned("/search?q=b", 999));
    }

    #[test]
    fn tag_bans_cover_entries_carrying_the_tag() {
        let mut st = PurgeState::default();
        st.apply(
            &parse(r#"{"tags":["category:10101"]}"#).unwrap(),
            5_000,
            DAY,
        );
        let t = tags(&["category:10101", "attributes"]);
        assert_eq!(st.check("/x", &t, 4_000), Purged::Hard);
        assert_eq!(
            st.check("/x", &tags(&["category:10102"]), 4_000),
            Purged::No
        );
        assert_eq!(st.check("/x", &t, 6_000), Purged::No, "stored after");
    }

    #[test]
    fn soft_bans_make_entries_stale_and_a_hard_one_beats_them() {
        let mut st = PurgeState::default();
        let soft = parse(r#"{"tags":["categories"],"mode":"soft"}"#).unwrap();
        let out = st.apply(&soft, 5_000, DAY);
        assert_eq!(out.mode, "soft");
        let t = tags(&["categories"]);
        assert_eq!(st.check("/c", &t, 4_000), Purged::Soft { at_ms: 5_000 });
        st.apply(&parse(r#"{"prefix":"/c"}"#).unwrap(), 6_000, DAY);
        assert_eq!(st.check("/c", &t, 4_000), Purged::Hard);
        assert_eq!(st.check("/d", &t, 4_000), Purged::Soft { at_ms: 5_000 });
    }

    #[test]
    fn prefix_ban_covers_paths_below() {
        let mut st = PurgeState::default();
        st.apply(&parse(r#"{"prefix":"/api/v1/"}"#).unwrap(), 5_000, DAY);
        assert!(st.is_banned("/api/v1/marketplace/categories", 4_000));
        assert!(!st.is_banned("/api/v2/x", 4_000));
    }

    #[test]
    fn everything_bumps_the_generation_unless_soft() {
        let mut st = PurgeState::default();
        st.apply(&parse(r#"{"prefix":"/a"}"#).unwrap(), 1, DAY);
        let out = st.apply(&PurgeCommand::Everything, 2, DAY);
        assert_eq!(out.generation, 1);
        assert!(st.bans.is_empty());
        let out = st.apply(
            &parse(r#"{"everything":true,"mode":"soft"}"#).unwrap(),
            3,
            DAY,
        );
        assert_eq!((out.purged, out.generation), ("everything", 1));
        assert_eq!(st.check("/anything", &[], 2), Purged::Soft { at_ms: 3 });
    }

    #[test]
    fn a_new_ban_replaces_older_ones_of_its_target() {
        let mut st = PurgeState::default();
        let cmd = parse(r#"{"tags":["category:1"]}"#).unwrap();
        for i in 0..10_000u64 {
            st.apply(&cmd, i, DAY);
        }
        assert_eq!(st.bans.len(), 1, "one ban per target");
        assert_eq!(st.generation, 0, "never an overflow");
        let soft = parse(r#"{"tags":["category:1"],"mode":"soft"}"#).unwrap();
        let out = st.apply(&soft, 20_000, DAY);
        assert_eq!(out.bans_replaced, 0, "a soft ban keeps the older hard one");
        assert_eq!(st.bans.len(), 2);
        assert_eq!(st.check("/x", &tags(&["category:1"]), 9_000), Purged::Hard);
        assert_eq!(
            st.check("/x", &tags(&["category:1"]), 15_000),
            Purged::Soft { at_ms: 20_000 }
        );
        let out = st.apply(&cmd, 30_000, DAY);
        assert_eq!(out.bans_replaced, 2, "a hard ban replaces both");
    }

    #[test]
    fn old_bans_expire_and_overflow_bumps_the_generation() {
        let mut st = PurgeState::default();
        st.apply(
            &PurgeCommand::Targets {
                targets: vec![(
                    "/a".into(),
                    BanTarget::Prefix {
                        prefix: "/a".into(),
                    },
                )],
                soft: false,
                kind: "prefix",
            },
            0,
            DAY,
        );
        let out = st.apply(&parse(r#"{"prefix":"/b"}"#).unwrap(), 2 * DAY, DAY);
        assert_eq!(out.bans_expired, 1);
        assert_eq!(st.bans.len(), 1);
        for i in 0..MAX_BANS {
            let cmd = parse(&format!(r#"{{"tags":["t{i}"]}}"#)).unwrap();
            st.apply(&cmd, 2 * DAY, DAY);
        }
        assert!(st.generation >= 1);
        assert!(st.bans.len() <= MAX_BANS);
    }

    #[test]
    fn a_sealed_state_is_recognised_and_an_edited_one_is_not() {
        let mut st = PurgeState::default();
        st.apply(&parse(r#"{"prefix":"/a"}"#).unwrap(), 7, DAY);
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
    fn state_round_trips_as_json_and_reads_older_bans() {
        let mut st = PurgeState::default();
        st.apply(&parse(r#"{"prefix":"/a","mode":"soft"}"#).unwrap(), 7, DAY);
        st.apply(&parse(r#"{"urls":["/b?x=1"]}"#).unwrap(), 8, DAY);
        assert!(st.is_banned("/b?x=1", 1), "the index is built");
        let json = serde_json::to_string(&st).unwrap();
        let back = serde_json::from_str::<PurgeState>(&json).unwrap();
        assert_eq!(back, st);
        assert_eq!(back.check("/a/1", &[], 1), Purged::Soft { at_ms: 7 });
        let older =
            r#"{"generation":0,"bans":[{"id":1,"at_ms":5,"kind":"url","purge_path":"/c"}]}"#;
        let older: PurgeState = serde_json::from_str(older).unwrap();
        assert_eq!(older.check("/c", &[], 5), Purged::Hard);
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
            (r#"{"tags":["ok", "a,b"]}"#, "tags[1]"),
            (r#"{"tags":["has space"]}"#, "tags[0]"),
            (r#"{"tags":[]}"#, "tags"),
            (r#"{"everything":"yes"}"#, "everything"),
            (r#"{"everything":true,"force":1}"#, "force"),
            (r#"{"everything":true,"mode":"gentle"}"#, "mode"),
            (
                r#"{"prefix":"/a","include_query_variants":true}"#,
                "include_query_variants",
            ),
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
