//! Per-isolate state: the purge state read from KV (memoised for `STATE_REFRESH_MS`) and the
//! cache counters. Nothing here is the only copy of anything that matters: the purge state lives
//! in KV, and the counters are documented as per isolate.

use std::cell::RefCell;
use std::rc::Rc;

use serde::de::DeserializeOwned;
use serde::Serialize;
use worker::Env;

use crate::cache::purge::PurgeState;
use crate::cache::stats::CacheStats;
use crate::canary::config::RolloutConfig;
use crate::canary::ops::Versioned;
use crate::config::EdgeConfig;
use crate::metrics::Registry;
use crate::time::UnixMillis;

/// The KV namespace binding for the edge's state.
pub const KV_BINDING: &str = "EDGE_CONFIG";
/// The KV key of the purge state.
pub const PURGE_KEY: &str = "cache/purge";
/// The KV key of the current rollout configuration.
pub const CONFIG_KEY: &str = "config/current";
/// The KV key of the configuration history (newest first).
pub const HISTORY_KEY: &str = "config/history";
/// The KV key of the audit log (newest first).
pub const AUDIT_KEY: &str = "audit/log";

struct Memo {
    state: Rc<PurgeState>,
    read_at: UnixMillis,
}

thread_local! {
    static PURGE: RefCell<Option<Memo>> = const { RefCell::new(None) };
    static ROLLOUT: RefCell<Option<(Rc<Rollout>, UnixMillis)>> = const { RefCell::new(None) };
    static STATS: RefCell<Option<CacheStats>> = const { RefCell::new(None) };
    static METRICS: RefCell<Option<Registry>> = const { RefCell::new(None) };
    static ANALYTICS_ABSENT: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
}

/// Why KV could not be used.
#[derive(Debug)]
pub struct KvUnavailable(pub String);

fn kv(env: &Env) -> Result<worker::KvStore, KvUnavailable> {
    env.kv(KV_BINDING).map_err(|_| {
        KvUnavailable(format!(
            "the KV namespace binding {KV_BINDING} is not configured"
        ))
    })
}

/// Reads a JSON value from KV; `None` when the key is absent.
pub async fn kv_get_json<T: DeserializeOwned>(
    env: &Env,
    key: &str,
) -> Result<Option<T>, KvUnavailable> {
    let text = kv(env)?
        .get(key)
        .text()
        .await
        .map_err(|e| KvUnavailable(format!("KV read of {key} failed: {e}")))?;
    match text {
        None => Ok(None),
        Some(t) => serde_json::from_str(&t)
            .map(Some)
            .map_err(|e| KvUnavailable(format!("KV {key} is unreadable: {e}"))),
    }
}

/// Writes a JSON value to KV.
pub async fn kv_put_json<T: Serialize>(
    env: &Env,
    key: &str,
    value: &T,
) -> Result<(), KvUnavailable> {
    let json = serde_json::to_string(value).unwrap_or_default();
    kv(env)?
        .put(key, json)
        .map_err(|e| KvUnavailable(format!("KV write of {key} failed: {e}")))?
        .execute()
        .await
        .map_err(|e| KvUnavailable(format!("KV write of {key} failed: {e}")))
}

/// Reads the purge state from KV.
pub async fn read_purge_state(env: &Env) -> Result<PurgeState, KvUnavailable> {
    Ok(kv_get_json(env, PURGE_KEY).await?.unwrap_or_default())
}

/// The purge state, from the memo when it is younger than `refresh_ms`. When KV cannot be read,
/// the last state read (or the empty state) is used and the problem logged: serving never
/// fails because of it.
pub async fn purge_state(env: &Env, now: UnixMillis, refresh_ms: u64) -> Rc<PurgeState> {
    let cached = PURGE.with(|m| {
        m.borrow()
            .as_ref()
            .map(|memo| (memo.state.clone(), now.since(memo.read_at) < refresh_ms))
    });
    if let Some((state, true)) = &cached {
        return state.clone();
    }
    let state = match read_purge_state(env).await {
        Ok(s) => Rc::new(s),
        Err(KvUnavailable(why)) => {
            if cached.is_none() {
                worker::console_warn!("purge state unavailable, using the empty state: {}", why);
            }
            cached.map(|(s, _)| s).unwrap_or_default()
        }
    };
    remember(state.clone(), now);
    state
}

