"""HTTP Basic in both directions with independent clients and servers: curl -u and Python requests'
HTTPBasicAuth against `accept: [basic]`, and a real nginx with `auth_basic` + an htpasswd file (apache2-utils)
accepting the `Authorization: Basic` the gateway injects (`inject_basic`), never the user's own password.
"""

import json
import subprocess
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
import requests
from requests.auth import HTTPBasicAuth

from conftest import NGINX, PASSWORD, Gateway, Peer, bcrypt_hash, free_port, wait_until

SECRET = "legacy-upstream-secret"
CHALLENGE = 'Basic realm="Scripts", charset="UTF-8"'


class _Echo(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

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
def echo():
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Echo)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield server.server_address[1]
    server.shutdown()


NGINX_BASIC_CONF = """\
master_process off;
worker_processes 1;
pid {d}/nginx.pid;
error_log {d}/error.log warn;
events {{ worker_connections 64; }}
http {{
  log_format who '$remote_user $request_uri $status';
  access_log {d}/access.log who;
  client_body_temp_path {d}/body;
  proxy_temp_path {d}/proxy;
  fastcgi_temp_path {d}/fcgi;
  uwsgi_temp_path {d}/uwsgi;
  scgi_temp_path {d}/scgi;
  server {{
    listen 127.0.0.1:{port};
    root {d}/www;
    location = /up {{ return 204; }}
    location /legacy/ {{
      auth_basic "legacy app";
      auth_basic_user_file {d}/htpasswd;
    }}
  }}
}}
"""


@pytest.fixture(scope="module")
def legacy_nginx(workdir):
    """nginx serving /legacy/ behind auth_basic; its only user is alice with the upstream's secret (htpasswd -B)."""
    directory = workdir / "nginx-basic"
    (directory / "www" / "legacy").mkdir(parents=True)
    (directory / "www" / "legacy" / "page.txt").write_text("the legacy page\n")
    subprocess.run(["htpasswd", "-cbB", "-C", "5", str(directory / "htpasswd"), "alice", SECRET], check=True,
                   capture_output=True, timeout=30)
    for attempt in range(3):
        port = free_port()
        (directory / "nginx.conf").write_text(NGINX_BASIC_CONF.format(d=directory, port=port))
        peer = Peer(f"nginx-basic-{attempt}", [NGINX, "-p", directory, "-e", directory / "error.log",
                                               "-c", directory / "nginx.conf", "-g", "daemon off;"], directory)
        url = f"http://127.0.0.1:{port}"
        wait_until(lambda: peer.process.poll() is not None
                   or requests.get(url + "/up", timeout=5).status_code == 204, "nginx")
        if peer.process.poll() is None:
            yield url, directory
            peer.stop()
            return
    raise RuntimeError("nginx did not start: " + (directory / "error.log").read_text(errors="replace"))


BASIC_GATEWAY = """\
server:
  listen: ["127.0.0.1:0"]
  workers: 1
admin:
  listen: "127.0.0.1:0"
access_log:
  path: stdout
upstreams:
  echo: {{ servers: ["127.0.0.1:{echo}"] }}
  legacy:
    servers: ["{legacy}"]
    inject_basic: {{ username: "{{sub}}", password_file: "{d}/legacy.pw" }}
login:
  users_file: "{d}/users.yaml"
  rate_limit: {{ failures: 1000, window: 1m }}
sessions:
  embedded: {{ path: "{d}/sessions.sqlite" }}
routes:
  - name: api
    match: {{ path_prefix: /api }}
    upstream: echo
    accept: [basic]
    basic: {{ realm: Scripts, cache_ttl: 5m }}
  - name: legacy
    match: {{ path_prefix: /legacy/ }}
    upstream: legacy
    accept: [basic, session]
"""


@pytest.fixture(scope="module")
def basic_gateway(workdir, echo, legacy_nginx):
    directory = workdir / "basic-gateway"
    directory.mkdir()
    (directory / "users.yaml").write_text(
        f'users:\n  alice:\n    password: "{bcrypt_hash(PASSWORD)}"\n    email: alice@example.com\n'
        "    groups: [staff]\n")
    (directory / "legacy.pw").write_text(SECRET + "\n")
    gw = Gateway(directory, BASIC_GATEWAY.format(d=directory, echo=echo,
                                                 legacy=legacy_nginx[0].removeprefix("http://")))
    yield gw
    gw.peer.stop()


