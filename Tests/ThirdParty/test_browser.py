"""The sign-in pages used the way a person uses them: Debian's chromium, headless, driven by Selenium.

The browser types into the gateway's own login page, follows its redirects, stores its cookie, and posts the
site's "Sign out" button, in front of a real app (peers/browser_app.py under gunicorn) that shows the headers it
received. Another site on another port plays the hostile page. Chromium absent is an error, not a skip.
"""

import base64
import hashlib
import hmac
import json
import struct
import time
from pathlib import Path
from urllib.parse import urlsplit

import pytest
import requests
from selenium.webdriver.common.by import By

from browser_support import (NAME, OtherSite, console_errors, element, fill_login_form, self_signed_certificate,
                             start_chromium, wait, wait_for_url)
from conftest import PASSWORD, Gateway, bcrypt_hash, start_gunicorn, wait_until

COOKIE = "gatehouse_session"
# trent's TOTP secret: RFC 6238 appendix B's SHA-1 seed, in base32 as an authenticator app takes it.
TOTP_SECRET = b"12345678901234567890"
TOTP_SECRET_BASE32 = base64.b32encode(TOTP_SECRET).decode()
ABSOLUTE_TTL = 2 * 3600

BROWSER_GATEWAY_CONFIG = """\
server:
  listen: ["127.0.0.1:0"]
  workers: 1
  tls:
    listen: ["127.0.0.1:0"]
    certificates: [{{ certificate: "{certificate}", private_key: "{key}" }}]
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
  cookie: {{ secure: auto, same_site: strict }}
  absolute_ttl: 2h
routes:
  - name: two-step
    match: {{ path_prefix: /private-otp }}
    upstream: app
    accept: [session]
    unauthenticated: login
    require_second_factor: true
    identity_headers: {{ X-Auth-User: "{{sub}}", X-Auth-AMR: "{{amr}}" }}
  - name: private
    match: {{ path_prefix: /private }}
    upstream: app
    accept: [session]
    unauthenticated: login
  - {{ name: site, match: {{ path_prefix: / }}, upstream: app, auth: none }}
"""


@pytest.fixture(scope="module")
def browser_app(workdir):
    peer, port = start_gunicorn("browser-app", "browser_app:app", workdir)
    wait_until(lambda: requests.get(f"http://127.0.0.1:{port}/", timeout=5).ok, "the browser app")
    yield f"127.0.0.1:{port}"
    peer.stop()


@pytest.fixture(scope="module")
def site(workdir, browser_app):
    """The gateway in front of the app, on a plain (`site.port`, `site.url`) and a TLS listener (`site.tls_port`)."""
    directory = workdir / "browser-gateway"
    directory.mkdir()
    (directory / "users.yaml").write_text(
        f'users:\n  alice:\n    password: "{bcrypt_hash(PASSWORD)}"\n    email: alice@example.com\n'
        f'  trent:\n    password: "{bcrypt_hash(PASSWORD)}"\n    totp_secret: "{TOTP_SECRET_BASE32}"\n')
    certificate, key = self_signed_certificate(directory)
    gateway = Gateway(directory, BROWSER_GATEWAY_CONFIG.format(d=directory, certificate=certificate, key=key,
                                                                app=browser_app))
    gateway.tls_port = int(gateway.peer.wait_for(r"listening on 127\.0\.0\.1:(\d+) \(TLS\)").group(1))
    yield gateway
    gateway.peer.stop()


@pytest.fixture(scope="module")
def chromium(workdir):
    driver = start_chromium(workdir / "chromium-profile", workdir / "chromedriver.log")
    yield driver
    driver.quit()


@pytest.fixture
def browser(chromium):
    """The browser with no cookie at all (of any host or port), a blank page and an empty console."""
    chromium.get("about:blank")
    chromium.execute_cdp_cmd("Network.clearBrowserCookies", {})
    console_errors(chromium)
    return chromium


