//! HTTP-date (RFC 9110 §5.6.7), parsed strictly: IMF-fixdate, and the obsolete RFC 850 and
//! asctime forms a recipient must accept, each with its exact spacing and digit counts. Day and
//! month names are matched case-insensitively; the weekday must be the date's own, and the day
//! must exist in its month. Anything else is `None`, which callers treat as "in the past"
//! (RFC 9111 §5.3: an invalid `Expires`, such as `0`, means already expired).
//!
//! Our own parser rather than the `httpdate` crate: `httpdate` matches names case-sensitively
//! (RFC 9110 asks recipients to be lenient there only for the obsolete forms, and origins send
//! `GMT`/`Nov` in every case), and the parser below is a few hundred bytes of Wasm.

const MONTHS: [&str; 12] = [
    "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
];
/// Short day names, starting from 1 January 1970 (a Thursday).
const DAYS: [&str; 7] = ["Thu", "Fri", "Sat", "Sun", "Mon", "Tue", "Wed"];
/// Long day names (RFC 850), in the order of [`DAYS`].
pub const LONG_DAYS: [&str; 7] = [
    "Thursday",
    "Friday",
    "Saturday",
    "Sunday",
    "Monday",
    "Tuesday",
    "Wednesday",
];

/// Seconds since the Unix epoch for an HTTP-date, `None` when it is not one.
pub fn parse(value: &str) -> Option<u64> {
    let v = value.trim_matches([' ', '\t']).as_bytes();
    if v.len() == 29 && v[3] == b',' {
        imf_fixdate(v)
    } else if v.len() == 24 && v[3] == b' ' {
        asctime(v)
    } else {
        rfc850(v)
    }
}

/// `Sun, 06 Nov 1994 08:49:37 GMT`
fn imf_fixdate(v: &[u8]) -> Option<u64> {
    let weekday = name(&v[0..3], &DAYS)?;
    literal(&v[3..5], b", ")?;
    let day = digits(&v[5..7])?;
    literal(&v[7..8], b" ")?;
    let month = name(&v[8..11], &MONTHS)? as u64 + 1;
    literal(&v[11..12], b" ")?;
    let year = digits(&v[12..16])?;
    literal(&v[16..17], b" ")?;
    let secs = time_of_day(&v[17..25])?;
    literal(&v[25..26], b" ")?;
    gmt(&v[26..29])?;
    assemble(year, month, day, secs, weekday)
}

/// `Sunday, 06-Nov-94 08:49:37 GMT`
fn rfc850(v: &[u8]) -> Option<u64> {
    let comma = v.iter().position(|&b| b == b',')?;
    let weekday = name(&v[..comma], &LONG_DAYS)?;
    let rest = &v[comma..];
    if rest.len() != 24 {
        return None;
    }
    literal(&rest[0..2], b", ")?;
    let day = digits(&rest[2..4])?;
    literal(&rest[4..5], b"-")?;
    let month = name(&rest[5..8], &MONTHS)? as u64 + 1;
    literal(&rest[8..9], b"-")?;
    let y2 = digits(&rest[9..11])?;
    literal(&rest[11..12], b" ")?;
    let secs = time_of_day(&rest[12..20])?;
    literal(&rest[20..21], b" ")?;
    gmt(&rest[21..24])?;
    // Two-digit years: RFC 9110 says to take the one within 50 years of now; with no clock
    // here, 70–99 are 19xx and 00–69 are 20xx (the same cut as most servers).
    let year = if y2 < 70 { 2000 + y2 } else { 1900 + y2 };
    assemble(year, month, day, secs, weekday)
}

/// `Sun Nov  6 08:49:37 1994` (the day is two digits, or a space and one digit)
fn asctime(v: &[u8]) -> Option<u64> {
    let weekday = name(&v[0..3], &DAYS)?;
    literal(&v[3..4], b" ")?;
    let month = name(&v[4..7], &MONTHS)? as u64 + 1;
    literal(&v[7..8], b" ")?;
    let day = if v[8] == b' ' {
        digits(&v[9..10])?
    } else {
        digits(&v[8..10])?
    };
    literal(&v[10..11], b" ")?;
    let secs = time_of_day(&v[11..19])?;
    literal(&v[19..20], b" ")?;
    let year = digits(&v[20..24])?;
    assemble(year, month, day, secs, weekday)
}

fn literal(got: &[u8], want: &[u8]) -> Option<()> {
    (got == want).then_some(())
}

fn gmt(got: &[u8]) -> Option<()> {
    got.eq_ignore_ascii_case(b"GMT").then_some(())
}

/// The index of `got` in `names`, compared case-insensitively.
fn name(got: &[u8], names: &[&str]) -> Option<usize> {
    names
        .iter()
        .position(|n| n.as_bytes().eq_ignore_ascii_case(got))
}

/// A fixed number of ASCII digits (no sign, no spaces).
fn digits(got: &[u8]) -> Option<u64> {
    if got.is_empty() || !got.iter().all(u8::is_ascii_digit) {
        return None;
    }
    Some(got.iter().fold(0, |n, d| n * 10 + u64::from(d - b'0')))
}

/// `HH:MM:SS`, two digits each, as seconds since midnight (a leap second 60 is accepted).
fn time_of_day(v: &[u8]) -> Option<u64> {
    let (h, m, s) = (digits(&v[0..2])?, digits(&v[3..5])?, digits(&v[6..8])?);
    literal(&v[2..3], b":")?;
    literal(&v[5..6], b":")?;
    (h <= 23 && m <= 59 && s <= 60).then_some(h * 3600 + m * 60 + s)
}

