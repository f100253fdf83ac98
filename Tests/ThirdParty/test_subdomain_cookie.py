"""sessions.cookie.domain (issue 12 part 6) with real clients: curl's cookie jar (hosts resolved to loopback with
--resolve) and httpx's, both sending a cookie set on app.example.com to wiki.example.com."""

import json

import httpx
import pytest

from conftest import PASSWORD, Gateway, bcrypt_hash
from httpcheck import curl, curl_headers, header

CONFIG = """\
server:
  listen: ["127.0.0.1:0"]
  workers: 2
admin:
  listen: "127.0.0.1:0"
access_log:
  path: stdout
upstreams:
  gunicorn: {{ servers: ["{gunicorn}"] }}
login:
  users_file: "{d}/users.yaml"
  rate_limit: {{ failures: 1000, window: 1m }}
sessions:
  embedded: {{ path: "{d}/sessions.sqlite" }}
  cookie: {{ domain: example.com }}
routes:
  - {{ name: wiki, match: {{ host: wiki.example.com, path_prefix: /gu/ }}, upstream: gunicorn, accept: [session],
      unauthenticated: status }}
  - {{ name: app, match: {{ host: app.example.com, path_prefix: /gu/ }}, upstream: gunicorn, accept: [session],
      unauthenticated: status }}
"""


@pytest.fixture(scope="module")
def domain_gateway(workdir, gunicorn_app):
    directory = workdir / "domain-gateway"
    directory.mkdir()
    (directory / "users.yaml").write_text(
        f'users:\n  alice:\n    password: "{bcrypt_hash(PASSWORD)}"\n    email: alice@example.com\n')
    gw = Gateway(directory, CONFIG.format(d=directory, gunicorn=gunicorn_app.removeprefix("http://")))
    yield gw
    gw.peer.stop()


def test_curl_cookie_jar_carries_the_sign_in_to_the_other_subdomain(domain_gateway, tmp_path):
    port = domain_gateway.port
    resolve = ["--resolve", f"app.example.com:{port}:127.0.0.1", "--resolve", f"wiki.example.com:{port}:127.0.0.1"]
    jar, head = tmp_path / "jar", tmp_path / "head"
    target = f"http://wiki.example.com:{port}/gu/headers"
    # Sign in on app.example.com; rd names the wiki (same port as this request: allowed).
    done = curl(*resolve, "-c", jar, "-D", head, "--data-urlencode", "username=alice",
                "--data-urlencode", f"password={PASSWORD}", "--data-urlencode", f"rd={target}",
                f"http://app.example.com:{port}/.gatehouse/login")
    assert done.returncode == 0, done.stderr.decode()
    status, fields = curl_headers(head)
    assert status == 303
    assert header(fields, "location") == [target]
    # curl's jar holds a domain cookie: ".example.com", include-subdomains TRUE.
    entries = [line.split("\t") for line in jar.read_text().splitlines() if "gatehouse_session" in line]
    assert len(entries) == 1 and entries[0][0].endswith(".example.com") and entries[0][1] == "TRUE", entries
    # The jar sends it to wiki.example.com by itself; the upstream sees the identity.
    done = curl(*resolve, "-b", jar, target)
    assert done.returncode == 0, done.stderr.decode()
    seen = json.loads(done.stdout)
    assert seen.get("HTTP_X_AUTH_USER") == "alice", seen
    assert seen.get("HTTP_HOST") == f"wiki.example.com:{port}"
    assert "gatehouse_session" not in seen.get("HTTP_COOKIE", "")
    # Followed in one go (-L: POST, 303, GET on the other host with the jar's cookie).
    jar2 = tmp_path / "jar2"
    done = curl(*resolve, "-L", "-c", jar2, "-b", jar2, "--data-urlencode", "username=alice",
                "--data-urlencode", f"password={PASSWORD}", "--data-urlencode", f"rd={target}",
                f"http://app.example.com:{port}/.gatehouse/login")
    assert done.returncode == 0, done.stderr.decode()
    assert json.loads(done.stdout).get("HTTP_X_AUTH_USER") == "alice"
    # Without the jar the wiki refuses.
    done = curl(*resolve, "-o", "/dev/null", "-w", "%{http_code}", target)
    assert done.stdout == b"401"


class _Loopback(httpx.HTTPTransport):
    """Connects every request to the gateway on loopback; the client (and its cookie jar) keeps the real names."""

    def __init__(self, port):
        super().__init__()
        self.port = port

    def handle_request(self, request):
        # A copy: the client reads cookies against the request it made (the real host), not this one.
        loopback = httpx.Request(request.method, request.url.copy_with(host="127.0.0.1", port=self.port),
                                 headers=request.headers, stream=request.stream)
        return super().handle_request(loopback)


def test_httpx_cookie_jar_carries_the_sign_in_to_the_other_subdomain(domain_gateway):
    port = domain_gateway.port
    with httpx.Client(transport=_Loopback(port), timeout=10) as client:
        answer = client.post("http://app.example.com/.gatehouse/login",
                             data={"username": "alice", "password": PASSWORD, "rd": "https://wiki.example.com/gu/x"})
        assert answer.status_code == 303
        assert answer.headers["location"] == "https://wiki.example.com/gu/x"
        assert [c.domain for c in client.cookies.jar] == [".example.com"]
        seen = client.get("http://wiki.example.com/gu/headers").json()
        assert seen["HTTP_X_AUTH_USER"] == "alice"
        assert seen["HTTP_HOST"] == "wiki.example.com"
        # Logout on the wiki clears the shared cookie for both hosts.
        assert client.post("http://wiki.example.com/.gatehouse/logout").status_code == 204
        assert client.get("http://app.example.com/gu/headers").status_code == 401
        # An off-domain rd is ignored.
        answer = client.post("http://app.example.com/.gatehouse/login",
                             data={"username": "alice", "password": PASSWORD, "rd": "https://example.com.evil.com/"})
        assert answer.headers["location"] == "/.gatehouse/account"
