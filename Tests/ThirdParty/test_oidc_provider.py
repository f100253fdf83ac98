"""Keys fetched from a real OpenID provider: django-oidc-provider under gunicorn over HTTPS (a certificate from a
CA this test makes with the openssl CLI), discovered from its /.well-known/openid-configuration.

Shown here: tokens signed by the provider's key verify; a key added at the provider verifies after one
unknown-kid fetch while the old key keeps working (no failed request during a rotation); a flood of random kids
costs the provider one fetch per 30 s; a key removed at the provider stops verifying after the next fetch; a
restart while the provider is down verifies from the copy on disk; a first start with the provider down answers
503 (readiness and requests), then serves once it is up; a discovery document naming another issuer, a JWKS with
junk keys, an oversized answer and a certificate from an unknown CA are refused or skipped with a reason.
Sign-in through the provider, and signing out: RP-initiated logout lands at the provider's end-session view with
id_token_hint and ends the provider's session; back-channel logout tokens (signed with the provider's key) end the
sessions by sid or sub on two gateways sharing one Redis, a replay and every bad token refused with its reason.
"""

import hashlib
import http.server
import json
import re
import ssl
import subprocess
import sys
import threading
import time
import uuid

import pytest
import requests
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from joserfc import jwt
from joserfc.jwk import RSAKey

from conftest import PEERS, Peer, gatehouse_binary, listening_socket, wait_until, _gunicorn_options, WAIT

CLIENT_ID = "gatehouse-test"


def openssl(*args, cwd):
    subprocess.run(["openssl", *args], cwd=cwd, check=True, capture_output=True, timeout=60)


@pytest.fixture(scope="module")
def test_ca(workdir):
    """A CA and a certificate for 127.0.0.1 signed by it; (ca.pem, server.pem, server.key)."""
    d = workdir / "oidc-ca"
    d.mkdir()
    openssl("req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-days", "2",
            "-subj", "/CN=gatehouse test CA", "-keyout", "ca.key", "-out", "ca.pem", cwd=d)
    openssl("req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-subj", "/CN=127.0.0.1",
            "-keyout", "server.key", "-out", "server.csr", cwd=d)
    (d / "ext.cnf").write_text("subjectAltName=IP:127.0.0.1,DNS:localhost\n")
    openssl("x509", "-req", "-in", "server.csr", "-CA", "ca.pem", "-CAkey", "ca.key", "-CAcreateserial",
            "-days", "2", "-extfile", "ext.cnf", "-out", "server.pem", cwd=d)
    # A second CA the gateway does not trust, for the "unknown CA" case.
    openssl("req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-days", "2",
            "-subj", "/CN=other CA", "-keyout", "other.key", "-out", "other.pem", cwd=d)
    return d / "ca.pem", d / "server.pem", d / "server.key"


