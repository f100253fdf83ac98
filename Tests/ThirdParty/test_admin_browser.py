"""The admin page (`/admin/` on the admin listener) used the way an operator uses it: Debian's chromium, headless,
driven by Selenium.

The operator types the admin token into the page's sign-in form once (the listener then keeps an HttpOnly,
SameSite=Strict cookie), sees a user who signed in from another browser profile, and presses "Sign out
everywhere"; that profile's next request lands on the login page. Screenshots of the admin pages at desktop and
phone widths are kept under .build/artifacts/admin-pages. Chromium absent is an error, not a skip.
"""

from pathlib import Path

import pytest
import requests
from selenium.webdriver.common.by import By

from browser_support import console_errors, element, fill_login_form, start_chromium, wait_for_url
from conftest import PASSWORD, Gateway, bcrypt_hash, start_gunicorn, wait_until

ADMIN_TOKEN = "browser-admin-token-0123456789abcdef"
ARTIFACTS = Path(__file__).resolve().parents[2] / ".build" / "artifacts" / "admin-pages"

CONFIG = """\
server:
  listen: ["127.0.0.1:0"]
  workers: 1
admin:
  listen: "127.0.0.1:0"
  token_file: "{d}/admin.token"
access_log:
  path: stdout
upstreams:
  app: {{ servers: ["{app}"] }}
login:
  users_file: "{d}/users.yaml"
  rate_limit: {{ failures: 1000, window: 1m }}
sessions:
  embedded: {{ path: "{d}/sessions.sqlite" }}
routes:
  - name: private
    match: {{ path_prefix: /private }}
    upstream: app
    accept: [session]
    unauthenticated: login
  - {{ name: site, match: {{ path_prefix: / }}, upstream: app, auth: none }}
"""


@pytest.fixture(scope="module")
def site(workdir):
    peer, port = start_gunicorn("admin-browser-app", "browser_app:app", workdir)
    wait_until(lambda: requests.get(f"http://127.0.0.1:{port}/", timeout=5).ok, "the browser app")
    directory = workdir / "admin-browser-gateway"
    directory.mkdir()
    (directory / "admin.token").write_text(ADMIN_TOKEN + "\n")
    hashed = bcrypt_hash(PASSWORD)
    (directory / "users.yaml").write_text(
        f'users:\n  alice:\n    password: "{hashed}"\n    email: alice@example.com\n    groups: [staff]\n'
        f'  bob:\n    password: "{hashed}"\n')
    gateway = Gateway(directory, CONFIG.format(d=directory, app=f"127.0.0.1:{port}"))
    gateway.admin_url = f"http://127.0.0.1:{gateway.admin_port}"
    yield gateway
    gateway.peer.stop()
    peer.stop()


def screenshots(driver, name):
    """The page at desktop and phone widths, kept under ARTIFACTS (not committed)."""
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    for label, (width, height) in (("desktop", (1280, 900)), ("phone", (390, 844))):
        driver.set_window_size(width, height)
        driver.save_screenshot(str(ARTIFACTS / f"{name}-{label}.png"))
    driver.set_window_size(1024, 768)
    print(f"screenshots in {ARTIFACTS}")


def user_row(driver, name):
    """The list item of user `name` on the admin page."""
    for item in driver.find_elements(By.CSS_SELECTOR, "li"):
        links = item.find_elements(By.CSS_SELECTOR, ".device a")
        if links and links[0].text == name:
            return item
    raise AssertionError(f"no row for {name}:\n{driver.page_source[:3000]}")


def press(row, label):
    """Presses the button called `label` in `row`."""
    for button in row.find_elements(By.CSS_SELECTOR, "button"):
        if button.text == label:
            button.click()
            return
    raise AssertionError(f"no {label!r} button in {row.text!r}")