@pytest.fixture(scope="module")
def other_site():
    server = OtherSite()
    yield server
    server.stop()


def on_login_page(url, base):
    return url.startswith(base + "/.gatehouse/login")


def session_cookies(browser):
    return [c for c in browser.get_cookies() if c["name"] == COOKIE]


def sign_in(browser, base, path="/private/start"):
    """Opens a protected page, signs in on the login page it lands on, and waits to be back on that page."""
    browser.get(base + path)
    wait_for_url(browser, lambda url: on_login_page(url, base), "the login page")
    fill_login_form(browser, "alice", PASSWORD)
    wait_for_url(browser, lambda url: url == base + path, path)
    assert element(browser, "#h-x-auth-user").text == "alice"


def test_protected_page_sends_the_browser_to_sign_in_and_back(site, browser, workdir):
    asked = site.url + "/private/reports/2026?year=2026&sort=name"
    browser.get(asked)
    login_url = wait_for_url(browser, lambda url: on_login_page(url, site.url), "the login page")
    assert "rd=" in login_url
    assert browser.title == "Sign in"
    assert browser.execute_script("return document.activeElement.id") == "username"
    browser.save_screenshot(str(workdir / "login-page.png"))
    assert console_errors(browser) == []  # nothing the page's own CSP refuses, nothing that failed to load

    # A wrong password: the page says so, the browser holds no session cookie, and the form still carries rd.
    fill_login_form(browser, "alice", "not the password")
    error = element(browser, ".error[role=alert]")
    assert error.text == "Wrong user name or password."
    assert browser.current_url == site.url + "/.gatehouse/login"
    assert session_cookies(browser) == []
    assert element(browser, "input#username").get_attribute("value") == "alice"
    assert element(browser, "input#password").get_attribute("value") == ""
    # The cursor is in the password field, where the person types next (the name is already there).
    assert browser.execute_script("return document.activeElement.id") == "password"
    assert element(browser, "input[name=rd]").get_attribute("value") == "/private/reports/2026?year=2026&sort=name"
    browser.save_screenshot(str(workdir / "login-page-error.png"))
    assert [e for e in console_errors(browser) if "401" not in e] == []  # only the status itself

    # The right one: the browser ends on the page it asked for, and the app saw who signed in.
    fill_login_form(browser, "alice", PASSWORD)
    wait_for_url(browser, lambda url: url == asked, asked)
    assert element(browser, "#target").text == "/private/reports/2026?year=2026&sort=name"
    assert element(browser, "#h-x-auth-user").text == "alice"
    assert element(browser, "#h-x-auth-email").text == "alice@example.com"
    # The gateway's cookie is its own: not handed to the app.
    assert all(COOKIE not in e.text for e in browser.find_elements(By.CSS_SELECTOR, "#h-cookie"))
    assert len(session_cookies(browser)) == 1


def test_signing_in_over_plain_http_to_a_host_name(site, browser):
    # Chromium sends no Sec-Fetch-Site to such an origin (not a secure context), so the gateway's cross-site
    # check reads Origin: the login page's own referrer policy must let the browser send it (not `null`).
    base = f"http://{NAME}:{site.port}"
    sign_in(browser, base, "/private/named")
    assert element(browser, "#h-x-auth-user").text == "alice"
    assert len(session_cookies(browser)) == 1


@pytest.mark.parametrize("path", ["/private/a%20b", "/private/caf%C3%A9", "/private/x%3Fy"])
def test_the_round_trip_keeps_an_escaped_path(site, browser, path):
    sign_in(browser, site.url, path)  # back on exactly `path`, not a decoded (or split at `?`) version of it


