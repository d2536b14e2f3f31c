//! Carries out the cache lifecycle (`crate::cache::lifecycle`) for one cacheable request: look
//! up (memory, then the Cache API, two levels when the response varies), ask the core what to
//! do, and do it — serve, wait for a concurrent miss, fetch, store, refresh in the background.
//! Every decision is the core's; this file does the I/O.

use std::rc::Rc;

use http::{Method, StatusCode};
use worker::js_sys::ArrayBuffer;
use worker::wasm_bindgen::JsCast;
use worker::web_sys;
use worker::Headers;

use super::convert::{self, header_pairs};
use super::memory::{self, Held, Limits};
use super::origin::{OriginCall, OriginChoice, OriginError, OriginReply};
use super::platform::{self, Waiter};
use super::reply::{BaseForm, BaseHeaders, Body, Reply};
use super::store::{self, Counted};
use super::task::Await;
use crate::cache::body::{self, BodyCounter, BodyFacts, BodyPlan, Reservation, StoreOutcome};
use crate::cache::classify::{self, Failure};
use crate::cache::entry::{self, VaryIndex};
use crate::cache::freshness;
use crate::cache::key::{self, CacheKey, KeyScope};
use crate::cache::lifecycle::{
    self, Fetch, Form, Found, LookupAction, OriginAction, OriginOutcome, RequestFacts,
    Revalidating, Revalidation, Serve, Stored as FoundEntry, Tier,
};
use crate::cache::lock::{self, Claim, LockGuard, LockWatch, Release, WaitAction};
use crate::cache::meta::EntryMeta;
use crate::cache::policy::{self, NoStoreReason};
use crate::cache::purge::{PurgeState, Purged};
use crate::cache::rules::RouteRule;
use crate::cache::status::{CacheReport, Outcome};
use crate::config::EdgeConfig;
use crate::forward;
use crate::headers;
use crate::problem::Problem;
use crate::time::UnixMillis;

/// Everything about one cacheable request that storing needs; owned, and shared (`Rc`, never
/// copied) with the background store and refresh that outlive the request.
pub struct CacheRequest {
    /// GET or HEAD.
    pub method: Method,
    /// The route rule (the configuration's, shared).
    pub rule: Rc<RouteRule>,
    /// The request's key.
    pub key: CacheKey,
    /// Request headers (lowercase), without an `Authorization` the edge consumed.
    pub request_headers: Vec<(String, String)>,
    /// Largest body stored.
    pub max_body_bytes: u64,
    /// The edge's own targeted cache-control field, if configured.
    pub edge_field: Option<String>,
    /// The origin serving this request's variant.
    pub origin: OriginChoice,
    /// The client's URL.
    pub url: crate::web_url::Url,
    /// Time allowed to the origin's response headers.
    pub timeout_ms: u64,
    /// Store in the background (`wait_until`, the default) or before answering (warmup, so that
    /// the entry exists when the warmup reports it).
    pub store_inline: bool,
    /// The in-memory tier in front of the Cache API.
    pub memory: Limits,
}

impl CacheRequest {
    /// What the core knows of this request.
    fn facts(&self) -> RequestFacts<'_> {
        let mut facts =
            RequestFacts::new(&self.method, &self.request_headers, &self.rule, &self.key);
        facts.max_body_bytes = self.max_body_bytes;
        facts.edge_field = self.edge_field.as_deref();
        facts.memory_entry_limit = self.memory.entry_limit();
        facts
    }

    /// The origin request, built only when the origin is contacted: the fetch's method, the
    /// request headers without those the cache answers itself (`lifecycle::ORIGIN_DROPS`),
    /// trace context.
    fn call(&self, fetch: &Fetch) -> OriginCall {
        let headers: Vec<(String, String)> = self
            .request_headers
            .iter()
            .filter(|(n, _)| !lifecycle::ORIGIN_DROPS.contains(&n.as_str()))
            .cloned()
            .collect();
        OriginCall::new(
            &self.origin,
            &self.url,
            &headers,
            fetch.method().as_str(),
            self.timeout_ms,
        )
    }
}

/// A stored response found in the Cache API. Its headers stay in the runtime: a hit reads only
/// the meta and the validators by name.
struct Stored {
    response: web_sys::Response,
    meta: EntryMeta,
    /// `ETag`, `Last-Modified`, `Date`.
    validators: Vec<(String, String)>,
    key: String,
    /// The vary index the entry was found through, if it varies.
    vary: Option<VaryIndex>,
    /// Whether a purge covers it.
    purged: Purged,
}

impl Stored {
    /// Every stored header, read into Wasm: for revalidation and refresh, never for a hit.
    fn header_pairs(&self) -> Vec<(String, String)> {
        header_pairs(&Headers(self.response.headers()))
    }

