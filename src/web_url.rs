//! http(s) URLs as the WHATWG URL Standard serialises them, without a URL parser in the Wasm.
//!
//! The edge used the `url` crate (~58 KB of Wasm code with its IDNA back end, 21 KiB of the
//! gzipped upload: bench/findings.md "Issue 14, session 8") to parse strings the runtime had
//! already parsed: `request.url` is a serialised URL. So a URL here is a serialised string
//! and the offsets of its parts, found by [`from_serialized`]. Normalising is done by the platform's own
//! WHATWG parser — JavaScript's `URL` in the Workers runtime (the one that serialised
//! `request.url`), the `url` crate natively (tests, benches) — and only for a string that is not
//! already in its serialised form ([`is_serialized`], a byte scan that says yes only where the
//! standard's parser would return the string unchanged; the property tests below hold it to the
//! `url` crate). A request URL is almost always serialised already and costs one scan.
//!
//! Only `http:` and `https:` URLs are represented: every URL the edge handles is one.

use std::fmt;

/// An absolute http(s) URL in its serialised form.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct Url {
    serialization: String,
    /// Index of the `:` after the scheme.
    scheme_end: usize,
    host_start: usize,
    host_end: usize,
    port: Option<u16>,
    /// Index of the path's leading `/`.
    path_start: usize,
    /// Index of the `?`.
    query_start: Option<usize>,
    /// Index of the `#`.
    fragment_start: Option<usize>,
}

/// Why a string is not an http(s) URL.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParseError(String);

impl fmt::Display for ParseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for ParseError {}

impl Url {
    /// Parses `input` as the WHATWG URL parser would (no base URL); only http(s) URLs are
    /// accepted.
    pub fn parse(input: &str) -> Result<Url, ParseError> {
        if is_serialized(input) {
            if let Some(url) = from_serialized(input.to_owned()) {
                return Ok(url);
            }
        }
        let href = platform::href(input, None).map_err(ParseError)?;
        from_serialized(href).ok_or_else(|| ParseError("not an http(s) URL".to_string()))
    }

    /// `reference` resolved against this URL (RFC 3986 §5 as the URL Standard has it).
    pub fn join(&self, reference: &str) -> Result<Url, ParseError> {
        let href = platform::href(reference, Some(self.as_str())).map_err(ParseError)?;
        from_serialized(href).ok_or_else(|| ParseError("not an http(s) URL".to_string()))
    }

    pub fn as_str(&self) -> &str {
        &self.serialization
    }

    /// `http` or `https`.
    pub fn scheme(&self) -> &str {
        &self.serialization[..self.scheme_end]
    }

    /// The host (never empty for an http(s) URL; `Option` as the `url` crate has it).
    pub fn host_str(&self) -> Option<&str> {
        Some(&self.serialization[self.host_start..self.host_end])
    }

    /// The port when it is not the scheme's default.
    pub fn port(&self) -> Option<u16> {
        self.port
    }

    /// The path, starting with `/`.
    pub fn path(&self) -> &str {
        let end = self
            .query_start
            .or(self.fragment_start)
            .unwrap_or(self.serialization.len());
        &self.serialization[self.path_start..end]
    }

    /// The query without its `?`.
    pub fn query(&self) -> Option<&str> {
        let start = self.query_start? + 1;
        let end = self.fragment_start.unwrap_or(self.serialization.len());
        Some(&self.serialization[start..end])
    }

    /// The fragment without its `#`.
    pub fn fragment(&self) -> Option<&str> {
        Some(&self.serialization[self.fragment_start? + 1..])
    }

    fn userinfo(&self) -> Option<&str> {
        let authority_start = self.scheme_end + 3;
        (self.host_start > authority_start)
            .then(|| &self.serialization[authority_start..self.host_start - 1])
    }

    /// The user name (empty when there is none).
    pub fn username(&self) -> &str {
        self.userinfo()
            .map_or("", |u| u.split_once(':').map_or(u, |(name, _)| name))
    }

    pub fn password(&self) -> Option<&str> {
        self.userinfo()?.split_once(':').map(|(_, p)| p)
    }

