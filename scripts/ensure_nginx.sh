#!/usr/bin/env bash
# Makes sure Debian's nginx is present for the serving bench and the config test (deploy/nginx.conf);
# installs it when we are root, otherwise says what to install. The bench runs its own nginx as a
# child process, so the package's system service is never started.
set -u
NGINX="${NGINX_PATH:-/usr/sbin/nginx}"
if [ -x "$NGINX" ]; then
  exit 0
fi
if [ "$(id -u)" = "0" ] && command -v apt-get >/dev/null; then
  echo "Installing nginx for the serving bench..."
  # A policy-rc.d answering 101 keeps the package from starting a system nginx on port 80; one
  # already in place (container images ship one) is left as it is.
  ours=""
  if [ ! -e /usr/sbin/policy-rc.d ]; then
    printf '#!/bin/sh\nexit 101\n' > /usr/sbin/policy-rc.d && chmod +x /usr/sbin/policy-rc.d
    ours=1
  fi
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq nginx-light >/dev/null
  [ -n "$ours" ] && rm -f /usr/sbin/policy-rc.d
  [ -x "$NGINX" ] && exit 0
fi
echo "nginx is missing at $NGINX; the serving bench and its config test need it." >&2
echo "Install it (Debian: sudo apt-get install nginx-light) or set NGINX_PATH." >&2
exit 1
