#!/usr/bin/env bash
# Gatehouse benchmark: wrk on loopback against, in the same run and interleaved,
#   direct       the upstream itself (the ceiling)
#   nginx-proxy  nginx proxy_pass with an upstream keep-alive pool
#   gatehouse    gatehouse on a route with no authentication (release build)
# and, with JWT=1 (default), bearer-token targets on the same tokens:
#   haproxy-jwt-es256         HAProxy jwt_verify ES256 + exp/iss/aud checks + header injection
#   gatehouse-jwt-es256       gatehouse, ES256, verified-token cache on (the same token repeated)
#   gatehouse-jwt-es256-nocache, -hs256-nocache, -rs256-nocache, -eddsa-nocache
#                             gatehouse with the cache off: every request verifies a signature
# and, with TLS=1 (default off), TLS termination on one self-signed P-256 certificate made for the run:
#   nginx-tls                 nginx `listen ... ssl` + proxy_pass (same pool as nginx-proxy)
#   gatehouse-tls             gatehouse with a server.tls listener, auth: none
# both TLS 1.2/1.3 with the same cipher list, measured for keep-alive requests/s over https in the
# rounds below, then for full handshakes/s (wrk -H 'Connection: close': one new TLS connection per
# request), interleaved the same way, with each proxy's CPU time per handshake;
# and reports each as a median over rounds and as ratios to nginx-proxy and to gatehouse
# (auth: none). Then `openssl speed` on the proxy core (raw verifications per second), and
# IDLE_CONNS idle keep-alive connections to gatehouse with its RSS per connection.
#
#   bench/run.sh                 (installs wrk and nginx if missing; builds release)
#   ROUNDS=5 DURATION=4s CONNS=64 IDLE_CONNS=10000 PIN=1 bench/run.sh
#   TLS=1 JWT=0 bench/run.sh     (the TLS comparison without the JWT targets)
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
JWT=${JWT:-1}
TLS=${TLS:-0}
GATEHOUSE=${GATEHOUSE:-}

source "$HERE/common.sh"

if ! command -v wrk >/dev/null || ! command -v nginx >/dev/null || ! command -v haproxy >/dev/null \
    || ! command -v openssl >/dev/null; then
  log "installing wrk, nginx, haproxy and openssl"
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq wrk nginx haproxy openssl >/dev/null
fi
if [[ $JWT == 1 ]] && ! python3 -c 'import joserfc, cryptography' 2>/dev/null; then
  pip install -q joserfc cryptography
fi
build_gatehouse
start_work ghbench

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
  # The idle step below keeps IDLE_CONNS open; max_connections: auto (half the descriptor limit, the other half
  # for upstream sockets) may hold some of them back.
  limits: { idle_timeout: 300s, max_connections: $((IDLE_CONNS + 1024)) }
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
UPSTREAM_PID=$!
spawn "$PROXY_CPU" nginx -p "$WORK/nginx" -c "$WORK/nginx/nginx.conf" -e "$WORK/nginx/error.log" & PIDS+=($!)
NGINX_PID=$!
spawn "$PROXY_CPU" "$GATEHOUSE" run --config "$WORK/gatehouse/gatehouse.yaml" >/dev/null 2>"$WORK/gatehouse/stderr" & PIDS+=($!)
GATEHOUSE_PID=$!

# Targets: name -> URL, credential header (may be empty), and the PIDs whose CPU time is the proxy's.
declare -A URL=() HEADER=() PROC=()
TARGETS=()
add_target() { TARGETS+=("$1"); URL[$1]=$2; HEADER[$1]=$3; PROC[$1]=$4; }

if [[ $JWT == 1 ]]; then
  ISS=https://idp.bench.local AUD=legacy-app
  mkdir -p "$WORK/keys"
  python3 - "$WORK/keys" "$ISS" "$AUD" <<'PY'
import json, os, sys
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa, ed25519
from joserfc import jwt
from joserfc.jwk import ECKey, RSAKey, OKPKey, OctKey
out, iss, aud = sys.argv[1:4]
claims = {"iss": iss, "aud": aud, "sub": "bench-user", "email": "bench-user@bench.local",
          "groups": ["staff"], "iat": 1700000000, "exp": 4102444800}
def pem(public):
    return public.public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
