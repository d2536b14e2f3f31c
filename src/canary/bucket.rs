//! Sticky assignment of clients to the canary.
//!
//! **The hash (never change it: changing it reshuffles every user):**
//! `bucket = splitmix64(fnv1a64(salt ‖ 0x1F ‖ client_id)) mod 10 000`, where `fnv1a64` is 64-bit
//! FNV-1a (offset basis `0xcbf29ce484222325`, prime `0x100000001b3`) over the UTF-8 bytes, `0x1F`
//! (the ASCII unit separator) keeps `("ab","c")` apart from `("a","bc")`, and `splitmix64` is
//! the standard finaliser (`x ^= x >> 30; x *= 0xbf58476d1ce4e5b9; x ^= x >> 27;
//! x *= 0x94d049bb133111eb; x ^= x >> 31`) that spreads FNV's low bits.
//!
//! A client is in the canary iff `bucket < weight_bp`. Raising the weight therefore keeps every
//! canary client in the canary, and weight 0 sends everyone to stable at once. A new salt starts a
//! new, independent shuffle (for the next release).

use crate::hash::fnv1a64;
use crate::variant::Variant;

/// Buckets per client population: weights are in basis points.
pub const BUCKETS: u64 = 10_000;

/// The splitmix64 finaliser.
fn splitmix64(mut x: u64) -> u64 {
    x ^= x >> 30;
    x = x.wrapping_mul(0xbf58_476d_1ce4_e5b9);
    x ^= x >> 27;
    x = x.wrapping_mul(0x94d0_49bb_1331_11eb);
    x ^ (x >> 31)
}

/// The client's bucket, 0–9 999.
pub fn bucket(salt: &str, client_id: &str) -> u16 {
    let h = splitmix64(fnv1a64(&[salt.as_bytes(), &[0x1f], client_id.as_bytes()]));
    (h % BUCKETS) as u16
}

/// How a request's variant was chosen.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reason {
    /// `X-Edge-Variant` header.
    HeaderOverride,
    /// `edge_variant` cookie.
    CookieOverride,
    /// The client's bucket against the weight.
    Bucket,
    /// The route does not take part, or no canary is configured.
    NotInRollout,
}

impl Reason {
    /// One fixed word.
    pub fn as_str(self) -> &'static str {
        match self {
            Reason::HeaderOverride => "header",
            Reason::CookieOverride => "cookie",
            Reason::Bucket => "bucket",
            Reason::NotInRollout => "none",
        }
    }
}

/// Decides a variant from the overrides (header beats cookie) and the bucket.
pub fn choose(
    header_override: Option<Variant>,
    cookie_override: Option<Variant>,
    bucket: Option<u16>,
    weight_bp: u16,
) -> (Variant, Reason) {
    if let Some(v) = header_override {
        return (v, Reason::HeaderOverride);
    }
    if let Some(v) = cookie_override {
        return (v, Reason::CookieOverride);
    }
    match bucket {
        Some(b) if b < weight_bp => (Variant::Canary, Reason::Bucket),
        Some(_) => (Variant::Stable, Reason::Bucket),
        // No client id is needed at 0 % and 100 %.
        None if weight_bp >= BUCKETS as u16 => (Variant::Canary, Reason::Bucket),
        None => (Variant::Stable, Reason::Bucket),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn golden_values_pin_the_hash() {
        // If one of these changes, every user is reshuffled: do not change the hash.
        assert_eq!(fnv1a64(&[b""]), 0xcbf2_9ce4_8422_2325);
        assert_eq!(fnv1a64(&[b"a"]), 0xaf63_dc4c_8601_ec8c);
        let golden = [
            ("catalog-edge", "user-1", bucket("catalog-edge", "user-1")),
            ("catalog-edge", "user-2", bucket("catalog-edge", "user-2")),
            ("rollout-7", "42", bucket("rollout-7", "42")),
        ];
        let pinned: [u16; 3] = [PIN_USER_1, PIN_USER_2, PIN_42];
        for ((salt, id, got), want) in golden.iter().zip(pinned) {
            assert_eq!(*got, want, "bucket({salt:?}, {id:?})");
        }
    }

    const PIN_USER_1: u16 = 5704;
    const PIN_USER_2: u16 = 6103;
    const PIN_42: u16 = 1266;

    #[test]
    fn ten_percent_of_100k_ids_land_within_half_a_point() {
        let n = 100_000;
        let canary = (0..n)
            .filter(|i| bucket("catalog-edge", &format!("user-{i}")) < 1000)
            .count();
        let share = canary as f64 * 100.0 / n as f64;
        assert!((share - 10.0).abs() <= 0.5, "{share} %");
    }

    #[test]
    fn raising_the_weight_keeps_every_canary_client() {
        // Through the whole per-request decision (the edge_id cookie, the salt, the bucket), over
        // the default plan: the canary set only grows, and each step holds its share of clients.
        use crate::canary::{assign, config::RolloutConfig};
        let mut cfg =
            RolloutConfig::stable_only(crate::web_url::Url::parse("http://s.rs").unwrap());
        cfg.canary_origin = Some(crate::web_url::Url::parse("http://c.rs").unwrap());
        let n = 20_000;
        let mut before = vec![false; n];
        for weight_bp in [1000u16, 2500, 5000, 10_000] {
            cfg.weight_bp = weight_bp;
            let mut canary = 0;
            for (i, was) in before.iter_mut().enumerate() {
                let cookie = [("cookie".to_string(), format!("edge_id=u{i}"))];
                let now = assign(&cfg, "/api/x", &cookie, false, || unreachable!()).variant
                    == Variant::Canary;
                assert!(now || !*was, "u{i} left the canary at {weight_bp} bp");
                *was = now;
                canary += usize::from(now);
            }
            let share_bp = canary * 10_000 / n;
            assert!(
                share_bp.abs_diff(usize::from(weight_bp)) <= 150,
                "{share_bp} bp at {weight_bp}"
            );
        }
    }

    #[test]
    fn overrides_beat_the_weight_and_header_beats_cookie() {
        assert_eq!(
            choose(
                Some(Variant::Stable),
                Some(Variant::Canary),
                Some(0),
                10_000
            ),
            (Variant::Stable, Reason::HeaderOverride)
        );
        assert_eq!(
            choose(None, Some(Variant::Canary), Some(9_999), 0),
            (Variant::Canary, Reason::CookieOverride)
        );
        assert_eq!(choose(None, None, Some(9_999), 0).0, Variant::Stable);
        assert_eq!(choose(None, None, None, 0).0, Variant::Stable);
        assert_eq!(choose(None, None, None, 10_000).0, Variant::Canary);
        assert_eq!(choose(None, None, Some(9_999), 10_000).0, Variant::Canary);
    }

    #[test]
    fn salt_and_id_boundaries_do_not_collide() {
        let pairs = (0..200)
            .filter(|i| bucket("ab", &format!("c{i}")) != bucket("a", &format!("bc{i}")))
            .count();
        assert!(pairs > 190);
    }
}
