//! The path the edge matches rules on. Route rules, bypasses, `BLOCKED_PATH_PREFIXES` and canary
//! participation must see the path the origin will route, not one of its spellings: a blocked
//! prefix that `/%5f_origin/stats` or `//__origin/stats` slips past reaches the origin, and an
//! admin path spelt `/api/v1/%61dmin/users` must still bypass the cache.
//!
//! [`normalize`] percent-decodes (repeatedly, so double encoding cannot hide a segment), treats
//! `\` as `/`, drops `;parameters` from segments, collapses empty segments (`//`), resolves `.`
//! and `..`, lowercases ASCII (the marketplace origin, Go Fiber, routes case-insensitively), and
//! drops a trailing slash (Fiber's non-strict routing answers `/x/` as `/x`). The result is only
//! for matching: the origin gets the path as the client sent it, and the cache key keeps it.

use std::borrow::Cow;

/// How many rounds of percent-decoding at most (`%25` chains longer than this stay encoded).
const MAX_DECODE_ROUNDS: usize = 4;

/// The normalised form of a request path, for matching (see the module documentation). A path
/// that is already normal (the common case: every request the edge sends itself, and most
/// clients') is borrowed, not copied.
pub fn normalize(path: &str) -> Cow<'_, str> {
    if is_normal(path) {
        Cow::Borrowed(path)
    } else {
        Cow::Owned(normalize_owned(path))
    }
}

/// True when [`normalize_owned`] would return `path` unchanged: it starts with `/`, and each
/// segment after it is non-empty, not `.` or `..`, and holds no `%`, `\`, `;` or ASCII capital
/// (so nothing is decoded, split, collapsed, resolved or lowercased). `/` alone is normal.
fn is_normal(path: &str) -> bool {
    let bytes = path.as_bytes();
    if bytes.first() != Some(&b'/') {
        return false;
    }
    if bytes.len() == 1 {
        return true;
    }
    // One pass: each `/` (and the end) closes a segment, which must be non-empty and not a dot
    // segment; no byte may be one the normalisation would change.
    let mut start = 1;
    for i in 1..=bytes.len() {
        match bytes.get(i) {
            None | Some(b'/') => {
                if matches!(&bytes[start..i], b"" | b"." | b"..") {
                    return false;
                }
                start = i + 1;
            }
            Some(b'%' | b'\\' | b';' | b'A'..=b'Z') => return false,
            Some(_) => {}
        }
    }
    true
}

/// The normalisation itself, for paths that need it.
fn normalize_owned(path: &str) -> String {
    let mut decoded = path.replace('\\', "/");
    for _ in 0..MAX_DECODE_ROUNDS {
        let next = percent_decode(&decoded).replace('\\', "/");
        if next == decoded {
            break;
        }
        decoded = next;
    }
    let mut segments: Vec<&str> = Vec::new();
    for raw in decoded.split('/') {
        // `;` starts path parameters (RFC 3986 §3.3 allows them; servers strip them).
        let segment = raw.split(';').next().unwrap_or("");
        match segment {
            "" | "." => {}
            ".." => {
                segments.pop();
            }
            s => segments.push(s),
        }
    }
    let mut out = String::with_capacity(decoded.len() + 1);
    for s in &segments {
        out.push('/');
        out.push_str(s);
    }
    if out.is_empty() {
        out.push('/');
    }
    out.make_ascii_lowercase();
    out
}

/// True when `path` (already normalised) is under `prefix` as configured: a prefix ending in `/`
/// covers that path itself and everything below it (`/__origin/` covers `/__origin` and
/// `/__origin/stats`, not `/__originals`); any other prefix is a plain string prefix.
pub fn has_prefix(normalized: &str, prefix: &str) -> bool {
    // `normalize` drops a trailing slash anyway: without it a normal prefix (`/__edge/`) is
    // borrowed, not copied, on every request.
    let p = normalize(
        prefix
            .strip_suffix('/')
            .filter(|t| !t.is_empty())
            .unwrap_or(prefix),
    );
    if prefix.ends_with('/') {
        p == "/"
            || normalized == p
            || normalized
                .strip_prefix(&*p)
                .is_some_and(|rest| rest.starts_with('/'))
    } else {
        normalized.starts_with(&*p)
    }
}

