//! Storing an origin body without ever holding an unknown amount of it (issue 16): how the glue
//! carries a storable body ([`plan`]), the byte counter that drops the cache's copy the moment it
//! passes `CACHE_MAX_BODY_BYTES` ([`BodyCounter`]), and the isolate's budget for the bytes held
//! for storing ([`StoreBudget`], `STORE_BUFFER_BYTES`).
//!
//! Measured in workerd (bench/findings.md, "Memory"): a body read into JavaScript lives in the
//! isolate's memory (its `ArrayBuffer`s count against the 128 MB), while a body the runtime pipes
//! itself — to the client, or through a `tee()` into `cache.put` — never enters the isolate's
//! heap. So:
//!
//! - a body whose length is known and small enough for the memory tier is read whole (it is
//!   held there, and the client gets an exact `Content-Length`);
//! - a larger body of known length is streamed to the client and, through a tee, straight into
//!   the Cache API: no byte of it is read by the worker;
//! - a body of unknown length (chunked) is streamed to the client while a tee's copy is counted
//!   chunk by chunk, and dropped the moment it passes the limit.
//!
//! Every body being stored holds a [`Reservation`] of the budget until it is stored or dropped:
//! its length when known, and the whole `CACHE_MAX_BODY_BYTES` while it is not (a chunked body
//! could be any size up to the limit, and reserving as chunks arrive let 32 concurrent copies
//! start at once and left their dropped chunks for the collector: 61 MiB measured, against 23 MiB
//! when the reservation is taken up front). A body that finds no room streams through unstored,
//! counted as `store-budget`.
//!
//! Single-threaded, like the claims (`cache::lock`): `Rc` and `Cell`, no locks.

use std::cell::Cell;
use std::rc::Rc;

use serde::Serialize;

use super::lifecycle::{self, admit_body, BodyVerdict, Form};
use super::lock::Release;
use super::policy::NoStoreReason;
use super::status::CacheReport;

/// Default budget of bytes held for storing, per isolate: 24 MiB of its 128 MB.
pub const DEFAULT_STORE_BUFFER_BYTES: u64 = 24 * 1024 * 1024;

/// How the glue carries a body the core decided to store.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BodyPlan {
    /// Its known length fits the memory tier: read it whole, then serve, hold and store it.
    Buffer,
    /// Its known length is larger: stream it to the client and, through a tee, straight into
    /// the Cache API (the runtime pipes it; the worker never reads it).
    Stream,
    /// Its length is unknown: stream it to the client and count a copy chunk by chunk
    /// ([`BodyCounter`]); store the copy when it ends within the limit.
    Count,
    /// Do not store it: stream it through.
    Pass(NoStoreReason),
}

impl BodyPlan {
    /// What `Cache-Status` says once the plan is known: the reason when the body passes
    /// unstored; `store-pending` instead of `stored` when its length is unknown (the headers
    /// leave before the counter has judged it).
    pub fn report(self, report: &mut CacheReport) {
        match self {
            BodyPlan::Pass(reason) => lifecycle::unstored(report, reason),
            BodyPlan::Count => {
                report.stored = false;
                report.store_pending = true;
            }
            BodyPlan::Buffer | BodyPlan::Stream => {}
        }
    }
}

/// What the plan depends on.
#[derive(Debug, Clone, Copy)]
pub struct BodyFacts {
    /// The body's length, when the origin sent `Content-Length`.
    pub length: Option<u64>,
    /// Largest body stored (`CACHE_MAX_BODY_BYTES`).
    pub max_body_bytes: u64,
    /// Largest body the memory tier holds (0: the tier is off).
    pub memory_entry_limit: u64,
}

/// A plan with its reservation, and the form the client gets.
#[derive(Debug)]
pub struct Planned {
    /// How the body is carried.
    pub plan: BodyPlan,
    /// The budget held for it until it is stored or dropped (`None` when it passes).
    pub reservation: Option<Reservation>,
    /// The response's form: a range of a body that is not read whole becomes the whole 200
    /// (RFC 9110 §14.2 lets a server ignore `Range`).
    pub form: Form,
}

