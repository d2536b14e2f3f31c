//! The canary analysis' aggregators (glue): `METRICS_SHARDS` Durable Objects (`MetricsShard`,
//! SQLite), each summing the per-(variant, route, 10 s) counts that isolates flush to it, and
//! answering the sums of a window (per route over the window, per minute over routes). Isolates
//! pick a shard at random when they start, so each
//! shard sees `1 / METRICS_SHARDS` of the flushes; the control plane and the analysis API read
//! every shard and merge (`analysis::cell`). Two hours are kept.

use serde::{Deserialize, Serialize};
use serde_json::json;
use worker::wasm_bindgen::JsValue;
use worker::{
    durable_object, DurableObject, Env, Request, RequestInit, Response, SqlStorageValue, State,
};

use crate::analysis::cell::{self, Cell, CellKey, Cells, Summary, WireCell};
use crate::variant::Variant;

/// The binding of the aggregators' namespace.
pub const BINDING: &str = "METRICS";
/// Buckets an aggregator keeps: two hours.
const KEEP_BUCKETS: u64 = 720;

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
                let mut cells = Cells::new();
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
                    cells.insert(key, cell);
                }
                let summary = Summary::of(&cells, since_bucket);
                Response::from_json(&json!({
                    "routes": cell::to_wire(&summary.routes),
                    "series": cell::to_wire(&summary.series),
                }))
            }
        }
    }
}

/// Sends one request to shard `index` and returns its JSON answer.
async fn ask(env: &Env, index: u32, request: &ShardRequest) -> Result<serde_json::Value, String> {
    let ns = env
        .durable_object(BINDING)
        .map_err(|_| format!("the Durable Object binding {BINDING} is not configured"))?;
    let stub = ns
        .get_by_name(&format!("shard-{index}"))
        .map_err(|e| e.to_string())?;
    let mut init = RequestInit::new();
    init.with_method(worker::Method::Post)
        .with_body(Some(JsValue::from_str(
            &serde_json::to_string(request).unwrap_or_default(),
        )));
    let req =
        Request::new_with_init("https://metrics.internal/", &init).map_err(|e| e.to_string())?;
    let mut resp = stub
        .fetch_with_request(req)
        .await
        .map_err(|e| e.to_string())?;
    let status = resp.status_code();
    let text = resp.text().await.map_err(|e| e.to_string())?;
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

/// Every shard's summary of the buckets from `since_bucket` on, merged, and the shards that
/// could not be read (their counts are missing from the sum; the answer says so).
pub async fn read_all(env: &Env, shards: u32, since_bucket: u64) -> (Summary, Vec<String>) {
    let request = ShardRequest::Read { since_bucket };
    let answers = futures::future::join_all((0..shards).map(|i| ask(env, i, &request))).await;
    let mut summary = Summary::default();
    let mut failed = Vec::new();
    let list = |v: &serde_json::Value, name: &str| {
        serde_json::from_value::<Vec<WireCell>>(v[name].clone()).map_err(|e| e.to_string())
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
