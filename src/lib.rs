//! catalog-edge: an edge layer for the marketplace catalog API.
//!
//! Two layers in one crate. Everything that *decides* — routing, config validation, request
//! forwarding rules, header formatting — is plain Rust in the modules below, compiled and tested
//! natively. The Workers glue in [`edge`] (wasm32 only) reads the request, the clock and the
//! bindings, asks the core, and carries out the answer.
#![deny(unsafe_code)]

// First: its `object!` is used by the modules below.
#[macro_use]
pub mod json;
pub mod json_text;

pub mod admin;
pub mod analysis;
pub mod cache;
pub mod canary;
pub mod config;
pub mod control;
pub mod cookie;
pub mod dashboard;
pub mod decimal;
pub mod forward;
pub mod hash;
pub mod headers;
pub mod health;
pub mod lang;
pub mod metrics;
pub mod origin_url;
pub mod path;
pub mod problem;
pub mod request_log;
pub mod route;
pub mod time;
pub mod timing;
pub mod trace;
pub mod variant;
pub mod vec_map;
pub mod web_url;

#[cfg(target_arch = "wasm32")]
mod edge;

/// The worker's version, reported by `/__edge/health`.
pub const VERSION: &str = env!("CARGO_PKG_VERSION");
