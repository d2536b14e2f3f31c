//! Claims on a key within one isolate, as pingora-cache's `lock.rs`: request coalescing (one
//! miss of a key goes to the origin, the others wait for it) and background refreshes (one
//! stale-while-revalidate refresh per key). A claim is an RAII [`LockGuard`]: however its
//! holder ends — released with a [`Release`], or dropped mid-flight — its waiters learn a
//! [`LockStatus`] and the key is free again.
//!
//! Waiters are not woken by the holder: on Workers, code resumed from another request's event
//! runs in that request's I/O context, and a response built there cannot be returned by the
//! waiter ("Cannot perform I/O on behalf of a different request"). Each waiter checks its
//! [`LockWatch`] on its own timer (the glue) and asks [`on_wait`] what to do.
//! Single-threaded (an isolate runs one thing at a time): `Rc`/`Cell`, no locks.

use std::cell::{Cell, RefCell};
use std::rc::Rc;

use crate::vec_map::VecMap;

/// Where a claim stands, as its waiters see it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LockStatus {
    /// The holder is still working.
    Waiting,
    /// The holder stored an entry (in the memory tier): look it up.
    Filled,
    /// The holder finished without storing anything a waiter may have (an uncacheable,
    /// failed or fallback answer): ask the origin yourself.
    Unfilled,
    /// The holder was dropped without releasing (its request ended or was abandoned).
    Abandoned,
}

/// How a holder ends its claim.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Release {
    /// An entry was stored.
    Filled,
    /// Nothing was stored.
    Unfilled,
}

#[derive(Debug)]
struct Lock {
    status: Cell<LockStatus>,
    waiters: Cell<u32>,
}

/// The claims of one kind (misses, or refreshes), by key.
#[derive(Default, Clone)]
pub struct Locks {
    // Few keys are claimed at once: a sorted Vec (`VecMap`), not one more hash table
    // instantiation in the edge.
    inner: Rc<RefCell<VecMap<String, Rc<Lock>>>>,
}

/// The outcome of claiming a key.
pub enum Claim {
    /// This request holds the key; its waiters are released when the guard is.
    Won(LockGuard),
    /// Another request holds it: watch its status.
    Taken(LockWatch),
}

impl Locks {
    /// Claims `key`, or joins the claim another request holds on it.
    pub fn claim(&self, key: &str) -> Claim {
        let lock = Rc::new(Lock {
            status: Cell::new(LockStatus::Waiting),
            waiters: Cell::new(0),
        });
        let Ok(mut map) = self.inner.try_borrow_mut() else {
            // Never expected (nothing holds the map across a call); hold a claim nobody else
            // can see rather than panic.
            return Claim::Won(LockGuard {
                locks: None,
                key: key.to_string(),
                lock,
            });
        };
        if let Some(held) = map.get(key) {
            held.waiters.set(held.waiters.get().saturating_add(1));
            return Claim::Taken(LockWatch { lock: held.clone() });
        }
        map.insert(key.to_string(), lock.clone());
        Claim::Won(LockGuard {
            locks: Some(self.clone()),
            key: key.to_string(),
            lock,
        })
    }

    /// Keys claimed now.
    pub fn held(&self) -> usize {
        self.inner.try_borrow().map_or(0, |m| m.len())
    }
}

/// Held by the request that claimed a key.
pub struct LockGuard {
    locks: Option<Locks>,
    key: String,
    lock: Rc<Lock>,
}

impl LockGuard {
    /// How many requests wait for this claim.
    pub fn waiters(&self) -> u32 {
        self.lock.waiters.get()
    }

    /// Ends the claim, telling the waiters whether an entry was stored.
    pub fn release(self, how: Release) {
        self.lock.status.set(match how {
            Release::Filled => LockStatus::Filled,
            Release::Unfilled => LockStatus::Unfilled,
        });
    }
}

impl Drop for LockGuard {
    fn drop(&mut self) {
        if let Some(locks) = &self.locks {
            if let Ok(mut map) = locks.inner.try_borrow_mut() {
                if map
                    .get(&self.key)
                    .is_some_and(|l| Rc::ptr_eq(l, &self.lock))
                {
                    map.remove(&self.key);
                }
            }
        }
        if self.lock.status.get() == LockStatus::Waiting {
            self.lock.status.set(LockStatus::Abandoned);
        }
    }
}

