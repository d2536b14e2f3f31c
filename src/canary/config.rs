//! The rollout configuration release managers change at runtime: origins, canary weight (basis
//! points), plan, participating routes, client id source, overrides, fallback. It lives in KV as
//! JSON; wrangler vars give the defaults. Parsing walks the JSON by hand so that every error names
//! its field path (`canary.weight_bp: 15000 is over 100 % (10000)`), and unknown fields are
//! refused.

use crate::web_url::Url;
use serde_json::{Map, Value};

use crate::cache::rules::PathPattern;
use crate::decimal::Plain;
use crate::json;
use crate::origin_url::{host_port, parse_origin_url};
use crate::problem::FieldError;
use crate::variant::Variant;

/// Paths that never take part in a rollout, whatever the configuration says.
pub const NEVER_CANARY: &[&str] = &["/health/**", "/api/v1/admin/**", "/api/v2/admin/**"];
/// Default rollout plan, in basis points: 10 → 25 → 50 → 100 %.
pub const DEFAULT_PLAN_BP: &[u16] = &[1000, 2500, 5000, 10_000];
/// Default participating routes: every catalog route.
pub const DEFAULT_ROUTES: &[&str] = &["/api/**"];
/// Default salt of the bucket hash.
pub const DEFAULT_SALT: &str = "catalog-edge";

/// A validated rollout configuration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RolloutConfig {
    /// The origin of the current release.
    pub stable_origin: Url,
    /// The origin of the release being rolled out.
    pub canary_origin: Option<Url>,
    /// The stable release's label (`None`: the stable origin's URL). Part of every cache key of
    /// stable responses, so that a new release never serves the previous one's entries.
    pub stable_release: Option<String>,
    /// The canary release's label (`None`: the canary origin's URL).
    pub canary_release: Option<String>,
    /// Share of clients sent to the canary, 0–10 000 basis points.
    pub weight_bp: u16,
    /// Steps of the rollout, ascending, in basis points.
    pub plan_bp: Vec<u16>,
    /// Salt of the bucket hash; a new salt reshuffles clients (for the next release).
    pub salt: String,
    /// Paths that take part.
    pub routes: Vec<PathPattern>,
    /// Cookie holding the client id (e.g. the session's user id).
    pub client_id_cookie: Option<String>,
    /// Header holding the client id.
    pub client_id_header: Option<String>,
    /// Whether `X-Edge-Variant`/`edge_variant` overrides need the admin token.
    pub overrides_require_token: bool,
    /// Whether a failing canary request (idempotent) is retried once against stable.
    pub fallback_to_stable: bool,
}

impl RolloutConfig {
    /// A configuration with only a stable origin: weight 0, default plan, every catalog route.
    pub fn stable_only(stable_origin: Url) -> RolloutConfig {
        RolloutConfig {
            stable_origin,
            canary_origin: None,
            stable_release: None,
            canary_release: None,
            weight_bp: 0,
            plan_bp: DEFAULT_PLAN_BP.to_vec(),
            salt: DEFAULT_SALT.to_string(),
            routes: DEFAULT_ROUTES
                .iter()
                .map(|p| PathPattern::parse(p).expect("valid default"))
                .collect(),
            client_id_cookie: None,
            client_id_header: None,
            overrides_require_token: false,
            fallback_to_stable: true,
        }
    }

    /// A configuration for tests: stable `http://s.rs`, canary `http://c.rs` at `weight_bp`.
    #[cfg(test)]
    pub(crate) fn for_tests(weight_bp: u16) -> RolloutConfig {
        let mut c = RolloutConfig::stable_only(Url::parse("http://s.rs").expect("valid"));
        c.canary_origin = Some(Url::parse("http://c.rs").expect("valid"));
        c.weight_bp = weight_bp;
        c
    }

    /// True when `path` takes part in the rollout.
    pub fn takes_part(&self, path: &str) -> bool {
        let never = NEVER_CANARY.iter().any(|p| {
            let prefix = p.strip_suffix("/**").unwrap_or(p);
            path == prefix
                || path
                    .strip_prefix(prefix)
                    .is_some_and(|rest| rest.starts_with('/'))
        });
        !never && self.routes.iter().any(|r| r.matches(path))
    }

