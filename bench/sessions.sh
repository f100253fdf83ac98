#!/usr/bin/env bash
# Sessions benchmark (issue: sign-in and sessions), on one gatehouse process, same run, interleaved rounds:
#   public        route with auth: none (the proxy alone)
#   jwt-cached    ES256 bearer token from an outside issuer, verified-token cache on (the same token repeated)
#   session       the gateway's session cookie (embedded store: hash + in-memory lookup per request)
#   redis-cache   the same on the Redis store with the per-worker cache (a second gatehouse process)
#   redis-nocache the same with cache_ttl: 0 (one Redis command per request; commands counted)
# plus redis-benchmark -t get on the same Redis, and the propagation time of a sign-out between two
# gateways sharing the Redis (p50/p99 over PROPAGATION rounds),
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
PROPAGATION=${PROPAGATION:-200}
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
REDIS_PORT=$(free_port $((PORT + 1)))
PORT_RC=$(free_port $((REDIS_PORT + 1)))
PORT_RN=$(free_port $((PORT_RC + 1)))
PORT_RB=$(free_port $((PORT_RN + 1)))
session_bench_files 10
# The same gateway on the Redis store: with the cache, without it, and a second cached one (propagation).
redis_gateway() {  # DIR PORT CACHE_TTL
  mkdir -p "$WORK/$1"
  sed -e "s|127.0.0.1:$PORT\"|127.0.0.1:$2\"|" \
      -e "s|  embedded: { path: .* }|  store: redis\n  redis: { url: \"redis://127.0.0.1:$REDIS_PORT/0\", cache_ttl: $3 }|" \
      "$WORK/gh/gatehouse.yaml" > "$WORK/$1/gatehouse.yaml"
  spawn "$PROXY_CPU" "$GATEHOUSE" run --config "$WORK/$1/gatehouse.yaml" >/dev/null 2>"$WORK/$1/stderr" & PIDS+=($!)
}
spawn "$LOAD_CPU" nginx -p "$WORK/upstream" -c "$WORK/upstream/nginx.conf" -e "$WORK/upstream/error.log" & PIDS+=($!)
spawn "$LOAD_CPU" redis-server --port "$REDIS_PORT" --bind 127.0.0.1 --save "" --appendonly no >/dev/null & PIDS+=($!)
spawn "$PROXY_CPU" "$GATEHOUSE" run --config "$WORK/gh/gatehouse.yaml" >/dev/null 2>"$WORK/gh/stderr" & PIDS+=($!)
GH_PID=$!
redis_gateway rc "$PORT_RC" 5s; RC_PID=$!
redis_gateway rn "$PORT_RN" 0; RN_PID=$!
redis_gateway rb "$PORT_RB" 5s
for p in "$PORT" "$PORT_RC" "$PORT_RN" "$PORT_RB"; do
  for _ in $(seq 50); do curl -fs -o /dev/null "http://127.0.0.1:$p/" && break; sleep 0.1; done
done
sign_in() {  # PORT -> the session cookie
  curl -s -D - -o /dev/null --data-urlencode username=bench --data-urlencode "password=$PASSWORD" \
    "http://127.0.0.1:$1/.gatehouse/login" | tr -d '\r' | awk -F': ' 'tolower($1)=="set-cookie" {split($2,a,";"); print a[1]}'
}
COOKIE=$(sign_in "$PORT")
[[ $COOKIE == gatehouse_session=* ]] || die "sign-in failed: $(cat "$WORK/gh/stderr")"
COOKIE_REDIS=$(sign_in "$PORT_RC")
[[ $COOKIE_REDIS == gatehouse_session=* ]] || die "sign-in on Redis failed: $(cat "$WORK/rc/stderr")"
TOKEN=$(cat "$WORK/gh/es256.jwt")

