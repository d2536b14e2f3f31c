// The JavaScript side of the glue (`#[wasm_bindgen(module = "/src/edge/glue.js")]` in
// src/edge/task.rs, convert.rs, origin.rs and store.rs): the await bridge's resume callback, and
// the calls that take header lists. A header list crosses from Wasm as one string: a name or
// value a line (`convert::pairs_text`; no header name holds `[` or a line feed, and no value the
// runtime accepts holds a line feed), or as JSON pairs when one does, so that the runtime still
// judges that value.

// The one callback every awaited promise settles through (src/edge/task.rs, `Await`): set once
// per instance. A function that takes a `slot` settles it itself, in its promise's own reaction,
// rather than handing Rust a promise to await with a second `then` (one promise and one reaction
// fewer per Cache API lookup and per origin fetch).
let resume;
export function edge_await_init(f) {
  resume = f;
}
// The executor's scheduled polls (src/edge/task.rs `schedule`): task `id` polled in a resolved
// promise's reaction, V8's own microtask, instead of workerd's `queueMicrotask` (a call into the
// runtime). The callback of the instance that asked, as `edge_await` does.
let runTask;
const settled = Promise.resolve();
export function edge_tasks_init(f) {
  runTask = f;
}
export function edge_schedule(id) {
  const r = runTask;
  settled.then(() => r(id));
}
export function edge_deferred() {
  let resolve;
  const promise = new Promise((r) => {
    resolve = r;
  });
  return [promise, resolve];
}
export function edge_await(p, slot) {
  // The callback of the instance that asked: after a reset (a panic re-instantiates the Wasm),
  // a promise of the old instance must not resume a slot of the new one.
  const r = resume;
  p.then(
    (v) => r(slot, true, v),
    (e) => r(slot, false, e),
  );
}

function pairsFrom(text) {
  if (text.startsWith("[")) return JSON.parse(text);
  const lines = text === "" ? [] : text.split("\n");
  const pairs = [];
  for (let i = 0; i + 1 < lines.length; i += 2) pairs.push([lines[i], lines[i + 1]]);
  return pairs;
}

// A Headers object from pairs, built from a record: workerd copies an object's properties in one
// step, where a list of pairs goes through the iterator protocol pair by pair — on a miss, with
// three lists built, ~45 µs of workerd's CPU against ~6 (perf, bench/findings.md, issue 14
// session 10). A name's later values (and any repeated in another letter case) are appended
// after, in order; a pair the runtime refuses is dropped alone. A header named `__proto__` is
// appended too: a runtime may copy the record into an object of its own (Node's does), where that
// name would set the prototype instead.
function headersFrom(pairs) {
  const record = Object.create(null);
  const seen = new Set();
  let later;
  for (let i = 0; i < pairs.length; i++) {
    const pair = pairs[i];
    const lower = pair[0].toLowerCase();
    if (seen.has(lower) || lower === "__proto__") (later ??= []).push(pair);
    else {
      seen.add(lower);
      record[pair[0]] = pair[1];
    }
  }
  try {
    const h = new Headers(record);
    if (later !== undefined) for (const [n, v] of later) h.append(n, v);
    return h;
  } catch (_) {
    const h = new Headers();
    for (const [n, v] of pairs) {
      try {
        h.append(n, v);
      } catch (_) {}
    }
    return h;
  }
}

function message(e) {
  return e instanceof Error ? e.message : String(e);
}

// The WHATWG serialisation of `input` (resolved against `base` when given) by the runtime's own
// URL parser, the one that serialised `request.url`, or throws: src/web_url.rs's normaliser in
// the Wasm, asked only for a string not already serialised.
export function edge_url_href(input, base) {
  return (base === undefined ? new URL(input) : new URL(input, base)).href;
}

export function edge_headers(text) {
  return headersFrom(pairsFrom(text));
}