    fn found(&self, tier: Tier) -> FoundEntry<'_> {
        FoundEntry {
            meta: &self.meta,
            validators: &self.validators,
            tier,
            purged: self.purged,
        }
    }

    /// The entry's headers as the origin sent them (what a 304 is merged into).
    fn origin_headers(&self, now: UnixMillis) -> Vec<(String, String)> {
        let mut h = entry::served_headers(&self.header_pairs(), &self.meta, now);
        headers::remove(&mut h, "age");
        h
    }
}

/// What a lookup learnt about the key's vary index, for reporting and for storing under it.
#[derive(Clone, Copy, Default)]
struct VaryFound {
    /// An index existed but had no entry for this request's varied headers.
    miss: bool,
    /// The epoch to store second-level entries under (the existing index's), if any.
    epoch: Option<u64>,
}

/// Serves a cacheable request.
pub async fn serve(
    req: CacheRequest,
    purge: Rc<PurgeState>,
    now: UnixMillis,
    ctx: &Waiter<'_>,
) -> Reply {
    // Shared, not copied, with the store and the refresh that outlive this call.
    let req = Rc::new(req);
    let lookup_started = platform::now();
    if let Some(mut reply) = from_memory(&req, &purge, now, Tier::Memory) {
        reply.cache_ms = Some(platform::now().since(lookup_started));
        return reply;
    }
    let (stored, vary) = lookup(&req, &purge).await;
    let cache_ms = platform::now().since(lookup_started);
    let facts = req.facts();
    let found = match &stored {
        Some(s) => Found::Entry(s.found(Tier::Shared)),
        None => Found::Nothing {
            vary_miss: vary.miss,
        },
    };
    let mut reply = match lifecycle::on_lookup(&facts, found, now) {
        LookupAction::Serve(serve) => match stored {
            Some(s) => serve_stored(&req, s, serve, now).await,
            None => internal("a lookup served nothing"),
        },
        LookupAction::ServeStaleAndRefresh(serve) => match stored {
            Some(s) => {
                refresh_later(&req, &s, now, ctx);
                serve_stored(&req, s, serve, now).await
            }
            None => internal("a lookup served nothing"),
        },
        LookupAction::Fetch(fetch) => {
            fetch_origin(&req, &purge, fetch, stored, vary, now, ctx).await
        }
        LookupAction::Unavailable(report) => unavailable(report),
        // Only memory entries are looked at deeper; this was the Cache API.
        LookupAction::LookDeeper { .. } => internal("the Cache API lookup asked to look deeper"),
    };
    if reply.cache_ms.is_none() {
        reply.cache_ms = Some(cache_ms);
    }
    reply
}

/// The reply to `only-if-cached` when nothing servable is stored (RFC 9111 §5.2.1.7).
fn unavailable(report: CacheReport) -> Reply {
    let mut reply = Reply::problem(&Problem::new(
        504,
        "not_cached",
        "only-if-cached: no stored response can answer this request",
    ));
    reply.cache = Some(report);
    reply
}

fn internal(detail: &str) -> Reply {
    Reply::problem(&Problem::internal(detail))
}

/// A request whose key another request is fetching: waits for that one (at most the origin
/// timeout), then is served what it stored: from memory when the tier holds it, else from the
/// Cache API (an entry of any size). `None` when it stored nothing this request may have (the
/// caller then asks the origin itself).
async fn wait_for(req: &CacheRequest, purge: &PurgeState, watch: LockWatch) -> Option<Reply> {
    let started = platform::now();
    loop {
        match lock::on_wait(
            watch.status(),
            platform::now().since(started),
            req.timeout_ms,
        ) {
            WaitAction::Wait => {
                worker::Delay::from(std::time::Duration::from_millis(FOLLOW_POLL_MS)).await;
            }
            WaitAction::Lookup => {
                let now = platform::now();
                if let Some(reply) = from_memory(req, purge, now, Tier::Coalesced) {
                    return Some(reply);
                }
                let (Some(stored), _) = lookup(req, purge).await else {
                    return None;
                };
                let found = Found::Entry(stored.found(Tier::SharedCoalesced));
                return match lifecycle::on_lookup(&req.facts(), found, now) {
                    LookupAction::Serve(serve) => Some(serve_stored(req, stored, serve, now).await),
                    _ => None,
                };
            }
            WaitAction::Fetch(end) => {
                worker::console_log!("coalesced miss: {}; asking the origin", end.as_str());
                return None;
            }
        }
    }
}

/// How often a waiting request checks the claim it waits for. It checks on its own timer so
/// that it resumes in its own request's context (see `cache::lock`).
const FOLLOW_POLL_MS: u64 = 10;

