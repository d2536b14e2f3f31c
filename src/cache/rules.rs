//! Route rules: ordered path patterns, each with a cache policy. The first rule whose pattern
//! matches a path decides; paths no rule matches use [`RuleSet::fallback`] (`origin` mode).
//!
//! Patterns are paths whose segments may be `*` (any one segment) and whose last segment may be
//! `**` (any rest, including nothing): `/api/v2/marketplace/categories/*/attributes`,
//! `/api/v1/admin/**`.

use serde::Deserialize;
use std::rc::Rc;

use super::tags::TagTemplate;
use crate::json;
use crate::problem::FieldError as ConfigError;

/// How a rule decides freshness.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CacheMode {
    /// The edge TTL wins over the origin's freshness headers (like Cloudflare's Edge TTL).
    /// Storage prohibitions (`no-store`, `private`, `Set-Cookie`, …) still apply.
    Override,
    /// The origin's `Cache-Control`/`Expires` decide, as an RFC 9111 shared cache.
    Origin,
    /// Never cached: requests go straight to the origin.
    Bypass,
}

impl CacheMode {
    /// `override`, `origin` or `bypass`.
    pub fn as_str(self) -> &'static str {
        match self {
            CacheMode::Override => "override",
            CacheMode::Origin => "origin",
            CacheMode::Bypass => "bypass",
        }
    }
}

/// One segment of a pattern.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Segment {
    Literal(String),
    Any,
    Rest,
}

/// A parsed path pattern, compiled once when the rules are read: the leading literal segments,
/// as written (`/api/v2/marketplace/categories`), are compared at once, so that matching a path
/// against a rule it does not fit is one prefix comparison, and only the segments after that
/// prefix are walked. Matching neither allocates nor splits the prefix.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PathPattern {
    source: String,
    segments: Vec<Segment>,
    /// The length of the leading literal segments in `source` (`/` + each, joined): what every
    /// matching path starts with, ASCII case aside. 0 when the first segment is a wildcard.
    head_len: usize,
    /// How many segments the head covers.
    head_segments: usize,
}

impl PathPattern {
    /// Parses a pattern; `Err` says what is wrong.
    pub fn parse(source: &str) -> Result<PathPattern, String> {
        if !source.starts_with('/') {
            return Err(format!("{source:?} does not start with '/'"));
        }
        let raw: Vec<&str> = source[1..].split('/').collect();
        let mut segments = Vec::with_capacity(raw.len());
        for (i, s) in raw.iter().enumerate() {
            segments.push(match *s {
                "**" if i + 1 == raw.len() => Segment::Rest,
                "**" => return Err(format!("{source:?}: '**' may only be the last segment")),
                "*" => Segment::Any,
                s if s.contains('*') => {
                    return Err(format!("{source:?}: '*' must be a whole segment"))
                }
                s => Segment::Literal(s.to_string()),
            });
        }
        let mut head_len = 0;
        let mut head_segments = 0;
        for segment in &segments {
            let Segment::Literal(l) = segment else { break };
            head_len += 1 + l.len();
            head_segments += 1;
        }
        Ok(PathPattern {
            source: source.to_string(),
            segments,
            head_len,
            head_segments,
        })
    }

    /// The pattern as written.
    pub fn as_str(&self) -> &str {
        &self.source
    }

    /// How many `*` segments the pattern has (what tag templates can capture).
    pub fn wildcards(&self) -> usize {
        self.segments
            .iter()
            .filter(|s| matches!(s, Segment::Any))
            .count()
    }

