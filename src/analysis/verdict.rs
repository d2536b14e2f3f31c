//! Judging a canary: fleet-wide numbers per variant over a window, and the verdict of the
//! thresholds against them. The numbers come from merged cells (every isolate, every
//! aggregator); nothing here reads a clock.

use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::cell::{bucket_of, Cell, Cells, Summary, BUCKETS_PER_MINUTE, BUCKET_MS};
use crate::control::wire::AnalysisQuery;
use crate::problem::FieldError;
use crate::variant::Variant;

/// What one variant (or one route of it) did over a window.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct VariantStats {
    /// Requests.
    pub requests: u64,
    /// Origin failures (including those a fallback hid).
    pub errors: u64,
    /// Fallbacks to stable.
    pub fallbacks: u64,
    /// errors / requests.
    pub error_rate: f64,
    /// fallbacks / requests.
    pub fallback_rate: f64,
    /// hits / (hits + misses); `None` without cacheable requests.
    pub hit_rate: Option<f64>,
    /// Edge total time quantiles, ms.
    pub total_p50_ms: Option<f64>,
    /// 95th percentile of the edge total.
    pub total_p95_ms: Option<f64>,
    /// 99th percentile of the edge total.
    pub total_p99_ms: Option<f64>,
    /// Origin time quantiles, ms (requests that contacted the origin).
    pub origin_p50_ms: Option<f64>,
    /// 95th percentile of origin time: what the latency thresholds judge.
    pub origin_p95_ms: Option<f64>,
    /// 99th percentile of origin time.
    pub origin_p99_ms: Option<f64>,
    /// Requests that contacted the origin.
    pub origin_requests: u64,
}

impl VariantStats {
    /// The API's form: what `serde_json::to_value` makes of it (a test pins it), built without
    /// serde_json's `Value` serializer (the edge answers with it when it cannot ask the control
    /// plane, `api_answer`).
    pub fn to_json(&self) -> Value {
        object! {
            "requests": self.requests,
            "errors": self.errors,
            "fallbacks": self.fallbacks,
            "error_rate": self.error_rate,
            "fallback_rate": self.fallback_rate,
            "hit_rate": self.hit_rate,
            "total_p50_ms": self.total_p50_ms,
            "total_p95_ms": self.total_p95_ms,
            "total_p99_ms": self.total_p99_ms,
            "origin_p50_ms": self.origin_p50_ms,
            "origin_p95_ms": self.origin_p95_ms,
            "origin_p99_ms": self.origin_p99_ms,
            "origin_requests": self.origin_requests,
        }
    }

    /// The numbers of merged counts.
    pub fn of(cell: &Cell) -> VariantStats {
        let rate = |n: u64| {
            if cell.requests == 0 {
                0.0
            } else {
                n as f64 / cell.requests as f64
            }
        };
        let cacheable = cell.hits + cell.misses;
        VariantStats {
            requests: cell.requests,
            errors: cell.errors,
            fallbacks: cell.fallbacks,
            error_rate: rate(cell.errors),
            fallback_rate: rate(cell.fallbacks),
            hit_rate: (cacheable > 0).then(|| cell.hits as f64 / cacheable as f64),
            total_p50_ms: cell.total_ms.quantile(0.50),
            total_p95_ms: cell.total_ms.quantile(0.95),
            total_p99_ms: cell.total_ms.quantile(0.99),
            origin_p50_ms: cell.origin_ms.quantile(0.50),
            origin_p95_ms: cell.origin_ms.quantile(0.95),
            origin_p99_ms: cell.origin_ms.quantile(0.99),
            origin_requests: cell.origin_ms.count(),
        }
    }
}

/// A window's cells summed per variant, and per variant and route.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Window {
    /// Per variant.
    pub variants: [(Variant, Cell); 2],
    /// Per (variant, route).
    pub routes: Vec<(Variant, String, Cell)>,
}