    /// The canary is live: an origin and a weight above 0.
    pub fn canary_active(&self) -> bool {
        self.canary_origin.is_some() && self.weight_bp > 0
    }

    /// The release label of a variant's origin: the configured label, else the origin's URL.
    /// A canary request without a canary origin is served by stable, so it gets stable's label.
    pub fn release(&self, variant: Variant) -> &str {
        match (variant, &self.canary_origin) {
            (Variant::Canary, Some(origin)) => {
                self.canary_release.as_deref().unwrap_or(origin.as_str())
            }
            _ => self
                .stable_release
                .as_deref()
                .unwrap_or(self.stable_origin.as_str()),
        }
    }

    /// The labels of the releases serving traffic (stable, and the canary when it has an
    /// origin): every release whose cache entries a URL may have.
    pub fn releases(&self) -> Vec<&str> {
        let mut out = vec![self.release(Variant::Stable)];
        if self.canary_origin.is_some() {
            out.push(self.release(Variant::Canary));
        }
        out
    }

    /// The JSON document (the API's and KV's form).
    pub fn to_json(&self) -> Value {
        object! {
            "stable_origin": self.stable_origin.as_str(),
            "canary_origin": self.canary_origin.as_ref().map(Url::as_str),
            "stable_release": self.stable_release.clone(),
            "canary_release": self.canary_release.clone(),
            "canary": object! {
                "weight_bp": self.weight_bp,
                "plan_bp": self.plan_bp.clone(),
                "salt": self.salt.as_str(),
                "routes": self.routes.iter().map(PathPattern::as_str).collect::<Vec<_>>(),
                "client_id_cookie": self.client_id_cookie.clone(),
                "client_id_header": self.client_id_header.clone(),
                "overrides_require_token": self.overrides_require_token,
                "fallback_to_stable": self.fallback_to_stable,
            }
        }
    }

