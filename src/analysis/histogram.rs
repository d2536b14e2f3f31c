//! A fixed-bucket latency histogram: the same bounds in every isolate and every aggregator, so
//! histograms merge by adding counts, and quantiles are read from the merged counts. Bounds run
//! from 1 ms to 30 s, dense where the catalog's latencies live (origin 5–15 ms, alerts at 50 and
//! 100 ms); a quantile is interpolated linearly inside its bucket, so it is exact to the bucket's
//! width (never more than half of it off for uniform data).

use serde::{Deserialize, Serialize};

/// Upper bounds of the buckets, in milliseconds; one more bucket holds everything above.
pub const BOUNDS_MS: [u64; 21] = [
    1, 2, 5, 10, 20, 30, 50, 75, 100, 150, 200, 300, 500, 750, 1_000, 1_500, 2_000, 3_000, 5_000,
    10_000, 30_000,
];

/// Number of buckets (the bounds, plus the overflow bucket).
pub const BUCKETS: usize = BOUNDS_MS.len() + 1;

/// Counts per bucket.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Histogram(Vec<u64>);

impl Default for Histogram {
    fn default() -> Self {
        Histogram(vec![0; BUCKETS])
    }
}

impl Histogram {
    /// Counts one observation.
    pub fn record(&mut self, ms: u64) {
        let i = BOUNDS_MS
            .iter()
            .position(|b| ms <= *b)
            .unwrap_or(BOUNDS_MS.len());
        self.fix();
        self.0[i] += 1;
    }

    /// Adds another histogram's counts.
    pub fn merge(&mut self, other: &Histogram) {
        self.fix();
        for (i, n) in other.0.iter().enumerate().take(BUCKETS) {
            self.0[i] = self.0[i].saturating_add(*n);
        }
    }

    /// How many observations.
    pub fn count(&self) -> u64 {
        self.0.iter().sum()
    }

    /// The `q` quantile (0–1) in milliseconds; `None` without observations.
    pub fn quantile(&self, q: f64) -> Option<f64> {
        let total = self.count();
        if total == 0 {
            return None;
        }
        let rank = (q.clamp(0.0, 1.0) * total as f64).max(1.0);
        let mut seen = 0u64;
        for (i, n) in self.0.iter().enumerate() {
            if *n == 0 {
                continue;
            }
            let before = seen as f64;
            seen += n;
            if seen as f64 >= rank {
                let lower = if i == 0 { 0.0 } else { BOUNDS_MS[i - 1] as f64 };
                let Some(upper) = BOUNDS_MS.get(i) else {
                    return Some(lower); // the overflow bucket: at least its lower bound
                };
                let within = (rank - before) / *n as f64;
                return Some(lower + (*upper as f64 - lower) * within);
            }
        }
        Some(BOUNDS_MS[BOUNDS_MS.len() - 1] as f64)
    }

    /// Repairs a histogram read from elsewhere with the wrong number of buckets.
    fn fix(&mut self) {
        self.0.resize(BUCKETS, 0);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quantiles_fall_in_the_right_bucket() {
        let mut h = Histogram::default();
        assert_eq!(h.quantile(0.5), None);
        for _ in 0..90 {
            h.record(8); // the (5, 10] bucket
        }
        for _ in 0..10 {
            h.record(420); // the (300, 500] bucket
        }
        let p50 = h.quantile(0.5).unwrap();
        assert!((5.0..=10.0).contains(&p50), "{p50}");
        let p95 = h.quantile(0.95).unwrap();
        assert!((300.0..=500.0).contains(&p95), "{p95}");
        assert_eq!(h.count(), 100);
        let mut big = Histogram::default();
        big.record(60_000);
        assert_eq!(
            big.quantile(0.99),
            Some(30_000.0),
            "overflow reports its lower bound"
        );
        let mut zero = Histogram::default();
        zero.record(0);
        assert!(zero.quantile(1.0).unwrap() <= 1.0);
    }

    #[test]
    fn merging_adds_counts_and_survives_a_short_vector() {
        let mut a = Histogram::default();
        a.record(3);
        let short: Histogram = serde_json::from_str("[0, 0, 2]").unwrap();
        a.merge(&short);
        assert_eq!(a.count(), 3);
        let text = serde_json::to_string(&a).unwrap();
        assert!(text.starts_with("[0,0,3,"), "{text}");
    }
}
