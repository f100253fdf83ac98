#!/usr/bin/env bash
# The test command: installs what is missing, builds, and runs every test (unit and integration).
# Integration tests start the real `gatehouse` binary and `gatehouse echo` on ephemeral loopback ports.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
scripts/install-deps.sh
swift build --build-tests
swift test --skip-build "$@"
