//! The shapes monitoring depends on: the request log line, the Analytics Engine data point, and
//! the Prometheus exposition (parsed back).

use std::collections::BTreeMap;

use catalog_edge::cache::body::{StoreBudget, StoreOutcome};
use catalog_edge::cache::memory::MemoryStats;
use catalog_edge::cache::policy::NoStoreReason;
use catalog_edge::metrics::{
    memory_exposition, store_exposition, Registry, RequestRecord, BUCKETS_MS,
};
use catalog_edge::variant::Variant;
use serde_json::json;

fn record(route: &str, outcome: &'static str, status: u16, total_ms: u64) -> RequestRecord {
    RequestRecord {
        at_ms: 1_795_700_000_000,
        method: "GET".into(),
        path: "/api/v1/marketplace/categories".into(),
        route: route.into(),
        variant: Some(Variant::Canary),
        served_by: Some(Variant::Canary),
        outcome: Some(outcome),
        status,
        edge_ms: 1,
        cache_ms: Some(2),
        origin_ms: if outcome == "hit" {
            None
        } else {
            Some(total_ms - 3)
        },
        total_ms,
        colo: Some("BEG".into()),
        trace_id: Some("4bf92f3577b34da6a3ce929d0e0e4736".into()),
        origin_error: status >= 500,
        fallback: false,
        weight_bp: Some(2500),
    }
}

#[test]
fn the_log_line_has_a_fixed_shape() {
    let line = record("categories", "miss", 200, 40).log_line();
    let v: serde_json::Value = serde_json::from_str(&line).unwrap();
    assert_eq!(
        v,
        json!({
            "event": "request", "at_ms": 1_795_700_000_000u64, "method": "GET",
            "path": "/api/v1/marketplace/categories", "route": "categories", "variant": "canary",
            "served_by": "canary",
            "outcome": "miss", "status": 200, "edge_ms": 1, "cache_ms": 2, "origin_ms": 37,
            "total_ms": 40, "colo": "BEG", "trace_id": "4bf92f3577b34da6a3ce929d0e0e4736",
            "origin_error": false, "fallback": false, "weight_bp": 2500
        })
    );
    assert!(!line.contains('\n'), "one line per request");
}

#[test]
fn the_data_point_follows_the_documented_schema() {
    let p = record("search", "hit", 503, 9).data_point();
    assert_eq!(p.indexes, ["search".to_string()]);
    assert_eq!(
        p.blobs,
        ["search", "canary", "hit", "GET", "5xx", "BEG", "canary"].map(String::from)
    );
    assert_eq!(p.doubles, [503.0, 9.0, 1.0, 2.0, -1.0, 1.0, 0.0, 2500.0]);
}

#[test]
fn a_canary_failure_hidden_by_the_fallback_counts_against_the_canary() {
    // The canary reset the connection; stable answered 200: the user saw nothing wrong.
    let mut r = record("search", "miss", 200, 80);
    r.served_by = Some(Variant::Stable);
    r.origin_error = true;
    r.fallback = true;
    let p = r.data_point();
    assert_eq!(
        (p.blobs[1].as_str(), p.blobs[6].as_str()),
        ("canary", "stable")
    );
    assert_eq!((p.doubles[5], p.doubles[6]), (1.0, 1.0));
    let mut reg = Registry::new(0);
    reg.observe(&r);
    let samples = parse(&reg.exposition());
    let key = |name: &str| {
        (
            name.to_string(),
            [("route", "search"), ("variant", "canary")]
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect::<BTreeMap<_, _>>(),
        )
    };
    assert_eq!(
        samples.get(&key("catalog_edge_origin_errors_total")),
        Some(&1.0)
    );
    assert_eq!(
        samples.get(&key("catalog_edge_canary_fallbacks_total")),
        Some(&1.0)
    );
    let extra = parse(&catalog_edge::metrics::canary_exposition(2500, 7, 1, 0));
    assert_eq!(
        extra.get(&(
            "catalog_edge_canary_weight_ratio".to_string(),
            BTreeMap::new()
        )),
        Some(&0.25)
    );
}

