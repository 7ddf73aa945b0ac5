#!/usr/bin/env bash
# Makes sure a Debian package's program is present for the tests or benches that run it, and
# installs the package when we are root, otherwise says what to install.
#   ensure_tool.sh PATH_VARIABLE DEFAULT_PATH PACKAGE "what needs it"
# The program's path comes from PATH_VARIABLE when set (the tests read the same variable). The
# tests run their own copies as child processes, so no package's system service is started.
set -u
var="$1" default="$2" package="$3" need="$4"
program="${!var:-$default}"
if [ -x "$program" ]; then
  exit 0
fi
if [ "$(id -u)" = "0" ] && command -v apt-get >/dev/null; then
  echo "Installing $package for $need..."
  # A policy-rc.d answering 101 keeps the package from starting its system service; one already
  # in place (container images ship one) is left as it is.
  ours=""
  if [ ! -e /usr/sbin/policy-rc.d ]; then
    printf '#!/bin/sh\nexit 101\n' > /usr/sbin/policy-rc.d && chmod +x /usr/sbin/policy-rc.d
    ours=1
  fi
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$package" >/dev/null
  [ -n "$ours" ] && rm -f /usr/sbin/policy-rc.d
  [ -x "$program" ] && exit 0
fi
echo "$package is missing at $program; $need needs it." >&2
echo "Install it (Debian: sudo apt-get install $package) or set $var." >&2
exit 1
