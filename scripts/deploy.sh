#!/usr/bin/env bash
# `npm run deploy [-- OPTIONS]`: the preflight (release build + checks; refuses with reasons, see
# README: Deploy), then `wrangler deploy` with the same options, less the preflight's own
# (--force, --no-size).
set -euo pipefail
cd "$(dirname "$0")/.."
export WRANGLER_SEND_METRICS=false CLOUDFLARE_CF_FETCH_ENABLED=false
export PATH="$PWD/node_modules/.bin:$PATH"

bash scripts/preflight.sh "$@"
args=()
for arg in "$@"; do
  case "$arg" in
    --force | --no-size) ;;
    *) args+=("$arg") ;;
  esac
done
echo "deploy: wrangler deploy ${args[*]}" >&2
exec wrangler deploy "${args[@]}"
