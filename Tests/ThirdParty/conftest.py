"""Fixtures of the third-party suite: the real gateway binary between peers nobody here wrote.

Upstreams: gunicorn (WSGI apps and Django), nginx, a `websockets` server and a raw-socket Python server
sending exact bytes. Clients: curl, requests, httpx, the `websockets` client. Every peer is a child
process (or thread) on a loopback ephemeral port, started once per session, stopped at teardown, and
killed by the kernel if pytest itself dies (PR_SET_PDEATHSIG). Every wait has a timeout.
"""

import ctypes
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
import requests

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[1]
PEERS = HERE / "peers"
sys.path.insert(0, str(PEERS))

import differential_cases  # noqa: E402  (the table of raw upstream answers, beside this file)
from raw_upstream import RawUpstream  # noqa: E402  (in peers/)

PASSWORD = "correct horse battery staple"
WAIT = 20  # seconds: the longest any peer may take to start


def gatehouse_binary():
    explicit = os.environ.get("GATEHOUSE_BINARY")
    path = Path(explicit) if explicit else REPO / ".build" / "debug" / "gatehouse"
    if not path.is_file():
        raise RuntimeError(f"{path} does not exist: build first (swift build), or set GATEHOUSE_BINARY")
    return path


_libc = ctypes.CDLL(None, use_errno=True)


def _die_with_parent():
    _libc.prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG: no peer outlives a killed pytest


