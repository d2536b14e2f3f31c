//! The cache lifecycle as data, as pingora-cache's `HttpCache` walks its `CachePhase`s: for each
//! phase of a cacheable request the core returns an action, and the Workers glue
//! (`edge::cache_flow`) only carries it out — reads, fetches, stores, waits.
//!
//! ```text
//! on_request ──Pass(reason)──────────────────────────────▶ straight to the origin
//!     │ Lookup
//!     ▼
//! on_lookup(found) ─ Serve ─────────────────────────────▶ stored response (200/304/206/416/HEAD)
//!     │            ─ ServeStaleAndRefresh ─▶ stored response; claim + background fetch ─▶ on_origin
//!     │            ─ LookDeeper ─▶ (memory copy unusable) Cache API lookup ─▶ on_lookup
//!     │            ─ Unavailable ─▶ 504 (only-if-cached)
//!     │ Fetch{revalidate?, coalesce}
//!     ▼      (waiters: lock::on_wait ─▶ Lookup in memory, then the Cache API ─▶ on_lookup, or Fetch)
//! on_origin(outcome) ─ StoreAndServe ─▶ body::plan ─▶ Buffer | Stream | Count | Pass
//!                    ─ Revalidated ─▶ store the merged entry, serve the stored body
//!                    ─ ServeStale ─▶ stored response (stale-if-error)
//!                    ─ Pass ─▶ the origin's response, unstored
//!                    ─ Fail ─▶ 502/504 problem
//! ```
//!
//! The store decision needs headers only (`Content-Length` when sent); the body is judged by
//! [`admit_body`] once its length is known, or chunk by chunk by the byte counter
//! (`cache::body`) when it is not, so that no body is ever read whole before it is judged.

use http::{Method, StatusCode};

use super::cache_control::RequestDirectives;
use super::classify::{classify_status, Failure};
use super::freshness::{self, Freshness};
use super::key::CacheKey;
use super::meta::EntryMeta;
use super::policy::{self, decide_store, BypassReason, NoStoreReason, StoreDecision, StoreInput};
use super::purge::Purged;
use super::range::{self, RangeAnswer};
use super::rules::{CacheMode, RouteRule};
use super::status::{CacheReport, Outcome, StaleReason};
use crate::headers::{self, HeaderList};
use crate::time::UnixMillis;

/// Request headers never sent to the origin on a cache fetch: the cache fetches the whole
/// response and answers the client's conditional and range requests itself from what it got.
pub const ORIGIN_DROPS: &[&str] = &[
    "if-none-match",
    "if-modified-since",
    "if-match",
    "if-unmodified-since",
    "if-range",
    "range",
];

/// Phase 0: whether a request uses the cache at all.
pub fn on_request(method: &Method, rule: &RouteRule) -> Option<BypassReason> {
    if rule.mode == CacheMode::Bypass {
        Some(BypassReason::Rule)
    } else if *method != Method::GET && *method != Method::HEAD {
        Some(BypassReason::Method)
    } else {
        None
    }
}

/// What the lifecycle knows of a request that uses the cache.
#[derive(Debug, Clone, Copy)]
pub struct RequestFacts<'a> {
    /// GET or HEAD.
    pub method: &'a Method,
    /// The request's headers (lowercase names), without an `Authorization` the edge consumed.
    pub headers: &'a HeaderList,
    /// The route rule.
    pub rule: &'a RouteRule,
    /// The request's key.
    pub key: &'a CacheKey,
    /// The request directives the edge honours.
    pub directives: RequestDirectives,
    /// Whether the request carries `Authorization` (RFC 9111 §3.5).
    pub authorized: bool,
    /// Largest body stored.
    pub max_body_bytes: u64,
    /// The edge's own targeted cache-control field (lowercase), if configured.
    pub edge_field: Option<&'a str>,
    /// Largest body the memory tier holds (0: the tier is off).
    pub memory_entry_limit: u64,
}

