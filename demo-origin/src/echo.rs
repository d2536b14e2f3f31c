//! Echo endpoints: `ANY /echo/{name}` answers with a programmed (or query-described) response,
//! honouring `If-None-Match` / `If-Modified-Since` against the `ETag` / `Last-Modified` it
//! carries, so the edge's revalidation can be exercised. A program may ask for a generated body
//! of any size (`crate::bulk`), with `Content-Length` or chunked.

use std::time::SystemTime;

use hyper::header::{HeaderMap, HeaderName, HeaderValue, CONTENT_TYPE};
use hyper::{Method, StatusCode};
use serde_json::Value;

use crate::bulk::{self, Generated};
use crate::etag::if_none_match_matches;
use crate::query::Query;

/// What `/echo/{name}` answers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EchoProgram {
    /// Response status.
    pub status: StatusCode,
    /// Response headers, in order (repeated names allowed).
    pub headers: Vec<(HeaderName, HeaderValue)>,
    /// Response body; `None` means the default `{"echo":"<name>"}`.
    pub body: Option<String>,
    /// A generated body of this many bytes instead (`crate::bulk`).
    pub bytes: Option<u64>,
    /// Send the generated body chunked, without `Content-Length`.
    pub chunked: bool,
    /// Wait this long before each chunk of the generated body.
    pub chunk_delay_ms: u64,
}

impl EchoProgram {
    /// Parses `{"status":200,"headers":[["Name","Value"],…] | {"Name":"Value"},"body":"text"}`,
    /// or `"bytes": N` (and `"chunked": true`) for a generated body.
    pub fn from_json(v: &Value) -> Result<EchoProgram, String> {
        let obj = v.as_object().ok_or("body must be a JSON object")?;
        let status = match obj.get("status") {
            None | Some(Value::Null) => StatusCode::OK,
            Some(s) => parse_status(
                &s.as_u64()
                    .map(|n| n.to_string())
                    .ok_or("status must be a number")?,
            )?,
        };
        let mut headers = Vec::new();
        match obj.get("headers") {
            None | Some(Value::Null) => {}
            Some(Value::Array(pairs)) => {
                for pair in pairs {
                    let (name, value) = match pair.as_array().map(Vec::as_slice) {
                        Some([Value::String(n), Value::String(v)]) => (n, v),
                        _ => {
                            return Err("each header must be a [name, value] pair of strings".into())
                        }
                    };
                    headers.push(header(name, value)?);
                }
            }
            Some(Value::Object(map)) => {
                for (name, value) in map {
                    let value = value.as_str().ok_or("header values must be strings")?;
                    headers.push(header(name, value)?);
                }
            }
            Some(_) => return Err("headers must be an array of [name, value] pairs".into()),
        }
        let body = match obj.get("body") {
            None | Some(Value::Null) => None,
            Some(Value::String(s)) => Some(s.clone()),
            Some(other) => Some(other.to_string()),
        };
        let bytes = match obj.get("bytes") {
            None | Some(Value::Null) => None,
            Some(v) => Some(parse_bytes(&v.to_string())?),
        };
        let chunked = match obj.get("chunked") {
            None | Some(Value::Null) => false,
            Some(Value::Bool(b)) => *b,
            Some(_) => return Err("chunked must be true or false".into()),
        };
        let chunk_delay_ms = match obj.get("chunk_delay_ms") {
            None | Some(Value::Null) => 0,
            Some(v) => parse_chunk_delay(&v.to_string())?,
        };
        Ok(EchoProgram {
            status,
            headers,
            body,
            bytes,
            chunked,
            chunk_delay_ms,
        })
    }

    /// Parses `?status=200&h=Name:Value&h=…&body=…` (already percent-decoded); `bytes=N` asks
    /// for a generated body, `chunked=1` sends it chunked.
    pub fn from_query(q: &Query) -> Result<EchoProgram, String> {
        let status = match q.get("status").filter(|s| !s.is_empty()) {
            Some(s) => parse_status(s)?,
            None => StatusCode::OK,
        };
        let headers = q
            .get_all("h")
            .map(|h| {
                let (name, value) = h
                    .split_once(':')
                    .ok_or_else(|| format!("header {h:?} must look like Name:Value"))?;
                header(name.trim(), value.trim())
            })
            .collect::<Result<Vec<_>, String>>()?;
        Ok(EchoProgram {
            status,
            headers,
            body: q.get("body").map(str::to_string),
            bytes: q.get("bytes").map(parse_bytes).transpose()?,
            chunked: q.get("chunked") == Some("1"),
            chunk_delay_ms: q
                .get("chunk_delay_ms")
                .map(parse_chunk_delay)
                .transpose()?
                .unwrap_or(0),
        })
    }

