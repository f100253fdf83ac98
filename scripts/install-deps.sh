#!/usr/bin/env bash
# Installs the Debian packages Gatehouse builds and tests against (idempotent: skips apt when
# everything is already there). Needs root, as on a fresh Debian 12 machine or CI.
set -euo pipefail
# libssl-dev: TLS termination (COpenSSL); openssl: the TLS tests make certificates and connect with it.
# apache2-utils (htpasswd) and whois (mkpasswd) make the password hashes the tests check against.
PACKAGES=(libevent-dev libssl-dev openssl libsqlite3-dev libhiredis-dev libcrypt-dev pkg-config redis-server curl
          apache2-utils whois)
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

# Python's joserfc and cryptography: the auth tests mint tokens with them as an independent JOSE implementation
# (Tests/Fixtures/make_tokens.py, run with the `python3` on PATH). Installed only when the import fails;
# Debian's own python3 refuses plain pip installs (PEP 668), hence the second attempt.
if ! command -v python3 >/dev/null 2>&1; then
  echo "warning: python3 not found; the auth tests need python3 with joserfc and cryptography" >&2
elif ! python3 -c 'import joserfc, cryptography' >/dev/null 2>&1; then
  echo "installing: joserfc cryptography (pip)" >&2
  python3 -m pip install --quiet --disable-pip-version-check joserfc cryptography >/dev/null 2>&1 \
    || python3 -m pip install --quiet --disable-pip-version-check --break-system-packages joserfc cryptography >/dev/null
fi