/// A waiter's view of a claim.
pub struct LockWatch {
    lock: Rc<Lock>,
}

impl LockWatch {
    /// Where the claim stands.
    pub fn status(&self) -> LockStatus {
        self.lock.status.get()
    }
}

/// What a waiter does next.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WaitAction {
    /// Check again after the poll interval.
    Wait,
    /// The holder stored an entry: look the key up (and judge what is found as any lookup).
    Lookup,
    /// Go to the origin without waiting any longer.
    Fetch(WaitEnd),
}

/// Why a waiter stopped waiting without an entry to look up.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WaitEnd {
    /// The holder stored nothing this request may have.
    Unfilled,
    /// The holder went away without saying.
    Abandoned,
    /// The holder took longer than the origin timeout.
    TimedOut,
}

impl WaitEnd {
    /// One fixed word, for logs.
    pub fn as_str(self) -> &'static str {
        match self {
            WaitEnd::Unfilled => "unfilled",
            WaitEnd::Abandoned => "abandoned",
            WaitEnd::TimedOut => "timed-out",
        }
    }
}

/// A waiter's next step after `waited_ms` of at most `timeout_ms` (the origin timeout: a
/// waiter never waits longer than its own origin request could take).
pub fn on_wait(status: LockStatus, waited_ms: u64, timeout_ms: u64) -> WaitAction {
    match status {
        LockStatus::Filled => WaitAction::Lookup,
        LockStatus::Unfilled => WaitAction::Fetch(WaitEnd::Unfilled),
        LockStatus::Abandoned => WaitAction::Fetch(WaitEnd::Abandoned),
        LockStatus::Waiting if waited_ms >= timeout_ms => WaitAction::Fetch(WaitEnd::TimedOut),
        LockStatus::Waiting => WaitAction::Wait,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn won(locks: &Locks, key: &str) -> LockGuard {
        match locks.claim(key) {
            Claim::Won(g) => g,
            Claim::Taken(_) => panic!("{key} was already claimed"),
        }
    }

    fn taken(locks: &Locks, key: &str) -> LockWatch {
        match locks.claim(key) {
            Claim::Taken(w) => w,
            Claim::Won(_) => panic!("{key} was free"),
        }
    }

    #[test]
    fn the_first_claim_wins_and_the_others_wait_until_it_is_released_filled() {
        let locks = Locks::default();
        let holder = won(&locks, "k");
        let waiters: Vec<LockWatch> = (0..3).map(|_| taken(&locks, "k")).collect();
        assert_eq!(holder.waiters(), 3);
        assert!(waiters.iter().all(|w| w.status() == LockStatus::Waiting));
        let other = won(&locks, "other");
        drop(other);
        assert_eq!(locks.held(), 1, "another key is independent");
        holder.release(Release::Filled);
        assert!(waiters.iter().all(|w| w.status() == LockStatus::Filled));
        assert_eq!(locks.held(), 0);
        won(&locks, "k");
    }

    #[test]
    fn a_release_without_an_entry_sends_waiters_to_the_origin() {
        let locks = Locks::default();
        let holder = won(&locks, "k");
        let w = taken(&locks, "k");
        holder.release(Release::Unfilled);
        assert_eq!(w.status(), LockStatus::Unfilled);
        assert_eq!(
            on_wait(w.status(), 0, 100),
            WaitAction::Fetch(WaitEnd::Unfilled)
        );
    }

    #[test]
    fn a_dropped_holder_is_abandoned_and_frees_the_key() {
        let locks = Locks::default();
        let holder = won(&locks, "k");
        let w = taken(&locks, "k");
        drop(holder); // e.g. the request future dropped mid-flight
        assert_eq!(w.status(), LockStatus::Abandoned);
        assert_eq!(locks.held(), 0);
        assert_eq!(
            on_wait(w.status(), 0, 100),
            WaitAction::Fetch(WaitEnd::Abandoned)
        );
    }

    #[test]
    fn a_waiter_waits_at_most_the_timeout() {
        assert_eq!(on_wait(LockStatus::Waiting, 99, 100), WaitAction::Wait);
        assert_eq!(
            on_wait(LockStatus::Waiting, 100, 100),
            WaitAction::Fetch(WaitEnd::TimedOut)
        );
        assert_eq!(on_wait(LockStatus::Filled, 1_000, 100), WaitAction::Lookup);
    }
}
