//! The one place that converts between `worker`/`web_sys` types and the core's plain values.

use wasm_bindgen::prelude::wasm_bindgen;
use wasm_bindgen::JsValue;
use worker::web_sys;
use worker::web_sys::ReadableStream;
use worker::Headers;

use super::reply::{BaseForm, BaseHeaders, Body};
use crate::problem::Problem;

/// Header pairs (lowercase names, in order; `Set-Cookie` values kept apart) from a `Headers`
/// object: one call into the runtime and one string, a name or value a line
/// (`headers::pairs_from_lines`), instead of three JS↔Wasm crossings and a string copy per header.
pub fn header_pairs(headers: &Headers) -> Vec<(String, String)> {
    edge_header_lines(&headers.0)
        .ok()
        .flatten()
        .and_then(|text| crate::headers::pairs_from_lines(&text))
        .unwrap_or_else(|| {
            worker::console_warn!("headers not readable as lines: read one by one");
            headers.entries().collect()
        })
}

#[wasm_bindgen(inline_js = r#"
export function edge_header_lines(headers) {
  let out = "";
  for (const [n, v] of headers) {
    // Never from the runtime's Headers; if it were, the lines would shift: read them one by one.
    if (v.includes("\n")) return undefined;
    out += out === "" ? n + "\n" + v : "\n" + n + "\n" + v;
  }
  return out;
}
"#)]
extern "C" {
    #[wasm_bindgen(catch)]
    fn edge_header_lines(headers: &web_sys::Headers) -> Result<Option<String>, JsValue>;
}

/// What the edge reads of every request, in one call into the runtime (one string across the
/// boundary instead of a call per field: method, URL, `cf.colo`, and the headers as
/// [`header_pairs`] reads them).
pub struct Incoming {
    /// The method as sent (an unknown one too).
    pub method: String,
    /// The URL as the runtime serialised it.
    pub url: String,
    /// The Cloudflare data centre (`request.cf.colo`), when the runtime gave one as a string.
    pub colo: Option<String>,
    /// Lowercase names, in order; `Set-Cookie` values kept apart.
    pub headers: Vec<(String, String)>,
}

#[wasm_bindgen(inline_js = r#"
export function edge_incoming(req) {
  const cf = req.cf;
  const colo = cf !== undefined && cf !== null && typeof cf.colo === "string" ? cf.colo : "";
  if (colo.includes("\n")) return undefined;
  let out = req.method + "\n" + req.url + "\n" + colo;
  for (const [n, v] of req.headers) out += "\n" + n + "\n" + v;
  return out;
}
"#)]
extern "C" {
    #[wasm_bindgen(catch)]
    fn edge_incoming(req: &web_sys::Request) -> Result<Option<String>, JsValue>;
}

/// A request's [`Incoming`]: one call and one string (`headers::from_lines`: a field a line, no
/// escaping, no JSON); field by field if that fails.
pub fn incoming(req: &web_sys::Request) -> Incoming {
    let text = edge_incoming(req).ok().flatten();
    let read = text.as_deref().and_then(crate::headers::from_lines);
    match read {
        Some((method, url, colo, headers)) => Incoming {
            method: method.to_owned(),
            url: url.to_owned(),
            colo: colo.map(str::to_owned),
            headers,
        },
        None => {
            worker::console_warn!("request not readable as lines: read field by field");
            Incoming {
                method: req.method(),
                url: req.url(),
                colo: super::platform::colo(req),
                headers: header_pairs(&Headers(req.headers())),
            }
        }
    }
}

/// A fresh, mutable `Headers` object from pairs: one string ([`pairs_text`]) and one call. When
/// the runtime refuses a pair (e.g. garbage from an origin), only that pair is dropped, rather
/// than failing the whole response.
pub fn to_headers(pairs: &[(String, String)]) -> Headers {
    match edge_headers(&pairs_text(pairs)) {
        Ok(h) => return Headers(h),
        Err(e) => worker::console_warn!("headers not built in one call: {}", js_error_message(&e)),
    }
    let headers = Headers::new();
    for (name, value) in pairs {
        let _ = headers.append(name, value);
    }
    headers
}