    /// The segments a path's `*`s matched, in order; `None` when the path does not match.
    pub fn captures<'p>(&self, path: &'p str) -> Option<Vec<&'p str>> {
        let mut captured = Vec::new();
        self.walk(path, |p| captured.push(p)).then_some(captured)
    }

    /// True when `path` matches.
    pub fn matches(&self, path: &str) -> bool {
        self.walk(path, |_| {})
    }

    /// Matches `path` segment by segment (literals ignoring ASCII case, `*` any non-empty
    /// segment, `**` any rest), handing each `*`'s segment to `capture`. The literal head is
    /// compared at once; it ends on a segment boundary of the path or the path does not match.
    fn walk<'p>(&self, path: &'p str, mut capture: impl FnMut(&'p str)) -> bool {
        if !path.starts_with('/') {
            return false;
        }
        let n = self.head_len;
        let head = &self.source.as_bytes()[..n];
        let head_fits = path
            .as_bytes()
            .get(..n)
            .is_some_and(|h| h.eq_ignore_ascii_case(head));
        let Some(rest) = path.get(n..).filter(|_| head_fits) else {
            return false;
        };
        // After the head: nothing, or `/` and the remaining segments.
        let mut parts = match rest.strip_prefix('/') {
            Some(r) => Some(r.split('/')),
            None if rest.is_empty() => None,
            None => return false,
        };
        for seg in &self.segments[self.head_segments..] {
            let part = parts.as_mut().and_then(Iterator::next);
            match (seg, part) {
                (Segment::Rest, _) => return true,
                (Segment::Any, Some(p)) if !p.is_empty() => capture(p),
                (Segment::Literal(l), Some(p)) if p.eq_ignore_ascii_case(l) => {}
                _ => return false,
            }
        }
        parts.as_mut().and_then(Iterator::next).is_none()
    }
}

/// A rule: a pattern and what the cache does with the paths it matches.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RouteRule {
    /// A short stable name, used in stats, logs and `Cache-Status`.
    pub id: String,
    /// Which paths.
    pub pattern: PathPattern,
    /// How freshness is decided.
    pub mode: CacheMode,
    /// Edge TTL per status, in `override` mode; statuses not listed are not stored.
    pub status_ttl_secs: Vec<(u16, u64)>,
    /// How long past freshness a stored response is served while a background refresh runs.
    pub stale_while_revalidate_secs: u64,
    /// How long past freshness a stored response is served when the origin fails.
    pub stale_if_error_secs: u64,
    /// Whether the language the origin would choose is part of the cache key.
    pub vary_language: bool,
    /// The tags its entries carry (besides the origin's), for purges by tag.
    pub tags: Vec<TagTemplate>,
}

impl RouteRule {
    /// The `override`-mode TTL for a status, if that status is stored.
    pub fn ttl_for_status(&self, status: u16) -> Option<u64> {
        self.status_ttl_secs
            .iter()
            .find(|(s, _)| *s == status)
            .map(|(_, t)| *t)
    }

    /// The longest time an entry of this rule can be useful: freshness plus stale windows.
    pub fn max_retention_secs(&self) -> u64 {
        let ttl = self
            .status_ttl_secs
            .iter()
            .map(|(_, t)| *t)
            .max()
            .unwrap_or(0);
        ttl + self
            .stale_while_revalidate_secs
            .max(self.stale_if_error_secs)
    }
}

/// Statuses `ttl_secs` applies to in `override` mode.
pub const TTL_STATUSES: [u16; 4] = [200, 203, 301, 410];
/// Default negative TTL: how long a 404 is kept.
pub const DEFAULT_NOT_FOUND_TTL_SECS: u64 = 30;

/// The ordered rules and the fallback.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RuleSet {
    /// Rules in match order (each shared: a request holds its rule without copying it).
    pub rules: Vec<Rc<RouteRule>>,
    /// What paths no rule matches get: `origin` mode, the origin's own stale directives only.
    pub fallback: Rc<RouteRule>,
}

impl RuleSet {
    /// The rule for a path, matched on its normalised form (`crate::path::normalize`: decoded,
    /// `//` collapsed, case and a trailing slash ignored), so that no spelling of a path escapes
    /// its rule.
    pub fn rule_for(&self, path: &str) -> &Rc<RouteRule> {
        let path = crate::path::normalize(path);
        self.rules
            .iter()
            .find(|r| r.pattern.matches(&path))
            .unwrap_or(&self.fallback)
    }

