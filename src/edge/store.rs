//! The Workers Cache API (`caches.default`), with every failure turned into a value: a lookup
//! that fails is a miss, a put that fails is logged. Per data centre; see `cache::purge` for how
//! purges reach every data centre. Also the body streams a store needs: the tee that gives the
//! client and the cache each their copy, and the counted read of a copy (`cache::body`).

use js_sys::{ArrayBuffer, Uint8Array};
use wasm_bindgen::closure::Closure;
use wasm_bindgen::prelude::wasm_bindgen;
use wasm_bindgen::{JsCast, JsValue};
use worker::web_sys::{self, ReadableStream};
use worker::worker_sys::ext::CacheStorageExt;

use super::convert::js_error_message;
use super::reply::BaseHeaders;
use super::task::Await;
use crate::cache::body::{BodyCounter, ChunkVerdict};
use crate::cache::lookups::LookupFailures;
use crate::cache::policy::NoStoreReason;

thread_local! {
    /// This isolate's failed lookups (served as misses): metrics, health, stats, dashboard.
    static LOOKUP_FAILURES: std::cell::RefCell<LookupFailures> =
        std::cell::RefCell::new(LookupFailures::default());
}

/// This isolate's failed Cache API lookups so far.
pub fn lookup_failures() -> LookupFailures {
    LOOKUP_FAILURES.with(|f| f.borrow().clone())
}

fn default_cache() -> Result<web_sys::Cache, JsValue> {
    let global: web_sys::WorkerGlobalScope = js_sys::global().unchecked_into();
    Ok(global.caches()?.default())
}

#[wasm_bindgen(module = "/src/edge/glue.js")]
extern "C" {
    /// `caches.default.match(key)`, settling the [`Await`] slot with null or `[response,
    /// values]` (src/edge/glue.js).
    #[wasm_bindgen(catch)]
    fn edge_cache_lookup(key: &str, names: &str, slot: u32) -> Result<JsValue, JsValue>;
}

/// A stored response with the headers a lookup asked for, read in the same call.
pub struct Found {
    /// The stored response.
    pub response: web_sys::Response,
    names: &'static [&'static str],
    values: Vec<Option<String>>,
}

impl Found {
    /// A header of the stored response: from the values read with it when it was one of the
    /// names asked for, else from the runtime.
    pub fn header(&self, name: &str) -> Option<String> {
        match self.names.iter().position(|n| *n == name) {
            Some(i) => self.values.get(i).cloned().flatten(),
            None => self.response.headers().get(name).ok().flatten(),
        }
    }
}

/// The stored response under `key`, if any, with the values of `names` (lowercase) read in the
/// same call into the runtime: `caches.default.match`, then each `headers.get`, settling one
/// await from the match's own reaction (one string for every value instead of a call per name).
pub async fn lookup(key: &str, names: &'static [&'static str]) -> Option<Found> {
    let names_text = names.join(",");
    let found = match Await::start(|slot| edge_cache_lookup(key, &names_text, slot)).await {
        Ok(v) if !v.is_undefined() && !v.is_null() => v,
        Ok(_) => return None,
        Err(e) => {
            let message = js_error_message(&e);
            worker::console_warn!("cache lookup failed (served as a miss): {}", message);
            LOOKUP_FAILURES.with(|f| f.borrow_mut().record(&message, super::platform::now()));
            return None;
        }
    };
    let found: js_sys::Array = found.dyn_into().ok()?;
    let response = found.get(0).dyn_into::<web_sys::Response>().ok()?;
    let values = found
        .get(1)
        .as_string()
        .and_then(|lines| value_lines(&lines, names.len()))
        .unwrap_or_else(|| {
            // Not as written above (cannot happen): ask the runtime name by name.
            worker::console_warn!("cache lookup values not readable as lines: read by name");
            let headers = response.headers();
            names
                .iter()
                .map(|n| headers.get(n).ok().flatten())
                .collect()
        });
    Some(Found {
        response,
        names,
        values,
    })
}

