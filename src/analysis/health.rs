//! One isolate's own view of the canary for `/__edge/health`: its counts of the last minute, kept
//! apart from the ones it flushes. Health is per isolate (each answers for itself, at once, with
//! no aggregator read); the fleet-wide judgement is the analysis'.

use std::collections::VecDeque;

use super::cell::{bucket_of, Cell, Observation, BUCKETS_PER_MINUTE};
use crate::variant::Variant;

/// Fewest canary origin failures in the last minute that make health `degraded`.
pub const MIN_FAILURES: u64 = 5;
/// Canary error rate above which those failures make health `degraded`: the marketplace's 1 %.
pub const MAX_ERROR_RATE: f64 = 0.01;

/// The last minute of counts per variant, per 10-second bucket.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Recent {
    buckets: VecDeque<(u64, Cell, Cell)>,
}

impl Recent {
    /// Counts one request.
    pub fn record(&mut self, o: &Observation<'_>) {
        let bucket = bucket_of(o.at_ms);
        if self.buckets.back().is_none_or(|(b, _, _)| *b != bucket) {
            self.buckets
                .push_back((bucket, Cell::default(), Cell::default()));
        }
        while self.buckets.len() > BUCKETS_PER_MINUTE as usize {
            self.buckets.pop_front();
        }
        if let Some((_, stable, canary)) = self.buckets.back_mut() {
            match o.variant {
                Variant::Stable => stable.record(o),
                Variant::Canary => canary.record(o),
            }
        }
    }

    /// The counts of the last minute before `now_ms`, (stable, canary).
    pub fn last_minute(&self, now_ms: u64) -> (Cell, Cell) {
        let since = bucket_of(now_ms).saturating_sub(BUCKETS_PER_MINUTE - 1);
        let mut out = (Cell::default(), Cell::default());
        for (_, stable, canary) in self.buckets.iter().filter(|(b, _, _)| *b >= since) {
            out.0.merge(stable);
            out.1.merge(canary);
        }
        out
    }
}

/// Why this isolate's health is `degraded` because of the canary, if it is: at least
/// [`MIN_FAILURES`] canary origin failures in the last minute, above [`MAX_ERROR_RATE`] of its
/// canary requests — including those a fallback hid from users.
pub fn canary_problem(canary: &Cell) -> Option<String> {
    if canary.errors < MIN_FAILURES || canary.requests == 0 {
        return None;
    }
    let rate = canary.errors as f64 / canary.requests as f64;
    (rate > MAX_ERROR_RATE).then(|| {
        // `{:.1}` of the share, without core's float formatting (decimal::push_fixed).
        let mut share = String::new();
        crate::decimal::push_fixed(&mut share, rate * 100.0, 1);
        format!(
            "the canary is failing: {} of {} canary requests in the last minute failed at the \
             origin ({share} %), {} of them answered by stable (fallback)",
            canary.errors, canary.requests, canary.fallbacks
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn obs(at_ms: u64, variant: Variant, error: bool) -> Observation<'static> {
        Observation {
            at_ms,
            variant,
            route: "search",
            origin_error: error,
            fallback: error,
            outcome: Some("miss"),
            total_ms: 5,
            origin_ms: Some(4),
        }
    }

    #[test]
    fn failures_of_the_last_minute_degrade_health_and_older_ones_do_not() {
        let mut r = Recent::default();
        for i in 0..20 {
            r.record(&obs(1_000_000 + i, Variant::Canary, i < 6));
            r.record(&obs(1_000_000 + i, Variant::Stable, false));
        }
        let (stable, canary) = r.last_minute(1_000_100);
        assert_eq!(
            (stable.requests, canary.requests, canary.errors),
            (20, 20, 6)
        );
        let problem = canary_problem(&canary).expect("degraded");
        assert!(problem.contains("6 of 20"), "{problem}");
        assert!(
            problem.contains("6 of them answered by stable"),
            "{problem}"
        );
        let (_, later) = r.last_minute(1_000_000 + 61_000);
        assert_eq!(later.requests, 0, "a minute later it has passed");
        assert_eq!(canary_problem(&later), None);
    }

    #[test]
    fn a_few_failures_are_not_a_failing_canary() {
        let mut c = Cell::default();
        for i in 0..1000 {
            c.record(&obs(0, Variant::Canary, i < 4));
        }
        assert_eq!(canary_problem(&c), None, "4 failures");
        let mut many = Cell::default();
        for i in 0..1000 {
            many.record(&obs(0, Variant::Canary, i < 8));
        }
        assert_eq!(canary_problem(&many), None, "8 of 1000 is under 1 %");
    }

    #[test]
    fn the_failing_share_reads_as_float_formatting_wrote_it() {
        // The message's share was `{:.1}` of `rate * 100.0`; it is now written by integer
        // arithmetic (decimal::push_fixed): same text for every count up to 2 000 requests.
        for requests in 1..=2_000u64 {
            for errors in MIN_FAILURES..=requests {
                let cell = Cell {
                    requests,
                    errors,
                    fallbacks: errors / 2,
                    ..Cell::default()
                };
                let rate = errors as f64 / requests as f64;
                let expected = (rate > MAX_ERROR_RATE).then(|| {
                    format!(
                        "the canary is failing: {errors} of {requests} canary requests in the last \
                         minute failed at the origin ({:.1} %), {} of them answered by stable \
                         (fallback)",
                        rate * 100.0,
                        errors / 2
                    )
                });
                assert_eq!(canary_problem(&cell), expected);
            }
        }
    }

    #[test]
    fn old_buckets_are_dropped_as_time_moves() {
        let mut r = Recent::default();
        for s in 0..30 {
            r.record(&obs(s * 10_000, Variant::Canary, true));
        }
        assert_eq!(r.buckets.len(), 6);
        assert_eq!(r.last_minute(290_000).1.requests, 6);
    }
}