/// A request served from the in-memory tier, when the core says so; `None` sends it on to the
/// Cache API (dropping the memory copy when the core says that too).
fn from_memory(
    req: &CacheRequest,
    purge: &PurgeState,
    now: UnixMillis,
    tier: Tier,
) -> Option<Reply> {
    let (key, held) = memory::lookup(
        req.memory,
        &req.key.primary,
        &req.request_headers,
        req.key.request_lang,
        now,
    )?;
    let found = FoundEntry {
        meta: &held.meta,
        validators: &held.validators,
        tier,
        purged: purge.check(
            &held.meta.purge_path,
            &held.meta.tags,
            held.meta.stored_at_ms,
        ),
    };
    match lifecycle::on_lookup(&req.facts(), Found::Entry(found), now) {
        LookupAction::Serve(serve) => Some(held_reply(&held, serve, now)),
        LookupAction::LookDeeper { drop: true } => {
            memory::drop_key(req.memory, &key);
            None
        }
        _ => None,
    }
}

/// A held entry as the client gets it.
fn held_reply(held: &Held, serve: Serve, now: UnixMillis) -> Reply {
    let body = shaped_body(serve.form, Some(&held.body), || {
        Body::Buffer(held.body.clone())
    });
    let base = BaseHeaders {
        headers: held.headers.clone(),
        form: BaseForm::Edits,
    };
    stored_reply(&held.meta, Some(base), Vec::new(), body, serve, now)
}

/// The body of a stored response in `form`: none, the slice of `buffer` for a range, or
/// `whole`.
fn shaped_body(form: Form, buffer: Option<&ArrayBuffer>, whole: impl FnOnce() -> Body) -> Body {
    if !form.has_body() {
        return Body::Empty;
    }
    match (form.slice(), buffer) {
        (Some((start, end)), Some(buf)) => {
            let clamp = |v: u64| u32::try_from(v).unwrap_or(u32::MAX);
            Body::Buffer(buf.slice_with_end(clamp(start), clamp(end)))
        }
        _ => whole(),
    }
}

/// The reply for a stored response: its status and headers in the served form (`base` the
/// runtime's copy, or `pairs` in stored form already in Wasm), with the form's edits.
fn stored_reply(
    meta: &EntryMeta,
    base: Option<BaseHeaders>,
    pairs: Vec<(String, String)>,
    body: Body,
    serve: Serve,
    now: UnixMillis,
) -> Reply {
    let status = serve.form.status(meta.status);
    let mut reply = match base {
        Some(base) => {
            let mut edits = entry::served_edits(meta, now);
            serve.form.apply_to(&mut edits);
            let mut reply = Reply::new(status, edits, body);
            reply.base = Some(base);
            reply
        }
        None => {
            let mut headers = entry::served_headers(&pairs, meta, now);
            serve.form.apply_to(&mut headers);
            Reply::new(status, headers, body)
        }
    };
    reply.cache = Some(serve.report);
    reply
}

/// A Cache API entry as the client gets it; read into memory first when the core says so (a
/// fresh hit the tier can hold) or when a range of it is sent.
async fn serve_stored(req: &CacheRequest, stored: Stored, serve: Serve, now: UnixMillis) -> Reply {
    let buffer = if serve.fill_memory || serve.form.slice().is_some() {
        match read_body(&stored.response).await {
            Some(body) => Some(body),
            None => return internal("the stored body could not be read"),
        }
    } else {
        None
    };
    if let (true, Some(body)) = (serve.fill_memory, &buffer) {
        let read = Rc::new(stored.header_pairs());
        let base = BaseHeaders {
            headers: stored.response.headers(),
            form: BaseForm::Read(Rc::clone(&read)),
        };
        memory::hold(
            req.memory,
            &req.key.primary,
            &stored.key,
            stored.vary.as_ref(),
            &stored.meta,
            &read,
            Some(&base),
            body,
            now,
        );
    }
    let body = shaped_body(serve.form, buffer.as_ref(), || match &buffer {
        Some(b) => Body::Buffer(b.clone()),
        None => Body::Stream(stored.response.body()),
    });
    let base = BaseHeaders {
        headers: stored.response.headers(),
        form: BaseForm::Stored,
    };
    stored_reply(&stored.meta, Some(base), Vec::new(), body, serve, now)
}

