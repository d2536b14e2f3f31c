//! Runs the fetch handler's future (and the work a request leaves in `waitUntil`) on a small
//! executor of our own, so that the awaits a request spends its time in cost no more than the
//! promise callback itself.
//!
//! - The fetch task's first poll happens inside the `fetch` call: a request that completes
//!   without waiting (a memory hit) is answered with an already-resolved promise and no
//!   `queueMicrotask` at all. (`#[event(fetch)]` hands the handler to `future_to_promise`, which
//!   polls it first in a microtask: 18–22 µs of isolate CPU per request with its glue.)
//! - [`Await`], the hot awaits' future (the Cache API, the origin fetch, a body read): when its
//!   promise settles, the callback stores the value and polls the waiting task right there, in
//!   the promise reaction, instead of waking it into `wasm-bindgen-futures`' microtask queue
//!   (`JsFuture`: two closures made and dropped per await, a `queueMicrotask`, a spawned task;
//!   ~50–100 µs per request measured on a Cache API hit, bench/RESULTS.md). That is safe there
//!   and only there: a promise reaction runs from the microtask checkpoint with no Rust frame on
//!   the stack, so the poll is never nested in another poll (a nested poll could find a
//!   `RefCell` still borrowed: a panic, a Wasm reset). A poll already running (`POLLING`) or a
//!   task not of this executor falls back to its waker.
//! - Any other wake (a `worker::Delay`, a coalescing watch) still schedules the next poll in a
//!   microtask, never inline: futures may wake before they record why (`worker::Delay` wakes,
//!   then sets its `awoken` flag), and a poll inside the wake would find them still pending,
//!   forever. [`Await`] records its value first, then polls.

use crate::vec_map::VecMap;
use std::cell::{Cell, RefCell};
use std::future::Future;
use std::pin::Pin;
use std::rc::Rc;
use std::sync::Arc;
use std::task::{Context, Wake, Waker};

use wasm_bindgen::closure::Closure;
use wasm_bindgen::prelude::wasm_bindgen;
use wasm_bindgen::{JsCast, JsValue};

type Job = Pin<Box<dyn Future<Output = ()>>>;

/// One spawned future.
struct Task {
    job: RefCell<Option<Job>>,
    waker: Waker,
    /// A poll is already scheduled.
    queued: Cell<bool>,
}

thread_local! {
    // The tasks in flight, by id (ids rise, so a new one goes at the end; a few at a time).
    static TASKS: RefCell<VecMap<u32, Rc<Task>>> = RefCell::new(VecMap::new());
    static NEXT_ID: Cell<u32> = const { Cell::new(0) };
    /// The task being polled, if any: an [`Await`] polled under it resumes it directly.
    static POLLING: Cell<Option<u32>> = const { Cell::new(None) };
    /// Counts polls: two reads of the clock in the same poll see the same time.
    static POLLS: Cell<u64> = const { Cell::new(0) };
}

/// Which poll of this executor is running, if one is: the same value for every call within
/// one poll (one synchronous stretch of the isolate), a new one for the next.
pub fn poll_epoch() -> Option<u64> {
    POLLING.get().map(|_| POLLS.get())
}

/// A waker names its task by id: `Send + Sync` in safe code, the task itself stays in this
/// thread's table.
struct TaskWaker(u32);

impl Wake for TaskWaker {
    fn wake(self: Arc<Self>) {
        schedule(self.0);
    }

    fn wake_by_ref(self: &Arc<Self>) {
        schedule(self.0);
    }
}

/// Polls task `id` in a microtask, once however often it is woken before then: a resolved
/// promise's reaction (src/edge/glue.js `edge_schedule`), V8's own microtask, rather than
/// `wasm-bindgen-futures`' queue (a spawned task and a `queueMicrotask` per wake, which in workerd
/// is a call into the runtime: ~10 µs of a miss by perf, bench/findings.md, session 10).
fn schedule(id: u32) {
    let Some(task) = TASKS.with(|t| t.borrow().get(&id).cloned()) else {
        return;
    };
    if !task.queued.replace(true) {
        if !RUN_READY.replace(true) {
            let run = Closure::<dyn Fn(u32)>::new(run);
            edge_tasks_init(&run.into_js_value());
        }
        edge_schedule(id);
    }
}

