//! The request pipeline: classify, answer or forward (through the cache when the route allows),
//! then add the edge's headers.

use worker::wasm_bindgen::JsValue;
use worker::web_sys;
use worker::{Env, Headers, Request};

use super::admin as admin_glue;
use super::cache_flow;
use super::convert;
use super::origin::{OriginCall, OriginChoice};
use super::platform::{self, Waiter};
use super::reply::{Body, Reply};
use super::state;
use super::store;
use crate::admin;
use crate::analysis::cell::Observation;
use http::{Method, StatusCode};

use crate::cache::classify;
use crate::cache::key;
use crate::cache::lifecycle;
use crate::cache::policy;
use crate::cache::rules::RouteRule;
use crate::cache::status::{CacheReport, Outcome};
use crate::canary;
use crate::config::EdgeConfig;
use crate::forward;
use crate::headers;
use crate::health::{
    AdminStatus, CanaryStatus, HealthReport, PurgeStatus, RequestLogStatus, RolloutStatus,
};
use crate::metrics::RequestRecord;
use crate::problem::Problem;
use crate::request_log::{LogCounts, RequestLog};
use crate::route::{self, Route};
use crate::time::UnixMillis;
use crate::timing::{names, ServerTiming};
use crate::trace::TraceParent;
use crate::variant::Variant;
use std::cell::RefCell;

/// Answers one request. Never fails for a reason of the request's: every error becomes a JSON
/// problem response.
pub async fn handle(
    req: web_sys::Request,
    env: Env,
    ctx: worker::worker_sys::Context,
) -> Result<web_sys::Response, JsValue> {
    let started = platform::now();
    let ctx = Waiter::Fetch(&ctx);
    let state = platform::config(&env);
    let config = state.as_ref().as_ref().ok();

    // Method (as sent: `worker::Method` reads an unknown one as GET), URL, colo and headers in
    // one call; the `worker::Request` wrapper only for the routes that read more of it.
    let incoming = convert::incoming(&req);
    let method = incoming.method.clone();
    let path = crate::path::of_url(&incoming.url).to_string();
    let colo = incoming.colo.clone();
    let route = route::classify(&method, &path, config);
    let route_label = route.as_str();
    let mut reply = match route {
        Route::Metrics => metrics_endpoint(&incoming.headers, config, started),
        Route::Health => {
            let (status, report) = match state.as_ref() {
                Ok(c) => {
                    let (status, report) = HealthReport::new(Some(c.origin_url.as_str()), &[]);
                    let r = state::rollout(&env, started, c).await;
                    let purge = state::purge_state(&env, started, c.state_refresh_ms).await;
                    let (_, canary) = state::recent(started);
                    let problem = crate::analysis::health::canary_problem(&canary);
                    let report = report
                        .with_rollout(RolloutStatus::of(&r))
                        .with_purge(PurgeStatus::of(&purge, state::purge_problem()))
                        .with_admin(AdminStatus::of(c))
                        .with_canary(CanaryStatus {
                            status: if problem.is_some() { "failing" } else { "ok" },
                            requests: canary.requests,
                            errors: canary.errors,
                            fallbacks: canary.fallbacks,
                            problem,
                        })
                        .with_request_log(RequestLogStatus::of(c.request_log, &log_counts()))
                        .with_cache_api(&super::store::lookup_failures(), started);
                    (status, report)
                }
                Err(errors) => HealthReport::new(None, errors),
            };
            Reply::json(status, serde_json::to_string(&report).unwrap_or_default())
        }
        Route::Admin(admin_route) => {
            let req = Request::from(req);
            admin_glue::handle(admin_route, req, &env, &ctx, &state, started).await
        }
        Route::DashboardRedirect => {
            let mut reply = Reply::new(
                301,
                vec![("location".into(), "/__edge/".into())],
                Body::Empty,
            );
            reply
                .headers
                .push(("cache-control".into(), "no-store".into()));
            reply
        }
        Route::Dashboard(asset) => dashboard(&incoming.url, &env, &asset, &path).await,
        Route::EdgeNotFound => Reply::problem(&Problem::not_found(&path)),
        Route::Blocked => Reply::problem(&Problem::new(
            404,
            "not_found",
            format!("{path} is not forwarded by the edge"),
        )),
        Route::Proxy => match state.as_ref() {
            Ok(config) => proxy(&req, incoming, config, &env, &ctx, started).await,
            Err(errors) => {
                let errors: Vec<String> = errors.iter().map(ToString::to_string).collect();
                Reply::problem(&Problem::config_invalid(&errors))
            }
        },
    };
    if reply.route.is_none() {
        reply.route = Some(route_label.to_string());
    }
    let total_ms = platform::now().since(started);
    observe(&reply, &env, &ctx, config, started, total_ms);
    let log = config.map(|c| c.request_log).unwrap_or_default();
    record(&reply, &env, log, method, path, colo, started, total_ms);
    finish(reply, config, total_ms)
}

