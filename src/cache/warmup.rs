//! Warmup: which paths to fetch through the cache, for which variants and languages.

use serde_json::Value;

use crate::lang::Lang;
use crate::problem::FieldError;
use crate::variant::Variant;

/// The default warmup list: all unified attributes, the category tree and list, popular
/// categories, and the attributes of the popular categories (the origin team's warmup set).
pub const DEFAULT_WARMUP_PATHS: &[&str] = &[
    "/api/v1/unified-attributes",
    "/api/v1/marketplace/category-tree",
    "/api/v1/marketplace/categories",
    "/api/v1/marketplace/popular-categories",
    "/api/v2/marketplace/categories/10101/attributes",
    "/api/v2/marketplace/categories/10102/attributes",
    "/api/v2/marketplace/categories/10103/attributes",
    "/api/v2/marketplace/categories/10110/attributes",
    "/api/v2/marketplace/categories/10120/attributes",
];

/// Most paths one warmup request may name (each is fetched per variant and language).
pub const MAX_WARMUP_PATHS: usize = 50;

/// One fetch of a warmup.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WarmupJob {
    /// Path and query.
    pub path: String,
    /// Variant to warm.
    pub variant: Variant,
    /// Language to warm.
    pub lang: Lang,
}

/// True for a path the warmup may fetch from the worker's own host: it starts with one `/`
/// (`//evil.example/x` is a network-path reference to another host, RFC 3986 §4.2, and a URL
/// parser reads `\` as `/`), has no control characters, and is not the edge's own.
fn is_catalog_path(p: &str) -> bool {
    p.starts_with('/')
        && !p.starts_with("//")
        && !p.contains('\\')
        && !p.chars().any(char::is_control)
        && !crate::path::has_prefix(&crate::path::normalize(p), "/__edge/")
}

/// Parses a warmup request (`{"paths"?: [..], "variants"?: [..], "languages"?: [..]}`; an empty
/// body means all defaults) into jobs. `defaults` are the configured paths, `active` the
/// variants currently serving traffic, `languages` the configured languages.
pub fn plan(
    body: &str,
    defaults: &[String],
    active: &[Variant],
    languages: &[Lang],
) -> Result<Vec<WarmupJob>, FieldError> {
    let err = |field: &str, message: String| FieldError {
        field: field.to_string(),
        message,
    };
    let v: Value = if body.trim().is_empty() {
        Value::Object(Default::default())
    } else {
        serde_json::from_str(body).map_err(|e| err("body", format!("is not valid JSON: {e}")))?
    };
    let obj = v
        .as_object()
        .ok_or_else(|| err("body", "must be a JSON object".into()))?;
    for k in obj.keys() {
        if !["paths", "variants", "languages", "actor", "reason"].contains(&k.as_str()) {
            return Err(err(
                k,
                "is not a warmup field (paths, variants, languages)".into(),
            ));
        }
    }
    let strings = |field: &str| -> Result<Option<Vec<String>>, FieldError> {
        match obj.get(field) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::Array(items)) => items
                .iter()
                .enumerate()
                .map(|(i, x)| {
                    x.as_str()
                        .map(str::to_string)
                        .ok_or_else(|| err(&format!("{field}[{i}]"), "must be a string".into()))
                })
                .collect::<Result<Vec<_>, _>>()
                .map(Some),
            Some(_) => Err(err(field, "must be an array of strings".into())),
        }
    };
    let paths = strings("paths")?.unwrap_or_else(|| defaults.to_vec());
    if paths.is_empty() || paths.len() > MAX_WARMUP_PATHS {
        return Err(err(
            "paths",
            format!("must hold 1 to {MAX_WARMUP_PATHS} paths"),
        ));
    }
    for (i, p) in paths.iter().enumerate() {
        if !is_catalog_path(p) {
            return Err(err(
                &format!("paths[{i}]"),
                format!("{p:?} must be a catalog path starting with '/'"),
            ));
        }
    }
    let variants = match strings("variants")? {
        None => active.to_vec(),
        Some(list) => list
            .iter()
            .enumerate()
            .map(|(i, s)| {
                Variant::parse(s).ok_or_else(|| {
                    err(
                        &format!("variants[{i}]"),
                        format!("{s:?} is not stable or canary"),
                    )
                })
            })
            .collect::<Result<_, _>>()?,
    };
    let langs = match strings("languages")? {
        None => languages.to_vec(),
        Some(list) => list
            .iter()
            .enumerate()
            .map(|(i, s)| {
                Lang::parse(s).ok_or_else(|| {
                    err(
                        &format!("languages[{i}]"),
                        format!("{s:?} is not sr, en or ru"),
                    )
                })
            })
            .collect::<Result<_, _>>()?,
    };
    if variants.is_empty() || langs.is_empty() {
        return Err(err(
            "body",
            "nothing to warm: no variants or no languages".into(),
        ));
    }
    let mut jobs = Vec::new();
    for path in &paths {
        for &variant in &variants {
            for &lang in &langs {
                jobs.push(WarmupJob {
                    path: path.clone(),
                    variant,
                    lang,
                });
            }
        }
    }
    Ok(jobs)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn defaults() -> Vec<String> {
        DEFAULT_WARMUP_PATHS.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn empty_body_warms_defaults_for_every_active_variant_and_language() {
        let jobs = plan("", &defaults(), &[Variant::Stable], &Lang::ALL).unwrap();
        assert_eq!(jobs.len(), DEFAULT_WARMUP_PATHS.len() * 3);
        assert!(jobs
            .iter()
            .any(|j| j.path.ends_with("10120/attributes") && j.lang == Lang::Ru));
    }

    #[test]
    fn explicit_lists_win() {
        let jobs = plan(
            r#"{"paths":["/a"],"variants":["canary"],"languages":["en"]}"#,
            &defaults(),
            &[Variant::Stable],
            &Lang::ALL,
        )
        .unwrap();
        assert_eq!(
            jobs,
            vec![WarmupJob {
                path: "/a".into(),
                variant: Variant::Canary,
                lang: Lang::En
            }]
        );
    }

    #[test]
    fn bad_input_names_the_field() {
        let d = defaults();
        let run = |b: &str| {
            plan(b, &d, &[Variant::Stable], &Lang::ALL)
                .unwrap_err()
                .field
        };
        assert_eq!(run("{"), "body");
        assert_eq!(run(r#"{"paths":"x"}"#), "paths");
        assert_eq!(run(r#"{"paths":[]}"#), "paths");
        assert_eq!(run(r#"{"paths":["a"]}"#), "paths[0]");
        assert_eq!(run(r#"{"paths":["/__edge/x"]}"#), "paths[0]");
        assert_eq!(run(r#"{"paths":["/ok","//evil.example/x"]}"#), "paths[1]");
        assert_eq!(run(r#"{"paths":["/\\evil.example/x"]}"#), "paths[0]");
        assert_eq!(run(r#"{"paths":["/%5f_edge/health"]}"#), "paths[0]");
        assert_eq!(run(r#"{"variants":["blue"]}"#), "variants[0]");
        assert_eq!(run(r#"{"languages":["de"]}"#), "languages[0]");
        assert_eq!(run(r#"{"languages":[1]}"#), "languages[0]");
        assert_eq!(run(r#"{"speed":1}"#), "speed");
    }
}