/// The values `edge_cache_lookup` read, a line each (`+value`, or `-` for an absent header);
/// `None` unless there are exactly `count`.
fn value_lines(lines: &str, count: usize) -> Option<Vec<Option<String>>> {
    if count == 0 {
        return lines.is_empty().then(Vec::new);
    }
    let values: Vec<Option<String>> = lines
        .split('\n')
        .map(|line| match line.strip_prefix('+') {
            Some(value) => Some(Some(value.to_owned())),
            None => (line == "-").then_some(None),
        })
        .collect::<Option<_>>()?;
    (values.len() == count).then_some(values)
}

/// Stores `response` under `key`; false (and a log line) when the put failed: the Cache API
/// refused it, or its body broke off on the way in.
pub async fn put(key: String, response: web_sys::Response) -> bool {
    let result = match default_cache() {
        Ok(cache) => Await::new(&cache.put_with_str(&key, &response))
            .await
            .map(|_| ()),
        Err(e) => Err(e),
    };
    if let Err(e) = &result {
        worker::console_warn!("cache put failed: {}", js_error_message(e));
    }
    result.is_ok()
}

/// Stores a response built from `status`, `headers` over `base` (`convert::build_response`'s
/// rules: a pair the runtime refuses is dropped alone) and `body` (an `ArrayBuffer`, a view or a stream) under `key`, in
/// one call into the runtime; false (and a log line) when the runtime refused the response (its
/// stream is then cancelled) or the put, or the body broke off on the way in.
pub async fn put_parts(
    key: &str,
    status: u16,
    base: Option<&BaseHeaders>,
    headers: &[(String, String)],
    body: &JsValue,
) -> bool {
    let promise = match super::convert::cache_put(key, status, base, headers, body) {
        Ok(promise) => promise,
        Err(e) => {
            worker::console_warn!(
                "could not build the stored response: {}",
                js_error_message(&e)
            );
            // Unread, its stream would hold the body (and stall nothing: a tee's other branch
            // never waits for a cancelled one).
            if let Some(stream) = body.dyn_ref::<ReadableStream>() {
                let _ = stream.cancel();
            }
            return false;
        }
    };
    match Await::new(&promise).await {
        Ok(_) => true,
        Err(e) => {
            worker::console_warn!("cache put failed: {}", js_error_message(&e));
            false
        }
    }
}

/// Deletes the entry under `key`; true when one was there.
pub async fn delete(key: &str) -> bool {
    let Ok(cache) = default_cache() else {
        return false;
    };
    match Await::new(&cache.delete_with_str(key)).await {
        Ok(v) => v.as_bool().unwrap_or(false),
        Err(e) => {
            worker::console_warn!("cache delete failed: {}", js_error_message(&e));
            false
        }
    }
}

/// Two branches of `body` (`ReadableStream.tee()`): the runtime reads the source once and feeds
/// both; a branch that is cancelled (a copy dropped at the limit) never stalls the other
/// (measured: bench/findings.md).
pub fn tee(body: &ReadableStream) -> Option<(ReadableStream, ReadableStream)> {
    let branches = body.tee();
    let first = branches.get(0).dyn_into::<ReadableStream>().ok()?;
    let second = branches.get(1).dyn_into::<ReadableStream>().ok()?;
    Some((first, second))
}

/// How a counted read of a copy ended.
pub enum Counted {
    /// The whole body, as the chunks the runtime delivered (no copy), and its length.
    Complete {
        /// `Uint8Array`s, in order.
        chunks: js_sys::Array,
        /// Their bytes.
        bytes: u64,
    },
    /// Dropped (and its stream cancelled): too large, or broken off.
    Dropped(NoStoreReason),
}

/// The first read of a counted copy: most bodies are small.
const FIRST_READ_BYTES: u32 = 16 * 1024;
/// Every later read: few reads (each is a JS↔Wasm round trip) for a large body, and at most
/// this much allocated beyond the body's length.
const READ_BYTES: u32 = 256 * 1024;