def test_the_session_cookie_as_the_browser_keeps_it(site, browser):
    signed_in_at = time.time()
    sign_in(browser, site.url)
    [cookie] = session_cookies(browser)
    assert cookie["httpOnly"] is True
    assert cookie["sameSite"] == "Strict"  # as configured
    assert cookie["path"] == "/"
    assert cookie["secure"] is False  # plain http, secure: auto
    assert cookie["domain"] == "127.0.0.1"  # host-only: no Domain attribute
    assert len(cookie["value"]) == 43
    assert signed_in_at + ABSOLUTE_TTL - 60 <= cookie["expiry"] <= time.time() + ABSOLUTE_TTL + 60
    # Scripts on the site cannot read it.
    assert COOKIE not in browser.execute_script("return document.cookie")


def test_the_session_cookie_is_secure_over_tls(site, browser):
    secure_site = f"https://{NAME}:{site.tls_port}"
    sign_in(browser, secure_site, "/private/tls")
    assert element(browser, "#h-x-forwarded-proto").text == "https"
    [cookie] = session_cookies(browser)
    assert cookie["secure"] is True and cookie["httpOnly"] is True and cookie["sameSite"] == "Strict"
    assert COOKIE not in browser.execute_script("return document.cookie")
    # A Secure cookie is not sent over plain http to the same host name (chromium would send it to 127.0.0.1 or
    # localhost, which count as secure contexts even over http).
    plain_site = f"http://{NAME}:{site.port}"
    browser.get(plain_site + "/private/plain")
    wait_for_url(browser, lambda url: on_login_page(url, plain_site), "the login page over plain http")


def read_sessions(browser, base):
    """The devices list as the browser shows it (chromium renders a JSON answer as text)."""
    browser.get(base + "/.gatehouse/sessions")
    return json.loads(element(browser, "body").text)


def current_device(browser, base):
    [device] = [d for d in read_sessions(browser, base)["sessions"] if d["current"]]
    return device["handle"]


def test_the_devices_list_and_the_sites_sign_out_button(site, browser):
    sign_in(browser, site.url, "/private/devices")
    [device] = [d for d in read_sessions(browser, site.url)["sessions"] if d["current"]]
    assert device["user"] == "alice" and device["kind"] == "cookie"
    assert device["user_agent"] == browser.execute_script("return navigator.userAgent")
    assert device["address"] == "127.0.0.1"

    browser.get(site.url + "/private/devices")
    [old] = session_cookies(browser)
    element(browser, "#logout").click()
    wait_for_url(browser, lambda url: url == site.url + "/.gatehouse/login", "the login page after signing out")
    assert session_cookies(browser) == []

    browser.get(site.url + "/private/devices")
    wait_for_url(browser, lambda url: on_login_page(url, site.url), "the login page again")
    # The session ended at the gateway, not only in this browser: its old cookie, put back, opens nothing.
    browser.add_cookie({"name": COOKIE, "value": old["value"], "path": "/"})
    browser.get(site.url + "/private/devices")
    wait_for_url(browser, lambda url: on_login_page(url, site.url), "the login page with the old cookie")
    browser.get(site.url + "/.gatehouse/sessions")
    assert json.loads(element(browser, "body").text)["error"] == "unauthorized"


@pytest.mark.parametrize("query", [
    "rd=https://evil.example/", "rd=//evil.example/", "rd=%2F%2Fevil.example%2F", "rd=/%5Cevil.example/",
    "rd=%5C%5Cevil.example", "rd=/%09/evil.example/", "rd=https:evil.example", "rd=javascript:alert(1)",
])
def test_signing_in_never_leaves_the_site(site, browser, query):
    browser.get(site.url + "/.gatehouse/login?" + query)
    assert browser.find_elements(By.CSS_SELECTOR, "input[name=rd]") == []  # not carried into the form
    fill_login_form(browser, "alice", PASSWORD)
    landed = wait_for_url(browser, lambda url: not on_login_page(url, site.url), "a page after signing in")
    assert urlsplit(landed).netloc == urlsplit(site.url).netloc, landed
    assert landed == site.url + "/.gatehouse/account"  # no usable rd: the account page (issue 14)
    assert browser.title == "Your account"


