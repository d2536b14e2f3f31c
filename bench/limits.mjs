// The isolate's memory and CPU within the Workers limits (issue 16): 128 MB per isolate (JS heap
// + ArrayBuffers + Wasm, shared by every request it serves at once) and 10 ms of CPU per request
// on the free plan. Run by bench/run.mjs after the load benchmark, in its own workerd (through
// miniflare) with the V8 inspector on:
//
// - catalog-edge ("edge") as the built bundle, its control plane's Durable Objects in the objects
//   worker ("control", build-objects/; README: Layout), so that the edge isolate's figures hold only the
//   edge's own work, as on Cloudflare (where a Durable Object runs elsewhere);
// - memory: `Runtime.getHeapUsage` (JS heap used + ArrayBuffer backing stores) sampled as fast
//   as the inspector answers while each load runs (the high-water), the Wasm memory read from
//   the instance (`Runtime.queryObjects` of `WebAssembly.Memory`; it only grows, so its last
//   value is its high-water), and the same after a forced GC (`HeapProfiler.collectGarbage`);
// - CPU: a V8 CPU profile of the edge isolate (bench/profile.mjs, 100 µs sampling) while one
//   request of a kind runs after another: the isolate's CPU time (JS, Wasm, built-ins, GC),
//   background work (`waitUntil`) included, estimated from its samples (see profile.mjs), divided
//   by the requests; and the whole workerd process's CPU time (from /proc: the cache service,
//   KV and the control plane too, and the runtime's HTTP) as an upper bound.

import { Miniflare, convertV4MiniflareOptions, Log, LogLevel } from "miniflare";
import { connect, profile } from "./profile.mjs";

const MIB = 1024 * 1024;
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const HIT_PATH = "/api/v2/marketplace/categories/10101/attributes";
const echo = (name, bytes, chunked) =>
  `/echo/${name}?bytes=${bytes}${chunked ? "&chunked=1" : ""}&h=Cache-Control:max-age%3D600`;

/** Runs `jobs` (async functions) with at most `n` at once; their results, in order. */
async function pool(n, jobs) {
  const results = new Array(jobs.length);
  let next = 0;
  await Promise.all(
    Array.from({ length: Math.min(n, jobs.length) }, async () => {
      while (next < jobs.length) {
        const i = next++;
        results[i] = await jobs[i]();
      }
    }),
  );
  return results;
}

/** GETs `url` and reads the whole body, counting its bytes (never holding it). */
async function drain(url, headers = {}) {
  const r = await fetch(url, { headers });
  let bytes = 0;
  for await (const chunk of r.body) bytes += chunk.byteLength;
  return { status: r.status, bytes, cacheStatus: r.headers.get("cache-status") ?? "" };
}

/** A deterministic shuffle (LCG), so that every run sends the same order. */
function shuffled(xs) {
  const out = [...xs];
  let seed = 16;
  for (let i = out.length - 1; i > 0; i--) {
    seed = (seed * 1103515245 + 12345) % 2 ** 31;
    const j = seed % (i + 1);
    [out[i], out[j]] = [out[j], out[i]];
  }
  return out;
}

/**
 * Measures; returns `{ memory: rows, cpu: rows }`. `worker(name, modules, extra)` builds a
 * miniflare worker from bench/run.mjs's copy of the bundle; `headers` go with every request (a
 * client in the stable bucket); `workerdCpuUs()` reads the workerd process's CPU time.
 */
