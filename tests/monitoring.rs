//! The monitoring files are valid JSON/YAML and carry the origin team's alert thresholds.

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
        let sql = p["targets"][0]["rawSql"].as_str().unwrap();
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
        ("catalog-edge-health", "lt", 1.0, "1m", "critical"),
    ];
    for (uid, op, value, for_, severity) in expect {
        let r = find(uid);
        assert_eq!(threshold(r), (op.to_string(), value), "{uid}");
        assert_eq!(r["for"], for_, "{uid}");
        assert_eq!(r["labels"]["severity"], severity, "{uid}");
        let sql = r["data"][0]["model"]["rawSql"].as_str().unwrap();
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
            "ServiceDown"
        ]
    );
    for r in rules {
        let expr = r["expr"].as_str().unwrap();
        assert!(
            expr.contains("catalog_edge_") || expr.contains("probe_success"),
            "{expr}"
        );
    }
    assert!(rules[0]["expr"].as_str().unwrap().ends_with("> 50"));
    assert!(rules[1]["expr"].as_str().unwrap().ends_with("> 100"));
    assert!(rules[2]["expr"].as_str().unwrap().ends_with("> 0.01"));
    assert!(rules[3]["expr"].as_str().unwrap().ends_with("< 0.7"));
}
