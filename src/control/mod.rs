//! The control plane's decisions. One Durable Object (`edge/control.rs`) is the only writer of
//! the rollout configuration, its history, the purge state and the audit log: it serialises every
//! write, stores it in one transaction, and publishes the result to KV, where every edge isolate
//! reads it. The object stores, serialises and schedules; everything it decides is here, as pure
//! functions tested natively:
//!
//! - [`record`]: the versioned record, the audit entry, and the seal that tells the object's own
//!   documents from hand-written ones;
//! - [`write`]: a rollout write — expected version (409 on conflict), recovery from an unreadable
//!   record, the next record and its audit entries; adoption of an emergency KV edit;
//! - [`purge`]: a purge — the next purge state and its audit entry;
//! - [`reconcile`]: what a document found in KV is (own, external, unreadable), and the one-time
//!   import of the state that earlier releases kept in KV;
//! - [`edge`]: which state an edge isolate uses (never an older one than it already uses);
//! - [`wire`]: the requests the edge sends the object.

pub mod edge;
pub mod purge;
pub mod reconcile;
pub mod record;
pub mod wire;
pub mod write;

/// Versions kept in the history.
pub const HISTORY_LEN: u64 = 1_000;
/// Audit entries kept.
pub const AUDIT_LEN: u64 = 10_000;
/// Items kept aside (unreadable records found in KV).
pub const QUARANTINE_LEN: u64 = 1_000;
/// Most items an API list answers with.
pub const MAX_LIST_LIMIT: usize = 500;