export async function limits({ worker, vars, headers, freePort, log, workerdCpuUs }) {
  const inspectorPort = await freePort();
  const port = await freePort();
  const bundle = ["index.js", "index_bg.wasm"];
  // The one place the bench loads the control plane's Durable Objects: the "control" worker
  // below is the objects worker (build-objects/, copied by run.mjs; README: Layout).
  const objects = (scriptName) => ({
    CONTROL: { className: "ControlPlane", scriptName, useSQLite: true },
    METRICS: { className: "MetricsShard", scriptName, useSQLite: true },
  });
  const kv = { EDGE_CONFIG: "bench-limits-config" };
  const edge = worker("edge", bundle, { bindings: vars, kvNamespaces: kv, durableObjects: objects("control") });
  edge.unsafeDirectSockets = [{ host: "127.0.0.1", port }];
  const control = worker("control", ["objects/index.js", "objects/index_bg.wasm"], { bindings: vars, kvNamespaces: kv, durableObjects: objects(undefined) });
  delete control.unsafeDirectSockets;
  // For the cost-growth rows: the same bundle with 10 and 100 route rules (CACHE_RULES), and one
  // whose memory tier is filled with many keys. No control plane: they only serve hits.
  const scalePorts = {};
  const scaleWorker = (name, extraVars) => {
    const w = worker(name, bundle, { bindings: { ...vars, ...extraVars }, kvNamespaces: { EDGE_CONFIG: `bench-limits-${name}` } });
    scalePorts[name] = freePort();
    return w;
  };
  const scaled = [scaleWorker("rules10", { CACHE_RULES: rulesJson(10) }), scaleWorker("rules100", { CACHE_RULES: rulesJson(100) }), scaleWorker("entries", {})];
  for (const w of scaled) w.unsafeDirectSockets = [{ host: "127.0.0.1", port: (scalePorts[w.name] = await scalePorts[w.name]) }];
  const mf = new Miniflare(
    convertV4MiniflareOptions({
      host: "127.0.0.1",
      port: await freePort(),
      inspectorPort,
      cf: false,
      log: new Log(LogLevel.WARN),
      handleStructuredLogs: () => {},
      workers: [edge, control, ...scaled],
    }),
  );
  await mf.ready;
  const base = `http://127.0.0.1:${port}`;
  const admin = { Authorization: `Bearer ${vars.ADMIN_TOKEN}` };
  const json = async (path, init = {}) => (await fetch(base + path, { ...init, headers: { ...admin, ...init.headers } })).json();
  const poke = async () => (await fetch(`${base}/__edge/health`)).arrayBuffer();
  const store = async () => (await json("/__edge/api/cache/stats")).store;
  try {
    const memory = await measureMemory({ inspectorPort, base, headers, poke, store, log });
    const cpu = await measureCpu({ inspectorPort, base, headers, json, poke, log, workerdCpuUs });
    const scale = await measureScale({ inspectorPort, base, scalePorts, headers, admin, json, log, workerdCpuUs, fullTier: cpu[0] });
    return { memory, cpu, scale };
  } finally {
    await mf.dispose();
  }
}

/** The memory table: one row per load, sampled while it runs and measured after a GC. */
async function measureMemory({ inspectorPort, base, headers, poke, store, log }) {
  const contexts = [];
  const insp = await connect(inspectorPort, "edge", (m) => {
    if (m.method === "Runtime.executionContextCreated") contexts.push(m.params.context.id);
  });
  // Commands that need the isolate's lock run when it next handles an event: poke it.
  const locked = async (method, params) => {
    const reply = insp.send(method, params);
    for (let i = 0; i < 50; i++) {
      const done = await Promise.race([reply.then(() => true), sleep(100).then(() => false)]);
      if (done) return reply;
      await poke();
    }
    throw new Error(`the inspector did not answer ${method}`);
  };
  await locked("Runtime.enable");
  await locked("HeapProfiler.enable");
  const wasmBytes = async () => {
    const proto = await locked("Runtime.evaluate", { expression: "WebAssembly.Memory.prototype", contextId: contexts[0] });
    const found = await locked("Runtime.queryObjects", { prototypeObjectId: proto.result.objectId });
    const sizes = await locked("Runtime.callFunctionOn", {
      objectId: found.objects.objectId,
      functionDeclaration: "function () { return this.map((m) => m.buffer.byteLength); }",
      returnByValue: true,
    });
    return sizes.result.value.reduce((a, b) => a + b, 0);
  };
  const usage = async () => {
    const u = await insp.send("Runtime.getHeapUsage");
    return { heap: u.usedSize, buffers: u.backingStorageSize ?? 0 };
  };
  const row = async (label, load) => {
    const before = await store();
    let high = { heap: 0, buffers: 0 };
    let samples = 0;
    let running = true;
    const sampler = (async () => {
      while (running) {
        const u = await usage();
        samples++;
        if (u.heap + u.buffers > high.heap + high.buffers) high = u;
        await sleep(2);
      }
    })();
    const started = Date.now();
    const detail = await load();
    const ms = Date.now() - started;
    running = false;
    await sampler;
    await sleep(300); // stores in waitUntil finish
    const wasm = await wasmBytes();
    await locked("HeapProfiler.collectGarbage");
    const after = await usage();
    const now = await store();
    const counted = (s) => ({ stored: s.stored, ...s.not_stored });
    const delta = Object.fromEntries(
      Object.entries(counted(now)).map(([k, v]) => [k, v - (counted(before)[k] ?? 0)]).filter(([, v]) => v),
    );
    const r = { label, ms, samples, high, wasm, after, highWater: high.heap + high.buffers + wasm, afterGc: after.heap + after.buffers + wasm, stores: delta, budgetHighWater: now.high_water_bytes, ...detail };
    log(`memory ${label}: high-water ${(r.highWater / MIB).toFixed(1)} MiB (${samples} samples), after GC ${(r.afterGc / MIB).toFixed(1)} MiB, ${ms} ms, stores ${JSON.stringify(delta)}`);
    return r;
  };
  const get = (path) => drain(base + path, headers);
  const check = (results, bytes) => {
    const wrong = results.filter((r) => r.status !== 200 || r.bytes !== bytes);
    if (wrong.length) throw new Error(`${wrong.length} responses were not ${bytes} bytes: ${JSON.stringify(wrong[0])}`);
    return { requests: results.length, bytes: results.reduce((a, r) => a + r.bytes, 0) };
  };
  await get(HIT_PATH);
  const hitBytes = (await get(HIT_PATH)).bytes;
  const rows = [];
  rows.push(await row("hits (one 9 KB key, 3,000 requests, 32 at once)", async () =>
    check(await pool(32, Array.from({ length: 3000 }, () => () => get(HIT_PATH))), hitBytes)));
  const urls = Array.from({ length: 1000 }, (_, i) => `${HIT_PATH}?n=mix-${i}`);
  const mix = shuffled([...urls, ...urls, ...urls]);
  rows.push(await row("1,000-URL mix (3,000 requests: each URL a miss, then hits from memory or the Cache API; 32 at once)", async () =>
    check(await pool(32, mix.map((u) => () => get(u))), hitBytes)));
  rows.push(await row("32 concurrent 4.5 MiB misses (Content-Length)", async () =>
    check(await Promise.all(Array.from({ length: 32 }, (_, i) => () => get(echo(`mem-big-${i}`, 4.5 * MIB))).map((f) => f())), 4.5 * MIB)));
  rows.push(await row("32 concurrent chunked 64 MiB misses", async () =>
    check(await Promise.all(Array.from({ length: 32 }, (_, i) => () => get(echo(`mem-huge-${i}`, 64 * MIB, true))).map((f) => f())), 64 * MIB)));
  insp.close();
  return rows;
}

