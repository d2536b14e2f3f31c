//! Canary releases: sticky per-client assignment ([`bucket`]), the runtime rollout configuration
//! ([`config`]), release-manager operations ([`ops`]), and the per-request decision ([`assign`]).

pub mod bucket;
pub mod config;
pub mod ops;

use crate::headers::{self, HeaderList};
use crate::variant::Variant;
use bucket::Reason;
use config::RolloutConfig;

/// The cookie that carries the id the edge issues to clients without one.
pub const EDGE_ID_COOKIE: &str = "edge_id";
/// The QA override cookie.
pub const VARIANT_COOKIE: &str = "edge_variant";
/// The QA override header (beats the cookie).
pub const VARIANT_HEADER: &str = "x-edge-variant";
/// Lifetime of the `edge_id` cookie: one year.
pub const EDGE_ID_MAX_AGE_SECS: u64 = 365 * 24 * 3600;

/// The variant of one request and how it was chosen.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Assignment {
    /// Which origin serves the request.
    pub variant: Variant,
    /// Why.
    pub reason: Reason,
    /// A `Set-Cookie` value issuing a new `edge_id`, when the client had no id and one was needed.
    pub set_cookie: Option<String>,
}

/// True when a failed canary request may be retried once against stable: only plain, bodiless,
/// idempotent requests (a conditional request's validators belong to the canary's entry, and a
/// body can be sent only once).
pub fn may_retry_on_stable(method: &str, has_body: bool, is_conditional: bool) -> bool {
    matches!(method, "GET" | "HEAD" | "OPTIONS") && !has_body && !is_conditional
}

pub use crate::cache::classify::is_failure as is_origin_failure;
pub use crate::cookie::get as cookie;

fn is_valid_id(id: &str) -> bool {
    !id.is_empty()
        && id.len() <= 128
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_' || b == b'.')
}

/// [`assign`] where making a fresh id can fail (no randomness): a client that would need a new
/// id is served by stable and gets no cookie, never a guessable id (fails closed). The id maker
/// reports its own failure.
pub fn assign_or_stable(
    cfg: &RolloutConfig,
    path: &str,
    request_headers: &HeaderList,
    has_admin_token: bool,
    new_id: impl FnOnce() -> Option<String>,
) -> Assignment {
    let mut no_id = false;
    let assignment = assign(cfg, path, request_headers, has_admin_token, || {
        new_id().unwrap_or_else(|| {
            no_id = true;
            String::new()
        })
    });
    if no_id {
        return Assignment {
            variant: Variant::Stable,
            reason: Reason::Bucket,
            set_cookie: None,
        };
    }
    assignment
}