#[wasm_bindgen(module = "/src/edge/glue.js")]
extern "C" {
    #[wasm_bindgen(catch)]
    fn edge_headers(pairs: &str) -> Result<web_sys::Headers, JsValue>;
    #[wasm_bindgen(catch)]
    fn edge_build_response(
        base: Option<&web_sys::Headers>,
        strip: Option<&str>,
        edits: &str,
        status: u16,
        body: &JsValue,
    ) -> Result<web_sys::Response, JsValue>;
    #[wasm_bindgen(catch)]
    fn edge_headers_over(
        base: &web_sys::Headers,
        strip: Option<&str>,
        edits: &str,
    ) -> Result<web_sys::Headers, JsValue>;
    #[wasm_bindgen(catch)]
    fn edge_cache_put(
        key: &str,
        status: u16,
        base: Option<&web_sys::Headers>,
        strip: Option<&str>,
        edits: &str,
        body: &JsValue,
    ) -> Result<js_sys::Promise, JsValue>;
}

thread_local! {
    static STRIP_NAMES: String = crate::cache::entry::STRIP_ON_SERVE.join(",");
}

/// `headers` as they cross to the runtime over `base`: the names to delete from the base's copy
/// (none: `None`) and the text of the pairs to apply to it (see [`build_response`]); for a
/// [`BaseForm::Read`] base, only what differs from it.
fn over_base<R>(
    base: Option<&BaseHeaders>,
    headers: &[(String, String)],
    f: impl FnOnce(Option<&str>, &str) -> R,
) -> R {
    match base.map(|b| &b.form) {
        Some(BaseForm::Read(pairs)) => {
            let diff = crate::headers::diff(pairs, headers);
            let strip = diff.strip.join(",");
            f(
                (!strip.is_empty()).then_some(strip.as_str()),
                &pairs_text(&diff.edits),
            )
        }
        Some(BaseForm::Stored) => STRIP_NAMES.with(|names| f(Some(names), &pairs_text(headers))),
        Some(BaseForm::Edits) | None => f(None, &pairs_text(headers)),
    }
}

/// A fresh, mutable `Headers` object holding `headers`, copied by the runtime from `base` with
/// only the difference sent across (see [`BaseForm`]); `None` (and a log line, as
/// [`to_headers`] writes) when the runtime refused the call: the caller then builds them whole.
pub fn headers_over(base: &BaseHeaders, headers: &[(String, String)]) -> Option<web_sys::Headers> {
    over_base(Some(base), headers, |strip, edits| {
        edge_headers_over(&base.headers, strip, edits)
            .map_err(|e| {
                worker::console_warn!(
                    "headers not built over their base: {}",
                    js_error_message(&e)
                )
            })
            .ok()
    })
}

/// The response the client gets, built in one call into the runtime: a copy of `base` (made by
/// the runtime; as its [`BaseForm`] says) or empty headers, with `edits` applied — the first
/// value of each name replaces the base's, later values of the same name (and every
/// `Set-Cookie`) are appended, a pair the runtime refuses is dropped alone — then `status` and
/// `body` (dropped on a null-body status). Never panics; an impossible status is an error value.
pub fn build_response(
    status: u16,
    base: Option<&BaseHeaders>,
    edits: &[(String, String)],
    body: Body,
) -> Result<web_sys::Response, JsValue> {
    let body = match body {
        _ if is_null_body_status(status) => JsValue::NULL,
        Body::Empty | Body::Stream(None) => JsValue::NULL,
        Body::Stream(Some(stream)) => stream.into(),
        Body::Buffer(buf) => buf.into(),
        Body::Text(text) => JsValue::from_str(&text),
    };
    over_base(base, edits, |strip, edits| {
        edge_build_response(base.map(|b| &b.headers), strip, edits, status, &body)
    })
}

