//! Integers written into header values and cache keys (`ttl=43123`, `dur=12`, `/g7/`) straight
//! into the caller's buffer: no `format!`, no intermediate string, no formatting machinery on the
//! per-request path. And a decimal number read from text without core's float parser
//! ([`parse_f64`]).

/// `n` in decimal, appended to `out`.
pub fn push_u64(out: &mut String, n: u64) {
    if n < 10 {
        // Sub-10 ms durations and their tenths: one character, no buffer.
        out.push(char::from(b'0' + n as u8));
        return;
    }
    let mut digits = [0u8; 20];
    let mut i = digits.len();
    let mut n = n;
    loop {
        i -= 1;
        digits[i] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    // Only ASCII digits were written, so this never falls back.
    out.push_str(std::str::from_utf8(&digits[i..]).unwrap_or("0"));
}

/// `n` in decimal with a leading `-` when negative, appended to `out`.
pub fn push_i64(out: &mut String, n: i64) {
    if n < 0 {
        out.push('-');
    }
    push_u64(out, n.unsigned_abs());
}

/// A decimal number in Rust's float syntax (`25`, `-12.5`, `.5`, `5.`, `2.5e1`, `1E-3`; not
/// `inf` or `NaN`) read into an f64 without core's float parser (dec2flt, with its 10 KB table
/// of powers of five). The same f64 as `str::parse::<f64>` whenever the digits, without their
/// point, make at most 2^53 and the power of ten is within ±22 (Clinger's fast path: two exact
/// values, one rounding), which covers every percentage, share or duration written by hand.
/// Beyond that, digits past the 19th are dropped and the power of ten applied by `powi`, which
/// may be a few ulps off.
pub fn parse_f64(text: &str) -> Option<f64> {
    fn sign(s: &str) -> (bool, &str) {
        match s.as_bytes().first() {
            Some(b'-') => (true, &s[1..]),
            Some(b'+') => (false, &s[1..]),
            _ => (false, s),
        }
    }
    let is_digits = |s: &str| s.bytes().all(|b| b.is_ascii_digit());
    let (negative, rest) = sign(text);
    let (mantissa, exponent) = match rest.find(['e', 'E']) {
        Some(i) => (&rest[..i], Some(&rest[i + 1..])),
        None => (rest, None),
    };
    let (int, frac) = mantissa.split_once('.').unwrap_or((mantissa, ""));
    if (int.is_empty() && frac.is_empty()) || !is_digits(int) || !is_digits(frac) {
        return None;
    }
    let mut exp10: i32 = match exponent {
        None => 0,
        Some(e) => {
            let (minus, digits) = sign(e);
            if digits.is_empty() || !is_digits(digits) {
                return None;
            }
            // Saturates: a million places over or under is infinity or zero all the same.
            let e = digits
                .bytes()
                .fold(0i32, |v, d| (v * 10 + i32::from(d - b'0')).min(1_000_000));
            if minus {
                -e
            } else {
                e
            }
        }
    };
    let mut m: u64 = 0;
    for (i, d) in int.bytes().chain(frac.bytes()).enumerate() {
        let is_fraction = i >= int.len();
        if m < 1_000_000_000_000_000_000 {
            m = m * 10 + u64::from(d - b'0');
            if is_fraction {
                exp10 -= 1;
            }
        } else if !is_fraction {
            exp10 += 1; // a whole digit past the 19th: dropped, its place kept
        }
    }
    let magnitude = if m == 0 {
        0.0
    } else if exp10 >= 0 {
        m as f64 * 10f64.powi(exp10)
    } else if exp10 >= -308 {
        m as f64 / 10f64.powi(-exp10)
    } else {
        // 10^309 and up are infinite: two steps, so that a subnormal stays above zero.
        m as f64 / 1e308 / 10f64.powi(-exp10 - 308)
    };
    Some(if negative { -magnitude } else { magnitude })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn integers_read_as_their_display_form() {
        for n in [0, 7, 9, 10, 11, 99, 100, 65_535, 4_294_967_296, u64::MAX] {
            let mut out = String::from("x=");
            push_u64(&mut out, n);
            assert_eq!(out, format!("x={n}"));
        }
        for n in [0, -1, 1, -43_123, 43_123, i64::MIN, i64::MAX] {
            let mut out = String::new();
            push_i64(&mut out, n);
            assert_eq!(out, n.to_string());
        }
    }

    #[test]
    fn decimal_texts_read_as_str_parse_reads_them() {
        let exact = [
            "0",
            "-0",
            "25",
            "-12.5",
            "+5",
            ".5",
            "5.",
            "5.e1",
            "2.5e1",
            "1E-3",
            "1250e-2",
            "0.1",
            "0.3",
            "123456789.123456",
            "9007199254740992",
            "1e22",
            "1e-22",
            "0e9999999",
            "00012.5000",
            "3.14159265358979",
        ];
        for t in exact {
            assert_eq!(parse_f64(t), t.parse::<f64>().ok(), "{t:?}");
        }
        for t in [
            "", ".", "-", "e5", "1e", "1e+", "1e+-2", "++1", " 1", "1 ", "1_0", "inf", "NaN",
        ] {
            assert_eq!(parse_f64(t), None, "{t:?}");
        }
        // Out of the fast path: zero, infinity, or close.
        assert_eq!(parse_f64("1e-400"), Some(0.0));
        assert!(
            parse_f64("-3e-310").is_some_and(|f| f < 0.0),
            "a subnormal, not 0"
        );
        assert_eq!(parse_f64("-1e-400"), Some(-0.0));
        assert_eq!(parse_f64("1e400"), Some(f64::INFINITY));
        let long = parse_f64("12345678901234567890123.5").unwrap();
        assert!(
            (long / 1.234_567_890_123_456_8e22 - 1.0).abs() < 1e-15,
            "{long}"
        );
    }
}
