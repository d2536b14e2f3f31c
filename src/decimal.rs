//! Integers written into header values and cache keys (`ttl=43123`, `dur=12`, `/g7/`) straight
//! into the caller's buffer: no `format!`, no intermediate string, no formatting machinery on the
//! per-request path. Floats written as `{}` and `{:.N}` write them without core's float
//! formatting (Grisu and Dragon with their tables: ~20 KB of Wasm that any `{}` of an f64 in
//! the edge brings): [`Plain`] from zmij's shortest digits (serde_json's float writer, already
//! in the edge), [`push_fixed`] by integer arithmetic on the float's exact binary value. And a
//! decimal number read from text without core's float parser ([`parse_f64`]).

use std::fmt;

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

/// An f64 as `{}` writes it (`Display`): the shortest digits that read back as the same number,
/// without an exponent or a trailing `.0` (`12.5`, `0.0001`, `1000000`, `-0`, `inf`, `NaN`).
/// Width, precision and alignment flags are not applied.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Plain(pub f64);

impl fmt::Display for Plain {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut out = String::new();
        push_f64(&mut out, self.0);
        f.write_str(&out)
    }
}

/// [`Plain`] appended to `out`.
pub fn push_f64(out: &mut String, x: f64) {
    if x.is_nan() {
        return out.push_str("NaN");
    }
    if x.is_sign_negative() {
        out.push('-');
    }
    if x.is_infinite() {
        return out.push_str("inf");
    }
    let mut buffer = zmij::Buffer::new();
    // zmij writes the shortest digits as `12.34`, `0.001234`, `1234.0` or `1.234e-7` / `1e30`
    // (at most 16 before the point, 22 after it): read them back as significant digits and how
    // many of them stand before the point.
    let text = buffer.format_finite(x.abs());
    let (mantissa, exponent) = text.split_once('e').unwrap_or((text, "0"));
    let (int, frac) = mantissa.split_once('.').unwrap_or((mantissa, ""));
    let mut point = int.len() as i32 + small_int(exponent);
    let mut digits = [0u8; 40];
    let mut n = 0;
    for &d in int.as_bytes().iter().chain(frac.as_bytes()) {
        if n == 0 && d == b'0' {
            point -= 1; // a leading zero
        } else if n < digits.len() {
            digits[n] = d;
            n += 1;
        }
    }
    while n > 0 && digits[n - 1] == b'0' {
        n -= 1;
    }
    round_half_up(&mut digits[..n], x.abs());
    // Only ASCII digits were written, so this never falls back.
    let digits = std::str::from_utf8(&digits[..n]).unwrap_or("0");
    if n == 0 {
        out.push('0');
    } else if point <= 0 {
        out.push_str("0.");
        push_zeros(out, -point);
        out.push_str(digits);
    } else if point as usize >= n {
        out.push_str(digits);
        push_zeros(out, point - n as i32);
    } else {
        let (whole, fraction) = digits.split_at(point as usize);
        out.push_str(whole);
        out.push('.');
        out.push_str(fraction);
    }
}

/// A small decimal integer with an optional sign (zmij's exponents: `-7`, `+30`, `30`).
fn small_int(text: &str) -> i32 {
    let (negative, digits) = match text.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, text.trim_start_matches('+')),
    };
    let n = digits
        .bytes()
        .fold(0i32, |n, d| n * 10 + i32::from(d.wrapping_sub(b'0') % 10));
    if negative {
        -n
    } else {
        n
    }
}

fn push_zeros(out: &mut String, count: i32) {
    for _ in 0..count {
        out.push('0');
    }
}

/// When two shortest candidates are equally close to `x` (it lies exactly halfway between them),
/// zmij writes the even one and core's `{}` the upper one (`97452132886139.625` → `…139.63`):
/// make `digits` (zmij's) the upper one then. Only values with a few fraction bits can be such
/// a tie (`m × 2^-k` with at most 18 significant digits, so k ≤ 25): `m × 5^k` is then their
/// exact decimal, compared with the lower candidate's digits and a 5.
fn round_half_up(digits: &mut [u8], x: f64) {
    // An even last digit other than 0 (a 0 would have been dropped for a shorter candidate),
    // so adding one never carries.
    match digits.last() {
        Some(d) if *d != b'0' && (d - b'0').is_multiple_of(2) => {}
        _ => return,
    }
    let bits = x.to_bits();
    let biased = ((bits >> 52) & 0x7ff) as i32;
    if biased == 0 {
        return;
    }
    let mut m = (bits & ((1 << 52) - 1)) | 1 << 52;
    let mut e = biased - 1075;
    while m.is_multiple_of(2) && e < 0 {
        m /= 2;
        e += 1;
    }
    if !(-25..0).contains(&e) {
        return;
    }
    let exact = u128::from(m) * 5u128.pow(e.unsigned_abs());
    let lower = digits
        .iter()
        .fold(0u128, |v, d| v * 10 + u128::from(d - b'0'));
    if exact == lower * 10 + 5 {
        if let Some(last) = digits.last_mut() {
            *last += 1;
        }
    }
}

