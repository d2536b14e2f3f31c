//! Runs the fetch handler's future without `future_to_promise`'s first hop: the first poll
//! happens inside the `fetch` call itself, so a request that completes without waiting (a memory
//! hit) is answered with an already-resolved promise and no `queueMicrotask` at all.
//!
//! Why: `#[event(fetch)]` hands the handler to `future_to_promise`, which polls it first in a
//! microtask: measured at 18–22 µs of isolate CPU per request with its glue (bench/RESULTS.md,
//! the hit path's profile). Same future, same order of work; only when its first poll runs
//! changes.
//!
//! A wake still schedules the next poll in a microtask (wasm-bindgen-futures' queue), never
//! inline: futures may wake before they record why (`worker::Delay` wakes, then sets its
//! `awoken` flag), and a poll inside the wake would find them still pending, forever.

use crate::vec_map::VecMap;
use std::cell::{Cell, RefCell};
use std::future::Future;
use std::pin::Pin;
use std::rc::Rc;
use std::sync::Arc;
use std::task::{Context, Wake, Waker};

use wasm_bindgen::JsValue;

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

/// Polls task `id` in a microtask, once however often it is woken before then.
fn schedule(id: u32) {
    let Some(task) = TASKS.with(|t| t.borrow().get(&id).cloned()) else {
        return;
    };
    if !task.queued.replace(true) {
        worker::wasm_bindgen_futures::spawn_local(async move { run(id) });
    }
}

/// Polls task `id`; drops it when it is done. Called only from `spawn` and from a microtask,
/// never from inside a poll, so the future is never polled re-entrantly.
fn run(id: u32) {
    let Some(task) = TASKS.with(|t| t.borrow().get(&id).cloned()) else {
        return;
    };
    task.queued.set(false);
    let done = match task.job.borrow_mut().as_mut() {
        Some(job) => job
            .as_mut()
            .poll(&mut Context::from_waker(&task.waker))
            .is_ready(),
        None => true,
    };
    if done {
        let finished = task.job.borrow_mut().take();
        TASKS.with(|t| t.borrow_mut().remove(&id));
        drop(finished);
    }
}

/// Starts `job`, polling it once before returning.
fn spawn(job: impl Future<Output = ()> + 'static) {
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
    run(id);
}

/// Where a future's value goes: kept until the promise exists, or handed to its `resolve`.
enum Settle {
    Pending,
    Ready(JsValue),
    Waiting(js_sys::Function),
}

/// A promise of `future`'s value: already resolved when the first poll completes it.
pub fn promise(future: impl Future<Output = JsValue> + 'static) -> js_sys::Promise {
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
        Settle::Ready(value) => js_sys::Promise::resolve(&value),
        _ => js_sys::Promise::new(&mut |resolve, _reject| {
            *settle.borrow_mut() = Settle::Waiting(resolve);
        }),
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