    /// The query's decoded `application/x-www-form-urlencoded` pairs.
    pub fn query_pairs(&self) -> form_urlencoded::Parse<'_> {
        form_urlencoded::parse(self.query().unwrap_or("").as_bytes())
    }

    /// Everything before the path: `scheme://[userinfo@]host[:port]`.
    pub fn before_path(&self) -> &str {
        &self.serialization[..self.path_start]
    }

    /// The origin, serialised: `scheme://host[:port]`.
    pub fn origin(&self) -> String {
        let mut out = String::with_capacity(self.path_start);
        out.push_str(self.scheme());
        out.push_str("://");
        out.push_str(&self.serialization[self.host_start..self.path_start]);
        out
    }

    /// This URL with its path, query and fragment replaced by `path_and_query` (which starts
    /// with one `/`): how an absolute-path reference resolves against it.
    pub fn join_path(&self, path_and_query: &str) -> Result<Url, ParseError> {
        if !path_and_query.starts_with('/') || path_and_query.starts_with("//") {
            return Err(ParseError(format!(
                "{path_and_query:?} is not an absolute path"
            )));
        }
        Url::parse(&format!("{}{path_and_query}", self.before_path()))
    }

    /// Replaces the path (and drops nothing else). `path` must be serialised already
    /// (percent-encoded, starting with `/`); a constant of this crate, not input.
    pub fn set_path(&mut self, path: &str) {
        let tail_start = self
            .query_start
            .or(self.fragment_start)
            .unwrap_or(self.serialization.len());
        let mut s = String::with_capacity(self.serialization.len() + path.len());
        s.push_str(self.before_path());
        if !path.starts_with('/') {
            s.push('/');
        }
        s.push_str(path);
        s.push_str(&self.serialization[tail_start..]);
        self.replace(s);
    }

    /// Replaces the query (`None` removes it). `query` must be serialised already
    /// (`form_urlencoded::Serializer`'s output is).
    pub fn set_query(&mut self, query: Option<&str>) {
        let path_end = self
            .query_start
            .or(self.fragment_start)
            .unwrap_or(self.serialization.len());
        let mut s = String::with_capacity(path_end + query.map_or(0, |q| q.len() + 1));
        s.push_str(&self.serialization[..path_end]);
        if let Some(q) = query {
            s.push('?');
            s.push_str(q);
        }
        if let Some(f) = self.fragment_start {
            s.push_str(&self.serialization[f..]);
        }
        self.replace(s);
    }

    /// Takes `s` (this URL's scheme and authority, a new tail) as the serialisation.
    fn replace(&mut self, s: String) {
        if let Some(url) = from_serialized(s) {
            *self = url;
        }
    }
}

impl fmt::Debug for Url {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("Url").field(&self.serialization).finish()
    }
}

impl fmt::Display for Url {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.serialization)
    }
}

/// The parts of a serialised http(s) URL (`None` for anything else). Structural only: which
/// strings are serialised is [`is_serialized`]'s question.
fn from_serialized(serialization: String) -> Option<Url> {
    let s = serialization.as_str();
    let scheme_end = if s.starts_with("https://") {
        5
    } else if s.starts_with("http://") {
        4
    } else {
        return None;
    };
    let authority_start = scheme_end + 3;
    let rest = &s[authority_start..];
    let authority_len = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let authority = &rest[..authority_len];
    let host_start = authority_start + authority.rfind('@').map_or(0, |i| i + 1);
    let host_port = &s[host_start..authority_start + authority_len];
    let host_len = if host_port.starts_with('[') {
        host_port.find(']')? + 1
    } else {
        host_port.find(':').unwrap_or(host_port.len())
    };
    if host_len == 0 {
        return None;
    }
    let port = match &host_port[host_len..] {
        "" => None,
        p => {
            let digits = p.strip_prefix(':')?;
            if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
                return None;
            }
            Some(digits.parse::<u16>().ok()?)
        }
    };
    let path_start = authority_start + authority_len;
    if !s[path_start..].starts_with('/') {
        return None;
    }
    let fragment_start = s[path_start..].find('#').map(|i| path_start + i);
    let query_start = s[path_start..fragment_start.unwrap_or(s.len())]
        .find('?')
        .map(|i| path_start + i);
    Some(Url {
        host_end: host_start + host_len,
        serialization,
        scheme_end,
        host_start,
        port,
        path_start,
        query_start,
        fragment_start,
    })
}

