//! The edge cache's decisions: route rules, keys, storability and freshness, the lifecycle of a
//! cacheable request ([`lifecycle`]), claims ([`lock`]), how a body is stored within the
//! isolate's memory ([`body`]), outcomes and their headers, purges and stats. No I/O here; the
//! glue carries out what these functions decide.

pub mod body;
pub mod cache_control;
pub mod classify;
pub mod entry;
pub mod freshness;
pub mod http_date;
pub mod key;
pub mod lifecycle;
pub mod lock;
pub mod lookups;
pub mod memory;
pub mod meta;
pub mod policy;
pub mod purge;
pub mod range;
pub mod rules;
pub mod stats;
pub mod status;
pub mod tags;
pub mod warmup;
