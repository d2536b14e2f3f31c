#!/usr/bin/env bash
# Builds the worker with the pinned, offline toolchain.
#   bash scripts/build.sh         release, into build/: what `npm run build` and `npm run deploy`
#                                 ship (wrangler.toml's `main`)
#   bash scripts/build.sh --dev   the dev-worker profile (Cargo.toml), into build-dev/: what
#                                 `npm run dev` rebuilds on every save and serves; same behaviour,
#                                 seconds instead of a full LTO build, and never in build/, so a
#                                 deploy cannot pick up a dev build
# worker-build stages its output in <out>/.tmp and moves it into place only when every step has
# succeeded, so a failed build leaves the last good one.
set -euo pipefail
cd "$(dirname "$0")/.."
CARGO_BIN="${CARGO_HOME:-$HOME/.cargo}/bin"
export WASM_BINDGEN_BIN="$CARGO_BIN/wasm-bindgen"
export ESBUILD_BIN="$PWD/node_modules/@esbuild/linux-x64/bin/esbuild"
if [ "${1:-}" = --dev ]; then
  shift
  # worker-build would download wasm-opt from a host these machines cannot reach: --no-opt.
  exec "$CARGO_BIN/worker-build" --profile dev-worker --no-opt --out-dir build-dev "$@"
fi
"$CARGO_BIN/worker-build" --release --no-opt "$@"
# worker-build keeps Rust's function names in a custom `name` section (~160 KB); drop it.
node scripts/strip-wasm-names.mjs build/index_bg.wasm
