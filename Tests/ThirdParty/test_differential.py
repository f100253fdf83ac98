"""Differential check: for each answer in differential_cases.CASES, sent as exact bytes by a raw upstream,
what a client gets through the gateway means what it gets directly (status, end-to-end headers, body)."""

import httpx
import pytest

from differential_cases import CASES, INJECTED
from httpcheck import (curl, curl_headers, decode_chunked, digest, end_to_end, fetch, header, parse_head,
                       read_until_close)


def direct_url(raw_upstream, name):
    return f"http://127.0.0.1:{raw_upstream.port}/raw/{name}"


@pytest.mark.parametrize("name", CASES)
def test_httpx_sees_the_same_answer(gateway, raw_upstream, name):
    with httpx.Client(timeout=10) as client:
        direct = fetch(client, direct_url(raw_upstream, name))
        proxied = fetch(client, gateway.url + f"/raw/{name}")
    assert proxied[0] == direct[0]
    assert end_to_end(proxied[1]) == end_to_end(direct[1])
    assert digest(proxied[2]) == digest(direct[2])


@pytest.mark.parametrize("name", CASES)
def test_curl_sees_the_same_answer(gateway, raw_upstream, tmp_path, name):
    results = {}
    for label, url in (("direct", direct_url(raw_upstream, name)), ("proxied", gateway.url + f"/raw/{name}")):
        head, body = tmp_path / f"{label}.head", tmp_path / f"{label}.body"
        done = curl("-D", head, "-o", body, url)
        assert done.returncode == 0, f"{label}: curl exit {done.returncode}: {done.stderr.decode()}"
        status, fields = curl_headers(head)
        results[label] = status, end_to_end(fields), digest(body.read_bytes())
    assert results["proxied"] == results["direct"]


def test_chunk_data_that_looks_like_a_response_stays_body(gateway, raw_upstream):
    # On one keep-alive connection: the chunk's bytes are the first answer's body, and the second request
    # gets its own answer, not the "response" that was inside the chunk.
    with httpx.Client(timeout=10, limits=httpx.Limits(max_connections=1)) as client:
        first = client.get(gateway.url + "/raw/chunk-looks-like-response")
        assert first.status_code == 200
        assert first.content == b"before|" + INJECTED + b"|after"
        second = client.get(gateway.url + "/raw/chunked-hex-forms")
        assert second.status_code == 200
        assert second.content == b"0123456789abcdefghij"
        assert "injected" not in second.text


def test_trailers_are_kept_or_dropped_never_body(gateway, raw_upstream, tmp_path):
    # RFC 9112 7.1.2: a recipient may keep or drop trailer fields; they are never part of the body, and a
    # relayed trailer section holds the upstream's fields unchanged.
    head, body = tmp_path / "head", tmp_path / "body"
    done = curl("--raw", "-H", "TE: trailers", "-D", head, "-o", body,
                gateway.url + "/raw/chunked-extensions-trailers")
    assert done.returncode == 0, done.stderr.decode()
    status, fields = curl_headers(head)
    assert status == 200
    raw = body.read_bytes()
    if header(fields, "transfer-encoding"):
        decoded, trailers, rest = decode_chunked(raw)
        assert rest == b""
        assert set(trailers) <= {b"X-Checksum: 0123abcd", b"X-Other: t"}
    else:
        decoded = raw
    assert decoded == b"hello, world"


@pytest.mark.parametrize("name", CASES)
def test_http10_client_gets_one_unchunked_answer(gateway, raw_upstream, name):
    # RFC 9112 6.1: never Transfer-Encoding to an HTTP/1.0 client (close-delimited or sized instead), and
    # RFC 9110 15.2: no 1xx either. The body must be the one an HTTP/1.1 client gets directly.
    with httpx.Client(timeout=10) as client:
        expected_status, _, expected_body = fetch(client, direct_url(raw_upstream, name))
    received = read_until_close(gateway.port, f"GET /raw/{name} HTTP/1.0\r\nHost: gw.test\r\n\r\n".encode())
    status, version, fields, rest = parse_head(received)
    assert status == expected_status, f"got {status} first: {received[:200]!r}"
    assert not header(fields, "transfer-encoding"), fields
    lengths = header(fields, "content-length")
    body = rest[:int(lengths[0])] if lengths else rest
    if lengths:
        assert len(rest) == int(lengths[0]), "bytes after the sized body"
    assert digest(body) == digest(expected_body)
