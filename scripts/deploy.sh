#!/usr/bin/env bash
# `npm run deploy [-- OPTIONS]`: the preflight (release build of both workers + checks; refuses
# with reasons, see README: Deploy), then `wrangler deploy` of the objects worker (the Durable
# Objects, wrangler.objects.toml: first, since the edge's bindings name it) and of the edge
# (wrangler.toml), each with the same options (--env, --var, …), less the preflight's own
# (--force, --no-size, --objects-config PATH; --config PATH applies to the edge only).
set -euo pipefail
cd "$(dirname "$0")/.."
export WRANGLER_SEND_METRICS=false CLOUDFLARE_CF_FETCH_ENABLED=false
export PATH="$PWD/node_modules/.bin:$PATH"

bash scripts/preflight.sh "$@"
shared=()
edge_config=()
objects_config=(--config wrangler.objects.toml)
while [ "$#" -gt 0 ]; do
  case "$1" in
    --force | --no-size) ;;
    --objects-config) objects_config=(--config "$2"); shift ;;
    --objects-config=*) objects_config=(--config "${1#*=}") ;;
    --config | -c) edge_config=(--config "$2"); shift ;;
    --config=*) edge_config=(--config "${1#*=}") ;;
    *) shared+=("$1") ;;
  esac
  shift
done
echo "deploy: wrangler deploy ${objects_config[*]} ${shared[*]}" >&2
wrangler deploy "${objects_config[@]}" "${shared[@]}"
echo "deploy: wrangler deploy ${edge_config[*]} ${shared[*]}" >&2
exec wrangler deploy "${edge_config[@]}" "${shared[@]}"