// Applies a reply's header edits to `headers` in place: the names in `strip` (comma-separated)
// deleted, then each pair — the first value of a name replaces the base's; later ones (and every
// Set-Cookie) append; a pair the runtime refuses is dropped alone.
function edit(headers, strip, edits) {
  if (strip !== undefined) for (const name of strip.split(",")) headers.delete(name);
  const pairs = pairsFrom(edits);
  let seen;
  for (let i = 0; i < pairs.length; i++) {
    const [name, value] = pairs[i];
    let append = name === "set-cookie";
    if (!append) {
      seen ??= new Set();
      append = seen.has(name);
      seen.add(name);
    }
    try {
      if (append) headers.append(name, value);
      else headers.set(name, value);
    } catch (_) {}
  }
}

// The response is made first and its own headers edited: `new Response(body, { headers: base })`
// copies `base` once, where a `new Headers(base)` edited and then given to the Response would be
// copied twice (measured: bench/findings.md, issue 14 session 7).
export function edge_build_response(base, strip, edits, status, body) {
  const response = new Response(body, base === undefined ? { status } : { status, headers: base });
  edit(response.headers, strip, edits);
  return response;
}

// A copy of `base` with the edits applied (a held entry's headers, from the origin's).
export function edge_headers_over(base, strip, edits) {
  const headers = new Headers(base);
  edit(headers, strip, edits);
  return headers;
}

// `edge_build_response`'s response, put into the Cache API under `key`: the put's promise.
export function edge_cache_put(key, status, base, strip, edits, body) {
  return caches.default.put(key, edge_build_response(base, strip, edits, status, body));
}

// Settles `slot` with `[0, response]`, `[1, why]` or `[2, null]` (timed out); returns that value
// at once instead when the request could not even be made (then the slot is not settled).
export function edge_origin_fetch(url, method, headers, extra, body, timeoutMs, slot) {
  const r = resume;
  const h = headersFrom(pairsFrom(headers));
  for (const [n, v] of pairsFrom(extra)) {
    try {
      h.set(n, v);
    } catch (_) {}
  }
  const controller = new AbortController();
  let timedOut = false;
  const timer = setTimeout(() => {
    timedOut = true;
    controller.abort();
  }, timeoutMs);
  const init = { method, headers: h, redirect: "manual", signal: controller.signal };
  if (body !== undefined && body !== null) init.body = body;
  // `fetch(url, init)`, not `fetch(new Request(url, init))`: the runtime builds the Request
  // either way, and from a Request it builds a second one (a refused URL or init then rejects,
  // settling the slot as an origin error, as a synchronous throw did).
  let sent;
  try {
    sent = fetch(url, init);
  } catch (e) {
    clearTimeout(timer);
    return [1, message(e)];
  }
  sent.then(
    (response) => {
      clearTimeout(timer);
      r(slot, true, [0, response]);
    },
    (e) => {
      clearTimeout(timer);
      r(slot, true, timedOut ? [2, null] : [1, message(e)]);
    },
  );
  return undefined;
}

// `caches.default.match(key)` settling `slot` with null (no entry) or `[response, values]`: the
// values of `names` (comma-separated) a line each, "+value" or "-" when absent (no header value
// holds a line feed).
let lookupNames = "";
let lookupWanted = [];
export function edge_cache_lookup(key, names, slot) {
  const r = resume;
  if (names !== lookupNames) {
    lookupNames = names;
    lookupWanted = names === "" ? [] : names.split(",");
  }
  const wanted = lookupWanted;
  caches.default.match(key).then(
    (found) => {
      if (found === undefined || found === null) return r(slot, true, null);
      let values = "";
      try {
        const headers = found.headers;
        for (let i = 0; i < wanted.length; i++) {
          const v = headers.get(wanted[i]);
          values += (i === 0 ? "" : "\n") + (v === null ? "-" : "+" + v);
        }
      } catch (e) {
        return r(slot, false, e);
      }
      r(slot, true, [found, values]);
    },
    (e) => r(slot, false, e),
  );
}
