//! Which requests get a log line (`REQUEST_LOG`): every one (the default), only the failed
//! ones, one in N of the others, or none. Metrics and the Analytics Engine data point still
//! count every request; what is left out is the line, and how many were is counted
//! (`catalog_edge_request_log_lines_total{line="skipped"}`, health's `request_log`).
//!
//! Why: the line is the largest fixed cost of a hit that the edge controls. In workerd the
//! `console.log` of the ~350-byte line (and its serialisation) cost 20–80 µs of CPU per request
//! in three bench A/B runs on 2026-11-30 (a memory hit costs 250–330 µs there; the machine's
//! noise is as large as the effect, so it is a range, not a figure), and on Cloudflare every
//! line is a billed Workers Logs event: at the marketplace's ~900 requests/s that is 2.3 billion
//! lines a month, nearly all of them hits that look alike. A failure is always logged, whatever
//! the setting but `none`.

use std::fmt::Write as _;

use crate::metrics::RequestRecord;

/// The `REQUEST_LOG` setting.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum RequestLog {
    /// Every request (`all`, the default).
    #[default]
    All,
    /// Failed requests only (`errors`): see [`is_failure`].
    Errors,
    /// Failed requests and one in N of the others (`1/N`, N from 2 to 1,000,000).
    OneIn(u32),
    /// No request lines (`none`), failures included.
    None,
}

impl RequestLog {
    /// Parses the variable's value; the error says what is accepted.
    pub fn parse(raw: &str) -> Result<RequestLog, String> {
        let value = raw.trim();
        match value {
            "all" | "" => return Ok(RequestLog::All),
            "errors" => return Ok(RequestLog::Errors),
            "none" => return Ok(RequestLog::None),
            _ => {}
        }
        value
            .strip_prefix("1/")
            .and_then(|n| n.parse::<u32>().ok())
            .filter(|n| (2..=1_000_000).contains(n))
            .map(RequestLog::OneIn)
            .ok_or_else(|| {
                format!(
                    "{raw:?} is not a request log setting: all, errors, none, or 1/N with N \
                     from 2 to 1000000 (failures always logged)"
                )
            })
    }

    /// The setting as written (`all`, `errors`, `none`, `1/N`).
    pub fn text(self) -> String {
        match self {
            RequestLog::All => "all".into(),
            RequestLog::Errors => "errors".into(),
            RequestLog::None => "none".into(),
            RequestLog::OneIn(n) => format!("1/{n}"),
        }
    }
}

/// A request that failed for monitoring's purposes: a 5xx answer, an origin failure (also one
/// a fallback to stable hid), or a fallback.
pub fn is_failure(rec: &RequestRecord) -> bool {
    rec.status >= 500 || rec.origin_error || rec.fallback
}

/// What an isolate wrote and left out.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct LogCounts {
    pub written: u64,
    pub skipped: u64,
    /// Requests that were not failures, for `1/N`.
    others: u64,
}

impl LogCounts {
    /// Whether `rec` gets its line under `mode`, counted either way. Under `1/N` the first
    /// request that is not a failure is written, then every Nth.
    pub fn decide(&mut self, mode: RequestLog, rec: &RequestRecord) -> bool {
        let keep = match mode {
            RequestLog::All => true,
            RequestLog::None => false,
            _ if is_failure(rec) => true,
            RequestLog::Errors => false,
            RequestLog::OneIn(n) => {
                let keep = self.others.is_multiple_of(u64::from(n));
                self.others += 1;
                keep
            }
        };
        if keep {
            self.written += 1;
        } else {
            self.skipped += 1;
        }
        keep
    }
}

