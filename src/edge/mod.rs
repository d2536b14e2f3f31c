//! The Workers glue (wasm32 only): reads the request, the clock and the bindings, asks the core,
//! and carries out its answer. No policy lives here.

mod convert;
mod handler;
mod origin;
mod platform;

use worker::{event, Context, Env, Request};

#[event(start)]
fn start() {
    console_error_panic_hook::set_once();
}

#[event(fetch)]
async fn fetch(req: Request, env: Env, ctx: Context) -> worker::Result<web_sys::Response> {
    handler::handle(req, env, ctx)
        .await
        .map_err(worker::Error::from)
}

use worker::web_sys;