# (the gateway's host, the hostile page's host). On 127.0.0.1 chromium sends Sec-Fetch-Site (same-site from another
# port of 127.0.0.1, cross-site from localhost); to a plain-http host name it sends none, only Origin, and a
# subdomain is the same site, so the SameSite cookie goes along.
CROSS_SITE = [("127.0.0.1", "127.0.0.1"), ("127.0.0.1", "localhost"), (NAME, "127.0.0.1"), (NAME, "evil." + NAME)]


@pytest.mark.parametrize("gateway_host, hostile_host", CROSS_SITE)
def test_another_sites_form_cannot_sign_the_user_out(site, browser, other_site, gateway_host, hostile_host):
    base = f"http://{gateway_host}:{site.port}"
    sign_in(browser, base, "/private/csrf")
    current = current_device(browser, base)
    other_site.auto_submitting_form("/logout", base + "/.gatehouse/logout", {})
    browser.get(f"http://{hostile_host}:{other_site.port}/logout")
    wait_for_url(browser, lambda url: url == base + "/.gatehouse/logout", "the gateway's answer to the post")
    assert "cross_site_request" in element(browser, "body").text

    assert len(session_cookies(browser)) == 1
    browser.get(base + "/private/csrf")
    assert element(browser, "#h-x-auth-user").text == "alice"
    assert current_device(browser, base) == current


@pytest.mark.parametrize("gateway_host, hostile_host", CROSS_SITE)
def test_another_sites_form_cannot_sign_the_browser_in(site, browser, other_site, gateway_host, hostile_host):
    # Login CSRF: a hostile page signing the victim's browser in to an account the attacker controls.
    base = f"http://{gateway_host}:{site.port}"
    other_site.auto_submitting_form("/login", base + "/.gatehouse/login",
                                    {"username": "alice", "password": PASSWORD, "rd": "/private/planted"})
    browser.get(f"http://{hostile_host}:{other_site.port}/login")
    wait_for_url(browser, lambda url: url == base + "/.gatehouse/login", "the gateway's answer to the post")
    assert "cross_site_request" in element(browser, "body").text
    assert session_cookies(browser) == []
    browser.get(base + "/private/planted")
    wait_for_url(browser, lambda url: on_login_page(url, base), "the login page")


def test_the_login_page_fits_a_small_phone(site, browser):
    browser.set_window_size(320, 640)
    try:
        browser.get(site.url + "/.gatehouse/login")
        width = browser.execute_script("return window.innerWidth")
        assert width <= 330, width  # the window really is that narrow
        # The whole form is on screen: nothing cut off at either side (a centred box that could not shrink
        # would overflow to the left too, where no scrolling reaches).
        form = element(browser, "form").rect
        assert form["x"] >= 0 and form["x"] + form["width"] <= width, (form, width)
        assert browser.execute_script("return document.documentElement.scrollWidth") <= width
    finally:
        browser.set_window_size(1024, 768)


@pytest.mark.parametrize("hostile_host", ["127.0.0.1", "localhost"])
def test_another_site_cannot_read_the_devices_list(site, browser, other_site, hostile_host):
    # The list holds addresses and user agents: a script elsewhere may make the browser ask, never read the answer.
    sign_in(browser, site.url, "/private/read")
    other_site.serve("/blank", "<!doctype html><title>another site</title><p>hello</p>")
    browser.get(f"http://{hostile_host}:{other_site.port}/blank")
    asked_before = answered_device_lists(site)
    outcome = browser.execute_async_script("""
        const done = arguments[arguments.length - 1];
        fetch(arguments[0], {credentials: "include"}).then(r => r.text()).then(t => done("read: " + t),
                                                                              e => done("refused: " + e));
    """, site.url + "/.gatehouse/sessions")
    assert outcome.startswith("refused: TypeError"), outcome
    # The request did reach the gateway (from 127.0.0.1 with the cookie: the list was sent); the browser kept it
    # from the script because no Access-Control-Allow-Origin allows that origin.
    wait_until(lambda: answered_device_lists(site) > asked_before, "the gateway's access-log line")


