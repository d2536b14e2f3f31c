// catalog-edge with its JS↔Wasm crossings counted (see count-crossings.mjs). GET
// /__bench/crossings returns the counts since the previous call and resets them.
import { takeCounts } from "./count-crossings.mjs";
import Edge from "./index.js";

export default {
  fetch(request, env, ctx) {
    if (new URL(request.url).pathname === "/__bench/crossings") {
      return Response.json(takeCounts());
    }
    // The release bundle exports a plain `{ fetch }` (scripts/patch-entry.mjs); worker-build's own
    // export is an entrypoint class.
    return typeof Edge === "function" ? Edge.prototype.fetch.call({ env, ctx }, request) : Edge.fetch(request, env, ctx);
  },
};
