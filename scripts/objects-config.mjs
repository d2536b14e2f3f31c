// The objects worker's configuration for a local `wrangler dev` (README: Layout): a copy of
// wrangler.objects.toml with `main` pointing at `entry` and `vars` on top of its own [vars].
// wrangler dev hands `--var`s to its first worker (the edge) only, and the objects read the same
// configuration as the edge, so the overrides are written into the copy instead.
// (tests/support/mod.rs::objects_config does the same for the end-to-end tests.)
import { mkdirSync, readFileSync, writeFileSync } from "node:fs";
import path from "node:path";

/** Writes the copy to `out` and returns its path. */
export function writeObjectsConfig({ root, entry, vars, out }) {
  const original = readFileSync(path.join(root, "wrangler.objects.toml"), "utf8");
  const kept = [];
  const own = {};
  let inVars = false;
  for (const line of original.split("\n")) {
    const trimmed = line.trim();
    if (trimmed.startsWith("[")) {
      inVars = trimmed === "[vars]";
      if (inVars) continue;
    }
    const eq = trimmed.indexOf("=");
    if (inVars) {
      if (eq > 0) own[trimmed.slice(0, eq).trim()] = JSON.parse(trimmed.slice(eq + 1).trim());
      continue;
    }
    if (eq > 0 && trimmed.slice(0, eq).trim() === "main") {
      kept.push(`main = ${JSON.stringify(path.resolve(root, entry))}`);
    } else {
      kept.push(line);
    }
  }
  // A JSON string is a TOML basic string.
  const merged = { ...own, ...vars };
  kept.push("", "[vars]", ...Object.entries(merged).map(([k, v]) => `${k} = ${JSON.stringify(String(v))}`), "");
  mkdirSync(path.dirname(out), { recursive: true });
  writeFileSync(out, kept.join("\n"));
  return out;
}
