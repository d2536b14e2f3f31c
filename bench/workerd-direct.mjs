// The bench's workers in a workerd of their own, configured directly (no miniflare), with the Cache
// API and KV served from another process (bench/cache-server.mjs): BENCH_CACHE=external. The
// workerd process's CPU then holds what runs in a worker's isolate and the runtime around it
// (HTTP in and out, the subrequests to the cache) — not the cache's storage, which miniflare runs
// inside the same process (its cache service: a Durable Object over SQLite and blob files) and
// which in production is Cloudflare's cache, not billed to the worker.
//
// startWorkerd({ workers, cacheAddress, kvAddress, dir, compatibilityDate, onLog }) writes
// <dir>/workerd.capnp and serves it; each worker is { name, port, modules: [{ name, path }],
// bindings: { NAME: "text" }, kv: ["BINDING", ...] }. Returns { pid, dispose() }.

import { spawn } from "node:child_process";
import { writeFileSync } from "node:fs";
import path from "node:path";
import { createRequire } from "node:module";

const str = (s) => JSON.stringify(String(s)); // capnp text strings take JSON's escapes

export function workerdConfig({ workers, cacheAddress, kvAddress, dir, compatibilityDate, v8Flags = [] }) {
  const services = [];
  const sockets = [];
  const consts = [];
  for (const [i, w] of workers.entries()) {
    const modules = w.modules
      .map((m) => `(name = ${str(m.name)}, ${m.name.endsWith(".wasm") ? "wasm" : "esModule"} = embed ${str(path.relative(dir, m.path))})`)
      .join(",\n      ");
    const bindings = [
      ...Object.entries(w.bindings ?? {}).map(([k, v]) => `(name = ${str(k)}, text = ${str(v)})`),
      ...(w.kv ?? []).map((k) => `(name = ${str(k)}, kvNamespace = "kv")`),
    ].join(",\n      ");
    services.push(`(name = ${str(w.name)}, worker = .worker${i})`);
    sockets.push(`(name = ${str(w.name)}, address = ${str(`127.0.0.1:${w.port}`)}, http = (), service = ${str(w.name)})`);
    consts.push(`const worker${i} :Workerd.Worker = (
  modules = [
      ${modules}
  ],
  compatibilityDate = ${str(compatibilityDate)},
  bindings = [
      ${bindings}
  ],
  cacheApiOutbound = "cache",
  globalOutbound = "net",
);`);
  }
  return `using Workerd = import "/workerd/workerd.capnp";
const config :Workerd.Config = (
  services = [
    ${services.join(",\n    ")},
    (name = "cache", external = (address = ${str(cacheAddress)}, http = ())),
    (name = "kv", external = (address = ${str(kvAddress)}, http = ())),
    (name = "net", network = (allow = ["public", "private", "local"])),
  ],
  sockets = [
    ${sockets.join(",\n    ")},
  ],
  structuredLogging = true,
  v8Flags = [${v8Flags.map(str).join(", ")}],
);
${consts.join("\n")}
`;
}

export async function startWorkerd({ workers, cacheAddress, kvAddress, dir, compatibilityDate, onLog = () => {}, inspectorPort, v8Flags }) {
  const file = path.join(dir, "workerd.capnp");
  writeFileSync(file, workerdConfig({ workers, cacheAddress, kvAddress, dir, compatibilityDate, v8Flags }));
  const bin = process.env.MINIFLARE_WORKERD_PATH ?? createRequire(import.meta.url)("workerd").default;
  const args = ["serve", "--experimental", file];
  if (inspectorPort) args.push(`--inspector-addr=127.0.0.1:${inspectorPort}`);
  const child = spawn(bin, args, { cwd: dir, stdio: ["ignore", "pipe", "pipe"] });
  let stderr = "";
  let pending = "";
  child.stdout.on("data", (d) => {
    const lines = (pending + d).split("\n");
    pending = lines.pop();
    for (const l of lines) if (l) onLog(l);
  });
  child.stderr.on("data", (d) => (stderr = (stderr + d).slice(-4000)));
  const exited = new Promise((resolve) => child.on("exit", resolve));
  // Ready when every socket answers.
  const deadline = Date.now() + 30_000;
  for (const w of workers) {
    for (;;) {
      if (child.exitCode !== null) throw new Error(`workerd exited (${child.exitCode}):\n${stderr}`);
      try {
        await fetch(`http://127.0.0.1:${w.port}/__bench/ready`).then((r) => r.arrayBuffer());
        break;
      } catch {
        if (Date.now() > deadline) throw new Error(`workerd's ${w.name} did not come up:\n${stderr}`);
        await new Promise((r) => setTimeout(r, 100));
      }
    }
  }
  return {
    pid: child.pid,
    stderr: () => stderr,
    async dispose() {
      if (child.exitCode === null) child.kill("SIGTERM");
      await exited;
    },
  };
}
