#!/usr/bin/env bash
# Instructions per proxied request (valgrind callgrind), on one gatehouse process (workers: 1) in front of an
# nginx upstream, for three routes:
#   none      auth: none (the proxy alone)
#   jwt       ES256 bearer token, verified-token cache on (the same token repeated)
#   session   the gateway's session cookie (embedded store)
# Instruction counts are repeatable on a shared machine where wall-clock timings are not. For each route:
# warm up, zero the counters (callgrind_control -z), send COUNT keep-alive HTTP/1.1 requests over CONNS
# connections (a fixed count, not a duration), dump the counters; an idle interval of the same length is
# measured once and subtracted (timers). Prints per route: Ir/request, and allocations per request
# (allocs/req = malloc + calloc + realloc + posix_memalign + aligned_alloc calls, from any caller: Swift's
# allocations and libevent's both end there; then the malloc, calloc, realloc and free calls alone). Paste
# the table into an issue note as it is. The dumps stay in OUT for callgrind_annotate (OUT/cg.out.N, one per
# interval, in the order printed), e.g. who allocates:
#   callgrind_annotate --tree=caller OUT/cg.out.1 | swift demangle --simplified | grep -B8 '\* .*malloc.c:malloc '
# Keep COUNT and CONNS the same when comparing two builds.
# ASSERTION=1: /jwt and /session add the signed identity assertion (`assertion_bench_yaml`), and two more routes
# are measured, plain-jwt and plain-session: the same without it (the assertion's cost is the difference).
#
#   bench/callgrind.sh                 COUNT=5000 CONNS=4 OUT=/tmp/gatehouse-callgrind
#   GATEHOUSE=.build/release/gatehouse bench/callgrind.sh
#
# Loopback only; every process started here is stopped by PID on exit. Not a benchmark of speed: run
# bench/run.sh for that.
set -euo pipefail
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd "$HERE/.." && pwd)
COUNT=${COUNT:-5000}
CONNS=${CONNS:-4}
PIN=${PIN:-0}
BASE_PORT=${BASE_PORT:-19800}
OUT=${OUT:-/tmp/gatehouse-callgrind}
GATEHOUSE=${GATEHOUSE:-}

source "$HERE/common.sh"
command -v valgrind >/dev/null && command -v nginx >/dev/null && command -v htpasswd >/dev/null \
  || die "needs valgrind, nginx and htpasswd (apache2-utils)"
python3 -c 'import joserfc, cryptography' 2>/dev/null || pip install -q joserfc cryptography
build_gatehouse
start_work ghcallgrind
rm -rf "$OUT"; mkdir -p "$OUT"
UPSTREAM_PORT=$(free_port "$BASE_PORT")
PORT=$(free_port $((UPSTREAM_PORT + 1)))
session_bench_files 4  # bcrypt cost 4: the one sign-in runs under valgrind too
ROUTES=(none jwt session)
if [[ ${ASSERTION:-0} == 1 ]]; then
  assertion_bench_yaml "$WORK/gh"
  ROUTES+=(plain-jwt plain-session)
fi
spawn 0 nginx -p "$WORK/upstream" -c "$WORK/upstream/nginx.conf" -e "$WORK/upstream/error.log" & PIDS+=($!)
# valgrind 3.19 cannot read the DWARF 5 the Swift toolchain writes: profile a copy without debug info (its
# symbol table stays, so functions keep their names; `swift demangle` reads them).
strip --strip-debug -o "$WORK/gatehouse" "$GATEHOUSE"
spawn 1 valgrind --tool=callgrind --callgrind-out-file="$OUT/cg.out" \
  "$WORK/gatehouse" run --config "$WORK/gh/gatehouse.yaml" >/dev/null 2>"$WORK/gh/stderr" & PIDS+=($!)
GH_PID=$!
for _ in $(seq 600); do
  curl -fs -o /dev/null "http://127.0.0.1:$PORT/" && break
  kill -0 "$GH_PID" 2>/dev/null || break
  sleep 0.2
done
curl -fs -o /dev/null "http://127.0.0.1:$PORT/" || die "gatehouse did not start: $(cat "$WORK/gh/stderr")"
COOKIE=$(curl -s -D - -o /dev/null --data-urlencode username=bench --data-urlencode "password=$PASSWORD" \
  "http://127.0.0.1:$PORT/.gatehouse/login" | tr -d '\r' | awk -F': ' 'tolower($1)=="set-cookie" {split($2,a,";"); print a[1]}')
[[ $COOKIE == gatehouse_session=* ]] || die "sign-in failed: $(cat "$WORK/gh/stderr")"
TOKEN=$(cat "$WORK/gh/es256.jwt")

