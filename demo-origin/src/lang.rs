//! Response-language selection, mirroring the real backend.
//!
//! The origin sends no `Vary` header, so catalog-edge must put the language the origin *would*
//! choose into its cache key. This module is the reference for that rule:
//!
//! 1. the query parameter `lang` (its first occurrence), then
//! 2. the query parameter `locale` (its first occurrence), then
//! 3. the **first** tag of `Accept-Language` (the part before the first `,`, without any `;q=…`
//!    parameters), with its region stripped (`en-US` → `en`, `sr_RS` → `sr`), then
//! 4. the `locale` cookie (the first cookie named exactly `locale`), then
//! 5. the default, `sr`.
//!
//! Supported values are `sr`, `en` and `ru`, compared case-insensitively after trimming ASCII
//! whitespace. A source that is absent, empty, or whose value is not supported is skipped and
//! the next source is tried: `?lang=de&locale=en` gives `en`, `Accept-Language: de-DE,en;q=0.9`
//! falls through to the cookie (only the first tag is ever looked at). Region stripping applies
//! to the `Accept-Language` tag only: `?lang=en-US` is not supported and is skipped. The chosen
//! language is echoed in `Content-Language`.

use std::fmt;

/// A response language the origin supports.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Lang {
    /// Serbian (Latin script), the default.
    Sr,
    /// English.
    En,
    /// Russian.
    Ru,
}

impl Lang {
    /// All supported languages, default first.
    pub const ALL: [Lang; 3] = [Lang::Sr, Lang::En, Lang::Ru];

    /// Parses a language code (case-insensitive, surrounding whitespace ignored).
    pub fn parse(value: &str) -> Option<Lang> {
        let v = value.trim();
        if v.eq_ignore_ascii_case("sr") {
            Some(Lang::Sr)
        } else if v.eq_ignore_ascii_case("en") {
            Some(Lang::En)
        } else if v.eq_ignore_ascii_case("ru") {
            Some(Lang::Ru)
        } else {
            None
        }
    }

    /// The lowercase code, as sent in `Content-Language`.
    pub fn code(self) -> &'static str {
        match self {
            Lang::Sr => "sr",
            Lang::En => "en",
            Lang::Ru => "ru",
        }
    }
}

impl fmt::Display for Lang {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.code())
    }
}

/// The raw inputs that language selection looks at, all optional.
#[derive(Debug, Default, Clone, Copy)]
pub struct LangSources<'a> {
    /// First value of the `lang` query parameter (already percent-decoded).
    pub lang_param: Option<&'a str>,
    /// First value of the `locale` query parameter (already percent-decoded).
    pub locale_param: Option<&'a str>,
    /// The `Accept-Language` header (several headers joined with `", "`).
    pub accept_language: Option<&'a str>,
    /// The `Cookie` header (several headers joined with `"; "`).
    pub cookie: Option<&'a str>,
}

/// Chooses the response language from the sources, following the module-level rule.
pub fn select(sources: LangSources<'_>) -> Lang {
    sources
        .lang_param
        .and_then(Lang::parse)
        .or_else(|| sources.locale_param.and_then(Lang::parse))
        .or_else(|| sources.accept_language.and_then(first_accept_language))
        .or_else(|| {
            sources
                .cookie
                .and_then(cookie_value("locale"))
                .and_then(Lang::parse)
        })
        .unwrap_or(Lang::Sr)
}

/// The language of the first `Accept-Language` tag with its region stripped, if supported.
pub fn first_accept_language(header: &str) -> Option<Lang> {
    let tag = header.split(',').next()?.split(';').next()?.trim();
    let primary = tag.split(['-', '_']).next()?;
    Lang::parse(primary)
}

