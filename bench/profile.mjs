// CPU profiles of a worker's isolate under load, through workerd's V8 inspector: where the
// isolate's time goes on the hit path, split into Wasm (catalog-edge's Rust), the JS glue
// (wasm-bindgen's index.js, or the peer's own code), and V8/runtime built-ins (Headers, Response,
// TextEncoder/Decoder, the Cache API's JS side, garbage collection). Time outside the isolate
// (HTTP parsing, the cache service, KV) is not in these profiles.

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

/**
 * Connects to the inspector target whose title or URL names `workerName`; `onEvent` receives the
 * protocol's events (e.g. `Runtime.executionContextCreated`).
 */
export async function connect(inspectorPort, workerName, onEvent = () => {}) {
  let targets = [];
  for (let i = 0; i < 50 && !targets.length; i++) {
    try {
      targets = await (await fetch(`http://127.0.0.1:${inspectorPort}/json`)).json();
    } catch {
      await sleep(100);
    }
  }
  // Titles end with the worker's name ("workerd: worker core:user:edge"); "edge" must not pick
  // "edgel2".
  const target = targets.find((t) => t.title.endsWith(`core:user:${workerName}`));
  if (!target) throw new Error(`no inspector target for ${workerName}: ${targets.map((t) => t.title).join(", ")}`);
  const ws = new WebSocket(target.webSocketDebuggerUrl);
  await new Promise((resolve, reject) => {
    ws.onopen = resolve;
    ws.onerror = reject;
  });
  let id = 0;
  const pending = new Map();
  ws.onmessage = (ev) => {
    const msg = JSON.parse(ev.data);
    if (msg.id && pending.has(msg.id)) {
      const { resolve, reject } = pending.get(msg.id);
      pending.delete(msg.id);
      msg.error ? reject(new Error(msg.error.message)) : resolve(msg.result);
    } else if (msg.method) {
      onEvent(msg);
    }
  };
  const send = (method, params = {}) =>
    new Promise((resolve, reject) => {
      pending.set(++id, { resolve, reject });
      ws.send(JSON.stringify({ id, method, params }));
    });
  return { send, close: () => ws.close() };
}

/** Where a profile node's time belongs. */
function category(frame) {
  const { functionName: fn, url } = frame;
  if (fn === "(garbage collector)") return "gc";
  if (fn === "(idle)") return "idle";
  // Native code running while the isolate is entered (the runtime's own work for it).
  if (fn === "(program)" || fn === "(root)") return "program";
  // No function name and no script: samples V8 could not attribute to any JS or Wasm frame.
  if (!fn && !url) return "unattributed";
  if (url.startsWith("wasm://") || /^\$?[a-z_]+::|^_ZN|wasm-function/.test(fn)) return "wasm";
  if (url.endsWith("index.js") || url.endsWith("count-crossings.mjs")) return "js glue";
  if (url.endsWith(".mjs")) return "worker js";
  return "runtime built-ins";
}

/**
 * Profiles the isolate of `workerName` while `load()` runs; returns self time per category and the
 * top functions by self time.
 */
