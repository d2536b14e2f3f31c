//! Per-isolate state: the rollout configuration and purge state read from KV (where the control
//! plane publishes them; memoised for `STATE_REFRESH_MS`) and the cache counters. Nothing here is
//! the only copy of anything that matters: the state is the control plane's, and the counters are
//! documented as per isolate.

use std::cell::RefCell;
use std::rc::Rc;

use worker::Env;

use crate::analysis::cell::{Cell, Cells, Observation, Pending};
use crate::analysis::health::Recent;
use crate::cache::purge::PurgeState;
use crate::cache::stats::CacheStats;
use crate::canary::config::RolloutConfig;
use crate::config::EdgeConfig;
use crate::control::edge::{next_purge, next_rollout, Fetched, InForce, Source};
use crate::metrics::Registry;
use crate::time::UnixMillis;

/// The KV namespace binding for the edge's state.
pub const KV_BINDING: &str = "EDGE_CONFIG";
/// The KV key of the purge state.
pub const PURGE_KEY: &str = "cache/purge";
/// The KV key of the current rollout configuration.
pub const CONFIG_KEY: &str = "config/current";

struct Memo {
    state: Rc<PurgeState>,
    read_at: UnixMillis,
}

thread_local! {
    static PURGE: RefCell<Option<Memo>> = const { RefCell::new(None) };
    static PURGE_PROBLEM: RefCell<Option<String>> = const { RefCell::new(None) };
    static ROLLOUT: RefCell<Option<(Rc<InForce>, UnixMillis)>> = const { RefCell::new(None) };
    static STATS: RefCell<Option<CacheStats>> = const { RefCell::new(None) };
    static METRICS: RefCell<Option<Registry>> = const { RefCell::new(None) };
    static ANALYTICS_ABSENT: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
    static PENDING: RefCell<Pending> = RefCell::new(Pending::default());
    static RECENT: RefCell<Recent> = RefCell::new(Recent::default());
    static SHARD: std::cell::Cell<Option<u32>> = const { std::cell::Cell::new(None) };
}

/// Counts a request for the canary analysis; when this isolate's counts are due for a flush,
/// hands them out with the shard to flush them to (chosen at random once per isolate).
pub fn observe(o: &Observation<'_>, config: &EdgeConfig) -> Option<(u32, Cells)> {
    RECENT.with(|r| r.borrow_mut().record(o));
    PENDING.with(|p| {
        let mut p = p.borrow_mut();
        p.record(o);
        let cells = p.take_due(o.at_ms, config.metrics_flush_ms)?;
        let shard = SHARD.with(|s| match s.get() {
            Some(i) if i < config.metrics_shards => i,
            _ => {
                // Spreading isolates over shards needs no secrecy: without randomness, shard 0.
                let [b0, b1, b2, b3] = super::platform::random_bytes::<4>().unwrap_or([0; 4]);
                let i = u32::from_le_bytes([b0, b1, b2, b3]) % config.metrics_shards.max(1);
                s.set(Some(i));
                i
            }
        });
        Some((shard, cells))
    })
}

/// This isolate's counts of the last minute, (stable, canary).
pub fn recent(now: UnixMillis) -> (Cell, Cell) {
    RECENT.with(|r| r.borrow().last_minute(now.0))
}

/// A flush failed: its counts come back (recent minutes) or are counted as lost.
pub fn flush_failed(cells: Cells, now: UnixMillis) {
    PENDING.with(|p| p.borrow_mut().flush_failed(cells, now.0));
}

/// A flush succeeded.
pub fn flush_succeeded() {
    PENDING.with(|p| p.borrow_mut().flushes += 1);
}

/// This isolate's analysis counters: (flushes, failed flushes, requests lost, requests pending).
pub fn analysis_counters() -> (u64, u64, u64, u64) {
    PENDING.with(|p| {
        let p = p.borrow();
        let pending = p.cells.values().map(|c| c.requests).sum();
        (p.flushes, p.failed_flushes, p.lost_requests, pending)
    })
}

