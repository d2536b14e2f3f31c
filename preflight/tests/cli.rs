//! The preflight as `npm run preflight` runs it: on the checked-in wrangler.toml (the dev stack's
//! loopback vars and placeholder KV id: refused, with the reasons) and on a production-like
//! configuration (passes). `--no-size` keeps these off the build; `e2e_preflight.rs` measures.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("workspace root")
        .to_path_buf()
}

fn preflight(args: &[&str]) -> (i32, String) {
    let Output {
        status,
        stdout,
        stderr,
    } = Command::new(env!("CARGO_BIN_EXE_preflight"))
        .current_dir(repo_root())
        .args(args)
        .output()
        .expect("run preflight");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&stdout),
        String::from_utf8_lossy(&stderr)
    );
    (status.code().unwrap_or(-1), text)
}

/// A production-like wrangler.toml in a scratch file.
fn production_toml(extra: &str) -> tempfile::Path {
    tempfile::Path::with(&format!(
        r#"
name = "catalog-edge"
main = "build/index.js"
[vars]
ORIGIN_URL = "https://api.example.rs"
PUBLIC_URL = "https://catalog.example.rs"
CANARY_ORIGIN_URL = "https://canary.example.rs"
[[kv_namespaces]]
binding = "EDGE_CONFIG"
id = "0123456789abcdef0123456789abcdef"
[secrets]
required = ["ADMIN_TOKEN"]
[triggers]
crons = ["0 */6 * * *"]
{extra}
"#
    ))
}

mod tempfile {
    //! A file removed on drop.
    use std::sync::atomic::{AtomicU32, Ordering};

    pub struct Path(pub std::path::PathBuf);

    impl Path {
        pub fn with(text: &str) -> Path {
            static N: AtomicU32 = AtomicU32::new(0);
            let p = std::env::temp_dir().join(format!(
                "catalog-edge-preflight-test-{}-{}.toml",
                std::process::id(),
                N.fetch_add(1, Ordering::SeqCst)
            ));
            std::fs::write(&p, text).expect("write temp file");
            Path(p)
        }

        pub fn arg(&self) -> &str {
            self.0.to_str().unwrap()
        }
    }

    impl Drop for Path {
        fn drop(&mut self) {
            let _ = std::fs::remove_file(&self.0);
        }
    }
}

#[test]
fn the_checked_in_dev_configuration_is_refused_with_every_reason() {
    let (code, out) = preflight(&["--no-size"]);
    assert_eq!(code, 1, "{out}");
    for expected in [
        "REFUSE ORIGIN_URL",
        "http://127.0.0.1:9001 is a loopback address",
        "REFUSE CANARY_ORIGIN_URL",
        "REFUSE PUBLIC_URL",
        "http://localhost:8787 is localhost",
        "REFUSE kv EDGE_CONFIG",
        "is the placeholder",
        "preflight: refused",
    ] {
        assert!(out.contains(expected), "missing {expected:?} in:\n{out}");
    }
}

#[test]
fn force_goes_ahead_and_repeats_the_reasons_it_overrides() {
    let (code, out) = preflight(&["--no-size", "--force"]);
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("--force: deploying despite"), "{out}");
    assert!(
        out.contains("  - ORIGIN_URL: http://127.0.0.1:9001 is a loopback address"),
        "{out}"
    );
}

#[test]
fn command_line_vars_are_what_is_checked() {
    let (code, out) = preflight(&[
        "--no-size",
        "--var",
        "ORIGIN_URL:https://api.example.rs",
        "--var",
        "CANARY_ORIGIN_URL:https://canary.example.rs",
        "--var",
        "PUBLIC_URL:https://catalog.example.rs",
    ]);
    assert_eq!(code, 1, "{out}");
    assert!(out.contains("ok     ORIGIN_URL"), "{out}");
    assert!(out.contains("REFUSE kv EDGE_CONFIG"), "{out}");
    // The same overrides reach the objects worker (wrangler.objects.toml): its vars are the
    // edge's, and only its placeholder KV id is refused.
    let objects = out
        .lines()
        .find(|l| l.contains(" worker catalog-edge-objects "))
        .unwrap_or_else(|| panic!("no objects worker line in:\n{out}"));
    assert!(objects.trim_start().starts_with("ok"), "{objects}");
    assert!(objects.contains("its 6 vars are the edge's"), "{objects}");
    assert!(
        out.contains("REFUSE kv EDGE_CONFIG (catalog-edge-objects)"),
        "{out}"
    );
    assert!(out.contains("refused (2 reason(s)"), "{out}");
}

#[test]
fn a_production_configuration_passes() {
    let toml = production_toml("");
    let (code, out) = preflight(&["--no-size", "--config", toml.arg()]);
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("preflight: passed"), "{out}");
    assert!(out.contains("note   secret ADMIN_TOKEN"), "{out}");
}

#[test]
fn a_durable_object_without_its_migration_and_a_short_secret_are_refused() {
    let toml = production_toml(
        r#"[[durable_objects.bindings]]
name = "CONTROL"
class_name = "ControlPlane""#,
    );
    let secrets = tempfile::Path::with("ADMIN_TOKEN=short\n");
    let (code, out) = preflight(&[
        "--no-size",
        "--config",
        toml.arg(),
        "--secrets-file",
        secrets.arg(),
    ]);
    assert_eq!(code, 1, "{out}");
    assert!(out.contains("REFUSE durable object CONTROL"), "{out}");
    assert!(out.contains("REFUSE secret ADMIN_TOKEN"), "{out}");
}

#[test]
fn bad_arguments_and_missing_files_exit_2_with_the_reason() {
    let (code, out) = preflight(&["--var", "NOCOLON"]);
    assert_eq!(code, 2);
    assert!(out.contains("expected NAME:VALUE"), "{out}");
    let (code, out) = preflight(&["--config", "/nonexistent/wrangler.toml"]);
    assert_eq!(code, 2);
    assert!(out.contains("/nonexistent/wrangler.toml"), "{out}");
    let (code, out) = preflight(&["--no-size", "--env", "staging"]);
    assert_eq!(code, 2);
    assert!(out.contains("no [env.staging]"), "{out}");
}