    /// The marketplace defaults (`ORIGIN_API.md`), following the origin team's Redis TTLs: all
    /// unified attributes 24 h, a category's attributes 12 h, attribute values (ranges) 6 h,
    /// categories, tree and popular categories 6 h, search 60 s; `override` mode, since the real
    /// backend sends no `Cache-Control`. Health and admin paths bypass.
    pub fn marketplace_defaults() -> RuleSet {
        const H: u64 = 3600;
        let catalog = |id: &str, pattern: &str, ttl: u64, lang: bool, tags: &[&str]| RawRule {
            id: id.into(),
            pattern: pattern.into(),
            mode: "override".into(),
            ttl_secs: Some(ttl),
            status_ttl_secs: None,
            stale_while_revalidate_secs: Some(if ttl >= H { 600 } else { 30 }),
            stale_if_error_secs: Some(if ttl >= H { 24 * H } else { 600 }),
            vary_language: Some(lang),
            tags: Some(tags.iter().map(|t| t.to_string()).collect()),
        };
        // Tags: `category:<id>` on every per-category route and on search filtered by a
        // category, `attributes` on attribute routes, `categories` on the tree and lists.
        const CATEGORY_ATTRIBUTES: &[&str] = &["category:{1}", "attributes"];
        const CATEGORIES: &[&str] = &["categories"];
        let bypass = |id: &str, pattern: &str| RawRule {
            id: id.into(),
            pattern: pattern.into(),
            mode: "bypass".into(),
            ..RawRule::default()
        };
        let raw = vec![
            bypass("health", "/health/**"),
            bypass("admin-v1", "/api/v1/admin/**"),
            bypass("admin-v2", "/api/v2/admin/**"),
            catalog(
                "unified-attributes",
                "/api/v1/unified-attributes",
                24 * H,
                true,
                &["attributes"],
            ),
            catalog(
                "unified-attributes-category",
                "/api/v1/unified-attributes/category/*",
                12 * H,
                true,
                CATEGORY_ATTRIBUTES,
            ),
            catalog(
                "category-attributes-v2",
                "/api/v2/marketplace/categories/*/attributes",
                12 * H,
                true,
                CATEGORY_ATTRIBUTES,
            ),
            catalog(
                "category-attributes-v1",
                "/api/v1/marketplace/categories/*/attributes",
                12 * H,
                true,
                CATEGORY_ATTRIBUTES,
            ),
            catalog(
                "attribute-ranges",
                "/api/v2/marketplace/categories/*/attribute-ranges",
                6 * H,
                false,
                CATEGORY_ATTRIBUTES,
            ),
            catalog(
                "categories",
                "/api/v1/marketplace/categories",
                6 * H,
                true,
                CATEGORIES,
            ),
            catalog(
                "category-tree",
                "/api/v1/marketplace/category-tree",
                6 * H,
                true,
                CATEGORIES,
            ),
            catalog(
                "popular-categories",
                "/api/v1/marketplace/popular-categories",
                6 * H,
                true,
                CATEGORIES,
            ),
            catalog(
                "search",
                "/api/v1/marketplace/search",
                60,
                true,
                &["search", "category:{query.category_id}"],
            ),
        ];
        RuleSet::from_raw(&raw, "cache_rules").expect("the built-in defaults are valid")
    }

    /// Parses rules from JSON (an array of rule objects); errors name the field.
    pub fn from_json(json: &str, field: &str) -> Result<RuleSet, Vec<ConfigError>> {
        let raw = RawRule::list_from_json(json).map_err(|e| {
            vec![ConfigError {
                field: field.to_string(),
                message: format!("is not a valid rule list: {e}"),
            }]
        })?;
        RuleSet::from_raw(&raw, field)
    }

