//! The admin API's glue: authentication first (every operator's token compared in constant
//! time, never logged; the operator a token names is the actor of what it changes), then the
//! endpoints. Rollout changes, purges and the audit log go to the control plane (the one writer,
//! `edge/control.rs`); cache stats and warmup are this isolate's. Request parsing and every
//! decision are the core's.

use serde_json::Value;
use worker::{Env, Request};

use super::cache_flow;
use super::control;
use super::origin::{OriginCall, OriginChoice};
use super::platform::{self, ConfigState, Waiter};
use super::reply::Reply;
use super::state;
use crate::admin::{self, AdminEndpoint, AdminRoute};
use crate::analysis::verdict;
use crate::cache::purge::PurgeState;
use crate::cache::warmup::{self, WarmupJob};
use crate::canary::config::RolloutConfig;
use crate::canary::ops::{self, Change};
use crate::config::EdgeConfig;
use crate::control::edge::InForce;
use crate::control::record::Versioned;
use crate::control::wire::{self, AnalysisQuery, ControlRequest, IsolateCounters, ListName};
use crate::json;
use crate::origin_url::host_port;
use crate::problem::Problem;
use crate::time::UnixMillis;
use crate::variant::Variant;
use crate::web_url::Url;

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
    let operator = match super::auth::refuse(
        admin::authorize(authorization.as_deref(), &config.operators),
        Some(config),
    ) {
        Ok(name) => name,
        Err(reply) => return *reply,
    };
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
    let answer = match endpoint {
        AdminEndpoint::CacheStats => Ok(cache_stats(config, now)),
        AdminEndpoint::CachePurge => purge(&operator, &body, env, now).await,
        AdminEndpoint::ConfigGet => config_get(config, &req, &operator, env, now).await,
        AdminEndpoint::Origins => {
            let rollout = state::rollout(env, now, config).await;
            Ok(Reply::json(
                200,
                json::text(&probe_origins(&rollout.config).await),
            ))
        }
        AdminEndpoint::ConfigHistory => list(env, ListName::History, &req).await,
        AdminEndpoint::Audit => list(env, ListName::Audit, &req).await,
        AdminEndpoint::Quarantine => list(env, ListName::Quarantine, &req).await,
        AdminEndpoint::ConfigPut => {
            change(config, &req, &operator, &body, Change::Replace, env, now).await
        }
        AdminEndpoint::ConfigRevert => {
            change(config, &req, &operator, &body, Change::Revert, env, now).await
        }
        AdminEndpoint::CanaryWeight => {
            change(config, &req, &operator, &body, Change::SetWeight, env, now).await
        }
        AdminEndpoint::CanaryAdvance => {
            change(config, &req, &operator, &body, Change::Advance, env, now).await
        }
        AdminEndpoint::CanaryRollback => {
            change(config, &req, &operator, &body, Change::Rollback, env, now).await
        }
        AdminEndpoint::CanaryPromote => {
            change(config, &req, &operator, &body, Change::Promote, env, now).await
        }
        AdminEndpoint::CacheWarmup => {
            warmup_endpoint(config, &req, &operator, &body, env, ctx, now).await
        }
        AdminEndpoint::Analysis => analysis(config, &req, env, now).await,
        AdminEndpoint::RolloutGet => relay(env, &ControlRequest::Rollout).await,
        AdminEndpoint::RolloutStart => {
            let request = ControlRequest::RolloutStart {
                operator: operator.clone(),
                body,
            };
            rollout_write(config, &req, env, &request, now).await
        }
        AdminEndpoint::RolloutPause
        | AdminEndpoint::RolloutResume
        | AdminEndpoint::RolloutAbort => {
            let action = match endpoint {
                AdminEndpoint::RolloutPause => "pause",
                AdminEndpoint::RolloutResume => "resume",
                _ => "abort",
            };
            let request = ControlRequest::RolloutControl {
                action: action.to_string(),
                operator: operator.clone(),
                body,
            };
            rollout_write(config, &req, env, &request, now).await
        }
    };
    answer.unwrap_or_else(|p| Reply::problem(&p))
}

/// The variants serving traffic: stable, and the canary while it has a weight.
pub fn active_variants(rollout: &RolloutConfig) -> Vec<Variant> {
    if rollout.canary_active() {
        vec![Variant::Stable, Variant::Canary]
    } else {
        vec![Variant::Stable]
    }
}

