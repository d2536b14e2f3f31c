//! The preflight checks: each takes the deploy configuration (and what else it needs) as plain
//! values and returns findings. A `Refuse` stops `npm run deploy` unless `--force` is given.

use std::net::{Ipv4Addr, Ipv6Addr};

use catalog_edge::config::{vars, EdgeConfig};
use url::{Host, Url};

use crate::wrangler::Deploy;

/// How a finding weighs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// The check passed.
    Pass,
    /// The deploy must not go ahead (unless forced).
    Refuse,
    /// Worth knowing; does not stop the deploy.
    Note,
}

impl Verdict {
    /// A fixed word for the report.
    pub fn as_str(self) -> &'static str {
        match self {
            Verdict::Pass => "ok",
            Verdict::Refuse => "REFUSE",
            Verdict::Note => "note",
        }
    }
}

/// One result of one check.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Finding {
    /// Pass, refuse or note.
    pub verdict: Verdict,
    /// What was checked (a var, a binding, `secrets`, `size`).
    pub subject: String,
    /// What was found, and for a refusal what to do.
    pub message: String,
}

impl Finding {
    fn new(verdict: Verdict, subject: impl Into<String>, message: impl Into<String>) -> Finding {
        Finding {
            verdict,
            subject: subject.into(),
            message: message.into(),
        }
    }
}

/// Secrets the worker needs in production.
pub const REQUIRED_SECRETS: &[&str] = &[vars::ADMIN_TOKEN];

/// Why a host is not reachable from a deployed worker, if it is local to the machine that runs
/// it: `localhost` and `*.localhost` (RFC 6761), loopback and unspecified addresses.
pub fn local_host_reason(host: &Host<&str>) -> Option<&'static str> {
    match host {
        Host::Domain(d) => {
            let d = d.trim_end_matches('.').to_ascii_lowercase();
            (d == "localhost" || d.ends_with(".localhost")).then_some("localhost")
        }
        Host::Ipv4(ip) => {
            if ip.is_loopback() {
                Some("a loopback address")
            } else if *ip == Ipv4Addr::UNSPECIFIED {
                Some("the unspecified address")
            } else {
                None
            }
        }
        Host::Ipv6(ip) => {
            let mapped = ip.to_ipv4_mapped();
            if ip.is_loopback() || mapped.is_some_and(|v4| v4.is_loopback()) {
                Some("a loopback address")
            } else if *ip == Ipv6Addr::UNSPECIFIED {
                Some("the unspecified address")
            } else {
                None
            }
        }
    }
}

