//! What the control plane makes of the documents it finds in KV, where it publishes. KV is for
//! fanning reads out to every data centre; the object is the only writer. But KV can also be
//! written by hand (the emergency path when the admin API is out of reach), can serve an older
//! copy of what the object published, and can hold garbage. Each document it reads is one of:
//! its own (sealed; possibly older), someone else's valid edit (adopted and audited), or
//! unreadable (kept aside and audited, then overwritten with the object's own state).
//! The object also imports the KV-based state of releases before it once, keeping every
//! unreadable item aside.

use serde::de::DeserializeOwned;
use serde_json::Value;

use super::record::Versioned;
use crate::cache::purge::PurgeState;
use crate::canary::config::RolloutConfig;

/// What a KV key holds, from the control plane's point of view.
#[derive(Debug, Clone, PartialEq)]
pub enum Finding<T> {
    /// Nothing.
    Absent,
    /// A document the control plane published (its version: possibly an older one, read from
    /// a data centre's cache).
    Own(u64),
    /// A valid document someone else wrote.
    External(T),
    /// Text that is not a valid document, and why.
    Unreadable(String),
}

impl<T> Finding<T> {
    /// One word for logs and audit details.
    pub fn as_str(&self) -> &'static str {
        match self {
            Finding::Absent => "absent",
            Finding::Own(_) => "own",
            Finding::External(_) => "external",
            Finding::Unreadable(_) => "unreadable",
        }
    }
}

/// Classifies the text of `config/current`.
pub fn classify_config(
    raw: Option<&str>,
    self_hosts: &[String],
) -> Finding<(Versioned, RolloutConfig)> {
    let Some(text) = raw else {
        return Finding::Absent;
    };
    let record = match Versioned::from_json(text) {
        Ok(r) => r,
        Err(e) => return Finding::Unreadable(format!("not a rollout record: {e}")),
    };
    if record.is_sealed() {
        return Finding::Own(record.version);
    }
    match RolloutConfig::from_json(&record.config, self_hosts) {
        Ok(config) => Finding::External((record, config)),
        Err(e) => Finding::Unreadable(format!("version {}: {e}", record.version)),
    }
}

/// Classifies the text of `cache/purge`.
pub fn classify_purge(raw: Option<&str>) -> Finding<PurgeState> {
    let Some(text) = raw else {
        return Finding::Absent;
    };
    match PurgeState::from_json(text) {
        Ok(s) if s.is_sealed() => Finding::Own(s.version),
        Ok(s) => Finding::External(s),
        Err(e) => Finding::Unreadable(format!("not a purge state: {e}")),
    }
}

/// A JSON list read from KV item by item: the items that parse, and each one that does not (as
/// its raw text, with why) — never silently dropped.
#[derive(Debug, Clone, PartialEq)]
pub struct ImportedList<T> {
    /// Items that parsed, in their stored order.
    pub good: Vec<T>,
    /// `(raw text, why)` of each item (or the whole text) that did not.
    pub bad: Vec<(String, String)>,
}

/// Reads a JSON array item by item.
pub fn import_list<T: DeserializeOwned>(raw: Option<&str>) -> ImportedList<T> {
    let mut out = ImportedList {
        good: Vec::new(),
        bad: Vec::new(),
    };
    let Some(text) = raw else {
        return out;
    };
    let items = match serde_json::from_str::<Value>(text) {
        Ok(Value::Array(items)) => items,
        Ok(_) => {
            out.bad
                .push((text.to_string(), "not a JSON array".to_string()));
            return out;
        }
        Err(e) => {
            out.bad
                .push((text.to_string(), format!("not valid JSON: {e}")));
            return out;
        }
    };
    for (i, item) in items.into_iter().enumerate() {
        let raw = item.to_string();
        match serde_json::from_value::<T>(item) {
            Ok(v) => out.good.push(v),
            Err(e) => out.bad.push((raw, format!("item {i}: {e}"))),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::control::record::AuditEntry;
    use serde_json::json;

    fn record(weight: u16) -> Versioned {
        Versioned {
            version: 7,
            updated_at_ms: 1,
            actor: "ana".into(),
            reason: "r".into(),
            config: json!({"stable_origin": "http://s.rs", "canary_origin": "http://c.rs",
                           "canary": {"weight_bp": weight}}),
            seal: None,
        }
    }

    #[test]
    fn config_documents_are_own_external_or_unreadable() {
        let own = serde_json::to_string(&record(2500).sealed()).unwrap();
        assert_eq!(classify_config(Some(&own), &[]), Finding::Own(7));
        // The emergency path: someone took the published record, set the weight, bumped the
        // version; the seal no longer matches.
        let mut v: Value = serde_json::from_str(&own).unwrap();
        v["config"]["canary"]["weight_bp"] = json!(0);
        v["version"] = json!(8);
        match classify_config(Some(&v.to_string()), &[]) {
            Finding::External((rec, cfg)) => {
                assert_eq!((rec.version, cfg.weight_bp), (8, 0));
            }
            other => panic!("{other:?}"),
        }
        assert_eq!(classify_config(None, &[]), Finding::Absent);
        for garbage in [
            "",
            "{\"version\":7,\"updated_at",
            r#"{"version":"x","updated_at_ms":0,"actor":"a","reason":"r","config":{}}"#,
            "null",
        ] {
            assert!(
                matches!(classify_config(Some(garbage), &[]), Finding::Unreadable(_)),
                "{garbage:?}"
            );
        }
        let invalid = serde_json::to_string(&Versioned {
            config: json!({"stable_origin": "ftp://x"}),
            ..record(0)
        })
        .unwrap();
        match classify_config(Some(&invalid), &[]) {
            Finding::Unreadable(why) => assert!(why.contains("stable_origin"), "{why}"),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn purge_documents_are_own_external_or_unreadable() {
        let own = PurgeState {
            version: 3,
            ..Default::default()
        }
        .sealed();
        let text = serde_json::to_string(&own).unwrap();
        assert_eq!(classify_purge(Some(&text)), Finding::Own(3));
        let by_hand = r#"{"generation":5,"bans":[]}"#;
        assert!(matches!(classify_purge(Some(by_hand)), Finding::External(s) if s.generation == 5));
        assert!(matches!(classify_purge(Some("{")), Finding::Unreadable(_)));
        assert_eq!(classify_purge(None), Finding::Absent);
    }

    #[test]
    fn a_list_import_keeps_every_bad_item_aside() {
        let good = serde_json::to_string(&record(0)).unwrap();
        let text = format!("[{good}, {{\"version\": \"x\"}}, 5]");
        let list = import_list::<Versioned>(Some(&text));
        assert_eq!(list.good.len(), 1);
        assert_eq!(list.bad.len(), 2);
        assert!(list.bad[0].0.contains("\"x\""));
        assert!(list.bad[1].1.starts_with("item 2"));

        let truncated = import_list::<AuditEntry>(Some("[{\"at_ms\":1,"));
        assert_eq!(truncated.good.len(), 0);
        assert_eq!(
            truncated.bad[0].0, "[{\"at_ms\":1,",
            "kept whole, as it was"
        );
        assert_eq!(import_list::<AuditEntry>(Some("{}")).bad.len(), 1);
        assert_eq!(
            import_list::<AuditEntry>(None),
            ImportedList {
                good: vec![],
                bad: vec![]
            }
        );
    }
}
