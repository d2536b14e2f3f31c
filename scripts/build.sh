#!/usr/bin/env bash
# Builds the two Workers (README: Layout) with the pinned, offline toolchain: the edge worker
# (feature `edge`, the default) and the objects worker that holds the Durable Objects (feature
# `objects`), from the same crate.
#   bash scripts/build.sh         release, into build/ (the edge: wrangler.toml's `main`) and
#                                 build-objects/ (wrangler.objects.toml's `main`): what
#                                 `npm run build` and `npm run deploy` ship
#   bash scripts/build.sh --dev   the dev-worker profile (Cargo.toml), one worker with both
#                                 (features edge + objects) into build-dev/: what `npm run dev`
#                                 rebuilds on every save and serves; same code, seconds instead of
#                                 a full LTO build, and never in build/, so a deploy cannot pick up
#                                 a dev build
# worker-build stages its output in <out>/.tmp and moves it into place only when every step has
# succeeded, so a failed build leaves the last good one. The two builds share target/ (only the
# crate itself is compiled again for the other feature set: ~10 s in release).
set -euo pipefail
cd "$(dirname "$0")/.."
CARGO_BIN="${CARGO_HOME:-$HOME/.cargo}/bin"
export WASM_BINDGEN_BIN="$CARGO_BIN/wasm-bindgen"
export ESBUILD_BIN="$PWD/node_modules/@esbuild/linux-x64/bin/esbuild"
OBJECTS=(--no-default-features --features objects)
if [ "${1:-}" = --dev ]; then
  shift
  # One worker with both feature sets (the edge and the Durable Objects): one build and one
  # reload per save instead of two (README: Development); `npm run dev` serves it with a config
  # that defines the objects in the edge itself (scripts/objects-config.mjs, writeDevConfig).
  # worker-build would download wasm-opt from a host these machines cannot reach: --no-opt.
  exec "$CARGO_BIN/worker-build" --profile dev-worker --no-opt --out-dir build-dev "$@" --features objects
fi
"$CARGO_BIN/worker-build" --release --no-opt "$@"
"$CARGO_BIN/worker-build" --release --no-opt --out-dir build-objects "$@" "${OBJECTS[@]}"
# worker-build keeps Rust's function names in a custom `name` section (~160 KB); drop it.
node scripts/strip-wasm-names.mjs build/index_bg.wasm
node scripts/strip-wasm-names.mjs build-objects/index_bg.wasm
# The edge's default export as a plain object rather than worker-build's per-request class and
# Proxies, its panic recovery kept (scripts/patch-entry.mjs says why and what was measured).
if [ "${EDGE_ENTRY_PATCH:-1}" != 0 ]; then node scripts/patch-entry.mjs build/index.js; fi