/// `GET /__edge/metrics`: the isolate's Prometheus metrics, for the admin token only.
fn metrics_endpoint(
    request_headers: &[(String, String)],
    config: Option<&EdgeConfig>,
    now: UnixMillis,
) -> Reply {
    let authorization = headers::get(request_headers, "authorization");
    let operators = config.map(|c| c.operators.clone()).unwrap_or_default();
    let auth = admin::authorize(authorization, &operators);
    if let Err(refused) = super::auth::refuse(auth, config) {
        return *refused;
    }
    Reply::new(
        200,
        vec![
            (
                "content-type".into(),
                "text/plain; version=0.0.4; charset=utf-8".into(),
            ),
            ("cache-control".into(), "no-store".into()),
        ],
        Body::Text({
            let (flushes, failed, lost, _) = state::analysis_counters();
            state::with_metrics(now, |m| m.exposition())
                + &crate::metrics::canary_exposition(
                    state::weight_in_force().unwrap_or(0),
                    flushes,
                    failed,
                    lost,
                )
                + &crate::metrics::memory_exposition(&super::memory::stats(
                    config.map_or(0, |c| c.memory_cache_bytes),
                ))
                + &crate::metrics::store_exposition(
                    &super::memory::store_budget(config.map_or(0, |c| c.store_buffer_bytes))
                        .stats(),
                )
                + &super::store::lookup_failures().exposition()
                + &crate::request_log::exposition(
                    config.map(|c| c.request_log).unwrap_or_default(),
                    &log_counts(),
                )
        }),
    )
}

thread_local! {
    /// This isolate's request log lines, written and left out (`REQUEST_LOG`).
    static LOG_COUNTS: RefCell<LogCounts> = RefCell::new(LogCounts::default());
}

/// This isolate's request log counts (metrics, health).
pub(super) fn log_counts() -> LogCounts {
    LOG_COUNTS.with_borrow(|c| *c)
}

/// One log line (as `REQUEST_LOG` says), one Analytics Engine data point (when
/// `EDGE_ANALYTICS` is bound) and the isolate's Prometheus metrics for a request. Never the
/// token, cookies or the query.
#[allow(clippy::too_many_arguments)]
fn record(
    reply: &Reply,
    env: &Env,
    log: RequestLog,
    method: String,
    path: String,
    colo: Option<String>,
    started: UnixMillis,
    total_ms: u64,
) {
    let waited = reply.origin_ms.unwrap_or(0) + reply.cache_ms.unwrap_or(0);
    let rec = RequestRecord {
        at_ms: started.0,
        method,
        path,
        route: reply.route.clone().unwrap_or_default(),
        variant: reply.assigned,
        served_by: reply.variant,
        outcome: reply.cache.as_ref().map(|c| c.outcome.as_str()),
        status: reply.status,
        edge_ms: total_ms.saturating_sub(waited),
        cache_ms: reply.cache_ms,
        origin_ms: reply.origin_ms,
        total_ms,
        colo,
        trace_id: reply.trace_id.clone(),
        origin_error: reply.origin_error || reply.cache.as_ref().is_some_and(|c| c.fallback),
        fallback: reply.cache.as_ref().is_some_and(|c| c.fallback),
        weight_bp: reply.assigned.and_then(|_| state::weight_in_force()),
    };
    // The line as it is (`console_log!` would format it into a second string first), when
    // REQUEST_LOG keeps it (counted either way).
    if LOG_COUNTS.with_borrow_mut(|c| c.decide(log, &rec)) {
        web_sys::console::log_1(&JsValue::from_str(&rec.log_line()));
    }
    state::with_metrics(started, |m| m.observe(&rec));
    if let Some(dataset) = state::analytics(env, ANALYTICS_BINDING) {
        let p = rec.data_point();
        let point = worker::AnalyticsEngineDataPointBuilder::new()
            .indexes([p.indexes[0].as_str()])
            .blobs(p.blobs.iter().map(String::as_str))
            .doubles(p.doubles)
            .build();
        if let Err(e) = dataset.write_data_point(&point) {
            worker::console_warn!("analytics engine write failed: {}", e);
        }
    }
}

