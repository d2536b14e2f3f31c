//! What downstream monitoring sees of each request: one structured JSON log line (Workers Logs /
//! Logpush), one Analytics Engine data point, and per-isolate Prometheus counters and latency
//! histograms. The shapes are pinned by tests; never put the admin token, cookies or query
//! strings in any of them.

#[cfg(test)]
use serde::Serialize;

use crate::json_text::ObjectWriter;
use crate::variant::Variant;
use crate::vec_map::VecMap;

/// Everything recorded about one request.
#[derive(Debug, Clone, PartialEq)]
#[cfg_attr(test, derive(Serialize))]
pub struct RequestRecord {
    /// When the request arrived.
    pub at_ms: u64,
    /// HTTP method.
    pub method: String,
    /// Path, without the query (queries may hold personal data).
    pub path: String,
    /// Route rule id (`categories`, `search`, …) or the edge's own route (`health`, `admin`, …).
    pub route: String,
    /// The variant a proxied request was assigned: a canary request that failed and was answered
    /// by stable (the fallback) is still `canary`, so that the canary's failures count as its own.
    pub variant: Option<Variant>,
    /// The variant whose origin answered (stable after a fallback).
    pub served_by: Option<Variant>,
    /// Cache outcome word, for proxied requests.
    pub outcome: Option<&'static str>,
    /// Response status.
    pub status: u16,
    /// Time in the worker excluding waits for cache and origin.
    pub edge_ms: u64,
    /// Time spent in cache lookups.
    pub cache_ms: Option<u64>,
    /// Time to the origin's response headers.
    pub origin_ms: Option<u64>,
    /// Whole time in the worker.
    pub total_ms: u64,
    /// Cloudflare data centre (`cf.colo`).
    pub colo: Option<String>,
    /// W3C trace id sent to the origin.
    pub trace_id: Option<String>,
    /// The assigned variant's origin failed (5xx, timeout, unreachable) — also when a fallback
    /// then answered the user.
    pub origin_error: bool,
    /// A failing canary request was retried against stable.
    pub fallback: bool,
    /// The canary weight in force in this isolate, basis points (for proxied requests).
    pub weight_bp: Option<u16>,
}

/// The log line's shape as serde would write it (the test that pins [`RequestRecord::log_line`]).
#[cfg(all(test, not(target_arch = "wasm32")))]
#[derive(Serialize)]
struct LogLine<'a> {
    event: &'static str,
    #[serde(flatten)]
    record: &'a RequestRecord,
}

impl RequestRecord {
    /// The structured log line: `{"event":"request", …fields}` in the fields' order (written by
    /// hand: one per request; the unit tests hold it to what serde writes for [`LogLine`]).
    pub fn log_line(&self) -> String {
        let mut out = String::with_capacity(384);
        let mut o = ObjectWriter::new(&mut out);
        o.str("event", "request")
            .u64("at_ms", self.at_ms)
            .str("method", &self.method)
            .str("path", &self.path)
            .str("route", &self.route)
            .opt_str("variant", self.variant.map(Variant::as_str))
            .opt_str("served_by", self.served_by.map(Variant::as_str))
            .opt_str("outcome", self.outcome)
            .u64("status", u64::from(self.status))
            .u64("edge_ms", self.edge_ms)
            .opt_u64("cache_ms", self.cache_ms)
            .opt_u64("origin_ms", self.origin_ms)
            .u64("total_ms", self.total_ms)
            .opt_str("colo", self.colo.as_deref())
            .opt_str("trace_id", self.trace_id.as_deref())
            .bool("origin_error", self.origin_error)
            .bool("fallback", self.fallback)
            .opt_u64("weight_bp", self.weight_bp.map(u64::from));
        o.end();
        out
    }

