//! The admin API's glue: authentication first (constant-time, the token never logged), then the
//! cache endpoints. Request parsing and every decision are the core's.

use serde_json::json;
use worker::{Env, Request};

use super::cache_flow;
use super::handler::cache_request;
use super::platform::{self, ConfigState, Waiter};
use super::reply::Reply;
use super::state;
use super::store;
use crate::admin::{self, AdminEndpoint, AdminRoute, Auth};
use crate::cache::key;
use crate::cache::policy::MAX_ENTRY_LIFETIME_SECS;
use crate::cache::purge::{self, FieldError, PurgeCommand};
use crate::cache::warmup::{self, WarmupJob};
use crate::config::EdgeConfig;
use crate::problem::Problem;
use crate::time::UnixMillis;
use crate::variant::Variant;

/// Largest admin request body read.
const MAX_ADMIN_BODY_BYTES: usize = 64 * 1024;

/// Answers an admin request.
pub async fn handle(
    route: AdminRoute,
    mut req: Request,
    env: &Env,
    ctx: &Waiter<'_>,
    state: &ConfigState,
    now: UnixMillis,
) -> Reply {
    let config = match state {
        Ok(c) => c,
        Err(errors) => {
            let errors: Vec<String> = errors.iter().map(ToString::to_string).collect();
            return Reply::problem(&Problem::config_invalid(&errors));
        }
    };
    let authorization = req.headers().get("authorization").ok().flatten();
    match admin::authorize(
        authorization.as_deref(),
        config.admin_token.as_ref().map(|s| s.expose()),
    ) {
        Auth::Granted => {}
        Auth::NotConfigured => {
            return Reply::problem(&Problem::new(
                503,
                "admin_disabled",
                "ADMIN_TOKEN is not configured, so the admin API is closed",
            ))
        }
        Auth::Missing | Auth::Wrong => {
            let mut reply = Reply::problem(&Problem::new(
                401,
                "unauthorized",
                "send Authorization: Bearer <ADMIN_TOKEN>; the token is missing or wrong",
            ));
            reply.headers.push((
                "www-authenticate".into(),
                "Bearer realm=\"catalog-edge\"".into(),
            ));
            return reply;
        }
    }
    let endpoint = match route {
        AdminRoute::Endpoint(e) => e,
        AdminRoute::NotFound => return Reply::problem(&Problem::not_found(&req.path())),
        AdminRoute::MethodNotAllowed { allow } => {
            let mut reply = Reply::problem(&Problem::new(
                405,
                "method_not_allowed",
                format!("{} takes {allow}", req.path()),
            ));
            reply.headers.push(("allow".into(), allow.into()));
            return reply;
        }
    };
    let body = match read_body(&mut req).await {
        Ok(b) => b,
        Err(p) => return Reply::problem(&p),
    };
    match endpoint {
        AdminEndpoint::CacheStats => {
            let report = state::with_stats(now, |s| s.report());
            Reply::json(200, serde_json::to_string(&report).unwrap_or_default())
        }
        AdminEndpoint::CachePurge => purge(config, &req, &body, env, now).await,
        AdminEndpoint::CacheWarmup => {
            let base = match req.url() {
                Ok(u) => u,
                Err(e) => return Reply::problem(&Problem::internal(e.to_string())),
            };
            let jobs = match warmup::plan(
                &body,
                &config.warmup_paths,
                &active_variants(),
                &config.languages,
            ) {
                Ok(jobs) => jobs,
                Err(e) => return bad_request(&e),
            };
            let results = run_warmup(config, &base, jobs, env, ctx).await;
            Reply::json(200, results.to_string())
        }
    }
}

/// The variants serving traffic (stable only until canary routing exists).
fn active_variants() -> Vec<Variant> {
    vec![Variant::Stable]
}

async fn read_body(req: &mut Request) -> Result<String, Problem> {
    if matches!(req.method().to_string().as_str(), "GET" | "HEAD") {
        return Ok(String::new());
    }
    let bytes = req
        .bytes()
        .await
        .map_err(|e| Problem::new(400, "invalid_request", format!("unreadable body: {e}")))?;
    if bytes.len() > MAX_ADMIN_BODY_BYTES {
        return Err(Problem::new(
            413,
            "payload_too_large",
            format!("admin requests are limited to {MAX_ADMIN_BODY_BYTES} bytes"),
        ));
    }
    String::from_utf8(bytes).map_err(|_| Problem::new(400, "invalid_request", "body: is not UTF-8"))
}

fn bad_request(e: &FieldError) -> Reply {
    let mut reply = Reply::problem(&Problem::new(400, "invalid_request", e.to_string()));
    // The field path, machine-readable, next to the sentence.
    reply.body = super::reply::Body::Text(
        json!({"error": "invalid_request", "detail": e.to_string(), "field": e.field}).to_string(),
    );
    reply
}

