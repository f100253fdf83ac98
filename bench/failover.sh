#!/usr/bin/env bash
# Failover benchmark (issue 15), two parts:
#
# 1. req/s and failed requests through a Redis failover: a Redis master, one replica and three sentinels
#    (down-after-milliseconds DOWN_AFTER) on loopback, one gatehouse on them (sessions.redis.sentinel), and
#    `wrk -c$CONNS -d$DURATION` on a session route with a signed-in cookie, three times: no failover (baseline),
#    SENTINEL FAILOVER at AT seconds, kill -9 of the master at AT seconds. Each run with the per-worker cache
#    (the default) and without it (cache_ttl: 0: every request asks Redis, so the switch shows). "failed" =
#    answers that are not 2xx/3xx (the 503s with Retry-After of the switch) plus socket errors.
# 2. Sessions per second one Redis serves (the figure of the Redis Cluster plan in docs/configuration.md):
#    redis-benchmark running the store's own `create` and `fetch` Lua scripts (taken from
#    Sources/GatehouseSessions/Redis/RedisScripts.swift) with random session IDs, CLIENTS clients, pipeline
#    PIPELINE, REQUESTS calls each.
#
#   bench/failover.sh            CONNS=64 DURATION=15s AT=5 DOWN_AFTER=1000 PIN=1
#                                EVENTS="none failover kill" CACHES="cached nocache" REPLICA_ACK=auto KEEP_WORK=0
#
# PIN=1: gatehouse alone on CPU 1; wrk, the upstream, Redis and the sentinels on CPU 0. Loopback only; every
# process started here is stopped on exit.
set -euo pipefail
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd "$HERE/.." && pwd)
CONNS=${CONNS:-64}
DURATION=${DURATION:-15s}
AT=${AT:-5}
DOWN_AFTER=${DOWN_AFTER:-1000}
REQUESTS=${REQUESTS:-200000}
CLIENTS=${CLIENTS:-16}
PIPELINE=${PIPELINE:-16}
PIN=${PIN:-1}
LOAD_CPU=${LOAD_CPU:-0}
PROXY_CPU=${PROXY_CPU:-1}
BASE_PORT=${BASE_PORT:-19700}
GATEHOUSE=${GATEHOUSE:-}
PART=${PART:-all}   # all, failover, redis
EVENTS=${EVENTS:-none failover kill}
CACHES=${CACHES:-cached nocache}

source "$HERE/common.sh"
for tool in wrk nginx htpasswd redis-sentinel redis-benchmark; do
  command -v "$tool" >/dev/null || {
    log "installing wrk, nginx, apache2-utils, redis-sentinel, redis-tools"
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq wrk nginx apache2-utils \
      redis-server redis-sentinel redis-tools >/dev/null
    break
  }
done
start_work ghfail

