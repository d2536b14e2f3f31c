//! What an edge isolate uses: the rollout configuration and purge state it reads from KV (where
//! the control plane publishes) every `STATE_REFRESH_MS`, or the one the control plane just
//! answered to this isolate's own write. The rules: a stored document that cannot be used never
//! breaks serving (the last good one stays in force, with the problem reported); a document older
//! than the one in use is a stale read and is ignored, so an isolate never goes back to a state
//! it already left.

use super::record::Versioned;
use crate::cache::purge::PurgeState;
use crate::canary::config::RolloutConfig;

/// Where the rollout in force came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Source {
    /// The wrangler vars' defaults (nothing stored yet).
    Vars,
    /// KV.
    Kv,
    /// The control plane's answer to this isolate's own write.
    Control,
}

impl Source {
    /// `vars`, `kv` or `control`.
    pub fn as_str(self) -> &'static str {
        match self {
            Source::Vars => "vars",
            Source::Kv => "kv",
            Source::Control => "control",
        }
    }
}

/// The rollout configuration in force in an isolate.
#[derive(Debug, Clone, PartialEq)]
pub struct InForce {
    /// The configuration.
    pub config: RolloutConfig,
    /// Its version (0: the defaults).
    pub version: u64,
    /// Where it came from.
    pub source: Source,
    /// Why the stored configuration is not the one in force, when it is not.
    pub problem: Option<String>,
}

/// What a read of a KV key gave.
#[derive(Debug, Clone, PartialEq)]
pub enum Fetched {
    /// The key holds nothing.
    Absent,
    /// KV could not be read, and why.
    Unavailable(String),
    /// The key's text.
    Text(String),
}

/// The rollout in force after reading `config/current`, given the one in force before.
pub fn next_rollout(
    last: Option<&InForce>,
    fetched: Fetched,
    defaults: &RolloutConfig,
    self_hosts: &[String],
) -> InForce {
    let keep = |problem: Option<String>| match last {
        Some(l) => InForce {
            problem,
            ..l.clone()
        },
        None => InForce {
            config: defaults.clone(),
            version: 0,
            source: Source::Vars,
            problem,
        },
    };
    let last_version = last.map_or(0, |l| l.version);
    let text = match fetched {
        // Nothing published yet: the defaults — unless this isolate already uses a version (a
        // data centre that has not seen the first publish yet must not undo it).
        Fetched::Absent if last_version == 0 => {
            return InForce {
                config: defaults.clone(),
                version: 0,
                source: Source::Vars,
                problem: None,
            }
        }
        Fetched::Absent => {
            return keep(Some(format!(
                "config/current is missing from KV; version {last_version} stays in force"
            )))
        }
        Fetched::Unavailable(why) => {
            return keep(Some(format!(
                "{why}; version {last_version} stays in force"
            )))
        }
        Fetched::Text(t) => t,
    };
    let record = match Versioned::from_json(&text) {
        Ok(r) => r,
        Err(e) => {
            return keep(Some(format!(
                "the stored configuration is unreadable ({e}); version {last_version} stays in \
                 force"
            )))
        }
    };
    if last.is_some() && record.version <= last_version && last_version > 0 {
        // A stale copy (or the same one): nothing new.
        return keep(None);
    }
    match RolloutConfig::from_json(&record.config, self_hosts) {
        Ok(config) => InForce {
            config,
            version: record.version,
            source: Source::Kv,
            problem: None,
        },
        Err(e) => keep(Some(format!(
            "stored configuration version {} is invalid ({e}); version {last_version} stays in \
             force",
            record.version
        ))),
    }
}

