"""Support for test_browser.py: headless Debian chromium under Selenium, a second site, a self-signed certificate.

The browser runs with a throw-away profile and may resolve no name but the loopback ones (host-resolver-rules),
so nothing it does leaves the machine; every wait has a timeout. Chromium or its driver missing is an error,
never a skip: the suite is meant to run where scripts/install-deps.sh installed them.
"""

import html
import os
import shutil
import subprocess
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from selenium import webdriver
from selenium.common.exceptions import WebDriverException
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.support import expected_conditions
from selenium.webdriver.support.ui import WebDriverWait

WAIT = 10  # seconds: the longest any page may take to load or any element to appear
NAME = "gatehouse.test"  # a host name the browser resolves to 127.0.0.1 (RFC 2606 keeps .test off the internet)


def _required(name, fallback):
    path = shutil.which(name) or fallback
    if not os.path.isfile(path):
        raise RuntimeError(f"{name} is not installed (Debian packages chromium and chromium-driver)")
    return path


def start_chromium(profile_dir, log_path):
    """A headless chromium with its own profile in `profile_dir`, loopback only."""
    options = webdriver.ChromeOptions()
    options.binary_location = _required("chromium", "/usr/bin/chromium")
    for argument in (
        "--headless=new", f"--user-data-dir={profile_dir}", "--window-size=1024,768",
        "--disable-dev-shm-usage", "--disable-gpu", "--no-first-run", "--no-default-browser-check",
        "--disable-background-networking", "--disable-component-update", "--disable-sync",
        "--disable-default-apps", "--disable-extensions", "--disable-features=Translate,OptimizationHints",
        "--password-store=basic", "--use-mock-keychain",
        # NAME and its subdomains are 127.0.0.1 (a host name that, unlike 127.0.0.1 and localhost, is not a
        # "potentially trustworthy" origin over plain http); every other name but localhost fails to resolve,
        # so a redirect off the site cannot reach anything.
        f"--host-resolver-rules=MAP {NAME} 127.0.0.1, MAP *.{NAME} 127.0.0.1, MAP * ~NOTFOUND, "
        "EXCLUDE localhost, EXCLUDE 127.0.0.1",
        # The TLS listener's certificate is self-signed, made by the test.
        "--ignore-certificate-errors",
    ):
        options.add_argument(argument)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})  # the console, read by console_errors()
    if os.geteuid() == 0:
        options.add_argument("--no-sandbox")  # chromium refuses to run as root with its sandbox
    service = Service(executable_path=_required("chromedriver", "/usr/bin/chromedriver"), log_output=str(log_path))
    driver = webdriver.Chrome(options=options, service=service)
    driver.set_page_load_timeout(WAIT)
    driver.set_script_timeout(WAIT)
    return driver


def console_errors(driver):
    """What the page logged as errors since the last call (CSP violations, failed loads)."""
    return [entry["message"] for entry in driver.get_log("browser") if entry["level"] == "SEVERE"]


def wait(driver):
    return WebDriverWait(driver, WAIT)


def wait_for_url(driver, predicate, what):
    """Waits until the browser's address satisfies `predicate`; fails naming `what` and where it is instead."""
    try:
        return wait(driver).until(lambda d: predicate(d.current_url) and d.current_url)
    except Exception as error:
        raise AssertionError(f"the browser did not reach {what}: it is at {driver.current_url}\n"
                             f"{driver.page_source[:2000]}") from error


def element(driver, css):
    return wait(driver).until(expected_conditions.presence_of_element_located((By.CSS_SELECTOR, css)))


def fill_login_form(driver, user, password):
    """Types into the login page's fields as a person would, presses the button, and waits for the next page."""
    name = element(driver, "input#username")
    name.clear()
    name.send_keys(user)
    element(driver, "input#password").send_keys(password)
    driver.execute_script("window.gatehouseOldPage = true")  # gone once the next page has replaced this one
    element(driver, "button[type=submit]").click()
    # Mid-navigation chromedriver may answer any command with an error: those only mean "not yet".
    WebDriverWait(driver, WAIT, ignored_exceptions=(WebDriverException,)).until(
        lambda d: d.execute_script("return window.gatehouseOldPage !== true"))


def self_signed_certificate(directory):
    """A P-256 certificate for NAME and 127.0.0.1 made with openssl; (certificate path, key path)."""
    certificate, key = directory / "cert.pem", directory / "key.pem"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
                    "-keyout", key, "-out", certificate, "-days", "2", "-subj", f"/CN={NAME}",
                    "-addext", f"subjectAltName=DNS:{NAME},IP:127.0.0.1"],
                   check=True, capture_output=True, timeout=30)
    return certificate, key


class OtherSite:
    """A second web server on another port: pages that auto-submit a form to the gateway, as a hostile page
    would. Reached as http://127.0.0.1:PORT (same site as the gateway, another origin) or http://localhost:PORT
    (another site)."""

    def __init__(self):
        self.pages = {}
        pages = self.pages

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self):
                body = pages.get(self.path, "<p>nothing here</p>").encode()
                self.send_response(200 if self.path in pages else 404)
                self.send_header("Content-Type", "text/html; charset=utf-8")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.server.server_address[1]
        self.thread = threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.1}, daemon=True)
        self.thread.start()

    def serve(self, path, page):
        self.pages[path] = page

    def auto_submitting_form(self, path, action, fields):
        """Serves at `path` a page whose form posts `fields` to `action` as soon as it loads."""
        inputs = "".join(f'<input type="hidden" name="{html.escape(k)}" value="{html.escape(v)}">'
                         for k, v in fields.items())
        self.serve(path, f'<!doctype html><title>another site</title><form method="post" '
                   f'action="{html.escape(action)}">{inputs}</form><script>document.forms[0].submit()</script>')

    def stop(self):
        self.server.shutdown()
        self.server.server_close()
