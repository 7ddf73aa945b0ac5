#!/usr/bin/env bash
# Makes sure Debian's PgBouncer is present for the readiness test through it
# (concertbooking/tests/test_readiness_pgbouncer.py); installs it when we are root, otherwise says
# what to install. The test runs its own pgbouncer as a child process, so the package's system
# service is never started.
set -u
PGBOUNCER="${PGBOUNCER_PATH:-/usr/sbin/pgbouncer}"
if [ -x "$PGBOUNCER" ]; then
  exit 0
fi
if [ "$(id -u)" = "0" ] && command -v apt-get >/dev/null; then
  echo "Installing PgBouncer for the readiness test..."
  # A policy-rc.d answering 101 keeps the package from starting a system pgbouncer on 6432; one
  # already in place (container images ship one) is left as it is.
  ours=""
  if [ ! -e /usr/sbin/policy-rc.d ]; then
    printf '#!/bin/sh\nexit 101\n' > /usr/sbin/policy-rc.d && chmod +x /usr/sbin/policy-rc.d
    ours=1
  fi
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq pgbouncer >/dev/null
  [ -n "$ours" ] && rm -f /usr/sbin/policy-rc.d
  [ -x "$PGBOUNCER" ] && exit 0
fi
echo "PgBouncer is missing at $PGBOUNCER; the readiness test through it is skipped." >&2
echo "Install it (Debian: sudo apt-get install pgbouncer) or set PGBOUNCER_PATH." >&2
exit 1
