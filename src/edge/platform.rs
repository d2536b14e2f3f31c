//! The platform's clock, randomness and configuration memo.

use std::cell::RefCell;
use std::rc::Rc;

use worker::js_sys;
use worker::wasm_bindgen::{JsCast, JsValue};
use worker::{Context, Env, ScheduleContext};

use crate::config::{ConfigError, EdgeConfig};
use crate::time::UnixMillis;

/// The clock, read once per request and passed down as a value.
pub fn now() -> UnixMillis {
    // `Date.now()` itself: one crossing, no Date object.
    UnixMillis(js_sys::Date::now() as u64)
}

/// `N` random bytes from `crypto.getRandomValues`, falling back to `Math.random` should the
/// Web Crypto API be missing (it never is on Workers; the fallback keeps this infallible).
pub fn random_bytes<const N: usize>() -> [u8; N] {
    let mut out = [0u8; N];
    let array = js_sys::Uint8Array::new_with_length(N as u32);
    let filled = (|| -> Option<()> {
        let crypto = js_sys::Reflect::get(&js_sys::global(), &JsValue::from_str("crypto")).ok()?;
        let get: js_sys::Function =
            js_sys::Reflect::get(&crypto, &JsValue::from_str("getRandomValues"))
                .ok()?
                .dyn_into()
                .ok()?;
        get.call1(&crypto, &array).ok()?;
        Some(())
    })();
    if filled.is_some() {
        array.copy_to(&mut out);
    } else {
        for b in out.iter_mut() {
            *b = (js_sys::Math::random() * 256.0) as u8;
        }
    }
    out
}

/// The parsed configuration, or why it is invalid.
pub type ConfigState = Result<EdgeConfig, Vec<ConfigError>>;

thread_local! {
    // Wrangler vars are fixed for the life of an isolate, so parse them once. A panic resets the
    // instance and with it this memo, which is then rebuilt from the vars: nothing is lost.
    static CONFIG: RefCell<Option<Rc<ConfigState>>> = const { RefCell::new(None) };
}

/// The configuration from the worker's vars and secrets, parsed once per isolate.
pub fn config(env: &Env) -> Rc<ConfigState> {
    CONFIG.with(|memo| {
        if let Some(state) = memo.borrow().as_ref() {
            return state.clone();
        }
        let state = Rc::new(EdgeConfig::from_vars(|name| {
            env.var(name)
                .map(|v| v.to_string())
                .or_else(|_| env.secret(name).map(|v| v.to_string()))
                .ok()
        }));
        *memo.borrow_mut() = Some(state.clone());
        state
    })
}

/// Whichever event context can keep work alive after the response (`waitUntil`).
pub enum Waiter<'a> {
    /// A fetch event.
    Fetch(&'a Context),
    /// A cron trigger.
    Scheduled(&'a ScheduleContext),
}

impl Waiter<'_> {
    /// Runs `work` after the response, within the event's lifetime.
    pub fn wait_until(&self, work: impl std::future::Future<Output = ()> + 'static) {
        match self {
            Waiter::Fetch(ctx) => ctx.wait_until(work),
            Waiter::Scheduled(ctx) => ctx.wait_until(work),
        }
    }
}

/// The Cloudflare data centre of a request (`request.cf.colo`), read without trusting its shape.
pub fn colo(req: &worker::web_sys::Request) -> Option<String> {
    let cf = js_sys::Reflect::get(req, &JsValue::from_str("cf")).ok()?;
    if cf.is_undefined() || cf.is_null() {
        return None;
    }
    js_sys::Reflect::get(&cf, &JsValue::from_str("colo"))
        .ok()?
        .as_string()
}