fn cache_stats(config: &EdgeConfig, now: UnixMillis) -> Reply {
    let report = state::with_stats(now, |s| s.report());
    let mut body = report.to_json();
    body["memory"] = super::memory::stats(config.memory_cache_bytes).to_json();
    body["store"] = super::memory::store_budget(config.store_buffer_bytes)
        .stats()
        .to_json();
    body["lookup"] = super::store::lookup_failures().to_json(now);
    Reply::json(200, json::text(&body))
}

/// The request's URL (`worker::Request::url` would parse it with the `url` crate, which the
/// edge's Wasm does not carry: `web_url`).
fn request_url(req: &Request) -> Result<Url, crate::web_url::ParseError> {
    Url::parse(&req.inner().url())
}

/// The worker's own `host[:port]`s: configured, and the one this request came to.
fn self_hosts(config: &EdgeConfig, req: &Request) -> Vec<String> {
    let mut hosts = config.self_hosts();
    if let Some(h) = request_url(req).ok().as_ref().and_then(host_port) {
        hosts.push(h);
    }
    hosts
}

/// A control plane answer as the client's reply, with the version as the `ETag` a client sends
/// back in `If-Match`.
fn relayed(status: u16, value: &Value, version: Option<u64>) -> Reply {
    let mut reply = Reply::json(status, json::text(value));
    if let Some(v) = version {
        reply.headers.push(("etag".into(), format!("\"{v}\"")));
    }
    reply
}

/// `GET /config`: the control plane's state, what is in force in this isolate, the caller.
async fn config_get(
    config: &EdgeConfig,
    req: &Request,
    operator: &str,
    env: &Env,
    now: UnixMillis,
) -> Result<Reply, Problem> {
    let rollout = state::rollout(env, now, config).await;
    let in_force = in_force_json(&rollout);
    let cache = object! {
        "warmup_paths": config.warmup_paths.clone(),
        "languages": config.languages.iter().map(|l| l.as_str()).collect::<Vec<_>>(),
        "rules": config.rules.rules.iter().map(|r| object! {
            "id": r.id.as_str(), "pattern": r.pattern.as_str(), "mode": r.mode.as_str(),
            "ttl_secs": r.ttl_for_status(200),
        }).collect::<Vec<_>>(),
    };
    let request = ControlRequest::State {
        self_hosts: self_hosts(config, req),
    };
    let mut body = match control::call(env, &request).await {
        Ok((200, mut state)) => {
            let mut body = state["current"].take();
            body["control"] = object! {
                "available": true,
                "published": state["published"].take(),
                "quarantined": state["quarantined"].take(),
                "purge": state["purge"].take(),
            };
            body
        }
        Ok((status, problem)) => return Ok(Reply::json(status, json::text(&problem))),
        // The control plane is out of reach: say what this isolate serves, and that writes
        // cannot be made now.
        Err(p) => object! {
            "version": rollout.version,
            "readable": true,
            "actor": "unknown (control plane unavailable)",
            "reason": "",
            "config": rollout.config.to_json(),
            "summary": ops::summary(&rollout.config),
            "control": object! {"available": false, "problem": p.detail},
        },
    };
    body["in_force"] = in_force;
    body["operator"] = operator.into();
    body["cache"] = cache;
    let version = body["version"].as_u64();
    Ok(relayed(200, &body, version))
}

fn in_force_json(rollout: &InForce) -> Value {
    object! {
        "version": rollout.version,
        "source": rollout.source.as_str(),
        "summary": ops::summary(&rollout.config),
        "problem": rollout.problem.clone(),
    }
}

/// A control plane answer, as it is.
async fn relay(env: &Env, request: &ControlRequest) -> Result<Reply, Problem> {
    let (status, value) = control::call(env, request).await?;
    Ok(Reply::json(status, json::text(&value)))
}

/// A rollout start or control: the control plane answers with the rollout and, when the weight
/// changed, the new record, which this isolate uses at once.
async fn rollout_write(
    config: &EdgeConfig,
    req: &Request,
    env: &Env,
    request: &ControlRequest,
    now: UnixMillis,
) -> Result<Reply, Problem> {
    let (status, mut value) = control::call(env, request).await?;
    if let Ok(record) = Versioned::from_value(&value["record"]) {
        if let Ok(cfg) = RolloutConfig::from_json(&record.config, &self_hosts(config, req)) {
            state::remember_rollout(cfg, record.version, now);
        }
    }
    if let Some(obj) = value.as_object_mut() {
        ops::take_field(obj, "record");
    }
    Ok(Reply::json(status, json::text(&value)))
}

