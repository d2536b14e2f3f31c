//! `Cache-Control` (RFC 9111 §5.2) parsed leniently: unknown directives are kept, a directive
//! whose argument is malformed is recorded as present with no usable value, and nothing fails.
//! Also the targeted fields of RFC 9213 (`CDN-Cache-Control` and the edge's own field), which
//! replace `Cache-Control` and `Expires` for this cache, and the request directives the edge
//! honours.

use crate::headers::{self, HeaderList};

/// RFC 9111 §1.2.2: a delta-seconds too large to represent is taken as 2^31; the one cap every
/// delta-seconds (`max-age`, `s-maxage`, stale windows, `Age`) is read with.
pub const DELTA_SECONDS_CAP: u64 = 1 << 31;

/// The targeted field every CDN reads (RFC 9213 §3).
pub const CDN_CACHE_CONTROL: &str = "cdn-cache-control";

/// The default edge-specific targeted field (`EDGE_CACHE_CONTROL_FIELD`), first in precedence.
pub const DEFAULT_EDGE_FIELD: &str = "catalog-edge-cache-control";

/// The `EDGE_CACHE_CONTROL_FIELD` setting: unset gives [`DEFAULT_EDGE_FIELD`], set but empty
/// gives none; otherwise a header name (a token), lowercased, that is not one of the fields the
/// edge already reads.
pub fn parse_edge_field(raw: Option<&str>) -> Result<Option<String>, String> {
    let Some(raw) = raw else {
        return Ok(Some(DEFAULT_EDGE_FIELD.to_string()));
    };
    let name = raw.trim().to_ascii_lowercase();
    if name.is_empty() {
        return Ok(None);
    }
    if !name
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b))
    {
        return Err(format!("{raw:?} is not a header name"));
    }
    if name == "cache-control" || name == CDN_CACHE_CONTROL {
        return Err(format!("{raw:?} is read anyway; name the edge's own field"));
    }
    Ok(Some(name))
}

/// The directives of one message's `Cache-Control` fields.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CacheControl {
    directives: Vec<(String, Option<String>)>,
}

impl CacheControl {
    /// Parses every `Cache-Control` field of `headers`.
    pub fn from_headers(headers: &HeaderList) -> CacheControl {
        CacheControl::from_field(headers, "cache-control")
    }

    /// The directives that apply to this cache, and whether they came from a targeted field
    /// (RFC 9213 §2.1): the edge's own field (`edge_field`, lowercase) when present and valid,
    /// else `CDN-Cache-Control` when present and valid, else `Cache-Control`. A targeted field
    /// replaces `Cache-Control` *and* `Expires` (and `Pragma`) for this cache; an invalid one
    /// is ignored as if absent.
    pub fn for_edge(headers: &HeaderList, edge_field: Option<&str>) -> (CacheControl, bool) {
        for field in edge_field.into_iter().chain([CDN_CACHE_CONTROL]) {
            if headers::has(headers, field) {
                let cc = CacheControl::from_field(headers, field);
                if cc.is_valid_targeted() {
                    return (cc, true);
                }
            }
        }
        (CacheControl::from_headers(headers), false)
    }

    /// RFC 9213 §2.1: a targeted field is a Structured Fields Dictionary; one whose members do
    /// not parse is ignored. Here: at least one directive, every name a token.
    fn is_valid_targeted(&self) -> bool {
        !self.directives.is_empty()
            && self.directives.iter().all(|(n, _)| {
                !n.is_empty()
                    && n.bytes()
                        .all(|b| b.is_ascii_alphanumeric() || b"-_.*".contains(&b))
            })
    }

