"""Forward auth with the real proxies: nginx `auth_request` and Caddy `forward_auth` in front of an upstream,
the gateway as the decision service only (`/.gatehouse/auth`), `/.gatehouse/` routed to it on the app's host.

The configs here are the ones docs/forward-auth.md documents. The upstream echoes the request headers it
received, so each test asserts exactly what identity the app was told.
"""

import json
import re
import shutil
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
import requests
from requests.auth import HTTPBasicAuth

from conftest import NGINX, PASSWORD, Gateway, Peer, bcrypt_hash, free_port, wait_until

CADDY = shutil.which("caddy")
IDENTITY = ("x-auth-user", "x-auth-email", "x-auth-groups")
HTML = {"Accept": "text/html,application/xhtml+xml;q=0.9,*/*;q=0.8"}


class _Echo(BaseHTTPRequestHandler):
    def do_GET(self):
        body = json.dumps({"path": self.path, "headers": [[k.lower(), v] for k, v in self.headers.items()]}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


@pytest.fixture(scope="module")
def app():
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Echo)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server.server_address[1]
    server.shutdown()


FA_GATEWAY = """\
server:
  listen: ["127.0.0.1:0"]
  workers: 1
  trusted_proxies: [127.0.0.1]
admin:
  listen: "127.0.0.1:0"
access_log:
  path: stdout
upstreams:
  unused: {{ servers: ["127.0.0.1:9"] }}
login:
  users_file: "{d}/users.yaml"
  rate_limit: {{ failures: 1000, window: 1m }}
sessions:
  embedded: {{ path: "{d}/sessions.sqlite" }}
routes:
  - {{ name: public, match: {{ path_prefix: /public }}, upstream: unused, auth: none }}
  - name: scripts
    match: {{ path_prefix: /basic }}
    upstream: unused
    accept: [basic]
    basic: {{ realm: "Example scripts" }}
  - name: ops
    match: {{ path_prefix: /ops }}
    upstream: unused
    accept: [session]
    require: {{ groups_any: [ops] }}
  - name: app
    match: {{ path_prefix: / }}
    upstream: unused
    accept: [session]
    unauthenticated: login
"""


@pytest.fixture(scope="module")
def fa_gateway(workdir):
    directory = workdir / "fa-gateway"
    directory.mkdir()
    (directory / "users.yaml").write_text(
        f'users:\n  alice:\n    password: "{bcrypt_hash(PASSWORD)}"\n    email: alice@example.com\n'
        "    groups: [staff]\n")
    gw = Gateway(directory, FA_GATEWAY.format(d=directory))
    yield gw
    gw.peer.stop()


NGINX_FA_CONF = """\
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
    # The gateway's own pages (login, logout, devices) on the app's host.
    location /.gatehouse/ {{
      proxy_pass http://{gw};
      proxy_set_header Host $http_host;
      proxy_set_header X-Forwarded-For $remote_addr;
      proxy_set_header X-Forwarded-Proto $scheme;
    }}
    location = /_gatehouse_auth {{
      internal;
      proxy_pass http://{gw}/.gatehouse/auth;
      proxy_pass_request_body off;
      proxy_set_header Content-Length "";
      proxy_set_header X-Original-URL $scheme://$http_host$request_uri;
      proxy_set_header X-Original-Method $request_method;
      proxy_set_header X-Forwarded-For $remote_addr;
      # The client's own description headers never reach the gateway.
      proxy_set_header X-Forwarded-Uri "";
      proxy_set_header X-Forwarded-Host "";
      proxy_set_header X-Forwarded-Method "";
    }}
    location @gatehouse_login {{
      return 302 $gatehouse_login;
    }}
    location / {{
      auth_request /_gatehouse_auth;
      auth_request_set $gatehouse_user $upstream_http_x_auth_user;
      auth_request_set $gatehouse_email $upstream_http_x_auth_email;
      auth_request_set $gatehouse_groups $upstream_http_x_auth_groups;
      auth_request_set $gatehouse_login $upstream_http_x_gatehouse_login;
      # A browser gets the login redirect; anyone else the gateway's 401.
      error_page 401 = @gatehouse_login_or_401;
      proxy_set_header X-Auth-User $gatehouse_user;
      proxy_set_header X-Auth-Email $gatehouse_email;
      proxy_set_header X-Auth-Groups $gatehouse_groups;
      proxy_pass http://127.0.0.1:{app};
    }}
    location @gatehouse_login_or_401 {{
      if ($gatehouse_login = "") {{ return 401; }}
      return 302 $gatehouse_login;
    }}
  }}
}}
"""


