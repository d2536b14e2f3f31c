#!/usr/bin/env bash
# `npm run dev [-- --fresh]`: setup, then the dev stack (scripts/dev.mjs): both demo origins and
# `wrangler dev` on http://localhost:8787, rebuilt and reloaded as src/ and demo-origin/ change.
# Ctrl-C stops everything this started.
#   --fresh   start from clean local state: delete .wrangler/state (local KV: rollout
#             configuration, purge state) first
#   --reset   only delete .wrangler/state (`npm run dev:reset`), start nothing
# Ports: PORT (8787), STABLE_PORT (9001), CANARY_PORT (9002), INSPECTOR_PORT (wrangler's default).
set -euo pipefail
cd "$(dirname "$0")/.."
export WRANGLER_SEND_METRICS=false CLOUDFLARE_CF_FETCH_ENABLED=false
export PATH="$PWD/node_modules/.bin:$PATH"

for arg in "$@"; do
  case "$arg" in
    --fresh | --reset) ;;
    -h | --help)
      sed -n '2,8p' "$0" | sed 's/^# \{0,1\}//'
      exit 0
      ;;
    *)
      echo "dev: unknown option $arg (known: --fresh, --reset, --help)" >&2
      exit 2
      ;;
  esac
done

if [[ " $* " == *" --reset "* ]]; then
  if [ -d .wrangler/state ]; then
    rm -rf .wrangler/state
    echo "dev: deleted .wrangler/state (the local KV: rollout configuration, purge state); the next npm run dev starts from the vars"
  else
    echo "dev: no local state to delete (.wrangler/state does not exist)"
  fi
  exit 0
fi

bash scripts/setup.sh
exec node scripts/dev.mjs "$@"
