//! The admin API's glue: authentication first (constant-time, the token never logged), then the
//! cache endpoints. Request parsing and every decision are the core's.

use std::rc::Rc;

use serde_json::{json, Value};
use worker::{Env, Request};

use super::cache_flow;
use super::handler::cache_request;
use super::origin::{OriginCall, OriginChoice};
use super::platform::{self, ConfigState, Waiter};
use super::reply::Reply;
use super::state;
use super::store;
use crate::admin::{self, AdminEndpoint, AdminRoute, Auth};
use crate::cache::key;
use crate::cache::policy::MAX_ENTRY_LIFETIME_SECS;
use crate::cache::purge::{self, FieldError, PurgeCommand};
use crate::cache::warmup::{self, WarmupJob};
use crate::canary::config::RolloutConfig;
use crate::canary::ops::{self, AuditEntry, Change, OpError, Versioned};
use crate::config::{host_port, EdgeConfig};
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
    let token = config.admin_token.as_ref().map(|s| s.expose());
    if let Some(refused) = refuse(admin::authorize(authorization.as_deref(), token)) {
        return refused;
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
            reply.headers.push(("allow".into(), allow));
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
            let mut body = serde_json::to_value(&report).unwrap_or_default();
            if let Some(map) = body.as_object_mut() {
                map.insert(
                    "memory".into(),
                    json!(super::memory::stats(config.memory_cache_bytes)),
                );
            }
            Reply::json(200, body.to_string())
        }
        AdminEndpoint::CachePurge => purge(config, &req, &body, env, now).await,
        AdminEndpoint::ConfigGet => config_get(config, env, now).await,
        AdminEndpoint::Origins => origins(config, env, now).await,
        AdminEndpoint::ConfigHistory => {
            list::<Versioned>(env, state::HISTORY_KEY, "versions", limit(&req)).await
        }
        AdminEndpoint::Audit => {
            list::<AuditEntry>(env, state::AUDIT_KEY, "entries", limit(&req)).await
        }
        AdminEndpoint::ConfigPut => change(config, &req, &body, Change::Replace, env, now).await,
        AdminEndpoint::ConfigRevert => change(config, &req, &body, Change::Revert, env, now).await,
        AdminEndpoint::CanaryWeight => {
            change(config, &req, &body, Change::SetWeight, env, now).await
        }
        AdminEndpoint::CanaryAdvance => {
            change(config, &req, &body, Change::Advance, env, now).await
        }
        AdminEndpoint::CanaryRollback => {
            change(config, &req, &body, Change::Rollback, env, now).await
        }
        AdminEndpoint::CanaryPromote => {
            change(config, &req, &body, Change::Promote, env, now).await
        }
        AdminEndpoint::CacheWarmup => {
            let base = match req.url() {
                Ok(u) => u,
                Err(e) => return Reply::problem(&Problem::internal(e.to_string())),
            };
            let rollout = state::rollout(env, now, config).await;
            let jobs = match warmup::plan(
                &body,
                &config.warmup_paths,
                &active_variants(&rollout.config),
                &config.languages,
            ) {
                Ok(jobs) => jobs,
                Err(e) => return bad_request(&e),
            };
            let results = run_warmup(config, &rollout.config, &base, jobs, env, ctx).await;
            Reply::json(200, results.to_string())
        }
    }
}

/// The reply to a request whose credentials were refused; `None` when access is granted. The
/// one place that answers 401 and 503 for the admin API and `/__edge/metrics`.
pub fn refuse(auth: Auth) -> Option<Reply> {
    match auth {
        Auth::Granted => None,
        Auth::NotConfigured => Some(Reply::problem(&Problem::new(
            503,
            "admin_disabled",
            "ADMIN_TOKEN is not configured, so the admin endpoints are closed",
        ))),
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
            Some(reply)
        }
    }
}