/// Returns a function that finds the first cookie called `name` in a `Cookie` header.
fn cookie_value(name: &str) -> impl Fn(&str) -> Option<&str> + '_ {
    move |header: &str| {
        header.split(';').find_map(|pair| {
            let (k, v) = pair.split_once('=')?;
            (k.trim() == name).then(|| v.trim().trim_matches('"'))
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pick(
        lang: Option<&str>,
        locale: Option<&str>,
        accept: Option<&str>,
        cookie: Option<&str>,
    ) -> Lang {
        select(LangSources {
            lang_param: lang,
            locale_param: locale,
            accept_language: accept,
            cookie,
        })
    }

    #[test]
    fn default_is_serbian() {
        assert_eq!(pick(None, None, None, None), Lang::Sr);
    }

    #[test]
    fn each_source_alone() {
        assert_eq!(pick(Some("en"), None, None, None), Lang::En);
        assert_eq!(pick(None, Some("ru"), None, None), Lang::Ru);
        assert_eq!(pick(None, None, Some("en"), None), Lang::En);
        assert_eq!(pick(None, None, None, Some("locale=ru")), Lang::Ru);
    }

    #[test]
    fn precedence_lang_locale_header_cookie() {
        let all = pick(Some("ru"), Some("en"), Some("sr"), Some("locale=en"));
        assert_eq!(all, Lang::Ru);
        assert_eq!(
            pick(None, Some("en"), Some("ru"), Some("locale=sr")),
            Lang::En
        );
        assert_eq!(pick(None, None, Some("ru"), Some("locale=en")), Lang::Ru);
        assert_eq!(pick(None, None, None, Some("locale=en")), Lang::En);
    }

    #[test]
    fn case_insensitive_and_trimmed() {
        assert_eq!(pick(Some("EN"), None, None, None), Lang::En);
        assert_eq!(pick(Some(" Ru "), None, None, None), Lang::Ru);
        assert_eq!(pick(None, None, Some("RU-ru"), None), Lang::Ru);
        assert_eq!(pick(None, None, None, Some("locale=EN")), Lang::En);
    }

    #[test]
    fn accept_language_region_stripped_first_tag_only() {
        assert_eq!(pick(None, None, Some("en-US,en;q=0.9"), None), Lang::En);
        assert_eq!(pick(None, None, Some("sr-Latn-RS"), None), Lang::Sr);
        assert_eq!(pick(None, None, Some("ru_RU"), None), Lang::Ru);
        assert_eq!(pick(None, None, Some("en;q=0.8, ru"), None), Lang::En);
        // Only the first tag counts: an unsupported first tag skips the header entirely.
        assert_eq!(pick(None, None, Some("de-DE,en;q=0.9"), None), Lang::Sr);
        assert_eq!(
            pick(None, None, Some("de-DE,en;q=0.9"), Some("locale=ru")),
            Lang::Ru
        );
        assert_eq!(pick(None, None, Some("*"), None), Lang::Sr);
    }

    #[test]
    fn region_not_stripped_outside_accept_language() {
        assert_eq!(pick(Some("en-US"), None, None, None), Lang::Sr);
        assert_eq!(pick(Some("en-US"), Some("ru"), None, None), Lang::Ru);
        assert_eq!(pick(None, None, None, Some("locale=en-US")), Lang::Sr);
    }

    #[test]
    fn unsupported_values_fall_through() {
        assert_eq!(pick(Some("de"), Some("en"), None, None), Lang::En);
        assert_eq!(pick(Some("de"), Some("fr"), Some("ru"), None), Lang::Ru);
        assert_eq!(
            pick(Some("xx"), Some("yy"), Some("fr-FR"), Some("locale=en")),
            Lang::En
        );
        assert_eq!(
            pick(Some("xx"), None, None, Some("locale=de")),
            Lang::Sr,
            "everything unsupported gives the default"
        );
        assert_eq!(pick(Some(""), Some(""), Some(""), Some("")), Lang::Sr);
    }

    #[test]
    fn cookie_parsing() {
        assert_eq!(
            pick(None, None, None, Some("session=abc; locale=en; theme=dark")),
            Lang::En
        );
        assert_eq!(pick(None, None, None, Some("mylocale=en")), Lang::Sr);
        assert_eq!(pick(None, None, None, Some("locale=\"ru\"")), Lang::Ru);
        assert_eq!(
            pick(None, None, None, Some("locale=ru; locale=en")),
            Lang::Ru
        );
    }

    #[test]
    fn codes_round_trip() {
        for l in Lang::ALL {
            assert_eq!(Lang::parse(l.code()), Some(l));
            assert_eq!(l.to_string(), l.code());
        }
    }
}