    /// The value of the first header called `name`.
    fn header(&self, name: &HeaderName) -> Option<&HeaderValue> {
        self.headers.iter().find(|(n, _)| n == name).map(|(_, v)| v)
    }

    /// A JSON description of the program (for control responses).
    pub fn describe(&self) -> Value {
        serde_json::json!({
            "status": self.status.as_u16(),
            "headers": self.headers.iter()
                .map(|(n, v)| vec![n.as_str().to_string(), String::from_utf8_lossy(v.as_bytes()).into_owned()])
                .collect::<Vec<_>>(),
            "body": self.body,
            "bytes": self.bytes,
            "chunked": self.chunked,
            "chunk_delay_ms": self.chunk_delay_ms,
        })
    }
}

fn parse_chunk_delay(s: &str) -> Result<u64, String> {
    s.trim()
        .parse::<u64>()
        .ok()
        .filter(|n| *n <= bulk::MAX_CHUNK_DELAY_MS)
        .ok_or_else(|| {
            format!(
                "invalid chunk_delay_ms {s:?}: expected 0-{}",
                bulk::MAX_CHUNK_DELAY_MS
            )
        })
}

fn parse_bytes(s: &str) -> Result<u64, String> {
    s.trim()
        .parse::<u64>()
        .ok()
        .filter(|n| *n <= bulk::MAX_BYTES)
        .ok_or_else(|| format!("invalid bytes {s:?}: expected 0-{}", bulk::MAX_BYTES))
}

fn parse_status(s: &str) -> Result<StatusCode, String> {
    s.trim()
        .parse::<u16>()
        .ok()
        .filter(|n| (200..=599).contains(n))
        .and_then(|n| StatusCode::from_u16(n).ok())
        .ok_or_else(|| format!("invalid status {s:?}: expected 200-599"))
}

fn header(name: &str, value: &str) -> Result<(HeaderName, HeaderValue), String> {
    let n = HeaderName::from_bytes(name.as_bytes())
        .map_err(|_| format!("invalid header name {name:?}"))?;
    let v = HeaderValue::from_str(value).map_err(|_| format!("invalid header value {value:?}"))?;
    Ok((n, v))
}

/// A response produced by an echo endpoint.
#[derive(Debug)]
pub struct EchoResponse {
    /// Status (304 when a conditional request matched).
    pub status: StatusCode,
    /// Headers, content-type included.
    pub headers: Vec<(HeaderName, HeaderValue)>,
    /// Body (empty for 304).
    pub body: Vec<u8>,
    /// A generated body instead of `body`.
    pub generated: Option<Generated>,
}

/// Builds the response of `program`, evaluating conditional request headers for GET/HEAD 200s.
/// `default_body` is used when the program has no body.
pub fn respond(
    program: &EchoProgram,
    method: &Method,
    request_headers: &HeaderMap,
    default_body: Vec<u8>,
) -> EchoResponse {
    let mut headers = program.headers.clone();
    if program.header(&CONTENT_TYPE).is_none() {
        headers.push((
            CONTENT_TYPE,
            HeaderValue::from_static("application/json; charset=utf-8"),
        ));
    }
    let conditional = (method == Method::GET || method == Method::HEAD)
        && program.status == StatusCode::OK
        && not_modified(program, request_headers);
    if conditional {
        return EchoResponse {
            status: StatusCode::NOT_MODIFIED,
            headers,
            body: Vec::new(),
            generated: None,
        };
    }
    let body = match &program.body {
        Some(b) => b.clone().into_bytes(),
        None => default_body,
    };
    EchoResponse {
        status: program.status,
        headers,
        body,
        generated: program
            .bytes
            .map(|n| Generated::new(n, program.chunked, program.chunk_delay_ms)),
    }
}

/// RFC 9110 §13.2.2: `If-None-Match` first; `If-Modified-Since` only when it is absent.
fn not_modified(program: &EchoProgram, req: &HeaderMap) -> bool {
    let joined = |name: &str| -> Option<String> {
        let values: Vec<String> = req
            .get_all(name)
            .iter()
            .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned())
            .collect();
        (!values.is_empty()).then(|| values.join(", "))
    };
    if let Some(inm) = joined("if-none-match") {
        return program
            .header(&hyper::header::ETAG)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|etag| if_none_match_matches(&inm, etag));
    }
    let Some(ims) = joined("if-modified-since").and_then(|v| parse_date(&v)) else {
        return false;
    };
    program
        .header(&hyper::header::LAST_MODIFIED)
        .and_then(|v| v.to_str().ok())
        .and_then(parse_date)
        .is_some_and(|last_modified| last_modified <= ims)
}

