//! Header lists as the core sees them: `(name, value)` pairs with lowercase names, in order, as
//! the runtime's `Headers` iterator yields them.

/// A header list.
pub type HeaderList = [(String, String)];

/// The first value of `name` (lowercase).
pub fn get<'a>(headers: &'a HeaderList, name: &str) -> Option<&'a str> {
    headers
        .iter()
        .find(|(n, _)| n == name)
        .map(|(_, v)| v.as_str())
}

/// Every value of `name`, each split on commas and trimmed (for list-valued fields such as
/// `Cache-Control` and `Vary`).
pub fn comma_values<'a>(headers: &'a HeaderList, name: &'a str) -> impl Iterator<Item = &'a str> {
    headers
        .iter()
        .filter(move |(n, _)| n == name)
        .flat_map(|(_, v)| v.split(','))
        .map(str::trim)
        .filter(|v| !v.is_empty())
}

/// True when `name` is present.
pub fn has(headers: &HeaderList, name: &str) -> bool {
    headers.iter().any(|(n, _)| n == name)
}

/// Sets `name` to `value`, replacing every earlier value.
pub fn set(headers: &mut Vec<(String, String)>, name: &str, value: impl Into<String>) {
    headers.retain(|(n, _)| n != name);
    headers.push((name.to_string(), value.into()));
}

/// Removes every value of `name`.
pub fn remove(headers: &mut Vec<(String, String)>, name: &str) {
    headers.retain(|(n, _)| n != name);
}

/// An owned header list from borrowed pairs (names must already be lowercase).
pub fn owned(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
    pairs
        .iter()
        .map(|(n, v)| (n.to_string(), v.to_string()))
        .collect()
}

/// What [`from_lines`] reads: method, URL, colo, and the headers.
pub type RequestLines<'a> = (&'a str, &'a str, Option<&'a str>, Vec<(String, String)>);

/// A request's first facts and its headers as the glue reads them from the runtime in one string
/// (`edge::convert::incoming`): `method`, `url`, `colo` (empty: none), then each header's name and
/// value, every field on its own line. Unambiguous without escaping: a method, a serialised URL,
/// a header name or value never holds a line feed (the runtime's `Headers` refuses one, and the
/// glue checks the colo). `None` when the lines do not pair up.
pub fn from_lines(text: &str) -> Option<RequestLines<'_>> {
    let mut lines = text.split('\n');
    let method = lines.next()?;
    let url = lines.next()?;
    let colo = lines.next()?;
    let headers = pairs_from(lines)?;
    let colo = (!colo.is_empty()).then_some(colo);
    Some((method, url, colo, headers))
}

/// Header pairs written a name or value a line (see [`from_lines`]); `None` when the lines do
/// not pair up. The empty text is no headers.
pub fn pairs_from_lines(text: &str) -> Option<Vec<(String, String)>> {
    if text.is_empty() {
        return Some(Vec::new());
    }
    pairs_from(text.split('\n'))
}

fn pairs_from<'a>(mut lines: impl Iterator<Item = &'a str>) -> Option<Vec<(String, String)>> {
    let mut headers = Vec::with_capacity(16);
    while let Some(name) = lines.next() {
        let value = lines.next()?;
        headers.push((name.to_owned(), value.to_owned()));
    }
    Some(headers)
}

/// How to turn a header list the runtime already holds (`base`, as read from it) into `target`
/// without sending `target` across: the names to delete from a copy of `base`, then the pairs to
/// apply to it — the first value of a name replaces the base's, later values of that name (and
/// every `Set-Cookie`) are appended, as `edge_build_response` in src/edge/glue.js applies them.
/// Names whose values (in order) are the same in both lists are neither deleted nor sent.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct HeaderDiff<'a> {
    /// Names to delete from the copy first.
    pub strip: Vec<&'a str>,
    /// Pairs to apply after the deletions.
    pub edits: Vec<(&'a str, &'a str)>,
}