class Provider:
    """django-oidc-provider under gunicorn with TLS on a fixed loopback port (stoppable and restartable)."""

    def __init__(self, directory, ca):
        self.directory = directory
        self.ca = ca
        sock = listening_socket()
        self.port = sock.getsockname()[1]
        sock.close()
        self.site = f"https://127.0.0.1:{self.port}"
        self.issuer = self.site + "/openid"
        self.env = {"OIDC_OP_DIR": str(directory), "OIDC_OP_SITE": self.site,
                    "OIDC_OP_REDIRECT": "http://127.0.0.1/.gatehouse/oidc/callback", "PYTHONPATH": str(PEERS)}
        subprocess.run([sys.executable, str(PEERS / "oidc_op.py"), "setup"], env={**__import__("os").environ,
                       **self.env}, check=True, timeout=120)
        self.peer = None
        self.start()

    def start(self):
        import socket
        sock = socket.create_server(("127.0.0.1", self.port), backlog=64)
        sock.set_inheritable(True)
        try:
            _, cert, key = self.ca
            self.peer = Peer("oidc-op", [sys.executable, "-m", "gunicorn", "--bind", f"fd://{sock.fileno()}",
                                         "--workers", "1", "--threads", "4", "--certfile", cert, "--keyfile", key,
                                         "--pythonpath", PEERS, "--error-logfile", "-", *_gunicorn_options(),
                                         "oidc_op:app"],
                             self.directory, env=self.env, pass_fds=(sock.fileno(),))
        finally:
            sock.close()
        self.peer.wait_for(r"Booting worker")
        wait_until(lambda: requests.get(self.issuer + "/jwks", verify=str(self.ca[0]), timeout=5).ok, "the provider")

    def stop(self):
        self.peer.stop()

    def _db(self):
        import sqlite3
        return sqlite3.connect(self.directory / "op.sqlite3")

    def keys(self):
        """(kid, private PEM) of every signing key, oldest first (the provider's kid is the PEM's MD5)."""
        with self._db() as db:
            rows = db.execute("select key from oidc_provider_rsakey order by id").fetchall()
        return [(hashlib.md5(pem.encode()).hexdigest(), pem) for (pem,) in rows]

    def add_key(self):
        private = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        pem = private.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.TraditionalOpenSSL,
                                    serialization.NoEncryption()).decode()
        with self._db() as db:
            db.execute("insert into oidc_provider_rsakey (key) values (?)", (pem,))
        return hashlib.md5(pem.encode()).hexdigest(), pem

    def remove_key(self, kid):
        with self._db() as db:
            for key_id, pem in db.execute("select id, key from oidc_provider_rsakey").fetchall():
                if hashlib.md5(pem.encode()).hexdigest() == kid:
                    db.execute("delete from oidc_provider_rsakey where id = ?", (key_id,))

    def token(self, key, sub="carol", **claims):
        kid, pem = key
        now = int(time.time())
        body = {"iss": self.issuer, "aud": CLIENT_ID, "sub": sub, "iat": now, "exp": now + 300, **claims}
        return jwt.encode({"alg": "RS256", "kid": kid}, body, RSAKey.import_key(pem))


@pytest.fixture(scope="module")
def provider(workdir, test_ca):
    directory = workdir / "oidc-op"
    directory.mkdir()
    op = Provider(directory, test_ca)
    yield op
    op.stop()


CONFIG = """\
server:
  listen: ["127.0.0.1:0"]
  workers: 2
admin:
  listen: "127.0.0.1:0"
upstreams:
  app: {{ servers: ["{upstream}"] }}
tokens:
  key_cache_dir: "{cache}"
  issuers:
    - issuer: "{issuer}"
      audiences: ["{client}"]
      {source}
      ca_file: "{ca}"
identity_headers:
  X-Auth-User: "{{sub}}"
routes:
  - {{ name: api, match: {{ path_prefix: /gu/ }}, upstream: app, accept: [bearer] }}
"""


class KeyGateway:
    """A gateway whose only issuer takes its keys from a provider; not waited for ready (that is under test)."""

    def __init__(self, directory, upstream, issuer, ca, cache, source="discovery: true"):
        directory.mkdir(exist_ok=True)
        config = CONFIG.format(upstream=upstream.removeprefix("http://"), cache=cache, issuer=issuer,
                               client=CLIENT_ID, source=source, ca=ca)
        (directory / "gatehouse.yaml").write_text(config)
        self.peer = Peer("gatehouse", [gatehouse_binary(), "run", "--config", directory / "gatehouse.yaml"],
                         directory, cwd=directory)
        self.port = int(self.peer.wait_for(r"(?<!admin )listening on 127\.0\.0\.1:(\d+)").group(1))
        admin_port = self.peer.wait_for(r"admin listening on 127\.0\.0\.1:(\d+)").group(1)
        self.admin = f"http://127.0.0.1:{admin_port}"
        self.url = f"http://127.0.0.1:{self.port}"

    def get(self, token):
        return requests.get(self.url + "/gu/headers", headers={"Authorization": f"Bearer {token}"}, timeout=10)

    def ready(self):
        return requests.get(self.admin + "/readyz", timeout=5)

    def metric(self, name):
        text = requests.get(self.admin + "/metrics", timeout=5).text
        match = re.search(rf"^{name}{{issuer=\"[^\"]*\"}} (\d+)$", text, re.M)
        return int(match.group(1)) if match else None

    def stop(self):
        self.peer.stop()


def user_seen(answer):
    assert answer.status_code == 200, (answer.status_code, answer.text)
    return answer.json()["headers"].get("X-Auth-User") if "headers" in answer.json() else answer.json()


