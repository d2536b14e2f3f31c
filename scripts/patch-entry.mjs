// The edge's entry point as a plain object instead of worker-build's class entrypoint.
//
// worker-build 0.8.7 exports `new Proxy(class extends WorkerEntrypoint, hooks)`: per request the
// runtime constructs an entrypoint instance through the `construct` trap (which wraps it in a
// second Proxy), then reads `fetch` through that Proxy's `get` trap, which wraps the method in a
// third Proxy whose `apply` trap calls it. All of that exists so that a Wasm instance reset after a
// panic is picked up (`checkReinitialize`) and a trap is noticed (`handleMaybeCritical`). This
// rewrites the bundle's default export as `{ fetch(request, env, ctx), scheduled(event, env,
// ctx) }` calling the same two functions around the same exported handlers: what an idiomatic
// worker exports, the panic recovery kept. Measured (bench, BENCH_AB_PAIRED, 8 rounds): a memory
// hit 1.054× cheaper in workerd CPU, every round above 1.
//
//   node scripts/patch-entry.mjs build/index.js          patches in place (scripts/build.sh)
//   node scripts/patch-entry.mjs --check build/index.js  fails unless the bundle is patched
//
// The bundle is minified, so the pieces are found by their shape; if worker-build's output
// changes (another version) and a piece is not found, this fails and says which (set
// EDGE_ENTRY_PATCH=0 to build without it while it is adapted). Only the edge: the objects
// worker's Durable Object classes need their Proxy.

import { readFileSync, writeFileSync } from "node:fs";

const MARK = "/* catalog-edge: plain entry */";
const args = process.argv.slice(2);
const check = args[0] === "--check";
const file = check ? args[1] : args[0];
if (!file) {
  console.error("usage: node scripts/patch-entry.mjs [--check] <bundle index.js>");
  process.exit(2);
}
const text = readFileSync(file, "utf8");

if (check) {
  if (!text.includes(MARK)) {
    console.error(`${file}: the entry is not the plain object (scripts/patch-entry.mjs did not run)`);
    process.exit(1);
  }
  console.log(`${file}: plain entry object`);
  process.exit(0);
}
if (text.includes(MARK)) {
  console.log(`${file}: already patched`);
  process.exit(0);
}

const esc = (s) => s.replace(/\$/g, "\\$");
function find(what, re) {
  const m = re.exec(text);
  if (!m) {
    console.error(`patch-entry: ${what} not found in ${file} (worker-build's output changed?); set EDGE_ENTRY_PATCH=0 to build without the patch`);
    process.exit(1);
  }
  return m;
}
// `X=new Proxy(Entrypoint,classProxyHooks)` is the default export, the first of the exported proxies.
const exported = find("the default export", /export\{[^}]*\b([\w$]+) as default\b[^}]*\}/)[1];
const proxy = find("the proxied entrypoint class", new RegExp(`\\b${esc(exported)}=new Proxy\\(([\\w$]+),([\\w$]+)\\)`));
const cls = proxy[1];
const fetch = find("the fetch handler", new RegExp(`\\b${esc(cls)}\\.prototype\\.fetch=function\\(([\\w$]+)\\)\\{return ([\\w$]+)\\.call\\(this,\\1,this\\.env,this\\.ctx\\)\\}`))[2];
const scheduled = find("the scheduled handler", new RegExp(`\\b${esc(cls)}\\.prototype\\.scheduled=function\\(([\\w$]+)\\)\\{return ([\\w$]+)\\.call\\(this,\\1,this\\.env,this\\.ctx\\)\\}`))[2];
const reinit = find("checkReinitialize", /function ([\w$]+)\(\)\{[\w$]+\.criticalError&&\(console\.log\("Reinitializing Wasm application"\)/)[1];
const critical = find("handleMaybeCritical", /function ([\w$]+)\(([\w$]+)\)\{\2 instanceof WebAssembly\.RuntimeError/)[1];

const call = (handler) =>
  `(r$,e$,c$){${reinit}();try{return ${handler}(r$,e$,c$)}catch(err$){throw ${critical}(err$),err$}}`;
const plain = `${exported}=${MARK}{fetch${call(fetch)},scheduled${call(scheduled)}}`;
writeFileSync(file, text.replace(proxy[0], () => plain));
console.log(`patch-entry: ${file}: default export is a plain object (fetch → ${fetch}, scheduled → ${scheduled})`);
