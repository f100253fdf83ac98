# Shared by bench/*.sh (sourced): logging, the release build, the work directory with every started process
# stopped by PID on exit, CPU pinning and free loopback ports. Needs ROOT and PIN set by the caller.

log() { printf '%s %s\n' "$(date +%H:%M:%S)" "$*" >&2; }
die() { log "ERROR: $*"; exit 1; }

# Sets GATEHOUSE to a release binary (built into .build-release unless GATEHOUSE is given).
build_gatehouse() {
  if [[ -z ${GATEHOUSE:-} ]]; then
    log "building gatehouse (release)"
    (cd "$ROOT" && swift build -c release --product gatehouse --scratch-path .build-release >/dev/null)
    GATEHOUSE="$ROOT/.build-release/release/gatehouse"
  fi
}

# Makes WORK (removed on exit) and PIDS (every PID in it is stopped on exit).
start_work() {  # PREFIX
  WORK=$(mktemp -d -t "$1.XXXXXX")
  PIDS=()
  trap cleanup EXIT
  trap "exit 130" INT TERM
}
cleanup() {
  for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done
  sleep 0.5
  for pid in "${PIDS[@]}"; do kill -9 "$pid" 2>/dev/null || true; done
  rm -rf "$WORK"
}
pin() { if [[ $PIN == 1 ]]; then taskset -c "$1" "${@:2}"; else "${@:2}"; fi; }
# For background servers: exec, so $! is the server's own PID (stopped by PID on exit).
spawn() { if [[ $PIN == 1 ]]; then exec taskset -c "$1" "${@:2}"; else exec "${@:2}"; fi; }
free_port() {
  local p=$1
  while ss -ltn "( sport = :$p )" | grep -q ":$p"; do p=$((p + 1)); done
  echo "$p"
}