def test_keys_from_discovery_rotation_flood_and_removal(workdir, provider, test_ca, gunicorn_app):
    cache = workdir / "keys-rotation"
    gw = KeyGateway(workdir / "gw-rotation", gunicorn_app, provider.issuer, test_ca[0], cache)
    try:
        wait_until(lambda: gw.ready().status_code == 200, "readiness once the provider's keys arrived")
        first = provider.keys()[0]
        assert gw.get(provider.token(first)).status_code == 200
        assert gw.metric("gatehouse_provider_keys") == 1
        assert gw.metric("gatehouse_provider_keys_last_refresh_timestamp_seconds") > time.time() - 60
        assert list(cache.glob("*.jwks.json")), "the key set is kept on disk"

        # Rotation: a new key at the provider. Its first token names an unknown kid (refused, and a fetch is
        # admitted); within that one fetch the new key verifies, and the old one still does.
        second = provider.add_key()
        fetches = gw.metric("gatehouse_provider_keys_fetches_total")
        assert gw.get(provider.token(second)).status_code == 401
        wait_until(lambda: gw.get(provider.token(second)).status_code == 200, "the rotated key verifying")
        assert gw.get(provider.token(first)).status_code == 200
        assert gw.metric("gatehouse_provider_keys") == 2
        assert gw.metric("gatehouse_provider_keys_fetches_total") == fetches + 1
        admitted_at = time.monotonic()

        # A flood of random kids within the 30 s window: refused, and not one more fetch.
        provider.remove_key(first[0])
        forged = RSAKey.generate_key(2048)
        for _ in range(50):
            token = jwt.encode({"alg": "RS256", "kid": uuid.uuid4().hex},
                               {"iss": provider.issuer, "aud": CLIENT_ID, "sub": "mallory",
                                "exp": int(time.time()) + 300}, forged)
            assert gw.get(token).status_code == 401
        assert gw.metric("gatehouse_provider_keys_fetches_total") == fetches + 1
        # The removed key still verifies until the next successful fetch...
        assert gw.get(provider.token(first)).status_code == 200
        # ... which the next unknown kid after the window triggers; then it is refused.
        time.sleep(max(0, 31 - (time.monotonic() - admitted_at)))
        assert gw.get(provider.token(("unknown-kid", second[1]))).status_code == 401
        wait_until(lambda: gw.get(provider.token(first)).status_code == 401, "the removed key refused")
        assert gw.get(provider.token(second)).status_code == 200
        assert gw.metric("gatehouse_provider_keys") == 1
    finally:
        gw.stop()

    # A restart while the provider is down verifies from the copy on disk.
    provider.stop()
    try:
        gw = KeyGateway(workdir / "gw-restart", gunicorn_app, provider.issuer, test_ca[0], cache)
        try:
            wait_until(lambda: gw.ready().status_code == 200, "readiness from the disk copy")
            assert gw.get(provider.token(second)).status_code == 200
            wait_until(lambda: (gw.metric("gatehouse_provider_keys_fetch_failures_total") or 0) >= 1,
                       "a failed fetch counted")
            assert gw.get(provider.token(second)).status_code == 200, "the last good set keeps serving"
            assert "keeping the last good set" in gw.peer.log
        finally:
            gw.stop()

        # First start with the provider down and no copy: 503 for readiness and for the issuer's tokens.
        gw = KeyGateway(workdir / "gw-cold", gunicorn_app, provider.issuer, test_ca[0], workdir / "keys-cold")
        try:
            wait_until(lambda: gw.peer.log.count("fetch failed") >= 1, "the first failed fetch")
            ready = gw.ready()
            assert ready.status_code == 503 and "not loaded yet" in ready.text
            answer = gw.get(provider.token(second))
            assert answer.status_code == 503, answer.text
            provider.start()
            wait_until(lambda: gw.ready().status_code == 200, "readiness once the provider is back", timeout=40)
            assert gw.get(provider.token(second)).status_code == 200
        finally:
            gw.stop()
    finally:
        if provider.peer.process.poll() is not None:
            provider.start()


class BadProvider:
    """A tiny HTTPS server (Python's http.server behind ssl) answering chosen bodies per path."""

    def __init__(self, cert, key):
        self.routes = {}
        owner = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self):
                status, body = owner.routes.get(self.path, (404, b"{}"))
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args):
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(cert, key)
        self.server.socket = context.wrap_socket(self.server.socket, server_side=True)
        self.url = f"https://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def stop(self):
        self.server.shutdown()


@pytest.fixture(scope="module")
def bad_provider(test_ca):
    server = BadProvider(str(test_ca[1]), str(test_ca[2]))
    yield server
    server.stop()