/// How to carry a storable body, reserving its bytes in `budget`.
pub fn plan(facts: BodyFacts, form: Form, budget: &StoreBudget) -> Planned {
    let whole = if form.slice().is_some() {
        Form::Full
    } else {
        form
    };
    let pass = |reason| Planned {
        plan: BodyPlan::Pass(reason),
        reservation: None,
        form: whole,
    };
    if let Some(len) = facts.length {
        // Decided on `Content-Length` already (`policy::decide_store`); kept for any caller.
        if admit_body(len, facts.max_body_bytes) == BodyVerdict::TooLarge {
            return pass(NoStoreReason::TooLarge);
        }
    }
    let Some(reservation) = budget.reserve(facts.length.unwrap_or(facts.max_body_bytes)) else {
        return pass(NoStoreReason::Budget);
    };
    let (plan, form) = match facts.length {
        Some(len) if len < facts.memory_entry_limit => (BodyPlan::Buffer, form),
        Some(_) => (BodyPlan::Stream, whole),
        None => (BodyPlan::Count, whole),
    };
    Planned {
        plan,
        reservation: Some(reservation),
        form,
    }
}

/// What the counter says about the copy after a chunk.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChunkVerdict {
    /// Keep it.
    Keep,
    /// Drop the copy now (and cancel its stream), for this reason.
    Drop(NoStoreReason),
}

/// Counts the bytes of a body's copy as they arrive: the copy is dropped the moment they pass
/// the limit, whatever `Content-Length` said (or did not say).
#[derive(Debug, Clone, Copy)]
pub struct BodyCounter {
    seen: u64,
    max_body_bytes: u64,
}

impl BodyCounter {
    /// A counter for a body of at most `max_body_bytes`.
    pub fn new(max_body_bytes: u64) -> BodyCounter {
        BodyCounter {
            seen: 0,
            max_body_bytes,
        }
    }

    /// One more chunk of `len` bytes.
    pub fn on_chunk(&mut self, len: u64) -> ChunkVerdict {
        self.seen = self.seen.saturating_add(len);
        match admit_body(self.seen, self.max_body_bytes) {
            BodyVerdict::Store => ChunkVerdict::Keep,
            BodyVerdict::TooLarge => ChunkVerdict::Drop(NoStoreReason::TooLarge),
        }
    }

    /// Bytes seen so far (the body's length once it ended).
    pub fn seen(&self) -> u64 {
        self.seen
    }
}

/// How a store ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StoreOutcome {
    /// Stored (handed to the Cache API, and held in memory when it fits).
    Stored {
        /// The body's length.
        bytes: u64,
    },
    /// Not stored, for this reason (`too-large`, `store-budget`, `body-broken`, …).
    NotStored(NoStoreReason),
}

impl StoreOutcome {
    /// How the request that claimed the key releases its waiters: to look the key up (in memory,
    /// then in the Cache API), or to ask the origin themselves.
    pub fn release(self) -> Release {
        match self {
            StoreOutcome::Stored { .. } => Release::Filled,
            StoreOutcome::NotStored(_) => Release::Unfilled,
        }
    }
}

struct BudgetState {
    capacity_bytes: u64,
    held_bytes: Cell<u64>,
    high_water_bytes: Cell<u64>,
    in_flight: Cell<u64>,
    stored: Cell<u64>,
    stored_bytes: Cell<u64>,
    too_large: Cell<u64>,
    budget: Cell<u64>,
    broken: Cell<u64>,
}

/// The isolate's budget of bytes held for storing, with its counters. Cheap to clone (shared).
#[derive(Clone)]
pub struct StoreBudget {
    state: Rc<BudgetState>,
}

/// Bytes of the budget held by one body until it is stored or dropped: released on drop.
#[derive(Debug)]
pub struct Reservation {
    state: Rc<BudgetState>,
    bytes: u64,
}

impl std::fmt::Debug for BudgetState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BudgetState")
            .field("held_bytes", &self.held_bytes.get())
            .finish()
    }
}

/// The budget's counters, for the stats endpoint and metrics (per isolate).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct StoreStats {
    /// The budget (`STORE_BUFFER_BYTES`).
    pub budget_bytes: u64,
    /// Bytes reserved now by bodies being stored.
    pub held_bytes: u64,
    /// The most ever reserved at once.
    pub high_water_bytes: u64,
    /// Bodies being stored now.
    pub in_flight: u64,
    /// Bodies stored.
    pub stored: u64,
    /// Their bytes.
    pub stored_bytes: u64,
    /// Bodies refused or dropped after the store decision, by reason.
    pub not_stored: NotStored,
}