/// [`build_response`]'s response stored under `key` in the Cache API, in one call into the
/// runtime: the put's promise.
pub fn cache_put(
    key: &str,
    status: u16,
    base: Option<&BaseHeaders>,
    headers: &[(String, String)],
    body: &JsValue,
) -> Result<js_sys::Promise, JsValue> {
    over_base(base, headers, |strip, edits| {
        edge_cache_put(key, status, base.map(|b| &b.headers), strip, edits, body)
    })
}

/// Header pairs as src/edge/glue.js reads them: a name or value a line (no escaping: no header
/// name holds `[` or a line feed, and no value the runtime accepts holds a line feed); as JSON
/// when one does, so that the runtime judges that value, as it would any other.
pub fn pairs_text<N, V>(edits: &[(N, V)]) -> String
where
    N: AsRef<str> + serde::Serialize,
    V: AsRef<str> + serde::Serialize,
{
    let lines = || edits.iter().map(|(n, v)| (n.as_ref(), v.as_ref()));
    if lines().any(|(n, v)| n.contains('\n') || v.contains('\n') || n.starts_with('[')) {
        return serde_json::to_string(edits).unwrap_or_else(|_| "[]".into());
    }
    let mut out = String::with_capacity(lines().map(|(n, v)| n.len() + v.len() + 2).sum());
    for (name, value) in lines() {
        if !out.is_empty() {
            out.push('\n');
        }
        out.push_str(name);
        out.push('\n');
        out.push_str(value);
    }
    out
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
    js_sys::Reflect::get(err, &JsValue::from_str("message"))
        .ok()
        .and_then(|m| m.as_string())
        .unwrap_or_else(|| format!("{err:?}"))
}

#[cfg(all(test, target_arch = "wasm32"))]
mod tests {
    use super::*;
    use wasm_bindgen_test::wasm_bindgen_test;
    use worker::wasm_bindgen_futures::JsFuture;

    use crate::headers::owned as h;

    fn js_headers(pairs: &[(&str, &str)]) -> Headers {
        let headers = Headers::new();
        for (n, v) in pairs {
            headers.append(n, v).unwrap();
        }
        headers
    }

    async fn body_text(resp: &web_sys::Response) -> Option<String> {
        resp.body()?;
        JsFuture::from(resp.text().unwrap())
            .await
            .unwrap()
            .as_string()
    }

    #[wasm_bindgen_test]
    fn incoming_reads_method_url_colo_and_headers_in_one_call() {
        let init = web_sys::RequestInit::new();
        init.set_method("PROPFIND");
        let headers = js_headers(&[("Accept-Language", "sr"), ("Cookie", "edge_id=a; x=1")]);
        init.set_headers(&headers.0);
        let req = web_sys::Request::new_with_str_and_init("https://edge.example.rs/a/b?c=1", &init)
            .unwrap();
        let got = incoming(&req);
        assert_eq!(got.method, "PROPFIND", "the method as sent");
        assert_eq!(got.url, "https://edge.example.rs/a/b?c=1");
        assert_eq!(got.colo, None);
        assert_eq!(
            got.headers,
            h(&[("accept-language", "sr"), ("cookie", "edge_id=a; x=1")])
        );
        let cf = js_sys::Object::new();
        js_sys::Reflect::set(&req, &JsValue::from_str("cf"), &cf).unwrap();
        js_sys::Reflect::set(&cf, &JsValue::from_str("colo"), &JsValue::from(7)).unwrap();
        assert_eq!(
            incoming(&req).colo,
            None,
            "a colo that is not a string is none"
        );
        js_sys::Reflect::set(&cf, &JsValue::from_str("colo"), &JsValue::from_str("BEG")).unwrap();
        assert_eq!(incoming(&req).colo.as_deref(), Some("BEG"));
        // A colo with a line feed would shift the lines: read field by field instead.
        js_sys::Reflect::set(&cf, &JsValue::from_str("colo"), &JsValue::from_str("B\nG")).unwrap();
        let got = incoming(&req);
        assert_eq!(got.colo.as_deref(), Some("B\nG"));
        assert_eq!(got.headers.len(), 2);
    }

