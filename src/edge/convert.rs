//! The one place that converts between `worker`/`web_sys` types and the core's plain values.

use worker::js_sys;
use worker::wasm_bindgen::JsValue;
use worker::web_sys;
use worker::web_sys::ReadableStream;
use worker::Headers;

use super::reply::BaseHeaders;
use crate::problem::Problem;

/// Header pairs (lowercase names, in order; `Set-Cookie` values kept apart) from a `Headers`
/// object. One `Array.from` and one `JSON.stringify` on the JS side and one parse in Wasm,
/// instead of three JS↔Wasm crossings and a string copy per header.
pub fn header_pairs(headers: &Headers) -> Vec<(String, String)> {
    let array = js_sys::Array::from(&headers.0);
    js_sys::JSON::stringify(&array)
        .ok()
        .and_then(|json| json.as_string())
        .and_then(|json| serde_json::from_str(&json).ok())
        .unwrap_or_else(|| headers.entries().collect())
}

/// A fresh, mutable `Headers` object from pairs: one `JSON.parse` and one constructor call. When
/// the runtime refuses a pair (e.g. garbage from an origin), the pairs are appended one by one
/// and only the refused ones are dropped, rather than failing the whole response.
pub fn to_headers(pairs: &[(String, String)]) -> Headers {
    let built = serde_json::to_string(pairs)
        .ok()
        .and_then(|json| js_sys::JSON::parse(&json).ok())
        .and_then(|array| web_sys::Headers::new_with_str_sequence_sequence(&array).ok());
    if let Some(h) = built {
        return Headers(h);
    }
    let headers = Headers::new();
    for (name, value) in pairs {
        let _ = headers.append(name, value);
    }
    headers
}

/// A copy of `base` made by the runtime, with the stored-only names removed when asked and
/// `edits` applied: the first value of each name replaces the base's, later values of the same
/// name (and every `Set-Cookie`) are appended. A value the runtime refuses is dropped alone.
pub fn edited_headers(base: &BaseHeaders, edits: &[(String, String)]) -> Headers {
    let headers = web_sys::Headers::new_with_headers(&base.headers)
        .map(Headers)
        .unwrap_or_else(|_| Headers::new());
    if base.strip {
        for name in crate::cache::entry::STRIP_ON_SERVE {
            let _ = headers.delete(name);
        }
    }
    for (i, (name, value)) in edits.iter().enumerate() {
        let repeated = name == "set-cookie" || edits[..i].iter().any(|(n, _)| n == name);
        let _ = if repeated {
            headers.append(name, value)
        } else {
            headers.set(name, value)
        };
    }
    headers
}

/// Statuses whose responses must have a null body (Fetch spec "null body status").
fn is_null_body_status(status: u16) -> bool {
    matches!(status, 101 | 103 | 204 | 205 | 304)
}

/// Builds a response; never panics. A body on a null-body status is dropped.
pub fn response(
    status: u16,
    headers: &Headers,
    body: Option<ReadableStream>,
) -> Result<web_sys::Response, JsValue> {
    let init = web_sys::ResponseInit::new();
    init.set_status(status);
    init.set_headers(&headers.0);
    let body = if is_null_body_status(status) {
        None
    } else {
        body
    };
    web_sys::Response::new_with_opt_readable_stream_and_init(body.as_ref(), &init)
}

/// Builds a response from bytes in an `ArrayBuffer`; never panics.
pub fn buffer_response(
    status: u16,
    headers: &Headers,
    body: &worker::js_sys::ArrayBuffer,
) -> Result<web_sys::Response, JsValue> {
    let init = web_sys::ResponseInit::new();
    init.set_status(status);
    init.set_headers(&headers.0);
    if is_null_body_status(status) {
        return web_sys::Response::new_with_opt_str_and_init(None, &init);
    }
    let bytes = worker::js_sys::Uint8Array::new(body);
    web_sys::Response::new_with_opt_buffer_source_and_init(Some(&bytes), &init)
}

/// Builds a response with a text body; never panics.
pub fn text_response(
    status: u16,
    headers: &Headers,
    body: &str,
) -> Result<web_sys::Response, JsValue> {
    let init = web_sys::ResponseInit::new();
    init.set_status(status);
    init.set_headers(&headers.0);
    let body = if is_null_body_status(status) {
        None
    } else {
        Some(body)
    };
    web_sys::Response::new_with_opt_str_and_init(body, &init)
}

/// A problem as a JSON response; `headers` receives the content type.
pub fn problem_response(
    problem: &Problem,
    headers: &Headers,
) -> Result<web_sys::Response, JsValue> {
    let _ = headers.set("content-type", "application/json; charset=utf-8");
    let _ = headers.set("cache-control", "no-store");
    text_response(problem.status, headers, &problem.to_json())
}

/// A message from a JS error value, for logs and problem details.
pub fn js_error_message(err: &JsValue) -> String {
    if let Some(s) = err.as_string() {
        return s;
    }
    worker::js_sys::Reflect::get(err, &JsValue::from_str("message"))
        .ok()
        .and_then(|m| m.as_string())
        .unwrap_or_else(|| format!("{err:?}"))
}