/// A minimal parser of the text exposition format: `(name, labels) -> value`, checking that
/// every sample belongs to a declared metric.
fn parse(text: &str) -> BTreeMap<(String, BTreeMap<String, String>), f64> {
    let mut declared = BTreeMap::new();
    let mut samples = BTreeMap::new();
    for line in text.lines() {
        if let Some(rest) = line.strip_prefix("# TYPE ") {
            let (name, kind) = rest.split_once(' ').unwrap();
            declared.insert(name.to_string(), kind.to_string());
            continue;
        }
        if line.starts_with("# HELP ") {
            assert!(
                line.contains("per isolate") || line.contains("Per isolate"),
                "{line}"
            );
            continue;
        }
        assert!(
            !line.is_empty() && !line.starts_with('#'),
            "unexpected line {line:?}"
        );
        let (series, value) = line.rsplit_once(' ').unwrap();
        let (name, labels) = match series.split_once('{') {
            Some((n, l)) => (n, l.trim_end_matches('}')),
            None => (series, ""),
        };
        let mut map = BTreeMap::new();
        for pair in labels.split(',').filter(|p| !p.is_empty()) {
            let (k, v) = pair.split_once('=').unwrap();
            map.insert(k.to_string(), v.trim_matches('"').to_string());
        }
        let base = ["_bucket", "_sum", "_count"]
            .iter()
            .find_map(|s| name.strip_suffix(s))
            .filter(|b| declared.get(*b).map(String::as_str) == Some("histogram"))
            .unwrap_or(name);
        assert!(
            declared.contains_key(base),
            "sample {name} of an undeclared metric"
        );
        samples.insert((name.to_string(), map), value.parse::<f64>().unwrap());
    }
    samples
}