    fn from_raw(raw: &[RawRule], field: &str) -> Result<RuleSet, Vec<ConfigError>> {
        let mut errors = Vec::new();
        let mut rules = Vec::new();
        for (i, r) in raw.iter().enumerate() {
            match r.validate() {
                Ok(rule) => {
                    if rules.iter().any(|x: &Rc<RouteRule>| x.id == rule.id) {
                        errors.push(ConfigError {
                            field: format!("{field}[{i}].id"),
                            message: format!("{:?} is used twice", rule.id),
                        });
                    }
                    rules.push(Rc::new(rule));
                }
                Err((sub, message)) => errors.push(ConfigError {
                    field: format!("{field}[{i}].{sub}"),
                    message,
                }),
            }
        }
        if !errors.is_empty() {
            return Err(errors);
        }
        Ok(RuleSet {
            rules,
            fallback: Rc::new(RouteRule {
                id: "default".into(),
                pattern: PathPattern::parse("/**").expect("valid"),
                mode: CacheMode::Origin,
                status_ttl_secs: Vec::new(),
                stale_while_revalidate_secs: 0,
                stale_if_error_secs: 0,
                vary_language: false,
                tags: Vec::new(),
            }),
        })
    }
}

/// A rule as written in configuration JSON.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawRule {
    /// Rule name.
    pub id: String,
    /// Path pattern.
    pub pattern: String,
    /// `override`, `origin` or `bypass`.
    pub mode: String,
    /// Edge TTL for 200/203/301/410 in `override` mode.
    #[serde(default)]
    pub ttl_secs: Option<u64>,
    /// Per-status TTLs, overriding `ttl_secs` (keys are status codes, e.g. `"404": 30`).
    #[serde(default)]
    pub status_ttl_secs: Option<crate::vec_map::VecMap<String, u64>>,
    /// Stale-while-revalidate window.
    #[serde(default)]
    pub stale_while_revalidate_secs: Option<u64>,
    /// Stale-if-error window.
    #[serde(default)]
    pub stale_if_error_secs: Option<u64>,
    /// Key on the language the origin would choose.
    #[serde(default)]
    pub vary_language: Option<bool>,
    /// Tag templates (`category:{1}`, `category:{query.category_id}`, `attributes`).
    #[serde(default)]
    pub tags: Option<Vec<String>>,
}

/// Longest TTL or stale window accepted: seven days (see `policy::MAX_ENTRY_LIFETIME_SECS`).
pub const MAX_SECS: u64 = 7 * 24 * 3600;

impl RawRule {
    /// A rule list from its JSON text: the lists and values `serde_json::from_str::<Vec<RawRule>>`
    /// read (unknown fields refused), field by field (json::Fields: no deserializer of its own
    /// in the Wasm).
    pub fn list_from_json(text: &str) -> Result<Vec<RawRule>, String> {
        let value: serde_json::Value = serde_json::from_str(text).map_err(|e| e.to_string())?;
        json::as_array(&value)?
            .iter()
            .map(RawRule::from_value)
            .collect()
    }

