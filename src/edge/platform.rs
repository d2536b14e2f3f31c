//! The platform's clock, randomness and configuration memo.

use std::cell::RefCell;
use std::rc::Rc;

use wasm_bindgen::JsValue;
use worker::{web_sys, Env};

use crate::config::{ConfigError, EdgeConfig};
use crate::time::UnixMillis;

thread_local! {
    /// The clock as read in a poll of the fetch executor: (poll, milliseconds).
    static CLOCK: std::cell::Cell<(u64, u64)> = const { std::cell::Cell::new((u64::MAX, 0)) };
}

/// The clock (`Date.now()`: one crossing, no Date object). Read once per poll of the fetch
/// executor (`task`): the runtime's clock only advances between I/O events, never within one
/// synchronous stretch of the isolate, so a second read in the same poll would cross into JS for
/// the same value. Outside the executor (cron, Durable Objects) every call reads it.
pub fn now() -> UnixMillis {
    let Some(poll) = super::task::poll_epoch() else {
        return UnixMillis(js_sys::Date::now() as u64);
    };
    let (at, ms) = CLOCK.get();
    if at == poll {
        return UnixMillis(ms);
    }
    let ms = js_sys::Date::now() as u64;
    CLOCK.set((poll, ms));
    UnixMillis(ms)
}

/// `N` random bytes from the platform's CSPRNG (`crypto.getRandomValues`, through `getrandom`'s
/// `wasm_js` backend), or `None` when it cannot supply them. There is no weaker fallback: a
/// caller that needs an id goes without one rather than get a guessable value (fails closed),
/// and the failure is logged here.
pub fn random_bytes<const N: usize>() -> Option<[u8; N]> {
    let mut out = [0u8; N];
    match getrandom::fill(&mut out) {
        Ok(()) => Some(out),
        Err(e) => {
            worker::console_error!(
                "randomness unavailable ({e}): no id made (no edge_id cookie, no new trace)"
            );
            None
        }
    }
}

/// A `POST` of `body` to `url`, for a Durable Object stub's `fetch`. Built as a
/// `web_sys::Request` (as the origin's are): `worker::RequestInit` would bring its `cf`
/// properties' conversion (serde_wasm_bindgen and every image-resizing option, ~15 KB of Wasm)
/// into the edge for two fields. Same error as `worker::Request::new_with_init`.
pub fn post_request(url: &str, body: &str) -> worker::Result<web_sys::Request> {
    let init = web_sys::RequestInit::new();
    init.set_method("POST");
    init.set_body(&JsValue::from_str(body));
    web_sys::Request::new_with_str_and_init(url, &init).map_err(|e| {
        worker::Error::JsError(
            e.as_string()
                .unwrap_or_else(|| "invalid URL or options for Request".to_string()),
        )
    })
}

/// `this[name](arg)`.
fn call_method(this: &JsValue, name: &str, arg: &JsValue) -> Result<JsValue, JsValue> {
    use wasm_bindgen::JsCast;
    js_sys::Reflect::get(this, &JsValue::from_str(name))?
        .unchecked_into::<js_sys::Function>()
        .call1(this, arg)
}