impl Window {
    /// Sums the cells of buckets from `since_bucket` on.
    pub fn of(cells: &Cells, since_bucket: u64) -> Window {
        let mut stable = Cell::default();
        let mut canary = Cell::default();
        let mut routes: crate::vec_map::VecMap<(Variant, String), Cell> = Default::default();
        for (k, c) in cells.iter().filter(|(k, _)| k.bucket >= since_bucket) {
            match k.variant {
                Variant::Stable => stable.merge(c),
                Variant::Canary => canary.merge(c),
            }
            routes
                .entry_or_default((k.variant, k.route.clone()))
                .merge(c);
        }
        Window {
            variants: [(Variant::Stable, stable), (Variant::Canary, canary)],
            routes: routes.into_iter().map(|((v, r), c)| (v, r, c)).collect(),
        }
    }

    /// One variant's counts.
    pub fn cell(&self, variant: Variant) -> &Cell {
        &self.variants[usize::from(variant == Variant::Canary)].1
    }

    /// The API's form: per variant, and per route.
    pub fn to_json(&self) -> Value {
        let mut routes = serde_json::Map::new();
        for (v, r, c) in &self.routes {
            let entry = routes.entry(r.clone()).or_insert_with(|| object! {});
            entry[v.as_str()] = VariantStats::of(c).to_json();
        }
        object! {
            "stable": VariantStats::of(self.cell(Variant::Stable)).to_json(),
            "canary": VariantStats::of(self.cell(Variant::Canary)).to_json(),
            "routes": routes,
        }
    }
}

/// Per minute from the one of `since_ms` to the one of `until_ms` (minutes without traffic
/// included as zeros), the numbers of each variant: what the dashboard's charts draw. `series`
/// are cells keyed by each minute's first bucket (see `cell::Summary`).
pub fn series(series: &Cells, since_ms: u64, until_ms: u64) -> Value {
    let mut minutes = Vec::new();
    for minute in since_ms / 60_000..=(until_ms / 60_000).max(since_ms / 60_000) {
        let first_bucket = minute * BUCKETS_PER_MINUTE;
        let mut stable = Cell::default();
        let mut canary = Cell::default();
        for (k, c) in series.iter().filter(|(k, _)| k.bucket == first_bucket) {
            match k.variant {
                Variant::Stable => stable.merge(c),
                Variant::Canary => canary.merge(c),
            }
        }
        minutes.push(object! {
            "minute_ms": minute * 60_000,
            "stable": VariantStats::of(&stable).to_json(),
            "canary": VariantStats::of(&canary).to_json(),
        });
    }
    Value::Array(minutes)
}

/// The analysis API's answer (`GET /__edge/api/analysis`) for `query`: the merged counts of the
/// window per variant and per route (`Window::to_json`), per minute for charts (`series`), which
/// aggregators could not be read (their counts are missing: `complete` says so), and the asking
/// isolate's weight and counters.
pub fn api_answer(summary: &Summary, unreadable: Vec<String>, query: &AnalysisQuery) -> Value {
    let since_ms = query.now_ms.saturating_sub(query.window_secs * 1000);
    let body = Window::of(&summary.routes, bucket_of(since_ms)).to_json();
    let series = series(&summary.series, since_ms, query.now_ms);
    answer_of(body, series, unreadable, query)
}

/// [`api_answer`] when no aggregator could be read (no counts): what it gives for an empty
/// summary (a test pins it), without the window's and series' sums, which the edge, answering
/// so when it cannot ask the control plane, does not otherwise need.
pub fn api_answer_unread(unreadable: Vec<String>, query: &AnalysisQuery) -> Value {
    let since_ms = query.now_ms.saturating_sub(query.window_secs * 1000);
    let none = || VariantStats::default().to_json();
    let body = object! {"stable": none(), "canary": none(), "routes": serde_json::Map::new()};
    let series = (since_ms / 60_000..=(query.now_ms / 60_000).max(since_ms / 60_000))
        .map(|minute| object! {"minute_ms": minute * 60_000, "stable": none(), "canary": none()})
        .collect::<Vec<_>>();
    answer_of(body, series.into(), unreadable, query)
}