def good_jwk(provider):
    return json.loads(requests.get(provider.issuer + "/jwks", verify=str(provider.ca[0]), timeout=5).text)["keys"][0]


@pytest.mark.parametrize("case", ["wrong-issuer", "garbage", "oversized", "unknown-ca"])
def test_bad_discovery_is_refused_with_a_reason(workdir, bad_provider, test_ca, gunicorn_app, case):
    issuer = f"{bad_provider.url}/{case}"
    document = {"issuer": issuer, "jwks_uri": f"{bad_provider.url}/{case}/jwks"}
    if case == "wrong-issuer":
        document["issuer"] = "https://evil.example"
    body = json.dumps(document).encode()
    if case == "garbage":
        body = b"<html>not json</html>"
    if case == "oversized":
        body = b'{"issuer": "' + b"x" * (300 << 10) + b'"}'
    bad_provider.routes[f"/{case}/.well-known/openid-configuration"] = (200, body)
    ca = test_ca[1].parent / "other.pem" if case == "unknown-ca" else test_ca[0]
    gw = KeyGateway(workdir / f"gw-bad-{case}", gunicorn_app, issuer, ca, workdir / f"keys-bad-{case}")
    try:
        expected = {"wrong-issuer": "names issuer \"https://evil.example\"", "garbage": "not strict JSON",
                    "oversized": "larger than", "unknown-ca": "certificate"}[case]
        wait_until(lambda: expected in gw.peer.log, f"the log naming {expected!r}")
        assert gw.ready().status_code == 503
        token = jwt.encode({"alg": "RS256", "kid": "x"}, {"iss": issuer, "aud": CLIENT_ID, "sub": "x",
                                                          "exp": int(time.time()) + 60}, RSAKey.generate_key(2048))
        assert gw.get(token).status_code == 503
    finally:
        gw.stop()


def test_jwks_with_junk_keys_uses_the_good_ones(workdir, bad_provider, provider, test_ca, gunicorn_app):
    key = provider.keys()[-1]
    junk = [{"kty": "RSA", "kid": "short", "n": "AQAB", "e": "AQAB"}, {"kty": "oct", "kid": "hmac", "k": "c2VjcmV0",
            "alg": "HS256"}, {"kty": "EC", "kid": "offcurve", "crv": "P-256", "x": "A" * 43, "y": "A" * 43}, 17]
    jwks = {"keys": junk + [good_jwk(provider)]}
    bad_provider.routes["/junk/jwks"] = (200, json.dumps(jwks).encode())
    gw = KeyGateway(workdir / "gw-junk", gunicorn_app, provider.issuer, test_ca[0], workdir / "keys-junk",
                    source=f'jwks_uri: "{bad_provider.url}/junk/jwks"')
    try:
        wait_until(lambda: gw.ready().status_code == 200, "readiness with the one good key")
        assert gw.get(provider.token(key)).status_code == 200
        assert gw.metric("gatehouse_provider_keys") == 1
        assert gw.peer.log.count("key skipped") == 4
        # The symmetric key was skipped: an HS256 token signed with its secret is refused, not verified.
        hs = jwt.encode({"alg": "HS256", "kid": "hmac"}, {"iss": provider.issuer, "aud": CLIENT_ID, "sub": "x",
                                                         "exp": int(time.time()) + 60},
                        __import__("joserfc.jwk", fromlist=["OctKey"]).OctKey.import_key(b"secret" * 6))
        assert gw.get(hs).status_code == 401
    finally:
        gw.stop()


def test_plain_http_jwks_uri_is_refused_by_check_config(workdir):
    directory = workdir / "gw-plain"
    directory.mkdir()
    config = CONFIG.format(upstream="127.0.0.1:9", cache=directory, issuer="https://idp.example", client=CLIENT_ID,
                           source='jwks_uri: "http://idp.example/jwks"', ca="/etc/ssl/certs/ca-certificates.crt")
    (directory / "gatehouse.yaml").write_text(config)
    out = subprocess.run([gatehouse_binary(), "check-config", "--config", directory / "gatehouse.yaml"],
                         capture_output=True, text=True, timeout=WAIT)
    assert out.returncode == 1
    assert "jwks_uri: must be an https:// URL" in out.stderr


