"""The site a browser signs in to (test_browser.py): the pages an app behind the gateway would serve.

`/private/...` shows every request header the app received (so a test reads X-Auth-User off the page the browser
ends on) and has the app's own "Sign out" button, a form posting to the gateway's logout endpoint, as a real app
behind the gateway would have. Every other path is the site's public home page.
"""

import html


def _page(start_response, status, title, body):
    data = (f'<!doctype html><html lang="en"><head><meta charset="utf-8"><title>{html.escape(title)}</title>'
            f"</head><body>{body}</body></html>\n").encode()
    start_response(status, [("Content-Type", "text/html; charset=utf-8"), ("Content-Length", str(len(data))),
                            ("Cache-Control", "no-store")])
    return [data]


def _received_headers(environ):
    """The request's headers as WSGI names them (HTTP_X_AUTH_USER), back in their HTTP spelling (x-auth-user)."""
    rows = []
    for key in sorted(environ):
        if key.startswith("HTTP_"):
            name = key[5:].replace("_", "-").lower()
            rows.append(f'<dt>{html.escape(name)}</dt><dd id="h-{html.escape(name)}">{html.escape(environ[key])}</dd>')
    return "".join(rows)


def app(environ, start_response):
    path = environ.get("PATH_INFO", "/")
    if path.startswith("/private"):
        query = environ.get("QUERY_STRING", "")
        target = path + ("?" + query if query else "")
        return _page(start_response, "200 OK", "Private", (
            f'<h1>Private page</h1><p id="target">{html.escape(target)}</p>'
            f"<dl>{_received_headers(environ)}</dl>"
            '<form method="post" action="/.gatehouse/logout"><button id="logout" type="submit">Sign out</button></form>'))
    return _page(start_response, "200 OK", "Home", f'<h1 id="home">Home of the site</h1><p>{html.escape(path)}</p>')
