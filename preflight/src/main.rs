//! `preflight [--env NAME] [--var NAME:VALUE]... [--secrets-file PATH] [--config PATH]
//! [--objects-config PATH] [--force] [--no-size]`: the deploy checks of the edge worker
//! (`--config`, wrangler.toml) and, when its Durable Object bindings name another worker, of that
//! objects worker (`--objects-config`, wrangler.objects.toml), printed one line each; exit 1 when
//! any refuses (0 with `--force`, which prints the reasons it overrides). Other `wrangler deploy`
//! options are accepted and ignored, so that `npm run deploy` can pass its arguments to both.
#![forbid(unsafe_code)]

use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode};

use preflight::checks::{self, Finding, Verdict};
use preflight::size;
use preflight::wrangler;

const USAGE: &str = "usage: npm run preflight -- [--env NAME] [--var NAME:VALUE]... [--secrets-file PATH] [--config PATH] [--objects-config PATH] [--force] [--no-size]";

#[derive(Debug, Default)]
struct Args {
    env: Option<String>,
    vars: Vec<(String, String)>,
    secrets_file: Option<PathBuf>,
    config: Option<PathBuf>,
    objects_config: Option<PathBuf>,
    force: bool,
    no_size: bool,
    ignored: Vec<String>,
}

fn parse_args(mut it: impl Iterator<Item = String>) -> Result<Args, String> {
    let mut a = Args::default();
    let value = |flag: &str, it: &mut dyn Iterator<Item = String>| {
        it.next()
            .ok_or_else(|| format!("{flag} needs a value\n{USAGE}"))
    };
    while let Some(arg) = it.next() {
        let (flag, inline) = match arg.split_once('=') {
            Some((f, v)) if f.starts_with("--") => (f.to_string(), Some(v.to_string())),
            _ => (arg.clone(), None),
        };
        let take = |it: &mut dyn Iterator<Item = String>| match &inline {
            Some(v) => Ok(v.clone()),
            None => value(&flag, it),
        };
        match flag.as_str() {
            "--env" | "-e" => a.env = Some(take(&mut it)?),
            "--var" => a.vars.push(wrangler::parse_var(&take(&mut it)?)?),
            "--secrets-file" => a.secrets_file = Some(take(&mut it)?.into()),
            "--config" | "-c" => a.config = Some(take(&mut it)?.into()),
            "--objects-config" => a.objects_config = Some(take(&mut it)?.into()),
            "--force" => a.force = true,
            "--no-size" => a.no_size = true,
            "-h" | "--help" => return Err(USAGE.to_string()),
            other if other.starts_with('-') => a.ignored.push(arg.clone()),
            _ => a.ignored.push(arg.clone()),
        }
    }
    Ok(a)
}

/// The wrangler and node binaries of the project (npm ci puts them in node_modules/.bin).
fn tool(name: &str) -> PathBuf {
    let local = Path::new("node_modules/.bin").join(name);
    if local.exists() {
        local
    } else {
        PathBuf::from(name)
    }
}

/// Runs `wrangler deploy --dry-run --outdir DIR` for the worker of `config` with the deploy's
/// options; returns the upload line (parsed) and the Wasm module's gzip size, printing
/// wrangler's output when it fails.
fn measure(args: &Args, config: Option<&Path>) -> (Option<size::Upload>, Option<u64>) {
    static N: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
    let outdir = std::env::temp_dir().join(format!(
        "catalog-edge-preflight-{}-{}",
        std::process::id(),
        N.fetch_add(1, std::sync::atomic::Ordering::SeqCst)
    ));
    let _ = std::fs::remove_dir_all(&outdir);
    let mut cmd = Command::new(tool("wrangler"));
    cmd.args(["deploy", "--dry-run", "--outdir"])
        .arg(&outdir)
        .env("WRANGLER_SEND_METRICS", "false")
        .env("CLOUDFLARE_CF_FETCH_ENABLED", "false");
    if let Some(e) = &args.env {
        cmd.args(["--env", e]);
    }
    if let Some(c) = config {
        cmd.arg("--config").arg(c);
    }
    for (k, v) in &args.vars {
        cmd.args(["--var", &format!("{k}:{v}")]);
    }
    let out = match cmd.output() {
        Ok(o) => o,
        Err(e) => {
            eprintln!(
                "preflight: could not run {}: {e}",
                tool("wrangler").display()
            );
            return (None, None);
        }
    };
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    let upload = size::parse_total_upload(&text);
    if !out.status.success() || upload.is_none() {
        eprintln!("preflight: `wrangler deploy --dry-run` said:\n{text}");
    }
    let wasm = std::fs::read_dir(&outdir).ok().and_then(|dir| {
        dir.filter_map(Result::ok)
            .map(|e| e.path())
            .find(|p| p.extension().is_some_and(|x| x == "wasm"))
    });
    let gzip = wasm.and_then(|p| gzip_bytes(&p));
    let _ = std::fs::remove_dir_all(&outdir);
    (upload, gzip)
}

/// The gzip size of a file at zlib level 6, computed by Node's zlib: the same figure
/// `npm run bench` reports.
fn gzip_bytes(path: &Path) -> Option<u64> {
    let out = Command::new(tool("node"))
        .args([
            "-e",
            "process.stdout.write(String(require('node:zlib').gzipSync(require('node:fs').readFileSync(process.argv[1]), {level: 6}).length))",
        ])
        .arg(path)
        .output()
        .ok()?;
    String::from_utf8_lossy(&out.stdout).trim().parse().ok()
}