/// What a missing URL var means.
enum WhenMissing {
    /// The deploy is refused, for this reason.
    Refuse(&'static str),
    /// Only noted, with this explanation.
    Note(&'static str),
}

/// One URL var: present (when required), http(s), and not local to the deploying machine.
/// `what` names what it should point at.
fn url_var(deploy: &Deploy, name: &str, what: &str, missing: WhenMissing) -> Finding {
    let fix = format!(
        "set it with `npm run deploy -- --var {name}:https://…` or in wrangler.toml [vars]"
    );
    let Some(raw) = deploy
        .vars
        .get(name)
        .map(|v| v.trim())
        .filter(|v| !v.is_empty())
    else {
        return match missing {
            WhenMissing::Refuse(why) => {
                Finding::new(Verdict::Refuse, name, format!("is not set ({why}); {fix}"))
            }
            WhenMissing::Note(text) => {
                Finding::new(Verdict::Note, name, format!("not set: {text}"))
            }
        };
    };
    let url = match Url::parse(raw) {
        Ok(u) if matches!(u.scheme(), "http" | "https") => u,
        Ok(u) => {
            return Finding::new(
                Verdict::Refuse,
                name,
                format!("{raw}: scheme {} is not http(s); {fix}", u.scheme()),
            )
        }
        Err(e) => {
            return Finding::new(
                Verdict::Refuse,
                name,
                format!("{raw} is not a URL ({e}); {fix}"),
            )
        }
    };
    if let Some(reason) = url.host().as_ref().and_then(local_host_reason) {
        return Finding::new(
            Verdict::Refuse,
            name,
            format!(
                "{raw} is {reason}: deployed, it would name the data centre's own machine, not {what}; {fix}"
            ),
        );
    }
    Finding::new(Verdict::Pass, name, raw.to_string())
}

/// The origins and the worker's public URL.
pub fn urls(deploy: &Deploy) -> Vec<Finding> {
    let public_missing = if deploy.crons.is_empty() {
        WhenMissing::Note("no cron trigger needs it")
    } else {
        WhenMissing::Refuse(
            "the cron warmup fills the cache for this host and is skipped without it",
        )
    };
    vec![
        url_var(
            deploy,
            vars::ORIGIN_URL,
            "the catalog API",
            WhenMissing::Refuse("every request is forwarded there"),
        ),
        url_var(
            deploy,
            vars::CANARY_ORIGIN_URL,
            "the canary backend",
            WhenMissing::Note(
                "no default canary origin (a rollout configuration can still name one)",
            ),
        ),
        url_var(
            deploy,
            vars::PUBLIC_URL,
            "the worker itself",
            public_missing,
        ),
    ]
}

/// The worker's own check of its vars (what `/__edge/health` would report): every error it would
/// answer `503 config_invalid` for.
pub fn worker_config(deploy: &Deploy) -> Vec<Finding> {
    match EdgeConfig::from_vars(|name| deploy.vars.get(name).cloned()) {
        Ok(_) => vec![Finding::new(
            Verdict::Pass,
            "vars",
            "the worker's configuration check passes",
        )],
        Err(errors) => errors
            .iter()
            .map(|e| {
                Finding::new(
                    Verdict::Refuse,
                    "vars",
                    format!("the worker would answer 503 config_invalid: {e}"),
                )
            })
            .collect(),
    }
}

/// KV namespace ids: created ones, not the placeholder.
pub fn kv_namespaces(deploy: &Deploy) -> Vec<Finding> {
    deploy
        .kv_namespaces
        .iter()
        .map(|kv| {
            let subject = format!("kv {}", kv.binding);
            let create = format!(
                "create it with `npx wrangler kv namespace create {}` and put its id in wrangler.toml",
                kv.binding
            );
            match kv.id.as_deref().map(str::trim) {
                None | Some("") => Finding::new(Verdict::Refuse, subject, format!("has no id; {create}")),
                Some(id) if id.bytes().all(|b| b == b'0') => Finding::new(
                    Verdict::Refuse,
                    subject,
                    format!("id {id} is the placeholder; {create}"),
                ),
                Some(id) if id.len() != 32 || !id.bytes().all(|b| b.is_ascii_hexdigit()) => {
                    Finding::new(
                        Verdict::Refuse,
                        subject,
                        format!("id {id} is not a namespace id (32 hex digits); {create}"),
                    )
                }
                Some(id) => Finding::new(Verdict::Pass, subject, id.to_string()),
            }
        })
        .collect()
}

/// Durable Object classes defined by this worker: each created by a migration and not deleted
/// by a later one (else the deploy fails, or the binding points at nothing).
pub fn durable_objects(deploy: &Deploy) -> Vec<Finding> {
    deploy
        .durable_objects
        .iter()
        .map(|b| {
            let subject = format!("durable object {}", b.name);
            if b.script_name.as_deref().is_some_and(|s| s != deploy.name) {
                return Finding::new(
                    Verdict::Note,
                    subject,
                    format!(
                        "class {} lives in worker {}: its migrations are that worker's",
                        b.class_name,
                        b.script_name.as_deref().unwrap_or_default()
                    ),
                );
            }
            let mut alive: Option<&str> = None;
            for m in &deploy.migrations {
                let created = m.new_classes.iter().chain(&m.new_sqlite_classes).any(|c| *c == b.class_name)
                    || m.renamed_classes.iter().any(|r| r.to == b.class_name);
                if created {
                    alive = Some(&m.tag);
                }
                let gone = m.deleted_classes.contains(&b.class_name)
                    || m.renamed_classes.iter().any(|r| r.from == b.class_name);
                if gone {
                    alive = None;
                }
            }
            match alive {
                Some(tag) => Finding::new(
                    Verdict::Pass,
                    subject,
                    format!("class {} created by migration {tag}", b.class_name),
                ),
                None => Finding::new(
                    Verdict::Refuse,
                    subject,
                    format!(
                        "class {} has no [[migrations]] entry creating it (or a later one deletes it); add one, e.g. [[migrations]] tag = \"v1\" new_sqlite_classes = [\"{}\"]",
                        b.class_name, b.class_name
                    ),
                ),
            }
        })
        .collect()
}

/// The worker that holds the edge's Durable Objects (`script_name` in the edge's bindings), if
/// any: its name, for the objects worker's checks ([`objects_worker`]).
pub fn objects_script(edge: &Deploy) -> Option<&str> {
    edge.durable_objects
        .iter()
        .find_map(|b| b.script_name.as_deref())
        .filter(|s| *s != edge.name)
}

/// The objects worker (wrangler.objects.toml) against the edge that binds its classes: it is the
/// worker the bindings name, it defines (and migrates) every class they bind, and its vars are
/// the edge's (the control plane decides with the same configuration as the edges: origins,
/// rules, canary defaults, thresholds). Its KV ids and migrations are checked by the other
/// checks, run on it too.
pub fn objects_worker(edge: &Deploy, objects: &Deploy) -> Vec<Finding> {
    let mut out = Vec::new();
    let subject = format!("worker {}", objects.name);
    for b in edge
        .durable_objects
        .iter()
        .filter(|b| b.script_name.is_some())
    {
        let script = b.script_name.as_deref().unwrap_or_default();
        if script != objects.name {
            out.push(Finding::new(
                Verdict::Refuse,
                format!("durable object {}", b.name),
                format!(
                    "binds class {} in worker {script}, but the objects configuration is worker {}",
                    b.class_name, objects.name
                ),
            ));
        } else if !objects
            .durable_objects
            .iter()
            .any(|o| o.class_name == b.class_name && o.script_name.is_none())
        {
            out.push(Finding::new(
                Verdict::Refuse,
                format!("durable object {}", b.name),
                format!(
                    "class {} is not defined by worker {script} (no binding without script_name)",
                    b.class_name
                ),
            ));
        }
    }
    let differing: Vec<String> = edge
        .vars
        .keys()
        .chain(objects.vars.keys())
        .filter(|k| edge.vars.get(*k) != objects.vars.get(*k))
        .cloned()
        .collect::<std::collections::BTreeSet<_>>()
        .into_iter()
        .collect();
    out.push(if differing.is_empty() {
        Finding::new(
            Verdict::Pass,
            subject,
            format!("defines the objects; its {} vars are the edge's", objects.vars.len()),
        )
    } else {
        Finding::new(
            Verdict::Refuse,
            subject,
            format!(
                "its vars differ from the edge's ({}): the control plane would decide with another configuration; make wrangler.objects.toml [vars] the same as wrangler.toml's (`npm run deploy -- --var` passes each override to both)",
                differing.join(", ")
            ),
        )
    });
    out
}

/// Secrets. Offline, preflight cannot list the account's secrets (`wrangler secret list` needs
/// the API); what it can make sure of is that the deploy itself refuses when one is missing:
/// with `[secrets] required = [...]` in wrangler.toml, `wrangler deploy` binds each required
/// secret to the one already set on the worker, and Cloudflare refuses the upload when it is not
/// set (or, for a new worker, when `--secrets-file` does not supply it). A secrets file given
/// here is checked for each required secret.
pub fn secrets(deploy: &Deploy, secrets_file: Option<&[(String, String)]>) -> Vec<Finding> {
    let declared = deploy.secrets_required.clone().unwrap_or_default();
    REQUIRED_SECRETS
        .iter()
        .map(|&name| {
            let subject = format!("secret {name}");
            if !declared.iter().any(|d| d == name) {
                return Finding::new(
                    Verdict::Refuse,
                    subject,
                    format!(
                        "wrangler.toml does not declare it ([secrets] required = [\"{name}\"]), so nothing stops a deploy without it; declare it"
                    ),
                );
            }
            match secrets_file.map(|f| f.iter().find(|(k, _)| k == name)) {
                Some(Some((_, v))) if v.trim().is_empty() || v.trim() == "change-me" => Finding::new(
                    Verdict::Refuse,
                    subject,
                    "the secrets file gives it an empty or placeholder value",
                ),
                Some(Some((_, v))) if v.trim().len() < 16 => Finding::new(
                    Verdict::Refuse,
                    subject,
                    format!("the secrets file gives it only {} characters (at least 16)", v.trim().len()),
                ),
                Some(Some((_, v))) => Finding::new(
                    Verdict::Pass,
                    subject,
                    format!("uploaded with this deploy from the secrets file ({} characters)", v.trim().len()),
                ),
                Some(None) => Finding::new(
                    Verdict::Note,
                    subject,
                    "not in the secrets file: the deploy keeps the one set on the worker, and Cloudflare refuses it when none is set",
                ),
                None => Finding::new(
                    Verdict::Note,
                    subject,
                    format!(
                        "declared required: Cloudflare refuses the deploy if it is not set on the worker (preflight cannot see your account offline; `npx wrangler secret list` shows it, `npx wrangler secret put {name}` sets it)"
                    ),
                ),
            }
        })
        .collect()
}

/// Parses a secrets file in wrangler's formats: a JSON object, or `.env` lines `NAME=value`
/// (optionally quoted; `#` comments).
pub fn parse_secrets_file(text: &str) -> Result<Vec<(String, String)>, String> {
    if text.trim_start().starts_with('{') {
        let map: serde_json::Map<String, serde_json::Value> =
            serde_json::from_str(text).map_err(|e| format!("secrets file: {e}"))?;
        return map
            .into_iter()
            .map(|(k, v)| match v {
                serde_json::Value::String(s) => Ok((k, s)),
                other => Err(format!("secrets file: {k} is {other}, not a string")),
            })
            .collect();
    }
    let mut out = Vec::new();
    for (i, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let line = line.strip_prefix("export ").unwrap_or(line);
        let Some((k, v)) = line.split_once('=') else {
            return Err(format!("secrets file line {}: expected NAME=value", i + 1));
        };
        let v = v.trim();
        let v = v
            .strip_prefix('"')
            .and_then(|v| v.strip_suffix('"'))
            .or_else(|| v.strip_prefix('\'').and_then(|v| v.strip_suffix('\'')))
            .unwrap_or(v);
        out.push((k.trim().to_string(), v.to_string()));
    }
    Ok(out)
}

/// Whether any finding refuses the deploy.
pub fn refuses(findings: &[Finding]) -> bool {
    findings.iter().any(|f| f.verdict == Verdict::Refuse)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wrangler::{read, DurableObjectBinding, Migration, Rename};

    fn deploy(vars: &[(&str, &str)]) -> Deploy {
        Deploy {
            name: "catalog-edge".into(),
            vars: vars
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
            crons: vec!["0 */6 * * *".into()],
            ..Deploy::default()
        }
    }

    fn verdicts(f: &[Finding]) -> Vec<(String, Verdict)> {
        f.iter().map(|f| (f.subject.clone(), f.verdict)).collect()
    }

    #[test]
    fn the_objects_worker_must_define_the_bound_classes_with_the_edges_vars() {
        let binding = |class: &str, script: Option<&str>| DurableObjectBinding {
            name: class.to_uppercase(),
            class_name: class.into(),
            script_name: script.map(str::to_string),
        };
        let mut edge = deploy(&[("ORIGIN_URL", "https://api.example.rs")]);
        edge.durable_objects = vec![binding("ControlPlane", Some("catalog-edge-objects"))];
        let mut objects = deploy(&[("ORIGIN_URL", "https://api.example.rs")]);
        objects.name = "catalog-edge-objects".into();
        objects.durable_objects = vec![binding("ControlPlane", None)];
        assert_eq!(objects_script(&edge), Some("catalog-edge-objects"));
        assert_eq!(
            verdicts(&objects_worker(&edge, &objects)),
            [("worker catalog-edge-objects".into(), Verdict::Pass)]
        );
        // A var that differs, or is missing on one side, is refused by name.
        objects
            .vars
            .insert("ORIGIN_URL".into(), "https://other.example.rs".into());
        objects.vars.insert("EXTRA".into(), "1".into());
        let f = objects_worker(&edge, &objects);
        assert_eq!(f[0].verdict, Verdict::Refuse);
        assert!(
            f[0].message.contains("(EXTRA, ORIGIN_URL)"),
            "{}",
            f[0].message
        );
        // A class the objects worker does not define, or another worker's name.
        objects.vars = edge.vars.clone();
        objects.durable_objects.clear();
        assert_eq!(objects_worker(&edge, &objects)[0].verdict, Verdict::Refuse);
        objects.name = "elsewhere".into();
        assert!(objects_worker(&edge, &objects)[0]
            .message
            .contains("but the objects configuration is worker elsewhere"));
        // An edge that defines its own objects has no objects worker.
        edge.durable_objects = vec![binding("ControlPlane", None)];
        assert_eq!(objects_script(&edge), None);
    }

    #[test]
    fn loopback_and_localhost_urls_are_refused() {
        for bad in [
            "http://127.0.0.1:9001",
            "http://127.8.0.1",
            "http://localhost:8787",
            "http://LOCALHOST.",
            "http://api.localhost",
            "http://[::1]:9002",
            "http://[::ffff:127.0.0.1]/",
            "http://0.0.0.0:9001",
            "http://[::]/",
        ] {
            let f = urls(&deploy(&[
                ("ORIGIN_URL", bad),
                ("PUBLIC_URL", "https://edge.example.rs"),
            ]));
            assert_eq!(f[0].verdict, Verdict::Refuse, "{bad}");
            assert!(f[0].message.contains(bad), "{}", f[0].message);
        }
    }

    #[test]
    fn real_hosts_pass_and_a_missing_public_url_is_refused_only_with_a_cron() {
        let mut d = deploy(&[
            ("ORIGIN_URL", "https://api.example.rs/v1"),
            ("CANARY_ORIGIN_URL", "http://10.0.0.7:8080"),
        ]);
        assert_eq!(
            verdicts(&urls(&d)),
            [
                ("ORIGIN_URL".into(), Verdict::Pass),
                ("CANARY_ORIGIN_URL".into(), Verdict::Pass),
                ("PUBLIC_URL".into(), Verdict::Refuse),
            ]
        );
        d.crons.clear();
        assert_eq!(urls(&d)[2].verdict, Verdict::Note);
    }

    #[test]
    fn a_missing_origin_or_a_bad_scheme_is_refused_with_the_fix() {
        let f = urls(&deploy(&[("PUBLIC_URL", "ftp://edge.example.rs")]));
        assert_eq!(f[0].verdict, Verdict::Refuse);
        assert!(
            f[0].message.contains("--var ORIGIN_URL:https://"),
            "{}",
            f[0].message
        );
        assert_eq!(f[2].verdict, Verdict::Refuse);
        assert!(f[2].message.contains("scheme ftp"));
    }

    #[test]
    fn the_workers_own_configuration_errors_are_refusals() {
        let f = worker_config(&deploy(&[
            ("ORIGIN_URL", "https://api.example.rs"),
            ("ORIGIN_TIMEOUT_MS", "0"),
        ]));
        assert_eq!(f.len(), 1);
        assert_eq!(f[0].verdict, Verdict::Refuse);
        assert!(
            f[0].message.contains("ORIGIN_TIMEOUT_MS"),
            "{}",
            f[0].message
        );
        let ok = worker_config(&deploy(&[("ORIGIN_URL", "https://api.example.rs")]));
        assert_eq!(ok[0].verdict, Verdict::Pass);
    }

    #[test]
    fn the_placeholder_kv_id_is_refused() {
        let d = read(
            r#"
name = "w"
[[kv_namespaces]]
binding = "EDGE_CONFIG"
id = "00000000000000000000000000000000"
[[kv_namespaces]]
binding = "OTHER"
id = "not-an-id"
[[kv_namespaces]]
binding = "REAL"
id = "0123456789abcdef0123456789ABCDEF"
[[kv_namespaces]]
binding = "NONE"
"#,
            None,
            &[],
        )
        .unwrap();
        let f = kv_namespaces(&d);
        assert_eq!(
            f.iter().map(|f| f.verdict).collect::<Vec<_>>(),
            [
                Verdict::Refuse,
                Verdict::Refuse,
                Verdict::Pass,
                Verdict::Refuse
            ]
        );
        assert!(f[0].message.contains("placeholder"));
        assert!(f[0]
            .message
            .contains("wrangler kv namespace create EDGE_CONFIG"));
    }

    fn with_do(migrations: Vec<Migration>) -> Deploy {
        Deploy {
            name: "catalog-edge".into(),
            durable_objects: vec![DurableObjectBinding {
                name: "CONTROL".into(),
                class_name: "ControlPlane".into(),
                script_name: None,
            }],
            migrations,
            ..Deploy::default()
        }
    }

    #[test]
    fn a_durable_object_class_without_its_migration_is_refused() {
        let f = durable_objects(&with_do(vec![]));
        assert_eq!(f[0].verdict, Verdict::Refuse);
        assert!(f[0]
            .message
            .contains("new_sqlite_classes = [\"ControlPlane\"]"));

        let created = Migration {
            tag: "v1".into(),
            new_sqlite_classes: vec!["ControlPlane".into()],
            ..Migration::default()
        };
        assert_eq!(
            durable_objects(&with_do(vec![created.clone()]))[0].verdict,
            Verdict::Pass
        );

        let deleted = Migration {
            tag: "v2".into(),
            deleted_classes: vec!["ControlPlane".into()],
            ..Migration::default()
        };
        assert_eq!(
            durable_objects(&with_do(vec![created.clone(), deleted]))[0].verdict,
            Verdict::Refuse
        );

        let renamed = Migration {
            tag: "v2".into(),
            renamed_classes: vec![Rename {
                from: "Old".into(),
                to: "ControlPlane".into(),
            }],
            ..Migration::default()
        };
        assert_eq!(
            durable_objects(&with_do(vec![renamed]))[0].verdict,
            Verdict::Pass
        );
    }

    #[test]
    fn a_class_of_another_worker_is_only_noted() {
        let mut d = with_do(vec![]);
        d.durable_objects[0].script_name = Some("other-worker".into());
        assert_eq!(durable_objects(&d)[0].verdict, Verdict::Note);
    }

    #[test]
    fn an_undeclared_secret_is_refused_and_a_declared_one_is_left_to_cloudflare() {
        let mut d = deploy(&[]);
        assert_eq!(secrets(&d, None)[0].verdict, Verdict::Refuse);
        d.secrets_required = Some(vec!["ADMIN_TOKEN".into()]);
        let f = secrets(&d, None);
        assert_eq!(f[0].verdict, Verdict::Note);
        assert!(f[0].message.contains("cannot see your account offline"));
    }

    #[test]
    fn a_secrets_file_is_checked_for_each_required_secret() {
        let mut d = deploy(&[]);
        d.secrets_required = Some(vec!["ADMIN_TOKEN".into()]);
        let good = parse_secrets_file("# prod\nADMIN_TOKEN=\"0123456789abcdef0123\"\n").unwrap();
        assert_eq!(secrets(&d, Some(&good))[0].verdict, Verdict::Pass);
        for bad in ["ADMIN_TOKEN=change-me", "ADMIN_TOKEN=", "ADMIN_TOKEN=short"] {
            let f = parse_secrets_file(bad).unwrap();
            assert_eq!(secrets(&d, Some(&f))[0].verdict, Verdict::Refuse, "{bad}");
        }
        let other = parse_secrets_file(r#"{"OTHER": "x"}"#).unwrap();
        assert_eq!(secrets(&d, Some(&other))[0].verdict, Verdict::Note);
        assert!(parse_secrets_file("no equals sign").is_err());
        assert!(parse_secrets_file(r#"{"ADMIN_TOKEN": 5}"#).is_err());
    }
}