def test_admin_signs_a_user_out_everywhere_from_the_browser(site, workdir):
    admin = start_chromium(workdir / "chromium-admin", workdir / "chromedriver-admin.log")
    user = start_chromium(workdir / "chromium-admin-user", workdir / "chromedriver-admin-user.log")
    try:
        # The admin page asks for the token once; a wrong one is refused on the page.
        admin.get(site.admin_url + "/admin/")
        assert admin.title == "Gatehouse admin"
        screenshots(admin, "admin-sign-in")
        element(admin, "input#token").send_keys("not the token")
        element(admin, "button[type=submit]").click()
        assert element(admin, ".error[role=alert]").text == "That is not the admin token."
        element(admin, "input#token").send_keys(ADMIN_TOKEN)
        element(admin, "button[type=submit]").click()
        wait_for_url(admin, lambda url: url == site.admin_url + "/admin/?done=signedin", "the admin page")
        [cookie] = [c for c in admin.get_cookies() if c["name"] == "gatehouse_admin"]
        assert cookie["httpOnly"] is True and cookie["sameSite"] == "Strict" and cookie["path"] == "/admin/"
        assert "0 sessions" in user_row(admin, "alice").text
        assert [e for e in console_errors(admin) if "401" not in e] == []  # only the sign-in form's own status

        # Another browser profile signs alice in on the site.
        user.get(site.url + "/private/start")
        wait_for_url(user, lambda url: url.startswith(site.url + "/.gatehouse/login"), "the login page")
        fill_login_form(user, "alice", PASSWORD)
        wait_for_url(user, lambda url: url == site.url + "/private/start", "the private page")
        assert element(user, "#h-x-auth-user").text == "alice"

        # The admin sees her, with her session count and when she was last active.
        admin.get(site.admin_url + "/admin/")
        row = user_row(admin, "alice")
        assert "1 session · last active just now" in row.text
        assert row.find_element(By.CSS_SELECTOR, ".meta span").get_attribute("title").endswith(" UTC")
        assert "0 sessions" in user_row(admin, "bob").text
        screenshots(admin, "admin-users")
        assert console_errors(admin) == []  # nothing the page's CSP refuses, nothing that failed to load

        # Her own page: the device in words, where from.
        row.find_element(By.CSS_SELECTOR, ".device a").click()
        wait_for_url(admin, lambda url: url == site.admin_url + "/admin/user?name=alice", "alice's page")
        assert "Chrome on Linux" in element(admin, "main").text
        assert "From 127.0.0.1" in element(admin, "main").text
        screenshots(admin, "admin-user")

        # Sign out everywhere from the list: 303 back with a confirmation; her next request goes to sign-in.
        admin.get(site.admin_url + "/admin/")
        press(user_row(admin, "alice"), "Sign out everywhere")
        wait_for_url(admin, lambda url: url.endswith("/admin/?done=everywhere"), "the confirmation")
        assert element(admin, ".notice").text == "The user was signed out everywhere."
        assert "0 sessions" in user_row(admin, "alice").text
        user.get(site.url + "/private/again")
        wait_for_url(user, lambda url: url.startswith(site.url + "/.gatehouse/login"), "the login page after sign-out")

        # Disable: she cannot sign in; enable: she can again.
        press(user_row(admin, "alice"), "Disable")
        wait_for_url(admin, lambda url: url.endswith("/admin/?done=disabled"), "the disable confirmation")
        assert "disabled" in user_row(admin, "alice").text
        fill_login_form(user, "alice", PASSWORD)
        assert user.current_url.startswith(site.url + "/.gatehouse/login")
        press(user_row(admin, "alice"), "Enable")
        wait_for_url(admin, lambda url: url.endswith("/admin/?done=enabled"), "the enable confirmation")
        fill_login_form(user, "alice", PASSWORD)
        wait_for_url(user, lambda url: url.startswith(site.url + "/private/again"), "the private page again")

        # Signing out of the admin page drops its cookie: the sign-in form again.
        press(admin.find_elements(By.CSS_SELECTOR, "section")[-1], "Sign out of the admin page")
        wait_for_url(admin, lambda url: url == site.admin_url + "/admin/", "the admin page")
        assert element(admin, "input#token")
        assert [c for c in admin.get_cookies() if c["name"] == "gatehouse_admin"] == []
    finally:
        admin.quit()
        user.quit()
