"""The signed identity assertion, checked by an app that trusts nothing but the gateway's published JWKS.

The app verifies `X-Gatehouse-Assertion` with PyJWT (and `cryptography`), an independent JOSE library, against
the JWKS it fetches from the gateway (`PyJWKClient` on `/.gatehouse/jwks.json`), and answers 401 with the error
otherwise. The gateway serves it in proxy mode, and behind the real nginx (`auth_request`) and Caddy
(`forward_auth`) forward-auth configs of docs/forward-auth.md; a forged (re-signed with another key, same `kid`)
and an expired assertion are refused by the app.
"""

import json
import shutil
import subprocess
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import jwt
import pytest
import requests
from cryptography.hazmat.primitives.asymmetric import ec

from conftest import NGINX, PASSWORD, Gateway, Peer, bcrypt_hash, free_port, wait_until

CADDY = shutil.which("caddy")
AUDIENCE = "legacy-app"
ISSUER = "gatehouse"
KID = "assert-1"


class _VerifyingApp(BaseHTTPRequestHandler):
    """What a legacy app adds to trust the gateway: verify the assertion, or refuse the request."""

    jwks = None  # a PyJWKClient on the gateway's JWKS, set once the gateway runs

    def do_GET(self):
        token = self.headers.get("X-Gatehouse-Assertion")
        answer = {"path": self.path, "token": token, "count": len(self.headers.get_all("X-Gatehouse-Assertion") or [])}
        status = 200
        if token is None:
            status, answer["error"] = 401, "missing"
        else:
            try:
                key = self.jwks.get_signing_key_from_jwt(token)
                answer["claims"] = jwt.decode(token, key.key, algorithms=["ES256", "EdDSA"], audience=AUDIENCE,
                                              issuer=ISSUER, options={"require": ["exp", "iat", "iss", "aud", "sub"]})
            except jwt.PyJWTError as error:
                status, answer["error"] = 401, type(error).__name__
        body = json.dumps(answer).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


@pytest.fixture(scope="module")
def app():
    server = ThreadingHTTPServer(("127.0.0.1", 0), _VerifyingApp)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()


GATEWAY = """\
server:
  listen: ["127.0.0.1:0"]
  workers: 1
  trusted_proxies: [127.0.0.1]
admin:
  listen: "127.0.0.1:0"
access_log:
  path: stdout
upstreams:
  app: {{ servers: ["{app}"] }}
login:
  users_file: "{d}/users.yaml"
  rate_limit: {{ failures: 1000, window: 1m }}
sessions:
  embedded: {{ path: "{d}/sessions.sqlite" }}
assertion:
  audience: {audience}
  signing_key: {{ pem_file: "{d}/assert.pem", kid: {kid} }}
routes:
  - {{ name: public, match: {{ path_prefix: /public }}, upstream: app, auth: none }}
  - {{ name: short, match: {{ path_prefix: /short }}, upstream: app, accept: [session], assertion: {{ ttl: 1s }} }}
  - {{ name: app, match: {{ path_prefix: / }}, upstream: app, accept: [session] }}
"""


@pytest.fixture(scope="module")
def gw(workdir, app):
    directory = workdir / "assertion-gateway"
    directory.mkdir()
    (directory / "users.yaml").write_text(
        f'users:\n  alice:\n    password: "{bcrypt_hash(PASSWORD)}"\n    email: alice@example.com\n'
        "    groups: [staff, ops]\n")
    key = subprocess.run(["openssl", "genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256"],
                         capture_output=True, check=True, timeout=30).stdout
    (directory / "assert.pem").write_bytes(key)
    gateway = Gateway(directory, GATEWAY.format(d=directory, app=app.removeprefix("http://"), audience=AUDIENCE,
                                                kid=KID))
    _VerifyingApp.jwks = jwt.PyJWKClient(gateway.url + "/.gatehouse/jwks.json", cache_keys=True)
    yield gateway
    gateway.peer.stop()


@pytest.fixture(scope="module")
def alice(gw):
    session = requests.Session()
    assert gw.sign_in(session).status_code == 303
    return session


def forged(claims):
    """The same claims re-signed with a key the gateway never had, under the gateway's kid."""
    other = ec.generate_private_key(ec.SECP256R1())
    return jwt.encode(claims, other, algorithm="ES256", headers={"kid": KID})