/// The answer's window numbers (`body`) and `series`, with the query's facts.
fn answer_of(
    mut body: Value,
    series: Value,
    unreadable: Vec<String>,
    query: &AnalysisQuery,
) -> Value {
    let since_bucket = bucket_of(query.now_ms.saturating_sub(query.window_secs * 1000));
    body["window_secs"] = query.window_secs.into();
    body["since_ms"] = (since_bucket * BUCKET_MS).into();
    body["series"] = series;
    body["weight_bp"] = query.weight_bp.into();
    body["aggregators"] = object! {
        "shards": query.shards,
        "complete": unreadable.is_empty(),
        "unreadable": unreadable,
    };
    body["this_isolate"] = query.this_isolate.to_json();
    body
}

/// The `window` query parameter of the analysis API: 60–3600 seconds, 300 when absent.
pub fn window_secs(raw: Option<&str>) -> Result<u64, FieldError> {
    match raw {
        None => Ok(300),
        Some(v) => match v.trim().parse::<u64>() {
            Ok(n) if (60..=3_600).contains(&n) => Ok(n),
            _ => Err(FieldError::new(
                "window",
                format!("{v:?} is not a number of seconds from 60 to 3600"),
            )),
        },
    }
}

/// The thresholds a canary is judged by. Defaults: the marketplace's alert rules (errors above
/// 1 %, p95 above 100 ms) and a sample of at least 200 canary requests.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Thresholds {
    /// Seconds between analyses.
    pub interval_secs: u64,
    /// Seconds of traffic each analysis reads (at least a minute).
    pub window_secs: u64,
    /// Fewest canary requests a verdict needs; fewer and the rollout waits.
    pub min_requests: u64,
    /// Highest canary error rate.
    pub max_error_rate: f64,
    /// Highest canary error rate above stable's.
    pub max_error_rate_over_stable: f64,
    /// Highest canary origin p95, ms.
    pub max_p95_ms: f64,
    /// Highest canary origin p95 as a multiple of stable's.
    pub max_p95_over_stable: f64,
}

impl Default for Thresholds {
    fn default() -> Self {
        Thresholds {
            interval_secs: 60,
            window_secs: 300,
            min_requests: 200,
            max_error_rate: 0.01,
            max_error_rate_over_stable: 0.005,
            max_p95_ms: 100.0,
            max_p95_over_stable: 1.5,
        }
    }
}

impl Thresholds {
    /// Checks the ranges; errors name the field under `analysis.`.
    pub fn validate(&self) -> Result<(), FieldError> {
        let err = |f: &str, m: &str| Err(FieldError::new(format!("analysis.{f}"), m));
        if !(1..=3_600).contains(&self.interval_secs) {
            return err("interval_secs", "must be 1–3600 seconds");
        }
        if !(60..=3_600).contains(&self.window_secs) {
            return err("window_secs", "must be 60–3600 seconds");
        }
        if self.min_requests == 0 || self.min_requests > 10_000_000 {
            return err("min_requests", "must be 1–10000000");
        }
        for (f, v) in [
            ("max_error_rate", self.max_error_rate),
            (
                "max_error_rate_over_stable",
                self.max_error_rate_over_stable,
            ),
        ] {
            if !(0.0..=1.0).contains(&v) || !v.is_finite() {
                return err(f, "must be a fraction from 0 to 1 (0.01 is 1 %)");
            }
        }
        if !(self.max_p95_ms > 0.0 && self.max_p95_ms <= 60_000.0) {
            return err("max_p95_ms", "must be above 0 and at most 60000");
        }
        if !(self.max_p95_over_stable >= 1.0 && self.max_p95_over_stable <= 100.0) {
            return err("max_p95_over_stable", "must be from 1 to 100");
        }
        Ok(())
    }
}

