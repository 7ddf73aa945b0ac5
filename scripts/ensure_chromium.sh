#!/usr/bin/env bash
# Makes sure Debian's Chromium is present for the browser tests (tests/e2e); installs it when
# we are root, otherwise says what to install. Playwright drives this binary, so its own
# browser download is never needed.
set -u
CHROMIUM="${CHROMIUM_PATH:-/usr/bin/chromium}"
if [ -x "$CHROMIUM" ]; then
  exit 0
fi
if [ "$(id -u)" = "0" ] && command -v apt-get >/dev/null; then
  echo "Installing Chromium for the browser tests..."
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null
  [ -x "$CHROMIUM" ] && exit 0
fi
echo "Chromium is missing at $CHROMIUM; the browser tests need it." >&2
echo "Install it (Debian: sudo apt-get install chromium) or set CHROMIUM_PATH." >&2
exit 1
