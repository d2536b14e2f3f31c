//! The worker's configuration: raw string variables (wrangler `[vars]`, secrets) parsed once into
//! typed values. Every validation error names the variable it is about.

use crate::web_url::Url;

use crate::admin::Operators;
use crate::origin_url::{host_port, parse_origin_url};

use crate::cache::body::DEFAULT_STORE_BUFFER_BYTES;
use crate::cache::key::TrackingParams;
use crate::cache::policy::DEFAULT_MAX_BODY_BYTES;
use crate::cache::rules::RuleSet;
use crate::cache::warmup::DEFAULT_WARMUP_PATHS;
use crate::canary::config::RolloutConfig;
use crate::lang::Lang;

/// Default origin timeout: time to the origin's response headers.
pub const DEFAULT_ORIGIN_TIMEOUT_MS: u64 = 10_000;
/// Longest origin timeout accepted (Workers wall-clock limits make longer waits pointless).
pub const MAX_ORIGIN_TIMEOUT_MS: u64 = 120_000;
/// Path prefixes never forwarded unless configured otherwise: the demo origin's test controls.
pub const DEFAULT_BLOCKED_PREFIXES: &[&str] = &["/__origin/"];

/// Names of the variables the worker reads.
pub mod vars {
    /// Base URL of the origin, e.g. `https://api.example.rs`.
    pub const ORIGIN_URL: &str = "ORIGIN_URL";
    /// Time allowed to the origin's response headers, in milliseconds.
    pub const ORIGIN_TIMEOUT_MS: &str = "ORIGIN_TIMEOUT_MS";
    /// Value of `Timing-Allow-Origin` on responses: `*` or a comma-separated list of origins.
    pub const TIMING_ALLOW_ORIGIN: &str = "TIMING_ALLOW_ORIGIN";
    /// Comma-separated path prefixes the edge never forwards (answers 404).
    pub const BLOCKED_PATH_PREFIXES: &str = "BLOCKED_PATH_PREFIXES";
    /// JSON array of cache route rules, replacing the built-in marketplace defaults.
    pub const CACHE_RULES: &str = "CACHE_RULES";
    /// Comma-separated query parameters dropped from cache keys (`utm_*` style prefixes allowed).
    pub const TRACKING_PARAMS: &str = "TRACKING_PARAMS";
    /// Largest response body stored, in bytes.
    pub const CACHE_MAX_BODY_BYTES: &str = "CACHE_MAX_BODY_BYTES";
    /// Comma-separated languages warmed (`sr,en,ru`).
    pub const CACHE_LANGUAGES: &str = "CACHE_LANGUAGES";
    /// Comma-separated default warmup paths.
    pub const WARMUP_PATHS: &str = "WARMUP_PATHS";
    /// How long an isolate reuses the purge state it read from KV, in milliseconds.
    pub const STATE_REFRESH_MS: &str = "STATE_REFRESH_MS";
    /// Bytes of the per-isolate in-memory tier in front of the Cache API (0 turns it off).
    pub const MEMORY_CACHE_BYTES: &str = "MEMORY_CACHE_BYTES";
    /// Bytes an isolate may hold at once for bodies being stored (`cache::body`).
    pub const STORE_BUFFER_BYTES: &str = "STORE_BUFFER_BYTES";
    /// The edge's own targeted cache-control field (RFC 9213), read before `CDN-Cache-Control`;
    /// set but empty turns it off.
    pub const EDGE_CACHE_CONTROL_FIELD: &str = "EDGE_CACHE_CONTROL_FIELD";
    /// Bearer token of the admin API (a secret): the operator `admin`.
    pub const ADMIN_TOKEN: &str = "ADMIN_TOKEN";
    /// Named operators of the admin API (a secret): JSON `{"name": "token", …}`.
    pub const ADMIN_TOKENS: &str = "ADMIN_TOKENS";
    /// The worker's public base URL; the scheduled warmup fills the cache for this host.
    pub const PUBLIC_URL: &str = "PUBLIC_URL";
    /// Default canary origin (the rollout configuration in KV replaces it).
    pub const CANARY_ORIGIN_URL: &str = "CANARY_ORIGIN_URL";
    /// Default canary weight, a percentage with at most two decimals.
    pub const CANARY_WEIGHT_PERCENT: &str = "CANARY_WEIGHT_PERCENT";
    /// Default rollout plan, comma-separated percentages.
    pub const CANARY_PLAN: &str = "CANARY_PLAN";
    /// Default salt of the bucket hash.
    pub const CANARY_SALT: &str = "CANARY_SALT";
    /// Default participating path patterns, comma-separated.
    pub const CANARY_ROUTES: &str = "CANARY_ROUTES";
    /// Default cookie holding the client id.
    pub const CANARY_CLIENT_ID_COOKIE: &str = "CANARY_CLIENT_ID_COOKIE";
    /// Default header holding the client id.
    pub const CANARY_CLIENT_ID_HEADER: &str = "CANARY_CLIENT_ID_HEADER";
    /// Whether QA overrides need the admin token (`true`/`false`).
    pub const CANARY_OVERRIDES_REQUIRE_TOKEN: &str = "CANARY_OVERRIDES_REQUIRE_TOKEN";
    /// Whether failing canary requests are retried against stable (`true`/`false`).
    pub const CANARY_FALLBACK: &str = "CANARY_FALLBACK";
    /// How often the control plane rereads KV for emergency edits and retries a failed
    /// publish, in milliseconds.
    pub const CONTROL_RECONCILE_MS: &str = "CONTROL_RECONCILE_MS";
    /// How many aggregator objects the canary analysis' counts are spread over.
    pub const METRICS_SHARDS: &str = "METRICS_SHARDS";
    /// Least time between two flushes of an isolate's counts, in milliseconds.
    pub const METRICS_FLUSH_MS: &str = "METRICS_FLUSH_MS";
    /// Where rollout decisions are posted (Slack-compatible `{"text": …}`).
    pub const ROLLOUT_WEBHOOK_URL: &str = "ROLLOUT_WEBHOOK_URL";
    /// Which requests get a log line: `all` (default), `errors`, `1/N`, `none`
    /// (`request_log`; failures always logged but under `none`).
    pub const REQUEST_LOG: &str = "REQUEST_LOG";
}

