//! The monitoring files are valid JSON/YAML, carry the origin team's alert thresholds, ask the
//! datasource they name for what it reads, and are documented (the provisioning variable, every
//! log event the worker writes).

use std::path::PathBuf;

fn read(name: &str) -> String {
    let p = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("monitoring")
        .join(name);
    std::fs::read_to_string(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display()))
}

#[test]
fn the_grafana_dashboard_is_valid_json_querying_analytics_engine() {
    let d: serde_json::Value = serde_json::from_str(&read("grafana-dashboard.json")).unwrap();
    assert_eq!(d["uid"], "catalog-edge");
    let panels = d["panels"].as_array().unwrap();
    assert!(panels.len() >= 6);
    for p in panels {
        let sql = p["targets"][0]["query"].as_str().unwrap();
        assert!(sql.contains("FROM catalog_edge"), "{sql}");
        assert!(
            sql.contains("_sample_interval"),
            "sampled data is weighted: {sql}"
        );
    }
    let steps = |i: usize| panels[i]["fieldConfig"]["defaults"]["thresholds"]["steps"].clone();
    assert_eq!(steps(0)[1]["value"], 50);
    assert_eq!(steps(0)[2]["value"], 100);
    assert_eq!(steps(1)[1]["value"], 0.01);
    assert_eq!(steps(2)[1]["value"], 0.7);
}

fn threshold(rule: &serde_yaml::Value) -> (String, f64) {
    let c = rule["data"]
        .as_sequence()
        .unwrap()
        .iter()
        .find(|d| d["refId"] == "C")
        .unwrap();
    let ev = &c["model"]["conditions"][0]["evaluator"];
    (
        ev["type"].as_str().unwrap().to_string(),
        ev["params"][0].as_f64().unwrap(),
    )
}

#[test]
fn grafana_alerts_mirror_the_origin_teams_thresholds() {
    let y: serde_yaml::Value = serde_yaml::from_str(&read("grafana-alerts.yml")).unwrap();
    let rules = y["groups"][0]["rules"].as_sequence().unwrap();
    let find = |uid: &str| {
        rules
            .iter()
            .find(|r| r["uid"] == uid)
            .unwrap_or_else(|| panic!("{uid}"))
    };
    let expect = [
        ("catalog-edge-p95-warning", "gt", 50.0, "2m", "warning"),
        ("catalog-edge-p95-critical", "gt", 100.0, "1m", "critical"),
        ("catalog-edge-error-rate", "gt", 0.01, "2m", "critical"),
        ("catalog-edge-hit-rate", "lt", 0.7, "5m", "warning"),
        (
            "catalog-edge-canary-error-rate",
            "gt",
            0.01,
            "2m",
            "critical",
        ),
        (
            "catalog-edge-canary-fallback-rate",
            "gt",
            0.01,
            "2m",
            "warning",
        ),
        ("catalog-edge-health", "lt", 1.0, "1m", "critical"),
    ];
    for (uid, op, value, for_, severity) in expect {
        let r = find(uid);
        assert_eq!(threshold(r), (op.to_string(), value), "{uid}");
        assert_eq!(r["for"], for_, "{uid}");
        assert_eq!(r["labels"]["severity"], severity, "{uid}");
        let sql = r["data"][0]["model"]["query"].as_str().unwrap();
        assert!(sql.contains("FROM catalog_edge"), "{uid}");
    }
}