/// True when the WHATWG URL parser would return `s` unchanged as an http(s) URL. A sufficient
/// test, not a necessary one: it says no to some serialised URLs (a punycode or IPv6 host,
/// credentials), which then take the platform's parser.
pub fn is_serialized(s: &str) -> bool {
    let (rest, default_port) = if let Some(r) = s.strip_prefix("https://") {
        (r, 443)
    } else if let Some(r) = s.strip_prefix("http://") {
        (r, 80)
    } else {
        return false;
    };
    let end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let (authority, tail) = rest.split_at(end);
    // Without a path the serialiser adds `/`.
    if !tail.starts_with('/') {
        return false;
    }
    let (host, port) = match authority.split_once(':') {
        Some((h, p)) => (h, Some(p)),
        None => (authority, None),
    };
    if !is_serialized_host(host) {
        return false;
    }
    if let Some(p) = port {
        let canonical = !p.is_empty()
            && p.len() <= 5
            && p.bytes().all(|b| b.is_ascii_digit())
            && (p == "0" || !p.starts_with('0'));
        if !canonical
            || p.parse::<u32>()
                .is_ok_and(|v| v > 65_535 || v == default_port)
        {
            return false;
        }
    }
    let (before_fragment, fragment) = match tail.split_once('#') {
        Some((b, f)) => (b, Some(f)),
        None => (tail, None),
    };
    let (path, query) = match before_fragment.split_once('?') {
        Some((p, q)) => (p, Some(q)),
        None => (before_fragment, None),
    };
    path.bytes().all(|b| kept(b, b"\"#<>?`{}\\^|[]"))
        && !path.split('/').any(is_dot_segment)
        && query.is_none_or(|q| q.bytes().all(|b| kept(b, b"\"#<>'`{}\\^|[]")))
        && fragment.is_none_or(|f| f.bytes().all(|b| kept(b, b"\"<>`{}\\^|[]")))
}

/// A printable ASCII byte not in `encoded` (which the parser would percent-encode or treat
/// specially, plus a few it keeps that this test leaves to the parser anyway).
fn kept(b: u8, encoded: &[u8]) -> bool {
    (0x21..=0x7e).contains(&b) && !encoded.contains(&b)
}

/// `.` or `..`, spelled with `%2e` or not: the parser removes them.
fn is_dot_segment(segment: &str) -> bool {
    let s = segment.as_bytes();
    let dots = |t: &[u8]| {
        let mut rest = t;
        let mut n = 0;
        while !rest.is_empty() {
            if rest[0] == b'.' {
                rest = &rest[1..];
            } else if rest.len() >= 3
                && rest[0] == b'%'
                && rest[1] == b'2'
                && rest[2] | 0x20 == b'e'
            {
                rest = &rest[3..];
            } else {
                return 0;
            }
            n += 1;
        }
        n
    };
    matches!(dots(s), 1 | 2)
}

/// A lowercase ASCII domain whose labels are letters, digits and `-` (none empty, none
/// punycode, which the parser validates), or a dotted-decimal IPv4 address in its canonical form.
fn is_serialized_host(host: &str) -> bool {
    if host.is_empty() || host.len() > 253 {
        return false;
    }
    let last = host.rsplit('.').next().unwrap_or("");
    if last.starts_with(|c: char| c.is_ascii_digit()) {
        // The parser reads a host ending in a number as IPv4 (`127.1`, `0x7f.1`, `010.0.0.1`).
        let mut parts = 0;
        for part in host.split('.') {
            parts += 1;
            let canonical = !part.is_empty()
                && part.len() <= 3
                && part.bytes().all(|b| b.is_ascii_digit())
                && (part == "0" || !part.starts_with('0'))
                && part.parse::<u16>().is_ok_and(|v| v <= 255);
            if !canonical {
                return false;
            }
        }
        return parts == 4;
    }
    host.split('.').all(|label| {
        !label.is_empty()
            && !label.starts_with("xn--")
            && label
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
    })
}

