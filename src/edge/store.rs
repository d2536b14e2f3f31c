//! The Workers Cache API (`caches.default`), with every failure turned into a value: a lookup
//! that fails is a miss, a put that fails is logged. Per data centre; see `cache::purge` for how
//! purges reach every data centre.

use wasm_bindgen::{JsCast, JsValue};
use worker::wasm_bindgen_futures::JsFuture;
use worker::web_sys;
use worker::worker_sys::ext::CacheStorageExt;

use super::convert::js_error_message;

fn default_cache() -> Result<web_sys::Cache, JsValue> {
    let global: web_sys::WorkerGlobalScope = js_sys::global().unchecked_into();
    Ok(global.caches()?.default())
}

/// The stored response under `key`, if any.
pub async fn lookup(key: &str) -> Option<web_sys::Response> {
    let cache = default_cache().ok()?;
    let found = JsFuture::from(cache.match_with_str(key)).await;
    match found {
        Ok(v) if !v.is_undefined() && !v.is_null() => v.dyn_into::<web_sys::Response>().ok(),
        Ok(_) => None,
        Err(e) => {
            worker::console_warn!("cache lookup failed: {}", js_error_message(&e));
            None
        }
    }
}

/// Stores `response` under `key`.
pub async fn put(key: String, response: web_sys::Response) {
    let result = match default_cache() {
        Ok(cache) => JsFuture::from(cache.put_with_str(&key, &response))
            .await
            .map(|_| ()),
        Err(e) => Err(e),
    };
    if let Err(e) = result {
        worker::console_warn!("cache put failed: {}", js_error_message(&e));
    }
}

/// Deletes the entry under `key`; true when one was there.
pub async fn delete(key: &str) -> bool {
    let Ok(cache) = default_cache() else {
        return false;
    };
    match JsFuture::from(cache.delete_with_str(key)).await {
        Ok(v) => v.as_bool().unwrap_or(false),
        Err(e) => {
            worker::console_warn!("cache delete failed: {}", js_error_message(&e));
            false
        }
    }
}
