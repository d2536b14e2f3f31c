//! Demo origin: a small native imitation of the marketplace catalog API that catalog-edge
//! fronts, with test controls under `/__origin/` (latency, failures, ETag switch, echo
//! endpoints, request counters and log).
#![forbid(unsafe_code)]

pub mod bulk;
pub mod catalog;
pub mod config;
pub mod controls;
pub mod data;
pub mod echo;
pub mod etag;
pub mod lang;
pub mod listings;
pub mod query;
pub mod search;
pub mod server;
