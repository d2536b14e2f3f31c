//! Cache tags (surrogate keys): what a purge by tag matches. Every stored entry carries the tags
//! its route rule derives from the path and query — so that the real backend, which sends none,
//! is covered — plus those the origin sends in `Cache-Tag` or `Surrogate-Key` (comma or space
//! separated; never forwarded to clients). A rule declares templates such as `category:{1}`
//! (`{1}` is the path segment the pattern's first `*` matched) or `category:{query.category_id}`;
//! a template whose placeholder has no value gives no tag.

use super::purge::{is_valid_tag, MAX_TAG_LEN};
use super::rules::PathPattern;
use crate::headers::{self, HeaderList};

/// The response headers whose tags the origin sends; the edge keeps them with the entry and
/// never forwards them.
pub const TAG_HEADERS: [&str; 2] = ["cache-tag", "surrogate-key"];
/// Most tags an entry keeps (derived first, then the origin's).
pub const MAX_TAGS: usize = 64;

/// One part of a template.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Part {
    Text(String),
    /// The n-th (1-based) `*` segment of the pattern.
    Segment(usize),
    /// A query parameter.
    Query(String),
}

/// A tag template of a route rule.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TagTemplate {
    source: String,
    parts: Vec<Part>,
}

impl TagTemplate {
    /// Parses a template for a rule whose pattern has `wildcards` `*` segments; `Err` says what
    /// is wrong.
    pub fn parse(source: &str, wildcards: usize) -> Result<TagTemplate, String> {
        let mut parts = Vec::new();
        let mut rest = source;
        while let Some(open) = rest.find('{') {
            if open > 0 {
                parts.push(Part::Text(rest[..open].to_string()));
            }
            let close = rest[open..]
                .find('}')
                .ok_or_else(|| format!("{source:?}: '{{' without '}}'"))?;
            let name = &rest[open + 1..open + close];
            if let Some(param) = name.strip_prefix("query.") {
                if param.is_empty() {
                    return Err(format!("{source:?}: {{query.}} names no parameter"));
                }
                parts.push(Part::Query(param.to_string()));
            } else {
                let n: usize = name.parse().map_err(|_| {
                    format!("{source:?}: {{{name}}} is not {{N}} or {{query.NAME}}")
                })?;
                if n == 0 || n > wildcards {
                    return Err(format!(
                        "{source:?}: {{{n}}} but the pattern has {wildcards} '*' segment(s)"
                    ));
                }
                parts.push(Part::Segment(n));
            }
            rest = &rest[open + close + 1..];
        }
        if !rest.is_empty() {
            if rest.contains('}') {
                return Err(format!("{source:?}: '}}' without '{{'"));
            }
            parts.push(Part::Text(rest.to_string()));
        }
        let literal: String = parts
            .iter()
            .filter_map(|p| match p {
                Part::Text(t) => Some(t.as_str()),
                _ => None,
            })
            .collect();
        if parts.is_empty() || (!literal.is_empty() && !is_valid_tag(&literal)) {
            return Err(format!(
                "{source:?}: a tag is 1–{MAX_TAG_LEN} visible characters, no comma"
            ));
        }
        Ok(TagTemplate {
            source: source.to_string(),
            parts,
        })
    }

    /// The template as written.
    pub fn as_str(&self) -> &str {
        &self.source
    }

    /// The tag for a path's captures and a query; `None` when a placeholder has no value or the
    /// result is not a valid tag.
    fn render(&self, captures: &[&str], query: &[(String, String)]) -> Option<String> {
        let mut out = String::new();
        for part in &self.parts {
            match part {
                Part::Text(t) => out.push_str(t),
                Part::Segment(n) => out.push_str(captures.get(n - 1).filter(|s| !s.is_empty())?),
                Part::Query(name) => out.push_str(
                    query
                        .iter()
                        .find(|(k, _)| k == name)
                        .map(|(_, v)| v.as_str())
                        .filter(|v| !v.is_empty())?,
                ),
            }
        }
        is_valid_tag(&out).then_some(out)
    }
}

