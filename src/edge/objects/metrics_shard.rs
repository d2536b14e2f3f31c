//! One canary-analysis aggregator (glue, the objects worker only): a `MetricsShard` Durable
//! Object (SQLite) summing the per-(variant, route, 10 s) counts isolates flush to it
//! (`ShardRequest::Ingest`) and answering the sums of a window (`ShardRequest::Read`). Two hours
//! are kept. Its client is `edge/metrics_shard.rs`.

use serde::Deserialize;
use serde_json::json;
use worker::{durable_object, DurableObject, Env, Request, Response, SqlStorageValue, State};

use crate::analysis::cell::{self, Cell, CellKey, Cells, Summary};
use crate::edge::metrics_shard::ShardRequest;
use crate::variant::Variant;

/// Buckets an aggregator keeps: two hours.
const KEEP_BUCKETS: u64 = 720;

#[derive(Deserialize)]
struct Row {
    bucket: f64,
    variant: String,
    route: String,
    data: String,
}

/// One aggregator.
#[durable_object]
pub struct MetricsShard {
    state: State,
    ready: std::cell::Cell<bool>,
}

impl DurableObject for MetricsShard {
    fn new(state: State, _env: Env) -> Self {
        MetricsShard {
            state,
            ready: std::cell::Cell::new(false),
        }
    }

    async fn fetch(&self, mut req: Request) -> worker::Result<Response> {
        let text = req.text().await.unwrap_or_default();
        let request: ShardRequest = match serde_json::from_str(&text) {
            Ok(r) => r,
            Err(e) => {
                return Ok(Response::from_json(
                    &json!({"error": "invalid_request", "detail": e.to_string()}),
                )?
                .with_status(400))
            }
        };
        let sql = self.state.storage().sql();
        if !self.ready.get() {
            sql.exec(
                "CREATE TABLE IF NOT EXISTS cells (bucket INTEGER NOT NULL, variant TEXT NOT NULL, \
                 route TEXT NOT NULL, data TEXT NOT NULL, PRIMARY KEY (bucket, variant, route))",
                None,
            )?;
            self.ready.set(true);
        }
        match request {
            ShardRequest::Ingest { cells } => {
                let mut newest = 0;
                // Read-merge-write with no await in between: flushes never interleave.
                for w in cells {
                    newest = newest.max(w.key.bucket);
                    let bindings = || -> worker::Result<Vec<SqlStorageValue>> {
                        Ok(vec![
                            SqlStorageValue::try_from_i64(w.key.bucket as i64)?,
                            w.key.variant.as_str().into(),
                            w.key.route.as_str().into(),
                        ])
                    };
                    let mut cell = sql
                        .exec(
                            "SELECT bucket, variant, route, data FROM cells \
                             WHERE bucket = ? AND variant = ? AND route = ?",
                            bindings()?,
                        )?
                        .to_array::<Row>()?
                        .pop()
                        .and_then(|r| serde_json::from_str::<Cell>(&r.data).ok())
                        .unwrap_or_default();
                    cell.merge(&w.cell);
                    let mut b = bindings()?;
                    b.push(serde_json::to_string(&cell).unwrap_or_default().into());
                    sql.exec(
                        "INSERT OR REPLACE INTO cells (bucket, variant, route, data) VALUES (?, ?, ?, ?)",
                        b,
                    )?;
                }
                sql.exec(
                    "DELETE FROM cells WHERE bucket < ?",
                    vec![SqlStorageValue::try_from_i64(
                        newest.saturating_sub(KEEP_BUCKETS) as i64,
                    )?],
                )?;
                Response::from_json(&json!({"ok": true}))
            }
            ShardRequest::Read { since_bucket } => {
                let rows = sql
                    .exec(
                        "SELECT bucket, variant, route, data FROM cells WHERE bucket >= ?",
                        vec![SqlStorageValue::try_from_i64(since_bucket as i64)?],
                    )?
                    .to_array::<Row>()?;
                // Rows come in no particular order: collected, then sorted once.
                let mut pairs = Vec::with_capacity(rows.len());
                for r in rows {
                    let (Some(variant), Ok(cell)) = (
                        Variant::parse(&r.variant),
                        serde_json::from_str::<Cell>(&r.data),
                    ) else {
                        continue;
                    };
                    let key = CellKey {
                        bucket: r.bucket as u64,
                        variant,
                        route: r.route,
                    };
                    pairs.push((key, cell));
                }
                let cells = Cells::from_unsorted(pairs);
                let summary = Summary::of(&cells, since_bucket);
                Response::from_json(&json!({
                    "routes": cell::to_wire(&summary.routes),
                    "series": cell::to_wire(&summary.series),
                }))
            }
        }
    }
}