/// `x` with `decimals` decimals (at most 4), as `{:.N}` writes it: the float's exact binary
/// value rounded half to even (`{:.1}` of 0.25 is `0.2`, of 0.35 — really 0.34999… — `0.3`),
/// a negative value keeping its sign (`-0.0`). Exact for |x| < 2^63 (a share, a duration);
/// beyond that the integer part is [`Plain`]'s shortest digits.
pub fn push_fixed(out: &mut String, x: f64, decimals: u32) {
    const UNITS: [u64; 5] = [1, 10, 100, 1_000, 10_000];
    let decimals = decimals.min(4);
    let unit = UNITS[decimals as usize];
    // NaN, infinities and integers from 2^63 on.
    if x.is_nan() || x.abs() >= 9_223_372_036_854_775_808.0 {
        push_f64(out, x);
        if x.is_finite() && decimals > 0 {
            out.push('.');
            push_zeros(out, decimals as i32);
        }
        return;
    }
    let bits = x.to_bits();
    if bits >> 63 == 1 {
        out.push('-');
    }
    // x = m × 2^e exactly: its whole part, and its fraction's bits rounded to `unit`ths.
    let biased = ((bits >> 52) & 0x7ff) as i32;
    let fraction = bits & ((1 << 52) - 1);
    let (m, e) = if biased == 0 {
        (fraction, -1074)
    } else {
        (fraction | 1 << 52, biased - 1075)
    };
    let (mut whole, mut units) = (0u64, 0u64);
    if e >= 0 {
        whole = m << e;
    } else {
        let shift = e.unsigned_abs();
        let fraction_bits = if shift < 64 {
            whole = m >> shift;
            m & ((1 << shift) - 1)
        } else {
            m
        };
        if shift < 128 {
            let scaled = u128::from(fraction_bits) * u128::from(unit);
            units = (scaled >> shift) as u64;
            let rest = scaled & ((1u128 << shift) - 1);
            let half = 1u128 << (shift - 1);
            // Half to even: the last digit written is the units' (or the whole part's).
            let last = if decimals == 0 { whole } else { units };
            if rest > half || (rest == half && last % 2 == 1) {
                units += 1;
            }
        }
        if units == unit {
            whole += 1;
            units = 0;
        }
    }
    push_u64(out, whole);
    if decimals > 0 {
        out.push('.');
        let mut place = unit;
        while place > 1 {
            place /= 10;
            out.push(char::from(b'0' + ((units / place) % 10) as u8));
        }
    }
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

    /// Floats of every magnitude and shape: integers, shares, durations, tiny and huge ones,
    /// subnormals, and a spread of raw bit patterns.
    fn floats() -> Vec<f64> {
        let mut xs = vec![
            0.0,
            -0.0,
            1.0,
            -1.0,
            0.1,
            0.25,
            12.5,
            100.0,
            1e15,
            1e16,
            1e17,
            1e21,
            1e22,
            1e-5,
            1e-7,
            1.5e300,
            f64::MAX,
            f64::MIN_POSITIVE,
            5e-324,
            f64::EPSILON,
            123_456_789.123_456_78,
            f64::INFINITY,
            f64::NEG_INFINITY,
            f64::NAN,
        ];
        for bp in 0..=10_000u16 {
            xs.push(f64::from(bp) / 100.0);
            xs.push(f64::from(bp) / 10_000.0);
        }
        // A fixed LCG over raw bit patterns: every exponent, sign and mantissa shape.
        let mut state = 0x2545_f491_4f6c_dd1du64;
        for _ in 0..200_000 {
            state = state
                .wrapping_mul(6_364_136_223_846_793_005)
                .wrapping_add(1_442_695_040_888_963_407);
            xs.push(f64::from_bits(state));
            xs.push((state >> 11) as f64 / (1u64 << 40) as f64);
            // Few fraction bits (`m / 2^k`, k ≤ 25): where halfway ties between shortest
            // candidates happen.
            let k = (state % 26) as i32;
            xs.push((state >> (11 + state % 40)) as f64 / 2f64.powi(k));
        }
        xs
    }

    #[test]
    fn floats_read_as_their_display_form() {
        for x in floats() {
            assert_eq!(Plain(x).to_string(), format!("{x}"), "{:#x}", x.to_bits());
        }
        // Halfway between two shortest candidates: the upper one, as core's `{}` writes (zmij
        // alone writes the even one).
        assert_eq!(
            Plain(97_452_132_886_139.0 + 0.625).to_string(),
            "97452132886139.63"
        );
        assert_eq!(
            Plain(-(27_696_580_757_335.0 + 0.0625)).to_string(),
            "-27696580757335.063"
        );
        assert_eq!(format!("{} %", Plain(12.5)), "12.5 %");
    }

    #[test]
    fn fixed_decimals_read_as_their_precision_form() {
        for x in floats() {
            for d in 0..=4 {
                let mut out = String::new();
                push_fixed(&mut out, x, d);
                let expected = format!("{x:.*}", d as usize);
                if x.abs() < 9_223_372_036_854_775_808.0 || !x.is_finite() {
                    assert_eq!(out, expected, "{x:e} .{d}");
                } else {
                    // From 2^63 on the integer part is the shortest form, not every exact digit.
                    assert_eq!(out.len(), expected.len(), "{x:e} .{d}");
                }
            }
        }
        // Halves go to the even neighbour, as core's formatting does.
        let fixed = |x: f64, d: u32| {
            let mut out = String::new();
            push_fixed(&mut out, x, d);
            out
        };
        assert_eq!(fixed(0.25, 1), "0.2");
        assert_eq!(fixed(0.75, 1), "0.8");
        assert_eq!(fixed(2.5, 0), "2");
        assert_eq!(fixed(-0.01, 1), "-0.0");
        assert_eq!(fixed(12.25, 1), "12.2");
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
