// A Cache API served from outside workerd, for the bench's isolate-side instrument
// (BENCH_CACHE=external, bench/README.md): workerd sends every `caches.default` call of a worker to
// its `cacheApiOutbound` service as plain HTTP — `GET <key>` to match (a miss is `cf-cache-status:
// MISS`), `PUT <key>` with the response serialised as an HTTP/1.1 message to store, `PURGE <key>`
// to delete — the protocol miniflare's cache service (cache.worker.js) implements inside the
// workerd process. Here it is a byte-bounded in-memory map in a process of its own, so that the
// workerd process's CPU holds the workers and the runtime, not the cache's storage: in production
// the Cache API is Cloudflare's, not the isolate's, and is not billed as the worker's CPU.
//
// Storage rules, as miniflare's: `no-store`, `private` and `Set-Cookie` are refused (413); the
// lifetime is `s-maxage`, else `max-age`, else `Expires` − `Date`; an entry without one is not
// stored. Not implemented (the bench sends neither): conditional and range requests.
//
// Run as a child: `node bench/cache-server.mjs <cache port> <kv port>`; prints "listening …" when
// ready. Imported, `startCacheServer(port)` also returns its `counts` (hits, misses, puts,
// refused, purges): how session 10 checked that catalog-edge and the peer make the same cache
// calls per request.

import http from "node:http";

const HOP_BY_HOP = new Set(["connection", "keep-alive", "transfer-encoding", "content-length"]);
const MAX_BYTES = 256 * 1024 * 1024;

/** Lifetime in seconds of a response with these (lower-cased) headers, or null: not storable. */
export function lifetime(status, headers) {
  if (status === 206 || status === 304) return null;
  if (headers.some(([k]) => k === "set-cookie")) return null;
  const cc = headers.filter(([k]) => k === "cache-control").map(([, v]) => v.toLowerCase()).join(",");
  const directives = new Map(
    cc
      .split(",")
      .map((d) => d.trim())
      .filter(Boolean)
      .map((d) => {
        const i = d.indexOf("=");
        return i < 0 ? [d, ""] : [d.slice(0, i).trim(), d.slice(i + 1).trim().replace(/^"|"$/g, "")];
      }),
  );
  if (directives.has("no-store") || directives.has("private")) return null;
  for (const name of ["s-maxage", "max-age"]) {
    if (directives.has(name)) {
      const n = Number.parseInt(directives.get(name), 10);
      return Number.isFinite(n) && n > 0 ? n : null;
    }
  }
  const get = (name) => headers.find(([k]) => k === name)?.[1];
  const expires = Date.parse(get("expires") ?? "");
  const date = Date.parse(get("date") ?? "") || Date.now();
  return Number.isFinite(expires) && expires > date ? Math.floor((expires - date) / 1000) : null;
}

/** An HTTP/1.1 response message → { status, statusText, headers (lower-cased pairs), body }. */
export function parseMessage(buf) {
  const end = buf.indexOf("\r\n\r\n");
  if (end < 0) throw new Error("no blank line after the response's head");
  const [statusLine, ...lines] = buf.subarray(0, end).toString("latin1").split("\r\n");
  const m = /^HTTP\/\d(?:\.\d)? (\d{3}) ?(.*)$/.exec(statusLine);
  if (!m) throw new Error(`not a status line: ${JSON.stringify(statusLine)}`);
  const headers = lines.map((l) => {
    const i = l.indexOf(":");
    return [l.slice(0, i).trim().toLowerCase(), l.slice(i + 1).trim()];
  });
  return { status: Number(m[1]), statusText: m[2], headers, body: buf.subarray(end + 4) };
}

export function startCacheServer(port, host = "127.0.0.1") {
  const entries = new Map(); // key → { status, statusText, headers, body, expires }
  let bytes = 0;
  const counts = { hit: 0, miss: 0, put: 0, refused: 0, purge: 0 };
  const drop = (key) => {
    const e = entries.get(key);
    if (e) bytes -= e.body.length;
    entries.delete(key);
  };
  const server = http.createServer((req, res) => {
    const ns = req.headers["cf-cache-namespace"];
    const key = `${ns ?? ""}|${req.headers.host ?? ""}${req.url}`;
    const chunks = [];
    req.on("data", (c) => chunks.push(c));
    req.on("end", () => {
      if (req.method === "GET" || req.method === "HEAD") {
        const e = entries.get(key);
        if (!e || e.expires <= Date.now()) {
          if (e) drop(key);
          counts.miss++;
          res.writeHead(504, { "cf-cache-status": "MISS", "content-length": "0" }).end();
          return;
        }
        counts.hit++;
        entries.delete(key); // most recently used last
        entries.set(key, e);
        const headers = [...e.headers.flat(), "cf-cache-status", "HIT", "content-length", String(e.body.length)];
        res.writeHead(e.status, e.statusText || undefined, headers);
        res.end(req.method === "HEAD" ? undefined : e.body);
      } else if (req.method === "PUT") {
        let msg;
        try {
          msg = parseMessage(Buffer.concat(chunks));
        } catch (err) {
          res.writeHead(400, { "content-type": "text/plain" }).end(String(err.message));
          return;
        }
        const secs = lifetime(msg.status, msg.headers);
        if (secs === null) {
          counts.refused++;
          res.writeHead(413, { "content-length": "0" }).end();
          return;
        }
        drop(key);
        const headers = msg.headers.filter(([k]) => !HOP_BY_HOP.has(k));
        entries.set(key, { status: msg.status, statusText: msg.statusText, headers, body: msg.body, expires: Date.now() + secs * 1000 });
        bytes += msg.body.length;
        for (const k of entries.keys()) {
          if (bytes <= MAX_BYTES) break;
          drop(k);
        }
        counts.put++;
        res.writeHead(204).end();
      } else if (req.method === "PURGE") {
        const had = entries.has(key);
        drop(key);
        counts.purge++;
        res.writeHead(had ? 200 : 404, { "content-length": "0" }).end();
      } else {
        res.writeHead(405, { "content-length": "0" }).end();
      }
    });
  });
  server.keepAliveTimeout = 60_000;
  return new Promise((resolve) => server.listen(port, host, () => resolve({ server, counts, entries })));
}

/** The KV namespaces' service for the same workerd: a key's value by its URL, empty at start
 * (catalog-edge and the peer then run on their defaults, as in the miniflare runs). */
export function startKvServer(port, host = "127.0.0.1") {
  const values = new Map();
  const server = http.createServer((req, res) => {
    const chunks = [];
    req.on("data", (c) => chunks.push(c));
    req.on("end", () => {
      const key = new URL(req.url, "http://kv").pathname;
      if (req.method === "GET") {
        const v = values.get(key);
        if (v === undefined) res.writeHead(404, { "content-length": "0" }).end();
        else res.writeHead(200, { "content-length": String(v.length) }).end(v);
      } else if (req.method === "PUT") {
        values.set(key, Buffer.concat(chunks));
        res.writeHead(200, { "content-length": "0" }).end();
      } else if (req.method === "DELETE") {
        values.delete(key);
        res.writeHead(200, { "content-length": "0" }).end();
      } else {
        res.writeHead(405, { "content-length": "0" }).end();
      }
    });
  });
  return new Promise((resolve) => server.listen(port, host, () => resolve({ server, values })));
}

if (process.argv[1] && import.meta.url === new URL(`file://${process.argv[1]}`).href) {
  const [cachePort, kvPort] = process.argv.slice(2).map(Number);
  await startCacheServer(cachePort);
  await startKvServer(kvPort);
  console.log(`listening ${cachePort} ${kvPort}`);
}
