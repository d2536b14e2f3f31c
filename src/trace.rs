//! W3C Trace Context (`traceparent`, <https://www.w3.org/TR/trace-context/>).
//!
//! The edge takes part in the trace: a valid incoming `traceparent` keeps its trace id and flags
//! and gets the edge's own span id as parent id before it goes to the origin (spec §3.2: a vendor
//! MAY mutate the header; the trace id is what ties the hops together). A missing or invalid one
//! starts a new trace. Randomness comes in as a parameter, and may be missing: the edge then
//! makes no id (never a guessable one) and takes no part in the trace.

/// A parsed `traceparent`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TraceParent {
    /// 16-byte trace id, never all zero.
    pub trace_id: [u8; 16],
    /// 8-byte id of the calling span, never all zero.
    pub parent_id: [u8; 8],
    /// Trace flags (bit 0: sampled).
    pub flags: u8,
}

/// Flags of a trace the edge starts: sampled, so the origin records the request.
const NEW_TRACE_FLAGS: u8 = 0x01;

impl TraceParent {
    /// Parses a header value; `None` when it is not a valid `traceparent`.
    pub fn parse(value: &str) -> Option<TraceParent> {
        let v = value.trim_matches([' ', '\t']);
        let b = v.as_bytes();
        if b.len() < 55 {
            return None;
        }
        let version = hex_byte(&b[0..2])?;
        // Version ff is forbidden; version 00 is exactly 55 chars; a future version may append
        // fields after a '-', which we ignore (§3.2.4).
        if version == 0xff || (version == 0 && b.len() != 55) || (b.len() > 55 && b[55] != b'-') {
            return None;
        }
        if b[2] != b'-' || b[35] != b'-' || b[52] != b'-' {
            return None;
        }
        let mut trace_id = [0u8; 16];
        for (i, out) in trace_id.iter_mut().enumerate() {
            *out = hex_byte(&b[3 + 2 * i..5 + 2 * i])?;
        }
        let mut parent_id = [0u8; 8];
        for (i, out) in parent_id.iter_mut().enumerate() {
            *out = hex_byte(&b[36 + 2 * i..38 + 2 * i])?;
        }
        let flags = hex_byte(&b[53..55])?;
        if trace_id == [0; 16] || parent_id == [0; 8] {
            return None;
        }
        Some(TraceParent {
            trace_id,
            parent_id,
            flags,
        })
    }

    /// A new trace from 24 random bytes (16 for the trace id, 8 for the span id). An all-zero
    /// id (vanishingly rare) is nudged to stay valid.
    pub fn new_root(random: [u8; 24]) -> TraceParent {
        let mut trace_id = [0u8; 16];
        trace_id.copy_from_slice(&random[..16]);
        let mut parent_id = [0u8; 8];
        parent_id.copy_from_slice(&random[16..]);
        if trace_id == [0; 16] {
            trace_id[15] = 1;
        }
        if parent_id == [0; 8] {
            parent_id[7] = 1;
        }
        TraceParent {
            trace_id,
            parent_id,
            flags: NEW_TRACE_FLAGS,
        }
    }

    /// The same trace with `span_id` as the parent: what the edge sends to the origin.
    pub fn child(self, span_id: [u8; 8]) -> TraceParent {
        let parent_id = if span_id == [0; 8] {
            [0, 0, 0, 0, 0, 0, 0, 1]
        } else {
            span_id
        };
        TraceParent { parent_id, ..self }
    }

    /// The trace id as 32 lowercase hex digits.
    pub fn trace_id_hex(&self) -> String {
        hex(&self.trace_id)
    }

    /// The header value, always version 00.
    pub fn to_header(&self) -> String {
        format!(
            "00-{}-{}-{:02x}",
            hex(&self.trace_id),
            hex(&self.parent_id),
            self.flags
        )
    }
}

/// What the edge does with the trace context of one request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TracePlan {
    /// The `traceparent` to send to the origin; `None` when a new trace was needed and no
    /// randomness was available.
    pub outgoing: Option<TraceParent>,
    /// Whether the incoming header was valid and continued (else a new trace was started).
    pub continued: bool,
}