impl<'a> RequestFacts<'a> {
    /// The facts of a request; directives and `Authorization` are read from `headers`.
    pub fn new(
        method: &'a Method,
        headers: &'a HeaderList,
        rule: &'a RouteRule,
        key: &'a CacheKey,
    ) -> RequestFacts<'a> {
        RequestFacts {
            method,
            headers,
            rule,
            key,
            directives: RequestDirectives::from_headers(headers),
            authorized: headers::has(headers, "authorization"),
            max_body_bytes: policy::DEFAULT_MAX_BODY_BYTES,
            edge_field: None,
            memory_entry_limit: 0,
        }
    }
}

/// Where a stored entry was found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Tier {
    /// The isolate's memory tier.
    Memory,
    /// The memory tier, after waiting for a concurrent miss of the key (coalescing).
    Coalesced,
    /// The data centre's Cache API.
    Shared,
    /// The Cache API, after waiting for a concurrent miss of the key whose entry the memory tier
    /// does not hold (coalescing for any size).
    SharedCoalesced,
}

impl Tier {
    /// Whether the entry is the memory tier's.
    pub fn is_memory(self) -> bool {
        matches!(self, Tier::Memory | Tier::Coalesced)
    }

    /// Whether the request waited for a concurrent miss to store it.
    pub fn is_coalesced(self) -> bool {
        matches!(self, Tier::Coalesced | Tier::SharedCoalesced)
    }
}

/// A stored entry found by a lookup.
#[derive(Debug, Clone, Copy)]
pub struct Stored<'a> {
    /// Its meta.
    pub meta: &'a EntryMeta,
    /// Its `ETag`, `Last-Modified` and `Date` (`freshness::VALIDATOR_FIELDS`).
    pub validators: &'a HeaderList,
    /// Where it was found.
    pub tier: Tier,
    /// Whether a purge covers it (it was stored before a ban of its path, a prefix or a tag).
    pub purged: Purged,
}

/// What a lookup found.
#[derive(Debug, Clone, Copy)]
pub enum Found<'a> {
    /// An entry.
    Entry(Stored<'a>),
    /// Nothing usable; `vary_miss` when a vary index existed but not this request's variant.
    Nothing {
        /// A vary index existed without an entry for this request's varied headers.
        vary_miss: bool,
    },
}

/// The shape of a response served from a stored entry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Form {
    /// The whole response.
    Full,
    /// Its headers only (HEAD).
    Head,
    /// 304: the client's validators match.
    NotModified,
    /// 206 or 416 for a `Range` request.
    Range(RangeAnswer),
}

impl Form {
    /// The status sent for a stored response of `status` in this form.
    pub fn status(self, status: u16) -> u16 {
        match self {
            Form::Full | Form::Head => status,
            Form::NotModified => 304,
            Form::Range(RangeAnswer::Partial { .. }) => 206,
            Form::Range(RangeAnswer::NotSatisfiable { .. }) => 416,
        }
    }

    /// Whether a body is sent.
    pub fn has_body(self) -> bool {
        matches!(self, Form::Full | Form::Range(RangeAnswer::Partial { .. }))
    }

    /// Applies this form to the headers of the whole response (`entry::served_edits`, or the
    /// origin's): `Content-Range` and the part's `Content-Length` for a range answer; no
    /// `Content-Length` on a 304.
    pub fn apply_to(self, headers: &mut Vec<(String, String)>) {
        match self {
            Form::Range(answer) => {
                for (name, value) in range::answer_headers(answer) {
                    headers::set(headers, &name, value);
                }
            }
            Form::NotModified => headers::remove(headers, "content-length"),
            Form::Full | Form::Head => {}
        }
    }

    /// The bytes `start..end` (end exclusive) of the stored body to send, for a partial answer.
    pub fn slice(self) -> Option<(u64, u64)> {
        match self {
            Form::Range(RangeAnswer::Partial { start, end, .. }) => Some((start, end + 1)),
            _ => None,
        }
    }
}

