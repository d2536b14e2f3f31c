//! The edge cache's decisions: route rules, keys, storability and freshness, outcomes and their
//! headers, purges and stats. No I/O here; the glue carries out what these functions decide.

pub mod cache_control;
pub mod coalesce;
pub mod entry;
pub mod freshness;
pub mod http_date;
pub mod key;
pub mod memory;
pub mod policy;
pub mod purge;
pub mod rules;
pub mod stats;
pub mod status;
pub mod warmup;
