//! Deploy preflight (`npm run preflight`, run first by `npm run deploy`): refuses a deploy that
//! would ship the dev stack's loopback origins, the placeholder KV id, a Durable Object class
//! without its migration or no guard for a missing secret, and reports the upload size against
//! the budget. The checks are plain functions over the deploy configuration ([`wrangler`]);
//! `main.rs` reads the files, runs `wrangler deploy --dry-run` and prints the report.
#![forbid(unsafe_code)]

pub mod checks;
pub mod size;
pub mod wrangler;