#[test]
fn prometheus_rules_parse_and_use_the_exposed_metrics() {
    let y: serde_yaml::Value = serde_yaml::from_str(&read("prometheus-rules.yml")).unwrap();
    let rules = y["groups"][0]["rules"].as_sequence().unwrap();
    let names: Vec<&str> = rules.iter().map(|r| r["alert"].as_str().unwrap()).collect();
    assert_eq!(
        names,
        [
            "HighAPILatency",
            "CriticalAPILatency",
            "HighErrorRate",
            "LowCacheHitRate",
            "CanaryErrorRate",
            "CanaryFallbackRate",
            "ServiceDown",
            "CacheLookupFailures"
        ]
    );
    // The failed-lookup alert reads the counter the edge exposes.
    let exposed = catalog_edge::cache::lookups::LookupFailures::default().exposition();
    let expr = rules[7]["expr"].as_str().unwrap();
    assert!(
        expr.contains("catalog_edge_cache_lookup_failures_total"),
        "{expr}"
    );
    assert!(
        exposed.contains("\ncatalog_edge_cache_lookup_failures_total 0\n"),
        "{exposed}"
    );
    for r in &rules[4..6] {
        let expr = r["expr"].as_str().unwrap();
        assert!(expr.contains("variant=\"canary\""), "{expr}");
        assert!(expr.ends_with("> 0.01"), "{expr}");
    }
    for r in rules {
        let expr = r["expr"].as_str().unwrap();
        assert!(
            expr.contains("catalog_edge_") || expr.contains("probe_success"),
            "{expr}"
        );
    }
    // Seconds, Prometheus' base unit: 50 ms and 100 ms.
    assert!(rules[0]["expr"].as_str().unwrap().ends_with("> 0.05"));
    assert!(rules[1]["expr"].as_str().unwrap().ends_with("> 0.1"));
    for r in &rules[..2] {
        assert!(
            r["expr"]
                .as_str()
                .unwrap()
                .contains("catalog_edge_request_duration_seconds_bucket"),
            "{r:?}"
        );
    }
    assert!(rules[2]["expr"].as_str().unwrap().ends_with("> 0.01"));
    assert!(rules[3]["expr"].as_str().unwrap().ends_with("< 0.7"));
}

/// The JSON type a datasource plugin's backend decodes a query-model field into.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Json {
    Str,
    Bool,
    Int,
}

/// The query-model fields of the datasource plugins the monitoring files may name, as their
/// backends (which run Grafana's alert queries) decode them.
fn plugin_query_fields(plugin_id: &str) -> Option<&'static [(&'static str, Json)]> {
    use Json::*;
    match plugin_id {
        // The Altinity plugin for ClickHouse: `EvalQuery` in its backend (pkg/eval_query.go of
        // Altinity/clickhouse-grafana 3.x), which `QueryData` decodes each alert query into. The
        // SQL is `query`; `rawSql` is the Grafana Labs ClickHouse plugin's field and is ignored
        // here (an alert carrying only `rawSql` runs an empty query).
        "vertamedia-clickhouse-datasource" => Some(&[
            ("refId", Str),
            ("rawQuery", Bool),
            ("query", Str),
            ("dateTimeColDataType", Str),
            ("dateColDataType", Str),
            ("dateTimeType", Str),
            ("extrapolate", Bool),
            ("skip_comments", Bool),
            ("add_metadata", Bool),
            ("useWindowFuncForMacros", Bool),
            ("format", Str),
            ("round", Str),
            ("intervalFactor", Int),
            ("interval", Str),
            ("database", Str),
            ("table", Str),
        ]),
        _ => None,
    }
}

/// Fields Grafana itself keeps on every query model.
const GRAFANA_QUERY_FIELDS: &[&str] = &["datasource", "intervalMs", "maxDataPoints", "hide"];

/// Functions of the Workers Analytics Engine SQL API that the queries use (its SQL reference:
/// aggregate, date-time and conditional functions). `quantileWeighted` takes
/// `(level, expression, weight)` there, not ClickHouse's parametric `(level)(expression, weight)`.
const ANALYTICS_ENGINE_FUNCTIONS: &[&str] = &[
    "count",
    "sum",
    "avg",
    "min",
    "max",
    "countif",
    "sumif",
    "avgif",
    "quantileweighted",
    "tostartofinterval",
    "todatetime",
    "now",
    "if",
];

/// Keywords that may stand before a parenthesis without being a function call.
const SQL_KEYWORDS: &[&str] = &["in", "and", "or", "not", "from", "as", "where", "select"];

