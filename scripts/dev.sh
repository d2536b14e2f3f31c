#!/usr/bin/env bash
# `npm run dev`: setup, build, start both demo origins and `wrangler dev` on http://localhost:8787.
# Ctrl-C stops everything this script started.
set -euo pipefail
cd "$(dirname "$0")/.."
export WRANGLER_SEND_METRICS=false CLOUDFLARE_CF_FETCH_ENABLED=false
STABLE_PORT="${STABLE_PORT:-9001}"
CANARY_PORT="${CANARY_PORT:-9002}"
PORT="${PORT:-8787}"

bash scripts/setup.sh
bash scripts/build.sh
cargo build -q -p demo-origin

pids=()
cleanup() {
  trap - INT TERM EXIT
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  wait 2>/dev/null || true
}
trap cleanup INT TERM EXIT

for port in "$STABLE_PORT" "$CANARY_PORT" "$PORT"; do
  if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
    echo "dev: port $port is already in use; stop what holds it or set STABLE_PORT/CANARY_PORT/PORT" >&2
    exit 1
  fi
done

target/debug/demo-origin --flavour stable --port "$STABLE_PORT" & pids+=($!)
target/debug/demo-origin --flavour canary --port "$CANARY_PORT" & pids+=($!)

cat <<MSG

catalog-edge dev stack
  worker         http://localhost:$PORT   (wrangler dev, ORIGIN_URL=http://127.0.0.1:$STABLE_PORT)
  dashboard      http://localhost:$PORT/__edge/   (admin token: ADMIN_TOKEN in .dev.vars)
  stable origin  http://127.0.0.1:$STABLE_PORT
  canary origin  http://127.0.0.1:$CANARY_PORT

Try:
  curl -i http://localhost:$PORT/api/v1/marketplace/categories
  curl -i 'http://localhost:$PORT/api/v2/marketplace/categories/10101/attributes?lang=en'
  curl -s http://localhost:$PORT/__edge/health
  curl -s http://127.0.0.1:$STABLE_PORT/__origin/requests?limit=1   # what the origin saw
  curl -s -H "Authorization: Bearer \$(grep '^ADMIN_TOKEN=' .dev.vars | cut -d= -f2)" http://localhost:$PORT/__edge/api/cache/stats
  curl -s 'http://localhost:$PORT/cdn-cgi/handler/scheduled?cron=0+*/6+*+*+*'   # fire the cron warmup

Ctrl-C stops everything.
MSG

wrangler dev --ip 127.0.0.1 --port "$PORT" --var "ORIGIN_URL:http://127.0.0.1:$STABLE_PORT" \
  --var "CANARY_ORIGIN_URL:http://127.0.0.1:$CANARY_PORT" --var "PUBLIC_URL:http://localhost:$PORT" \
  --test-scheduled --show-interactive-dev-session=false & pids+=($!)
wait -n "${pids[@]}"