/// Reads a key's text from KV: the namespace's `get(key, {type: "text"})`, called as
/// `worker::KvStore` calls it, without its option builder (serialised through
/// `serde_wasm_bindgen`) and the rest of the KV client the edge does not use. Same answers and
/// messages (a JavaScript error reads `js error: {:?}`, as `worker::KvError` writes it).
async fn kv_fetch(env: &Env, key: &str) -> Fetched {
    use wasm_bindgen::{JsCast, JsValue};
    let ns = js_sys::Reflect::get(env, &JsValue::from_str(KV_BINDING))
        .ok()
        .filter(|ns| !ns.is_undefined());
    let get = ns.as_ref().and_then(|ns| {
        js_sys::Reflect::get(ns, &JsValue::from_str("get"))
            .ok()
            .map(JsCast::unchecked_into::<js_sys::Function>)
    });
    let (Some(ns), Some(get)) = (ns, get) else {
        return Fetched::Unavailable(format!(
            "the KV namespace binding {KV_BINDING} is not configured"
        ));
    };
    let options = js_sys::Object::new();
    let _ = js_sys::Reflect::set(&options, &"type".into(), &"text".into());
    let read = match get.call2(&ns, &JsValue::from_str(key), &options) {
        Ok(promise) => {
            worker::wasm_bindgen_futures::JsFuture::from(js_sys::Promise::from(promise)).await
        }
        Err(e) => Err(e),
    };
    match read {
        Ok(value) => match value.as_string() {
            Some(text) => Fetched::Text(text),
            None => Fetched::Absent,
        },
        Err(e) => Fetched::Unavailable(format!("KV read of {key} failed: js error: {e:?}")),
    }
}

/// The purge state, from the memo when it is younger than `refresh_ms`. When KV cannot be read
/// or holds something unreadable, the last state read (or the empty state) is used and the
/// problem reported in health: serving never fails because of it.
pub async fn purge_state(env: &Env, now: UnixMillis, refresh_ms: u64) -> Rc<PurgeState> {
    let cached = PURGE.with(|m| {
        m.borrow()
            .as_ref()
            .map(|memo| (memo.state.clone(), now.since(memo.read_at) < refresh_ms))
    });
    if let Some((state, true)) = &cached {
        return state.clone();
    }
    let last = cached.as_ref().map(|(s, _)| s.as_ref());
    let (next, problem) = next_purge(last, kv_fetch(env, PURGE_KEY).await);
    if let Some(p) = &problem {
        worker::console_warn!("{}", p);
    }
    PURGE_PROBLEM.with(|pp| *pp.borrow_mut() = problem);
    let state = match cached {
        Some((s, _)) if *s == next => s,
        _ => Rc::new(next),
    };
    remember(state.clone(), now);
    state
}

/// Why the stored purge state is not the one in use, if it is not (for health).
pub fn purge_problem() -> Option<String> {
    PURGE_PROBLEM.with(|p| p.borrow().clone())
}

fn remember(state: Rc<PurgeState>, now: UnixMillis) {
    PURGE.with(|m| {
        *m.borrow_mut() = Some(Memo {
            state,
            read_at: now,
        })
    });
}

/// Uses the purge state the control plane answered to this isolate's purge at once (never an
/// older one than in use).
pub fn remember_purge_state(state: PurgeState, now: UnixMillis) {
    let newer = PURGE.with(|m| {
        m.borrow()
            .as_ref()
            .is_none_or(|memo| memo.state.version <= state.version)
    });
    if newer {
        remember(Rc::new(state), now);
    }
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

/// The rollout configuration in force, from the memo when it is younger than
/// `STATE_REFRESH_MS`. A stored configuration that cannot be read or fails validation never breaks
/// serving (see `control::edge`): the last good one stays in force and the problem is reported
/// at `/__edge/health`.
pub async fn rollout(env: &Env, now: UnixMillis, config: &EdgeConfig) -> Rc<InForce> {
    let memo = ROLLOUT.with(|m| m.borrow().clone());
    if let Some((r, read_at)) = &memo {
        if now.since(*read_at) < config.state_refresh_ms {
            return r.clone();
        }
    }
    let fetched = kv_fetch(env, CONFIG_KEY).await;
    let last = memo.as_ref().map(|(r, _)| r.as_ref());
    let next = next_rollout(
        last,
        fetched,
        &config.rollout_defaults,
        &config.self_hosts(),
    );
    if let Some(p) = &next.problem {
        worker::console_warn!("rollout configuration: {}", p);
    }
    let next = match memo {
        Some((r, _)) if *r == next => r,
        _ => Rc::new(next),
    };
    ROLLOUT.with(|m| *m.borrow_mut() = Some((next.clone(), now)));
    next
}

/// The canary weight this isolate uses now (its memo, without reading KV), if it read one.
pub fn weight_in_force() -> Option<u16> {
    ROLLOUT.with(|m| m.borrow().as_ref().map(|(r, _)| r.config.weight_bp))
}

/// Uses the record the control plane answered to this isolate's own write at once (never an
/// older one than in use).
pub fn remember_rollout(config: RolloutConfig, version: u64, now: UnixMillis) {
    ROLLOUT.with(|m| {
        let mut m = m.borrow_mut();
        if m.as_ref().is_none_or(|(r, _)| r.version <= version) {
            let in_force = InForce {
                config,
                version,
                source: Source::Control,
                problem: None,
            };
            *m = Some((Rc::new(in_force), now));
        }
    });
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
