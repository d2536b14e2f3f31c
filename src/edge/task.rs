//! Runs the fetch handler's future without wasm-bindgen-futures' queue: the first poll happens
//! inside the `fetch` call itself, and every later poll inside the wake that makes it ready (the
//! callback of the promise it awaited) instead of one `queueMicrotask` later. A request that
//! completes without waiting (a memory hit) is answered with an already-resolved promise.
//!
//! Why: `#[event(fetch)]` hands the handler to `future_to_promise`, which polls it first in a
//! microtask and re-polls it in another microtask after each wake: measured at 18–22 µs of
//! isolate CPU per hop (bench/RESULTS.md, the hit path's profile). Same futures, same order of
//! work; only when a poll runs changes.
//!
//! A waker only ever comes from the request's own I/O (its promises and timers), so a poll run
//! inside a wake runs in that request's context. A future woken while it is being polled (one
//! that wakes itself) is polled again a microtask later, as before, so it cannot spin.

use std::cell::{Cell, RefCell};
use std::collections::HashMap;
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
    running: Cell<bool>,
    woken_while_running: Cell<bool>,
}

thread_local! {
    static TASKS: RefCell<HashMap<u32, Rc<Task>>> = RefCell::new(HashMap::new());
    static NEXT_ID: Cell<u32> = const { Cell::new(0) };
}

/// A waker names its task by id: `Send + Sync` in safe code, the task itself stays in this
/// thread's table.
struct TaskWaker(u32);

impl Wake for TaskWaker {
    fn wake(self: Arc<Self>) {
        run(self.0);
    }

    fn wake_by_ref(self: &Arc<Self>) {
        run(self.0);
    }
}

/// Polls task `id` now, unless it is already being polled (then once more, a microtask later).
fn run(id: u32) {
    let Some(task) = TASKS.with(|t| t.borrow().get(&id).cloned()) else {
        return;
    };
    if task.running.replace(true) {
        task.woken_while_running.set(true);
        return;
    }
    task.woken_while_running.set(false);
    let done = match task.job.borrow_mut().as_mut() {
        Some(job) => job
            .as_mut()
            .poll(&mut Context::from_waker(&task.waker))
            .is_ready(),
        None => true,
    };
    task.running.set(false);
    if done {
        let finished = task.job.borrow_mut().take();
        TASKS.with(|t| t.borrow_mut().remove(&id));
        drop(finished);
    } else if task.woken_while_running.get() {
        worker::wasm_bindgen_futures::spawn_local(async move { run(id) });
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
        running: Cell::new(false),
        woken_while_running: Cell::new(false),
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

    #[wasm_bindgen_test]
    async fn an_awaited_promise_resumes_the_future_in_its_own_callback() {
        // wasm-bindgen-futures would resume the task a microtask after the promise's callback,
        // after the marker queued behind it; this executor resumes it in the callback itself.
        let order = Rc::new(RefCell::new(Vec::new()));
        let seen = order.clone();
        spawn(async move {
            JsFuture::from(js_sys::Promise::resolve(&JsValue::NULL))
                .await
                .unwrap();
            seen.borrow_mut().push("task");
        });
        let marked = order.clone();
        let marker = Closure::once(move |_: JsValue| marked.borrow_mut().push("marker"));
        let after = js_sys::Promise::resolve(&JsValue::NULL).then(&marker);
        JsFuture::from(after).await.unwrap();
        assert_eq!(*order.borrow(), ["task", "marker"]);
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
    async fn a_future_that_wakes_itself_is_polled_again_later_not_in_a_loop() {
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
