// The dev stack behind `npm run dev` (scripts/dev.sh runs setup, then this): both demo origins
// and `wrangler dev` in front of them, kept running while the code changes.
//
//   - src/, Cargo.toml, Cargo.lock change → the worker is rebuilt (`scripts/build.sh --dev`, the
//     dev-worker profile) into build-dev/, which wrangler serves and watches, so it reloads. A
//     compile error is printed and the last good build keeps serving (worker-build moves its
//     output into place only when it succeeded). The save → served seconds are printed. build/
//     (release, what deploys ship) is not touched.
//   - demo-origin/ changes → the demo origin is rebuilt and both origins restart (the old ones
//     keep serving if the build fails).
//   - www/ is served by wrangler from the directory itself: a change is there on the next load.
//   - A demo origin that dies is reported; wrangler keeps running. Type `restart stable` (or
//     `restart`) and Enter to start it again; `help` lists the commands.
//   - At start, a rollout configuration stored in the local state whose origins are not this
//     stack's is reported (it overrides the vars); `npm run dev -- --fresh` starts clean.
//   - Ctrl-C (SIGINT), SIGTERM or SIGHUP stops everything this started.
//
// Why a watcher of our own rather than wrangler's `[build] command`/`watch_dir`: both reload in
// about the same time (README: Development), but wrangler's custom build would also run on every
// `wrangler dev` of the end-to-end tests and on `wrangler deploy` (which must ship release), it
// cannot rebuild and restart the demo origins, and it cannot tell when the new code is served.
import { spawn } from "node:child_process";
import { createHash } from "node:crypto";
import { existsSync, readdirSync, readFileSync, rmSync, statSync, watch } from "node:fs";
import net from "node:net";
import path from "node:path";
import readline from "node:readline";
import { writeDevConfig } from "./objects-config.mjs";

const args = process.argv.slice(2);
const FRESH = args.includes("--fresh");
const PORT = Number(process.env.PORT || 8787);
const STABLE_PORT = Number(process.env.STABLE_PORT || 9001);
const CANARY_PORT = Number(process.env.CANARY_PORT || 9002);
const INSPECTOR_PORT = process.env.INSPECTOR_PORT;
const STATE_DIR = ".wrangler/state";
const OUT_DIR = "build-dev";
const ENTRY = `${OUT_DIR}/index.js`;
const TARGET_DIR = process.env.CARGO_TARGET_DIR || "target";
const ORIGIN_BIN = path.join(TARGET_DIR, "debug", "demo-origin");
const COLOR = process.stdout.isTTY ? "always" : "never";
const DEBOUNCE_MS = 150;
const RELOAD_TIMEOUT_MS = 60_000;

