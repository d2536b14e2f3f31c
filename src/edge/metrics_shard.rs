//! The canary analysis' aggregators' client (glue): `METRICS_SHARDS` Durable Objects
//! (`MetricsShard`, SQLite, `edge/objects/metrics_shard.rs`, in the objects worker), each summing the per-(variant, route, 10 s) counts that isolates flush to it, and
//! answering the sums of a window (per route over the window, per minute over routes). Isolates
//! pick a shard at random when they start, so each
//! shard sees `1 / METRICS_SHARDS` of the flushes; the control plane reads every shard and
//! merges (`analysis::cell`), for its rollout analyses and for the analysis API, which the edge
//! relays to it. Two hours are kept.

use serde::{Deserialize, Serialize};
use worker::Env;

use crate::analysis::cell::{self, Cells, Summary, WireCell};

/// The binding of the aggregators' namespace.
pub const BINDING: &str = "METRICS";

/// What an aggregator is asked.
#[derive(Debug, Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "snake_case")]
pub enum ShardRequest {
    /// Add these counts.
    Ingest {
        /// The counts.
        cells: Vec<WireCell>,
    },
    /// The sums of the buckets from `since_bucket` on.
    Read {
        /// The first bucket.
        since_bucket: u64,
    },
}

/// Sends one request to shard `index` and returns its JSON answer.
async fn ask(env: &Env, index: u32, request: &ShardRequest) -> Result<serde_json::Value, String> {
    let (status, text) = super::platform::ask_object(
        env,
        BINDING,
        &format!("shard-{index}"),
        "https://metrics.internal/",
        &serde_json::to_string(request).unwrap_or_default(),
    )
    .await
    .map_err(|why| {
        why.unwrap_or_else(|| format!("the Durable Object binding {BINDING} is not configured"))
    })?;
    if status != 200 {
        return Err(format!("shard-{index} answered {status}: {text}"));
    }
    serde_json::from_str(&text).map_err(|e| format!("shard-{index}: {e}"))
}

/// Flushes an isolate's counts to its shard.
pub async fn flush(env: &Env, index: u32, cells: &Cells) -> Result<(), String> {
    let request = ShardRequest::Ingest {
        cells: cell::to_wire(cells),
    };
    ask(env, index, &request).await.map(|_| ())
}

/// Runs `futures` together; their outputs in order. What `futures::future::join_all` does for a
/// few futures (every pending one polled on each wake), without its many-futures machinery
/// (`FuturesOrdered`, ~3 KB of Wasm) that the edge needs for nothing else.
async fn join_all<F: std::future::Future>(futures: Vec<F>) -> Vec<F::Output> {
    let mut pending: Vec<_> = futures.into_iter().map(Box::pin).collect();
    let mut outputs: Vec<Option<F::Output>> = pending.iter().map(|_| None).collect();
    std::future::poll_fn(|cx| {
        let mut done = true;
        for (future, output) in pending.iter_mut().zip(outputs.iter_mut()) {
            if output.is_none() {
                match future.as_mut().poll(cx) {
                    std::task::Poll::Ready(v) => *output = Some(v),
                    std::task::Poll::Pending => done = false,
                }
            }
        }
        if done {
            std::task::Poll::Ready(())
        } else {
            std::task::Poll::Pending
        }
    })
    .await;
    outputs.into_iter().flatten().collect()
}

/// Every shard's summary of the buckets from `since_bucket` on, merged, and the shards that
/// could not be read (their counts are missing from the sum; the answer says so).
pub async fn read_all(env: &Env, shards: u32, since_bucket: u64) -> (Summary, Vec<String>) {
    let request = ShardRequest::Read { since_bucket };
    let answers = join_all((0..shards).map(|i| ask(env, i, &request)).collect()).await;
    let mut summary = Summary::default();
    let mut failed = Vec::new();
    let list = |v: &serde_json::Value, name: &str| {
        // Read from its text rather than `from_value`: one deserializer (the text's) for every
        // type the edge reads, not a second copy of each for `Value`.
        serde_json::from_str::<Vec<WireCell>>(&v[name].to_string()).map_err(|e| e.to_string())
    };
    for answer in answers {
        match answer.and_then(|v| Ok((list(&v, "routes")?, list(&v, "series")?))) {
            Ok((routes, series)) => summary.merge(Summary {
                routes: cell::from_wire(routes),
                series: cell::from_wire(series),
            }),
            Err(e) => failed.push(e),
        }
    }
    (summary, failed)
}

#[cfg(all(test, target_arch = "wasm32"))]
mod tests {
    use super::*;
    use wasm_bindgen_test::wasm_bindgen_test;

    /// Ready after `n` polls that said pending (waking itself each time).
    async fn after(n: u32, value: &'static str) -> &'static str {
        let mut left = n;
        std::future::poll_fn(|cx| {
            if left == 0 {
                return std::task::Poll::Ready(());
            }
            left -= 1;
            cx.waker().wake_by_ref();
            std::task::Poll::Pending
        })
        .await;
        value
    }

    #[wasm_bindgen_test]
    async fn join_all_waits_for_every_future_and_keeps_their_order() {
        let got = join_all(vec![
            Box::pin(after(3, "a")) as std::pin::Pin<Box<dyn std::future::Future<Output = _>>>,
            Box::pin(after(0, "b")),
            Box::pin(after(1, "c")),
        ])
        .await;
        assert_eq!(got, ["a", "b", "c"]);
        assert!(join_all(Vec::<std::future::Ready<u8>>::new())
            .await
            .is_empty());
    }
}