def test_the_jwks_is_published_on_both_listeners(gw):
    public = requests.get(gw.url + "/.gatehouse/jwks.json", timeout=10)
    admin = requests.get(f"http://127.0.0.1:{gw.admin_port}/jwks.json", timeout=10)
    assert public.status_code == admin.status_code == 200
    assert public.json() == admin.json()
    assert [(k["kid"], k["alg"], k["kty"], k["crv"]) for k in public.json()["keys"]] == [(KID, "ES256", "EC", "P-256")]


def test_proxy_mode_the_app_verifies_who_is_asking(gw, alice):
    answer = requests.get(gw.url + "/orders/7", cookies=alice.cookies, timeout=10)
    assert answer.status_code == 200, answer.text
    data = answer.json()
    assert data["count"] == 1
    claims = data["claims"]
    assert (claims["sub"], claims["email"], claims["groups"]) == ("alice", "alice@example.com", ["staff", "ops"])
    assert claims["iss"] == ISSUER and claims["aud"] == AUDIENCE
    assert claims["exp"] - claims["iat"] == 60
    assert len(claims["sid"]) == 22, "a session's handle"
    # Cached: the next request carries the very same token.
    again = requests.get(gw.url + "/orders/8", cookies=alice.cookies, timeout=10).json()
    assert again["token"] == data["token"]


def test_a_forged_assertion_is_refused_by_the_app_and_stripped_by_the_gateway(gw, alice, app):
    real = requests.get(gw.url + "/x", cookies=alice.cookies, timeout=10).json()
    fake = forged({**real["claims"], "sub": "root", "groups": ["admins"]})
    # Straight to the app (the network let someone around the gateway): the signature does not verify.
    direct = requests.get(app + "/x", headers={"X-Gatehouse-Assertion": fake}, timeout=10)
    assert direct.status_code == 401 and direct.json()["error"] == "InvalidSignatureError"
    # A token signed with `none`, or HS256 with the public key, is refused as well.
    none = jwt.encode({**real["claims"], "sub": "root"}, None, algorithm="none", headers={"kid": KID})
    assert requests.get(app + "/x", headers={"X-Gatehouse-Assertion": none}, timeout=10).status_code == 401
    # Through the gateway: the client's copy never arrives; the app sees alice, once.
    through = requests.get(gw.url + "/x", cookies=alice.cookies, timeout=10,
                           headers={"X-Gatehouse-Assertion": fake, "X_Gatehouse_Assertion": fake})
    assert through.status_code == 200
    assert through.json()["claims"]["sub"] == "alice" and through.json()["count"] == 1
    # A public route: no identity, so no assertion, and the forged one is gone too.
    public = requests.get(gw.url + "/public/x", headers={"X-Gatehouse-Assertion": fake}, timeout=10)
    assert public.status_code == 401 and public.json()["error"] == "missing"


def test_an_expired_assertion_is_refused_and_the_gateway_signs_a_new_one(gw, alice, app):
    first = requests.get(gw.url + "/short/a", cookies=alice.cookies, timeout=10).json()
    assert first["claims"]["exp"] - first["claims"]["iat"] == 1
    time.sleep(2.2)
    replayed = requests.get(app + "/short/a", headers={"X-Gatehouse-Assertion": first["token"]}, timeout=10)
    assert replayed.status_code == 401 and replayed.json()["error"] == "ExpiredSignatureError"
    fresh = requests.get(gw.url + "/short/b", cookies=alice.cookies, timeout=10)
    assert fresh.status_code == 200, fresh.text
    assert fresh.json()["token"] != first["token"]


NGINX_CONF = """\
master_process off;
worker_processes 1;
pid {d}/nginx.pid;
error_log {d}/error.log warn;
events {{ worker_connections 256; }}
http {{
  access_log off;
  client_body_temp_path {d}/body;
  proxy_temp_path {d}/proxy;
  fastcgi_temp_path {d}/fcgi;
  uwsgi_temp_path {d}/uwsgi;
  scgi_temp_path {d}/scgi;
  server {{
    listen 127.0.0.1:{port};
    location /.gatehouse/ {{
      proxy_pass http://{gw};
      proxy_set_header Host $http_host;
    }}
    location = /_gatehouse_auth {{
      internal;
      proxy_pass http://{gw}/.gatehouse/auth;
      proxy_pass_request_body off;
      proxy_set_header Content-Length "";
      proxy_set_header X-Original-URL $scheme://$http_host$request_uri;
      proxy_set_header X-Original-Method $request_method;
      proxy_set_header X-Forwarded-Uri "";
      proxy_set_header X-Forwarded-Host "";
      proxy_set_header X-Forwarded-Method "";
    }}
    location / {{
      auth_request /_gatehouse_auth;
      auth_request_set $gatehouse_user $upstream_http_x_auth_user;
      auth_request_set $gatehouse_assertion $upstream_http_x_gatehouse_assertion;
      proxy_set_header X-Auth-User $gatehouse_user;
      # Set (never appended): a client's own X-Gatehouse-Assertion is replaced, or removed when empty.
      proxy_set_header X-Gatehouse-Assertion $gatehouse_assertion;
      proxy_pass {app};
    }}
  }}
}}
"""

