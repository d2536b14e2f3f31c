//! The HTTP server: routing, response finishing (headers, ETag/304, flavour) and the accept loop.

use std::error::Error as StdError;
use std::fmt;
use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use http_body_util::{BodyExt, Either, Full, Limited};
use hyper::body::{Bytes, Incoming};
use hyper::header::{
    HeaderMap, HeaderName, HeaderValue, ACCEPT_LANGUAGE, CONTENT_LANGUAGE, CONTENT_TYPE, COOKIE,
    ETAG, IF_NONE_MATCH,
};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use hyper_util::server::graceful::GracefulShutdown;
use serde::Serialize;
use serde_json::{json, Value};
use tokio::net::TcpListener;

use crate::bulk::Generated;
use crate::catalog;
use crate::config::{Config, Flavour};
use crate::controls::{self, Controls, FailAction, LoggedRequest};
use crate::data;
use crate::echo::{self, EchoProgram};
use crate::etag;
use crate::lang::{self, Lang, LangSources};
use crate::listings;
use crate::query::Query;
use crate::search::{self, SearchParams};

/// Largest request body accepted (1 MiB).
pub const MAX_BODY_BYTES: usize = 1 << 20;

/// How long shutdown waits for open connections to finish.
pub const SHUTDOWN_GRACE: Duration = Duration::from_secs(2);

/// The header naming the deployment that answered.
pub const FLAVOUR_HEADER: &str = "x-origin-flavour";

const JSON_CONTENT_TYPE: &str = "application/json; charset=utf-8";

/// The response body type: bytes at hand, or a generated body streamed as it is read.
pub type Body = Either<Full<Bytes>, Generated>;

/// Returned by the service to make hyper drop the connection without answering.
#[derive(Debug)]
pub struct ConnectionReset;

impl fmt::Display for ConnectionReset {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("injected connection reset")
    }
}

impl StdError for ConnectionReset {}

/// A response before the common headers, ETag handling and flavour are applied.
#[derive(Debug)]
struct Reply {
    status: StatusCode,
    body: Vec<u8>,
    lang: Option<Lang>,
    /// Eligible for the automatic ETag (catalog and health routes).
    etag: bool,
    headers: Vec<(HeaderName, HeaderValue)>,
}

/// Shared server state.
#[derive(Debug)]
pub struct App {
    flavour: Flavour,
    controls: Controls,
}

impl App {
    /// Builds the state for `config`.
    pub fn new(config: &Config) -> App {
        App {
            flavour: config.flavour,
            controls: Controls::new(config.etag),
        }
    }

    /// The flavour this server imitates.
    pub fn flavour(&self) -> Flavour {
        self.flavour
    }

    /// Serializes `value`, adding `"flavour":"canary"` to objects when running as canary.
    fn body<T: Serialize + ?Sized>(&self, value: &T) -> Vec<u8> {
        let bytes = serde_json::to_vec(value).unwrap_or_else(|_| b"{}".to_vec());
        match self.flavour {
            Flavour::Stable => bytes,
            Flavour::Canary => add_canary_field(bytes),
        }
    }

    fn json<T: Serialize + ?Sized>(&self, status: StatusCode, value: &T) -> Reply {
        Reply {
            status,
            body: self.body(value),
            lang: None,
            etag: false,
            headers: Vec::new(),
        }
    }

