#!/usr/bin/env bash
# Builds the worker into build/ (index.js + index_bg.wasm) with the pinned, offline toolchain.
#   bash scripts/build.sh         release: what `npm run build` and `npm run deploy` ship
#   bash scripts/build.sh --dev   the dev-worker profile (Cargo.toml): what `npm run dev` rebuilds
#                                 on every save; same behaviour, seconds instead of a full LTO build
# worker-build stages its output in build/.tmp and moves it into build/ only when every step has
# succeeded, so a failed build leaves the last good one in place.
set -euo pipefail
cd "$(dirname "$0")/.."
CARGO_BIN="${CARGO_HOME:-$HOME/.cargo}/bin"
export WASM_BINDGEN_BIN="$CARGO_BIN/wasm-bindgen"
export ESBUILD_BIN="$PWD/node_modules/@esbuild/linux-x64/bin/esbuild"
if [ "${1:-}" = --dev ]; then
  shift
  # worker-build would download wasm-opt from a host these machines cannot reach: --no-opt.
  exec "$CARGO_BIN/worker-build" --profile dev-worker --no-opt "$@"
fi
"$CARGO_BIN/worker-build" --release --no-opt "$@"
# worker-build keeps Rust's function names in a custom `name` section (~160 KB); drop it.
node scripts/strip-wasm-names.mjs build/index_bg.wasm
