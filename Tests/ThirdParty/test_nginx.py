"""nginx as the upstream: each answer through the gateway is the one nginx gives directly.

Compared: status, end-to-end header fields (hop-by-hop fields, framing and Date may differ) and the body
bytes as nginx sent them (gzip left compressed), with httpx and with curl.
"""

import httpx
import pytest

from httpcheck import curl, curl_headers, digest, end_to_end, fetch, header

IDENTITY = {"Accept-Encoding": "identity"}

# name -> (method, path, request headers)
REQUESTS = {
    "large static file": ("GET", "/ng/big.bin", IDENTITY),
    "gzip, streamed chunked": ("GET", "/ng/text.txt", {"Accept-Encoding": "gzip"}),
    "small html page": ("GET", "/ng/index.html", IDENTITY),
    "HEAD of the large file": ("HEAD", "/ng/big.bin", IDENTITY),
    "404 page": ("GET", "/ng/missing.html", IDENTITY),
    "range": ("GET", "/ng/big.bin", {**IDENTITY, "Range": "bytes=1000-1999"}),
}


@pytest.mark.parametrize("name", REQUESTS)
def test_same_answer_as_nginx_directly(gateway, nginx, name):
    method, path, headers = REQUESTS[name]
    with httpx.Client(timeout=30) as client:
        direct = fetch(client, nginx[0] + path, method, headers)
        proxied = fetch(client, gateway.url + path, method, headers)
    assert proxied[0] == direct[0]
    assert end_to_end(proxied[1]) == end_to_end(direct[1])
    assert digest(proxied[2]) == digest(direct[2])
    if method == "HEAD":
        # A HEAD answer's Content-Length is the size of the GET's body: end-to-end information here.
        assert header(proxied[1], "content-length") == header(direct[1], "content-length") == [
            str((nginx[1] / "ng" / "big.bin").stat().st_size)]


def test_gzip_is_chunked_directly(gateway, nginx):
    # The point of the gzip case: nginx compresses on the fly and streams the result chunked.
    with httpx.Client(timeout=30) as client:
        _, direct_headers, body = fetch(client, nginx[0] + "/ng/text.txt", headers={"Accept-Encoding": "gzip"})
    assert header(direct_headers, "transfer-encoding") == ["chunked"]
    assert header(direct_headers, "content-encoding") == ["gzip"]
    import gzip
    assert gzip.decompress(body) == (nginx[1] / "ng" / "text.txt").read_bytes()


def test_not_modified_on_if_none_match(gateway, nginx):
    with httpx.Client(timeout=10) as client:
        etag = client.get(nginx[0] + "/ng/index.html", headers=IDENTITY).headers["etag"]
        headers = {**IDENTITY, "If-None-Match": etag}
        direct = fetch(client, nginx[0] + "/ng/index.html", headers=headers)
        proxied = fetch(client, gateway.url + "/ng/index.html", headers=headers)
    assert proxied[0] == direct[0] == 304
    assert proxied[2] == b""
    assert end_to_end(proxied[1]) == end_to_end(direct[1])
    assert header(proxied[1], "etag") == [etag]


@pytest.mark.parametrize("name", ["gzip, streamed chunked", "large static file", "404 page"])
def test_same_bytes_with_curl(gateway, nginx, tmp_path, name):
    method, path, headers = REQUESTS[name]
    arguments = [f"-H{k}: {v}" for k, v in headers.items()]
    results = {}
    for label, base in (("direct", nginx[0]), ("proxied", gateway.url)):
        body, head = tmp_path / f"{label}.body", tmp_path / f"{label}.head"
        done = curl(*arguments, "-D", head, "-o", body, base + path)
        assert done.returncode == 0, f"{label}: curl exit {done.returncode}: {done.stderr.decode()}"
        status, fields = curl_headers(head)
        results[label] = status, end_to_end(fields), digest(body.read_bytes())
    assert results["proxied"] == results["direct"]


# Targets whose escapes the gateway's path normalisation must hand on so that nginx finds the same file
# (or the same query string) as directly.
ESCAPED_TARGETS = ["/ng/caf%C3%A9.txt", "/ng/a%20b.txt", "/ng/100%25.txt", "/ng/x+y.txt", "/ng/x%2By.txt",
                   "/ng/~tilde.txt", "/ng/%7Etilde.txt", "/ng/%69ndex.html",
                   "/ng/./index.html", "/ng/index.html?a=%2F&b=1+2&c=%25"]


@pytest.mark.parametrize("target", ESCAPED_TARGETS)
def test_escaped_targets_reach_the_same_file(gateway, nginx, target):
    with httpx.Client(timeout=10) as client:
        direct = client.get(nginx[0] + target, headers=IDENTITY)
        proxied = client.get(gateway.url + target, headers=IDENTITY)
    assert direct.status_code == 200
    assert (proxied.status_code, proxied.content) == (direct.status_code, direct.content)


def test_an_escaped_semicolon_is_refused_by_default(gateway, nginx):
    # server.path_parameters: refuse (the default) answers 400 to `;` and `%3B` anywhere in the path, as Spring
    # Security's StrictHttpFirewall does: servlet stacks disagree on whether %3B starts a path parameter.
    with httpx.Client(timeout=10) as client:
        assert client.get(nginx[0] + "/ng/semi%3Bcolon.txt").status_code == 200
        assert client.get(gateway.url + "/ng/semi%3Bcolon.txt").status_code == 400