fn remember(state: Rc<PurgeState>, now: UnixMillis) {
    PURGE.with(|m| {
        *m.borrow_mut() = Some(Memo {
            state,
            read_at: now,
        })
    });
}

/// Writes the purge state to KV and to this isolate's memo.
pub async fn write_purge_state(
    env: &Env,
    state: &PurgeState,
    now: UnixMillis,
) -> Result<(), KvUnavailable> {
    kv_put_json(env, PURGE_KEY, state).await?;
    remember(Rc::new(state.clone()), now);
    Ok(())
}

/// Runs `f` on this isolate's Prometheus registry.
pub fn with_metrics<T>(now: UnixMillis, f: impl FnOnce(&mut Registry) -> T) -> T {
    METRICS.with(|m| {
        let mut m = m.borrow_mut();
        f(m.get_or_insert_with(|| Registry::new(now.0)))
    })
}

/// Runs `f` on this isolate's cache counters.
pub fn with_stats<T>(now: UnixMillis, f: impl FnOnce(&mut CacheStats) -> T) -> T {
    STATS.with(|s| {
        let mut s = s.borrow_mut();
        f(s.get_or_insert_with(|| CacheStats::new(now.0)))
    })
}

/// The rollout configuration in force, and where it came from.
#[derive(Debug, Clone)]
pub struct Rollout {
    /// The configuration.
    pub config: RolloutConfig,
    /// Its version (0: the defaults from wrangler vars).
    pub version: u64,
    /// `kv` or `vars`.
    pub source: &'static str,
    /// Why the stored configuration is not the one in force, when it is not.
    pub problem: Option<String>,
}

/// The rollout configuration, from the memo when it is younger than `STATE_REFRESH_MS`. A stored
/// configuration that cannot be read or fails validation never breaks serving: the last good one
/// (or the defaults, weight 0 unless the vars say otherwise) stays in force, and the problem is
/// reported at `/__edge/health`.
pub async fn rollout(env: &Env, now: UnixMillis, config: &EdgeConfig) -> Rc<Rollout> {
    let memo = ROLLOUT.with(|m| m.borrow().clone());
    if let Some((r, read_at)) = &memo {
        if now.since(*read_at) < config.state_refresh_ms {
            return r.clone();
        }
    }
    let last_good = || {
        memo.as_ref()
            .map(|(r, _)| (r.config.clone(), r.version, r.source))
            .unwrap_or((config.rollout_defaults.clone(), 0, "vars"))
    };
    let fresh = match kv_get_json::<Versioned>(env, CONFIG_KEY).await {
        Ok(None) => Rollout {
            config: config.rollout_defaults.clone(),
            version: 0,
            source: "vars",
            problem: None,
        },
        Ok(Some(v)) => match RolloutConfig::from_json(&v.config, &config.self_hosts()) {
            Ok(c) => Rollout {
                config: c,
                version: v.version,
                source: "kv",
                problem: None,
            },
            Err(e) => {
                let (c, version, source) = last_good();
                Rollout {
                    config: c,
                    version,
                    source,
                    problem: Some(format!(
                        "stored configuration version {} is invalid ({e}); version {version} stays in force",
                        v.version
                    )),
                }
            }
        },
        Err(KvUnavailable(why)) => {
            let (c, version, source) = last_good();
            Rollout {
                config: c,
                version,
                source,
                problem: Some(format!("{why}; version {version} stays in force")),
            }
        }
    };
    if let Some(p) = &fresh.problem {
        worker::console_warn!("rollout configuration: {}", p);
    }
    let fresh = Rc::new(fresh);
    remember_rollout(fresh.clone(), now);
    fresh
}

/// Puts a rollout configuration into this isolate's memo (after an admin write).
pub fn remember_rollout(rollout: Rc<Rollout>, now: UnixMillis) {
    ROLLOUT.with(|m| *m.borrow_mut() = Some((rollout, now)));
}

/// The Analytics Engine dataset bound as `binding`, if any. Bindings are fixed for an isolate's
/// life, so a missing one is looked up once, not on every request.
pub fn analytics(env: &Env, binding: &str) -> Option<worker::AnalyticsEngineDataset> {
    if ANALYTICS_ABSENT.with(|a| a.get()) {
        return None;
    }
    let found = env.analytics_engine(binding).ok();
    if found.is_none() {
        ANALYTICS_ABSENT.with(|a| a.set(true));
    }
    found
}