fn parse_date(s: &str) -> Option<SystemTime> {
    httpdate::parse_http_date(s.trim()).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn req(pairs: &[(&'static str, &'static str)]) -> HeaderMap {
        let mut m = HeaderMap::new();
        for (k, v) in pairs {
            m.append(*k, HeaderValue::from_static(v));
        }
        m
    }

    #[test]
    fn query_program() {
        let q = Query::parse("status=201&h=Cache-Control:max-age%3D60&h=Set-Cookie:a=b&body=hi");
        let p = EchoProgram::from_query(&q).unwrap();
        assert_eq!(p.status, StatusCode::CREATED);
        assert_eq!(p.headers.len(), 2);
        assert_eq!(p.headers[0].1, "max-age=60");
        assert_eq!(p.body.as_deref(), Some("hi"));
        assert!(EchoProgram::from_query(&Query::parse("status=99")).is_err());
        let big = EchoProgram::from_query(&Query::parse("bytes=67108864&chunked=1")).unwrap();
        assert_eq!((big.bytes, big.chunked), (Some(64 << 20), true));
        assert!(EchoProgram::from_query(&Query::parse("bytes=-1")).is_err());
        assert!(EchoProgram::from_query(&Query::parse("bytes=1073741825")).is_err());
        assert!(EchoProgram::from_query(&Query::parse("h=novalue")).is_err());
    }

    #[test]
    fn json_program() {
        let v = serde_json::json!({"status": 200, "headers": [["ETag", "\"v1\""], ["Set-Cookie", "a=b"]], "body": "text"});
        let p = EchoProgram::from_json(&v).unwrap();
        assert_eq!(p.headers.len(), 2);
        assert!(
            EchoProgram::from_json(&serde_json::json!({"headers": [["bad name", "x"]]})).is_err()
        );
        assert!(EchoProgram::from_json(&serde_json::json!({"status": "x"})).is_err());
        let big =
            EchoProgram::from_json(&serde_json::json!({"bytes": 10, "chunked": true})).unwrap();
        assert_eq!((big.bytes, big.chunked), (Some(10), true));
        let generated = respond(&big, &Method::GET, &req(&[]), vec![]).generated;
        assert_eq!(
            generated.map(|g| hyper::body::Body::size_hint(&g).exact()),
            Some(None),
            "a chunked body hides its length"
        );
        let slow = EchoProgram::from_query(&Query::parse("bytes=1&chunk_delay_ms=250")).unwrap();
        assert_eq!(slow.chunk_delay_ms, 250);
        assert!(EchoProgram::from_query(&Query::parse("bytes=1&chunk_delay_ms=10001")).is_err());
        assert!(EchoProgram::from_json(&serde_json::json!({"bytes": "lots"})).is_err());
    }

    #[test]
    fn conditional_requests() {
        let p = EchoProgram::from_query(&Query::parse(
            "h=ETag:\"v1\"&h=Last-Modified:Tue, 15 Nov 1994 12:45:26 GMT",
        ))
        .unwrap();
        let r = respond(
            &p,
            &Method::GET,
            &req(&[("if-none-match", "\"v1\"")]),
            vec![],
        );
        assert_eq!(r.status, StatusCode::NOT_MODIFIED);
        let r = respond(
            &p,
            &Method::GET,
            &req(&[("if-none-match", "\"v0\"")]),
            b"x".to_vec(),
        );
        assert_eq!((r.status, r.body), (StatusCode::OK, b"x".to_vec()));
        let later = req(&[("if-modified-since", "Wed, 16 Nov 1994 00:00:00 GMT")]);
        assert_eq!(
            respond(&p, &Method::GET, &later, vec![]).status,
            StatusCode::NOT_MODIFIED
        );
        let earlier = req(&[("if-modified-since", "Mon, 14 Nov 1994 00:00:00 GMT")]);
        assert_eq!(
            respond(&p, &Method::GET, &earlier, vec![]).status,
            StatusCode::OK
        );
        // If-None-Match takes precedence over If-Modified-Since.
        let both = req(&[
            ("if-none-match", "\"v0\""),
            ("if-modified-since", "Wed, 16 Nov 1994 00:00:00 GMT"),
        ]);
        assert_eq!(
            respond(&p, &Method::GET, &both, vec![]).status,
            StatusCode::OK
        );
        // Not for POST.
        let r = respond(&p, &Method::POST, &req(&[("if-none-match", "*")]), vec![]);
        assert_eq!(r.status, StatusCode::OK);
    }
}