CADDYFILE = """\
{{
  admin off
  auto_https off
  storage file_system {d}/data
}}
http://127.0.0.1:{port} {{
  log {{
    output discard
  }}
  handle /.gatehouse/* {{
    reverse_proxy {gw}
  }}
  handle {{
    route {{
      request_header -X-Gatehouse-Assertion
      request_header -X-Original-Url
      request_header -X-Original-Method
      forward_auth {gw} {{
        uri /.gatehouse/auth
        copy_headers X-Auth-User X-Gatehouse-Assertion
      }}
      reverse_proxy {app}
    }}
  }}
}}
"""


def _start(name, directory, argv, url, env=None):
    for attempt in range(3):
        peer = Peer(f"{name}-{attempt}", argv(), directory, env=env)
        # The gateway answers /.gatehouse/jwks.json through the proxy once both run.
        wait_until(lambda: peer.process.poll() is not None
                   or requests.get(url() + "/.gatehouse/jwks.json", timeout=5).status_code == 200, name)
        if peer.process.poll() is None:
            return peer
    raise RuntimeError(f"{name} did not start")


@pytest.fixture(scope="module")
def nginx_fa(workdir, gw, app):
    directory = workdir / "assertion-nginx"
    directory.mkdir()
    state = {}

    def argv():
        state["port"] = free_port()
        (directory / "nginx.conf").write_text(NGINX_CONF.format(d=directory, port=state["port"],
                                                                gw=f"127.0.0.1:{gw.port}", app=app))
        return [NGINX, "-p", directory, "-e", directory / "error.log", "-c", directory / "nginx.conf",
                "-g", "daemon off;"]

    peer = _start("nginx-assertion", directory, argv, lambda: f"http://127.0.0.1:{state['port']}")
    yield f"http://127.0.0.1:{state['port']}"
    peer.stop()


@pytest.fixture(scope="module")
def caddy_fa(workdir, gw, app):
    if CADDY is None:
        pytest.skip("caddy is not installed (Debian bookworm: apt-get install caddy; scripts/install-deps.sh)")
    directory = workdir / "assertion-caddy"
    directory.mkdir()
    state = {}

    def argv():
        state["port"] = free_port()
        (directory / "Caddyfile").write_text(CADDYFILE.format(d=directory, port=state["port"],
                                                              gw=f"127.0.0.1:{gw.port}",
                                                              app=app.removeprefix("http://")))
        return [CADDY, "run", "--adapter", "caddyfile", "--config", directory / "Caddyfile"]

    env = {"HOME": str(directory), "XDG_DATA_HOME": str(directory / "data"),
           "XDG_CONFIG_HOME": str(directory / "config")}
    peer = _start("caddy-assertion", directory, argv, lambda: f"http://127.0.0.1:{state['port']}", env=env)
    yield f"http://127.0.0.1:{state['port']}"
    peer.stop()


@pytest.fixture(params=["nginx", "caddy"])
def proxy(request):
    return request.getfixturevalue({"nginx": "nginx_fa", "caddy": "caddy_fa"}[request.param])


def test_behind_a_forward_auth_proxy_the_app_verifies_the_copied_assertion(proxy, gw):
    browser = requests.Session()
    login = browser.post(proxy + "/.gatehouse/login", data={"username": "alice", "password": PASSWORD},
                         allow_redirects=False, timeout=10)
    assert login.status_code == 303, login.text
    fake = forged({"iss": ISSUER, "aud": AUDIENCE, "sub": "root", "iat": int(time.time()),
                   "exp": int(time.time()) + 60})
    answer = browser.get(proxy + "/orders/1", headers={"X-Gatehouse-Assertion": fake}, timeout=10)
    assert answer.status_code == 200, answer.text
    data = answer.json()
    assert data["count"] == 1, "the client's copy is replaced, not appended"
    assert data["claims"]["sub"] == "alice" and data["claims"]["groups"] == ["staff", "ops"]
    # Not signed in: the proxy refuses before the app is asked.
    assert requests.get(proxy + "/orders/1", timeout=10).status_code == 401