async fn purge(
    config: &EdgeConfig,
    req: &Request,
    body: &str,
    env: &Env,
    now: UnixMillis,
) -> Reply {
    let vary_language = |path: &str| config.rules.rule_for(path).vary_language;
    let cmd = match purge::parse_command(body, |u| {
        key::purge_path(u, vary_language, &config.tracking)
    }) {
        Ok(cmd) => cmd,
        Err(e) => return bad_request(&e),
    };
    let mut purge_state = match state::read_purge_state(env).await {
        Ok(s) => s,
        Err(state::KvUnavailable(why)) => {
            return Reply::problem(&Problem::new(503, "state_unavailable", why))
        }
    };
    let outcome = purge_state.apply(&cmd, now.0, MAX_ENTRY_LIFETIME_SECS * 1000);
    if let Err(state::KvUnavailable(why)) = state::write_purge_state(env, &purge_state, now).await {
        return Reply::problem(&Problem::new(503, "state_unavailable", why));
    }

    // Also delete this data centre's copies of purged URLs at once.
    let mut deleted_locally = 0;
    let mut urls = Vec::new();
    if let PurgeCommand::Urls(list) = &cmd {
        let base = req.url().ok();
        for (given, purge_path) in list {
            let url = match &base {
                Some(b) if given.starts_with('/') => b.join(given).ok(),
                _ => worker::Url::parse(given).ok(),
            };
            if let Some(url) = url {
                let rule = config.rules.rule_for(url.path());
                for k in key::all_primary_keys(&url, rule, outcome.generation, &config.tracking) {
                    if store::delete(&k).await {
                        deleted_locally += 1;
                    }
                }
            }
            urls.push(json!({"url": given, "purge_path": purge_path}));
        }
    }
    let scope = match &cmd {
        PurgeCommand::Prefix(p) => json!(p),
        _ => serde_json::Value::Null,
    };
    worker::console_log!(
        "{}",
        json!({"event": "cache_purge", "purged": outcome.purged, "prefix": scope,
               "urls": urls.len(), "generation": outcome.generation,
               "actor": actor_of(body), "reason": reason_of(body)})
    );
    Reply::json(
        200,
        json!({
            "purged": outcome.purged,
            "urls": urls,
            "prefix": scope,
            "generation": outcome.generation,
            "ban_ids": outcome.ban_ids,
            "bans_expired": outcome.bans_expired,
            "deleted_locally": deleted_locally,
            "propagation": format!(
                "every data centre within KV propagation (up to ~60 s) plus STATE_REFRESH_MS ({} ms)",
                config.state_refresh_ms
            ),
        })
        .to_string(),
    )
}

fn json_field(body: &str, name: &str) -> serde_json::Value {
    serde_json::from_str::<serde_json::Value>(body)
        .ok()
        .and_then(|v| v.get(name).cloned())
        .unwrap_or(serde_json::Value::Null)
}

fn actor_of(body: &str) -> serde_json::Value {
    json_field(body, "actor")
}

fn reason_of(body: &str) -> serde_json::Value {
    json_field(body, "reason")
}

/// Runs warmup jobs one after the other (gentle on the origin), storing inline so that each
/// reported entry exists when the report is returned.
pub async fn run_warmup(
    config: &EdgeConfig,
    base: &worker::Url,
    jobs: Vec<WarmupJob>,
    env: &Env,
    ctx: &Waiter<'_>,
) -> serde_json::Value {
    let mut results = Vec::new();
    let mut ok = 0;
    for job in &jobs {
        let started = platform::now();
        let Ok(url) = base.join(&job.path) else {
            results.push(json!({"path": job.path, "error": "not a path"}));
            continue;
        };
        let rule = config.rules.rule_for(url.path());
        let headers = vec![("accept-language".to_string(), job.lang.as_str().to_string())];
        let purge = state::purge_state(env, started, config.state_refresh_ms).await;
        let request = cache_request(
            config,
            rule,
            &url,
            headers,
            false,
            job.variant,
            purge.generation,
            true,
        );
        let reply = cache_flow::serve(request, purge, started, ctx).await;
        let outcome = reply.cache.as_ref().map(|r| r.outcome.as_str());
        if reply.status < 400 {
            ok += 1;
        }
        results.push(json!({
            "path": job.path,
            "variant": job.variant.as_str(),
            "lang": job.lang.as_str(),
            "status": reply.status,
            "outcome": outcome,
            "ms": platform::now().since(started),
        }));
    }
    json!({"jobs": jobs.len(), "ok": ok, "failed": jobs.len() - ok, "results": results})
}