/// Serve a stored entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Serve {
    /// What `Cache-Status` says.
    pub report: CacheReport,
    /// The response's shape.
    pub form: Form,
    /// Read the body once and hold it in the memory tier (a fresh Cache API hit it can hold).
    pub fill_memory: bool,
}

/// Go to the origin.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fetch {
    /// What `Cache-Status` says so far (`miss` or `expired`).
    pub report: CacheReport,
    /// When a stale entry is being revalidated: how.
    pub revalidate: Option<Revalidation>,
    /// Claim the key so that concurrent misses wait for this one.
    pub coalesce: bool,
}

impl Fetch {
    /// The method sent to the origin: always GET (a HEAD is answered from the GET entry).
    pub fn method(&self) -> Method {
        Method::GET
    }
}

/// How a stale entry is revalidated.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Revalidation {
    /// Ask with the entry's validators (`If-None-Match`/`If-Modified-Since`).
    pub conditional: bool,
    /// Serve the entry if the origin fails (within stale-if-error).
    pub serve_if_error: bool,
}

/// What to do after a lookup.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LookupAction {
    /// Serve the entry.
    Serve(Serve),
    /// Serve the stale entry now (stale-while-revalidate) and, if this request wins the key's
    /// refresh claim, refresh it in the background (`on_origin` decides what is stored).
    ServeStaleAndRefresh(Serve),
    /// Ask the origin.
    Fetch(Fetch),
    /// The memory copy cannot answer this request: look in the Cache API, dropping the copy
    /// first when it is stale or purged (`drop`).
    LookDeeper {
        /// Drop the memory copy.
        drop: bool,
    },
    /// `only-if-cached` and nothing servable: 504 without contacting the origin.
    Unavailable(CacheReport),
}

/// Phase 1: what to do with what a lookup found at `now`. An entry of the memory tier is either
/// served (fresh, unpurged, allowed for this request) or answered [`LookupAction::LookDeeper`]:
/// the Cache API lookup then decides everything else.
pub fn on_lookup(req: &RequestFacts<'_>, found: Found<'_>, now: UnixMillis) -> LookupAction {
    let stored = match found {
        Found::Nothing { vary_miss } => return nothing(req, vary_miss),
        Found::Entry(s) => s,
    };
    let meta = stored.meta;
    let in_memory = stored.tier.is_memory();
    // RFC 9111 §3.5: only an entry whose response allowed it answers an authorized request.
    let usable = stored.purged != Purged::Hard && (meta.auth_ok || !req.authorized);
    let freshness = freshness::evaluate(meta, now);
    if in_memory {
        return match freshness {
            Freshness::Fresh { ttl_secs } if usable && stored.purged == Purged::No => {
                LookupAction::Serve(hit(req, &stored, ttl_secs))
            }
            // Stale and purged copies leave memory; the stale paths go through the Cache API.
            _ => LookupAction::LookDeeper {
                drop: stored.purged != Purged::No || !matches!(freshness, Freshness::Fresh { .. }),
            },
        };
    }
    if !usable {
        return nothing(req, false);
    }
    if let Purged::Soft { at_ms } = stored.purged {
        return soft_purged(req, &stored, at_ms, now);
    }
    match freshness {
        Freshness::Fresh { ttl_secs } => LookupAction::Serve(hit(req, &stored, ttl_secs)),
        Freshness::Stale {
            serve_while_revalidating: true,
            ..
        } => {
            let mut report = CacheReport::new(Outcome::Stale(StaleReason::WhileRevalidate));
            report.ttl_secs = Some(freshness::ttl_param(meta, now));
            LookupAction::ServeStaleAndRefresh(Serve {
                report,
                form: form(req, meta.status, meta.body_bytes, stored.validators),
                fill_memory: false,
            })
        }
        Freshness::Stale { .. } if req.directives.only_if_cached => {
            LookupAction::Unavailable(unavailable())
        }
        Freshness::Stale { serve_if_error, .. } => LookupAction::Fetch(Fetch {
            report: CacheReport::new(Outcome::Expired),
            revalidate: Some(Revalidation {
                conditional: policy::has_validators(stored.validators),
                serve_if_error,
            }),
            coalesce: false,
        }),
    }
}