# --- part 2 first (needs nothing but Redis): sessions per second of one Redis --------------------------------
redis_part() {
  local port; port=$(free_port "$BASE_PORT")
  spawn "$LOAD_CPU" redis-server --port "$port" --bind 127.0.0.1 --save "" --appendonly no >/dev/null & PIDS+=($!)
  for _ in $(seq 50); do redis-cli -p "$port" PING >/dev/null 2>&1 && break; sleep 0.1; done
  # The scripts exactly as the gateway sends them: the shared prelude, then the body.
  python3 - "$ROOT/Sources/GatehouseSessions/Redis/RedisScripts.swift" "$WORK" <<'PY'
import re, sys, textwrap
src = open(sys.argv[1]).read()
def block(pattern):
    m = re.search(pattern + r'\s*"""\n(.*?)\n(\s*)"""', src, re.S)
    body, indent = m.group(1), m.group(2)
    return "\n".join(line[len(indent):] if line.startswith(indent) else line.lstrip() for line in body.split("\n"))
prelude = block(r'static let prelude =')
for name in ("create", "fetch"):
    open(f"{sys.argv[2]}/{name}.lua", "w").write(prelude + "\n" + block(rf'static let {name} = RedisScript\(name: "{name}", body:'))
PY
  local create fetch now until
  create=$(redis-cli -p "$port" SCRIPT LOAD "$(cat "$WORK/create.lua")")
  fetch=$(redis-cli -p "$port" SCRIPT LOAD "$(cat "$WORK/fetch.lua")")
  [[ ${#create} == 40 && ${#fetch} == 40 ]] || die "SCRIPT LOAD failed: $create $fetch"
  now=$(date +%s); until=$((now + 43200))
  bench() { pin "$LOAD_CPU" redis-benchmark -p "$port" -q -n "$REQUESTS" -c "$CLIENTS" -P "$PIPELINE" -r "$REQUESTS" "$@" \
              | tr '\r' '\n' | grep -E 'requests per second' | tail -1 | sed 's/.*: \([0-9.]* requests per second\)/\1/'; }
  log "one Redis: the create script ($REQUESTS calls, random IDs)"
  local c f
  c=$(bench EVALSHA "$create" 1 "b:s:__rand_int__" "b:" "$now" 0 "$until" "__rand_int__" \
        h "h__rand_int__" k cookie u "user__rand_int__" g staff c "$now" l "$now" x "$until" i 3600 a bench ip 127.0.0.1)
  local sessions; sessions=$(redis-cli -p "$port" --scan --pattern 'b:s:*' | wc -l)
  log "one Redis: the fetch script ($REQUESTS calls over the same ID space)"
  f=$(bench EVALSHA "$fetch" 1 "b:s:__rand_int__" "b:" "$now" 60 "__rand_int__")
  echo "one Redis (one core), redis-benchmark -c$CLIENTS -P$PIPELINE:"
  echo "  create script: $c   ($sessions sessions made; the other calls hit a taken ID or handle and were refused)"
  echo "  fetch script:  $f   (over the same $REQUESTS IDs: $sessions of them exist)"
}

# --- part 1: through a failover ---------------------------------------------------------------------------
failover_part() {
  build_gatehouse
  UPSTREAM_PORT=$(free_port $((BASE_PORT + 10)))
  PORT=$(free_port $((UPSTREAM_PORT + 1)))
  session_bench_files 10
  local master replica s1 s2 s3
  master=$(free_port $((PORT + 1))); replica=$(free_port $((master + 1)))
  s1=$(free_port $((replica + 1))); s2=$(free_port $((s1 + 1))); s3=$(free_port $((s2 + 1)))
  spawn "$LOAD_CPU" nginx -p "$WORK/upstream" -c "$WORK/upstream/nginx.conf" -e "$WORK/upstream/error.log" & PIDS+=($!)
  declare -gA REDIS_PID=()
  start_redis() {  # PORT [replicaof PORT]
    spawn "$LOAD_CPU" redis-server --port "$1" --bind 127.0.0.1 --save "" --appendonly no \
      ${2:+--replicaof 127.0.0.1 "$2"} >/dev/null & PIDS+=($!)
    REDIS_PID[$1]=$!
    for _ in $(seq 50); do redis-cli -p "$1" PING >/dev/null 2>&1 && break; sleep 0.1; done
  }
  start_redis "$master"
  start_redis "$replica" "$master"
  for _ in $(seq 100); do redis-cli -p "$replica" INFO replication | grep -q master_link_status:up && break; sleep 0.1; done
  for s in "$s1" "$s2" "$s3"; do
    cat > "$WORK/sentinel-$s.conf" <<CONF
port $s
bind 127.0.0.1
dir $WORK
logfile $WORK/sentinel-$s.log
sentinel monitor bench 127.0.0.1 $master 2
sentinel down-after-milliseconds bench $DOWN_AFTER
sentinel failover-timeout bench $((DOWN_AFTER * 2))
CONF
    spawn "$LOAD_CPU" redis-server "$WORK/sentinel-$s.conf" --sentinel >/dev/null & PIDS+=($!)
  done
  settled() {
    local s
    for s in "$s1" "$s2" "$s3"; do
      [[ $(redis-cli -p "$s" SENTINEL sentinels bench 2>/dev/null | grep -c '^name$') == 2 ]] || return 1
      redis-cli -p "$s" SENTINEL replicas bench 2>/dev/null | grep -q '^slave$' || return 1
    done
  }
  for _ in $(seq 200); do settled && break; sleep 0.1; done
  settled || die "the sentinels did not settle"
  master_port() { redis-cli -p "$s1" SENTINEL get-master-addr-by-name bench | tail -1; }

  gateway() {  # DIR PORT CACHE_TTL
    mkdir -p "$WORK/$1"
    sed -e "s|127.0.0.1:$PORT\"|127.0.0.1:$2\"|" \
        -e "s|  embedded: { path: .* }|  store: redis\n  redis: { cache_ttl: $3, replica_ack: ${REPLICA_ACK:-auto}, unknown_cookie_limit: { lookups: 0 }, sentinel: { master: bench, addresses: [\"127.0.0.1:$s1\", \"127.0.0.1:$s2\", \"127.0.0.1:$s3\"] } }|" \
        "$WORK/gh/gatehouse.yaml" > "$WORK/$1/gatehouse.yaml"
    spawn "$PROXY_CPU" "$GATEHOUSE" run --config "$WORK/$1/gatehouse.yaml" >/dev/null 2>"$WORK/$1/stderr" & PIDS+=($!)
    for _ in $(seq 100); do curl -fs -o /dev/null "http://127.0.0.1:$2/" && break; sleep 0.1; done
  }
  sign_in() {  # PORT -> the session cookie
    curl -s -D - -o /dev/null --data-urlencode username=bench --data-urlencode "password=$PASSWORD" \
      "http://127.0.0.1:$1/.gatehouse/login" | tr -d '\r' | awk -F': ' 'tolower($1)=="set-cookie" {split($2,a,";"); print a[1]}'
  }
  local cached_port nocache_port
  cached_port=$(free_port $((s3 + 1))); gateway cached "$cached_port" 5s
  nocache_port=$(free_port $((cached_port + 1))); gateway nocache "$nocache_port" 0
  printf '%-10s %-18s %10s %10s %8s %s\n' cache event "req/s" requests failed "switch (s)"
  local event cache port cookie
  for event in $EVENTS; do
    for cache in $CACHES; do
      [[ $cache == cached ]] && port=$cached_port || port=$nocache_port
      for _ in $(seq 100); do
        cookie=$(sign_in "$port")
        [[ $cookie == gatehouse_session=* ]] && break
        sleep 0.2
      done
      [[ $cookie == gatehouse_session=* ]] || die "sign-in failed: $(tail -5 "$WORK/$cache/stderr")"
      local before; before=$(master_port)
      pin "$LOAD_CPU" wrk -t1 -c"$CONNS" -d"$DURATION" -H "Cookie: $cookie" "http://127.0.0.1:$port/session/" \
        > "$WORK/wrk.txt" &
      local wrk_pid=$! started=""
      sleep "$AT"
      started=$(date +%s.%N)
      case $event in
        failover) redis-cli -p "$s1" SENTINEL FAILOVER bench >/dev/null ;;
        kill) kill -9 "${REDIS_PID[$before]}" ;;
      esac
      local switched="-"
      if [[ $event != none ]]; then
        for _ in $(seq 300); do [[ $(master_port) != "$before" ]] && break; sleep 0.05; done
        for _ in $(seq 1000); do
          curl -fs -o /dev/null -H "Cookie: $cookie" "http://127.0.0.1:$port/session/" && break
          sleep 0.02
        done
        switched=$(python3 -c "import time; print(f'{time.time() - $started:.2f}')")
      fi
      wait "$wrk_pid"
      cp "$WORK/wrk.txt" "$WORK/wrk-$cache-$event.txt"
      python3 - "$WORK/wrk.txt" "$cache" "$event" "$switched" <<'PY'
import re, sys
text = open(sys.argv[1]).read()
rps = float(re.search(r"Requests/sec:\s+([\d.]+)", text).group(1))
total = int(re.search(r"(\d+) requests in", text).group(1))
bad = re.search(r"Non-2xx or 3xx responses: (\d+)", text)
errors = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", text)
failed = (int(bad.group(1)) if bad else 0) + (sum(map(int, errors.groups())) if errors else 0)
print(f"{sys.argv[2]:<10} {sys.argv[3]:<18} {rps:>10.0f} {total:>10} {failed:>8} {sys.argv[4]}")
PY
      # A killed master comes back (as a replica of the new one), so the next run has a replica again.
      if [[ $event == kill ]]; then
        start_redis "$before" "$(master_port)"
        for _ in $(seq 100); do redis-cli -p "$before" INFO replication | grep -q master_link_status:up && break; sleep 0.1; done
      fi
      for _ in $(seq 200); do settled && break; sleep 0.1; done
    done
  done
}

[[ $PART == all || $PART == redis ]] && redis_part
[[ $PART == all || $PART == failover ]] && failover_part
exit 0