/// The function calls in a SQL text: `(lowercase name, number of arguments)`; string literals
/// are skipped.
fn calls(sql: &str) -> Vec<(String, usize)> {
    let chars: Vec<char> = sql.chars().collect();
    let mut out = Vec::new();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        if c == '\'' {
            i += 1;
            while i < chars.len() && chars[i] != '\'' {
                i += 1;
            }
            i += 1;
            continue;
        }
        if c.is_ascii_alphabetic() || c == '_' {
            let start = i;
            while i < chars.len() && (chars[i].is_ascii_alphanumeric() || chars[i] == '_') {
                i += 1;
            }
            let name: String = chars[start..i].iter().collect::<String>().to_lowercase();
            let mut j = i;
            while j < chars.len() && chars[j] == ' ' {
                j += 1;
            }
            if j < chars.len() && chars[j] == '(' && !SQL_KEYWORDS.contains(&name.as_str()) {
                let (mut depth, mut args, mut k, mut empty) = (0, 1, j + 1, true);
                while k < chars.len() {
                    match chars[k] {
                        '(' => depth += 1,
                        ')' if depth == 0 => break,
                        ')' => depth -= 1,
                        ',' if depth == 0 => args += 1,
                        ' ' => {}
                        _ => empty = false,
                    }
                    k += 1;
                }
                out.push((name, if empty { 0 } else { args }));
            }
            continue;
        }
        i += 1;
    }
    out
}

/// Checks one query model against the plugin's fields and the Analytics Engine SQL API.
fn check_model(plugin: &str, what: &str, model: &serde_json::Value) -> String {
    let fields = plugin_query_fields(plugin).unwrap_or_else(|| {
        panic!("{what}: no query fields known for datasource plugin {plugin}; add them from its backend source")
    });
    let obj = model
        .as_object()
        .unwrap_or_else(|| panic!("{what}: model is not an object"));
    for (key, value) in obj {
        if GRAFANA_QUERY_FIELDS.contains(&key.as_str()) {
            continue;
        }
        let Some((_, kind)) = fields.iter().find(|(f, _)| f == key) else {
            panic!("{what}: `{key}` is not a field {plugin} reads");
        };
        let ok = match kind {
            Json::Str => value.is_string(),
            Json::Bool => value.is_boolean(),
            Json::Int => value.is_i64(),
        };
        assert!(
            ok,
            "{what}: `{key}` must be a JSON {kind:?} for {plugin}, is {value}"
        );
    }
    let sql = model["query"]
        .as_str()
        .unwrap_or_else(|| panic!("{what}: no `query` (the field {plugin} runs)"));
    assert!(!sql.trim().is_empty(), "{what}: empty query");
    assert!(
        matches!(model["format"].as_str(), Some("time_series" | "table")),
        "{what}: format {} is not one {plugin} offers",
        model["format"]
    );
    // The plugin appends FORMAT JSON to every query and parses that.
    assert!(!sql.to_uppercase().contains("FORMAT "), "{what}: {sql}");
    assert!(
        !sql.contains(")("),
        "{what}: parametric calls are not Analytics Engine SQL: {sql}"
    );
    for (name, args) in calls(sql) {
        assert!(
            ANALYTICS_ENGINE_FUNCTIONS.contains(&name.as_str()),
            "{what}: {name}() is not an Analytics Engine SQL function: {sql}"
        );
        if name == "quantileweighted" {
            assert_eq!(
                args, 3,
                "{what}: quantileWeighted(level, expression, weight): {sql}"
            );
        }
    }
    sql.to_string()
}

/// The plugin id of the datasource the dashboard asks for as `DS_CF_ANALYTICS_ENGINE`.
fn named_plugin() -> String {
    let d: serde_json::Value = serde_json::from_str(&read("grafana-dashboard.json")).unwrap();
    d["__inputs"]
        .as_array()
        .unwrap()
        .iter()
        .find(|i| i["name"] == "DS_CF_ANALYTICS_ENGINE")
        .and_then(|i| i["pluginId"].as_str())
        .expect("the dashboard names its datasource plugin")
        .to_string()
}

#[test]
fn alert_queries_carry_the_fields_the_named_datasource_plugin_reads() {
    let plugin = named_plugin();
    assert_eq!(plugin, "vertamedia-clickhouse-datasource");
    let y: serde_yaml::Value = serde_yaml::from_str(&read("grafana-alerts.yml")).unwrap();
    let mut checked = 0;
    for rule in y["groups"][0]["rules"].as_sequence().unwrap() {
        for data in rule["data"].as_sequence().unwrap() {
            if data["datasourceUid"] == "__expr__" {
                continue;
            }
            let what = format!(
                "{}/{}",
                rule["uid"].as_str().unwrap(),
                data["refId"].as_str().unwrap()
            );
            assert_eq!(data["datasourceUid"], "${DS_CF_ANALYTICS_ENGINE}", "{what}");
            let model: serde_json::Value = serde_json::to_value(&data["model"]).unwrap();
            let sql = check_model(&plugin, &what, &model);
            assert!(
                sql.contains("FROM catalog_edge") && sql.contains("_sample_interval"),
                "{what}"
            );
            // Alerting has no dashboard, so no template variables.
            assert!(!sql.contains('$'), "{what}: {sql}");
            checked += 1;
        }
    }
    assert_eq!(
        checked, 7,
        "the origin team's five alerts and the canary's two"
    );
}

