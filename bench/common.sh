# Shared by bench/*.sh (sourced): logging, the release build, the work directory with every started process
# stopped by PID on exit, CPU pinning and free loopback ports; and the setup sessions.sh and callgrind.sh share
# (the nginx upstream, an ES256 token, a users file, the three-route gateway). Needs ROOT and PIN set by the caller.

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
  if [[ ${KEEP_WORK:-0} == 1 ]]; then log "kept $WORK (KEEP_WORK=1)"; else rm -rf "$WORK"; fi
}
pin() { if [[ $PIN == 1 ]]; then taskset -c "$1" "${@:2}"; else "${@:2}"; fi; }
# For background servers: exec, so $! is the server's own PID (stopped by PID on exit).
spawn() { if [[ $PIN == 1 ]]; then exec taskset -c "$1" "${@:2}"; else exec "${@:2}"; fi; }
free_port() {
  local p=$1
  while ss -ltn "( sport = :$p )" | grep -q ":$p"; do p=$((p + 1)); done
  echo "$p"
}

# The upstream of the benches: nginx answering every request with 200 and a short body, keep-alive for ever.
upstream_nginx_conf() {  # DIR PORT (writes DIR/nginx.conf)
  local dir=$1 port=$2
  cat > "$dir/nginx.conf" <<CONF
worker_processes 1;
daemon off;
pid $dir/nginx.pid;
error_log $dir/error.log warn;
events { worker_connections 4096; }
http {
  access_log off;
  client_body_temp_path $dir/body;
  proxy_temp_path $dir/proxy;
  fastcgi_temp_path $dir/fcgi;
  uwsgi_temp_path $dir/uwsgi;
  scgi_temp_path $dir/scgi;
  keepalive_requests 10000000;
  keepalive_timeout 300s;
  server {
    listen 127.0.0.1:$port reuseport backlog=4096;
    location / { return 200 "hello from the upstream\n"; }
  }
}
CONF
}

# An ES256 key and one token from it for ISS and AUD, made by joserfc (not by the gateway's own code):
# DIR/es256.pub.pem (what the gateway is configured with) and DIR/es256.jwt.
es256_token() {  # DIR ISS AUD
  python3 - "$1" "$2" "$3" <<'PY'
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
}

# DIR/users.yaml with one user, bench, whose password is PASSWORD (bcrypt, COST).
bench_users() {  # DIR PASSWORD COST
  local hash; hash=$(htpasswd -nbB -C "$3" bench "$2" | cut -d: -f2-)
  cat > "$1/users.yaml" <<CONF
users:
  bench:
    password: "$hash"
    email: bench@bench.local
    groups: [staff]
CONF
}

# DIR/gatehouse.yaml: one worker on PORT in front of UPSTREAM_PORT, the ES256 issuer of `es256_token DIR`,
# sign-in with `bench_users DIR`, the embedded store, and three routes: /session (session cookie), /jwt
# (bearer) and / (auth: none).
session_gateway_yaml() {  # DIR PORT UPSTREAM_PORT ISS AUD
  local dir=$1 port=$2 upstream_port=$3 iss=$4 aud=$5
  cat > "$dir/gatehouse.yaml" <<CONF
server:
  listen: ["127.0.0.1:$port"]
  workers: 1
  limits: { idle_timeout: 300s }
access_log:
  path: "off"
upstreams:
  app:
    servers: ["127.0.0.1:$upstream_port"]
    keepalive: 128
    keepalive_timeout: 300s
tokens:
  issuers:
    - issuer: "$iss"
      audiences: ["$aud"]
      keys:
        - { pem_file: $dir/es256.pub.pem }
login:
  users_file: $dir/users.yaml
  rate_limit: { failures: 0 }
sessions:
  embedded: { path: $dir/sessions.sqlite }
routes:
  - { name: session, match: { path_prefix: /session }, upstream: app, accept: [session] }
  - { name: jwt, match: { path_prefix: /jwt }, upstream: app, accept: [bearer] }
  - { name: public, match: { path_prefix: / }, upstream: app, auth: none }
CONF
}

# Everything the session benches start from, in WORK: upstream/nginx.conf on UPSTREAM_PORT, and in gh/ the token
# (ISS, AUD), the users file (PASSWORD, bcrypt COST) and the gateway on PORT. Sets ISS, AUD and PASSWORD.
session_bench_files() {  # COST
  mkdir -p "$WORK/upstream" "$WORK/gh"
  chmod 755 "$WORK" "$WORK/upstream"
  upstream_nginx_conf "$WORK/upstream" "$UPSTREAM_PORT"
  ISS=https://idp.bench.local AUD=legacy-app PASSWORD=bench-password-123
  es256_token "$WORK/gh" "$ISS" "$AUD"
  bench_users "$WORK/gh" "$PASSWORD" "$1"
  session_gateway_yaml "$WORK/gh" "$PORT" "$UPSTREAM_PORT" "$ISS" "$AUD"
}

# The assertion benches (bench/assertion.sh, callgrind.sh ASSERTION=1): DIR/gatehouse.yaml of
# `session_gateway_yaml` gets a top-level `assertion` (an ES256 key made here), so /jwt and /session add the
# signed assertion, and two more routes, /jw2 and /sessio2 (paths as long, so path work is equal), the same
# without it (`assertion: false`).
assertion_bench_yaml() {  # DIR
  openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$1/assert.pem" 2>/dev/null
  sed -i 's|^routes:$|routes:\
  - { name: plain-jwt, match: { path_prefix: /jw2 }, upstream: app, accept: [bearer], assertion: false }\
  - { name: plain-session, match: { path_prefix: /sessio2 }, upstream: app, accept: [session], assertion: false }|' \
    "$1/gatehouse.yaml"
  printf 'assertion:\n  audience: bench-app\n  signing_key: { pem_file: %s/assert.pem }\n' "$1" >> "$1/gatehouse.yaml"
}
