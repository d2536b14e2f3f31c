//! Carries out the cache's decisions for one cacheable request: look up (two levels when the
//! response varies), judge freshness, serve, revalidate, refresh in the background, store.
//! Every decision is the core's (`crate::cache`); this file does the I/O.

use std::rc::Rc;

use worker::js_sys::{ArrayBuffer, Uint8Array};
use worker::wasm_bindgen::JsCast;
use worker::wasm_bindgen_futures::JsFuture;
use worker::web_sys;
use worker::Headers;

use super::convert::{self, header_pairs};
use super::memory::{self, Limits};
use super::origin::{OriginCall, OriginChoice, OriginError, OriginReply};
use super::platform::{self, Waiter};
use super::reply::{BaseHeaders, Body, Reply};
use super::state;
use super::store;
use crate::cache::coalesce::{FlightWatch, Role};
use crate::cache::entry::{self, VaryIndex};
use crate::cache::freshness::{self, Freshness};
use crate::cache::key::{self, CacheKey};
use crate::cache::policy::{
    self, decide_store, EntryMeta, NoStoreReason, StoreDecision, StoreInput,
};
use crate::cache::purge::PurgeState;
use crate::cache::rules::RouteRule;
use crate::cache::status::{CacheReport, Outcome, StaleReason};
use crate::forward;
use crate::headers;
use crate::problem::Problem;
use crate::time::UnixMillis;

/// Everything about one cacheable request that storing needs; owned, so that a background
/// refresh can outlive the request.
#[derive(Clone)]
pub struct CacheRequest {
    /// The route rule.
    pub rule: RouteRule,
    /// The request's key.
    pub key: CacheKey,
    /// Request headers (lowercase), for the second-level vary key.
    pub request_headers: Vec<(String, String)>,
    /// HEAD: answered from the GET entry without a body (a miss is fetched as GET and stored).
    pub is_head: bool,
    /// Largest body stored.
    pub max_body_bytes: u64,
    /// The origin serving this request's variant.
    pub origin: OriginChoice,
    /// The client's URL.
    pub url: worker::Url,
    /// Time allowed to the origin's response headers.
    pub timeout_ms: u64,
    /// Store in the background (`wait_until`, the default) or before answering (warmup, so that
    /// the entry exists when the warmup reports it).
    pub store_inline: bool,
    /// The in-memory tier in front of the Cache API.
    pub memory: Limits,
}

impl CacheRequest {
    /// The origin request, built only when the origin is contacted: GET (also for HEAD, so that
    /// the stored entry is the GET one), filtered headers, trace context.
    fn call(&self) -> OriginCall {
        OriginCall::new(
            &self.origin,
            &self.url,
            &self.request_headers,
            "GET",
            self.timeout_ms,
        )
    }
}

/// A stored response found by a lookup. Its headers stay in the runtime: a hit reads only the
/// meta (and the validators, for a conditional request) by name.
struct Stored {
    response: web_sys::Response,
    meta: EntryMeta,
    key: String,
    /// The vary index the entry was found through, if it varies.
    vary: Option<VaryIndex>,
}

/// What a lookup learnt about the key's vary index, for reporting and for storing under it.
#[derive(Clone, Copy, Default)]
struct VaryFound {
    /// An index existed but had no entry for this request's varied headers.
    miss: bool,
    /// The epoch to store second-level entries under (the existing index's), if any.
    epoch: Option<u64>,
}

impl Stored {
    /// Every stored header, read into Wasm: for revalidation and refresh, never for a hit.
    fn header_pairs(&self) -> Vec<(String, String)> {
        header_pairs(&Headers(self.response.headers()))
    }
}

/// One header of a response, by name.
fn header(response: &web_sys::Response, name: &str) -> Option<String> {
    response.headers().get(name).ok().flatten()
}