/// The [`HeaderDiff`] from `base` to `target` (both lowercase names). Lists are a few dozen
/// pairs at most: each distinct name is compared by a scan of both.
pub fn diff<'a>(base: &'a HeaderList, target: &'a HeaderList) -> HeaderDiff<'a> {
    let mut out = HeaderDiff::default();
    fn values<'a>(list: &'a HeaderList, name: &'a str) -> impl Iterator<Item = &'a str> {
        list.iter()
            .filter(move |(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }
    for (i, (name, _)) in target.iter().enumerate() {
        if target[..i].iter().any(|(n, _)| n == name) {
            continue;
        }
        if values(base, name).eq(values(target, name)) {
            continue;
        }
        // `Set-Cookie` values are only ever appended, so the base's go first.
        if name == "set-cookie" && has(base, name) {
            out.strip.push(name);
        }
        out.edits
            .extend(values(target, name).map(|v| (name.as_str(), v)));
    }
    for (i, (name, _)) in base.iter().enumerate() {
        if !has(target, name) && !base[..i].iter().any(|(n, _)| n == name) {
            out.strip.push(name);
        }
    }
    out
}

#[cfg(test)]
mod line_tests {
    use super::*;

    #[test]
    fn request_lines_read_back_as_fields_and_pairs() {
        let text = "GET\nhttps://e.rs/a?b=1\nBEG\naccept-language\nsr, en;q=0.5\ncookie\n\nx-empty-name-next\nv";
        let (method, url, colo, headers) = from_lines(text).unwrap();
        assert_eq!(
            (method, url, colo),
            ("GET", "https://e.rs/a?b=1", Some("BEG"))
        );
        assert_eq!(
            headers,
            owned(&[
                ("accept-language", "sr, en;q=0.5"),
                ("cookie", ""),
                ("x-empty-name-next", "v"),
            ])
        );
    }

    #[test]
    fn no_colo_no_headers_and_unpaired_lines() {
        assert_eq!(
            from_lines("PROPFIND\nhttps://e.rs/\n"),
            Some(("PROPFIND", "https://e.rs/", None, Vec::new()))
        );
        assert_eq!(from_lines("GET\nhttps://e.rs/\n\nonly-a-name"), None);
        assert_eq!(from_lines("GET\nhttps://e.rs/"), None);
    }

    #[test]
    fn pairs_read_back_from_lines() {
        assert_eq!(pairs_from_lines(""), Some(Vec::new()));
        assert_eq!(
            pairs_from_lines("a\n1\nb\n\nset-cookie\nx=1; Path=/"),
            Some(owned(&[
                ("a", "1"),
                ("b", ""),
                ("set-cookie", "x=1; Path=/")
            ]))
        );
        assert_eq!(pairs_from_lines("a\n1\nb"), None);
    }
}

#[cfg(all(test, not(target_arch = "wasm32")))]
mod diff_tests {
    use super::*;
    use proptest::prelude::*;

    /// `edge_build_response`'s edits, as src/edge/glue.js applies them to a copy of `base`.
    fn apply(base: &HeaderList, diff: &HeaderDiff<'_>) -> Vec<(String, String)> {
        let mut out: Vec<(String, String)> = base
            .iter()
            .filter(|(n, _)| !diff.strip.contains(&n.as_str()))
            .cloned()
            .collect();
        let mut seen: Vec<&str> = Vec::new();
        for (name, value) in &diff.edits {
            if *name == "set-cookie" || seen.contains(name) {
                out.push((name.to_string(), value.to_string()));
            } else {
                seen.push(name);
                set(&mut out, name, *value);
            }
        }
        out
    }

    /// Each name's values in order, names sorted: what a `Headers` object holds.
    fn by_name(list: &HeaderList) -> Vec<(String, Vec<String>)> {
        let mut names: Vec<&String> = list.iter().map(|(n, _)| n).collect();
        names.sort();
        names.dedup();
        names
            .into_iter()
            .map(|n| {
                let vs = list.iter().filter(|(m, _)| m == n);
                (n.clone(), vs.map(|(_, v)| v.clone()).collect())
            })
            .collect()
    }

    #[test]
    fn only_what_differs_is_sent() {
        let base = owned(&[
            ("cache-control", "max-age=60"),
            ("connection", "keep-alive"),
            ("content-type", "application/json"),
            ("etag", "\"v1\""),
            ("set-cookie", "a=1"),
        ]);
        let target = owned(&[
            ("cache-control", "public, max-age=60"),
            ("content-type", "application/json"),
            ("etag", "\"v1\""),
            ("cache-status", "catalog-edge; fwd=miss"),
            ("server-timing", "origin;dur=3"),
            ("server-timing", "edge;dur=1"),
        ]);
        let d = diff(&base, &target);
        assert_eq!(d.strip, vec!["connection", "set-cookie"]);
        assert_eq!(
            d.edits,
            vec![
                ("cache-control", "public, max-age=60"),
                ("cache-status", "catalog-edge; fwd=miss"),
                ("server-timing", "origin;dur=3"),
                ("server-timing", "edge;dur=1"),
            ]
        );
        assert_eq!(by_name(&apply(&base, &d)), by_name(&target));
        assert_eq!(diff(&target, &target), HeaderDiff::default());
    }

    #[test]
    fn a_changed_set_cookie_replaces_every_base_value() {
        let base = owned(&[("set-cookie", "a=1"), ("set-cookie", "b=2")]);
        let target = owned(&[("set-cookie", "b=2")]);
        let d = diff(&base, &target);
        assert_eq!(
            (d.strip, d.edits),
            (vec!["set-cookie"], vec![("set-cookie", "b=2")])
        );
    }

    fn list() -> impl Strategy<Value = Vec<(String, String)>> {
        let name = prop::sample::select(vec![
            "age",
            "etag",
            "set-cookie",
            "vary",
            "x-a",
            "cache-status",
            "server-timing",
        ]);
        let value = prop::sample::select(vec!["", "1", "2", "a, b"]);
        prop::collection::vec((name, value), 0..8).prop_map(|pairs| {
            pairs
                .into_iter()
                .map(|(n, v)| (n.to_string(), v.to_string()))
                .collect()
        })
    }

    proptest! {
        #[test]
        fn applying_the_diff_to_the_base_gives_the_target(base in list(), target in list()) {
            let d = diff(&base, &target);
            prop_assert_eq!(by_name(&apply(&base, &d)), by_name(&target));
            // Nothing the base already has in that form is sent again.
            for (name, _) in &d.edits {
                let same = base.iter().filter(|(n, _)| n == name).map(|(_, v)| v)
                    .eq(target.iter().filter(|(n, _)| n == name).map(|(_, v)| v));
                prop_assert!(!same);
            }
        }
    }
}
