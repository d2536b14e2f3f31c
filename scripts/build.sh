#!/usr/bin/env bash
# Builds the worker into build/ (index.js + index_bg.wasm) with the pinned, offline toolchain.
set -euo pipefail
cd "$(dirname "$0")/.."
CARGO_BIN="${CARGO_HOME:-$HOME/.cargo}/bin"
export WASM_BINDGEN_BIN="$CARGO_BIN/wasm-bindgen"
export ESBUILD_BIN="$PWD/node_modules/@esbuild/linux-x64/bin/esbuild"
# worker-build would download wasm-opt from a host these machines cannot reach: --no-opt.
"$CARGO_BIN/worker-build" --release --no-opt "$@"
# worker-build keeps Rust's function names in a custom `name` section (~160 KB); drop it.
node scripts/strip-wasm-names.mjs build/index_bg.wasm