/// The platform's WHATWG URL parser: the serialised form of `input`, or why it is not a URL.
#[cfg(target_arch = "wasm32")]
mod platform {
    use wasm_bindgen::prelude::*;

    #[wasm_bindgen(module = "/src/edge/glue.js")]
    extern "C" {
        #[wasm_bindgen(catch)]
        fn edge_url_href(input: &str, base: Option<&str>) -> Result<String, JsValue>;
    }

    pub fn href(input: &str, base: Option<&str>) -> Result<String, String> {
        edge_url_href(input, base).map_err(|e| {
            js_sys::Reflect::get(&e, &JsValue::from_str("message"))
                .ok()
                .and_then(|m| m.as_string())
                .unwrap_or_else(|| "invalid URL".to_string())
        })
    }
}

#[cfg(not(target_arch = "wasm32"))]
mod platform {
    pub fn href(input: &str, base: Option<&str>) -> Result<String, String> {
        match base {
            None => url::Url::parse(input),
            Some(b) => url::Url::parse(b).and_then(|b| b.join(input)),
        }
        .map(String::from)
        .map_err(|e| e.to_string())
    }
}

/// Strings not yet in their serialised form and the href each platform's parser gives them (the
/// native test and the glue test both run it): lowercased, dot segments removed, default ports
/// dropped, IPv4 shorthand expanded, international labels in punycode (`http:///Aé` crashed the
/// `url` crate's ASCII-only IDNA back end: CI, stop 25).
#[cfg(test)]
const NORMALISED: &[(&str, &str)] = &[
    ("HTTP://A.rs/a/./b/../c?x y#f", "http://a.rs/a/c?x%20y#f"),
    ("http://127.1:80/x", "http://127.0.0.1/x"),
    ("https://a.rs", "https://a.rs/"),
    (
        "https://bücher.example/é",
        "https://xn--bcher-kva.example/%C3%A9",
    ),
    ("http:///Aé", "http://xn--a-bga/"),
    ("https://BÜCHER.example", "https://xn--bcher-kva.example/"),
];

#[cfg(all(test, not(target_arch = "wasm32")))]
mod tests {
    use super::*;

    fn oracle(s: &str) -> Option<url::Url> {
        url::Url::parse(s)
            .ok()
            .filter(|u| matches!(u.scheme(), "http" | "https"))
    }

    fn same_as_oracle(input: &str) {
        let ours = Url::parse(input);
        match oracle(input) {
            None => assert!(ours.is_err(), "{input:?} parsed as {ours:?}"),
            Some(o) => {
                let u = ours.unwrap_or_else(|e| panic!("{input:?}: {e}"));
                assert_eq!(u.as_str(), o.as_str(), "{input:?}");
                assert_eq!(u.scheme(), o.scheme(), "{input:?}");
                assert_eq!(u.host_str(), o.host_str(), "{input:?}");
                assert_eq!(u.port(), o.port(), "{input:?}");
                assert_eq!(u.path(), o.path(), "{input:?}");
                assert_eq!(u.query(), o.query(), "{input:?}");
                assert_eq!(u.fragment(), o.fragment(), "{input:?}");
                assert_eq!(u.username(), o.username(), "{input:?}");
                assert_eq!(u.password(), o.password(), "{input:?}");
                assert_eq!(
                    u.before_path(),
                    &o[..url::Position::BeforePath],
                    "{input:?}"
                );
                assert_eq!(u.origin(), o.origin().ascii_serialization(), "{input:?}");
                let pairs: Vec<_> = u.query_pairs().collect();
                let expected: Vec<_> = o.query_pairs().collect();
                assert_eq!(pairs, expected, "{input:?}");
            }
        }
    }