    /// The Analytics Engine data point (schema: see [`DataPoint`]).
    pub fn data_point(&self) -> DataPoint {
        DataPoint {
            indexes: [self.route.clone()],
            blobs: [
                self.route.clone(),
                self.variant.map_or("none", Variant::as_str).to_string(),
                self.outcome.unwrap_or("none").to_string(),
                self.method.clone(),
                status_class(self.status).to_string(),
                self.colo.clone().unwrap_or_default(),
                self.served_by.map_or("none", Variant::as_str).to_string(),
            ],
            doubles: [
                f64::from(self.status),
                self.total_ms as f64,
                self.edge_ms as f64,
                self.cache_ms.map_or(-1.0, |v| v as f64),
                self.origin_ms.map_or(-1.0, |v| v as f64),
                if self.origin_error { 1.0 } else { 0.0 },
                if self.fallback { 1.0 } else { 0.0 },
                self.weight_bp.map_or(-1.0, f64::from),
            ],
        }
    }
}

/// An Analytics Engine data point. Schema (also in `monitoring/README.md`):
/// `index1` = route; `blob1` route, `blob2` variant (assigned), `blob3` cache outcome, `blob4`
/// method, `blob5` status class (`2xx`…), `blob6` colo, `blob7` served by; `double1` status,
/// `double2` total ms, `double3` edge ms, `double4` cache ms (-1: none), `double5` origin ms (-1:
/// not contacted), `double6` origin error of the assigned variant (0/1), `double7` canary
/// fallback (0/1), `double8` canary weight in force (basis points; -1: not proxied).
#[derive(Debug, Clone, PartialEq)]
pub struct DataPoint {
    /// Sampling index.
    pub indexes: [String; 1],
    /// Strings.
    pub blobs: [String; 7],
    /// Numbers.
    pub doubles: [f64; 8],
}

fn status_class(status: u16) -> &'static str {
    match status {
        100..=199 => "1xx",
        200..=299 => "2xx",
        300..=399 => "3xx",
        400..=499 => "4xx",
        _ => "5xx",
    }
}

/// Latency histogram bucket bounds in milliseconds (including the alert thresholds 50 and 100).
/// The exposition states them in seconds (`le="0.05"`), Prometheus' base unit.
pub const BUCKETS_MS: [u64; 13] = [1, 2, 5, 10, 25, 50, 100, 250, 500, 1000, 2500, 5000, 10000];

#[derive(Debug, Clone, Default)]
struct Histogram {
    counts: [u64; BUCKETS_MS.len()],
    count: u64,
    sum: u64,
}

impl Histogram {
    fn observe(&mut self, ms: u64) {
        for (i, bound) in BUCKETS_MS.iter().enumerate() {
            if ms <= *bound {
                self.counts[i] += 1;
            }
        }
        self.count += 1;
        self.sum += ms;
    }
}

type Labels = Vec<(&'static str, String)>;

/// One metric's series: by route, then by the request's fixed-word labels (variant, outcome,
/// status class), so that counting a request allocates nothing once its route has been seen.
/// Ordered as the labels print (`route` first), so the exposition's order is the labels' order.
type Series<K, V> = VecMap<String, VecMap<K, V>>;

/// The series of `route` and `key`, created empty the first time.
fn series_entry<'a, K: Ord, V: Default>(
    series: &'a mut Series<K, V>,
    route: &str,
    key: K,
) -> &'a mut V {
    if !series.contains_key(route) {
        series.insert(route.to_owned(), VecMap::new());
    }
    series
        .get_mut(route)
        .map(|by_key| by_key.entry_or_default(key))
        .unwrap_or_else(|| unreachable!("inserted above"))
}

/// Every series of a metric with its labels, in exposition order.
fn labelled<K: Copy, V>(
    series: &Series<K, V>,
    labels: impl Fn(&str, K) -> Labels,
) -> Vec<(Labels, &V)> {
    series
        .iter()
        .flat_map(|(route, by_key)| by_key.iter().map(move |(k, v)| (route, *k, v)))
        .map(|(route, k, v)| (labels(route, k), v))
        .collect()
}

/// `route` and `variant` labels.
fn route_variant(route: &str, variant: &'static str) -> Labels {
    vec![("route", route.to_owned()), ("variant", variant.to_owned())]
}