/// Chooses the variant of a request. `has_admin_token` says whether the request carries the admin
/// token (the QA overrides need it when the configuration says so); `new_id` makes a fresh random
/// id, called only when the client needs one.
pub fn assign(
    cfg: &RolloutConfig,
    path: &str,
    request_headers: &HeaderList,
    has_admin_token: bool,
    new_id: impl FnOnce() -> String,
) -> Assignment {
    let stable = |reason| Assignment {
        variant: Variant::Stable,
        reason,
        set_cookie: None,
    };
    if cfg.canary_origin.is_none() || !cfg.takes_part(path) {
        return stable(Reason::NotInRollout);
    }
    // Every cookie the decision may read, in one scan of the `Cookie` fields.
    let [variant_cookie, configured_id_cookie, edge_id_cookie] = crate::cookie::get_each(
        request_headers,
        [
            VARIANT_COOKIE,
            cfg.client_id_cookie.as_deref().unwrap_or(""),
            EDGE_ID_COOKIE,
        ],
    );
    let may_override = has_admin_token || !cfg.overrides_require_token;
    let header_override = may_override
        .then(|| headers::get(request_headers, VARIANT_HEADER).and_then(Variant::parse))
        .flatten();
    let cookie_override = may_override
        .then(|| variant_cookie.and_then(Variant::parse))
        .flatten();

    let needs_id = header_override.is_none()
        && cookie_override.is_none()
        && cfg.weight_bp > 0
        && cfg.weight_bp < bucket::BUCKETS as u16;
    // The client's id, borrowed from the request; a new one only when it has none.
    let known = needs_id
        .then(|| {
            cfg.client_id_header
                .as_deref()
                .and_then(|h| headers::get(request_headers, h))
                .map(str::trim)
                .filter(|id| !id.is_empty())
                .or_else(|| configured_id_cookie.filter(|id| !id.is_empty()))
                .or_else(|| edge_id_cookie.filter(|id| is_valid_id(id)))
        })
        .flatten();
    let issued = (needs_id && known.is_none()).then(new_id);
    let set_cookie = issued.as_deref().map(|id| {
        format!(
            "{EDGE_ID_COOKIE}={id}; Path=/; Max-Age={EDGE_ID_MAX_AGE_SECS}; Secure; HttpOnly; SameSite=Lax"
        )
    });
    let b = known
        .or(issued.as_deref())
        .map(|id| bucket::bucket(&cfg.salt, id));
    let (variant, reason) = bucket::choose(header_override, cookie_override, b, cfg.weight_bp);
    Assignment {
        variant,
        reason,
        set_cookie,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cfg(weight_bp: u16) -> RolloutConfig {
        let mut c = RolloutConfig::for_tests(weight_bp);
        c.client_id_header = Some("x-user-id".into());
        c
    }

    use crate::headers::owned as h;

    const P: &str = "/api/v1/marketplace/categories";

    #[test]
    fn a_new_client_gets_an_edge_id_cookie_and_a_sticky_bucket() {
        let a = assign(&cfg(2500), P, &[], true, || "abc123".into());
        let cookie = a.set_cookie.expect("issued");
        assert!(cookie.starts_with("edge_id=abc123; Path=/; Max-Age=31536000"));
        for attr in ["Secure", "HttpOnly", "SameSite=Lax"] {
            assert!(cookie.contains(attr), "{attr}");
        }
        let again = assign(
            &cfg(2500),
            P,
            &h(&[("cookie", "edge_id=abc123")]),
            true,
            || "zzz".into(),
        );
        assert_eq!(again.set_cookie, None);
        assert_eq!(again.variant, a.variant);
    }

    #[test]
    fn configured_id_beats_edge_id() {
        let by_header = assign(
            &cfg(5000),
            P,
            &h(&[("x-user-id", "42"), ("cookie", "edge_id=x")]),
            true,
            || "n".into(),
        );
        let expected =
            bucket::choose(None, None, Some(bucket::bucket("catalog-edge", "42")), 5000).0;
        assert_eq!(by_header.variant, expected);
        assert_eq!(by_header.set_cookie, None);
    }

    #[test]
    fn the_configured_id_cookie_beats_edge_id_and_an_empty_one_falls_back() {
        // All three cookies come from one scan of the fields: each must still be its own.
        let mut c = RolloutConfig::for_tests(5000);
        c.client_id_cookie = Some("uid".into());
        let expect =
            |id: &str| bucket::choose(None, None, Some(bucket::bucket("catalog-edge", id)), 5000).0;
        let ids = ["a", "b", "c", "d", "e", "f", "g", "h"];
        for (uid, edge) in ids.iter().zip(ids.iter().rev()) {
            let both = h(&[
                ("cookie", &format!("edge_id={edge}")),
                ("cookie", &format!("x=1, uid={uid}")),
            ]);
            let a = assign(&c, P, &both, false, || unreachable!());
            assert_eq!((a.variant, a.set_cookie), (expect(uid), None), "{uid}");
            let empty = h(&[("cookie", &format!("uid=; edge_id={edge}; uid={uid}"))]);
            let a = assign(&c, P, &empty, false, || unreachable!());
            assert_eq!(a.variant, expect(edge), "the first uid is empty: {edge}");
        }
        let all = h(&[("cookie", "uid=42; edge_variant=canary; edge_id=x")]);
        let a = assign(&cfg(0), P, &all, false, || unreachable!());
        assert_eq!(
            (a.variant, a.reason),
            (Variant::Canary, Reason::CookieOverride)
        );
    }

    #[test]
    fn no_id_is_issued_at_zero_or_full_weight_or_outside_the_rollout() {
        assert_eq!(
            assign(&cfg(0), P, &[], true, || "n".into()).set_cookie,
            None
        );
        assert_eq!(
            assign(&cfg(0), P, &[], true, || "n".into()).variant,
            Variant::Stable
        );
        let full = assign(&cfg(10_000), P, &[], true, || "n".into());
        assert_eq!((full.variant, full.set_cookie), (Variant::Canary, None));
        let admin = assign(&cfg(10_000), "/api/v1/admin/x", &[], true, || "n".into());
        assert_eq!(
            (admin.variant, admin.reason),
            (Variant::Stable, Reason::NotInRollout)
        );
    }

    #[test]
    fn overrides_header_then_cookie_unless_a_token_is_required() {
        let both = h(&[
            ("x-edge-variant", "stable"),
            ("cookie", "edge_variant=canary"),
        ]);
        assert_eq!(
            assign(&cfg(10_000), P, &both, false, || "n".into()).variant,
            Variant::Stable
        );
        let cookie_only = h(&[("cookie", "a=1; edge_variant=canary")]);
        let a = assign(&cfg(0), P, &cookie_only, false, || "n".into());
        assert_eq!(
            (a.variant, a.reason),
            (Variant::Canary, Reason::CookieOverride)
        );
        let mut strict = cfg(0);
        strict.overrides_require_token = true;
        assert_eq!(
            assign(&strict, P, &cookie_only, false, || "n".into()).variant,
            Variant::Stable
        );
        assert_eq!(
            assign(&strict, P, &cookie_only, true, || "n".into()).variant,
            Variant::Canary
        );
        assert_eq!(
            assign(
                &cfg(0),
                P,
                &h(&[("x-edge-variant", "purple")]),
                true,
                || "n".into()
            )
            .variant,
            Variant::Stable,
            "an unknown override is ignored"
        );
    }

    #[test]
    fn only_plain_idempotent_requests_fall_back() {
        assert!(may_retry_on_stable("GET", false, false));
        assert!(may_retry_on_stable("HEAD", false, false));
        assert!(!may_retry_on_stable("GET", false, true), "conditional");
        assert!(!may_retry_on_stable("POST", false, false));
        assert!(!may_retry_on_stable("PUT", true, false));
        assert!(is_origin_failure(503) && !is_origin_failure(404));
    }

    #[test]
    fn a_malformed_edge_id_is_replaced() {
        let a = assign(
            &cfg(2500),
            P,
            &h(&[("cookie", "edge_id=<script>")]),
            true,
            || "fresh".into(),
        );
        assert!(a.set_cookie.unwrap().starts_with("edge_id=fresh;"));
    }

    #[test]
    fn a_client_without_randomness_for_its_id_is_served_by_stable_without_a_cookie() {
        let a = assign_or_stable(&cfg(10_000 - 1), P, &[], true, || None);
        assert_eq!(a.variant, Variant::Stable);
        assert_eq!(a.set_cookie, None);
        let b = assign_or_stable(&cfg(2500), P, &[], true, || Some("abc123".into()));
        assert_eq!(b, assign(&cfg(2500), P, &[], true, || "abc123".into()));
    }
}