    #[test]
    fn parses_as_the_url_standard_does() {
        for s in [
            "https://edge.example.rs/api/v1/marketplace/categories?lang=sr&b=1",
            "http://127.0.0.1:8787/api/v1/x",
            "http://localhost:8787/",
            "https://a.rs",
            "HTTPS://A.RS/X",
            "https://a.rs:443/x",
            "http://a.rs:80/x",
            "http://a.rs:/x",
            "http://a.rs:0080/x",
            "http://127.1/x",
            "http://0x7f.0.0.1/",
            "http://010.0.0.1/",
            "http://[::1]:9000/x",
            "https://u:p@a.rs/x",
            "https://u@a.rs/x",
            "https://xn--bcher-kva.example/",
            "https://a.rs/a/./b/../c",
            "https://a.rs/a/%2e%2E/c",
            "https://a.rs/a b?c d#e f",
            "https://a.rs/é?é#é",
            "https://a.rs\\x\\y",
            "https://a.rs/x?q='\"`",
            "https://a.rs/x#frag#more",
            "https://a.rs/x?a=1#f?g",
            " https://a.rs/x ",
            "https://a.rs/x\t/y",
            "https://a..rs/",
            "https://a.rs./",
            "https://a_b.rs/",
            "https://a.rs:65535/",
            "https://a.rs:65536/",
            "ftp://a.rs/",
            "mailto:x@a.rs",
            "/relative",
            "",
            "https://",
            "https:///x",
            "https://a.rs?x",
            "https://a.rs#x",
            // International hosts, mapped to punycode (a host with ASCII capitals next to a
            // non-ASCII letter crashed the `url` crate's ASCII-only IDNA back end: CI, stop 25).
            "http:///Aé",
            "https://Bücher.example/é",
            "https://XN--BCHER-KVA.example/",
        ] {
            same_as_oracle(s);
        }
    }

    /// The native platform normalises as the Workers runtime's `URL` does: the glue test runs
    /// the same table in Node.
    #[test]
    fn strings_not_yet_serialised_are_normalised_as_the_runtime_does() {
        for &(input, href) in NORMALISED {
            assert_eq!(Url::parse(input).unwrap().as_str(), href, "{input:?}");
        }
    }

    #[test]
    fn a_serialized_url_is_split_without_the_parser() {
        for s in [
            "https://edge.example.rs/api/v1/marketplace/categories?lang=sr&b=1",
            "http://127.0.0.1:8787/api/v1/x?q=a%20b#top",
            "http://localhost:8787/",
        ] {
            assert!(is_serialized(s), "{s}");
            assert_eq!(oracle(s).map(String::from).as_deref(), Some(s));
        }
        for s in [
            "HTTP://a.rs/",
            "http://a.rs",
            "http://a.rs:80/",
            "http://a.rs/./x",
        ] {
            assert!(!is_serialized(s), "{s}");
        }
    }

    #[test]
    fn edits_and_joins_keep_the_url_serialised() {
        let mut u = Url::parse("https://a.rs:8443/x/y?q=1#f").unwrap();
        u.set_path("/dashboard/index.html");
        assert_eq!(u.as_str(), "https://a.rs:8443/dashboard/index.html?q=1#f");
        u.set_query(None);
        assert_eq!(u.as_str(), "https://a.rs:8443/dashboard/index.html#f");
        u.set_query(Some("a=1&b=%C3%A9"));
        assert_eq!(u.query(), Some("a=1&b=%C3%A9"));
        assert_eq!(u.fragment(), Some("f"));
        assert_eq!(u.path(), "/dashboard/index.html");
        let j = u.join_path("/api/v1/x?lang=en").unwrap();
        assert_eq!(j.as_str(), "https://a.rs:8443/api/v1/x?lang=en");
        assert_eq!(u.join_path("/a/../b").unwrap().path(), "/b");
        assert!(u.join_path("//evil.rs/x").is_err());
        assert!(u.join_path("x").is_err());
        assert!(u.join_path("https://evil.rs/").is_err());
        let base = Url::parse("https://api.rs/base/").unwrap();
        assert_eq!(
            base.join("health/ready").unwrap().as_str(),
            "https://api.rs/base/health/ready"
        );
        let base = Url::parse("https://api.rs/base").unwrap();
        assert_eq!(
            base.join("health/ready").unwrap().as_str(),
            "https://api.rs/health/ready"
        );
    }