/// `%XX` decoded byte-wise; invalid escapes are kept; bytes that are not UTF-8 become U+FFFD.
fn percent_decode(s: &str) -> String {
    if !s.contains('%') {
        return s.to_string();
    }
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = |b: u8| (b as char).to_digit(16);
        match (bytes[i], bytes.get(i + 1), bytes.get(i + 2)) {
            (b'%', Some(&h), Some(&l)) if hex(h).is_some() && hex(l).is_some() => {
                let (h, l) = (hex(h).unwrap_or(0), hex(l).unwrap_or(0));
                out.push((h * 16 + l) as u8);
                i += 3;
            }
            (b, _, _) => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// The path of a URL as the runtime serialises it (`request.url`), without parsing the URL: the
/// first `/` after `scheme://host` to the first `?` or `#` (a WHATWG serialisation never has an
/// empty path for http(s), and percent-encodes `?` and `#` inside it); `/` when there is none.
pub fn of_url(url: &str) -> &str {
    let rest = match url.find("://") {
        Some(i) => match url[i + 3..].find(['/', '?', '#']) {
            Some(j) if url.as_bytes()[i + 3 + j] == b'/' => &url[i + 3 + j..],
            _ => return "/",
        },
        None => url,
    };
    let path = &rest[..rest.find(['?', '#']).unwrap_or(rest.len())];
    if path.starts_with('/') {
        path
    } else {
        "/"
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_spelling_of_a_blocked_path_normalises_to_it() {
        for p in [
            "/__origin/stats",
            "/%5f_origin/stats",
            "/%5F%5Forigin/stats",
            "//__origin/stats",
            "/__ORIGIN/stats",
            "/__origin%2fstats",
            "/__origin;/stats",
            "/__origin;x=1/stats/",
            "/x/../__origin/stats",
            "/x/%2e%2e/__origin/stats",
            "/%255f_origin/stats",
            "\\__origin\\stats",
            "/./__origin/./stats",
        ] {
            assert_eq!(normalize(p), "/__origin/stats", "{p}");
            assert!(has_prefix(&normalize(p), "/__origin/"), "{p}");
        }
    }

    #[test]
    fn admin_spellings_normalise_to_the_admin_path() {
        for p in [
            "/api/v1/%61dmin/users",
            "//api/v1/admin/users",
            "/api/v1/Admin/users/",
        ] {
            assert_eq!(normalize(p), "/api/v1/admin/users", "{p}");
        }
    }

    #[test]
    fn a_trailing_slash_and_the_root_are_normalised() {
        assert_eq!(
            normalize("/api/v1/marketplace/categories/"),
            "/api/v1/marketplace/categories"
        );
        assert_eq!(normalize("/"), "/");
        assert_eq!(normalize(""), "/");
        assert_eq!(normalize("/../.."), "/");
        assert_eq!(normalize("/a%zz"), "/a%zz", "an invalid escape is kept");
    }

    #[test]
    fn prefixes_ending_in_a_slash_cover_whole_segments_only() {
        assert!(has_prefix("/__origin", "/__origin/"));
        assert!(!has_prefix("/__originals", "/__origin/"));
        assert!(has_prefix("/__originals", "/__orig"));
        assert!(has_prefix("/anything", "/"));
    }

    #[test]
    fn the_path_of_a_serialised_url() {
        for (url, path) in [
            ("https://edge.example.rs/api/v2/x?lang=en#top", "/api/v2/x"),
            ("https://edge.example.rs/", "/"),
            ("https://edge.example.rs", "/"),
            ("http://127.0.0.1:8787/a/b", "/a/b"),
            ("https://edge.example.rs/a%3Fb?c", "/a%3Fb"),
            ("https://edge.example.rs?x=1", "/"),
            ("https://edge.example.rs?x=/y", "/"),
            ("https://edge.example.rs#frag", "/"),
            ("/relative?x", "/relative"),
            ("", "/"),
        ] {
            assert_eq!(of_url(url), path, "{url}");
        }
    }

    #[test]
    fn normal_paths_are_borrowed_and_others_copied() {
        assert!(matches!(normalize("/api/v1/x"), Cow::Borrowed(_)));
        assert!(matches!(normalize("/"), Cow::Borrowed(_)));
        assert!(matches!(normalize("/api/é/x"), Cow::Borrowed(_)));
        for p in [
            "", "/a/", "//a", "/A", "/a/./b", "/a/..", "/a;b", "/a%2f", "\\a",
        ] {
            assert!(matches!(normalize(p), Cow::Owned(_)), "{p}");
        }
    }

    #[cfg(not(target_arch = "wasm32"))]
    proptest::proptest! {
        /// The borrowed fast path never disagrees with the full normalisation.
        #[test]
        fn the_fast_path_agrees_with_the_full_normalisation(
            p in proptest::prop_oneof![
                "[/a-zA-Z%._;\\\\2-5fFé]{0,30}",
                // Mostly normal paths, with the odd dot segment, empty segment or capital.
                "(/[a-z0-9._-]{0,5}[a-zA-Z]?){0,7}/?",
            ],
        ) {
            proptest::prop_assert_eq!(normalize(&p), normalize_owned(&p));
            // A trailing slash changes nothing but whether `has_prefix` needs whole segments.
            if !p.is_empty() {
                let slashed = format!("{p}/");
                proptest::prop_assert_eq!(normalize(&slashed), normalize(&p));
            }
            if is_normal(&p) {
                proptest::prop_assert_eq!(normalize_owned(&p), p);
            }
        }
    }
}