/// Polls task `id`; drops it when it is done. Called from `spawn`, from a microtask and from an
/// [`Await`]'s promise callback, never from inside a poll (`POLLING`), so the future is never
/// polled re-entrantly.
fn run(id: u32) {
    let Some(task) = TASKS.with(|t| t.borrow().get(&id).cloned()) else {
        return;
    };
    task.queued.set(false);
    POLLS.set(POLLS.get().wrapping_add(1));
    let outer = POLLING.replace(Some(id));
    let done = match task.job.try_borrow_mut() {
        Ok(mut job) => match job.as_mut() {
            Some(job) => job
                .as_mut()
                .poll(&mut Context::from_waker(&task.waker))
                .is_ready(),
            None => true,
        },
        // Already being polled further up (cannot happen: every caller is outside a poll);
        // poll it again later rather than panic.
        Err(_) => {
            POLLING.set(outer);
            schedule(id);
            return;
        }
    };
    POLLING.set(outer);
    if done {
        let finished = task.job.borrow_mut().take();
        TASKS.with(|t| t.borrow_mut().remove(&id));
        drop(finished);
    }
}

/// Registers `job` as a task of this executor.
fn register(job: impl Future<Output = ()> + 'static) -> u32 {
    let id = NEXT_ID.with(|n| {
        let id = n.get();
        n.set(id.wrapping_add(1));
        id
    });
    let task = Rc::new(Task {
        job: RefCell::new(Some(Box::pin(job))),
        waker: Waker::from(Arc::new(TaskWaker(id))),
        queued: Cell::new(false),
    });
    TASKS.with(|t| t.borrow_mut().insert(id, task));
    id
}

/// Starts `job`, polling it once before returning.
fn spawn(job: impl Future<Output = ()> + 'static) {
    let id = register(job);
    run(id);
}

/// A promise that settles (with `undefined`) when `work` is done, for `waitUntil`. Its first poll
/// is in a microtask, as `future_to_promise` would run it (not inside the caller's poll, which may
/// hold borrows the work needs); its awaits then resume as the fetch task's do.
pub fn background(work: impl Future<Output = ()> + 'static) -> js_sys::Promise {
    let (promise, resolve) = deferred();
    let resolve: Option<js_sys::Function> = resolve.dyn_into().ok();
    let id = register(async move {
        work.await;
        if let Some(resolve) = resolve {
            let _ = resolve.call0(&JsValue::UNDEFINED);
        }
    });
    schedule(id);
    promise
}

/// Where a future's value goes: kept until the promise exists, or handed to its `resolve`.
enum Settle {
    Pending,
    Ready(JsValue),
    Waiting(js_sys::Function),
}

/// A promise of `future`'s value: already resolved when the first poll completes it.
pub fn promise(future: impl Future<Output = JsValue> + 'static) -> js_sys::Promise {
    match value_or_promise(future) {
        Ok(value) => js_sys::Promise::resolve(&value),
        Err(promise) => promise,
    }
}

/// `future`'s value itself when the first poll completes it (`Ok`: what a memory hit does; a
/// fetch handler may return a `Response` as well as a promise of one, and the runtime then
/// skips a promise and its reaction), else a promise of it.
pub fn value_or_promise(
    future: impl Future<Output = JsValue> + 'static,
) -> Result<JsValue, js_sys::Promise> {
    let settle = Rc::new(RefCell::new(Settle::Pending));
    let out = settle.clone();
    spawn(async move {
        let value = future.await;
        let waiting = std::mem::replace(&mut *out.borrow_mut(), Settle::Pending);
        match waiting {
            Settle::Waiting(resolve) => {
                let _ = resolve.call1(&JsValue::UNDEFINED, &value);
            }
            _ => *out.borrow_mut() = Settle::Ready(value),
        }
    });
    let ready = std::mem::replace(&mut *settle.borrow_mut(), Settle::Pending);
    match ready {
        Settle::Ready(value) => Ok(value),
        _ => {
            // `[promise, resolve]` from JS: no Rust closure made, called and dropped.
            let (promise, resolve) = deferred();
            if let Ok(resolve) = resolve.dyn_into::<js_sys::Function>() {
                *settle.borrow_mut() = Settle::Waiting(resolve);
            }
            Err(promise)
        }
    }
}

