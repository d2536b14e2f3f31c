#!/usr/bin/env bash
# Idempotent setup: installs only what is missing. Run by `npm run dev` and `npm test`.
#   - the wasm32-unknown-unknown Rust target
#   - worker-build and wasm-bindgen-cli at pinned versions (wasm-bindgen = the one in Cargo.lock;
#     its wasm-bindgen-test-runner runs the Wasm glue's tests in Node)
#   - npm packages (npm ci) when package-lock.json changed since the last install
#   - .dev.vars with a random local ADMIN_TOKEN, from .dev.vars.example, if there is none
set -euo pipefail
cd "$(dirname "$0")/.."

WORKER_BUILD_VERSION=0.8.7
CARGO_BIN="${CARGO_HOME:-$HOME/.cargo}/bin"
log() { echo "setup: $*" >&2; }

wasm_bindgen_version() {
  awk '/^name = "wasm-bindgen"$/ { getline; gsub(/version = |"/, ""); print; exit }' Cargo.lock
}

if ! rustup target list --installed | grep -qx wasm32-unknown-unknown; then
  log "adding the wasm32-unknown-unknown target"
  rustup target add wasm32-unknown-unknown
fi

# The two cargo installs (once per machine) run in one background job while the network-bound
# steps below proceed; the script waits for it at the end. They are build tools that run for
# well under a second per build, so they are compiled for compile speed, not run speed: no
# optimisation, no LTO, no debug info, and one shared target directory so that their common
# crates (syn, serde, clap, …) are compiled once. Measured on this 2-core machine: 181 s for both,
# against 430 s with their release profiles side by side; the wasm they produce is byte-identical.
install_tool() {
  CARGO_PROFILE_RELEASE_OPT_LEVEL=0 CARGO_PROFILE_RELEASE_LTO=false \
  CARGO_PROFILE_RELEASE_CODEGEN_UNITS=256 CARGO_PROFILE_RELEASE_DEBUG=0 \
  CARGO_PROFILE_RELEASE_DEBUG_ASSERTIONS=false CARGO_INCREMENTAL=0 \
    cargo install -q --force --target-dir "$tools_target" "$@"
}
tools=()
if ! "$CARGO_BIN/worker-build" --version 2>/dev/null | grep -qx "$WORKER_BUILD_VERSION"; then
  log "installing worker-build $WORKER_BUILD_VERSION (about 2 minutes, once)"
  tools+=("worker-build --version $WORKER_BUILD_VERSION")
fi

WB_VERSION="$(wasm_bindgen_version)"
if [ -z "$WB_VERSION" ]; then
  echo "setup: no wasm-bindgen in Cargo.lock" >&2
  exit 1
fi
# wasm-bindgen-test-runner (the Wasm glue's tests in `npm test`) comes with wasm-bindgen-cli and
# must match it: both are checked.
if ! "$CARGO_BIN/wasm-bindgen" --version 2>/dev/null | grep -qx "wasm-bindgen $WB_VERSION" ||
  ! "$CARGO_BIN/wasm-bindgen-test-runner" --version 2>/dev/null | grep -qx "wasm-bindgen-test-runner $WB_VERSION"; then
  log "installing wasm-bindgen-cli $WB_VERSION (about 1 minute, once)"
  # Not --locked: one of its locked transitive crates is missing from the registry. No default
  # features: they only add TLS for wasm-bindgen-test-runner's downloads. --force (above): cargo
  # skips a crate its records list as installed even when the binary is gone.
  tools+=("wasm-bindgen-cli --no-default-features --version $WB_VERSION")
fi
installs=()
if [ "${#tools[@]}" -gt 0 ]; then
  tools_target="$(mktemp -d "${TMPDIR:-/tmp}/catalog-edge-tools.XXXXXX")"
  (
    for t in "${tools[@]}"; do
      # shellcheck disable=SC2086 # one string of arguments per tool
      install_tool $t || exit 1
    done
    rm -rf "$tools_target"
  ) & installs+=($!)
fi

lock_sum="$(sha256sum package-lock.json | cut -d' ' -f1)"
if [ ! -x node_modules/.bin/wrangler ] || [ "$(cat node_modules/.setup-lock-sum 2>/dev/null)" != "$lock_sum" ]; then
  log "installing npm packages (npm ci)"
  npm ci --no-audit --no-fund
  echo "$lock_sum" > node_modules/.setup-lock-sum
fi

if [ ! -f .dev.vars ]; then
  token="$(head -c 24 /dev/urandom | od -An -tx1 | tr -d ' \n')"
  sed "s/^ADMIN_TOKEN=.*/ADMIN_TOKEN=$token/" .dev.vars.example > .dev.vars
  log "wrote .dev.vars with a new local ADMIN_TOKEN"
fi

# The dashboard's browser tests drive Debian's Chromium with playwright-core (never a browser
# download).
# `npm run bench` needs no browser: it sets SETUP_BROWSER=0.
if [ "${SETUP_BROWSER:-1}" != 0 ] && [ ! -x /usr/bin/chromium ]; then
  log "installing Debian's chromium for the dashboard browser tests (apt-get update; apt-get install -y chromium)"
  if [ "$(id -u)" -eq 0 ]; then
    apt-get update
    apt-get install -y chromium
  else
    sudo apt-get update
    sudo apt-get install -y chromium
  fi
fi

for pid in "${installs[@]}"; do
  if ! wait "$pid"; then
    echo "setup: a cargo install failed (see above)" >&2
    exit 1
  fi
done
