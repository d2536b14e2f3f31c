//! Fetching from the origin with a timeout on the response headers.

use std::time::Duration;

use futures::future::{select, Either};
use wasm_bindgen::{JsCast, JsValue};
use worker::web_sys;
use worker::{AbortController, Delay};

use super::convert::{js_error_message, to_headers};
use super::platform;
use crate::canary::{self, config::RolloutConfig};
use crate::forward::{self, ClientRequest};
use crate::headers;
use crate::trace;
use crate::variant::Variant;

/// Why the origin gave no response.
#[derive(Debug, Clone)]
pub enum OriginError {
    /// No response headers within the timeout.
    Timeout,
    /// The connection failed or broke before a response.
    Unreachable(String),
}

/// A request to the origin, owned so that background refreshes can repeat it.
#[derive(Debug, Clone)]
pub struct OriginCall {
    /// Absolute origin URL.
    pub url: String,
    /// HTTP method.
    pub method: String,
    /// Headers to send (already filtered by `forward`).
    pub headers: Vec<(String, String)>,
    /// Time allowed to the response headers.
    pub timeout_ms: u64,
    /// Where to retry once when this (canary) origin fails: the stable origin's URL.
    pub fallback_url: Option<String>,
    /// The W3C trace id sent to the origin.
    pub trace_id: String,
}

/// Which origin serves a variant, and where a failing canary request is retried.
#[derive(Debug, Clone)]
pub struct OriginChoice {
    /// The variant's origin.
    pub base: worker::Url,
    /// The stable origin, when the variant is the canary and fallback is on.
    pub fallback: Option<worker::Url>,
}

impl OriginChoice {
    /// The origin of `variant` under `rollout`.
    pub fn of(rollout: &RolloutConfig, variant: Variant) -> OriginChoice {
        match (variant, &rollout.canary_origin) {
            (Variant::Canary, Some(canary)) => OriginChoice {
                base: canary.clone(),
                fallback: rollout
                    .fallback_to_stable
                    .then(|| rollout.stable_origin.clone()),
            },
            _ => OriginChoice {
                base: rollout.stable_origin.clone(),
                fallback: None,
            },
        }
    }
}

impl OriginCall {
    /// The origin request for a client request: URL, filtered headers, and a trace context
    /// (the client's continued, or a new one).
    pub fn new(
        origin: &OriginChoice,
        url: &worker::Url,
        headers: &[(String, String)],
        method: &str,
        timeout_ms: u64,
    ) -> OriginCall {
        let trace = trace::plan(
            headers::get(headers, "traceparent"),
            platform::random_bytes(),
        );
        let traceparent = trace.outgoing.map(|t| t.to_header());
        let client = ClientRequest {
            url,
            headers,
            client_ip: headers::get(headers, "cf-connecting-ip"),
        };
        OriginCall {
            url: forward::origin_url(&origin.base, url).to_string(),
            method: method.to_string(),
            headers: forward::origin_request_headers(
                &client,
                traceparent.as_deref(),
                trace.continued,
            ),
            timeout_ms,
            // Empty when no trace could be started (no randomness; logged by `platform`).
            trace_id: trace.outgoing.map(|t| t.trace_id_hex()).unwrap_or_default(),
            fallback_url: origin
                .fallback
                .as_ref()
                .map(|f| forward::origin_url(f, url).to_string()),
        }
    }
}

/// An origin response (or failure) and how long it took to its headers.
pub struct OriginReply {
    /// The response, or why there is none.
    pub result: Result<web_sys::Response, OriginError>,
    /// Milliseconds to the response headers (or to the failure), retries included.
    pub dur_ms: u64,
    /// Whether the answer came from the fallback (stable) origin after the canary failed.
    pub fell_back: bool,
}

impl OriginCall {
    /// Sends the request with `extra` headers (e.g. conditional ones) and an optional body.
    /// Redirects are passed back to the client, not followed.
    pub async fn send(&self, extra: &[(String, String)], body: Option<JsValue>) -> OriginReply {
        let started = platform::now();
        let may_fall_back = self.fallback_url.is_some()
            && canary::may_retry_on_stable(&self.method, body.is_some(), !extra.is_empty());
        let mut result = self.fetch(&self.url, extra, body).await;
        let mut fell_back = false;
        let failed = match &result {
            Err(_) => true,
            Ok(r) => crate::cache::classify::is_failure(r.status()),
        };
        if failed && may_fall_back {
            if let Some(url) = &self.fallback_url {
                worker::console_warn!("canary origin failed; retrying against stable");
                result = self.fetch(url, &[], None).await;
                fell_back = true;
            }
        }
        OriginReply {
            result,
            dur_ms: platform::now().since(started),
            fell_back,
        }
    }

    async fn fetch(
        &self,
        url: &str,
        extra: &[(String, String)],
        body: Option<JsValue>,
    ) -> Result<web_sys::Response, OriginError> {
        let controller = AbortController::default();
        let headers = to_headers(&self.headers);
        for (name, value) in extra {
            let _ = headers.set(name, value);
        }
        let init = web_sys::RequestInit::new();
        init.set_method(&self.method);
        init.set_headers(&headers.0);
        init.set_redirect(web_sys::RequestRedirect::Manual);
        if let Some(body) = &body {
            init.set_body(body);
        }
        init.set_signal(Some(&controller.signal()));
        let request = web_sys::Request::new_with_str_and_init(url, &init)
            .map_err(|e| OriginError::Unreachable(js_error_message(&e)))?;

        let global: web_sys::WorkerGlobalScope = js_sys::global().unchecked_into();
        let fetch =
            worker::wasm_bindgen_futures::JsFuture::from(global.fetch_with_request(&request));
        let timeout = Delay::from(Duration::from_millis(self.timeout_ms));
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
}