/// The counts in the Prometheus text format, with the setting as an info metric.
pub fn exposition(mode: RequestLog, counts: &LogCounts) -> String {
    let mut out = String::new();
    let _ = write!(
        out,
        "# HELP catalog_edge_request_log_lines_total Request log lines this isolate wrote and \
         left out (REQUEST_LOG; metrics count every request either way).\n\
         # TYPE catalog_edge_request_log_lines_total counter\n\
         catalog_edge_request_log_lines_total{{line=\"written\"}} {}\n\
         catalog_edge_request_log_lines_total{{line=\"skipped\"}} {}\n\
         # HELP catalog_edge_request_log_setting The REQUEST_LOG setting in force.\n\
         # TYPE catalog_edge_request_log_setting gauge\n\
         catalog_edge_request_log_setting{{setting=\"{}\"}} 1\n",
        counts.written,
        counts.skipped,
        mode.text()
    );
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rec(status: u16, origin_error: bool, fallback: bool) -> RequestRecord {
        RequestRecord {
            at_ms: 0,
            method: "GET".into(),
            path: "/x".into(),
            route: "categories".into(),
            variant: None,
            served_by: None,
            outcome: Some("hit"),
            status,
            edge_ms: 0,
            cache_ms: None,
            origin_ms: None,
            total_ms: 0,
            colo: None,
            trace_id: None,
            origin_error,
            fallback,
            weight_bp: None,
        }
    }

    #[test]
    fn settings_parse_and_print_back() {
        for (raw, want) in [
            ("all", RequestLog::All),
            ("", RequestLog::All),
            (" errors ", RequestLog::Errors),
            ("none", RequestLog::None),
            ("1/100", RequestLog::OneIn(100)),
            ("1/2", RequestLog::OneIn(2)),
            ("1/1000000", RequestLog::OneIn(1_000_000)),
        ] {
            let got = RequestLog::parse(raw).unwrap();
            assert_eq!(got, want, "{raw:?}");
            assert_eq!(RequestLog::parse(&got.text()), Ok(got));
        }
        for bad in [
            "1/1",
            "1/0",
            "1/1000001",
            "0.01",
            "1/x",
            "ALL",
            "some",
            "2/100",
            "1/-5",
        ] {
            let e = RequestLog::parse(bad).unwrap_err();
            assert!(e.contains("1/N") && e.contains(bad), "{e}");
        }
    }

    #[test]
    fn failures_are_always_written_unless_none() {
        let failures = [
            rec(502, false, false),
            rec(200, true, true),
            rec(200, true, false),
        ];
        for mode in [RequestLog::All, RequestLog::Errors, RequestLog::OneIn(1000)] {
            let mut c = LogCounts::default();
            for f in &failures {
                assert!(c.decide(mode, f), "{mode:?} {f:?}");
            }
            assert_eq!((c.written, c.skipped), (3, 0));
        }
        let mut c = LogCounts::default();
        assert!(!c.decide(RequestLog::None, &failures[0]));
        assert!(!c.decide(RequestLog::None, &rec(200, false, false)));
        assert_eq!((c.written, c.skipped), (0, 2));
    }

    #[test]
    fn one_in_n_writes_the_first_then_every_nth_and_counts_the_rest() {
        let mut c = LogCounts::default();
        let ok = rec(200, false, false);
        let written: Vec<usize> = (0..25)
            .filter(|_| c.decide(RequestLog::OneIn(10), &ok))
            .collect();
        assert_eq!(written.len(), 3);
        assert_eq!((c.written, c.skipped), (3, 22));
        // A failure in between neither resets nor advances the 1-in-N count.
        assert!(c.decide(RequestLog::OneIn(10), &rec(500, false, false)));
        assert_eq!((c.written, c.skipped), (4, 22));
        let mut errors_only = LogCounts::default();
        assert!(!errors_only.decide(RequestLog::Errors, &ok));
        assert!(!errors_only.decide(RequestLog::Errors, &rec(404, false, false)));
        assert_eq!((errors_only.written, errors_only.skipped), (0, 2));
        let mut all = LogCounts::default();
        assert!(all.decide(RequestLog::All, &ok));
    }

    #[test]
    fn the_exposition_names_the_setting_and_both_counts() {
        let text = exposition(
            RequestLog::OneIn(100),
            &LogCounts {
                written: 3,
                skipped: 297,
                others: 0,
            },
        );
        assert!(text.contains("catalog_edge_request_log_lines_total{line=\"written\"} 3\n"));
        assert!(text.contains("catalog_edge_request_log_lines_total{line=\"skipped\"} 297\n"));
        assert!(text.contains("catalog_edge_request_log_setting{setting=\"1/100\"} 1\n"));
    }
}