/** One CPU row: `n` requests made by `one(i)` one after another while the V8 profiler samples the
 * isolate of `workerName` every 100 µs; its CPU per request (see profile.mjs) and workerd's. */
async function cpuRow({ inspectorPort, workerName = "edge", workerdCpuUs, log }, label, n, one, { settleMs = 300 } = {}) {
  const p = await profile({
    inspectorPort,
    workerName,
    intervalUs: 100,
    load: async () => {
      const cpuBefore = workerdCpuUs();
      for (let i = 0; i < n; i++) await one(i);
      await sleep(settleMs); // what the last request left in waitUntil
      return { requests: n, workerdUs: workerdCpuUs() - cpuBefore };
    },
  });
  const r = {
    label,
    requests: n,
    isolateUs: p.cpuUs / n,
    // What summing the profile's time deltas would say (counts the waits between requests).
    summedDeltasUs: Object.entries(p.byCategory).filter(([c]) => c !== "idle").reduce((a, [, us]) => a + us, 0) / n,
    samplingUs: p.samplingUs,
    samples: Object.fromEntries(Object.entries(p.sampleCount).map(([k, v]) => [k, v / n])),
    workerdUs: p.load.workerdUs / n,
    top: p.top.slice(0, 5).map(([f, us]) => [f, us / n]),
  };
  log(`cpu ${label}: isolate ${(r.isolateUs / 1000).toFixed(2)} ms/request, workerd ${(r.workerdUs / 1000).toFixed(2)} ms/request (${n} requests)`);
  return r;
}

/** `CACHE_RULES` with `n` rules, the hit's route last (the worst case of the first-match scan):
 * `n - 1` rules that never match it, then catalog-edge's default rule for the route. */
function rulesJson(n) {
  const H = 3600;
  const rules = Array.from({ length: n - 1 }, (_, i) => ({
    id: `bench-${i}`,
    pattern: `/api/v2/marketplace/bench-${i}/*/attributes`,
    mode: "override",
    ttl_secs: 60,
  }));
  rules.push({
    id: "category-attributes-v2",
    pattern: "/api/v2/marketplace/categories/*/attributes",
    mode: "override",
    ttl_secs: 12 * H,
    stale_while_revalidate_secs: 600,
    stale_if_error_secs: 24 * H,
    vary_language: true,
    tags: ["category:{1}", "attributes"],
  });
  return JSON.stringify(rules);
}

