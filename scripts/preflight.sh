#!/usr/bin/env bash
# `npm run preflight [-- OPTIONS]` (and the first step of `npm run deploy`): builds the release
# worker, then runs the deploy checks (preflight/, see README: Deploy) on wrangler.toml with the
# same options the deploy gets: --env NAME, --var NAME:VALUE, --secrets-file PATH, --config PATH;
# --force deploys despite refusals (printing them), --no-size skips the build and the size check.
# Exits 1 when the deploy is refused.
set -euo pipefail
cd "$(dirname "$0")/.."
export WRANGLER_SEND_METRICS=false CLOUDFLARE_CF_FETCH_ENABLED=false
export PATH="$PWD/node_modules/.bin:$PATH"

measure=1
for arg in "$@"; do
  [ "$arg" = --no-size ] && measure=0
done
if [ "$measure" = 1 ]; then
  echo "preflight: building the release worker (npm run build) to measure what would be uploaded" >&2
  log="$(mktemp "${TMPDIR:-/tmp}/catalog-edge-build.XXXXXX")"
  if ! bash scripts/build.sh >"$log" 2>&1; then
    cat "$log" >&2
    rm -f "$log"
    echo "preflight: the release build failed (above)" >&2
    exit 1
  fi
  rm -f "$log"
fi
cargo build -q -p preflight
exec target/debug/preflight "$@"