/// A new promise and its `resolve`.
fn deferred() -> (js_sys::Promise, JsValue) {
    let pair = edge_deferred().unwrap_or_else(|_| {
        let mut resolve = JsValue::UNDEFINED;
        let promise = js_sys::Promise::new(&mut |r, _| resolve = r.into());
        js_sys::Array::of2(&promise, &resolve)
    });
    (pair.get(0).unchecked_into(), pair.get(1))
}

#[wasm_bindgen(module = "/src/edge/glue.js")]
extern "C" {
    fn edge_await_init(resume: &JsValue);
    fn edge_tasks_init(run: &JsValue);
    fn edge_schedule(id: u32);
    // `catch`: called through the glue, not imported from the snippet directly (two direct imports
    // from one snippet make worker-build's bundler warn of a duplicate key).
    #[wasm_bindgen(catch)]
    fn edge_deferred() -> Result<js_sys::Array, JsValue>;
    fn edge_await(promise: &js_sys::Promise, slot: u32);
}

/// Where an [`Await`]'s value is on its way.
enum Slot {
    Free,
    /// The promise has not settled: who to resume when it does.
    Waiting {
        waker: Option<Waker>,
        task: Option<u32>,
    },
    Done(Result<JsValue, JsValue>),
    /// The [`Await`] was dropped before its promise settled; freed when it does.
    Abandoned,
}

thread_local! {
    static SLOTS: RefCell<Vec<Slot>> = const { RefCell::new(Vec::new()) };
    static FREE: RefCell<Vec<u32>> = const { RefCell::new(Vec::new()) };
    /// Set once per isolate: the one callback every [`Await`]'s promise calls.
    static RESUME_READY: Cell<bool> = const { Cell::new(false) };
    /// Set once per isolate: the callback a scheduled poll calls (`schedule`).
    static RUN_READY: Cell<bool> = const { Cell::new(false) };
}

/// A JS promise as a future, resumed from its own callback (module docs). What `JsFuture`
/// gives (`Ok` the value, `Err` the rejection), without its closures and microtask.
pub struct Await {
    slot: u32,
    done: bool,
}

impl Await {
    /// Awaits `promise`.
    pub fn new(promise: &js_sys::Promise) -> Await {
        Await::start(|slot| {
            edge_await(promise, slot);
            Ok(JsValue::UNDEFINED)
        })
    }

    /// Awaits what `begin` starts: a call into src/edge/glue.js given the slot, which settles
    /// it from its own promise's reaction (one `then` where [`Await::new`] on a promise that
    /// function returned would add a second). `begin` answers `undefined` when the slot will be
    /// settled, or the value (`Ok`) or error (`Err`) at once, and the slot is then left alone.
    pub fn start(begin: impl FnOnce(u32) -> Result<JsValue, JsValue>) -> Await {
        if !RESUME_READY.replace(true) {
            let resume = Closure::<dyn Fn(u32, bool, JsValue)>::new(resume);
            edge_await_init(&resume.into_js_value());
        }
        let slot = FREE.with(|f| f.borrow_mut().pop()).unwrap_or_else(|| {
            SLOTS.with(|s| {
                let mut s = s.borrow_mut();
                s.push(Slot::Free);
                (s.len() - 1) as u32
            })
        });
        SLOTS.with(|s| {
            s.borrow_mut()[slot as usize] = Slot::Waiting {
                waker: None,
                task: None,
            }
        });
        match begin(slot) {
            Ok(pending) if pending.is_undefined() => {}
            settled => SLOTS.with(|s| s.borrow_mut()[slot as usize] = Slot::Done(settled)),
        }
        Await { slot, done: false }
    }
}

