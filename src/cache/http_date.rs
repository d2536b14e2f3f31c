//! HTTP-date (RFC 9110 §5.6.7): IMF-fixdate, and the obsolete RFC 850 and asctime forms a
//! recipient must accept. Anything else is `None`, which callers treat as "in the past"
//! (RFC 9111 §5.3: an invalid `Expires`, such as `0`, means already expired).

const MONTHS: [&str; 12] = [
    "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
];
const DAYS: [&str; 7] = ["Thu", "Fri", "Sat", "Sun", "Mon", "Tue", "Wed"];

/// Seconds since the Unix epoch for an HTTP-date, `None` when it is not one.
pub fn parse(value: &str) -> Option<u64> {
    let v = value.trim();
    let parts: Vec<&str> = v.split_ascii_whitespace().collect();
    let (day, month, year, time) = match parts.as_slice() {
        // IMF-fixdate: Sun, 06 Nov 1994 08:49:37 GMT
        [_, d, m, y, t, "GMT"] if parts[0].ends_with(',') && parts[0].len() == 4 => {
            (d.parse().ok()?, *m, y.parse().ok()?, *t)
        }
        // RFC 850: Sunday, 06-Nov-94 08:49:37 GMT
        [wd, dmy, t, "GMT"] if wd.ends_with(',') => {
            let mut it = dmy.split('-');
            let d = it.next()?.parse().ok()?;
            let m = it.next()?;
            let y2: u64 = it.next()?.parse().ok()?;
            if it.next().is_some() {
                return None;
            }
            // Two-digit years: RFC 9110 says to take the one within 50 years of now; with no
            // clock here, 70–99 are 19xx and 00–69 are 20xx (the same cut as most servers).
            let y = if y2 < 70 {
                2000 + y2
            } else if y2 < 100 {
                1900 + y2
            } else {
                y2
            };
            (d, m, y, *t)
        }
        // asctime: Sun Nov  6 08:49:37 1994
        [_, m, d, t, y] => (d.parse().ok()?, *m, y.parse().ok()?, *t),
        _ => return None,
    };
    let month = MONTHS.iter().position(|&m| m == month)? as u64 + 1;
    let mut hms = time.split(':');
    let h: u64 = hms.next()?.parse().ok()?;
    let mi: u64 = hms.next()?.parse().ok()?;
    let s: u64 = hms.next()?.parse().ok()?;
    if hms.next().is_some() || h > 23 || mi > 59 || s > 60 || !(1..=31).contains(&day) {
        return None;
    }
    if !(1970..=9999).contains(&year) {
        return None;
    }
    let days = days_from_civil(year, month, day)?;
    Some(days * 86_400 + h * 3600 + mi * 60 + s)
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
    }

    #[test]
    fn formats_imf_fixdate_and_round_trips() {
        assert_eq!(format(T), "Sun, 06 Nov 1994 08:49:37 GMT");
        for secs in [0, 951_782_400, 1_700_000_000, 4_102_444_800] {
            assert_eq!(parse(&format(secs)), Some(secs), "{}", format(secs));
        }
    }

    #[test]
    fn garbage_is_none() {
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
        ] {
            assert_eq!(parse(bad), None, "{bad}");
        }
    }
}