/// The variants serving traffic: stable, and the canary while it has a weight.
pub fn active_variants(rollout: &RolloutConfig) -> Vec<Variant> {
    if rollout.canary_active() {
        vec![Variant::Stable, Variant::Canary]
    } else {
        vec![Variant::Stable]
    }
}

fn op_error(e: &OpError) -> Reply {
    let mut reply = bad_request(&e.error);
    reply.status = e.status;
    if e.status == 409 {
        reply.body = super::reply::Body::Text(
            json!({"error": "conflict", "detail": e.error.to_string(), "field": e.error.field})
                .to_string(),
        );
    }
    reply
}

/// The stored configuration record, or one for the defaults when KV holds none.
async fn current_record(config: &EdgeConfig, env: &Env) -> Result<Versioned, Reply> {
    match state::kv_get_json::<Versioned>(env, state::CONFIG_KEY).await {
        Ok(Some(v)) => Ok(v),
        Ok(None) => Ok(Versioned {
            version: 0,
            updated_at_ms: 0,
            actor: "wrangler vars".into(),
            reason: "defaults (no configuration stored yet)".into(),
            config: config.rollout_defaults.to_json(),
        }),
        Err(state::KvUnavailable(why)) => {
            Err(Reply::problem(&Problem::new(503, "state_unavailable", why)))
        }
    }
}

/// Probes `/health/ready` of the stable and canary origins (3 s timeout each).
async fn origins(config: &EdgeConfig, env: &Env, now: UnixMillis) -> Reply {
    let rollout = state::rollout(env, now, config).await;
    let mut out = serde_json::Map::new();
    for (name, base) in [
        ("stable", Some(rollout.config.stable_origin.clone())),
        ("canary", rollout.config.canary_origin.clone()),
    ] {
        let Some(base) = base else {
            out.insert(name.into(), json!(null));
            continue;
        };
        let Ok(url) = base.join("health/ready") else {
            continue;
        };
        let call = OriginCall {
            url: url.to_string(),
            method: "GET".into(),
            headers: vec![],
            timeout_ms: 3_000,
            fallback_url: None,
            trace_id: String::new(),
        };
        let reply = call.send(&[], None).await;
        let (status, error) = match &reply.result {
            Ok(r) => (Some(r.status()), None),
            Err(e) => (None, Some(format!("{e:?}"))),
        };
        out.insert(
            name.into(),
            json!({
                "url": url.as_str(),
                "reachable": status.is_some(),
                "ready": status == Some(200),
                "status": status,
                "ms": reply.dur_ms,
                "error": error,
            }),
        );
    }
    Reply::json(200, Value::Object(out).to_string())
}

async fn config_get(config: &EdgeConfig, env: &Env, now: UnixMillis) -> Reply {
    let record = match current_record(config, env).await {
        Ok(r) => r,
        Err(reply) => return reply,
    };
    let rollout = state::rollout(env, now, config).await;
    Reply::json(
        200,
        json!({
            "version": record.version,
            "updated_at_ms": record.updated_at_ms,
            "actor": record.actor,
            "reason": record.reason,
            "config": record.config,
            "in_force": {
                "version": rollout.version,
                "source": rollout.source,
                "summary": ops::summary(&rollout.config),
                "problem": rollout.problem,
            },
            "cache": {
                "warmup_paths": config.warmup_paths,
                "languages": config.languages.iter().map(|l| l.as_str()).collect::<Vec<_>>(),
                "rules": config.rules.rules.iter().map(|r| json!({
                    "id": r.id, "pattern": r.pattern.as_str(), "mode": r.mode.as_str(),
                    "ttl_secs": r.ttl_for_status(200),
                })).collect::<Vec<_>>(),
            },
        })
        .to_string(),
    )
}

/// The `?limit=N` of a list request.
fn limit(req: &Request) -> Option<usize> {
    req.url()
        .ok()?
        .query_pairs()
        .find(|(k, _)| k == "limit")
        .and_then(|(_, v)| v.parse().ok())
}

