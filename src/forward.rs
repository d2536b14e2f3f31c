//! What the edge sends to the origin and back: the origin URL, the request headers (end-to-end
//! ones kept, hop-by-hop ones dropped, `X-Forwarded-*` and `traceparent` set), and the response
//! headers passed back to the client.

use crate::web_url::Url;

use crate::cache::cache_control::CDN_CACHE_CONTROL;

/// Hop-by-hop headers (RFC 9110 §7.6.1, plus the legacy ones proxies still see). They describe
/// one connection, so a proxy must not forward them.
const HOP_BY_HOP: &[&str] = &[
    "connection",
    "keep-alive",
    "proxy-connection",
    "proxy-authenticate",
    "proxy-authorization",
    "te",
    "trailer",
    "transfer-encoding",
    "upgrade",
];

/// Request headers the edge sets itself or that the runtime derives from the URL and body.
const REPLACED_ON_REQUEST: &[&str] = &[
    "host",
    "content-length",
    "x-forwarded-for",
    "x-forwarded-proto",
    "x-forwarded-host",
    "traceparent",
    "tracestate",
];

/// What the glue knows about the client's request, as plain values.
#[derive(Debug, Clone)]
pub struct ClientRequest<'a> {
    /// The request URL as the client sent it.
    pub url: &'a Url,
    /// Request headers, names lowercase, in arrival order.
    pub headers: &'a [(String, String)],
    /// The client's IP address as the platform reports it (`CF-Connecting-IP`), if known.
    pub client_ip: Option<&'a str>,
}

/// The origin URL for a request: the origin base (which may carry a path prefix) joined with the
/// request's path and query.
///
/// Built as a string from the two parsed URLs' parts (both already serialised: percent-encoded,
/// dot segments resolved), not by setting them on a copy of `base`, which would parse the path
/// and query again (the miss path's cost; the test below holds it to the `Url` setters).
pub fn origin_url(base: &Url, request: &Url) -> String {
    let base_path = base.path().trim_end_matches('/');
    let query = request.query();
    let fragment = base.fragment();
    let before_path = base.before_path();
    let mut out = String::with_capacity(
        before_path.len()
            + base_path.len()
            + request.path().len()
            + query.map_or(0, |q| q.len() + 1)
            + fragment.map_or(0, |f| f.len() + 1),
    );
    out.push_str(before_path);
    out.push_str(base_path);
    out.push_str(request.path());
    if let Some(q) = query {
        out.push('?');
        out.push_str(q);
    }
    if let Some(f) = fragment {
        out.push('#');
        out.push_str(f);
    }
    out
}

/// True when `name` (lowercase) must not cross the proxy in either direction.
pub fn is_hop_by_hop(name: &str, connection_tokens: &[String]) -> bool {
    HOP_BY_HOP.contains(&name) || connection_tokens.iter().any(|t| t == name)
}

/// Header names listed in `Connection` (they are hop-by-hop too, RFC 9110 §7.6.1).
fn connection_tokens(headers: &[(String, String)]) -> Vec<String> {
    headers
        .iter()
        .filter(|(n, _)| n == "connection")
        .flat_map(|(_, v)| v.split(','))
        .map(|t| t.trim().to_ascii_lowercase())
        .filter(|t| !t.is_empty())
        .collect()
}

/// The headers to send to the origin. `traceparent` is the value the trace plan chose (none when
/// it could start no trace); `tracestate` is kept only when the incoming trace was continued
/// (Trace Context §3.3).
pub fn origin_request_headers(
    req: &ClientRequest<'_>,
    traceparent: Option<&str>,
    trace_continued: bool,
) -> Vec<(String, String)> {
    let tokens = connection_tokens(req.headers);
    let mut out: Vec<(String, String)> = req
        .headers
        .iter()
        .filter(|(n, _)| !is_hop_by_hop(n, &tokens))
        .filter(|(n, _)| !REPLACED_ON_REQUEST.contains(&n.as_str()))
        // Cloudflare's own request metadata (cf-ray, cf-connecting-ip, …) is the platform's.
        .filter(|(n, _)| !n.starts_with("cf-"))
        .cloned()
        .collect();
    // Repeated Cookie fields arrive joined with ", " by the runtime; the origin splits cookies
    // on ";" only (RFC 6265 §5.4), so send one field in that form.
    if let Some(cookie) = crate::cookie::joined(req.headers) {
        crate::headers::set(&mut out, "cookie", cookie);
    }

    let prior_xff = req
        .headers
        .iter()
        .filter(|(n, _)| n == "x-forwarded-for")
        .map(|(_, v)| v.trim())
        .filter(|v| !v.is_empty())
        .collect::<Vec<_>>()
        .join(", ");
    let xff = match (prior_xff.is_empty(), req.client_ip) {
        (true, Some(ip)) => Some(ip.to_string()),
        (false, Some(ip)) => Some(format!("{prior_xff}, {ip}")),
        (false, None) => Some(prior_xff),
        (true, None) => None,
    };
    if let Some(xff) = xff {
        out.push(("x-forwarded-for".into(), xff));
    }
    out.push((
        "x-forwarded-proto".into(),
        req.url.scheme().to_ascii_lowercase(),
    ));
    if let Some(host) = req.url.host_str() {
        let host = match req.url.port() {
            Some(p) => format!("{host}:{p}"),
            None => host.to_string(),
        };
        out.push(("x-forwarded-host".into(), host));
    }
    if let Some(traceparent) = traceparent {
        out.push(("traceparent".into(), traceparent.to_string()));
    }
    if trace_continued && traceparent.is_some() {
        if let Some((_, ts)) = req.headers.iter().find(|(n, _)| n == "tracestate") {
            out.push(("tracestate".into(), ts.clone()));
        }
    }
    out
}

