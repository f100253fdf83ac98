#!/usr/bin/env bash
# Gatehouse benchmark: wrk on loopback against, in the same run and interleaved,
#   direct       the upstream itself (the ceiling)
#   nginx-proxy  nginx proxy_pass with an upstream keep-alive pool
#   gatehouse    gatehouse on a route with no authentication (release build)
# and reports each as a median over rounds and as a ratio to nginx-proxy. Then it opens
# IDLE_CONNS idle keep-alive connections to gatehouse and reports RSS per connection.
#
#   bench/run.sh                 (installs wrk and nginx if missing; builds release)
#   ROUNDS=5 DURATION=4s CONNS=64 IDLE_CONNS=10000 PIN=1 bench/run.sh
#
# Pinning (PIN=1, default): the proxy under test alone on CPU 1; wrk and the upstream on
# CPU 0, so every proxy gets one identical core and `direct` is a true ceiling. Every
# process started here is stopped by PID on exit. Only loopback ports are used.
set -euo pipefail
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd "$HERE/.." && pwd)
ROUNDS=${ROUNDS:-5}
DURATION=${DURATION:-4s}
WARMUP=${WARMUP:-1s}
CONNS=${CONNS:-64}
IDLE_CONNS=${IDLE_CONNS:-10000}
PIN=${PIN:-1}
LOAD_CPU=${LOAD_CPU:-0}
PROXY_CPU=${PROXY_CPU:-1}
BASE_PORT=${BASE_PORT:-19400}
GATEHOUSE=${GATEHOUSE:-}

log() { printf '%s %s\n' "$(date +%H:%M:%S)" "$*" >&2; }
die() { log "ERROR: $*"; exit 1; }

if ! command -v wrk >/dev/null || ! command -v nginx >/dev/null; then
  log "installing wrk and nginx"
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq wrk nginx >/dev/null
fi
if [[ -z $GATEHOUSE ]]; then
  log "building gatehouse (release)"
  (cd "$ROOT" && swift build -c release --product gatehouse --scratch-path .build-release >/dev/null)
  GATEHOUSE="$ROOT/.build-release/release/gatehouse"
fi

WORK=$(mktemp -d -t ghbench.XXXXXX)
PIDS=()
cleanup() {
  for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done
  sleep 0.5
  for pid in "${PIDS[@]}"; do kill -9 "$pid" 2>/dev/null || true; done
  rm -rf "$WORK"
}
trap cleanup EXIT
trap "exit 130" INT TERM
pin() { if [[ $PIN == 1 ]]; then taskset -c "$1" "${@:2}"; else "${@:2}"; fi; }
# For background servers: exec, so $! is the server's own PID (stopped by PID on exit).
spawn() { if [[ $PIN == 1 ]]; then exec taskset -c "$1" "${@:2}"; else exec "${@:2}"; fi; }
free_port() {
  local p=$1
  while ss -ltn "( sport = :$p )" | grep -q ":$p"; do p=$((p + 1)); done
  echo "$p"
}

UPSTREAM_PORT=$(free_port "$BASE_PORT")
NGINX_PORT=$(free_port $((UPSTREAM_PORT + 1)))
GATEHOUSE_PORT=$(free_port $((NGINX_PORT + 1)))