SIGN_IN_CONFIG = """\
server:
  listen: ["127.0.0.1:{port}"]
  workers: 2
admin:
  listen: "127.0.0.1:0"
upstreams:
  app: {{ servers: ["{upstream}"] }}
tokens:
  key_cache_dir: "{d}/keys"
  issuers:
    - {{ issuer: "https://unused.example", audiences: [x], jwks_uri: "https://unused.example/jwks" }}
login:
  oidc:
    base_url: "http://127.0.0.1:{port}"
    providers:
      - name: op
        issuer: "{issuer}"
        client_id: "{client}"
        client_secret_env: OP_CLIENT_SECRET
        ca_file: "{ca}"
        claims: {{ user: preferred_username }}
sessions:
  embedded: {{ path: "{d}/sessions.sqlite" }}
identity_headers:
  X-Auth-User: "{{sub}}"
  X-Auth-Email: "{{email}}"
routes:
  - {{ name: app, match: {{ path_prefix: /gu/ }}, upstream: app, accept: [session], unauthenticated: login }}
"""


def provider_login(browser, page, user="carol", password="op-password-carol"):
    """Submits the provider's own login form (Django's, with its CSRF token) and follows every redirect."""
    token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page.text).group(1)
    next_value = re.search(r'name="next" value="([^"]*)"', page.text).group(1).replace("&amp;", "&")
    return browser.post(page.url, data={"csrfmiddlewaretoken": token, "username": user, "password": password,
                                        "next": next_value},
                        headers={"Referer": page.url}, timeout=10)


def test_sign_in_through_the_provider(workdir, provider, test_ca, gunicorn_app):
    from conftest import free_port
    import sqlite3
    port = free_port()
    callback = f"http://127.0.0.1:{port}/.gatehouse/oidc/callback/op"
    with sqlite3.connect(provider.directory / "op.sqlite3") as db:
        db.execute("update oidc_provider_client set _redirect_uris = ? where client_id = ?", (callback, CLIENT_ID))
    directory = workdir / "gw-signin"
    directory.mkdir()
    (directory / "gatehouse.yaml").write_text(SIGN_IN_CONFIG.format(
        port=port, upstream=gunicorn_app.removeprefix("http://"), d=directory, issuer=provider.issuer,
        client=CLIENT_ID, ca=test_ca[0]))
    peer = Peer("gatehouse", [gatehouse_binary(), "run", "--config", directory / "gatehouse.yaml"], directory,
                cwd=directory, env={"OP_CLIENT_SECRET": "gatehouse-test-secret"})
    try:
        admin_port = peer.wait_for(r"admin listening on 127\.0\.0\.1:(\d+)").group(1)
        admin = f"http://127.0.0.1:{admin_port}"
        gw = f"http://127.0.0.1:{port}"
        # The provider's keys and discovery document arrive (the unreachable issuer beside it keeps /readyz at 503).
        wait_until(lambda: requests.get(admin + "/metrics", timeout=5).text.count(
            f'gatehouse_provider_keys{{issuer="{provider.issuer}"}} 1') == 1, "the provider's keys and discovery")

        browser = requests.Session()
        browser.verify = str(test_ca[0])
        browser.trust_env = False  # REQUESTS_CA_BUNDLE would win over browser.verify
        # Not signed in: the gateway's login page, straight on to the provider (one provider, no users file).
        first = browser.get(gw + "/gu/headers?x=1", headers={"Accept": "text/html"}, allow_redirects=False, timeout=10)
        assert first.status_code == 302 and first.headers["Location"].startswith("/.gatehouse/login?rd=")
        start = browser.get(gw + first.headers["Location"], allow_redirects=False, timeout=10)
        assert start.status_code == 302 and start.headers["Location"].startswith("/.gatehouse/oidc/start?provider=op")
        to_provider = browser.get(gw + start.headers["Location"], allow_redirects=False, timeout=10)
        assert to_provider.status_code == 302
        location = to_provider.headers["Location"]
        assert location.startswith(provider.issuer + "/authorize?")
        assert "code_challenge_method=S256" in location and "nonce=" in location and "state=" in location
        assert "HttpOnly" in to_provider.headers["Set-Cookie"] and "gatehouse_oidc=" in to_provider.headers["Set-Cookie"]
        flow_cookie = browser.cookies.get("gatehouse_oidc")

        login_page = browser.get(location, timeout=10)
        assert login_page.status_code == 200 and "csrfmiddlewaretoken" in login_page.text
        landed = provider_login(browser, login_page)
        assert landed.status_code == 200, (landed.status_code, landed.url, landed.text[:300])
        assert landed.url == gw + "/gu/headers?x=1"
        seen = landed.json()
        assert seen["HTTP_X_AUTH_USER"] == "carol"
        assert seen["HTTP_X_AUTH_EMAIL"] == "carol@example.com"
        assert browser.cookies.get("gatehouse_session")
        callback_url = next(r.url for r in landed.history if "/.gatehouse/oidc/callback/op" in r.url)

        # A normal Gatehouse session: the device list knows it.
        devices = browser.get(gw + "/.gatehouse/sessions", timeout=10).json()["sessions"]
        assert [d["user"] for d in devices] == ["carol"]
        # The admin page lists her as a provider user (no users file here), with her session.
        admin_page = requests.get(admin + "/admin/", timeout=10)
        assert admin_page.status_code == 200
        assert '>carol</a><span class="tag source">provider</span>' in admin_page.text
        assert '<div class="meta">1 session · last active' in admin_page.text
        carol = requests.get(admin + "/admin/user?name=carol", cookies=admin_page.cookies, timeout=10)
        assert "signed in through an identity provider" in carol.text and "carol@example.com" in carol.text

        # The same callback again (its cookie copied): the state was taken once.
        replay = requests.get(callback_url, cookies={"gatehouse_oidc": flow_cookie}, allow_redirects=False, timeout=10)
        assert replay.status_code == 400
        wait_until(lambda: "oidc-state-replayed" in peer.log, "the replay logged")
        # A callback without the cookie, with a tampered one, or with another state.
        assert requests.get(callback_url, allow_redirects=False, timeout=10).status_code == 400
        tampered = flow_cookie[:-2] + ("AA" if not flow_cookie.endswith("AA") else "BB")
        assert requests.get(callback_url, cookies={"gatehouse_oidc": tampered}, timeout=10).status_code == 400
        other_state = re.sub(r"state=[^&]+", "state=forged", callback_url)
        assert requests.get(other_state, cookies={"gatehouse_oidc": flow_cookie}, timeout=10).status_code == 400
        for reason in ("oidc-no-flow-cookie", "oidc-flow-cookie-tampered", "oidc-state-mismatch"):
            wait_until(lambda: reason in peer.log, reason)

        # Logout ends the session like any other.
        assert browser.post(gw + "/.gatehouse/logout", timeout=10).status_code == 204
        assert browser.get(gw + "/gu/headers", allow_redirects=False, timeout=10).status_code == 401
    finally:
        peer.stop()