/// Finds the entry for a request in the Cache API, following a vary index to the second level.
/// Reads a few headers by name, not every stored header; an unreadable meta counts as absent.
async fn lookup(req: &CacheRequest, purge: &PurgeState) -> (Option<Stored>, VaryFound) {
    let mut key = req.key.primary.clone();
    let Some(mut found) = store::lookup(&key, LOOKUP_HEADERS).await else {
        return (None, VaryFound::default());
    };
    let mut vary = None;
    if let Some(value) = found.header(entry::VARY_INDEX_HEADER) {
        let index = entry::parse_vary_index(&value);
        key = key::vary_key(
            &req.key.primary,
            index.epoch,
            &index.names,
            &req.request_headers,
            req.key.request_lang,
        );
        match store::lookup(&key, LOOKUP_HEADERS).await {
            Some(f) => found = f,
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
    let vary_found = VaryFound {
        miss: false,
        epoch: vary.as_ref().map(|v| v.epoch),
    };
    let stored = found
        .header(entry::META_HEADER)
        .and_then(|v| EntryMeta::from_header(&v))
        .map(|meta| Stored {
            validators: freshness::validators(|n| found.header(n)),
            purged: purge.check(&meta.purge_path, &meta.tags, meta.stored_at_ms),
            response: found.response,
            meta,
            key,
            vary,
        });
    (stored, vary_found)
}

/// The stored headers a lookup reads with the response: the vary index, the meta and the
/// validators ([`freshness::VALIDATOR_FIELDS`]). Others are read from the runtime by name.
const LOOKUP_HEADERS: &[&str] = &[
    entry::VARY_INDEX_HEADER,
    entry::META_HEADER,
    "etag",
    "last-modified",
    "date",
];

/// A request the core sends to the origin: claims the key first when the core says to coalesce
/// (and waits instead when another request holds it), then fetches and carries out
/// `on_origin`'s answer.
async fn fetch_origin(
    req: &Rc<CacheRequest>,
    purge: &PurgeState,
    fetch: Fetch,
    stored: Option<Stored>,
    vary: VaryFound,
    now: UnixMillis,
    ctx: &Waiter<'_>,
) -> Reply {
    let mut claim = None;
    if fetch.coalesce {
        match memory::misses().claim(&req.key.primary) {
            Claim::Won(guard) => claim = Some(guard),
            Claim::Taken(watch) => {
                if let Some(reply) = wait_for(req, purge, watch).await {
                    return reply;
                }
            }
        }
    }
    let stale = match (&fetch.revalidate, &stored) {
        (Some(how), Some(s)) => Some((*how, s.origin_headers(now))),
        _ => None,
    };
    let conditional = match &stale {
        Some((how, origin_headers)) if how.conditional => {
            freshness::conditional_headers(origin_headers)
        }
        _ => Vec::new(),
    };
    let call = req.call(&fetch);
    let origin = call.send(&conditional, None).await;
    let epoch = stored
        .as_ref()
        .map_or(vary.epoch, |s| s.vary.as_ref().map(|v| v.epoch));
    from_origin(
        req, claim, &call, &fetch, stored, stale, origin, epoch, now, ctx,
    )
    .await
}

/// Header pairs, lowercase names.
type Pairs = Vec<(String, String)>;

/// An origin response's headers as the cache judges them (targeted fields included), as they
/// are served and stored (without them), and the runtime's object with what was read of it (the
/// base that the served and stored forms cross to the runtime against: only their difference
/// from it is sent).
fn response_headers(
    req: &CacheRequest,
    origin: &OriginReply,
) -> (Pairs, Pairs, Option<BaseHeaders>) {
    let Ok(resp) = &origin.result else {
        return (Vec::new(), Vec::new(), None);
    };
    let headers = resp.headers();
    let read = header_pairs(&Headers(headers.clone()));
    let judged = forward::without_hop_by_hop(&read);
    let served = forward::client_response_headers(&judged, req.edge_field.as_deref());
    let base = BaseHeaders {
        headers,
        form: BaseForm::Read(Rc::new(read)),
    };
    (judged, served, Some(base))
}

/// The origin's answer as the core sees it, and the response itself.
fn outcome_of<'a>(origin: &OriginReply, headers: &'a [(String, String)]) -> OriginOutcome<'a> {
    match &origin.result {
        Ok(resp) => OriginOutcome::Response {
            status: StatusCode::from_u16(resp.status()).unwrap_or(StatusCode::BAD_GATEWAY),
            headers,
            fell_back: origin.fell_back,
        },
        Err(e) => OriginOutcome::Failed {
            failure: match e {
                OriginError::Timeout => Failure::Timeout,
                OriginError::Unreachable(_) => Failure::Unreachable,
            },
            fell_back: origin.fell_back,
        },
    }
}