/// An entry a soft purge made stale at `purged_at_ms`: served stale while one background
/// revalidation refreshes it — unless its response forbids serving it stale
/// (`must-revalidate` and the like), then it is revalidated first; if the origin fails then,
/// stale-if-error still serves it.
fn soft_purged(
    req: &RequestFacts<'_>,
    stored: &Stored<'_>,
    purged_at_ms: u64,
    now: UnixMillis,
) -> LookupAction {
    let meta = stored.meta;
    if meta.must_revalidate {
        if req.directives.only_if_cached {
            return LookupAction::Unavailable(unavailable());
        }
        return LookupAction::Fetch(Fetch {
            report: CacheReport::new(Outcome::Expired),
            revalidate: Some(Revalidation {
                conditional: policy::has_validators(stored.validators),
                serve_if_error: false,
            }),
            coalesce: false,
        });
    }
    let mut report = CacheReport::new(Outcome::Stale(StaleReason::SoftPurge));
    let stale_secs = now.0.saturating_sub(purged_at_ms) / 1000;
    report.ttl_secs = Some(-i64::try_from(stale_secs).unwrap_or(i64::MAX));
    LookupAction::ServeStaleAndRefresh(Serve {
        report,
        form: form(req, meta.status, meta.body_bytes, stored.validators),
        fill_memory: false,
    })
}

/// A fresh hit: from memory (after waiting for a concurrent miss, when coalesced), or from the
/// Cache API, read into memory when the tier can hold it.
fn hit(req: &RequestFacts<'_>, stored: &Stored<'_>, ttl_secs: u64) -> Serve {
    let meta = stored.meta;
    let mut report = CacheReport::new(Outcome::Hit);
    report.ttl_secs = Some(i64::try_from(ttl_secs).unwrap_or(i64::MAX));
    report.memory = stored.tier.is_memory();
    report.coalesced = stored.tier.is_coalesced();
    Serve {
        report,
        form: form(req, meta.status, meta.body_bytes, stored.validators),
        fill_memory: !stored.tier.is_memory()
            && meta.body_bytes.is_some_and(|n| n < req.memory_entry_limit),
    }
}

fn unavailable() -> CacheReport {
    let mut report = CacheReport::new(Outcome::Miss);
    report.unavailable = true;
    report
}

/// Nothing servable was found: fetch (coalesced when the request is one any waiter may share:
/// the waiters then find what it stored in memory or in the Cache API, whatever its size), or
/// 504 for `only-if-cached`.
fn nothing(req: &RequestFacts<'_>, vary_miss: bool) -> LookupAction {
    if req.directives.only_if_cached {
        return LookupAction::Unavailable(unavailable());
    }
    let mut report = CacheReport::new(Outcome::Miss);
    report.vary_miss = vary_miss;
    LookupAction::Fetch(Fetch {
        report,
        revalidate: None,
        coalesce: !req.authorized && !req.directives.no_store,
    })
}

/// The form of a stored (or just stored) response of `status` for this request: 304 when the
/// client's validators match (RFC 9110 §13.2.2 evaluates these before `Range`), headers only
/// for HEAD, 206/416 for a single `Range` of a complete 200 whose length is known, else whole.
pub fn form(
    req: &RequestFacts<'_>,
    status: u16,
    body_bytes: Option<u64>,
    validators: &HeaderList,
) -> Form {
    if status == 200
        && freshness::is_conditional(req.headers)
        && freshness::client_not_modified(req.headers, validators)
    {
        return Form::NotModified;
    }
    if *req.method == Method::HEAD {
        return Form::Head;
    }
    match (
        status,
        body_bytes,
        range::requested(req.headers, validators),
    ) {
        (200, Some(total), Some(r)) => Form::Range(range::resolve(r, total)),
        _ => Form::Full,
    }
}