/// A stored list, newest first, at most `limit` items; `count` is the full length.
async fn list<T: serde::de::DeserializeOwned + serde::Serialize>(
    env: &Env,
    key: &str,
    name: &str,
    limit: Option<usize>,
) -> Reply {
    match state::kv_get_json::<Vec<T>>(env, key).await {
        Ok(items) => {
            let items = items.unwrap_or_default();
            let count = items.len();
            let shown: Vec<&T> = items.iter().take(limit.unwrap_or(count)).collect();
            Reply::json(200, json!({ "count": count, name: shown }).to_string())
        }
        Err(state::KvUnavailable(why)) => {
            Reply::problem(&Problem::new(503, "state_unavailable", why))
        }
    }
}

/// Carries out a release-manager change: validate, then write history, audit and (last) the
/// configuration itself; this isolate uses the new configuration at once, others within
/// `STATE_REFRESH_MS` (plus KV propagation in production). Nothing is written on error.
async fn change(
    config: &EdgeConfig,
    req: &Request,
    body: &str,
    change: Change,
    env: &Env,
    now: UnixMillis,
) -> Reply {
    let mut self_hosts = config.self_hosts();
    if let Some(h) = req.url().ok().as_ref().and_then(host_port) {
        self_hosts.push(h);
    }
    let write = match ops::parse_write(body, change.fields()) {
        Ok(w) => w,
        Err(e) => return bad_request(&e),
    };
    let current = match current_record(config, env).await {
        Ok(r) => r,
        Err(reply) => return reply,
    };
    // A stored configuration that no longer validates is replaced starting from the one in force.
    let current_cfg = match RolloutConfig::from_json(&current.config, &self_hosts) {
        Ok(c) => c,
        Err(_) => state::rollout(env, now, config).await.config.clone(),
    };
    let mut history: Vec<Versioned> = state::kv_get_json(env, state::HISTORY_KEY)
        .await
        .ok()
        .flatten()
        .unwrap_or_default();
    if history.is_empty() {
        history.push(current.clone());
    }
    let audit: Vec<AuditEntry> = state::kv_get_json(env, state::AUDIT_KEY)
        .await
        .ok()
        .flatten()
        .unwrap_or_default();
    let next = match ops::apply(&change, &current_cfg, &write, &history, &self_hosts) {
        Ok(n) => n,
        Err(e) => return op_error(&e),
    };
    let (record, history, audit) =
        ops::record(&change, &current, &next, &write, &history, &audit, now.0);
    for result in [
        state::kv_put_json(env, state::HISTORY_KEY, &history).await,
        state::kv_put_json(env, state::AUDIT_KEY, &audit).await,
        state::kv_put_json(env, state::CONFIG_KEY, &record).await,
    ] {
        if let Err(state::KvUnavailable(why)) = result {
            return Reply::problem(&Problem::new(503, "state_unavailable", why));
        }
    }
    state::remember_rollout(
        Rc::new(state::Rollout {
            config: next.clone(),
            version: record.version,
            source: "kv",
            problem: None,
        }),
        now,
    );
    worker::console_log!(
        "{}",
        json!({"event": "rollout_change", "action": change.as_str(), "version": record.version,
               "actor": write.actor, "reason": write.reason,
               "weight_bp": {"old": current_cfg.weight_bp, "new": next.weight_bp}})
    );
    Reply::json(
        200,
        json!({
            "version": record.version,
            "action": change.as_str(),
            "summary": ops::summary(&next),
            "config": record.config,
            "audit": audit.first(),
        })
        .to_string(),
    )
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

    // The new generation or bans already hide every purged entry; free this isolate's memory
    // tier of them at once too.
    if matches!(cmd, PurgeCommand::Everything) {
        super::memory::clear();
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
                    super::memory::invalidate(super::memory::limits(config), &k, now);
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
    rollout: &RolloutConfig,
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
            &OriginChoice::of(rollout, job.variant),
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