    /// Serves one request.
    pub async fn handle(
        self: Arc<Self>,
        req: Request<Incoming>,
    ) -> Result<Response<Body>, ConnectionReset> {
        let (parts, body) = req.into_parts();
        let method = parts.method;
        let headers = parts.headers;
        let path = parts.uri.path().to_string();
        let raw_query = parts.uri.query().unwrap_or("").to_string();
        let body = match Limited::new(body, MAX_BODY_BYTES).collect().await {
            Ok(collected) => collected.to_bytes(),
            Err(e) if e.is::<http_body_util::LengthLimitError>() => {
                let reply = self.json(
                    StatusCode::PAYLOAD_TOO_LARGE,
                    &json!({"error": "payload too large", "detail": format!("limit is {MAX_BODY_BYTES} bytes")}),
                );
                return Ok(self.finish(reply, &method, &headers));
            }
            Err(_) => return Err(ConnectionReset),
        };
        let query = Query::parse(&raw_query);

        if let Some(sub) = control_subpath(&path) {
            let (status, value) = self
                .controls
                .handle(self.flavour, &method, sub, &query, &body);
            let reply = self.json(status, &value);
            return Ok(self.finish(reply, &method, &headers));
        }

        self.controls.record(LoggedRequest {
            method: method.to_string(),
            path: path.clone(),
            query: raw_query,
            headers: log_headers(&headers),
            body: String::from_utf8_lossy(&body).into_owned(),
        });

        let delay = self.controls.delay_for(&path);
        if delay > 0 {
            tokio::time::sleep(Duration::from_millis(delay)).await;
        }
        match self.controls.failure_for(&path) {
            Some(FailAction::Reset) => return Err(ConnectionReset),
            Some(FailAction::Status(status)) => {
                let reply = if trim_slash(&path) == "/health/ready" {
                    self.json(StatusCode::SERVICE_UNAVAILABLE, &Health::ready(false))
                } else {
                    self.json(status, &json!({"error": "injected failure"}))
                };
                return Ok(self.finish(reply, &method, &headers));
            }
            None => {}
        }

        if let Some(name) = path.strip_prefix("/echo/").filter(|n| !n.is_empty()) {
            return Ok(self.echo(name, &method, &query, &headers));
        }

        let reply = self.route(&method, &path, &query, &headers, &body);
        Ok(self.finish(reply, &method, &headers))
    }

    fn echo(
        &self,
        name: &str,
        method: &Method,
        query: &Query,
        headers: &HeaderMap,
    ) -> Response<Body> {
        let program = match self.controls.echo_program(name) {
            Some(p) => p,
            None => match EchoProgram::from_query(query) {
                Ok(p) => p,
                Err(detail) => {
                    let reply = self.json(
                        StatusCode::BAD_REQUEST,
                        &json!({"error": "invalid echo query", "detail": detail}),
                    );
                    return self.finish(reply, method, headers);
                }
            },
        };
        let default_body = self.body(&json!({ "echo": name }));
        let out = echo::respond(&program, method, headers, default_body);
        let body = match out.generated {
            Some(generated) => Either::Right(generated),
            None => Either::Left(Full::new(Bytes::from(out.body))),
        };
        let mut resp = Response::new(body);
        *resp.status_mut() = out.status;
        for (n, v) in out.headers {
            resp.headers_mut().append(n, v);
        }
        self.add_flavour_header(resp.headers_mut());
        resp
    }

    fn add_flavour_header(&self, headers: &mut HeaderMap) {
        headers.insert(
            HeaderName::from_static(FLAVOUR_HEADER),
            HeaderValue::from_static(self.flavour.as_str()),
        );
    }

    /// Adds the common headers, the ETag (answering 304 when `If-None-Match` matches).
    fn finish(&self, reply: Reply, method: &Method, req_headers: &HeaderMap) -> Response<Body> {
        let mut headers = HeaderMap::new();
        headers.insert(CONTENT_TYPE, HeaderValue::from_static(JSON_CONTENT_TYPE));
        self.add_flavour_header(&mut headers);
        if let Some(lang) = reply.lang {
            headers.insert(CONTENT_LANGUAGE, HeaderValue::from_static(lang.code()));
        }
        for (n, v) in reply.headers {
            headers.append(n, v);
        }
        let mut status = reply.status;
        let mut body = reply.body;
        let is_read = method == Method::GET || method == Method::HEAD;
        if is_read && status == StatusCode::OK && reply.etag && self.controls.etag_enabled() {
            let tag = etag::strong_etag(&body);
            let inm = joined(req_headers, &IF_NONE_MATCH, ", ");
            if let Ok(v) = HeaderValue::from_str(&tag) {
                headers.insert(ETAG, v);
            }
            if inm.is_some_and(|inm| etag::if_none_match_matches(&inm, &tag)) {
                status = StatusCode::NOT_MODIFIED;
                body = Vec::new();
            }
        }
        let mut resp = Response::new(Either::Left(Full::new(Bytes::from(body))));
        *resp.status_mut() = status;
        *resp.headers_mut() = headers;
        resp
    }