impl StoreStats {
    /// The stats endpoint's form: what `serde_json::to_value` makes of it (a test pins it),
    /// built without serde_json's `Value` serializer.
    pub fn to_json(&self) -> serde_json::Value {
        let mut not_stored = serde_json::Map::new();
        for (reason, n) in self.not_stored.by_reason() {
            not_stored.insert(reason.into(), n.into());
        }
        object! {
            "budget_bytes": self.budget_bytes,
            "held_bytes": self.held_bytes,
            "high_water_bytes": self.high_water_bytes,
            "in_flight": self.in_flight,
            "stored": self.stored,
            "stored_bytes": self.stored_bytes,
            "not_stored": not_stored,
        }
    }
}

/// Storable bodies not stored, by reason (the words of `NoStoreReason::as_str`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct NotStored {
    /// Over `CACHE_MAX_BODY_BYTES` (by `Content-Length`, or counted as it arrived).
    #[serde(rename = "too-large")]
    pub too_large: u64,
    /// No room in the budget.
    #[serde(rename = "store-budget")]
    pub budget: u64,
    /// Broken off, or refused by the Cache API.
    #[serde(rename = "body-broken")]
    pub broken: u64,
}

impl NotStored {
    /// `(reason word, count)` for each reason.
    pub fn by_reason(&self) -> [(&'static str, u64); 3] {
        [
            (NoStoreReason::TooLarge.as_str(), self.too_large),
            (NoStoreReason::Budget.as_str(), self.budget),
            (NoStoreReason::Broken.as_str(), self.broken),
        ]
    }
}

impl StoreBudget {
    /// A budget of `capacity_bytes`.
    pub fn new(capacity_bytes: u64) -> StoreBudget {
        StoreBudget {
            state: Rc::new(BudgetState {
                capacity_bytes,
                held_bytes: Cell::new(0),
                high_water_bytes: Cell::new(0),
                in_flight: Cell::new(0),
                stored: Cell::new(0),
                stored_bytes: Cell::new(0),
                too_large: Cell::new(0),
                budget: Cell::new(0),
                broken: Cell::new(0),
            }),
        }
    }

    /// Reserves `bytes`, or `None` when they would take the held bytes over the budget.
    pub fn reserve(&self, bytes: u64) -> Option<Reservation> {
        let s = &self.state;
        let held = s.held_bytes.get().checked_add(bytes)?;
        if held > s.capacity_bytes {
            return None;
        }
        s.held_bytes.set(held);
        s.high_water_bytes.set(s.high_water_bytes.get().max(held));
        s.in_flight.set(s.in_flight.get() + 1);
        Some(Reservation {
            state: s.clone(),
            bytes,
        })
    }

    /// Counts how a store ended (a body not stored for another reason than the body's own —
    /// too large, no room, broken — was never planned, and is not counted here).
    pub fn record(&self, outcome: StoreOutcome) {
        let s = &self.state;
        let counter = match outcome {
            StoreOutcome::Stored { bytes } => {
                s.stored_bytes
                    .set(s.stored_bytes.get().saturating_add(bytes));
                &s.stored
            }
            StoreOutcome::NotStored(NoStoreReason::TooLarge) => &s.too_large,
            StoreOutcome::NotStored(NoStoreReason::Budget) => &s.budget,
            StoreOutcome::NotStored(NoStoreReason::Broken) => &s.broken,
            StoreOutcome::NotStored(_) => return,
        };
        counter.set(counter.get() + 1);
    }

    /// The counters.
    pub fn stats(&self) -> StoreStats {
        let s = &self.state;
        StoreStats {
            budget_bytes: s.capacity_bytes,
            held_bytes: s.held_bytes.get(),
            high_water_bytes: s.high_water_bytes.get(),
            in_flight: s.in_flight.get(),
            stored: s.stored.get(),
            stored_bytes: s.stored_bytes.get(),
            not_stored: NotStored {
                too_large: s.too_large.get(),
                budget: s.budget.get(),
                broken: s.broken.get(),
            },
        }
    }
}

impl Reservation {
    /// Bytes held.
    pub fn bytes(&self) -> u64 {
        self.bytes
    }