/// Default number of aggregator shards.
pub const DEFAULT_METRICS_SHARDS: u64 = 4;
/// Default least time between an isolate's flushes: 10 s.
pub const DEFAULT_METRICS_FLUSH_MS: u64 = 10_000;

/// Default interval of the control plane's KV reconciliation: a minute.
pub const DEFAULT_CONTROL_RECONCILE_MS: u64 = 60_000;

/// Default time an isolate reuses KV state before reading it again.
pub const DEFAULT_STATE_REFRESH_MS: u64 = 5_000;
/// Default size of the in-memory tier: 8 MiB of an isolate's 128 MB.
pub const DEFAULT_MEMORY_CACHE_BYTES: u64 = 8 * 1024 * 1024;
/// Largest in-memory tier accepted: 32 MiB, a quarter of an isolate's 128 MB (bench/findings.md,
/// "Memory": what the tier holds costs about its size again in the isolate's heap at its
/// high-water, and the rest of the isolate must keep room for the bodies being stored and the
/// requests in flight).
pub const MAX_MEMORY_CACHE_BYTES: u64 = 32 * 1024 * 1024;
/// Largest budget of bytes held for storing accepted: 32 MiB.
pub const MAX_STORE_BUFFER_BYTES: u64 = 32 * 1024 * 1024;
/// Largest sum of the memory tier and the store budget: 48 MiB, so that what the isolate holds
/// on purpose stays well under half of its 128 MB (the collector needs the other half).
pub const MAX_HELD_BYTES: u64 = 48 * 1024 * 1024;

