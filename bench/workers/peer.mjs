// Case c, the peer: what a team would write in plain JavaScript instead of catalog-edge, doing
// the same work on a cache hit, written the idiomatic way (URL, URLSearchParams, Headers,
// JSON), not slowed down and not golfed:
//   route rule (ordered patterns, `*` = one segment, final `**` = any rest) → canary variant
//   (QA override header/cookie, else the client's sticky bucket against the weight, same hash)
//   → cache key (sorted query, tracking parameters dropped, language from lang/locale/
//   Accept-Language/cookie, variant, purge generation) → caches.default.match → freshness from
//   the entry's meta → a copy of the response with Age, Cache-Status, X-Cache, Server-Timing,
//   X-Edge-Variant, Timing-Allow-Origin → one structured log line (catalog-edge writes one too).
// A miss fetches the origin and stores the response with its meta (how the runner warms it).
// The purge generation and bans come from the same KV document as catalog-edge's, reread every
// 5 s, like catalog-edge's STATE_REFRESH_MS.
//
// Case c′ is the same file with `MEMORY_CACHE_BYTES` set (bench/run.mjs binds 8 MiB, catalog-edge's
// default): an in-memory tier in front of `caches.default`, as a competent JS team would add it,
// with catalog-edge's rules (src/cache/memory.rs, src/edge/memory.rs): a byte-bounded LRU (a `Map`,
// whose iteration order is insertion order: a hit deletes and re-inserts its key, eviction takes
// the first keys), entries counted as body + headers + key + 256 bytes, none larger than an eighth
// of the capacity, each living at most STATE_REFRESH_MS, filled by misses and by Cache API hits;
// a memory hit passes the same freshness and purge checks as a Cache API hit (a stale or purged
// one is dropped and the Cache API asked). Without the var the peer is case c, unchanged.

const H = 3600;
// `tags`: what catalog-edge's default rules tag entries with (`{1}`: the first `*` segment).
const catalog = (id, pattern, ttl, varyLanguage, tags = []) => ({
  id,
  pattern,
  mode: "override",
  ttl,
  swr: ttl >= H ? 600 : 30,
  sie: ttl >= H ? 24 * H : 600,
  varyLanguage,
  tags,
});
const CATEGORY_ATTRIBUTES = ["category:{1}", "attributes"];
const bypass = (id, pattern) => ({ id, pattern, mode: "bypass" });

const RULES = [
  bypass("health", "/health/**"),
  bypass("admin-v1", "/api/v1/admin/**"),
  bypass("admin-v2", "/api/v2/admin/**"),
  catalog("unified-attributes", "/api/v1/unified-attributes", 24 * H, true, ["attributes"]),
  catalog("unified-attributes-category", "/api/v1/unified-attributes/category/*", 12 * H, true, CATEGORY_ATTRIBUTES),
  catalog("category-attributes-v2", "/api/v2/marketplace/categories/*/attributes", 12 * H, true, CATEGORY_ATTRIBUTES),
  catalog("category-attributes-v1", "/api/v1/marketplace/categories/*/attributes", 12 * H, true, CATEGORY_ATTRIBUTES),
  catalog("attribute-ranges", "/api/v2/marketplace/categories/*/attribute-ranges", 6 * H, false, CATEGORY_ATTRIBUTES),
  catalog("categories", "/api/v1/marketplace/categories", 6 * H, true, ["categories"]),
  catalog("category-tree", "/api/v1/marketplace/category-tree", 6 * H, true, ["categories"]),
  catalog("popular-categories", "/api/v1/marketplace/popular-categories", 6 * H, true, ["categories"]),
  catalog("search", "/api/v1/marketplace/search", 60, true, ["search", "category:{query.category_id}"]),
].map((rule) => ({ ...rule, segments: rule.pattern.slice(1).split("/") }));
const FALLBACK = { id: "default", mode: "bypass" };