    fn from_value(value: &serde_json::Value) -> Result<RawRule, String> {
        use serde_json::Value;
        let f = json::Fields::of(value, "RawRule")?;
        f.deny_unknown(&[
            "id",
            "pattern",
            "mode",
            "ttl_secs",
            "status_ttl_secs",
            "stale_while_revalidate_secs",
            "stale_if_error_secs",
            "vary_language",
            "tags",
        ])?;
        // `Option` fields: absent or `null` is `None`.
        let present = |name: &str| f.get(name).filter(|v| !v.is_null());
        let secs = |name: &str| present(name).map(json::as_u64).transpose();
        let status_ttl_secs = match present("status_ttl_secs") {
            None => None,
            Some(Value::Object(map)) => {
                let mut ttls = crate::vec_map::VecMap::new();
                for (status, ttl) in map {
                    ttls.insert(status.clone(), json::as_u64(ttl)?);
                }
                Some(ttls)
            }
            Some(other) => return Err(json::invalid_type(other, "a map")),
        };
        let tags = match present("tags") {
            None => None,
            Some(v) => Some(
                json::as_array(v)?
                    .iter()
                    .map(json::as_string)
                    .collect::<Result<_, _>>()?,
            ),
        };
        let vary_language = match present("vary_language") {
            None => None,
            Some(v) => Some(
                v.as_bool()
                    .ok_or_else(|| json::invalid_type(v, "a boolean"))?,
            ),
        };
        Ok(RawRule {
            id: json::required(f.string("id")?, "id")?,
            pattern: json::required(f.string("pattern")?, "pattern")?,
            mode: json::required(f.string("mode")?, "mode")?,
            ttl_secs: secs("ttl_secs")?,
            status_ttl_secs,
            stale_while_revalidate_secs: secs("stale_while_revalidate_secs")?,
            stale_if_error_secs: secs("stale_if_error_secs")?,
            vary_language,
            tags,
        })
    }