    fn route(
        &self,
        method: &Method,
        path: &str,
        query: &Query,
        headers: &HeaderMap,
        body: &[u8],
    ) -> Reply {
        let read = method == Method::GET || method == Method::HEAD;
        let write = matches!(
            *method,
            Method::POST | Method::PUT | Method::PATCH | Method::DELETE
        );
        let segments: Vec<&str> = trim_slash(path).split('/').skip(1).collect();
        let lang = language(query, headers);
        let mut reply = match (segments.as_slice(), read) {
            (["health", "live"], true) => return self.health(Health::live()),
            (["health", "ready"], true) => return self.health(Health::ready(true)),
            (["api", "v1", "marketplace", "categories"], true) => {
                self.ok_data(&catalog::categories(lang))
            }
            (["api", "v1", "marketplace", "category-tree"], true) => {
                self.ok_data(&catalog::category_tree(lang))
            }
            (["api", "v1", "marketplace", "popular-categories"], true) => {
                match popular_limit(query) {
                    Some(limit) => self.ok_data(&catalog::popular_categories(lang, limit)),
                    None => self.json(
                        StatusCode::BAD_REQUEST,
                        &json!({"success": false, "error": "errors.invalidLimit"}),
                    ),
                }
            }
            (["api", "v1", "marketplace", "categories", id, "attributes"], true) => self
                .with_category(id, |c| self.ok_data(&catalog::category_v1_attributes(c, lang))),
            (["api", "v2", "marketplace", "categories", id, "attributes"], true)
            | (["api", "v1", "unified-attributes", "category", id], true) => {
                self.with_category(id, |c| {
                    self.attributes(&catalog::category_unified_attributes(c, lang))
                })
            }
            (["api", "v2", "marketplace", "categories", id, "attribute-ranges"], true) => {
                self.with_category(id, |c| {
                    let listings = self.controls.with_overrides(|o| listings::all(o));
                    let ranges = catalog::attribute_ranges(c, &listings);
                    self.json(
                        StatusCode::OK,
                        &json!({"success": true, "message": "success.getAttributeRanges", "data": ranges}),
                    )
                })
            }
            (["api", "v1", "unified-attributes"], true) => {
                self.attributes(&catalog::all_unified_attributes(lang))
            }
            (["api", "v1", "marketplace", "search"], _) if read || *method == Method::POST => {
                self.search(method, query, body, lang)
            }
            (["api", "v2", "marketplace", "listings", id, "attributes"], _)
                if matches!(*method, Method::POST | Method::PUT) =>
            {
                self.write_listing_attributes(id, body)
            }
            (["api", "v1" | "v2", "admin", ..], _) if write => {
                self.json(StatusCode::OK, &json!({"success": true}))
            }
            _ => self.json(StatusCode::NOT_FOUND, &json!({"error": "not found"})),
        };
        if segments.first() == Some(&"api") {
            reply.lang = Some(lang);
        }
        reply.etag = reply.status == StatusCode::OK;
        reply
    }

    fn health(&self, h: Health) -> Reply {
        let mut r = self.json(StatusCode::OK, &h);
        r.etag = true;
        r
    }

    fn ok_data<T: Serialize>(&self, data: &T) -> Reply {
        #[derive(Serialize)]
        struct Envelope<'a, T> {
            success: bool,
            data: &'a T,
        }
        self.json(
            StatusCode::OK,
            &Envelope {
                success: true,
                data,
            },
        )
    }

    fn attributes<T: Serialize>(&self, data: &T) -> Reply {
        #[derive(Serialize)]
        struct Envelope<'a, T> {
            success: bool,
            message: &'static str,
            data: &'a T,
        }
        self.json(
            StatusCode::OK,
            &Envelope {
                success: true,
                message: "success.getAttributes",
                data,
            },
        )
    }

    /// Validates a category id path segment, then runs `f` with the id.
    fn with_category(&self, raw: &str, f: impl FnOnce(i64) -> Reply) -> Reply {
        match raw.parse::<i64>() {
            Err(_) => self.json(
                StatusCode::BAD_REQUEST,
                &json!({"success": false, "error": "errors.invalidCategoryId"}),
            ),
            Ok(id) if data::category(id).is_none() => self.json(
                StatusCode::NOT_FOUND,
                &json!({"success": false, "error": "errors.categoryNotFound"}),
            ),
            Ok(id) => f(id),
        }
    }

    fn search(&self, method: &Method, query: &Query, body: &[u8], lang: Lang) -> Reply {
        let mut params = SearchParams::from_query(query);
        if *method == Method::POST && !body.iter().all(u8::is_ascii_whitespace) {
            let json: Value = match serde_json::from_slice(body) {
                Ok(v) => v,
                Err(e) => {
                    return self.json(
                        StatusCode::BAD_REQUEST,
                        &json!({"error": "search.invalidRequest", "detail": e.to_string()}),
                    )
                }
            };
            params = params.and_then(|p| p.merge_json(&json));
        }
        match params {
            Ok(p) => {
                let listings = self.controls.with_overrides(|o| listings::all(o));
                self.json(StatusCode::OK, &search::search(&listings, &p, lang))
            }
            Err(search::BadParam(name)) => self.json(
                StatusCode::BAD_REQUEST,
                &json!({"error": "search.invalidParameter", "detail": name}),
            ),
        }
    }

    fn write_listing_attributes(&self, raw_id: &str, body: &[u8]) -> Reply {
        if let (Ok(id), Ok(value)) = (raw_id.parse::<i64>(), serde_json::from_slice::<Value>(body))
        {
            self.controls
                .with_overrides(|o| listings::apply_write(o, id, &value));
        }
        self.json(StatusCode::OK, &json!({"success": true}))
    }
}