    #[wasm_bindgen_test]
    fn header_pairs_are_lowercase_with_each_set_cookie_apart() {
        let headers = js_headers(&[
            ("Content-Type", "application/json"),
            ("Set-Cookie", "a=1"),
            ("Set-Cookie", "b=2"),
            ("X-Multi", "1"),
            ("X-Multi", "2"),
        ]);
        assert_eq!(
            header_pairs(&headers),
            h(&[
                ("content-type", "application/json"),
                ("set-cookie", "a=1"),
                ("set-cookie", "b=2"),
                ("x-multi", "1, 2"),
            ])
        );
    }

    #[wasm_bindgen_test]
    fn to_headers_drops_only_the_pairs_the_runtime_refuses() {
        let built = to_headers(&h(&[
            ("x-good", "1"),
            ("bad name", "2"),
            ("x-bad-value", "a\nb"),
            ("set-cookie", "a=1"),
            ("set-cookie", "b=2"),
        ]));
        assert_eq!(
            header_pairs(&built),
            h(&[
                ("set-cookie", "a=1"),
                ("set-cookie", "b=2"),
                ("x-good", "1")
            ])
        );
        // The fast path (one JSON.parse, one constructor) gives the same as the slow one.
        let fast = to_headers(&h(&[("x-good", "1"), ("set-cookie", "a=1")]));
        assert_eq!(
            header_pairs(&fast),
            h(&[("set-cookie", "a=1"), ("x-good", "1")])
        );
    }

    #[wasm_bindgen_test]
    fn headers_built_from_a_record_keep_every_value_of_a_repeated_name_in_order() {
        // glue.js builds from a record (one value per name) and appends the later values.
        let built = to_headers(&h(&[
            ("vary", "accept"),
            ("set-cookie", "a=1"),
            ("Vary", "accept-language"),
            ("set-cookie", "b=2"),
            ("__proto__", "p"),
            ("constructor", "c"),
            ("x-one", "1"),
        ]));
        let values = |name: &str| built.get(name).ok().flatten();
        assert_eq!(values("vary").as_deref(), Some("accept, accept-language"));
        assert_eq!(values("__proto__").as_deref(), Some("p"));
        assert_eq!(values("constructor").as_deref(), Some("c"));
        assert_eq!(values("x-one").as_deref(), Some("1"));
        let cookies: Vec<_> = header_pairs(&built)
            .into_iter()
            .filter(|(n, _)| n == "set-cookie")
            .map(|(_, v)| v)
            .collect();
        assert_eq!(cookies, ["a=1", "b=2"]);
        // A refused later value is dropped alone, the rest kept.
        let built = to_headers(&h(&[("x-a", "1"), ("x-a", "bad\u{0}"), ("x-b", "2")]));
        assert_eq!(header_pairs(&built), h(&[("x-a", "1"), ("x-b", "2")]));
    }

