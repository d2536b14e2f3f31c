// Counts JS↔Wasm crossings: imported before the worker bundle, it wraps WebAssembly.Instance so
// that every import (Wasm calling JS) and every export (JS calling Wasm) counts its calls.
// Used only by the runner's instrumented copy of catalog-edge, never for timing.
const calls = new Map();
const what = new Map();
const bump = (name) => calls.set(name, (calls.get(name) ?? 0) + 1);
const wrap = (name, fn) => {
  // What the JS side does, from its source (`return e.headers`, `e.append(w(t,n),w(_,a))`).
  const body = /\{([\s\S]*)\}\s*$/.exec(fn.toString())?.[1] ?? "";
  what.set(name, body.replace(/\s+/g, " ").trim().slice(0, 70));
  return function (...args) {
    bump(name);
    return fn.apply(this, args);
  };
};

const RealInstance = WebAssembly.Instance;
WebAssembly.Instance = function (module, imports) {
  const counted = {};
  for (const [ns, table] of Object.entries(imports ?? {})) {
    counted[ns] = {};
    for (const [name, value] of Object.entries(table)) {
      counted[ns][name] = typeof value === "function" ? wrap(`import ${name}`, value) : value;
    }
  }
  const instance = new RealInstance(module, counted);
  const exports = {};
  for (const [name, value] of Object.entries(instance.exports)) {
    exports[name] = typeof value === "function" ? wrap(`export ${name}`, value) : value;
  }
  return { exports };
};

/** The counts since the last call (`{name: {calls, js}}`), and resets them. */
export function takeCounts() {
  const out = {};
  for (const [name, n] of calls) out[name] = { calls: n, js: what.get(name) };
  calls.clear();
  return out;
}
