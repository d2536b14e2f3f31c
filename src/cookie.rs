//! Reading request cookies (RFC 6265 §5.4). A client may send several `Cookie` fields, and the
//! runtime's `Headers` joins repeated fields with `", "`; a cookie value cannot hold a comma, a
//! semicolon or whitespace (RFC 6265 §4.1.1 `cookie-octet`), so both `;` and `,` separate pairs.

use crate::headers::HeaderList;

/// Every `name=value` pair of the request's `Cookie` fields, in order, trimmed; values keep
/// their optional quotes removed.
pub fn pairs(headers: &HeaderList) -> impl Iterator<Item = (&str, &str)> {
    headers
        .iter()
        .filter(|(n, _)| n == "cookie")
        .flat_map(|(_, v)| v.split([';', ',']))
        .filter_map(|pair| pair.split_once('='))
        .map(|(k, v)| (k.trim(), v.trim().trim_matches('"')))
        .filter(|(k, _)| !k.is_empty())
}

/// The value of the first cookie called `name`.
pub fn get<'a>(headers: &'a HeaderList, name: &str) -> Option<&'a str> {
    // As `pairs(headers).find(..)`, trimming only the value of the pair that is found.
    if name.is_empty() {
        return None;
    }
    headers
        .iter()
        .filter(|(n, _)| n == "cookie")
        .flat_map(|(_, v)| v.split([';', ',']))
        .find_map(|pair| {
            let (k, v) = pair.split_once('=')?;
            (k.trim() == name).then(|| v.trim().trim_matches('"'))
        })
}

/// One `Cookie` field for the origin, from all of the request's: pairs joined with `"; "` (RFC
/// 6265 §5.4), so an origin that splits on `;` sees every cookie the edge saw. `None` when the
/// request has no cookie.
pub fn joined(headers: &HeaderList) -> Option<String> {
    let mut out = String::new();
    for (k, v) in pairs(headers) {
        if !out.is_empty() {
            out.push_str("; ");
        }
        out.push_str(k);
        out.push('=');
        out.push_str(v);
    }
    (!out.is_empty()).then_some(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::headers::owned as h;

    #[test]
    fn two_cookie_fields_joined_by_the_runtime_keep_every_cookie() {
        let one = h(&[("cookie", "a=1, locale=ru")]);
        assert_eq!(get(&one, "locale"), Some("ru"));
        let two = h(&[("cookie", "a=1"), ("cookie", "locale=ru; b=2")]);
        assert_eq!(get(&two, "locale"), Some("ru"));
        assert_eq!(joined(&two).as_deref(), Some("a=1; locale=ru; b=2"));
        assert_eq!(joined(&one).as_deref(), Some("a=1; locale=ru"));
    }

    #[test]
    fn the_first_cookie_of_a_name_wins_and_quotes_are_removed() {
        let c = h(&[("cookie", "locale=\"en\"; locale=ru")]);
        assert_eq!(get(&c, "locale"), Some("en"));
        assert_eq!(get(&c, "missing"), None);
        assert_eq!(get(&h(&[("cookie", "=x; ;; novalue")]), ""), None);
        assert_eq!(joined(&[]), None);
    }
}
