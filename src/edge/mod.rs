//! The Workers glue (wasm32 only): reads the request, the clock and the bindings, asks the core,
//! and carries out its answer. No policy lives here.
//!
//! One crate, two Workers (README: Layout): the edge worker (feature `edge`, the default: the
//! fetch and cron handlers below, `wrangler.toml`) and the objects worker (feature `objects`:
//! the Durable Objects in [`objects`], `wrangler.objects.toml`). Each build exports only its
//! own entry points, so the edge's Wasm holds no Durable Object code. Built with one feature,
//! the glue the other worker needs is dead code; lints run with both (`--features objects`),
//! where nothing is.
#![cfg_attr(
    not(all(feature = "edge", feature = "objects")),
    allow(dead_code, unused_imports)
)]

mod admin;
mod auth;
mod cache_flow;
mod control;
mod convert;
mod handler;
mod memory;
mod metrics_shard;
#[cfg(feature = "objects")]
mod objects;
mod origin;
mod platform;
mod reply;
mod state;
mod store;
mod task;

use wasm_bindgen::prelude::wasm_bindgen;
use worker::{event, web_sys, Env, ScheduledEvent};

use wasm_bindgen::JsValue;

use crate::config::vars;

#[event(start)]
fn start() {
    console_error_panic_hook::set_once();
}

/// The fetch entry point, exported to the worker-build shim as `#[event(fetch)]` would export it,
/// but run by [`task`]: its first poll runs inside `fetch` (no microtask before it; a wake still
/// schedules the next poll in one, see `task`). Only in the edge worker. An error the
/// handler could not turn into a response is logged and answered with a bare 500, as the macro
/// does.
#[cfg(feature = "edge")]
#[wasm_bindgen]
pub fn fetch(req: web_sys::Request, env: Env, ctx: worker::worker_sys::Context) -> JsValue {
    let answer = task::value_or_promise(async move {
        match handler::handle(req, env, ctx).await {
            Ok(response) => response.into(),
            Err(e) => {
                worker::console_error!("{}", convert::js_error_message(&e));
                worker::Response::error("INTERNAL SERVER ERROR", 500)
                    .map(web_sys::Response::from)
                    .map(JsValue::from)
                    .unwrap_or(JsValue::UNDEFINED)
            }
        }
    });
    // A response, or a promise of one: the runtime takes either.
    answer.unwrap_or_else(JsValue::from)
}

/// The cron trigger's entry point (`[triggers] crons`), exported as `#[event(scheduled)]` would
/// export it (a promise of `undefined`), but run by [`task`] as `fetch` is: the macro's
/// `future_to_promise` machinery (its abortable task, ~8 KB of Wasm) is then not in the edge.
#[cfg(feature = "edge")]
#[wasm_bindgen]
pub fn scheduled(
    event: worker::worker_sys::ScheduledEvent,
    env: Env,
    ctx: worker::worker_sys::ScheduleContext,
) -> js_sys::Promise {
    task::promise(async move {
        warm(ScheduledEvent::from(event), env, ctx).await;
        JsValue::UNDEFINED
    })
}

/// The cron trigger: warms the configured paths for every active variant and language, like the
/// origin team's 6-hourly refresh daemon.
#[cfg(feature = "edge")]
async fn warm(event: ScheduledEvent, env: Env, ctx: worker::worker_sys::ScheduleContext) {
    let state = platform::config(&env);
    let Ok(config) = state.as_ref() else {
        worker::console_error!("scheduled warmup skipped: the configuration is invalid");
        return;
    };
    let Some(base) = config.public_url.clone() else {
        worker::console_warn!(
            "scheduled warmup skipped: set {} to the worker's public URL",
            vars::PUBLIC_URL
        );
        return;
    };
    let rollout = state::rollout(&env, platform::now(), config).await;
    let jobs = match crate::cache::warmup::plan(
        "",
        &config.warmup_paths,
        &admin::active_variants(&rollout.config),
        &config.languages,
    ) {
        Ok(j) => j,
        Err(e) => {
            worker::console_error!("scheduled warmup skipped: {}", e);
            return;
        }
    };
    let report = admin::run_warmup(
        config,
        &rollout.config,
        &base,
        jobs,
        &env,
        &platform::Waiter::Scheduled(&ctx),
    )
    .await;
    let reason = format!("scheduled warmup (cron {})", event.cron());
    let audited = admin::audit_warmup(&env, "cron", &reason, &report).await;
    worker::console_log!(
        "{}",
        crate::json::text(&object! {"event": "scheduled_warmup", "cron": event.cron(),
        "base": base.as_str(), "ok": report["ok"].as_u64(), "failed": report["failed"].as_u64(),
        "audited": audited})
    );
}