    /// What the fast path accepts, the parser returns unchanged; and every part agrees with the
    /// `url` crate's.
    fn agrees_on(s: &str) {
        if is_serialized(s) {
            assert_eq!(
                oracle(s).as_ref().map(url::Url::as_str),
                Some(s),
                "fast path"
            );
        }
        same_as_oracle(s);
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(4000))]

        /// Random URL-like strings: whatever the fast path accepts, the parser returns
        /// unchanged, and every part agrees with the `url` crate's.
        #[test]
        fn agrees_with_the_url_crate(
            s in "(https?|HTTPS?|ftp)://(([a-z]{1,3}(:[a-z]{0,2})?@)?)(([a-zA-Z0-9_-]{0,4}\\.?){1,3}|[0-9]{1,4}(\\.[0-9x]{1,3}){0,4}|\\[::[0-9]\\])(:[0-9]{0,6})?(/([a-zA-Z0-9%.~!$&'()*+,;=:@ \"<>`{}|^\\\\é-]|%2[eE]){0,5}){0,4}(\\?[a-zA-Z0-9%=&+'\"<>`{} #é-]{0,8})?(#[a-zA-Z0-9%?#'\"<>`{} é-]{0,6})?"
        ) {
            agrees_on(&s);
        }

        /// Near-serialised URLs (printable ASCII, short parts: about a fifth pass the fast
        /// path, where the test above rarely gets one): the same.
        #[test]
        fn near_serialized_urls_agree_with_the_url_crate(
            s in "https?://([a-z0-9-]{1,5}(\\.[a-z0-9-]{1,4}){0,2}|[0-9]{1,3}(\\.[0-9]{1,3}){3})(:[0-9]{1,5})?(/[!-.0-9:;=@A-Z\\[\\]^_a-z|~%]{0,3}){1,3}(\\?[!-\"$-~]{0,4})?(#[!-~]{0,3})?"
        ) {
            agrees_on(&s);
        }

        /// Hosts with capitals, non-ASCII letters (ones whose case mapping is special among
        /// them) and stray delimiters, the class where the `url` crate's ASCII-only IDNA back end
        /// panicked (stop 25): no panic, and every part agrees.
        #[test]
        fn international_hosts_agree_with_the_url_crate(s in "(https?|HTTP)://[a-zA-Z0-9éüÜßΣσ\u{0130}\u{212A}.:@%-]{0,10}(/[a-zé]{0,3})?") {
            agrees_on(&s);
        }

        /// Any string at all: no panic, and the same verdict as the `url` crate.
        #[test]
        fn any_string_is_handled(s in "\\PC{0,40}") {
            same_as_oracle(&s);
        }
    }
}

/// The Wasm's normaliser: the runtime's `URL` (Node's here, the same WHATWG parser).
#[cfg(all(test, target_arch = "wasm32"))]
mod glue_tests {
    use super::*;
    use wasm_bindgen_test::wasm_bindgen_test;

    #[wasm_bindgen_test]
    fn strings_not_yet_serialised_are_normalised_by_the_platform() {
        for &(input, href) in NORMALISED {
            let u = Url::parse(input).unwrap();
            assert_eq!(u.as_str(), href, "{input}");
        }
        let u = Url::parse("http://127.0.0.1:8787/api/v1/x?lang=en").unwrap();
        assert_eq!(
            (u.host_str(), u.port(), u.path(), u.query()),
            (Some("127.0.0.1"), Some(8787), "/api/v1/x", Some("lang=en"))
        );
        let base = Url::parse("https://api.rs/base").unwrap();
        assert_eq!(
            base.join("health/ready").unwrap().as_str(),
            "https://api.rs/health/ready"
        );
        for bad in [
            "/relative",
            "not a url",
            "ftp://a.rs/",
            "https://",
            "mailto:x@a.rs",
        ] {
            let err = Url::parse(bad).unwrap_err();
            assert!(!err.to_string().is_empty(), "{bad}");
        }
    }
}
