//! `Cache-Control` (RFC 9111 §5.2) parsed leniently: unknown directives are kept, a directive
//! whose argument is malformed is recorded as present with no usable value, and nothing fails.

use crate::headers::{self, HeaderList};

/// The directives of one message's `Cache-Control` fields.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CacheControl {
    directives: Vec<(String, Option<String>)>,
}

impl CacheControl {
    /// Parses every `Cache-Control` field of `headers`.
    pub fn from_headers(headers: &HeaderList) -> CacheControl {
        let mut directives = Vec::new();
        for field in headers.iter().filter(|(n, _)| n == "cache-control") {
            for part in split_outside_quotes(&field.1) {
                let part = part.trim();
                if part.is_empty() {
                    continue;
                }
                let (name, arg) = match part.split_once('=') {
                    Some((n, a)) => (n.trim(), Some(a.trim().trim_matches('"').to_string())),
                    None => (part, None),
                };
                directives.push((name.to_ascii_lowercase(), arg));
            }
        }
        CacheControl { directives }
    }

    /// True when the directive is present (with or without an argument).
    pub fn has(&self, name: &str) -> bool {
        self.directives.iter().any(|(n, _)| n == name)
    }

    /// A delta-seconds argument (RFC 9111 §1.2.2). Present-but-invalid (`max-age=abc`,
    /// `max-age=-1`) gives `Some(None)`: the caller must treat it as "not fresh". Values too
    /// large saturate, as §1.2.2 asks.
    pub fn seconds(&self, name: &str) -> Option<Option<u64>> {
        let (_, arg) = self.directives.iter().find(|(n, _)| n == name)?;
        let Some(arg) = arg.as_deref() else {
            return Some(None);
        };
        if arg.is_empty() || !arg.bytes().all(|b| b.is_ascii_digit()) {
            return Some(None);
        }
        Some(Some(arg.parse::<u64>().unwrap_or(u64::from(u32::MAX))))
    }
}

/// Splits a field value on commas that are not inside a quoted string (`no-cache="a, b"`).
fn split_outside_quotes(value: &str) -> Vec<&str> {
    let mut parts = Vec::new();
    let mut start = 0;
    let mut quoted = false;
    let mut escaped = false;
    for (i, c) in value.char_indices() {
        match c {
            _ if escaped => escaped = false,
            '\\' if quoted => escaped = true,
            '"' => quoted = !quoted,
            ',' if !quoted => {
                parts.push(&value[start..i]);
                start = i + 1;
            }
            _ => {}
        }
    }
    if quoted {
        // An unterminated quote would hide every directive after it (`x="a, private`): a cache
        // must not let that hide a prohibition, so split such a field on every comma instead.
        return value.split(',').collect();
    }
    parts.push(&value[start..]);
    parts
}

/// True when a response `Pragma: no-cache` applies (only without `Cache-Control`, RFC 9111 §5.4).
pub fn pragma_no_cache(headers: &HeaderList) -> bool {
    !headers::has(headers, "cache-control")
        && headers::comma_values(headers, "pragma").any(|v| v.eq_ignore_ascii_case("no-cache"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cc(v: &str) -> CacheControl {
        CacheControl::from_headers(&[("cache-control".into(), v.into())])
    }

    #[test]
    fn parses_directives_and_arguments() {
        let c = cc("public, max-age=60, S-MaxAge=\"120\", no-cache=\"set-cookie, x\"");
        assert!(c.has("public"));
        assert_eq!(c.seconds("max-age"), Some(Some(60)));
        assert_eq!(c.seconds("s-maxage"), Some(Some(120)));
        assert!(c.has("no-cache"));
        assert_eq!(c.seconds("stale-if-error"), None);
    }

    #[test]
    fn malformed_arguments_are_present_but_unusable() {
        for v in [
            "max-age=abc",
            "max-age=-1",
            "max-age=",
            "max-age",
            "max-age=1.5",
        ] {
            assert_eq!(cc(v).seconds("max-age"), Some(None), "{v}");
        }
    }

    #[test]
    fn huge_values_saturate() {
        assert_eq!(
            cc("max-age=99999999999999999999999").seconds("max-age"),
            Some(Some(u64::from(u32::MAX)))
        );
    }

    #[test]
    fn garbage_never_panics() {
        for v in [",,,", "=", "\"", "max-age=\"", "a=b=c", "\u{0}\u{1}", "ñ=ñ"] {
            let _ = cc(v).seconds("max-age");
        }
    }

    #[test]
    fn several_fields_combine() {
        let c = CacheControl::from_headers(&[
            ("cache-control".into(), "max-age=5".into()),
            ("cache-control".into(), "private".into()),
        ]);
        assert!(c.has("private"));
        assert_eq!(c.seconds("max-age"), Some(Some(5)));
    }
}