/**
 * How a hit's CPU grows with the work around it (issue 14): bans (tag purges through the admin
 * API: 0, 100, 2,000 = purge::MAX_BANS, and 10,000 asked for, which the cap turns into
 * generation bumps), route rules (10, 100, the hit's rule last), and keys in the memory tier
 * (10, and a full tier). 300 hits per row, each checked to be a hit, counted when
 * from memory (an entry lives at most STATE_REFRESH_MS there: then one hit reads the Cache API).
 */
async function measureScale({ inspectorPort, base, scalePorts, headers, admin, json, log, workerdCpuUs, fullTier }) {
  const rows = [];
  const ctx = { inspectorPort, workerdCpuUs, log };
  const HITS = 300;
  const hitRow = async (label, url, extra = {}, workerName = "edge") => {
    // Twice: after a generation bump the first is a miss, the second fills the memory tier; a
    // fresh isolate gets 200 more first (its JIT and first allocations, not its steady state).
    for (let i = 0; i < (workerName === "edge" ? 2 : 200); i++) await drain(url + HIT_PATH, headers);
    // Three profiles of a third each; the median, and the spread as a measure of the noise.
    let fromMemory = 0;
    const parts = [];
    for (let k = 0; k < 3; k++) {
      parts.push(await cpuRow({ ...ctx, workerName }, `${label} (${k + 1}/3)`, HITS / 3, async () => {
        const got = await drain(url + HIT_PATH, headers);
        if (!/; hit\b/.test(got.cacheStatus)) throw new Error(`${label}: not a hit: ${JSON.stringify(got)}`);
        if (/detail=memory/.test(got.cacheStatus)) fromMemory++;
      }, { settleMs: 50 }));
    }
    const mid = (k) => parts.map((r) => r[k]).sort((a, b) => a - b)[1];
    const r = { label, requests: HITS, isolateUs: mid("isolateUs"), workerdUs: mid("workerdUs"), spreadUs: [Math.min(...parts.map((r) => r.isolateUs)), Math.max(...parts.map((r) => r.isolateUs))] };
    const row = { ...r, ...extra, fromMemory };
    rows.push(row);
    return row;
  };
  const health = async () => (await (await fetch(`${base}/__edge/health`)).json()).purge;
  const purge = (body) => json("/__edge/api/cache/purge", { method: "POST", body: JSON.stringify({ ...body, reason: "bench" }) });
  let tagged = 0;
  const purgeTags = async (n) => {
    const outcomes = [];
    for (let done = 0; done < n; done += 100) {
      const tags = Array.from({ length: Math.min(100, n - done) }, () => `bench-tag-${tagged++}`);
      const r = await purge({ tags });
      if (r.purged !== "tags") throw new Error(`a tag purge: ${JSON.stringify(r)}`);
      outcomes.push(r);
    }
    return outcomes;
  };
  // Bans: from a clean state (a purge of everything drops every ban with a new generation).
  await purge({ everything: true });
  const state = async () => {
    const h = await health();
    return { bans: h.bans, generation: h.generation };
  };
  let st = await state();
  if (st.bans !== 0) throw new Error(`bans after a purge of everything: ${JSON.stringify(st)}`);
  await hitRow("bans: 0", base, { group: "bans", ...st, asked: 0 });
  await purgeTags(100);
  await hitRow("bans: 100 tags", base, { group: "bans", ...(st = await state()), asked: 100 });
  await purgeTags(1900);
  await hitRow("bans: 2,000 tags (MAX_BANS)", base, { group: "bans", ...(st = await state()), asked: 2000 });
  const before = st.generation;
  await purgeTags(8000);
  st = await state();
  await hitRow("bans: 10,000 tags asked for", base, { group: "bans", ...st, asked: 10000, bumps: st.generation - before });

  const at = (name) => `http://127.0.0.1:${scalePorts[name]}`;
  // Keys in the memory tier (8 MiB): a fresh isolate holding 10 (10 misses), against the edge
  // isolate's first CPU row, taken with its tier full from the 1,000-URL mix (~800 of these
  // 9 KB entries fit in 8 MiB). 10,000 entries would fit only with bodies under ~500 bytes and
  // take 10,000 misses to fill (~30 s idle, minutes on a busy machine): not measured.
  const entries = at("entries");
  const tierStats = async (url) => (await (await fetch(`${url}/__edge/api/cache/stats`, { headers: admin })).json()).memory;
  const t0 = Date.now();
  const filled = await pool(4, Array.from({ length: 9 }, (_, i) => () => drain(`${entries}${HIT_PATH}?n=keys-${i}`, headers)));
  if (filled.some((r) => r.status !== 200)) throw new Error(`filling the memory tier: ${JSON.stringify(filled)}`);
  const fillMs = Date.now() - t0;
  await drain(entries + HIT_PATH, headers);
  const tenKeys = await hitRow("memory tier: 10 keys", entries, { group: "entries", memory: await tierStats(entries), fillMs }, "entries");
  rows.push({ ...fullTier, group: "entries", label: "memory tier: full (the 1,000-URL mix's keys; the first row of the CPU table)" });
  // Route rules: the shipped defaults are 12 (the hit's rule 6th; measured in the fresh isolate
  // above), against 10 and 100 with the hit's rule last.
  rows.push({ ...tenKeys, group: "rules", rules: 12, label: "route rules: the shipped 12 (the hit's 6th; the 10-keys measurement)" });
  await hitRow("route rules: 10 (the hit's last)", at("rules10"), { group: "rules", rules: 10 }, "rules10");
  await hitRow("route rules: 100 (the hit's last)", at("rules100"), { group: "rules", rules: 100 }, "rules100");

  return rows;
}