    fn validate(&self) -> Result<RouteRule, (&'static str, String)> {
        let id = self.id.trim();
        if id.is_empty()
            || !id
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
        {
            return Err((
                "id",
                format!("{:?} must be letters, digits, '-' or '_'", self.id),
            ));
        }
        let pattern = PathPattern::parse(&self.pattern).map_err(|m| ("pattern", m))?;
        let pattern_wildcards = pattern.wildcards();
        if self.tags.as_ref().is_some_and(|t| t.len() > 16) {
            return Err(("tags", "at most 16 templates".into()));
        }
        let mode = match self.mode.as_str() {
            "override" => CacheMode::Override,
            "origin" => CacheMode::Origin,
            "bypass" => CacheMode::Bypass,
            other => {
                return Err((
                    "mode",
                    format!("{other:?} is not one of override, origin, bypass"),
                ))
            }
        };
        let check = |name: &'static str, v: Option<u64>| match v {
            Some(s) if s > MAX_SECS => Err((name, format!("{s} is over seven days ({MAX_SECS})"))),
            _ => Ok(v.unwrap_or(0)),
        };
        let swr = check(
            "stale_while_revalidate_secs",
            self.stale_while_revalidate_secs,
        )?;
        let sie = check("stale_if_error_secs", self.stale_if_error_secs)?;
        let mut status_ttl_secs = Vec::new();
        if mode == CacheMode::Override {
            let ttl = match self.ttl_secs {
                None => return Err(("ttl_secs", "is required in override mode".into())),
                Some(t) => check("ttl_secs", Some(t))?,
            };
            status_ttl_secs.extend(TTL_STATUSES.iter().map(|s| (*s, ttl)));
            status_ttl_secs.push((404, DEFAULT_NOT_FOUND_TTL_SECS.min(ttl)));
        }
        for (code, secs) in self.status_ttl_secs.iter().flatten() {
            let status: u16 = match code.parse() {
                Ok(s) if (200..=599).contains(&s) && s != 206 => s,
                _ => {
                    return Err((
                        "status_ttl_secs",
                        format!("{code:?} is not a cacheable status code"),
                    ))
                }
            };
            let secs = check("status_ttl_secs", Some(*secs))?;
            status_ttl_secs.retain(|(s, _)| *s != status);
            status_ttl_secs.push((status, secs));
        }
        Ok(RouteRule {
            id: id.to_string(),
            pattern,
            mode,
            status_ttl_secs,
            stale_while_revalidate_secs: swr,
            stale_if_error_secs: sie,
            vary_language: self.vary_language.unwrap_or(false),
            tags: self
                .tags
                .iter()
                .flatten()
                .map(|t| TagTemplate::parse(t, pattern_wildcards))
                .collect::<Result<_, _>>()
                .map_err(|m| ("tags", m))?,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[cfg(not(target_arch = "wasm32"))]
    mod read_by_hand {
        use super::*;
        use crate::json::testing::{any_json, assert_reads_as_serde, change};
        use proptest::prelude::*;
        use serde_json::{json, Value};

        fn rule() -> impl Strategy<Value = Value> {
            let some = |v: Value| prop_oneof![Just(None), Just(Some(Value::Null)), Just(Some(v))];
            (
                (
                    "[a-z-]{0,6}",
                    "(/api/\\*|/x/\\*\\*|/y)",
                    "(override|origin|bypass)",
                ),
                (
                    some(json!(60)),
                    some(json!({"404": 30, "200": 0})),
                    some(json!(5)),
                ),
                (
                    some(json!(86_400)),
                    some(json!(true)),
                    some(json!(["search", "category:{1}"])),
                ),
            )
                .prop_map(
                    |((id, pattern, mode), (ttl, status, swr), (sie, lang, tags))| {
                        let mut r = json!({"id": id, "pattern": pattern, "mode": mode});
                        for (name, v) in [
                            ("ttl_secs", ttl),
                            ("status_ttl_secs", status),
                            ("stale_while_revalidate_secs", swr),
                            ("stale_if_error_secs", sie),
                            ("vary_language", lang),
                            ("tags", tags),
                        ] {
                            if let Some(v) = v {
                                r[name] = v;
                            }
                        }
                        r
                    },
                )
        }

        const FIELDS: &[&str] = &[
            "id",
            "pattern",
            "mode",
            "ttl_secs",
            "status_ttl_secs",
            "stale_while_revalidate_secs",
            "stale_if_error_secs",
            "vary_language",
            "tags",
        ];

        fn list(text: &str) -> Result<Vec<RawRule>, String> {
            RawRule::list_from_json(text)
        }

        proptest! {
            /// One change to one rule of a valid list (a field removed or given any value, or
            /// a field added): read as serde's derive read it, in the same words.
            #[test]
            fn a_rule_list_with_one_change_reads_as_the_derive_read_it(
                mut rules in prop::collection::vec(rule(), 1..3),
                which in 0usize..10,
                how in 0u8..2,
                junk in any_json(),
            ) {
                change(rules[0].as_object_mut().unwrap(), FIELDS, which, how, junk);
                assert_reads_as_serde(&Value::from(rules).to_string(), list, true)?;
            }

            /// Any JSON at all, and rules with many changes: accepted and refused alike.
            #[test]
            fn any_document_is_accepted_or_refused_as_by_the_derive(
                mut rule in rule(),
                changes in prop::collection::vec((0usize..10, 0u8..2, any_json()), 0..4),
                other in any_json(),
            ) {
                for (which, how, junk) in changes {
                    change(rule.as_object_mut().unwrap(), FIELDS, which, how, junk);
                }
                assert_reads_as_serde(&json!([rule]).to_string(), list, false)?;
                assert_reads_as_serde(&other.to_string(), list, true)?;
            }
        }
    }

    #[test]
    fn patterns_match_segments() {
        let p = PathPattern::parse("/api/v2/marketplace/categories/*/attributes").unwrap();
        assert!(p.matches("/api/v2/marketplace/categories/10101/attributes"));
        assert!(!p.matches("/api/v2/marketplace/categories//attributes"));
        assert!(!p.matches("/api/v2/marketplace/categories/1/attributes/x"));
        assert!(!p.matches("/api/v2/marketplace/categories/1/attribute-ranges"));
        let p = PathPattern::parse("/api/v1/admin/**").unwrap();
        assert!(p.matches("/api/v1/admin/"));
        assert!(p.matches("/api/v1/admin/x/y"));
        assert!(!p.matches("/api/v1/administrator"));
        assert!(PathPattern::parse("/a/**/b").is_err());
        assert!(PathPattern::parse("/a/b*").is_err());
        assert!(PathPattern::parse("a").is_err());
    }

    #[test]
    fn defaults_follow_the_origin_teams_ttls() {
        let rs = RuleSet::marketplace_defaults();
        let ttl = |p: &str| rs.rule_for(p).ttl_for_status(200);
        assert_eq!(ttl("/api/v1/unified-attributes"), Some(86_400));
        assert_eq!(
            ttl("/api/v2/marketplace/categories/10101/attributes"),
            Some(43_200)
        );
        assert_eq!(
            ttl("/api/v1/unified-attributes/category/10101"),
            Some(43_200)
        );
        assert_eq!(ttl("/api/v1/marketplace/categories"), Some(21_600));
        assert_eq!(ttl("/api/v1/marketplace/category-tree"), Some(21_600));
        assert_eq!(ttl("/api/v1/marketplace/popular-categories"), Some(21_600));
        assert_eq!(ttl("/api/v1/marketplace/search"), Some(60));
        assert_eq!(
            rs.rule_for("/api/v1/marketplace/search")
                .ttl_for_status(404),
            Some(30)
        );
        assert_eq!(rs.rule_for("/health/ready").mode, CacheMode::Bypass);
        assert_eq!(rs.rule_for("/api/v2/admin/x").mode, CacheMode::Bypass);
        assert_eq!(rs.rule_for("/echo/x").id, "default");
        assert_eq!(rs.rule_for("/echo/x").mode, CacheMode::Origin);
        assert!(rs.rule_for("/api/v1/marketplace/categories").vary_language);
    }

    #[test]
    fn per_status_ttls_override_and_extend() {
        let rs = RuleSet::from_json(
            r#"[{"id":"a","pattern":"/a","mode":"override","ttl_secs":100,
                 "status_ttl_secs":{"404":5,"301":7,"500":1}}]"#,
            "cache_rules",
        )
        .unwrap();
        let r = rs.rule_for("/a");
        assert_eq!(r.ttl_for_status(200), Some(100));
        assert_eq!(r.ttl_for_status(203), Some(100));
        assert_eq!(r.ttl_for_status(410), Some(100));
        assert_eq!(r.ttl_for_status(301), Some(7));
        assert_eq!(r.ttl_for_status(404), Some(5));
        assert_eq!(r.ttl_for_status(500), Some(1));
        assert_eq!(r.ttl_for_status(302), None);
    }