/// Per-isolate Prometheus metrics.
#[derive(Debug, Clone, Default)]
pub struct Registry {
    /// By route, then (variant, outcome, status class).
    requests: Series<(&'static str, &'static str, &'static str), u64>,
    /// By route, then (variant, outcome).
    duration: Series<(&'static str, &'static str), Histogram>,
    /// By route, then variant.
    origin: Series<&'static str, Histogram>,
    /// By route, then variant.
    fallbacks: Series<&'static str, u64>,
    /// By route, then variant.
    origin_errors: Series<&'static str, u64>,
    started_ms: u64,
}

pub const SCOPE: &str = "Per isolate: each Workers isolate counts only the requests it served, and a restart resets it.";

impl Registry {
    /// An empty registry for an isolate that started at `now_ms`.
    pub fn new(now_ms: u64) -> Registry {
        Registry {
            started_ms: now_ms,
            ..Default::default()
        }
    }

    /// Counts one request.
    pub fn observe(&mut self, r: &RequestRecord) {
        let variant = r.variant.map_or("none", Variant::as_str);
        let outcome = r.outcome.unwrap_or("none");
        let route = r.route.as_str();
        *series_entry(
            &mut self.requests,
            route,
            (variant, outcome, status_class(r.status)),
        ) += 1;
        series_entry(&mut self.duration, route, (variant, outcome)).observe(r.total_ms);
        if let Some(ms) = r.origin_ms {
            series_entry(&mut self.origin, route, variant).observe(ms);
        }
        if r.fallback {
            *series_entry(&mut self.fallbacks, route, variant) += 1;
        }
        if r.origin_error {
            *series_entry(&mut self.origin_errors, route, variant) += 1;
        }
    }