/// The tags of an entry: those `templates` derive from its purge path (path and normalised
/// query) under `pattern`, then those the origin sent, without duplicates, at most
/// [`MAX_TAGS`].
pub fn for_entry(
    pattern: &PathPattern,
    templates: &[TagTemplate],
    purge_path: &str,
    response_headers: &HeaderList,
) -> Vec<String> {
    let mut tags: Vec<String> = Vec::new();
    let add = |t: String, tags: &mut Vec<String>| {
        if tags.len() < MAX_TAGS && !tags.contains(&t) {
            tags.push(t);
        }
    };
    if !templates.is_empty() {
        let (path, query) = purge_path.split_once('?').unwrap_or((purge_path, ""));
        let normalized = crate::path::normalize(path);
        let captures = pattern.captures(&normalized).unwrap_or_default();
        let query: Vec<(String, String)> = form_urlencoded::parse(query.as_bytes())
            .map(|(k, v)| (k.into_owned(), v.into_owned()))
            .collect();
        for t in templates {
            if let Some(tag) = t.render(&captures, &query) {
                add(tag, &mut tags);
            }
        }
    }
    for name in TAG_HEADERS {
        for value in headers::comma_values(response_headers, name) {
            for tag in value.split_ascii_whitespace() {
                if is_valid_tag(tag) {
                    add(tag.to_string(), &mut tags);
                }
            }
        }
    }
    tags
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::headers::owned as h;

    fn pattern(p: &str) -> PathPattern {
        PathPattern::parse(p).unwrap()
    }

    fn templates(p: &PathPattern, list: &[&str]) -> Vec<TagTemplate> {
        list.iter()
            .map(|t| TagTemplate::parse(t, p.wildcards()).unwrap())
            .collect()
    }

    #[test]
    fn rules_derive_tags_from_path_segments_and_query() {
        let p = pattern("/api/v2/marketplace/categories/*/attributes");
        let t = templates(&p, &["category:{1}", "attributes"]);
        assert_eq!(
            for_entry(
                &p,
                &t,
                "/api/v2/marketplace/categories/10101/attributes",
                &[]
            ),
            ["category:10101", "attributes"]
        );
        let s = pattern("/api/v1/marketplace/search");
        let t = templates(&s, &["search", "category:{query.category_id}"]);
        assert_eq!(
            for_entry(
                &s,
                &t,
                "/api/v1/marketplace/search?category_id=10101&q=yugo",
                &[]
            ),
            ["search", "category:10101"]
        );
        assert_eq!(
            for_entry(&s, &t, "/api/v1/marketplace/search?q=yugo", &[]),
            ["search"],
            "no category filter, no category tag"
        );
        let bad = for_entry(&s, &t, "/api/v1/marketplace/search?category_id=a%20b", &[]);
        assert_eq!(
            bad,
            ["search"],
            "a value that makes no valid tag gives none"
        );
    }

    #[test]
    fn origin_tags_are_added_split_and_bounded() {
        let p = pattern("/x/*");
        let t = templates(&p, &["x:{1}"]);
        let headers = h(&[
            ("cache-tag", "a, b,,c"),
            ("surrogate-key", "b d   e"),
            ("cache-tag", "x:1"),
        ]);
        assert_eq!(
            for_entry(&p, &t, "/x/1", &headers),
            ["x:1", "a", "b", "c", "d", "e"]
        );
        let many: String = (0..100).map(|i| format!("t{i},")).collect();
        let tags = for_entry(&p, &[], "/x/1", &h(&[("cache-tag", &many)]));
        assert_eq!(tags.len(), MAX_TAGS);
        let long = "y".repeat(MAX_TAG_LEN + 1);
        assert!(for_entry(&p, &[], "/x/1", &h(&[("cache-tag", &long)])).is_empty());
    }

    #[test]
    fn bad_templates_say_what_is_wrong() {
        for (t, says) in [
            ("category:{2}", "has 1"),
            ("category:{0}", "has 1"),
            ("category:{x}", "is not"),
            ("category:{1", "without"),
            ("a}b", "without"),
            ("has space", "visible"),
            ("{query.}", "names no"),
            ("", "visible"),
        ] {
            let e = TagTemplate::parse(t, 1).unwrap_err();
            assert!(e.contains(says), "{t}: {e}");
        }
        assert_eq!(TagTemplate::parse("{1}", 1).unwrap().as_str(), "{1}");
    }
}
