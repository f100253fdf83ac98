#!/usr/bin/env bash
# Assertion benchmark (issue 13 part 2, bar: "assertion on >= 0.95x req/s of the same route without it, same
# run"): one gatehouse process (one worker), interleaved rounds of wrk on four routes of the same config:
#   plain-jwt       (/jw2/) ES256 bearer token, verified-token cache on, no assertion (`assertion: false`)
#   jwt             the same route with the signed assertion (ES256, cached per identity: one signature per TTL)
#   plain-session   (/sessio2/) the gateway's session cookie, no assertion
#   session         the same with the assertion
# Reports medians, CPU time per request and the ratios jwt/plain-jwt and session/plain-session.
#
#   bench/assertion.sh            ROUNDS=5 DURATION=4s CONNS=64 PIN=1
#
# PIN=1: gatehouse alone on CPU 1; wrk and the nginx upstream on CPU 0. Loopback only; every process started
# here is stopped on exit.
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
command -v wrk >/dev/null && command -v nginx >/dev/null && command -v htpasswd >/dev/null \
  || die "needs wrk, nginx and htpasswd (apache2-utils)"
python3 -c 'import joserfc, cryptography' 2>/dev/null || pip install -q joserfc cryptography
build_gatehouse
start_work ghassert
UPSTREAM_PORT=$(free_port "$BASE_PORT")
PORT=$(free_port $((UPSTREAM_PORT + 1)))
session_bench_files 4
assertion_bench_yaml "$WORK/gh"
spawn "$LOAD_CPU" nginx -p "$WORK/upstream" -c "$WORK/upstream/nginx.conf" -e "$WORK/upstream/error.log" & PIDS+=($!)
spawn "$PROXY_CPU" "$GATEHOUSE" run --config "$WORK/gh/gatehouse.yaml" >/dev/null 2>"$WORK/gh/stderr" & PIDS+=($!)
GH_PID=$!
for _ in $(seq 100); do curl -fs -o /dev/null "http://127.0.0.1:$PORT/" && break; sleep 0.1; done
COOKIE=$(curl -s -D - -o /dev/null --data-urlencode username=bench --data-urlencode "password=$PASSWORD" \
  "http://127.0.0.1:$PORT/.gatehouse/login" | tr -d '\r' | awk -F': ' 'tolower($1)=="set-cookie" {split($2,a,";"); print a[1]}')
[[ $COOKIE == gatehouse_session=* ]] || die "sign-in failed: $(cat "$WORK/gh/stderr")"
TOKEN=$(cat "$WORK/gh/es256.jwt")
declare -A HEADER=() URLPATH=([plain-jwt]=/jw2/ [jwt]=/jwt/ [plain-session]=/sessio2/ [session]=/session/)
TARGETS=(plain-jwt jwt plain-session session)
HEADER[plain-jwt]="Authorization: Bearer $TOKEN"; HEADER[jwt]=${HEADER[plain-jwt]}
HEADER[plain-session]="Cookie: $COOKIE"; HEADER[session]=${HEADER[plain-session]}
for t in "${TARGETS[@]}"; do
  [[ $(curl -fsS -m 5 -H "${HEADER[$t]}" "http://127.0.0.1:$PORT${URLPATH[$t]}") == "hello from the upstream" ]] \
    || die "$t: pre-flight failed"
done
wrk_run() { pin "$LOAD_CPU" wrk -t1 -c"$CONNS" -d"$2" -H "${HEADER[$1]}" "${@:3}" "http://127.0.0.1:$PORT${URLPATH[$1]}"; }
RAW="$WORK/raw.tsv"
: > "$RAW"
log "$ROUNDS rounds of wrk -t1 -c$CONNS -d$DURATION per target"
for t in "${TARGETS[@]}"; do wrk_run "$t" 2s >/dev/null; done
for ((round = 0; round < ROUNDS; round++)); do
  for ((i = 0; i < ${#TARGETS[@]}; i++)); do
    t=${TARGETS[$(((i + round) % ${#TARGETS[@]}))]}
    before=$(awk '{ print $14 + $15 }' "/proc/$GH_PID/stat")
    line=$(wrk_run "$t" "$DURATION" -s "$HERE/report.lua" | grep '^RESULT')
    after=$(awk '{ print $14 + $15 }' "/proc/$GH_PID/stat")
    printf '%s\t%s\t%s ticks=%s\n' "$round" "$t" "$line" "$((after - before))" >> "$RAW"
  done
done
DURATION_S=${DURATION%s} python3 - "$RAW" <<'PY'
import sys, statistics, collections, os
rows = collections.defaultdict(list)
for line in open(sys.argv[1]):
    _, target, result = line.rstrip("\n").split("\t")
    rows[target].append({k: float(v) for k, v in (p.split("=") for p in result.split()[1:])})
hz, dur = os.sysconf("SC_CLK_TCK"), float(os.environ["DURATION_S"])
print(f"{'target':<14} {'req/s':>9} {'p99 ms':>7} {'cpu us/req':>10} {'errors':>6}")
rps = {}
for t, rs in rows.items():
    rps[t] = statistics.median(r["rps"] for r in rs)
    cpu = statistics.median(r["ticks"] / hz * 1e6 / (r["rps"] * dur) for r in rs)
    print(f"{t:<14} {rps[t]:>9.0f} {statistics.median(r['p99_us'] for r in rs)/1000:>7.2f} {cpu:>10.1f} "
          f"{sum(r['errors'] for r in rs):>6.0f}")
print(f"jwt / plain-jwt: {rps['jwt']/rps['plain-jwt']:.3f}; session / plain-session: "
      f"{rps['session']/rps['plain-session']:.3f} (goal >= 0.95)")
PY
