//! The Durable Objects (glue), built into the objects worker only (`--features objects`,
//! `wrangler.objects.toml`): the control plane and the canary analysis' aggregators. The edge
//! worker binds their namespaces by `script_name` and never loads their code.

mod control_plane;
mod metrics_shard;