/// The purge state to use after reading `cache/purge`, with the problem to report when the
/// stored one could not be used.
pub fn next_purge(last: Option<&PurgeState>, fetched: Fetched) -> (PurgeState, Option<String>) {
    let keep = |problem: Option<String>| (last.cloned().unwrap_or_default(), problem);
    match fetched {
        Fetched::Absent => keep(None),
        Fetched::Unavailable(why) => keep(Some(format!("purge state: {why}"))),
        Fetched::Text(text) => match PurgeState::from_json(&text) {
            // Versions only rise: an older copy is a stale read. A state written by hand
            // without a version is taken (version 0 never hides a newer one).
            Ok(s) if last.is_some_and(|l| s.version < l.version) => keep(None),
            Ok(s) => (s, None),
            Err(e) => keep(Some(format!(
                "the stored purge state is unreadable ({e}); the last one read stays in force"
            ))),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::web_url::Url;
    use serde_json::json;

    fn defaults() -> RolloutConfig {
        RolloutConfig::stable_only(Url::parse("http://vars.rs").unwrap())
    }

    fn text(version: u64, weight_bp: u16) -> Fetched {
        Fetched::Text(
            json!({"version": version, "updated_at_ms": 1, "actor": "a", "reason": "r",
                   "config": {"stable_origin": "http://s.rs", "canary_origin": "http://c.rs",
                              "canary": {"weight_bp": weight_bp}}})
            .to_string(),
        )
    }

    fn read(last: Option<&InForce>, f: Fetched) -> InForce {
        next_rollout(last, f, &defaults(), &[])
    }

    #[test]
    fn nothing_stored_means_the_vars() {
        let r = read(None, Fetched::Absent);
        assert_eq!((r.version, r.source, r.problem), (0, Source::Vars, None));
    }

    #[test]
    fn a_newer_version_is_taken_and_a_stale_read_is_ignored() {
        let v5 = read(None, text(5, 2500));
        assert_eq!(
            (v5.version, v5.config.weight_bp, v5.source),
            (5, 2500, Source::Kv)
        );
        let v4 = read(Some(&v5), text(4, 1000));
        assert_eq!(
            (v4.version, v4.config.weight_bp),
            (5, 2500),
            "stale copy ignored"
        );
        assert_eq!(v4.problem, None);
        let v6 = read(Some(&v5), text(6, 0));
        assert_eq!((v6.version, v6.config.weight_bp), (6, 0));
        // The vars' defaults never hide a stored record.
        let from_vars = read(None, Fetched::Absent);
        assert_eq!(read(Some(&from_vars), text(1, 0)).version, 1);
    }

    #[test]
    fn garbage_keeps_the_last_good_and_says_why() {
        let v5 = read(None, text(5, 2500));
        for bad in [
            Fetched::Text("{\"version\":6".into()),
            Fetched::Text(String::new()),
            Fetched::Text(
                json!({"version": 9, "updated_at_ms": 0, "actor": "x", "reason": "y",
                       "config": {"stable_origin": "ftp://nope"}})
                .to_string(),
            ),
            Fetched::Unavailable("KV read failed".into()),
            Fetched::Absent,
        ] {
            let r = read(Some(&v5), bad.clone());
            assert_eq!((r.version, r.config.weight_bp), (5, 2500), "{bad:?}");
            let p = r.problem.expect("a problem is reported");
            assert!(p.contains("version 5 stays in force"), "{p}");
        }
        let fresh = read(None, Fetched::Text("{".into()));
        assert_eq!((fresh.version, fresh.source), (0, Source::Vars));
        assert!(fresh.problem.is_some());
    }

    #[test]
    fn purge_states_only_move_forward() {
        let s = |v: u64, g: u64| {
            Fetched::Text(json!({"version": v, "generation": g, "bans": []}).to_string())
        };
        let (first, p) = next_purge(None, s(3, 1));
        assert_eq!((first.version, first.generation, p), (3, 1, None));
        let (same, _) = next_purge(Some(&first), s(2, 0));
        assert_eq!(same.generation, 1, "stale copy ignored");
        let (newer, _) = next_purge(Some(&first), s(4, 2));
        assert_eq!(newer.generation, 2);
        let (kept, problem) = next_purge(Some(&first), Fetched::Text("[".into()));
        assert_eq!(kept.generation, 1);
        assert!(problem.unwrap().contains("unreadable"));
        let (empty, p) = next_purge(None, Fetched::Absent);
        assert_eq!((empty.generation, p), (0, None));
    }
}