    #[test]
    fn errors_name_the_field() {
        let cases = [
            (
                r#"[{"id":"a","pattern":"x","mode":"origin"}]"#,
                "cache_rules[0].pattern",
            ),
            (
                r#"[{"id":"a","pattern":"/x","mode":"fast"}]"#,
                "cache_rules[0].mode",
            ),
            (
                r#"[{"id":"a","pattern":"/x","mode":"override"}]"#,
                "cache_rules[0].ttl_secs",
            ),
            (
                r#"[{"id":"a","pattern":"/x","mode":"origin"},{"id":"b b","pattern":"/y","mode":"origin"}]"#,
                "cache_rules[1].id",
            ),
            (
                r#"[{"id":"a","pattern":"/x","mode":"override","ttl_secs":1,"status_ttl_secs":{"206":1}}]"#,
                "cache_rules[0].status_ttl_secs",
            ),
            (
                r#"[{"id":"a","pattern":"/x","mode":"origin","stale_if_error_secs":604801}]"#,
                "cache_rules[0].stale_if_error_secs",
            ),
            (
                r#"[{"id":"a","pattern":"/x","mode":"origin","ttl":5}]"#,
                "cache_rules",
            ),
            (r#"{"id":"a"}"#, "cache_rules"),
        ];
        for (json, field) in cases {
            let errs = RuleSet::from_json(json, "cache_rules").unwrap_err();
            assert_eq!(errs[0].field, field, "{json}: {errs:?}");
        }
    }

    /// The straightforward matcher the compiled one must agree with: both split whole, then
    /// compared segment by segment.
    #[cfg(not(target_arch = "wasm32"))]
    fn plain_captures<'p>(pattern: &str, path: &'p str) -> Option<Vec<&'p str>> {
        let pattern: Vec<&str> = pattern[1..].split('/').collect();
        let parts: Vec<&str> = path.strip_prefix('/')?.split('/').collect();
        let mut captured = Vec::new();
        for (i, seg) in pattern.iter().enumerate() {
            if *seg == "**" {
                return Some(captured);
            }
            let part = parts.get(i)?;
            if *seg == "*" {
                if part.is_empty() {
                    return None;
                }
                captured.push(*part);
            } else if !part.eq_ignore_ascii_case(seg) {
                return None;
            }
        }
        (parts.len() == pattern.len()).then_some(captured)
    }

    /// Paths over the defaults' own words (so that many of them match), with odd spellings.
    #[cfg(not(target_arch = "wasm32"))]
    fn path_strategy() -> impl proptest::strategy::Strategy<Value = String> {
        use proptest::prelude::*;
        let word = prop_oneof![
            Just("api"),
            Just("API"),
            Just("v1"),
            Just("v2"),
            Just("marketplace"),
            Just("categories"),
            Just("category"),
            Just("unified-attributes"),
            Just("attributes"),
            Just("attribute-ranges"),
            Just("admin"),
            Just("health"),
            Just("search"),
            Just("10101"),
            Just(""),
            Just("é"),
            Just("%61dmin"),
            Just(".."),
        ];
        (
            proptest::collection::vec(word, 0..8),
            any::<bool>(),
            any::<bool>(),
        )
            .prop_map(|(words, slash, lead)| {
                let mut p = if lead { String::new() } else { "/".to_string() };
                p.push_str(&words.join("/"));
                if slash {
                    p.push('/');
                }
                p
            })
    }

    #[cfg(not(target_arch = "wasm32"))]
    proptest::proptest! {
        /// The compiled pattern (literal head, then a walk) matches and captures exactly as
        /// the plain segment-by-segment matcher, for any pattern and path.
        #[test]
        fn compiled_patterns_agree_with_the_plain_matcher(
            segs in proptest::collection::vec(
                proptest::prop_oneof![
                    proptest::strategy::Just("a"),
                    proptest::strategy::Just("B"),
                    proptest::strategy::Just("ab"),
                    proptest::strategy::Just(""),
                    proptest::strategy::Just("*"),
                    proptest::strategy::Just("é"),
                ],
                0..5,
            ),
            rest in proptest::prelude::any::<bool>(),
            path in "[/abAB]{0,3}(/[abAé*]{0,2}){0,5}/?",
        ) {
            let mut source = format!("/{}", segs.join("/"));
            if rest {
                source.push_str(if segs.is_empty() { "**" } else { "/**" });
            }
            let p = PathPattern::parse(&source).unwrap();
            let plain = plain_captures(&source, &path);
            proptest::prop_assert_eq!(p.captures(&path), plain.clone(), "{} on {}", source, path);
            proptest::prop_assert_eq!(p.matches(&path), plain.is_some());
        }

        /// `rule_for` picks the rule the plain matcher's first match over the normalised path
        /// would pick, with the same captures.
        #[test]
        fn rule_for_picks_the_first_rule_the_plain_matcher_matches(path in path_strategy()) {
            let rs = RuleSet::marketplace_defaults();
            let normalized = crate::path::normalize(&path);
            let plain = rs
                .rules
                .iter()
                .find(|r| plain_captures(r.pattern.as_str(), &normalized).is_some())
                .unwrap_or(&rs.fallback);
            let rule = rs.rule_for(&path);
            proptest::prop_assert_eq!(&rule.id, &plain.id, "{}", path);
            proptest::prop_assert_eq!(
                rule.pattern.captures(&normalized),
                plain_captures(plain.pattern.as_str(), &normalized)
            );
        }
    }
}