fn free(slot: u32) {
    SLOTS.with(|s| s.borrow_mut()[slot as usize] = Slot::Free);
    FREE.with(|f| f.borrow_mut().push(slot));
}

impl Future for Await {
    type Output = Result<JsValue, JsValue>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> std::task::Poll<Self::Output> {
        if self.done {
            return std::task::Poll::Ready(Err(JsValue::from_str("await polled after completion")));
        }
        let slot = self.slot;
        let ready = SLOTS.with(|s| {
            let mut s = s.borrow_mut();
            let entry = &mut s[slot as usize];
            if let Slot::Waiting { waker, task } = entry {
                if !waker.as_ref().is_some_and(|w| w.will_wake(cx.waker())) {
                    *waker = Some(cx.waker().clone());
                }
                *task = POLLING.get();
                return None;
            }
            match std::mem::replace(entry, Slot::Free) {
                Slot::Done(value) => Some(value),
                other => {
                    // Not reachable: a live `Await` is Waiting or Done.
                    *entry = other;
                    Some(Err(JsValue::from_str("await in an unknown state")))
                }
            }
        });
        match ready {
            Some(value) => {
                self.done = true;
                free(slot);
                std::task::Poll::Ready(value)
            }
            None => std::task::Poll::Pending,
        }
    }
}

impl Drop for Await {
    fn drop(&mut self) {
        if self.done {
            return;
        }
        let settled = SLOTS.with(|s| {
            let mut s = s.borrow_mut();
            let entry = &mut s[self.slot as usize];
            if matches!(entry, Slot::Waiting { .. }) {
                *entry = Slot::Abandoned;
                false
            } else {
                true
            }
        });
        if settled {
            free(self.slot);
        }
    }
}

/// The promise callback of every [`Await`]: records the value, then polls the waiting task at
/// once when it is this executor's and no poll is running, else wakes it.
fn resume(slot: u32, ok: bool, value: JsValue) {
    let value = if ok { Ok(value) } else { Err(value) };
    let waiting = SLOTS.with(|s| {
        let mut s = s.borrow_mut();
        let entry = s.get_mut(slot as usize)?;
        match std::mem::replace(entry, Slot::Done(value)) {
            Slot::Waiting { waker, task } => Some(Some((waker, task))),
            Slot::Abandoned => {
                *entry = Slot::Free;
                Some(None)
            }
            // Not reachable: a promise settles once, and only a waiting slot has one.
            other => {
                *entry = other;
                None
            }
        }
    });
    let (waker, task) = match waiting {
        Some(Some(waiting)) => waiting,
        Some(None) => {
            // Abandoned: nobody waits for it; the slot is free again.
            free(slot);
            return;
        }
        None => return,
    };
    match (task, POLLING.get()) {
        (Some(id), None) => run(id),
        _ => {
            if let Some(waker) = waker {
                waker.wake();
            }
        }
    }
}

/// Whether `future` completed during its first poll (its value), for tests.
#[cfg(test)]
fn first_poll(future: impl Future<Output = JsValue> + 'static) -> Option<JsValue> {
    let out = Rc::new(RefCell::new(None));
    let put = out.clone();
    spawn(async move {
        *put.borrow_mut() = Some(future.await);
    });
    let value = out.borrow_mut().take();
    value
}

#[cfg(all(test, target_arch = "wasm32"))]
mod tests {
    use super::*;
    use wasm_bindgen::closure::Closure;
    use wasm_bindgen_futures::JsFuture;
    use wasm_bindgen_test::wasm_bindgen_test;
    use worker::wasm_bindgen_futures;

    #[wasm_bindgen_test]
    fn a_future_ready_at_once_is_answered_in_the_first_poll() {
        let value = first_poll(async { JsValue::from(7) });
        assert_eq!(value.and_then(|v| v.as_f64()), Some(7.0));
        let pending = first_poll(async {
            let p = js_sys::Promise::resolve(&JsValue::from(1));
            JsFuture::from(p).await.unwrap()
        });
        assert!(pending.is_none());
    }

