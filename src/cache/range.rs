//! `Range` requests answered from a stored complete response (RFC 9110 §14): one byte range,
//! including the suffix (`bytes=-500`) and open-ended (`bytes=9500-`) forms; `If-Range`
//! honoured. Several ranges, another unit or a malformed header are ignored (the whole
//! response is sent, which §14.2 allows).

use super::http_date;
use crate::headers::{self, HeaderList};

/// One requested byte range.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ByteRange {
    /// `first-last` (inclusive) or `first-` (to the end).
    From {
        /// First byte.
        first: u64,
        /// Last byte, inclusive; `None` for "to the end".
        last: Option<u64>,
    },
    /// `-n`: the last `n` bytes.
    Suffix(u64),
}

/// How a range request is answered for a body of a known length.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RangeAnswer {
    /// 206 with these bytes (`start..=end`) of `total`.
    Partial {
        /// First byte sent.
        start: u64,
        /// Last byte sent, inclusive.
        end: u64,
        /// The whole body's length.
        total: u64,
    },
    /// 416: nothing of the body is in the range.
    NotSatisfiable {
        /// The whole body's length.
        total: u64,
    },
}

/// The single byte range of a `Range` value, or `None` when the header is to be ignored.
pub fn parse(value: &str) -> Option<ByteRange> {
    let (unit, set) = value.trim().split_once('=')?;
    if !unit.trim().eq_ignore_ascii_case("bytes") || set.contains(',') {
        return None;
    }
    let (first, last) = set.trim().split_once('-')?;
    let number = |s: &str| -> Option<u64> {
        let s = s.trim();
        (!s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()))
            .then(|| s.parse().ok())
            .flatten()
    };
    match (first.trim().is_empty(), last.trim().is_empty()) {
        (true, true) => None,
        (true, false) => Some(ByteRange::Suffix(number(last)?)),
        (false, true) => Some(ByteRange::From {
            first: number(first)?,
            last: None,
        }),
        (false, false) => {
            let (first, last) = (number(first)?, number(last)?);
            (first <= last).then_some(ByteRange::From {
                first,
                last: Some(last),
            })
        }
    }
}

/// The answer to `range` for a body of `total` bytes (RFC 9110 §14.1.2).
pub fn resolve(range: ByteRange, total: u64) -> RangeAnswer {
    let none = RangeAnswer::NotSatisfiable { total };
    match range {
        ByteRange::Suffix(0) => none,
        ByteRange::Suffix(_) if total == 0 => none,
        ByteRange::Suffix(n) => RangeAnswer::Partial {
            start: total.saturating_sub(n),
            end: total - 1,
            total,
        },
        ByteRange::From { first, .. } if first >= total => none,
        ByteRange::From { first, last } => RangeAnswer::Partial {
            start: first,
            end: last.map_or(total - 1, |l| l.min(total - 1)),
            total,
        },
    }
}

/// The range a request asks of a stored response, honouring `If-Range` (RFC 9110 §13.1.5: the
/// range applies only when the validator matches — an entity tag by strong comparison, a date
/// only when equal to `Last-Modified`); `None` means "send the whole response".
pub fn requested(request: &HeaderList, stored_validators: &HeaderList) -> Option<ByteRange> {
    let range = parse(headers::get(request, "range")?)?;
    match headers::get(request, "if-range").map(str::trim) {
        None => Some(range),
        Some(tag) if tag.starts_with('"') || tag.starts_with("W/") => {
            let strong = |t: &str| !t.starts_with("W/");
            let stored = headers::get(stored_validators, "etag").map(str::trim)?;
            (strong(tag) && strong(stored) && tag == stored).then_some(range)
        }
        Some(date) => {
            let lm = headers::get(stored_validators, "last-modified").and_then(http_date::parse)?;
            (http_date::parse(date)? == lm).then_some(range)
        }
    }
}

