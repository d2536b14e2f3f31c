//! The documents the control plane keeps and publishes: the versioned rollout record (KV
//! `config/current`, each history row) and the audit entry. Published documents carry a **seal**
//! (a hash of the document without it): a document whose seal matches was written by the control
//! plane, one without (or with a wrong) seal was written by someone else — the KV-only emergency
//! path — and is adopted and audited as an external change.

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::hash::{fnv1a64, hex64};
use crate::json;

/// Prefix of a seal, naming its hash.
const SEAL_PREFIX: &str = "fnv1a64:";

/// The seal of a serialisable document (serialised without its seal).
pub fn seal_of<T: Serialize>(doc: &T) -> String {
    // serde_json's maps are ordered, so the same document always serialises the same way.
    let text = serde_json::to_string(doc).unwrap_or_default();
    format!("{SEAL_PREFIX}{}", hex64(fnv1a64(&[text.as_bytes()])))
}

/// The versioned rollout record.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Versioned {
    /// Rises by one with every change.
    pub version: u64,
    /// When it was written.
    pub updated_at_ms: u64,
    /// Who wrote it: the operator an admin token names, `analysis`, `kv (external)`, …
    pub actor: String,
    /// Why.
    pub reason: String,
    /// The configuration document.
    pub config: Value,
    /// The control plane's seal; absent or wrong on a record written straight into KV.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub seal: Option<String>,
}

impl Versioned {
    /// The record from its stored text (KV `config/current`, a history row): the documents and
    /// values `serde_json::from_str` read, field by field ([`json::Fields`]: no deserializer of
    /// its own in the Wasm).
    pub fn from_json(text: &str) -> Result<Versioned, String> {
        let value: Value = serde_json::from_str(text).map_err(|e| e.to_string())?;
        Versioned::from_value(&value)
    }

    /// [`Versioned::from_json`] of a parsed document.
    pub fn from_value(value: &Value) -> Result<Versioned, String> {
        let f = json::Fields::of(value, "Versioned")?;
        Ok(Versioned {
            version: json::required(f.u64("version")?, "version")?,
            updated_at_ms: json::required(f.u64("updated_at_ms")?, "updated_at_ms")?,
            actor: json::required(f.string("actor")?, "actor")?,
            reason: json::required(f.string("reason")?, "reason")?,
            config: json::required(f.get("config").cloned(), "config")?,
            seal: f.opt_string("seal")?,
        })
    }

    /// The record sealed by the control plane.
    pub fn sealed(mut self) -> Versioned {
        self.seal = None;
        self.seal = Some(seal_of(&self));
        self
    }

    /// True when the seal matches the record: the control plane wrote it.
    pub fn is_sealed(&self) -> bool {
        let Some(seal) = &self.seal else {
            return false;
        };
        let unsealed = Versioned {
            seal: None,
            ..self.clone()
        };
        *seal == seal_of(&unsealed)
    }
}

/// One audit log entry: every change of the rollout, every purge, warmup and recovery.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AuditEntry {
    /// Position in the log (rises by one); 0 in entries not yet stored.
    #[serde(default)]
    pub id: u64,
    /// When.
    pub at_ms: u64,
    /// Who: the operator an admin token names, `analysis`, `cron`, `kv (external)`, `control`.
    pub actor: String,
    /// Why.
    pub reason: String,
    /// What: `set_weight`, `advance`, `rollback`, `promote`, `put_config`, `revert`,
    /// `external_change`, `recovered`, `quarantined`, `imported`, `purge`, `warmup`.
    pub action: String,
    /// The rollout version after the entry.
    pub version: u64,
    /// The configuration before (rollout changes), else null.
    #[serde(default)]
    pub old: Value,
    /// The configuration after (rollout changes), else null.
    #[serde(default)]
    pub new: Value,
    /// What else there is to say: a purge's targets and mode, a warmup's counts, the reason a
    /// record was quarantined.
    #[serde(default, skip_serializing_if = "Value::is_null")]
    pub detail: Value,
}