    /// Gives back what a body no longer needs (its real length once it ended); never grows.
    pub fn shrink_to(&mut self, bytes: u64) {
        if bytes < self.bytes {
            let s = &self.state;
            s.held_bytes
                .set(s.held_bytes.get().saturating_sub(self.bytes - bytes));
            self.bytes = bytes;
        }
    }
}

impl Drop for Reservation {
    fn drop(&mut self) {
        let s = &self.state;
        s.held_bytes
            .set(s.held_bytes.get().saturating_sub(self.bytes));
        s.in_flight.set(s.in_flight.get().saturating_sub(1));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cache::range::RangeAnswer;

    const MIB: u64 = 1024 * 1024;

    #[test]
    fn stats_read_as_their_serde_form() {
        let stats = StoreStats {
            budget_bytes: 1,
            held_bytes: 2,
            high_water_bytes: 3,
            in_flight: 4,
            stored: 5,
            stored_bytes: 6,
            not_stored: NotStored {
                too_large: 7,
                budget: 8,
                broken: 9,
            },
        };
        assert_eq!(stats.to_json(), serde_json::to_value(&stats).unwrap());
    }

    fn facts(length: Option<u64>) -> BodyFacts {
        BodyFacts {
            length,
            max_body_bytes: 5 * MIB,
            memory_entry_limit: MIB,
        }
    }

    #[test]
    fn the_counter_drops_the_copy_the_moment_it_passes_the_limit() {
        let mut c = BodyCounter::new(10);
        assert_eq!(c.on_chunk(4), ChunkVerdict::Keep);
        assert_eq!(
            c.on_chunk(6),
            ChunkVerdict::Keep,
            "exactly the limit is kept"
        );
        assert_eq!(c.on_chunk(1), ChunkVerdict::Drop(NoStoreReason::TooLarge));
        assert_eq!(c.seen(), 11);
        let mut one = BodyCounter::new(10);
        assert_eq!(
            one.on_chunk(u64::MAX),
            ChunkVerdict::Drop(NoStoreReason::TooLarge)
        );
        assert_eq!(
            one.on_chunk(u64::MAX),
            ChunkVerdict::Drop(NoStoreReason::TooLarge),
            "no overflow"
        );
    }

    #[test]
    fn small_known_bodies_are_read_whole_larger_ones_streamed_unknown_ones_counted() {
        let budget = StoreBudget::new(24 * MIB);
        let p = plan(facts(Some(9_000)), Form::Full, &budget);
        assert_eq!((p.plan, p.form), (BodyPlan::Buffer, Form::Full));
        assert_eq!(p.reservation.as_ref().map(Reservation::bytes), Some(9_000));
        let p = plan(facts(Some(MIB)), Form::Full, &budget);
        assert_eq!(
            p.plan,
            BodyPlan::Stream,
            "the memory tier takes less than 1 MiB"
        );
        let p = plan(facts(None), Form::Head, &budget);
        assert_eq!((p.plan, p.form), (BodyPlan::Count, Form::Head));
        assert_eq!(
            p.reservation.as_ref().map(Reservation::bytes),
            Some(5 * MIB),
            "an unknown length holds the whole limit"
        );
        let mut off = facts(Some(10));
        off.memory_entry_limit = 0;
        assert_eq!(plan(off, Form::Full, &budget).plan, BodyPlan::Stream);
        let p = plan(facts(Some(6 * MIB)), Form::Full, &budget);
        assert_eq!(
            (p.plan, p.reservation.is_none()),
            (BodyPlan::Pass(NoStoreReason::TooLarge), true)
        );
    }

    #[test]
    fn a_range_is_cut_only_from_a_body_read_whole() {
        let budget = StoreBudget::new(24 * MIB);
        let part = Form::Range(RangeAnswer::Partial {
            start: 0,
            end: 9,
            total: 9_000,
        });
        assert_eq!(plan(facts(Some(9_000)), part, &budget).form, part);
        assert_eq!(plan(facts(Some(2 * MIB)), part, &budget).form, Form::Full);
        let none = Form::Range(RangeAnswer::NotSatisfiable { total: 2 * MIB });
        assert_eq!(plan(facts(Some(2 * MIB)), none, &budget).form, none);
        let full = StoreBudget::new(0);
        let p = plan(facts(Some(9_000)), part, &full);
        assert_eq!(
            (p.plan, p.form),
            (BodyPlan::Pass(NoStoreReason::Budget), Form::Full)
        );
    }

    #[test]
    fn a_body_that_finds_no_room_in_the_budget_passes_and_room_comes_back_when_it_is_released() {
        let budget = StoreBudget::new(10 * MIB);
        let a = plan(facts(Some(4 * MIB)), Form::Full, &budget);
        let b = plan(facts(Some(4 * MIB)), Form::Full, &budget);
        assert_eq!((a.plan, b.plan), (BodyPlan::Stream, BodyPlan::Stream));
        let c = plan(facts(Some(4 * MIB)), Form::Full, &budget);
        assert_eq!(c.plan, BodyPlan::Pass(NoStoreReason::Budget));
        let unknown = plan(facts(None), Form::Full, &budget);
        assert_eq!(
            unknown.plan,
            BodyPlan::Pass(NoStoreReason::Budget),
            "an unknown length needs the whole limit free"
        );
        assert_eq!(budget.stats().held_bytes, 8 * MIB);
        assert_eq!(budget.stats().in_flight, 2);
        drop(a);
        assert_eq!(budget.stats().held_bytes, 4 * MIB);
        let d = plan(facts(None), Form::Full, &budget);
        assert_eq!(d.plan, BodyPlan::Count);
        assert_eq!(budget.stats().held_bytes, 9 * MIB);
        assert_eq!(budget.stats().high_water_bytes, 9 * MIB);
        drop((b, d));
        assert_eq!(
            (budget.stats().held_bytes, budget.stats().in_flight),
            (0, 0)
        );
    }

    #[test]
    fn a_counted_body_gives_back_what_it_did_not_need_once_it_ended() {
        let budget = StoreBudget::new(10 * MIB);
        let mut r = budget.reserve(5 * MIB).unwrap();
        r.shrink_to(9_000);
        assert_eq!((r.bytes(), budget.stats().held_bytes), (9_000, 9_000));
        r.shrink_to(MIB);
        assert_eq!(r.bytes(), 9_000, "never grows");
        assert!(budget.reserve(10 * MIB - 9_000).is_some());
        assert!(budget.reserve(10 * MIB - 8_999).is_none());
        assert!(budget.reserve(u64::MAX).is_none(), "no overflow");
        drop(r);
        assert_eq!(budget.stats().held_bytes, 0);
        assert_eq!(budget.stats().high_water_bytes, 10 * MIB);
    }

    #[test]
    fn the_plan_says_in_cache_status_what_is_known_when_the_headers_leave() {
        use crate::cache::status::Outcome;
        let stored = || {
            let mut r = CacheReport::new(Outcome::Miss);
            r.fwd_status = Some(200);
            r.ttl_secs = Some(600);
            r.stored = true;
            r
        };
        let mut r = stored();
        BodyPlan::Stream.report(&mut r);
        assert_eq!(
            r.cache_status(),
            "catalog-edge; fwd=miss; fwd-status=200; ttl=600; stored"
        );
        let mut r = stored();
        BodyPlan::Count.report(&mut r);
        assert_eq!(
            r.cache_status(),
            "catalog-edge; fwd=miss; fwd-status=200; ttl=600; detail=store-pending"
        );
        let mut r = stored();
        BodyPlan::Pass(NoStoreReason::Budget).report(&mut r);
        assert_eq!(
            r.cache_status(),
            "catalog-edge; fwd=miss; fwd-status=200; detail=store-budget"
        );
        assert_eq!(StoreOutcome::Stored { bytes: 1 }.release(), Release::Filled);
        assert_eq!(
            StoreOutcome::NotStored(NoStoreReason::TooLarge).release(),
            Release::Unfilled
        );
    }

    #[test]
    fn outcomes_are_counted_by_reason() {
        let budget = StoreBudget::new(MIB);
        budget.record(StoreOutcome::Stored { bytes: 10 });
        budget.record(StoreOutcome::Stored { bytes: 5 });
        budget.record(StoreOutcome::NotStored(NoStoreReason::TooLarge));
        budget.record(StoreOutcome::NotStored(NoStoreReason::Budget));
        budget.record(StoreOutcome::NotStored(NoStoreReason::Budget));
        budget.record(StoreOutcome::NotStored(NoStoreReason::SetCookie));
        let s = budget.stats();
        assert_eq!((s.stored, s.stored_bytes), (2, 15));
        assert_eq!(
            serde_json::to_value(s.not_stored).unwrap(),
            serde_json::json!({"too-large": 1, "store-budget": 2, "body-broken": 0}),
            "a reason decided before the plan is not the budget's"
        );
        assert_eq!(s.budget_bytes, MIB);
    }
}
