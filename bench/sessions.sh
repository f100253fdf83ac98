#!/usr/bin/env bash
# Sessions benchmark (issue: sign-in and sessions), on one gatehouse process, same run, interleaved rounds:
#   public        route with auth: none (the proxy alone)
#   jwt-cached    ES256 bearer token from an outside issuer, verified-token cache on (the same token repeated)
#   session       the gateway's session cookie (embedded store: hash + in-memory lookup per request)
# then the sign-in storm: p50/p99 of session-cookie requests (wrk --latency, CONNS_STORM connections) without
# and with STORM concurrent sign-in loops (bcrypt cost 10, htpasswd-made hash) against the same gateway.
#
#   bench/sessions.sh            ROUNDS=5 DURATION=4s CONNS=64 STORM=20 PIN=1
#
# PIN=1: gatehouse (one worker, plus its hashing threads) alone on CPU 1; wrk, the upstream and the sign-in
# clients on CPU 0. Loopback only; every process started here is stopped on exit.
set -euo pipefail
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd "$HERE/.." && pwd)
ROUNDS=${ROUNDS:-5}
DURATION=${DURATION:-4s}
CONNS=${CONNS:-64}
CONNS_STORM=${CONNS_STORM:-16}
STORM=${STORM:-20}
STORM_DURATION=${STORM_DURATION:-10s}
PIN=${PIN:-1}
LOAD_CPU=${LOAD_CPU:-0}
PROXY_CPU=${PROXY_CPU:-1}
BASE_PORT=${BASE_PORT:-19600}
GATEHOUSE=${GATEHOUSE:-}

source "$HERE/common.sh"
command -v wrk >/dev/null && command -v nginx >/dev/null && command -v htpasswd >/dev/null || {
  log "installing wrk, nginx, apache2-utils"
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq wrk nginx apache2-utils >/dev/null
}
python3 -c 'import joserfc, cryptography' 2>/dev/null || pip install -q joserfc cryptography
build_gatehouse
start_work ghsess
UPSTREAM_PORT=$(free_port "$BASE_PORT")
PORT=$(free_port $((UPSTREAM_PORT + 1)))
mkdir -p "$WORK/upstream" "$WORK/gh"
chmod 755 "$WORK" "$WORK/upstream"
cat > "$WORK/upstream/nginx.conf" <<CONF
worker_processes 1;
daemon off;
pid $WORK/upstream/nginx.pid;
error_log $WORK/upstream/error.log warn;
events { worker_connections 4096; }
http {
  access_log off;
  client_body_temp_path $WORK/upstream/body;
  proxy_temp_path $WORK/upstream/proxy;
  fastcgi_temp_path $WORK/upstream/fcgi;
  uwsgi_temp_path $WORK/upstream/uwsgi;
  scgi_temp_path $WORK/upstream/scgi;
  keepalive_requests 10000000;
  keepalive_timeout 300s;
  server {
    listen 127.0.0.1:$UPSTREAM_PORT reuseport backlog=4096;
    location / { return 200 "hello from the upstream\n"; }
  }
}
CONF
ISS=https://idp.bench.local AUD=legacy-app
python3 - "$WORK/gh" "$ISS" "$AUD" <<'PY'
import sys
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from joserfc import jwt
from joserfc.jwk import ECKey
out, iss, aud = sys.argv[1:4]
private = ec.generate_private_key(ec.SECP256R1())
open(f"{out}/es256.pub.pem", "wb").write(private.public_key().public_bytes(
    serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo))
key = ECKey.import_key(private.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                             serialization.NoEncryption()))
claims = {"iss": iss, "aud": aud, "sub": "bench", "email": "bench@bench.local", "groups": ["staff"],
          "iat": 1700000000, "exp": 4102444800}
open(f"{out}/es256.jwt", "w").write(jwt.encode({"alg": "ES256"}, claims, key, algorithms=["ES256"]))
PY
PASSWORD=bench-password-123
HASH=$(htpasswd -nbB -C 10 bench "$PASSWORD" | cut -d: -f2-)
cat > "$WORK/gh/users.yaml" <<CONF
users:
  bench:
    password: "$HASH"
    email: bench@bench.local
    groups: [staff]
CONF
cat > "$WORK/gh/gatehouse.yaml" <<CONF
server:
  listen: ["127.0.0.1:$PORT"]
  workers: 1
  limits: { idle_timeout: 300s }
access_log:
  path: "off"
upstreams:
  app:
    servers: ["127.0.0.1:$UPSTREAM_PORT"]
    keepalive: 128
    keepalive_timeout: 300s
tokens:
  issuers:
    - issuer: "$ISS"
      audiences: ["$AUD"]
      keys:
        - { pem_file: $WORK/gh/es256.pub.pem }
login:
  users_file: $WORK/gh/users.yaml
  rate_limit: { failures: 0 }
sessions:
  embedded: { path: $WORK/gh/sessions.sqlite }
routes:
  - { name: session, match: { path_prefix: /session }, upstream: app, accept: [session] }
  - { name: jwt, match: { path_prefix: /jwt }, upstream: app, accept: [bearer] }
  - { name: public, match: { path_prefix: / }, upstream: app, auth: none }
CONF
spawn "$LOAD_CPU" nginx -p "$WORK/upstream" -c "$WORK/upstream/nginx.conf" -e "$WORK/upstream/error.log" & PIDS+=($!)
spawn "$PROXY_CPU" "$GATEHOUSE" run --config "$WORK/gh/gatehouse.yaml" >/dev/null 2>"$WORK/gh/stderr" & PIDS+=($!)
GH_PID=$!
for _ in $(seq 50); do curl -fs -o /dev/null "http://127.0.0.1:$PORT/" && break; sleep 0.1; done
COOKIE=$(curl -s -D - -o /dev/null --data-urlencode username=bench --data-urlencode "password=$PASSWORD" \
  "http://127.0.0.1:$PORT/.gatehouse/login" | tr -d '\r' | awk -F': ' 'tolower($1)=="set-cookie" {split($2,a,";"); print a[1]}')