const CANARY_ROUTES = ["/api/**"].map((p) => p.slice(1).split("/"));
const NEVER_CANARY = ["/health/**", "/api/v1/admin/**", "/api/v2/admin/**"].map((p) =>
  p.slice(1).split("/"),
);
const TRACKING = ["utm_*", "fbclid", "gclid", "dclid", "msclkid", "yclid", "mc_cid", "mc_eid", "_ga", "_gl"];
const LANGS = new Set(["sr", "en", "ru"]);
const STATE_REFRESH_MS = 5000;

function matches(segments, path) {
  const parts = path.slice(1).split("/");
  for (let i = 0; i < segments.length; i++) {
    const s = segments[i];
    if (s === "**") return true;
    const p = parts[i];
    if (p === undefined || (s === "*" ? p === "" : p !== s)) return false;
  }
  return parts.length === segments.length;
}

const ruleFor = (path) => RULES.find((r) => matches(r.segments, path)) ?? FALLBACK;

function cookie(headers, name) {
  for (const part of (headers.get("cookie") ?? "").split(";")) {
    const eq = part.indexOf("=");
    if (eq > 0 && part.slice(0, eq).trim() === name) return part.slice(eq + 1).trim().replace(/^"|"$/g, "");
  }
  return undefined;
}

// The same sticky bucket as catalog-edge: splitmix64(fnv1a64(salt ‖ 0x1f ‖ id)) mod 10 000.
const MASK = (1n << 64n) - 1n;
const encoder = new TextEncoder();
function bucket(salt, id) {
  let h = 0xcbf29ce484222325n;
  for (const b of encoder.encode(`${salt}\x1f${id}`)) h = ((h ^ BigInt(b)) * 0x100000001b3n) & MASK;
  h ^= h >> 30n;
  h = (h * 0xbf58476d1ce4e5b9n) & MASK;
  h ^= h >> 27n;
  h = (h * 0x94d049bb133111ebn) & MASK;
  h ^= h >> 31n;
  return Number(h % 10000n);
}

const parseVariant = (v) => {
  const s = v?.trim().toLowerCase();
  return s === "stable" || s === "canary" ? s : undefined;
};

// Returns [variant, set-cookie or undefined].
function chooseVariant(cfg, path, headers) {
  if (!cfg.canaryOrigin || NEVER_CANARY.some((p) => matches(p, path)) || !CANARY_ROUTES.some((p) => matches(p, path))) {
    return ["stable"];
  }
  const override = parseVariant(headers.get("x-edge-variant")) ?? parseVariant(cookie(headers, "edge_variant"));
  if (override) return [override];
  if (cfg.weightBp <= 0) return ["stable"];
  if (cfg.weightBp >= 10000) return ["canary"];
  let id = cookie(headers, "edge_id");
  let setCookie;
  if (!id || !/^[A-Za-z0-9._-]{1,128}$/.test(id)) {
    id = crypto.randomUUID().replaceAll("-", "");
    setCookie = `edge_id=${id}; Path=/; Max-Age=31536000; Secure; HttpOnly; SameSite=Lax`;
  }
  return [bucket(cfg.salt, id) < cfg.weightBp ? "canary" : "stable", setCookie];
}

function language(params, headers) {
  for (const source of [
    params.get("lang"),
    params.get("locale"),
    headers.get("accept-language")?.split(",")[0].split(";")[0].trim().split(/[-_]/)[0],
    cookie(headers, "locale"),
  ]) {
    const lang = source?.trim().toLowerCase();
    if (LANGS.has(lang)) return lang;
  }
  return "sr";
}

const isTracking = (name) => {
  const n = name.toLowerCase();
  return TRACKING.some((t) => (t.endsWith("*") ? n.startsWith(t.slice(0, -1)) : n === t));
};

function cacheKey(url, headers, rule, variant, generation) {
  const lang = rule.varyLanguage ? language(url.searchParams, headers) : undefined;
  const params = new URLSearchParams();
  for (const [k, v] of url.searchParams) {
    if (isTracking(k) || (rule.varyLanguage && (k === "lang" || k === "locale"))) continue;
    params.append(k, v);
  }
  params.sort(); // stable: repeated names keep their order
  const query = params.toString();
  const purgePath = query ? `${url.pathname}?${query}` : url.pathname;
  return {
    key: `${url.protocol}//${url.host}/__ce/${variant}/g${generation}/${lang ?? "-"}${purgePath}`,
    purgePath,
    lang,
  };
}