# ---------------------------------------------------------------------------------------------------------------
# Provider-side sign-out (issue 12 part 3): RP-initiated logout lands at django-oidc-provider's end-session view
# with id_token_hint (and the provider's own session ends), and back-channel logout tokens (signed here with the
# provider's RSA key: django-oidc-provider does not send them itself) end the gateway's sessions, on two gateways
# sharing one Redis.

LOGOUT_CONFIG = """\
server:
  listen: ["127.0.0.1:{port}"]
  workers: 2
admin:
  listen: "127.0.0.1:0"
upstreams:
  app: {{ servers: ["{upstream}"] }}
login:
  oidc:
    base_url: "http://127.0.0.1:{port}"
    providers:
      - name: op
        issuer: "{issuer}"
        client_id: "{client}"
        client_secret_env: OP_CLIENT_SECRET
        ca_file: "{ca}"
        claims: {{ user: preferred_username }}
sessions:
  store: redis
  redis: {{ url: "redis://127.0.0.1:{redis}/0", cache_ttl: 30s }}
identity_headers:
  X-Auth-User: "{{sub}}"
routes:
  - {{ name: app, match: {{ path_prefix: /gu/ }}, upstream: app, accept: [session], unauthenticated: login }}
"""

EVENT = "http://schemas.openid.net/event/backchannel-logout"