class Peer:
    """A child process whose stdout and stderr go to files in the test directory."""

    def __init__(self, name, argv, directory, env=None, pass_fds=(), cwd=None):
        self.name = name
        self.log_path = Path(directory) / f"{name}.log"
        with open(self.log_path, "wb") as log:
            self.process = subprocess.Popen(
                [str(a) for a in argv], stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
                env={**os.environ, **(env or {})}, pass_fds=pass_fds, cwd=cwd, preexec_fn=_die_with_parent)

    @property
    def log(self):
        return self.log_path.read_text(errors="replace")

    def wait_for(self, pattern, timeout=WAIT):
        """The first match of `pattern` in the output; fails with the output on exit or timeout."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            match = re.search(pattern, self.log)
            if match:
                return match
            if self.process.poll() is not None:
                break
            time.sleep(0.02)
        raise RuntimeError(f"{self.name} did not print {pattern!r} (exit {self.process.poll()}):\n{self.log}")

    def stop(self):
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=5)


def wait_until(check, what, timeout=WAIT):
    """Polls `check()` until it is truthy; fails naming `what` on timeout. Returns the value."""
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        try:
            value = check()
            if value:
                return value
        except (OSError, requests.RequestException) as error:
            last = error
        time.sleep(0.05)
    raise RuntimeError(f"timed out waiting for {what} (last error: {last})")


def listening_socket():
    """A bound, listening loopback socket on an ephemeral port, inheritable by a child (gunicorn fd://)."""
    sock = socket.create_server(("127.0.0.1", 0), backlog=128)
    sock.set_inheritable(True)
    return sock


def free_port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _gunicorn_options():
    # gunicorn 24+ opens a control socket at one fixed path per user: two instances would share it.
    import gunicorn.config
    names = {setting.name for setting in gunicorn.config.KNOWN_SETTINGS}
    return ["--no-control-socket"] if "control_socket" in names else []


def start_gunicorn(name, app, directory, env=None, pythonpath=PEERS):
    """gunicorn (gthread workers, so several streams at once) on a socket this process bound first."""
    sock = listening_socket()
    port = sock.getsockname()[1]
    try:
        peer = Peer(name, [sys.executable, "-m", "gunicorn", "--bind", f"fd://{sock.fileno()}",
                           "--worker-class", "gthread", "--workers", "1", "--threads", "8",
                           "--keep-alive", "120", "--timeout", "60", "--graceful-timeout", "2",
                           "--pythonpath", pythonpath, "--error-logfile", "-", *_gunicorn_options(), app],
                    directory, env=env, pass_fds=(sock.fileno(),))
    finally:
        sock.close()
    peer.wait_for(r"Booting worker")
    return peer, port


@pytest.fixture(scope="session")
def workdir(tmp_path_factory):
    return tmp_path_factory.mktemp("thirdparty")


@pytest.fixture(scope="session")
def sse_release_dir(workdir):
    path = workdir / "sse-release"
    path.mkdir()
    return path


@pytest.fixture(scope="session")
def gunicorn_app(workdir, sse_release_dir):
    """The WSGI apps of peers/wsgi_apps.py under gunicorn; base URL."""
    peer, port = start_gunicorn("gunicorn", "wsgi_apps:app", workdir, env={"SSE_RELEASE_DIR": str(sse_release_dir)})
    url = f"http://127.0.0.1:{port}"
    wait_until(lambda: requests.get(url + "/gu/health", timeout=5).ok, "gunicorn")
    yield url
    peer.stop()


# /usr/sbin is not on a non-root user's PATH on Debian.
NGINX = shutil.which("nginx") or "/usr/sbin/nginx"

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
  types {{ text/html html; text/plain txt; application/octet-stream bin; }}
  default_type application/octet-stream;
  keepalive_timeout 120s;
  server {{
    listen 127.0.0.1:{port};
    root {d}/www;
    etag on;
    gzip on;
    gzip_types text/plain;
    gzip_min_length 1;
    gzip_proxied any;
    gzip_vary on;
    error_page 404 /404.html;
  }}
}}
"""


@pytest.fixture(scope="session")
def nginx(workdir):
    """nginx as a static-file upstream with its own prefix and config; (base URL, www directory)."""
    directory = workdir / "nginx"
    www = directory / "www"
    (www / "ng").mkdir(parents=True)
    (www / "ng" / "big.bin").write_bytes(os.urandom(3 * 1024 * 1024 + 17))
    (www / "ng" / "text.txt").write_text("".join(f"line {i}: the quick brown fox jumps over the lazy dog\n"
                                                 for i in range(20000)))
    (www / "ng" / "index.html").write_text("<!doctype html><title>ng</title><p>hello from nginx</p>\n")
    for name in ("caf\u00e9.txt", "a b.txt", "100%.txt", "x+y.txt", "semi;colon.txt", "~tilde.txt"):
        (www / "ng" / name).write_text(f"file {name}\n")
    (www / "404.html").write_text("<!doctype html><title>404</title><p>nginx's own not-found page</p>\n")
    last_error = None
    for attempt in range(3):  # the port is picked before nginx binds it: another process may take it first
        port = free_port()
        (directory / "nginx.conf").write_text(NGINX_CONF.format(d=directory, port=port))
        peer = Peer(f"nginx-{attempt}", [NGINX, "-p", directory, "-e", directory / "error.log",
                                         "-c", directory / "nginx.conf", "-g", "daemon off;"], directory)
        url = f"http://127.0.0.1:{port}"
        try:
            wait_until(lambda: peer.process.poll() is not None
                       or requests.get(url + "/ng/index.html", timeout=5).ok, "nginx")
        except RuntimeError:
            peer.stop()
            raise
        if peer.process.poll() is None:
            yield url, www
            peer.stop()
            return
        last_error = peer.log + (directory / "error.log").read_text(errors="replace")
    raise RuntimeError(f"nginx did not start: {last_error}")


@pytest.fixture(scope="session")
def websocket_server(workdir):
    peer = Peer("websockets", [sys.executable, PEERS / "ws_echo.py"], workdir)
    port = int(peer.wait_for(r"listening (\d+)").group(1))
    yield port
    peer.stop()


@pytest.fixture(scope="session")
def raw_upstream():
    upstream = RawUpstream(differential_cases.answers())
    yield upstream
    upstream.stop()


DJANGO_SETTINGS = """\
SECRET_KEY = "third-party-suite-" + "x" * 40
DEBUG = False
ALLOWED_HOSTS = ["*"]
ROOT_URLCONF = "ghapp"
USE_TZ = True
INSTALLED_APPS = ["django.contrib.contenttypes", "django.contrib.auth", "django.contrib.sessions"]
MIDDLEWARE = [
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",  # as startproject has it (it sets Content-Length)
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "ghapp.XAuthUserMiddleware",
]
AUTHENTICATION_BACKENDS = ["django.contrib.auth.backends.RemoteUserBackend"]
DATABASES = {{"default": {{"ENGINE": "django.db.backends.sqlite3", "NAME": {db!r}}}}}
"""

DJANGO_APP = """\
from django.contrib.auth.middleware import RemoteUserMiddleware
from django.http import JsonResponse
from django.urls import re_path


class XAuthUserMiddleware(RemoteUserMiddleware):
    # The identity the gateway injects (X-Auth-User), as WSGI names it.
    header = "HTTP_X_AUTH_USER"


def whoami(request):
    return JsonResponse({"user": request.user.get_username(), "authenticated": request.user.is_authenticated,
                         "email_header": request.META.get("HTTP_X_AUTH_EMAIL")})


