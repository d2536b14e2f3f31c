//! Headers of the release-manager dashboard's responses: a strict Content-Security-Policy (no
//! inline script or style, no third parties, no framing) and friends.

/// The dashboard's Content-Security-Policy.
pub const CONTENT_SECURITY_POLICY: &str =
    "default-src 'none'; script-src 'self'; style-src 'self'; \
img-src 'self' data:; connect-src 'self'; font-src 'self'; base-uri 'none'; form-action 'none'; \
frame-ancestors 'none'";

/// Security headers added to every dashboard asset.
pub fn security_headers() -> [(&'static str, &'static str); 5] {
    [
        ("content-security-policy", CONTENT_SECURITY_POLICY),
        ("x-content-type-options", "nosniff"),
        ("referrer-policy", "no-referrer"),
        ("x-frame-options", "DENY"),
        // The dashboard changes with deploys; the admin token never lives in it.
        ("cache-control", "no-cache"),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn csp_allows_only_same_origin_and_no_inline_code() {
        assert!(CONTENT_SECURITY_POLICY.contains("script-src 'self';"));
        assert!(!CONTENT_SECURITY_POLICY.contains("unsafe-inline"));
        assert!(CONTENT_SECURITY_POLICY.contains("frame-ancestors 'none'"));
        assert_eq!(security_headers()[0].0, "content-security-policy");
    }
}
