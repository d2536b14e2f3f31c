//! Fetching from the origin with a timeout on the response headers.

use std::time::Duration;

use futures::future::{select, Either};
use worker::wasm_bindgen::{JsCast, JsValue};
use worker::web_sys;
use worker::{AbortController, Delay, Headers};

use super::convert::js_error_message;

/// Why the origin gave no response.
#[derive(Debug)]
pub enum OriginError {
    /// No response headers within the timeout.
    Timeout,
    /// The connection failed or broke before a response.
    Unreachable(String),
}

/// A request to the origin.
pub struct OriginRequest<'a> {
    /// Absolute origin URL.
    pub url: &'a str,
    /// HTTP method.
    pub method: &'a str,
    /// Headers to send.
    pub headers: Headers,
    /// Request body, streamed through.
    pub body: Option<JsValue>,
}

/// Sends the request; resolves with the origin's response once its headers arrived, or an error.
/// Redirects are passed back to the client, not followed.
pub async fn fetch(
    req: OriginRequest<'_>,
    timeout_ms: u64,
) -> Result<web_sys::Response, OriginError> {
    let controller = AbortController::default();
    let init = web_sys::RequestInit::new();
    init.set_method(req.method);
    init.set_headers(&req.headers.0);
    init.set_redirect(web_sys::RequestRedirect::Manual);
    if let Some(body) = &req.body {
        init.set_body(body);
    }
    init.set_signal(Some(&controller.signal()));
    let request = web_sys::Request::new_with_str_and_init(req.url, &init)
        .map_err(|e| OriginError::Unreachable(js_error_message(&e)))?;

    let global: web_sys::WorkerGlobalScope = worker::js_sys::global().unchecked_into();
    let fetch = worker::wasm_bindgen_futures::JsFuture::from(global.fetch_with_request(&request));
    let timeout = Delay::from(Duration::from_millis(timeout_ms));
    futures::pin_mut!(fetch);
    futures::pin_mut!(timeout);
    match select(fetch, timeout).await {
        Either::Left((Ok(value), _)) => value
            .dyn_into::<web_sys::Response>()
            .map_err(|_| OriginError::Unreachable("fetch returned a non-Response".into())),
        Either::Left((Err(e), _)) => Err(OriginError::Unreachable(js_error_message(&e))),
        Either::Right(((), _)) => {
            controller.abort();
            Err(OriginError::Timeout)
        }
    }
}