/// A validated configuration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EdgeConfig {
    /// Origin base URL (scheme, host, optional port and base path), without a trailing slash.
    pub origin_url: Url,
    /// Time allowed to the origin's response headers.
    pub origin_timeout_ms: u64,
    /// `Timing-Allow-Origin` value, when configured.
    pub timing_allow_origin: Option<String>,
    /// Path prefixes never forwarded.
    pub blocked_path_prefixes: Vec<String>,
    /// Cache route rules.
    pub rules: RuleSet,
    /// Query parameters dropped from cache keys.
    pub tracking: TrackingParams,
    /// Largest body stored.
    pub max_body_bytes: u64,
    /// Languages warmed.
    pub languages: Vec<Lang>,
    /// Default warmup paths.
    pub warmup_paths: Vec<String>,
    /// How long KV state is reused.
    pub state_refresh_ms: u64,
    /// Bytes of the in-memory tier (0: off). Its entries live at most `state_refresh_ms`.
    pub memory_cache_bytes: u64,
    /// Bytes an isolate may hold at once for bodies being stored.
    pub store_buffer_bytes: u64,
    /// The admin API's operators (none: the admin API is closed).
    pub operators: Operators,
    /// Why `ADMIN_TOKENS` was refused, if it was: the admin API is closed (serving goes on).
    pub operators_problem: Option<String>,
    /// The edge's own targeted cache-control field, lowercase (`None`: only
    /// `CDN-Cache-Control`).
    pub edge_cache_control_field: Option<String>,
    /// The worker's public base URL, for the scheduled warmup.
    pub public_url: Option<Url>,
    /// The rollout configuration used while KV holds none (from `ORIGIN_URL` and `CANARY_*`).
    pub rollout_defaults: RolloutConfig,
    /// How often the control plane rereads KV and retries a failed publish.
    pub control_reconcile_ms: u64,
    /// Aggregator shards of the canary analysis.
    pub metrics_shards: u32,
    /// Least time between two flushes of an isolate's counts.
    pub metrics_flush_ms: u64,
    /// Where rollout decisions are posted, if anywhere.
    pub rollout_webhook_url: Option<Url>,
    /// Which requests get a log line.
    pub request_log: crate::request_log::RequestLog,
}

impl EdgeConfig {
    /// The worker's own `host[:port]`s that configuration knows of: an origin there would loop.
    pub fn self_hosts(&self) -> Vec<String> {
        self.public_url.iter().filter_map(host_port).collect()
    }
}

/// The rollout defaults from the `CANARY_*` vars, errors named by variable.
fn rollout_defaults(
    stable: &Url,
    get: &dyn Fn(&str) -> Option<String>,
    errors: &mut Vec<ConfigError>,
) -> RolloutConfig {
    let mut canary = serde_json::Map::new();
    let mut bad = |var: &str, message: String| errors.push(ConfigError::new(var, message));
    if let Some(w) = get(vars::CANARY_WEIGHT_PERCENT) {
        match crate::canary::config::percent_text_to_bp(&w) {
            Some(bp) => {
                canary.insert("weight_bp".into(), bp.into());
            }
            None => bad(
                vars::CANARY_WEIGHT_PERCENT,
                format!("{w:?} is not a percentage 0–100 with at most two decimals"),
            ),
        }
    }
    if let Some(plan) = get(vars::CANARY_PLAN) {
        let steps: Result<Vec<u16>, ()> = plan
            .split(',')
            .map(|p| crate::canary::config::percent_text_to_bp(p.trim()).ok_or(()))
            .collect();
        match steps {
            Ok(s) => {
                canary.insert("plan_bp".into(), s.into());
            }
            Err(()) => bad(
                vars::CANARY_PLAN,
                format!("{plan:?} is not a comma-separated list of percentages"),
            ),
        }
    }
    if let Some(salt) = get(vars::CANARY_SALT) {
        canary.insert("salt".into(), salt.into());
    }
    if let Some(routes) = get(vars::CANARY_ROUTES) {
        let list: Vec<String> = routes.split(',').map(|r| r.trim().to_string()).collect();
        canary.insert("routes".into(), list.into());
    }
    if let Some(c) = get(vars::CANARY_CLIENT_ID_COOKIE) {
        canary.insert("client_id_cookie".into(), c.into());
    }
    if let Some(h) = get(vars::CANARY_CLIENT_ID_HEADER) {
        canary.insert("client_id_header".into(), h.into());
    }
    for (var, key) in [
        (
            vars::CANARY_OVERRIDES_REQUIRE_TOKEN,
            "overrides_require_token",
        ),
        (vars::CANARY_FALLBACK, "fallback_to_stable"),
    ] {
        match get(var).as_deref() {
            None => {}
            Some("true") => {
                canary.insert(key.into(), true.into());
            }
            Some("false") => {
                canary.insert(key.into(), false.into());
            }
            Some(other) => bad(var, format!("{other:?} is not true or false")),
        }
    }
    let doc = object! {
        "stable_origin": stable.as_str(),
        "canary_origin": get(vars::CANARY_ORIGIN_URL),
        "canary": canary,
    };
    match RolloutConfig::from_json(&doc, &[]) {
        Ok(cfg) => cfg,
        Err(e) => {
            let var = match e.field.as_str() {
                "canary_origin" => vars::CANARY_ORIGIN_URL,
                "canary.weight_bp" => vars::CANARY_WEIGHT_PERCENT,
                f if f.starts_with("canary.plan_bp") => vars::CANARY_PLAN,
                "canary.salt" => vars::CANARY_SALT,
                f if f.starts_with("canary.routes") => vars::CANARY_ROUTES,
                "canary.client_id_cookie" => vars::CANARY_CLIENT_ID_COOKIE,
                "canary.client_id_header" => vars::CANARY_CLIENT_ID_HEADER,
                _ => vars::ORIGIN_URL,
            };
            errors.push(ConfigError::new(var, e.to_string()));
            RolloutConfig::stable_only(stable.clone())
        }
    }
}