/// What the origin did.
#[derive(Debug, Clone, Copy)]
pub enum OriginOutcome<'a> {
    /// It answered (after a canary fallback when `fell_back`).
    Response {
        /// The status.
        status: StatusCode,
        /// Its headers as the client would get them (`forward::client_response_headers`).
        headers: &'a HeaderList,
        /// A failing canary was retried against stable.
        fell_back: bool,
    },
    /// It did not answer.
    Failed {
        /// How.
        failure: Failure,
        /// A failing canary was retried against stable, which failed too.
        fell_back: bool,
    },
}

/// The stale entry a fetch revalidates.
#[derive(Debug, Clone, Copy)]
pub struct Revalidating<'a> {
    /// Its meta.
    pub meta: &'a EntryMeta,
    /// Its headers as the origin sent them (`entry::served_headers` without `Age`): what a 304
    /// is merged into.
    pub headers: &'a HeaderList,
    /// How the fetch revalidates it.
    pub how: Revalidation,
}

/// What to do with the origin's answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum OriginAction {
    /// Serve the response and store it with `meta` — once [`admit_body`] admits the body.
    StoreAndServe {
        /// The entry's meta.
        meta: EntryMeta,
        /// What `Cache-Status` says.
        report: CacheReport,
        /// The response's shape for this client (a conditional or range request is answered
        /// from the whole response the edge fetched).
        form: Form,
    },
    /// A 304 confirmed the stale entry: serve its stored body with `headers`, and store them
    /// with `meta` (`None`: the 304 made the entry unstorable; serve it once more, unstored).
    Revalidated {
        /// The renewed meta.
        meta: Option<EntryMeta>,
        /// The stored headers merged with the 304's (RFC 9111 §4.3.4).
        headers: Vec<(String, String)>,
        /// What `Cache-Status` says.
        report: CacheReport,
        /// The response's shape.
        form: Form,
    },
    /// The origin failed within stale-if-error: serve the stale entry.
    ServeStale {
        /// What `Cache-Status` says.
        report: CacheReport,
        /// The response's shape.
        form: Form,
    },
    /// Pass the origin's response through, whole and unstored.
    Pass {
        /// What `Cache-Status` says.
        report: CacheReport,
        /// `Full`, or `Head` for a HEAD request (fetched as GET: the body is not sent).
        form: Form,
    },
    /// The origin failed and nothing can be served: 502 or 504.
    Fail {
        /// What `Cache-Status` says.
        report: CacheReport,
    },
}

impl OriginAction {
    /// What `Cache-Status` says.
    pub fn report(&self) -> &CacheReport {
        match self {
            OriginAction::StoreAndServe { report, .. }
            | OriginAction::Revalidated { report, .. }
            | OriginAction::ServeStale { report, .. }
            | OriginAction::Pass { report, .. }
            | OriginAction::Fail { report } => report,
        }
    }
}

