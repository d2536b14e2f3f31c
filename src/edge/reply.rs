//! A response under construction, before the edge's own headers are added.

use std::rc::Rc;

use js_sys::ArrayBuffer;
use worker::web_sys::{self, ReadableStream};

use crate::cache::status::CacheReport;
use crate::problem::Problem;
use crate::variant::Variant;

/// A response body.
pub enum Body {
    /// No body.
    Empty,
    /// A stream passed through (e.g. from the origin or the cache).
    Stream(Option<ReadableStream>),
    /// Bytes read from the origin (when the response is also stored).
    Buffer(ArrayBuffer),
    /// Text the edge wrote.
    Text(String),
}

/// Headers the runtime already holds (a stored response's, or the origin's), copied by the runtime
/// when the response is built so that they never cross into Wasm again.
#[derive(Clone)]
pub struct BaseHeaders {
    /// The headers.
    pub headers: web_sys::Headers,
    /// What the reply's headers are to them.
    pub form: BaseForm,
}

/// How a reply's headers relate to its [`BaseHeaders`].
#[derive(Clone)]
pub enum BaseForm {
    /// The reply's headers are edits over the base (a held entry's, already in served form).
    Edits,
    /// Edits over a stored response's headers, whose
    /// [`crate::cache::entry::STRIP_ON_SERVE`] names are removed from the copy first.
    Stored,
    /// The base was read into these pairs (an origin response's): the reply's headers are the
    /// whole list, sent across as its difference from them (`crate::headers::diff`), so that
    /// what sees the reply's headers (`Age`, `Server-Timing`) sees them all.
    Read(Rc<Vec<(String, String)>>),
}

/// A response under construction.
pub struct Reply {
    /// HTTP status.
    pub status: u16,
    /// Headers (lowercase names); with a `base`, as its [`BaseForm`] says.
    pub headers: Vec<(String, String)>,
    /// Headers to start from, when the response is a stored one.
    pub base: Option<BaseHeaders>,
    /// Body.
    pub body: Body,
    /// What the cache did, for cacheable routes.
    pub cache: Option<CacheReport>,
    /// Time to the origin's response headers, when it was contacted.
    pub origin_ms: Option<u64>,
    /// Time spent in cache lookups.
    pub cache_ms: Option<u64>,
    /// Whether the origin failed (5xx, timeout, unreachable).
    pub origin_error: bool,
    /// Route label for logs and metrics (a rule id for proxied requests).
    pub route: Option<String>,
    /// The variant that served a proxied request.
    pub variant: Option<Variant>,
    /// The variant a proxied request was assigned (a canary request that fell back was served
    /// by stable, but counts as the canary's in the analysis).
    pub assigned: Option<Variant>,
    /// The W3C trace id sent to the origin.
    pub trace_id: Option<String>,
}

impl Reply {
    /// A reply with headers and body and nothing else known.
    pub fn new(status: u16, headers: Vec<(String, String)>, body: Body) -> Reply {
        Reply {
            status,
            headers,
            base: None,
            body,
            cache: None,
            origin_ms: None,
            cache_ms: None,
            origin_error: false,
            route: None,
            variant: None,
            assigned: None,
            trace_id: None,
        }
    }

    /// A JSON reply the edge writes itself (never cached by clients or CDNs).
    pub fn json(status: u16, body: String) -> Reply {
        Reply::new(
            status,
            vec![
                (
                    "content-type".into(),
                    "application/json; charset=utf-8".into(),
                ),
                ("cache-control".into(), "no-store".into()),
            ],
            Body::Text(body),
        )
    }

    /// A problem as a JSON reply.
    pub fn problem(problem: &Problem) -> Reply {
        Reply::json(problem.status, problem.to_json())
    }
}

#[cfg(all(test, target_arch = "wasm32"))]
mod tests {
    use super::*;
    use wasm_bindgen_test::wasm_bindgen_test;

    use crate::headers::owned as h;

    #[wasm_bindgen_test]
    fn a_json_reply_is_no_store_json_with_nothing_else_known() {
        let reply = Reply::json(201, "{\"a\":1}".into());
        assert_eq!(reply.status, 201);
        assert_eq!(
            reply.headers,
            h(&[
                ("content-type", "application/json; charset=utf-8"),
                ("cache-control", "no-store"),
            ])
        );
        assert!(matches!(&reply.body, Body::Text(t) if t == "{\"a\":1}"));
        assert!(reply.base.is_none() && reply.cache.is_none() && reply.route.is_none());
        assert!(reply.origin_ms.is_none() && reply.cache_ms.is_none() && !reply.origin_error);
    }

    #[wasm_bindgen_test]
    fn a_problem_reply_carries_its_status_and_json_body() {
        let reply = Reply::problem(&Problem::new(503, "state_unavailable", "KV down"));
        assert_eq!(reply.status, 503);
        let Body::Text(body) = &reply.body else {
            panic!("a problem has a text body");
        };
        let v: serde_json::Value = serde_json::from_str(body).unwrap();
        assert_eq!(v["error"], "state_unavailable");
        assert_eq!(v["detail"], "KV down");
    }

    #[wasm_bindgen_test]
    fn a_reply_over_stored_headers_keeps_them_in_the_runtime() {
        let stored = web_sys::Headers::new().unwrap();
        stored.set("content-type", "text/plain").unwrap();
        let mut reply = Reply::new(200, vec![("age".into(), "5".into())], Body::Empty);
        reply.base = Some(BaseHeaders {
            headers: stored,
            form: BaseForm::Stored,
        });
        let built = super::super::convert::build_response(
            reply.status,
            reply.base.as_ref(),
            &reply.headers,
            reply.body,
        )
        .unwrap();
        assert_eq!(
            super::super::convert::header_pairs(&worker::Headers(built.headers())),
            h(&[("age", "5"), ("content-type", "text/plain")])
        );
    }
}