    #[wasm_bindgen_test]
    async fn the_promise_resolves_with_the_value_whether_ready_or_waiting() {
        let ready = promise(async { JsValue::from("now") });
        assert_eq!(JsFuture::from(ready).await.unwrap(), "now");
        let later = promise(async {
            let a = JsFuture::from(js_sys::Promise::resolve(&JsValue::from(2)))
                .await
                .unwrap();
            let b = JsFuture::from(js_sys::Promise::resolve(&JsValue::from(3)))
                .await
                .unwrap();
            JsValue::from(a.as_f64().unwrap() * b.as_f64().unwrap())
        });
        assert_eq!(JsFuture::from(later).await.unwrap(), 6);
        TASKS.with(|t| assert!(t.borrow().is_empty(), "finished tasks are dropped"));
    }

    #[wasm_bindgen_test]
    async fn an_await_gives_the_value_or_the_rejection() {
        let ok = Await::new(&js_sys::Promise::resolve(&JsValue::from(5))).await;
        assert_eq!(ok.unwrap(), 5);
        let err = Await::new(&js_sys::Promise::reject(&JsValue::from_str("no"))).await;
        assert_eq!(err.unwrap_err(), "no");
        // Inside a task of this executor, too.
        let p = promise(async {
            let a = Await::new(&js_sys::Promise::resolve(&JsValue::from(2)))
                .await
                .unwrap();
            let b = Await::new(&js_sys::Promise::reject(&JsValue::from(3)))
                .await
                .unwrap_err();
            JsValue::from(a.as_f64().unwrap() * b.as_f64().unwrap())
        });
        assert_eq!(JsFuture::from(p).await.unwrap(), 6);
    }

    #[wasm_bindgen_test]
    async fn a_task_resumes_inside_the_promise_callback_not_a_microtask_later() {
        // The task's callback on `p` is registered first, the test's second: promise
        // reactions run in that order, so the test's sees the task already finished only if
        // the task was polled inside its own callback (a wake would poll it a microtask later).
        let p = js_sys::Promise::resolve(&JsValue::from(1));
        let finished = Rc::new(Cell::new(false));
        let flag = finished.clone();
        let _ = promise(async move {
            Await::new(&p).await.unwrap();
            flag.set(true);
            JsValue::UNDEFINED
        });
        let p = js_sys::Promise::resolve(&JsValue::from(1));
        let seen = Rc::new(Cell::new(None));
        let record = seen.clone();
        let probe = finished.clone();
        let callback = Closure::once(move |_: JsValue| record.set(Some(probe.get())));
        let after = p.then(&callback);
        JsFuture::from(after).await.unwrap();
        assert_eq!(seen.get(), Some(true), "polled inside the promise callback");
    }

    #[wasm_bindgen_test]
    async fn an_await_dropped_before_its_promise_settles_frees_its_slot() {
        let slots = || SLOTS.with(|s| s.borrow().len());
        let pending = js_sys::Promise::resolve(&JsValue::from(1));
        drop(Await::new(&pending));
        // Settles after the drop: its value goes nowhere and the slot is reused.
        JsFuture::from(js_sys::Promise::resolve(&pending))
            .await
            .unwrap();
        let before = slots();
        for _ in 0..10 {
            let v = Await::new(&js_sys::Promise::resolve(&JsValue::from(1))).await;
            assert_eq!(v.unwrap(), 1);
        }
        assert_eq!(slots(), before, "slots are reused, not leaked");
        let free = FREE.with(|f| {
            let mut f = f.borrow().clone();
            let n = f.len();
            f.sort_unstable();
            f.dedup();
            (n, f.len())
        });
        assert_eq!(free.0, free.1, "no slot is free twice");
    }

