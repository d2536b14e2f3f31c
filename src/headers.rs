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

/// `method`, `url`, `colo` and the headers of a request's lines (`from_lines`).
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
    let mut headers = Vec::with_capacity(16);
    while let Some(name) = lines.next() {
        let value = lines.next()?;
        headers.push((name.to_owned(), value.to_owned()));
    }
    let colo = (!colo.is_empty()).then_some(colo);
    Some((method, url, colo, headers))
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
}
