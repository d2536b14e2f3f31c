//! Integers written into header values and cache keys (`ttl=43123`, `dur=12`, `/g7/`) straight
//! into the caller's buffer: no `format!`, no intermediate string, no formatting machinery on the
//! per-request path.

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
}