export async function profile({ inspectorPort, workerName, load, intervalUs = 200 }) {
  const insp = await connect(inspectorPort, workerName);
  await insp.send("Profiler.enable");
  await insp.send("Profiler.setSamplingInterval", { interval: intervalUs });
  await insp.send("Profiler.start");
  const loadResult = await load();
  const { profile: prof } = await insp.send("Profiler.stop");
  insp.close();

  const nodes = new Map(prof.nodes.map((n) => [n.id, n]));
  const self = new Map();
  const count = new Map();
  for (let i = 0; i < prof.samples.length; i++) {
    const id = prof.samples[i];
    self.set(id, (self.get(id) ?? 0) + (prof.timeDeltas[i] ?? 0));
    count.set(id, (count.get(id) ?? 0) + 1);
  }
  const byCategory = {};
  // Samples taken, by category (for the CPU estimate below).
  const sampleCount = {};
  const byFunction = new Map();
  let busy = 0;
  for (const [id, us] of self) {
    const frame = nodes.get(id).callFrame;
    const cat = category(frame);
    byCategory[cat] = (byCategory[cat] ?? 0) + us;
    sampleCount[cat] = (sampleCount[cat] ?? 0) + count.get(id);
    if (!["idle", "program", "unattributed"].includes(cat)) busy += us;
    const where = frame.url ? ` ${frame.url.split("/").pop()}:${frame.lineNumber + 1}` : "";
    const name = `${frame.functionName || "(anonymous)"}${cat === "runtime built-ins" ? where : ""} [${cat}]`;
    byFunction.set(name, (byFunction.get(name) ?? 0) + us);
  }
  const top = [...byFunction]
    .filter(([n]) => !n.endsWith("[idle]") && !n.endsWith("[program]") && !n.endsWith("[unattributed]"))
    .sort((a, b) => b[1] - a[1])
    .slice(0, 25);
  // Wasm self time by Rust crate/module (the name section keeps Rust paths).
  const wasmByModule = new Map();
  for (const [name, us] of byFunction) {
    if (!name.endsWith("[wasm]")) continue;
    const path = name
      .replace(/ \[wasm\]$/, "")
      .replace(/^<+/, "")
      .replace(/\[[0-9a-f]{16}\]/g, "")
      .split("::");
    const key = path[0] === "catalog_edge" ? path.slice(0, 3).join("::") : path[0].split(" ")[0];
    wasmByModule.set(key, (wasmByModule.get(key) ?? 0) + us);
  }
  const wasmTop = [...wasmByModule].sort((a, b) => b[1] - a[1]).slice(0, 15);
  // Inclusive time of catalog-edge's Rust functions (self plus everything they called, JS
  // included): where a request's time goes by step, which self time cannot say.
  const parent = new Map();
  for (const n of prof.nodes) for (const c of n.children ?? []) parent.set(c, n.id);
  const inclusive = new Map();
  for (const [id, us] of self) {
    const seen = new Set();
    for (let at = id; at !== undefined; at = parent.get(at)) {
      const frame = nodes.get(at).callFrame;
      if (category(frame) !== "wasm" || !frame.functionName) continue;
      const name = frame.functionName.replace(/::h[0-9a-f]{16}$/, "").replace(/\[[0-9a-f]{16}\]/g, "");
      if (seen.has(name)) continue;
      seen.add(name);
      inclusive.set(name, (inclusive.get(name) ?? 0) + us);
    }
  }
  const inclusiveTop = [...inclusive]
    .filter(([n]) => n.startsWith("catalog_edge::") || n.startsWith("<catalog_edge::"))
    .sort((a, b) => b[1] - a[1])
    .slice(0, 40);
  // The isolate's CPU time. V8 samples an isolate only while a thread has it entered, so the
  // delta before the first sample after a pause spans the pause: summing deltas counts waiting as
  // work when requests come one at a time. Instead: the samples taken while it was not idle —
  // JS, Wasm, built-ins, GC, and the runtime's native work for it ("(program)", frames without a
  // name) — times the sampling period measured while it runs (the median of the deltas under 10
  // intervals; about 200 µs for a 100 µs setting on this machine). Checked against a CPU-bound
  // worker: within 10 % of its thread's CPU time from /proc.
  const running = prof.timeDeltas.filter((d) => d > 0 && d < 10 * intervalUs).sort((a, b) => a - b);
  const samplingUs = running.length ? running[running.length >> 1] : intervalUs;
  const cpuSamples = Object.entries(sampleCount)
    .filter(([cat]) => cat !== "idle")
    .reduce((a, [, n]) => a + n, 0);
  return { byCategory, busyUs: busy, cpuUs: cpuSamples * samplingUs, samplingUs, sampleCount, top, wasmTop, inclusiveTop, load: loadResult };
}