impl AuditEntry {
    /// An entry that is not a rollout change (`old`/`new` null).
    pub fn event(
        at_ms: u64,
        actor: &str,
        reason: &str,
        action: &str,
        version: u64,
        detail: Value,
    ) -> AuditEntry {
        AuditEntry {
            id: 0,
            at_ms,
            actor: actor.to_string(),
            reason: reason.to_string(),
            action: action.to_string(),
            version,
            old: Value::Null,
            new: Value::Null,
            detail,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[cfg(not(target_arch = "wasm32"))]
    mod read_by_hand {
        use super::*;
        use crate::json::testing::{any_json, assert_reads_as_serde, change};
        use proptest::prelude::*;

        fn versioned() -> impl Strategy<Value = Value> {
            (
                any::<[u64; 2]>(),
                "\\PC{0,8}",
                "\\PC{0,8}",
                any_json(),
                any::<Option<String>>(),
            )
                .prop_map(|([version, at], actor, reason, config, seal)| {
                    let mut v = json!({"version": version, "updated_at_ms": at, "actor": actor,
                        "reason": reason, "config": config});
                    if let Some(seal) = seal {
                        v["seal"] = json!(seal);
                    }
                    v
                })
        }

        const FIELDS: &[&str] = &[
            "version",
            "updated_at_ms",
            "actor",
            "reason",
            "config",
            "seal",
        ];

        proptest! {
            /// One change to a valid record (a field removed or given any value, or a field
            /// added): read as serde's derive read it, in the same words.
            #[test]
            fn a_record_with_one_change_reads_as_the_derive_read_it(
                mut doc in versioned(),
                which in 0usize..7,
                how in 0u8..2,
                junk in any_json(),
            ) {
                change(doc.as_object_mut().unwrap(), FIELDS, which, how, junk);
                assert_reads_as_serde(&doc.to_string(), Versioned::from_json, true)?;
            }

            /// Any JSON at all, and records with many changes: accepted and refused alike.
            #[test]
            fn any_document_is_accepted_or_refused_as_by_the_derive(
                mut doc in versioned(),
                changes in prop::collection::vec((0usize..7, 0u8..2, any_json()), 0..4),
                other in any_json(),
            ) {
                for (which, how, junk) in changes {
                    change(doc.as_object_mut().unwrap(), FIELDS, which, how, junk);
                }
                assert_reads_as_serde(&doc.to_string(), Versioned::from_json, false)?;
                assert_reads_as_serde(&other.to_string(), Versioned::from_json, true)?;
            }
        }

        #[test]
        fn a_record_and_its_seal_read_by_hand_as_by_the_derive() {
            let sealed = record().sealed();
            let text = serde_json::to_string(&sealed).unwrap();
            assert_eq!(Versioned::from_json(&text).unwrap(), sealed);
            assert!(Versioned::from_json(&text).unwrap().is_sealed());
            for text in [text.as_str(), "{}", r#"{"version":1}"#, "null", "{"] {
                assert_reads_as_serde(text, Versioned::from_json, true).unwrap();
            }
        }
    }

    fn record() -> Versioned {
        Versioned {
            version: 3,
            updated_at_ms: 1_700_000_000_000,
            actor: "ana".into(),
            reason: "10 % clean".into(),
            config: json!({"stable_origin": "http://s.rs/", "canary": {"weight_bp": 2500}}),
            seal: None,
        }
    }

    #[test]
    fn a_sealed_record_survives_a_round_trip_through_kv_text() {
        let sealed = record().sealed();
        assert!(sealed.is_sealed());
        let text = serde_json::to_string(&sealed).unwrap();
        let back: Versioned = serde_json::from_str(&text).unwrap();
        assert!(back.is_sealed());
        // Whitespace and key order of a re-formatted copy do not matter: the seal is over the
        // parsed document.
        let pretty = serde_json::to_string_pretty(&serde_json::from_str::<Value>(&text).unwrap());
        let back: Versioned = serde_json::from_str(&pretty.unwrap()).unwrap();
        assert!(back.is_sealed());
    }

    #[test]
    fn an_edited_or_unsealed_record_is_not_sealed() {
        assert!(!record().is_sealed(), "no seal");
        let mut edited = record().sealed();
        edited.config["canary"]["weight_bp"] = json!(0);
        assert!(!edited.is_sealed(), "weight edited by hand");
        let mut bumped = record().sealed();
        bumped.version += 1;
        assert!(!bumped.is_sealed(), "version edited by hand");
        let mut forged = record();
        forged.seal = Some("fnv1a64:0000000000000000".into());
        assert!(!forged.is_sealed());
    }

    #[test]
    fn audit_entries_of_older_releases_still_parse() {
        // The entries the KV-based admin API wrote before the control plane: no id, no detail.
        let old = r#"{"at_ms":5,"actor":"ana","reason":"r","action":"rollback","version":2,
                      "old":{"canary":{"weight_bp":2500}},"new":{"canary":{"weight_bp":0}}}"#;
        let e: AuditEntry = serde_json::from_str(old).unwrap();
        assert_eq!((e.id, e.detail.clone()), (0, Value::Null));
        let text = serde_json::to_string(&e).unwrap();
        assert!(!text.contains("detail"), "null detail is left out: {text}");
    }
}