// The purge document's bans, indexed once per read like catalog-edge's (`purge::Index`): URLs,
// paths and tags by Map, prefixes scanned. A ban covers an entry stored at or before it.
function indexBans(bans) {
  const index = { url: new Map(), path: new Map(), tag: new Map(), prefix: new Map() };
  for (const b of bans) {
    const target = { url: b.purge_path, path: b.path, tag: b.tag, prefix: b.prefix }[b.kind];
    const m = index[b.kind];
    if (m && target !== undefined) m.set(target, Math.max(m.get(target) ?? -Infinity, b.at_ms));
  }
  return index;
}
let state = { generation: 0, index: indexBans([]), readAt: -Infinity };
async function purgeState(env, now) {
  if (now - state.readAt < STATE_REFRESH_MS) return state;
  const doc = (await env.EDGE_CONFIG?.get("cache/purge", "json")) ?? {};
  state = { generation: doc.generation ?? 0, index: indexBans(doc.bans ?? []), readAt: now };
  return state;
}
function isBanned(index, purgePath, tags, storedAt) {
  const covers = (at) => at !== undefined && at >= storedAt;
  if (covers(index.url.get(purgePath)) || covers(index.path.get(purgePath.split("?")[0]))) return true;
  if (tags.some((t) => covers(index.tag.get(t)))) return true;
  for (const [prefix, at] of index.prefix) if (covers(at) && purgePath.startsWith(prefix)) return true;
  return false;
}

// The entry's tags: the rule's templates, then the origin's `Cache-Tag` / `Surrogate-Key`.
function tagsFor(rule, url, origin) {
  const stars = [];
  const parts = url.pathname.slice(1).split("/");
  rule.segments.forEach((s, i) => s === "*" && stars.push(parts[i]));
  const tags = [];
  for (const t of rule.tags) {
    const v = t.replace(/\{(\d+|query\.[^}]+)\}/g, (_, n) =>
      n.startsWith("query.") ? (url.searchParams.get(n.slice(6)) ?? "\0") : (stars[Number(n) - 1] ?? "\0"),
    );
    if (!v.includes("\0")) tags.push(v);
  }
  for (const h of ["cache-tag", "surrogate-key"]) {
    for (const t of (origin.headers.get(h) ?? "").split(/[\s,]+/)) if (t && tags.length < 64 && !tags.includes(t)) tags.push(t);
  }
  return tags;
}

// The in-memory tier (case c′): a byte-bounded LRU on a Map (see the top of this file).
const ENTRY_OVERHEAD_BYTES = 256;
let tier;
function memoryTier(env) {
  if (tier) return tier;
  const capacity = Number(env.MEMORY_CACHE_BYTES ?? 0);
  tier = { capacity, maxEntry: capacity / 8, maxAgeMs: STATE_REFRESH_MS, used: 0, entries: new Map() };
  return tier;
}
function memoryGet(t, key, now) {
  const e = t.entries.get(key);
  if (!e) return undefined;
  t.entries.delete(key);
  if (now - e.insertedAt >= t.maxAgeMs) {
    t.used -= e.bytes;
    return undefined;
  }
  t.entries.set(key, e); // most recently used last
  return e;
}
function memoryDrop(t, key) {
  const e = t.entries.get(key);
  if (e) {
    t.entries.delete(key);
    t.used -= e.bytes;
  }
}
function memoryHold(t, key, entry, now) {
  memoryDrop(t, key);
  let bytes = entry.body.byteLength + key.length + ENTRY_OVERHEAD_BYTES;
  for (const [k, v] of entry.headers) bytes += k.length + v.length;
  if (t.capacity <= 0 || bytes > t.maxEntry) return;
  for (const [k, old] of t.entries) {
    if (t.used + bytes <= t.capacity) break;
    t.entries.delete(k);
    t.used -= old.bytes;
  }
  t.entries.set(key, { ...entry, bytes, insertedAt: now });
  t.used += bytes;
}

