#!/usr/bin/env bash
# `npm run bench`: builds the worker (release) and the demo origin, runs the criterion
# microbenchmark of the core decision, then the load benchmark (bench/run.mjs), which writes
# bench/RESULTS.md. Knobs: BENCH_ROUNDS, BENCH_SECONDS, BENCH_THREADS, BENCH_CONNECTIONS (see
# bench/run.mjs); BENCH_SKIP_BUILD=1 reuses build/ and target/ as they are.
set -euo pipefail
cd "$(dirname "$0")/.."
export WRANGLER_SEND_METRICS=false CLOUDFLARE_CF_FETCH_ENABLED=false
started=$(date +%s)
mkdir -p bench/out
# Seconds since the start at each step, for the report (bench/out/steps.tsv: name, seconds).
: > bench/out/steps.tsv
step() {
  local at=$(( $(date +%s) - started ))
  printf '%s\t%s\n' "$*" "$at" >> bench/out/steps.tsv
  printf '\n==> %s (%ss)\n' "$*" "$at"
}

step "setup"
SETUP_BROWSER=0 bash scripts/setup.sh
bash bench/setup.sh

if [ "${BENCH_SKIP_BUILD:-0}" != 1 ]; then
  # The demo origin builds alongside the workers: their builds end in single-threaded link-time
  # optimisation, which leaves the second core to it (a fresh machine: 103 + 43 s one after the
  # other).
  # Its own target directory: two cargo builds in one would wait for each other's lock.
  step "worker build (release, --no-opt) and demo origin (release), side by side"
  cargo build --release -q -p demo-origin --target-dir target/bench-origin > bench/out/demo-origin-build.log 2>&1 &
  origin_build=$!
  bash scripts/build.sh
  wait "$origin_build" || { cat bench/out/demo-origin-build.log; exit 1; }
  export BENCH_ORIGIN_BIN="$PWD/target/bench-origin/release/demo-origin"
fi

step "criterion: core decision"
# Short but stable for functions of a microsecond or less: 0.3 s warm-up and 1 s of samples per
# benchmark (npm run bench stays under 10 minutes on a fresh machine).
cargo bench -q --bench core_decision -- --warm-up-time 0.3 --measurement-time 1 > bench/out/criterion.log 2>&1 \
  || { cat bench/out/criterion.log; exit 1; }
grep -E '^core_decision|^ +time:' bench/out/criterion.log || true

step "load benchmark (workerd, wrk)"
BENCH_FROM_RUN_SH=1 node bench/run.mjs

step "done: bench/RESULTS.md"