#[test]
fn the_prometheus_exposition_parses_back() {
    let mut reg = Registry::new(1_795_700_000_000);
    reg.observe(&record("categories", "hit", 200, 3));
    reg.observe(&record("categories", "hit", 200, 4));
    reg.observe(&record("categories", "miss", 200, 60));
    let mut fell_back = record("search", "miss", 200, 120);
    fell_back.fallback = true;
    reg.observe(&fell_back);
    let memory = MemoryStats {
        entries: 3,
        used_bytes: 4096,
        capacity_bytes: 8 << 20,
        hits: 10,
        misses: 2,
        evictions: 1,
    };
    let budget = StoreBudget::new(24 << 20);
    let _held = budget.reserve(5 << 20);
    budget.record(StoreOutcome::Stored { bytes: 9_000 });
    budget.record(StoreOutcome::NotStored(NoStoreReason::TooLarge));
    budget.record(StoreOutcome::NotStored(NoStoreReason::Budget));
    budget.record(StoreOutcome::NotStored(NoStoreReason::Budget));
    let samples = parse(
        &(reg.exposition() + &memory_exposition(&memory) + &store_exposition(&budget.stats())),
    );
    let get = |name: &str, labels: &[(&str, &str)]| {
        let key: BTreeMap<String, String> = labels
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        samples.get(&(name.to_string(), key)).copied()
    };
    let hit = [
        ("route", "categories"),
        ("variant", "canary"),
        ("outcome", "hit"),
    ];
    assert_eq!(
        get(
            "catalog_edge_requests_total",
            &[hit[0], hit[1], hit[2], ("status", "2xx")]
        ),
        Some(2.0)
    );
    assert_eq!(
        get("catalog_edge_request_duration_seconds_count", &hit),
        Some(2.0)
    );
    assert_eq!(
        get("catalog_edge_request_duration_seconds_sum", &hit),
        Some(0.007)
    );
    let with_le = |le: &str| {
        let mut l = hit.to_vec();
        l.push(("le", le));
        get("catalog_edge_request_duration_seconds_bucket", &l)
            .unwrap_or_else(|| panic!("no bucket le={le}"))
    };
    assert_eq!(with_le("0.002"), 0.0);
    assert_eq!(with_le("0.005"), 2.0);
    assert_eq!(with_le("+Inf"), 2.0);
    // Buckets are cumulative: never falling; bounds are stated in seconds.
    let mut last = 0.0;
    for b in BUCKETS_MS {
        let v = with_le(&(b as f64 / 1000.0).to_string());
        assert!(v >= last);
        last = v;
    }
    assert_eq!(
        get(
            "catalog_edge_canary_fallbacks_total",
            &[("route", "search"), ("variant", "canary")]
        ),
        Some(1.0)
    );
    assert_eq!(
        get(
            "catalog_edge_origin_duration_seconds_count",
            &[("route", "categories"), ("variant", "canary")]
        ),
        Some(1.0)
    );
    assert_eq!(
        get("catalog_edge_isolate_start_time_seconds", &[]),
        Some(1_795_700_000.0)
    );
    assert_eq!(get("catalog_edge_memory_cache_hits_total", &[]), Some(10.0));
    assert_eq!(get("catalog_edge_memory_cache_bytes", &[]), Some(4096.0));
    assert_eq!(
        get("catalog_edge_memory_cache_capacity_bytes", &[]),
        Some(8_388_608.0)
    );
    assert_eq!(
        get("catalog_edge_store_buffer_bytes", &[]),
        Some(5_242_880.0)
    );
    assert_eq!(
        get("catalog_edge_store_buffer_capacity_bytes", &[]),
        Some(25_165_824.0)
    );
    assert_eq!(get("catalog_edge_stores_total", &[]), Some(1.0));
    assert_eq!(
        get(
            "catalog_edge_store_not_stored_total",
            &[("reason", "store-budget")]
        ),
        Some(2.0)
    );
    assert_eq!(
        get(
            "catalog_edge_store_not_stored_total",
            &[("reason", "too-large")]
        ),
        Some(1.0)
    );
}

#[test]
fn metric_names_are_in_base_units() {
    let mut reg = Registry::new(1_795_700_000_000);
    reg.observe(&record("categories", "miss", 200, 60));
    let text = reg.exposition() + &memory_exposition(&MemoryStats::default());
    let types: Vec<(&str, &str)> = text
        .lines()
        .filter_map(|l| l.strip_prefix("# TYPE "))
        .filter_map(|l| l.split_once(' '))
        .collect();
    assert!(types.len() >= 10, "{types:?}");
    for (name, kind) in types {
        // Prometheus naming: seconds and bytes, never milliseconds.
        assert!(!name.contains("_ms"), "{name} is not in a base unit");
        if kind == "histogram" {
            assert!(name.ends_with("_seconds"), "{name}");
        }
    }
}

#[test]
fn series_print_in_label_order_whatever_order_the_requests_came_in() {
    let mut m = Registry::new(0);
    for (route, outcome, status) in [
        ("search", "miss", 200),
        ("categories", "hit", 200),
        ("search", "hit", 503),
        ("categories", "hit", 200),
        ("categories", "bypass", 404),
    ] {
        m.observe(&record(route, outcome, status, 10));
    }
    let text = m.exposition();
    let lines: Vec<&str> = text
        .lines()
        .filter(|l| l.starts_with("catalog_edge_requests_total{"))
        .map(|l| l.trim_start_matches("catalog_edge_requests_total"))
        .collect();
    assert_eq!(
        lines,
        [
            r#"{route="categories",variant="canary",outcome="bypass",status="4xx"} 1"#,
            r#"{route="categories",variant="canary",outcome="hit",status="2xx"} 2"#,
            r#"{route="search",variant="canary",outcome="hit",status="5xx"} 1"#,
            r#"{route="search",variant="canary",outcome="miss",status="2xx"} 1"#,
        ]
    );
}