nginx_common() {
  cat <<CONF
worker_processes 1;
daemon off;
pid $1/nginx.pid;
error_log $1/error.log warn;
events { worker_connections 4096; multi_accept on; }
http {
  access_log off;
  server_tokens off;
  client_body_temp_path $1/body;
  proxy_temp_path $1/proxy;
  fastcgi_temp_path $1/fcgi;
  uwsgi_temp_path $1/uwsgi;
  scgi_temp_path $1/scgi;
  keepalive_requests 10000000;
  keepalive_timeout 300s;
CONF
}

mkdir -p "$WORK/upstream" "$WORK/nginx" "$WORK/gatehouse"
chmod 755 "$WORK" "$WORK/upstream" "$WORK/nginx"
{ nginx_common "$WORK/upstream"; cat <<CONF
  server {
    listen 127.0.0.1:$UPSTREAM_PORT reuseport backlog=4096;
    location / { return 200 "hello from the upstream\n"; }
  }
}
CONF
} > "$WORK/upstream/nginx.conf"
{ nginx_common "$WORK/nginx"; cat <<CONF
  upstream app { server 127.0.0.1:$UPSTREAM_PORT; keepalive 128; keepalive_requests 10000000; keepalive_timeout 300s; }
  server {
    listen 127.0.0.1:$NGINX_PORT backlog=4096;
    location / {
      proxy_pass http://app;
      proxy_http_version 1.1;
      proxy_set_header Connection "";
      proxy_set_header Host \$host;
      proxy_set_header X-Forwarded-For \$remote_addr;
      proxy_set_header X-Auth-User "";
    }
  }
}
CONF
} > "$WORK/nginx/nginx.conf"
cat > "$WORK/gatehouse/gatehouse.yaml" <<CONF
server:
  listen: ["127.0.0.1:$GATEHOUSE_PORT"]
  workers: 1
  limits: { idle_timeout: 300s }
access_log:
  path: off
upstreams:
  app:
    servers: ["127.0.0.1:$UPSTREAM_PORT"]
    keepalive: 128
    keepalive_timeout: 300s
routes:
  - name: app
    match: { path_prefix: / }
    upstream: app
    auth: none
CONF

spawn "$LOAD_CPU" nginx -p "$WORK/upstream" -c "$WORK/upstream/nginx.conf" -e "$WORK/upstream/error.log" & PIDS+=($!)
spawn "$PROXY_CPU" nginx -p "$WORK/nginx" -c "$WORK/nginx/nginx.conf" -e "$WORK/nginx/error.log" & PIDS+=($!)
spawn "$PROXY_CPU" "$GATEHOUSE" run --config "$WORK/gatehouse/gatehouse.yaml" >/dev/null 2>"$WORK/gatehouse/stderr" & PIDS+=($!)
GATEHOUSE_PID=$!
sleep 1

# CPU time a target's proxy process spends per request: robust against a noisy neighbour, unlike req/s.
# For nginx the worker processes (children of the master) are summed.
declare -A PROC=(
  [direct]=$(pgrep -P "${PIDS[0]}" | tr '\n' ' ')
  [nginx-proxy]=$(pgrep -P "${PIDS[1]}" | tr '\n' ' ')
  [gatehouse]=$GATEHOUSE_PID
)
cpu_ticks() {
  local total=0 pid
  for pid in $1; do
    total=$((total + $(awk '{ print $14 + $15 }' "/proc/$pid/stat")))
  done
  echo "$total"
}
declare -A URL=(
  [direct]="http://127.0.0.1:$UPSTREAM_PORT/"
  [nginx-proxy]="http://127.0.0.1:$NGINX_PORT/"
  [gatehouse]="http://127.0.0.1:$GATEHOUSE_PORT/"
)
TARGETS=(direct nginx-proxy gatehouse)
for t in "${TARGETS[@]}"; do
  body=$(curl -fsS -m 5 -H 'X-Auth-User: spoofed' "${URL[$t]}") || die "$t: pre-flight request failed"
  [[ $body == "hello from the upstream" ]] || die "$t: unexpected body: $body"
done
log "pre-flight ok; $ROUNDS rounds of wrk -t1 -c$CONNS -d$DURATION per target"