/** The CPU table: requests of one kind after another, profiled. */
async function measureCpu({ inspectorPort, base, headers, json, poke, log, workerdCpuUs }) {
  const purge = (urls) => json("/__edge/api/cache/purge", { method: "POST", body: JSON.stringify({ urls, reason: "bench" }) });
  const purgeUrls = (tag, n) => Array.from({ length: n }, (_, i) => `/api/v1/marketplace/categories?purge=${tag}-${i}`);
  const bans = async () => (await (await fetch(`${base}/__edge/health`)).json()).purge.bans;
  const rows = [];
  const row = async (label, n, one, options) => rows.push(await cpuRow({ inspectorPort, workerdCpuUs, log }, label, n, one, options));
  const expect = (what, r, ok) => {
    if (!ok) throw new Error(`${what}: ${JSON.stringify(r)}`);
  };
  await drain(base + HIT_PATH, headers);
  // The tier as the memory loads left it (full: the cost-growth table compares with this row).
  const memory = (await json("/__edge/api/cache/stats")).memory;
  await row("hit (memory tier, 9 KB)", 300, async () => {
    const r = await drain(base + HIT_PATH, headers);
    expect("a hit", r, /detail=memory/.test(r.cacheStatus));
  });
  Object.assign(rows[0], { memory, fromMemory: rows[0].requests });
  await row("miss + store, 9 KB (read whole, held in memory, put)", 100, async (i) => {
    const r = await drain(`${base}${HIT_PATH}?n=cpu-miss-${i}`, headers);
    expect("a stored miss", r, /fwd=miss.*stored/.test(r.cacheStatus));
  });
  await row("miss + store, 4.5 MiB with Content-Length (tee into the Cache API)", 10, async (i) => {
    const r = await drain(base + echo(`cpu-big-${i}`, 4.5 * MIB), headers);
    expect("a stored 4.5 MiB miss", r, r.bytes === 4.5 * MIB && /stored/.test(r.cacheStatus));
  }, { settleMs: 1000 });
  await row("miss + store, 4.5 MiB chunked (the copy counted chunk by chunk)", 10, async (i) => {
    const r = await drain(base + echo(`cpu-chunked-${i}`, 4.5 * MIB, true), headers);
    expect("a counted 4.5 MiB miss", r, r.bytes === 4.5 * MIB && /store-pending/.test(r.cacheStatus));
  }, { settleMs: 1000 });
  await row("purge of 1 URL (the control plane's Durable Object answers)", 20, async (i) => {
    const r = await purge(purgeUrls(`one-${i}`, 1));
    expect("a purge", r, r.purged === "urls");
  });
  await row("purge of 100 URLs", 4, async (i) => {
    const r = await purge(purgeUrls(`hundred-${i}`, 100));
    expect("a purge", r, r.purged === "urls");
  });
  // Up to 500 bans (purge::MAX_BANS), unprofiled: 20 + 4 × 100 so far.
  await purge(purgeUrls("fill", 500 - (await bans())));
  const banned = await bans();
  expect("500 bans", { banned }, banned === 500);
  await drain(base + HIT_PATH, headers);
  await row("hit with 500 bans (memory tier, 9 KB)", 300, async () => {
    const r = await drain(base + HIT_PATH, headers);
    expect("a hit", r, /detail=memory/.test(r.cacheStatus));
  });
  await poke();
  return rows;
}