declare -A URL=() HEADER=() PID_OF=()
TARGETS=(public jwt-cached session redis-cache redis-nocache)
URL[public]="http://127.0.0.1:$PORT/"; HEADER[public]="X-Bench: 1"
URL[jwt-cached]="http://127.0.0.1:$PORT/jwt/"; HEADER[jwt-cached]="Authorization: Bearer $TOKEN"
URL[session]="http://127.0.0.1:$PORT/session/"; HEADER[session]="Cookie: $COOKIE"
URL[redis-cache]="http://127.0.0.1:$PORT_RC/session/"; HEADER[redis-cache]="Cookie: $COOKIE_REDIS"
URL[redis-nocache]="http://127.0.0.1:$PORT_RN/session/"; HEADER[redis-nocache]="Cookie: $COOKIE_REDIS"
for t in public jwt-cached session; do PID_OF[$t]=$GH_PID; done
PID_OF[redis-cache]=$RC_PID; PID_OF[redis-nocache]=$RN_PID
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
    before=$(cpu_ticks "${PID_OF[$t]}")
    line=$(wrk_run "$t" "$CONNS" "$DURATION" -s "$HERE/report.lua" | grep '^RESULT')
    after=$(cpu_ticks "${PID_OF[$t]}")
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
print(f"redis-cache / session (embedded): {med['redis-cache']['rps']/med['session']['rps']:.2f} (goal >= 0.9); "
      f"redis-nocache / session: {med['redis-nocache']['rps']/med['session']['rps']:.2f}")
PY

# Redis commands per request with the cache off, and Redis's own GET rate on the same machine. Counted: the
# commands the gateway sends (INFO commandstats also counts what a script runs inside itself: the fetch is one
# EVALSHA whose script reads the session hash with one HGETALL, so both are shown).
stat() { redis-cli -p "$REDIS_PORT" INFO commandstats | tr -d '\r' | awk -F'[:=,]' -v c="cmdstat_$1" '$1==c {print $3}'; }
sent() {  # every command but those run inside scripts (hgetall only happens inside the fetch script) and INFO
  redis-cli -p "$REDIS_PORT" INFO commandstats | tr -d '\r' \
    | awk -F'[:=,]' '$1 ~ /^cmdstat_/ && $1 != "cmdstat_hgetall" && $1 != "cmdstat_info" {s+=$3} END {print s+0}'
}
c0=$(sent); h0=$(stat hgetall)
n=$(wrk_run redis-nocache "$CONNS" 3s | awk '/requests in/ {print $1}' | tr -d ,)
c1=$(sent); h1=$(stat hgetall)
echo "redis-nocache: $(( c1 - c0 )) commands sent for $n requests = $(python3 -c "print(f'{($c1-$c0)/$n:.3f}')") per request (goal 1); $(( h1 - h0 )) HGETALL run inside the script"
rb=$(pin "$LOAD_CPU" redis-benchmark -p "$REDIS_PORT" -t get -c "$CONNS" -n 300000 -q | tr '\r' '\n' | awk '/GET:/ {print $2}' | tail -1)
echo "redis-benchmark -t get -c $CONNS: $rb GET/s"

# Propagation: sign in on the cached Redis gateway A, warm gateway B's cache, sign out on A, time until B refuses.
python3 - "$PORT_RC" "$PORT_RB" "$PASSWORD" "$PROPAGATION" <<'PY'
import http.client, sys, time, urllib.parse, statistics
a, b, password, rounds = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3], int(sys.argv[4])
ca, cb = http.client.HTTPConnection("127.0.0.1", a), http.client.HTTPConnection("127.0.0.1", b)
def req(conn, method, path, headers={}, body=None):
    conn.request(method, path, body, headers); r = conn.getresponse(); r.read(); return r
body = urllib.parse.urlencode({"username": "bench", "password": password})
form = {"Content-Type": "application/x-www-form-urlencoded"}
delays = []
for _ in range(rounds):
    r = req(ca, "POST", "/.gatehouse/login", form, body)
    cookie = r.getheader("Set-Cookie").split(";")[0]
    assert req(cb, "GET", "/session/", {"Cookie": cookie}).status == 200
    t0 = time.monotonic()
    assert req(ca, "POST", "/.gatehouse/logout", {"Cookie": cookie, "Content-Length": "0"}).status == 204
    while req(cb, "GET", "/session/", {"Cookie": cookie}).status != 401:
        pass
    delays.append((time.monotonic() - t0) * 1000)
delays.sort()
print(f"sign-out on A refused on B (includes A's logout round trip): p50 {statistics.median(delays):.2f} ms, "
      f"p99 {delays[int(len(delays) * 0.99) - 1]:.2f} ms, max {delays[-1]:.2f} ms over {rounds} (goal p99 <= 100 ms)")
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