/// Carries out `on_origin` for a fetch (a miss, or the revalidation of `stored`); `claim` is
/// the key's claim when this request holds it.
#[allow(clippy::too_many_arguments)]
async fn from_origin(
    req: &Rc<CacheRequest>,
    mut claim: Option<LockGuard>,
    call: &OriginCall,
    fetch: &Fetch,
    stored: Option<Stored>,
    stale: Option<(Revalidation, Vec<(String, String)>)>,
    origin: OriginReply,
    vary_epoch: Option<u64>,
    now: UnixMillis,
    ctx: &Waiter<'_>,
) -> Reply {
    let facts = req.facts();
    let (judged, origin_headers, base) = response_headers(req, &origin);
    let revalidating = match (&stored, &stale) {
        (Some(s), Some((how, headers))) => Some(Revalidating {
            meta: &s.meta,
            headers,
            how: *how,
        }),
        _ => None,
    };
    let action = lifecycle::on_origin(
        &facts,
        fetch,
        revalidating,
        outcome_of(&origin, &judged),
        now,
    );
    let origin_failed = match &origin.result {
        Ok(resp) => classify::is_failure(resp.status()),
        Err(_) => true,
    };
    let mut reply = match (action, origin.result) {
        (
            OriginAction::StoreAndServe {
                meta,
                mut report,
                form,
            },
            Ok(resp),
        ) => {
            let job = StoreJob {
                req: Rc::clone(req),
                meta,
                headers: origin_headers.clone(),
                base: base.clone(),
                vary_epoch,
                claim: claim.take(),
            };
            let Some((body, form)) = store_body(Some(ctx), job, &resp, form, &mut report).await
            else {
                let mut reply =
                    Reply::problem(&Problem::origin_unreachable("the response body broke off"));
                reply.cache = Some(report);
                reply.origin_error = true;
                return reply;
            };
            let mut headers = origin_headers;
            form.apply_to(&mut headers);
            let mut reply = Reply::new(form.status(resp.status()), headers, body);
            reply.base = base;
            reply.cache = Some(report);
            reply
        }
        (
            OriginAction::Revalidated {
                meta,
                headers,
                report,
                form,
            },
            _,
        ) => {
            let Some(stored) = stored else {
                return internal("a revalidation without a stored entry");
            };
            let mut serve = Serve {
                report,
                form,
                fill_memory: false,
            };
            match meta {
                Some(meta) => {
                    let job = StoreJob {
                        req: Rc::clone(req),
                        meta: meta.clone(),
                        headers: headers.clone(),
                        base: None,
                        vary_epoch,
                        claim: None,
                    };
                    let source = &stored.response;
                    match store_body(Some(ctx), job, source, serve.form, &mut serve.report).await {
                        Some((body, form)) => {
                            serve.form = form;
                            let pairs = entry::storage_headers(&headers, &meta);
                            stored_reply(&meta, None, pairs, body, serve, now)
                        }
                        None => internal("the stored body could not be read"),
                    }
                }
                // The 304 made the entry unstorable (e.g. it now says no-store): serve the
                // stored body once more, unstored.
                None => serve_stored(req, stored, serve, now).await,
            }
        }
        (OriginAction::ServeStale { report, form }, _) => match stored {
            Some(stored) => {
                let serve = Serve {
                    report,
                    form,
                    fill_memory: false,
                };
                serve_stored(req, stored, serve, now).await
            }
            None => internal("stale-if-error without a stored entry"),
        },
        (OriginAction::Pass { report, form }, Ok(resp)) => {
            count_unstored(req, &report);
            let body = match form {
                Form::Head => Body::Empty,
                _ => Body::Stream(resp.body()),
            };
            let mut reply = Reply::new(resp.status(), origin_headers, body);
            reply.base = base;
            reply.cache = Some(report);
            reply
        }
        (action, Err(e)) => {
            let mut reply = Reply::problem(&origin_problem(&e, call.timeout_ms, &call.url));
            reply.cache = Some(action.report().clone());
            reply
        }
        (action, Ok(_)) => {
            let mut reply = internal("the origin's answer was not carried out");
            reply.cache = Some(action.report().clone());
            reply
        }
    };
    // A claim still held here is one whose request stored nothing for its waiters.
    if let Some(claim) = claim {
        claim.release(Release::Unfilled);
    }
    reply.origin_error = origin_failed;
    reply.origin_ms = Some(origin.dur_ms);
    reply.trace_id = Some(call.trace_id.clone());
    reply
}