#[test]
fn dashboard_queries_carry_the_fields_the_named_datasource_plugin_reads() {
    let plugin = named_plugin();
    let d: serde_json::Value = serde_json::from_str(&read("grafana-dashboard.json")).unwrap();
    for p in d["panels"].as_array().unwrap() {
        assert_eq!(p["datasource"]["type"], plugin.as_str());
        for t in p["targets"].as_array().unwrap() {
            check_model(&plugin, p["title"].as_str().unwrap(), t);
        }
    }
}

#[test]
fn a_model_in_another_plugins_shape_is_refused() {
    // The shape the alerts had before: `rawSql` only (the Grafana Labs plugin's field).
    let model =
        serde_json::json!({"format": "time_series", "rawSql": "SELECT 1 FROM catalog_edge"});
    let refused =
        std::panic::catch_unwind(|| check_model("vertamedia-clickhouse-datasource", "old", &model));
    assert!(refused.is_err());
    let parametric = serde_json::json!({"format": "time_series",
        "query": "SELECT quantileWeighted(0.95)(double2, _sample_interval) FROM catalog_edge"});
    assert!(std::panic::catch_unwind(|| {
        check_model(
            "vertamedia-clickhouse-datasource",
            "parametric",
            &parametric,
        )
    })
    .is_err());
    assert_eq!(
        calls("SELECT sumIf(_sample_interval, blob3 IN ('a(b','c')) / sum(x) FROM t"),
        [("sumif".to_string(), 2), ("sum".to_string(), 1)]
    );
}

#[test]
fn the_provisioning_variable_is_documented() {
    let readme = read("README.md");
    assert!(read("grafana-alerts.yml").contains("${DS_CF_ANALYTICS_ENGINE}"));
    assert!(
        readme.contains("DS_CF_ANALYTICS_ENGINE"),
        "monitoring/README.md must say how to set DS_CF_ANALYTICS_ENGINE"
    );
}

/// Every `"event": "<name>"` (or `event: "<name>"`) the worker's code writes.
fn logged_events() -> std::collections::BTreeSet<String> {
    fn walk(dir: &std::path::Path, out: &mut Vec<PathBuf>) {
        for entry in std::fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                walk(&path, out);
            } else if path.extension().is_some_and(|e| e == "rs") {
                out.push(path);
            }
        }
    }
    let mut files = Vec::new();
    walk(
        &PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("src"),
        &mut files,
    );
    let mut events = std::collections::BTreeSet::new();
    for file in files {
        let text = std::fs::read_to_string(&file).unwrap();
        // `json!({"event": "x"})`, `event: "x"`, and a hand-written `{\"event\":\"x\"`.
        for marker in ["\"event\": \"", "event: \"", "\\\"event\\\":\\\""] {
            for (at, _) in text.match_indices(marker) {
                let rest = &text[at + marker.len()..];
                let name: String = rest
                    .chars()
                    .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
                    .collect();
                let closed =
                    rest[name.len()..].starts_with('"') || rest[name.len()..].starts_with("\\\"");
                if !name.is_empty() && closed {
                    events.insert(name);
                }
            }
        }
    }
    events
}

#[test]
fn every_log_event_the_worker_writes_is_documented() {
    let events = logged_events();
    for known in [
        "request",
        "rollout_change",
        "cache_purge",
        "scheduled_warmup",
    ] {
        assert!(
            events.contains(known),
            "{known} not found in src/: {events:?}"
        );
    }
    let readme = read("README.md");
    for e in &events {
        assert!(
            readme.contains(&format!("`{e}`")),
            "log event {e} is not documented in monitoring/README.md"
        );
    }
}