/// Fewest stable samples a comparison with stable needs; with fewer, only the absolute
/// thresholds apply.
pub const MIN_STABLE_SAMPLES: u64 = 20;

/// The verdict on a canary.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "verdict", rename_all = "snake_case")]
pub enum Verdict {
    /// Every threshold holds.
    Healthy,
    /// At least one threshold is broken; each reason names the measurement and the limit.
    Unhealthy {
        /// Why.
        reasons: Vec<String>,
    },
    /// Too few canary requests to judge.
    NotEnoughData {
        /// Canary requests in the window.
        requests: u64,
        /// Needed.
        needed: u64,
    },
}

impl Verdict {
    /// `healthy`, `unhealthy` or `not_enough_data`.
    pub fn as_str(&self) -> &'static str {
        match self {
            Verdict::Healthy => "healthy",
            Verdict::Unhealthy { .. } => "unhealthy",
            Verdict::NotEnoughData { .. } => "not_enough_data",
        }
    }
}

fn percent(x: f64) -> String {
    format!("{:.2} %", x * 100.0)
}

/// Judges the canary of a window against the thresholds.
pub fn judge(window: &Window, t: &Thresholds) -> Verdict {
    let canary = VariantStats::of(window.cell(Variant::Canary));
    let stable = VariantStats::of(window.cell(Variant::Stable));
    if canary.requests < t.min_requests {
        return Verdict::NotEnoughData {
            requests: canary.requests,
            needed: t.min_requests,
        };
    }
    let mut reasons = Vec::new();
    if canary.error_rate > t.max_error_rate {
        reasons.push(format!(
            "canary error rate {} > {} ({} of {} requests)",
            percent(canary.error_rate),
            percent(t.max_error_rate),
            canary.errors,
            canary.requests
        ));
    }
    let stable_known = stable.requests >= MIN_STABLE_SAMPLES;
    if stable_known && canary.error_rate - stable.error_rate > t.max_error_rate_over_stable {
        reasons.push(format!(
            "canary error rate {} is {} above stable's {} (limit {})",
            percent(canary.error_rate),
            percent(canary.error_rate - stable.error_rate),
            percent(stable.error_rate),
            percent(t.max_error_rate_over_stable)
        ));
    }
    if let Some(p95) = canary.origin_p95_ms {
        if p95 > t.max_p95_ms {
            reasons.push(format!(
                "canary origin p95 {p95:.0} ms > {:.0} ms",
                t.max_p95_ms
            ));
        }
        if let Some(stable_p95) = stable
            .origin_p95_ms
            .filter(|_| stable.origin_requests >= MIN_STABLE_SAMPLES)
        {
            if p95 > stable_p95 * t.max_p95_over_stable {
                reasons.push(format!(
                    "canary origin p95 {p95:.0} ms is {:.1}× stable's {stable_p95:.0} ms (limit {:.1}×)",
                    p95 / stable_p95.max(0.001),
                    t.max_p95_over_stable
                ));
            }
        }
    }
    if reasons.is_empty() {
        Verdict::Healthy
    } else {
        Verdict::Unhealthy { reasons }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::analysis::cell::{CellKey, Observation, Pending};

    fn traffic(p: &mut Pending, variant: Variant, n: u64, errors: u64, origin_ms: u64) {
        for i in 0..n {
            p.record(&Observation {
                at_ms: 120_000 + i,
                variant,
                route: "search",
                origin_error: i < errors,
                fallback: variant == Variant::Canary && i < errors,
                outcome: Some("miss"),
                total_ms: origin_ms + 1,
                origin_ms: Some(origin_ms),
            });
        }
    }

    fn window(stable: (u64, u64, u64), canary: (u64, u64, u64)) -> Window {
        let mut p = Pending::default();
        traffic(&mut p, Variant::Stable, stable.0, stable.1, stable.2);
        traffic(&mut p, Variant::Canary, canary.0, canary.1, canary.2);
        Window::of(&p.cells, 0)
    }

    #[test]
    fn a_healthy_canary_passes() {
        let w = window((1000, 0, 8), (300, 1, 9));
        assert_eq!(judge(&w, &Thresholds::default()), Verdict::Healthy);
    }

    #[test]
    fn too_few_canary_requests_wait() {
        let w = window((1000, 0, 8), (150, 150, 9));
        assert_eq!(
            judge(&w, &Thresholds::default()),
            Verdict::NotEnoughData {
                requests: 150,
                needed: 200
            }
        );
    }

    #[test]
    fn a_failing_canary_is_unhealthy_with_the_measured_rate() {
        let w = window((1000, 0, 8), (400, 100, 9));
        let Verdict::Unhealthy { reasons } = judge(&w, &Thresholds::default()) else {
            panic!("unhealthy expected");
        };
        assert!(reasons[0].contains("25.00 % > 1.00 %"), "{reasons:?}");
        assert!(reasons[0].contains("100 of 400"), "{reasons:?}");
        assert!(reasons[1].contains("above stable"), "{reasons:?}");
    }

    #[test]
    fn the_comparison_with_stable_catches_what_the_absolute_limit_allows() {
        // 0.8 % errors is under 1 %, but 0.8 points above a clean stable (limit 0.5).
        let w = window((1000, 0, 8), (1000, 8, 9));
        let Verdict::Unhealthy { reasons } = judge(&w, &Thresholds::default()) else {
            panic!("unhealthy expected");
        };
        assert_eq!(reasons.len(), 1, "{reasons:?}");
        assert!(reasons[0].contains("above stable"));
        // Without enough stable traffic, only the absolute limit applies.
        let w = window((5, 0, 8), (1000, 8, 9));
        assert_eq!(judge(&w, &Thresholds::default()), Verdict::Healthy);
    }

    #[test]
    fn a_slow_canary_is_unhealthy_on_p95_and_against_stable() {
        let w = window((1000, 0, 8), (300, 0, 420));
        let Verdict::Unhealthy { reasons } = judge(&w, &Thresholds::default()) else {
            panic!("unhealthy expected");
        };
        assert!(
            reasons.iter().any(|r| r.contains("> 100 ms")),
            "{reasons:?}"
        );
        assert!(
            reasons.iter().any(|r| r.contains("× stable's")),
            "{reasons:?}"
        );
        // Under the absolute limit but 3× stable.
        let w = window((1000, 0, 8), (300, 0, 28));
        let Verdict::Unhealthy { reasons } = judge(&w, &Thresholds::default()) else {
            panic!("unhealthy expected");
        };
        assert_eq!(reasons.len(), 1);
        assert!(reasons[0].contains("(limit 1.5×)"), "{reasons:?}");
    }

    #[test]
    fn windows_sum_only_their_minutes_and_keep_routes_apart() {
        let mut p = Pending::default();
        traffic(&mut p, Variant::Canary, 10, 0, 5);
        let old = Cell {
            requests: 99,
            ..Default::default()
        };
        p.cells.insert(
            CellKey {
                bucket: 0,
                variant: Variant::Canary,
                route: "search".into(),
            },
            old,
        );
        let w = Window::of(&p.cells, 1);
        assert_eq!(w.cell(Variant::Canary).requests, 10, "bucket 0 is outside");
        let j = w.to_json();
        assert_eq!(j["canary"]["requests"], 10);
        assert_eq!(j["routes"]["search"]["canary"]["requests"], 10);
        assert_eq!(j["stable"]["requests"], 0);
        assert_eq!(j["stable"]["hit_rate"], Value::Null);
    }

    #[test]
    fn stats_read_as_their_serde_form() {
        let mut p = Pending::default();
        traffic(&mut p, Variant::Canary, 10, 3, 9);
        let summary = crate::analysis::cell::Summary::of(&p.cells, 0);
        let w = Window::of(&summary.routes, 0);
        for stats in [
            VariantStats::of(w.cell(Variant::Canary)),
            VariantStats::of(w.cell(Variant::Stable)),
        ] {
            assert_eq!(stats.to_json(), serde_json::to_value(&stats).unwrap());
        }
    }

    #[test]
    fn the_api_answer_says_which_aggregators_are_missing_from_its_counts() {
        use crate::control::wire::{AnalysisQuery, IsolateCounters};
        let mut p = Pending::default();
        traffic(&mut p, Variant::Canary, 4, 1, 9); // minute 2
                                                   // As the aggregators sum it for the window's first bucket (60 s: bucket 6).
        let summary = crate::analysis::cell::Summary::of(&p.cells, 6);
        let query = AnalysisQuery {
            window_secs: 120,
            now_ms: 180_000,
            shards: 2,
            weight_bp: 500,
            this_isolate: IsolateCounters {
                flushes: 1,
                failed_flushes: 0,
                lost_requests: 0,
                pending_requests: 2,
                flush_ms: 10_000,
            },
        };
        let full = api_answer(&summary, vec![], &query);
        assert_eq!(full["canary"]["requests"], 4);
        assert_eq!(full["series"].as_array().unwrap().len(), 3);
        assert_eq!(full["window_secs"], 120);
        assert_eq!(full["since_ms"], 60_000);
        assert_eq!(full["weight_bp"], 500);
        assert_eq!(full["aggregators"]["complete"], true);
        assert_eq!(full["this_isolate"]["pending_requests"], 2);
        let none = api_answer(&Summary::default(), vec!["shard-1: gone".into()], &query);
        assert_eq!(
            none,
            api_answer_unread(vec!["shard-1: gone".into()], &query)
        );
        assert_eq!(
            VariantStats::of(&Cell::default()),
            VariantStats::default(),
            "no counts read: the default numbers"
        );
        assert_eq!(none["canary"]["requests"], 0);
        assert_eq!(none["series"].as_array().unwrap().len(), 3);
        assert_eq!(none["aggregators"]["complete"], false);
        assert_eq!(none["aggregators"]["unreadable"][0], "shard-1: gone");
    }

    #[test]
    fn the_series_has_every_minute_of_the_window() {
        let mut p = Pending::default();
        traffic(&mut p, Variant::Canary, 4, 1, 9); // minute 2
        let summary = crate::analysis::cell::Summary::of(&p.cells, 0);
        let s = series(&summary.series, 60_000, 180_000);
        let minutes = s.as_array().unwrap();
        assert_eq!(minutes.len(), 3);
        assert_eq!(minutes[0]["canary"]["requests"], 0);
        assert_eq!(minutes[1]["minute_ms"], 120_000);
        assert_eq!(minutes[1]["canary"]["requests"], 4);
        assert_eq!(minutes[1]["canary"]["error_rate"], 0.25);
        assert_eq!(window_secs(None), Ok(300));
        assert_eq!(window_secs(Some("900")), Ok(900));
        for bad in ["59", "3601", "x"] {
            assert_eq!(window_secs(Some(bad)).unwrap_err().field, "window");
        }
    }

    #[test]
    fn thresholds_are_validated_by_field() {
        assert!(Thresholds::default().validate().is_ok());
        let bad = |f: fn(&mut Thresholds)| {
            let mut t = Thresholds::default();
            f(&mut t);
            t.validate().unwrap_err().field
        };
        assert_eq!(bad(|t| t.max_error_rate = 1.5), "analysis.max_error_rate");
        assert_eq!(bad(|t| t.interval_secs = 0), "analysis.interval_secs");
        assert_eq!(bad(|t| t.window_secs = 10), "analysis.window_secs");
        assert_eq!(
            bad(|t| t.max_p95_over_stable = 0.5),
            "analysis.max_p95_over_stable"
        );
        assert_eq!(bad(|t| t.max_p95_ms = f64::NAN), "analysis.max_p95_ms");
        assert_eq!(bad(|t| t.min_requests = 0), "analysis.min_requests");
    }
}
