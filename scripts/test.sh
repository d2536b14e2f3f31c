#!/usr/bin/env bash
# `npm test`: setup, lints, native tests, the wasm build, then end-to-end tests against the built
# worker in `wrangler dev` in front of the demo origins. Exits non-zero on the first failure.
set -euo pipefail
cd "$(dirname "$0")/.."
export WRANGLER_SEND_METRICS=false CLOUDFLARE_CF_FETCH_ENABLED=false
started=$(date +%s)
step() { printf '\n==> %s (%ss)\n' "$*" "$(( $(date +%s) - started ))"; }

step "setup"
bash scripts/setup.sh

step "cargo fmt --check"
cargo fmt --all -- --check

step "clippy (native, all targets)"
cargo clippy --workspace --all-targets --features catalog-edge/e2e -- -D warnings

step "clippy (wasm32)"
cargo clippy -p catalog-edge --lib --target wasm32-unknown-unknown -- -D warnings

step "native tests (core and demo origin)"
cargo test --workspace

step "wasm build"
bash scripts/build.sh
cargo build -p demo-origin

step "end-to-end tests (wrangler dev + demo origins)"
cargo test -p catalog-edge --features e2e --test 'e2e_*'

step "all passed"