    /// Parses and validates a JSON document. `self_hosts` are the worker's own `host[:port]`s:
    /// an origin there would loop.
    pub fn from_json(doc: &Value, self_hosts: &[String]) -> Result<RolloutConfig, FieldError> {
        let obj = object(doc, "config")?;
        only_fields(
            obj,
            "",
            &[
                "stable_origin",
                "canary_origin",
                "stable_release",
                "canary_release",
                "canary",
            ],
        )?;
        let stable_origin = origin(obj.get("stable_origin"), "stable_origin", self_hosts)?
            .ok_or_else(|| err("stable_origin", "is required"))?;
        let canary_origin = origin(obj.get("canary_origin"), "canary_origin", self_hosts)?;
        let mut cfg = RolloutConfig::stable_only(stable_origin);
        cfg.canary_origin = canary_origin;
        cfg.stable_release = release_label(obj.get("stable_release"), "stable_release")?;
        cfg.canary_release = release_label(obj.get("canary_release"), "canary_release")?;
        if let Some(c) = obj.get("canary") {
            let c = object(c, "canary")?;
            only_fields(
                c,
                "canary.",
                &[
                    "weight_bp",
                    "plan_bp",
                    "salt",
                    "routes",
                    "client_id_cookie",
                    "client_id_header",
                    "overrides_require_token",
                    "fallback_to_stable",
                ],
            )?;
            if let Some(w) = c.get("weight_bp") {
                cfg.weight_bp = basis_points(w, "canary.weight_bp")?;
            }
            if let Some(p) = c.get("plan_bp") {
                let items = p
                    .as_array()
                    .ok_or_else(|| err("canary.plan_bp", "must be an array of basis points"))?;
                if items.is_empty() {
                    return Err(err("canary.plan_bp", "must not be empty"));
                }
                let mut plan = Vec::new();
                for (i, v) in items.iter().enumerate() {
                    let bp = basis_points(v, &format!("canary.plan_bp[{i}]"))?;
                    if plan.last().is_some_and(|last| *last >= bp) || bp == 0 {
                        return Err(err(
                            &format!("canary.plan_bp[{i}]"),
                            "steps must rise and be above 0",
                        ));
                    }
                    plan.push(bp);
                }
                cfg.plan_bp = plan;
            }
            if let Some(s) = c.get("salt") {
                let s = s
                    .as_str()
                    .filter(|s| !s.trim().is_empty() && s.len() <= 100)
                    .ok_or_else(|| err("canary.salt", "must be a non-empty string"))?;
                cfg.salt = s.to_string();
            }
            if let Some(r) = c.get("routes") {
                let items = r
                    .as_array()
                    .ok_or_else(|| err("canary.routes", "must be an array of path patterns"))?;
                if items.is_empty() {
                    return Err(err("canary.routes", "must not be empty"));
                }
                cfg.routes = items
                    .iter()
                    .enumerate()
                    .map(|(i, v)| {
                        let f = format!("canary.routes[{i}]");
                        let s = v.as_str().ok_or_else(|| err(&f, "must be a string"))?;
                        PathPattern::parse(s).map_err(|m| err(&f, &m))
                    })
                    .collect::<Result<_, _>>()?;
            }
            cfg.client_id_cookie = name(c.get("client_id_cookie"), "canary.client_id_cookie")?;
            cfg.client_id_header = name(c.get("client_id_header"), "canary.client_id_header")?
                .map(|h| h.to_ascii_lowercase());
            if let Some(b) = c.get("overrides_require_token") {
                cfg.overrides_require_token = b.as_bool().ok_or_else(|| {
                    err("canary.overrides_require_token", "must be true or false")
                })?;
            }
            if let Some(b) = c.get("fallback_to_stable") {
                cfg.fallback_to_stable = b
                    .as_bool()
                    .ok_or_else(|| err("canary.fallback_to_stable", "must be true or false"))?;
            }
        }
        if cfg.weight_bp > 0 && cfg.canary_origin.is_none() {
            return Err(err(
                "canary_origin",
                "is required while canary.weight_bp is above 0",
            ));
        }
        if cfg.canary_origin.as_ref() == Some(&cfg.stable_origin) {
            return Err(err("canary_origin", "is the same as stable_origin"));
        }
        if cfg.canary_release.is_some() && cfg.canary_origin.is_none() {
            return Err(err("canary_release", "needs a canary_origin"));
        }
        if cfg.canary_origin.is_some()
            && cfg.release(Variant::Canary) == cfg.release(Variant::Stable)
        {
            return Err(err(
                "canary_release",
                &format!(
                    "{:?} is the stable release too: a canary must be another release",
                    cfg.release(Variant::Canary)
                ),
            ));
        }
        Ok(cfg)
    }
}

fn err(field: &str, message: &str) -> FieldError {
    FieldError {
        field: field.to_string(),
        message: message.to_string(),
    }
}

fn object<'a>(v: &'a Value, field: &str) -> Result<&'a Map<String, Value>, FieldError> {
    v.as_object()
        .ok_or_else(|| err(field, "must be a JSON object"))
}

fn only_fields(obj: &Map<String, Value>, prefix: &str, known: &[&str]) -> Result<(), FieldError> {
    match obj.keys().find(|k| !known.contains(&k.as_str())) {
        Some(k) => Err(err(&format!("{prefix}{k}"), "is not a known field")),
        None => Ok(()),
    }
}

fn origin(
    v: Option<&Value>,
    field: &str,
    self_hosts: &[String],
) -> Result<Option<Url>, FieldError> {
    let Some(v) = v.filter(|v| !v.is_null()) else {
        return Ok(None);
    };
    let s = v
        .as_str()
        .ok_or_else(|| err(field, "must be a URL string"))?;
    let url = parse_origin_url(s).map_err(|m| err(field, &m))?;
    let host = host_port(&url).unwrap_or_default();
    if self_hosts.iter().any(|h| h.eq_ignore_ascii_case(&host)) {
        return Err(err(field, &format!("{s:?} points at the worker itself")));
    }
    Ok(Some(url))
}

/// Longest release label.
pub const MAX_RELEASE_LEN: usize = 100;

/// A release label: 1–100 visible ASCII characters (e.g. `2026.12.1`, `git:4f2a9c1`, a URL).
fn release_label(v: Option<&Value>, field: &str) -> Result<Option<String>, FieldError> {
    match v {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s))
            if !s.is_empty()
                && s.len() <= MAX_RELEASE_LEN
                && s.bytes().all(|b| b.is_ascii_graphic()) =>
        {
            Ok(Some(s.clone()))
        }
        Some(_) => Err(err(
            field,
            "must be a release label: 1–100 visible ASCII characters, no spaces",
        )),
    }
}