def answered_device_lists(site):
    return sum(1 for line in site.peer.log.splitlines() if '"path":"/.gatehouse/sessions"' in line)


def test_another_site_cannot_frame_the_login_page(site, browser, other_site):
    # Clickjacking: the form inside another site's page would take a person's password under that site's cover.
    other_site.serve("/frame", f'<!doctype html><title>another site</title>'
                               f'<iframe id="f" src="{site.url}/.gatehouse/login"></iframe>')
    browser.get(f"http://localhost:{other_site.port}/frame")
    refused = wait(browser).until(lambda d: [e for e in console_errors(d) if "frame-ancestors" in e])
    assert "'none'" in refused[0], refused


# The account page (`/.gatehouse/account`): two devices, one signs the other out, then everywhere else.

ARTIFACTS = Path(__file__).resolve().parents[2] / ".build" / "artifacts" / "account-pages"


def screenshots(driver, name):
    """The page at desktop and phone widths, kept under ARTIFACTS (not committed)."""
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    for label, (width, height) in (("desktop", (1280, 900)), ("phone", (390, 844))):
        driver.set_window_size(width, height)
        driver.save_screenshot(str(ARTIFACTS / f"{name}-{label}.png"))
    driver.set_window_size(1024, 768)
    print(f"screenshots in {ARTIFACTS}")


def test_account_page_two_devices_sign_out_one_then_everywhere_else(site, browser, workdir):
    # Device A signs in with no rd: it lands on the account page.
    browser.get(site.url + "/.gatehouse/login")
    screenshots(browser, "login")
    fill_login_form(browser, "alice", PASSWORD)
    wait_for_url(browser, lambda url: url == site.url + "/.gatehouse/account", "the account page")
    assert browser.title == "Your account"
    assert "alice@example.com" in browser.page_source
    # Earlier tests of this module left alice signed in elsewhere: start from this device alone.
    if browser.find_elements(By.CSS_SELECTOR, "input[value=others]"):
        element(browser, "input[value=others]").find_element(By.XPATH, "..").submit()
        wait_for_url(browser, lambda url: url.endswith("?done=others"), "the everywhere-else confirmation")

    # Device B: another browser profile, its own cookie.
    other = start_chromium(workdir / "chromium-profile-b", workdir / "chromedriver-b.log")
    try:
        sign_in(other, site.url)
        browser.refresh()
        devices = browser.find_elements(By.CSS_SELECTOR, "li")
        assert len(devices) == 2
        assert "(this device)" in devices[0].text
        assert "Chrome on Linux" in devices[0].text
        assert "last active just now" in devices[1].text
        screenshots(browser, "account")
        assert console_errors(browser) == []

        # A signs B out: 303 back with a confirmation; B's next request goes to the login page.
        devices[1].find_element(By.CSS_SELECTOR, "button").click()
        wait_for_url(browser, lambda url: url.endswith("/.gatehouse/account?done=device"), "the confirmation")
        assert "That device was signed out." in element(browser, ".notice").text
        assert len(browser.find_elements(By.CSS_SELECTOR, "li")) == 1
        other.get(site.url + "/private/again")
        wait_for_url(other, lambda url: on_login_page(url, site.url), "the login page on the signed-out device")

        # B signs in again; A signs out everywhere else; B is bounced again, A stays signed in.
        sign_in(other, site.url)
        browser.refresh()
        element(browser, "section form input[value=others]").find_element(By.XPATH, "..").submit()
        wait_for_url(browser, lambda url: url.endswith("?done=others"), "the everywhere-else confirmation")
        other.get(site.url + "/private/third")
        wait_for_url(other, lambda url: on_login_page(url, site.url), "the login page after everywhere else")
        browser.get(site.url + "/private/still")
        assert element(browser, "#h-x-auth-user").text == "alice"
    finally:
        other.quit()


# The second step (issue 14): a user with a TOTP secret types the code of an authenticator app after the password.