fn parse_u64(
    raw: Option<String>,
    field: &str,
    range: std::ops::RangeInclusive<u64>,
    default: u64,
    errors: &mut Vec<ConfigError>,
) -> u64 {
    let Some(raw) = raw else { return default };
    match raw.parse::<u64>() {
        Ok(n) if range.contains(&n) => n,
        Ok(n) => {
            errors.push(ConfigError::new(
                field,
                format!("{n} is outside {}..={}", range.start(), range.end()),
            ));
            default
        }
        Err(_) => {
            errors.push(ConfigError::new(
                field,
                format!("{raw:?} is not a whole number"),
            ));
            default
        }
    }
}

/// One problem with one variable: the crate's one field-error type.
pub use crate::problem::FieldError as ConfigError;

impl EdgeConfig {
    /// Parses the configuration from a variable lookup (`None` for unset variables).
    /// Collects every error rather than stopping at the first, so an operator fixes all at once.
    pub fn from_vars(lookup: impl Fn(&str) -> Option<String>) -> Result<Self, Vec<ConfigError>> {
        let mut errors = Vec::new();
        let get = |name: &str| {
            lookup(name)
                .map(|v| v.trim().to_string())
                .filter(|v| !v.is_empty())
        };

        let origin_url = match get(vars::ORIGIN_URL) {
            None => {
                errors.push(ConfigError::new(vars::ORIGIN_URL, "is required"));
                None
            }
            Some(raw) => parse_origin_url(&raw)
                .map_err(|m| errors.push(ConfigError::new(vars::ORIGIN_URL, m)))
                .ok(),
        };

        let origin_timeout_ms = match get(vars::ORIGIN_TIMEOUT_MS) {
            None => DEFAULT_ORIGIN_TIMEOUT_MS,
            Some(raw) => match raw.parse::<u64>() {
                Ok(ms) if (1..=MAX_ORIGIN_TIMEOUT_MS).contains(&ms) => ms,
                Ok(ms) => {
                    errors.push(ConfigError::new(
                        vars::ORIGIN_TIMEOUT_MS,
                        format!("{ms} is outside 1..={MAX_ORIGIN_TIMEOUT_MS} ms"),
                    ));
                    DEFAULT_ORIGIN_TIMEOUT_MS
                }
                Err(_) => {
                    errors.push(ConfigError::new(
                        vars::ORIGIN_TIMEOUT_MS,
                        format!("{raw:?} is not a whole number of milliseconds"),
                    ));
                    DEFAULT_ORIGIN_TIMEOUT_MS
                }
            },
        };

        let timing_allow_origin = get(vars::TIMING_ALLOW_ORIGIN).and_then(|raw| {
            parse_timing_allow_origin(&raw)
                .map_err(|m| errors.push(ConfigError::new(vars::TIMING_ALLOW_ORIGIN, m)))
                .ok()
        });

        let blocked_path_prefixes = match lookup(vars::BLOCKED_PATH_PREFIXES) {
            // Set but empty means "block nothing"; unset means the default.
            None => DEFAULT_BLOCKED_PREFIXES
                .iter()
                .map(|s| s.to_string())
                .collect(),
            Some(raw) => {
                let prefixes: Vec<String> = raw
                    .split(',')
                    .map(str::trim)
                    .filter(|s| !s.is_empty())
                    .map(str::to_string)
                    .collect();
                for p in &prefixes {
                    if !p.starts_with('/') {
                        errors.push(ConfigError::new(
                            vars::BLOCKED_PATH_PREFIXES,
                            format!("{p:?} does not start with '/'"),
                        ));
                    }
                }
                prefixes
            }
        };

        let rules = match get(vars::CACHE_RULES) {
            None => RuleSet::marketplace_defaults(),
            Some(json) => RuleSet::from_json(&json, vars::CACHE_RULES).unwrap_or_else(|e| {
                errors.extend(e);
                RuleSet::marketplace_defaults()
            }),
        };
        let tracking = get(vars::TRACKING_PARAMS)
            .map(|s| TrackingParams::parse(&s))
            .unwrap_or_default();
        let max_body_bytes = parse_u64(
            get(vars::CACHE_MAX_BODY_BYTES),
            vars::CACHE_MAX_BODY_BYTES,
            0..=100 * 1024 * 1024,
            DEFAULT_MAX_BODY_BYTES,
            &mut errors,
        );
        let mut languages = Vec::new();
        for part in get(vars::CACHE_LANGUAGES)
            .unwrap_or_else(|| "sr,en,ru".into())
            .split(',')
            .map(str::trim)
            .filter(|s| !s.is_empty())
        {
            match Lang::parse(part) {
                Some(l) if !languages.contains(&l) => languages.push(l),
                Some(_) => {}
                None => errors.push(ConfigError::new(
                    vars::CACHE_LANGUAGES,
                    format!("{part:?} is not sr, en or ru"),
                )),
            }
        }
        let warmup_paths: Vec<String> = match get(vars::WARMUP_PATHS) {
            None => DEFAULT_WARMUP_PATHS.iter().map(|s| s.to_string()).collect(),
            Some(list) => list
                .split(',')
                .map(str::trim)
                .filter(|s| !s.is_empty())
                .map(str::to_string)
                .collect(),
        };
        for p in &warmup_paths {
            if !p.starts_with('/') {
                errors.push(ConfigError::new(
                    vars::WARMUP_PATHS,
                    format!("{p:?} does not start with '/'"),
                ));
            }
        }
        let state_refresh_ms = parse_u64(
            get(vars::STATE_REFRESH_MS),
            vars::STATE_REFRESH_MS,
            0..=300_000,
            DEFAULT_STATE_REFRESH_MS,
            &mut errors,
        );
        let memory_cache_bytes = parse_u64(
            get(vars::MEMORY_CACHE_BYTES),
            vars::MEMORY_CACHE_BYTES,
            0..=MAX_MEMORY_CACHE_BYTES,
            DEFAULT_MEMORY_CACHE_BYTES,
            &mut errors,
        );
        let store_buffer_bytes = parse_u64(
            get(vars::STORE_BUFFER_BYTES),
            vars::STORE_BUFFER_BYTES,
            0..=MAX_STORE_BUFFER_BYTES,
            DEFAULT_STORE_BUFFER_BYTES,
            &mut errors,
        );
        if max_body_bytes > store_buffer_bytes {
            errors.push(ConfigError::new(
                vars::CACHE_MAX_BODY_BYTES,
                format!(
                    "{max_body_bytes} is over {} ({store_buffer_bytes}): no body that large could be stored",
                    vars::STORE_BUFFER_BYTES
                ),
            ));
        }
        if memory_cache_bytes + store_buffer_bytes > MAX_HELD_BYTES {
            errors.push(ConfigError::new(
                vars::STORE_BUFFER_BYTES,
                format!(
                    "{} + {} is {} bytes, over {MAX_HELD_BYTES} (48 MiB)",
                    vars::MEMORY_CACHE_BYTES,
                    vars::STORE_BUFFER_BYTES,
                    memory_cache_bytes + store_buffer_bytes
                ),
            ));
        }
        // A bad ADMIN_TOKENS closes the admin API (and health says why) but never stops serving.
        let (operators, operators_problem) = match Operators::parse(
            get(vars::ADMIN_TOKEN).as_deref(),
            get(vars::ADMIN_TOKENS).as_deref(),
        ) {
            Ok(ops) => (ops, None),
            Err(e) => (Operators::default(), Some(e.to_string())),
        };
        let edge_cache_control_field = crate::cache::cache_control::parse_edge_field(
            lookup(vars::EDGE_CACHE_CONTROL_FIELD).as_deref(),
        )
        .unwrap_or_else(|m| {
            errors.push(ConfigError::new(vars::EDGE_CACHE_CONTROL_FIELD, m));
            None
        });
        let public_url = get(vars::PUBLIC_URL).and_then(|raw| {
            parse_origin_url(&raw)
                .map_err(|m| errors.push(ConfigError::new(vars::PUBLIC_URL, m)))
                .ok()
        });

        let control_reconcile_ms = parse_u64(
            get(vars::CONTROL_RECONCILE_MS),
            vars::CONTROL_RECONCILE_MS,
            1_000..=3_600_000,
            DEFAULT_CONTROL_RECONCILE_MS,
            &mut errors,
        );

        let metrics_shards = parse_u64(
            get(vars::METRICS_SHARDS),
            vars::METRICS_SHARDS,
            1..=64,
            DEFAULT_METRICS_SHARDS,
            &mut errors,
        ) as u32;
        let metrics_flush_ms = parse_u64(
            get(vars::METRICS_FLUSH_MS),
            vars::METRICS_FLUSH_MS,
            100..=300_000,
            DEFAULT_METRICS_FLUSH_MS,
            &mut errors,
        );
        let rollout_webhook_url = get(vars::ROLLOUT_WEBHOOK_URL).and_then(|raw| {
            Url::parse(&raw)
                .ok()
                .filter(|u| matches!(u.scheme(), "http" | "https") && u.host_str().is_some())
                .or_else(|| {
                    errors.push(ConfigError::new(
                        vars::ROLLOUT_WEBHOOK_URL,
                        format!("{raw:?} is not an http(s) URL"),
                    ));
                    None
                })
        });

        let request_log = get(vars::REQUEST_LOG)
            .map(|raw| {
                crate::request_log::RequestLog::parse(&raw).unwrap_or_else(|m| {
                    errors.push(ConfigError::new(vars::REQUEST_LOG, m));
                    Default::default()
                })
            })
            .unwrap_or_default();

        let rollout_defaults = origin_url
            .as_ref()
            .map(|stable| rollout_defaults(stable, &get, &mut errors));

        match (origin_url, rollout_defaults) {
            (Some(origin_url), Some(rollout_defaults)) if errors.is_empty() => Ok(EdgeConfig {
                origin_url,
                origin_timeout_ms,
                timing_allow_origin,
                blocked_path_prefixes,
                rules,
                tracking,
                max_body_bytes,
                languages,
                warmup_paths,
                state_refresh_ms,
                memory_cache_bytes,
                store_buffer_bytes,
                operators,
                operators_problem,
                edge_cache_control_field,
                public_url,
                rollout_defaults,
                control_reconcile_ms,
                metrics_shards,
                metrics_flush_ms,
                rollout_webhook_url,
                request_log,
            }),
            _ => Err(errors),
        }
    }
}