fn name(v: Option<&Value>, field: &str) -> Result<Option<String>, FieldError> {
    match v {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s))
            if !s.is_empty()
                && s.len() <= 64
                && s.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_') =>
        {
            Ok(Some(s.clone()))
        }
        Some(_) => Err(err(
            field,
            "must be a cookie or header name (letters, digits, '-', '_')",
        )),
    }
}

/// Basis points from a JSON integer 0–10 000.
pub fn basis_points(v: &Value, field: &str) -> Result<u16, FieldError> {
    match v.as_u64() {
        Some(bp) if bp <= 10_000 => Ok(bp as u16),
        Some(bp) => Err(err(field, &format!("{bp} is over 100 % (10000)"))),
        None => match v.as_f64() {
            Some(f) if f < 0.0 => Err(err(field, &format!("{} is below 0", Plain(f)))),
            Some(f) => Err(err(
                field,
                &format!("{} is not a whole number of basis points", Plain(f)),
            )),
            None => Err(err(field, &format!("{} is not a number", json::text(v)))),
        },
    }
}

/// Basis points from a JSON percentage with at most two decimals (`25`, `12.5`, `0.01`).
pub fn percent_to_bp(v: &Value, field: &str) -> Result<u16, FieldError> {
    let Some(p) = v.as_f64().filter(|_| v.is_number()) else {
        return Err(err(field, &format!("{} is not a number", json::text(v))));
    };
    if !p.is_finite() {
        return Err(err(field, "is not a finite number"));
    }
    if p < 0.0 {
        return Err(err(field, &format!("{} is below 0 %", Plain(p))));
    }
    if p > 100.0 {
        return Err(err(field, &format!("{} is over 100 %", Plain(p))));
    }
    let bp = (p * 100.0).round();
    if (bp - p * 100.0).abs() > 1e-6 {
        return Err(err(
            field,
            &format!("{} has more than two decimals", Plain(p)),
        ));
    }
    Ok(bp as u16)
}

/// Basis points from a percentage written as text (a `CANARY_*` var: `25`, `12.5`, `0.01`):
/// [`percent_to_bp`] of the number it reads (decimal::parse_f64, not core's float parser).
pub fn percent_text_to_bp(text: &str) -> Option<u16> {
    let percent = crate::decimal::parse_f64(text)?;
    percent_to_bp(&Value::from(percent), "percent").ok()
}

