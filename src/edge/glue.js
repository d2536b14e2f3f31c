// The JavaScript side of the glue that takes header lists: imported by src/edge/convert.rs,
// origin.rs and store.rs (`#[wasm_bindgen(module = "/src/edge/glue.js")]`). A header list
// crosses from Wasm as one string: a name or value a line (`convert::pairs_text`; no header name
// holds `[` or a line feed, and no value the runtime accepts holds a line feed), or as JSON pairs
// when one does, so that the runtime still judges that value.

function pairsFrom(text) {
  if (text.startsWith("[")) return JSON.parse(text);
  const lines = text === "" ? [] : text.split("\n");
  const pairs = [];
  for (let i = 0; i + 1 < lines.length; i += 2) pairs.push([lines[i], lines[i + 1]]);
  return pairs;
}

// A Headers object from pairs; a pair the runtime refuses is dropped alone.
function headersFrom(pairs) {
  try {
    return new Headers(pairs);
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

export function edge_headers(text) {
  return headersFrom(pairsFrom(text));
}

export function edge_build_response(base, strip, edits, status, body) {
  const headers = base === undefined ? new Headers() : new Headers(base);
  if (strip !== undefined) for (const name of strip.split(",")) headers.delete(name);
  const seen = new Set();
  for (const [name, value] of pairsFrom(edits)) {
    try {
      if (name === "set-cookie" || seen.has(name)) headers.append(name, value);
      else headers.set(name, value);
    } catch (_) {}
    seen.add(name);
  }
  return new Response(body, { status, headers });
}

export function edge_cache_put(key, status, headers, body) {
  return caches.default.put(key, new Response(body, { status, headers: headersFrom(pairsFrom(headers)) }));
}

export function edge_origin_fetch(url, method, headers, extra, body, timeoutMs) {
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
  let request;
  try {
    request = new Request(url, init);
  } catch (e) {
    clearTimeout(timer);
    return Promise.resolve([1, message(e)]);
  }
  return fetch(request).then(
    (r) => {
      clearTimeout(timer);
      return [0, r];
    },
    (e) => {
      clearTimeout(timer);
      return timedOut ? [2, null] : [1, message(e)];
    },
  );
}