/// Calls `obj[name](...args)`.
fn call(obj: &JsValue, name: &str, args: &[&JsValue]) -> Option<JsValue> {
    let f = js_sys::Reflect::get(obj, &JsValue::from_str(name))
        .ok()?
        .dyn_into::<js_sys::Function>()
        .ok()?;
    let args: js_sys::Array = args.iter().copied().collect();
    f.apply(obj, &args).ok()
}

/// Reads `stream` into buffers of our own (a BYOB reader's `readAtLeast`: 16 KiB, then 256 KiB
/// a read, where a default reader hands over the runtime's small chunks one promise each),
/// asking `counter` after each read; the moment it says drop, the buffers go and the stream is
/// cancelled (which does not stall a tee's other branch).
pub async fn read_counted(stream: ReadableStream, mut counter: BodyCounter) -> Counted {
    let options = js_sys::Object::new();
    let _ = js_sys::Reflect::set(
        &options,
        &JsValue::from_str("mode"),
        &JsValue::from_str("byob"),
    );
    let Some(reader) = call(&stream, "getReader", &[&options]) else {
        let _ = stream.cancel();
        return Counted::Dropped(NoStoreReason::Broken);
    };
    let chunks = js_sys::Array::new();
    let mut size = FIRST_READ_BYTES;
    loop {
        let view = Uint8Array::new_with_length(size);
        let read = call(&reader, "readAtLeast", &[&JsValue::from(size), &view])
            .and_then(|p| p.dyn_into::<js_sys::Promise>().ok());
        let Some(Ok(result)) = (match read {
            Some(promise) => Some(Await::new(&promise).await),
            None => None,
        }) else {
            let _ = call(&reader, "cancel", &[]);
            return Counted::Dropped(NoStoreReason::Broken);
        };
        let done = js_sys::Reflect::get(&result, &JsValue::from_str("done"))
            .ok()
            .and_then(|d| d.as_bool())
            .unwrap_or(true);
        let chunk = js_sys::Reflect::get(&result, &JsValue::from_str("value"))
            .ok()
            .and_then(|v| v.dyn_into::<Uint8Array>().ok())
            .filter(|c| c.byte_length() > 0);
        if let Some(chunk) = chunk {
            match counter.on_chunk(u64::from(chunk.byte_length())) {
                ChunkVerdict::Keep => {
                    chunks.push(&chunk);
                }
                ChunkVerdict::Drop(reason) => {
                    // A promise nobody awaits: the cancel itself cannot fail in a way that matters.
                    let _ = call(&reader, "cancel", &[&JsValue::from_str(reason.as_str())]);
                    return Counted::Dropped(reason);
                }
            }
        }
        if done {
            return Counted::Complete {
                chunks,
                bytes: counter.seen(),
            };
        }
        size = READ_BYTES;
    }
}

/// A stream that yields `chunks` as they are (no copy), for the Cache API.
pub fn stream_of(chunks: js_sys::Array) -> Option<ReadableStream> {
    let start = Closure::once_into_js(move |controller: JsValue| {
        for chunk in chunks.iter() {
            call(&controller, "enqueue", &[&chunk]);
        }
        call(&controller, "close", &[]);
    });
    let source = js_sys::Object::new();
    js_sys::Reflect::set(&source, &JsValue::from_str("start"), &start).ok()?;
    ReadableStream::new_with_underlying_source(&source).ok()
}

/// `chunks` joined into one `ArrayBuffer` of `bytes` (what the memory tier holds).
pub fn concat(chunks: &js_sys::Array, bytes: u64) -> ArrayBuffer {
    let out = Uint8Array::new_with_length(u32::try_from(bytes).unwrap_or(u32::MAX));
    let mut at = 0u32;
    for chunk in chunks.iter() {
        let chunk: Uint8Array = chunk.unchecked_into();
        if at.saturating_add(chunk.length()) > out.length() {
            break;
        }
        out.set(&chunk, at);
        at += chunk.length();
    }
    out.buffer()
}

