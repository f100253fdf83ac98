#!/usr/bin/env bash
# Forward-auth benchmark (issue 13), one run, interleaved rounds, all behind the same front nginx:
#   fa-gatehouse  nginx auth_request -> gatehouse /.gatehouse/auth (cached ES256 JWT), then the upstream
#   fa-stub       nginx auth_request -> a static 204 stand-in (another nginx), then the upstream
#   direct        the front nginx straight to the upstream (no auth), for scale
# Bar: fa-gatehouse >= 0.9x fa-stub req/s.
#
#   bench/forward-auth.sh        ROUNDS=5 DURATION=4s CONNS=64 PIN=1
#
# PIN=1: gatehouse alone on CPU 1; wrk, the front nginx, the stub and the upstream on CPU 0. Loopback only;
# every process started here is stopped on exit.
set -euo pipefail
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd "$HERE/.." && pwd)
ROUNDS=${ROUNDS:-5}
DURATION=${DURATION:-4s}
CONNS=${CONNS:-64}
PIN=${PIN:-1}
LOAD_CPU=${LOAD_CPU:-0}
PROXY_CPU=${PROXY_CPU:-1}
BASE_PORT=${BASE_PORT:-19700}
GATEHOUSE=${GATEHOUSE:-}

source "$HERE/common.sh"
command -v wrk >/dev/null && command -v nginx >/dev/null && command -v htpasswd >/dev/null || {
  log "installing wrk, nginx, apache2-utils"
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq wrk nginx apache2-utils >/dev/null
}
python3 -c 'import joserfc, cryptography' 2>/dev/null || pip install -q joserfc cryptography
build_gatehouse
start_work ghfa
UPSTREAM_PORT=$(free_port "$BASE_PORT")
PORT=$(free_port $((UPSTREAM_PORT + 1)))
STUB_PORT=$(free_port $((PORT + 1)))
FRONT_PORT=$(free_port $((STUB_PORT + 1)))
session_bench_files 5
# The decision endpoint answers only trusted proxies: the front nginx is on loopback.
sed -i 's|^  workers: 1$|  workers: 1\n  trusted_proxies: [127.0.0.1]|' "$WORK/gh/gatehouse.yaml"
mkdir -p "$WORK/stub" "$WORK/front"
upstream_nginx_conf "$WORK/stub" "$STUB_PORT"
sed -i 's|return 200 "hello from the upstream\\n";|return 204;|' "$WORK/stub/nginx.conf"
cat > "$WORK/front/nginx.conf" <<CONF
worker_processes 1;
daemon off;
pid $WORK/front/nginx.pid;
error_log $WORK/front/error.log warn;
events { worker_connections 4096; }
http {
  access_log off;
  client_body_temp_path $WORK/front/body;
  proxy_temp_path $WORK/front/proxy;
  fastcgi_temp_path $WORK/front/fcgi;
  uwsgi_temp_path $WORK/front/uwsgi;
  scgi_temp_path $WORK/front/scgi;
  keepalive_requests 10000000;
  keepalive_timeout 300s;
  upstream app { server 127.0.0.1:$UPSTREAM_PORT; keepalive 128; }
  upstream gatehouse { server 127.0.0.1:$PORT; keepalive 128; }
  upstream stub { server 127.0.0.1:$STUB_PORT; keepalive 128; }
  proxy_http_version 1.1;
  server {
    listen 127.0.0.1:$FRONT_PORT reuseport backlog=4096;
    proxy_set_header Connection "";
    location = /_gatehouse {
      internal;
      proxy_pass http://gatehouse/.gatehouse/auth;
      proxy_pass_request_body off;
      proxy_set_header Content-Length "";
      proxy_set_header Connection "";
      proxy_set_header X-Original-URL \$scheme://\$http_host\$request_uri;
      proxy_set_header X-Original-Method \$request_method;
      proxy_set_header X-Forwarded-Uri "";
    }
    location = /_stub {
      internal;
      proxy_pass http://stub/auth;
      proxy_pass_request_body off;
      proxy_set_header Content-Length "";
      proxy_set_header Connection "";
      proxy_set_header X-Original-URL \$scheme://\$http_host\$request_uri;
    }
    location /jwt/ {
      auth_request /_gatehouse;
      auth_request_set \$gatehouse_user \$upstream_http_x_auth_user;
      # proxy_set_header here replaces every inherited one: Connection "" again, or each request to the app
      # would open a new connection (the first run measured exactly that: 0.51x).
      proxy_set_header Connection "";
      proxy_set_header X-Auth-User \$gatehouse_user;
      proxy_pass http://app;
    }
    location /stub/ {
      auth_request /_stub;
      proxy_pass http://app;
    }
    location /direct/ { proxy_pass http://app; }
  }
}
CONF
spawn "$LOAD_CPU" nginx -p "$WORK/upstream" -c "$WORK/upstream/nginx.conf" -e "$WORK/upstream/error.log" & PIDS+=($!)
spawn "$LOAD_CPU" nginx -p "$WORK/stub" -c "$WORK/stub/nginx.conf" -e "$WORK/stub/error.log" & PIDS+=($!)
spawn "$PROXY_CPU" "$GATEHOUSE" run --config "$WORK/gh/gatehouse.yaml" >/dev/null 2>"$WORK/gh/stderr" & PIDS+=($!)
GH_PID=$!
for _ in $(seq 50); do curl -fs -o /dev/null "http://127.0.0.1:$PORT/" && break; sleep 0.1; done
spawn "$LOAD_CPU" nginx -p "$WORK/front" -c "$WORK/front/nginx.conf" -e "$WORK/front/error.log" & PIDS+=($!)
for _ in $(seq 50); do curl -fs -o /dev/null "http://127.0.0.1:$FRONT_PORT/direct/" && break; sleep 0.1; done
TOKEN=$(cat "$WORK/gh/es256.jwt")
declare -A URL=()
TARGETS=(fa-gatehouse fa-stub direct)
URL[fa-gatehouse]="http://127.0.0.1:$FRONT_PORT/jwt/"
URL[fa-stub]="http://127.0.0.1:$FRONT_PORT/stub/"
URL[direct]="http://127.0.0.1:$FRONT_PORT/direct/"
for t in "${TARGETS[@]}"; do
  body=$(curl -fsS -m 5 -H "Authorization: Bearer $TOKEN" "${URL[$t]}") || die "$t: pre-flight failed"
  [[ $body == "hello from the upstream" ]] || die "$t: unexpected body"
done
code=$(curl -s -o /dev/null -w '%{http_code}' "${URL[fa-gatehouse]}")
[[ $code == 401 ]] || die "no token through auth_request got $code"
cpu_ticks() { awk '{ print $14 + $15 }' "/proc/$1/stat"; }
wrk_run() { pin "$LOAD_CPU" wrk -t1 -c"$2" -d"$3" -H "Authorization: Bearer $TOKEN" "${@:4}" "${URL[$1]}"; }
RAW="$WORK/raw.tsv"
: > "$RAW"
log "$ROUNDS rounds of wrk -t1 -c$CONNS -d$DURATION per target"
for t in "${TARGETS[@]}"; do wrk_run "$t" "$CONNS" 2s >/dev/null; done
for ((round = 0; round < ROUNDS; round++)); do
  for ((i = 0; i < ${#TARGETS[@]}; i++)); do
    t=${TARGETS[$(((i + round) % ${#TARGETS[@]}))]}
    before=$(cpu_ticks "$GH_PID")
    line=$(wrk_run "$t" "$CONNS" "$DURATION" -s "$HERE/report.lua" | grep '^RESULT')
    after=$(cpu_ticks "$GH_PID")
    printf '%s\t%s\t%s ticks=%s\n' "$round" "$t" "$line" "$((after - before))" >> "$RAW"
  done
done
DURATION_S=${DURATION%s} python3 - "$RAW" <<'PY'
import sys, statistics, collections, os
rows = collections.defaultdict(list)
for line in open(sys.argv[1]):
    rnd, target, result = line.rstrip("\n").split("\t")
    rows[target].append({k: float(v) for k, v in (p.split("=") for p in result.split()[1:])})
hz = os.sysconf("SC_CLK_TCK"); dur = float(os.environ["DURATION_S"])
med = {t: {k: statistics.median(r[k] for r in rs) for k in rs[0]} for t, rs in rows.items()}
print(f"{'target':<13} {'req/s':>9} {'p50 ms':>7} {'p99 ms':>7} {'gh cpu us/req':>13} {'errors':>6}")
for t, rs in rows.items():
    m = med[t]
    cpu = statistics.median(r["ticks"] / hz * 1e6 / (r["rps"] * dur) for r in rs)
    print(f"{t:<13} {m['rps']:>9.0f} {m['p50_us']/1000:>7.2f} {m['p99_us']/1000:>7.2f} {cpu:>13.1f} "
          f"{sum(r['errors'] for r in rs):>6.0f}")
print(f"fa-gatehouse / fa-stub: {med['fa-gatehouse']['rps']/med['fa-stub']['rps']:.2f} (goal >= 0.9)")
PY
