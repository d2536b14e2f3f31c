//! The one non-cryptographic hash of the crate: 64-bit FNV-1a. The canary bucket (its golden
//! values must never change), release tags in cache keys and the seal of published control-plane
//! documents use it. Nothing here defends against an attacker: it tells apart values that honest
//! writers produce.

/// 64-bit FNV-1a over the concatenated parts (offset basis `0xcbf29ce484222325`, prime
/// `0x100000001b3`).
pub fn fnv1a64(parts: &[&[u8]]) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for part in parts {
        for b in *part {
            h ^= u64::from(*b);
            h = h.wrapping_mul(0x0000_0100_0000_01b3);
        }
    }
    h
}

/// A hash as 16 lowercase hex digits.
pub fn hex64(h: u64) -> String {
    let mut out = String::with_capacity(16);
    push_hex64(&mut out, h);
    out
}

/// [`hex64`] appended to `out` (no formatting machinery, no intermediate string).
pub fn push_hex64(out: &mut String, h: u64) {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    for shift in (0..16).rev() {
        out.push(char::from(DIGITS[((h >> (shift * 4)) & 0xf) as usize]));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn matches_the_published_fnv1a64_vectors() {
        // From the FNV reference test suite.
        assert_eq!(fnv1a64(&[b""]), 0xcbf2_9ce4_8422_2325);
        assert_eq!(fnv1a64(&[b"a"]), 0xaf63_dc4c_8601_ec8c);
        assert_eq!(fnv1a64(&[b"foobar"]), 0x8594_4171_f739_67e8);
        assert_eq!(fnv1a64(&[b"foo", b"bar"]), fnv1a64(&[b"foobar"]));
        assert_eq!(hex64(0xab), "00000000000000ab");
        for h in [0, 1, 0xab, 0xcbf2_9ce4_8422_2325, u64::MAX, 1 << 63] {
            assert_eq!(hex64(h), format!("{h:016x}"));
        }
    }
}