/// How a stored response's headers reach the reply.
enum StoredHeaders<'a> {
    /// The runtime's headers (a hit): only the edits cross into Wasm. `validators`: the
    /// `ETag`/`Last-Modified` pairs when already known, else read by name when needed.
    Runtime {
        headers: web_sys::Headers,
        strip: bool,
        validators: Option<&'a [(String, String)]>,
    },
    /// Stored-form pairs already in Wasm (after a revalidation merged them).
    Pairs(Vec<(String, String)>),
}

/// Serves a cacheable request.
pub async fn serve(
    req: CacheRequest,
    purge: Rc<PurgeState>,
    now: UnixMillis,
    ctx: &Waiter<'_>,
) -> Reply {
    let lookup_started = platform::now();
    if let Some(mut reply) = serve_from_memory(&req, &purge, now) {
        reply.cache_ms = Some(platform::now().since(lookup_started));
        return reply;
    }
    let (stored, vary) = lookup(&req, &purge).await;
    let cache_ms = platform::now().since(lookup_started);

    let mut reply = match stored {
        None => {
            // Concurrent misses of this key in this isolate: one goes to the origin, the others
            // wait for it and are served what it stored, from memory (the tier is the hand-over,
            // so without it there is no coalescing).
            let mut leader = None;
            if req.memory.on() {
                match memory::flights().join(&req.key.primary) {
                    Role::Leader(guard) => leader = Some(guard),
                    Role::Follower(watch) => {
                        if let Some(mut reply) = follow(&req, &purge, watch).await {
                            reply.cache_ms = Some(platform::now().since(lookup_started));
                            return reply;
                        }
                    }
                }
            }
            let call = req.call();
            let origin = call.send(&[], None).await;
            let reply = from_origin(&req, &call, origin, Outcome::Miss, vary, now, ctx).await;
            // The entry is held by now (put_entry holds before it returns): release the followers.
            drop(leader);
            reply
        }
        Some(stored) => match freshness::evaluate(&stored.meta, now) {
            // Read into memory only what the tier could hold; a larger body streams.
            Freshness::Fresh { ttl_secs }
                if header(&stored.response, "content-length")
                    .and_then(|v| v.parse::<u64>().ok())
                    .is_some_and(|len| req.memory.could_hold(len)) =>
            {
                fresh_into_memory(&req, stored, ttl_secs as i64, now).await
            }
            Freshness::Fresh { ttl_secs } => {
                serve_stored(&req, stored, Outcome::Hit, Some(ttl_secs as i64), None, now)
            }
            Freshness::Stale {
                serve_while_revalidating: true,
                ..
            } => {
                let ttl = freshness::ttl_param(&stored.meta, now);
                // One background refresh per key and isolate: a burst of stale hits must not
                // become a burst of origin requests.
                if state::claim_refresh(&stored.key) {
                    let bg = req.clone();
                    let (meta, stored_headers, key, epoch) = (
                        stored.meta.clone(),
                        stored.header_pairs(),
                        stored.key.clone(),
                        stored.vary.as_ref().map(|v| v.epoch),
                    );
                    ctx.wait_until(async move {
                        refresh_in_background(bg, meta, stored_headers, key.clone(), epoch).await;
                        state::release_refresh(&key);
                    });
                }
                serve_stored(
                    &req,
                    stored,
                    Outcome::Stale(StaleReason::WhileRevalidate),
                    Some(ttl),
                    None,
                    now,
                )
            }
            Freshness::Stale { serve_if_error, .. } => {
                revalidate(&req, stored, serve_if_error, now, ctx).await
            }
        },
    };
    reply.cache_ms = Some(cache_ms);
    reply
}

/// How often a coalesced request checks whether the request it waits for is done. It checks on
/// its own timer so that it resumes in its own request's context (see `cache::coalesce`).
const FOLLOW_POLL_MS: u64 = 10;