/// Counts a proxied request for the canary analysis, under the variant it was assigned, and
/// flushes this isolate's counts to its aggregator (in `waitUntil`) when they are due.
fn observe(
    reply: &Reply,
    env: &Env,
    ctx: &Waiter<'_>,
    config: Option<&EdgeConfig>,
    started: UnixMillis,
    total_ms: u64,
) {
    let (Some(config), Some(variant), Some(route)) = (config, reply.assigned, &reply.route) else {
        return;
    };
    let fallback = reply.cache.as_ref().is_some_and(|c| c.fallback);
    let observation = Observation {
        at_ms: started.0,
        variant,
        route,
        origin_error: reply.origin_error || fallback,
        fallback,
        outcome: reply.cache.as_ref().map(|c| c.outcome.as_str()),
        total_ms,
        origin_ms: reply.origin_ms,
    };
    if let Some((shard, cells)) = state::observe(&observation, config) {
        let env = env.clone();
        ctx.wait_until(async move {
            if let Err(why) = super::metrics_shard::flush(&env, shard, &cells).await {
                worker::console_warn!(
                    "{}",
                    crate::json::text(
                        &object! {"event": "metrics_flush_failed", "shard": shard, "why": why}
                    )
                );
                state::flush_failed(cells, platform::now());
            } else {
                state::flush_succeeded();
            }
        });
    }
}

/// The Analytics Engine dataset binding (optional).
const ANALYTICS_BINDING: &str = "EDGE_ANALYTICS";

/// A dashboard asset from the `ASSETS` binding (`www/`), with the dashboard's security headers.
async fn dashboard(request_url: &str, env: &Env, asset: &str, path: &str) -> Reply {
    let Ok(assets) = env.assets("ASSETS") else {
        return Reply::problem(&Problem::new(
            503,
            "dashboard_unavailable",
            "the ASSETS binding (www/) is not configured",
        ));
    };
    let Ok(mut url) = crate::web_url::Url::parse(request_url) else {
        return Reply::problem(&Problem::not_found(path));
    };
    url.set_path(asset);
    url.set_query(None);
    // A GET built here and `fetch_request`, not `fetch(url, None)`: the latter's `RequestInit`
    // branch would bring worker's `cf` options' conversion (~15 KB of Wasm) into the edge.
    let fetched = match Request::new(url.as_str(), worker::Method::Get) {
        Ok(asked) => assets.fetch_request(asked).await,
        Err(e) => Err(e),
    };
    let resp: web_sys::Response = match fetched {
        Ok(r) => r.into(),
        Err(e) => return Reply::problem(&Problem::internal(format!("assets: {e}"))),
    };
    if resp.status() == 404 {
        return Reply::problem(&Problem::not_found(path));
    }
    let mut headers = convert::header_pairs(&Headers(resp.headers()));
    for (name, value) in crate::dashboard::security_headers() {
        headers::set(&mut headers, name, value);
    }
    Reply::new(resp.status(), headers, Body::Stream(resp.body()))
}

