//! Per-isolate state: the purge state read from KV (memoised for `STATE_REFRESH_MS`) and the
//! cache counters. Nothing here is the only copy of anything that matters: the purge state lives
//! in KV, and the counters are documented as per isolate.

use std::cell::RefCell;
use std::rc::Rc;

use worker::Env;

use crate::cache::purge::PurgeState;
use crate::cache::stats::CacheStats;
use crate::time::UnixMillis;

/// The KV namespace binding for the edge's state.
pub const KV_BINDING: &str = "EDGE_CONFIG";
/// The KV key of the purge state.
pub const PURGE_KEY: &str = "cache/purge";

struct Memo {
    state: Rc<PurgeState>,
    read_at: UnixMillis,
}

thread_local! {
    static REFRESHING: RefCell<std::collections::HashSet<String>> = RefCell::new(Default::default());
    static PURGE: RefCell<Option<Memo>> = const { RefCell::new(None) };
    static STATS: RefCell<Option<CacheStats>> = const { RefCell::new(None) };
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

/// Reads the purge state from KV.
pub async fn read_purge_state(env: &Env) -> Result<PurgeState, KvUnavailable> {
    let text = kv(env)?
        .get(PURGE_KEY)
        .text()
        .await
        .map_err(|e| KvUnavailable(format!("KV read failed: {e}")))?;
    match text {
        None => Ok(PurgeState::default()),
        Some(t) => serde_json::from_str(&t)
            .map_err(|e| KvUnavailable(format!("stored purge state is unreadable: {e}"))),
    }
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
    let json = serde_json::to_string(state).unwrap_or_default();
    kv(env)?
        .put(PURGE_KEY, json)
        .map_err(|e| KvUnavailable(format!("KV write failed: {e}")))?
        .execute()
        .await
        .map_err(|e| KvUnavailable(format!("KV write failed: {e}")))?;
    remember(Rc::new(state.clone()), now);
    Ok(())
}

/// Runs `f` on this isolate's cache counters.
pub fn with_stats<T>(now: UnixMillis, f: impl FnOnce(&mut CacheStats) -> T) -> T {
    STATS.with(|s| {
        let mut s = s.borrow_mut();
        f(s.get_or_insert_with(|| CacheStats::new(now.0)))
    })
}

/// Claims the background refresh of `key` for this isolate: false when one is already running,
/// so a burst of stale hits starts one origin request, not one each.
pub fn claim_refresh(key: &str) -> bool {
    REFRESHING.with(|r| r.borrow_mut().insert(key.to_string()))
}

/// Releases a claim taken with [`claim_refresh`].
pub fn release_refresh(key: &str) {
    REFRESHING.with(|r| {
        r.borrow_mut().remove(key);
    });
}