/// A request that missed while another request for its key was at the origin: waits for that
/// one (at most the origin timeout), then is served what it stored. `None` when it stored
/// nothing this request may have (the caller then asks the origin itself).
async fn follow(req: &CacheRequest, purge: &PurgeState, watch: FlightWatch) -> Option<Reply> {
    let started = platform::now();
    while !watch.is_done() {
        if platform::now().since(started) >= req.timeout_ms {
            worker::console_warn!(
                "coalesced miss: the first request is still at the origin after {} ms; asking the origin too",
                req.timeout_ms
            );
            return None;
        }
        worker::Delay::from(std::time::Duration::from_millis(FOLLOW_POLL_MS)).await;
    }
    let mut reply = serve_from_memory(req, purge, platform::now())?;
    if let Some(report) = reply.cache.as_mut() {
        report.coalesced = true;
    }
    Some(reply)
}

/// A fresh entry of the in-memory tier, served without a Cache API call. An entry gone stale or
/// covered by a purge is dropped from memory and the Cache API path decides.
fn serve_from_memory(req: &CacheRequest, purge: &PurgeState, now: UnixMillis) -> Option<Reply> {
    let (key, held) = memory::lookup(req.memory, &req.key.primary, &req.request_headers, now)?;
    let meta = &held.meta;
    let ttl_secs = match freshness::evaluate(meta, now) {
        Freshness::Fresh { ttl_secs } if !purge.is_banned(&meta.purge_path, meta.stored_at_ms) => {
            ttl_secs
        }
        _ => {
            memory::drop_key(req.memory, &key);
            return None;
        }
    };
    let mut report = CacheReport::new(Outcome::Hit);
    report.ttl_secs = Some(ttl_secs as i64);
    report.memory = true;
    let headers = StoredHeaders::Runtime {
        headers: held.headers.clone(),
        strip: false,
        validators: Some(&held.validators),
    };
    let body = Body::Buffer(held.body.clone());
    Some(stored_reply(req, headers, meta, body, report, now))
}

/// A fresh Cache API hit when the in-memory tier is on: the body is read once so that the next
/// hits of this isolate are served from memory.
async fn fresh_into_memory(
    req: &CacheRequest,
    stored: Stored,
    ttl_secs: i64,
    now: UnixMillis,
) -> Reply {
    let pairs = stored.header_pairs();
    let Some(body) = read_body(&stored.response).await else {
        let problem = Problem::internal("the stored body could not be read");
        return Reply::problem(&problem);
    };
    memory::hold(
        req.memory,
        &req.key.primary,
        &stored.key,
        stored.vary.as_ref(),
        &stored.meta,
        &pairs,
        &body,
        now,
    );
    let mut report = CacheReport::new(Outcome::Hit);
    report.ttl_secs = Some(ttl_secs);
    let headers = StoredHeaders::Runtime {
        headers: stored.response.headers(),
        strip: true,
        validators: None,
    };
    stored_reply(req, headers, &stored.meta, Body::Buffer(body), report, now)
}

/// Finds the entry for a request, following a vary index to the second level. An entry that a
/// purge covers, or whose meta is unreadable, counts as absent. Reads two headers by name, not
/// every stored header.
async fn lookup(req: &CacheRequest, purge: &PurgeState) -> (Option<Stored>, VaryFound) {
    let mut key = req.key.primary.clone();
    let Some(mut response) = store::lookup(&key).await else {
        return (None, VaryFound::default());
    };
    let mut vary = None;
    if let Some(value) = header(&response, entry::VARY_INDEX_HEADER) {
        let index = entry::parse_vary_index(&value);
        key = key::vary_key(
            &req.key.primary,
            index.epoch,
            &index.names,
            &req.request_headers,
        );
        match store::lookup(&key).await {
            Some(r) => response = r,
            None => {
                let found = VaryFound {
                    miss: true,
                    epoch: Some(index.epoch),
                };
                return (None, found);
            }
        }
        vary = Some(index);
    }
    let found = VaryFound {
        miss: false,
        epoch: vary.as_ref().map(|v| v.epoch),
    };
    let stored = header(&response, entry::META_HEADER)
        .and_then(|v| EntryMeta::from_header(&v))
        .filter(|meta| !purge.is_banned(&meta.purge_path, meta.stored_at_ms))
        .map(|meta| Stored {
            response,
            meta,
            key,
            vary,
        });
    (stored, found)
}

