// Case a, the floor: the least a cache-serving Worker can do. A hit is `caches.default.match`
// and the response as the Cache API returns it. A miss (only while the runner warms the cache)
// fetches the same path from the origin and stores it, so the floor serves the same body as
// catalog-edge.
export default {
  async fetch(request, env, ctx) {
    const hit = await caches.default.match(request);
    if (hit) return hit;
    const url = new URL(request.url);
    const origin = await fetch(env.ORIGIN_URL + url.pathname + url.search, { headers: request.headers });
    const stored = new Response(origin.body, origin);
    stored.headers.set("cache-control", "public, max-age=86400");
    ctx.waitUntil(caches.default.put(request, stored.clone()));
    return stored;
  },
};