/// `GET /analysis?window=<secs>`: every aggregator's counts over the window, merged: per
/// variant and per route, and per minute for charts. The control plane reads and merges them
/// (the aggregators are in its worker) and this isolate relays its answer; when it cannot be
/// asked, neither can the aggregators beside it: the answer is then what no aggregator read
/// gives (no counts, `complete: false`, each one unreadable and why).
async fn analysis(
    config: &EdgeConfig,
    req: &Request,
    env: &Env,
    now: UnixMillis,
) -> Result<Reply, Problem> {
    let raw = request_url(req).ok().and_then(|u| {
        u.query_pairs()
            .find(|(k, _)| k == "window")
            .map(|(_, v)| v.into_owned())
    });
    let window_secs = verdict::window_secs(raw.as_deref())?;
    let rollout = state::rollout(env, now, config).await;
    let (flushes, failed_flushes, lost_requests, pending_requests) = state::analysis_counters();
    let query = AnalysisQuery {
        window_secs,
        now_ms: now.0,
        shards: config.metrics_shards,
        weight_bp: rollout.config.weight_bp,
        this_isolate: IsolateCounters {
            flushes,
            failed_flushes,
            lost_requests,
            pending_requests,
            flush_ms: config.metrics_flush_ms,
        },
    };
    let why = match control::ask(env, &ControlRequest::Analysis(query)).await {
        Ok((200, text)) => return Ok(Reply::json(200, text)),
        Ok((status, _)) => format!("the control plane answered {status}"),
        Err(why) => why,
    };
    let unreadable = (0..config.metrics_shards)
        .map(|i| format!("shard-{i}: not read: the control plane, which reads it, could not be asked ({why})"))
        .collect();
    let body = verdict::api_answer_unread(unreadable, &query);
    Ok(Reply::json(200, json::text(&body)))
}

/// A stored list from the control plane (`?limit=`, 1–500, default 50).
async fn list(env: &Env, list: ListName, req: &Request) -> Result<Reply, Problem> {
    let raw = request_url(req).ok().and_then(|u| {
        u.query_pairs()
            .find(|(k, _)| k == "limit")
            .map(|(_, v)| v.into_owned())
    });
    let limit = wire::list_limit(raw.as_deref())?;
    let (status, value) = control::call(env, &ControlRequest::List { list, limit }).await?;
    Ok(Reply::json(status, json::text(&value)))
}

/// A release-manager change, made by the control plane; this isolate uses the new
/// configuration at once, others within `STATE_REFRESH_MS` (plus KV propagation in production).
async fn change(
    config: &EdgeConfig,
    req: &Request,
    operator: &str,
    body: &str,
    change: Change,
    env: &Env,
    now: UnixMillis,
) -> Result<Reply, Problem> {
    let if_match = req.headers().get("if-match").ok().flatten();
    let request = ControlRequest::Write {
        change: change.as_str().to_string(),
        operator: operator.to_string(),
        body: body.to_string(),
        if_match,
        self_hosts: self_hosts(config, req),
    };
    let (status, mut value) = control::call(env, &request).await?;
    if status != 200 {
        let version = value["current"]["version"].as_u64();
        return Ok(relayed(status, &value, version));
    }
    if value["dry_run"].as_bool() == Some(true) {
        // Also ask the proposed origins whether they are ready.
        if let Ok(proposed) = RolloutConfig::from_json(&value["config"], &self_hosts(config, req)) {
            value["origins"] = probe_origins(&proposed).await;
        }
        return Ok(relayed(200, &value, None));
    }
    if let Ok(record) = Versioned::from_value(&value["record"]) {
        if let Ok(cfg) = RolloutConfig::from_json(&record.config, &self_hosts(config, req)) {
            state::remember_rollout(cfg, record.version, now);
        }
    }
    let version = value["version"].as_u64();
    if let Some(obj) = value.as_object_mut() {
        ops::take_field(obj, "record");
    }
    Ok(relayed(200, &value, version))
}

/// A purge, made by the control plane (the one writer of the purge state). This isolate uses
/// the new state at once; the bans and generation hide every purged entry in every tier, so no
/// entry is deleted here: the request's cost does not grow with what it purges.
async fn purge(operator: &str, body: &str, env: &Env, now: UnixMillis) -> Result<Reply, Problem> {
    let request = ControlRequest::Purge {
        operator: operator.to_string(),
        body: body.to_string(),
    };
    let (status, mut value) = control::call(env, &request).await?;
    if status == 200 {
        if let Ok(state) = PurgeState::from_value(&value["state"]) {
            if value["purged"] == "everything" {
                super::memory::clear();
            }
            state::remember_purge_state(state, now);
        }
        if let Some(obj) = value.as_object_mut() {
            ops::take_field(obj, "state");
            obj.insert(
                "propagation".into(),
                "this data centre at once; every other within KV propagation (up to ~60 s) plus STATE_REFRESH_MS".into(),
            );
        }
    }
    Ok(Reply::json(status, json::text(&value)))
}

