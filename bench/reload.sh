#!/usr/bin/env bash
# Reload under load: wrk keeps CONNS keep-alive connections busy on gatehouse (2 workers) for DURATION while
# the config is rewritten and reloaded every INTERVAL, alternately by SIGHUP and by POST /reload on the admin
# listener (each new config adds or drops a route, so every reload really installs a new snapshot). Reports
# requests, reloads done, and every failure wrk saw: socket errors (connect/read/write/timeout) and non-2xx
# answers. Goal: zero failures.
#
#   bench/reload.sh              DURATION=20s INTERVAL=0.1 CONNS=64 PIN=1
set -euo pipefail
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd "$HERE/.." && pwd)
DURATION=${DURATION:-20s}
INTERVAL=${INTERVAL:-0.1}
CONNS=${CONNS:-64}
PIN=${PIN:-1}
LOAD_CPU=${LOAD_CPU:-0}
PROXY_CPU=${PROXY_CPU:-1}
BASE_PORT=${BASE_PORT:-19700}
GATEHOUSE=${GATEHOUSE:-}
source "$HERE/common.sh"
command -v wrk >/dev/null || { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq wrk >/dev/null; }
build_gatehouse
start_work ghreload
UPSTREAM_PORT=$(free_port "$BASE_PORT")
PORT=$(free_port $((UPSTREAM_PORT + 1)))
ADMIN_PORT=$(free_port $((PORT + 1)))
spawn "$LOAD_CPU" "$GATEHOUSE" echo --listen "127.0.0.1:$UPSTREAM_PORT" >/dev/null 2>&1 & PIDS+=($!)
config() {  # EXTRA_ROUTE_NAME (empty: none)
  cat <<CONF
server:
  listen: ["127.0.0.1:$PORT"]
  workers: 2
admin:
  listen: "127.0.0.1:$ADMIN_PORT"
access_log:
  path: "off"
upstreams:
  app:
    servers: ["127.0.0.1:$UPSTREAM_PORT"]
    keepalive: 64
routes:
CONF
  [[ -n $1 ]] && printf '  - { name: %s, match: { path_prefix: /extra-%s }, upstream: app, auth: none }\n' "$1" "$1"
  echo "  - { name: app, match: { path_prefix: / }, upstream: app, auth: none }"
}
config "" > "$WORK/gatehouse.yaml"
spawn "$PROXY_CPU" "$GATEHOUSE" run --config "$WORK/gatehouse.yaml" >/dev/null 2>"$WORK/stderr" & PIDS+=($!)
GH_PID=$!
for _ in $(seq 50); do curl -fs -o /dev/null "http://127.0.0.1:$PORT/" && break; sleep 0.1; done
log "wrk -c$CONNS -d$DURATION while reloading every ${INTERVAL}s (SIGHUP and POST /reload alternately)"
pin "$LOAD_CPU" wrk -t1 -c"$CONNS" -d"$DURATION" "http://127.0.0.1:$PORT/" > "$WORK/wrk.out" &
WRK=$!
reloads=0 refused=0
while kill -0 "$WRK" 2>/dev/null; do
  config "r$reloads" > "$WORK/gatehouse.yaml.new" && mv "$WORK/gatehouse.yaml.new" "$WORK/gatehouse.yaml"
  if (( reloads % 2 == 0 )); then
    kill -HUP "$GH_PID"
  else
    code=$(curl -s -o /dev/null -w '%{http_code}' -X POST "http://127.0.0.1:$ADMIN_PORT/reload") || code=000
    [[ $code == 200 ]] || refused=$((refused + 1))
  fi
  reloads=$((reloads + 1))
  sleep "$INTERVAL"
done
wait "$WRK" || true
cat "$WORK/wrk.out"
applied=$(grep -c 'reloaded ' "$WORK/stderr" || true)
requests=$(awk '/requests in/ {print $1}' "$WORK/wrk.out")
socket=$(awk '/Socket errors/ {gsub(",", ""); print $4 + $6 + $8 + $10}' "$WORK/wrk.out")
non2xx=$(awk '/Non-2xx/ {print $5}' "$WORK/wrk.out")
echo "reloads sent: $reloads (applied per the log: $applied; POST /reload not 200: $refused)"
echo "requests: $requests; socket errors: ${socket:-0}; non-2xx answers: ${non2xx:-0} (goal: 0 failures)"
kill -0 "$GH_PID" || die "the gateway died"
