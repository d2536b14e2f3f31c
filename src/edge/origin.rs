//! Fetching from the origin with a timeout on the response headers.

use wasm_bindgen::prelude::wasm_bindgen;
use wasm_bindgen::{JsCast, JsValue};
use worker::web_sys;

use super::convert::js_error_message;
use super::platform;
use super::task::Await;
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
    pub base: crate::web_url::Url,
    /// The stable origin, when the variant is the canary and fallback is on.
    pub fallback: Option<crate::web_url::Url>,
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
        url: &crate::web_url::Url,
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
            url: forward::origin_url(&origin.base, url),
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
                .map(|f| forward::origin_url(f, url)),
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
        let headers = super::convert::pairs_text(&self.headers);
        let extra = super::convert::pairs_text(extra);
        let body = body.unwrap_or(JsValue::UNDEFINED);
        // `timeout_ms` is bounded by the config (`ORIGIN_TIMEOUT_MS`); the JS timer takes f64.
        let sent = Await::start(|slot| {
            edge_origin_fetch(
                url,
                &self.method,
                &headers,
                &extra,
                &body,
                self.timeout_ms as f64,
                slot,
            )
        });
        let settled = match sent.await {
            Ok(v) => v,
            Err(e) => return Err(OriginError::Unreachable(js_error_message(&e))),
        };
        let settled: js_sys::Array = settled
            .dyn_into()
            .map_err(|_| OriginError::Unreachable("fetch settled with a non-array".into()))?;
        match settled.get(0).as_f64().map(|k| k as u8) {
            Some(0) => settled
                .get(1)
                .dyn_into::<web_sys::Response>()
                .map_err(|_| OriginError::Unreachable("fetch returned a non-Response".into())),
            Some(2) => Err(OriginError::Timeout),
            _ => Err(OriginError::Unreachable(
                settled.get(1).as_string().unwrap_or_default(),
            )),
        }
    }
}

#[wasm_bindgen(module = "/src/edge/glue.js")]
extern "C" {
    /// The origin request in one call: headers (`convert::pairs_text`; a pair the runtime refuses is dropped
    /// alone), `extra` set over them, no redirect following, and a timer that aborts the fetch
    /// when no response headers came within `timeout_ms` (cleared as soon as they do, so a body
    /// that takes longer is not cut). Settles the [`Await`] slot with `[0, response]`, `[1,
    /// why]` or `[2, null]` (timed out), never with an error; answers `[1, why]` at once when
    /// the request cannot be made, `undefined` otherwise.
    #[wasm_bindgen(catch)]
    fn edge_origin_fetch(
        url: &str,
        method: &str,
        headers: &str,
        extra: &str,
        body: &JsValue,
        timeout_ms: f64,
        slot: u32,
    ) -> Result<JsValue, JsValue>;
}