// Per-isolate counters by route, variant and outcome (catalog-edge keeps the same, plus
// latency histograms).
const stats = new Map();
function count(route, variant, outcome) {
  const k = `${route}|${variant}|${outcome}`;
  stats.set(k, (stats.get(k) ?? 0) + 1);
}

const ms = (v) => Math.round(Math.max(0, v) * 10) / 10;

function traceId(headers) {
  const m = /^00-([0-9a-f]{32})-[0-9a-f]{16}-[0-9a-f]{2}$/.exec(headers.get("traceparent") ?? "");
  if (m && !/^0+$/.test(m[1])) return m[1];
  const bytes = crypto.getRandomValues(new Uint8Array(16));
  return Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
}

function config(env) {
  return {
    origin: env.ORIGIN_URL,
    canaryOrigin: env.CANARY_ORIGIN_URL,
    weightBp: Math.round(Number(env.CANARY_WEIGHT_PERCENT ?? 0) * 100),
    salt: env.CANARY_SALT ?? "catalog-edge",
    timingAllowOrigin: env.TIMING_ALLOW_ORIGIN,
  };
}

const HOP_BY_HOP = new Set(["connection", "keep-alive", "te", "trailer", "transfer-encoding", "upgrade", "proxy-authorization", "proxy-authenticate", "host"]);

async function fromOrigin(request, url, cfg, variant, trace) {
  const base = variant === "canary" ? cfg.canaryOrigin : cfg.origin;
  const headers = new Headers();
  for (const [k, v] of request.headers) if (!HOP_BY_HOP.has(k) && !k.startsWith("cf-")) headers.append(k, v);
  headers.set("x-forwarded-proto", url.protocol.slice(0, -1));
  headers.set("x-forwarded-host", url.host);
  headers.set("traceparent", `00-${trace}-${traceId(new Headers()).slice(0, 16)}-01`);
  return fetch(base + url.pathname + url.search, { headers, redirect: "manual" });
}

