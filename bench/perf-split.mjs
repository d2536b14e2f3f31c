// Where a worker's CPU goes, per request, with the Wasm optimised as it runs for real: Linux `perf`
// samples the workerd process (V8's `--perf-basic-prof` names JIT code: Wasm functions with their
// tier, JavaScript functions) while wrk loads one case, and the samples are split into
//   wasm        Wasm code optimised by TurboFan
//   wasm (baseline) Wasm code still in Liftoff, V8's baseline tier (cold functions)
//   js          JavaScript (the glue, the peer, workerd's own JS) and V8's builtins
//   runtime     workerd's native code: the Web APIs (Headers, Request, Response, fetch, caches),
//               V8's C++ (GC, API callbacks), HTTP in and out, the event loop
//   kernel      system calls and interrupts (sockets)
// and, across them, "isolate" — samples under the isolate's lock (workerd::Worker::runInLockScope):
// the part that would count as the worker's CPU time, without HTTP and the event loop.
// The V8 inspector profile (bench/profile.mjs) cannot do this: it runs Wasm unoptimised.
//
// Needs `perf` (Debian: linux-perf) and a kernel that lets this user sample its own processes
// (perf_event_paranoid ≤ 2); `perfAvailable()` says why not, and the bench then says so instead.

import { spawn, execFileSync } from "node:child_process";
import { rmSync } from "node:fs";

export function perfAvailable() {
  try {
    execFileSync("perf", ["--version"], { stdio: "ignore" });
  } catch {
    return "perf is not installed (Debian: apt-get install linux-perf)";
  }
  try {
    execFileSync("perf", ["record", "-q", "-o", "/dev/null", "--", "true"], { stdio: "ignore" });
  } catch {
    return "perf cannot record here (kernel.perf_event_paranoid too high, or no perf events in this container)";
  }
  return null;
}

// Splits `perf report --no-children` lines (self time) into the categories above.
export function categorise(symbol, dso) {
  if (dso === "[kernel.kallsyms]" || dso.startsWith("[kernel")) return "kernel";
  if (symbol.startsWith("JS:")) {
    if (/-liftoff$/.test(symbol)) return "wasm (baseline)";
    if (/-turbofan$/.test(symbol)) return "wasm";
    return "js";
  }
  if (symbol.startsWith("Builtins_Wasm") || symbol.startsWith("Builtins_JSToWasm")) return "wasm";
  if (symbol.startsWith("Builtins_")) return "js";
  return "runtime";
}

function report(file, args) {
  return execFileSync("perf", ["report", "-i", file, "--stdio", ...args], { maxBuffer: 256 * 1024 * 1024, stdio: ["ignore", "pipe", "ignore"] }).toString();
}

/** Removes the JIT symbol map V8 wrote for `pid` (call when that workerd has exited). */
export function removePerfMap(pid) {
  rmSync(`/tmp/perf-${pid}.map`, { force: true });
}

/** Records `pid` while `load()` runs; returns µs per request by category, of `cpuUs` measured
 * over the same requests (the samples give the shares, /proc the total). */
export async function perfSplit({ pid, load, file }) {
  const rec = spawn("perf", ["record", "-q", "-F", "1999", "-g", "-p", String(pid), "-o", file], { stdio: "ignore" });
  await new Promise((r) => setTimeout(r, 300));
  const result = await load();
  rec.kill("SIGINT");
  await new Promise((r) => rec.on("exit", r));
  const shares = { wasm: 0, "wasm (baseline)": 0, js: 0, runtime: 0, kernel: 0 };
  let total = 0;
  for (const line of report(file, ["--no-children", "--sort", "dso,sym", "-g", "none", "--percent-limit", "0"]).split("\n")) {
    // "    0.53%  [JIT] tid 123      [.] JS:wasm-function[148]-148-turbofan"
    const m = /^\s+([\d.]+)%\s+(.+?)\s+\[[.k]\]\s+(.*)$/.exec(line);
    if (!m) continue;
    const pct = Number(m[1]);
    total += pct;
    shares[categorise(m[3].trim(), m[2].trim())] += pct;
  }
  let isolate = 0;
  for (const line of report(file, ["--children", "--sort", "sym", "-g", "none", "--percent-limit", "1"]).split("\n")) {
    const m = /^\s+([\d.]+)%\s+[\d.]+%\s+\[\.\]\s+(.*)$/.exec(line);
    if (m && m[2].includes("workerd::Worker::runInLockScope")) isolate = Math.max(isolate, Number(m[1]));
  }
  rmSync(file, { force: true });
  const perReq = (pct) => ((pct / (total || 1)) * result.cpuUs) / result.requests;
  return {
    requests: result.requests,
    cpuUs: result.cpuUs / result.requests,
    split: Object.fromEntries(Object.entries(shares).map(([k, v]) => [k, perReq(v)])),
    isolateUs: perReq(isolate),
  };
}