/// Counts a response passed through unstored for its body (too large by `Content-Length`) with
/// the bodies the store dropped (`cache::body::StoreBudget::record` keeps only those reasons).
fn count_unstored(req: &CacheRequest, report: &CacheReport) {
    if let Some(reason) = report.not_stored {
        req.memory.budget().record(StoreOutcome::NotStored(reason));
    }
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

/// Reads a response body into an `ArrayBuffer` (JS memory; no copy into Wasm). Only for a
/// body whose length is known and bounded (`cache::body::BodyPlan::Buffer`, a stored body).
async fn read_body(resp: &web_sys::Response) -> Option<ArrayBuffer> {
    let promise = resp.array_buffer().ok()?;
    Await::new(&promise)
        .await
        .ok()?
        .dyn_into::<ArrayBuffer>()
        .ok()
}

/// One entry on its way into the cache, owned so that its store can outlive the request.
struct StoreJob {
    req: Rc<CacheRequest>,
    /// The entry's meta (its `body_bytes`: the length, when known).
    meta: EntryMeta,
    /// The response's headers as they are served and stored.
    headers: Vec<(String, String)>,
    /// The origin response's headers in the runtime, when `headers` were read from them (sent
    /// across as their difference from these).
    base: Option<BaseHeaders>,
    /// The epoch of the vary index the lookup found, if any.
    vary_epoch: Option<u64>,
    /// The key's claim, when this request holds it: released when the store ends.
    claim: Option<LockGuard>,
}

/// Carries a storable body as the core plans it (`cache::body::plan`): read whole, or streamed to
/// the client while a tee's copy goes into the Cache API (counted first when its length is
/// unknown). Returns the client's body and the form it is sent in; `None` when a body read whole
/// broke off. The store runs in `ctx`'s `waitUntil`, or before this returns when there is no
/// `ctx` (a background refresh) or the request stores inline (warmup).
async fn store_body(
    ctx: Option<&Waiter<'_>>,
    mut job: StoreJob,
    source: &web_sys::Response,
    form: Form,
    report: &mut CacheReport,
) -> Option<(Body, Form)> {
    let facts = BodyFacts {
        length: job.meta.body_bytes,
        max_body_bytes: job.req.max_body_bytes,
        memory_entry_limit: job.req.memory.entry_limit(),
    };
    let planned = body::plan(facts, form, &job.req.memory.budget());
    planned.plan.report(report);
    let form = planned.form;
    let reservation = match (planned.plan, planned.reservation) {
        (_, Some(r)) => r,
        (plan, None) => {
            let reason = match plan {
                BodyPlan::Pass(reason) => reason,
                _ => NoStoreReason::Budget,
            };
            job.finish(StoreOutcome::NotStored(reason));
            return Some((client_body(source.body(), form), form));
        }
    };
    let inline = ctx.is_none() || job.req.store_inline;
    let stream = match (planned.plan, source.body()) {
        (BodyPlan::Buffer, _) | (_, None) => {
            let Some(buffer) = read_body(source).await else {
                lifecycle::unstored(report, NoStoreReason::Broken);
                job.finish(StoreOutcome::NotStored(NoStoreReason::Broken));
                return None;
            };
            let len = u64::from(buffer.byte_length());
            match lifecycle::with_body(&job.meta, report, len, job.req.max_body_bytes) {
                Some(meta) => {
                    job.meta = meta;
                    job.hold(&buffer);
                    let put = job.put(Payload::Buffer(buffer.clone()), len, reservation);
                    run(ctx, inline, Box::pin(put)).await;
                }
                None => job.finish(StoreOutcome::NotStored(NoStoreReason::TooLarge)),
            }
            let body = shaped_body(form, Some(&buffer), || Body::Buffer(buffer.clone()));
            return Some((body, form));
        }
        (_, Some(stream)) => stream,
    };
    // The client's branch and the cache's: a tee only when a client gets a body (a request that
    // stores inline is the warmup's, whose answer nobody reads: an unread branch would hold the
    // whole body).
    let (client, copy) = if form.has_body() && !job.req.store_inline {
        match store::tee(&stream) {
            Some((client, copy)) => (Some(client), copy),
            None => {
                job.finish(StoreOutcome::NotStored(NoStoreReason::Broken));
                return Some((client_body(Some(stream), form), form));
            }
        }
    } else {
        (None, stream)
    };
    if planned.plan == BodyPlan::Count {
        run(ctx, inline, Box::pin(job.count(copy, reservation))).await;
    } else {
        let bytes = job.meta.body_bytes.unwrap_or(0);
        let put = job.put(Payload::Stream(copy), bytes, reservation);
        run(ctx, inline, Box::pin(put)).await;
    }
    Some((client_body(client, form), form))
}

/// The client's body in `form`: none, or the stream.
fn client_body(stream: Option<web_sys::ReadableStream>, form: Form) -> Body {
    match stream {
        Some(stream) if form.has_body() => Body::Stream(Some(stream)),
        _ => Body::Empty,
    }
}

/// Runs a store before returning (`inline`, or without a `ctx`) or in `ctx`'s `waitUntil`
/// (boxed: one instantiation of the task machinery for every kind of store).
async fn run(
    ctx: Option<&Waiter<'_>>,
    inline: bool,
    work: std::pin::Pin<Box<dyn std::future::Future<Output = ()>>>,
) {
    match ctx {
        Some(ctx) if !inline => ctx.wait_until(work),
        _ => work.await,
    }
}

/// A body for the Cache API.
enum Payload {
    /// Bytes in JS memory.
    Buffer(ArrayBuffer),
    /// A stream the runtime pipes into the cache.
    Stream(web_sys::ReadableStream),
}

impl StoreJob {
    /// Holds the entry in this isolate's memory tier (synchronously).
    fn hold(&self, body: &ArrayBuffer) {
        let (index, target) = entry_target(&self.req, &self.meta, self.vary_epoch);
        memory::hold(
            self.req.memory,
            &self.req.key.primary,
            &target,
            index.as_ref(),
            &self.meta,
            &self.headers,
            self.base.as_ref(),
            body,
            UnixMillis(self.meta.stored_at_ms),
        );
    }

    /// Puts the entry into the Cache API, then ends the store.
    async fn put(self, payload: Payload, bytes: u64, reservation: Reservation) {
        let stored = store_entry(
            &self.req,
            &self.meta,
            &self.headers,
            self.base.as_ref(),
            payload,
            self.vary_epoch,
        )
        .await;
        drop(reservation);
        self.finish(if stored {
            StoreOutcome::Stored { bytes }
        } else {
            StoreOutcome::NotStored(NoStoreReason::Broken)
        });
    }

    /// Counts a copy of unknown length as it arrives (dropping it the moment it passes the
    /// limit), then stores it: held in memory too when the tier takes it.
    async fn count(mut self, copy: web_sys::ReadableStream, mut reservation: Reservation) {
        let counter = BodyCounter::new(self.req.max_body_bytes);
        let (chunks, bytes) = match store::read_counted(copy, counter).await {
            Counted::Complete { chunks, bytes } => (chunks, bytes),
            Counted::Dropped(reason) => {
                drop(reservation);
                return self.finish(StoreOutcome::NotStored(reason));
            }
        };
        reservation.shrink_to(bytes);
        self.meta.body_bytes = Some(bytes);
        let payload = if bytes < self.req.memory.entry_limit() {
            let buffer = store::concat(&chunks, bytes);
            self.hold(&buffer);
            Payload::Buffer(buffer)
        } else {
            match store::stream_of(chunks) {
                Some(stream) => Payload::Stream(stream),
                None => {
                    drop(reservation);
                    return self.finish(StoreOutcome::NotStored(NoStoreReason::Broken));
                }
            }
        };
        self.put(payload, bytes, reservation).await;
    }

    /// Ends the store: counts it in the isolate's stats, logs a body that was not stored (with
    /// its reason), and releases the key's waiters to look it up or to ask the origin.
    fn finish(self, outcome: StoreOutcome) {
        self.req.memory.budget().record(outcome);
        if let StoreOutcome::NotStored(reason) = outcome {
            // One JSON line (never the query): the route and path are escaped as JSON strings.
            worker::console_log!(
                "{{\"event\":\"store_dropped\",\"reason\":\"{}\",\"route\":{},\"path\":{}}}",
                reason.as_str(),
                crate::json::text(&self.req.rule.id.as_str().into()),
                crate::json::text(&self.req.url.path().into())
            );
        }
        if let Some(claim) = self.claim {
            claim.release(outcome.release());
        }
    }
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
        Some(i) => key::vary_key(
            &req.key.primary,
            i.epoch,
            &i.names,
            &req.request_headers,
            req.key.request_lang,
        ),
    };
    (index, target)
}

