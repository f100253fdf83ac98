#!/usr/bin/env bash
# Installs the Debian packages Gatehouse builds and tests against (idempotent: skips apt when
# everything is already there). Needs root, as on a fresh Debian 12 machine or CI.
set -euo pipefail
PACKAGES=(libevent-dev libsqlite3-dev libhiredis-dev libcrypt-dev pkg-config redis-server curl)
missing=()
for p in "${PACKAGES[@]}"; do
  dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p")
done
if ((${#missing[@]})); then
  echo "installing: ${missing[*]}" >&2
  SUDO=""
  [[ $(id -u) == 0 ]] || SUDO=sudo
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${missing[@]}" >/dev/null
fi
