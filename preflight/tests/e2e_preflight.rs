//! End-to-end: the preflight measures what `wrangler deploy --dry-run` would upload (the built
//! release worker, so `npm test` runs this after its wasm build) and reports it against the
//! budget.

use std::path::Path;
use std::process::Command;

#[test]
fn the_upload_is_measured_and_reported_against_the_budget() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap();
    assert!(
        root.join("build/index_bg.wasm").exists(),
        "build/ is missing: run `npm run build` (npm test does)"
    );
    // wrangler resolves `main` and the assets directory from the config's folder: absolute
    // paths let the production-like config live in a scratch file.
    let toml = std::env::temp_dir().join(format!(
        "catalog-edge-e2e-preflight-{}.toml",
        std::process::id()
    ));
    std::fs::write(
        &toml,
        format!(
            r#"name = "catalog-edge"
main = "{root}/build/index.js"
compatibility_date = "2026-11-01"
[vars]
ORIGIN_URL = "https://api.example.rs"
PUBLIC_URL = "https://catalog.example.rs"
[[kv_namespaces]]
binding = "EDGE_CONFIG"
id = "0123456789abcdef0123456789abcdef"
[secrets]
required = ["ADMIN_TOKEN"]
[assets]
directory = "{root}/www"
binding = "ASSETS"
run_worker_first = true
"#,
            root = root.display()
        ),
    )
    .unwrap();
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
        .arg(&toml)
        .output()
        .expect("run preflight");
    let _ = std::fs::remove_file(&toml);
    let text =
        String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr);
    println!("{text}");
    let wasm = text
        .lines()
        .find(|l| l.contains(" wasm size "))
        .unwrap_or_else(|| panic!("no wasm size line:\n{text}"));
    let bytes: u64 = wasm
        .split_whitespace()
        .skip_while(|w| *w != "size")
        .nth(1)
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("no byte count in {wasm:?}"));
    assert!(bytes > 100_000, "{wasm}");
    assert!(wasm.contains("of the 300000 B budget"), "{wasm}");
    // The verdict follows the number: within budget passes, over it refuses.
    let within = bytes <= 300_000;
    assert_eq!(wasm.trim_start().starts_with("ok"), within, "{wasm}");
    assert_eq!(out.status.success(), within, "{text}");
    let upload = text
        .lines()
        .find(|l| l.contains(" upload "))
        .unwrap_or_else(|| panic!("no upload line:\n{text}"));
    assert!(
        upload.contains(" KiB, gzip ") && upload.trim_start().starts_with("ok"),
        "{upload}"
    );
}