/// A weight in basis points as a percentage string (`2500` → `25`, `1250` → `12.5`).
pub fn bp_to_percent(bp: u16) -> f64 {
    f64::from(bp) / 100.0
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn doc(v: Value) -> Result<RolloutConfig, FieldError> {
        RolloutConfig::from_json(&v, &["edge.rs".to_string(), "127.0.0.1:8787".to_string()])
    }

    fn base() -> Value {
        json!({"stable_origin": "http://127.0.0.1:9001", "canary_origin": "http://127.0.0.1:9002",
               "canary": {"weight_bp": 2500}})
    }

    #[test]
    fn round_trips_through_json() {
        let cfg = doc(base()).unwrap();
        assert_eq!(cfg.weight_bp, 2500);
        assert_eq!(cfg.plan_bp, vec![1000, 2500, 5000, 10_000]);
        assert_eq!(doc(cfg.to_json()).unwrap(), cfg);
    }

    #[test]
    fn every_bad_input_names_its_field() {
        let cases: Vec<(Value, &str)> = vec![
            (json!({"canary_origin": "http://a.rs"}), "stable_origin"),
            (json!({"stable_origin": "ftp://a.rs"}), "stable_origin"),
            (
                json!({"stable_origin": "http://edge.rs/x"}),
                "stable_origin",
            ),
            (
                json!({"stable_origin": "http://a.rs", "canary_origin": "http://127.0.0.1:8787"}),
                "canary_origin",
            ),
            (
                json!({"stable_origin": "http://a.rs", "canary": {"weight_bp": 10}}),
                "canary_origin",
            ),
            (
                json!({"stable_origin": "http://a.rs", "canary_origin": "http://a.rs"}),
                "canary_origin",
            ),
            (
                json!({"stable_origin": "http://a.rs", "colour": 1}),
                "colour",
            ),
            (
                json!({"stable_origin": "http://a.rs", "canary": {"wieght_bp": 1}}),
                "canary.wieght_bp",
            ),
            (
                json!({"stable_origin": "http://a.rs", "canary_origin": "http://b.rs", "canary": {"weight_bp": 15000}}),
                "canary.weight_bp",
            ),
            (
                json!({"stable_origin": "http://a.rs", "canary_origin": "http://b.rs", "canary": {"weight_bp": -1}}),
                "canary.weight_bp",
            ),
            (
                json!({"stable_origin": "http://a.rs", "canary_origin": "http://b.rs", "canary": {"weight_bp": "25"}}),
                "canary.weight_bp",
            ),
            (
                json!({"stable_origin": "http://a.rs", "canary": {"plan_bp": []}}),
                "canary.plan_bp",
            ),
            (
                json!({"stable_origin": "http://a.rs", "canary": {"plan_bp": [2500, 1000]}}),
                "canary.plan_bp[1]",
            ),
            (
                json!({"stable_origin": "http://a.rs", "canary": {"routes": ["api"]}}),
                "canary.routes[0]",
            ),
            (
                json!({"stable_origin": "http://a.rs", "canary": {"client_id_cookie": "a b"}}),
                "canary.client_id_cookie",
            ),
            (
                json!({"stable_origin": "http://a.rs", "canary": {"fallback_to_stable": "yes"}}),
                "canary.fallback_to_stable",
            ),
            (json!([1]), "config"),
        ];
        for (v, field) in cases {
            let e = doc(v.clone()).unwrap_err();
            assert_eq!(e.field, field, "{v}: {e}");
        }
        let e = doc(json!({"stable_origin": "http://a.rs", "canary_origin": "http://b.rs", "canary": {"weight_bp": 15000}})).unwrap_err();
        assert_eq!(
            e.to_string(),
            "canary.weight_bp: 15000 is over 100 % (10000)"
        );
    }

    /// What the `CANARY_*` vars' percentages were read with before [`percent_text_to_bp`].
    fn percent_text_by_float(text: &str) -> Option<u16> {
        let f = text.parse::<f64>().ok()?;
        percent_to_bp(&Value::from(f), "w").ok()
    }

    #[test]
    fn percentage_texts_read_as_parsed_floats_did() {
        let mut texts: Vec<String> = [
            "25",
            "12.5",
            "0.01",
            "100",
            "100.0",
            "100.00000001",
            "100.000000001",
            "0",
            "-0",
            "-0.0",
            "+5",
            "-5",
            "-0.01",
            ".5",
            "5.",
            "5.e1",
            "2.5e1",
            "2.5E+1",
            "1250e-2",
            "0.125",
            "0.001",
            "12.3400000001",
            "12.3400001",
            "12.349999999",
            "99.9999999",
            "99.99999999999",
            "1e2",
            "1e3",
            "1e-9",
            "0e999999999999",
            "1e999999999999",
            "1e-999999999999",
            "",
            ".",
            "+",
            "-",
            "e5",
            "1e",
            "1e+",
            "1e+-2",
            "++1",
            "-+1",
            " 25",
            "25 ",
            "1_0",
            "0x10",
            "inf",
            "-inf",
            "infinity",
            "NaN",
            "nan",
            "１",
            "00025.5000",
            "0.00000000000000000000001",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        // A fixed LCG: signs, 0–4 whole digits, 0–9 fraction digits, exponents.
        let mut state = 0x9e37_79b9_7f4a_7c15u64;
        let mut next = |n: u64| {
            state = state
                .wrapping_mul(6_364_136_223_846_793_005)
                .wrapping_add(1_442_695_040_888_963_407);
            (state >> 33) % n
        };
        for _ in 0..300_000 {
            let mut t = String::new();
            match next(8) {
                0 => t.push('-'),
                1 => t.push('+'),
                _ => {}
            }
            for _ in 0..next(5) {
                t.push(char::from(b'0' + next(10) as u8));
            }
            if next(3) > 0 {
                t.push('.');
                // Mostly short fractions and runs of 0s or 9s (the tolerance's edges).
                for _ in 0..next(10) {
                    t.push(match next(4) {
                        0 => '0',
                        1 => '9',
                        _ => char::from(b'0' + next(10) as u8),
                    });
                }
            }
            if next(4) == 0 {
                t.push(if next(2) == 0 { 'e' } else { 'E' });
                match next(3) {
                    0 => t.push('-'),
                    1 => t.push('+'),
                    _ => {}
                }
                t.push(char::from(b'0' + next(10) as u8));
            }
            texts.push(t);
        }
        for t in &texts {
            assert_eq!(percent_text_to_bp(t), percent_text_by_float(t), "{t:?}");
        }
    }

    #[cfg(not(target_arch = "wasm32"))]
    proptest::proptest! {
        /// Any text in (or near) Rust's float syntax reads as the same percentage, or is
        /// refused, as it was through `str::parse::<f64>`.
        #[test]
        fn any_percentage_text_reads_as_a_parsed_float_did(
            text in "[+-]?[0-9]{0,6}(\\.[0-9]{0,12})?([eE][+-]?[0-9]{1,3})?|[ 0-9.eE+_-]{0,8}|\\PC{0,6}",
        ) {
            proptest::prop_assert_eq!(percent_text_to_bp(&text), percent_text_by_float(&text));
        }
    }

    #[test]
    fn percentages_take_two_decimals_at_most() {
        assert_eq!(percent_to_bp(&json!(25), "w").unwrap(), 2500);
        assert_eq!(percent_to_bp(&json!(12.5), "w").unwrap(), 1250);
        assert_eq!(percent_to_bp(&json!(0.01), "w").unwrap(), 1);
        assert_eq!(percent_to_bp(&json!(100), "w").unwrap(), 10_000);
        for bad in [
            json!(150),
            json!(-1),
            json!(12.345),
            json!("25"),
            json!(null),
            json!([25]),
        ] {
            assert_eq!(
                percent_to_bp(&bad, "weight").unwrap_err().field,
                "weight",
                "{bad}"
            );
        }
        assert_eq!(
            percent_to_bp(&json!(150), "weight")
                .unwrap_err()
                .to_string(),
            "weight: 150 is over 100 %"
        );
    }

    #[test]
    fn releases_default_to_the_origin_urls_and_must_differ() {
        let cfg = doc(base()).unwrap();
        assert_eq!(cfg.release(Variant::Stable), "http://127.0.0.1:9001/");
        assert_eq!(cfg.release(Variant::Canary), "http://127.0.0.1:9002/");
        let mut labelled = base();
        labelled["stable_release"] = json!("2026.11");
        labelled["canary_release"] = json!("2026.12");
        let cfg = doc(labelled.clone()).unwrap();
        assert_eq!(cfg.releases(), vec!["2026.11", "2026.12"]);
        assert_eq!(doc(cfg.to_json()).unwrap(), cfg, "labels round-trip");

        labelled["canary_release"] = json!("2026.11");
        assert_eq!(doc(labelled.clone()).unwrap_err().field, "canary_release");
        labelled["canary_release"] = json!("has space");
        assert_eq!(doc(labelled).unwrap_err().field, "canary_release");
        let no_canary = json!({"stable_origin": "http://a.rs", "canary_release": "x"});
        assert_eq!(doc(no_canary).unwrap_err().field, "canary_release");

        let stable_only = doc(json!({"stable_origin": "http://a.rs"})).unwrap();
        assert_eq!(
            stable_only.release(Variant::Canary),
            "http://a.rs/",
            "without a canary origin, stable serves canary requests"
        );
        assert_eq!(stable_only.releases(), vec!["http://a.rs/"]);
    }

    #[test]
    fn admin_and_health_never_take_part() {
        let cfg = doc(base()).unwrap();
        assert!(cfg.takes_part("/api/v1/marketplace/categories"));
        assert!(!cfg.takes_part("/api/v1/admin/users"));
        assert!(!cfg.takes_part("/health/ready"));
        assert!(!cfg.takes_part("/echo/x"), "not a catalog route by default");
    }
}