    #[wasm_bindgen_test]
    fn built_headers_replace_the_first_value_append_later_ones_and_strip_stored_names() {
        let stored = js_headers(&[
            ("content-type", "text/plain"),
            ("x-a", "old"),
            ("cache-control", "max-age=600"),
            ("x-edge-meta", "{}"),
            ("age", "3"),
        ]);
        let base = BaseHeaders {
            headers: stored.0.clone(),
            form: BaseForm::Stored,
        };
        let edits = h(&[
            ("x-a", "1"),
            ("x-a", "2"),
            ("set-cookie", "s=1"),
            ("age", "7"),
        ]);
        let built = build_response(200, Some(&base), &edits, Body::Empty).unwrap();
        assert_eq!(
            header_pairs(&Headers(built.headers())),
            h(&[
                ("age", "7"),
                ("content-type", "text/plain"),
                ("set-cookie", "s=1"),
                ("x-a", "1, 2"),
            ])
        );
        // The stored object itself is untouched (the runtime copied it).
        assert_eq!(stored.get("x-edge-meta").unwrap().as_deref(), Some("{}"));
        let kept = BaseHeaders {
            headers: stored.0.clone(),
            form: BaseForm::Edits,
        };
        let built = build_response(200, Some(&kept), &[], Body::Empty).unwrap();
        assert!(built.headers().has("cache-control").unwrap());
    }

    #[wasm_bindgen_test]
    fn a_read_base_gives_the_whole_list_sent_as_its_difference() {
        let origin = js_headers(&[
            ("cache-control", "max-age=60"),
            ("content-type", "application/json"),
            ("etag", "\"v1\""),
            ("keep-alive", "timeout=5"),
            ("set-cookie", "a=1"),
            ("set-cookie", "b=2"),
        ]);
        let read = header_pairs(&origin);
        assert_eq!(read.len(), 6, "{read:?}");
        let base = BaseHeaders {
            headers: origin.0.clone(),
            form: BaseForm::Read(std::rc::Rc::new(read)),
        };
        let whole = h(&[
            ("cache-control", "public, max-age=60"),
            ("content-type", "application/json"),
            ("etag", "\"v1\""),
            ("set-cookie", "b=2"),
            ("server-timing", "origin;dur=3"),
            ("server-timing", "edge;dur=1"),
        ]);
        // As the runtime iterates them: sorted, a name's values joined (`Set-Cookie` apart).
        let sorted = h(&[
            ("cache-control", "public, max-age=60"),
            ("content-type", "application/json"),
            ("etag", "\"v1\""),
            ("server-timing", "origin;dur=3, edge;dur=1"),
            ("set-cookie", "b=2"),
        ]);
        let built = build_response(200, Some(&base), &whole, Body::Empty).unwrap();
        assert_eq!(header_pairs(&Headers(built.headers())), sorted);
        let copy = headers_over(&base, &whole).unwrap();
        assert_eq!(header_pairs(&Headers(copy)), sorted);
        // Nothing left to send: a plain copy.
        let same = headers_over(&base, &header_pairs(&origin)).unwrap();
        assert_eq!(header_pairs(&Headers(same)), header_pairs(&origin));
        // The origin's object is untouched.
        assert_eq!(
            origin.get("keep-alive").unwrap().as_deref(),
            Some("timeout=5")
        );
    }

    #[wasm_bindgen_test]
    fn edits_cross_as_lines_and_a_value_with_a_line_feed_is_refused_alone() {
        // (In name order: the runtime's `Headers` iterates sorted.)
        let edits = h(&[("x-b", "two words"), ("x-c", "3"), ("x-empty", "")]);
        assert_eq!(pairs_text(&edits), "x-b\ntwo words\nx-c\n3\nx-empty\n");
        let built = build_response(200, None, &edits, Body::Empty).unwrap();
        assert_eq!(header_pairs(&Headers(built.headers())), edits);
        // Garbage (a line feed inside a value) goes as JSON; the runtime refuses that pair only.
        let garbage = h(&[("x-a", "1"), ("x-bad", "a\nb"), ("x-c", "3")]);
        assert!(pairs_text(&garbage).starts_with('['));
        let built = build_response(200, None, &garbage, Body::Empty).unwrap();
        assert_eq!(
            header_pairs(&Headers(built.headers())),
            h(&[("x-a", "1"), ("x-c", "3")])
        );
    }