/// The headers of a partial (206) or unsatisfiable (416) answer: `Content-Range` and
/// `Content-Length`.
pub fn answer_headers(answer: RangeAnswer) -> Vec<(String, String)> {
    match answer {
        RangeAnswer::Partial { start, end, total } => vec![
            (
                "content-range".into(),
                format!("bytes {start}-{end}/{total}"),
            ),
            ("content-length".into(), (end - start + 1).to_string()),
        ],
        RangeAnswer::NotSatisfiable { total } => vec![
            ("content-range".into(), format!("bytes */{total}")),
            ("content-length".into(), "0".into()),
        ],
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::headers::owned as h;

    #[test]
    fn the_three_forms_of_a_single_range_are_read() {
        assert_eq!(
            parse("bytes=0-99"),
            Some(ByteRange::From {
                first: 0,
                last: Some(99)
            })
        );
        assert_eq!(
            parse("bytes=100-"),
            Some(ByteRange::From {
                first: 100,
                last: None
            })
        );
        assert_eq!(parse("bytes=-5"), Some(ByteRange::Suffix(5)));
        assert_eq!(
            parse("Bytes = 1-2"),
            Some(ByteRange::From {
                first: 1,
                last: Some(2)
            })
        );
    }

    #[test]
    fn several_ranges_other_units_and_garbage_are_ignored() {
        for v in [
            "bytes=0-1,5-6",
            "items=0-1",
            "bytes=",
            "bytes=-",
            "bytes=5-1",
            "bytes=a-b",
            "0-1",
            "bytes=+1-2",
        ] {
            assert_eq!(parse(v), None, "{v}");
        }
    }

    #[test]
    fn ranges_resolve_against_the_length() {
        let p = |start, end| RangeAnswer::Partial {
            start,
            end,
            total: 10,
        };
        assert_eq!(resolve(parse("bytes=0-3").unwrap(), 10), p(0, 3));
        assert_eq!(resolve(parse("bytes=5-100").unwrap(), 10), p(5, 9));
        assert_eq!(resolve(parse("bytes=7-").unwrap(), 10), p(7, 9));
        assert_eq!(resolve(parse("bytes=-3").unwrap(), 10), p(7, 9));
        assert_eq!(resolve(parse("bytes=-30").unwrap(), 10), p(0, 9));
        let none = RangeAnswer::NotSatisfiable { total: 10 };
        assert_eq!(resolve(parse("bytes=10-").unwrap(), 10), none);
        assert_eq!(resolve(parse("bytes=-0").unwrap(), 10), none);
        assert_eq!(
            resolve(parse("bytes=-1").unwrap(), 0),
            RangeAnswer::NotSatisfiable { total: 0 }
        );
        assert_eq!(answer_headers(p(7, 9))[0].1, "bytes 7-9/10");
        assert_eq!(answer_headers(none)[0].1, "bytes */10");
    }

    #[test]
    fn if_range_needs_a_strong_match() {
        let stored = h(&[
            ("etag", "\"v1\""),
            ("last-modified", "Sun, 06 Nov 1994 08:49:37 GMT"),
        ]);
        let ask = |if_range: &str| {
            requested(
                &h(&[("range", "bytes=0-1"), ("if-range", if_range)]),
                &stored,
            )
        };
        assert!(ask("\"v1\"").is_some());
        assert!(ask("\"v2\"").is_none());
        assert!(ask("W/\"v1\"").is_none(), "weak tags never match");
        assert!(ask("Sun, 06 Nov 1994 08:49:37 GMT").is_some());
        assert!(ask("Sun, 06 Nov 1994 08:49:38 GMT").is_none());
        assert!(ask("garbage").is_none());
        assert!(requested(&h(&[("range", "bytes=0-1")]), &[]).is_some());
        let weak = h(&[("etag", "W/\"v1\"")]);
        assert!(requested(
            &h(&[("range", "bytes=0-1"), ("if-range", "W/\"v1\"")]),
            &weak
        )
        .is_none());
    }
}
