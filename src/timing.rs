//! `Server-Timing` (W3C Server Timing, <https://www.w3.org/TR/server-timing/>): what the edge
//! spent where, so that monitoring and the browser's `PerformanceServerTiming` see edge, cache and
//! origin time separately.
//!
//! Grammar: `metric *( OWS "," OWS metric )`, `metric = name *( OWS ";" OWS param )`,
//! `param = name OWS "=" OWS ( token / quoted-string )`.

/// Metric names the edge uses, so that dashboards can rely on them.
pub mod names {
    /// Time spent in the worker itself, excluding waits for the cache and the origin.
    pub const EDGE: &str = "edge";
    /// Cache lookup; `desc` holds the outcome word (`hit`, `miss`, …).
    pub const CACHE: &str = "cache";
    /// Time to the origin's response headers.
    pub const ORIGIN: &str = "origin";
    /// Whole time in the worker, up to the response headers.
    pub const TOTAL: &str = "total";
    /// Present when a failing canary request was retried against stable.
    pub const FALLBACK: &str = "fallback";
}

/// A `Server-Timing` header under construction: each metric is formatted into the header as it
/// is added (integer arithmetic, one buffer), so that nothing is kept but the text.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ServerTiming {
    header: String,
}

impl ServerTiming {
    /// An empty header.
    pub fn new() -> Self {
        // `edge;dur=N, cache;dur=N;desc=miss, origin;dur=N, total;dur=N` fits.
        ServerTiming {
            header: String::with_capacity(96),
        }
    }

    /// Adds a metric with a duration.
    pub fn dur(&mut self, name: &'static str, dur_ms: f64) -> &mut Self {
        self.metric(name, Some(dur_ms), None)
    }

    /// Adds a metric with an optional duration and a description.
    pub fn desc(&mut self, name: &'static str, dur_ms: Option<f64>, desc: &str) -> &mut Self {
        self.metric(name, dur_ms, Some(desc))
    }

    fn metric(&mut self, name: &'static str, dur_ms: Option<f64>, desc: Option<&str>) -> &mut Self {
        let out = &mut self.header;
        if !out.is_empty() {
            out.push_str(", ");
        }
        out.push_str(name);
        if let Some(d) = dur_ms {
            out.push_str(";dur=");
            push_dur(out, d);
        }
        if let Some(desc) = desc {
            out.push_str(";desc=");
            push_token_or_quoted(out, desc);
        }
        self
    }

    /// The header value.
    pub fn into_header(self) -> String {
        self.header
    }
}

/// Milliseconds with at most one decimal, no trailing `.0`; negative and non-finite become 0.
#[cfg(test)]
fn format_dur(ms: f64) -> String {
    let mut out = String::new();
    push_dur(&mut out, ms);
    out
}

/// [`format_dur`] into an existing buffer (no intermediate strings).
fn push_dur(out: &mut String, ms: f64) {
    use crate::decimal::push_u64;
    let ms = if ms.is_finite() && ms > 0.0 { ms } else { 0.0 };
    let tenths = (ms * 10.0).round() as u64;
    push_u64(out, tenths / 10);
    if !tenths.is_multiple_of(10) {
        out.push('.');
        push_u64(out, tenths % 10);
    }
}

/// RFC 9110 `tchar`.
fn is_tchar(c: char) -> bool {
    c.is_ascii_alphanumeric() || "!#$%&'*+-.^_`|~".contains(c)
}

fn push_token_or_quoted(out: &mut String, s: &str) {
    if !s.is_empty() && s.chars().all(is_tchar) {
        out.push_str(s);
        return;
    }
    out.push('"');
    for c in s.chars() {
        match c {
            '"' | '\\' => {
                out.push('\\');
                out.push(c);
            }
            // quoted-string allows HTAB, SP, VCHAR and obs-text; drop controls.
            c if c == '\t' || (' '..='~').contains(&c) || (c as u32) >= 0x80 => out.push(c),
            _ => {}
        }
    }
    out.push('"');
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_durations_and_descriptions() {
        let mut st = ServerTiming::new();
        st.dur(names::EDGE, 0.25)
            .desc(names::CACHE, None, "miss")
            .dur(names::ORIGIN, 12.0)
            .desc(names::TOTAL, Some(12.34), "has space");
        assert_eq!(
            st.into_header(),
            r#"edge;dur=0.3, cache;desc=miss, origin;dur=12, total;dur=12.3;desc="has space""#
        );
    }

    #[test]
    fn quotes_and_escapes_non_tokens() {
        let mut st = ServerTiming::new();
        st.desc("x", None, "a\"b\\c\nd");
        assert_eq!(st.into_header(), r#"x;desc="a\"b\\cd""#);
    }

    #[test]
    fn bad_durations_become_zero() {
        assert_eq!(format_dur(-3.0), "0");
        assert_eq!(format_dur(f64::NAN), "0");
        assert_eq!(format_dur(1.04), "1");
    }

    #[test]
    fn durations_match_the_float_formatting_they_replace() {
        // The plain form: one decimal, rounded, `.0` dropped, via float formatting.
        let plain = |ms: f64| {
            let ms = if ms.is_finite() && ms > 0.0 { ms } else { 0.0 };
            let tenths = (ms * 10.0).round();
            let s = format!("{:.1}", tenths / 10.0);
            s.strip_suffix(".0").map(str::to_string).unwrap_or(s)
        };
        let mut ms = 0.0;
        while ms < 3_000.0 {
            assert_eq!(format_dur(ms), plain(ms), "{ms}");
            ms += 0.37;
        }
        for ms in [
            0.04,
            0.05,
            0.95,
            9.95,
            99.99,
            12_345.6,
            1e12,
            -0.0,
            f64::INFINITY,
        ] {
            assert_eq!(format_dur(ms), plain(ms), "{ms}");
        }
    }
}