/// POSTs `body` to `url` on the Durable Object `name` of the namespace bound as `binding`: the
/// answer's status and text (`Response.text()`, decoded by the runtime). `Err(None)`: the binding
/// is not configured; `Err(Some(why))`: the object could not be asked, said as `worker::Error`
/// says it. The one way the edge calls its objects (control plane, shards). The runtime's
/// `getByName` and `fetch` are called directly: `worker`'s namespace, stub, request and response
/// wrappers (and `Response::text`'s chunk-by-chunk Rust streams) are code the edge needs for
/// nothing else.
pub async fn ask_object(
    env: &Env,
    binding: &str,
    name: &str,
    url: &str,
    body: &str,
) -> Result<(u16, String), Option<String>> {
    use wasm_bindgen::JsCast;
    use worker::wasm_bindgen_futures::JsFuture;
    // As `Env::durable_object` finds it: defined, and a `DurableObjectNamespace`.
    let ns = js_sys::Reflect::get(env, &JsValue::from_str(binding))
        .ok()
        .filter(|ns| {
            !ns.is_undefined()
                && js_sys::Object::from(ns.clone()).constructor().name() == "DurableObjectNamespace"
        })
        .ok_or(None)?;
    let failed = |e: JsValue| Some(worker::Error::from(e).to_string());
    let stub = call_method(&ns, "getByName", &JsValue::from_str(name)).map_err(failed)?;
    let req = post_request(url, body).map_err(|e| Some(e.to_string()))?;
    let answer = call_method(&stub, "fetch", &req).map_err(failed)?;
    let resp = JsFuture::from(js_sys::Promise::from(answer))
        .await
        .map_err(failed)?
        .dyn_into::<web_sys::Response>()
        .map_err(failed)?;
    let status = resp.status();
    let text = JsFuture::from(resp.text().map_err(failed)?)
        .await
        .map_err(failed)?;
    Ok((status, text.as_string().unwrap_or_default()))
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
    /// A fetch event (the runtime's context: its work runs on [`super::task`]'s executor).
    Fetch(&'a worker::worker_sys::Context),
    /// A cron trigger (the runtime's context: its work runs on [`super::task`]'s executor too).
    Scheduled(&'a worker::worker_sys::ScheduleContext),
}

impl Waiter<'_> {
    /// Runs `work` after the response, within the event's lifetime.
    pub fn wait_until(&self, work: impl std::future::Future<Output = ()> + 'static) {
        self.wait_until_boxed(Box::pin(work));
    }

    /// [`Self::wait_until`] for one future type: the executor's task machinery is instantiated
    /// once, not once per kind of background work.
    fn wait_until_boxed(&self, work: std::pin::Pin<Box<dyn std::future::Future<Output = ()>>>) {
        let promise = super::task::background(work);
        let refused = match self {
            Waiter::Fetch(ctx) => ctx.wait_until(&promise),
            Waiter::Scheduled(ctx) => ctx.wait_until(promise),
        };
        if let Err(e) = refused {
            worker::console_error!(
                "waitUntil refused background work: {}",
                super::convert::js_error_message(&e)
            );
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

#[cfg(all(test, target_arch = "wasm32"))]
mod tests {
    use super::*;
    use wasm_bindgen_test::wasm_bindgen_test;

    #[wasm_bindgen_test]
    fn random_bytes_come_from_web_crypto_and_differ() {
        let a = random_bytes::<32>().expect("crypto.getRandomValues");
        let b = random_bytes::<32>().expect("crypto.getRandomValues");
        assert_ne!(a, b);
        assert_ne!(a, [0; 32]);
    }

    #[wasm_bindgen_test]
    fn without_web_crypto_there_is_no_random_value_at_all() {
        let crypto = js_sys::Reflect::get(&js_sys::global(), &JsValue::from_str("crypto")).unwrap();
        let name = JsValue::from_str("getRandomValues");
        let broken = js_sys::Function::new_no_args("throw new Error('no entropy')");
        js_sys::Reflect::set(&crypto, &name, &broken).unwrap();
        let got = random_bytes::<16>();
        // Back to the prototype's getRandomValues before asserting.
        js_sys::Reflect::delete_property(&crypto.into(), &name).unwrap();
        assert_eq!(got, None, "no Math.random or any other fallback");
        assert!(random_bytes::<16>().is_some());
    }

    #[wasm_bindgen_test]
    fn the_clock_is_date_now_in_milliseconds() {
        let before = js_sys::Date::now() as u64;
        let now = now().0;
        let after = js_sys::Date::now() as u64;
        assert!(before <= now && now <= after);
        assert!(now > 1_700_000_000_000, "milliseconds since 1970: {now}");
    }

    #[wasm_bindgen_test]
    fn the_colo_is_read_from_request_cf_without_trusting_its_shape() {
        let req = worker::web_sys::Request::new_with_str("https://edge.example.rs/").unwrap();
        assert_eq!(colo(&req), None);
        let cf = js_sys::Object::new();
        js_sys::Reflect::set(&req, &JsValue::from_str("cf"), &cf).unwrap();
        assert_eq!(colo(&req), None);
        js_sys::Reflect::set(&cf, &JsValue::from_str("colo"), &JsValue::from_f64(7.0)).unwrap();
        assert_eq!(colo(&req), None);
        js_sys::Reflect::set(&cf, &JsValue::from_str("colo"), &JsValue::from_str("BEG")).unwrap();
        assert_eq!(colo(&req).as_deref(), Some("BEG"));
    }
}
