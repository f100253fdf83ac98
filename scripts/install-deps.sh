#!/usr/bin/env bash
# Installs the Debian packages Gatehouse builds and tests against (idempotent: skips apt when
# everything is already there). Needs root, as on a fresh Debian 12 machine or CI.
set -euo pipefail
# libssl-dev: TLS termination (COpenSSL); openssl: the TLS tests make certificates and connect with it.
# apache2-utils (htpasswd) and whois (mkpasswd) make the password hashes the tests check against.
# redis-sentinel: the failover tests (SessionSentinelTests) run three sentinels beside a master and a replica.
# libcurl4-openssl-dev: outbound HTTPS to identity providers (CCurl: discovery, JWKS, token endpoint).
# nginx and curl: an upstream and a client of the third-party suite (Tests/ThirdParty), which python3 runs.
PACKAGES=(libevent-dev libssl-dev openssl libsqlite3-dev libhiredis-dev libcrypt-dev libcurl4-openssl-dev pkg-config
          redis-server redis-sentinel curl
          apache2-utils whois nginx caddy python3 python3-pip chromium chromium-driver
          zbar-tools)
# zbar-tools (zbarimg): an independent QR decoder that must read `gatehouse totp enroll`'s QR code back to the
# otpauth:// URI (Tests/ThirdParty/test_qrcode.py).
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

# Python packages, each set installed only when its import fails. Debian's own python3 refuses plain pip installs
# (PEP 668), hence the second attempt.
pip_install() { # WHAT-FOR IMPORT-CHECK PACKAGE...
  local what=$1 check=$2
  shift 2
  if ! command -v python3 >/dev/null 2>&1; then
    echo "warning: python3 not found; $what needs python3 with $*" >&2
  elif ! python3 -c "$check" >/dev/null 2>&1; then
    echo "installing: $* (pip)" >&2
    python3 -m pip install --quiet --disable-pip-version-check "$@" >/dev/null 2>&1 \
      || python3 -m pip install --quiet --disable-pip-version-check --break-system-packages "$@" >/dev/null
  fi
}

# joserfc and cryptography: the auth tests mint tokens with them as an independent JOSE implementation
# (Tests/Fixtures/make_tokens.py, run with the `python3` on PATH).
pip_install "the auth tests" 'import joserfc, cryptography' joserfc cryptography
# The third-party suite (Tests/ThirdParty): pytest runs it; gunicorn, Django and websockets are its upstreams,
# requests, httpx and websockets its clients (websockets 13+: the asyncio server and the sync client used there);
# selenium drives Debian's chromium (chromium-driver) through the sign-in pages as a person would.
pip_install "the third-party suite" \
  'import pytest, gunicorn, httpx, requests, django, websockets.asyncio.server, websockets.sync.client, selenium' \
  pytest gunicorn httpx requests django 'websockets>=13' selenium
# PyJWT (with cryptography): the app of Tests/ThirdParty/test_assertion.py verifies the gateway's signed assertion
# with it, a JOSE library independent of the gateway's and of joserfc.
pip_install "the assertion tests" 'import jwt, cryptography' PyJWT cryptography
# django-oidc-provider: a real OpenID provider (Django, under gunicorn over HTTPS) for Tests/ThirdParty/test_oidc_provider.py.
pip_install "the OpenID provider tests" 'import oidc_provider' django-oidc-provider
# qrcode (python-qrcode): an independent QR encoder whose symbols the gateway's own encoder must match module for
# module (Tests/ThirdParty/test_qrcode.py; get_matrix() needs no imaging library).
pip_install "the QR code tests" 'import qrcode' qrcode