/// Stores an entry in the Cache API (see [`entry_target`] for where); false when the put failed.
async fn store_entry(
    req: &CacheRequest,
    meta: &EntryMeta,
    origin_headers: &[(String, String)],
    base: Option<&BaseHeaders>,
    payload: Payload,
    vary_epoch: Option<u64>,
) -> bool {
    let stored_headers = entry::storage_headers(origin_headers, meta);
    let (index, target) = entry_target(req, meta, vary_epoch);
    let body: &worker::wasm_bindgen::JsValue = match &payload {
        Payload::Buffer(body) => body.as_ref(),
        Payload::Stream(body) => body.as_ref(),
    };
    let stored = store::put_parts(&target, meta.status, base, &stored_headers, body).await;
    if let (true, Some(index)) = (stored, &index) {
        let retention = meta.retention_secs(policy::has_validators(origin_headers));
        let index = entry::vary_index_headers(index, retention);
        if let Ok(resp) = convert::response(200, &convert::to_headers(&index), None) {
            store::put(req.key.primary.clone(), resp).await;
        }
    }
    stored
}

/// RFC 5861 stale-while-revalidate: when this request wins the entry's refresh claim, refresh
/// it in the background; the claim's guard lives as long as the refresh.
fn refresh_later(req: &Rc<CacheRequest>, stored: &Stored, now: UnixMillis, ctx: &Waiter<'_>) {
    let Claim::Won(guard) = memory::refreshes().claim(&stored.key) else {
        return;
    };
    let bg = Rc::clone(req);
    let (meta, origin_headers, validators, key, epoch) = (
        stored.meta.clone(),
        stored.origin_headers(now),
        stored.validators.clone(),
        stored.key.clone(),
        stored.vary.as_ref().map(|v| v.epoch),
    );
    ctx.wait_until(async move {
        refresh(bg, meta, origin_headers, validators, key, epoch).await;
        drop(guard);
    });
}