/// Probes `/health/ready` of the stable and canary origins of `rollout` (3 s timeout each).
async fn probe_origins(rollout: &RolloutConfig) -> Value {
    let mut out = serde_json::Map::new();
    for (name, base) in [
        ("stable", Some(rollout.stable_origin.clone())),
        ("canary", rollout.canary_origin.clone()),
    ] {
        let Some(base) = base else {
            out.insert(name.into(), Value::Null);
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
            object! {
                "url": url.as_str(),
                "reachable": status.is_some(),
                "ready": status == Some(200),
                "status": status,
                "ms": reply.dur_ms,
                "error": error,
            },
        );
    }
    Value::Object(out)
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

/// `POST /cache/warmup`: a reason is required; the run is audited through the control plane.
async fn warmup_endpoint(
    config: &EdgeConfig,
    req: &Request,
    operator: &str,
    body: &str,
    env: &Env,
    ctx: &Waiter<'_>,
    now: UnixMillis,
) -> Result<Reply, Problem> {
    let base = request_url(req).map_err(|e| Problem::internal(e.to_string()))?;
    let mut fields = ops::body_object(body)?;
    let reason = ops::reason_and_actor(&mut fields, operator)?;
    let rollout = state::rollout(env, now, config).await;
    let jobs = warmup::plan(
        &json::text(&Value::Object(fields)),
        &config.warmup_paths,
        &active_variants(&rollout.config),
        &config.languages,
    )?;
    let mut report = run_warmup(config, &rollout.config, &base, jobs, env, ctx).await;
    report["audited"] = audit_warmup(env, operator, &reason, &report).await.into();
    Ok(Reply::json(200, json::text(&report)))
}

/// Writes a warmup into the audit log; false (and a log line) when the control plane is out of
/// reach — the warmup itself has happened.
pub async fn audit_warmup(env: &Env, operator: &str, reason: &str, report: &Value) -> bool {
    let event = ControlRequest::Event {
        operator: operator.to_string(),
        action: "warmup".into(),
        reason: reason.to_string(),
        // The report's counts (numbers, as `run_warmup` writes them).
        detail: object! {
            "jobs": report["jobs"].as_u64(),
            "ok": report["ok"].as_u64(),
            "failed": report["failed"].as_u64(),
        },
    };
    match control::call(env, &event).await {
        Ok((200, _)) => true,
        Ok((_, v)) => {
            worker::console_warn!("warmup not audited: {}", json::text(&v));
            false
        }
        Err(p) => {
            worker::console_warn!("warmup not audited: {}", p.detail);
            false
        }
    }
}

/// Runs warmup jobs one after the other (gentle on the origin), storing inline so that each
/// reported entry exists when the report is returned.
pub async fn run_warmup(
    config: &EdgeConfig,
    rollout: &RolloutConfig,
    base: &Url,
    jobs: Vec<WarmupJob>,
    env: &Env,
    ctx: &Waiter<'_>,
) -> Value {
    let mut results = Vec::new();
    let mut ok = 0;
    for job in &jobs {
        let started = platform::now();
        let Ok(url) = base.join_path(&job.path) else {
            results.push(object! {"path": job.path.as_str(), "error": "not a path"});
            continue;
        };
        let rule = config.rules.rule_for(url.path());
        let headers = vec![("accept-language".to_string(), job.lang.as_str().to_string())];
        let purge = state::purge_state(env, started, config.state_refresh_ms).await;
        let request = cache_flow::cache_request(
            config,
            rule,
            OriginChoice::of(rollout, job.variant),
            url,
            headers,
            false,
            rollout.release(job.variant),
            purge.generation,
            true,
        );
        let reply = cache_flow::serve(request, purge, started, ctx).await;
        let outcome = reply.cache.as_ref().map(|r| r.outcome.as_str());
        if reply.status < 400 {
            ok += 1;
        }
        results.push(object! {
            "path": job.path.as_str(),
            "variant": job.variant.as_str(),
            "lang": job.lang.as_str(),
            "status": reply.status,
            "outcome": outcome,
            "ms": platform::now().since(started),
        });
    }
    object! {"jobs": jobs.len(), "ok": ok, "failed": jobs.len() - ok, "results": results}
}