/// Phase 2: what to do with the origin's answer to `fetch` (the action `on_lookup` returned),
/// `stale` being the entry it revalidates, if any.
pub fn on_origin(
    req: &RequestFacts<'_>,
    fetch: &Fetch,
    stale: Option<Revalidating<'_>>,
    outcome: OriginOutcome<'_>,
    now: UnixMillis,
) -> OriginAction {
    let mut report = fetch.report.clone();
    let (failure, fell_back) = match outcome {
        OriginOutcome::Failed { failure, fell_back } => (Some(failure), fell_back),
        OriginOutcome::Response {
            status, fell_back, ..
        } => (classify_status(status), fell_back),
    };
    report.fallback = fell_back;
    if let (Some(failure), Some(stale)) = (failure, stale) {
        if stale.how.serve_if_error {
            let mut report = CacheReport::new(Outcome::Stale(StaleReason::IfError));
            report.fwd_status = failure.status().map(|s| s.as_u16());
            report.ttl_secs = Some(freshness::ttl_param(stale.meta, now));
            report.fallback = fell_back;
            let validators =
                freshness::validators(|n| headers::get(stale.headers, n).map(str::to_string));
            let form = form(req, stale.meta.status, stale.meta.body_bytes, &validators);
            return OriginAction::ServeStale { report, form };
        }
    }
    let (status, origin_headers) = match outcome {
        OriginOutcome::Failed { .. } => return OriginAction::Fail { report },
        OriginOutcome::Response {
            status, headers, ..
        } => (status, headers),
    };
    report.fwd_status = Some(status.as_u16());
    if let (StatusCode::NOT_MODIFIED, Some(stale)) = (status, stale) {
        return revalidated(req, stale, origin_headers, now);
    }
    let decision = if fell_back {
        // A stable answer to a canary request is never stored under the canary's key.
        StoreDecision::Skip(NoStoreReason::Fallback)
    } else {
        decide_store(store_input(
            req,
            status,
            origin_headers,
            content_length(origin_headers),
            now,
        ))
    };
    match decision {
        StoreDecision::Store(meta) => {
            report.stored = true;
            report.ttl_secs = Some(ttl_left(&meta));
            let form = form(req, meta.status, meta.body_bytes, origin_headers);
            OriginAction::StoreAndServe { meta, report, form }
        }
        StoreDecision::Skip(reason) => {
            report.not_stored = reason.is_reported().then_some(reason);
            let form = if *req.method == Method::HEAD {
                Form::Head
            } else {
                Form::Full
            };
            OriginAction::Pass { report, form }
        }
    }
}

/// The 304 of a revalidation: the stored headers updated with the 304's (never their body
/// framing: `Content-Length` stays the stored body's), judged again as a new response.
fn revalidated(
    req: &RequestFacts<'_>,
    stale: Revalidating<'_>,
    not_modified: &HeaderList,
    now: UnixMillis,
) -> OriginAction {
    let mut origin_view = stale.headers.to_vec();
    headers::remove(&mut origin_view, "age");
    let merged = freshness::merge_not_modified(&origin_view, not_modified);
    let status = StatusCode::from_u16(stale.meta.status).unwrap_or(StatusCode::OK);
    let decision = decide_store(store_input(
        req,
        status,
        &merged,
        stale.meta.body_bytes,
        now,
    ));
    let mut report = CacheReport::new(Outcome::Revalidated);
    report.fwd_status = Some(304);
    match decision {
        StoreDecision::Store(meta) => {
            report.stored = true;
            report.ttl_secs = Some(ttl_left(&meta));
            let form = form(req, meta.status, meta.body_bytes, &merged);
            OriginAction::Revalidated {
                meta: Some(meta),
                headers: merged,
                report,
                form,
            }
        }
        StoreDecision::Skip(_) => {
            let form = form(req, stale.meta.status, stale.meta.body_bytes, &merged);
            OriginAction::Revalidated {
                meta: None,
                headers: merged,
                report,
                form,
            }
        }
    }
}

fn store_input<'a>(
    req: &RequestFacts<'a>,
    status: StatusCode,
    response_headers: &'a HeaderList,
    body_len: Option<u64>,
    now: UnixMillis,
) -> StoreInput<'a> {
    StoreInput {
        rule: req.rule,
        // Cacheable HEAD requests go to the origin as GET, so the entry stored is the GET one.
        method: &Method::GET,
        request_authorized: req.authorized,
        request_no_store: req.directives.no_store,
        status,
        response_headers,
        body_len,
        max_body_bytes: req.max_body_bytes,
        now,
        purge_path: &req.key.purge_path,
        language_in_key: req.key.lang.is_some(),
        edge_field: req.edge_field,
    }
}

fn content_length(h: &HeaderList) -> Option<u64> {
    headers::get(h, "content-length").and_then(|v| v.trim().parse().ok())
}

/// Freshness left when an entry is stored (`Cache-Status` `ttl`).
fn ttl_left(meta: &EntryMeta) -> i64 {
    let clamp = |v: u64| i64::try_from(v).unwrap_or(i64::MAX);
    clamp(meta.fresh_secs).saturating_sub(clamp(meta.initial_age_secs))
}

