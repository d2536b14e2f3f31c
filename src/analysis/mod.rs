//! Canary analysis at the edge, as pure functions. The edge sees every request of both variants;
//! each isolate counts them per (variant, route, minute) ([`cell`], with fixed-bucket latency
//! [`histogram`]s), flushes the counts to sharded aggregator objects, and the control plane merges
//! every shard into a fleet-wide window, judges the canary against thresholds ([`verdict`]) and
//! drives a rollout's step schedule ([`rollout`]): advance after a clean hold, roll back at once
//! when a threshold breaks, wait when there is too little traffic.

pub mod cell;
pub mod health;
pub mod histogram;
pub mod rollout;
pub mod verdict;