/// A stored response as the client gets it (304 when the client's validators match).
fn serve_stored(
    req: &CacheRequest,
    stored: Stored,
    outcome: Outcome,
    ttl_secs: Option<i64>,
    fwd_status: Option<u16>,
    now: UnixMillis,
) -> Reply {
    let mut report = CacheReport::new(outcome);
    report.ttl_secs = ttl_secs;
    report.fwd_status = fwd_status;
    let headers = StoredHeaders::Runtime {
        headers: stored.response.headers(),
        strip: true,
        validators: None,
    };
    let body = Body::Stream(stored.response.body());
    stored_reply(req, headers, &stored.meta, body, report, now)
}

/// The reply for a stored response: its headers with `Age` and the withheld fields, the body
/// unless the request is HEAD, or 304 when the client's validators match.
fn stored_reply(
    req: &CacheRequest,
    headers: StoredHeaders,
    meta: &EntryMeta,
    body: Body,
    report: CacheReport,
    now: UnixMillis,
) -> Reply {
    let not_modified = meta.status == 200
        && freshness::is_conditional(&req.request_headers)
        && match &headers {
            StoredHeaders::Runtime {
                validators: Some(v),
                ..
            } => freshness::client_not_modified(&req.request_headers, v),
            StoredHeaders::Runtime { headers, .. } => {
                let v = freshness::validators(|n| headers.get(n).ok().flatten());
                freshness::client_not_modified(&req.request_headers, &v)
            }
            StoredHeaders::Pairs(p) => freshness::client_not_modified(&req.request_headers, p),
        };
    let (status, body) = if not_modified {
        (304, Body::Empty)
    } else if req.is_head {
        (meta.status, Body::Empty)
    } else {
        (meta.status, body)
    };
    let mut reply = match headers {
        StoredHeaders::Runtime { headers, strip, .. } => {
            let mut reply = Reply::new(status, entry::served_edits(meta, now), body);
            reply.base = Some(BaseHeaders { headers, strip });
            reply
        }
        StoredHeaders::Pairs(pairs) => {
            Reply::new(status, entry::served_headers(&pairs, meta, now), body)
        }
    };
    reply.cache = Some(report);
    reply
}

/// A stale entry that may not be served as is: ask the origin, conditionally when the entry has
/// validators.
async fn revalidate(
    req: &CacheRequest,
    stored: Stored,
    serve_if_error: bool,
    now: UnixMillis,
    ctx: &Waiter<'_>,
) -> Reply {
    let conditional = freshness::conditional_headers(&entry::served_headers(
        &stored.header_pairs(),
        &stored.meta,
        now,
    ));
    let call = req.call();
    let origin = call.send(&conditional, None).await;
    let dur_ms = origin.dur_ms;
    // An entry without validators is revalidated unconditionally, so a failing canary may be
    // retried on stable: that answer must not be stored under the canary's key.
    let fell_back = origin.fell_back;
    let failed_status = match &origin.result {
        Err(_) => Some(None),
        Ok(r) if crate::canary::is_origin_failure(r.status()) => Some(Some(r.status())),
        _ => None,
    };
    if let (Some(fwd_status), true) = (failed_status, serve_if_error) {
        let ttl = freshness::ttl_param(&stored.meta, now);
        let mut reply = serve_stored(
            req,
            stored,
            Outcome::Stale(StaleReason::IfError),
            Some(ttl),
            fwd_status,
            now,
        );
        reply.origin_ms = Some(dur_ms);
        reply.origin_error = true;
        return reply;
    }
    match origin.result {
        Ok(resp) if resp.status() == 304 => {
            let not_modified = header_pairs(&Headers(resp.headers()));
            let mut reply = match refreshed_entry(req, &stored, &not_modified, now).await {
                Some((meta, merged, body)) => {
                    let ttl = meta.fresh_secs as i64 - meta.initial_age_secs as i64;
                    let epoch = stored.vary.as_ref().map(|v| v.epoch);
                    put_entry(ctx, req, &meta, &merged, body.clone(), epoch).await;
                    let mut report = CacheReport::new(Outcome::Revalidated);
                    report.ttl_secs = Some(ttl);
                    report.fwd_status = Some(304);
                    report.stored = true;
                    let headers = StoredHeaders::Pairs(entry::storage_headers(&merged, &meta));
                    stored_reply(req, headers, &meta, Body::Buffer(body), report, now)
                }
                // The 304 made the entry unstorable (e.g. it now says no-store): serve the
                // stored body once more, unstored.
                None => serve_stored(req, stored, Outcome::Revalidated, None, Some(304), now),
            };
            reply.origin_ms = Some(dur_ms);
            reply
        }
        result => {
            let origin = OriginReply {
                result,
                dur_ms,
                fell_back,
            };
            let vary = VaryFound {
                miss: false,
                epoch: stored.vary.as_ref().map(|v| v.epoch),
            };
            from_origin(req, &call, origin, Outcome::Expired, vary, now, ctx).await
        }
    }
}