    fn from_field(headers: &HeaderList, field_name: &str) -> CacheControl {
        let mut directives = Vec::new();
        for field in headers.iter().filter(|(n, _)| n == field_name) {
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
    /// large saturate at [`DELTA_SECONDS_CAP`], as §1.2.2 asks.
    pub fn seconds(&self, name: &str) -> Option<Option<u64>> {
        let (_, arg) = self.directives.iter().find(|(n, _)| n == name)?;
        Some(arg.as_deref().and_then(delta_seconds))
    }
}

/// A delta-seconds value (RFC 9111 §1.2.2): digits only, capped at [`DELTA_SECONDS_CAP`];
/// `None` for anything else.
pub fn delta_seconds(value: &str) -> Option<u64> {
    if value.is_empty() || !value.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    Some(
        value
            .parse::<u64>()
            .unwrap_or(DELTA_SECONDS_CAP)
            .min(DELTA_SECONDS_CAP),
    )
}

/// The request directives a shared edge cache in front of a catalog honours (see the README's
/// "Request Cache-Control"): `only-if-cached` (never contact the origin, RFC 9111 §5.2.1.7) and
/// `no-store` (do not store the response to this request, §5.2.1.5). Client `no-cache`,
/// `max-age`, `min-fresh` and `max-stale` are ignored: the edge's freshness is the origin team's
/// decision, a client must not be able to send load to the origin at will, nor widen the stale
/// windows an origin allowed.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RequestDirectives {
    /// Answer from the cache or 504, never from the origin.
    pub only_if_cached: bool,
    /// Do not store the response to this request.
    pub no_store: bool,
}

impl RequestDirectives {
    /// The honoured directives of a request's `Cache-Control`.
    pub fn from_headers(request: &HeaderList) -> RequestDirectives {
        let cc = CacheControl::from_headers(request);
        RequestDirectives {
            only_if_cached: cc.has("only-if-cached"),
            no_store: cc.has("no-store"),
        }
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
    fn huge_values_saturate_at_2_pow_31() {
        assert_eq!(
            cc("max-age=99999999999999999999999").seconds("max-age"),
            Some(Some(DELTA_SECONDS_CAP))
        );
        assert_eq!(
            cc("max-age=4294967296").seconds("max-age"),
            Some(Some(DELTA_SECONDS_CAP))
        );
        assert_eq!(
            cc("max-age=2147483647").seconds("max-age"),
            Some(Some(2147483647))
        );
    }

    #[test]
    fn garbage_is_present_but_unusable_never_a_value() {
        for v in [
            "max-age=\"",
            "max-age=a=b",
            "max-age=\u{0}",
            "max-age=ñ",
            "MAX-AGE=-0",
        ] {
            assert_eq!(cc(v).seconds("max-age"), Some(None), "{v:?}");
        }
        for v in [",,,", "=", "\"", "a=b=c", "\u{0}\u{1}", "ñ=ñ"] {
            assert_eq!(cc(v).seconds("max-age"), None, "{v:?}");
            assert!(!cc(v).has("no-store") && !cc(v).has("private"), "{v:?}");
        }
    }

    #[test]
    fn a_targeted_field_replaces_cache_control_edge_field_first() {
        let h = crate::headers::owned(&[
            ("cache-control", "no-store"),
            ("cdn-cache-control", "max-age=60"),
            ("catalog-edge-cache-control", "max-age=5"),
        ]);
        let (c, targeted) = CacheControl::for_edge(&h, Some(DEFAULT_EDGE_FIELD));
        assert!(targeted);
        assert_eq!(c.seconds("max-age"), Some(Some(5)));
        let (c, targeted) = CacheControl::for_edge(&h, None);
        assert!(targeted);
        assert_eq!(c.seconds("max-age"), Some(Some(60)));
        assert!(
            !c.has("no-store"),
            "Cache-Control is not read when a targeted field applies"
        );
        // An invalid targeted field is ignored as if absent.
        let bad = crate::headers::owned(&[
            ("cache-control", "max-age=9"),
            ("cdn-cache-control", "max age=60"),
        ]);
        let (c, targeted) = CacheControl::for_edge(&bad, None);
        assert!(!targeted);
        assert_eq!(c.seconds("max-age"), Some(Some(9)));
    }

    #[test]
    fn the_edge_field_setting_defaults_can_be_turned_off_and_must_be_a_new_header_name() {
        assert_eq!(parse_edge_field(None), Ok(Some(DEFAULT_EDGE_FIELD.into())));
        assert_eq!(parse_edge_field(Some(" ")), Ok(None));
        assert_eq!(
            parse_edge_field(Some("X-Edge-CC")),
            Ok(Some("x-edge-cc".into()))
        );
        assert!(parse_edge_field(Some("bad name")).is_err());
        assert!(parse_edge_field(Some("CDN-Cache-Control")).is_err());
        assert!(parse_edge_field(Some("cache-control")).is_err());
    }

    #[test]
    fn only_only_if_cached_and_no_store_are_honoured_in_requests() {
        let d = RequestDirectives::from_headers(&crate::headers::owned(&[(
            "cache-control",
            "no-cache, max-age=0, min-fresh=60, max-stale, only-if-cached, no-store",
        )]));
        assert_eq!(
            d,
            RequestDirectives {
                only_if_cached: true,
                no_store: true
            }
        );
        assert_eq!(
            RequestDirectives::from_headers(&[]),
            RequestDirectives::default()
        );
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