def metric(gw, name):
    text = requests.get(f"http://127.0.0.1:{gw.admin_port}/metrics", headers={"Host": "localhost"}, timeout=5).text
    for line in text.splitlines():
        if line.startswith(name + " "):
            return float(line.split()[1])
    return 0.0


def identity(answer):
    return identity_of(answer.json())


def identity_of(echoed):
    """The identity (and any Authorization) the app received, as sorted (name, value) pairs."""
    return sorted((k, v) for k, v in echoed["headers"] if k.startswith("x-auth-") or k == "authorization")


def curl(*args):
    return subprocess.run(["curl", "-sS", "--max-time", "10", *map(str, args)], capture_output=True, timeout=20)


def test_curl_u(basic_gateway, tmp_path):
    heads = tmp_path / "head"
    done = curl("-u", f"alice:{PASSWORD}", "-D", heads, basic_gateway.url + "/api/orders")
    assert done.returncode == 0, done.stderr.decode()
    assert heads.read_text().startswith("HTTP/1.1 200")
    assert identity_of(json.loads(done.stdout)) == [
        ("x-auth-email", "alice@example.com"), ("x-auth-groups", "staff"), ("x-auth-user", "alice")]
    wrong = curl("-u", "alice:wrong", "-D", heads, "-o", tmp_path / "body", basic_gateway.url + "/api/orders")
    assert wrong.returncode == 0
    head = heads.read_bytes().decode()
    assert head.startswith("HTTP/1.1 401")
    assert f"WWW-Authenticate: {CHALLENGE}\r\n" in head
    # curl's own challenge handling: --basic after a 401 retries with the credentials (what a script does).
    anyauth = curl("--anyauth", "-u", f"alice:{PASSWORD}", "-o", tmp_path / "body", "-w", "%{http_code}",
                   basic_gateway.url + "/api/orders")
    assert anyauth.stdout.decode() == "200"


def test_requests_httpbasicauth_hits_the_cache(basic_gateway):
    before = metric(basic_gateway, "gatehouse_basic_password_checks_total")
    hits = metric(basic_gateway, "gatehouse_basic_cache_hits_total")
    with requests.Session() as script:
        script.auth = HTTPBasicAuth("alice", PASSWORD)
        for n in range(20):
            answer = script.get(basic_gateway.url + f"/api/item/{n}", timeout=10)
            assert answer.status_code == 200, answer.text
            assert ("x-auth-user", "alice") in identity(answer)
            assert "authorization" not in dict(answer.json()["headers"]), "the password never reaches the app"
    assert metric(basic_gateway, "gatehouse_basic_password_checks_total") - before <= 1
    assert metric(basic_gateway, "gatehouse_basic_cache_hits_total") - hits >= 19
    refused = requests.get(basic_gateway.url + "/api/x", auth=HTTPBasicAuth("alice", "nope"), timeout=10)
    assert refused.status_code == 401
    assert refused.headers["WWW-Authenticate"] == CHALLENGE


def test_nginx_auth_basic_accepts_the_injected_credential(basic_gateway, legacy_nginx):
    url, directory = legacy_nginx
    # nginx itself refuses without the secret, and refuses the user's own password.
    assert requests.get(url + "/legacy/page.txt", timeout=10).status_code == 401
    assert requests.get(url + "/legacy/page.txt", auth=HTTPBasicAuth("alice", PASSWORD), timeout=10).status_code == 401
    # Through the gateway: alice's own password in, the upstream's secret out.
    answer = requests.get(basic_gateway.url + "/legacy/page.txt", auth=HTTPBasicAuth("alice", PASSWORD), timeout=10)
    assert answer.status_code == 200, answer.text
    assert answer.text == "the legacy page\n"
    # And for a session signed in with the login form, too.
    browser = requests.Session()
    assert basic_gateway.sign_in(browser).status_code == 303
    assert browser.get(basic_gateway.url + "/legacy/page.txt", timeout=10).status_code == 200
    wait_until(lambda: (directory / "access.log").read_text().count("alice /legacy/page.txt 200") >= 2,
               "nginx's access log")
    # Without a credential the gateway refuses before nginx is asked.
    assert requests.get(basic_gateway.url + "/legacy/page.txt", timeout=10).status_code == 401