/// Whether a body may be stored, judged once its length is known (the origin may send no
/// `Content-Length`, or a wrong one). A streaming byte counter calls it with the bytes seen so
/// far: `TooLarge` the moment they pass the limit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BodyVerdict {
    /// Store it.
    Store,
    /// Serve it, unstored.
    TooLarge,
}

/// The body check of a `StoreAndServe`.
pub fn admit_body(body_len: u64, max_body_bytes: u64) -> BodyVerdict {
    if body_len > max_body_bytes {
        BodyVerdict::TooLarge
    } else {
        BodyVerdict::Store
    }
}

/// The `StoreAndServe` entry with the body's real length, or, when [`admit_body`] refuses it,
/// `None` with the report saying why.
pub fn with_body(
    meta: &EntryMeta,
    report: &mut CacheReport,
    body_len: u64,
    max_body_bytes: u64,
) -> Option<EntryMeta> {
    match admit_body(body_len, max_body_bytes) {
        BodyVerdict::Store => {
            let mut meta = meta.clone();
            meta.body_bytes = Some(body_len);
            Some(meta)
        }
        BodyVerdict::TooLarge => {
            unstored(report, NoStoreReason::TooLarge);
            None
        }
    }
}

/// A `StoreAndServe` report once the body is not stored after all (too large, no room in the
/// budget, broken off).
pub fn unstored(report: &mut CacheReport, reason: NoStoreReason) {
    report.stored = false;
    report.ttl_secs = None;
    report.store_pending = false;
    report.not_stored = Some(reason);
}

/// RFC 9111 §5.1 `Age`, decided once for every response the cache answers: a stored response
/// carries its current age (`entry::served_edits`); a response the cache fetched carries the
/// origin's `Age`, or `0` when it sent none — whatever its status; a bypassed response is not
/// the cache's and passes as the origin sent it. The value to add, if any.
pub fn age_to_add(outcome: Outcome, response_headers: &HeaderList) -> Option<&'static str> {
    (!matches!(outcome, Outcome::Bypass(_)) && !headers::has(response_headers, "age"))
        .then_some("0")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn forms_report_their_status_and_body() {
        let partial = Form::Range(RangeAnswer::Partial {
            start: 2,
            end: 4,
            total: 10,
        });
        assert_eq!(partial.status(200), 206);
        assert_eq!(partial.slice(), Some((2, 5)));
        assert!(partial.has_body());
        let none = Form::Range(RangeAnswer::NotSatisfiable { total: 10 });
        assert_eq!((none.status(200), none.has_body()), (416, false));
        assert_eq!(
            (Form::NotModified.status(200), Form::NotModified.has_body()),
            (304, false)
        );
        assert_eq!(
            (Form::Head.status(404), Form::Head.has_body()),
            (404, false)
        );
        let mut h = crate::headers::owned(&[("content-length", "10"), ("etag", "\"a\"")]);
        partial.apply_to(&mut h);
        assert_eq!(crate::headers::get(&h, "content-length"), Some("3"));
        assert_eq!(
            crate::headers::get(&h, "content-range"),
            Some("bytes 2-4/10")
        );
        Form::NotModified.apply_to(&mut h);
        assert_eq!(crate::headers::get(&h, "content-length"), None);
    }

    #[test]
    fn age_is_added_to_everything_the_cache_answered_and_nothing_it_bypassed() {
        assert_eq!(age_to_add(Outcome::Miss, &[]), Some("0"));
        let mut five_hundred = CacheReport::new(Outcome::Miss);
        five_hundred.fwd_status = Some(500);
        assert_eq!(age_to_add(five_hundred.outcome, &[]), Some("0"));
        assert_eq!(
            age_to_add(Outcome::Miss, &crate::headers::owned(&[("age", "7")])),
            None
        );
        assert_eq!(age_to_add(Outcome::Bypass(BypassReason::Method), &[]), None);
    }
}