fn print(findings: &[Finding]) {
    let width = findings.iter().map(|f| f.subject.len()).max().unwrap_or(0);
    for f in findings {
        println!(
            "  {:<6} {:<width$}  {}",
            f.verdict.as_str(),
            f.subject,
            f.message
        );
    }
}

/// Reads a wrangler configuration for `--env` with the `--var` overrides; exit code 2 and the
/// reason when it cannot.
fn read_config(path: &Path, args: &Args) -> Result<wrangler::Deploy, ExitCode> {
    let text = std::fs::read_to_string(path).map_err(|e| {
        eprintln!("preflight: {}: {e}", path.display());
        ExitCode::from(2)
    })?;
    wrangler::read(&text, args.env.as_deref(), &args.vars).map_err(|e| {
        eprintln!("preflight: {}: {e}", path.display());
        ExitCode::from(2)
    })
}

fn main() -> ExitCode {
    let args = match parse_args(std::env::args().skip(1)) {
        Ok(a) => a,
        Err(e) => {
            eprintln!("preflight: {e}");
            return ExitCode::from(2);
        }
    };
    let config_path = args
        .config
        .clone()
        .unwrap_or_else(|| "wrangler.toml".into());
    let deploy = match read_config(&config_path, &args) {
        Ok(d) => d,
        Err(code) => return code,
    };
    // The objects worker, when the edge binds its Durable Objects in another worker.
    let objects_path = args
        .objects_config
        .clone()
        .unwrap_or_else(|| "wrangler.objects.toml".into());
    let objects = match checks::objects_script(&deploy) {
        None => None,
        Some(_) => match read_config(&objects_path, &args) {
            Ok(d) => Some(d),
            Err(code) => return code,
        },
    };
    let secrets_file = match &args.secrets_file {
        None => None,
        Some(p) => match std::fs::read_to_string(p)
            .map_err(|e| format!("{}: {e}", p.display()))
            .and_then(|t| checks::parse_secrets_file(&t))
        {
            Ok(s) => Some(s),
            Err(e) => {
                eprintln!("preflight: {e}");
                return ExitCode::from(2);
            }
        },
    };

    println!(
        "preflight: {} ({}{}){}",
        deploy.name,
        config_path.display(),
        deploy
            .env
            .as_deref()
            .map(|e| format!(", env {e}"))
            .unwrap_or_default(),
        objects
            .as_ref()
            .map(|o| format!(" and {} ({})", o.name, objects_path.display()))
            .unwrap_or_default()
    );
    if !args.ignored.is_empty() {
        println!(
            "  (passed on to wrangler, not checked: {})",
            args.ignored.join(" ")
        );
    }
    let mut findings = checks::urls(&deploy);
    findings.extend(checks::worker_config(&deploy));
    findings.extend(checks::kv_namespaces(&deploy));
    findings.extend(checks::durable_objects(&deploy));
    findings.extend(checks::secrets(&deploy, secrets_file.as_deref()));
    if let Some(o) = &objects {
        findings.extend(checks::objects_worker(&deploy, o));
        findings.extend(checks::durable_objects(o));
        findings.extend(checks::kv_namespaces(o).into_iter().map(|f| Finding {
            subject: format!("{} ({})", f.subject, o.name),
            ..f
        }));
    }
    if args.no_size {
        findings.push(Finding {
            verdict: Verdict::Note,
            subject: "size".into(),
            message: "not measured (--no-size)".into(),
        });
    } else {
        let (upload, wasm) = measure(&args, args.config.as_deref());
        findings.extend(size::size(
            "",
            upload,
            wasm,
            Some(size::UPLOAD_GZIP_BUDGET_KIB),
        ));
        if let Some(o) = &objects {
            let (upload, wasm) = measure(&args, Some(&objects_path));
            findings.extend(size::size(&o.name, upload, wasm, None));
        }
    }
    print(&findings);

    let refusals: Vec<&Finding> = findings
        .iter()
        .filter(|f| f.verdict == Verdict::Refuse)
        .collect();
    if refusals.is_empty() {
        println!("preflight: passed");
        return ExitCode::SUCCESS;
    }
    if args.force {
        println!(
            "preflight: --force: deploying despite {} reason(s) to refuse:",
            refusals.len()
        );
        for f in &refusals {
            println!("  - {}: {}", f.subject, f.message);
        }
        return ExitCode::SUCCESS;
    }
    println!(
        "preflight: refused ({} reason(s) above). Fix them (see README: Deploy), or add --force to deploy anyway.",
        refusals.len()
    );
    ExitCode::FAILURE
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(list: &[&str]) -> Result<Args, String> {
        parse_args(list.iter().map(|s| s.to_string()))
    }

    #[test]
    fn deploy_options_are_read_and_other_wrangler_options_passed_over() {
        let a = args(&[
            "--env=production",
            "--var",
            "ORIGIN_URL:https://api.example.rs",
            "--secrets-file",
            ".prod.secrets",
            "--message",
            "2026.11",
            "--force",
        ])
        .unwrap();
        assert_eq!(a.env.as_deref(), Some("production"));
        assert_eq!(
            a.vars,
            [("ORIGIN_URL".into(), "https://api.example.rs".into())]
        );
        assert_eq!(a.secrets_file, Some(PathBuf::from(".prod.secrets")));
        assert!(a.force);
        assert_eq!(a.ignored, ["--message", "2026.11"]);
    }

    #[test]
    fn a_flag_without_its_value_or_a_bad_var_is_an_error() {
        assert!(args(&["--env"])
            .unwrap_err()
            .contains("--env needs a value"));
        assert!(args(&["--var", "ORIGIN_URL"])
            .unwrap_err()
            .contains("NAME:VALUE"));
    }
}