class LogoutGateway:
    def __init__(self, directory, port, provider, ca, upstream, redis_port):
        directory.mkdir()
        (directory / "gatehouse.yaml").write_text(LOGOUT_CONFIG.format(
            port=port, upstream=upstream.removeprefix("http://"), d=directory, issuer=provider.issuer,
            client=CLIENT_ID, ca=ca, redis=redis_port))
        self.peer = Peer("gatehouse", [gatehouse_binary(), "run", "--config", directory / "gatehouse.yaml"],
                         directory, cwd=directory, env={"OP_CLIENT_SECRET": "gatehouse-test-secret"})
        self.admin = "http://127.0.0.1:" + self.peer.wait_for(r"admin listening on 127\.0\.0\.1:(\d+)").group(1)
        self.url = f"http://127.0.0.1:{port}"
        wait_until(lambda: requests.get(self.admin + "/readyz", timeout=5).status_code == 200,
                   "readiness (provider keys and Redis)")

    def metric(self, name):
        match = re.search(rf"^{name} (\d+)$", requests.get(self.admin + "/metrics", timeout=5).text, re.M)
        return int(match.group(1)) if match else None

    def backchannel(self, token, **kwargs):
        return requests.post(self.url + "/.gatehouse/oidc/backchannel-logout", data={"logout_token": token},
                             timeout=10, **kwargs)


def sign_in_browser(gw, ca, provider, fresh_provider_login=True):
    """A browser signed in at the gateway through the provider; returns the session."""
    browser = requests.Session()
    browser.verify = str(ca)
    browser.trust_env = False
    page = browser.get(gw.url + "/gu/headers", headers={"Accept": "text/html"}, timeout=10)
    assert page.status_code == 200 and "csrfmiddlewaretoken" in page.text, page.url
    landed = provider_login(browser, page)
    assert landed.status_code == 200 and landed.json()["HTTP_X_AUTH_USER"] == "carol", landed.text[:300]
    return browser


def payload(jwt_text):
    import base64
    part = jwt_text.split(".")[1]
    return json.loads(base64.urlsafe_b64decode(part + "=" * (-len(part) % 4)))


def logout_token(provider, key, **claims):
    kid, pem = key
    body = {"iss": provider.issuer, "aud": CLIENT_ID, "iat": int(time.time()), "jti": uuid.uuid4().hex,
            "events": {EVENT: {}}, **claims}
    return jwt.encode({"alg": "RS256", "kid": kid, "typ": "logout+jwt"}, body, RSAKey.import_key(pem))