def totp(secret, at):
    """RFC 6238 with SHA-1, 30-second steps, 6 digits (RFC 4226's dynamic truncation)."""
    mac = hmac.new(secret, struct.pack(">Q", int(at) // 30), hashlib.sha1).digest()
    offset = mac[-1] & 0x0F
    return "%06d" % ((struct.unpack(">I", mac[offset:offset + 4])[0] & 0x7FFFFFFF) % 1_000_000)


def test_totp_vectors_of_rfc_6238():
    # Appendix B, truncated to 6 digits: the Python side of the browser test computes codes as the RFC does.
    assert totp(TOTP_SECRET, 59) == "287082"
    assert totp(TOTP_SECRET, 1111111109) == "081804"
    assert totp(TOTP_SECRET, 2000000000) == "279037"


def test_two_step_sign_in_with_password_and_code(site, browser):
    asked = site.url + "/private-otp/ledger?month=12"
    browser.get(asked)
    wait_for_url(browser, lambda url: on_login_page(url, site.url), "the login page")
    fill_login_form(browser, "trent", PASSWORD)
    wait_for_url(browser, lambda url: url == site.url + "/.gatehouse/login/second-factor", "the code page")
    assert session_cookies(browser) == []  # the password alone made no session
    assert browser.title == "Enter your code"
    field = element(browser, "input#code")
    assert field.get_attribute("autocomplete") == "one-time-code"
    assert field.get_attribute("inputmode") == "numeric"
    assert browser.execute_script("return document.activeElement.id") == "code"
    screenshots(browser, "second-factor")
    assert console_errors(browser) == []

    # A wrong code: the page again, saying so, still without a session.
    field.send_keys("000000" if totp(TOTP_SECRET, time.time()) != "000000" else "111111")
    browser.execute_script("window.gatehouseOldPage = true")
    element(browser, "button[type=submit]").click()
    wait(browser).until(lambda d: d.execute_script("return window.gatehouseOldPage !== true"))
    assert "Wrong code" in element(browser, ".error").text
    assert session_cookies(browser) == []
    screenshots(browser, "second-factor-error")

    # The right code, typed with the blank authenticator apps show: back on the page first asked for.
    if 30 - time.time() % 30 < 5:
        time.sleep(30 - time.time() % 30 + 0.2)
    code = totp(TOTP_SECRET, time.time())
    element(browser, "input#code").send_keys(code[:3] + " " + code[3:])
    element(browser, "button[type=submit]").click()
    wait_for_url(browser, lambda url: url == asked, "the page asked for")
    assert element(browser, "#h-x-auth-user").text == "trent"
    assert element(browser, "#h-x-auth-amr").text == "pwd,otp"
    assert not [c for c in browser.get_cookies() if c["name"] == "gatehouse_2fa"]
    assert len(session_cookies(browser)) == 1
    browser.get(site.url + "/.gatehouse/account")
    assert "with password and code" in element(browser, "li .meta").text

    # The same code again (another sign-in within its window) is refused.
    browser.execute_cdp_cmd("Network.clearBrowserCookies", {})
    browser.get(site.url + "/.gatehouse/login")
    fill_login_form(browser, "trent", PASSWORD)
    wait_for_url(browser, lambda url: url.endswith("/.gatehouse/login/second-factor"), "the code page again")
    element(browser, "input#code").send_keys(code)
    browser.execute_script("window.gatehouseOldPage = true")
    element(browser, "button[type=submit]").click()
    wait(browser).until(lambda d: d.execute_script("return window.gatehouseOldPage !== true"))
    assert "already used" in element(browser, ".error").text
    assert session_cookies(browser) == []


def test_a_password_only_session_cannot_open_a_two_step_route(site, browser):
    sign_in(browser, site.url)  # alice: no TOTP secret, amr pwd
    browser.get(site.url + "/private-otp/ledger")
    assert "403" in browser.title or "forbidden" in browser.page_source.lower()
