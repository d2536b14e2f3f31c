#!/usr/bin/env bash
# Installs what the benchmark needs beyond the project's own setup (scripts/setup.sh): the load
# generator, wrk, from Debian. Idempotent: does nothing when wrk is on the PATH.
set -euo pipefail
if command -v wrk >/dev/null 2>&1; then
  exit 0
fi
sudo=""
if [ "$(id -u)" -ne 0 ]; then
  if command -v sudo >/dev/null 2>&1; then sudo="sudo"; else
    echo "bench/setup.sh: wrk is missing and this user cannot install it; install the Debian package wrk" >&2
    exit 1
  fi
fi
echo "bench setup: installing wrk (Debian package)" >&2
$sudo apt-get update -qq
DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq wrk >/dev/null
wrk -v 2>&1 | head -1 >&2 || true