/// The entry after a 304: merged headers, new meta, and the stored body read into memory.
async fn refreshed_entry(
    req: &CacheRequest,
    stored: &Stored,
    not_modified: &[(String, String)],
    now: UnixMillis,
) -> Option<(EntryMeta, Vec<(String, String)>, ArrayBuffer)> {
    let mut origin_view = entry::served_headers(&stored.header_pairs(), &stored.meta, now);
    headers::remove(&mut origin_view, "age");
    let merged = freshness::merge_not_modified(&origin_view, not_modified);
    let decision = decide_store(StoreInput {
        rule: &req.rule,
        method: "GET",
        status: stored.meta.status,
        response_headers: &merged,
        body_len: None,
        max_body_bytes: req.max_body_bytes,
        now,
        purge_path: &req.key.purge_path,
        language_in_key: req.key.lang.is_some(),
    });
    let StoreDecision::Store(meta) = decision else {
        return None;
    };
    let body = read_body(&stored.response.clone().ok()?).await?;
    Some((meta, merged, body))
}

/// Passes an origin response (or failure) to the client, storing it when the policy allows.
async fn from_origin(
    req: &CacheRequest,
    call: &OriginCall,
    origin: OriginReply,
    outcome: Outcome,
    vary: VaryFound,
    now: UnixMillis,
    ctx: &Waiter<'_>,
) -> Reply {
    let mut report = CacheReport::new(outcome);
    report.vary_miss = vary.miss;
    report.fallback = origin.fell_back;
    let mut reply = match origin.result {
        Err(e) => {
            let mut reply = Reply::problem(&origin_problem(&e, call.timeout_ms, &call.url));
            reply.origin_error = true;
            reply
        }
        Ok(resp) => {
            let status = resp.status();
            report.fwd_status = Some(status);
            let headers = forward::client_response_headers(&header_pairs(&Headers(resp.headers())));
            let body_len = headers::get(&headers, "content-length").and_then(|v| v.parse().ok());
            // Cacheable HEAD requests go to the origin as GET (see the handler), so the
            // response stored is the GET entry that HEAD is served from.
            let decision = decide_store(StoreInput {
                rule: &req.rule,
                method: "GET",
                status,
                response_headers: &headers,
                body_len,
                max_body_bytes: req.max_body_bytes,
                now,
                purge_path: &req.key.purge_path,
                language_in_key: req.key.lang.is_some(),
            });
            // A stable answer to a canary request is never stored under the canary's key.
            let decision = if origin.fell_back {
                report.fallback = true;
                StoreDecision::Skip(NoStoreReason::Fallback)
            } else {
                decision
            };
            let mut reply = match decision {
                StoreDecision::Store(meta) => match read_body(&resp).await {
                    Some(body) if u64::from(body.byte_length()) <= req.max_body_bytes => {
                        put_entry(ctx, req, &meta, &headers, body.clone(), vary.epoch).await;
                        report.stored = true;
                        report.ttl_secs =
                            Some(meta.fresh_secs as i64 - meta.initial_age_secs as i64);
                        Reply::new(status, headers, Body::Buffer(body))
                    }
                    Some(body) => {
                        report.not_stored = Some(NoStoreReason::TooLarge);
                        Reply::new(status, headers, Body::Buffer(body))
                    }
                    None => {
                        let problem = Problem::origin_unreachable("the response body broke off");
                        Reply::problem(&problem)
                    }
                },
                StoreDecision::Skip(reason) => {
                    // Only worth reporting when the status was one the route could store.
                    if !matches!(reason, NoStoreReason::Status | NoStoreReason::Fallback) {
                        report.not_stored = Some(reason);
                    }
                    Reply::new(status, headers, Body::Stream(resp.body()))
                }
            };
            reply.origin_error = crate::canary::is_origin_failure(status);
            if req.is_head {
                reply.body = Body::Empty;
            }
            reply
        }
    };
    if !headers::has(&reply.headers, "age") && reply.status < 500 {
        reply.headers.push(("age".into(), "0".into()));
    }
    reply.origin_ms = Some(origin.dur_ms);
    reply.trace_id = Some(call.trace_id.clone());
    reply.cache = Some(report);
    reply
}

