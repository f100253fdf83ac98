#!/usr/bin/env bash
# The run command: installs what is missing, builds, starts the demo upstream (`gatehouse echo` on
# 127.0.0.1:9000) and the gateway on the default Config/gatehouse.yaml (127.0.0.1:8080), in the
# foreground. Ctrl-C stops both. Try: curl -i http://127.0.0.1:8080/hello
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
scripts/install-deps.sh
swift build --product gatehouse
mkdir -p var   # the embedded session store (sessions.embedded.path) lives here
BIN=$(swift build --show-bin-path)/gatehouse
"$BIN" echo --listen 127.0.0.1:9000 >/dev/null &
ECHO_PID=$!
trap 'kill $ECHO_PID 2>/dev/null || true' EXIT
exec_status=0
"$BIN" run --config Config/gatehouse.yaml || exec_status=$?
exit $exec_status
