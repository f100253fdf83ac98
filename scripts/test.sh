#!/usr/bin/env bash
# The test command: installs what is missing, builds, and runs every test (unit and integration), then the
# third-party suite. Integration tests start the real `gatehouse` binary and `gatehouse echo` on ephemeral
# loopback ports; the third-party suite (Tests/ThirdParty, pytest) puts the same binary between gunicorn,
# Django, nginx and websockets upstreams and curl, requests, httpx and websockets clients.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
scripts/install-deps.sh
swift build --build-tests
swift test --skip-build "$@"
# Exit 5 (no tests collected) fails too, as any status but 0 does: a suite that silently ran nothing is a failure.
status=0
python3 -m pytest -q Tests/ThirdParty || status=$?
if ((status == 5)); then echo "error: the third-party suite collected no tests" >&2; fi
exit "$status"