    #[wasm_bindgen_test]
    async fn responses_carry_status_headers_and_body_except_on_null_body_statuses() {
        let headers = js_headers(&[("content-type", "text/plain")]);
        let ok = text_response(200, &headers, "hello").unwrap();
        assert_eq!(ok.status(), 200);
        assert_eq!(
            ok.headers().get("content-type").unwrap().as_deref(),
            Some("text/plain")
        );
        assert_eq!(body_text(&ok).await.as_deref(), Some("hello"));

        let bytes = js_sys::Uint8Array::from(&b"bytes"[..]).buffer();
        let buffered = build_response(201, None, &[], Body::Buffer(bytes.clone())).unwrap();
        assert_eq!(buffered.status(), 201);
        assert_eq!(body_text(&buffered).await.as_deref(), Some("bytes"));

        let stream = text_response(200, &headers, "streamed").unwrap().body();
        let streamed = response(200, &headers, stream).unwrap();
        assert_eq!(body_text(&streamed).await.as_deref(), Some("streamed"));

        // A body on 204/304 would make the runtime throw: it is dropped instead.
        for status in [204, 304] {
            assert!(text_response(status, &headers, "x")
                .unwrap()
                .body()
                .is_none());
            let buffer = Body::Buffer(bytes.clone());
            assert!(build_response(status, None, &[], buffer)
                .unwrap()
                .body()
                .is_none());
            let text = Body::Text("x".into());
            assert!(build_response(status, None, &[], text)
                .unwrap()
                .body()
                .is_none());
            let stream = text_response(200, &headers, "x").unwrap().body();
            assert!(response(status, &headers, stream).unwrap().body().is_none());
        }
        // An impossible status is an error value, not a panic.
        assert!(text_response(1000, &headers, "x").is_err());
        assert!(build_response(1000, None, &[], Body::Text("x".into())).is_err());
    }

    #[wasm_bindgen_test]
    async fn a_response_without_a_base_has_the_pairs_to_headers_would_give_and_its_body() {
        let pairs = h(&[
            ("x-good", "1"),
            ("bad name", "2"),
            ("x-bad-value", "a\nb"),
            ("x-multi", "1"),
            ("x-multi", "2"),
            ("set-cookie", "a=1"),
            ("set-cookie", "b=2"),
            ("content-type", "text/plain"),
        ]);
        let built = build_response(200, None, &pairs, Body::Text("hello".into())).unwrap();
        assert_eq!(
            header_pairs(&Headers(built.headers())),
            header_pairs(&to_headers(&pairs))
        );
        assert_eq!(body_text(&built).await.as_deref(), Some("hello"));
        let stream = text_response(200, &Headers::new(), "streamed")
            .unwrap()
            .body();
        let streamed = build_response(203, None, &[], Body::Stream(stream)).unwrap();
        assert_eq!(streamed.status(), 203);
        assert_eq!(body_text(&streamed).await.as_deref(), Some("streamed"));
        assert!(build_response(200, None, &[], Body::Empty)
            .unwrap()
            .body()
            .is_none());
    }

    #[wasm_bindgen_test]
    async fn a_problem_is_a_no_store_json_response() {
        let headers = Headers::new();
        let resp = problem_response(&Problem::not_found("/x"), &headers).unwrap();
        assert_eq!(resp.status(), 404);
        let h = header_pairs(&Headers(resp.headers()));
        assert!(h.contains(&("cache-control".into(), "no-store".into())));
        assert!(h.contains(&(
            "content-type".into(),
            "application/json; charset=utf-8".into()
        )));
        let body: serde_json::Value =
            serde_json::from_str(&body_text(&resp).await.unwrap()).unwrap();
        assert_eq!(body["error"], "not_found");
    }

    #[wasm_bindgen_test]
    fn js_error_messages_are_read_from_strings_and_errors() {
        assert_eq!(js_error_message(&JsValue::from_str("plain")), "plain");
        assert_eq!(js_error_message(&js_sys::Error::new("boom").into()), "boom");
        assert!(!js_error_message(&JsValue::from_f64(3.0)).is_empty());
    }
}