/// `*` or a comma-separated list of serialized origins (`https://example.rs`), per the Resource
/// Timing spec's `Timing-Allow-Origin` grammar.
fn parse_timing_allow_origin(raw: &str) -> Result<String, String> {
    if raw == "*" {
        return Ok(raw.to_string());
    }
    let mut origins = Vec::new();
    for part in raw.split(',').map(str::trim).filter(|s| !s.is_empty()) {
        let url = Url::parse(part).map_err(|_| format!("{part:?} is not an origin"))?;
        if url.path() != "/" || part.ends_with('/') {
            return Err(format!("{part:?} is not an origin like https://example.rs"));
        }
        origins.push(url.origin());
    }
    if origins.is_empty() {
        return Err("is empty".to_string());
    }
    Ok(origins.join(", "))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    use crate::request_log::RequestLog;

    fn parse(pairs: &[(&str, &str)]) -> Result<EdgeConfig, Vec<ConfigError>> {
        let map: HashMap<String, String> = pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        EdgeConfig::from_vars(|k| map.get(k).cloned())
    }

    #[test]
    fn minimal_config_takes_defaults() {
        let c = parse(&[("ORIGIN_URL", "http://127.0.0.1:9001")]).unwrap();
        assert_eq!(c.origin_url.as_str(), "http://127.0.0.1:9001/");
        assert_eq!(c.origin_timeout_ms, 10_000);
        assert_eq!(c.timing_allow_origin, None);
        assert_eq!(c.blocked_path_prefixes, vec!["/__origin/".to_string()]);
    }

    #[test]
    fn request_log_defaults_to_all_and_a_bad_setting_is_named() {
        let origin = ("ORIGIN_URL", "http://127.0.0.1:9001");
        let log = |c: EdgeConfig| c.request_log;
        assert_eq!(parse(&[origin]).map(log), Ok(RequestLog::All));
        assert_eq!(
            parse(&[origin, ("REQUEST_LOG", "1/100")]).map(log),
            Ok(RequestLog::OneIn(100))
        );
        let errs = parse(&[origin, ("REQUEST_LOG", "sometimes")]).unwrap_err();
        assert_eq!(errs.len(), 1);
        assert_eq!(errs[0].field, "REQUEST_LOG");
        assert!(errs[0]
            .to_string()
            .contains("\"sometimes\" is not a request log setting"));
    }

    #[test]
    fn missing_origin_is_named() {
        let errs = parse(&[]).unwrap_err();
        assert_eq!(errs[0].to_string(), "ORIGIN_URL: is required");
    }

    #[test]
    fn non_http_origin_is_refused() {
        for bad in [
            "ftp://x.rs",
            "not a url",
            "http://",
            "https://u:p@x.rs",
            "http://x.rs/?a=1",
        ] {
            let errs = parse(&[("ORIGIN_URL", bad)]).unwrap_err();
            assert_eq!(errs[0].field, "ORIGIN_URL", "{bad}");
        }
    }

    #[test]
    fn every_error_is_reported_at_once() {
        let errs = parse(&[
            ("ORIGIN_URL", "gopher://x"),
            ("ORIGIN_TIMEOUT_MS", "soon"),
            ("TIMING_ALLOW_ORIGIN", "not-an-origin"),
            ("BLOCKED_PATH_PREFIXES", "nope"),
        ])
        .unwrap_err();
        let fields: Vec<&str> = errs.iter().map(|e| e.field.as_str()).collect();
        assert_eq!(
            fields,
            [
                "ORIGIN_URL",
                "ORIGIN_TIMEOUT_MS",
                "TIMING_ALLOW_ORIGIN",
                "BLOCKED_PATH_PREFIXES"
            ]
        );
    }

    #[test]
    fn timeout_bounds() {
        assert!(parse(&[("ORIGIN_URL", "http://a.rs"), ("ORIGIN_TIMEOUT_MS", "0")]).is_err());
        assert!(parse(&[
            ("ORIGIN_URL", "http://a.rs"),
            ("ORIGIN_TIMEOUT_MS", "120001")
        ])
        .is_err());
        let c = parse(&[
            ("ORIGIN_URL", "http://a.rs"),
            ("ORIGIN_TIMEOUT_MS", " 1500 "),
        ])
        .unwrap();
        assert_eq!(c.origin_timeout_ms, 1500);
    }

    #[test]
    fn timing_allow_origin_accepts_star_and_origin_lists() {
        let c = parse(&[("ORIGIN_URL", "http://a.rs"), ("TIMING_ALLOW_ORIGIN", "*")]).unwrap();
        assert_eq!(c.timing_allow_origin.as_deref(), Some("*"));
        let c = parse(&[
            ("ORIGIN_URL", "http://a.rs"),
            ("TIMING_ALLOW_ORIGIN", "https://a.rs, http://localhost:8787"),
        ])
        .unwrap();
        assert_eq!(
            c.timing_allow_origin.as_deref(),
            Some("https://a.rs, http://localhost:8787")
        );
    }

    #[test]
    fn cache_settings_parse_and_name_their_errors() {
        let c = parse(&[("ORIGIN_URL", "http://a.rs"), ("ADMIN_TOKEN", "t0ken")]).unwrap();
        assert_eq!(c.languages, vec![Lang::Sr, Lang::En, Lang::Ru]);
        assert_eq!(c.max_body_bytes, 5 * 1024 * 1024);
        assert_eq!(c.warmup_paths.len(), 9);
        assert_eq!(c.state_refresh_ms, 5_000);
        assert_eq!(c.memory_cache_bytes, 8 * 1024 * 1024);
        assert_eq!(c.store_buffer_bytes, 24 * 1024 * 1024);
        assert!(
            !format!("{c:?}").contains("t0ken"),
            "the token never shows in Debug"
        );
        let errs = parse(&[
            ("ORIGIN_URL", "http://a.rs"),
            (
                "CACHE_RULES",
                "[{\"id\":\"x\",\"pattern\":\"/x\",\"mode\":\"later\"}]",
            ),
            ("CACHE_LANGUAGES", "sr,de"),
            ("CACHE_MAX_BODY_BYTES", "lots"),
            ("WARMUP_PATHS", "api/x"),
            ("STATE_REFRESH_MS", "999999999"),
            ("MEMORY_CACHE_BYTES", "999999999999"),
        ])
        .unwrap_err();
        let fields: Vec<&str> = errs.iter().map(|e| e.field.as_str()).collect();
        assert_eq!(
            fields,
            [
                "CACHE_RULES[0].mode",
                "CACHE_MAX_BODY_BYTES",
                "CACHE_LANGUAGES",
                "WARMUP_PATHS",
                "STATE_REFRESH_MS",
                "MEMORY_CACHE_BYTES"
            ]
        );
    }

    #[test]
    fn what_an_isolate_holds_on_purpose_is_bounded() {
        let ok = parse(&[
            ("ORIGIN_URL", "http://a.rs"),
            ("MEMORY_CACHE_BYTES", "16777216"),
            ("STORE_BUFFER_BYTES", "33554432"),
        ])
        .unwrap();
        assert_eq!(ok.store_buffer_bytes, 32 * 1024 * 1024);
        let fields = |pairs: &[(&str, &str)]| -> Vec<String> {
            let mut all = vec![("ORIGIN_URL", "http://a.rs")];
            all.extend_from_slice(pairs);
            parse(&all)
                .unwrap_err()
                .iter()
                .map(ToString::to_string)
                .collect()
        };
        assert_eq!(
            fields(&[("MEMORY_CACHE_BYTES", "67108864")]),
            ["MEMORY_CACHE_BYTES: 67108864 is outside 0..=33554432"]
        );
        assert_eq!(
            fields(&[("STORE_BUFFER_BYTES", "33554433")]),
            ["STORE_BUFFER_BYTES: 33554433 is outside 0..=33554432"]
        );
        assert_eq!(
            fields(&[("MEMORY_CACHE_BYTES", "33554432"), ("STORE_BUFFER_BYTES", "25165824")]),
            ["STORE_BUFFER_BYTES: MEMORY_CACHE_BYTES + STORE_BUFFER_BYTES is 58720256 bytes, over 50331648 (48 MiB)"]
        );
        assert_eq!(
            fields(&[("STORE_BUFFER_BYTES", "1048576")]),
            ["CACHE_MAX_BODY_BYTES: 5242880 is over STORE_BUFFER_BYTES (1048576): no body that large could be stored"]
        );
    }

    #[test]
    fn canary_vars_give_the_rollout_defaults() {
        let c = parse(&[
            ("ORIGIN_URL", "http://127.0.0.1:9001"),
            ("CANARY_ORIGIN_URL", "http://127.0.0.1:9002"),
            ("CANARY_WEIGHT_PERCENT", "12.5"),
            ("CANARY_PLAN", "5, 50, 100"),
            ("CANARY_CLIENT_ID_HEADER", "X-User-Id"),
        ])
        .unwrap();
        let r = &c.rollout_defaults;
        assert_eq!(r.weight_bp, 1250);
        assert_eq!(r.plan_bp, vec![500, 5000, 10_000]);
        assert_eq!(r.client_id_header.as_deref(), Some("x-user-id"));
        assert_eq!(
            r.canary_origin.as_ref().unwrap().as_str(),
            "http://127.0.0.1:9002/"
        );
        let errs = parse(&[
            ("ORIGIN_URL", "http://a.rs"),
            ("CANARY_WEIGHT_PERCENT", "150"),
            ("CANARY_FALLBACK", "maybe"),
        ])
        .unwrap_err();
        let fields: Vec<&str> = errs.iter().map(|e| e.field.as_str()).collect();
        assert_eq!(fields, ["CANARY_WEIGHT_PERCENT", "CANARY_FALLBACK"]);
        let errs = parse(&[
            ("ORIGIN_URL", "http://a.rs"),
            ("CANARY_WEIGHT_PERCENT", "10"),
        ])
        .unwrap_err();
        assert_eq!(
            errs[0].field, "CANARY_ORIGIN_URL",
            "a weight needs a canary origin"
        );
    }

    #[test]
    fn empty_blocked_prefixes_block_nothing() {
        let c = parse(&[("ORIGIN_URL", "http://a.rs"), ("BLOCKED_PATH_PREFIXES", "")]).unwrap();
        assert!(c.blocked_path_prefixes.is_empty());
    }
}