/// The JSON problem for an origin failure; logged without the query (it may hold personal data).
pub fn origin_problem(error: &OriginError, timeout_ms: u64, url: &str) -> Problem {
    let path = url.split('?').next().unwrap_or(url);
    match error {
        OriginError::Timeout => {
            worker::console_warn!("origin timeout after {} ms: {}", timeout_ms, path);
            Problem::origin_timeout(timeout_ms)
        }
        OriginError::Unreachable(reason) => {
            worker::console_warn!("origin unreachable: {}: {}", path, reason);
            Problem::origin_unreachable(reason)
        }
    }
}

/// Reads a response body into an `ArrayBuffer` (JS memory; no copy into Wasm).
async fn read_body(resp: &web_sys::Response) -> Option<ArrayBuffer> {
    let promise = resp.array_buffer().ok()?;
    JsFuture::from(promise)
        .await
        .ok()?
        .dyn_into::<ArrayBuffer>()
        .ok()
}

/// Stores an entry, in the background (`wait_until`) unless the request asks for it inline.
/// `vary_epoch`: the epoch of the vary index the lookup found, if any.
async fn put_entry(
    ctx: &Waiter<'_>,
    req: &CacheRequest,
    meta: &EntryMeta,
    origin_headers: &[(String, String)],
    body: ArrayBuffer,
    vary_epoch: Option<u64>,
) {
    // Held in memory before this returns, so that a request coalesced behind this one finds it.
    hold_entry(req, meta, origin_headers, &body, vary_epoch);
    if req.store_inline {
        store_entry(req, meta, origin_headers, body, vary_epoch).await;
        return;
    }
    let (req, meta, headers) = (req.clone(), meta.clone(), origin_headers.to_vec());
    ctx.wait_until(async move { store_entry(&req, &meta, &headers, body, vary_epoch).await });
}

/// Where an entry goes: at the primary key, or, when the response varies, at the second-level
/// key with a vary index at the primary key. The index keeps the epoch of the one the lookup
/// found; a new index (none found: first store, or the old one was invalidated) starts a new
/// epoch, so entries stored under an invalidated index are never reached again.
fn entry_target(
    req: &CacheRequest,
    meta: &EntryMeta,
    vary_epoch: Option<u64>,
) -> (Option<VaryIndex>, String) {
    let index = (!meta.vary.is_empty()).then(|| VaryIndex {
        epoch: vary_epoch.unwrap_or(meta.stored_at_ms),
        names: meta.vary.clone(),
    });
    let target = match &index {
        None => req.key.primary.clone(),
        Some(i) => key::vary_key(&req.key.primary, i.epoch, &i.names, &req.request_headers),
    };
    (index, target)
}