/// Continues a valid incoming `traceparent` or starts a new trace. `random` supplies the edge's
/// span id (its last 8 bytes) and, for a new trace, the trace id. Without randomness (`None`)
/// the edge fails closed: a valid incoming header goes on unchanged (the edge adds no span of
/// its own, which Trace Context §3.2 allows) and no new trace is started.
pub fn plan(incoming: Option<&str>, random: Option<[u8; 24]>) -> TracePlan {
    match (incoming.and_then(TraceParent::parse), random) {
        (Some(tp), Some(random)) => {
            let mut span_id = [0u8; 8];
            span_id.copy_from_slice(&random[16..]);
            TracePlan {
                outgoing: Some(tp.child(span_id)),
                continued: true,
            }
        }
        (Some(tp), None) => TracePlan {
            outgoing: Some(tp),
            continued: true,
        },
        (None, Some(random)) => TracePlan {
            outgoing: Some(TraceParent::new_root(random)),
            continued: false,
        },
        (None, None) => TracePlan {
            outgoing: None,
            continued: false,
        },
    }
}

fn hex_byte(pair: &[u8]) -> Option<u8> {
    // Lowercase only: the spec makes uppercase hex invalid.
    fn nibble(c: u8) -> Option<u8> {
        match c {
            b'0'..=b'9' => Some(c - b'0'),
            b'a'..=b'f' => Some(c - b'a' + 10),
            _ => None,
        }
    }
    Some(nibble(pair[0])? << 4 | nibble(pair[1])?)
}

/// Lowercase hex of bytes (trace ids, and the edge's random client ids).
pub fn hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut s = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        s.push(DIGITS[(b >> 4) as usize] as char);
        s.push(DIGITS[(b & 0xf) as usize] as char);
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    const VALID: &str = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";

    #[test]
    fn parses_and_round_trips_the_spec_example() {
        let tp = TraceParent::parse(VALID).unwrap();
        assert_eq!(tp.trace_id_hex(), "4bf92f3577b34da6a3ce929d0e0e4736");
        assert_eq!(tp.flags, 1);
        assert_eq!(tp.to_header(), VALID);
    }

    #[test]
    fn refuses_invalid_values() {
        for bad in [
            "",
            "garbage",
            "00-4BF92F3577B34DA6A3CE929D0E0E4736-00f067aa0ba902b7-01", // uppercase
            "00-00000000000000000000000000000000-00f067aa0ba902b7-01", // zero trace id
            "00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01", // zero parent id
            "ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01", // forbidden version
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-x", // v00 too long
            "00_4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
            "00-4bf92f3577b34da6a3ce929d0e0e473g-00f067aa0ba902b7-01",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01, 00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
        ] {
            assert_eq!(TraceParent::parse(bad), None, "{bad}");
        }
    }

    #[test]
    fn future_versions_keep_the_first_four_fields() {
        let v = "cc-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-what-the-future-holds";
        let tp = TraceParent::parse(v).unwrap();
        assert_eq!(tp.to_header(), VALID);
    }

    #[test]
    fn plan_continues_a_valid_trace_with_the_edge_span() {
        let mut random = [7u8; 24];
        random[16..].copy_from_slice(&[1, 2, 3, 4, 5, 6, 7, 8]);
        let p = plan(Some(VALID), Some(random));
        assert!(p.continued);
        assert_eq!(
            p.outgoing.unwrap().to_header(),
            "00-4bf92f3577b34da6a3ce929d0e0e4736-0102030405060708-01"
        );
    }

    #[test]
    fn plan_starts_a_sampled_trace_when_missing_or_invalid() {
        for incoming in [None, Some("nonsense")] {
            let p = plan(incoming, Some([0xab; 24]));
            assert!(!p.continued);
            assert_eq!(
                p.outgoing.unwrap().to_header(),
                "00-abababababababababababababababab-abababababababab-01"
            );
        }
    }

    #[test]
    fn without_randomness_the_edge_passes_a_valid_trace_on_and_starts_none() {
        let p = plan(Some(VALID), None);
        assert!(p.continued);
        assert_eq!(p.outgoing.unwrap().to_header(), VALID);
        for incoming in [None, Some("nonsense")] {
            assert_eq!(
                plan(incoming, None),
                TracePlan {
                    outgoing: None,
                    continued: false
                }
            );
        }
    }

    #[test]
    fn new_root_never_emits_zero_ids() {
        let tp = TraceParent::new_root([0; 24]);
        assert!(TraceParent::parse(&tp.to_header()).is_some());
    }
}