fn is_leap(year: u64) -> bool {
    year.is_multiple_of(4) && (!year.is_multiple_of(100) || year.is_multiple_of(400))
}

fn days_in_month(year: u64, month: u64) -> u64 {
    match month {
        2 if is_leap(year) => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

/// The instant, when the day exists and the weekday is that day's.
fn assemble(year: u64, month: u64, day: u64, secs: u64, weekday: usize) -> Option<u64> {
    if !(1970..=9999).contains(&year) || day == 0 || day > days_in_month(year, month) {
        return None;
    }
    let days = days_from_civil(year, month, day)?;
    if (days % 7) as usize != weekday {
        return None;
    }
    Some(days * 86_400 + secs)
}

/// Formats seconds since the epoch as an IMF-fixdate.
pub fn format(secs: u64) -> String {
    let days = secs / 86_400;
    let rem = secs % 86_400;
    let (y, m, d) = civil_from_days(days);
    format!(
        "{}, {:02} {} {} {:02}:{:02}:{:02} GMT",
        DAYS[(days % 7) as usize],
        d,
        MONTHS[(m - 1) as usize],
        y,
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

// Howard Hinnant's civil-date algorithms, for dates from 1970 on.
fn days_from_civil(y: u64, m: u64, d: u64) -> Option<u64> {
    let y = if m <= 2 { y - 1 } else { y } as i64;
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let m = m as i64;
    let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + d as i64 - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146_097 + doe - 719_468;
    u64::try_from(days).ok()
}

fn civil_from_days(days: u64) -> (u64, u64, u64) {
    let z = days as i64 + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    ((if m <= 2 { y + 1 } else { y }) as u64, m as u64, d as u64)
}

#[cfg(test)]
mod tests {
    use super::*;

    const T: u64 = 784_111_777; // Sun, 06 Nov 1994 08:49:37 GMT

    #[test]
    fn parses_the_three_forms_of_rfc_9110() {
        assert_eq!(parse("Sun, 06 Nov 1994 08:49:37 GMT"), Some(T));
        assert_eq!(parse("Sunday, 06-Nov-94 08:49:37 GMT"), Some(T));
        assert_eq!(parse("Sun Nov  6 08:49:37 1994"), Some(T));
        assert_eq!(parse("Sun Nov 06 08:49:37 1994"), Some(T));
    }

    #[test]
    fn names_are_case_insensitive() {
        assert_eq!(parse("sun, 06 NOV 1994 08:49:37 gmt"), Some(T));
        assert_eq!(parse("SUNDAY, 06-nov-94 08:49:37 GMT"), Some(T));
        assert_eq!(parse("SUN nov  6 08:49:37 1994"), Some(T));
    }

    #[test]
    fn formats_imf_fixdate_and_round_trips() {
        assert_eq!(format(T), "Sun, 06 Nov 1994 08:49:37 GMT");
        for secs in [0, 951_782_400, 1_700_000_000, 4_102_444_800] {
            assert_eq!(parse(&format(secs)), Some(secs), "{}", format(secs));
        }
    }

    #[test]
    fn anything_but_the_three_exact_forms_is_none() {
        for bad in [
            "0",
            "-1",
            "",
            "yesterday",
            "Sun, 06 Nov 1994 08:49:37 PST",
            "Sun, 32 Nov 1994 08:49:37 GMT",
            "Sun, 06 Foo 1994 08:49:37 GMT",
            "Sun, 06 Nov 1994 25:49:37 GMT",
            "Sun, 06 Nov 1994 08:49 GMT",
            "Thu, 01 Jan 1960 00:00:00 GMT",
            // Multiple spaces.
            "Sun,  06 Nov 1994 08:49:37 GMT",
            "Sun, 06 Nov  1994 08:49:37 GMT",
            // Dashes in IMF-fixdate.
            "Sun, 06-Nov-1994 08:49:37 GMT",
            // A one-digit hour, day or year field.
            "Sun, 06 Nov 1994 8:49:37 GMT",
            "Sun, 6 Nov 1994 08:49:37 GMT",
            "Sun, 06 Nov 94 08:49:37 GMT",
            // The wrong weekday.
            "Mon, 06 Nov 1994 08:49:37 GMT",
            "Monday, 06-Nov-94 08:49:37 GMT",
            "Mon Nov  6 08:49:37 1994",
            // Days that do not exist.
            "Tue, 31 Feb 1995 00:00:00 GMT",
            "Thu, 29 Feb 1900 00:00:00 GMT",
            "Wed, 31 Apr 2024 00:00:00 GMT",
            // A short name where RFC 850 has the long one, and the reverse.
            "Sun, 06-Nov-94 08:49:37 GMT",
            "Sunday, 06 Nov 1994 08:49:37 GMT",
            // Signs and junk inside fields.
            "Sun, +6 Nov 1994 08:49:37 GMT",
            "Sun, 06 Nov 1994 08:49:37 GMTX",
            "Sun Nov  6 08:49:37 1994 GMT",
        ] {
            assert_eq!(parse(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn leap_days_exist_only_in_leap_years() {
        assert!(parse("Thu, 29 Feb 2024 00:00:00 GMT").is_some());
        assert!(parse("Tue, 29 Feb 2000 00:00:00 GMT").is_some());
        assert_eq!(parse("Fri, 29 Feb 2023 00:00:00 GMT"), None);
    }
}
