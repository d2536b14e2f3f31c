//! Entity tags: computing a strong ETag from body bytes and evaluating `If-None-Match`.

/// Computes a strong ETag (quoted 64-bit FNV-1a hash in hex) for a response body.
pub fn strong_etag(body: &[u8]) -> String {
    format!("\"{:016x}\"", fnv1a64(body))
}

/// The 64-bit FNV-1a hash of `bytes`.
pub fn fnv1a64(bytes: &[u8]) -> u64 {
    const OFFSET: u64 = 0xcbf2_9ce4_8422_2325;
    const PRIME: u64 = 0x0000_0100_0000_01b3;
    bytes
        .iter()
        .fold(OFFSET, |h, b| (h ^ u64::from(*b)).wrapping_mul(PRIME))
}

/// Whether an `If-None-Match` header value matches `etag` (`*`, lists, weak comparison).
///
/// Weak comparison (RFC 9110 §8.8.3.2) ignores a `W/` prefix on either side and compares the
/// opaque tags byte for byte, quotes included.
pub fn if_none_match_matches(header: &str, etag: &str) -> bool {
    let ours = opaque(etag.trim());
    header
        .split(',')
        .map(str::trim)
        .any(|candidate| candidate == "*" || (!candidate.is_empty() && opaque(candidate) == ours))
}

/// Strips a weak indicator from an entity tag.
fn opaque(tag: &str) -> &str {
    tag.strip_prefix("W/").unwrap_or(tag)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fnv_known_vectors() {
        assert_eq!(fnv1a64(b""), 0xcbf2_9ce4_8422_2325);
        assert_eq!(fnv1a64(b"a"), 0xaf63_dc4c_8601_ec8c);
        assert_eq!(fnv1a64(b"foobar"), 0x8594_4171_f739_67e8);
    }

    #[test]
    fn etag_is_quoted_hex_and_deterministic() {
        let a = strong_etag(b"{\"x\":1}");
        assert_eq!(a, strong_etag(b"{\"x\":1}"));
        assert_ne!(a, strong_etag(b"{\"x\":2}"));
        assert_eq!(a.len(), 18);
        assert!(a.starts_with('"') && a.ends_with('"'));
        assert!(a[1..17].chars().all(|c| c.is_ascii_hexdigit()));
    }

    #[test]
    fn exact_and_weak_matches() {
        let tag = "\"abc\"";
        assert!(if_none_match_matches("\"abc\"", tag));
        assert!(if_none_match_matches("W/\"abc\"", tag));
        assert!(if_none_match_matches("\"abc\"", "W/\"abc\""));
        assert!(!if_none_match_matches("\"abd\"", tag));
        assert!(
            !if_none_match_matches("abc", tag),
            "quotes are part of the tag"
        );
    }

    #[test]
    fn lists_and_star() {
        let tag = "\"abc\"";
        assert!(if_none_match_matches("\"x\", \"abc\"", tag));
        assert!(if_none_match_matches("\"x\",W/\"abc\" ,\"y\"", tag));
        assert!(!if_none_match_matches("\"x\", \"y\"", tag));
        assert!(if_none_match_matches("*", tag));
        assert!(if_none_match_matches(" * ", tag));
        assert!(!if_none_match_matches("", tag));
        assert!(!if_none_match_matches(" , ", tag));
    }
}
