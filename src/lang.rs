//! The response language the origin would choose, mirrored exactly so the cache key can carry it.
//! The real backend sends no `Vary`, so without this a Serbian user would get a cached Russian
//! response.
//!
//! The rule (the origin's, see `ORIGIN_API.md`): the `lang` query parameter, then `locale`, then
//! the first `Accept-Language` tag with its region stripped (`en-US` → `en`; only the first tag
//! is looked at), then the `locale` cookie, then `sr`. Values are `sr`, `en`, `ru`,
//! case-insensitive; a source that is absent or unsupported is skipped.

use crate::headers::{self, HeaderList};

/// A language the origin serves.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Lang {
    /// Serbian, the default.
    Sr,
    /// English.
    En,
    /// Russian.
    Ru,
}

impl Lang {
    /// Every language, the default first.
    pub const ALL: [Lang; 3] = [Lang::Sr, Lang::En, Lang::Ru];

    /// Parses `sr`, `en` or `ru` (case-insensitive, whitespace trimmed).
    pub fn parse(value: &str) -> Option<Lang> {
        let v = value.trim();
        Lang::ALL
            .into_iter()
            .find(|l| v.eq_ignore_ascii_case(l.as_str()))
    }

    /// The lowercase code.
    pub fn as_str(self) -> &'static str {
        match self {
            Lang::Sr => "sr",
            Lang::En => "en",
            Lang::Ru => "ru",
        }
    }
}

/// The language the origin would answer a request in. `query_pairs` are the decoded query
/// parameters in order.
pub fn choose<K: AsRef<str>, V: AsRef<str>>(
    query_pairs: &[(K, V)],
    request_headers: &HeaderList,
) -> Lang {
    let first_param = |name: &str| {
        query_pairs
            .iter()
            .find(|(k, _)| k.as_ref() == name)
            .map(|(_, v)| v.as_ref())
    };
    first_param("lang")
        .and_then(Lang::parse)
        .or_else(|| first_param("locale").and_then(Lang::parse))
        .or_else(|| accept_language_first(request_headers))
        .or_else(|| locale_cookie(request_headers))
        .unwrap_or(Lang::Sr)
}

fn accept_language_first(h: &HeaderList) -> Option<Lang> {
    let value = headers::get(h, "accept-language")?;
    let tag = value.split(',').next()?.split(';').next()?.trim();
    let primary = tag.split(['-', '_']).next()?;
    Lang::parse(primary)
}

fn locale_cookie(h: &HeaderList) -> Option<Lang> {
    crate::cookie::get(h, "locale").and_then(Lang::parse)
}

#[cfg(test)]
mod tests {
    use super::*;

    use crate::headers::owned as h;
    use crate::headers::owned as q;

    const NO_QUERY: &[(String, String)] = &[];

    #[test]
    fn precedence_is_lang_locale_header_cookie_default() {
        let all_headers = h(&[("accept-language", "en-US"), ("cookie", "locale=ru")]);
        assert_eq!(
            choose(&q(&[("lang", "ru"), ("locale", "en")]), &[]),
            Lang::Ru
        );
        assert_eq!(choose(&q(&[("locale", "en")]), &all_headers), Lang::En);
        assert_eq!(choose(NO_QUERY, &all_headers), Lang::En);
        assert_eq!(
            choose(NO_QUERY, &h(&[("cookie", "a=1; locale=ru")])),
            Lang::Ru
        );
        assert_eq!(choose(NO_QUERY, &[]), Lang::Sr);
    }

    #[test]
    fn unsupported_sources_are_skipped() {
        assert_eq!(
            choose(&q(&[("lang", "de"), ("locale", "en")]), &[]),
            Lang::En
        );
        assert_eq!(
            choose(&q(&[("lang", "en-US")]), &h(&[("accept-language", "ru")])),
            Lang::Ru,
            "region stripping is for the header only"
        );
        assert_eq!(
            choose(
                NO_QUERY,
                &h(&[
                    ("accept-language", "de-DE,en;q=0.9"),
                    ("cookie", "locale=ru")
                ])
            ),
            Lang::Ru,
            "only the first Accept-Language tag counts"
        );
    }

    #[test]
    fn header_tags_lose_their_region_and_case() {
        assert_eq!(
            choose(NO_QUERY, &h(&[("accept-language", "en-US,en;q=0.9")])),
            Lang::En
        );
        assert_eq!(
            choose(NO_QUERY, &h(&[("accept-language", "SR_rs")])),
            Lang::Sr
        );
        assert_eq!(
            choose(NO_QUERY, &h(&[("accept-language", "ru;q=0.8")])),
            Lang::Ru
        );
        assert_eq!(choose(&q(&[("lang", " EN ")]), &[]), Lang::En);
    }
}