@pytest.fixture(scope="module")
def nginx_fa(workdir, fa_gateway, app):
    directory = workdir / "nginx-fa"
    directory.mkdir()
    for attempt in range(3):
        port = free_port()
        (directory / "nginx.conf").write_text(
            NGINX_FA_CONF.format(d=directory, port=port, gw=f"127.0.0.1:{fa_gateway.port}", app=app))
        peer = Peer(f"nginx-fa-{attempt}", [NGINX, "-p", directory, "-e", directory / "error.log",
                                            "-c", directory / "nginx.conf", "-g", "daemon off;"], directory)
        url = f"http://127.0.0.1:{port}"
        wait_until(lambda: peer.process.poll() is not None
                   or requests.get(url + "/public/up", timeout=5).status_code == 200, "nginx")
        if peer.process.poll() is None:
            yield url
            peer.stop()
            return
    raise RuntimeError("nginx did not start: " + (directory / "error.log").read_text(errors="replace"))


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
      # Caddy 2.6 copies only the headers the answer has: remove the client's own first.
      request_header -X-Auth-User
      request_header -X-Auth-Email
      request_header -X-Auth-Groups
      # The other dialect's description, if the client sent one.
      request_header -X-Original-Url
      request_header -X-Original-Method
      forward_auth {gw} {{
        uri /.gatehouse/auth
        copy_headers X-Auth-User X-Auth-Email X-Auth-Groups
      }}
      reverse_proxy 127.0.0.1:{app}
    }}
  }}
}}
"""


@pytest.fixture(scope="module")
def caddy(workdir, fa_gateway, app):
    if CADDY is None:
        pytest.skip("caddy is not installed (Debian bookworm: apt-get install caddy; scripts/install-deps.sh)")
    directory = workdir / "caddy"
    directory.mkdir()
    for attempt in range(3):
        port = free_port()
        (directory / "Caddyfile").write_text(
            CADDYFILE.format(d=directory, port=port, gw=f"127.0.0.1:{fa_gateway.port}", app=app))
        peer = Peer(f"caddy-{attempt}", [CADDY, "run", "--adapter", "caddyfile", "--config", directory / "Caddyfile"],
                    directory, env={"HOME": str(directory), "XDG_DATA_HOME": str(directory / "data"),
                                    "XDG_CONFIG_HOME": str(directory / "config")})
        url = f"http://127.0.0.1:{port}"
        wait_until(lambda: peer.process.poll() is not None
                   or requests.get(url + "/public/up", timeout=5).status_code == 200, "caddy")
        if peer.process.poll() is None:
            yield url
            peer.stop()
            return
    raise RuntimeError("caddy did not start")


@pytest.fixture(params=["nginx", "caddy"])
def proxy(request):
    return request.getfixturevalue({"nginx": "nginx_fa", "caddy": "caddy"}[request.param])


def identity(answer):
    """The identity headers the app received, as sorted (name, value) pairs."""
    return sorted((k, v) for k, v in answer.json()["headers"] if k in IDENTITY)


def test_browser_signs_in_and_comes_back_with_identity(proxy):
    browser = requests.Session()
    first = browser.get(proxy + "/orders/7?tab=items", headers=HTML, allow_redirects=False, timeout=10)
    assert first.status_code == 302, first.text
    # nginx's `return 302` makes the relative Location absolute on the proxy's own host.
    location = first.headers["Location"].removeprefix(proxy)
    assert location == "/.gatehouse/login?rd=/orders/7%3Ftab%3Ditems"
    page = browser.get(proxy + location, headers=HTML, timeout=10)
    assert page.status_code == 200 and "<form" in page.text
    login = browser.post(proxy + "/.gatehouse/login", allow_redirects=False, timeout=10,
                         data={"username": "alice", "password": PASSWORD, "rd": "/orders/7?tab=items"})
    assert login.status_code == 303, login.text
    assert login.headers["Location"] == "/orders/7?tab=items"
    back = browser.get(proxy + login.headers["Location"], headers=HTML,
                       allow_redirects=False, timeout=10)
    assert back.status_code == 200, back.text
    assert back.json()["path"] == "/orders/7?tab=items"
    assert identity(back) == [("x-auth-email", "alice@example.com"), ("x-auth-groups", "staff"),
                              ("x-auth-user", "alice")]
    # Spoofed identity headers from the signed-in client are replaced, not appended.
    spoofed = browser.get(proxy + "/x", headers={"X-Auth-User": "root", "X-Auth-Groups": "ops"}, timeout=10)
    assert identity(spoofed) == [("x-auth-email", "alice@example.com"), ("x-auth-groups", "staff"),
                                 ("x-auth-user", "alice")]
    # Forbidden: alice is not in ops.
    assert browser.get(proxy + "/ops/x", timeout=10).status_code == 403
    # Sign out through the proxy: the next request is refused again.
    assert browser.post(proxy + "/.gatehouse/logout", allow_redirects=False, timeout=10).status_code in (204, 303)
    assert browser.get(proxy + "/x", timeout=10, allow_redirects=False).status_code == 401


def test_chromium_signs_in_through_the_proxy_and_lands_on_the_page_it_asked_for(proxy, tmp_path):
    """A person in Chromium: the page, bounced to the login page on the proxy's host, types the password, back
    on the page first asked for, which the app serves with the identity the proxy copied from the decision."""
    from browser_support import fill_login_form, start_chromium, wait_for_url
    from selenium.webdriver.common.by import By
    driver = start_chromium(tmp_path / "profile", tmp_path / "chromedriver.log")
    try:
        driver.get(proxy + "/orders/7?tab=items")
        wait_for_url(driver, lambda url: url.startswith(proxy + "/.gatehouse/login"), "the login page")
        fill_login_form(driver, "alice", PASSWORD)
        wait_for_url(driver, lambda url: url == proxy + "/orders/7?tab=items", "the page first asked for")
        answer = json.loads(driver.find_element(By.TAG_NAME, "body").text)
        assert answer["path"] == "/orders/7?tab=items"
        assert identity_of(answer) == [("x-auth-email", "alice@example.com"), ("x-auth-groups", "staff"),
                                       ("x-auth-user", "alice")]
    finally:
        driver.quit()


def identity_of(body):
    return sorted((k, v) for k, v in body["headers"] if k in IDENTITY)


def test_api_client_without_or_with_a_bad_session_gets_401(proxy):
    assert requests.get(proxy + "/api/x", timeout=10).status_code == 401
    bad = requests.get(proxy + "/api/x", headers={"Cookie": "gatehouse_session=not-a-session"}, timeout=10)
    assert bad.status_code == 401


def test_public_route_reaches_the_app_without_identity(proxy, request):
    if "caddy" in request.node.name:
        # Caddy 2.6.2 (Debian bookworm) sets a header named in copy_headers that the answer lacks to the literal
        # placeholder text; later Caddy releases leave it out. Strict: this fails loudly once Caddy is fixed.
        request.applymarker(pytest.mark.xfail(strict=True, reason="Caddy 2.6 copy_headers placeholder bug"))
    answer = requests.get(proxy + "/public/x", headers={"X-Auth-User": "root"}, timeout=10)
    assert answer.status_code == 200
    assert identity(answer) == []


def test_forged_description_from_the_client_is_overwritten(proxy):
    # The client claims the original request was for the public route: the proxy sets the real description.
    forged = {"X-Original-URL": proxy + "/public/x", "X-Forwarded-Uri": "/public/x",
              "X-Forwarded-Host": "public.test", "X-Forwarded-Method": "GET"}
    assert requests.get(proxy + "/secret", headers=forged, timeout=10, allow_redirects=False).status_code == 401


def test_direct_decision_request_with_a_forged_description_is_refused(fa_gateway):
    # Loopback is a trusted proxy here; a description with traversal is still refused (400), never decided.
    answer = requests.get(fa_gateway.url + "/.gatehouse/auth", timeout=10,
                          headers={"X-Forwarded-Host": "a", "X-Forwarded-Uri": "/../../etc/passwd"})
    assert answer.status_code == 400


def test_basic_through_the_proxy(proxy):
    # curl -u / requests' HTTPBasicAuth through the proxy: the decision checks the users file's password.
    allowed = requests.get(proxy + "/basic/report", auth=HTTPBasicAuth("alice", PASSWORD), timeout=10)
    assert allowed.status_code == 200, allowed.text
    assert identity(allowed) == [("x-auth-email", "alice@example.com"), ("x-auth-groups", "staff"),
                                 ("x-auth-user", "alice")]
    for auth in (None, HTTPBasicAuth("alice", "wrong")):
        refused = requests.get(proxy + "/basic/report", auth=auth, timeout=10, allow_redirects=False)
        assert refused.status_code == 401
        assert refused.headers.get("WWW-Authenticate") == 'Basic realm="Example scripts", charset="UTF-8"'


DOCS = Path(__file__).resolve().parents[2] / "docs" / "forward-auth.md"


def doc_block(language):
    """The first ```language block of docs/forward-auth.md."""
    match = re.search(r"```" + language + r"\n(.*?)```", DOCS.read_text(), re.S)
    assert match, language
    return match.group(1)


def directives(text):
    """Non-empty, non-comment lines without indentation (braces of str.format templates undoubled)."""
    text = text.replace("{{", "{").replace("}}", "}")
    return [line.strip() for line in text.splitlines() if line.strip() and not line.strip().startswith("#")]


@pytest.mark.parametrize("language,tested,addresses", [
    ("nginx", NGINX_FA_CONF, {"http://127.0.0.1:8080": "http://{gw}", "http://app;": "http://127.0.0.1:{app};"}),
    ("caddyfile", CADDYFILE, {"127.0.0.1:8080": "{gw}", "app:8000": "127.0.0.1:{app}",
                              "app.example.com {": "http://127.0.0.1:{port} {"}),
])
def test_documented_snippet_is_the_tested_config(language, tested, addresses):
    # Every directive of the documented snippet is in the config these tests run, with the test's addresses.
    tested_lines = directives(tested)
    for line in directives(doc_block(language)):
        for documented, used in addresses.items():
            line = line.replace(documented, used)
        assert line in tested_lines, f"docs/forward-auth.md {language} line not in the tested config: {line}"


def yaml_blocks():
    import yaml
    return [yaml.safe_load(block) for block in re.findall(r"```yaml\n(.*?)```", DOCS.read_text(), re.S)]


def test_documented_traefik_and_envoy_configs_copy_what_the_shape_tests_assume():
    # Traefik and Envoy are not packaged here: ForwardAuthProxyShapeTests.swift sends the gateway their exact
    # requests and applies these very header selections; the documented configs must name the same ones.
    blocks = yaml_blocks()
    traefik = next(b for b in blocks if "http" in b)["http"]["middlewares"]["gatehouse"]["forwardAuth"]
    assert traefik["address"].endswith("/.gatehouse/auth")
    assert traefik["trustForwardHeader"] is False
    assert traefik["authResponseHeaders"] == ["X-Auth-User", "X-Auth-Email", "X-Auth-Groups"]
    envoy = next(b for b in blocks if "http_filters" in b)
    assert envoy["normalize_path"] is True and envoy["merge_slashes"] is True
    service = envoy["http_filters"][0]["typed_config"]["http_service"]
    assert service["path_prefix"] == "/.gatehouse/auth"
    allowed = [p["exact"] for p in service["authorization_request"]["allowed_headers"]["patterns"]]
    assert allowed == ["authorization", "cookie", "accept"]
    copied = [p["exact"] for p in service["authorization_response"]["allowed_upstream_headers"]["patterns"]]
    assert copied == ["x-auth-user", "x-auth-email", "x-auth-groups"]
    # The Swift shape tests name the same lists.
    swift = (Path(__file__).resolve().parents[1] / "GatehouseIntegrationTests"
             / "ForwardAuthProxyShapeTests.swift").read_text()
    assert 'traefikCopies = ["X-Auth-User", "X-Auth-Email", "X-Auth-Groups"]' in swift
    assert 'envoyCopies = ["x-auth-user", "x-auth-email", "x-auth-groups"]' in swift
