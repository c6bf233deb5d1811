#!/usr/bin/env bash
# The browser the console tests drive: Debian's Chromium (/usr/bin/chromium, or $HOLDFAST_CHROMIUM).
# Installed here when missing and we are root (a fresh CI machine); otherwise say so loudly. The console test
# itself fails (never skips) without a browser, so a missing one cannot pass unnoticed.
set -euo pipefail
chromium="${HOLDFAST_CHROMIUM:-/usr/bin/chromium}"
if [ -x "$chromium" ]; then
  exit 0
fi
# Only Debian's own path is installed by apt; a HOLDFAST_CHROMIUM elsewhere is the caller's to provide.
if [ "$chromium" = /usr/bin/chromium ] && [ "$(id -u)" = "0" ] && command -v apt-get >/dev/null 2>&1; then
  echo "[holdfast] $chromium missing: installing Debian's chromium for the console's browser tests…" >&2
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq >&2 || true
  if apt-get install -y -qq chromium >&2 && [ -x "$chromium" ]; then
    exit 0
  fi
  echo "[holdfast] ERROR: apt-get could not install chromium: the console's browser tests will fail." >&2
  exit 1
fi
echo "[holdfast] ERROR: no browser at $chromium: install Debian's chromium (as root: apt-get install chromium)" \
  "or point HOLDFAST_CHROMIUM at a Chromium; the console's browser tests will fail." >&2
exit 1