#[cfg(all(test, target_arch = "wasm32"))]
mod tests {
    use super::*;
    use wasm_bindgen_test::wasm_bindgen_test;

    /// `caches.default` whose `match` is `matcher` (Node has no Cache API).
    fn fake_caches(matcher: Closure<dyn Fn(String) -> js_sys::Promise>) {
        let default = js_sys::Object::new();
        js_sys::Reflect::set(&default, &"match".into(), matcher.as_ref()).unwrap();
        matcher.forget();
        let caches = js_sys::Object::new();
        js_sys::Reflect::set(&caches, &"default".into(), &default).unwrap();
        js_sys::Reflect::set(&js_sys::global(), &"caches".into(), &caches).unwrap();
    }

    /// `caches.default` answering `response` for `key` and nothing for any other key.
    fn fake_cache(key: &'static str, response: &web_sys::Response) {
        let matched: JsValue = response.into();
        fake_caches(Closure::new(move |k: String| {
            let found = if k == key {
                matched.clone()
            } else {
                JsValue::UNDEFINED
            };
            js_sys::Promise::resolve(&found)
        }));
    }

    #[wasm_bindgen_test]
    async fn a_lookup_that_fails_is_a_miss() {
        // `match` rejecting (the Cache API's failure), then no `caches` at all (a synchronous
        // throw inside the call): each a miss, never a hang or a panic.
        fake_caches(Closure::new(|_: String| {
            js_sys::Promise::reject(&JsValue::from_str("cache unavailable"))
        }));
        let before = lookup_failures().failed;
        assert!(lookup("https://cache/k", &["etag"]).await.is_none());
        let counted = lookup_failures();
        assert_eq!(counted.failed, before + 1, "a failed lookup is counted");
        assert_eq!(counted.last_error.as_deref(), Some("cache unavailable"));
        let global: js_sys::Object = js_sys::global();
        js_sys::Reflect::delete_property(&global, &"caches".into()).unwrap();
        assert!(lookup("https://cache/k", &["etag"]).await.is_none());
        assert_eq!(lookup_failures().failed, before + 2);
    }

    #[wasm_bindgen_test]
    fn value_lines_read_present_empty_and_absent_values() {
        let some = |v: &str| Some(v.to_string());
        assert_eq!(
            value_lines("+a b\n-\n+\n+-", 4),
            Some(vec![some("a b"), None, some(""), some("-")])
        );
        assert_eq!(value_lines("+a", 2), None, "too few");
        assert_eq!(value_lines("x", 1), None, "neither + nor -");
        assert_eq!(value_lines("", 0), Some(Vec::new()));
    }

    #[wasm_bindgen_test]
    async fn a_lookup_reads_the_asked_headers_as_the_runtime_has_them() {
        let headers = web_sys::Headers::new().unwrap();
        headers.set("x-edge-meta", "{\"v\":1}").unwrap();
        headers.set("etag", "\"abc\"").unwrap();
        headers.set("content-type", "application/json").unwrap();
        headers.set("x-empty", "").unwrap();
        let init = web_sys::ResponseInit::new();
        init.set_headers(&headers);
        let stored = web_sys::Response::new_with_opt_str_and_init(Some("body"), &init).unwrap();
        fake_cache("https://cache/k", &stored);

        const NAMES: &[&str] = &["x-edge-vary-index", "x-edge-meta", "etag", "x-empty"];
        let found = lookup("https://cache/k", NAMES).await.expect("stored");
        // Asked-for names (present and absent) and any other name: what the runtime says.
        for name in NAMES.iter().chain(&["content-type", "last-modified"]) {
            assert_eq!(
                found.header(name),
                stored.headers().get(name).unwrap(),
                "{name}"
            );
        }
        assert_eq!(found.header("x-edge-meta").as_deref(), Some("{\"v\":1}"));
        assert!(lookup("https://cache/k", &[]).await.is_some());
        assert!(lookup("https://cache/other", NAMES).await.is_none());
    }
}
