"""Django reading the user from X-Auth-User (RemoteUserMiddleware) through the gateway's whole sign-in flow."""

from urllib.parse import unquote

import requests

from conftest import PASSWORD


def whoami(session, gateway, prefix="/dj", **kwargs):
    return session.get(gateway.url + prefix + "/whoami", allow_redirects=False, timeout=10, **kwargs)


def test_sign_in_flow_as_django_sees_it(gateway):
    browser = requests.Session()
    # Not signed in: a browser is sent to the login page, a script gets 401; Django is not reached.
    page = whoami(browser, gateway, headers={"Accept": "text/html"})
    assert page.status_code == 302
    assert page.headers["Location"].startswith("/.gatehouse/login?rd=")
    assert whoami(browser, gateway).status_code == 401

    # The login page, then its form post with the rd it was given: back to the page first asked for.
    login = browser.get(gateway.url + page.headers["Location"], timeout=10)
    assert login.status_code == 200 and "<form" in login.text
    rd = page.headers["Location"].split("rd=", 1)[1]
    signed_in = browser.post(gateway.url + "/.gatehouse/login", allow_redirects=False, timeout=10,
                             data={"username": "alice", "password": PASSWORD, "rd": unquote(rd)})
    assert signed_in.status_code == 303
    assert signed_in.headers["Location"] == "/dj/whoami"

    seen = whoami(browser, gateway)
    assert seen.status_code == 200
    assert seen.json() == {"user": "alice", "authenticated": True, "email_header": "alice@example.com"}
    # Django logged alice in by its own session too (RemoteUserMiddleware calls auth.login).
    assert browser.cookies.get("sessionid")

    # A client's own identity headers never reach Django, in any spelling.
    forged = whoami(browser, gateway, headers={"X-Auth-User": "admin", "X-Auth-Email": "admin@example.com"})
    assert forged.json()["user"] == "alice"
    assert forged.json()["email_header"] == "alice@example.com"

    assert browser.post(gateway.url + "/.gatehouse/logout", timeout=10).status_code == 204
    assert not browser.cookies.get("gatehouse_session")
    assert whoami(browser, gateway).status_code == 401
    # On a route where sign-in is optional the request now reaches Django without X-Auth-User, and Django's
    # own session cookie (still sent) no longer makes it anyone: RemoteUserMiddleware logs it out.
    after = whoami(browser, gateway, prefix="/djopt")
    assert after.status_code == 200
    assert after.json()["authenticated"] is False


def test_forged_identity_on_an_optional_route_without_a_session(gateway):
    anonymous = requests.Session()
    for name in ("X-Auth-User", "X_Auth_User", "x-auth-user"):
        seen = whoami(anonymous, gateway, prefix="/djopt", headers={name: "admin"})
        assert seen.status_code == 200
        assert seen.json()["authenticated"] is False, f"{name} reached Django"
