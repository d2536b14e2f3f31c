//! End-to-end: the preflight measures what `wrangler deploy --dry-run` would upload for both
//! workers (the built release workers, so `npm test` runs this after its wasm build), and the edge
//! worker's upload is within its size budget (`size::UPLOAD_GZIP_BUDGET_KIB`): this test is the
//! size gate of `npm test`.

use std::path::Path;
use std::process::Command;

use preflight::size::UPLOAD_GZIP_BUDGET_KIB;

/// A production-like configuration written to a scratch file, with absolute paths (wrangler
/// resolves `main` and the assets directory from the config's folder).
fn scratch(name: &str, text: &str) -> std::path::PathBuf {
    let path = std::env::temp_dir().join(format!(
        "catalog-edge-e2e-preflight-{}-{name}.toml",
        std::process::id()
    ));
    std::fs::write(&path, text).unwrap();
    path
}

#[test]
fn the_edge_upload_is_within_its_budget_and_both_workers_are_measured() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap();
    for built in ["build/index_bg.wasm", "build-objects/index_bg.wasm"] {
        assert!(
            root.join(built).exists(),
            "{built} is missing: run `npm run build` (npm test does)"
        );
    }
    let vars = r#"[vars]
ORIGIN_URL = "https://api.example.rs"
PUBLIC_URL = "https://catalog.example.rs"
[[kv_namespaces]]
binding = "EDGE_CONFIG"
id = "0123456789abcdef0123456789abcdef"
"#;
    let edge = scratch(
        "edge",
        &format!(
            r#"name = "catalog-edge"
main = "{root}/build/index.js"
compatibility_date = "2026-11-01"
{vars}
[[durable_objects.bindings]]
name = "CONTROL"
class_name = "ControlPlane"
script_name = "catalog-edge-objects"
[[durable_objects.bindings]]
name = "METRICS"
class_name = "MetricsShard"
script_name = "catalog-edge-objects"
[secrets]
required = ["ADMIN_TOKEN"]
[assets]
directory = "{root}/www"
binding = "ASSETS"
run_worker_first = true
"#,
            root = root.display()
        ),
    );
    let objects = scratch(
        "objects",
        &format!(
            r#"name = "catalog-edge-objects"
main = "{root}/build-objects/index.js"
compatibility_date = "2026-11-01"
{vars}
[[durable_objects.bindings]]
name = "CONTROL"
class_name = "ControlPlane"
[[durable_objects.bindings]]
name = "METRICS"
class_name = "MetricsShard"
[[migrations]]
tag = "v1"
new_sqlite_classes = ["ControlPlane", "MetricsShard"]
"#,
            root = root.display()
        ),
    );
    let bin_dir = root.join("node_modules/.bin");
    let out = Command::new(env!("CARGO_BIN_EXE_preflight"))
        .current_dir(root)
        .env(
            "PATH",
            format!(
                "{}:{}",
                bin_dir.display(),
                std::env::var("PATH").unwrap_or_default()
            ),
        )
        .arg("--config")
        .arg(&edge)
        .arg("--objects-config")
        .arg(&objects)
        .output()
        .expect("run preflight");
    let _ = std::fs::remove_file(&edge);
    let _ = std::fs::remove_file(&objects);
    let text =
        String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr);
    println!("{text}");
    let line = |subject: &str| {
        text.lines()
            .find(|l| {
                l.split_whitespace()
                    .skip(1)
                    .collect::<Vec<_>>()
                    .join(" ")
                    .starts_with(subject)
            })
            .unwrap_or_else(|| panic!("no {subject:?} line:\n{text}"))
            .to_string()
    };
    // The edge's upload, as wrangler reports it, against the budget: over it, this fails.
    let upload = line("upload ");
    let gzip_kib: f64 = upload
        .split("gzip ")
        .nth(1)
        .and_then(|r| r.split_whitespace().next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("no gzip figure in {upload:?}"));
    assert!(
        gzip_kib <= UPLOAD_GZIP_BUDGET_KIB,
        "the edge worker's upload is {gzip_kib} KiB gzip, over its budget of {UPLOAD_GZIP_BUDGET_KIB} KiB \
         (preflight/src/size.rs; README: Performance says where the size goes):\n{upload}"
    );
    assert!(upload.trim_start().starts_with("ok"), "{upload}");
    assert!(
        upload.contains(&format!("of the {UPLOAD_GZIP_BUDGET_KIB} KiB gzip budget")),
        "{upload}"
    );
    let wasm = line("wasm size ");
    let bytes: u64 = wasm
        .split_whitespace()
        .skip_while(|w| *w != "size")
        .nth(1)
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("no byte count in {wasm:?}"));
    assert!(bytes > 100_000, "{wasm}");
    // The objects worker is measured too (no budget of its own beyond Cloudflare's limits).
    let objects_upload = line("upload catalog-edge-objects");
    assert!(
        objects_upload.trim_start().starts_with("ok") && objects_upload.contains(" KiB, gzip "),
        "{objects_upload}"
    );
    assert!(out.status.success(), "{text}");
}