/// Holds an entry in this isolate's memory tier (synchronously).
fn hold_entry(
    req: &CacheRequest,
    meta: &EntryMeta,
    origin_headers: &[(String, String)],
    body: &ArrayBuffer,
    vary_epoch: Option<u64>,
) {
    let (index, target) = entry_target(req, meta, vary_epoch);
    memory::hold(
        req.memory,
        &req.key.primary,
        &target,
        index.as_ref(),
        meta,
        origin_headers,
        body,
        UnixMillis(meta.stored_at_ms),
    );
}

/// Stores an entry in the Cache API (see [`entry_target`] for where).
async fn store_entry(
    req: &CacheRequest,
    meta: &EntryMeta,
    origin_headers: &[(String, String)],
    body: ArrayBuffer,
    vary_epoch: Option<u64>,
) {
    let stored_headers = entry::storage_headers(origin_headers, meta);
    let (index, target) = entry_target(req, meta, vary_epoch);
    let init = web_sys::ResponseInit::new();
    init.set_status(meta.status);
    init.set_headers(&convert::to_headers(&stored_headers).0);
    let built = web_sys::Response::new_with_opt_buffer_source_and_init(
        Some(&Uint8Array::new(&body)),
        &init,
    );
    match built {
        Ok(resp) => store::put(target, resp).await,
        Err(e) => {
            worker::console_warn!(
                "could not build the stored response: {}",
                convert::js_error_message(&e)
            );
            return;
        }
    }
    if let Some(index) = &index {
        let retention = meta.retention_secs(policy::has_validators(origin_headers));
        let index = entry::vary_index_headers(index, retention);
        if let Ok(resp) = convert::response(200, &convert::to_headers(&index), None) {
            store::put(req.key.primary.clone(), resp).await;
        }
    }
}

/// RFC 5861 stale-while-revalidate: refresh an entry after serving it stale. Failures leave the
/// stale entry in place for the next request to try again.
async fn refresh_in_background(
    req: CacheRequest,
    meta: EntryMeta,
    stored_headers: Vec<(String, String)>,
    key: String,
    vary_epoch: Option<u64>,
) {
    let now = platform::now();
    let conditional =
        freshness::conditional_headers(&entry::served_headers(&stored_headers, &meta, now));
    let origin = req.call().send(&conditional, None).await;
    if origin.fell_back {
        // Stable answered for a failing canary: never stored under the canary's key.
        return;
    }
    let Ok(resp) = origin.result else {
        return;
    };
    if resp.status() == 304 {
        // The stored body is still right: read it again from the cache.
        let Some(response) = store::lookup(&key).await else {
            return;
        };
        let stored = Stored {
            response,
            meta,
            key,
            vary: None,
        };
        let not_modified = header_pairs(&Headers(resp.headers()));
        if let Some((meta, merged, body)) = refreshed_entry(&req, &stored, &not_modified, now).await
        {
            hold_entry(&req, &meta, &merged, &body, vary_epoch);
            store_entry(&req, &meta, &merged, body, vary_epoch).await;
        }
        return;
    }
    let headers = forward::client_response_headers(&header_pairs(&Headers(resp.headers())));
    let Some(body) = read_body(&resp).await else {
        return;
    };
    let decision = decide_store(StoreInput {
        rule: &req.rule,
        method: "GET",
        status: resp.status(),
        response_headers: &headers,
        body_len: Some(u64::from(body.byte_length())),
        max_body_bytes: req.max_body_bytes,
        now,
        purge_path: &req.key.purge_path,
        language_in_key: req.key.lang.is_some(),
    });
    if let StoreDecision::Store(meta) = decision {
        hold_entry(&req, &meta, &headers, &body, vary_epoch);
        store_entry(&req, &meta, &headers, body, vary_epoch).await;
    }
}