keys = {
    "es256": (ec.generate_private_key(ec.SECP256R1()), "ES256"),
    "rs256": (rsa.generate_private_key(public_exponent=65537, key_size=2048), "RS256"),
    "eddsa": (ed25519.Ed25519PrivateKey.generate(), "EdDSA"),
}
for name, (private, alg) in keys.items():
    open(f"{out}/{name}.pub.pem", "wb").write(pem(private.public_key()))
    priv = private.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                 serialization.NoEncryption())
    key = {"es256": ECKey, "rs256": RSAKey, "eddsa": OKPKey}[name].import_key(priv)
    open(f"{out}/{name}.jwt", "w").write(jwt.encode({"alg": alg}, claims, key, algorithms=[alg]))
secret = os.urandom(32).hex()
open(f"{out}/hs256.secret", "w").write(secret)
open(f"{out}/hs256.jwt", "w").write(jwt.encode({"alg": "HS256"}, claims, OctKey.import_key(secret.encode())))
PY
  gatehouse_jwt() {  # NAME ALG KEYLINE CACHE
    local port; port=$(free_port $((BASE_PORT + 20 + ${#TARGETS[@]})))
    mkdir -p "$WORK/$1"
    cat > "$WORK/$1/gatehouse.yaml" <<CONF
server:
  listen: ["127.0.0.1:$port"]
  workers: 1
  limits: { idle_timeout: 300s }
access_log:
  path: "off"
tokens:
  cache_size: $4
  issuers:
    - issuer: "$ISS"
      audiences: ["$AUD"]
      keys:
        - $3
upstreams:
  app:
    servers: ["127.0.0.1:$UPSTREAM_PORT"]
    keepalive: 128
    keepalive_timeout: 300s
routes:
  - name: app
    match: { path_prefix: / }
    upstream: app
    accept: [bearer]
CONF
    spawn "$PROXY_CPU" "$GATEHOUSE" run --config "$WORK/$1/gatehouse.yaml" >/dev/null 2>"$WORK/$1/stderr" & PIDS+=($!)
    add_target "$1" "http://127.0.0.1:$port/" "Authorization: Bearer $(cat "$WORK/keys/$2.jwt")" "$!"
  }
fi

add_target direct "http://127.0.0.1:$UPSTREAM_PORT/" "" "$UPSTREAM_PID"
add_target nginx-proxy "http://127.0.0.1:$NGINX_PORT/" "" "$NGINX_PID"
add_target gatehouse "http://127.0.0.1:$GATEHOUSE_PORT/" "" "$GATEHOUSE_PID"
if [[ $TLS == 1 ]]; then
  # One certificate for both: self-signed P-256 (ECDSA), as a modern deployment would have.
  mkdir -p "$WORK/tls" "$WORK/nginx-tls" "$WORK/gatehouse-tls"
  chmod 755 "$WORK/nginx-tls"
  openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2 -subj /CN=bench.local \
    -addext subjectAltName=DNS:bench.local -keyout "$WORK/tls/bench.key" -out "$WORK/tls/bench.crt" 2>/dev/null
  chmod 644 "$WORK/tls/bench.key"
  NGINX_TLS_PORT=$(free_port $((BASE_PORT + 40)))
  GATEHOUSE_TLS_PORT=$(free_port $((NGINX_TLS_PORT + 1)))
  { nginx_common "$WORK/nginx-tls"; cat <<CONF
  upstream app { server 127.0.0.1:$UPSTREAM_PORT; keepalive 128; keepalive_requests 10000000; keepalive_timeout 300s; }
  server {
    listen 127.0.0.1:$NGINX_TLS_PORT ssl backlog=4096;
    ssl_certificate $WORK/tls/bench.crt;
    ssl_certificate_key $WORK/tls/bench.key;
    ssl_protocols TLSv1.2 TLSv1.3;
    ssl_ciphers ECDHE+AESGCM:ECDHE+CHACHA20;
    location / {
      proxy_pass http://app;
      proxy_http_version 1.1;
      proxy_set_header Connection "";
      proxy_set_header Host \$host;
      proxy_set_header X-Forwarded-For \$remote_addr;
      proxy_set_header X-Forwarded-Proto https;
      proxy_set_header X-Auth-User "";
    }
  }
}
CONF
  } > "$WORK/nginx-tls/nginx.conf"
  cat > "$WORK/gatehouse-tls/gatehouse.yaml" <<CONF
server:
  listen: []
  tls:
    listen: ["127.0.0.1:$GATEHOUSE_TLS_PORT"]
    certificates:
      - { certificate: "$WORK/tls/bench.crt", private_key: "$WORK/tls/bench.key" }
  workers: 1
  limits: { idle_timeout: 300s }
access_log:
  path: "off"
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
  spawn "$PROXY_CPU" nginx -p "$WORK/nginx-tls" -c "$WORK/nginx-tls/nginx.conf" -e "$WORK/nginx-tls/error.log" & PIDS+=($!)
  NGINX_TLS_PID=$!
  spawn "$PROXY_CPU" "$GATEHOUSE" run --config "$WORK/gatehouse-tls/gatehouse.yaml" >/dev/null 2>"$WORK/gatehouse-tls/stderr" & PIDS+=($!)
  add_target nginx-tls "https://127.0.0.1:$NGINX_TLS_PORT/" "" "$NGINX_TLS_PID"
  add_target gatehouse-tls "https://127.0.0.1:$GATEHOUSE_TLS_PORT/" "" "$!"
fi
if [[ $JWT == 1 ]]; then
  HAPROXY_PORT=$(free_port $((BASE_PORT + 19)))
  mkdir -p "$WORK/haproxy"
  cat > "$WORK/haproxy/haproxy.cfg" <<CONF
global
    nbthread 1
    maxconn 4096
defaults
    mode http
    timeout connect 5s
    timeout client 60s
    timeout server 60s
    timeout http-keep-alive 300s
    http-reuse always
frontend fe
    bind 127.0.0.1:$HAPROXY_PORT
    http-request del-header X-Auth-User
    http-request del-header X-Auth-Email
    http-request set-var(txn.bearer) http_auth_bearer
    http-request deny deny_status 401 unless { var(txn.bearer) -m found }
    http-request deny deny_status 401 unless { var(txn.bearer),jwt_header_query('\$.alg') -m str ES256 }
    http-request deny deny_status 401 unless { var(txn.bearer),jwt_verify("ES256","$WORK/keys/es256.pub.pem") -m int 1 }
    http-request set-var(txn.now) date()
    http-request set-var(txn.exp) var(txn.bearer),jwt_payload_query('\$.exp','int')
    http-request deny deny_status 401 unless { var(txn.exp),sub(txn.now) -m int gt 0 }
    http-request deny deny_status 401 unless { var(txn.bearer),jwt_payload_query('\$.iss') -m str $ISS }
    http-request deny deny_status 401 unless { var(txn.bearer),jwt_payload_query('\$.aud') -m str $AUD }
    http-request set-header X-Auth-User %[var(txn.bearer),jwt_payload_query('\$.sub')]
    http-request set-header X-Auth-Email %[var(txn.bearer),jwt_payload_query('\$.email')]
    default_backend app
backend app
    server up1 127.0.0.1:$UPSTREAM_PORT pool-max-conn 256
CONF
  spawn "$PROXY_CPU" haproxy -db -f "$WORK/haproxy/haproxy.cfg" >/dev/null 2>"$WORK/haproxy/stderr" & PIDS+=($!)
  add_target haproxy-jwt-es256 "http://127.0.0.1:$HAPROXY_PORT/" "Authorization: Bearer $(cat "$WORK/keys/es256.jwt")" "$!"
  gatehouse_jwt gatehouse-jwt-es256 es256 "{ pem_file: $WORK/keys/es256.pub.pem }" 10000
  gatehouse_jwt gatehouse-jwt-es256-nocache es256 "{ pem_file: $WORK/keys/es256.pub.pem }" 0
  gatehouse_jwt gatehouse-jwt-hs256-nocache hs256 "{ secret_file: $WORK/keys/hs256.secret, algorithm: HS256 }" 0
  gatehouse_jwt gatehouse-jwt-rs256-nocache rs256 "{ pem_file: $WORK/keys/rs256.pub.pem, algorithm: RS256 }" 0
  gatehouse_jwt gatehouse-jwt-eddsa-nocache eddsa "{ pem_file: $WORK/keys/eddsa.pub.pem }" 0
fi
sleep 1
# nginx does its work in worker processes (children of the master): count their CPU time.
PROC[direct]=$(pgrep -P "$UPSTREAM_PID" | tr '\n' ' ')
PROC[nginx-proxy]=$(pgrep -P "$NGINX_PID" | tr '\n' ' ')
[[ $TLS == 1 ]] && PROC[nginx-tls]=$(pgrep -P "$NGINX_TLS_PID" | tr '\n' ' ')

# CPU time a target's proxy process spends per request: robust against a noisy neighbour, unlike req/s.
cpu_ticks() {
  local total=0 pid
  for pid in $1; do
    total=$((total + $(awk '{ print $14 + $15 }' "/proc/$pid/stat")))
  done
  echo "$total"
}
wrk_run() {  # TARGET DURATION [extra wrk args]
  local t=$1 d=$2
  shift 2
  if [[ -n ${HEADER[$t]} ]]; then
    pin "$LOAD_CPU" wrk -t1 -c"$CONNS" -d"$d" -H "${HEADER[$t]}" "$@" "${URL[$t]}"
  else
    pin "$LOAD_CPU" wrk -t1 -c"$CONNS" -d"$d" "$@" "${URL[$t]}"
  fi
}

# Pre-flight: each target answers the upstream's body, with its credential; spoofed identity headers never
# pass; the auth targets refuse a request without a credential and one with a forged signature.
for t in "${TARGETS[@]}"; do
  args=(-fsSk -m 5 -H 'X-Auth-User: spoofed')
  [[ -n ${HEADER[$t]} ]] && args+=(-H "${HEADER[$t]}")
  body=$(curl "${args[@]}" "${URL[$t]}") || die "$t: pre-flight request failed"
  [[ $body == "hello from the upstream" ]] || die "$t: unexpected body: $body"
  if [[ -n ${HEADER[$t]} ]]; then
    code=$(curl -sk -o /dev/null -w '%{http_code}' -m 5 "${URL[$t]}")
    [[ $code == 401 ]] || die "$t: a request without a token got $code, not 401"
    forged="${HEADER[$t]%?}A"; [[ $forged == "${HEADER[$t]}" ]] && forged="${HEADER[$t]%?}B"
    code=$(curl -sk -o /dev/null -w '%{http_code}' -m 5 -H "$forged" "${URL[$t]}")
    [[ $code == 401 ]] || die "$t: a token with a forged signature got $code, not 401"
  fi
done
log "pre-flight ok (${#TARGETS[@]} targets); $ROUNDS rounds of wrk -t1 -c$CONNS -d$DURATION per target"

RAW="$WORK/raw.tsv"
: > "$RAW"
for t in "${TARGETS[@]}"; do wrk_run "$t" 2s >/dev/null; done
for ((round = 0; round < ROUNDS; round++)); do
  for ((i = 0; i < ${#TARGETS[@]}; i++)); do
    t=${TARGETS[$(((i + round) % ${#TARGETS[@]}))]}
    wrk_run "$t" "$WARMUP" >/dev/null
    before=$(cpu_ticks "${PROC[$t]}")
    line=$(wrk_run "$t" "$DURATION" -s "$HERE/report.lua" | grep '^RESULT')
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
gh = med["gatehouse"]["rps"]
print(f"{'target':<28} {'req/s':>9} {'spread':>7} {'p50 ms':>7} {'p99 ms':>7} {'x direct':>9} {'x nginx':>8} "
      f"{'x gh':>6} {'cpu us/req':>10} {'errors':>6}")
for t in rows:
    rs = rows[t]; m = med[t]
    spread = (max(r["rps"] for r in rs) - min(r["rps"] for r in rs)) / m["rps"]
    cpu = statistics.median(cpu_us(r) for r in rs)
    print(f"{t:<28} {m['rps']:>9.0f} {spread:>6.0%} {m['p50_us']/1000:>7.2f} {m['p99_us']/1000:>7.2f} "
          f"{m['rps']/med['direct']['rps']:>9.2f} {m['rps']/base:>8.2f} {m['rps']/gh:>6.2f} {cpu:>10.1f} "
          f"{sum(r['errors'] for r in rs):>6.0f}")
if "nginx-tls" in med and "gatehouse-tls" in med:
    cpu_t = {t: statistics.median(cpu_us(r) for r in rows[t]) for t in ("nginx-tls", "gatehouse-tls")}
    print(f"TLS keep-alive req/s gatehouse-tls / nginx-tls: {med['gatehouse-tls']['rps']/med['nginx-tls']['rps']:.2f}; "
          f"CPU per request nginx-tls / gatehouse-tls: {cpu_t['nginx-tls']/cpu_t['gatehouse-tls']:.2f}; "
          f"TLS cost on gatehouse (gatehouse-tls / gatehouse req/s): {med['gatehouse-tls']['rps']/gh:.2f}")
if "haproxy-jwt-es256" in med and "gatehouse-jwt-es256-nocache" in med:
    h = med["haproxy-jwt-es256"]["rps"]
    print(f"ES256 uncached gatehouse / haproxy jwt_verify: {med['gatehouse-jwt-es256-nocache']['rps']/h:.2f}; "
          f"cached gatehouse / gatehouse auth:none: {med['gatehouse-jwt-es256']['rps']/gh:.2f}")
print("cpu us/req: CPU time of the target's own process (upstream nginx for direct) per request, from "
      "/proc/<pid>/stat; less sensitive to a noisy machine than req/s.")
PY

if [[ $TLS == 1 ]]; then
  # Full handshakes: every request on a new connection (the proxy closes after the answer), so each
  # one is a TCP connect plus a full TLS handshake (wrk does not resume sessions). Interleaved rounds.
  log "TLS handshakes: $ROUNDS rounds of wrk -t1 -c$CONNS -d$DURATION -H 'Connection: close' per target"
  HS="$WORK/handshakes.tsv"
  : > "$HS"
  handshake_run() {  # ROUND TARGET
    local t=$2 before after line
    pin "$LOAD_CPU" wrk -t1 -c"$CONNS" -d"$WARMUP" -H 'Connection: close' "${URL[$t]}" >/dev/null
    before=$(cpu_ticks "${PROC[$t]}")
    line=$(pin "$LOAD_CPU" wrk -t1 -c"$CONNS" -d"$DURATION" -H 'Connection: close' -s "$HERE/report.lua" "${URL[$t]}" \
      | grep '^RESULT')
    after=$(cpu_ticks "${PROC[$t]}")
    printf '%s\t%s\t%s ticks=%s\n' "$1" "$t" "$line" "$((after - before))" >> "$HS"
  }
  for ((round = 0; round < ROUNDS; round++)); do
    if ((round % 2 == 0)); then order=(nginx-tls gatehouse-tls); else order=(gatehouse-tls nginx-tls); fi
    for t in "${order[@]}"; do handshake_run "$round" "$t"; done
  done
  DURATION_S=${DURATION%s} python3 - "$HS" <<'PY'
import sys, statistics, collections, os
rows = collections.defaultdict(list)
for line in open(sys.argv[1]):
    rnd, target, result = line.rstrip("\n").split("\t")
    kv = dict(p.split("=") for p in result.split()[1:])
    rows[target].append({k: float(v) for k, v in kv.items()})
hz = os.sysconf("SC_CLK_TCK"); dur = float(os.environ.get("DURATION_S", "4"))
def cpu_us(r): return r["ticks"] / hz * 1e6 / (r["rps"] * dur) if r["rps"] else 0
med = {t: statistics.median(r["rps"] for r in rs) for t, rs in rows.items()}
print(f"{'full TLS handshakes':<28} {'conn/s':>9} {'spread':>7} {'p99 ms':>7} {'cpu us/conn':>11} {'errors':>6}")
for t, rs in rows.items():
    spread = (max(r["rps"] for r in rs) - min(r["rps"] for r in rs)) / med[t]
    p99 = statistics.median(r["p99_us"] for r in rs) / 1000
    cpu = statistics.median(cpu_us(r) for r in rs)
    print(f"{t:<28} {med[t]:>9.0f} {spread:>6.0%} {p99:>7.2f} {cpu:>11.1f} {sum(r['errors'] for r in rs):>6.0f}")
if "nginx-tls" in med and "gatehouse-tls" in med:
    cpu = {t: statistics.median(cpu_us(r) for r in rows[t]) for t in rows}
    print(f"handshakes/s gatehouse-tls / nginx-tls: {med['gatehouse-tls']/med['nginx-tls']:.2f}; "
          f"CPU per handshake nginx-tls / gatehouse-tls: {cpu['nginx-tls']/cpu['gatehouse-tls']:.2f}")
print("One wrk thread does the client side of every handshake on the load core, about as much work as the "
      "proxy's side: it is usually the limit, so conn/s is noisy; cpu us/conn is the proxy's own cost.")
PY
  log "openssl speed on the proxy core (ECDSA P-256 signs/s, X25519 key exchanges/s)"
  pin "$PROXY_CPU" openssl speed -seconds 2 ecdsap256 ecdhx25519 2>/dev/null | grep -E 'sign/s|op/s|ecdsa \(nistp256\)|X25519' || true
fi

if [[ $JWT == 1 ]]; then
  log "openssl speed on the proxy core (raw verifications per second, one core)"
  pin "$PROXY_CPU" openssl speed -seconds 2 rsa2048 ecdsap256 ed25519 2>/dev/null \
    | grep -E 'verify/s|rsa 2048|ecdsa \(nistp256\)|EdDSA \(Ed25519\)' || true
  # HMAC-SHA256 over a token-sized input (300 bytes): thousands of bytes/s, so verifications/s = value*1000/300.
  pin "$PROXY_CPU" openssl speed -seconds 2 -bytes 300 -hmac sha256 2>/dev/null | grep '^hmac' || true
fi

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