# COUNT requests in total over CONNS keep-alive connections; fails unless every answer is a 200.
load() {  # PATH HEADER COUNT
  python3 - "$PORT" "$1" "$2" "$3" "$CONNS" <<'PY'
import socket, sys, threading
port, path, header, count, conns = int(sys.argv[1]), sys.argv[2], sys.argv[3], int(sys.argv[4]), int(sys.argv[5])
request = (f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nUser-Agent: callgrind-bench\r\nAccept: */*\r\n"
           + (f"{header}\r\n" if header else "") + "\r\n").encode()
failures = []
def run(n):
    s = socket.create_connection(("127.0.0.1", port))
    f = s.makefile("rb")
    for _ in range(n):
        s.sendall(request)
        status = f.readline()
        length = 0
        while (line := f.readline()) not in (b"\r\n", b""):
            name, _, value = line.partition(b":")
            if name.strip().lower() == b"content-length":
                length = int(value)
        f.read(length)
        if b" 200 " not in status:
            failures.append(status)
    s.close()
threads = [threading.Thread(target=run, args=(count // conns + (i < count % conns),)) for i in range(conns)]
for t in threads: t.start()
for t in threads: t.join()
if failures:
    sys.exit(f"{len(failures)} answers were not 200, e.g. {failures[0]!r}")
PY
}
# Dumps the counters since the last zeroing (callgrind numbers the files .1, .2, ...); prints their total Ir.
dump() {  # LABEL
  local next; next=$(( $(find "$OUT" -name 'cg.out.*' | wc -l) + 1 ))
  callgrind_control -d "$1" "$GH_PID" >/dev/null
  for _ in $(seq 100); do grep -q '^totals:' "$OUT/cg.out.$next" 2>/dev/null && break; sleep 0.1; done
  awk '/^totals:/ {print $2}' "$OUT/cg.out.$next"
}
measure() {  # NAME PATH HEADER
  load "$2" "$3" 200
  callgrind_control -z "$GH_PID" >/dev/null
  local start end ir
  start=$(date +%s.%N)
  load "$2" "$3" "$COUNT"
  end=$(date +%s.%N)
  ir=$(dump "$1")
  ELAPSED[$1]=$(echo "$end - $start" | bc)
  IR[$1]=$ir
}
declare -A IR=() ELAPSED=()
measure none /public/ ""
measure jwt /jwt/ "Authorization: Bearer $TOKEN"
measure session /session/ "Cookie: $COOKIE"
if [[ ${ASSERTION:-0} == 1 ]]; then
  measure plain-jwt /jw2/ "Authorization: Bearer $TOKEN"
  measure plain-session /sessio2/ "Cookie: $COOKIE"
fi
callgrind_control -z "$GH_PID" >/dev/null
sleep 5
IDLE=$(dump idle)
# Calls of each FUNCTION in a dump, space-separated (callgrind names a function once, by number after that).
calls_of() {  # FILE FUNCTION...
  python3 - "$@" <<'PY'
import re, sys
wanted = sys.argv[2:]
names, callee, total = {}, None, dict.fromkeys(wanted, 0)
for line in open(sys.argv[1]):
    m = re.match(r"cfn=\((\d+)\)(?: (.*))?", line.rstrip("\n"))
    if m:
        if m.group(2): names[m.group(1)] = m.group(2)
        callee = names.get(m.group(1))
    elif line.startswith("fn="):
        m = re.match(r"fn=\((\d+)\) (.*)", line.rstrip("\n"))
        if m: names[m.group(1)] = m.group(2)
    elif line.startswith("calls=") and callee in total:
        total[callee] += int(line[6:].split()[0])
print(" ".join(str(total[w]) for w in wanted))
PY
}
# Allocations are counted from the same dumps: every call into the C allocator during the interval, whoever
# made it (Swift objects and arrays go through swift_slowAlloc to malloc, or to posix_memalign/aligned_alloc
# when over-aligned; libevent's evbuffer chains and events call malloc, calloc and realloc directly).
printf '%-13s %12s %8s %10s %9s %8s %8s %8s %8s\n' route Ir seconds Ir/request allocs/req malloc calloc realloc free
n=0
for r in "${ROUTES[@]}"; do
  n=$((n + 1))
  read -r m c re pm aa f <<<"$(calls_of "$OUT/cg.out.$n" malloc calloc realloc posix_memalign aligned_alloc free)"
  per() { echo "$1 / $COUNT" | bc -l; }
  printf '%-13s %12d %8.1f %10.0f %9.2f %8.2f %8.2f %8.2f %8.2f\n' "$r" "${IR[$r]}" "${ELAPSED[$r]}" \
    "$(echo "(${IR[$r]} - $IDLE * ${ELAPSED[$r]} / 5) / $COUNT" | bc -l)" \
    "$(per "($m + $c + $re + $pm + $aa)")" "$(per "$m")" "$(per "$c")" "$(per "$re")" "$(per "$f")"
done
log "idle: $IDLE Ir over 5 s; dumps in $OUT (cg.out.1 none, .2 jwt, .3 session, then plain-jwt and plain-session with ASSERTION=1, then idle)"