/// Forwards a request (read once by `handle`: `incoming`), through the cache when its route and
/// method allow.
async fn proxy(
    req: &web_sys::Request,
    incoming: convert::Incoming,
    config: &EdgeConfig,
    env: &Env,
    ctx: &Waiter<'_>,
    now: UnixMillis,
) -> Reply {
    let url = match crate::web_url::Url::parse(&incoming.url) {
        Ok(url) => url,
        Err(e) => return Reply::problem(&Problem::internal(format!("unreadable URL: {e}"))),
    };
    let Ok(method) = Method::from_bytes(incoming.method.as_bytes()) else {
        return Reply::problem(&Problem::new(
            405,
            "method_not_allowed",
            "not an HTTP method",
        ));
    };
    let mut headers = incoming.headers;
    // Rules, bypasses and canary participation see the path the origin will route.
    let path = crate::path::normalize(url.path());
    let rule = config.rules.rule_for(&path);
    let client_trace_id = headers::get(&headers, "traceparent")
        .and_then(TraceParent::parse)
        .map(|t| t.trace_id_hex());

    let rollout = state::rollout(env, now, config).await;
    // The token is compared only when the overrides need it.
    let has_admin_token = rollout.config.overrides_require_token
        && matches!(
            admin::authorize(headers::get(&headers, "authorization"), &config.operators),
            admin::Auth::Granted(_)
        );
    if has_admin_token {
        // The edge consumed this Authorization (the QA overrides' admin token): it is never
        // forwarded to the origin, nor counted as the client's own (RFC 9111 §3.5).
        headers::remove(&mut headers, "authorization");
    }
    let assignment =
        canary::assign_or_stable(&rollout.config, &path, &headers, has_admin_token, || {
            platform::random_bytes::<16>().map(|b| crate::trace::hex(&b))
        });
    let variant = assignment.variant;
    let origin = OriginChoice::of(&rollout.config, variant);

    let mut reply = match lifecycle::on_request(&method, rule) {
        None => {
            let purge = state::purge_state(env, now, config.state_refresh_ms).await;
            let request = cache_flow::cache_request(
                config,
                rule,
                origin,
                url,
                headers,
                method == Method::HEAD,
                rollout.config.release(variant),
                purge.generation,
                false,
            );
            cache_flow::serve(request, purge, now, ctx).await
        }
        Some(reason) => {
            let call = OriginCall::new(
                &origin,
                &url,
                &headers,
                method.as_str(),
                config.origin_timeout_ms,
            );
            let body = match method {
                Method::GET | Method::HEAD => None,
                _ => req.body().map(JsValue::from),
            };
            let origin = call.send(&[], body).await;
            let mut report = CacheReport::new(Outcome::Bypass(reason));
            report.fallback = origin.fell_back;
            let mut reply = match origin.result {
                Ok(resp) => {
                    report.fwd_status = Some(resp.status());
                    let status = resp.status();
                    let pairs = forward::client_response_headers(
                        &convert::header_pairs(&Headers(resp.headers())),
                        config.edge_cache_control_field.as_deref(),
                    );
                    let mut reply = Reply::new(status, pairs, Body::Stream(resp.body()));
                    reply.origin_error = classify::is_failure(status);
                    reply
                }
                Err(e) => {
                    let mut reply =
                        Reply::problem(&cache_flow::origin_problem(&e, call.timeout_ms, &call.url));
                    reply.origin_error = true;
                    reply
                }
            };
            reply.origin_ms = Some(origin.dur_ms);
            reply.cache = Some(report);
            let status = StatusCode::from_u16(reply.status).unwrap_or(StatusCode::BAD_GATEWAY);
            if policy::invalidates(&method, status) {
                invalidate(
                    config,
                    rule,
                    &rollout.config.releases(),
                    &url,
                    env,
                    ctx,
                    now,
                )
                .await;
            }
            reply
        }
    };
    let fell_back = reply.cache.as_ref().is_some_and(|r| r.fallback);
    if let Some(report) = &reply.cache {
        state::with_stats(now, |s| {
            s.record(&rule.id, variant, report.outcome, reply.origin_error);
            if fell_back {
                s.record_fallback(&rule.id, variant);
            }
        });
    }
    // Which origin answered: a canary request that fell back was served by stable.
    let served_by = if fell_back { Variant::Stable } else { variant };
    reply.route = Some(rule.id.clone());
    reply.variant = Some(served_by);
    reply.assigned = Some(variant);
    if reply.trace_id.is_none() {
        // A hit contacted no origin: log the client's own trace, if it sent a valid one.
        reply.trace_id = client_trace_id;
    }
    headers::set(&mut reply.headers, "x-edge-variant", served_by.as_str());
    if let Some(cookie) = assignment.set_cookie {
        reply.headers.push(("set-cookie".into(), cookie));
    }
    reply
}