/// The background refresh: a fetch revalidating the stale entry, whose answer is stored when
/// `on_origin` says so, within the same limits as a miss (`store_body`, inline: the refresh is
/// already in `waitUntil`). Failures leave the stale entry for the next request to try again.
async fn refresh(
    req: Rc<CacheRequest>,
    meta: EntryMeta,
    origin_headers: Vec<(String, String)>,
    validators: Vec<(String, String)>,
    key: String,
    vary_epoch: Option<u64>,
) {
    let now = platform::now();
    let how = Revalidation {
        conditional: policy::has_validators(&validators),
        serve_if_error: false,
    };
    let fetch = Fetch {
        report: CacheReport::new(Outcome::Expired),
        revalidate: Some(how),
        coalesce: false,
    };
    let conditional = if how.conditional {
        freshness::conditional_headers(&origin_headers)
    } else {
        Vec::new()
    };
    let origin = req.call(&fetch).send(&conditional, None).await;
    let (judged, headers, base) = response_headers(&req, &origin);
    let stale = Revalidating {
        meta: &meta,
        headers: &origin_headers,
        how,
    };
    let facts = req.facts();
    let action = lifecycle::on_origin(
        &facts,
        &fetch,
        Some(stale),
        outcome_of(&origin, &judged),
        now,
    );
    let (meta, headers, base, source, mut report) = match (action, origin.result) {
        (OriginAction::StoreAndServe { meta, report, .. }, Ok(resp)) => {
            (meta, headers, base, resp, report)
        }
        (
            OriginAction::Revalidated {
                meta: Some(meta),
                headers: merged,
                report,
                ..
            },
            _,
        ) => {
            // The stored body is still right: read it again from the cache.
            let Some(response) = store::lookup(&key, &[]).await.map(|f| f.response) else {
                return;
            };
            (meta, merged, None, response, report)
        }
        (OriginAction::Pass { report, .. }, _) => return count_unstored(&req, &report),
        _ => return,
    };
    let job = StoreJob {
        req,
        meta,
        headers,
        base,
        vary_epoch,
        claim: None,
    };
    // Nobody gets this body: only the store reads it.
    let _ = store_body(None, job, &source, Form::Head, &mut report).await;
}

/// A cacheable request: its key under the current purge generation, and what the origin call
/// (made only on a miss or revalidation) needs.
#[allow(clippy::too_many_arguments)]
pub fn cache_request(
    config: &EdgeConfig,
    rule: &Rc<RouteRule>,
    origin: OriginChoice,
    url: crate::web_url::Url,
    headers: Vec<(String, String)>,
    is_head: bool,
    release: &str,
    generation: u64,
    store_inline: bool,
) -> CacheRequest {
    let key = key::build(
        &url,
        &headers,
        rule,
        KeyScope {
            release,
            generation,
            tracking: &config.tracking,
        },
    );
    CacheRequest {
        method: if is_head { Method::HEAD } else { Method::GET },
        rule: Rc::clone(rule),
        key,
        request_headers: headers,
        max_body_bytes: config.max_body_bytes,
        edge_field: config.edge_cache_control_field.clone(),
        origin,
        url,
        timeout_ms: config.origin_timeout_ms,
        store_inline,
        memory: super::memory::limits(config),
    }
}

#[cfg(all(test, target_arch = "wasm32"))]
mod lookup_tests {
    use super::*;
    use wasm_bindgen_test::wasm_bindgen_test;

    #[wasm_bindgen_test]
    fn lookup_reads_the_validators_the_vary_index_and_the_meta_with_the_response() {
        for name in freshness::VALIDATOR_FIELDS
            .iter()
            .chain(&[entry::VARY_INDEX_HEADER, entry::META_HEADER])
        {
            assert!(LOOKUP_HEADERS.contains(name), "{name}");
        }
    }
}