const say = (msg) => console.log(`dev: ${msg}`);
const secs = (ms) => `${(ms / 1000).toFixed(1)} s`;
const plain = (s) => s.replace(/\x1b\[[0-9;]*[A-Za-z]/g, "");

/** Child processes this script started, by role. */
const children = new Map();
let shuttingDown = false;

/** Streams a child's output line by line to `onLine`. */
function lines(stream, onLine) {
  readline.createInterface({ input: stream }).on("line", onLine);
}

/** Runs a command to completion, capturing its output; resolves `{ code, output, ms }`. */
function run(cmd, argv, role) {
  const started = Date.now();
  return new Promise((resolve) => {
    const child = spawn(cmd, argv, {
      stdio: ["ignore", "pipe", "pipe"],
      // No anyhow backtraces from worker-build around the compiler's own message.
      env: { ...process.env, CARGO_TERM_COLOR: COLOR, RUST_BACKTRACE: "0", RUST_LIB_BACKTRACE: "0" },
    });
    children.set(role, child);
    let output = "";
    child.stdout.on("data", (d) => (output += d));
    child.stderr.on("data", (d) => (output += d));
    child.on("error", (e) => (output += `${e.message}\n`));
    child.on("close", (code, signal) => {
      children.delete(role);
      resolve({ code: code ?? (signal ? 128 : 1), output, ms: Date.now() - started });
    });
  });
}

/** Prints a failed build's output, without worker-build's progress lines. */
function printFailure(output) {
  const kept = output
    .split("\n")
    .filter((l) => l.trim() !== "" && !plain(l).startsWith("[INFO]"));
  console.log(kept.join("\n"));
}

function isPortFree(port) {
  return new Promise((resolve) => {
    const socket = net.connect({ host: "127.0.0.1", port });
    socket.once("connect", () => {
      socket.destroy();
      resolve(false);
    });
    socket.once("error", () => resolve(true));
  });
}

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

// ---- the worker build --------------------------------------------------------------------

function buildFingerprint() {
  const hash = createHash("sha256");
  for (const f of [ENTRY, `${OUT_DIR}/index_bg.wasm`]) {
    if (!existsSync(f)) return null;
    hash.update(readFileSync(f));
  }
  return hash.digest("hex");
}

/** The build whose reload is awaited: when the change was seen and when it was built. */
let awaitingReload = null;

async function buildWorker(changedAt) {
  say("building the worker (dev-worker profile) …");
  const before = buildFingerprint();
  const result = await run("bash", ["scripts/build.sh", "--dev"], "build");
  if (shuttingDown) return false;
  const starting = changedAt === null;
  if (result.code !== 0) {
    printFailure(result.output);
    if (!existsSync(ENTRY)) {
      say("✗ the worker build failed (above) and there is no earlier build to serve.");
    } else if (starting) {
      say(`✗ the worker build failed (above); starting with the previous build in ${OUT_DIR}/ until a save fixes it.`);
    } else {
      say("✗ the worker build failed (above); the last good build keeps serving. Fix it and save.");
    }
    return false;
  }
  const after = buildFingerprint();
  if (starting) {
    say(`built in ${secs(result.ms)}`);
  } else if (after === before) {
    say(`built in ${secs(result.ms)}; the output is unchanged, nothing to reload`);
  } else {
    say(`built in ${secs(result.ms)}; wrangler is reloading …`);
    const timer = setTimeout(() => {
      if (awaitingReload?.timer === timer) {
        say(`wrangler has not reloaded ${secs(RELOAD_TIMEOUT_MS)} after the build; see its output above`);
        awaitingReload = null;
      }
    }, RELOAD_TIMEOUT_MS);
    awaitingReload = { changedAt, builtAt: Date.now(), buildMs: result.ms, timer };
  }
  return true;
}

function onWranglerReloaded() {
  if (!awaitingReload) return;
  const { changedAt, builtAt, buildMs, timer } = awaitingReload;
  clearTimeout(timer);
  awaitingReload = null;
  const now = Date.now();
  say(
    `new build served ${secs(now - changedAt)} after the save (build ${secs(buildMs)}, reload ${secs(now - builtAt)})`,
  );
}

async function buildOrigin() {
  say("building the demo origin …");
  const result = await run("cargo", ["build", "-q", "-p", "demo-origin"], "build");
  if (shuttingDown) return false;
  if (result.code !== 0) {
    printFailure(result.output);
    say(
      existsSync(ORIGIN_BIN)
        ? "✗ the demo origin build failed (above); the running origins keep serving."
        : "✗ the demo origin build failed (above).",
    );
    return false;
  }
  say(`demo origin built in ${secs(result.ms)}`);
  return true;
}

// ---- the demo origins --------------------------------------------------------------------

const ORIGINS = {
  stable: { port: STABLE_PORT },
  canary: { port: CANARY_PORT },
};

function startOrigin(name) {
  const { port } = ORIGINS[name];
  return new Promise((resolve) => {
    const child = spawn(ORIGIN_BIN, ["--flavour", name, "--port", String(port)], {
      stdio: ["ignore", "pipe", "pipe"],
    });
    children.set(name, child);
    let announced = false;
    const prefix = (l) => console.log(`[${name}] ${l}`);
    lines(child.stdout, (l) => {
      prefix(l);
      if (!announced && l.includes("listening on")) {
        announced = true;
        say(`${name} origin pid ${child.pid} on http://127.0.0.1:${port}`);
        resolve(true);
      }
    });
    lines(child.stderr, prefix);
    child.on("error", (e) => {
      say(`cannot start the ${name} origin (${ORIGIN_BIN}): ${e.message}`);
      resolve(false);
    });
    child.on("exit", (code, signal) => {
      if (children.get(name) === child) children.delete(name);
      if (!announced) resolve(false);
      if (shuttingDown || child.expectedExit) return;
      say(
        `✗ the ${name} demo origin (pid ${child.pid}, port ${port}) exited (${signal ?? `code ${code}`}); ` +
          `wrangler keeps running and requests routed to it get 502 origin_unreachable.`,
      );
      say(`  type \`restart ${name}\` and Enter to start it again (\`help\` lists the commands)`);
    });
  });
}

function stopChild(role, { timeoutMs = 5000 } = {}) {
  const child = children.get(role);
  if (!child || child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  child.expectedExit = true;
  return new Promise((resolve) => {
    const killer = setTimeout(() => child.kill("SIGKILL"), timeoutMs);
    child.once("exit", () => {
      clearTimeout(killer);
      resolve();
    });
    child.kill("SIGTERM");
  });
}

async function restartOrigins(names) {
  for (const name of names) {
    await stopChild(name);
    if (shuttingDown) return;
    if (!(await startOrigin(name))) say(`✗ the ${name} origin did not start (its output is above)`);
  }
  printPids();
}

function printPids() {
  const pid = (role) => children.get(role)?.pid ?? "-";
  say(`pids wrangler=${pid("wrangler")} stable=${pid("stable")} canary=${pid("canary")}`);
}

// ---- wrangler dev ------------------------------------------------------------------------

function startWrangler() {
  const vars = {
    ORIGIN_URL: `http://127.0.0.1:${STABLE_PORT}`,
    CANARY_ORIGIN_URL: `http://127.0.0.1:${CANARY_PORT}`,
    PUBLIC_URL: `http://localhost:${PORT}`,
    // The canary analysis sees dev traffic within a second (production flushes every 10 s).
    METRICS_FLUSH_MS: "1000",
  };
  // One worker: the dev build holds the edge and the Durable Objects (README: Development), and
  // this config defines the objects in it.
  const config = writeDevConfig({ root: process.cwd() });
  const argv = [
    "dev",
    ENTRY,
    "--config", config,
    "--ip", "127.0.0.1",
    "--port", String(PORT),
    ...Object.entries(vars).flatMap(([k, v]) => ["--var", `${k}:${v}`]),
    "--test-scheduled",
    "--show-interactive-dev-session=false",
  ];
  if (INSPECTOR_PORT) argv.push("--inspector-port", INSPECTOR_PORT);
  const child = spawn("wrangler", argv, { stdio: ["ignore", "pipe", "pipe"] });
  children.set("wrangler", child);
  const onLine = (l) => {
    console.log(l);
    if (plain(l).includes("Local server updated and ready")) onWranglerReloaded();
  };
  lines(child.stdout, onLine);
  lines(child.stderr, onLine);
  child.on("error", (e) => {
    say(`✗ cannot start wrangler (${e.message}); \`npm run setup\` installs it`);
    shutdown(1);
  });
  child.on("exit", (code, signal) => {
    if (children.get("wrangler") === child) children.delete("wrangler");
    if (shuttingDown) return;
    say(`✗ wrangler dev exited (${signal ?? `code ${code}`}); stopping the stack`);
    shutdown(1);
  });
  return child;
}

async function waitReady(timeoutMs = 120_000) {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline && !shuttingDown) {
    try {
      await fetch(`http://127.0.0.1:${PORT}/__edge/health`, { signal: AbortSignal.timeout(2000) });
      return true;
    } catch {
      await sleep(250);
    }
  }
  return false;
}

// ---- the stored rollout configuration ----------------------------------------------------

function adminToken() {
  try {
    const m = readFileSync(".dev.vars", "utf8").match(/^ADMIN_TOKEN=(.*)$/m);
    return m ? m[1].trim() : null;
  } catch {
    return null;
  }
}

const sameUrl = (a, b) => {
  try {
    return new URL(a).href === new URL(b).href;
  } catch {
    return a === b;
  }
};

/** Warns when the local state holds a rollout configuration whose origins are not this stack's:
 * it overrides ORIGIN_URL/CANARY_ORIGIN_URL until changed. */
async function checkStoredRollout() {
  const stable = `http://127.0.0.1:${STABLE_PORT}/`;
  const canary = `http://127.0.0.1:${CANARY_PORT}/`;
  const token = adminToken();
  const cannot = (why) => say(`could not check the stored rollout configuration: ${why}`);
  if (!token) return cannot("no ADMIN_TOKEN in .dev.vars");
  let body;
  try {
    const r = await fetch(`http://127.0.0.1:${PORT}/__edge/api/config`, {
      headers: { authorization: `Bearer ${token}` },
      signal: AbortSignal.timeout(5000),
    });
    if (r.status !== 200) return cannot(`GET /__edge/api/config answered ${r.status}`);
    body = await r.json();
  } catch (e) {
    return cannot(e.message);
  }
  const cfg = body?.config;
  if (!cfg || typeof cfg.stable_origin !== "string") return cannot("the answer has no config.stable_origin");
  if (!body.version) return; // nothing stored: the vars are in force
  const stableOk = sameUrl(cfg.stable_origin, stable);
  const canaryOk = cfg.canary_origin == null || sameUrl(cfg.canary_origin, canary);
  if (stableOk && canaryOk) return;
  const who = [body.actor, body.reason && `"${body.reason}"`].filter(Boolean).join(": ");
  say(`⚠ the local state (${STATE_DIR}) holds rollout configuration version ${body.version}${who ? ` (${who})` : ""}`);
  say(`  that sends stable traffic to ${cfg.stable_origin} and canary traffic to ${cfg.canary_origin ?? "nowhere"},`);
  say(`  not to this stack's origins (stable ${stable}, canary ${canary}); it overrides ORIGIN_URL/CANARY_ORIGIN_URL.`);
  say("  Start from clean local state with `npm run dev -- --fresh` (or `npm run dev:reset`, then `npm run dev`),");
  say("  or point it at these origins with PUT /__edge/api/config (README: Canary releases).");
}

// ---- watching ----------------------------------------------------------------------------

// Editors' and sed's temporary files: the rename onto the real name is the change that counts.
const EDITOR_TEMP = /^(\.#|#)|(~|\.swp|\.swx|\.tmp|^4913)$|^sed[A-Za-z0-9]{6}$/;
let queue = Promise.resolve();
const pending = { worker: null, origin: null };
const timers = {};
const watchers = [];

function schedule(kind, file) {
  if (shuttingDown) return;
  pending[kind] ??= Date.now();
  clearTimeout(timers[kind]);
  timers[kind] = setTimeout(() => {
    say(`${file} changed`);
    queue = queue.then(async () => {
      const changedAt = pending[kind];
      if (changedAt === null || shuttingDown) return;
      pending[kind] = null;
      if (kind === "worker") {
        await buildWorker(changedAt);
      } else if (await buildOrigin()) {
        await restartOrigins(["stable", "canary"]);
        say(`demo origins restarted ${secs(Date.now() - changedAt)} after the save`);
      }
    });
  }, DEBOUNCE_MS);
}

/** Watches every directory under `dir` (and new ones as they appear), one inotify watch per
 * directory. Node's `recursive: true` watches files on Linux and loses a file that an editor
 * saves by writing a temporary file and renaming it over the original (vim, sed -i, most IDEs);
 * a directory's watch sees those renames. */
function watchTree(dir, kind) {
  const watched = new Set();
  const add = (d) => {
    if (watched.has(d) || !existsSync(d)) return;
    watched.add(d);
    const w = watch(d, (_event, file) => {
      if (!file || EDITOR_TEMP.test(file)) return;
      const where = path.join(d, file);
      if (isDir(where)) add(where);
      if (kind === "www") say(`${where} changed: served on the next page load`);
      else schedule(kind, where);
    });
    w.on("error", () => watched.delete(d));
    watchers.push(w);
    for (const entry of readdirSync(d, { withFileTypes: true })) {
      if (entry.isDirectory() && entry.name !== "target" && !entry.name.startsWith(".")) {
        add(path.join(d, entry.name));
      }
    }
  };
  add(dir);
}

function isDir(p) {
  try {
    return statSync(p).isDirectory();
  } catch {
    return false;
  }
}

function startWatching() {
  watchTree("src", "worker");
  watchTree("demo-origin", "origin");
  watchTree("www", "www");
  watchers.push(
    watch(".", (_event, file) => {
      if (file === "Cargo.toml" || file === "Cargo.lock") {
        schedule("worker", file);
        schedule("origin", file);
      }
    }),
  );
}

// ---- commands typed into the dev terminal ------------------------------------------------

const HELP = `commands (type and press Enter):
  restart [stable|canary]   start a demo origin again (both without a name)
  stop stable|canary        stop a demo origin (see how the edge answers when it is down)
  rebuild                   rebuild the worker now
  status                    what runs, with pids
  quit                      stop everything (like Ctrl-C)`;

function commands() {
  readline.createInterface({ input: process.stdin }).on("line", (line) => {
    const [cmd, arg] = line.trim().split(/\s+/);
    const names = arg ? [arg] : ["stable", "canary"];
    if (arg && !ORIGINS[arg]) return say(`no origin named ${arg} (stable, canary)`);
    switch (cmd) {
      case "":
        return;
      case "restart":
      case "rs":
        queue = queue.then(() => restartOrigins(names));
        return;
      case "stop":
        if (!arg) return say("stop which origin? `stop stable` or `stop canary`");
        queue = queue.then(async () => {
          await stopChild(arg);
          say(`${arg} origin stopped; \`restart ${arg}\` starts it again`);
        });
        return;
      case "rebuild":
        queue = queue.then(() => buildWorker(Date.now()));
        return;
      case "status":
        printPids();
        return;
      case "quit":
      case "q":
        shutdown(0);
        return;
      default:
        console.log(HELP);
    }
  });
}

// ---- stopping ----------------------------------------------------------------------------

async function shutdown(code) {
  if (shuttingDown) return;
  shuttingDown = true;
  for (const w of watchers) w.close();
  for (const t of Object.values(timers)) clearTimeout(t);
  if (awaitingReload) clearTimeout(awaitingReload.timer);
  say("stopping …");
  // wrangler first (it stops workerd), then the origins and any build in progress.
  await stopChild("wrangler");
  await Promise.all([...children.keys()].map((role) => stopChild(role)));
  say("stopped");
  process.exit(code);
}

process.on("SIGINT", () => shutdown(130));
process.on("SIGTERM", () => shutdown(143));
process.on("SIGHUP", () => shutdown(129));
process.on("uncaughtException", (e) => {
  console.error(e);
  shutdown(1);
});

// ---- start -------------------------------------------------------------------------------

async function main() {
  for (const port of [STABLE_PORT, CANARY_PORT, PORT]) {
    if (!(await isPortFree(port))) {
      say(`port ${port} is already in use; stop what holds it or set STABLE_PORT/CANARY_PORT/PORT`);
      process.exit(1);
    }
  }
  if (FRESH && existsSync(STATE_DIR)) {
    rmSync(STATE_DIR, { recursive: true, force: true });
    say(`--fresh: deleted ${STATE_DIR} (local KV: rollout configuration, purge state)`);
  }
  if (!(await buildWorker(null)) && !existsSync(ENTRY)) process.exit(1);
  if (!(await buildOrigin()) && !existsSync(ORIGIN_BIN)) process.exit(1);
  if (shuttingDown) return;

  for (const name of Object.keys(ORIGINS)) {
    if (!(await startOrigin(name))) {
      say(`✗ the ${name} origin did not start (its output is above)`);
      return shutdown(1);
    }
  }
  startWrangler();
  if (!(await waitReady())) {
    if (!shuttingDown) say("✗ wrangler dev did not answer within 120 s (its output is above)");
    return shutdown(1);
  }
  startWatching();
  commands();
  console.log(`
catalog-edge dev stack
  worker         http://localhost:${PORT}   (wrangler dev, ORIGIN_URL=http://127.0.0.1:${STABLE_PORT})
  dashboard      http://localhost:${PORT}/__edge/   (admin token: ADMIN_TOKEN in .dev.vars)
  stable origin  http://127.0.0.1:${STABLE_PORT}
  canary origin  http://127.0.0.1:${CANARY_PORT}

Try:
  curl -i http://localhost:${PORT}/api/v1/marketplace/categories
  curl -i 'http://localhost:${PORT}/api/v2/marketplace/categories/10101/attributes?lang=en'
  curl -s http://localhost:${PORT}/__edge/health
  curl -s http://127.0.0.1:${STABLE_PORT}/__origin/requests?limit=1   # what the origin saw
  curl -s -H "Authorization: Bearer \$(grep '^ADMIN_TOKEN=' .dev.vars | cut -d= -f2)" http://localhost:${PORT}/__edge/api/cache/stats
  curl -s 'http://localhost:${PORT}/cdn-cgi/handler/scheduled?cron=0+*/6+*+*+*'   # fire the cron warmup

Saving under src/ rebuilds and reloads the worker; demo-origin/ rebuilds and restarts the origins;
www/ is served as it is. ${HELP}
Ctrl-C stops everything.
`);
  await checkStoredRollout();
  printPids();
  say("ready");
}

main().catch((e) => {
  console.error(e);
  shutdown(1);
});
