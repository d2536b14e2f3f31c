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
        .flat_map(|(_, v)| split_pairs(v))
        .filter_map(|pair| pair.split_once('='))
        .map(|(k, v)| (k.trim(), v.trim().trim_matches('"')))
        .filter(|(k, _)| !k.is_empty())
}

/// The value of the first cookie called `name`.
pub fn get<'a>(headers: &'a HeaderList, name: &str) -> Option<&'a str> {
    let [value] = get_each(headers, [name]);
    value
}

/// [`get`] for each of `names`, in one scan of the fields: what the canary assignment reads
/// (the override, the configured id cookie, `edge_id`) costs one pass. An empty name finds
/// nothing.
pub fn get_each<'a, const N: usize>(
    headers: &'a HeaderList,
    names: [&str; N],
) -> [Option<&'a str>; N] {
    // As `pairs(headers).find(..)` for each name, trimming only the values that are found.
    let mut found = [None; N];
    let pairs = headers
        .iter()
        .filter(|(n, _)| n == "cookie")
        .flat_map(|(_, v)| split_pairs(v));
    for pair in pairs {
        let Some((k, v)) = pair.split_once('=') else {
            continue;
        };
        let k = k.trim();
        let mut missing = false;
        for (slot, name) in found.iter_mut().zip(names) {
            if slot.is_none() && !name.is_empty() && k == name {
                *slot = Some(v.trim().trim_matches('"'));
            }
            missing |= slot.is_none() && !name.is_empty();
        }
        if !missing {
            break;
        }
    }
    found
}

/// A field's `name=value` pairs as `v.split([';', ','])` gives them, found byte by byte (both
/// separators are ASCII, so every cut is on a character boundary).
fn split_pairs(v: &str) -> impl Iterator<Item = &str> {
    let mut rest = Some(v);
    std::iter::from_fn(move || {
        let s = rest?;
        match s.bytes().position(|b| b == b';' || b == b',') {
            Some(i) => {
                rest = Some(&s[i + 1..]);
                Some(&s[..i])
            }
            None => {
                rest = None;
                Some(s)
            }
        }
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

    #[test]
    fn fields_split_as_str_split_does() {
        for v in [
            "",
            ";",
            "a=1",
            "a=1; b=2, c=3",
            ";;a,,",
            "é=ü;ß",
            " a = 1 ;",
        ] {
            let plain: Vec<&str> = v.split([';', ',']).collect();
            assert_eq!(split_pairs(v).collect::<Vec<_>>(), plain, "{v:?}");
        }
    }

    #[cfg(not(target_arch = "wasm32"))]
    proptest::proptest! {
        #[test]
        fn the_byte_splitter_agrees_with_str_split(v in "[a=;, é\"]{0,16}|\\PC{0,16}") {
            let plain: Vec<&str> = v.split([';', ',']).collect();
            proptest::prop_assert_eq!(split_pairs(&v).collect::<Vec<_>>(), plain);
        }
    }
}
