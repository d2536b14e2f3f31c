//! Origin base URLs and the worker's own hosts: a leaf module, so that the configuration and the
//! rollout configuration both use it without depending on each other.

use crate::web_url::Url;

/// `host[:port]` of a URL.
pub fn host_port(url: &Url) -> Option<String> {
    let host = url.host_str()?;
    Some(match url.port() {
        Some(p) => format!("{host}:{p}"),
        None => host.to_string(),
    })
}

/// An origin base URL: absolute http(s), a host, no query, fragment or credentials, written in
/// ASCII. A host with non-ASCII letters is refused with a hint to write it in punycode (`xn--…`):
/// the configuration says exactly the host the edge connects to, the one its logs, metrics and
/// `Cache-Status` name, not a form the parser would map it to.
pub fn parse_origin_url(raw: &str) -> Result<Url, String> {
    // Refused here, not by the parser: both platforms' parsers (the runtime's `URL`, the `url`
    // crate with Unicode IDNA) would map it to punycode silently.
    if !raw.is_ascii() {
        return Err(format!(
            "{raw:?} is not a URL of ASCII characters: write an international domain name in punycode (xn--…) and percent-encode the path"
        ));
    }
    let url = Url::parse(raw).map_err(|e| format!("{raw:?} is not an http(s) URL ({e})"))?;
    // `web_url::Url` is an http(s) URL with a host by construction.
    if url.query().is_some() || url.fragment().is_some() {
        return Err(format!("{raw:?} must not have a query or fragment"));
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err(format!("{raw:?} must not carry credentials"));
    }
    Ok(url)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn origins_are_plain_http_urls() {
        assert!(parse_origin_url("https://api.example.rs/base").is_ok());
        for bad in [
            "ftp://a.rs",
            "https://a.rs/?q=1",
            "https://u:p@a.rs",
            "https://a.rs/#f",
            "not a url",
        ] {
            assert!(parse_origin_url(bad).is_err(), "{bad}");
        }
        let u = Url::parse("http://127.0.0.1:8787/x").unwrap();
        assert_eq!(host_port(&u).as_deref(), Some("127.0.0.1:8787"));
        let u = Url::parse("https://edge.rs").unwrap();
        assert_eq!(host_port(&u).as_deref(), Some("edge.rs"));
    }

    #[test]
    fn international_origins_are_written_in_punycode() {
        // A Unicode host is refused with the fix in the message (the parsers would map it),
        // its punycode form works, and ASCII hosts are still lowercased.
        let err = parse_origin_url("https://bücher.example").unwrap_err();
        assert!(err.contains("punycode (xn--"), "{err}");
        let u = parse_origin_url("https://xn--bcher-kva.example/api").unwrap();
        assert_eq!(u.host_str(), Some("xn--bcher-kva.example"));
        let u = parse_origin_url("https://API.Example.rs").unwrap();
        assert_eq!(u.host_str(), Some("api.example.rs"));
    }
}