/// The origin's response headers without the hop-by-hop ones: what the cache judges (its
/// targeted fields included).
pub fn without_hop_by_hop(origin: &[(String, String)]) -> Vec<(String, String)> {
    let tokens = connection_tokens(origin);
    origin
        .iter()
        .filter(|(n, _)| !is_hop_by_hop(n, &tokens))
        .cloned()
        .collect()
}

/// The origin's response headers as the client gets them (and as they are stored): hop-by-hop
/// ones dropped, the targeted cache-control fields addressed to this edge (`CDN-Cache-Control`
/// and `edge_field`, RFC 9213), and the cache tags (`Cache-Tag`, `Surrogate-Key`): those are the
/// edge's instructions, not the client's (the tags are kept in the entry's meta).
pub fn client_response_headers(
    origin: &[(String, String)],
    edge_field: Option<&str>,
) -> Vec<(String, String)> {
    without_hop_by_hop(origin)
        .into_iter()
        .filter(|(n, _)| {
            n != CDN_CACHE_CONTROL
                && Some(n.as_str()) != edge_field
                && !crate::cache::tags::TAG_HEADERS.contains(&n.as_str())
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    use crate::headers::owned as h;

    fn get<'a>(headers: &'a [(String, String)], name: &str) -> Option<&'a str> {
        headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }

    const TP: &str = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";

    #[test]
    fn cache_tags_never_reach_the_client() {
        let origin = h(&[
            ("cache-tag", "category:1"),
            ("surrogate-key", "a b"),
            ("content-type", "application/json"),
        ]);
        let client = client_response_headers(&origin, None);
        assert_eq!(client, h(&[("content-type", "application/json")]));
    }

    /// What `origin_url` was: the `Url` setters on a copy of the base.
    fn origin_url_by_setters(base: &Url, request: &Url) -> String {
        let mut url = base.clone();
        let base_path = base.path().trim_end_matches('/');
        url.set_path(&format!("{base_path}{}", request.path()));
        url.set_query(request.query());
        url.to_string()
    }

    #[test]
    fn origin_url_agrees_with_the_url_setters() {
        let bases = [
            "https://api.example.rs/v",
            "https://api.example.rs/v/",
            "http://127.0.0.1:9001",
            "http://user:pw@o.rs:8080/a/b/",
            "https://o.rs/p?ignored=1",
            "https://o.rs/p#frag",
        ];
        let requests = [
            "https://edge.example.rs/api/x?b=2&a=1",
            "https://edge.example.rs/",
            "https://edge.example.rs/a%20b/%C3%A9/c?q=%20&x",
            "https://edge.example.rs/a/./b/../c/?",
            "https://edge.example.rs/é/ü?ä=1",
            "https://edge.example.rs//double//slash",
            "https://edge.example.rs/a%2e%2e/b%2F?x=%2F#client-frag",
        ];
        for b in bases {
            for r in requests {
                let (base, req) = (Url::parse(b).unwrap(), Url::parse(r).unwrap());
                assert_eq!(
                    origin_url(&base, &req),
                    origin_url_by_setters(&base, &req),
                    "{b} + {r}"
                );
            }
        }
    }

    #[cfg(not(target_arch = "wasm32"))]
    proptest::proptest! {
        #[test]
        fn origin_url_agrees_with_the_url_setters_for_any_path(
            base_path in "(/[a-z0-9%.]{0,4}){0,3}/?",
            path in "(/[a-zA-Z0-9%._~!$&'()*+,;=:@ -]{0,6}){0,5}",
            query in proptest::option::of("[a-zA-Z0-9%=&/?:@ -]{0,12}"),
        ) {
            let base = Url::parse(&format!("https://o.rs{base_path}")).unwrap();
            let request = format!("https://e.rs{path}{}", query.map(|q| format!("?{q}")).unwrap_or_default());
            let Ok(req) = Url::parse(&request) else { return Ok(()) };
            proptest::prop_assert_eq!(origin_url(&base, &req), origin_url_by_setters(&base, &req));
        }
    }

    #[test]
    fn origin_url_keeps_base_path_and_query() {
        let base = Url::parse("https://api.example.rs/v").unwrap();
        let req = Url::parse("https://edge.example.rs/api/x?b=2&a=1").unwrap();
        assert_eq!(
            origin_url(&base, &req),
            "https://api.example.rs/v/api/x?b=2&a=1"
        );
        let base = Url::parse("http://127.0.0.1:9001").unwrap();
        assert_eq!(
            origin_url(&base, &req),
            "http://127.0.0.1:9001/api/x?b=2&a=1"
        );
    }

    #[test]
    fn drops_hop_by_hop_and_connection_listed_headers() {
        let url = Url::parse("http://localhost:8787/a").unwrap();
        let headers = h(&[
            ("connection", "keep-alive, x-secret-hop"),
            ("keep-alive", "timeout=5"),
            ("x-secret-hop", "1"),
            ("te", "trailers"),
            ("upgrade", "h2c"),
            ("proxy-authorization", "Basic x"),
            ("host", "localhost:8787"),
            ("accept-language", "sr"),
            ("authorization", "Bearer user"),
            ("cf-ray", "abc"),
        ]);
        let req = ClientRequest {
            url: &url,
            headers: &headers,
            client_ip: Some("203.0.113.9"),
        };
        let out = origin_request_headers(&req, Some(TP), false);
        for gone in [
            "connection",
            "keep-alive",
            "x-secret-hop",
            "te",
            "upgrade",
            "proxy-authorization",
            "host",
            "cf-ray",
        ] {
            assert_eq!(get(&out, gone), None, "{gone}");
        }
        assert_eq!(get(&out, "accept-language"), Some("sr"));
        assert_eq!(get(&out, "authorization"), Some("Bearer user"));
        assert_eq!(get(&out, "x-forwarded-for"), Some("203.0.113.9"));
        assert_eq!(get(&out, "x-forwarded-proto"), Some("http"));
        assert_eq!(get(&out, "x-forwarded-host"), Some("localhost:8787"));
        assert_eq!(get(&out, "traceparent"), Some(TP));
    }

    #[test]
    fn appends_client_ip_to_an_existing_forwarded_for() {
        let url = Url::parse("https://edge.rs/a").unwrap();
        let headers = h(&[
            ("x-forwarded-for", "198.51.100.1"),
            ("x-forwarded-host", "evil"),
        ]);
        let req = ClientRequest {
            url: &url,
            headers: &headers,
            client_ip: Some("203.0.113.9"),
        };
        let out = origin_request_headers(&req, Some(TP), false);
        assert_eq!(
            get(&out, "x-forwarded-for"),
            Some("198.51.100.1, 203.0.113.9")
        );
        assert_eq!(get(&out, "x-forwarded-host"), Some("edge.rs"));
        assert_eq!(get(&out, "x-forwarded-proto"), Some("https"));
        assert_eq!(
            out.iter().filter(|(n, _)| n == "x-forwarded-host").count(),
            1
        );
    }

    #[test]
    fn tracestate_follows_only_a_continued_trace() {
        let url = Url::parse("https://edge.rs/a").unwrap();
        let headers = h(&[("traceparent", "junk"), ("tracestate", "vendor=1")]);
        let req = ClientRequest {
            url: &url,
            headers: &headers,
            client_ip: None,
        };
        assert_eq!(
            get(&origin_request_headers(&req, Some(TP), false), "tracestate"),
            None
        );
        assert_eq!(
            get(&origin_request_headers(&req, Some(TP), true), "tracestate"),
            Some("vendor=1")
        );
        assert_eq!(
            get(
                &origin_request_headers(&req, Some(TP), true),
                "x-forwarded-for"
            ),
            None
        );
    }

    #[test]
    fn no_trace_plan_sends_no_trace_headers() {
        let url = Url::parse("https://edge.rs/a").unwrap();
        let headers = h(&[("traceparent", TP), ("tracestate", "vendor=1")]);
        let req = ClientRequest {
            url: &url,
            headers: &headers,
            client_ip: None,
        };
        let out = origin_request_headers(&req, None, false);
        assert_eq!(get(&out, "traceparent"), None);
        assert_eq!(get(&out, "tracestate"), None);
    }

    #[test]
    fn repeated_cookie_fields_reach_the_origin_as_one_semicolon_list() {
        let url = Url::parse("https://edge.rs/a").unwrap();
        let headers = h(&[("cookie", "a=1, locale=ru"), ("cookie", "b=2")]);
        let req = ClientRequest {
            url: &url,
            headers: &headers,
            client_ip: None,
        };
        let out = origin_request_headers(&req, Some(TP), false);
        assert_eq!(
            out.iter().filter(|(n, _)| n == "cookie").count(),
            1,
            "{out:?}"
        );
        assert_eq!(get(&out, "cookie"), Some("a=1; locale=ru; b=2"));
    }

    #[test]
    fn response_loses_hop_by_hop_headers_and_the_edges_targeted_fields_only() {
        let out = client_response_headers(
            &h(&[
                ("connection", "close"),
                ("transfer-encoding", "chunked"),
                ("content-type", "application/json"),
                ("set-cookie", "a=b"),
                ("cdn-cache-control", "max-age=60"),
                ("catalog-edge-cache-control", "max-age=5"),
            ]),
            Some("catalog-edge-cache-control"),
        );
        assert_eq!(
            out,
            h(&[("content-type", "application/json"), ("set-cookie", "a=b")])
        );
    }
}