/// Body of the health routes.
#[derive(Debug, Serialize)]
struct Health {
    status: &'static str,
    timestamp: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    checks: Option<Checks>,
}

#[derive(Debug, Serialize)]
struct Checks {
    database: &'static str,
    redis: &'static str,
    opensearch: &'static str,
}

impl Health {
    fn now() -> u64 {
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_secs())
            .unwrap_or(0)
    }

    fn live() -> Health {
        Health {
            status: "ok",
            timestamp: Health::now(),
            checks: None,
        }
    }

    fn ready(healthy: bool) -> Health {
        let check = if healthy {
            "ok"
        } else {
            "error: injected failure"
        };
        Health {
            status: if healthy { "ok" } else { "unhealthy" },
            timestamp: Health::now(),
            checks: Some(Checks {
                database: check,
                redis: "ok",
                opensearch: "ok",
            }),
        }
    }
}

/// Inserts `"flavour":"canary"` as the first field of a JSON object body (other bodies and
/// objects that already start with a `flavour` field are returned unchanged).
pub fn add_canary_field(body: Vec<u8>) -> Vec<u8> {
    if body.first() != Some(&b'{') || body.starts_with(b"{\"flavour\":") {
        return body;
    }
    let field: &[u8] = if body.get(1) == Some(&b'}') {
        b"\"flavour\":\"canary\""
    } else {
        b"\"flavour\":\"canary\","
    };
    let mut out = Vec::with_capacity(body.len() + field.len());
    out.push(b'{');
    out.extend_from_slice(field);
    out.extend_from_slice(&body[1..]);
    out
}

/// The part after `/__origin/` when `path` is a control path.
fn control_subpath(path: &str) -> Option<&str> {
    if path == controls::PREFIX {
        return Some("");
    }
    path.strip_prefix(controls::PREFIX)?
        .strip_prefix('/')
        .map(|s| s.trim_end_matches('/'))
}

/// `path` without a trailing slash (the root stays `/`).
fn trim_slash(path: &str) -> &str {
    match path.trim_end_matches('/') {
        "" => "/",
        p => p,
    }
}

/// All values of header `name` joined with `sep`, if there are any.
fn joined(headers: &HeaderMap, name: &HeaderName, sep: &str) -> Option<String> {
    let values: Vec<String> = headers
        .get_all(name)
        .iter()
        .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned())
        .collect();
    (!values.is_empty()).then(|| values.join(sep))
}

fn log_headers(headers: &HeaderMap) -> std::collections::BTreeMap<String, String> {
    headers
        .keys()
        .filter_map(|name| joined(headers, name, ", ").map(|v| (name.as_str().to_string(), v)))
        .collect()
}

/// The response language for a request (see [`crate::lang`]).
pub fn language(query: &Query, headers: &HeaderMap) -> Lang {
    let accept = joined(headers, &ACCEPT_LANGUAGE, ", ");
    let cookie = joined(headers, &COOKIE, "; ");
    lang::select(LangSources {
        lang_param: query.get("lang"),
        locale_param: query.get("locale"),
        accept_language: accept.as_deref(),
        cookie: cookie.as_deref(),
    })
}