export default {
  async fetch(request, env, ctx) {
    const started = Date.now();
    const cfg = config(env);
    const url = new URL(request.url);
    const rule = ruleFor(url.pathname);
    const [variant, setCookie] = chooseVariant(cfg, url.pathname, request.headers);
    const trace = traceId(request.headers);
    const cacheable =
      rule.mode !== "bypass" &&
      (request.method === "GET" || request.method === "HEAD") &&
      !request.headers.has("authorization") &&
      !request.headers.has("range");

    let response;
    let outcome = "bypass";
    let cacheStatus = "catalog-edge; fwd=bypass";
    let age = 0;
    let cacheMs;
    let originMs;
    if (cacheable) {
      const purge = await purgeState(env, started);
      const { key, purgePath } = cacheKey(url, request.headers, rule, variant, purge.generation);
      const memory = memoryTier(env);
      // Fresh and not purged: its age; otherwise undefined.
      const usable = (meta) => {
        if (!meta) return undefined;
        const a = meta.initial_age_secs + Math.floor((started - meta.stored_at_ms) / 1000);
        return a < meta.fresh_secs && !isBanned(purge.index, meta.purge_path, meta.tags ?? [], meta.stored_at_ms) ? a : undefined;
      };
      const lookupStarted = Date.now();
      let found; // { status, headers, body, meta, age, tier }
      if (memory.capacity > 0) {
        const held = memoryGet(memory, key, started);
        const heldAge = held && usable(held.meta);
        if (heldAge !== undefined) found = { ...held, headers: new Headers(held.headers), age: heldAge, tier: "; detail=memory" };
        else if (held) memoryDrop(memory, key);
      }
      if (!found) {
        const hit = await caches.default.match(key);
        const meta = hit && JSON.parse(hit.headers.get("x-edge-meta") ?? "null");
        const hitAge = usable(meta);
        if (hitAge !== undefined) {
          const headers = new Headers(hit.headers);
          headers.delete("x-edge-meta");
          headers.delete("cache-control");
          found = { status: hit.status, headers, body: hit.body, meta, age: hitAge, tier: "" };
          if (memory.capacity > 0) {
            found.body = await hit.arrayBuffer();
            memoryHold(memory, key, { status: hit.status, headers: new Headers(headers), body: found.body, meta }, started);
          }
        }
      }
      cacheMs = Date.now() - lookupStarted;
      if (found) {
        const { meta, headers } = found;
        age = found.age;
        outcome = "hit";
        cacheStatus = `catalog-edge; hit; ttl=${meta.fresh_secs - age}${found.tier}`;
        const etag = headers.get("etag");
        const notModified = etag && request.headers.get("if-none-match") === etag;
        response = new Response(notModified || request.method === "HEAD" ? null : found.body, {
          status: notModified ? 304 : found.status,
          headers,
        });
      } else {
        outcome = "miss";
        const originStarted = Date.now();
        const origin = await fromOrigin(request, url, cfg, variant, trace);
        originMs = Date.now() - originStarted;
        const body = await origin.arrayBuffer();
        const storable = origin.status === 200 && !origin.headers.has("set-cookie");
        cacheStatus = `catalog-edge; fwd=miss; fwd-status=${origin.status}${storable ? `; ttl=${rule.ttl}; stored` : ""}`;
        const headers = new Headers(origin.headers);
        if (storable) {
          const meta = {
            stored_at_ms: started,
            fresh_secs: rule.ttl,
            initial_age_secs: 0,
            swr_secs: rule.swr,
            sie_secs: rule.sie,
            status: origin.status,
            rule: rule.id,
            purge_path: purgePath,
            tags: tagsFor(rule, url, origin),
          };
          const stored = new Headers(headers);
          stored.set("cache-control", `public, max-age=${rule.ttl + Math.max(rule.swr, rule.sie)}`);
          stored.set("x-edge-meta", JSON.stringify(meta));
          ctx.waitUntil(caches.default.put(key, new Response(body, { status: origin.status, headers: stored })));
          if (memory.capacity > 0) {
            const held = new Headers(headers);
            held.delete("cache-control");
            memoryHold(memory, key, { status: origin.status, headers: held, body, meta }, started);
          }
        }
        response = new Response(body, { status: origin.status, headers });
      }
    } else {
      const originStarted = Date.now();
      const origin = await fromOrigin(request, url, cfg, variant, trace);
      originMs = Date.now() - originStarted;
      response = new Response(origin.body, origin);
    }

    const total = Date.now() - started;
    const h = response.headers;
    h.set("age", String(age));
    h.set("cache-status", cacheStatus);
    h.set("x-cache", outcome.toUpperCase());
    const timing = [`edge;dur=${ms(total - (cacheMs ?? 0) - (originMs ?? 0))}`, `cache;dur=${ms(cacheMs ?? 0)};desc=${outcome}`];
    if (originMs !== undefined) timing.push(`origin;dur=${ms(originMs)}`);
    timing.push(`total;dur=${ms(total)}`);
    h.append("server-timing", timing.join(", "));
    h.set("x-edge-variant", variant);
    if (cfg.timingAllowOrigin) h.set("timing-allow-origin", cfg.timingAllowOrigin);
    if (setCookie) h.append("set-cookie", setCookie);
    count(rule.id, variant, outcome);
    console.log(
      JSON.stringify({
        event: "request",
        at_ms: started,
        method: request.method,
        path: url.pathname,
        route: rule.id,
        variant,
        outcome,
        status: response.status,
        edge_ms: total - (cacheMs ?? 0) - (originMs ?? 0),
        cache_ms: cacheMs ?? null,
        origin_ms: originMs ?? null,
        total_ms: total,
        colo: request.cf?.colo ?? null,
        trace_id: trace,
        origin_error: response.status >= 500,
        fallback: false,
      }),
    );
    return response;
  },
};