    /// The Prometheus text exposition (format 0.0.4).
    pub fn exposition(&self) -> String {
        let mut out = String::new();
        out.push_str(&format!(
            "# HELP catalog_edge_requests_total Requests answered by the edge. {SCOPE}\n# TYPE catalog_edge_requests_total counter\n"
        ));
        let requests = labelled(&self.requests, |route, (variant, outcome, status)| {
            vec![
                ("route", route.to_owned()),
                ("variant", variant.to_owned()),
                ("outcome", outcome.to_owned()),
                ("status", status.to_owned()),
            ]
        });
        for (labels, v) in requests {
            out.push_str(&format!(
                "catalog_edge_requests_total{} {v}\n",
                fmt_labels(&labels, None)
            ));
        }
        histogram(
            &mut out,
            "catalog_edge_request_duration_seconds",
            "Time in the worker up to the response headers, in seconds.",
            labelled(&self.duration, |route, (variant, outcome)| {
                vec![
                    ("route", route.to_owned()),
                    ("variant", variant.to_owned()),
                    ("outcome", outcome.to_owned()),
                ]
            }),
        );
        histogram(
            &mut out,
            "catalog_edge_origin_duration_seconds",
            "Time to the origin's response headers, in seconds.",
            labelled(&self.origin, route_variant),
        );
        out.push_str(&format!(
            "# HELP catalog_edge_canary_fallbacks_total Canary requests retried against stable (counted as the canary's). {SCOPE}\n# TYPE catalog_edge_canary_fallbacks_total counter\n"
        ));
        for (labels, v) in labelled(&self.fallbacks, route_variant) {
            out.push_str(&format!(
                "catalog_edge_canary_fallbacks_total{} {v}\n",
                fmt_labels(&labels, None)
            ));
        }
        out.push_str(&format!(
            "# HELP catalog_edge_origin_errors_total Origin failures (5xx, timeout, unreachable) by the variant the request was assigned, including the canary's failures a fallback hid. {SCOPE}\n# TYPE catalog_edge_origin_errors_total counter\n"
        ));
        for (labels, v) in labelled(&self.origin_errors, route_variant) {
            out.push_str(&format!(
                "catalog_edge_origin_errors_total{} {v}\n",
                fmt_labels(&labels, None)
            ));
        }
        out.push_str(&format!(
            "# HELP catalog_edge_isolate_start_time_seconds When this isolate started counting. {SCOPE}\n# TYPE catalog_edge_isolate_start_time_seconds gauge\ncatalog_edge_isolate_start_time_seconds {}\n",
            self.started_ms / 1000
        ));
        out
    }
}

/// The canary weight in force in this isolate and the canary analysis' flush counters, in the
/// exposition format.
pub fn canary_exposition(
    weight_bp: u16,
    flushes: u64,
    failed_flushes: u64,
    lost_requests: u64,
) -> String {
    format!(
        "# HELP catalog_edge_canary_weight_ratio Share of clients sent to the canary (0–1), as this isolate has it. {SCOPE}\n\
         # TYPE catalog_edge_canary_weight_ratio gauge\n\
         catalog_edge_canary_weight_ratio {}\n\
         # HELP catalog_edge_analysis_flushes_total Flushes of the canary analysis' counts to an aggregator, by result. {SCOPE}\n\
         # TYPE catalog_edge_analysis_flushes_total counter\n\
         catalog_edge_analysis_flushes_total{{result=\"ok\"}} {flushes}\n\
         catalog_edge_analysis_flushes_total{{result=\"failed\"}} {failed_flushes}\n\
         # HELP catalog_edge_analysis_lost_requests_total Requests whose analysis counts were dropped after flushes kept failing for 10 minutes. {SCOPE}\n\
         # TYPE catalog_edge_analysis_lost_requests_total counter\n\
         catalog_edge_analysis_lost_requests_total {lost_requests}\n",
        crate::decimal::Plain(f64::from(weight_bp) / 10_000.0)
    )
}

/// The in-memory cache tier's gauges and counters, in the exposition format.
pub fn memory_exposition(m: &crate::cache::memory::MemoryStats) -> String {
    let mut out = String::new();
    for (name, kind, help, value) in [
        (
            "catalog_edge_memory_cache_entries",
            "gauge",
            "Entries in the in-memory tier.",
            m.entries as u64,
        ),
        (
            "catalog_edge_memory_cache_bytes",
            "gauge",
            "Bytes held by the in-memory tier.",
            m.used_bytes as u64,
        ),
        (
            "catalog_edge_memory_cache_capacity_bytes",
            "gauge",
            "Capacity of the in-memory tier (0: off).",
            m.capacity_bytes as u64,
        ),
        (
            "catalog_edge_memory_cache_hits_total",
            "counter",
            "Lookups the in-memory tier answered.",
            m.hits,
        ),
        (
            "catalog_edge_memory_cache_misses_total",
            "counter",
            "Lookups the in-memory tier did not answer.",
            m.misses,
        ),
        (
            "catalog_edge_memory_cache_evictions_total",
            "counter",
            "Entries evicted from the in-memory tier to make room.",
            m.evictions,
        ),
    ] {
        out.push_str(&format!(
            "# HELP {name} {help} {SCOPE}\n# TYPE {name} {kind}\n{name} {value}\n"
        ));
    }
    out
}

/// The budget of bytes held for storing (`cache::body`): its gauges, the bodies stored, and
/// those refused or dropped after the store decision by reason, in the exposition format.
pub fn store_exposition(s: &crate::cache::body::StoreStats) -> String {
    let mut out = String::new();
    for (name, kind, help, value) in [
        (
            "catalog_edge_store_buffer_bytes",
            "gauge",
            "Bytes reserved now by bodies being stored.",
            s.held_bytes,
        ),
        (
            "catalog_edge_store_buffer_high_water_bytes",
            "gauge",
            "Most bytes ever reserved at once by bodies being stored.",
            s.high_water_bytes,
        ),
        (
            "catalog_edge_store_buffer_capacity_bytes",
            "gauge",
            "The budget of bytes held for storing (STORE_BUFFER_BYTES).",
            s.budget_bytes,
        ),
        (
            "catalog_edge_stores_total",
            "counter",
            "Bodies stored in the Cache API.",
            s.stored,
        ),
    ] {
        out.push_str(&format!(
            "# HELP {name} {help} {SCOPE}\n# TYPE {name} {kind}\n{name} {value}\n"
        ));
    }
    out.push_str(&format!(
        "# HELP catalog_edge_store_not_stored_total Storable bodies not stored, by reason. {SCOPE}\n# TYPE catalog_edge_store_not_stored_total counter\n"
    ));
    for (reason, n) in s.not_stored.by_reason() {
        out.push_str(&format!(
            "catalog_edge_store_not_stored_total{{reason=\"{reason}\"}} {n}\n"
        ));
    }
    out
}

fn histogram(out: &mut String, name: &str, help: &str, series: Vec<(Labels, &Histogram)>) {
    out.push_str(&format!(
        "# HELP {name} {help} {SCOPE}\n# TYPE {name} histogram\n"
    ));
    for (labels, h) in series {
        let labels = &labels;
        for (i, bound) in BUCKETS_MS.iter().enumerate() {
            out.push_str(&format!(
                "{name}_bucket{} {}\n",
                fmt_labels(labels, Some(&ms_as_seconds(*bound))),
                h.counts[i]
            ));
        }
        out.push_str(&format!(
            "{name}_bucket{} {}\n",
            fmt_labels(labels, Some("+Inf")),
            h.count
        ));
        out.push_str(&format!(
            "{name}_sum{} {}\n",
            fmt_labels(labels, None),
            ms_as_seconds(h.sum)
        ));
        out.push_str(&format!(
            "{name}_count{} {}\n",
            fmt_labels(labels, None),
            h.count
        ));
    }
}

/// Milliseconds as exact decimal seconds (`50` → `0.05`, `2500` → `2.5`, `7` → `0.007`), without
/// the rounding noise of a float division.
fn ms_as_seconds(ms: u64) -> String {
    let frac = format!("{:03}", ms % 1000);
    let frac = frac.trim_end_matches('0');
    if frac.is_empty() {
        (ms / 1000).to_string()
    } else {
        format!("{}.{frac}", ms / 1000)
    }
}

fn fmt_labels(labels: &Labels, le: Option<&str>) -> String {
    let mut parts: Vec<String> = labels
        .iter()
        .map(|(k, v)| format!("{k}=\"{}\"", escape(v)))
        .collect();
    if let Some(le) = le {
        parts.push(format!("le=\"{le}\""));
    }
    format!("{{{}}}", parts.join(","))
}

/// Label value escaping (backslash, quote, newline), per the exposition format.
fn escape(v: &str) -> String {
    v.replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

#[cfg(all(test, not(target_arch = "wasm32")))]
mod log_line_tests {
    use proptest::prelude::*;

    use super::*;

    proptest! {
        #[test]
        fn the_log_line_is_what_serde_writes(
            at_ms in any::<u64>(), method in any::<String>(), path in any::<String>(),
            route in "[a-z-]{0,12}", variant in any::<Option<bool>>(), served in any::<Option<bool>>(),
            outcome in prop::option::of(prop_oneof![Just("hit"), Just("miss"), Just("stale")]),
            status in any::<u16>(), nums in any::<(u64, Option<u64>, Option<u64>, u64)>(),
            colo in any::<Option<String>>(), trace in any::<Option<String>>(),
            flags in any::<(bool, bool)>(), weight in any::<Option<u16>>(),
        ) {
            let v = |b: Option<bool>| b.map(|c| if c { Variant::Canary } else { Variant::Stable });
            let r = RequestRecord {
                at_ms, method, path, route, variant: v(variant), served_by: v(served), outcome, status,
                edge_ms: nums.0, cache_ms: nums.1, origin_ms: nums.2, total_ms: nums.3,
                colo, trace_id: trace, origin_error: flags.0, fallback: flags.1, weight_bp: weight,
            };
            let serde = serde_json::to_string(&LogLine { event: "request", record: &r }).unwrap();
            prop_assert_eq!(r.log_line(), serde);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_canary_weight_ratio_reads_as_float_formatting_wrote_it() {
        for bp in 0..=10_000u16 {
            let text = canary_exposition(bp, 1, 2, 3);
            let ratio = format!(
                "\ncatalog_edge_canary_weight_ratio {}\n",
                f64::from(bp) / 10_000.0
            );
            assert!(text.contains(&ratio), "{bp}: {text}");
        }
    }

    #[test]
    fn milliseconds_print_as_exact_seconds() {
        for (ms, secs) in [
            (0, "0"),
            (1, "0.001"),
            (7, "0.007"),
            (50, "0.05"),
            (100, "0.1"),
            (1000, "1"),
            (2500, "2.5"),
            (10_000, "10"),
            (123_456, "123.456"),
        ] {
            assert_eq!(ms_as_seconds(ms), secs, "{ms} ms");
        }
    }
}