urlpatterns = [re_path(r"^(?:dj|djopt)/whoami$", whoami)]
"""


@pytest.fixture(scope="session")
def django_app(workdir):
    """A Django project (settings written here) reading the user from X-Auth-User, under gunicorn."""
    directory = workdir / "django"
    directory.mkdir()
    (directory / "ghsettings.py").write_text(DJANGO_SETTINGS.format(db=str(directory / "db.sqlite3")))
    (directory / "ghapp.py").write_text(DJANGO_APP)
    env = {"DJANGO_SETTINGS_MODULE": "ghsettings", "PYTHONPATH": str(directory)}
    subprocess.run([sys.executable, "-m", "django", "migrate", "--verbosity", "0"], cwd=directory,
                   env={**os.environ, **env}, check=True, timeout=120)
    peer, port = start_gunicorn("django", "django.core.wsgi:get_wsgi_application()", directory, env=env,
                                pythonpath=directory)
    url = f"http://127.0.0.1:{port}"
    wait_until(lambda: requests.get(url + "/dj/whoami", timeout=5).status_code == 200, "django")
    yield url
    peer.stop()


def bcrypt_hash(password):
    """A bcrypt hash made by htpasswd (Debian apache2-utils), not by the gateway."""
    out = subprocess.run(["htpasswd", "-nbB", "-C", "5", "user", password], capture_output=True, text=True,
                         check=True, timeout=30).stdout
    return out.strip().split(":", 1)[1]


GATEWAY_CONFIG = """\
server:
  listen: ["127.0.0.1:0"]
  workers: 2
admin:
  listen: "127.0.0.1:0"
access_log:
  path: stdout
upstreams:
  gunicorn: {{ servers: ["{gunicorn}"] }}
  nginx: {{ servers: ["{nginx}"] }}
  raw: {{ servers: ["{raw}"] }}
  websocket: {{ servers: ["{websocket}"] }}
  django: {{ servers: ["{django}"] }}
login:
  users_file: "{d}/users.yaml"
  rate_limit: {{ failures: 1000, window: 1m }}
sessions:
  embedded: {{ path: "{d}/sessions.sqlite" }}
routes:
  - {{ name: gunicorn, match: {{ path_prefix: /gu/ }}, upstream: gunicorn, auth: none }}
  - {{ name: nginx, match: {{ path_prefix: /ng/ }}, upstream: nginx, auth: none }}
  - {{ name: raw, match: {{ path_prefix: /raw/ }}, upstream: raw, auth: none }}
  - {{ name: websocket, match: {{ path_prefix: /ws/ }}, upstream: websocket, accept: [session] }}
  - name: django
    match: {{ path_prefix: /dj/ }}
    upstream: django
    accept: [session]
    unauthenticated: login
  - {{ name: django-optional, match: {{ path_prefix: /djopt/ }}, upstream: django, auth: optional,
      accept: [session] }}
"""


class Gateway:
    """`gatehouse run` on a config written for the session; ready once the admin listener's /readyz says so."""

    def __init__(self, directory, config):
        (directory / "gatehouse.yaml").write_text(config)
        self.peer = Peer("gatehouse", [gatehouse_binary(), "run", "--config", directory / "gatehouse.yaml"],
                         directory, cwd=directory)
        self.port = int(self.peer.wait_for(r"(?<!admin )listening on 127\.0\.0\.1:(\d+)").group(1))
        self.admin_port = int(self.peer.wait_for(r"admin listening on 127\.0\.0\.1:(\d+)").group(1))
        self.url = f"http://127.0.0.1:{self.port}"
        wait_until(lambda: requests.get(f"http://127.0.0.1:{self.admin_port}/readyz", timeout=5).status_code == 200,
                   "the gateway's /readyz")

    def sign_in(self, session, user="alice", password=PASSWORD):
        """The login page's form post; returns the answer (303 with the session cookie)."""
        return session.post(self.url + "/.gatehouse/login", data={"username": user, "password": password},
                            allow_redirects=False, timeout=10)


@pytest.fixture(scope="session")
def gateway(workdir, gunicorn_app, nginx, raw_upstream, websocket_server, django_app):
    directory = workdir / "gateway"
    directory.mkdir()
    (directory / "users.yaml").write_text(
        f'users:\n  alice:\n    password: "{bcrypt_hash(PASSWORD)}"\n    email: alice@example.com\n'
        "    groups: [staff]\n")
    config = GATEWAY_CONFIG.format(
        d=directory, gunicorn=gunicorn_app.removeprefix("http://"), nginx=nginx[0].removeprefix("http://"),
        raw=f"127.0.0.1:{raw_upstream.port}", websocket=f"127.0.0.1:{websocket_server}",
        django=django_app.removeprefix("http://"))
    gw = Gateway(directory, config)
    yield gw
    gw.peer.stop()


@pytest.fixture(scope="session")
def signed_in(gateway):
    """A requests session signed in as alice through the gateway's own login endpoint."""
    session = requests.Session()
    answer = gateway.sign_in(session)
    assert answer.status_code == 303, answer.text
    assert session.cookies.get("gatehouse_session"), answer.headers
    return session


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    # A client library's error can quote a whole (binary, multi-MB) body: keep each failure readable.
    outcome = yield
    report = outcome.get_result()
    if report.failed and report.longrepr is not None:
        lines = [line if len(line) <= 400 else line[:400] + " [... cut ...]" for line in str(report.longrepr).split("\n")]
        text = "\n".join(lines)
        report.longrepr = text if len(text) <= 6000 else text[:3000] + "\n[... cut ...]\n" + text[-3000:]