    #[wasm_bindgen_test]
    async fn a_started_await_is_settled_by_its_slot_or_at_once() {
        let slots = || SLOTS.with(|s| s.borrow().len());
        // Settled later, through the slot it was given (what src/edge/glue.js's folded calls
        // do: here via `edge_await`, which settles the slot from the promise's reaction).
        let later = Await::start(|slot| {
            edge_await(&js_sys::Promise::resolve(&JsValue::from(4)), slot);
            Ok(JsValue::UNDEFINED)
        });
        assert_eq!(later.await.unwrap(), 4);
        // Settled at once: a value, or an error (a synchronous throw), and no resume comes.
        let before = slots();
        for _ in 0..5 {
            let now = Await::start(|_| Ok(JsValue::from_str("now"))).await;
            assert_eq!(now.unwrap(), "now");
            let thrown = Await::start(|_| Err(JsValue::from_str("threw"))).await;
            assert_eq!(thrown.unwrap_err(), "threw");
        }
        assert_eq!(
            slots(),
            before,
            "a slot settled at once is freed and reused"
        );
        // Dropped unpolled after settling at once: freed, not left waiting.
        drop(Await::start(|_| Ok(JsValue::TRUE)));
        let reused = Await::start(|_| Ok(JsValue::NULL)).await;
        assert!(reused.unwrap().is_null());
        assert_eq!(slots(), before);
    }

    #[wasm_bindgen_test]
    async fn background_work_runs_after_its_caller_and_settles_its_promise() {
        let ran = Rc::new(Cell::new(0));
        let count = ran.clone();
        let p = background(async move {
            count.set(count.get() + 1);
            Await::new(&js_sys::Promise::resolve(&JsValue::NULL))
                .await
                .unwrap();
            count.set(count.get() + 1);
        });
        assert_eq!(ran.get(), 0, "not polled inside the call that started it");
        JsFuture::from(p).await.unwrap();
        assert_eq!(ran.get(), 2);
    }

    /// Wakes its task from a promise callback, then records that it fired: the order of
    /// `worker::Delay`'s timer callback (which cannot run in Node, where timers are objects).
    struct WakeThenRecord {
        fired: Rc<Cell<bool>>,
        callback: Option<Closure<dyn FnMut(JsValue)>>,
    }

    impl Future for WakeThenRecord {
        type Output = ();
        fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> std::task::Poll<()> {
            if self.fired.get() {
                return std::task::Poll::Ready(());
            }
            if self.callback.is_none() {
                let waker = cx.waker().clone();
                let fired = self.fired.clone();
                let callback = Closure::new(move |_: JsValue| {
                    waker.wake_by_ref();
                    fired.set(true);
                });
                let _ = js_sys::Promise::resolve(&JsValue::NULL).then(&callback);
                self.callback = Some(callback);
            }
            std::task::Poll::Pending
        }
    }

    #[wasm_bindgen_test]
    async fn a_future_that_wakes_before_it_records_why_still_completes() {
        // A poll inside the wake would see it pending and never be woken again (e2e: coalesced
        // waiters on `worker::Delay` hung).
        let p = promise(async {
            WakeThenRecord {
                fired: Rc::new(Cell::new(false)),
                callback: None,
            }
            .await;
            JsValue::TRUE
        });
        assert_eq!(JsFuture::from(p).await.unwrap(), JsValue::TRUE);
    }

    /// Wakes itself on its first poll, like `yield_now`.
    struct YieldOnce(bool);

    impl Future for YieldOnce {
        type Output = ();
        fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> std::task::Poll<()> {
            if self.0 {
                return std::task::Poll::Ready(());
            }
            self.0 = true;
            cx.waker().wake_by_ref();
            std::task::Poll::Pending
        }
    }

    #[wasm_bindgen_test]
    async fn a_future_that_wakes_itself_is_polled_again_later() {
        assert!(first_poll(async {
            YieldOnce(false).await;
            JsValue::TRUE
        })
        .is_none());
        let p = promise(async {
            YieldOnce(false).await;
            JsValue::TRUE
        });
        assert_eq!(JsFuture::from(p).await.unwrap(), JsValue::TRUE);
    }
}