[[ $COOKIE == gatehouse_session=* ]] || die "sign-in failed: $(cat "$WORK/gh/stderr")"
TOKEN=$(cat "$WORK/gh/es256.jwt")

declare -A URL=() HEADER=()
TARGETS=(public jwt-cached session)
URL[public]="http://127.0.0.1:$PORT/"; HEADER[public]="X-Bench: 1"
URL[jwt-cached]="http://127.0.0.1:$PORT/jwt/"; HEADER[jwt-cached]="Authorization: Bearer $TOKEN"
URL[session]="http://127.0.0.1:$PORT/session/"; HEADER[session]="Cookie: $COOKIE"
for t in "${TARGETS[@]}"; do
  body=$(curl -fsS -m 5 -H "${HEADER[$t]}" "${URL[$t]}") || die "$t: pre-flight failed"
  [[ $body == "hello from the upstream" ]] || die "$t: unexpected body"
done
code=$(curl -s -o /dev/null -w '%{http_code}' -H 'Cookie: gatehouse_session=AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA' "${URL[session]}")
[[ $code == 401 ]] || die "a made-up session cookie got $code"
cpu_ticks() { awk '{ print $14 + $15 }' "/proc/$1/stat"; }
wrk_run() { pin "$LOAD_CPU" wrk -t1 -c"$2" -d"$3" -H "${HEADER[$1]}" "${@:4}" "${URL[$1]}"; }
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
print(f"{'target':<12} {'req/s':>9} {'p50 ms':>7} {'p99 ms':>7} {'cpu us/req':>10} {'errors':>6}")
for t, rs in rows.items():
    m = med[t]
    cpu = statistics.median(r["ticks"] / hz * 1e6 / (r["rps"] * dur) for r in rs)
    print(f"{t:<12} {m['rps']:>9.0f} {m['p50_us']/1000:>7.2f} {m['p99_us']/1000:>7.2f} {cpu:>10.1f} "
          f"{sum(r['errors'] for r in rs):>6.0f}")
print(f"session / jwt-cached: {med['session']['rps']/med['jwt-cached']['rps']:.2f} (goal >= 0.95); "
      f"session / public: {med['session']['rps']/med['public']['rps']:.2f}")
PY

# The storm: STORM clients signing in back to back (form POST, bcrypt cost 10) while wrk measures the session route.
storm_latency() {  # prints "p50_ms p99_ms rps"
  pin "$LOAD_CPU" wrk -t1 -c"$CONNS_STORM" -d"$STORM_DURATION" --latency -H "${HEADER[session]}" "${URL[session]}" \
    | awk '/^ +50%/ {p50=$2} /^ +99%/ {p99=$2} /Requests\/sec/ {rps=$2} END {print p50, p99, rps}'
}
log "sign-in storm: wrk -c$CONNS_STORM on the session route, without and with $STORM concurrent sign-in loops"
quiet=$(storm_latency)
STOP="$WORK/stop-storm"
pin "$LOAD_CPU" python3 - "$PORT" "$PASSWORD" "$STORM" "$STOP" "$WORK/storm.out" <<'PY' &
import os, sys, threading, time, http.client, urllib.parse
port, password, n, stop, out = int(sys.argv[1]), sys.argv[2], int(sys.argv[3]), sys.argv[4], sys.argv[5]
body = urllib.parse.urlencode({"username": "bench", "password": password})
counts = {"ok": 0, "other": 0}; lat = []; lock = threading.Lock()
def loop():
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    while not os.path.exists(stop):
        t0 = time.monotonic()
        conn.request("POST", "/.gatehouse/login", body, {"Content-Type": "application/x-www-form-urlencoded"})
        r = conn.getresponse(); r.read()
        with lock:
            counts["ok" if r.status == 303 else "other"] += 1; lat.append(time.monotonic() - t0)
threads = [threading.Thread(target=loop) for _ in range(n)]
for t in threads: t.start()
for t in threads: t.join()
lat.sort()
with open(out, "w") as f:
    f.write(f"sign-ins: {counts['ok']} ok, {counts['other']} other; sign-in latency p50 "
            f"{lat[len(lat)//2]*1000:.0f} ms, p99 {lat[int(len(lat)*0.99)]*1000:.0f} ms\n")
PY
STORM_PID=$!
sleep 2
stormy=$(storm_latency)
touch "$STOP"
wait "$STORM_PID" || true
read -r q50 q99 qrps <<<"$quiet"
read -r s50 s99 srps <<<"$stormy"
cat "$WORK/storm.out"
python3 - "$q50" "$q99" "$qrps" "$s50" "$s99" "$srps" <<'PY'
import sys
def ms(v):  # wrk prints 1.23ms / 850.00us / 1.20s
    for unit, f in (("us", 1e-3), ("ms", 1.0), ("s", 1e3)):
        if v.endswith(unit): return float(v[:-len(unit)]) * f
q50, q99, qrps, s50, s99, srps = sys.argv[1:]
print(f"session route without storm: p50 {ms(q50):.2f} ms, p99 {ms(q99):.2f} ms, {float(qrps):.0f} req/s")
print(f"session route during storm:  p50 {ms(s50):.2f} ms, p99 {ms(s99):.2f} ms, {float(srps):.0f} req/s")
print(f"p99 during storm / without: {ms(s99)/ms(q99):.2f} (goal <= 2)")
PY