/// The `limit` of popular-categories: default 7, valid 1–20.
fn popular_limit(query: &Query) -> Option<usize> {
    match query.get("limit").map(str::trim).filter(|v| !v.is_empty()) {
        None => Some(7),
        Some(v) => v.parse::<usize>().ok().filter(|n| (1..=20).contains(n)),
    }
}

/// Binds the listening socket for `config`.
pub async fn bind(config: &Config) -> io::Result<TcpListener> {
    TcpListener::bind(SocketAddr::new(config.host, config.port)).await
}

/// Accepts connections on `listener` until `shutdown` resolves, then waits up to
/// [`SHUTDOWN_GRACE`] for open connections.
pub async fn serve(listener: TcpListener, app: Arc<App>, shutdown: impl Future<Output = ()>) {
    let graceful = GracefulShutdown::new();
    tokio::pin!(shutdown);
    loop {
        tokio::select! {
            accepted = listener.accept() => {
                let stream = match accepted {
                    Ok((stream, _)) => stream,
                    Err(e) => {
                        eprintln!("demo-origin: accept failed: {e}");
                        tokio::time::sleep(Duration::from_millis(50)).await;
                        continue;
                    }
                };
                let _ = stream.set_nodelay(true);
                let app = app.clone();
                let service = service_fn(move |req| app.clone().handle(req));
                let conn = http1::Builder::new().serve_connection(TokioIo::new(stream), service);
                let conn = graceful.watch(conn);
                tokio::spawn(async move {
                    // Errors here are client disconnects or injected resets.
                    let _ = conn.await;
                });
            }
            () = &mut shutdown => break,
        }
    }
    drop(listener);
    tokio::select! {
        () = graceful.shutdown() => {}
        () = tokio::time::sleep(SHUTDOWN_GRACE) => {}
    }
}

/// Resolves on SIGINT or SIGTERM (Ctrl-C elsewhere).
pub async fn shutdown_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        let term = signal(SignalKind::terminate());
        let int = signal(SignalKind::interrupt());
        match (term, int) {
            (Ok(mut term), Ok(mut int)) => {
                tokio::select! {
                    _ = term.recv() => {}
                    _ = int.recv() => {}
                }
            }
            _ => {
                let _ = tokio::signal::ctrl_c().await;
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn canary_field_splicing() {
        assert_eq!(
            add_canary_field(b"{}".to_vec()),
            b"{\"flavour\":\"canary\"}"
        );
        assert_eq!(
            add_canary_field(b"{\"a\":1}".to_vec()),
            b"{\"flavour\":\"canary\",\"a\":1}"
        );
        assert_eq!(add_canary_field(b"[1]".to_vec()), b"[1]");
        let already = b"{\"flavour\":\"canary\",\"total\":1}".to_vec();
        assert_eq!(add_canary_field(already.clone()), already);
        let parsed: Value =
            serde_json::from_slice(&add_canary_field(b"{\"a\":{\"b\":2}}".to_vec())).unwrap();
        assert_eq!(parsed["flavour"], "canary");
    }

    #[test]
    fn control_paths() {
        assert_eq!(control_subpath("/__origin"), Some(""));
        assert_eq!(control_subpath("/__origin/stats"), Some("stats"));
        assert_eq!(control_subpath("/__origin/echo/a/"), Some("echo/a"));
        assert_eq!(control_subpath("/__originx"), None);
        assert_eq!(control_subpath("/api/v1"), None);
    }

    #[test]
    fn popular_limits() {
        assert_eq!(popular_limit(&Query::parse("")), Some(7));
        assert_eq!(popular_limit(&Query::parse("limit=20")), Some(20));
        assert_eq!(popular_limit(&Query::parse("limit=0")), None);
        assert_eq!(popular_limit(&Query::parse("limit=21")), None);
        assert_eq!(popular_limit(&Query::parse("limit=abc")), None);
    }

    #[test]
    fn language_from_request() {
        let mut h = HeaderMap::new();
        h.insert(ACCEPT_LANGUAGE, HeaderValue::from_static("en-US,en;q=0.9"));
        h.insert(COOKIE, HeaderValue::from_static("locale=ru"));
        assert_eq!(language(&Query::parse(""), &h), Lang::En);
        assert_eq!(language(&Query::parse("locale=ru"), &h), Lang::Ru);
        assert_eq!(language(&Query::parse("lang=SR&locale=ru"), &h), Lang::Sr);
    }
}