RAW="$WORK/raw.tsv"
: > "$RAW"
for t in "${TARGETS[@]}"; do pin "$LOAD_CPU" wrk -t1 -c"$CONNS" -d2s "${URL[$t]}" >/dev/null; done
for ((round = 0; round < ROUNDS; round++)); do
  for ((i = 0; i < ${#TARGETS[@]}; i++)); do
    t=${TARGETS[$(((i + round) % ${#TARGETS[@]}))]}
    pin "$LOAD_CPU" wrk -t1 -c"$CONNS" -d"$WARMUP" "${URL[$t]}" >/dev/null
    before=$(cpu_ticks "${PROC[$t]}")
    line=$(pin "$LOAD_CPU" wrk -t1 -c"$CONNS" -d"$DURATION" -s "$HERE/report.lua" "${URL[$t]}" | grep '^RESULT')
    after=$(cpu_ticks "${PROC[$t]}")
    printf '%s\t%s\t%s ticks=%s\n' "$round" "$t" "$line" "$((after - before))" >> "$RAW"
  done
done

DURATION_S=${DURATION%s} python3 - "$RAW" <<'PY'
import sys, statistics, collections
rows = collections.defaultdict(list)
for line in open(sys.argv[1]):
    rnd, target, result = line.rstrip("\n").split("\t")
    kv = dict(p.split("=") for p in result.split()[1:])
    rows[target].append({k: float(v) for k, v in kv.items()})
med = {t: {k: statistics.median(r[k] for r in rs) for k in rs[0]} for t, rs in rows.items()}
base = med["nginx-proxy"]["rps"]
import os
hz = os.sysconf("SC_CLK_TCK")
dur = float(os.environ.get("DURATION_S", "4"))
def cpu_us(r):  # CPU microseconds of the target's own process per request
    return r["ticks"] / hz * 1e6 / (r["rps"] * dur) if r["rps"] else 0
print(f"{'target':<12} {'req/s':>9} {'spread':>7} {'p50 ms':>7} {'p99 ms':>7} {'x direct':>9} {'x nginx':>8} "
      f"{'cpu us/req':>10} {'errors':>6}")
for t in ["direct", "nginx-proxy", "gatehouse"]:
    rs = rows[t]; m = med[t]
    spread = (max(r["rps"] for r in rs) - min(r["rps"] for r in rs)) / m["rps"]
    cpu = statistics.median(cpu_us(r) for r in rs)
    print(f"{t:<12} {m['rps']:>9.0f} {spread:>6.0%} {m['p50_us']/1000:>7.2f} {m['p99_us']/1000:>7.2f} "
          f"{m['rps']/med['direct']['rps']:>9.2f} {m['rps']/base:>8.2f} {cpu:>10.1f} {sum(r['errors'] for r in rs):>6.0f}")
print("cpu us/req: CPU time of the target's own process (upstream nginx for direct) per request, from "
      "/proc/<pid>/stat; less sensitive to a noisy machine than req/s.")
PY

# Idle keep-alive connections: RSS before and after opening IDLE_CONNS of them.
ulimit -n $((IDLE_CONNS + 1024)) 2>/dev/null || log "cannot raise the fd limit; IDLE_CONNS may fail"
python3 - "$GATEHOUSE_PORT" "$IDLE_CONNS" "$GATEHOUSE_PID" <<'PY'
import socket, sys, time, resource
port, n, pid = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
def rss():
    for line in open(f"/proc/{pid}/status"):
        if line.startswith("VmRSS:"): return int(line.split()[1])
before = rss()
socks = []
for i in range(n):
    s = socket.create_connection(("127.0.0.1", port))
    # one request each, so every connection is a real kept-alive client, not just an accepted socket
    s.sendall(b"GET / HTTP/1.1\r\nHost: bench\r\n\r\n")
    socks.append(s)
for s in socks:
    s.settimeout(10)
    data = b""
    while b"hello from the upstream" not in data:
        data += s.recv(4096)
time.sleep(1)
after = rss()
print(f"idle keep-alive connections: {n}; gatehouse RSS {before/1024:.1f} MiB -> {after/1024:.1f} MiB; "
      f"{(after-before)*1024/n:.0f} bytes per connection")
for s in socks: s.close()
PY
