#!/usr/bin/env bash
# `npm test`: setup, lints, native tests, the Wasm glue's tests in Node, the wasm build, then
# end-to-end tests against the built worker in `wrangler dev` in front of the demo origins.
# Exits non-zero on the first failure.
set -euo pipefail
cd "$(dirname "$0")/.."
export WRANGLER_SEND_METRICS=false CLOUDFLARE_CF_FETCH_ENABLED=false
# Node 22 and wrangler from the npm packages (npm run does this too; `bash scripts/test.sh` alone
# needs it).
export PATH="$PWD/node_modules/.bin:$PATH"
started=$(date +%s)
step() { printf '\n==> %s (%ss)\n' "$*" "$(( $(date +%s) - started ))"; }

step "setup"
bash scripts/setup.sh

step "cargo fmt --check"
cargo fmt --all -- --check

step "clippy (native, all targets)"
cargo clippy --workspace --all-targets --features catalog-edge/e2e,preflight/e2e -- -D warnings

# The edge worker as built (default features), and both workers' glue at once (`--features
# objects`, where neither's code is dead: see src/edge/mod.rs).
step "clippy (wasm32, and the Wasm glue's tests)"
cargo clippy -p catalog-edge --lib --target wasm32-unknown-unknown -- -D warnings
cargo clippy -p catalog-edge --lib --target wasm32-unknown-unknown --features objects -- -D warnings
cargo clippy -p catalog-edge --lib --target wasm32-unknown-unknown --features objects --profile test -- -D warnings

step "native tests (core and demo origin)"
cargo test --workspace

step "bench statistics (node --test)"
node --test bench/stats.test.mjs

# #[wasm_bindgen_test]s in src/edge/ (conversion, memory tier, platform, replies), run by
# wasm-bindgen-test-runner (.cargo/config.toml) in Node 22 from node_modules; no browser. Built
# with the dev-worker profile, whose dependencies `npm run dev` (and its end-to-end test) reuse.
step "Wasm glue tests (wasm-bindgen-test in Node $(node --version))"
cargo test -p catalog-edge --lib --target wasm32-unknown-unknown --profile dev-worker

step "wasm build (the edge and the objects worker)"
bash scripts/build.sh
node scripts/patch-entry.mjs --check build/index.js
cargo build -p demo-origin

# The worker's e2e_* (proxy, cache, canary, dashboard, the dev stack) and the deploy preflight's
# size measurement (e2e_preflight). `--workspace` resolves dependency features as the native tests
# did, so their builds are reused (with `-p catalog-edge` alone every dependency compiled again).
step "end-to-end tests (wrangler dev + demo origins)"
cargo test --workspace --features catalog-edge/e2e,preflight/e2e --test 'e2e_*'

step "all passed"