def test_rp_initiated_and_back_channel_logout(workdir, provider, test_ca, gunicorn_app):
    from conftest import free_port
    import shutil
    import sqlite3
    redis_server = shutil.which("redis-server")
    assert redis_server, "redis-server is needed (scripts/install-deps.sh installs it)"
    redis_port = free_port()
    redis = Peer("redis", [redis_server, "--port", str(redis_port), "--bind", "127.0.0.1", "--save", "",
                           "--appendonly", "no"], workdir)
    redis.wait_for(r"Ready to accept connections")
    port_a, port_b = free_port(), free_port()
    callback = f"http://127.0.0.1:{port_a}/.gatehouse/oidc/callback/op"
    after_logout = f"http://127.0.0.1:{port_a}/.gatehouse/login"
    with sqlite3.connect(provider.directory / "op.sqlite3") as db:
        db.execute("update oidc_provider_client set _redirect_uris = ?, _post_logout_redirect_uris = ? "
                   "where client_id = ?", (callback, after_logout, CLIENT_ID))
    end_session = requests.get(provider.issuer + "/.well-known/openid-configuration", verify=str(test_ca[0]),
                               timeout=10).json()["end_session_endpoint"]
    a = b = None
    try:
        a = LogoutGateway(workdir / "gw-logout-a", port_a, provider, test_ca[0], gunicorn_app, redis_port)
        b = LogoutGateway(workdir / "gw-logout-b", port_b, provider, test_ca[0], gunicorn_app, redis_port)

        # RP-initiated: our logout ends our session, then the browser goes on to the provider's end-session view
        # with the ID token as the hint; the provider signs carol out and sends her back to our login page, which
        # (one provider) sends her to the provider again: its login form, since her session there is gone.
        browser = sign_in_browser(a, test_ca[0], provider)
        out = browser.post(a.url + "/.gatehouse/logout", data={"go": "1"}, allow_redirects=False, timeout=10)
        assert out.status_code == 303, (out.status_code, out.text)
        location = out.headers["Location"]
        assert location.startswith(end_session + "?"), location
        query = dict(__import__("urllib.parse").parse.parse_qsl(location.split("?", 1)[1]))
        hint = payload(query["id_token_hint"])
        assert hint["iss"] == provider.issuer and hint["aud"] == CLIENT_ID
        assert query["post_logout_redirect_uri"] == after_logout and query["client_id"] == CLIENT_ID
        assert query["state"]
        assert "gatehouse_session=;" in out.headers["Set-Cookie"]
        assert browser.get(a.url + "/gu/headers", allow_redirects=False, timeout=10).status_code == 401
        landed = browser.get(location, timeout=10)
        assert any(r.url.startswith(after_logout + "?state=") for r in landed.history), [r.url for r in landed.history]
        assert landed.status_code == 200 and "csrfmiddlewaretoken" in landed.text, "signed out at the provider too"
        subject = hint["sub"]

        # An API caller's logout still gets 204 (no redirect).
        api = sign_in_browser(a, test_ca[0], provider)
        assert api.post(a.url + "/.gatehouse/logout", timeout=10).status_code == 204

        # Back-channel: two devices of carol signed in at gateway A (each with its own provider session, `sid`).
        # Logout tokens posted to gateway B: by `sid`, that device only; by `sub`, the rest. A, which had them
        # cached, refuses them at once.
        def last_sid():
            with provider._db() as db:
                (text,) = db.execute("select _id_token from oidc_provider_token order by id desc limit 1").fetchone()
            return json.loads(text)["sid"]
        one = sign_in_browser(a, test_ca[0], provider)
        sid_one = last_sid()
        two = sign_in_browser(a, test_ca[0], provider)
        assert last_sid() != sid_one
        for device in (one, two):
            assert device.get(a.url + "/gu/headers", timeout=10).status_code == 200
        key = provider.keys()[0]
        by_sid = b.backchannel(logout_token(provider, key, sid=sid_one))
        assert by_sid.status_code == 200, by_sid.text
        assert by_sid.headers["Cache-Control"] == "no-store"
        assert one.get(a.url + "/gu/headers", allow_redirects=False, timeout=10).status_code == 401
        assert two.get(a.url + "/gu/headers", timeout=10).status_code == 200, "another provider session: kept"
        token = logout_token(provider, key, sub=subject)
        answer = b.backchannel(token)
        assert answer.status_code == 200, answer.text
        assert two.get(a.url + "/gu/headers", allow_redirects=False, timeout=10).status_code == 401
        assert b.metric("gatehouse_oidc_backchannel_logout_sessions_ended_total") == 2

        # The same token again, at either gateway: a replay (the jti is shared through Redis).
        for gw in (b, a):
            replay = gw.backchannel(token)
            assert replay.status_code == 400 and replay.json()["error"] == "invalid_request"
        wait_until(lambda: "replayed-jti" in a.peer.log, "the replay logged with its reason")

        # Refused with a reason: another key, alg none, no events, a nonce, neither sid nor sub, too old.
        other = rsa.generate_private_key(public_exponent=65537, key_size=2048).private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.TraditionalOpenSSL,
            serialization.NoEncryption()).decode()
        import base64
        def b64(obj):
            return base64.urlsafe_b64encode(json.dumps(obj).encode()).rstrip(b"=").decode()
        none = b64({"alg": "none"}) + "." + b64({"iss": provider.issuer, "aud": CLIENT_ID, "iat": int(time.time()),
                                                 "jti": "n1", "events": {EVENT: {}}, "sub": subject}) + "."
        bad = {
            "bad-signature": logout_token(provider, (key[0], other), sub=subject),
            "alg-none": none,
            "no-events": logout_token(provider, key, sub=subject, events=None),
            "nonce-present": logout_token(provider, key, sub=subject, nonce="n"),
            "no-sid-or-sub": logout_token(provider, key),
            "too-old": logout_token(provider, key, sub=subject, iat=int(time.time()) - 3600),
        }
        for reason, bad_token in bad.items():
            refused = b.backchannel(bad_token)
            assert refused.status_code == 400, (reason, refused.status_code, refused.text)
            assert refused.json()["error_description"] == reason, (reason, refused.text)
        assert b.metric("gatehouse_oidc_backchannel_logout_refusals_total") == len(bad) + 1
        # A body over the endpoint's cap is refused unread.
        huge = requests.post(b.url + "/.gatehouse/oidc/backchannel-logout", data={"logout_token": "x" * 40000},
                             timeout=10)
        assert huge.status_code == 413
    finally:
        for gw in (a, b):
            if gw:
                gw.peer.stop()
        redis.stop()
