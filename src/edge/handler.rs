//! The request pipeline: classify, answer or forward, then add the timing headers.

use worker::wasm_bindgen::JsValue;
use worker::web_sys;
use worker::web_sys::ReadableStream;
use worker::{Context, Env, Headers, Request};

use super::convert;
use super::origin::{self, OriginError, OriginRequest};
use super::platform;
use crate::config::EdgeConfig;
use crate::forward::{self, ClientRequest};
use crate::health::HealthReport;
use crate::problem::Problem;
use crate::route::{self, Route};
use crate::time::UnixMillis;
use crate::timing::{names, ServerTiming};
use crate::trace;

/// A response under construction, before the timing headers are added.
struct Reply {
    status: u16,
    headers: Headers,
    body: Body,
}

enum Body {
    Stream(Option<ReadableStream>),
    Text(String),
}

impl Reply {
    fn problem(problem: &Problem) -> Reply {
        Reply {
            status: problem.status,
            headers: convert::json_headers(),
            body: Body::Text(problem.to_json()),
        }
    }

    fn json(status: u16, body: String) -> Reply {
        Reply {
            status,
            headers: convert::json_headers(),
            body: Body::Text(body),
        }
    }
}

/// Where the time of one request went.
#[derive(Default)]
struct Spans {
    origin_ms: Option<u64>,
}

/// Answers one request. Never fails: every error becomes a JSON problem response.
pub async fn handle(req: Request, env: Env, _ctx: Context) -> Result<web_sys::Response, JsValue> {
    let started = platform::now();
    let state = platform::config(&env);
    let config = state.as_ref().as_ref().ok();
    let mut spans = Spans::default();

    let method = req.method().to_string();
    let path = req.path();
    let reply = match route::classify(&method, &path, config) {
        Route::Health => {
            let (status, report) = match state.as_ref() {
                Ok(c) => HealthReport::new(Some(c.origin_url.as_str()), &[]),
                Err(errors) => HealthReport::new(None, errors),
            };
            let body = serde_json::to_string(&report).unwrap_or_default();
            Reply::json(status, body)
        }
        Route::EdgeNotFound => Reply::problem(&Problem::not_found(&path)),
        Route::Blocked => Reply::problem(&Problem::new(
            404,
            "not_found",
            format!("{path} is not forwarded by the edge"),
        )),
        Route::Proxy => match state.as_ref() {
            Ok(config) => proxy(req, config, &mut spans).await,
            Err(errors) => {
                let errors: Vec<String> = errors.iter().map(ToString::to_string).collect();
                Reply::problem(&Problem::config_invalid(&errors))
            }
        },
    };
    finish(reply, config, started, &spans)
}

/// Forwards the request to the origin and passes its response back.
async fn proxy(req: Request, config: &EdgeConfig, spans: &mut Spans) -> Reply {
    let url = match req.url() {
        Ok(url) => url,
        Err(e) => return Reply::problem(&Problem::internal(format!("unreadable URL: {e}"))),
    };
    let headers = convert::header_pairs(req.headers());
    let find = |name: &str| {
        headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    };
    let trace = trace::plan(find("traceparent"), platform::random_bytes());
    let client = ClientRequest {
        url: &url,
        headers: &headers,
        client_ip: find("cf-connecting-ip"),
    };
    let origin_headers =
        forward::origin_request_headers(&client, &trace.outgoing.to_header(), trace.continued);
    let origin_url = forward::origin_url(&config.origin_url, &url);
    let method = req.method().to_string();
    let body = match method.as_str() {
        "GET" | "HEAD" => None,
        _ => req.inner().body().map(JsValue::from),
    };

    let sent_at = platform::now();
    let result = origin::fetch(
        OriginRequest {
            url: origin_url.as_str(),
            method: &method,
            headers: convert::to_headers(&origin_headers),
            body,
        },
        config.origin_timeout_ms,
    )
    .await;
    spans.origin_ms = Some(platform::now().since(sent_at));

    match result {
        Ok(resp) => {
            let pairs =
                forward::client_response_headers(&convert::header_pairs(&Headers(resp.headers())));
            Reply {
                status: resp.status(),
                headers: convert::to_headers(&pairs),
                body: Body::Stream(resp.body()),
            }
        }
        Err(OriginError::Timeout) => {
            worker::console_warn!(
                "origin timeout after {} ms: {}",
                config.origin_timeout_ms,
                path_only(&origin_url)
            );
            Reply::problem(&Problem::origin_timeout(config.origin_timeout_ms))
        }
        Err(OriginError::Unreachable(reason)) => {
            worker::console_warn!("origin unreachable: {}: {}", path_only(&origin_url), reason);
            Reply::problem(&Problem::origin_unreachable(&reason))
        }
    }
}

/// The URL without its query, for logs (queries may carry personal data).
fn path_only(url: &worker::Url) -> String {
    format!("{}{}", url.origin().ascii_serialization(), url.path())
}

/// Adds `Server-Timing` and `Timing-Allow-Origin`, then builds the response.
fn finish(
    reply: Reply,
    config: Option<&EdgeConfig>,
    started: UnixMillis,
    spans: &Spans,
) -> Result<web_sys::Response, JsValue> {
    let total_ms = platform::now().since(started);
    let mut timing = ServerTiming::new();
    timing.dur(
        names::EDGE,
        total_ms.saturating_sub(spans.origin_ms.unwrap_or(0)) as f64,
    );
    if let Some(origin_ms) = spans.origin_ms {
        timing.dur(names::ORIGIN, origin_ms as f64);
    }
    timing.dur(names::TOTAL, total_ms as f64);
    let _ = reply.headers.append("server-timing", &timing.to_header());
    if let Some(tao) = config.and_then(|c| c.timing_allow_origin.as_deref()) {
        let _ = reply.headers.set("timing-allow-origin", tao);
    }

    let built = match reply.body {
        Body::Stream(stream) => convert::response(reply.status, &reply.headers, stream),
        Body::Text(text) => convert::text_response(reply.status, &reply.headers, &text),
    };
    built.or_else(|e| {
        let problem = Problem::internal(format!(
            "could not build the response: {}",
            convert::js_error_message(&e)
        ));
        worker::console_error!("{}", problem.detail);
        let headers = Headers::new();
        let _ = headers.set("server-timing", &timing.to_header());
        convert::problem_response(&problem, &headers)
    })
}