/// RFC 9111 §4.4: a successful unsafe request invalidates the stored responses of its URL (in
/// this data centre; the purge API reaches every data centre).
async fn invalidate(
    config: &EdgeConfig,
    rule: &RouteRule,
    releases: &[&str],
    url: &crate::web_url::Url,
    env: &Env,
    ctx: &Waiter<'_>,
    now: UnixMillis,
) {
    let generation = state::purge_state(env, now, config.state_refresh_ms)
        .await
        .generation;
    let keys = key::all_primary_keys(url, rule, releases, generation, &config.tracking);
    let limits = super::memory::limits(config);
    for k in &keys {
        super::memory::invalidate(limits, k, now);
    }
    ctx.wait_until(async move {
        for k in keys {
            store::delete(&k).await;
        }
    });
}

/// Adds the edge's headers (`Server-Timing`, `Cache-Status`, `X-Cache`, `Age`,
/// `Timing-Allow-Origin`), then builds the response.
fn finish(
    mut reply: Reply,
    config: Option<&EdgeConfig>,
    total_ms: u64,
) -> Result<web_sys::Response, JsValue> {
    let waited = reply.origin_ms.unwrap_or(0) + reply.cache_ms.unwrap_or(0);
    let mut timing = ServerTiming::new();
    timing.dur(names::EDGE, total_ms.saturating_sub(waited) as f64);
    if let Some(report) = &reply.cache {
        timing.desc(
            names::CACHE,
            reply.cache_ms.map(|ms| ms as f64),
            report.outcome.as_str(),
        );
        headers::set(&mut reply.headers, "cache-status", report.cache_status());
        headers::set(&mut reply.headers, "x-cache", report.outcome.x_cache());
        if let Some(age) = lifecycle::age_to_add(report.outcome, &reply.headers) {
            reply.headers.push(("age".into(), age.into()));
        }
    }
    if let Some(origin_ms) = reply.origin_ms {
        timing.dur(names::ORIGIN, origin_ms as f64);
    }
    if reply.cache.as_ref().is_some_and(|r| r.fallback) {
        timing.desc(names::FALLBACK, None, "canary-failed");
    }
    timing.dur(names::TOTAL, total_ms as f64);
    reply
        .headers
        .push(("server-timing".into(), timing.into_header()));
    if let Some(tao) = config.and_then(|c| c.timing_allow_origin.as_deref()) {
        headers::set(&mut reply.headers, "timing-allow-origin", tao);
    }

    let built = convert::build_response(
        reply.status,
        reply.base.as_ref(),
        &reply.headers,
        reply.body,
    );
    built.or_else(|e| {
        let problem = Problem::internal(format!(
            "could not build the response: {}",
            convert::js_error_message(&e)
        ));
        worker::console_error!("{}", problem.detail);
        let headers = Headers::new();
        // The edge's own `Server-Timing` is the last of that name (an origin's may precede it).
        let ours = reply
            .headers
            .iter()
            .rev()
            .find(|(n, _)| n == "server-timing");
        if let Some((_, server_timing)) = ours {
            let _ = headers.set("server-timing", server_timing);
        }
        convert::problem_response(&problem, &headers)
    })
}
